//! The validation error of records, owners, policies and authorizations: it
//! names the field (`owners[1].public_key`, `threshold`, `policy.allow[2]`)
//! and says what is wrong and how to fix it.

use std::fmt;

/// What kind of problem a [`FieldError`] is: stable names for codes and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldErrorKind {
    /// The text is longer than its bound.
    TooLarge,
    /// The text is not UTF-8 JSON.
    NotJson,
    /// The value is valid but not written in its one canonical form (RFC 8785
    /// JSON, lower-case hex, EIP-55 addresses, uncompressed points, sorted
    /// `allow`).
    NotCanonical,
    /// A key this format does not have.
    UnknownField,
    /// A key this format will have but this version does not enforce yet.
    NotSupportedYet,
    /// A required key is absent.
    Missing,
    /// The value has the wrong JSON type.
    WrongType,
    /// A number outside its range.
    OutOfRange,
    /// A format version this code does not know.
    UnsupportedVersion,
    /// `purpose` is not this format's.
    WrongPurpose,
    /// A name (owner id, wallet id, deployment) outside its alphabet or length.
    InvalidName,
    /// Two owners with one id.
    DuplicateId,
    /// Two owners with one key.
    DuplicateKey,
    /// The same entry twice in a list.
    Duplicate,
    /// More entries than the bound.
    TooMany,
    /// Not hex, or not the expected number of bytes.
    InvalidHex,
    /// Not base64url, or not a sensible length.
    InvalidBase64,
    /// Not an Ethereum address.
    InvalidAddress,
    /// An address in mixed case whose EIP-55 checksum is wrong.
    BadChecksum,
    /// Not a valid public key (not on the curve, the identity, wrong length).
    InvalidPublicKey,
    /// An Ed25519 key of small order: signatures under it prove nothing.
    WeakKey,
    /// Not a web origin this signer accepts.
    InvalidOrigin,
    /// Not a valid relying-party id.
    InvalidRpId,
    /// The relying-party id does not cover an origin's host.
    RpIdMismatch,
    /// A threshold outside 1..=owners (or not 0 without owners).
    InvalidThreshold,
    /// A signing kind this signer does not know.
    UnknownKind,
    /// `version` and `prev` do not chain.
    BrokenChain,
    /// A value outside its set of allowed values.
    InvalidValue,
}

impl FieldErrorKind {
    /// The stable snake_case name of this kind.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::NotJson => "not_json",
            Self::NotCanonical => "not_canonical",
            Self::UnknownField => "unknown_field",
            Self::NotSupportedYet => "not_supported_yet",
            Self::Missing => "missing",
            Self::WrongType => "wrong_type",
            Self::OutOfRange => "out_of_range",
            Self::UnsupportedVersion => "unsupported_version",
            Self::WrongPurpose => "wrong_purpose",
            Self::InvalidName => "invalid_name",
            Self::DuplicateId => "duplicate_id",
            Self::DuplicateKey => "duplicate_key",
            Self::Duplicate => "duplicate",
            Self::TooMany => "too_many",
            Self::InvalidHex => "invalid_hex",
            Self::InvalidBase64 => "invalid_base64",
            Self::InvalidAddress => "invalid_address",
            Self::BadChecksum => "bad_checksum",
            Self::InvalidPublicKey => "invalid_public_key",
            Self::WeakKey => "weak_key",
            Self::InvalidOrigin => "invalid_origin",
            Self::InvalidRpId => "invalid_rp_id",
            Self::RpIdMismatch => "rp_id_mismatch",
            Self::InvalidThreshold => "invalid_threshold",
            Self::UnknownKind => "unknown_kind",
            Self::BrokenChain => "broken_chain",
            Self::InvalidValue => "invalid_value",
        }
    }
}

impl fmt::Display for FieldErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record, owner, policy or authorization refused: which field, what kind
/// of problem, and a sentence saying what to fix. Displays as
/// `owners[1].public_key: …` (or only the message when it is about the whole
/// text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct FieldError {
    /// The field's path: `threshold`, `owners[1].public_key`,
    /// `policy.allow[2]`; empty when the whole text is meant.
    pub field: String,
    /// What kind of problem it is.
    pub kind: FieldErrorKind,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl FieldError {
    /// A refusal of `field`.
    pub fn new(field: impl Into<String>, kind: FieldErrorKind, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            kind,
            message: message.into(),
        }
    }

    /// The same refusal, its field path put under `parent` (`owners[0]` +
    /// `id` → `owners[0].id`).
    #[must_use]
    pub fn under(mut self, parent: &str) -> Self {
        self.field = crate::fields::join(parent, &self.field);
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}
