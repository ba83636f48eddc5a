//! Incident freezes (issue 26) over real HTTP against `signet-host dev`:
//! a frozen wallet, tenant or everything refuses signing, sign intents and
//! approvals with 423 `frozen` naming the scope and the reason, until the
//! freeze is lifted; only operators freeze; lifting waits for a second
//! operator under the quorum; the offline command reaches a running host
//! within a second. Two replicas under load are in replicas.rs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{
    admin, bootstrap_operator, call, code, create_client, fetch_audit, new_wallet,
    test_mode_sign_in, DevHost,
};
use serde_json::{json, Value};

fn id(w: &Value) -> &str {
    w["id"].as_str().unwrap()
}

fn sign(url: &str, token: &str, w: &Value) -> (u16, Value) {
    call(
        url,
        Some(token),
        "POST",
        &format!("/v1/wallets/{}/sign", id(w)),
        Some(json!({"digest": "42".repeat(32)})),
    )
}

fn freeze(url: &str, token: &str, scope: &str, reason: &str) -> (u16, Value) {
    call(
        url,
        Some(token),
        "POST",
        "/v1/admin/freeze",
        Some(json!({"scope": scope, "reason": reason})),
    )
}

fn unfreeze(url: &str, token: &str, scope: &str) -> (u16, Value) {
    call(
        url,
        Some(token),
        "DELETE",
        &format!("/v1/admin/freeze?scope={scope}"),
        None,
    )
}

/// A 423 `frozen` naming `scope` and `reason`.
fn assert_frozen(reply: &(u16, Value), scope: &str, reason: &str) {
    let (s, v) = reply;
    assert_eq!((*s, code(v)), (423, "frozen"), "{v}");
    assert_eq!(v["error"]["scope"], scope, "{v}");
    assert_eq!(v["error"]["reason"], reason, "{v}");
}

/// The host's `/metrics` text.
fn metrics(url: &str, token: &str) -> String {
    ureq::get(&format!("{url}/metrics"))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap()
        .into_string()
        .unwrap()
}

#[test]
fn a_frozen_wallet_refuses_signing_and_sign_intents_until_the_freeze_is_lifted() {
    let dir = tempfile::tempdir().unwrap();
    let host = DevHost::start(&dir.path().join("host"));
    let (url, ops) = (host.url(), host.admin_token());
    let (w1, w2) = (
        new_wallet(url, &ops, "secp256k1"),
        new_wallet(url, &ops, "secp256k1"),
    );
    let scope = format!("wallet:{}", id(&w1));
    let reason = "key suspected: incident 42";

    let (s, v) = freeze(url, &ops, &scope, reason);
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["scope"].as_str(), v["reason"].as_str()),
        (Some(scope.as_str()), Some(reason))
    );
    assert!(
        v["frozen_by"].as_str().unwrap().starts_with("client:"),
        "{v}"
    );

    assert_frozen(&sign(url, &ops, &w1), &scope, reason);
    let intent = call(
        url,
        Some(&ops),
        "POST",
        &format!("/v1/wallets/{}/sign-intent", id(&w1)),
        Some(json!({"digest": "43".repeat(32)})),
    );
    assert_frozen(&intent, &scope, reason);
    // Through JSON-RPC too: the call is refused, nothing is signed.
    let (s, rpc) = call(
        url,
        Some(&ops),
        "POST",
        "/v1/eth",
        Some(
            json!({"jsonrpc": "2.0", "id": 1, "method": "personal_sign", "params": ["0x68656c6c6f", w1["address"]]}),
        ),
    );
    assert_eq!(s, 200, "{rpc}");
    assert!(rpc.get("result").is_none(), "{rpc}");
    assert!(
        rpc["error"]["message"].as_str().unwrap().contains("frozen"),
        "{rpc}"
    );
    // Another wallet signs.
    assert_eq!(sign(url, &ops, &w2).0, 200);

    // Visible: status, metrics, audit (the freeze and each refusal).
    let (s, status) = call(url, Some(&ops), "GET", "/v1/admin/status", None);
    assert_eq!(s, 200, "{status}");
    assert_eq!(status["frozen"][0]["scope"], scope.as_str(), "{status}");
    assert_eq!(status["frozen"][0]["reason"], reason, "{status}");
    let text = metrics(url, &ops);
    assert!(
        text.contains(&format!("signet_frozen{{scope=\"{scope}\"}} 1")),
        "{text}"
    );
    let events = fetch_audit(url, &ops);
    assert!(events
        .iter()
        .any(|e| e.action == "freeze" && e.target == scope && e.outcome == "ok"));
    assert!(events
        .iter()
        .any(|e| e.action == "sign" && e.target == id(&w1) && e.outcome == "denied:frozen"));

    // Lifted: the wallet signs again; lifting twice is a 404.
    let (s, v) = unfreeze(url, &ops, &scope);
    assert_eq!((s, v["scope"].as_str()), (200, Some(scope.as_str())), "{v}");
    assert_eq!(sign(url, &ops, &w1).0, 200);
    let (s, v) = unfreeze(url, &ops, &scope);
    assert_eq!((s, code(&v)), (404, "not_found"), "{v}");
    let text = metrics(url, &ops);
    assert!(!text.contains("signet_frozen{"), "{text}");
    assert!(fetch_audit(url, &ops)
        .iter()
        .any(|e| e.action == "unfreeze" && e.target == scope));
}

