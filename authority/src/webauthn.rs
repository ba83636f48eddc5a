//! WebAuthn assertions (passkey approvals), verified as a relying party does
//! (WebAuthn Level 3, "Verifying an Authentication Assertion"), with the
//! credential's public key known in advance (it is in the wallet record).
//!
//! Checked, in order: clientDataJSON (at most [`MAX_CLIENT_DATA_LEN`] bytes,
//! a JSON object, no key twice) has `type` `webauthn.get`, `challenge` equal
//! to base64url (unpadded) of the expected challenge, `origin` one of the
//! allowed origins, `crossOrigin` absent or `false` and no `topOrigin`;
//! authenticatorData (at most [`MAX_AUTHENTICATOR_DATA_LEN`] bytes) is
//! rpIdHash (32) ‖ flags (1) ‖ signCount (4, big-endian) ‖ extensions (a CBOR
//! map, only when the ED flag is set), with nothing after; no attested
//! credential data (AT) in an assertion; BS only with BE; rpIdHash =
//! SHA-256(rp_id); UP set; UV set when required; and an ES256 signature (DER,
//! high or low S) over authenticatorData ‖ SHA-256(clientDataJSON). The
//! signCount is returned, never required to grow (synced passkeys report 0).

use std::collections::BTreeSet;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Verifier as _;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::approval::ApprovalRefusal;

/// The longest clientDataJSON accepted, in bytes (browsers send 100–300).
pub const MAX_CLIENT_DATA_LEN: usize = 4096;
/// The longest authenticatorData accepted, in bytes: 37 fixed bytes and room
/// for extension outputs.
pub const MAX_AUTHENTICATOR_DATA_LEN: usize = 1024;
/// The longest DER ES256 signature (two 33-byte integers and headers).
pub const MAX_SIGNATURE_LEN: usize = 72;
/// The deepest CBOR nesting accepted in the extensions map.
const MAX_CBOR_DEPTH: usize = 8;

/// Authenticator data flag bits.
const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;
const FLAG_BE: u8 = 0x08;
const FLAG_BS: u8 = 0x10;
const FLAG_AT: u8 = 0x40;
const FLAG_ED: u8 = 0x80;

/// Why an assertion was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebAuthnError {
    /// clientDataJSON is too long, not UTF-8 JSON, not an object, repeats a
    /// key, or lacks a field.
    #[error("clientDataJSON is malformed: {0}")]
    ClientDataMalformed(String),
    /// `type` is not `webauthn.get`.
    #[error("clientDataJSON type is {0}, not \"webauthn.get\": this is not an assertion (navigator.credentials.get)")]
    WrongType(String),
    /// The challenge is not the expected one.
    #[error("the challenge in clientDataJSON is not base64url of SHA-256 of the authorization text: the assertion was made for other bytes")]
    ChallengeMismatch,
    /// The origin is not allowed.
    #[error("the assertion was made on {0}, which is not one of this owner's origins")]
    OriginNotAllowed(String),
    /// Made in a cross-origin frame (or `crossOrigin` not a boolean, or a
    /// `topOrigin` present).
    #[error(
        "the assertion was made in a cross-origin frame ({0}); approve from the console's own page"
    )]
    CrossOrigin(&'static str),
    /// authenticatorData is malformed.
    #[error("authenticatorData is malformed: {0}")]
    AuthenticatorDataMalformed(&'static str),
    /// The rpIdHash is not SHA-256 of the owner's rp_id.
    #[error("the assertion is for another relying party than this owner's rp_id")]
    RpIdMismatch,
    /// The user-present flag is not set.
    #[error("the authenticator did not confirm user presence (UP flag)")]
    UserNotPresent,
    /// User verification was required and not done.
    #[error("this action needs user verification (PIN or biometrics) and the authenticator did not verify the user (UV flag)")]
    UserNotVerified,
    /// The signature is not DER ES256.
    #[error("the signature is not a DER-encoded ES256 signature")]
    SignatureMalformed,
    /// The signature does not verify under the owner's key.
    #[error("the signature does not verify under this owner's public key")]
    BadSignature,
}

impl WebAuthnError {
    /// The approval refusal this is.
    #[must_use]
    pub fn refusal(&self) -> ApprovalRefusal {
        match self {
            Self::ClientDataMalformed(_)
            | Self::AuthenticatorDataMalformed(_)
            | Self::SignatureMalformed => ApprovalRefusal::WebauthnMalformed,
            Self::WrongType(_) => ApprovalRefusal::WebauthnType,
            Self::ChallengeMismatch => ApprovalRefusal::WebauthnChallenge,
            Self::OriginNotAllowed(_) => ApprovalRefusal::WebauthnOrigin,
            Self::CrossOrigin(_) => ApprovalRefusal::WebauthnCrossOrigin,
            Self::RpIdMismatch => ApprovalRefusal::WebauthnRpId,
            Self::UserNotPresent => ApprovalRefusal::WebauthnUserPresent,
            Self::UserNotVerified => ApprovalRefusal::WebauthnUserVerified,
            Self::BadSignature => ApprovalRefusal::BadSignature,
        }
    }
}

/// The fields of clientDataJSON a relying party checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientData {
    /// `type`.
    pub type_: String,
    /// `challenge` (base64url).
    pub challenge: String,
    /// `origin`.
    pub origin: String,
    /// `crossOrigin`, when present.
    pub cross_origin: Option<bool>,
    /// Whether `topOrigin` is present.
    pub has_top_origin: bool,
}

