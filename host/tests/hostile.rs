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
