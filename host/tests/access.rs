//! Limits on access against a live `signet-host dev` over real HTTP (issue
//! 23): a flood of bad credentials costs a few audit rows and locks out no
//! valid token, and every call of a JSON-RPC batch is charged against the
//! caller's rate limit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{
    call, code, create_client, eip191, eventually, fetch_audit, metric, DevHost, TelegramFake,
};
use serde_json::{json, Value};
use signet_proto::audit::AuditEvent;

const BOT_TOKEN: &str = "7712345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ";
const BOT: &str = "SignetLoginBot";
const WEBHOOK_SECRET: &str = "Wq8tX2vL9pR4nK7sB3mY6hJ1cF5dG0zA-_xEuT";

/// `RATE_LIMIT_AUTH_FAILURES_PER_IP`'s default.
const FAILURES_PER_PEER: usize = 60;
/// Failures of one peer recorded one by one per window.
const LOGGED_PER_PEER: usize = 10;

/// The failures of `peer` the audit log counted in `AUTH_DENY_FLOOD` events
/// (`outcome: denied:unauthenticated:<n>`), summed.
fn flood_count(events: &[AuditEvent], peer: &str) -> u64 {
    events
        .iter()
        .filter(|e| e.action == "AUTH_DENY_FLOOD" && e.target == format!("peer:{peer}"))
        .map(|e| {
            e.outcome
                .rsplit(':')
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum()
}

/// Issue 23 #9: after 300 requests with bad tokens from 127.0.0.1, the
/// operator's valid token from the same address got 429 for a minute, and a
/// token in the query string got 429 instead of 401. Only failures are
/// slowed down now.
#[test]
fn a_flood_of_bad_tokens_does_not_lock_out_a_valid_token_from_the_same_address() {
    let dir = tempfile::tempdir().unwrap();
    let host = DevHost::start(&dir.path().join("host"));
    let url = host.url();
    let admin = host.admin_token();
    let bad = format!("sgn_{}_{}", "ab".repeat(12), "00".repeat(32));
    let (mut unauthenticated, mut limited) = (0, 0);
    for _ in 0..300 {
        let (s, v) = call(url, Some(&bad), "GET", "/v1/wallets", None);
        match (s, code(&v)) {
            (401, "unauthenticated") => unauthenticated += 1,
            (429, "rate_limited") => {
                assert!(v["retry_after"].as_str().is_some(), "{v}");
                limited += 1;
            }
            other => panic!("{other:?} {v}"),
        }
    }
    assert_eq!(
        (unauthenticated, limited),
        (FAILURES_PER_PEER, 300 - FAILURES_PER_PEER)
    );
    // The failures stay slowed down ...
    assert_eq!(call(url, Some(&bad), "GET", "/v1/wallets", None).0, 429);
    // ... but the operator's token from the same address works: 6 writes.
    for i in 0..6 {
        let (s, v) = call(
            url,
            Some(&admin),
            "POST",
            "/v1/wallets",
            Some(json!({"key_type": "p256", "label": format!("after the flood {i}")})),
        );
        assert_eq!(s, 201, "write {i}: {v}");
    }
    // A token in the query string is refused as such: 401, not 429.
    let (s, v) = call(
        url,
        None,
        "GET",
        &format!("/v1/wallets?access_token={admin}"),
        None,
    );
    assert_eq!((s, code(&v)), (401, "unauthenticated"), "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("query string"),
        "{v}"
    );

    // The audit log: the writes, 10 rows of the flood, the rest counted in
    // AUTH_DENY_FLOOD summaries; the metrics count every failure.
    let failures = 300 + 1 + 1;
    let mut events = Vec::new();
    let summed = eventually(Duration::from_secs(30), || {
        events = fetch_audit(url, &admin);
        let rows = events.iter().filter(|e| e.action == "AUTH_DENY").count();
        rows as u64 + flood_count(&events, "127.0.0.1") == failures
    });
    assert!(
        summed,
        "not every failure is recorded or counted: {events:#?}"
    );
    let denies: Vec<_> = events.iter().filter(|e| e.action == "AUTH_DENY").collect();
    assert_eq!(denies.len(), LOGGED_PER_PEER, "{denies:#?}");
    assert!(denies
        .iter()
        .all(|e| e.actor == "anonymous" && e.outcome == "denied:bad_token"));
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == "wallet.create" && e.outcome == "ok")
            .count(),
        6
    );
    assert_eq!(
        metric(url, "signet_security_events_total{type=\"AUTH_DENY\"}"),
        failures as f64
    );
    assert_eq!(
        metric(url, "signet_rate_limited_total"),
        (300 - FAILURES_PER_PEER + 1) as f64
    );
}

