//! Record changes proposed to a wallet's owners and approved one by one,
//! over real HTTP: a `serve` host and its signer on SQLite. The host keeps
//! the proposal and each approval (checked at once); the signer verifies
//! them all again at the threshold and decides; a loosening waits for its
//! change delay and is applied by the host when it is due; the console's
//! "require my approval" on a wallet with owners is such a change.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{call, code, eventually, ServeSetup as Setup};
use rand_core::OsRng;
use serde_json::{json, Value};
use signet_authority::{OwnerKeyType, OwnerSecretKey, Record};
use std::time::Duration;

fn id(w: &Value) -> &str {
    w["id"].as_str().unwrap()
}

fn record(w: &Value) -> Record {
    Record::parse(w["record"].as_str().expect("the wallet's record")).unwrap()
}

/// An API caller of one wallet.
struct Wallet<'a> {
    url: &'a str,
    token: &'a str,
    id: String,
}

impl Wallet<'_> {
    fn call(&self, method: &str, rest: &str, body: Option<Value>) -> (u16, Value) {
        call(
            self.url,
            Some(self.token),
            method,
            &format!("/v1/wallets/{}{rest}", self.id),
            body,
        )
    }

    fn now(&self) -> Value {
        let (s, w) = self.call("GET", "", None);
        assert_eq!(s, 200, "{w}");
        w
    }

    fn propose(&self, change: Value) -> Value {
        let (s, p) = self.call("POST", "/record", Some(change));
        assert_eq!(s, 202, "{p}");
        p
    }

    fn approve(&self, proposal: &Value, owner: &str, key: &OwnerSecretKey) -> (u16, Value) {
        let text = proposal["authorization"]["text"].as_str().unwrap();
        self.call(
            "POST",
            &format!("/record/{}/approve", pid(proposal)),
            Some(json!({"owner_id": owner, "signature": key.sign(text)})),
        )
    }

    fn proposal(&self, proposal: &Value) -> Value {
        let (s, p) = self.call("GET", &format!("/record/{}", pid(proposal)), None);
        assert_eq!(s, 200, "{p}");
        p
    }

    fn signs_a_message(&self) -> (u16, Value) {
        self.call(
            "POST",
            "/sign",
            Some(json!({"message": "hello", "encoding": "eip191"})),
        )
    }
}

fn pid(proposal: &Value) -> &str {
    proposal["proposal_id"].as_str().unwrap()
}

fn key(ty: OwnerKeyType) -> OwnerSecretKey {
    OwnerSecretKey::generate(ty, &mut OsRng)
}

/// A secp256k1 wallet owned by `owners` (id, key) with `threshold` and
/// `policy`.
fn owned<'a>(
    setup: &'a Setup,
    url: &'a str,
    owners: &[(&str, &OwnerSecretKey)],
    threshold: u32,
    policy: Value,
) -> Wallet<'a> {
    let owners: Vec<Value> = owners
        .iter()
        .map(|(id, k)| k.owner(id).unwrap().to_value())
        .collect();
    let (s, w) = call(
        url,
        Some(&setup.token),
        "POST",
        "/v1/wallets",
        Some(
            json!({"key_type": "secp256k1", "owners": owners, "threshold": threshold, "policy": policy}),
        ),
    );
    assert_eq!(s, 201, "{w}");
    Wallet {
        url,
        token: &setup.token,
        id: id(&w).to_owned(),
    }
}

/// `(action, actor, detail)` of the audit events in the SQLite database
/// at `db`, oldest first.
fn audit_actions(db: &tempfile::TempDir) -> Vec<(String, String, Value)> {
    common::sqlite_rows(
        &db.path().join("signet.db"),
        "SELECT action, actor, detail FROM audit_events ORDER BY seq",
    )
    .into_iter()
    .map(|row| {
        let detail = row[2]
            .as_str()
            .map_or(Value::Null, |d| serde_json::from_str(d).unwrap());
        (
            row[0].as_str().unwrap().to_owned(),
            row[1].as_str().unwrap().to_owned(),
            detail,
        )
    })
    .collect()
}