/// clientDataJSON's known members, read once each.
#[derive(Default)]
struct RawClientData {
    type_: Option<Value>,
    challenge: Option<Value>,
    origin: Option<Value>,
    cross_origin: Option<Value>,
    top_origin: Option<Value>,
}

impl<'de> Deserialize<'de> for RawClientData {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawClientData;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawClientData, A::Error> {
                let mut out = RawClientData::default();
                let mut seen = BTreeSet::new();
                while let Some(key) = map.next_key::<String>()? {
                    // A key twice could be read one way here and another way
                    // by another verifier: refused.
                    if !seen.insert(key.clone()) {
                        return Err(de::Error::custom("a key appears twice"));
                    }
                    let slot = match key.as_str() {
                        "type" => &mut out.type_,
                        "challenge" => &mut out.challenge,
                        "origin" => &mut out.origin,
                        "crossOrigin" => &mut out.cross_origin,
                        "topOrigin" => &mut out.top_origin,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = Some(map.next_value::<Value>()?);
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

impl ClientData {
    /// Parses clientDataJSON: at most [`MAX_CLIENT_DATA_LEN`] bytes, UTF-8,
    /// one JSON object, no key twice, `type`, `challenge` and `origin`
    /// strings, `crossOrigin` (if present) a boolean. Unknown members are
    /// ignored, as the specification requires.
    pub fn parse(bytes: &[u8]) -> Result<Self, WebAuthnError> {
        let malformed = |m: String| WebAuthnError::ClientDataMalformed(m);
        if bytes.len() > MAX_CLIENT_DATA_LEN {
            return Err(malformed(format!(
                "longer than {MAX_CLIENT_DATA_LEN} bytes"
            )));
        }
        let raw: RawClientData =
            serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
        let string = |v: Option<Value>, name: &str| match v {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(malformed(format!("{name} is not a string"))),
            None => Err(malformed(format!("{name} is missing"))),
        };
        let cross_origin = match raw.cross_origin {
            None => None,
            Some(Value::Bool(b)) => Some(b),
            Some(_) => return Err(WebAuthnError::CrossOrigin("crossOrigin is not a boolean")),
        };
        Ok(Self {
            type_: string(raw.type_, "type")?,
            challenge: string(raw.challenge, "challenge")?,
            origin: string(raw.origin, "origin")?,
            cross_origin,
            has_top_origin: raw.top_origin.is_some(),
        })
    }
}

/// The flags byte of authenticatorData.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags(pub u8);

impl Flags {
    /// UP: a user was present.
    #[must_use]
    pub fn user_present(self) -> bool {
        self.0 & FLAG_UP != 0
    }
    /// UV: the user was verified (PIN, biometrics).
    #[must_use]
    pub fn user_verified(self) -> bool {
        self.0 & FLAG_UV != 0
    }
    /// BE: the credential may be backed up (synced).
    #[must_use]
    pub fn backup_eligible(self) -> bool {
        self.0 & FLAG_BE != 0
    }
    /// BS: the credential is backed up.
    #[must_use]
    pub fn backed_up(self) -> bool {
        self.0 & FLAG_BS != 0
    }
    /// AT: attested credential data follows (registrations only).
    #[must_use]
    pub fn attested_credential_data(self) -> bool {
        self.0 & FLAG_AT != 0
    }
    /// ED: extension outputs follow.
    #[must_use]
    pub fn extension_data(self) -> bool {
        self.0 & FLAG_ED != 0
    }
}

/// Parsed authenticatorData of an assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatorData {
    /// SHA-256 of the relying-party id.
    pub rp_id_hash: [u8; 32],
    /// The flags.
    pub flags: Flags,
    /// The signature counter (0 when the authenticator keeps none).
    pub sign_count: u32,
}

/// A bounded reader: every read checks the bytes remaining first.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.bytes.len() {
            return None;
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn be(&mut self, n: usize) -> Option<u64> {
        self.take(n)
            .map(|b| b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x)))
    }

