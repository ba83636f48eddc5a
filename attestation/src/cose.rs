//! COSE_Sign1 (RFC 9052) as produced by the Nitro Secure Module: the outer
//! envelope, its ES384 protected header, and the `Sig_structure` that is signed.

use ciborium::value::{Integer, Value};

use crate::error::VerifyError;

/// The largest document accepted, checked before any decoding. Real documents
/// are 4-6 KiB; the NSM limits (certificates <= 1024 bytes, public key <= 1024,
/// user data and nonce <= 512, at most 32 PCRs) keep them far below this.
pub const MAX_DOCUMENT_LEN: usize = 16 * 1024;

/// CBOR tag for COSE_Sign1.
const COSE_SIGN1_TAG: u64 = 18;
/// COSE header label `alg`.
const HEADER_ALG: i128 = 1;
/// COSE algorithm ES384 (ECDSA with SHA-384).
const ALG_ES384: i128 = -35;
/// Length of a raw `r || s` P-384 signature.
pub(crate) const ES384_SIGNATURE_LEN: usize = 96;

/// The three byte strings of a COSE_Sign1 that matter, exactly as received.
#[derive(Debug, Clone)]
pub(crate) struct CoseSign1 {
    /// Serialized protected header (the bytes inside the bstr).
    pub protected: Vec<u8>,
    /// The payload: the CBOR attestation document, as signed.
    pub payload: Vec<u8>,
    /// Raw `r || s` ES384 signature.
    pub signature: Vec<u8>,
}

impl CoseSign1 {
    /// Parses a COSE_Sign1, untagged or with tag 18. Refuses other tags, any
    /// shape but a four-element array, a protected header other than
    /// `{1: -35}`, a detached payload, and trailing bytes.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, VerifyError> {
        if bytes.len() > MAX_DOCUMENT_LEN {
            return Err(VerifyError::TooLarge {
                len: bytes.len(),
                max: MAX_DOCUMENT_LEN,
            });
        }
        let value = decode_exact(bytes)?;
        let array = match value {
            Value::Tag(COSE_SIGN1_TAG, inner) => *inner,
            Value::Tag(tag, _) => return Err(VerifyError::UnexpectedTag(tag)),
            other => other,
        };
        let Value::Array(items) = array else {
            return Err(VerifyError::CoseStructure("not a CBOR array"));
        };
        let [protected, unprotected, payload, signature]: [Value; 4] = items
            .try_into()
            .map_err(|_| VerifyError::CoseStructure("must have exactly four elements"))?;

        let Value::Bytes(protected) = protected else {
            return Err(VerifyError::CoseStructure(
                "protected header is not a byte string",
            ));
        };
        check_es384_header(&protected)?;
        // The unprotected header is not covered by the signature; its content is
        // ignored, but it must at least be a map.
        if !matches!(unprotected, Value::Map(_)) {
            return Err(VerifyError::CoseStructure(
                "unprotected header is not a map",
            ));
        }
        let Value::Bytes(payload) = payload else {
            return Err(VerifyError::CoseStructure(
                "payload is not a byte string (detached payloads are refused)",
            ));
        };
        let Value::Bytes(signature) = signature else {
            return Err(VerifyError::CoseStructure("signature is not a byte string"));
        };
        if signature.len() != ES384_SIGNATURE_LEN {
            return Err(VerifyError::CoseStructure(
                "ES384 signature must be 96 bytes",
            ));
        }
        Ok(Self {
            protected,
            payload,
            signature,
        })
    }

    /// The bytes that were signed: `["Signature1", protected, h'', payload]`.
    pub(crate) fn to_be_signed(&self) -> Vec<u8> {
        sig_structure(&self.protected, &self.payload)
    }
}

/// The serialized ES384 protected header `{1: -35}`.
#[cfg(any(test, feature = "dev"))]
pub(crate) fn es384_protected_header() -> Vec<u8> {
    // a1 (map of 1) 01 (alg) 38 22 (-35)
    vec![0xa1, 0x01, 0x38, 0x22]
}