#[test]
fn owners_approve_a_record_change_one_by_one_and_the_signer_applies_it_at_the_threshold() {
    let (db, setup) = Setup::on_sqlite();
    let url = setup.url();
    let (ann, cat) = (key(OwnerKeyType::Secp256k1), key(OwnerKeyType::P256));
    let w = owned(
        &setup,
        &url,
        &[("ann", &ann), ("cat", &cat)],
        2,
        json!({"allow": []}),
    );
    let before = w.now();

    // Proposed: kept by the host, nothing changed.
    let p = w.propose(json!({"policy": {"allow": ["message"]}}));
    assert_eq!(p["state"], "pending", "{p}");
    assert!(pid(&p).starts_with("rp_"), "{p}");
    assert_eq!(p["threshold"], 2);
    assert_eq!(p["approved_by"], json!([]));
    assert_eq!(p["effective_at"], Value::Null, "no change delay: at once");
    let next = Record::parse(p["record"].as_str().unwrap()).unwrap();
    assert_eq!(p["record_hash"], next.record_hash().to_hex());
    assert_eq!(next.prev(), Some(record(&before).record_hash()));
    assert_eq!(w.proposal(&p)["authorization"], p["authorization"]);
    let (s, list) = w.call("GET", "/proposals", None);
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["proposals"][0]["proposal_id"], p["proposal_id"]);

    // A stranger's signature, an owner's signature of something else, and a
    // body with both proofs or none: refused at once, nothing kept.
    let (s, v) = w.approve(&p, "cat", &key(OwnerKeyType::P256));
    assert_eq!((s, code(&v)), (403, "approval_invalid"), "{v}");
    let (s, v) = w.call(
        "POST",
        &format!("/record/{}/approve", pid(&p)),
        Some(json!({"owner_id": "ann", "signature": ann.sign("something else")})),
    );
    assert_eq!((s, code(&v)), (403, "approval_invalid"), "{v}");
    let (s, v) = w.call(
        "POST",
        &format!("/record/{}/approve", pid(&p)),
        Some(json!({"owner_id": "ann"})),
    );
    assert_eq!((s, code(&v)), (400, "bad_request"), "{v}");
    assert_eq!(w.proposal(&p)["approved_by"], json!([]));

    // Ann approves: kept, below the threshold; the wallet is unchanged.
    let (s, v) = w.approve(&p, "ann", &ann);
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["state"].as_str(), &v["approved_by"]),
        (Some("pending"), &json!(["ann"]))
    );
    assert_eq!(record(&w.now()).version(), 1);
    let (s, v) = w.signs_a_message();
    assert_eq!((s, code(&v)), (403, "owner_approval_required"), "{v}");
    // Ann twice: one owner counts once.
    let (s, v) = w.approve(&p, "ann", &ann);
    assert_eq!(
        (s, &v["error"]["reason"]),
        (403, &json!("duplicate_owner")),
        "{v}"
    );
    // An empty approve below the threshold asks for an approval.
    let (s, v) = w.call("POST", &format!("/record/{}/approve", pid(&p)), None);
    assert_eq!((s, code(&v)), (400, "bad_request"), "{v}");

    // Cat approves from elsewhere: the signer applies it.
    let (s, v) = w.approve(&p, "cat", &cat);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "applied", "{v}");
    assert_eq!(v["approved_by"], json!(["ann", "cat"]));
    assert_eq!(v["wallet"]["record"].as_str(), Some(next.text()));
    let after = w.now();
    assert_eq!(after["record"].as_str(), Some(next.text()));
    assert_ne!(
        after["attestation"], before["attestation"],
        "a new attestation binds it"
    );
    let (s, v) = w.signs_a_message();
    assert_eq!(s, 200, "messages sign alone now: {v}");

    // Decided: approving again is refused.
    let (s, v) = w.approve(&p, "ann", &ann);
    assert_eq!((s, code(&v)), (409, "proposal_decided"), "{v}");

    // The audit log tells the story, and the change names its proposal.
    let events = audit_actions(&db);
    let actions: Vec<&str> = events.iter().map(|(a, _, _)| a.as_str()).collect();
    for wanted in [
        "wallet.record_propose",
        "wallet.record_approve",
        "wallet.record",
    ] {
        assert!(actions.contains(&wanted), "{wanted} in {actions:?}");
    }
    let applied = events
        .iter()
        .find(|(a, _, _)| a == "wallet.record")
        .unwrap();
    assert_eq!(applied.2["proposal_id"], p["proposal_id"], "{applied:?}");
}

