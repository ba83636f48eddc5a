//! What tripped a new user of the CLI (issue 28), shown by the real `signet`
//! against a real `signet-host dev`: which identity a command uses, and the
//! smaller things (exit codes, hints).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

struct Host {
    child: Child,
    url: String,
    data: PathBuf,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Host {
    fn admin_token(&self) -> String {
        std::fs::read_to_string(self.data.join("admin-token"))
            .unwrap()
            .trim()
            .to_owned()
    }
}

fn dev_host(dir: &Path) -> Host {
    let data = dir.join("host");
    let mut child =
        Command::new(Path::new(env!("CARGO_BIN_EXE_signet")).with_file_name("signet-host"))
            .args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .env("SIGNET_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        if let Some(url) = line.trim().strip_prefix("signet-host dev: listening on ") {
            let url = url.to_owned();
            std::thread::spawn(move || for _ in reader.lines() {});
            return Host { child, url, data };
        }
        line.clear();
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("signet-host dev did not start");
}

/// `signet ARGS` with only these variables set.
fn signet(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_signet"));
    cmd.args(args).env_clear();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A session made with `signet login` on `host`, stored in `session`.
fn login(host: &Host, session: &Path) {
    let out = signet(
        &[
            ("SIGNET_URL", &host.url),
            ("SIGNET_SESSION_FILE", session.to_str().unwrap()),
        ],
        &["login", "--telegram-user-id", "4242"],
    );
    assert!(out.status.success(), "{:?}", text(&out));
}

/// The session file names its host, and the CLI never sends the session to
/// another `--url` (it was sent to any): a clear usage error (2) instead.
#[test]
fn a_session_is_sent_only_to_the_host_it_was_made_on() {
    let dir = tempfile::tempdir().unwrap();
    let host = dev_host(dir.path());
    let session = dir.path().join("session");
    login(&host, &session);
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&session).unwrap()).unwrap();
    assert_eq!(stored["url"], host.url.as_str());
    let file = session.to_str().unwrap();
    let out = signet(
        &[("SIGNET_SESSION_FILE", file)],
        &["--url", "http://127.0.0.1:9", "wallet", "list"],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("is for {}, not http://127.0.0.1:9", host.url)),
        "{stderr}"
    );
    // On its own host it works (a trailing slash is the same host).
    let url = format!("{}/", host.url);
    let out = signet(
        &[("SIGNET_SESSION_FILE", file)],
        &["--url", &url, "wallet", "list"],
    );
    assert!(out.status.success(), "{:?}", text(&out));
}

/// `signet whoami` names the host and the credential; an exported
/// SIGNET_TOKEN that wins over a stored session says so.
#[test]
fn whoami_names_the_credential_and_an_exported_token_winning() {
    let dir = tempfile::tempdir().unwrap();
    let host = dev_host(dir.path());
    let session = dir.path().join("session");
    login(&host, &session);
    let file = session.to_str().unwrap();
    let out = signet(
        &[("SIGNET_URL", &host.url), ("SIGNET_SESSION_FILE", file)],
        &["whoami"],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!("host:        {} (from SIGNET_URL)", host.url)),
        "{stdout}"
    );
    assert!(
        stdout.contains("session of user") && stdout.contains("(Telegram 4242)"),
        "{stdout}"
    );
    let admin = host.admin_token();
    let out = signet(
        &[
            ("SIGNET_URL", &host.url),
            ("SIGNET_SESSION_FILE", file),
            ("SIGNET_TOKEN", &admin),
        ],
        &["whoami"],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("API token sgn_") && stdout.contains("from SIGNET_TOKEN (environment)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("is NOT used: the API token wins"),
        "{stdout}"
    );
    let secret = admin.rsplit('_').next().unwrap();
    assert!(
        !stdout.contains(secret),
        "the token's secret is never shown: {stdout}"
    );
    // Another URL: the session is refused and whoami says no credential.
    let out = signet(
        &[("SIGNET_SESSION_FILE", file)],
        &["--url", "http://127.0.0.1:9", "whoami"],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("none usable") && stderr.contains("is for"),
        "{stdout}{stderr}"
    );
}

