//! The attestation document inside the COSE payload (the NSM `AttestationDocument`).

use std::collections::BTreeMap;

use ciborium::value::Value;

use crate::cose::{self, CoseSign1};
use crate::error::VerifyError;

/// Longest certificate (leaf or CA bundle entry) the NSM format allows.
pub const MAX_CERT_LEN: usize = 1024;
/// Longest `public_key` the NSM format allows.
pub const MAX_PUBLIC_KEY_LEN: usize = 1024;
/// Longest `user_data` / `nonce` the NSM format allows.
pub const MAX_USER_DATA_LEN: usize = 512;
/// Most PCRs a document may carry (indices 0..32).
pub const MAX_PCRS: usize = 32;
/// Most certificates accepted in `cabundle` (real documents carry 4 or 5).
pub const MAX_CABUNDLE: usize = 16;

/// A decoded Nitro attestation document. Holding one says nothing about
/// whether it is genuine: only [`crate::Verifier::verify`] says that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationDoc {
    /// Issuing NSM's module id (`i-…-enc…` on AWS, `dev-…` for dev documents).
    pub module_id: String,
    /// Digest algorithm of the PCRs; always `SHA384`.
    pub digest: String,
    /// UTC time the NSM made the document, Unix milliseconds.
    pub timestamp_ms: u64,
    /// Platform configuration registers, index to value.
    pub pcrs: BTreeMap<u8, Vec<u8>>,
    /// DER leaf certificate whose key signed the document.
    pub certificate: Vec<u8>,
    /// DER CA bundle: `[root, intermediate…]`, the last one issued the leaf.
    pub cabundle: Vec<Vec<u8>>,
    /// Public key the enclave asked to bind, if any.
    pub public_key: Option<Vec<u8>>,
    /// Application data the enclave asked to bind, if any.
    pub user_data: Option<Vec<u8>>,
    /// Caller-supplied nonce, if any.
    pub nonce: Option<Vec<u8>>,
}

/// Field names, in the order the NSM writes them.
const FIELDS: [&str; 9] = [
    "module_id",
    "digest",
    "timestamp",
    "pcrs",
    "certificate",
    "cabundle",
    "public_key",
    "user_data",
    "nonce",
];

impl AttestationDoc {
    /// PCR0, PCR1 and PCR2 all present and all zero: the enclave was started in
    /// debug mode, so its memory is readable from the parent instance.
    #[must_use]
    pub fn is_debug_mode(&self) -> bool {
        [0u8, 1, 2]
            .iter()
            .all(|i| self.pcrs.get(i).is_some_and(|v| v.iter().all(|b| *b == 0)))
    }

    /// Decodes the payload bytes (as signed; never re-encoded), definite or
    /// indefinite map. CBOR null means absent for the optional fields.
    /// Refuses duplicate and unknown keys, wrong types and sizes outside the
    /// NSM limits.
    pub fn from_payload(payload: &[u8]) -> Result<Self, VerifyError> {
        let Value::Map(entries) = cose::decode_exact(payload)? else {
            return Err(VerifyError::Payload {
                field: "payload",
                problem: "is not a CBOR map",
            });
        };
        let mut slots: [Option<Value>; 9] = Default::default();
        for (key, value) in entries {
            let Value::Text(key) = key else {
                return Err(VerifyError::Payload {
                    field: "payload",
                    problem: "has a key that is not text",
                });
            };
            let Some(slot) = FIELDS.iter().position(|f| *f == key) else {
                return Err(VerifyError::UnknownField(truncate(&key)));
            };
            if slots[slot].is_some() {
                return Err(VerifyError::DuplicateKey(key));
            }
            slots[slot] = Some(value);
        }
        let [module_id, digest, timestamp, pcrs, certificate, cabundle, public_key, user_data, nonce] =
            slots;

        let module_id = text(module_id, "module_id")?;
        if module_id.is_empty() {
            return Err(VerifyError::Payload {
                field: "module_id",
                problem: "is empty",
            });
        }
        let digest = text(digest, "digest")?;
        if digest != "SHA384" {
            return Err(VerifyError::Payload {
                field: "digest",
                problem: "is not SHA384",
            });
        }
        let timestamp_ms = match timestamp {
            Some(Value::Integer(i)) => u64::try_from(i).ok().filter(|t| *t > 0),
            _ => None,
        }
        .ok_or(VerifyError::Payload {
            field: "timestamp",
            problem: "must be a positive integer",
        })?;

        Ok(Self {
            module_id,
            digest,
            timestamp_ms,
            pcrs: decode_pcrs(pcrs)?,
            certificate: bytes(certificate, "certificate", 1, MAX_CERT_LEN)?,
            cabundle: decode_cabundle(cabundle)?,
            public_key: optional_bytes(public_key, "public_key", 1, MAX_PUBLIC_KEY_LEN)?,
            user_data: optional_bytes(user_data, "user_data", 0, MAX_USER_DATA_LEN)?,
            nonce: optional_bytes(nonce, "nonce", 0, MAX_USER_DATA_LEN)?,
        })
    }

