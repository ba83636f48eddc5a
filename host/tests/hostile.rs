//! Hostile clients against a live `signet-host dev`: slow-loris connections
//! that trickle half a request, idle keep-alive connections, and a cap on
//! open connections.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{call, DevHost};

fn authority(url: &str) -> &str {
    url.trim_start_matches("http://")
}

/// Whether the server closed `stream` (EOF or reset) within `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn slow_loris_connections_do_not_starve_health_and_are_closed_after_the_header_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let host = DevHost::command(&tmp.path().join("data"))
        .env("SIGNET_HEADER_TIMEOUT_SECONDS", "2")
        .start();
    let addr = authority(host.url()).to_owned();
    // 400 connections, each with half a request line and a header trickled.
    let mut loris: Vec<TcpStream> = (0..400)
        .map(|i| {
            let mut s = TcpStream::connect(&addr).unwrap();
            let half = if i % 2 == 0 {
                "GET /health HTT"
            } else {
                "GET /v1/wallets HTTP/1.1\r\nHost: x\r\nX-Slow: "
            };
            s.write_all(half.as_bytes()).unwrap();
            s
        })
        .collect();
    for s in loris.iter_mut().take(50) {
        let _ = s.write_all(b"a");
    }
    // Meanwhile the host answers at once.
    let started = Instant::now();
    let (s, v) = call(host.url(), None, "GET", "/health", None);
    assert_eq!((s, v["ok"].clone()), (200, serde_json::json!(true)));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "/health waited {:?}",
        started.elapsed()
    );
    // And hangs up on every one of them after the header timeout.
    let still_open = loris
        .iter_mut()
        .map(|s| closed_within(s, Duration::from_secs(6)))
        .filter(|closed| !closed)
        .count();
    assert_eq!(still_open, 0, "{still_open} slow connections still open");
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let host = DevHost::command(&tmp.path().join("data"))
        .env("SIGNET_HEADER_TIMEOUT_SECONDS", "2")
        .start();
    let mut s = TcpStream::connect(authority(host.url())).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 12];
    s.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let idle = Instant::now();
    assert!(
        closed_within(&mut s, Duration::from_secs(6)),
        "an idle connection stays open"
    );
    assert!(
        idle.elapsed() >= Duration::from_millis(1500),
        "closed too early: {:?}",
        idle.elapsed()
    );
}

#[test]
fn past_the_connection_cap_new_connections_wait_until_one_closes() {
    let tmp = tempfile::tempdir().unwrap();
    let host = DevHost::command(&tmp.path().join("data"))
        .env("SIGNET_MAX_CONNECTIONS", "20")
        .env("SIGNET_HEADER_TIMEOUT_SECONDS", "2")
        .start();
    let addr = authority(host.url()).to_owned();
    let held: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /health HTT").unwrap();
            s
        })
        .collect();
    // The 21st is accepted by the kernel but not served until a slot frees:
    // the slow ones are dropped after 2 s, then it is answered.
    let started = Instant::now();
    let (s, _) = call(host.url(), None, "GET", "/health", None);
    assert_eq!(s, 200);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1000),
        "served at once past the cap ({waited:?})"
    );
    drop(held);
}

