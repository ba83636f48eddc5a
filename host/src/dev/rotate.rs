//! `signet-host admin rotate-sealing-key --data-dir DIR`: the rotation of a
//! running `signet-host dev`, asked of it over HTTP. A dev host generates
//! its signer's secrets at start and keeps them to itself, so the offline
//! command (which opens its own connection to the signer) cannot run beside
//! it; the dev host's own API can.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The file in a dev data directory holding the URL the host listens on
/// (written when it starts listening).
pub const URL_FILE: &str = "url";

/// The longest wait for a real rotation to finish (it includes the grace
/// period of `SIGNET_ROTATION_GRACE_SECONDS`).
const ROTATION_WAIT: Duration = Duration::from_secs(30 * 60);

fn read_trimmed(path: &Path, what: &str, dir: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| {
            format!(
                "{}: {e}: {what} (is `signet-host dev --data-dir {}` running?)",
                path.display(),
                dir.display()
            )
        })
}

fn send(method: &str, url: &str, token: &str) -> Result<(u16, Value), String> {
    let request = ureq::request(method, url)
        .timeout(Duration::from_secs(60))
        .set("Authorization", &format!("Bearer {token}"));
    match request.call() {
        Ok(r) => {
            let status = r.status();
            let body = r
                .into_json()
                .map_err(|e| format!("{url}: the answer is not JSON: {e}"))?;
            Ok((status, body))
        }
        Err(ureq::Error::Status(status, r)) => Ok((status, r.into_json().unwrap_or(Value::Null))),
        Err(e) => Err(format!(
            "cannot reach the dev host at {url}: {e} (is it still running?)"
        )),
    }
}

fn refusal(status: u16, body: &Value) -> String {
    let code = body["error"]["code"].as_str().unwrap_or("unknown");
    let message = body["error"]["message"].as_str().unwrap_or("");
    let hint = if status == 400 && message.contains("KMS") {
        " (rotation is of the KMS sealing key: start the dev host with `--sealing kms`)"
    } else {
        ""
    };
    format!("{status} {code}: {message}{hint}")
}

/// Asks the dev host of `dir` to rotate its sealing key (or, `dry_run`, to
/// count what would move) with its admin token. A real rotation is
/// followed in `/v1/admin/status` until it is done; the JSON to print (the
/// dry run's report, or the finished rotation). Refuses when the host is not
/// running, refuses the rotation (a dev sealing key, not KMS), or the
/// rotation stops with an error (run the command again to resume).
pub fn rotate_through(dir: &Path, dry_run: bool) -> Result<String, String> {
    let base = read_trimmed(&dir.join(URL_FILE), "the URL of the dev host", dir)?;
    let token = read_trimmed(&dir.join("admin-token"), "the admin token", dir)?;
    let (status, reply) = send(
        "POST",
        &format!("{base}/v1/admin/sealing/rotate?dry_run={dry_run}"),
        &token,
    )?;
    let pretty = |v: &Value| serde_json::to_string_pretty(v).map_err(|e| e.to_string());
    match status {
        200 if dry_run => return pretty(&reply),
        202 if !dry_run => {}
        _ => return Err(refusal(status, &reply)),
    }
    // A finished rotation before this one stays in the status until the new
    // one writes its own: wait for a rotation to a later version.
    let before = &reply["rotation"];
    let earlier_done = (before["phase"] == "done").then(|| before["to_version"].as_u64());
    let status_url = format!(
        "{base}{}",
        reply["status_url"].as_str().unwrap_or("/v1/admin/status")
    );
    eprintln!("rotation started; following {status_url}");
    let deadline = Instant::now() + ROTATION_WAIT;
    let mut last_phase = String::new();
    loop {
        let (status, view) = send("GET", &status_url, &token)?;
        if status != 200 {
            return Err(refusal(status, &view));
        }
        let rotation = &view["sealing"]["rotation"];
        let phase = rotation["phase"].as_str().unwrap_or("");
        let this_one = earlier_done.is_none_or(|v| rotation["to_version"].as_u64() != v);
        if this_one {
            if let Some(error) = rotation["error"].as_str() {
                return Err(format!(
                    "the rotation stopped in phase {phase}: {error} (run the command again to resume)"
                ));
            }
            if phase == "done" {
                return pretty(rotation);
            }
            if phase != last_phase {
                eprintln!("  phase {phase}");
                phase.clone_into(&mut last_phase);
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the rotation is not done after {ROTATION_WAIT:?}; it continues: see {status_url}"
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