    /// Encodes the document as the NSM does: a definite map with all nine keys
    /// in NSM order, absent optional fields as null.
    #[must_use]
    pub fn to_payload(&self) -> Vec<u8> {
        let opt = |v: &Option<Vec<u8>>| v.clone().map_or(Value::Null, Value::Bytes);
        let map = Value::Map(vec![
            (text_key("module_id"), Value::Text(self.module_id.clone())),
            (text_key("digest"), Value::Text(self.digest.clone())),
            (text_key("timestamp"), cose::int(self.timestamp_ms)),
            (
                text_key("pcrs"),
                Value::Map(
                    self.pcrs
                        .iter()
                        .map(|(i, v)| (cose::int(u64::from(*i)), Value::Bytes(v.clone())))
                        .collect(),
                ),
            ),
            (
                text_key("certificate"),
                Value::Bytes(self.certificate.clone()),
            ),
            (
                text_key("cabundle"),
                Value::Array(self.cabundle.iter().cloned().map(Value::Bytes).collect()),
            ),
            (text_key("public_key"), opt(&self.public_key)),
            (text_key("user_data"), opt(&self.user_data)),
            (text_key("nonce"), opt(&self.nonce)),
        ]);
        let mut out = Vec::new();
        if ciborium::ser::into_writer(&map, &mut out).is_err() {
            out.clear();
        }
        out
    }
}

/// Decodes a COSE_Sign1 attestation document **without verifying anything**:
/// no signature, no certificate chain, no PCR policy. For display and
/// debugging only; never base a trust decision on what it returns.
pub fn inspect_unverified(bytes: &[u8]) -> Result<AttestationDoc, VerifyError> {
    let cose = CoseSign1::parse(bytes)?;
    AttestationDoc::from_payload(&cose.payload)
}

fn text_key(name: &str) -> Value {
    Value::Text(name.to_owned())
}

fn truncate(key: &str) -> String {
    key.chars().take(64).collect()
}

fn missing(field: &'static str) -> VerifyError {
    VerifyError::Payload {
        field,
        problem: "is missing",
    }
}

fn text(value: Option<Value>, field: &'static str) -> Result<String, VerifyError> {
    match value {
        Some(Value::Text(t)) => Ok(t),
        None => Err(missing(field)),
        Some(_) => Err(VerifyError::Payload {
            field,
            problem: "is not text",
        }),
    }
}

fn bytes(
    value: Option<Value>,
    field: &'static str,
    min: usize,
    max: usize,
) -> Result<Vec<u8>, VerifyError> {
    match value {
        Some(Value::Bytes(b)) if (min..=max).contains(&b.len()) => Ok(b),
        Some(Value::Bytes(_)) => Err(VerifyError::Payload {
            field,
            problem: "has a length outside the NSM limits",
        }),
        None | Some(Value::Null) => Err(missing(field)),
        Some(_) => Err(VerifyError::Payload {
            field,
            problem: "is not a byte string",
        }),
    }
}

