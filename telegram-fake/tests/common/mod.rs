//! Shared harness: start the real binary, call its Bot API and control API
//! with ureq, and a tiny scripted webhook receiver.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

pub const TOKEN: &str = "123456789:AAE-test_token_for_signet";
pub const BOT_ID: i64 = 123_456_789;
pub const BOT_USERNAME: &str = "signet_test_bot";

pub struct Fake {
    child: Child,
    stdin: Option<ChildStdin>,
    pub api: SocketAddr,
    pub control: SocketAddr,
    log: tempfile::NamedTempFile,
}

impl Fake {
    pub fn start() -> Self {
        Self::start_with(&["--allow-http-webhook"])
    }

    pub fn start_with(extra: &[&str]) -> Self {
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_signet-telegram-fake"))
            .args([
                "--token",
                TOKEN,
                "--bot-username",
                BOT_USERNAME,
                "--exit-with-stdin",
            ])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next().and_then(Result::ok));
            for _ in lines {}
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(line)) => line,
            other => {
                let _ = child.kill();
                panic!("no ready line: {other:?}");
            }
        };
        let rest = line
            .strip_prefix("signet-telegram-fake listening api=")
            .unwrap_or_else(|| panic!("ready line: {line}"));
        let (api, control) = rest.split_once(" control=").unwrap();
        Self {
            stdin: child.stdin.take(),
            child,
            api: api.parse().unwrap(),
            control: control.parse().unwrap(),
            log,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.api)
    }

    /// A Bot API call with a JSON body: (status, body).
    pub fn call(&self, method: &str, body: Value) -> (u16, Value) {
        self.call_as(TOKEN, method, body)
    }

    pub fn call_as(&self, token: &str, method: &str, body: Value) -> (u16, Value) {
        let url = format!("{}/bot{token}/{method}", self.base());
        let result = ureq::post(&url)
            .timeout(Duration::from_secs(70))
            .send_json(body);
        reply(result)
    }

    /// A call that must succeed: its `result`.
    pub fn ok(&self, method: &str, body: Value) -> Value {
        let (status, body) = self.call(method, body);
        assert_eq!(status, 200, "{method}: {body}");
        assert_eq!(body["ok"], true, "{body}");
        body["result"].clone()
    }

    pub fn control(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("http://{}{path}", self.control);
        let req = ureq::request(method, &url);
        let result = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        reply(result)
    }

    /// The user sends the bot a message; returns the update.
    pub fn user_says(&self, user_id: i64, text: &str) -> Value {
        let (status, update) = self.control(
            "POST",
            &format!("/users/{user_id}/messages"),
            Some(serde_json::json!({"text": text, "first_name": "Ada", "username": "ada"})),
        );
        assert_eq!(status, 200, "{update}");
        update
    }

    pub fn fault(&self, rule: Value) {
        let (status, body) = self.control("POST", "/faults", Some(rule));
        assert_eq!(status, 200, "{body}");
    }
}

pub fn reply(result: Result<ureq::Response, ureq::Error>) -> (u16, Value) {
    match result {
        Ok(r) => {
            let status = r.status();
            (status, r.into_json().unwrap_or(Value::Null))
        }
        Err(ureq::Error::Status(status, r)) => {
            let text = r.into_string().unwrap_or_default();
            (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        }
        Err(e) => panic!("transport: {e}"),
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub secret: Option<String>,
    pub content_type: Option<String>,
    pub body: Value,
    pub status: u16,
}

/// A tiny HTTP server answering each request with the next scripted status
/// (200 once the script runs out).
pub struct Receiver {
    pub addr: SocketAddr,
    pub got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub fn start(script: Vec<u16>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&got);
        std::thread::spawn(move || {
            let mut script = script.into_iter();
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let mut reader = BufReader::new(stream);
                let mut headers = Vec::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let line = line.trim_end().to_owned();
                    if line.is_empty() {
                        break;
                    }
                    headers.push(line);
                }
                if headers.is_empty() {
                    continue; // the verification connection
                }
                let header = |name: &str| {
                    headers.iter().find_map(|h| {
                        let (k, v) = h.split_once(':')?;
                        k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                    })
                };
                let len: usize = header("content-length")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                let status = script.next().unwrap_or(200);
                seen.lock().unwrap().push(Received {
                    secret: header("x-telegram-bot-api-secret-token"),
                    content_type: header("content-type"),
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    status,
                });
                let mut stream = reader.into_inner();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = stream.flush();
            }
        });
        Self { addr, got }
    }

    pub fn url(&self) -> String {
        format!("http://{}/telegram-webhook", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived.
    pub fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "only {} of {n} deliveries: {got:?}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