/// Builds the COSE `Sig_structure` for a Sign1 with empty external AAD.
pub(crate) fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    let structure = Value::Array(vec![
        Value::Text("Signature1".to_owned()),
        Value::Bytes(protected.to_vec()),
        Value::Bytes(Vec::new()),
        Value::Bytes(payload.to_vec()),
    ]);
    let mut out = Vec::with_capacity(protected.len() + payload.len() + 32);
    // Writing a Value into a Vec cannot fail: the writer is infallible and the
    // value contains no floats or maps with unsupported keys.
    if ciborium::ser::into_writer(&structure, &mut out).is_err() {
        out.clear();
    }
    out
}

/// Decodes one CBOR item that must span `bytes` exactly.
pub(crate) fn decode_exact(bytes: &[u8]) -> Result<Value, VerifyError> {
    let mut rest = bytes;
    let value: Value = ciborium::de::from_reader(&mut rest)
        .map_err(|e| VerifyError::MalformedCbor(describe_cbor_error(&e)))?;
    if !rest.is_empty() {
        return Err(VerifyError::TrailingBytes(rest.len()));
    }
    Ok(value)
}

fn describe_cbor_error<T: std::fmt::Debug>(e: &ciborium::de::Error<T>) -> String {
    match e {
        ciborium::de::Error::Io(_) => "unexpected end of input".to_owned(),
        ciborium::de::Error::Syntax(at) => format!("syntax error at byte {at}"),
        ciborium::de::Error::Semantic(at, msg) => match at {
            Some(at) => format!("{msg} at byte {at}"),
            None => msg.clone(),
        },
        ciborium::de::Error::RecursionLimitExceeded => "nesting too deep".to_owned(),
    }
}

fn check_es384_header(protected: &[u8]) -> Result<(), VerifyError> {
    let header = decode_exact(protected).map_err(|_| VerifyError::UnsupportedAlgorithm)?;
    let Value::Map(entries) = header else {
        return Err(VerifyError::UnsupportedAlgorithm);
    };
    match entries.as_slice() {
        [(Value::Integer(label), Value::Integer(alg))]
            if i128::from(*label) == HEADER_ALG && i128::from(*alg) == ALG_ES384 =>
        {
            Ok(())
        }
        _ => Err(VerifyError::UnsupportedAlgorithm),
    }
}

/// Helper for encoders: a CBOR integer from a small unsigned value.
pub(crate) fn int(v: u64) -> Value {
    Value::Integer(Integer::from(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_header_constant_is_es384() {
        assert!(check_es384_header(&es384_protected_header()).is_ok());
    }

    #[test]
    fn refuses_es256_and_extra_header_entries() {
        // {1: -7} (ES256)
        assert_eq!(
            check_es384_header(&[0xa1, 0x01, 0x26]),
            Err(VerifyError::UnsupportedAlgorithm)
        );
        // {1: -35, 4: h''}
        assert_eq!(
            check_es384_header(&[0xa2, 0x01, 0x38, 0x22, 0x04, 0x40]),
            Err(VerifyError::UnsupportedAlgorithm)
        );
        // empty map
        assert_eq!(
            check_es384_header(&[0xa0]),
            Err(VerifyError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn huge_declared_lengths_do_not_allocate() {
        // An array, a map and a byte string each claiming 2^64-1 elements.
        for bytes in [
            vec![0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            vec![0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            vec![0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            vec![0x7b, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00],
        ] {
            assert!(matches!(
                CoseSign1::parse(&bytes),
                Err(VerifyError::MalformedCbor(_))
            ));
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let bytes = vec![0x81; 10_000];
        assert!(CoseSign1::parse(&bytes).is_err());
    }

    #[test]
    fn size_cap_is_checked_first() {
        let bytes = vec![0u8; MAX_DOCUMENT_LEN + 1];
        assert_eq!(
            CoseSign1::parse(&bytes).unwrap_err(),
            VerifyError::TooLarge {
                len: MAX_DOCUMENT_LEN + 1,
                max: MAX_DOCUMENT_LEN
            }
        );
    }
}
