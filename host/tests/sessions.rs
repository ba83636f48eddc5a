//! User sessions over real HTTP: test-mode login, user-owned wallets,
//! logout, refused tokens (forged, expired, foreign secret, `alg: none`,
//! wrong kid), secret rotation, and logout / invalidate-all across two
//! replicas on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::{
    bootstrap_operator, call, code, fetch_audit, fresh_postgres_db, log_text, serve_env,
    test_mode_sign_in as sign_in, DevHost, ServeHost, Signer,
};
use serde_json::{json, Value};
use signet_proto::SharedSecret;

const SESSION_SECRET: &str = "5e55107e5ec7e7a1b2c3d4e5f60718293a4b5c6d7e8f";
const OTHER_SECRET: &str = "0ther5e55107e5ec7e7a1b2c3d4e5f60718293a4b5c6d";

fn host(dir: &std::path::Path, extra: &[(&str, &str)]) -> DevHost {
    let mut cmd = DevHost::command(dir).env("SESSION_SIGNING_SECRET", SESSION_SECRET);
    for (k, v) in extra {
        cmd = cmd.env(k, v);
    }
    cmd.start()
}

fn token(session: &Value) -> String {
    session["token"].as_str().unwrap().to_owned()
}

#[test]
fn a_user_signs_in_owns_their_wallets_signs_and_logs_out() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), &[]);
    let url = host.url();
    let alice = sign_in(url, 4201);
    let t = token(&alice);
    let (s, w) = call(
        url,
        Some(&t),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "secp256k1"})),
    );
    assert_eq!(s, 201, "{w}");
    let id = w["id"].as_str().unwrap();
    let (s, v) = call(
        url,
        Some(&t),
        "POST",
        &format!("/v1/wallets/{id}/sign"),
        Some(json!({"digest": "66".repeat(32)})),
    );
    assert_eq!(s, 200, "{v}");
    let (s, list) = call(url, Some(&t), "GET", "/v1/identities", None);
    assert_eq!(s, 200);
    assert_eq!(list["wallets"].as_array().unwrap().len(), 1, "{list}");
    // Nobody else sees it: another user, the admin client.
    let bob = token(&sign_in(url, 4202));
    for other in [bob.as_str(), &host.admin_token()] {
        let (s, v) = call(url, Some(other), "GET", &format!("/v1/wallets/{id}"), None);
        assert_eq!((s, code(&v)), (404, "not_found"), "{v}");
    }
    // Signing in again as Alice gives her the same user.
    assert_eq!(sign_in(url, 4201)["user"]["id"], alice["user"]["id"]);
    // Users read their own events (the console's audit page), nobody
    // else's; they hold no admin scope.
    let own = fetch_audit(url, &t);
    let me = format!("user:{}", alice["user"]["id"].as_str().unwrap());
    assert!(own.len() >= 3, "session, wallet, signature: {own:?}");
    assert!(own.iter().all(|e| e.actor == me), "{own:?}");
    for (m, p) in [
        ("GET", "/v1/admin/status"),
        ("POST", "/v1/admin/sessions/invalidate-all"),
    ] {
        let (s, v) = call(url, Some(&t), m, p, None);
        assert_eq!((s, code(&v)), (403, "scope_denied"), "{m} {p}: {v}");
    }
    // The audit log names the user.
    let events = fetch_audit(url, &host.admin_token());
    let user = format!("user:{}", alice["user"]["id"].as_str().unwrap());
    assert!(
        events
            .iter()
            .any(|e| e.actor == user && e.action == "wallet.create"),
        "{user}"
    );
    assert!(events
        .iter()
        .any(|e| e.actor == user && e.action == "session.create"));
    // Logout: refused from then on; the challenge cannot be used again.
    let (s, _) = call(url, Some(&t), "POST", "/v1/auth/logout", None);
    assert_eq!(s, 204);
    let (s, v) = call(url, Some(&t), "GET", "/v1/wallets", None);
    assert_eq!((s, code(&v)), (401, "unauthenticated"), "{v}");
    let (s, v) = call(
        url,
        None,
        "POST",
        "/v1/auth/verify",
        Some(json!({"challenge_id": alice["challenge_id"], "verifier": alice["verifier"]})),
    );
    assert_eq!((s, code(&v)), (409, "challenge_used"), "{v}");
    // An API token cannot "log out".
    let (s, v) = call(
        url,
        Some(&host.admin_token()),
        "POST",
        "/v1/auth/logout",
        None,
    );
    assert_eq!((s, code(&v)), (400, "bad_request"), "{v}");
}