fn optional_bytes(
    value: Option<Value>,
    field: &'static str,
    min: usize,
    max: usize,
) -> Result<Option<Vec<u8>>, VerifyError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        other => bytes(other, field, min, max).map(Some),
    }
}

fn decode_pcrs(value: Option<Value>) -> Result<BTreeMap<u8, Vec<u8>>, VerifyError> {
    const FIELD: &str = "pcrs";
    let entries = match value {
        Some(Value::Map(entries)) => entries,
        None => return Err(missing(FIELD)),
        Some(_) => {
            return Err(VerifyError::Payload {
                field: FIELD,
                problem: "is not a map",
            })
        }
    };
    if entries.is_empty() || entries.len() > MAX_PCRS {
        return Err(VerifyError::Payload {
            field: FIELD,
            problem: "must hold 1 to 32 registers",
        });
    }
    let mut pcrs = BTreeMap::new();
    for (index, value) in entries {
        let index = match index {
            Value::Integer(i) => u8::try_from(i).ok().filter(|i| usize::from(*i) < MAX_PCRS),
            _ => None,
        }
        .ok_or(VerifyError::Payload {
            field: FIELD,
            problem: "has an index that is not an integer in 0..32",
        })?;
        let Value::Bytes(value) = value else {
            return Err(VerifyError::Payload {
                field: FIELD,
                problem: "has a value that is not a byte string",
            });
        };
        if ![32, 48, 64].contains(&value.len()) {
            return Err(VerifyError::Payload {
                field: FIELD,
                problem: "has a value that is not 32, 48 or 64 bytes",
            });
        }
        if pcrs.insert(index, value).is_some() {
            return Err(VerifyError::DuplicateKey(format!("pcrs[{index}]")));
        }
    }
    Ok(pcrs)
}

