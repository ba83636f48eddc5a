//! What tripped a new user following the README (issue 28), each shown by
//! the real binary on a real socket.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{call, code, eventually, host_binary, DevHost};

/// A second `signet-host dev` on the data directory of a running one is
/// refused with the first one's PID (before, it took the signer's socket and
/// rewrote the dev root, and the first host's signer looped on
/// `attestation refused`); the first keeps serving.
#[test]
fn a_second_dev_on_the_same_data_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("host");
    let first = DevHost::start(&data);
    let root_before = std::fs::read(data.join("dev-root.pem")).unwrap();
    let out = Command::new(host_binary())
        .args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("SIGNET_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("already in use by another signet-host dev")
            && stderr.contains(&format!("PID {}", first.pid())),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(data.join("dev-root.pem")).unwrap(),
        root_before,
        "the dev root is untouched"
    );
    // The first host still signs.
    let admin = first.admin_token();
    let (s, w) = call(
        first.url(),
        Some(&admin),
        "POST",
        "/v1/wallets",
        Some(serde_json::json!({"key_type": "ed25519"})),
    );
    assert_eq!(s, 201, "{w}");
    assert!(eventually(Duration::from_secs(5), || call(
        first.url(),
        None,
        "GET",
        "/ready",
        None
    )
    .0 == 200));
    // Stopped, the directory is free again.
    first.stop();
    let again = DevHost::start(&data);
    assert_eq!(call(again.url(), None, "GET", "/health", None).0, 200);
}

/// `GET /` leads to the console; a known route with the wrong method is a
/// JSON 405 like every other error (it was an empty body).
#[test]
fn the_root_leads_to_the_console_and_a_wrong_method_is_a_json_405() {
    let dir = tempfile::tempdir().unwrap();
    let host = DevHost::start(&dir.path().join("host"));
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let r = agent.get(&format!("{}/", host.url())).call().unwrap();
    assert!((300..400).contains(&r.status()), "{}", r.status());
    assert_eq!(r.header("location"), Some("/console/"));
    let admin = host.admin_token();
    let (s, v) = call(
        host.url(),
        Some(&admin),
        "GET",
        "/v1/wallets/w_x/sign",
        None,
    );
    assert_eq!((s, code(&v)), (405, "method_not_allowed"), "{v}");
    let (s, v) = call(host.url(), None, "DELETE", "/v1/auth/challenge", None);
    assert_eq!((s, code(&v)), (405, "method_not_allowed"), "{v}");
    let (s, v) = call(host.url(), None, "GET", "/v1/nothing-here", None);
    assert_eq!((s, code(&v)), (404, "not_found"), "{v}");
}

/// A dev host with the project's KMS (`dev --sealing kms`, as the README
/// runs it), ready to sign.
fn kms_dev_host(data: &std::path::Path) -> DevHost {
    let host = DevHost::command(data)
        .args(["--sealing", "kms"])
        .env("SIGNET_ROTATION_GRACE_SECONDS", "1")
        .start();
    assert!(
        eventually(common::START_TIMEOUT, || call(
            host.url(),
            None,
            "GET",
            "/ready",
            None
        )
        .0 == 200),
        "{}",
        common::log_text(host.log_path())
    );
    host
}

/// Waits for the rotation in `/v1/admin/status` to finish; its view.
fn rotation_done(host: &DevHost, to_version: u64) -> serde_json::Value {
    let mut rotation = serde_json::Value::Null;
    assert!(
        eventually(Duration::from_secs(90), || {
            let (_, status) = call(
                host.url(),
                Some(&host.admin_token()),
                "GET",
                "/v1/admin/status",
                None,
            );
            rotation = status["sealing"]["rotation"].clone();
            (rotation["phase"] == "done" && rotation["to_version"] == to_version)
                || !rotation["error"].is_null()
        }),
        "{rotation}"
    );
    rotation
}

/// `signet-host admin rotate-sealing-key --data-dir DIR` beside a dev host.
fn rotate_command(data: &std::path::Path, dry_run: bool) -> std::process::Output {
    let mut cmd = Command::new(host_binary());
    cmd.args(["admin", "rotate-sealing-key", "--data-dir"])
        .arg(data)
        .env_remove("ENCLAVE_ADDR")
        .env("SIGNET_LOG", "warn");
    if dry_run {
        cmd.arg("--dry-run");
    }
    cmd.output().unwrap()
}

