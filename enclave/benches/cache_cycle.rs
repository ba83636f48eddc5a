//! Memory under churn: the real signer with a 1,000-key cache while 100,000
//! sealed-key loads cycle 5,000 distinct keys through it (every load evicts
//! one). Prints the signer's RSS as it goes; the figure is that it stays flat.
//! Run: `cargo bench -p signet-enclave --bench cache_cycle`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use signet_proto::client::SignerClient;
use signet_proto::{KeyType, Request, Response, SealedKey, SharedSecret, SignerAddr};

const INTERNAL: &str = "bench-internal-api-key-0f1e2d3c4b5a69788796";
const TICKET: &str = "bench-ticket-mac-key-a1b2c3d4e5f60718293a";

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let keys: usize = std::env::var("SIGNET_BENCH_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let loads: usize = std::env::var("SIGNET_BENCH_LOADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("signer.sock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_signet-enclave"))
        .arg("--listen")
        .arg(format!("unix:{}", socket.display()))
        .args([
            "--attestation",
            "none",
            "--key-cache-size",
            "1000",
            "--dev-dir",
        ])
        .arg(dir.path().join("dev"))
        .env_clear()
        .env("SIGNET_LOG", "warn")
        .env("INTERNAL_API_KEY", INTERNAL)
        .env("TICKET_SIGNING_SECRET", TICKET)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let key = SharedSecret::new_unchecked(INTERNAL.as_bytes().to_vec());
        let client = Arc::new(SignerClient::connect(&SignerAddr::Unix(socket), &key, Duration::from_secs(10)).await.unwrap().0);
        let t = Instant::now();
        let mut sealed: Vec<SealedKey> = Vec::with_capacity(keys);
        for chunk in (0..keys).collect::<Vec<_>>().chunks(256) {
            let mut set = tokio::task::JoinSet::new();
            for i in chunk {
                let client = Arc::clone(&client);
                let kt = KeyType::ALL[i % 3];
                let id = format!("k{i}");
                set.spawn(async move {
                    match client.call(Request::Generate { key_id: id, key_type: kt, settings: None }).await.unwrap() {
                        Response::Generated(g) => g.sealed.unwrap(),
                        r => panic!("{r:?}"),
                    }
                });
            }
            while let Some(s) = set.join_next().await {
                sealed.push(s.unwrap());
            }
        }
        println!("generated {keys} keys in {:.1} s; signer RSS {} kB", t.elapsed().as_secs_f64(), rss_kb(pid));
        let sealed = Arc::new(sealed);
        let t = Instant::now();
        let mut samples = Vec::new();
        let step = loads / 10;
        for round in 0..10 {
            let mut set = tokio::task::JoinSet::new();
            for w in 0..64 {
                let (client, sealed) = (Arc::clone(&client), Arc::clone(&sealed));
                set.spawn(async move {
                    for n in (w..step).step_by(64) {
                        let s = sealed[(round * step + n) % sealed.len()].clone();
                        assert!(matches!(client.call(Request::LoadSealed { sealed: s, record: None }).await.unwrap(), Response::Loaded(_)));
                    }
                });
            }
            while set.join_next().await.is_some() {}
            let rss = rss_kb(pid);
            samples.push(rss);
            println!("  after {:>7} loads: signer RSS {rss} kB", (round + 1) * step);
        }
        let warm = &samples[2..];
        let (lo, hi) = (warm.iter().min().unwrap(), warm.iter().max().unwrap());
        println!(
            "{loads} sealed-key loads through a 1,000-key cache in {:.1} s ({:.0}/s); RSS after warm-up {lo}..{hi} kB (spread {:.1}%)",
            t.elapsed().as_secs_f64(),
            loads as f64 / t.elapsed().as_secs_f64(),
            (*hi - *lo) as f64 * 100.0 / *lo as f64
        );
    });
    let _ = child.kill();
    let _ = child.wait();
}
