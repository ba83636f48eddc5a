//! A person's sessions under control (issue 23): logout everywhere, an
//! operator ending a user's sessions, a user ban — over real HTTP, with
//! their audit events.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{assert_audited, call, code, create_client, test_mode_sign_in, DevHost};
use serde_json::{json, Value};

fn token(session: &Value) -> String {
    session["token"].as_str().unwrap().to_owned()
}

fn wallets(url: &str, token: &str) -> u16 {
    call(url, Some(token), "GET", "/v1/wallets", None).0
}

/// Sessions carry whole seconds: a sign-in right after "end every session"
/// falls in the ended second.
fn next_second() {
    std::thread::sleep(Duration::from_millis(1100));
}

#[test]
fn logout_everywhere_ends_every_session_of_the_person_only() {
    let dir = tempfile::tempdir().unwrap();
    let host = DevHost::start(&dir.path().join("host"));
    let url = host.url();
    let browser = test_mode_sign_in(url, 501);
    let cli = test_mode_sign_in(url, 501);
    let other = test_mode_sign_in(url, 502);
    assert_eq!(wallets(url, &token(&cli)), 200);
    let (s, v) = call(
        url,
        Some(&token(&browser)),
        "POST",
        "/v1/auth/logout",
        Some(json!({"all": true})),
    );
    assert_eq!(s, 204, "{v}");
    assert_eq!(wallets(url, &token(&browser)), 401);
    assert_eq!(
        wallets(url, &token(&cli)),
        401,
        "the other session ended too"
    );
    assert_eq!(
        wallets(url, &token(&other)),
        200,
        "another person's did not"
    );
    let (s, v) = call(
        url,
        Some(&token(&other)),
        "POST",
        "/v1/auth/logout",
        Some(json!({"everything": true})),
    );
    assert_eq!((s, code(&v)), (400, "bad_request"), "{v}");
    next_second();
    let again = test_mode_sign_in(url, 501);
    assert_eq!(wallets(url, &token(&again)), 200, "signing in again works");
    let user = browser["user"]["id"].as_str().unwrap().to_owned();
    assert_audited(url, &host.admin_token(), "session.revoke_all", |e| {
        e.action == "session.revoke_all" && e.target == format!("user:{user}")
    });
}

#[test]
fn an_operator_ends_a_users_sessions_and_bans_them() {
    let dir = tempfile::tempdir().unwrap();
    let host = DevHost::start(&dir.path().join("host"));
    let url = host.url();
    let admin = host.admin_token();
    let bob = test_mode_sign_in(url, 601);
    let bob_id = bob["user"]["id"].as_str().unwrap().to_owned();

    // Only an operator, only a real user.
    let tenant_admin = create_client(url, &admin, "acme", &["admin:*"]);
    let path = format!("/v1/admin/users/{bob_id}/revoke-sessions");
    let (s, v) = call(url, Some(&tenant_admin), "POST", &path, None);
    assert_eq!((s, code(&v)), (403, "scope_denied"), "{v}");
    let (s, v) = call(url, Some(&token(&bob)), "POST", &path, None);
    assert_eq!(
        s, 403,
        "a person cannot end their own sessions this way: {v}"
    );
    for unknown in ["u_nobody", &"u".repeat(65)] {
        let (s, v) = call(
            url,
            Some(&admin),
            "POST",
            &format!("/v1/admin/users/{unknown}/revoke-sessions"),
            None,
        );
        assert_eq!((s, code(&v)), (404, "not_found"), "{v}");
    }
    assert_eq!(wallets(url, &token(&bob)), 200);

    // A lost phone: every session of bob ends.
    let (s, v) = call(url, Some(&admin), "POST", &path, None);
    assert_eq!(s, 200, "{v}");
    assert!(v["not_before"].as_str().unwrap().ends_with('Z'), "{v}");
    assert_eq!(wallets(url, &token(&bob)), 401);
    next_second();
    let bob = test_mode_sign_in(url, 601);
    assert_eq!(wallets(url, &token(&bob)), 200);

    // A ban: the session ends and signing in is refused until it is lifted.
    let ban = format!("/v1/admin/users/{bob_id}/ban");
    let (s, v) = call(url, Some(&admin), "POST", &ban, None);
    assert_eq!(s, 204, "{v}");
    assert_eq!(wallets(url, &token(&bob)), 401);
    next_second();
    let (s, c) = call(
        url,
        None,
        "POST",
        "/v1/auth/challenge",
        Some(json!({"telegram_user_id": 601})),
    );
    assert_eq!(s, 201, "{c}");
    let (s, v) = call(
        url,
        None,
        "POST",
        "/v1/auth/verify",
        Some(json!({"challenge_id": c["challenge_id"], "verifier": c["verifier"]})),
    );
    assert_eq!((s, code(&v)), (403, "forbidden"), "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("banned"),
        "{v}"
    );
    let (s, v) = call(url, Some(&admin), "DELETE", &ban, None);
    assert_eq!(s, 204, "{v}");
    let bob = test_mode_sign_in(url, 601);
    assert_eq!(wallets(url, &token(&bob)), 200, "the ban is lifted");
    let (s, _) = call(
        url,
        Some(&admin),
        "POST",
        "/v1/admin/users/u_nobody/ban",
        None,
    );
    assert_eq!(s, 404);

    for action in ["session.revoke_all", "user.ban", "user.unban"] {
        assert_audited(url, &admin, action, |e| {
            e.action == action && e.target == format!("user:{bob_id}") && e.actor != "anonymous"
        });
    }
}
