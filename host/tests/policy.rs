//! Policy rules over real HTTP: a `serve` host and its signer on SQLite.
//! Each rule refuses by name (`rule` in the error) what it does not allow
//! and signs its boundary value; `/check` answers the same from the signer
//! without signing; a window holds under 64 concurrent requests; after a
//! restart windows are cold until the owners `resume`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{call, code, ServeSetup};
use rand_core::OsRng;
use serde_json::{json, Value};
use signet_authority::{
    payload_sha256, Approval, Authorization, OwnerKeyType, OwnerSecretKey, Record,
    Request as AuthzRequest,
};

const TOKEN: &str = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48";
const BOB: &str = "0x000000000000000000000000000000000000b0b0";
const EVE: &str = "0x000000000000000000000000000000000000e0e0";
const MAX_VALUE: u128 = 100_000_000_000_000_000;
const UNLIMITED: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

/// The SQLite `serve` host and signer of these tests (its database kept
/// as long as the setup).
struct Setup {
    serve: ServeSetup,
    _db: tempfile::TempDir,
}

impl std::ops::Deref for Setup {
    type Target = ServeSetup;
    fn deref(&self) -> &ServeSetup {
        &self.serve
    }
}

impl Setup {
    fn start() -> Self {
        let (_db, serve) = ServeSetup::on_sqlite();
        Self { serve, _db }
    }

    fn post(&self, path: &str, body: Value) -> (u16, Value) {
        call(&self.url(), Some(&self.token), "POST", path, Some(body))
    }

    fn create(&self, body: Value) -> Value {
        let (s, w) = self.post("/v1/wallets", body);
        assert_eq!(s, 201, "{w}");
        w
    }

    /// A secp256k1 wallet owned by `ann` alone, with `policy`.
    fn owned_by(&self, ann: &OwnerSecretKey, policy: Value) -> Value {
        self.create(json!({
            "key_type": "secp256k1",
            "owners": [ann.owner("ann").unwrap().to_value()],
            "policy": policy,
        }))
    }

    fn sign(&self, w: &Value, body: &Value) -> (u16, Value) {
        self.post(&format!("/v1/wallets/{}/sign", id(w)), body.clone())
    }

    fn check(&self, w: &Value, body: &Value) -> Value {
        let (s, v) = self.post(&format!("/v1/wallets/{}/check", id(w)), body.clone());
        assert_eq!(s, 200, "{v}");
        v
    }

    fn restart(&mut self) {
        self.serve.restart_after(|| {});
    }
}

fn id(w: &Value) -> &str {
    w["id"].as_str().unwrap()
}

fn record(w: &Value) -> Record {
    Record::parse(w["record"].as_str().unwrap()).unwrap()
}

fn policy() -> Value {
    json!({
        "allow": ["message", "transaction", "typed_data"],
        "chain_ids": [1],
        "max_value_wei": MAX_VALUE.to_string(),
        "recipients": [BOB, TOKEN],
        "selectors": ["0xa9059cbb", "0x095ea7b3"],
        "tokens": [{"address": TOKEN, "max_amount": "1000000000"}],
        "typed_data_domains": [{"chain_id": 1, "verifying_contract": TOKEN}],
        "windows": [{"seconds": 86400, "max_value_wei": "250000000000000000", "max_count": 100}]
    })
}

static NONCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn tx(chain: u64, to: &str, value: u128, data: &str) -> Value {
    let nonce = NONCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    json!({"transaction": {
        "chainId": format!("{chain:#x}"), "nonce": format!("{nonce:#x}"), "to": to,
        "value": format!("{value:#x}"), "gas": "0x30000", "input": data,
        "maxFeePerGas": "0x3b9aca00", "maxPriorityFeePerGas": "0x1"
    }})
}

fn erc20(selector: &str, who: &str, amount: &str) -> String {
    format!("0x{selector}{:0>64}{amount:0>64}", &who[2..])
}

fn owner() -> OwnerSecretKey {
    OwnerSecretKey::generate(OwnerKeyType::Secp256k1, &mut OsRng)
}