/// Issue 23 #2: every request to `/telegram-webhook` with a wrong secret
/// wrote an `AUTH_DENY` row (300 requests, 300 rows). It is under the
/// per-address guard of `/v1` now.
#[test]
fn wrong_webhook_secrets_cost_a_few_audit_rows_and_are_all_counted() {
    let dir = tempfile::tempdir().unwrap();
    let fake = TelegramFake::start(dir.path(), BOT_TOKEN, BOT);
    let host = DevHost::command(&dir.path().join("host"))
        .with_telegram(&fake)
        .env(
            "TELEGRAM_WEBHOOK_URL",
            "http://127.0.0.1:9/telegram-webhook",
        )
        .env("TELEGRAM_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .start();
    let url = host.url();
    let admin = host.admin_token();
    let update = json!({"update_id": 1, "edited_message": {"text": "x"}});
    let post = |secret: Option<&str>| {
        let mut r = ureq::post(&format!("{url}/telegram-webhook"));
        if let Some(s) = secret {
            r = r.set("X-Telegram-Bot-Api-Secret-Token", s);
        }
        match r.send_json(update.clone()) {
            Ok(r) => (r.status(), None),
            Err(ureq::Error::Status(s, r)) => (s, r.header("retry-after").map(str::to_owned)),
            Err(e) => panic!("{e}"),
        }
    };
    let (mut unauthenticated, mut limited) = (0, 0);
    for i in 0..300 {
        let secret = (i % 2 == 0).then_some("wrong-secret-0123456789abcdefghijklmnopq");
        match post(secret) {
            (401, _) => unauthenticated += 1,
            (429, Some(_)) => limited += 1,
            other => panic!("request {i}: {other:?}"),
        }
    }
    assert_eq!(
        (unauthenticated, limited),
        (FAILURES_PER_PEER, 300 - FAILURES_PER_PEER)
    );
    // Telegram, with the secret, is still heard from that address.
    assert_eq!(post(Some(WEBHOOK_SECRET)).0, 200);

    let mut events = Vec::new();
    let summed = eventually(Duration::from_secs(30), || {
        events = fetch_audit(url, &admin);
        let rows = events.iter().filter(|e| e.action == "AUTH_DENY").count();
        rows as u64 + flood_count(&events, "127.0.0.1") == 300
    });
    assert!(
        summed,
        "not every failure is recorded or counted: {events:#?}"
    );
    let denies: Vec<_> = events.iter().filter(|e| e.action == "AUTH_DENY").collect();
    assert_eq!(denies.len(), LOGGED_PER_PEER, "{denies:#?}");
    assert!(denies
        .iter()
        .all(|e| e.target == "/telegram-webhook" && e.outcome == "denied:bad_webhook_secret"));
    assert_eq!(
        metric(
            url,
            "signet_security_events_total{type=\"TELEGRAM_WEBHOOK_DENY\"}"
        ),
        300.0
    );
    assert_eq!(
        metric(url, "signet_rate_limited_total"),
        (300 - FAILURES_PER_PEER) as f64
    );
}

/// A secp256k1 wallet made with `token`: its id, address and public key.
fn eth_wallet(url: &str, token: &str) -> (String, String, Vec<u8>) {
    let (s, w) = call(
        url,
        Some(token),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "secp256k1"})),
    );
    assert_eq!(s, 201, "{w}");
    (
        w["id"].as_str().unwrap().to_owned(),
        w["address"].as_str().unwrap().to_owned(),
        hex::decode(w["public_key"].as_str().unwrap()).unwrap(),
    )
}

/// Checks with libsecp256k1 that `rsv` (`0x` r‖s‖v, v = 27 + recovery id)
/// signs `message` under EIP-191 by `public_key`.
fn check_eth_signature(rsv: &str, message: &[u8], public_key: &[u8]) {
    use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
    let bytes = hex::decode(rsv.strip_prefix("0x").unwrap()).unwrap();
    assert_eq!(bytes.len(), 65, "{rsv}");
    let recid = RecoveryId::from_i32(i32::from(bytes[64]) - 27).unwrap();
    let sig = RecoverableSignature::from_compact(&bytes[..64], recid).unwrap();
    let digest: [u8; 32] = eip191(message).try_into().unwrap();
    let msg = secp256k1::Message::from_digest(digest);
    let pk = secp256k1::SECP256K1.recover_ecdsa(&msg, &sig).unwrap();
    assert_eq!(pk.serialize_uncompressed().to_vec(), public_key);
}