/// Rotation as the docs write it: `curl -X POST …/sealing/rotate` with no
/// body (it was a 400 for the missing content type) is a real rotation
/// whose 202 names where progress shows, and `?dry_run=true` (a 400 before)
/// is a dry run; the query and a body that disagree are refused.
#[test]
fn rotation_runs_without_a_body_and_with_the_dry_run_query() {
    let dir = tempfile::tempdir().unwrap();
    let host = kms_dev_host(&dir.path().join("host"));
    let admin = host.admin_token();
    let (s, w) = call(
        host.url(),
        Some(&admin),
        "POST",
        "/v1/wallets",
        Some(serde_json::json!({"key_type": "secp256k1"})),
    );
    assert_eq!(s, 201, "{w}");
    let path = "/v1/admin/sealing/rotate";
    let (s, dry) = call(
        host.url(),
        Some(&admin),
        "POST",
        &format!("{path}?dry_run=true"),
        None,
    );
    assert_eq!(s, 200, "{dry}");
    assert_eq!(dry["dry_run"], true, "{dry}");
    assert_eq!(dry["to_reseal"], 1, "{dry}");
    let (s, v) = call(
        host.url(),
        Some(&admin),
        "POST",
        &format!("{path}?dry_run=true"),
        Some(serde_json::json!({"dry_run": false})),
    );
    assert_eq!((s, code(&v)), (400, "bad_request"), "{v}");
    let (s, started) = call(host.url(), Some(&admin), "POST", path, None);
    assert_eq!(s, 202, "{started}");
    assert_eq!(started["status_url"], "/v1/admin/status", "{started}");
    assert!(
        started["poll"]
            .as_str()
            .unwrap()
            .contains("sealing.rotation"),
        "{started}"
    );
    assert_eq!(
        started["mode"], "kms",
        "the sealing state is still there: {started}"
    );
    let rotation = rotation_done(&host, 2);
    assert_eq!(rotation["phase"], "done", "{rotation}");
    assert_eq!(rotation["resealed"], 1, "{rotation}");
}

/// `signet-host admin rotate-sealing-key --dry-run` beside a dev host (it
/// failed with `ENCLAVE_ADDR: is required`): with `--data-dir` it asks the
/// dev host, and a real rotation waits until it is done.
#[test]
fn the_rotation_command_works_beside_dev() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("host");
    let host = kms_dev_host(&data);
    let out = rotate_command(&data, true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let dry: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (dry["dry_run"].as_bool(), dry["to_version"].as_u64()),
        (Some(true), Some(2)),
        "{dry}"
    );
    let out = rotate_command(&data, false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let done: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (done["phase"].as_str(), done["to_version"].as_u64()),
        (Some("done"), Some(2)),
        "{done}"
    );
    assert_eq!(rotation_done(&host, 2)["phase"], "done");
}

/// Without `--data-dir` and without the host's environment, the rotation
/// command says what to pass instead of only `ENCLAVE_ADDR: is required`.
#[test]
fn the_rotation_command_without_configuration_names_data_dir() {
    let out = Command::new(host_binary())
        .args(["admin", "rotate-sealing-key", "--dry-run"])
        .env_remove("ENCLAVE_ADDR")
        .env("SIGNET_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("ENCLAVE_ADDR") && stderr.contains("--data-dir DIR"),
        "{stderr}"
    );
}

/// Beside a dev host with the dev sealing key (no KMS) the command says to
/// start it with `--sealing kms`; without a running host it says so.
#[test]
fn the_rotation_command_says_why_a_dev_host_cannot_rotate() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("host");
    let out = rotate_command(&data, true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("running?"), "{stderr}");
    let _host = DevHost::start(&data);
    let out = rotate_command(&data, true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("--sealing kms"), "{stderr}");
}

/// `check-config` names every problem in one run (it named one per run: five
/// runs to find five missing variables).
#[test]
fn check_config_names_every_problem_at_once() {
    let out = Command::new(host_binary())
        .arg("check-config")
        .env_clear()
        .env("INTERNAL_API_KEY", "short")
        .env("SIGNET_LOG_FORMAT", "xml")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("6 configuration problems"), "{stderr}");
    for var in [
        "ENCLAVE_ADDR",
        "ATTESTATION_POLICY",
        "SIGNET_LOG_FORMAT",
        "INTERNAL_API_KEY",
        "TICKET_SIGNING_SECRET",
        "SESSION_SIGNING_SECRET",
    ] {
        assert!(stderr.contains(&format!("  {var}: ")), "{var}: {stderr}");
    }
    assert!(
        !stderr.contains("short"),
        "secret values are never echoed: {stderr}"
    );
}

