//! The one harness of the host's integration tests: the real binaries
//! (`signet-host dev`, `signet-host serve`, a standalone `signet-enclave`, the
//! `signet` CLI) on real sockets, one HTTP call helper, and checks of what they
//! return made independently of the host's own code.
//!
//! Every wait here polls against a deadline; nothing sleeps for a fixed time
//! hoping a process got somewhere.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use signet_attestation::dev::{dev_pcrs, ROOT_CERT_FILE};
use signet_attestation::{PcrPolicy, PcrSet, TrustAnchor, Verifier};
use signet_proto::audit::{AuditEvent, ChainBreak, ChainVerifier};

/// How long a process gets to come up (debug builds on a busy 2-core box).
pub const START_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a process gets to exit after SIGTERM before it is killed (the host
/// drains open requests for up to 10 s).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// `INTERNAL_API_KEY` of a standalone [`Signer`] (and of the `serve` beside it).
pub const INTERNAL_API_KEY: &str = "4e3d2c1b0a99887766554433221100ffeeddccbb";
/// `TICKET_SIGNING_SECRET` of a standalone [`Signer`] (and of the `serve` beside it).
pub const SIGNER_TICKET_SECRET: &str = "b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e";

// ---------------------------------------------------------------------------
// Binaries, processes, time

/// The `signet-host` binary under test.
pub fn host_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_signet-host"))
}

/// Another workspace binary, built beside `signet-host`.
pub fn sibling(name: &str) -> PathBuf {
    let p = host_binary().with_file_name(name);
    assert!(
        p.exists(),
        "{} is not built: run the workspace tests (scripts/test.sh) so every binary is built",
        p.display()
    );
    p
}

/// A wallet of `key_type` made with `token` (201): the API's JSON.
pub fn new_wallet(url: &str, token: &str, key_type: &str) -> Value {
    let (s, w) = call(
        url,
        Some(token),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": key_type})),
    );
    assert_eq!(s, 201, "{w}");
    w
}