#[test]
fn challenges_refuse_what_they_must() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), &[]);
    let url = host.url();
    // No user yet: pending.
    let (s, c) = call(url, None, "POST", "/v1/auth/challenge", None);
    assert_eq!(s, 201, "{c}");
    let (s, v) = call(
        url,
        None,
        "POST",
        "/v1/auth/verify",
        Some(json!({"challenge_id": c["challenge_id"], "verifier": c["verifier"]})),
    );
    assert_eq!((s, code(&v)), (409, "challenge_pending"), "{v}");
    // Without this challenge's verifier it does not exist (even resolved).
    let (_, resolved) = call(
        url,
        None,
        "POST",
        "/v1/auth/challenge",
        Some(json!({"telegram_user_id": 8})),
    );
    for bad in [
        json!({"challenge_id": "ch_nope", "verifier": c["verifier"]}),
        json!({"challenge_id": "x".repeat(65), "verifier": c["verifier"]}),
        json!({"challenge_id": resolved["challenge_id"], "verifier": c["verifier"]}),
        json!({"challenge_id": resolved["challenge_id"], "verifier": "chv_00"}),
        json!({"challenge_id": resolved["challenge_id"], "verifier": "v".repeat(129)}),
    ] {
        let (s, v) = call(url, None, "POST", "/v1/auth/verify", Some(bad.clone()));
        assert_eq!((s, code(&v)), (404, "not_found"), "{bad}: {v}");
    }
    for bad in [
        json!({"challenge_id": resolved["challenge_id"]}),
        json!({"challenge_id": resolved["challenge_id"], "verifier": 5}),
    ] {
        let (s, v) = call(url, None, "POST", "/v1/auth/verify", Some(bad.clone()));
        assert_eq!((s, code(&v)), (400, "bad_request"), "{bad}: {v}");
    }
    let (s, v) = call(
        url,
        None,
        "POST",
        "/v1/auth/verify",
        Some(json!({"challenge_id": resolved["challenge_id"], "verifier": resolved["verifier"]})),
    );
    assert_eq!(s, 200, "the verifier's holder signs in: {v}");
    for bad in [
        json!({"telegram_user_id": 0}),
        json!({"telegram_user_id": -5}),
        json!({"extra": 1}),
    ] {
        let (s, v) = call(url, None, "POST", "/v1/auth/challenge", Some(bad.clone()));
        assert_eq!((s, code(&v)), (400, "bad_request"), "{bad}: {v}");
    }
    // Expired: its time has passed (moved back in the database).
    let (_, c) = call(
        url,
        None,
        "POST",
        "/v1/auth/challenge",
        Some(json!({"telegram_user_id": 7})),
    );
    let db = dir.path().join("signet.db");
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg("import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('UPDATE auth_challenges SET expires_at = 1 WHERE id = ?', (sys.argv[2],)); c.commit()")
        .arg(&db)
        .arg(c["challenge_id"].as_str().unwrap())
        .status()
        .unwrap();
    assert!(out.success());
    let (s, v) = call(
        url,
        None,
        "POST",
        "/v1/auth/verify",
        Some(json!({"challenge_id": c["challenge_id"], "verifier": c["verifier"]})),
    );
    assert_eq!((s, code(&v)), (410, "challenge_expired"), "{v}");
}

/// Anyone may ask for a challenge: an address gets
/// `RATE_LIMIT_CHALLENGES_PER_IP` a minute, then 429 with `Retry-After`;
/// the challenges it has keep working.
#[test]
fn challenges_are_throttled_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), &[("RATE_LIMIT_CHALLENGES_PER_IP", "3")]);
    let url = host.url();
    let mut made = Vec::new();
    for _ in 0..3 {
        let (s, c) = call(
            url,
            None,
            "POST",
            "/v1/auth/challenge",
            Some(json!({"telegram_user_id": 77})),
        );
        assert_eq!(s, 201, "{c}");
        made.push(c);
    }
    let (s, v) = call(url, None, "POST", "/v1/auth/challenge", None);
    assert_eq!((s, code(&v)), (429, "rate_limited"), "{v}");
    let retry: u64 = v["retry_after"].as_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{v}");
    let (s, v) = call(
        url,
        None,
        "POST",
        "/v1/auth/verify",
        Some(json!({"challenge_id": made[2]["challenge_id"], "verifier": made[2]["verifier"]})),
    );
    assert_eq!(s, 200, "verify is not throttled with it: {v}");
    assert!(log_text(host.log_path()).contains("RATE_LIMIT_CHALLENGES_PER_IP"));
}

