//! Full verification: envelope, payload, signature, chain, then policy.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use p384::ecdsa::signature::Verifier as _;
use p384::ecdsa::Signature;

use crate::binding::{key_binding, key_binding_v2, signature_binding};
use crate::chain::{ChainCert, TrustAnchor};
use crate::cose::CoseSign1;
use crate::document::AttestationDoc;
use crate::error::VerifyError;
use crate::policy::{PcrPolicy, VerifyAt, CLOCK_SKEW};

/// Checks attestation documents against a pinned root and a policy.
///
/// There is no default PCR policy: [`Verifier::new`] takes one, so a verifier
/// that forgot to say which enclave image it trusts cannot be built.
#[derive(Clone, Debug)]
pub struct Verifier {
    anchor: TrustAnchor,
    pcrs: PcrPolicy,
    allow_debug: bool,
    nonce: Option<Vec<u8>>,
    max_age: Option<Duration>,
    at: VerifyAt,
}

/// A document that passed every check of the [`Verifier`] that returned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedDocument {
    /// The decoded document.
    pub doc: AttestationDoc,
    /// Whether PCR0/1/2 are all zero (only possible with `allow_debug`).
    pub debug_mode: bool,
    /// SHA-256 of the root the chain ended at.
    pub root_sha256: [u8; 32],
    /// The instant the certificates were checked at, Unix milliseconds.
    pub checked_at_ms: u64,
}

impl Verifier {
    /// A verifier trusting `anchor` for documents whose PCRs satisfy `pcrs`.
    /// Debug-mode documents are refused, no nonce or age is required, and
    /// certificates are checked at the current time until configured otherwise.
    #[must_use]
    pub fn new(anchor: TrustAnchor, pcrs: PcrPolicy) -> Self {
        Self {
            anchor,
            pcrs,
            allow_debug: false,
            nonce: None,
            max_age: None,
            at: VerifyAt::Now,
        }
    }

    /// Accept debug-mode documents (PCR0/1/2 all zero). Only for development:
    /// a debug enclave's memory is readable by the parent instance.
    #[must_use]
    pub fn allow_debug(mut self, allow: bool) -> Self {
        self.allow_debug = allow;
        self
    }

    /// Require the document's nonce to equal `nonce`.
    #[must_use]
    pub fn expect_nonce(mut self, nonce: Vec<u8>) -> Self {
        self.nonce = Some(nonce);
        self
    }

    /// Refuse documents whose timestamp is older than `max_age` at the
    /// verification time (or more than [`CLOCK_SKEW`] ahead of it).
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Check certificate validity at `at`.
    #[must_use]
    pub fn at(mut self, at: VerifyAt) -> Self {
        self.at = at;
        self
    }

    /// The trusted root.
    #[must_use]
    pub fn anchor(&self) -> &TrustAnchor {
        &self.anchor
    }

    /// Verifies a COSE_Sign1 attestation document, in this order: size and
    /// envelope, payload fields, the ES384 signature by the leaf, the chain to
    /// the pinned root at the chosen time, debug mode, PCRs, nonce, age.
    pub fn verify(&self, bytes: &[u8]) -> Result<VerifiedDocument, VerifyError> {
        let cose = CoseSign1::parse(bytes)?;
        let doc = AttestationDoc::from_payload(&cose.payload)?;
        let leaf = ChainCert::parse(&doc.certificate, "leaf")?;
        let signature =
            Signature::from_slice(&cose.signature).map_err(|_| VerifyError::BadSignature)?;
        leaf.key()
            .verify(&cose.to_be_signed(), &signature)
            .map_err(|_| VerifyError::BadSignature)?;

        let checked_at_ms = match self.at {
            VerifyAt::Now => now_ms(),
            VerifyAt::DocumentTimestamp => doc.timestamp_ms,
            VerifyAt::UnixMs(ms) => ms,
        };
        self.anchor
            .validate_path(leaf, &doc.cabundle, checked_at_ms)?;

        let debug_mode = doc.is_debug_mode();
        if debug_mode && !self.allow_debug {
            return Err(VerifyError::DebugMode);
        }
        self.pcrs.check(&doc)?;
        if let Some(expected) = &self.nonce {
            if doc.nonce.as_ref() != Some(expected) {
                return Err(VerifyError::NonceMismatch {
                    expected: hex::encode(expected),
                    actual: doc
                        .nonce
                        .as_ref()
                        .map_or_else(|| "absent".to_owned(), hex::encode),
                });
            }
        }
        if let Some(max_age) = self.max_age {
            check_age(doc.timestamp_ms, checked_at_ms, max_age)?;
        }
        Ok(VerifiedDocument {
            doc,
            debug_mode,
            root_sha256: self.anchor.sha256(),
            checked_at_ms,
        })
    }
}

