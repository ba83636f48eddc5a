//! Payment approval over real HTTP: a person's wallet that requires their
//! approval, sign intents from an API client of the person's tenant, the
//! ticket refused until approved and for good once declined, decisions made
//! once, only by the owner in a session, never after expiry, and audited.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{call, code, fetch_audit, DevHost};
use serde_json::{json, Value};

/// Signs in as Telegram user `tg` (test mode): `(token, user id)`.
fn sign_in(url: &str, tg: i64) -> (String, String) {
    let v = common::test_mode_sign_in(url, tg);
    (
        v["token"].as_str().unwrap().to_owned(),
        v["user"]["id"].as_str().unwrap().to_owned(),
    )
}

fn payment(nonce: u64) -> Value {
    json!({"transaction": {
        "type": "0x2", "chainId": "0x1", "nonce": format!("{nonce:#x}"),
        "to": "0x000000000000000000000000000000000000bEEF", "value": "0xde0b6b3a7640000",
        "gas": "0x5208", "maxFeePerGas": "0x3b9aca00", "maxPriorityFeePerGas": "0x1",
    }})
}

struct Setup {
    host: DevHost,
    alice: String,
    alice_id: String,
    app: String,
    wallet: String,
}

fn setup(dir: &std::path::Path, extra: &[(&str, &str)]) -> Setup {
    let mut cmd = DevHost::command(dir);
    for (k, v) in extra {
        cmd = cmd.env(k, v);
    }
    let host = cmd.start();
    let url = host.url().to_owned();
    let (alice, alice_id) = sign_in(&url, 5101);
    let (s, w) = call(
        &url,
        Some(&alice),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "secp256k1", "label": "shop", "require_approval": true})),
    );
    assert_eq!(s, 201, "{w}");
    assert_eq!(w["require_approval"], true);
    // A merchant app: an API client of Alice's tenant.
    let (s, c) = call(
        &url,
        Some(&host.admin_token()),
        "POST",
        "/v1/admin/api-clients",
        Some(
            json!({"name": "shop", "tenant": format!("user:{alice_id}"), "scopes": ["sign", "wallets:read"]}),
        ),
    );
    assert_eq!(s, 201, "{c}");
    Setup {
        app: c["token"].as_str().unwrap().to_owned(),
        wallet: w["id"].as_str().unwrap().to_owned(),
        host,
        alice,
        alice_id,
    }
}