#[test]
fn a_superseded_an_expired_and_another_wallets_proposal_are_refused() {
    let (db, setup) = Setup::on_sqlite();
    let url = setup.url();
    let ann = key(OwnerKeyType::Ed25519);
    let w = owned(&setup, &url, &[("ann", &ann)], 1, json!({"allow": []}));
    let other = owned(&setup, &url, &[("ann", &ann)], 1, json!({"allow": []}));

    let first = w.propose(json!({"policy": {"allow": ["message"]}}));
    let second = w.propose(json!({"policy": {"allow": ["typed_data"]}}));
    let third = w.propose(json!({"policy": {"allow": ["transaction"]}}));
    // Another wallet's proposal id is not found under this wallet.
    let (s, v) = other.call("GET", &format!("/record/{}", pid(&first)), None);
    assert_eq!((s, code(&v)), (404, "not_found"), "{v}");
    let (s, v) = other.approve(&first, "ann", &ann);
    assert_eq!((s, code(&v)), (404, "not_found"), "{v}");

    // The second is applied: the first now changes a record the wallet no
    // longer has.
    let (s, v) = w.approve(&second, "ann", &ann);
    assert_eq!((s, v["state"].as_str()), (200, Some("applied")), "{v}");
    assert_eq!(w.proposal(&first)["state"], "superseded");
    let (s, v) = w.approve(&first, "ann", &ann);
    assert_eq!((s, code(&v)), (409, "proposal_decided"), "{v}");

    // The third's authorization expires (moved into the past in the
    // database): approvals are refused after it.
    common::sqlite_exec(
        &db.path().join("signet.db"),
        &format!(
            "UPDATE record_proposals SET expires_at = 1 WHERE id = '{}'",
            pid(&third)
        ),
    );
    assert_eq!(w.proposal(&third)["state"], "superseded");
    let fourth = w.propose(json!({"policy": {"allow": ["digest"]}}));
    common::sqlite_exec(
        &db.path().join("signet.db"),
        &format!(
            "UPDATE record_proposals SET expires_at = 1 WHERE id = '{}'",
            pid(&fourth)
        ),
    );
    assert_eq!(w.proposal(&fourth)["state"], "expired");
    let (s, v) = w.approve(&fourth, "ann", &ann);
    assert_eq!((s, code(&v)), (410, "proposal_expired"), "{v}");
    // An unknown proposal.
    let (s, v) = w.call("POST", "/record/rp_00/approve", None);
    assert_eq!((s, code(&v)), (404, "not_found"), "{v}");
}