fn check_age(timestamp_ms: u64, at_ms: u64, max_age: Duration) -> Result<(), VerifyError> {
    let skew_ms = u64::try_from(CLOCK_SKEW.as_millis()).unwrap_or(u64::MAX);
    if timestamp_ms > at_ms.saturating_add(skew_ms) {
        return Err(VerifyError::FromTheFuture {
            timestamp_ms,
            at_ms,
        });
    }
    let age_ms = at_ms.saturating_sub(timestamp_ms);
    let max_age_ms = u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX);
    if age_ms > max_age_ms {
        return Err(VerifyError::TooOld { age_ms, max_age_ms });
    }
    Ok(())
}

/// The current time in Unix milliseconds (0 if the clock is before 1970).
#[must_use]
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl VerifiedDocument {
    /// The part of both key bindings' checks before `user_data`: names
    /// without NUL (the separator), and the document's `public_key` the
    /// wallet's.
    fn check_wallet_key(
        &self,
        wallet_id: &str,
        key_type: &str,
        public_key: &[u8],
    ) -> Result<(), VerifyError> {
        refuse_nul(wallet_id)?;
        refuse_nul(key_type)?;
        if self.doc.public_key.as_deref() != Some(public_key) {
            return Err(VerifyError::BindingMismatch(
                "document public_key is not the wallet's key",
            ));
        }
        Ok(())
    }

    /// Checks that the document binds a Signet wallet key: `public_key` equals
    /// the wallet's key and `user_data` is the key binding of docs/attestation.md.
    pub fn check_key_binding(
        &self,
        wallet_id: &str,
        key_type: &str,
        public_key: &[u8],
    ) -> Result<(), VerifyError> {
        self.check_wallet_key(wallet_id, key_type, public_key)?;
        if self.doc.user_data.as_deref() != Some(&key_binding(wallet_id, key_type, public_key)[..])
        {
            return Err(VerifyError::BindingMismatch(
                "user_data is not the key binding of this wallet",
            ));
        }
        Ok(())
    }

    /// Checks that the document binds a Signet wallet key *and its record*
    /// (binding v2): `public_key` equals the wallet's key and `user_data` is
    /// the v2 binding over `record_hash`, the SHA-256 of the record's text.
    ///
    /// With `accept_v1`, a v1 document (from before records, binding the key
    /// alone) also passes: callers set it only for the record every wallet
    /// from before records has (no owners, the permissive policy), which is
    /// what a signer assumes for such a key anyway.
    pub fn check_record_binding(
        &self,
        wallet_id: &str,
        key_type: &str,
        public_key: &[u8],
        record_hash: &[u8; 32],
        accept_v1: bool,
    ) -> Result<(), VerifyError> {
        self.check_wallet_key(wallet_id, key_type, public_key)?;
        let user_data = self.doc.user_data.as_deref();
        if user_data == Some(&key_binding_v2(wallet_id, key_type, public_key, record_hash)[..]) {
            return Ok(());
        }
        if user_data == Some(&key_binding(wallet_id, key_type, public_key)[..]) {
            return if accept_v1 {
                Ok(())
            } else {
                Err(VerifyError::BindingMismatch(
                    "the document binds the key alone (v1), not this record: ask for a fresh attestation",
                ))
            };
        }
        Err(VerifyError::BindingMismatch(
            "user_data is not the key binding of this wallet and record",
        ))
    }

    /// Checks that the document binds a signature: `user_data` is the signature
    /// binding of DESIGN.md over `wallet_id`, the 32-byte `digest` and the raw
    /// `signature`.
    pub fn check_signature_binding(
        &self,
        wallet_id: &str,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), VerifyError> {
        refuse_nul(wallet_id)?;
        if self.doc.user_data.as_deref()
            != Some(&signature_binding(wallet_id, digest, signature)[..])
        {
            return Err(VerifyError::BindingMismatch(
                "user_data is not the binding of this signature",
            ));
        }
        Ok(())
    }
}

fn refuse_nul(s: &str) -> Result<(), VerifyError> {
    if s.contains('\0') {
        return Err(VerifyError::BindingMismatch(
            "identifiers must not contain NUL",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_checks() {
        let max = Duration::from_secs(10);
        assert!(check_age(1_000, 5_000, max).is_ok());
        assert!(matches!(
            check_age(1_000, 20_000, max),
            Err(VerifyError::TooOld { age_ms: 19_000, .. })
        ));
        // Within skew ahead is fine, beyond is not.
        assert!(check_age(30_000, 1_000, max).is_ok());
        assert!(matches!(
            check_age(100_000, 1_000, max),
            Err(VerifyError::FromTheFuture { .. })
        ));
    }
}
