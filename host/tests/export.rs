//! The audit log pushed to a SIEM (`AUDIT_EXPORT_URL`): a local HTTPS
//! receiver that fails on purpose (500s, dropped connections) and checks the
//! bearer token; across a host restart with events written while it was
//! down, every event arrives, in order, and the chain verifies. The metric
//! behind `SignetAuditExportStalled` moves on a success, never without one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use common::{
    admin, assert_ok, call, eventually, fetch_audit, free_port, issued_for_localhost, log_text,
    metric, now_s, signet_cli, DevHost,
};

const RECEIVER: &str = r#"
import http.server, ssl, sys
port, cert, key, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
n = [0]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        n[0] += 1
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(out + ".attempts", "a") as f: f.write(f"{n[0]}\n")
        if self.headers.get("Authorization") != "Bearer export-token-0123456789":
            self.send_response(401); self.send_header("Content-Length", "0"); self.end_headers(); return
        if n[0] == 2 or n[0] % 5 == 0:
            self.close_connection = True; return   # hang up without answering
        if n[0] == 1 or n[0] % 3 == 0:
            self.send_response(500); self.send_header("Content-Length", "0"); self.end_headers(); return
        with open(out, "ab") as f: f.write(body)
        self.send_response(204); self.send_header("Content-Length", "0"); self.end_headers()
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert, key)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("ready", flush=True)
srv.serve_forever()
"#;

/// The running receiver (killed on drop), its port, its CA and the file
/// it appends what it accepts to.
struct Receiver {
    child: Child,
    port: u16,
    ca: PathBuf,
    received: PathBuf,
}

impl Receiver {
    /// Starts the receiver, with a CA and certificate for localhost in `dir`.
    fn start(dir: &Path) -> Self {
        let (ca, key, cert) = issued_for_localhost(dir, "siem-ca", "siem");
        let port = free_port();
        let received = dir.join("received.jsonl");
        let mut child = Command::new("python3")
            .args(["-c", RECEIVER, &port.to_string()])
            .arg(&cert)
            .arg(&key)
            .arg(&received)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "ready");
        Self {
            child,
            port,
            ca,
            received,
        }
    }

    /// A dev host on `data` that pushes its audit log here.
    fn host(&self, data: &Path) -> DevHost {
        DevHost::command(data)
            .env(
                "AUDIT_EXPORT_URL",
                format!("https://localhost:{}/ingest", self.port),
            )
            .env("AUDIT_EXPORT_CA_FILE", &self.ca)
            .env("AUDIT_EXPORT_TOKEN", "export-token-0123456789")
            .start()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `signet_audit_export_last_success_timestamp_seconds`.
const LAST_SUCCESS: &str = "signet_audit_export_last_success_timestamp_seconds";

#[test]
fn every_event_reaches_a_flaky_siem_in_order_across_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let receiver = Receiver::start(dir);
    let received = receiver.received.clone();
    let data = dir.join("data");
    let start = || receiver.host(&data);
    let host = start();
    let token = host.admin_token();
    for kt in ["p256", "ed25519", "secp256k1", "p256"] {
        let (s, v) = call(
            host.url(),
            Some(&token),
            "POST",
            "/v1/wallets",
            Some(json!({"key_type": kt})),
        );
        assert_eq!(s, 201, "{v}");
    }
    host.stop();
    // Written while no host runs: the cursor in the database resumes.
    let db = format!("sqlite://{}", data.join("signet.db").display());
    for i in 0..3 {
        admin(
            &db,
            &[
                "create-client",
                "--name",
                &format!("offline-{i}"),
                "--tenant",
                "t",
                "--scopes",
                "sign",
            ],
        );
    }
    let host = start();
    let (s, _) = call(
        host.url(),
        Some(&token),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "p256"})),
    );
    assert_eq!(s, 201);
    let total = fetch_audit(host.url(), &token).len();
    assert!(total >= 9, "{total} events");
    // Every event arrives (at least once; the receiver fails one in three).
    let arrived = |text: &str| -> BTreeMap<u64, Value> {
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| (v["seq"].as_u64().unwrap(), v))
            .collect()
    };
    let complete = eventually(Duration::from_secs(90), || {
        arrived(&std::fs::read_to_string(&received).unwrap_or_default()).len() >= total
    });
    let text = std::fs::read_to_string(&received).unwrap_or_default();
    assert!(
        complete,
        "{} of {total} events arrived",
        arrived(&text).len()
    );
    // In order: first appearances ascend without a gap.
    let mut firsts = Vec::new();
    for l in text.lines() {
        let seq = serde_json::from_str::<Value>(l).unwrap()["seq"]
            .as_u64()
            .unwrap();
        if !firsts.contains(&seq) {
            firsts.push(seq);
        }
    }
    let expected: Vec<u64> = (1..=firsts.len() as u64).collect();
    assert_eq!(firsts, expected, "events arrived out of order");
    // The receiver did fail on purpose along the way.
    let attempts = std::fs::read_to_string(dir.join("received.jsonl.attempts"))
        .unwrap()
        .lines()
        .count();
    assert!(attempts >= 3, "{attempts} attempts");
    // The deduplicated export verifies as a chain.
    let deduped: String = arrived(&text).values().map(|v| format!("{v}\n")).collect();
    let file = dir.join("deduped.jsonl");
    std::fs::write(&file, deduped).unwrap();
    let out = signet_cli()
        .args(["audit", "verify", "--file"])
        .arg(&file)
        .output()
        .unwrap();
    assert_ok(&out);
}

#[test]
fn a_delivered_batch_sets_the_time_of_the_last_export_success() {
    let tmp = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(tmp.path());
    let started = now_s();
    let host = receiver.host(&tmp.path().join("data"));
    // The receiver fails the first attempts on purpose; the exporter backs
    // off and gets through, then finds itself caught up every second.
    assert!(
        eventually(Duration::from_secs(60), || metric(host.url(), LAST_SUCCESS)
            >= started as f64),
        "{LAST_SUCCESS} = {}\nhost log:\n{}",
        metric(host.url(), LAST_SUCCESS),
        log_text(host.log_path())
    );
    assert!(
        std::fs::read_to_string(&receiver.received).is_ok_and(|t| !t.is_empty()),
        "a success means events arrived"
    );
}

#[test]
fn a_sink_nobody_answers_for_leaves_the_last_export_success_at_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let host = DevHost::command(&tmp.path().join("data"))
        .env(
            "AUDIT_EXPORT_URL",
            format!("https://localhost:{}/ingest", free_port()),
        )
        .start();
    assert!(
        eventually(Duration::from_secs(30), || log_text(host.log_path())
            .contains("audit export failed")),
        "{}",
        log_text(host.log_path())
    );
    let text = ureq::get(&format!("{}/metrics", host.url()))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(
        text.lines().any(|l| l == format!("{LAST_SUCCESS} 0")),
        "exported, and 0 (SignetAuditExportStalled fires on it):\n{text}"
    );
}