fn forge(secret: &str, claims: Value) -> String {
    signet_proto::jwt::Keys::new(
        b"signet/session-kid/v1",
        SharedSecret::new_unchecked(secret.as_bytes().to_vec()),
        None,
    )
    .sign(&claims)
}

#[test]
fn forged_expired_foreign_and_unsigned_sessions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), &[]);
    let url = host.url();
    let good = token(&sign_in(url, 99));
    let claims: Value = {
        let part = good.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(call(url, Some(&good), "GET", "/v1/wallets", None).0, 200);
    // The same claims under our own key are accepted (the forgery tool works)…
    assert_eq!(
        call(
            url,
            Some(&forge(SESSION_SECRET, claims.clone())),
            "GET",
            "/v1/wallets",
            None
        )
        .0,
        200
    );
    let now = claims["iat"].as_u64().unwrap();
    let mut expired = claims.clone();
    expired["iat"] = json!(now - 7200);
    expired["exp"] = json!(now - 3600);
    let mut audience = claims.clone();
    audience["aud"] = json!("signet-signer");
    let mut tampered = good.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let none = format!(
        "{}.{}.",
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"alg":"none","typ":"JWT","kid":"x"}"#),
        good.split('.').nth(1).unwrap()
    );
    let ticket_keyed = signet_proto::jwt::Keys::new(
        b"signet/ticket-kid/v1",
        SharedSecret::new_unchecked(SESSION_SECRET.as_bytes().to_vec()),
        None,
    )
    .sign(&claims);
    for (what, token) in [
        ("expired", forge(SESSION_SECRET, expired)),
        ("another audience", forge(SESSION_SECRET, audience)),
        ("tampered MAC", tampered),
        ("alg none", none),
        (
            "foreign secret (unknown kid)",
            forge(OTHER_SECRET, claims.clone()),
        ),
        ("another key-id label", ticket_keyed),
        ("garbage", "a.b.c".to_owned()),
    ] {
        let (s, v) = call(url, Some(&token), "GET", "/v1/wallets", None);
        assert_eq!((s, code(&v)), (401, "unauthenticated"), "{what}: {v}");
    }
}

#[test]
fn sessions_survive_a_secret_rotation_with_the_previous_secret_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("h");
    let h = host(&data, &[]);
    let old = token(&sign_in(h.url(), 11));
    h.stop();
    let h = host(
        &data,
        &[
            ("SESSION_SIGNING_SECRET", OTHER_SECRET),
            ("SESSION_SIGNING_SECRET_PREVIOUS", SESSION_SECRET),
        ],
    );
    assert_eq!(
        call(h.url(), Some(&old), "GET", "/v1/wallets", None).0,
        200,
        "the previous secret still verifies"
    );
    let new = token(&sign_in(h.url(), 11));
    h.stop();
    let h = host(&data, &[("SESSION_SIGNING_SECRET", OTHER_SECRET)]);
    assert_eq!(
        call(h.url(), Some(&old), "GET", "/v1/wallets", None).0,
        401,
        "rotation finished"
    );
    assert_eq!(call(h.url(), Some(&new), "GET", "/v1/wallets", None).0, 200);
}