/// Call `i` of a signing batch for `address`: `eth_sign` of `message i`
/// when `i` is odd, else `eth_signTransaction` of a complete legacy
/// transaction.
fn signing_call(i: u64, address: &str) -> Value {
    if i % 2 == 1 {
        json!({"jsonrpc": "2.0", "id": i, "method": "eth_sign",
               "params": [address, format!("message {i}")]})
    } else {
        json!({"jsonrpc": "2.0", "id": i, "method": "eth_signTransaction",
               "params": [{"from": address, "to": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB",
                           "value": "0x1", "gas": "0x5208", "gasPrice": "0x3b9aca00",
                           "nonce": format!("{i:#x}"), "chainId": "0x1"}]})
    }
}

/// Issue 23 #3: `RATE_LIMIT_PER_USER` counted HTTP requests, and one
/// `/v1/eth` batch carries 100 calls: 400 signatures went out before the
/// first 429 with a limit of 5. Each call counts now.
#[test]
fn each_call_of_a_json_rpc_batch_is_charged_against_the_clients_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let host = DevHost::command(&dir.path().join("host"))
        .env("RATE_LIMIT_PER_USER", "4")
        // One window for the whole test (windows start at midnight UTC).
        .env("RATE_LIMIT_WINDOW_MS", "86400000")
        .start();
    let url = host.url();
    let admin = host.admin_token();
    // Each client has 4 requests: one makes the wallet and reads the audit
    // log, one signs, one asks for intents.
    let keeper = create_client(url, &admin, "acme", &["wallets:write", "audit:read"]);
    let signer = create_client(url, &admin, "acme", &["wallets:read", "sign"]);
    let requester = create_client(url, &admin, "acme", &["sign"]);
    let (wallet, address, public_key) = eth_wallet(url, &keeper);

    let batch: Vec<Value> = (1..=8).map(|i| signing_call(i, &address)).collect();
    let (s, v) = call(url, Some(&signer), "POST", "/v1/eth", Some(json!(batch)));
    assert_eq!(s, 200, "{v}");
    let answers = v.as_array().unwrap();
    assert_eq!(answers.len(), 8, "{v}");
    for (i, a) in (1..=8u64).zip(answers) {
        assert_eq!(a["id"], i, "{a}");
        if i <= 4 {
            let result = a["result"].as_str().unwrap_or_else(|| panic!("{a}"));
            if i % 2 == 1 {
                check_eth_signature(result, format!("message {i}").as_bytes(), &public_key);
            } else {
                assert!(result.starts_with("0xf8") && result.len() > 200, "{a}");
            }
        } else {
            assert!(
                a.get("result").is_none(),
                "call {i} past the limit ran: {a}"
            );
            let e = &a["error"];
            assert_eq!(e["code"], -32005, "{a}");
            assert_eq!(e["data"]["code"], "rate_limited", "{a}");
            assert_eq!(e["data"]["limit"], "RATE_LIMIT_PER_USER", "{a}");
            assert!(e["data"]["retry_after"].as_u64().unwrap() >= 1, "{a}");
            assert!(
                e["message"]
                    .as_str()
                    .unwrap()
                    .contains("RATE_LIMIT_PER_USER"),
                "{a}"
            );
        }
    }
    // The batch used the client's window up: a single request is 429.
    let (s, v) = call(
        url,
        Some(&signer),
        "POST",
        "/v1/eth",
        Some(json!({"jsonrpc": "2.0", "id": 9, "method": "eth_chainId"})),
    );
    assert_eq!((s, code(&v)), (429, "rate_limited"), "{v}");
    assert!(v["retry_after"].as_str().is_some(), "{v}");

    // A sign-intent is a request like any other.
    for i in 1..=4u8 {
        let (s, v) = call(
            url,
            Some(&requester),
            "POST",
            &format!("/v1/wallets/{wallet}/sign-intent"),
            Some(json!({"digest": hex::encode([i; 32])})),
        );
        assert_eq!(s, 201, "intent {i}: {v}");
    }
    let (s, v) = call(
        url,
        Some(&requester),
        "POST",
        &format!("/v1/wallets/{wallet}/sign-intent"),
        Some(json!({"digest": hex::encode([9u8; 32])})),
    );
    assert_eq!((s, code(&v)), (429, "rate_limited"), "{v}");

    // The audit log: 4 signatures, and the refusals as RATE_LIMIT events.
    let events = fetch_audit(url, &keeper);
    let signed = events
        .iter()
        .filter(|e| e.action == "sign" && e.target == wallet && e.outcome == "ok")
        .count();
    assert_eq!(signed, 4, "{events:#?}");
    let limited: Vec<_> = events
        .iter()
        .filter(|e| e.action == "RATE_LIMIT")
        .map(|e| (e.target.as_str(), e.outcome.as_str()))
        .collect();
    assert!(
        limited.contains(&("/v1/eth", "denied:rate_limited")),
        "{limited:?}"
    );
    // The authentication layer records the path as sent, `/v1` included.
    assert!(
        limited.contains(&(
            format!("/v1/wallets/{wallet}/sign-intent").as_str(),
            "denied:rate_limited"
        )),
        "{limited:?}"
    );
    // 4 calls of the batch, the single request and the fifth intent.
    assert_eq!(metric(url, "signet_rate_limited_total"), 6.0);
}