    fn remaining(&self) -> usize {
        self.bytes.len()
    }
}

impl AuthenticatorData {
    /// Parses an assertion's authenticatorData: at most
    /// [`MAX_AUTHENTICATOR_DATA_LEN`] bytes; rpIdHash, flags, signCount;
    /// refuses attested credential data (AT), BS without BE, trailing bytes,
    /// and an extensions map (ED) that is not exactly one well-formed CBOR
    /// map with definite lengths, nested at most 8 deep. The extension
    /// outputs are not interpreted.
    pub fn parse(bytes: &[u8]) -> Result<Self, WebAuthnError> {
        let bad = WebAuthnError::AuthenticatorDataMalformed;
        if bytes.len() > MAX_AUTHENTICATOR_DATA_LEN {
            return Err(bad("longer than 1024 bytes"));
        }
        let mut r = Reader { bytes };
        let short = || bad("shorter than 37 bytes (rpIdHash, flags, signCount)");
        let mut rp_id_hash = [0u8; 32];
        rp_id_hash.copy_from_slice(r.take(32).ok_or_else(short)?);
        let flags = Flags(r.u8().ok_or_else(short)?);
        let sign_count = u32::try_from(r.be(4).ok_or_else(short)?).map_err(|_| short())?;
        if flags.attested_credential_data() {
            return Err(bad(
                "an assertion carries no attested credential data (AT flag set)",
            ));
        }
        if flags.backed_up() && !flags.backup_eligible() {
            return Err(bad("backed up (BS) but not backup eligible (BE)"));
        }
        if flags.extension_data() {
            let is_map = r.bytes.first().is_some_and(|b| b >> 5 == 5);
            if !is_map || skip_cbor(&mut r, 0).is_none() {
                return Err(bad(
                    "the extensions (ED flag) are not one well-formed CBOR map",
                ));
            }
        }
        if r.remaining() != 0 {
            return Err(bad("bytes after the end"));
        }
        Ok(Self {
            rp_id_hash,
            flags,
            sign_count,
        })
    }
}

/// Skips one CBOR data item with definite lengths; `None` if it is not
/// well formed within the bytes left.
fn skip_cbor(r: &mut Reader<'_>, depth: usize) -> Option<()> {
    if depth > MAX_CBOR_DEPTH {
        return None;
    }
    let initial = r.u8()?;
    let major = initial >> 5;
    let info = initial & 0x1f;
    let arg = match info {
        0..=23 => u64::from(info),
        24 => r.be(1)?,
        25 => r.be(2)?,
        26 => r.be(4)?,
        27 => r.be(8)?,
        // 28..=30 reserved, 31 indefinite length.
        _ => return None,
    };
    // Every item takes at least one byte: a count larger than the bytes left
    // is malformed, which also bounds the loops below.
    let left = r.remaining() as u64;
    match major {
        0 | 1 | 7 => Some(()),
        2 | 3 => {
            if arg > left {
                return None;
            }
            r.take(usize::try_from(arg).ok()?).map(|_| ())
        }
        4 => {
            if arg > left {
                return None;
            }
            (0..arg).try_for_each(|_| skip_cbor(r, depth + 1))
        }
        5 => {
            if arg.checked_mul(2)? > left {
                return None;
            }
            (0..arg).try_for_each(|_| {
                skip_cbor(r, depth + 1)?;
                skip_cbor(r, depth + 1)
            })
        }
        6 => skip_cbor(r, depth + 1),
        _ => None,
    }
}

/// What the assertion must satisfy.
#[derive(Debug, Clone, Copy)]
pub struct AssertionCheck<'a> {
    /// The credential's public key.
    pub public_key: &'a p256::ecdsa::VerifyingKey,
    /// The relying-party id (rpIdHash must be its SHA-256).
    pub rp_id: &'a str,
    /// The origins clientDataJSON's `origin` may be.
    pub origins: &'a [String],
    /// The expected challenge's bytes (compared as unpadded base64url).
    pub challenge: &'a [u8],
    /// Whether the UV flag is required.
    pub require_user_verification: bool,
}

/// A verified assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// The authenticator's signature counter, for the caller to record.
    pub sign_count: u32,
    /// The flags.
    pub flags: Flags,
}