#[test]
fn logout_and_invalidate_all_apply_on_every_replica() {
    let Some(db) = fresh_postgres_db("sessions") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let signer = Signer::start(tmp.path());
    let policy = signer.policy(tmp.path());
    let operator = bootstrap_operator(&db);
    let replicas: Vec<ServeHost> = (0..2)
        .map(|i| {
            let dir = tmp.path().join(format!("r{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            let mut env = serve_env(&signer, &db, &policy);
            env.push(("TELEGRAM_TEST_MODE", "allow".to_owned()));
            ServeHost::start(&dir, &env)
        })
        .collect();
    let (a, b) = (replicas[0].url(), replicas[1].url());
    let s1 = token(&sign_in(a, 501));
    let s2 = token(&sign_in(b, 502));
    assert_eq!(
        call(b, Some(&s1), "GET", "/v1/wallets", None).0,
        200,
        "a session works on every replica"
    );
    let (s, _) = call(a, Some(&s1), "POST", "/v1/auth/logout", None);
    assert_eq!(s, 204);
    assert_eq!(
        call(b, Some(&s1), "GET", "/v1/wallets", None).0,
        401,
        "logged out everywhere at once"
    );
    assert_eq!(call(a, Some(&s2), "GET", "/v1/wallets", None).0, 200);
    let (s, v) = call(
        b,
        Some(&operator),
        "POST",
        "/v1/admin/sessions/invalidate-all",
        None,
    );
    assert_eq!(s, 200, "{v}");
    for url in [a, b] {
        let (s, v) = call(url, Some(&s2), "GET", "/v1/wallets", None);
        assert_eq!((s, code(&v)), (401, "unauthenticated"), "{v}");
    }
    // Sessions issued after it work (issued in a later second).
    std::thread::sleep(Duration::from_millis(1100));
    let s3 = token(&sign_in(a, 503));
    assert_eq!(call(b, Some(&s3), "GET", "/v1/wallets", None).0, 200);
}

#[test]
fn each_user_has_their_own_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(
        dir.path(),
        &[
            ("RATE_LIMIT_PER_USER", "3"),
            ("RATE_LIMIT_WINDOW_MS", "600000"),
        ],
    );
    let url = host.url();
    let alice = token(&sign_in(url, 61));
    let bob = token(&sign_in(url, 62));
    for _ in 0..3 {
        assert_eq!(call(url, Some(&alice), "GET", "/v1/wallets", None).0, 200);
    }
    let (s, v) = call(url, Some(&alice), "GET", "/v1/wallets", None);
    assert_eq!((s, code(&v)), (429, "rate_limited"), "{v}");
    assert!(v["retry_after"].as_str().is_some(), "{v}");
    assert_eq!(
        call(url, Some(&bob), "GET", "/v1/wallets", None).0,
        200,
        "another user is not limited by Alice"
    );
}

/// The session secret rotation walk on two replicas sharing PostgreSQL:
/// both accept the old sessions while the previous secret is configured,
/// and refuse them once it is dropped.
#[test]
fn a_session_secret_rotation_walks_through_two_replicas() {
    let Some(db) = fresh_postgres_db("session_rotation") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let signer = Signer::start(tmp.path());
    let policy = signer.policy(tmp.path());
    let start = |step: &str, secrets: &[(&'static str, &str)]| -> Vec<ServeHost> {
        (0..2)
            .map(|i| {
                let dir = tmp.path().join(format!("{step}-r{i}"));
                std::fs::create_dir_all(&dir).unwrap();
                let mut env = serve_env(&signer, &db, &policy);
                env.retain(|(k, _)| *k != "SESSION_SIGNING_SECRET");
                env.push(("TELEGRAM_TEST_MODE", "allow".to_owned()));
                env.extend(secrets.iter().map(|(k, v)| (*k, (*v).to_owned())));
                ServeHost::start(&dir, &env)
            })
            .collect()
    };
    let before = start("before", &[("SESSION_SIGNING_SECRET", SESSION_SECRET)]);
    let old = token(&sign_in(before[0].url(), 601));
    assert_eq!(
        call(before[1].url(), Some(&old), "GET", "/v1/wallets", None).0,
        200
    );
    drop(before);
    let during = start(
        "during",
        &[
            ("SESSION_SIGNING_SECRET", OTHER_SECRET),
            ("SESSION_SIGNING_SECRET_PREVIOUS", SESSION_SECRET),
        ],
    );
    let new = token(&sign_in(during[1].url(), 602));
    for r in &during {
        assert_eq!(
            call(r.url(), Some(&old), "GET", "/v1/wallets", None).0,
            200,
            "old, during"
        );
        assert_eq!(
            call(r.url(), Some(&new), "GET", "/v1/wallets", None).0,
            200,
            "new, during"
        );
    }
    drop(during);
    let after = start("after", &[("SESSION_SIGNING_SECRET", OTHER_SECRET)]);
    for r in &after {
        let (s, v) = call(r.url(), Some(&old), "GET", "/v1/wallets", None);
        assert_eq!((s, code(&v)), (401, "unauthenticated"), "old, after: {v}");
        assert_eq!(
            call(r.url(), Some(&new), "GET", "/v1/wallets", None).0,
            200,
            "new, after"
        );
    }
}
