//! The console's verifier: [`signet_attestation`] and the audit log's hash
//! chain (the very source file `signet-proto` compiles, not a copy),
//! compiled to WebAssembly, so a browser gives the same verdicts as
//! `signet attest verify` and `signet audit verify`.
//!
//! JSON in, JSON out (two functions, see [`verify_document`] and
//! [`verify_audit`]); the same functions run natively in this crate's tests.
//! WebAssembly has no clock here: "now" is the caller's `now_ms`.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use signet_attestation::report::{failed_check, verification_json, CHECKS};
use signet_attestation::{PcrPolicy, PcrSet, PolicyFile, TrustAnchor, Verifier, VerifyAt};
use wasm_bindgen::prelude::wasm_bindgen;

/// The audit chain, compiled from `signet-proto`'s own source.
#[path = "../../proto/src/audit.rs"]
#[allow(dead_code, clippy::all, clippy::pedantic)]
mod audit;

/// `verify_document`'s options (unknown fields refused).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Options {
    /// A PEM root; absent or null: the pinned AWS Nitro Enclaves Root-G1.
    #[serde(default)]
    root_pem: Option<String>,
    /// Expected PCRs, index → hex.
    #[serde(default)]
    pcrs: Option<BTreeMap<String, String>>,
    /// A policy file's object (as `signet-eif` writes it).
    #[serde(default)]
    policy: Option<Value>,
    #[serde(default)]
    any_pcrs: bool,
    #[serde(default)]
    allow_debug: bool,
    /// `now`, `doc` or Unix ms.
    #[serde(default)]
    at: Option<Value>,
    /// The caller's clock, Unix ms (required for `at: now`).
    #[serde(default)]
    now_ms: Option<f64>,
    /// Hex.
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    max_age_seconds: Option<u64>,
    /// `{id, key_type, public_key}`: check the key binding.
    #[serde(default)]
    wallet: Option<Wallet>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wallet {
    id: String,
    key_type: String,
    public_key: String,
    /// The wallet's record text (null for a wallet from before records):
    /// the document must bind it (key binding v2).
    #[serde(default)]
    record: Option<String>,
    // Anything else a wallet view carries is ignored by the console before
    // it gets here; unknown fields are refused like everywhere else.
}

/// The wallet's key binding: v2 over its record when it has one, v1 for a
/// wallet from before records.
fn wallet_binding(
    v: &signet_attestation::VerifiedDocument,
    w: &Wallet,
    public_key: &[u8],
) -> Result<(), signet_attestation::VerifyError> {
    match &w.record {
        Some(record) => {
            let hash: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(record.as_bytes()).into();
            // A document from before records (v1) stands only for the
            // record every such wallet has (no owners, permissive, v1).
            let legacy = serde_json::from_str::<serde_json::Value>(record).is_ok_and(|r| {
                r["version"] == 1
                    && r["prev"].is_null()
                    && r["threshold"] == 0
                    && r["owners"].as_array().is_some_and(Vec::is_empty)
                    && r["policy"]
                        == serde_json::json!({"allow": ["digest", "message", "transaction", "typed_data"]})
            });
            v.check_record_binding(&w.id, &w.key_type, public_key, &hash, legacy)
        }
        None => v.check_key_binding(&w.id, &w.key_type, public_key),
    }
}

fn usage(message: impl Into<String>) -> Value {
    json!({"valid": false, "usage_error": message.into()})
}