#[test]
fn a_payment_waits_for_its_owner_and_signs_once_approved() {
    let dir = tempfile::tempdir().unwrap();
    let Setup {
        host,
        alice,
        alice_id,
        app,
        wallet,
    } = setup(dir.path(), &[]);
    let url = host.url();
    let admin = host.admin_token();
    let me = format!("user:{alice_id}");
    // The app sees Alice's wallet as its own tenant's.
    let (s, w) = call(
        url,
        Some(&app),
        "GET",
        &format!("/v1/wallets/{wallet}"),
        None,
    );
    assert_eq!(s, 200, "{w}");
    let (s, intent) = call(
        url,
        Some(&app),
        "POST",
        &format!("/v1/wallets/{wallet}/sign-intent"),
        Some(payment(0)),
    );
    assert_eq!(s, 201, "{intent}");
    assert_eq!(intent["state"], "pending");
    let id = intent["intent_id"].as_str().unwrap().to_owned();
    // Absolute (issue 28): dev's own address when SIGNET_PUBLIC_URL is unset.
    assert_eq!(
        intent["approval_url"],
        format!("{url}/console/#/approve/{id}")
    );
    let ticket = json!({"ticket": intent["ticket"]});
    let sign_path = format!("/v1/wallets/{wallet}/sign");
    // Not before approval; no way around it by signing directly.
    let (s, v) = call(url, Some(&app), "POST", &sign_path, Some(ticket.clone()));
    assert_eq!((s, code(&v)), (409, "approval_pending"), "{v}");
    for t in [&app, &alice] {
        let (s, v) = call(
            url,
            Some(t),
            "POST",
            &sign_path,
            Some(json!({"digest": "11".repeat(32)})),
        );
        assert_eq!((s, code(&v)), (403, "approval_required"), "{v}");
        let (s, v) = call(url, Some(t), "POST", &sign_path, Some(payment(0)));
        assert_eq!((s, code(&v)), (403, "approval_required"), "{v}");
    }
    // Nor through the JSON-RPC endpoint.
    let (s, rpc) = call(
        url,
        Some(&app),
        "POST",
        "/v1/eth",
        Some(
            json!({"jsonrpc": "2.0", "id": 1, "method": "personal_sign", "params": ["0x68656c6c6f", w["address"]]}),
        ),
    );
    assert_eq!(s, 200, "{rpc}");
    assert!(rpc["result"].is_null(), "{rpc}");
    assert!(
        rpc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("requires its owner's approval"),
        "{rpc}"
    );
    // Only Alice, signed in, decides: not the app, not Bob, not the admin.
    let approve = format!("/v1/intents/{id}/approve");
    let (s, v) = call(url, Some(&app), "POST", &approve, None);
    assert_eq!((s, code(&v)), (403, "forbidden"), "{v}");
    let (bob, _) = sign_in(url, 5102);
    let (s, v) = call(url, Some(&bob), "POST", &approve, None);
    assert_eq!((s, code(&v)), (404, "not_found"), "{v}");
    let (s, v) = call(url, Some(&bob), "GET", &format!("/v1/intents/{id}"), None);
    assert_eq!((s, code(&v)), (404, "not_found"), "{v}");
    let (s, v) = call(url, Some(&admin), "POST", &approve, None);
    assert_eq!((s, code(&v)), (403, "forbidden"), "{v}");
    // Alice sees what she is asked to sign, decoded, and no ticket.
    let (s, list) = call(url, Some(&alice), "GET", "/v1/intents", None);
    assert_eq!(s, 200, "{list}");
    let listed = &list["intents"][0];
    assert_eq!(listed["intent_id"], id.as_str());
    assert_eq!(listed["state"], "pending");
    assert_eq!(listed["content"]["kind"], "transaction");
    assert_eq!(listed["content"]["transaction"]["chain_id"], 1);
    assert_eq!(listed["wallet_label"], "shop");
    assert!(listed.get("ticket").is_none());
    assert_eq!(
        listed["requested_by"].as_str().unwrap().split(':').next(),
        Some("client")
    );
    // She approves; a second decision is refused.
    let (s, v) = call(url, Some(&alice), "POST", &approve, None);
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["state"].as_str(), v["decided_by"].as_str()),
        (Some("approved"), Some(me.as_str()))
    );
    let (s, v) = call(url, Some(&alice), "POST", &approve, None);
    assert_eq!((s, code(&v)), (409, "intent_decided"), "{v}");
    let (s, v) = call(
        url,
        Some(&alice),
        "POST",
        &format!("/v1/intents/{id}/decline"),
        None,
    );
    assert_eq!((s, code(&v)), (409, "intent_decided"), "{v}");
    let (s, pending) = call(url, Some(&alice), "GET", "/v1/intents?state=pending", None);
    assert_eq!((s, pending["intents"].as_array().unwrap().len()), (200, 0));
    // Now the app's ticket signs, once.
    let (s, signed) = call(url, Some(&app), "POST", &sign_path, Some(ticket.clone()));
    assert_eq!(s, 200, "{signed}");
    let hash = signed["transaction_hash"].as_str().unwrap();
    let (s, v) = call(url, Some(&app), "POST", &sign_path, Some(ticket));
    assert_eq!((s, code(&v)), (409, "ticket_replayed"), "{v}");
    // Alice's page shows the signature.
    let (s, v) = call(url, Some(&alice), "GET", &format!("/v1/intents/{id}"), None);
    assert_eq!(s, 200);
    assert_eq!(v["signature"]["transaction_hash"], hash);
    assert_eq!(v["signature"]["signature"], signed["signature"]);

    // A declined intent's ticket never signs.
    let (s, second) = call(
        url,
        Some(&app),
        "POST",
        &format!("/v1/wallets/{wallet}/sign-intent"),
        Some(json!({"message": "pay 5 EUR to the shop", "encoding": "eip191"})),
    );
    assert_eq!(s, 201, "{second}");
    let id2 = second["intent_id"].as_str().unwrap();
    let (s, v) = call(
        url,
        Some(&alice),
        "GET",
        &format!("/v1/intents/{id2}"),
        None,
    );
    assert_eq!(s, 200);
    assert_eq!(v["content"]["message"]["text"], "pay 5 EUR to the shop");
    let (s, v) = call(
        url,
        Some(&alice),
        "POST",
        &format!("/v1/intents/{id2}/decline"),
        None,
    );
    assert_eq!((s, v["state"].as_str()), (200, Some("declined")), "{v}");
    let (s, v) = call(
        url,
        Some(&app),
        "POST",
        &sign_path,
        Some(json!({"ticket": second["ticket"]})),
    );
    assert_eq!((s, code(&v)), (403, "intent_declined"), "{v}");
    let (s, v) = call(
        url,
        Some(&alice),
        "POST",
        &format!("/v1/intents/{id2}/approve"),
        None,
    );
    assert_eq!((s, code(&v)), (409, "intent_decided"), "{v}");

    // The app cannot lift the policy; Alice can, and then intents need no approval.
    let wallet_path = format!("/v1/wallets/{wallet}");
    let off = Some(json!({"require_approval": false}));
    let (s, v) = call(url, Some(&app), "PATCH", &wallet_path, off.clone());
    assert!(s == 403 || s == 404, "{s} {v}");
    let (s, v) = call(url, Some(&alice), "PATCH", &wallet_path, off);
    assert_eq!(
        (s, v["require_approval"].as_bool()),
        (200, Some(false)),
        "{v}"
    );
    let (s, third) = call(
        url,
        Some(&app),
        "POST",
        &format!("/v1/wallets/{wallet}/sign-intent"),
        Some(json!({"digest": "22".repeat(32)})),
    );
    assert_eq!(
        (s, third["state"].as_str()),
        (201, Some("not_required")),
        "{third}"
    );
    let (s, v) = call(
        url,
        Some(&alice),
        "POST",
        &format!(
            "/v1/intents/{}/approve",
            third["intent_id"].as_str().unwrap()
        ),
        None,
    );
    assert_eq!((s, code(&v)), (409, "approval_not_required"), "{v}");
    let (s, v) = call(
        url,
        Some(&app),
        "POST",
        &sign_path,
        Some(json!({"ticket": third["ticket"]})),
    );
    assert_eq!(s, 200, "{v}");
    // A ticket minted while approval was off does not outlive turning it on.
    let (s, fourth) = call(
        url,
        Some(&app),
        "POST",
        &format!("/v1/wallets/{wallet}/sign-intent"),
        Some(json!({"digest": "33".repeat(32)})),
    );
    assert_eq!(
        (s, fourth["state"].as_str()),
        (201, Some("not_required")),
        "{fourth}"
    );
    let (s, v) = call(
        url,
        Some(&alice),
        "PATCH",
        &wallet_path,
        Some(json!({"require_approval": true})),
    );
    assert_eq!(
        (s, v["require_approval"].as_bool()),
        (200, Some(true)),
        "{v}"
    );
    let (s, v) = call(
        url,
        Some(&app),
        "POST",
        &sign_path,
        Some(json!({"ticket": fourth["ticket"]})),
    );
    assert_eq!((s, code(&v)), (403, "approval_required"), "{v}");
    // Unknown fields and bad states are refused.
    let (s, v) = call(
        url,
        Some(&alice),
        "PATCH",
        &wallet_path,
        Some(json!({"require_approval": true, "x": 1})),
    );
    assert_eq!(s, 400, "{v}");
    let (s, v) = call(url, Some(&alice), "GET", "/v1/intents?state=maybe", None);
    assert_eq!(s, 400, "{v}");

    // A tenant's wallet has no person to approve; a client cannot join a
    // user's tenant that does not exist.
    let (s, v) = call(
        url,
        Some(&admin),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "secp256k1", "require_approval": true})),
    );
    assert_eq!(s, 400, "{v}");
    let (s, v) = call(
        url,
        Some(&admin),
        "POST",
        "/v1/admin/api-clients",
        Some(json!({"name": "x", "tenant": "user:u_nobody", "scopes": ["sign"]})),
    );
    assert_eq!(s, 400, "{v}");

    // Alice's audit log has the decisions; the app's view is the same tenant.
    let events = fetch_audit(url, &alice);
    for action in [
        "intent.approve",
        "intent.decline",
        "wallet.approval_policy",
        "sign.intent",
    ] {
        assert!(
            events.iter().any(|e| e.action == action),
            "{action}: {events:?}"
        );
    }
    assert!(events.iter().any(|e| e.action == "intent.approve"
        && e.outcome == "denied:intent_decided"
        || e.action == "sign" && e.outcome == "denied:approval_pending"));
}

