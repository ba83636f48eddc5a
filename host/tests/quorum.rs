//! `SIGNET_OPERATOR_QUORUM=2` (issue 23): what cannot be undone waits for a
//! second, different operator — over real HTTP, audited.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{assert_audited, bootstrap_operator, call, code, test_mode_sign_in, DevHost};
use serde_json::{json, Value};

fn quorum_host(dir: &std::path::Path, ttl: &str) -> (DevHost, String, String) {
    let host = DevHost::command(&dir.join("host"))
        .env("SIGNET_OPERATOR_QUORUM", "2")
        .env("OPERATOR_CONFIRM_TTL_SECONDS", ttl)
        .start();
    let a = host.admin_token();
    // The second operator, bootstrapped offline (not subject to the quorum).
    let db = format!("sqlite://{}", dir.join("host").join("signet.db").display());
    let b = bootstrap_operator(&db);
    (host, a, b)
}

fn pending(v: &Value) -> String {
    assert!(
        v["confirm_url"]
            .as_str()
            .unwrap()
            .starts_with("/v1/admin/confirmations/cf_"),
        "{v}"
    );
    v["confirmation_id"].as_str().unwrap().to_owned()
}

#[test]
fn what_cannot_be_undone_waits_for_a_second_operator() {
    let dir = tempfile::tempdir().unwrap();
    let (host, a, b) = quorum_host(dir.path(), "600");
    let url = host.url();
    let alice = test_mode_sign_in(url, 801);
    let session = alice["token"].as_str().unwrap();

    // Invalidate-all: 202, nothing happens until B confirms.
    let (s, v) = call(
        url,
        Some(&a),
        "POST",
        "/v1/admin/sessions/invalidate-all",
        None,
    );
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["action"], "invalidate_sessions");
    let id = pending(&v);
    assert_eq!(
        call(url, Some(session), "GET", "/v1/wallets", None).0,
        200,
        "not yet"
    );
    let confirm = format!("/v1/admin/confirmations/{id}");
    let (s, v) = call(url, Some(&a), "POST", &confirm, None);
    assert_eq!((s, code(&v)), (403, "confirmation_same_operator"), "{v}");
    // (A tenant admin is itself an admin client: made offline here.)
    let db = format!(
        "sqlite://{}",
        dir.path().join("host").join("signet.db").display()
    );
    let tenant_admin = common::admin(
        &db,
        &[
            "create-client",
            "--name",
            "acme",
            "--tenant",
            "acme",
            "--scopes",
            "admin:clients,sign",
        ],
    )
    .trim()
    .to_owned();
    let (s, v) = call(url, Some(&tenant_admin), "POST", &confirm, None);
    assert_eq!((s, code(&v)), (403, "scope_denied"), "{v}");
    let (s, v) = call(url, Some(&b), "POST", &confirm, None);
    assert_eq!(s, 200, "{v}");
    assert!(v["not_before"].as_str().is_some(), "{v}");
    assert_eq!(
        call(url, Some(session), "GET", "/v1/wallets", None).0,
        401,
        "done"
    );
    let (s, v) = call(url, Some(&b), "POST", &confirm, None);
    assert_eq!((s, code(&v)), (409, "confirmation_used"), "{v}");

    // An operator client: created on confirmation, the token to the confirmer.
    let (s, v) = call(
        url,
        Some(&a),
        "POST",
        "/v1/admin/api-clients",
        Some(json!({"name": "ops3", "tenant": "ops", "scopes": ["*", "operator"]})),
    );
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["action"], "create_client");
    assert!(
        v.get("token").is_none(),
        "no token before the confirmation: {v}"
    );
    let id = pending(&v);
    let (s, c) = call(
        url,
        Some(&b),
        "POST",
        &format!("/v1/admin/confirmations/{id}"),
        None,
    );
    assert_eq!(s, 201, "{c}");
    let c_token = c["token"].as_str().unwrap().to_owned();
    assert_eq!(
        call(url, Some(&c_token), "GET", "/v1/admin/status", None).0,
        200
    );

    // A client without operator or admin scopes is created at once.
    let (s, v) = call(
        url,
        Some(&a),
        "POST",
        "/v1/admin/api-clients",
        Some(json!({"name": "shop", "tenant": "shop", "scopes": ["sign"]})),
    );
    assert_eq!(s, 201, "{v}");

    // Revoking an operator waits too; the third operator may confirm A's.
    let c_id = c["id"].as_str().unwrap();
    let (s, v) = call(
        url,
        Some(&a),
        "DELETE",
        &format!("/v1/admin/api-clients/{c_id}"),
        None,
    );
    assert_eq!(s, 202, "{v}");
    let id = pending(&v);
    assert_eq!(
        call(url, Some(&c_token), "GET", "/v1/admin/status", None).0,
        200,
        "not yet"
    );
    let (s, v) = call(
        url,
        Some(&b),
        "POST",
        &format!("/v1/admin/confirmations/{id}"),
        None,
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        call(url, Some(&c_token), "GET", "/v1/admin/status", None).0,
        401
    );

    // Unknown ids.
    for bad in ["cf_nothing", "x"] {
        let (s, v) = call(
            url,
            Some(&b),
            "POST",
            &format!("/v1/admin/confirmations/{bad}"),
            None,
        );
        assert_eq!((s, code(&v)), (404, "not_found"), "{v}");
    }
    for action in ["confirmation.request", "confirmation.confirm"] {
        assert_audited(url, &a, action, |e| e.action == action);
    }
    assert_audited(url, &a, "the refused self-confirmation", |e| {
        e.action == "SCOPE_DENY" && e.outcome == "denied:confirmation_same_operator"
    });
}

#[test]
fn an_expired_confirmation_is_refused_and_nothing_happens() {
    let dir = tempfile::tempdir().unwrap();
    let (host, a, b) = quorum_host(dir.path(), "1");
    let url = host.url();
    let alice = test_mode_sign_in(url, 802);
    let (s, v) = call(
        url,
        Some(&a),
        "POST",
        "/v1/admin/sessions/invalidate-all",
        None,
    );
    assert_eq!(s, 202, "{v}");
    let id = pending(&v);
    std::thread::sleep(Duration::from_millis(1500));
    let (s, v) = call(
        url,
        Some(&b),
        "POST",
        &format!("/v1/admin/confirmations/{id}"),
        None,
    );
    assert_eq!((s, code(&v)), (410, "confirmation_expired"), "{v}");
    assert_eq!(
        call(
            url,
            Some(alice["token"].as_str().unwrap()),
            "GET",
            "/v1/wallets",
            None
        )
        .0,
        200,
        "nothing was invalidated"
    );
}