/// The verifier `options` describe, as `signet attest verify`'s flags would.
fn build(o: &Options) -> Result<(Verifier, u64, bool), String> {
    let anchor = match o.root_pem.as_deref().map(str::trim) {
        None | Some("" | "aws") => TrustAnchor::aws_nitro_root_g1(),
        Some(pem) => TrustAnchor::from_pem(pem).map_err(|e| format!("root: {e}"))?,
    };
    let now_ms = o
        .now_ms
        .filter(|t| t.is_finite() && *t >= 0.0)
        .map(|t| t as u64);
    let mut allow_debug = o.allow_debug;
    let mut max_age = o.max_age_seconds;
    let given = [o.pcrs.is_some(), o.policy.is_some(), o.any_pcrs];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err("give one of `pcrs`, `policy` or `any_pcrs`".into());
    }
    let pcrs = if o.any_pcrs {
        PcrPolicy::accept_any_measurement_insecure()
    } else if let Some(policy) = &o.policy {
        // The published policy may carry its root; the root is chosen apart.
        let mut policy = policy.clone();
        if let Some(obj) = policy.as_object_mut() {
            obj.remove("root_pem");
        }
        let file = PolicyFile::from_json(&policy.to_string()).map_err(|e| e.to_string())?;
        allow_debug |= file.allow_debug;
        max_age = max_age.or(file.max_age_seconds);
        file.pcr_policy().map_err(|e| e.to_string())?
    } else {
        let given: Vec<(u8, &str)> = o
            .pcrs
            .iter()
            .flatten()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(i, v)| {
                i.parse::<u8>()
                    .map(|i| (i, v.trim()))
                    .map_err(|_| format!("`{i}` is not a PCR index"))
            })
            .collect::<Result<_, _>>()?;
        if given.is_empty() {
            return Err("expected PCRs are required: give PCR values, the deployment's policy, or choose not to check them (which proves nothing about which image runs)".into());
        }
        PcrPolicy::exactly(PcrSet::from_hex(given).map_err(|e| e.to_string())?)
    };
    let checks_pcrs = !o.any_pcrs;
    let at = match o.at.as_ref() {
        None => "now".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => return Err(format!("`at` must be now, doc or Unix ms, not {other}")),
    };
    let at = match at.as_str() {
        "now" => VerifyAt::UnixMs(now_ms.ok_or("`now_ms` is required to verify at `now`")?),
        "doc" => VerifyAt::DocumentTimestamp,
        ms => VerifyAt::UnixMs(
            ms.parse()
                .map_err(|_| format!("`at` must be now, doc or Unix ms, not `{ms}`"))?,
        ),
    };
    let mut verifier = Verifier::new(anchor, pcrs).allow_debug(allow_debug).at(at);
    if let Some(secs) = max_age {
        verifier = verifier.max_age(Duration::from_secs(secs));
    }
    if let Some(n) = &o.nonce {
        let n = n.trim();
        if !n.is_empty() {
            let nonce =
                hex::decode(n.trim_start_matches("0x")).map_err(|_| "`nonce` must be hex")?;
            verifier = verifier.expect_nonce(nonce);
        }
    }
    Ok((verifier, now_ms.unwrap_or(0), checks_pcrs))
}

/// A document as base64 (standard or URL-safe, padded or not) or hex.
fn decode_document(text: &str) -> Option<Vec<u8>> {
    let t: String = text.split_whitespace().collect();
    let t = t.trim_start_matches("0x");
    if !t.is_empty() && t.len() % 2 == 0 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(t).ok();
    }
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(t).ok())
        .filter(|b| !b.is_empty())
}

/// Verifies an attestation document (base64 or hex) with `options_json`:
/// `{root_pem, pcrs | policy | any_pcrs, allow_debug, at: now|doc|ms, now_ms,
/// nonce, max_age_seconds, wallet: {id, key_type, public_key}}`. Returns the
/// JSON of `signet attest verify --json`, plus `checks: [{name, ok, detail}]`
/// (ok null: not run) and, with a wallet, `binding: {ok, error}`; bad options
/// give `{valid: false, usage_error}`.
#[wasm_bindgen]
#[must_use]
pub fn verify_document(document: &str, options_json: &str) -> String {
    verify_value(document, options_json).to_string()
}