#[test]
fn an_intent_cannot_be_decided_after_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let Setup {
        host,
        alice,
        app,
        wallet,
        ..
    } = setup(dir.path(), &[("APPROVAL_TTL_SECONDS", "5")]);
    let url = host.url();
    let (s, intent) = call(
        url,
        Some(&app),
        "POST",
        &format!("/v1/wallets/{wallet}/sign-intent"),
        Some(payment(7)),
    );
    assert_eq!(s, 201, "{intent}");
    let id = intent["intent_id"].as_str().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(6500));
    let (s, v) = call(url, Some(&alice), "GET", &format!("/v1/intents/{id}"), None);
    assert_eq!((s, v["state"].as_str()), (200, Some("expired")), "{v}");
    let (s, v) = call(
        url,
        Some(&alice),
        "POST",
        &format!("/v1/intents/{id}/approve"),
        None,
    );
    assert_eq!((s, code(&v)), (410, "intent_expired"), "{v}");
    let (s, v) = call(
        url,
        Some(&app),
        "POST",
        &format!("/v1/wallets/{wallet}/sign"),
        Some(json!({"ticket": intent["ticket"]})),
    );
    assert!(
        (s == 409 && code(&v) == "approval_pending") || (s == 410 && code(&v) == "ticket_expired"),
        "{s} {v}"
    );
}
