//! Throughput of the real signer over a unix socket, beside raw single-core
//! k256 signing measured in the same run. The figure is the ratio
//! `signatures/s ÷ (raw k256 signatures/s per core × cores the signer used)`;
//! the target is ≥ 0.60. Run: `cargo bench -p signet-enclave --bench signer`.
//!
//! Options (env): SIGNET_BENCH_SECONDS (default 5), SIGNET_BENCH_CONNECTIONS
//! (default 4), SIGNET_BENCH_IN_FLIGHT per connection (default 64).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k256::ecdsa::signature::hazmat::PrehashVerifier as _;
use signet_proto::client::SignerClient;
use signet_proto::message::SignRequest;
use signet_proto::ticket::{TicketClaims, TicketKeys, AUDIENCE};
use signet_proto::{KeyType, Request, Response, SharedSecret, SignerAddr};

const INTERNAL: &str = "bench-internal-api-key-0f1e2d3c4b5a69788796";
const TICKET: &str = "bench-ticket-mac-key-a1b2c3d4e5f60718293a";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + system) used so far by `pid`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0 // USER_HZ is 100 on Linux
}

fn raw_k256_per_second(seconds: f64) -> f64 {
    let key = k256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap();
    let mut digest = [0u8; 32];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        digest[..8].copy_from_slice(&n.to_be_bytes());
        let _ = std::hint::black_box(key.sign_prehash_recoverable(&digest).unwrap());
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Single-core raw libsecp256k1 signing per second: what the signer signs
/// secp256k1 with (the ratio stays against k256, the yardstick).
fn raw_libsecp256k1_per_second(seconds: f64) -> f64 {
    let key = secp256k1::SecretKey::from_slice(&[0x42; 32]).unwrap();
    let mut digest = [0u8; 32];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        digest[..8].copy_from_slice(&n.to_be_bytes());
        let message = secp256k1::Message::from_digest(digest);
        let _ = std::hint::black_box(secp256k1::SECP256K1.sign_ecdsa_recoverable(&message, &key));
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` compatibility
    }
    let seconds = env_or("SIGNET_BENCH_SECONDS", 5);
    let connections = env_or("SIGNET_BENCH_CONNECTIONS", 4) as usize;
    let in_flight = env_or("SIGNET_BENCH_IN_FLIGHT", 64) as usize;

    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("signer.sock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_signet-enclave"))
        .arg("--listen")
        .arg(format!("unix:{}", socket.display()))
        .args(["--attestation", "dev", "--dev-dir"])
        .arg(dir.path().join("dev"))
        .env_clear()
        .env("SIGNET_LOG", "warn")
        .env("INTERNAL_API_KEY", INTERNAL)
        .env("TICKET_SIGNING_SECRET", TICKET)
        // The signer exits when the bench dies, even by SIGKILL: `child`
        // holds its stdin open until then.
        .arg("--exit-with-stdin")
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id();

    // Baseline first, while the signer idles.
    let raw = raw_k256_per_second(2.0);
    let raw_libsecp = raw_libsecp256k1_per_second(2.0);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (ops, wall, cpu, bad) = rt.block_on(async move {
        let addr = SignerAddr::Unix(socket);
        let key = SharedSecret::new_unchecked(INTERNAL.as_bytes().to_vec());
        let tickets = Arc::new(TicketKeys::new(
            SharedSecret::new_unchecked(TICKET.as_bytes().to_vec()),
            None,
        ));
        let mut clients = Vec::new();
        for _ in 0..connections {
            clients.push(Arc::new(
                SignerClient::connect(&addr, &key, Duration::from_secs(10))
                    .await
                    .unwrap()
                    .0,
            ));
        }
        let public_key = match clients[0]
            .call(Request::Generate {
                key_id: "bench".into(),
                key_type: KeyType::Secp256k1,
                settings: None,
            })
            .await
            .unwrap()
        {
            Response::Generated(g) => g.key.public_key,
            r => panic!("{r:?}"),
        };
        let vk = k256::ecdsa::VerifyingKey::from_sec1_bytes(&public_key).unwrap();

        // Tickets are minted ahead, so the client's HMACs do not compete
        // with the signer for the two cores during the measurement.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let workers = connections * in_flight;
        // Enough tickets to outlast the run at 60,000 signatures/s.
        let per_worker = (seconds as usize * 60_000).div_ceil(workers);
        let mut batches = Vec::new();
        for w in 0..workers {
            let batch: Vec<SignRequest> = (0..per_worker)
                .map(|i| {
                    let mut digest = [0u8; 32];
                    digest[..8].copy_from_slice(&((w * per_worker + i) as u64).to_be_bytes());
                    let claims = TicketClaims {
                        jti: format!("{w}-{i}"),
                        sub: "bench".into(),
                        wid: "bench".into(),
                        dig: hex::encode(digest),
                        kty: KeyType::Secp256k1,
                        iat: now,
                        exp: now + 300,
                        aud: AUDIENCE.into(),
                    };
                    SignRequest {
                        key_id: "bench".into(),
                        ticket: tickets.mint(&claims),
                        digest: digest.to_vec(),
                        message: None,
                        attest: false,
                        sealed: None,
                        record: None,
                        content: None,
                        approvals: Vec::new(),
                    }
                })
                .collect();
            batches.push(batch);
        }

        let done = Arc::new(AtomicU64::new(0));
        let bad = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let cpu0 = cpu_seconds(pid);
        let t0 = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for (w, batch) in batches.into_iter().enumerate() {
            let client = Arc::clone(&clients[w % connections]);
            let (done, bad, vk) = (Arc::clone(&done), Arc::clone(&bad), vk);
            tasks.spawn(async move {
                for (i, req) in batch.into_iter().enumerate() {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let digest = req.digest.clone();
                    match client.call(Request::Sign(req)).await {
                        Ok(Response::Signed(s)) => {
                            // Check a sample: a fast wrong answer is an error.
                            if i % 64 == 0 {
                                let sig = k256::ecdsa::Signature::from_slice(&s.signature).unwrap();
                                if vk.verify_prehash(&digest, &sig).is_err() {
                                    bad.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            bad.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        let wall = t0.elapsed().as_secs_f64();
        let cpu = cpu_seconds(pid) - cpu0;
        (
            done.load(Ordering::Relaxed),
            wall,
            cpu,
            bad.load(Ordering::Relaxed),
        )
    });
    let _ = child.kill();
    let _ = child.wait();

    let per_s = ops as f64 / wall;
    let cores = cpu / wall;
    let ratio = per_s / (raw * cores);
    println!("signer bench: {connections} connections x {in_flight} in flight, {wall:.1} s");
    println!("  raw k256 sign_prehash_recoverable, one core : {raw:>9.0} /s");
    println!("  raw libsecp256k1 (what the signer uses)      : {raw_libsecp:>9.0} /s");
    println!("  signer over unix socket (tickets, replay)    : {per_s:>9.0} /s  ({ops} signatures, {bad} errors)");
    println!("  signer CPU                                   : {cores:>9.2} cores");
    println!("  ratio per core used                          : {ratio:>9.2}  (target >= 0.60)");
    println!(
        "  ratio to one raw core (absolute)             : {:>9.2}",
        per_s / raw
    );
    assert_eq!(bad, 0, "errors or wrong signatures during the run");
}