fn verify_value(document: &str, options_json: &str) -> Value {
    let options: Options = match serde_json::from_str(options_json) {
        Ok(o) => o,
        Err(e) => return usage(format!("options: {e}")),
    };
    let (verifier, now_ms, checks_pcrs) = match build(&options) {
        Ok(v) => v,
        Err(e) => return usage(e),
    };
    let Some(bytes) = decode_document(document) else {
        return usage("the document is neither base64 nor hex");
    };
    let result = verifier.verify(&bytes);
    let root = hex::encode(verifier.anchor().sha256());
    let mut out = verification_json(&result, &root, now_ms);
    let failed = result.as_ref().err().map(|e| failed_check(e.code()));
    let mut checks: Vec<Value> = CHECKS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let ok = match failed {
                None => Some(true),
                Some(f) if i < f => Some(true),
                Some(f) if i == f => Some(false),
                Some(_) => None,
            };
            let detail = match (*name, ok) {
                (_, Some(false)) => result.as_ref().err().map(ToString::to_string),
                ("root", _) | ("certificate chain", Some(true)) => {
                    Some(if verifier.anchor().is_aws_nitro_root_g1() {
                        "to the AWS Nitro Enclaves Root-G1".to_owned()
                    } else {
                        format!("to the given root sha256:{root}")
                    })
                }
                ("PCRs", Some(true)) if !checks_pcrs => {
                    Some("NOT CHECKED: proves nothing about which image runs".to_owned())
                }
                (_, None) => Some("not checked (an earlier check failed)".to_owned()),
                _ => None,
            };
            let ok = if *name == "PCRs" && !checks_pcrs && ok == Some(true) {
                None
            } else {
                ok
            };
            json!({"name": name, "ok": ok, "detail": detail})
        })
        .collect();
    if let Some(w) = &options.wallet {
        let binding = match (&result, hex::decode(w.public_key.trim_start_matches("0x"))) {
            (Ok(v), Ok(pk)) => match wallet_binding(v, w, &pk) {
                Ok(()) => json!({"ok": true, "error": null}),
                Err(e) => json!({"ok": false, "error": e.to_string()}),
            },
            (Ok(_), Err(_)) => json!({"ok": false, "error": "the wallet's public key is not hex"}),
            (Err(_), _) => json!({"ok": false, "error": "the document is not valid"}),
        };
        checks.push(json!({
            "name": "key binding",
            "ok": result.as_ref().ok().map(|_| binding["ok"].as_bool() == Some(true)),
            "detail": binding["error"].as_str().map_or_else(
                || format!("the document binds wallet {}'s {} key", w.id, w.key_type),
                str::to_owned,
            ),
        }));
        out["binding"] = binding;
    }
    out["checks"] = Value::Array(checks);
    out
}

/// Re-checks audit events (the concatenated `events` of `GET /v1/audit`
/// pages, in order): `mode` `full` (the whole log: every link) or `view` (a
/// tenant's or user's events: links where two events are consecutive, gaps
/// counted). Returns `{ok, checked, gaps, breaks: [{seq, error}]}`; checking
/// goes on after a break, resuming from the broken event.
#[wasm_bindgen]
#[must_use]
pub fn verify_audit(events_json: &str, mode: &str) -> String {
    audit_value(events_json, mode).to_string()
}

fn audit_value(events_json: &str, mode: &str) -> Value {
    let events: Vec<audit::AuditEvent> = match serde_json::from_str(events_json) {
        Ok(e) => e,
        Err(e) => return json!({"ok": false, "usage_error": format!("events: {e}")}),
    };
    let view = match mode {
        "view" => true,
        "full" => false,
        other => {
            return json!({"ok": false, "usage_error": format!("mode is `view` or `full`, not `{other}`")})
        }
    };
    let mut breaks = Vec::new();
    let mut gaps = 0;
    let mut chain = match events.first() {
        Some(first) if view => {
            audit::ChainVerifier::resume(first.seq.saturating_sub(1), &first.prev_hash)
        }
        _ => audit::ChainVerifier::default(),
    };
    for event in &events {
        let pushed = if view {
            chain.push_view(event)
        } else {
            chain.push(event)
        };
        if let Err(e) = pushed {
            breaks.push(json!({"seq": event.seq, "error": e.to_string()}));
            gaps += chain.gaps();
            chain = audit::ChainVerifier::resume(event.seq, &event.hash);
        }
    }
    json!({
        "ok": breaks.is_empty(),
        "checked": events.len(),
        "gaps": gaps + chain.gaps(),
        "breaks": breaks,
    })
}

#[cfg(test)]
mod tests;