/// Verifies an assertion (see the module docs for every check, in order).
pub fn verify_assertion(
    check: &AssertionCheck<'_>,
    authenticator_data: &[u8],
    client_data_json: &[u8],
    signature_der: &[u8],
) -> Result<VerifiedAssertion, WebAuthnError> {
    let client = ClientData::parse(client_data_json)?;
    if client.type_ != "webauthn.get" {
        return Err(WebAuthnError::WrongType(crate::fields::quote(
            &client.type_,
        )));
    }
    if client.challenge != URL_SAFE_NO_PAD.encode(check.challenge) {
        return Err(WebAuthnError::ChallengeMismatch);
    }
    if !check.origins.contains(&client.origin) {
        return Err(WebAuthnError::OriginNotAllowed(crate::fields::quote(
            &client.origin,
        )));
    }
    if client.cross_origin == Some(true) {
        return Err(WebAuthnError::CrossOrigin("crossOrigin is true"));
    }
    if client.has_top_origin {
        return Err(WebAuthnError::CrossOrigin("topOrigin is present"));
    }
    let data = AuthenticatorData::parse(authenticator_data)?;
    let rp_id_hash: [u8; 32] = Sha256::digest(check.rp_id.as_bytes()).into();
    if data.rp_id_hash != rp_id_hash {
        return Err(WebAuthnError::RpIdMismatch);
    }
    if !data.flags.user_present() {
        return Err(WebAuthnError::UserNotPresent);
    }
    if check.require_user_verification && !data.flags.user_verified() {
        return Err(WebAuthnError::UserNotVerified);
    }
    if signature_der.len() > MAX_SIGNATURE_LEN {
        return Err(WebAuthnError::SignatureMalformed);
    }
    let signature = p256::ecdsa::Signature::from_der(signature_der)
        .map_err(|_| WebAuthnError::SignatureMalformed)?;
    let mut signed = Vec::with_capacity(authenticator_data.len() + 32);
    signed.extend_from_slice(authenticator_data);
    signed.extend_from_slice(&Sha256::digest(client_data_json));
    // p256's verifier accepts high-S signatures, as WebAuthn authenticators
    // produce them.
    check
        .public_key
        .verify(&signed, &signature)
        .map_err(|_| WebAuthnError::BadSignature)?;
    Ok(VerifiedAssertion {
        sign_count: data.sign_count,
        flags: data.flags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(flags: u8, tail: &[u8]) -> Vec<u8> {
        let mut v = vec![7u8; 32];
        v.push(flags);
        v.extend_from_slice(&[0, 0, 1, 2]);
        v.extend_from_slice(tail);
        v
    }

    #[test]
    fn reads_the_fixed_fields() {
        let d = AuthenticatorData::parse(&auth(0x05, &[])).unwrap();
        assert_eq!(d.rp_id_hash, [7u8; 32]);
        assert!(d.flags.user_present() && d.flags.user_verified());
        assert_eq!(d.sign_count, 258);
    }

    #[test]
    fn refuses_truncation_at_every_offset() {
        let full = auth(0x01, &[]);
        for n in 0..full.len() {
            assert!(AuthenticatorData::parse(&full[..n]).is_err(), "{n}");
        }
    }

    #[test]
    fn skips_a_well_formed_extensions_map() {
        // {"credProtect": 2} and a nested {1: [h'00', {}]}.
        let ext = [
            0xa1, 0x6b, b'c', b'r', b'e', b'd', b'P', b'r', b'o', b't', b'e', b'c', b't', 0x02,
        ];
        assert!(AuthenticatorData::parse(&auth(0x81, &ext)).is_ok());
        let nested = [0xa1, 0x01, 0x82, 0x41, 0x00, 0xa0];
        assert!(AuthenticatorData::parse(&auth(0x81, &nested)).is_ok());
    }

    #[test]
    fn refuses_malformed_extensions() {
        for ext in [
            &[][..],                   // ED set, nothing there
            &[0x80],                   // an array, not a map
            &[0xa1, 0x01],             // a key without a value
            &[0xbf, 0x01, 0x02, 0xff], // indefinite length
            &[
                0xa1, 0x01, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ], // huge byte string
            &[0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // huge map
            &[0xa1, 0x01, 0x1c],       // reserved additional info
            &[0xa0, 0x00],             // a byte after the map
        ] {
            assert!(
                AuthenticatorData::parse(&auth(0x81, ext)).is_err(),
                "{ext:02x?}"
            );
        }
        // Deeper than allowed: 10 nested arrays.
        let mut deep = vec![0xa1, 0x01];
        deep.extend(std::iter::repeat_n(0x81, 10));
        deep.push(0x00);
        assert!(AuthenticatorData::parse(&auth(0x81, &deep)).is_err());
    }
}
