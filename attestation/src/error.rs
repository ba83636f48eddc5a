//! Every way a document can be refused, as data.

use thiserror::Error;

/// Why an attestation document was refused.
///
/// Each variant names the check that failed, so callers (the host's policy
/// check, the `signet attest verify` CLI, tests) can tell a tampered signature
/// from a stale document or a PCR mismatch without parsing messages.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The input is larger than any real document may be; nothing was decoded.
    #[error("document is {len} bytes, more than the {max}-byte limit")]
    TooLarge {
        /// Size of the input.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// The bytes are not well-formed CBOR (or end early).
    #[error("malformed CBOR: {0}")]
    MalformedCbor(String),
    /// Bytes follow the COSE_Sign1 structure.
    #[error("{0} trailing bytes after the COSE_Sign1 structure")]
    TrailingBytes(usize),
    /// A CBOR tag other than 18 (COSE_Sign1) wraps the document.
    #[error("unexpected CBOR tag {0} (only untagged or tag 18 COSE_Sign1 is accepted)")]
    UnexpectedTag(u64),
    /// The COSE_Sign1 array or its headers have the wrong shape.
    #[error("COSE_Sign1 structure: {0}")]
    CoseStructure(&'static str),
    /// The protected header is not exactly `{1: -35}` (ES384).
    #[error("protected header must be exactly {{alg: ES384}}")]
    UnsupportedAlgorithm,
    /// A payload field is missing, of the wrong type or out of range.
    #[error("payload field `{field}`: {problem}")]
    Payload {
        /// The field's name in the NSM document.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The payload names a field twice.
    #[error("payload repeats the key `{0}`")]
    DuplicateKey(String),
    /// The payload has a field the NSM format does not define.
    #[error("payload has an unknown field `{0}`")]
    UnknownField(String),
    /// A certificate could not be decoded or is not a P-384/SHA-384 certificate.
    #[error("certificate {which}: {problem}")]
    Certificate {
        /// Which certificate: `leaf`, `cabundle[i]` or `root`.
        which: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A certificate's issuer is not the subject of the next certificate up.
    #[error("chain broken: the issuer of {child} is not {parent}")]
    IssuerMismatch {
        /// The certificate whose issuer did not match.
        child: String,
        /// The certificate expected to have issued it.
        parent: String,
    },
    /// A certificate's signature does not verify under its issuer's key.
    #[error("chain broken: the signature on {child} does not verify under {parent}'s key")]
    ChainSignature {
        /// The certificate with the bad signature.
        child: String,
        /// The issuer whose key was used.
        parent: String,
    },
    /// A CA certificate in the path lacks the CA basic constraint, the
    /// keyCertSign usage, or its path length constraint is exceeded.
    #[error("chain constraint: {which}: {problem}")]
    ChainConstraint {
        /// Which certificate.
        which: String,
        /// The violated constraint.
        problem: &'static str,
    },
    /// A certificate is outside its validity period at the verification time.
    #[error("{which} is not valid at {at_ms} ms (valid {not_before_ms}..={not_after_ms} ms)")]
    CertificateNotValidAt {
        /// Which certificate.
        which: String,
        /// Verification time, Unix milliseconds.
        at_ms: u64,
        /// Start of validity, Unix milliseconds.
        not_before_ms: u64,
        /// End of validity, Unix milliseconds.
        not_after_ms: u64,
    },
    /// The COSE_Sign1 signature does not verify under the leaf certificate.
    #[error("COSE signature does not verify under the leaf certificate")]
    BadSignature,
    /// The policy is empty or malformed (a verifier must be told what to expect).
    #[error("attestation policy: {0}")]
    Policy(String),
    /// A PCR differs from the single expected set.
    #[error("PCR{index} is {actual}, expected {expected}")]
    PcrMismatch {
        /// PCR index.
        index: u8,
        /// Expected value, hex.
        expected: String,
        /// Value in the document, hex (or `absent`).
        actual: String,
    },
    /// None of several allowed PCR sets matches.
    #[error("the document's PCRs match none of the {sets} allowed PCR sets")]
    NoPcrSetMatches {
        /// How many sets were allowed.
        sets: usize,
    },
    /// PCR0, PCR1 and PCR2 are all zero: the enclave runs in debug mode, where
    /// the host can read its memory.
    #[error("debug-mode document (PCR0/1/2 all zero) refused; pass allow_debug to accept it")]
    DebugMode,
    /// The nonce differs from the expected one (or is missing).
    #[error("nonce mismatch: expected {expected}, document has {actual}")]
    NonceMismatch {
        /// Expected nonce, hex.
        expected: String,
        /// Nonce in the document, hex (or `absent`).
        actual: String,
    },
    /// The document is older than the allowed maximum age.
    #[error("document is {age_ms} ms old, more than the allowed {max_age_ms} ms")]
    TooOld {
        /// Age at the verification time.
        age_ms: u64,
        /// Allowed maximum.
        max_age_ms: u64,
    },
    /// The document's timestamp lies after the verification time (beyond skew).
    #[error("document timestamp {timestamp_ms} ms is in the future of {at_ms} ms")]
    FromTheFuture {
        /// The document's timestamp.
        timestamp_ms: u64,
        /// Verification time.
        at_ms: u64,
    },
    /// The document does not bind what the caller expected (public key or
    /// user data of a Signet key or signature binding).
    #[error("binding mismatch: {0}")]
    BindingMismatch(&'static str),
}

impl VerifyError {
    /// A stable snake_case name of the failed check, for machine-readable
    /// output (`signet attest verify --json`) and metrics labels.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::MalformedCbor(_) => "malformed_cbor",
            Self::TrailingBytes(_) => "trailing_bytes",
            Self::UnexpectedTag(_) => "unexpected_tag",
            Self::CoseStructure(_) => "cose_structure",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::Payload { .. } => "payload_field",
            Self::DuplicateKey(_) => "duplicate_key",
            Self::UnknownField(_) => "unknown_field",
            Self::Certificate { .. } => "certificate",
            Self::IssuerMismatch { .. } => "issuer_mismatch",
            Self::ChainSignature { .. } => "chain_signature",
            Self::ChainConstraint { .. } => "chain_constraint",
            Self::CertificateNotValidAt { .. } => "certificate_not_valid_at",
            Self::BadSignature => "bad_signature",
            Self::Policy(_) => "policy",
            Self::PcrMismatch { .. } => "pcr_mismatch",
            Self::NoPcrSetMatches { .. } => "no_pcr_set_matches",
            Self::DebugMode => "debug_mode",
            Self::NonceMismatch { .. } => "nonce_mismatch",
            Self::TooOld { .. } => "too_old",
            Self::FromTheFuture { .. } => "from_the_future",
            Self::BindingMismatch(_) => "binding_mismatch",
        }
    }
}