fn refused_by(s: u16, v: &Value) -> (u16, &str, &str) {
    (s, code(v), v["error"]["rule"].as_str().unwrap_or(""))
}

#[test]
fn each_rule_refuses_by_name_over_http_and_check_says_the_same() {
    let setup = Setup::start();
    let ann = owner();
    let w = setup.owned_by(&ann, policy());
    assert_eq!(record(&w).policy().to_value()["recipients"][1], TOKEN);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("rule_chain_ids", tx(10, BOB, 1, "0x"), "chain_ids"),
        (
            "rule_max_value_wei",
            tx(1, BOB, MAX_VALUE + 1, "0x"),
            "max_value_wei",
        ),
        ("rule_recipients", tx(1, EVE, 1, "0x"), "recipients"),
        (
            "rule_recipients (token recipient)",
            tx(1, TOKEN, 0, &erc20("a9059cbb", EVE, "1")),
            "recipients",
        ),
        (
            "rule_selectors",
            tx(1, TOKEN, 0, &erc20("39509351", BOB, "1")),
            "selectors",
        ),
        (
            "rule_tokens",
            tx(1, TOKEN, 0, &erc20("a9059cbb", BOB, "3b9aca01")),
            "tokens[0].max_amount",
        ),
        (
            "rule_tokens (unlimited approval)",
            tx(1, TOKEN, 0, &erc20("095ea7b3", BOB, UNLIMITED)),
            "tokens[0].max_amount",
        ),
        (
            "rule_allow (digest)",
            json!({"digest": format!("0x{}", "ab".repeat(32))}),
            "allow",
        ),
    ];
    for (what, body, rule) in &cases {
        let (s, v) = setup.sign(&w, body);
        assert_eq!(
            refused_by(s, &v),
            (403, "owner_approval_required", *rule),
            "{what}: {v}"
        );
        let dry = setup.check(&w, body);
        assert_eq!(dry["allowed"], false, "{what}: {dry}");
        assert_eq!(dry["needs_owners"], true, "{what}: {dry}");
        assert_eq!(dry["rule"], *rule, "{what}: {dry}");
    }
    // What a person approving it would be shown: the decoded call, in full.
    let dry = setup.check(&w, &tx(1, TOKEN, 0, &erc20("095ea7b3", EVE, UNLIMITED)));
    let decoded_call = &dry["decoded"]["call"];
    assert_eq!(decoded_call["function"], "approve", "{dry}");
    assert_eq!(decoded_call["unlimited"], true, "{dry}");
    assert_eq!(
        decoded_call["spender"].as_str().unwrap().to_lowercase(),
        EVE,
        "{dry}"
    );
    assert!(dry["decoded"]["calldata"]
        .as_str()
        .unwrap()
        .starts_with("0x095ea7b3"));
    // The boundary values sign.
    for body in [
        tx(1, BOB, MAX_VALUE, "0x"),
        tx(1, TOKEN, 0, &erc20("a9059cbb", BOB, "3b9aca00")),
        json!({"message": "hello", "encoding": "eip191"}),
    ] {
        let dry = setup.check(&w, &body);
        assert_eq!(dry["allowed"], true, "{dry}");
        let (s, v) = setup.sign(&w, &body);
        assert_eq!(s, 200, "{body}: {v}");
    }
    // Outside the policy, a sign intent waits for the owners with the
    // authorization they sign; inside, it does not.
    let (s, v) = setup.post(
        &format!("/v1/wallets/{}/sign-intent", id(&w)),
        tx(1, EVE, 1, "0x"),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["state"], "pending", "{v}");
    assert!(v["authorization"]["text"].is_string(), "{v}");
    let (s, v) = setup.post(
        &format!("/v1/wallets/{}/sign-intent", id(&w)),
        tx(1, BOB, 1, "0x"),
    );
    assert_eq!(s, 201, "{v}");
    assert_ne!(v["state"], "pending", "{v}");
    // The approval page's view of an unlimited approval: the decoded call,
    // UNLIMITED spelled out, the full calldata.
    let approve_all = tx(1, TOKEN, 0, &erc20("095ea7b3", EVE, UNLIMITED));
    let (s, v) = setup.post(
        &format!("/v1/wallets/{}/sign-intent", id(&w)),
        approve_all.clone(),
    );
    assert_eq!((s, &v["state"]), (201, &json!("pending")), "{v}");
    let (s, intent) = call(
        &setup.url(),
        Some(&setup.token),
        "GET",
        &format!("/v1/intents/{}", v["intent_id"].as_str().unwrap()),
        None,
    );
    assert_eq!(s, 200, "{intent}");
    let content = &intent["content"];
    assert_eq!(content["call"]["function"], "approve", "{intent}");
    assert_eq!(content["call"]["unlimited"], true, "{intent}");
    assert_eq!(content["readable"], true, "{intent}");
    assert_eq!(
        content["calldata"], approve_all["transaction"]["input"],
        "{intent}"
    );
    // A call the decoder does not know is marked unreadable.
    let unknown = tx(1, BOB, 0, "0xdeadbeef00");
    let (_, v) = setup.post(&format!("/v1/wallets/{}/sign-intent", id(&w)), unknown);
    let (_, intent) = call(
        &setup.url(),
        Some(&setup.token),
        "GET",
        &format!("/v1/intents/{}", v["intent_id"].as_str().unwrap()),
        None,
    );
    assert_eq!(intent["content"]["readable"], false, "{intent}");
    assert_eq!(intent["content"]["call"], Value::Null, "{intent}");
    // With the owner's approval of that exact request, it signs.
    let content = tx(1, EVE, 5, "0x");
    let digest = signet_eth::parse_request(&content["transaction"])
        .unwrap()
        .build()
        .unwrap()
        .signing_hash();
    let mut request_id = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut OsRng, &mut request_id);
    let authz = Authorization::fresh(
        &record(&w),
        AuthzRequest::Sign {
            payload_sha256: payload_sha256(&content).unwrap(),
            digest,
        },
        common::now_s(),
        600,
        request_id,
    )
    .unwrap();
    let mut body = content.clone();
    body["approvals"] = serde_json::to_value([ann.approve("ann", &authz)]).unwrap();
    let (s, v) = setup.sign(&w, &body);
    assert_eq!(s, 200, "{v}");
}