#[test]
fn a_loosening_waits_its_change_delay_and_the_host_applies_it_when_due() {
    let (db, setup) = Setup::on_sqlite();
    let url = setup.url();
    let ann = key(OwnerKeyType::Secp256k1);
    let w = owned(
        &setup,
        &url,
        &[("ann", &ann)],
        1,
        json!({"allow": [], "change_delay_seconds": 3}),
    );
    let p = w.propose(json!({"policy": {"allow": ["message"], "change_delay_seconds": 3}}));
    let earliest = p["effective_at"]
        .as_u64()
        .expect("a loosening has an effective_at");
    assert!(earliest >= common::now_s() + 2, "{p}");

    let (s, v) = w.approve(&p, "ann", &ann);
    assert_eq!((s, v["state"].as_str()), (200, Some("waiting")), "{v}");
    let due = v["effective_at"].as_u64().unwrap();
    // Held by the signer: nothing changes before it is due.
    let (s, v) = w.call("POST", &format!("/record/{}/approve", pid(&p)), None);
    assert_eq!((s, code(&v)), (409, "change_not_yet_effective"), "{v}");
    assert_eq!(v["error"]["effective_at"].as_u64(), Some(due));
    let (s, v) = w.approve(&p, "ann", &ann);
    assert_eq!((s, code(&v)), (400, "bad_request"), "approved already: {v}");
    assert_eq!(record(&w.now()).version(), 1);

    // Due: the host applies it in the background, nobody asking.
    assert!(
        eventually(Duration::from_secs(20), || w.proposal(&p)["state"]
            == "applied"),
        "{}",
        w.proposal(&p)
    );
    assert!(common::now_s() >= due);
    assert_eq!(record(&w.now()).policy().allow().len(), 1);
    let (s, v) = w.signs_a_message();
    assert_eq!(s, 200, "{v}");
    let events = audit_actions(&db);
    let applied = events
        .iter()
        .find(|(a, _, _)| a == "wallet.record")
        .expect("the change is audited");
    assert_eq!(applied.1, "system:record_change");
    assert_eq!(applied.2["proposal_id"], p["proposal_id"]);
}

#[test]
fn a_waiting_loosening_is_gone_when_the_signer_restarts_and_the_owners_propose_again() {
    let (_db, mut setup) = Setup::on_sqlite();
    let url = setup.url();
    let ann = key(OwnerKeyType::P256);
    let w = owned(
        &setup,
        &url,
        &[("ann", &ann)],
        1,
        json!({"allow": [], "change_delay_seconds": 2}),
    );
    let p = w.propose(json!({"policy": {"allow": ["message"], "change_delay_seconds": 2}}));
    let id = w.id.clone();
    let (s, v) = w.approve(&p, "ann", &ann);
    assert_eq!((s, v["state"].as_str()), (200, Some("waiting")), "{v}");
    let pid = pid(&p).to_owned();
    drop(w);

    setup.restart_after(|| {});
    let url = setup.url();
    let w = Wallet {
        url: &url,
        token: &setup.token,
        id,
    };
    std::thread::sleep(Duration::from_secs(3));
    // The restarted signer does not hold the approval: not applied, and
    // asking says why.
    let (s, v) = w.call("POST", &format!("/record/{pid}/approve"), None);
    assert_eq!((s, code(&v)), (410, "proposal_expired"), "{v}");
    assert_eq!(record(&w.now()).version(), 1);
    let (s, v) = w.signs_a_message();
    assert_eq!((s, code(&v)), (403, "owner_approval_required"), "{v}");
}

