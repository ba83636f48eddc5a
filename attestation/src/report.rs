//! The machine-readable verdict on a document, one shape for every verifier
//! Signet ships: `signet attest verify --json` and the console's in-browser
//! verifier (this crate compiled to WebAssembly) print the same object.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::{AttestationDoc, VerifiedDocument, VerifyError};

fn hex_opt(v: Option<&Vec<u8>>) -> Value {
    v.map_or(Value::Null, |b| Value::String(hex::encode(b)))
}

fn pcrs_json(doc: &AttestationDoc) -> BTreeMap<String, String> {
    doc.pcrs
        .iter()
        .map(|(i, v)| (i.to_string(), hex::encode(v)))
        .collect()
}

/// `{valid, module_id, timestamp_ms, pcrs, public_key, user_data, nonce,
/// debug_mode, root_sha256, checked_at_ms, error?, error_code?}`. Nothing of
/// an invalid document is echoed (a consumer that forgets to read `valid`
/// finds no fields to trust); `now_ms` is its `checked_at_ms`.
#[must_use]
pub fn verification_json(
    result: &Result<VerifiedDocument, VerifyError>,
    root_sha256: &str,
    now_ms: u64,
) -> Value {
    match result {
        Ok(v) => json!({
            "valid": true,
            "module_id": v.doc.module_id,
            "timestamp_ms": v.doc.timestamp_ms,
            "pcrs": pcrs_json(&v.doc),
            "public_key": hex_opt(v.doc.public_key.as_ref()),
            "user_data": hex_opt(v.doc.user_data.as_ref()),
            "nonce": hex_opt(v.doc.nonce.as_ref()),
            "debug_mode": v.debug_mode,
            "root_sha256": root_sha256,
            "checked_at_ms": v.checked_at_ms,
        }),
        Err(e) => json!({
            "valid": false,
            "module_id": null,
            "timestamp_ms": null,
            "pcrs": null,
            "public_key": null,
            "user_data": null,
            "nonce": null,
            "debug_mode": null,
            "root_sha256": root_sha256,
            "checked_at_ms": now_ms,
            "error": e.to_string(),
            "error_code": e.code(),
        }),
    }
}

/// The checks [`crate::Verifier::verify`] makes, in its order.
pub const CHECKS: [&str; 8] = [
    "decode",
    "signature",
    "certificate chain",
    "validity",
    "debug mode",
    "PCRs",
    "nonce",
    "age",
];

/// Which of [`CHECKS`] refused with `code`.
#[must_use]
pub fn failed_check(code: &str) -> usize {
    match code {
        "bad_signature" => 1,
        "certificate" | "issuer_mismatch" | "chain_signature" | "chain_constraint" => 2,
        "certificate_not_valid_at" => 3,
        "debug_mode" => 4,
        "pcr_mismatch" | "no_pcr_set_matches" | "policy" => 5,
        "nonce_mismatch" => 6,
        "too_old" | "from_the_future" => 7,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_to_its_check() {
        assert_eq!(CHECKS[failed_check("malformed_cbor")], "decode");
        assert_eq!(CHECKS[failed_check("bad_signature")], "signature");
        assert_eq!(CHECKS[failed_check("chain_signature")], "certificate chain");
        assert_eq!(CHECKS[failed_check("certificate_not_valid_at")], "validity");
        assert_eq!(CHECKS[failed_check("pcr_mismatch")], "PCRs");
        assert_eq!(CHECKS[failed_check("nonce_mismatch")], "nonce");
        assert_eq!(CHECKS[failed_check("too_old")], "age");
    }
}