#[test]
fn a_wallet_without_owners_is_refused_with_policy_denied_naming_the_rule() {
    let setup = Setup::start();
    let w = setup.create(json!({
        "key_type": "secp256k1",
        "policy": {"allow": ["transaction"], "chain_ids": [1], "max_value_wei": "1000"},
    }));
    let (s, v) = setup.sign(&w, &tx(1, BOB, 1001, "0x"));
    assert_eq!(
        refused_by(s, &v),
        (403, "policy_denied", "max_value_wei"),
        "{v}"
    );
    let (s, v) = setup.post(
        &format!("/v1/wallets/{}/sign-intent", id(&w)),
        tx(5, BOB, 1, "0x"),
    );
    assert_eq!(
        refused_by(s, &v),
        (403, "policy_denied", "chain_ids"),
        "{v}"
    );
    let dry = setup.check(&w, &tx(1, BOB, 1001, "0x"));
    assert_eq!(
        (&dry["allowed"], &dry["needs_owners"]),
        (&json!(false), &json!(false))
    );
    let (s, v) = setup.sign(&w, &tx(1, BOB, 1000, "0x"));
    assert_eq!(s, 200, "{v}");
}

#[test]
fn a_policy_is_refused_naming_the_field() {
    let setup = Setup::start();
    for (policy, field) in [
        (
            json!({"allow": [], "windows": [{"seconds": 0, "max_count": 1}]}),
            "policy.windows[0].seconds",
        ),
        (
            json!({"allow": [], "recipients": ["0x1234"]}),
            "policy.recipients[0]",
        ),
        (
            json!({"allow": [], "tokens": [{"address": TOKEN, "max_amount": "-1"}]}),
            "policy.tokens[0].max_amount",
        ),
        (json!({"allow": [], "limits": 1}), "policy.limits"),
    ] {
        let (s, v) = setup.post(
            "/v1/wallets",
            json!({"key_type": "secp256k1", "policy": policy}),
        );
        assert_eq!(s, 400, "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(field),
            "{v}"
        );
    }
}