#[test]
fn freezing_a_tenant_or_everything_covers_exactly_their_wallets() {
    let dir = tempfile::tempdir().unwrap();
    let host = DevHost::start(&dir.path().join("host"));
    let (url, ops) = (host.url(), host.admin_token());
    let acme = create_client(url, &ops, "acme", &["wallets:*", "sign"]);
    let beta = create_client(url, &ops, "beta", &["wallets:*", "sign"]);
    let (wa, wb) = (
        new_wallet(url, &acme, "secp256k1"),
        new_wallet(url, &beta, "secp256k1"),
    );

    assert_eq!(
        freeze(url, &ops, "tenant:acme", "acme's keys leaked").0,
        200
    );
    assert_frozen(&sign(url, &acme, &wa), "tenant:acme", "acme's keys leaked");
    assert_eq!(sign(url, &beta, &wb).0, 200, "another tenant signs");

    // Everything: the widest freeze is the one named.
    assert_eq!(freeze(url, &ops, "all", "host compromise").0, 200);
    assert_frozen(&sign(url, &beta, &wb), "all", "host compromise");
    assert_frozen(&sign(url, &acme, &wa), "all", "host compromise");
    assert_eq!(unfreeze(url, &ops, "all").0, 200);
    assert_eq!(sign(url, &beta, &wb).0, 200);
    assert_frozen(&sign(url, &acme, &wa), "tenant:acme", "acme's keys leaked");
    // Freezing again replaces the reason.
    assert_eq!(freeze(url, &ops, "tenant:acme", "still leaked").0, 200);
    assert_frozen(&sign(url, &acme, &wa), "tenant:acme", "still leaked");
}

#[test]
fn a_freeze_stops_approvals_but_the_owner_may_still_decline() {
    let dir = tempfile::tempdir().unwrap();
    let host = DevHost::start(&dir.path().join("host"));
    let (url, ops) = (host.url(), host.admin_token());
    let alice = test_mode_sign_in(url, 6101);
    let (session, user) = (
        alice["token"].as_str().unwrap().to_owned(),
        alice["user"]["id"].as_str().unwrap().to_owned(),
    );
    let (s, w) = call(
        url,
        Some(&session),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "secp256k1", "require_approval": true})),
    );
    assert_eq!(s, 201, "{w}");
    let intent = |digest: &str| {
        let (s, v) = call(
            url,
            Some(&session),
            "POST",
            &format!("/v1/wallets/{}/sign-intent", id(&w)),
            Some(json!({"digest": digest})),
        );
        assert_eq!(s, 201, "{v}");
        v["intent_id"].as_str().unwrap().to_owned()
    };
    let (first, second) = (intent(&"51".repeat(32)), intent(&"52".repeat(32)));
    let scope = format!("tenant:user:{user}");
    assert_eq!(freeze(url, &ops, &scope, "lost phone").0, 200);
    let approve = call(
        url,
        Some(&session),
        "POST",
        &format!("/v1/intents/{first}/approve"),
        None,
    );
    assert_frozen(&approve, &scope, "lost phone");
    let (s, v) = call(
        url,
        Some(&session),
        "POST",
        &format!("/v1/intents/{second}/decline"),
        None,
    );
    assert_eq!((s, v["state"].as_str()), (200, Some("declined")), "{v}");
    // Still pending after the refused approval; approvable once lifted.
    assert_eq!(unfreeze(url, &ops, &scope).0, 200);
    let (s, v) = call(
        url,
        Some(&session),
        "POST",
        &format!("/v1/intents/{first}/approve"),
        None,
    );
    assert_eq!((s, v["state"].as_str()), (200, Some("approved")), "{v}");
}

