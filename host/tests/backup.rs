//! Backup and restore (issue 26), the runbook's drill as a test on SQLite
//! and on PostgreSQL: a backup taken while a client keeps signing, the data
//! wiped, `signet-host admin restore --verify` into an empty database (the
//! file checked against its manifest, the audit chain re-verified, every
//! count compared, every wallet unsealed by the signer), then a host on the
//! restored database: every wallet signs with its old key, the chain
//! verifies, and a ticket consumed before the backup is still refused.
//! Plus the refusals: an existing file, a non-empty target, a corrupt
//! backup, another dialect.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::{json, Value};

use common::{
    bootstrap_operator, call, check_chain, code, create_client, fetch_audit, fresh_postgres_db,
    host_binary, metric, new_wallet, serve_env, ServeHost, Signer,
};

fn admin_with(env: &[(&'static str, String)], args: &[&str]) -> Output {
    let mut cmd = Command::new(host_binary());
    cmd.arg("admin").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn with_db(env: &[(&'static str, String)], db: &str) -> Vec<(&'static str, String)> {
    let mut env: Vec<_> = env
        .iter()
        .filter(|(k, _)| *k != "SIGNET_DATABASE_URL")
        .cloned()
        .collect();
    env.push(("SIGNET_DATABASE_URL", db.to_owned()));
    env
}

fn sign(url: &str, token: &str, wallet: &Value, n: u64) -> (u16, Value) {
    let body = if wallet["key_type"] == "ed25519" {
        use base64::Engine as _;
        let message = base64::engine::general_purpose::STANDARD.encode(format!("message {n}"));
        json!({"message": message, "encoding": "raw"})
    } else {
        json!({"digest": format!("{n:064x}")})
    };
    call(
        url,
        Some(token),
        "POST",
        &format!("/v1/wallets/{}/sign", wallet["id"].as_str().unwrap()),
        Some(body),
    )
}

/// The drill on `db`; `wipe` removes the database, `fresh` names an empty
/// one to restore into.
fn drill(db: &str, fresh: &str, wipe: impl FnOnce()) {
    let tmp = tempfile::tempdir().unwrap();
    let signer = Signer::start(tmp.path());
    let policy = signer.policy(tmp.path());
    let env = serve_env(&signer, db, &policy);
    let operator = bootstrap_operator(db);
    let host_dir = tmp.path().join("host");
    std::fs::create_dir_all(&host_dir).unwrap();
    let host = ServeHost::start(&host_dir, &env);
    let url = host.url().to_owned();
    let alice = create_client(&url, &operator, "alice", &["wallets:*", "sign"]);
    let wallets: Vec<Value> = ["secp256k1", "p256", "ed25519", "secp256k1"]
        .iter()
        .map(|kt| new_wallet(&url, &alice, kt))
        .collect();
    // A ticket consumed before the backup.
    let (s, intent) = call(
        &url,
        Some(&alice),
        "POST",
        &format!(
            "/v1/wallets/{}/sign-intent",
            wallets[0]["id"].as_str().unwrap()
        ),
        Some(json!({"digest": "77".repeat(32)})),
    );
    assert_eq!(s, 201, "{intent}");
    let ticket = json!({"ticket": intent["ticket"]});
    let sign_path = format!("/v1/wallets/{}/sign", wallets[0]["id"].as_str().unwrap());
    assert_eq!(
        call(&url, Some(&alice), "POST", &sign_path, Some(ticket.clone())).0,
        200
    );

    assert_eq!(
        metric(&url, "signet_last_backup_timestamp_seconds"),
        0.0,
        "no backup yet"
    );
    // The backup, while alice keeps signing.
    let file = tmp.path().join("signet.backup");
    let stop = AtomicBool::new(false);
    let signed_during = AtomicUsize::new(0);
    let out = std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut n = 1_000u64;
            while !stop.load(Ordering::Relaxed) {
                let (s, v) = sign(&url, &alice, &wallets[1], n);
                assert_eq!(s, 200, "{v}");
                signed_during.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
        });
        while signed_during.load(Ordering::Relaxed) < 5 {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let out = admin_with(&env, &["backup", "--out", file.to_str().unwrap()]);
        stop.store(true, Ordering::Relaxed);
        out
    });
    assert!(out.status.success(), "{}", text(&out));
    println!("{}", text(&out).trim());
    assert!(signed_during.load(Ordering::Relaxed) >= 5);
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(tmp.path().join("signet.backup.manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["counts"]["live_wallets"], 4, "{manifest}");
    // The running host exports the backup's time (it reads it every 5 s).
    assert!(common::eventually(
        std::time::Duration::from_secs(15),
        || {
            metric(&url, "signet_last_backup_timestamp_seconds") >= common::now_s() as f64 - 60.0
        }
    ));
    // A backup never overwrites.
    let again = admin_with(&env, &["backup", "--out", file.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(
        text(&again).contains("never overwrites"),
        "{}",
        text(&again)
    );

    // The data is lost.
    drop(host);
    wipe();

    // Restore into an empty database and verify it.
    let restored_env = with_db(&env, fresh);
    let out = admin_with(
        &restored_env,
        &["restore", "--from", file.to_str().unwrap(), "--verify"],
    );
    println!("{}", text(&out).trim());
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("the signer unsealed all 4 sealed wallets"),
        "{}",
        text(&out)
    );
    // Not twice: the target is no longer empty.
    let out = admin_with(
        &restored_env,
        &["restore", "--from", file.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("only into an empty database"),
        "{}",
        text(&out)
    );

    // A host on the restored database: the same keys sign, the chain holds,
    // the consumed ticket stays consumed.
    let host_dir = tmp.path().join("host-restored");
    std::fs::create_dir_all(&host_dir).unwrap();
    let host = ServeHost::start(&host_dir, &restored_env);
    let url = host.url();
    for (i, w) in wallets.iter().enumerate() {
        let (s, v) = sign(url, &alice, w, 5_000 + i as u64);
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["public_key"], w["public_key"], "the wallet's own key");
    }
    let (s, v) = call(url, Some(&alice), "POST", &sign_path, Some(ticket));
    assert_eq!((s, code(&v)), (409, "ticket_replayed"), "{v}");
    let events = fetch_audit(url, &operator);
    check_chain(&events).unwrap();
}

#[test]
fn the_backup_and_restore_drill_on_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("signet.db");
    let db = format!("sqlite://{}", path.display());
    let restored = format!("sqlite://{}", tmp.path().join("restored.db").display());
    drill(&db, &restored, || {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        assert!(!path.exists());
    });
}

#[test]
fn the_backup_and_restore_drill_on_postgres() {
    let (Some(db), Some(fresh)) = (fresh_postgres_db("backup"), fresh_postgres_db("restored"))
    else {
        return;
    };
    drill(&db, &fresh, || {
        let admin_url = std::env::var("SIGNET_TEST_POSTGRES_URL").unwrap();
        let name = db.rsplit('/').next().unwrap();
        let out = Command::new("psql")
            .arg(&admin_url)
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c"])
            .arg(format!("DROP DATABASE {name} WITH (FORCE)"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
    });
}

/// A backup file that no longer matches its manifest, one without its
/// manifest, and one restored into the other kind of database are refused
/// before anything is written.
#[test]
fn a_corrupt_or_mismatched_backup_is_refused_before_anything_is_restored() {
    let tmp = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", tmp.path().join("signet.db").display());
    bootstrap_operator(&db);
    let env = vec![("SIGNET_DATABASE_URL", db.clone())];
    let file = tmp.path().join("b.backup");
    let out = admin_with(&env, &["backup", "--out", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));

    let target = tmp.path().join("target.db");
    let target_env = vec![(
        "SIGNET_DATABASE_URL",
        format!("sqlite://{}", target.display()),
    )];
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let corrupt = tmp.path().join("corrupt.backup");
    std::fs::write(&corrupt, &bytes).unwrap();
    std::fs::copy(
        tmp.path().join("b.backup.manifest.json"),
        tmp.path().join("corrupt.backup.manifest.json"),
    )
    .unwrap();
    let out = admin_with(
        &target_env,
        &["restore", "--from", corrupt.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("does not match its manifest"),
        "{}",
        text(&out)
    );
    assert!(!target.exists(), "nothing written");

    let lone = tmp.path().join("lone.backup");
    std::fs::copy(&file, &lone).unwrap();
    let out = admin_with(&target_env, &["restore", "--from", lone.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("lone.backup.manifest.json"),
        "{}",
        text(&out)
    );

    let pg_env = vec![(
        "SIGNET_DATABASE_URL",
        "postgres://postgres@127.0.0.1:1/none".to_owned(),
    )];
    let out = admin_with(&pg_env, &["restore", "--from", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("this is a sqlite backup"),
        "{}",
        text(&out)
    );
    assert!(!Path::new(&target).exists());

    // The good one restores (without --verify: no signer needed).
    let out = admin_with(&target_env, &["restore", "--from", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(target.exists());
}