#[test]
fn a_window_holds_under_64_concurrent_requests_to_the_wei() {
    let setup = Setup::start();
    // 1 wei short of 10 requests' worth.
    let value: u128 = 1_000_000;
    let w = setup.create(json!({
        "key_type": "secp256k1",
        "policy": {"allow": ["transaction"],
                   "windows": [{"seconds": 3600, "max_value_wei": (10 * value - 1).to_string()}]},
    }));
    let url = setup.url();
    let results: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..64)
            .map(|_| {
                let body = tx(1, BOB, value, "0x");
                let (url, token, id) = (url.clone(), setup.token.clone(), id(&w).to_owned());
                scope.spawn(move || {
                    call(
                        &url,
                        Some(&token),
                        "POST",
                        &format!("/v1/wallets/{id}/sign"),
                        Some(body),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let signed = results.iter().filter(|(s, _)| *s == 200).count();
    for (s, v) in results.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(
            refused_by(*s, v),
            (403, "policy_denied", "windows[0].max_value_wei"),
            "{v}"
        );
    }
    assert_eq!(
        signed, 9,
        "9 × value fits under 10 × value − 1 wei; a 10th would pass it"
    );
}

fn approve_resume(w: &Value, ann: &OwnerSecretKey, text: &str) -> Vec<Approval> {
    let authz = Authorization::parse(text).unwrap();
    assert_eq!(
        authz.record_hash().to_hex(),
        record(w).record_hash().to_hex()
    );
    vec![ann.approve("ann", &authz)]
}

#[test]
fn windows_are_cold_after_a_restart_until_the_owners_resume_over_http() {
    let mut setup = Setup::start();
    let ann = owner();
    let mut p = policy();
    p["windows"] = json!([{"seconds": 86400, "max_count": 100}]);
    let w = setup.owned_by(&ann, p);
    let (s, v) = setup.sign(&w, &tx(1, BOB, 1, "0x"));
    assert_eq!(s, 200, "made on this signer: not cold: {v}");
    setup.restart();
    let (s, v) = setup.sign(&w, &tx(1, BOB, 1, "0x"));
    assert_eq!(
        refused_by(s, &v),
        (403, "owner_approval_required", "windows[0].cold"),
        "{v}"
    );
    // Without approvals: the authorization the owners sign.
    let resume = format!("/v1/wallets/{}/resume", id(&w));
    let (s, v) = setup.post(&resume, json!({}));
    assert_eq!(s, 202, "{v}");
    let text = v["authorization"]["text"].as_str().unwrap().to_owned();
    assert!(text.contains("\"action\":\"resume\""), "{text}");
    // Someone else's signature is refused.
    let eve = owner();
    let (s, v) = setup.post(
        &resume,
        json!({"approvals": approve_resume(&w, &eve, &text)}),
    );
    assert_eq!((s, code(&v)), (403, "approval_invalid"), "{v}");
    let (s, v) = setup.post(
        &resume,
        json!({"approvals": approve_resume(&w, &ann, &text)}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["resumed"], true);
    let (s, v) = setup.sign(&w, &tx(1, BOB, 1, "0x"));
    assert_eq!(s, 200, "{v}");
    // The same approval twice: replayed.
    let (s, v) = setup.post(
        &resume,
        json!({"approvals": approve_resume(&w, &ann, &text)}),
    );
    assert_eq!((s, code(&v)), (409, "approval_replayed"), "{v}");
}

/// POST `/record` without approvals (the authorization), then with the
/// owner's: the status and body.
fn change(setup: &Setup, w: &Value, ann: &OwnerSecretKey, settings: Value) -> (u16, Value) {
    let path = format!("/v1/wallets/{}/record", id(w));
    let (s, v) = setup.post(&path, settings.clone());
    assert_eq!(s, 202, "{v}");
    let authz = Authorization::parse(v["authorization"]["text"].as_str().unwrap()).unwrap();
    let mut body = settings;
    body["approvals"] = serde_json::to_value([ann.approve("ann", &authz)]).unwrap();
    setup.post(&path, body)
}

#[test]
fn a_loosening_waits_its_change_delay_and_a_tightening_does_not() {
    let setup = Setup::start();
    let ann = owner();
    let w = setup.owned_by(&ann, json!({"allow": ["message", "transaction"], "max_value_wei": "1000", "change_delay_seconds": 3}));
    // Tightening: immediate.
    let tighter = json!({"policy": {"allow": ["message", "transaction"], "max_value_wei": "500", "change_delay_seconds": 3}});
    let (s, v) = change(&setup, &w, &ann, tighter);
    assert_eq!(s, 200, "{v}");
    let (s, v) = setup.sign(&v, &tx(1, BOB, 501, "0x"));
    assert_eq!(
        refused_by(s, &v),
        (403, "owner_approval_required", "max_value_wei")
    );
    // Loosening: approved, then waits 3 s from the approval.
    let w = {
        let (_, v) = call(
            &setup.url(),
            Some(&setup.token),
            "GET",
            &format!("/v1/wallets/{}", id(&w)),
            None,
        );
        v
    };
    let looser = json!({"policy": {"allow": ["message", "transaction"], "max_value_wei": "2000", "change_delay_seconds": 3}});
    let (s, v) = change(&setup, &w, &ann, looser.clone());
    assert_eq!((s, code(&v)), (409, "change_not_yet_effective"), "{v}");
    let at = v["error"]["effective_at"].as_u64().unwrap();
    assert!(at >= common::now_s() + 2, "{v}");
    let path = format!("/v1/wallets/{}/record", id(&w));
    let (s, v) = setup.post(&path, looser.clone());
    assert_eq!(
        (s, code(&v)),
        (409, "change_not_yet_effective"),
        "not yet: {v}"
    );
    let (s, v) = setup.sign(&w, &tx(1, BOB, 1500, "0x"));
    assert_eq!(
        refused_by(s, &v),
        (403, "owner_approval_required", "max_value_wei")
    );
    while common::now_s() < at {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // Another loosening was not approved: still refused.
    let other = json!({"policy": {"allow": ["message", "transaction"], "max_value_wei": "9999", "change_delay_seconds": 3}});
    let (s, v) = setup.post(&path, other);
    assert_eq!(s, 202, "asks the owners again: {v}");
    let (s, v) = setup.post(&path, looser);
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        record(&v).policy().max_value_wei().unwrap().to_string(),
        "2000"
    );
    let (s, v) = setup.sign(&v, &tx(1, BOB, 1500, "0x"));
    assert_eq!(s, 200, "{v}");
}

fn cli(setup: &Setup, args: &[&str]) -> std::process::Output {
    common::signet_cli()
        .args(args)
        .args(["--url", &setup.url()])
        .env("SIGNET_TOKEN", &setup.token)
        .output()
        .unwrap()
}

#[test]
fn the_cli_checks_a_transaction_and_the_owners_resume_with_their_keys() {
    let mut setup = Setup::start();
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("ann.key");
    let key = key.to_str().unwrap();
    let made = cli(
        &setup,
        &["owner", "keygen", "--type", "secp256k1", "--out", key],
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let mut ann: Value = serde_json::from_slice(&made.stdout).unwrap();
    ann["owner"]["id"] = json!("ann");
    let w = setup.create(json!({
        "key_type": "secp256k1",
        "owners": [ann["owner"]],
        "policy": policy(),
    }));
    let approve_all = tx(1, TOKEN, 0, &erc20("095ea7b3", BOB, UNLIMITED));
    let out = cli(
        &setup,
        &[
            "check",
            id(&w),
            "--transaction",
            &approve_all["transaction"].to_string(),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with("NEEDS THE OWNERS (rule tokens[0].max_amount)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("call: approve(address,uint256)"),
        "{stdout}"
    );
    assert!(stdout.contains("UNLIMITED"), "{stdout}");
    let file = keys.path().join("tx.json");
    std::fs::write(&file, tx(1, BOB, 1, "0x")["transaction"].to_string()).unwrap();
    let out = cli(
        &setup,
        &[
            "check",
            id(&w),
            "--transaction",
            &format!("@{}", file.display()),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ALLOWED"));

    setup.restart();
    let (s, v) = setup.sign(&w, &tx(1, BOB, 1, "0x"));
    assert_eq!(refused_by(s, &v).2, "windows[0].cold", "{v}");
    let out = cli(&setup, &["resume", id(&w), "--owner", "ann", "--key", key]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (s, v) = setup.sign(&w, &tx(1, BOB, 1, "0x"));
    assert_eq!(s, 200, "{v}");
}

/// `signet-host dev`'s supervisor restarts a killed signer: the wallet's
/// window is cold on the new one, so killing the signer mid-window gains no
/// budget.
#[test]
fn a_signer_killed_mid_window_and_restarted_by_the_dev_supervisor_gains_no_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let host = common::DevHost::start(&tmp.path().join("data"));
    let url = host.url().to_owned();
    let admin = host.admin_token();
    let (s, w) = call(
        &url,
        Some(&admin),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "secp256k1",
                    "policy": {"allow": ["transaction"], "windows": [{"seconds": 3600, "max_count": 3}]}})),
    );
    assert_eq!(s, 201, "{w}");
    let sign = || {
        call(
            &url,
            Some(&admin),
            "POST",
            &format!("/v1/wallets/{}/sign", id(&w)),
            Some(tx(1, BOB, 1, "0x")),
        )
    };
    for _ in 0..2 {
        let (s, v) = sign();
        assert_eq!(s, 200, "{v}");
    }
    let first = host.signer_pid();
    common::sigkill(first);
    assert!(
        common::eventually(std::time::Duration::from_secs(20), || {
            std::fs::read_to_string(tmp.path().join("data").join("signer.pid"))
                .ok()
                .and_then(|t| t.trim().parse::<u32>().ok())
                .is_some_and(|p| p != first && common::pid_alive(p))
        }),
        "the supervisor did not restart the signer"
    );
    // The new signer has not seen the hour: the window counts as full.
    let refused = common::eventually(std::time::Duration::from_secs(20), || {
        let (s, v) = sign();
        s == 403 && v["error"]["rule"] == "windows[0].cold"
    });
    assert!(refused, "{:?}", sign());
}

#[test]
fn approvers_see_token_amounts_in_the_units_the_policy_names() {
    let setup = Setup::start();
    let ann = owner();
    let w = setup.owned_by(
        &ann,
        json!({"allow": ["transaction"], "tokens": [
            {"address": TOKEN, "max_amount": "1000000000", "decimals": 6, "symbol": "USDC"}
        ]}),
    );
    // 1000.5 USDC: over the limit, so the owners are asked.
    let body = tx(1, TOKEN, 0, &erc20("a9059cbb", BOB, "3ba26b20"));
    let dry = setup.check(&w, &body);
    assert_eq!(dry["rule"], "tokens[0].max_amount", "{dry}");
    assert_eq!(
        dry["decoded"]["call"]["amount_units"], "1000.5 USDC",
        "{dry}"
    );
    let (s, v) = setup.post(&format!("/v1/wallets/{}/sign-intent", id(&w)), body);
    assert_eq!((s, &v["state"]), (201, &json!("pending")), "{v}");
    let (_, intent) = call(
        &setup.url(),
        Some(&setup.token),
        "GET",
        &format!("/v1/intents/{}", v["intent_id"].as_str().unwrap()),
        None,
    );
    assert_eq!(
        intent["content"]["call"]["amount_units"], "1000.5 USDC",
        "{intent}"
    );
    assert_eq!(
        intent["content"]["call"]["amount"], "1000500000",
        "{intent}"
    );
}