/// The dev banner's lines up to the INSECURE warning.
fn dev_banner(data: &std::path::Path, env: &[(&str, &str)]) -> String {
    use std::io::BufRead as _;
    let mut cmd = Command::new(host_binary());
    cmd.args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env("SIGNET_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut banner = String::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        banner.push_str(&line);
        banner.push('\n');
        if line.contains("INSECURE") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    banner
}

/// The dev banner names its database and prints the quick start's export
/// line, which works as printed (the token file it names is the admin's).
#[test]
fn the_dev_banner_names_the_database_and_the_export_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("host");
    let banner = dev_banner(&data, &[]);
    let db = data.join("signet.db");
    assert!(
        banner.contains(&format!("database:     SQLite {}", db.display())),
        "{banner}"
    );
    let export = banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("quick start:  "))
        .unwrap_or_else(|| panic!("no export line: {banner}"));
    let url = banner
        .lines()
        .find_map(|l| l.split("listening on ").nth(1))
        .unwrap();
    assert_eq!(
        export,
        format!(
            "export SIGNET_URL={url} SIGNET_TOKEN=$(cat {})",
            data.join("admin-token").display()
        )
    );
    // A PostgreSQL URL is named without its password, as `check-config`
    // (which shares the naming) shows without a database to start on.
    let checked = Command::new(host_binary())
        .args(["check-config"])
        .env_clear()
        .env("ENCLAVE_ADDR", "unix:/tmp/nowhere.sock")
        .env(
            "INTERNAL_API_KEY",
            "7d1e0c2b4a59687f3e2d1c0b9a8f7e6d5c4b3a29",
        )
        .env(
            "TICKET_SIGNING_SECRET",
            "a9b8c7d6e5f40312f1e2d3c4b5a69788796a5b4c",
        )
        .env(
            "SESSION_SIGNING_SECRET",
            "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c",
        )
        .env("ATTESTATION_POLICY", "insecure-skip")
        .env(
            "SIGNET_DATABASE_URL",
            "postgres://signet:pg-secret-pass@db.internal:5432/signet?sslmode=require",
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&checked.stdout);
    assert!(
        stdout.contains("PostgreSQL db.internal:5432/signet (user signet)")
            && !stdout.contains("pg-secret-pass"),
        "{stdout}"
    );
}

/// The README's quick start, run as written (issue 28): the `sh` block under
/// "## Quick start" is read from README.md and run by bash, `set -eu` and
/// `pipefail`, in a checkout holding only the repository's tracked files,
/// beside a `signet-host dev --data-dir ./signet-data` of that checkout.
/// What stands in for `scripts/dev.sh`'s release build is this test build:
/// the checkout's `target/release/` links to the binaries under test.
#[test]
fn the_readme_quick_start_runs_as_written_from_a_clean_checkout() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let block = quick_start_block(&readme);
    assert!(block.contains("signet-data/url"), "{block}");

    let tmp = tempfile::tempdir().unwrap();
    let checkout = tmp.path().join("signet");
    copy_tracked_files(&repo, &checkout);
    assert!(!checkout.join("signet-data").exists());
    let release = checkout.join("target/release");
    std::fs::create_dir_all(&release).unwrap();
    for name in ["signet", "signet-host", "signet-enclave"] {
        let built = host_binary().with_file_name(name);
        std::os::unix::fs::symlink(&built, release.join(name)).unwrap();
    }
    let host = DevHost::start(&checkout.join("signet-data"));
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &block])
        .current_dir(&checkout)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "the quick start failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- host log\n{}",
        out.status,
        common::log_text(host.log_path())
    );
    // curl's signature, whoami naming the exported token, the wallet table,
    // and the offline checks' verdicts.
    assert!(stdout.contains("\"signature\""), "{stdout}");
    assert!(
        stdout.contains(&format!("host:        {} (from SIGNET_URL)", host.url()))
            && stdout.contains("from SIGNET_TOKEN"),
        "{stdout}"
    );
    assert!(stdout.contains("docs"), "{stdout}");
    let sig: serde_json::Value =
        serde_json::from_slice(&std::fs::read(checkout.join("signet-data/sig.json")).unwrap())
            .unwrap();
    assert!(sig["signature"].is_string(), "{sig}");
    assert!(sig["attestation"].is_object(), "{sig}");
}

/// The first ```sh block after the "## Quick start" heading.
fn quick_start_block(readme: &str) -> String {
    let section = readme
        .split("\n## Quick start\n")
        .nth(1)
        .expect("README.md has a `## Quick start` section");
    let body = section
        .split("```sh\n")
        .nth(1)
        .expect("the quick start has a ```sh block");
    body.split("\n```")
        .next()
        .expect("the block is closed")
        .to_owned()
}

/// Copies the files git tracks (as they are in the working tree: what a
/// commit of it would check out), and nothing else: no build output, no
/// data directory, no untracked file.
fn copy_tracked_files(repo: &std::path::Path, to: &std::path::Path) {
    let out = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(repo)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git ls-files: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in out.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name).unwrap();
        let from = repo.join(name);
        if !from.is_file() {
            continue; // deleted in the working tree, or a submodule
        }
        let dest = to.join(name);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&from, &dest).unwrap();
    }
}