#[test]
fn only_operators_freeze_and_bad_scopes_or_reasons_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let host = DevHost::start(&dir.path().join("host"));
    let (url, ops) = (host.url(), host.admin_token());
    let tenant_admin = create_client(url, &ops, "acme", &["*"]);
    let (s, v) = freeze(url, &tenant_admin, "tenant:acme", "x");
    assert_eq!((s, code(&v)), (403, "scope_denied"), "{v}");
    assert_eq!(freeze(url, &ops, "wallet:w1", "x").0, 200);
    let (s, v) = unfreeze(url, &tenant_admin, "wallet:w1");
    assert_eq!((s, code(&v)), (403, "scope_denied"), "{v}");
    for (scope, reason) in [
        ("everything", "x"),
        ("tenant:", "x"),
        ("user:u1", "x"),
        ("all", ""),
        ("all", "   "),
        ("all", "look\u{202e}alike"),
    ] {
        let (s, v) = freeze(url, &ops, scope, reason);
        assert_eq!(
            (s, code(&v)),
            (400, "bad_request"),
            "{scope} {reason:?}: {v}"
        );
    }
    let (s, v) = unfreeze(url, &ops, "nonsense");
    assert_eq!((s, code(&v)), (400, "bad_request"), "{v}");
    let (s, v) = call(
        url,
        Some(&ops),
        "POST",
        "/v1/admin/freeze",
        Some(json!({"scope": "all", "reason": "x", "until": 5})),
    );
    assert_eq!(s, 400, "{v}");
}

#[test]
fn lifting_a_freeze_waits_for_a_second_operator_under_the_quorum() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("host");
    let host = DevHost::command(&data)
        .env("SIGNET_OPERATOR_QUORUM", "2")
        .start();
    let (url, a) = (host.url(), host.admin_token());
    let b = bootstrap_operator(&format!("sqlite://{}", data.join("signet.db").display()));
    let w = new_wallet(url, &a, "secp256k1");
    // Freezing needs one operator: it is what an incident needs at once.
    assert_eq!(freeze(url, &a, "all", "incident").0, 200);
    let (s, v) = unfreeze(url, &a, "all");
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["action"], "unfreeze");
    let confirm = format!(
        "/v1/admin/confirmations/{}",
        v["confirmation_id"].as_str().unwrap()
    );
    assert_frozen(&sign(url, &a, &w), "all", "incident");
    let (s, v) = call(url, Some(&a), "POST", &confirm, None);
    assert_eq!((s, code(&v)), (403, "confirmation_same_operator"), "{v}");
    assert_frozen(&sign(url, &a, &w), "all", "incident");
    let (s, v) = call(url, Some(&b), "POST", &confirm, None);
    assert_eq!((s, v["scope"].as_str()), (200, Some("all")), "{v}");
    assert_eq!(sign(url, &a, &w).0, 200);
    // Nothing frozen: no confirmation is asked for.
    let (s, v) = unfreeze(url, &a, "all");
    assert_eq!((s, code(&v)), (404, "not_found"), "{v}");
}

/// `signet-host admin freeze` works on the database while the API may be
/// unreachable; the running host refuses within a second (it re-reads the
/// freezes every 250 ms), and `admin unfreeze` lifts it.
#[test]
fn the_offline_freeze_reaches_a_running_host_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("host");
    let host = DevHost::start(&data);
    let (url, ops) = (host.url(), host.admin_token());
    let w = new_wallet(url, &ops, "secp256k1");
    let db = format!("sqlite://{}", data.join("signet.db").display());
    let scope = format!("wallet:{}", id(&w));
    admin(
        &db,
        &["freeze", "--scope", &scope, "--reason", "offline drill"],
    );
    let frozen_at = Instant::now();
    let refused = loop {
        let reply = sign(url, &ops, &w);
        if reply.0 != 200 {
            break reply;
        }
        assert!(
            frozen_at.elapsed() < Duration::from_secs(1),
            "still signing {:?} after the offline freeze",
            frozen_at.elapsed()
        );
        // At most 100 signatures in the second: under the default limit of
        // 120 a minute per wallet, which would answer 429 first.
        std::thread::sleep(Duration::from_millis(10));
    };
    println!("the offline freeze held after {:?}", frozen_at.elapsed());
    assert_frozen(&refused, &scope, "offline drill");
    let listed = admin(&db, &["list-freezes"]);
    assert!(listed.starts_with(&format!("{scope}\t")), "{listed}");
    assert!(listed.trim_end().ends_with("offline drill"), "{listed}");
    assert!(fetch_audit(url, &ops)
        .iter()
        .any(|e| e.action == "freeze" && e.target == scope && e.actor.starts_with("operator:")));
    admin(&db, &["unfreeze", "--scope", &scope]);
    assert!(common::eventually(Duration::from_secs(1), || sign(
        url, &ops, &w
    )
    .0 == 200));
    let out = std::process::Command::new(common::host_binary())
        .args(["admin", "unfreeze", "--scope", &scope])
        .env("SIGNET_DATABASE_URL", &db)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not frozen"));
}