/// The value of the sample `series` (name and labels as exported) on the
/// host's `/metrics`, or 0.
pub fn metric(url: &str, series: &str) -> f64 {
    let text = ureq::get(&format!("{url}/metrics"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// A `signet` CLI command.
pub fn signet_cli() -> Command {
    Command::new(sibling("signet"))
}

/// The dev PCRs of the `signet-enclave` binary beside the host.
pub fn signer_pcrs() -> BTreeMap<u8, Vec<u8>> {
    dev_pcrs(&std::fs::read(sibling("signet-enclave")).unwrap())
}

/// Polls `done` every 25 ms until it holds or `within` has passed; whether it held.
pub fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Unix time, seconds.
pub fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Sends `signal` (`TERM`, `KILL`, …) to `pid` with the `kill` command (no
/// unsafe code in tests either); whether it was delivered.
pub fn send_signal(signal: &str, pid: u32) -> bool {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// SIGTERM, delivered or not.
pub fn sigterm(pid: u32) {
    send_signal("TERM", pid);
}

/// SIGKILL, which must be delivered.
pub fn sigkill(pid: u32) {
    assert!(send_signal("KILL", pid), "kill -KILL {pid} failed");
}

/// Whether process `pid` exists and has not exited: a zombie (an exited
/// process nobody reaped yet, state `Z`) counts as gone.
pub fn pid_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (comm) state …`: comm may hold spaces and parentheses, so the
    // state is the first field after the last ')'.
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].trim_start().chars().next());
    !matches!(state, None | Some('Z' | 'X' | 'x'))
}

/// The pid in `path`, once the file exists and holds one (it may be being
/// rewritten by a supervisor).
pub fn read_pid(path: &Path) -> u32 {
    let mut pid = None;
    let found = eventually(Duration::from_secs(10), || {
        pid = try_read_pid(path);
        pid.is_some()
    });
    assert!(found, "no pid in {}", path.display());
    pid.unwrap()
}

/// The pid in `path`, if it holds one now.
pub fn try_read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `path` opened for appending (created if missing): a log several process
/// lifetimes share.
fn append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A log's text, for failure messages.
pub fn log_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Waits up to `within` for `child` to exit, killing it after that; its exit
/// status if it exited by itself.
fn wait_or_kill(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let mut status = None;
    eventually(within, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    status
}

/// Reads `child`'s stdout on a thread that drains it for the child's whole
/// life (so it never blocks on a full pipe), and returns what follows `marker`
/// on the first line that holds it; `None` if the child printed no such line
/// within `within` (or exited first).
fn stdout_after(child: &mut Child, marker: &'static str, within: Duration) -> Option<String> {
    let stdout = child.stdout.take()?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some((_, rest)) = line.split_once(marker) {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(rest.trim().to_owned());
                }
            }
        }
    });
    rx.recv_timeout(within).ok()
}

/// A free loopback port (free when this returns).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---------------------------------------------------------------------------
// `signet-host dev`

/// A running `signet-host dev` (and the signer child it supervises). Dropping
/// it kills the host (SIGKILL) and reaps it; [`DevHost::stop`] stops it the
/// way an operator does.
pub struct DevHost {
    child: Child,
    url: String,
    dir: PathBuf,
    log: PathBuf,
}

/// How to start a [`DevHost`]: extra environment and arguments.
pub struct DevHostCommand {
    dir: PathBuf,
    env: Vec<(OsString, OsString)>,
    args: Vec<OsString>,
}

impl DevHostCommand {
    /// Sets an environment variable of the host (`SIGNET_LOG` is `warn` unless set here).
    #[must_use]
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Signs people in through `fake`'s bot (polling mode):
    /// `TELEGRAM_BOT_TOKEN`, `TELEGRAM_BOT_USERNAME`, `TELEGRAM_API_BASE`.
    #[must_use]
    pub fn with_telegram(self, fake: &TelegramFake) -> Self {
        self.envs(fake.env())
    }

    /// Sets several environment variables.
    #[must_use]
    pub fn envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (key, value) in vars {
            self = self.env(key, value);
        }
        self
    }

    /// Adds arguments after `dev --listen 127.0.0.1:0 --data-dir DIR`.
    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Starts the host on a free loopback port and waits for its
    /// `listening on URL` line. Its stderr is appended to `DIR.log` (beside
    /// the data directory, so restarts on the same directory share it).
    pub fn start(self) -> DevHost {
        let log = self.dir.with_extension("log");
        let mut cmd = Command::new(host_binary());
        cmd.args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&self.dir)
            .args(&self.args)
            .env("SIGNET_LOG", "warn");
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(append(&log))
            .spawn()
            .unwrap();
        let Some(url) = stdout_after(&mut child, "listening on ", START_TIMEOUT) else {
            let status = wait_or_kill(&mut child, Duration::ZERO);
            panic!(
                "signet-host dev printed no `listening on` line within {START_TIMEOUT:?} (exit: {status:?}); its log:\n{}",
                log_text(&log)
            );
        };
        DevHost {
            child,
            url,
            dir: self.dir,
            log,
        }
    }
}

impl DevHost {
    /// `signet-host dev --data-dir dir` with nothing extra.
    pub fn start(dir: &Path) -> Self {
        Self::command(dir).start()
    }

    /// A host on `dir` to be started with extra environment or arguments.
    pub fn command(dir: &Path) -> DevHostCommand {
        DevHostCommand {
            dir: dir.to_owned(),
            env: Vec::new(),
            args: Vec::new(),
        }
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The host's stderr log.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The host process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The admin token `dev` wrote to `DIR/admin-token`.
    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.dir.join("admin-token"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// The signer child, from `DIR/signer.pid`.
    pub fn signer_pid(&self) -> u32 {
        read_pid(&self.dir.join("signer.pid"))
    }

    /// Stops the host as an operator does: SIGTERM, then waits for it to
    /// drain and exit (killed if it takes longer than [`STOP_TIMEOUT`]).
    pub fn stop(mut self) {
        sigterm(self.pid());
        wait_or_kill(&mut self.child, STOP_TIMEOUT);
    }

    /// Kills the host process alone with SIGKILL (no chance to clean up), and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for DevHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// A standalone signer and `signet-host serve`

/// A dev-attested `signet-enclave` on a unix socket, as an operator would run
/// it beside `serve`, with [`INTERNAL_API_KEY`] and [`SIGNER_TICKET_SECRET`].
/// Killed and reaped when dropped.
pub struct Signer {
    child: Child,
    socket: PathBuf,
    dev_dir: PathBuf,
}

impl Signer {
    /// Starts it with its socket at `dir/signer.sock`, its dev material in
    /// `dir/dev` and its log in `dir/signer.log`, and waits until the socket
    /// accepts connections.
    pub fn start(dir: &Path) -> Self {
        let socket = dir.join("signer.sock");
        let dev_dir = dir.join("dev");
        let log = dir.join("signer.log");
        let mut child = Command::new(sibling("signet-enclave"))
            .arg("--listen")
            .arg(format!("unix:{}", socket.display()))
            .args(["--attestation", "dev", "--dev-dir"])
            .arg(&dev_dir)
            .env_clear()
            .env("INTERNAL_API_KEY", INTERNAL_API_KEY)
            .env("TICKET_SIGNING_SECRET", SIGNER_TICKET_SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(append(&log))
            .spawn()
            .unwrap();
        let mut exited = None;
        let up = eventually(START_TIMEOUT, || {
            exited = child.try_wait().ok().flatten();
            exited.is_some() || UnixStream::connect(&socket).is_ok()
        });
        if !up || exited.is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "signet-enclave did not accept on {} within {START_TIMEOUT:?} (exit: {exited:?}); its log:\n{}",
                socket.display(),
                log_text(&log)
            );
        }
        Self {
            child,
            socket,
            dev_dir,
        }
    }

    /// Its address for `ENCLAVE_ADDR`.
    pub fn addr(&self) -> String {
        format!("unix:{}", self.socket.display())
    }

    /// The dev attestation root it issues under.
    pub fn dev_root(&self) -> PathBuf {
        self.dev_dir.join("attestation").join(ROOT_CERT_FILE)
    }
}

impl Drop for Signer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An attestation policy file in `dir`: `root` and one PCR set.
pub fn write_policy(dir: &Path, root: &Path, pcr_set: &serde_json::Map<String, Value>) -> PathBuf {
    let policy = dir.join("policy.json");
    std::fs::write(
        &policy,
        serde_json::json!({"root": root, "pcr_sets": [pcr_set]}).to_string(),
    )
    .unwrap();
    policy
}

/// The environment of a `serve` beside `signer`, with the database `db` and `policy`.
pub fn serve_env(signer: &Signer, db: &str, policy: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("SIGNET_DATABASE_URL", db.to_owned()),
        ("ENCLAVE_ADDR", signer.addr()),
        ("INTERNAL_API_KEY", INTERNAL_API_KEY.to_owned()),
        ("TICKET_SIGNING_SECRET", SIGNER_TICKET_SECRET.to_owned()),
        (
            "SESSION_SIGNING_SECRET",
            "c0d1e2f3a4b5968778695a4b3c2d1e0f99aabbcc".to_owned(),
        ),
        ("ATTESTATION_POLICY", policy.display().to_string()),
        ("SIGNET_LOG", "warn".to_owned()),
    ]
}

impl Signer {
    /// A policy file in `dir` trusting this signer's dev root and the signer
    /// binary's PCRs.
    pub fn policy(&self, dir: &Path) -> PathBuf {
        let set: serde_json::Map<String, Value> = signer_pcrs()
            .iter()
            .map(|(i, v)| (i.to_string(), Value::String(hex::encode(v))))
            .collect();
        write_policy(dir, &self.dev_root(), &set)
    }
}

/// Runs `signet-host admin ARGS` on the database `db`; its stdout, or a
/// panic with its stderr.
pub fn admin(db: &str, args: &[&str]) -> String {
    let out = Command::new(host_binary())
        .arg("admin")
        .args(args)
        .env("SIGNET_DATABASE_URL", db)
        .env("SIGNET_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "signet-host admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `signet-host admin create-client` of an operator (`*,operator`) on `db`,
/// as the runbook bootstraps `serve`; its token.
pub fn bootstrap_operator(db: &str) -> String {
    let token = admin(
        db,
        &[
            "create-client",
            "--name",
            "ops",
            "--tenant",
            "ops",
            "--scopes",
            "*,operator",
        ],
    )
    .trim()
    .to_owned();
    assert!(token.starts_with("sgn_"), "{token}");
    token
}

/// A fresh PostgreSQL database on the server of `SIGNET_TEST_POSTGRES_URL`
/// (scripts/test.sh sets it and `SIGNET_REQUIRE_POSTGRES=1`), or `None`,
/// said loudly, where no server is configured.
pub fn fresh_postgres_db(label: &str) -> Option<String> {
    let Ok(admin_url) = std::env::var("SIGNET_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("SIGNET_REQUIRE_POSTGRES").is_err(),
            "SIGNET_REQUIRE_POSTGRES is set but SIGNET_TEST_POSTGRES_URL is not"
        );
        eprintln!("SKIPPED {label}: SIGNET_TEST_POSTGRES_URL is not set (scripts/test.sh sets it)");
        return None;
    };
    let name = format!("signet_t_{label}_{}_{}", std::process::id(), now_s());
    let out = Command::new("psql")
        .arg(&admin_url)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c"])
        .arg(format!("CREATE DATABASE {name}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "psql CREATE DATABASE: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(b, _)| b);
    Some(format!("{base}/{name}"))
}

/// A P-256 key and a self-signed certificate for `cn` (`DIR/NAME.key`,
/// `DIR/NAME.pem`; `extra` adds openssl arguments such as `-addext`).
pub fn self_signed(dir: &Path, name: &str, cn: &str, extra: &[&str]) -> (PathBuf, PathBuf) {
    let (key, cert) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pem")),
    );
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", &format!("/CN={cn}")])
        .args(extra)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success(), "openssl req -x509 for {cn}");
    (key, cert)
}

/// A CA (`DIR/CA.pem`, `.key`) and a server certificate for localhost and
/// 127.0.0.1 issued by it (`DIR/NAME.pem`, `DIR/NAME.key`): what TLS
/// clients that refuse a CA certificate as a server's (webpki) accept.
pub fn issued_for_localhost(dir: &Path, ca: &str, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let (ca_key, ca_cert) = self_signed(dir, ca, ca, &[]);
    let (key, cert) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pem")),
    );
    let csr = dir.join(format!("{name}.csr"));
    let ext = dir.join(format!("{name}.ext"));
    std::fs::write(&ext, "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    let run = |args: &[&std::ffi::OsStr]| {
        let ok = Command::new("openssl")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success(), "openssl {args:?}");
    };
    let s = |v: &str| std::ffi::OsString::from(v);
    run(&[
        &s("req"),
        &s("-newkey"),
        &s("ec"),
        &s("-pkeyopt"),
        &s("ec_paramgen_curve:P-256"),
        &s("-nodes"),
        &s("-subj"),
        &s("/CN=localhost"),
        &s("-keyout"),
        key.as_os_str(),
        &s("-out"),
        csr.as_os_str(),
    ]);
    run(&[
        &s("x509"),
        &s("-req"),
        &s("-in"),
        csr.as_os_str(),
        &s("-CA"),
        ca_cert.as_os_str(),
        &s("-CAkey"),
        ca_key.as_os_str(),
        &s("-CAcreateserial"),
        &s("-days"),
        &s("1"),
        &s("-extfile"),
        ext.as_os_str(),
        &s("-out"),
        cert.as_os_str(),
    ]);
    (ca_cert, key, cert)
}

/// Asserts that a command exited 0, showing its stderr otherwise.
pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running `signet-host serve`. Killed and reaped when dropped.
pub struct ServeHost {
    child: Child,
    url: String,
    port: u16,
    log: PathBuf,
}

impl ServeHost {
    /// Starts `signet-host serve` with exactly `env` (nothing inherited) and
    /// `SIGNET_LISTEN` on a free loopback port; HTTPS when `env` sets
    /// `SIGNET_TLS_CERT`. Its output is appended to `dir/serve.log`. Returns
    /// once it logs that it serves or its port accepts connections; panics
    /// (with the log) if it exits or neither happens within [`START_TIMEOUT`].
    pub fn start(dir: &Path, env: &[(&str, String)]) -> Self {
        Self::start_on(dir, env, free_port())
    }

    /// [`ServeHost::start`] on a port chosen beforehand (its URL must be
    /// known first, e.g. for a webhook).
    pub fn start_on(dir: &Path, env: &[(&str, String)], port: u16) -> Self {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let scheme = if env.iter().any(|(k, _)| *k == "SIGNET_TLS_CERT") {
            "https"
        } else {
            "http"
        };
        let log = dir.join("serve.log");
        let out = append(&log);
        let mut cmd = Command::new(host_binary());
        cmd.arg("serve").env_clear();
        for (key, value) in env {
            cmd.env(key, value);
        }
        let mut child = cmd
            .env("SIGNET_LISTEN", addr.to_string())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let mut exited = None;
        let up = eventually(START_TIMEOUT, || {
            exited = child.try_wait().ok().flatten();
            exited.is_some()
                || log_text(&log).contains("signet-host serving")
                || TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        });
        if !up || exited.is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "signet-host serve did not come up on {addr} within {START_TIMEOUT:?} (exit: {exited:?}); its log:\n{}",
                log_text(&log)
            );
        }
        Self {
            child,
            url: format!("{scheme}://{addr}"),
            port,
            log,
        }
    }

    /// The base URL, `http(s)://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its output.
    pub fn log_path(&self) -> &Path {
        &self.log
    }
}

impl Drop for ServeHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// HTTP

/// One request to `url` + `path`: the status and the JSON body (`null` when
/// there is none). A `Retry-After` header is kept as `v["retry_after"]` (its
/// text). Panics on transport errors.
pub fn call(
    url: &str,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = ureq::request(method, &format!("{url}{path}")).timeout(Duration::from_secs(30));
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    let resp = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    match resp {
        Ok(r) => (r.status(), r.into_json().unwrap_or(Value::Null)),
        Err(ureq::Error::Status(s, r)) => {
            let retry_after = r.header("retry-after").map(str::to_owned);
            let mut v: Value = r.into_json().unwrap_or(Value::Null);
            if let Some(ra) = retry_after {
                v["retry_after"] = json!(ra);
            }
            (s, v)
        }
        Err(e) => panic!("{method} {path}: {e}"),
    }
}

/// The error code of an error body, or "".
pub fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

/// Creates an API client through the admin API; its token.
pub fn create_client(url: &str, admin: &str, tenant: &str, scopes: &[&str]) -> String {
    let (s, v) = call(
        url,
        Some(admin),
        "POST",
        "/v1/admin/api-clients",
        Some(json!({"name": tenant, "tenant": tenant, "scopes": scopes})),
    );
    assert_eq!(s, 201, "{v}");
    v["token"].as_str().unwrap().to_owned()
}

// ---------------------------------------------------------------------------
// Independent checks

/// A verifier trusting `host`'s dev root and exactly the dev PCRs of the
/// signer binary beside the host.
pub fn dev_verifier(host: &DevHost) -> Verifier {
    let pem = std::fs::read_to_string(host.dir().join("dev-root.pem")).unwrap();
    Verifier::new(
        TrustAnchor::from_pem(&pem).unwrap(),
        PcrPolicy::exactly(PcrSet::new(signer_pcrs()).unwrap()),
    )
}

/// pyca/cryptography (OpenSSL) checks every signature:
/// `scripts/independent_verify.py` with `SIGNET_PYTHON` (default `python3`),
/// one JSON object a line.
pub fn verify_independently(items: &[Value]) {
    let python = std::env::var("SIGNET_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/independent_verify.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for item in items {
            writeln!(stdin, "{item}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "independent verification: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("ok {}", items.len())
    );
}

/// EIP-55 computed here with the sha3 crate, independently of the host's code.
pub fn eip55(public_key: &[u8]) -> String {
    use sha3::{Digest as _, Keccak256};
    let lower = hex::encode(&Keccak256::digest(&public_key[1..])[12..]);
    let check = hex::encode(Keccak256::digest(lower.as_bytes()));
    let mut out = String::from("0x");
    for (c, h) in lower.chars().zip(check.chars()) {
        out.push(if h.to_digit(16).unwrap() >= 8 {
            c.to_ascii_uppercase()
        } else {
            c
        });
    }
    out
}

/// The Ethereum `personal_sign` (EIP-191) digest of `message`.
pub fn eip191(message: &[u8]) -> Vec<u8> {
    use sha3::{Digest as _, Keccak256};
    let mut h = Keccak256::new();
    h.update(format!("\x19Ethereum Signed Message:\n{}", message.len()).as_bytes());
    h.update(message);
    h.finalize().to_vec()
}

/// libsecp256k1 recovers the wallet's key from a signature response
/// (`signature` hex, `recovery_id`) over `digest`.
pub fn check_recovery(sig: &Value, digest: &[u8], public_key: &[u8]) {
    use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
    let recid =
        RecoveryId::from_i32(i32::try_from(sig["recovery_id"].as_u64().unwrap()).unwrap()).unwrap();
    let compact = hex::decode(sig["signature"].as_str().unwrap()).unwrap();
    let rec = RecoverableSignature::from_compact(&compact, recid).unwrap();
    let msg = secp256k1::Message::from_digest(digest.try_into().unwrap());
    let pk = secp256k1::SECP256K1.recover_ecdsa(&msg, &rec).unwrap();
    assert_eq!(pk.serialize_uncompressed().to_vec(), public_key);
}

// ---------------------------------------------------------------------------
// Audit

/// The whole audit log as `token` may read it, page by page.
pub fn fetch_audit(url: &str, token: &str) -> Vec<AuditEvent> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let (s, v) = call(
            url,
            Some(token),
            "GET",
            &format!("/v1/audit?after={after}&limit=1000"),
            None,
        );
        assert_eq!(s, 200, "{v}");
        let page: Vec<AuditEvent> = serde_json::from_value(v["events"].clone()).unwrap();
        all.extend(page);
        match v["next"].as_u64() {
            Some(n) => after = n,
            None => return all,
        }
    }
}

/// Recomputes the hash chain of `events` (from the first event of the log)
/// with `signet_proto`'s verifier: how many events were checked, or where it breaks.
pub fn check_chain(events: &[AuditEvent]) -> Result<u64, ChainBreak> {
    let mut chain = ChainVerifier::default();
    events.iter().try_for_each(|e| chain.push(e))?;
    Ok(chain.checked())
}

/// Fetches the audit log with `token` and asserts that its chain is intact;
/// the events.
pub fn verified_audit(url: &str, token: &str) -> Vec<AuditEvent> {
    let events = fetch_audit(url, token);
    if let Err(e) = check_chain(&events) {
        panic!("the audit chain is broken: {e}");
    }
    events
}

/// Asserts that an event matching `wanted` (described by `what`) reaches the
/// audit log (read with `token`, chain checked) within 10 s.
pub fn assert_audited(url: &str, token: &str, what: &str, wanted: impl Fn(&AuditEvent) -> bool) {
    let mut events = Vec::new();
    let found = eventually(Duration::from_secs(10), || {
        events = verified_audit(url, token);
        events.iter().any(&wanted)
    });
    assert!(found, "no {what} event in the audit log: {events:#?}");
}

/// `signet audit verify --url URL` with `SIGNET_TOKEN=token`.
pub fn audit_verify(url: &str, token: &str) -> Output {
    signet_cli()
        .args(["audit", "verify", "--url", url])
        .env("SIGNET_TOKEN", token)
        .output()
        .unwrap()
}

/// `signet-telegram-fake` (a Bot API server the project owns), killed on drop.
/// A project fake (`signet-telegram-fake`, `signet-kms-fake`) as a child
/// process: it prints one line of `name=value` fields (its addresses) when
/// ready, logs to a file, and exits when its stdin closes (and is killed
/// when dropped).
pub struct Fake {
    child: Child,
    line: String,
    log: PathBuf,
}

impl Fake {
    /// Starts the fake `binary` (built beside `signet-host`) with `args`
    /// and `--exit-with-stdin`, its stderr in `log`, and waits for its line.
    pub fn spawn<I, S>(binary: &str, args: I, log: &Path) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut child = Command::new(sibling(binary))
            .args(args)
            .arg("--exit-with-stdin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Self {
            child,
            line,
            log: log.to_owned(),
        }
    }

    /// The field `name` of its ready line (`api`, `control`, `https`).
    pub fn field(&self, name: &str) -> String {
        let prefix = format!("{name}=");
        self.line
            .split_whitespace()
            .find_map(|w| w.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| {
                panic!(
                    "no {name} in {:?}; log:\n{}",
                    self.line,
                    log_text(&self.log)
                )
            })
            .to_owned()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The project's Telegram Bot API fake (`signet-telegram-fake`).
pub struct TelegramFake {
    _process: Fake,
    /// Its Bot API base (`TELEGRAM_API_BASE`).
    pub api: String,
    /// Its control API base (tests' side).
    pub control: String,
    /// The bot's token.
    pub token: String,
    /// The bot's username.
    pub bot: String,
}

impl TelegramFake {
    /// Starts the fake for bot `token` named `bot`.
    pub fn start(dir: &std::path::Path, token: &str, bot: &str) -> Self {
        let process = Fake::spawn(
            "signet-telegram-fake",
            [
                "--token",
                token,
                "--bot-username",
                bot,
                "--allow-http-webhook",
            ],
            &dir.join("telegram.log"),
        );
        Self {
            api: format!("http://{}", process.field("api")),
            control: format!("http://{}", process.field("control")),
            token: token.to_owned(),
            bot: bot.to_owned(),
            _process: process,
        }
    }

    /// The host's settings for this bot (polling mode): `TELEGRAM_BOT_TOKEN`,
    /// `TELEGRAM_BOT_USERNAME`, `TELEGRAM_API_BASE`.
    pub fn env(&self) -> [(&'static str, String); 3] {
        [
            ("TELEGRAM_BOT_TOKEN", self.token.clone()),
            ("TELEGRAM_BOT_USERNAME", self.bot.clone()),
            ("TELEGRAM_API_BASE", self.api.clone()),
        ]
    }

    /// (control API)
    pub fn say(&self, user: i64, text: &str) -> Value {
        ureq::post(&format!("{}/users/{user}/messages", self.control))
            .send_json(json!({"text": text, "first_name": "Alice"}))
            .unwrap()
            .into_json()
            .unwrap()
    }

    /// (control API)
    pub fn sent_to(&self, user: i64) -> Vec<String> {
        let sent: Vec<Value> = ureq::get(&format!("{}/sent", self.control))
            .call()
            .unwrap()
            .into_json()
            .unwrap();
        sent.iter()
            .filter(|m| m["chat_id"] == user)
            .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// (control API) The login keyboard the bot sent `user` for the
    /// challenge `challenge_id`: the message, once it is there.
    pub fn keyboard_for(&self, user: i64, challenge_id: &str) -> Option<Value> {
        let sent: Vec<Value> = serde_json::from_value(self.get("/sent")).ok()?;
        sent.into_iter().find(|m| {
            m["chat_id"] == user
                && m["reply_markup"]["inline_keyboard"]
                    .to_string()
                    .contains(challenge_id)
        })
    }

    /// (control API) `user` presses the button labelled `text` under
    /// message `message_id`: the status and the `callback_query` update.
    pub fn press(&self, user: i64, message_id: &Value, text: &str) -> (u16, Value) {
        let r = ureq::post(&format!("{}/users/{user}/press", self.control))
            .send_json(json!({"message_id": message_id, "text": text}));
        match r {
            Ok(r) => (r.status(), r.into_json().unwrap()),
            Err(ureq::Error::Status(s, r)) => (s, r.into_json().unwrap()),
            Err(e) => panic!("{e}"),
        }
    }

    /// (control API) The texts of the bot's `answerCallbackQuery` calls.
    pub fn callback_answers(&self) -> Vec<String> {
        self.get("/callback-answers")
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// `user` opens challenge `c` in Telegram (`/start`), waits for the
    /// bot's question and presses `answer` (a number or "Not me"); returns
    /// the question (its text and keyboard).
    pub fn open_and_press(&self, user: i64, c: &Value, answer: &str) -> Value {
        let id = c["challenge_id"].as_str().unwrap();
        self.say(user, &format!("/start {id}"));
        self.press_on(user, c, answer)
    }

    /// `user` presses `answer` on the question the bot sent them for `c`.
    pub fn press_on(&self, user: i64, c: &Value, answer: &str) -> Value {
        let id = c["challenge_id"].as_str().unwrap();
        let mut question = None;
        assert!(
            eventually(Duration::from_secs(60), || {
                question = self.keyboard_for(user, id);
                question.is_some()
            }),
            "the bot never asked {user} about {id}: {}",
            self.get("/sent")
        );
        let question = question.unwrap();
        let (s, update) = self.press(user, &question["message_id"], answer);
        assert_eq!(s, 200, "{update}");
        question
    }

    /// (control API)
    pub fn get(&self, path: &str) -> Value {
        ureq::get(&format!("{}{path}", self.control))
            .call()
            .unwrap()
            .into_json()
            .unwrap()
    }

    /// (control API)
    pub fn faults(&self, v: Value) {
        ureq::post(&format!("{}/faults", self.control))
            .send_json(v)
            .unwrap();
    }
}

/// Signs in as Telegram user `tg` (test mode): the session JSON, with the
/// `challenge_id` it came from.
pub fn test_mode_sign_in(url: &str, tg: i64) -> Value {
    let (s, c) = call(
        url,
        None,
        "POST",
        "/v1/auth/challenge",
        Some(json!({"telegram_user_id": tg})),
    );
    assert_eq!(s, 201, "{c}");
    assert!(
        c["qr_svg"].as_str().unwrap().starts_with("<?xml"),
        "the deep link as a QR code: {c}"
    );
    assert!(
        c["deep_link"]
            .as_str()
            .unwrap()
            .starts_with("https://t.me/"),
        "{c}"
    );
    assert!(c["verifier"].as_str().unwrap().starts_with("chv_"), "{c}");
    let (s, mut v) = call(
        url,
        None,
        "POST",
        "/v1/auth/verify",
        Some(json!({"challenge_id": c["challenge_id"], "verifier": c["verifier"]})),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["user"]["telegram_user_id"], tg);
    v["challenge_id"] = c["challenge_id"].clone();
    v["verifier"] = c["verifier"].clone();
    v
}

/// A `serve` host and its signer on `db`, with an API client of tenant
/// `alice` (scopes `wallets:*`, `sign`): owners' and policy tests.
pub struct ServeSetup {
    _tmp: tempfile::TempDir,
    pub signer: Option<Signer>,
    pub host: Option<ServeHost>,
    pub env: Vec<(&'static str, String)>,
    pub dir: std::path::PathBuf,
    pub token: String,
}

impl ServeSetup {
    /// Starts the signer and host on `db`.
    pub fn start(db: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let signer = Signer::start(&dir);
        let policy = signer.policy(&dir);
        let env = serve_env(&signer, db, &policy);
        let operator = bootstrap_operator(db);
        std::fs::create_dir_all(dir.join("host")).unwrap();
        let host = ServeHost::start(&dir.join("host"), &env);
        let token = create_client(host.url(), &operator, "alice", &["wallets:*", "sign"]);
        // Authorizations made in the signer's start second would be refused
        // (see `restart_after`).
        std::thread::sleep(std::time::Duration::from_millis(1100));
        Self {
            _tmp: tmp,
            signer: Some(signer),
            host: Some(host),
            env,
            dir,
            token,
        }
    }

    /// A host and signer on a fresh SQLite file (kept while the first value
    /// lives).
    pub fn on_sqlite() -> (tempfile::TempDir, Self) {
        let tmp = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}", tmp.path().join("signet.db").display());
        let setup = Self::start(&db);
        (tmp, setup)
    }

    /// The host's base URL.
    pub fn url(&self) -> String {
        self.host.as_ref().unwrap().url().to_owned()
    }

    /// Stops host and signer (nothing stays cached), runs `edit`, starts
    /// both again on the same database.
    pub fn restart_after(&mut self, edit: impl FnOnce()) {
        self.host = None;
        self.signer = None;
        edit();
        let signer = Signer::start(&self.dir);
        self.host = Some(ServeHost::start(&self.dir.join("host"), &self.env));
        self.signer = Some(signer);
        // A signer takes, in its first 600 s, only authorizations expiring
        // after its start + 600 s: made in its start's second, they do not.
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
}

/// Runs `sql` on the SQLite file at `path` (Python's sqlite3): edits made
/// behind the host's back.
pub fn sqlite_exec(path: &Path, sql: &str) {
    sqlite_python(
        path,
        sql,
        "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()",
    );
}

/// The rows `sql` selects from the SQLite file at `path`, as JSON arrays.
pub fn sqlite_rows(path: &Path, sql: &str) -> Vec<Value> {
    let out = sqlite_python(
        path,
        sql,
        "import json,sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(json.dumps([list(r) for r in c.execute(sys.argv[2])]))",
    );
    serde_json::from_slice(&out).unwrap()
}

/// Runs the Python `script` with the database `path` and `sql` as its
/// arguments; its standard output.
fn sqlite_python(path: &Path, sql: &str, script: &str) -> Vec<u8> {
    let python = std::env::var("SIGNET_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .args(["-c", script])
        .arg(path)
        .arg(sql)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