fn decode_cabundle(value: Option<Value>) -> Result<Vec<Vec<u8>>, VerifyError> {
    const FIELD: &str = "cabundle";
    let items = match value {
        Some(Value::Array(items)) => items,
        None => return Err(missing(FIELD)),
        Some(_) => {
            return Err(VerifyError::Payload {
                field: FIELD,
                problem: "is not an array",
            })
        }
    };
    if items.is_empty() || items.len() > MAX_CABUNDLE {
        return Err(VerifyError::Payload {
            field: FIELD,
            problem: "must hold 1 to 16 certificates",
        });
    }
    items
        .into_iter()
        .map(|item| bytes(Some(item), FIELD, 1, MAX_CERT_LEN))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AttestationDoc {
        AttestationDoc {
            module_id: "dev-test".into(),
            digest: "SHA384".into(),
            timestamp_ms: 1_700_000_000_000,
            pcrs: (0u8..3).map(|i| (i, vec![i; 48])).collect(),
            certificate: vec![1; 10],
            cabundle: vec![vec![2; 10], vec![3; 10]],
            public_key: Some(vec![4; 33]),
            user_data: None,
            nonce: Some(vec![]),
        }
    }

    fn with_map(f: impl FnOnce(&mut Vec<(Value, Value)>)) -> Result<AttestationDoc, VerifyError> {
        let Ok(Value::Map(mut entries)) = cose::decode_exact(&sample().to_payload()) else {
            panic!("sample encodes to a map");
        };
        f(&mut entries);
        let mut out = Vec::new();
        ciborium::ser::into_writer(&Value::Map(entries), &mut out).unwrap();
        AttestationDoc::from_payload(&out)
    }

    #[test]
    fn round_trips() {
        let doc = sample();
        assert_eq!(
            AttestationDoc::from_payload(&doc.to_payload()).unwrap(),
            doc
        );
    }

    #[test]
    fn refuses_duplicate_key() {
        let err = with_map(|m| m.push((text_key("nonce"), Value::Null))).unwrap_err();
        assert_eq!(err, VerifyError::DuplicateKey("nonce".into()));
    }

    #[test]
    fn refuses_unknown_key() {
        let err = with_map(|m| m.push((text_key("extra"), Value::Null))).unwrap_err();
        assert_eq!(err, VerifyError::UnknownField("extra".into()));
    }

    #[test]
    fn refuses_missing_required_field() {
        let err = with_map(|m| m.retain(|(k, _)| k != &text_key("certificate"))).unwrap_err();
        assert_eq!(err, missing("certificate"));
        let err = with_map(|m| m.retain(|(k, _)| k != &text_key("timestamp"))).unwrap_err();
        assert!(matches!(
            err,
            VerifyError::Payload {
                field: "timestamp",
                ..
            }
        ));
    }

    #[test]
    fn refuses_wrong_types_and_sizes() {
        let set = |name: &'static str, v: Value| {
            with_map(move |m| {
                for (k, val) in m.iter_mut() {
                    if k == &text_key(name) {
                        *val = v.clone();
                    }
                }
            })
        };
        let field_of = |r: Result<AttestationDoc, VerifyError>| match r {
            Err(VerifyError::Payload { field, .. }) => field,
            other => panic!("expected a payload error, got {other:?}"),
        };
        assert_eq!(
            field_of(set("module_id", Value::Text(String::new()))),
            "module_id"
        );
        assert_eq!(
            field_of(set("digest", Value::Text("SHA256".into()))),
            "digest"
        );
        assert_eq!(field_of(set("timestamp", cose::int(0))), "timestamp");
        assert_eq!(
            field_of(set("timestamp", Value::Text("1".into()))),
            "timestamp"
        );
        assert_eq!(
            field_of(set("certificate", Value::Bytes(vec![0; 1025]))),
            "certificate"
        );
        assert_eq!(
            field_of(set("certificate", Value::Bytes(vec![]))),
            "certificate"
        );
        assert_eq!(
            field_of(set("public_key", Value::Bytes(vec![]))),
            "public_key"
        );
        assert_eq!(
            field_of(set("user_data", Value::Bytes(vec![0; 513]))),
            "user_data"
        );
        assert_eq!(field_of(set("nonce", Value::Text("n".into()))), "nonce");
        assert_eq!(field_of(set("cabundle", Value::Array(vec![]))), "cabundle");
        assert_eq!(
            field_of(set("cabundle", Value::Array(vec![Value::Bytes(vec![])]))),
            "cabundle"
        );
        assert_eq!(field_of(set("pcrs", Value::Map(vec![]))), "pcrs");
        assert_eq!(
            field_of(set(
                "pcrs",
                Value::Map(vec![(cose::int(32), Value::Bytes(vec![0; 48]))])
            )),
            "pcrs"
        );
        assert_eq!(
            field_of(set(
                "pcrs",
                Value::Map(vec![(cose::int(1), Value::Bytes(vec![0; 47]))])
            )),
            "pcrs"
        );
    }

    #[test]
    fn refuses_duplicate_pcr_index() {
        let pcrs = Value::Map(vec![
            (cose::int(1), Value::Bytes(vec![0; 48])),
            (cose::int(1), Value::Bytes(vec![1; 48])),
        ]);
        let err = with_map(|m| {
            for (k, v) in m.iter_mut() {
                if k == &text_key("pcrs") {
                    *v = pcrs.clone();
                }
            }
        })
        .unwrap_err();
        assert_eq!(err, VerifyError::DuplicateKey("pcrs[1]".into()));
    }

    #[test]
    fn debug_mode_needs_all_three_zero() {
        let mut doc = sample();
        assert!(!doc.is_debug_mode());
        for i in 0..3 {
            doc.pcrs.insert(i, vec![0; 48]);
        }
        assert!(doc.is_debug_mode());
        doc.pcrs.insert(2, vec![1; 48]);
        assert!(!doc.is_debug_mode());
    }
}