/// A session file from before sessions named their host (a bare token) is
/// never sent: the CLI says to sign in again; `logout` forgets it.
#[test]
fn an_old_bare_token_session_is_refused_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("session");
    std::fs::write(&session, "sgs_0123456789abcdef\n").unwrap();
    let file = session.to_str().unwrap();
    let env = [
        ("SIGNET_URL", "http://127.0.0.1:9"),
        ("SIGNET_SESSION_FILE", file),
    ];
    let out = signet(&env, &["wallet", "list"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("does not say which host") && stderr.contains("signet login --url"),
        "{stderr}"
    );
    let out = signet(&env, &["logout"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(!session.exists());
}

/// A host that is not there: the URL is named once, with what to do (start
/// the host or set SIGNET_URL); exit 1 (the command ran and failed).
#[test]
fn a_connection_error_names_the_url_once_with_a_hint() {
    let url = "http://127.0.0.1:9";
    let out = signet(
        &[("SIGNET_URL", url), ("SIGNET_TOKEN", "sgn_abc_def")],
        &["wallet", "list"],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot reach http://127.0.0.1:9/v1/wallets"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("127.0.0.1:9").count(),
        2,
        "the URL once, and once in the hint: {stderr}"
    );
    assert!(
        stderr.contains("is the host running?") && stderr.contains("SIGNET_URL"),
        "{stderr}"
    );
}

/// A wallet and a signature made by a dev host, written to `dir`.
fn wallet_and_signature(host: &Host, dir: &Path) -> (PathBuf, PathBuf) {
    let admin = host.admin_token();
    let env = [
        ("SIGNET_URL", host.url.as_str()),
        ("SIGNET_TOKEN", admin.as_str()),
    ];
    let out = signet(&env, &["wallet", "create", "--key-type", "ed25519"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let wallet: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = wallet["id"].as_str().unwrap();
    let out = signet(&env, &["sign", id, "--message", "hello"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let (w, s) = (dir.join("wallet.json"), dir.join("sig.json"));
    std::fs::write(&w, serde_json::to_vec(&wallet).unwrap()).unwrap();
    std::fs::write(&s, &out.stdout).unwrap();
    (w, s)
}

/// Swapping `--wallet` and `--signature` is a usage mistake: exit 2 (it was
/// 1, as if the signature were invalid), and the message says so; the
/// right order verifies.
#[test]
fn swapped_wallet_and_signature_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let host = dev_host(dir.path());
    let (wallet, sig) = wallet_and_signature(&host, dir.path());
    let root = host.data.join("dev-root.pem");
    let run = |w: &Path, s: &Path| {
        signet(
            &[],
            &[
                "verify-signature",
                "--wallet",
                w.to_str().unwrap(),
                "--signature",
                s.to_str().unwrap(),
                "--message",
                "hello",
                "--root",
                root.to_str().unwrap(),
                "--any-pcrs",
            ],
        )
    };
    let out = run(&sig, &wallet);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("are swapped"), "{stderr}");
    let out = run(&wallet, &wallet);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(text(&out).1.contains("--signature is not a signature JSON"));
    let out = run(&wallet, &sig);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
}

/// The offline commands do not list the host flags they never use.
#[test]
fn offline_commands_do_not_list_url_or_token() {
    for args in [
        &["attest", "inspect", "--help"][..],
        &["attest", "verify", "--help"],
        &["verify-signature", "--help"],
    ] {
        let out = signet(&[], args);
        let (stdout, _) = text(&out);
        assert!(out.status.success(), "{args:?}");
        assert!(
            !stdout.contains("--url") && !stdout.contains("--token"),
            "{args:?}: {stdout}"
        );
    }
    let (stdout, _) = text(&signet(&[], &["wallet", "list", "--help"]));
    assert!(
        stdout.contains("--url") && stdout.contains("--token"),
        "{stdout}"
    );
}

/// A debug-mode document's refusal names the flag that accepts it,
/// `--allow-debug` (it said `pass allow_debug`).
#[test]
fn a_debug_document_refusal_names_the_allow_debug_flag() {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../attestation/testdata/vectors/evervault_beta_debug_2022-10-12.bin");
    let out = signet(
        &[],
        &[
            "attest",
            "verify",
            doc.to_str().unwrap(),
            "--at",
            "doc",
            "--any-pcrs",
        ],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("debug-mode document") && stderr.contains("pass --allow-debug"),
        "{stderr}"
    );
    assert!(!stderr.contains("allow_debug"), "{stderr}");
    let out = signet(
        &[],
        &[
            "attest",
            "verify",
            doc.to_str().unwrap(),
            "--at",
            "doc",
            "--any-pcrs",
            "--allow-debug",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
}

fn vector(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../attestation/testdata/vectors")
        .join(name)
}

/// `verify-signature` without `--root` on a dev host's wallet says why (the
/// default root is AWS's) and how to fix it (`--root DATA/dev-root.pem`).
#[test]
fn a_dev_wallet_checked_against_the_aws_root_names_the_dev_root() {
    let dir = tempfile::tempdir().unwrap();
    let host = dev_host(dir.path());
    let (wallet, sig) = wallet_and_signature(&host, dir.path());
    let out = signet(
        &[],
        &[
            "verify-signature",
            "--wallet",
            wallet.to_str().unwrap(),
            "--signature",
            sig.to_str().unwrap(),
            "--message",
            "hello",
            "--any-pcrs",
        ],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is not root"), "{stderr}");
    assert!(
        stderr.contains("default root, AWS Nitro Enclaves Root-G1")
            && stderr.contains("--root DATA/dev-root.pem"),
        "{stderr}"
    );
    let out = signet(
        &[],
        &["attest", "verify", wallet.to_str().unwrap(), "--any-pcrs"],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--root DATA/dev-root.pem"), "{stderr}");
}

/// An old AWS document checked at `--at now` gives its validity as dates,
/// not milliseconds, and hints `--at doc` (which verifies it).
#[test]
fn an_expired_document_shows_dates_and_hints_at_doc() {
    let doc = vector("evervault_beta_nondebug_2022-10-13.bin");
    let out = signet(
        &[],
        &["attest", "verify", doc.to_str().unwrap(), "--any-pcrs"],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not valid at 20"), "{stderr}");
    assert!(stderr.contains("valid from 2022-10-1"), "{stderr}");
    assert!(!stderr.contains(" ms"), "no raw milliseconds: {stderr}");
    assert!(stderr.contains("--at doc"), "{stderr}");
    let out = signet(
        &[],
        &[
            "attest",
            "verify",
            doc.to_str().unwrap(),
            "--any-pcrs",
            "--at",
            "doc",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    // A time given explicitly is not "now": dates, but no hint.
    let out = signet(
        &[],
        &[
            "attest",
            "verify",
            doc.to_str().unwrap(),
            "--any-pcrs",
            "--at",
            "1000",
        ],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not valid at 1970-01-01"), "{stderr}");
    assert!(!stderr.contains("--at doc"), "{stderr}");
}

/// `signet-host dev` writes its signer's policy (root and PCRs) to
/// `DATA/attestation-policy.json`, and `verify-signature` and `attest
/// verify` take it with `--policy` (no PCRs copied by hand).
#[test]
fn dev_writes_its_attestation_policy_for_the_verifying_commands() {
    let dir = tempfile::tempdir().unwrap();
    let host = dev_host(dir.path());
    let policy = host.data.join("attestation-policy.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&policy).unwrap()).unwrap();
    assert!(
        json["root"].as_str().unwrap().ends_with("dev-root.pem"),
        "{json}"
    );
    assert_eq!(json["pcr_sets"].as_array().unwrap().len(), 1, "{json}");
    let (wallet, sig) = wallet_and_signature(&host, dir.path());
    let root = host.data.join("dev-root.pem");
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify-signature",
            "--wallet",
            wallet.to_str().unwrap(),
            "--signature",
            sig.to_str().unwrap(),
            "--message",
            "hello",
            "--policy",
            policy.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        signet(&[], &args)
    };
    let out = verify(&["--root", root.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(text(&out).0.starts_with("VALID"));
    // The policy names its root: --root may be left out.
    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    // An explicit --root wins over the policy's.
    let out = verify(&["--root", "aws"]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let out = signet(
        &[],
        &[
            "attest",
            "verify",
            wallet.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
}

/// `attest inspect` lists PCRs by number (0, 1, 2, …, 10), not as strings
/// sort ("0", "1", "10", "2").
#[test]
fn inspect_lists_pcrs_in_numeric_order() {
    use signet_attestation::dev::{DevDocument, DevIssuer};
    let dir = tempfile::tempdir().unwrap();
    let dev = DevIssuer::load_or_create(&dir.path().join("ca")).unwrap();
    let bytes = dev
        .issue(&DevDocument {
            module_id: "dev-order".into(),
            pcrs: (0u8..=11).map(|i| (i, vec![i + 1; 48])).collect(),
            ..Default::default()
        })
        .unwrap();
    let doc = dir.path().join("doc.cbor");
    std::fs::write(&doc, &bytes).unwrap();
    let out = signet(&[], &["attest", "inspect", doc.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let pcrs = &stdout[stdout.find("\"pcrs\"").unwrap()..];
    let order: Vec<usize> = (0..=11)
        .map(|i| pcrs.find(&format!("\"{i}\":")).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{stdout}");
    assert_eq!(json["pcrs"].as_object().unwrap().len(), 12);
}

/// `wallet create` and `wallet show` print the identifying fields first and
/// the attestation document last; `wallet show ID > wallet.json` is still
/// what `verify-signature --wallet` reads.
#[test]
fn wallet_json_puts_identifying_fields_first_and_the_document_last() {
    let dir = tempfile::tempdir().unwrap();
    let host = dev_host(dir.path());
    let admin = host.admin_token();
    let env = [
        ("SIGNET_URL", host.url.as_str()),
        ("SIGNET_TOKEN", admin.as_str()),
    ];
    let out = signet(
        &env,
        &[
            "wallet",
            "create",
            "--key-type",
            "secp256k1",
            "--label",
            "docs",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.starts_with("{\n  \"id\": "), "{stdout}");
    let pos = |s: &str, k: &str| s.find(&format!("\n  \"{k}\"")).unwrap();
    for (a, b) in [
        ("id", "key_type"),
        ("key_type", "label"),
        ("label", "address"),
        ("address", "public_key"),
        ("public_key", "created_at"),
        ("require_approval", "attestation"),
    ] {
        assert!(
            pos(&stdout, a) < pos(&stdout, b),
            "{a} before {b}: {stdout}"
        );
    }
    let created: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let id = created["id"].as_str().unwrap();
    let out = signet(&env, &["wallet", "show", id]);
    let (shown, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(shown.starts_with("{\n  \"id\": "), "{shown}");
    assert!(pos(&shown, "label") < pos(&shown, "attestation"), "{shown}");
    let wallet = dir.path().join("wallet.json");
    std::fs::write(&wallet, &out.stdout).unwrap();
    let out = signet(&env, &["sign", id, "--message", "hello"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let sig = dir.path().join("sig.json");
    std::fs::write(&sig, &out.stdout).unwrap();
    let out = signet(
        &[],
        &[
            "verify-signature",
            "--wallet",
            wallet.to_str().unwrap(),
            "--signature",
            sig.to_str().unwrap(),
            "--message",
            "hello",
            "--policy",
            host.data.join("attestation-policy.json").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
}

/// `wallet list` prints a table (one wallet a line) by default and the
/// host's JSON with `--json`.
#[test]
fn wallet_list_is_a_table_or_json_with_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let host = dev_host(dir.path());
    let admin = host.admin_token();
    let env = [
        ("SIGNET_URL", host.url.as_str()),
        ("SIGNET_TOKEN", admin.as_str()),
    ];
    let mut ids = Vec::new();
    for (key_type, label) in [("secp256k1", "treasury"), ("ed25519", "ops")] {
        let out = signet(
            &env,
            &["wallet", "create", "--key-type", key_type, "--label", label],
        );
        assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
        let w: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        ids.push((w["id"].as_str().unwrap().to_owned(), w));
    }
    let out = signet(&env, &["wallet", "list"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two wallets: {stdout}");
    assert!(
        lines[0].starts_with("ID ") && lines[0].contains("KEY TYPE"),
        "{stdout}"
    );
    assert!(!stdout.contains("document"), "{stdout}");
    for (id, w) in &ids {
        let line = lines.iter().find(|l| l.starts_with(id.as_str())).unwrap();
        assert!(line.contains(w["key_type"].as_str().unwrap()), "{line}");
        assert!(line.contains(w["label"].as_str().unwrap()), "{line}");
        let key = w["address"]
            .as_str()
            .or_else(|| w["public_key"].as_str())
            .unwrap();
        assert!(line.contains(key), "{line}");
    }
    let out = signet(&env, &["wallet", "list", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["wallets"].as_array().unwrap().len(), 2, "{list}");
}