/// The per-wallet signature limit applies to each call of a batch too.
#[test]
fn each_call_of_a_json_rpc_batch_is_charged_against_the_wallets_sign_limit() {
    let dir = tempfile::tempdir().unwrap();
    let host = DevHost::command(&dir.path().join("host"))
        .env("RATE_LIMIT_PER_IDENTITY_SIGN", "3")
        .env("RATE_LIMIT_WINDOW_MS", "86400000")
        .start();
    let url = host.url();
    let admin = host.admin_token();
    let (wallet, address, public_key) = eth_wallet(url, &admin);
    let batch: Vec<Value> = (1..=6).map(|i| signing_call(i, &address)).collect();
    let (s, v) = call(url, Some(&admin), "POST", "/v1/eth", Some(json!(batch)));
    assert_eq!(s, 200, "{v}");
    let answers = v.as_array().unwrap();
    assert_eq!(answers.len(), 6, "{v}");
    for (i, a) in (1..=6u64).zip(answers) {
        if i <= 3 {
            let result = a["result"].as_str().unwrap_or_else(|| panic!("{a}"));
            if i % 2 == 1 {
                check_eth_signature(result, format!("message {i}").as_bytes(), &public_key);
            }
        } else {
            assert!(a.get("result").is_none(), "{a}");
            assert_eq!(a["error"]["code"], -32005, "{a}");
            assert_eq!(
                a["error"]["data"]["limit"], "RATE_LIMIT_PER_IDENTITY_SIGN",
                "{a}"
            );
        }
    }
    let events = fetch_audit(url, &admin);
    let signed = events
        .iter()
        .filter(|e| e.action == "sign" && e.target == wallet && e.outcome == "ok")
        .count();
    assert_eq!(signed, 3);
    assert!(events
        .iter()
        .any(|e| e.action == "RATE_LIMIT" && e.target == wallet));
}

/// Issue 23, "defaults that protect": a host started with no limit settings
/// refuses a wallet's signature past 120 in a minute (429, naming the
/// variable, with the seconds to wait), and a window of a minute.
#[test]
fn rate_limits_are_on_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let host = DevHost::start(&dir.path().join("host"));
    let url = host.url();
    let admin = host.admin_token();
    let (s, w) = call(
        url,
        Some(&admin),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "secp256k1"})),
    );
    assert_eq!(s, 201, "{w}");
    let path = format!("/v1/wallets/{}/sign", w["id"].as_str().unwrap());
    // Windows are fixed on wall-clock minutes: a window may roll over
    // mid-run, so the refusal comes after 120 to 240 signatures.
    let mut signed = 0;
    let refusal = loop {
        let (s, v) = call(
            url,
            Some(&admin),
            "POST",
            &path,
            Some(json!({"digest": format!("{signed:064x}")})),
        );
        match s {
            200 => signed += 1,
            429 => break v,
            other => panic!("{other} {v}"),
        }
        assert!(signed <= 240, "no limit after {signed} signatures");
    };
    assert!(signed >= 120, "refused after only {signed} signatures");
    assert_eq!(code(&refusal), "rate_limited", "{refusal}");
    assert!(
        refusal.to_string().contains("RATE_LIMIT_PER_IDENTITY_SIGN"),
        "{refusal}"
    );
    let retry_after: u64 = refusal["retry_after"]
        .as_u64()
        .or_else(|| refusal["retry_after"].as_str()?.parse().ok())
        .unwrap_or_else(|| panic!("no retry_after: {refusal}"));
    assert!((1..=60).contains(&retry_after), "{refusal}");
    let events = fetch_audit(url, &admin);
    assert!(events.iter().any(|e| e.action == "RATE_LIMIT"));
}