#[test]
fn the_approval_switch_on_an_owned_wallet_is_a_record_change_its_owners_approve() {
    let (_db, setup) = Setup::on_sqlite();
    let url = setup.url();
    let ann = key(OwnerKeyType::Secp256k1);
    let w = owned(
        &setup,
        &url,
        &[("ann", &ann)],
        1,
        json!({"allow": ["message", "transaction"], "chain_ids": [1]}),
    );
    assert_eq!(w.now()["require_approval"], false);
    // On: `allow: []` proposed to the owner, the other rules kept.
    let (s, p) = w.call("PATCH", "", Some(json!({"require_approval": true})));
    assert_eq!(s, 202, "{p}");
    let proposed = Record::parse(p["record"].as_str().unwrap()).unwrap();
    assert!(proposed.policy().allow().is_empty());
    assert_eq!(proposed.policy().chain_ids(), Some(&[1u64][..]));
    let (s, v) = w.signs_a_message();
    assert_eq!(s, 200, "not before the owner approves: {v}");
    let (s, v) = w.approve(&p, "ann", &ann);
    assert_eq!((s, v["state"].as_str()), (200, Some("applied")), "{v}");
    assert_eq!(w.now()["require_approval"], true);
    let (s, v) = w.signs_a_message();
    assert_eq!((s, code(&v)), (403, "owner_approval_required"), "{v}");
    // Already on: nothing to do.
    let (s, v) = w.call("PATCH", "", Some(json!({"require_approval": true})));
    assert_eq!((s, &v["require_approval"]), (200, &json!(true)), "{v}");

    // Off: back to the kinds it had, approved by the owner.
    let (s, p) = w.call("PATCH", "", Some(json!({"require_approval": false})));
    assert_eq!(s, 202, "{p}");
    let restored = Record::parse(p["record"].as_str().unwrap()).unwrap();
    let kinds: Vec<&str> = restored
        .policy()
        .allow()
        .iter()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(kinds, ["message", "transaction"]);
    let (s, v) = w.approve(&p, "ann", &ann);
    assert_eq!((s, v["state"].as_str()), (200, Some("applied")), "{v}");
    assert_eq!(w.now()["require_approval"], false);
    let (s, v) = w.signs_a_message();
    assert_eq!(s, 200, "{v}");

    // A wallet whose owners never allowed anything alone: there is no
    // earlier `allow` to go back to; the refusal says what to do.
    let strict = owned(&setup, &url, &[("ann", &ann)], 1, json!({"allow": []}));
    assert_eq!(strict.now()["require_approval"], true);
    let (s, v) = strict.call("PATCH", "", Some(json!({"require_approval": false})));
    assert_eq!((s, code(&v)), (400, "bad_request"), "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("/record"),
        "{v}"
    );
}

#[test]
fn the_cli_proposes_a_change_and_each_owner_approves_it_with_their_key() {
    let (_db, setup) = Setup::on_sqlite();
    let url = setup.url();
    let dir = tempfile::tempdir().unwrap();
    let keygen = |name: &str, ty: &str| {
        let path = dir.path().join(name);
        let out = common::signet_cli()
            .args(["owner", "keygen", "--type", ty, "--out"])
            .arg(&path)
            .output()
            .unwrap();
        common::assert_ok(&out);
        path
    };
    let (ann, bob) = (keygen("ann.key", "secp256k1"), keygen("bob.key", "ed25519"));
    let cli = |args: &[&str]| {
        common::signet_cli()
            .args(["--url", &url, "--token", &setup.token])
            .args(args)
            .output()
            .unwrap()
    };
    let owner = |id: &str, path: &std::path::Path| format!("{id}={}.pub", path.display());
    let out = cli(&[
        "wallet",
        "create",
        "--key-type",
        "secp256k1",
        "--owner",
        &owner("ann", &ann),
        "--owner",
        &owner("bob", &bob),
        "--threshold",
        "2",
        "--allow",
        "none",
    ]);
    common::assert_ok(&out);
    let w: Value = serde_json::from_slice(&out.stdout).unwrap();
    let wid = id(&w).to_owned();

    let out = cli(&[
        "wallet",
        "change",
        &wid,
        "--policy",
        r#"{"allow":["message"]}"#,
    ]);
    common::assert_ok(&out);
    let p: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(p["state"], "pending", "{p}");
    let proposal = pid(&p).to_owned();
    // Without --wallet, a proposal id is a usage error.
    let out = cli(&[
        "approve",
        &proposal,
        "--owner",
        "ann",
        "--key",
        ann.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    for (who, path, state) in [("ann", &ann, "pending"), ("bob", &bob, "applied")] {
        let out = cli(&[
            "approve",
            &proposal,
            "--wallet",
            &wid,
            "--owner",
            who,
            "--key",
            path.to_str().unwrap(),
        ]);
        common::assert_ok(&out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("the proposed record"), "{stderr}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["state"], state, "{v}");
    }
    // Nothing to change: a usage error, before any request.
    let out = cli(&["wallet", "change", &wid]);
    assert_eq!(out.status.code(), Some(2));
}