/// SIGTERM under load, with a ledger of every request: `/ready` turns 503
/// while requests are still served (the drain grace), in-flight requests
/// finish, the process exits, and every signature the audit log recorded was
/// answered with a 200 — none accepted and lost — and vice versa.
#[test]
fn sigterm_under_load_drains_without_losing_an_accepted_request() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let host = DevHost::command(&dir)
        .env("SIGNET_DRAIN_SECONDS", "2")
        // Six signers on one wallet, past the default limits (120
        // signatures a minute per wallet, 1200 requests per client).
        .env("RATE_LIMIT_PER_IDENTITY_SIGN", "0")
        .env("RATE_LIMIT_PER_USER", "0")
        .start();
    let url = host.url().to_owned();
    let admin = host.admin_token();
    let (s, w) = call(
        &url,
        Some(&admin),
        "POST",
        "/v1/wallets",
        Some(serde_json::json!({"key_type": "p256"})),
    );
    assert_eq!(s, 201, "{w}");
    let id = w["id"].as_str().unwrap().to_owned();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let ledger: std::sync::Mutex<Vec<Option<u16>>> = std::sync::Mutex::new(Vec::new());
    let mut saw_503 = false;
    std::thread::scope(|scope| {
        for t in 0..6u64 {
            let (url, admin, id, stop, ledger) = (&url, &admin, &id, &stop, &ledger);
            scope.spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(30))
                    .build();
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let r = agent
                        .post(&format!("{url}/v1/wallets/{id}/sign"))
                        .set("Authorization", &format!("Bearer {admin}"))
                        .send_json(
                            serde_json::json!({"digest": format!("{:064x}", t * 1_000_000 + i)}),
                        );
                    let outcome = match r {
                        Ok(r) => Some(r.status()),
                        Err(ureq::Error::Status(s, _)) => Some(s),
                        Err(_) => None,
                    };
                    ledger.lock().unwrap().push(outcome);
                    if outcome.is_none() {
                        break;
                    }
                    i += 1;
                }
            });
        }
        std::thread::sleep(Duration::from_millis(300));
        assert!(common::send_signal("TERM", host.pid()));
        // During the grace, /ready says 503 to new connections.
        saw_503 = common::eventually(Duration::from_secs(2), || {
            ureq::get(&format!("{url}/ready"))
                .timeout(Duration::from_secs(1))
                .call()
                .err()
                .is_some_and(|e| matches!(e, ureq::Error::Status(503, _)))
        });
        let exited = common::eventually(Duration::from_secs(30), || !common::pid_alive(host.pid()));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(exited, "the host did not exit after SIGTERM");
    });
    assert!(saw_503, "/ready never answered 503 while draining");
    let ledger = ledger.into_inner().unwrap();
    let ok = ledger.iter().filter(|o| **o == Some(200)).count();
    let other: Vec<_> = ledger
        .iter()
        .filter(|o| matches!(o, Some(s) if *s != 200))
        .collect();
    assert!(other.is_empty(), "refused during the drain: {other:?}");
    assert!(ok > 0, "nothing was signed before the drain");
    drop(host);
    // Restarted on the same data: the audit log has exactly the 200s.
    let again = DevHost::start(&dir);
    let events = common::fetch_audit(again.url(), &again.admin_token());
    let signed = events
        .iter()
        .filter(|e| e.action == "sign" && e.outcome == "ok" && e.target == id)
        .count();
    assert_eq!(signed, ok, "signatures recorded ≠ signatures answered");
}

/// A request that outlives SIGNET_REQUEST_TIMEOUT_SECONDS (here: the signer
/// is frozen with SIGSTOP) is answered 503 `timeout` with Retry-After, and
/// the host serves again once the signer does.
#[test]
fn a_request_past_the_deadline_is_a_503_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let host = DevHost::command(&tmp.path().join("data"))
        .env("SIGNET_REQUEST_TIMEOUT_SECONDS", "1")
        .start();
    let admin = host.admin_token();
    let (s, w) = call(
        host.url(),
        Some(&admin),
        "POST",
        "/v1/wallets",
        Some(serde_json::json!({"key_type": "p256"})),
    );
    assert_eq!(s, 201, "{w}");
    let path = format!("/v1/wallets/{}/sign", w["id"].as_str().unwrap());
    let signer = host.signer_pid();
    assert!(common::send_signal("STOP", signer));
    let (s, v) = call(
        host.url(),
        Some(&admin),
        "POST",
        &path,
        Some(serde_json::json!({"digest": "55".repeat(32)})),
    );
    assert!(common::send_signal("CONT", signer));
    assert_eq!((s, common::code(&v)), (503, "timeout"), "{v}");
    assert_eq!(v["retry_after"], "1");
    let back = common::eventually(Duration::from_secs(15), || {
        call(
            host.url(),
            Some(&admin),
            "POST",
            &path,
            Some(serde_json::json!({"digest": "66".repeat(32)})),
        )
        .0 == 200
    });
    assert!(back, "the host did not sign again after the signer resumed");
}
