//! Starting a `signet-host dev` to measure, and reading the CPU time and peak
//! memory of its processes from /proc.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A `signet-host dev` started by the bench in a temporary directory.
pub struct DevHost {
    child: Child,
    /// `host:port`.
    pub authority: String,
    /// The admin token.
    pub token: String,
    /// Its data directory.
    pub dir: tempfile::TempDir,
}

impl DevHost {
    /// Starts `signet-host dev` (found beside this executable) with `extra` flags.
    pub fn start(extra: &[String], env: &[(String, String)]) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let host = exe.with_file_name("signet-host");
        if !host.exists() {
            return Err(format!(
                "{} not found: cargo build --release -p signet-host -p signet-enclave",
                host.display()
            ));
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let data = dir.path().join("data");
        let mut cmd = Command::new(&host);
        cmd.args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .args(extra)
            .env("SIGNET_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // A load test: the default limits (120 signatures a minute per
            // wallet) would measure the limiter's refusals, not signing. To
            // measure a limited host, start it yourself and pass `--url`.
            .env("RATE_LIMIT_PER_USER", "0")
            .env("RATE_LIMIT_PER_IDENTITY_SIGN", "0");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("{}: {e}", host.display()))?;
        let first = first_line(&mut child, "signet-host dev (see its data dir)")?;
        let authority = first
            .split("http://")
            .nth(1)
            .map(|s| s.trim().to_owned())
            .ok_or_else(|| format!("unexpected first line: {first}"))?;
        let token = std::fs::read_to_string(data.join("admin-token"))
            .map_err(|e| e.to_string())?
            .trim()
            .to_owned();
        Ok(Self {
            child,
            authority,
            token,
            dir,
        })
    }

    /// Host and signer pids.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.child.id()];
        if let Some(pid) = std::fs::read_to_string(self.data().join("signer.pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
        {
            pids.push(pid);
        }
        pids
    }

    /// The data directory.
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The dev attestation root.
    pub fn dev_root(&self) -> PathBuf {
        self.data().join("dev-root.pem")
    }
}

impl Drop for DevHost {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first line `child` prints on its stdout (where it listens); the rest
/// is drained on a thread, so the child never blocks on a full pipe.
pub fn first_line(child: &mut Child, what: &str) -> Result<String, String> {
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let first = lines
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| format!("{what} printed nothing"))?;
    std::thread::spawn(move || for _ in lines {});
    Ok(first)
}

/// CPU seconds (user + system) used by `pid` so far.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Current and peak resident memory (kB) of `pid`.
pub fn rss_kb(pid: u32) -> Option<(u64, u64)> {
    let status =
        std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}
