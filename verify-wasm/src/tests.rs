//! The browser verifier, run natively: the real AWS vectors, a dev document
//! bound to a wallet key, every refusal, and the audit chain.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use serde_json::{json, Value};
use signet_attestation::dev::{DevDocument, DevIssuer};

use super::*;

fn vectors() -> (Value, std::path::PathBuf) {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../attestation/testdata/vectors");
    let text = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    (serde_json::from_str(&text).unwrap(), dir)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn run(doc: &str, options: &Value) -> Value {
    serde_json::from_str(&verify_document(doc, &options.to_string())).unwrap()
}

fn check<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()
}

#[test]
fn the_real_vectors_verify_at_their_times_with_their_pcrs_and_fail_otherwise() {
    let (manifest, dir) = vectors();
    let docs = manifest["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 12);
    for d in docs {
        let bytes = std::fs::read(dir.join(d["file"].as_str().unwrap())).unwrap();
        let debug = d["debug_mode"].as_bool().unwrap();
        let pcrs = d["pcrs"].clone();
        for at in d["expect"]["valid_at_ms"].as_array().unwrap() {
            let v = run(
                &b64(&bytes),
                &json!({"pcrs": pcrs, "at": at, "allow_debug": debug}),
            );
            assert_eq!(v["valid"], true, "{}: {v}", d["file"]);
            assert_eq!(v["module_id"], d["module_id"]);
            assert_eq!(v["timestamp_ms"], d["timestamp_ms"]);
            assert!(v["checks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["ok"] == true));
            // Hex in, same verdict.
            let h = run(
                &hex::encode(&bytes),
                &json!({"pcrs": pcrs, "at": at, "allow_debug": debug}),
            );
            assert_eq!(h, v);
        }
        for at in d["expect"]["invalid_at_ms"].as_array().unwrap() {
            let v = run(
                &b64(&bytes),
                &json!({"pcrs": pcrs, "at": at, "allow_debug": debug}),
            );
            assert_eq!(v["error_code"], "certificate_not_valid_at", "{}", d["file"]);
            assert_eq!(check(&v, "validity")["ok"], false);
            assert_eq!(check(&v, "signature")["ok"], true);
            assert!(check(&v, "PCRs")["ok"].is_null(), "not run after a failure");
            assert!(
                v["pcrs"].is_null(),
                "nothing of an invalid document is echoed"
            );
        }
        // One PCR digit changed: refused for that reason.
        let at = d["expect"]["valid_at_ms"][0].clone();
        let mut wrong = pcrs.clone();
        let p0 = wrong["0"].as_str().unwrap().to_owned();
        let flipped = if p0.starts_with('0') { "1" } else { "0" };
        wrong["0"] = json!(format!("{flipped}{}", &p0[1..]));
        let v = run(
            &b64(&bytes),
            &json!({"pcrs": wrong, "at": at, "allow_debug": true}),
        );
        assert_eq!(v["valid"], false);
        assert_eq!(v["error_code"], "pcr_mismatch", "{}", d["file"]);
        assert_eq!(check(&v, "PCRs")["ok"], false);
        // A debug document without allow_debug.
        if debug {
            let v = run(&b64(&bytes), &json!({"pcrs": pcrs, "at": at}));
            assert_eq!(v["error_code"], "debug_mode");
        }
        // Another root: the chain does not lead there.
        let other = DevIssuer::ephemeral().unwrap().root_pem().unwrap();
        let v = run(
            &b64(&bytes),
            &json!({"pcrs": pcrs, "at": at, "allow_debug": true, "root_pem": other}),
        );
        assert_eq!(v["valid"], false, "{}", d["file"]);
        assert_eq!(check(&v, "certificate chain")["ok"], false, "{v}");
    }
}

#[test]
fn a_dev_document_binds_the_wallet_key_and_nothing_else() {
    let issuer = DevIssuer::ephemeral().unwrap();
    let pk = vec![4u8; 65];
    let pcrs: BTreeMap<u8, Vec<u8>> = (0u8..3).map(|i| (i, vec![i + 7; 48])).collect();
    let doc = issuer
        .issue(&DevDocument {
            module_id: "dev-test".into(),
            pcrs: pcrs.clone(),
            public_key: Some(pk.clone()),
            user_data: Some(signet_attestation::key_binding("w_1", "secp256k1", &pk).to_vec()),
            nonce: Some(vec![0xab, 0xcd]),
        })
        .unwrap();
    let pcr_hex: BTreeMap<String, String> = pcrs
        .iter()
        .map(|(i, v)| (i.to_string(), hex::encode(v)))
        .collect();
    let now = signet_attestation::now_ms() as f64;
    let root = issuer.root_pem().unwrap();
    let wallet = json!({"id": "w_1", "key_type": "secp256k1", "public_key": hex::encode(&pk)});
    let base = json!({"root_pem": root, "pcrs": pcr_hex, "now_ms": now, "nonce": "abcd", "max_age_seconds": 300, "wallet": wallet});
    let v = run(&b64(&doc), &base);
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["binding"]["ok"], true);
    assert_eq!(check(&v, "key binding")["ok"], true);
    assert_eq!(check(&v, "nonce")["ok"], true);
    // The published policy form gives the same verdict.
    let policy = json!({"root_pem": root, "pcr_sets": [pcr_hex], "allow_debug": false, "max_age_seconds": 300});
    let mut p = base.clone();
    p.as_object_mut().unwrap().remove("pcrs");
    p["policy"] = policy;
    assert_eq!(run(&b64(&doc), &p)["valid"], true);
    // Another wallet id or key: valid document, binding refused.
    let mut other = base.clone();
    other["wallet"]["id"] = json!("w_2");
    let v = run(&b64(&doc), &other);
    assert_eq!(
        (v["valid"].clone(), v["binding"]["ok"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(check(&v, "key binding")["ok"], false);
    // Another nonce; the AWS root; too old; no PCRs checked.
    let mut n = base.clone();
    n["nonce"] = json!("abce");
    assert_eq!(run(&b64(&doc), &n)["error_code"], "nonce_mismatch");
    let mut aws = base.clone();
    aws["root_pem"] = Value::Null;
    assert_eq!(run(&b64(&doc), &aws)["valid"], false);
    let mut old = base.clone();
    old["now_ms"] = json!(now + 3_600_000.0);
    old["at"] = json!("now");
    let v = run(&b64(&doc), &old);
    assert_eq!(v["valid"], false);
    let mut any = base.clone();
    any.as_object_mut().unwrap().remove("pcrs");
    any["any_pcrs"] = json!(true);
    let v = run(&b64(&doc), &any);
    assert_eq!(v["valid"], true);
    assert!(
        check(&v, "PCRs")["ok"].is_null(),
        "skipped PCRs are not a pass"
    );
}

#[test]
fn bad_options_and_documents_are_usage_errors_or_invalid() {
    let usage = |doc: &str, o: &str| -> String {
        let v: Value = serde_json::from_str(&verify_document(doc, o)).unwrap();
        assert_eq!(v["valid"], false);
        v["usage_error"].as_str().unwrap_or_default().to_owned()
    };
    assert!(usage("AAAA", "{").contains("options"));
    assert!(usage("AAAA", r#"{"surprise":1}"#).contains("options"));
    assert!(usage("AAAA", r#"{"now_ms":1}"#).contains("PCRs are required"));
    assert!(usage("AAAA", r#"{"pcrs":{"x":"00"},"now_ms":1}"#).contains("not a PCR index"));
    assert!(usage("AAAA", r#"{"pcrs":{"0":"zz"},"now_ms":1}"#).contains("PCR"));
    assert!(usage("AAAA", r#"{"root_pem":"nope","any_pcrs":true,"now_ms":1}"#).contains("root"));
    assert!(usage("AAAA", r#"{"any_pcrs":true}"#).contains("now_ms"));
    assert!(usage("AAAA", r#"{"any_pcrs":true,"pcrs":{"0":"00"},"now_ms":1}"#).contains("one of"));
    assert!(usage("AAAA", r#"{"any_pcrs":true,"at":"yesterday","now_ms":1}"#).contains("at"));
    assert!(usage("!!", r#"{"any_pcrs":true,"now_ms":1}"#).contains("neither"));
    // Decodable garbage is an invalid document, not a crash.
    let v: Value = serde_json::from_str(&verify_document(
        "AAAAAAAA",
        r#"{"any_pcrs":true,"now_ms":1}"#,
    ))
    .unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(check(&v, "decode")["ok"], false);
}

fn event(seq: u64, prev: &str, action: &str) -> audit::AuditEvent {
    let mut e = audit::AuditEvent {
        seq,
        at: "2026-11-23T00:00:00.000Z".into(),
        actor: "user:u_1".into(),
        action: action.into(),
        target: "w_1".into(),
        outcome: "ok".into(),
        detail: None,
        prev_hash: prev.into(),
        hash: String::new(),
    };
    e.hash = audit::chain_hash(prev, &e.body());
    e
}

fn chain(n: u64) -> Vec<audit::AuditEvent> {
    let mut out: Vec<audit::AuditEvent> = Vec::new();
    for seq in 1..=n {
        let prev = out
            .last()
            .map_or(audit::GENESIS_HASH.to_owned(), |e| e.hash.clone());
        out.push(event(seq, &prev, "sign"));
    }
    out
}

fn audit_run(events: &[audit::AuditEvent], mode: &str) -> Value {
    serde_json::from_str(&verify_audit(&serde_json::to_string(events).unwrap(), mode)).unwrap()
}

#[test]
fn the_audit_chain_is_checked_and_a_break_is_located() {
    let events = chain(6);
    let v = audit_run(&events, "full");
    assert_eq!(
        v,
        json!({"ok": true, "checked": 6, "gaps": 0, "breaks": []})
    );
    // An altered row (its outcome rewritten) breaks at that row only.
    let mut tampered = events.clone();
    tampered[3].outcome = "denied:x".into();
    let v = audit_run(&tampered, "full");
    assert_eq!(v["ok"], false);
    assert_eq!(v["breaks"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["breaks"][0]["seq"], 4);
    // A removed row: the next one's link is broken.
    let mut removed = events.clone();
    removed.remove(2);
    let v = audit_run(&removed, "full");
    assert_eq!(v["breaks"][0]["seq"], 4);
    // A view (another tenant's events left out) has gaps, not breaks...
    let view: Vec<_> = events
        .iter()
        .filter(|e| e.seq != 3 && e.seq != 5)
        .cloned()
        .collect();
    let v = audit_run(&view, "view");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["gaps"], 2);
    // ...but an altered row in a view is still found.
    let mut view_t = view.clone();
    view_t[2].target = "w_other".into();
    assert_eq!(audit_run(&view_t, "view")["breaks"][0]["seq"], 4);
    // The full mode refuses what a view allows.
    assert_eq!(audit_run(&view, "full")["ok"], false);
    // Bad input.
    let bad: Value = serde_json::from_str(&verify_audit("[{}]", "full")).unwrap();
    assert!(bad["usage_error"].is_string());
    let bad: Value = serde_json::from_str(&verify_audit("[]", "sideways")).unwrap();
    assert!(bad["usage_error"].is_string());
}
