//! Wallet records held beside their keys: made at generation, checked
//! against the sealed blob's bound hash when a key is loaded, and never
//! taken back to an older version while the signer runs.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use serde_json::Value;
use signet_authority::{Record, RecordHash, RecordSettings, WalletKey};
use signet_proto::{ErrorCode, KeyType};

use crate::error::SignerError;

/// The records of the keys this signer holds.
pub struct Records {
    deployment: String,
    /// The record of each loaded key (bounded like the key cache: an evicted
    /// record comes back with the key's sealed blob).
    held: Mutex<LruCache<String, Arc<Record>>>,
    /// The highest record version seen per wallet since start: an older
    /// record is refused (a host presenting an older, looser record).
    seen: Mutex<HashMap<String, u64>>,
}

fn poisoned() -> SignerError {
    SignerError::new(ErrorCode::Internal, "record lock poisoned")
}

fn mismatch(message: impl Into<String>) -> SignerError {
    SignerError::new(ErrorCode::RecordMismatch, message)
}

/// The record library's key type for `key_type`.
fn record_key_type(key_type: KeyType) -> signet_authority::KeyType {
    match key_type {
        KeyType::Secp256k1 => signet_authority::KeyType::Secp256k1,
        KeyType::P256 => signet_authority::KeyType::P256,
        KeyType::Ed25519 => signet_authority::KeyType::Ed25519,
    }
}

impl Records {
    /// Records for a signer of `deployment`, holding at most `capacity`.
    pub fn new(deployment: &str, capacity: NonZeroUsize) -> Result<Self, SignerError> {
        // The record's own rule for the name, checked once at start.
        let probe = WalletKey {
            deployment: deployment.to_owned(),
            wallet_id: "probe".into(),
            key_type: signet_authority::KeyType::Ed25519,
            public_key: ed25519_dalek::SigningKey::from_bytes(&[1; 32])
                .verifying_key()
                .to_bytes()
                .to_vec(),
        };
        Record::legacy(probe).map_err(|e| {
            SignerError::bad_request(format!(
                "--deployment {deployment:?}: {e} (it is written in every wallet record)"
            ))
        })?;
        Ok(Self {
            deployment: deployment.to_owned(),
            held: Mutex::new(LruCache::new(capacity)),
            seen: Mutex::new(HashMap::new()),
        })
    }

    /// The deployment written in records.
    #[must_use]
    pub fn deployment(&self) -> &str {
        &self.deployment
    }

    fn wallet_key(&self, key_id: &str, key_type: KeyType, public_key: &[u8]) -> WalletKey {
        WalletKey {
            deployment: self.deployment.clone(),
            wallet_id: key_id.to_owned(),
            key_type: record_key_type(key_type),
            public_key: public_key.to_vec(),
        }
    }

    /// Reads the settings of a `Generate` (JSON `{owners?, threshold?,
    /// policy?}`); absent: none.
    pub fn settings(text: Option<&str>) -> Result<RecordSettings, SignerError> {
        let Some(text) = text else {
            return Ok(RecordSettings::default());
        };
        let value: Value = serde_json::from_str(text)
            .map_err(|e| SignerError::bad_request(format!("record settings: {e}")))?;
        RecordSettings::from_request(&value)
            .map_err(|e| SignerError::bad_request(format!("record settings: {e}")))
    }

    /// The first record of a new key.
    pub fn initial(
        &self,
        settings: RecordSettings,
        key_id: &str,
        key_type: KeyType,
        public_key: &[u8],
    ) -> Result<Record, SignerError> {
        settings
            .initial(self.wallet_key(key_id, key_type, public_key))
            .map_err(|e| SignerError::bad_request(format!("record: {e}")))
    }

    /// The record of a key from before records (a blob without a record
    /// hash, or an HSM key without a record object): no owners, the
    /// permissive policy.
    pub fn legacy(
        &self,
        key_id: &str,
        key_type: KeyType,
        public_key: &[u8],
    ) -> Result<Record, SignerError> {
        Record::legacy(self.wallet_key(key_id, key_type, public_key))
            .map_err(|e| SignerError::new(ErrorCode::Internal, format!("legacy record: {e}")))
    }

    /// The record held for `key_id`, if any.
    #[must_use]
    pub fn get(&self, key_id: &str) -> Option<Arc<Record>> {
        self.held.lock().ok()?.get(key_id).cloned()
    }

    /// Admits the record `text` presented for a key just unsealed (or read
    /// from an HSM): its hash must be the one the blob is bound to, or the
    /// HSM's record object holds (`bound`; `None` for a key from before
    /// records, whose record is the legacy one), it must describe
    /// this very key in this deployment, and it must not be older than a
    /// record this signer has seen for the wallet. Then it is held. No
    /// `text` stands for the record without owners and with the permissive
    /// policy, which the signer makes itself: admitted only if it is the
    /// one bound.
    pub fn admit(
        &self,
        key_id: &str,
        key_type: KeyType,
        public_key: &[u8],
        bound: Option<[u8; 32]>,
        text: Option<&str>,
    ) -> Result<Arc<Record>, SignerError> {
        let record = match (bound, text) {
            (None, text) => {
                let legacy = self.legacy(key_id, key_type, public_key)?;
                if text.is_some_and(|t| t != legacy.text()) {
                    return Err(mismatch(
                        "this key is from before records: its record is the one without owners and with the permissive policy",
                    ));
                }
                legacy
            }
            (Some(bound), None) => {
                let legacy = self.legacy(key_id, key_type, public_key)?;
                if legacy.record_hash().0 != bound {
                    return Err(mismatch(
                        "this key is bound to a record with owners or a policy: send the wallet's record with it",
                    ));
                }
                legacy
            }
            (Some(bound), Some(text)) => {
                if RecordHash::of(text).0 != bound {
                    return Err(mismatch("the record is not the one this key is bound to"));
                }
                let record = Record::parse(text)
                    .map_err(|e| mismatch(format!("the bound record does not parse: {e}")))?;
                let expected = self.wallet_key(key_id, key_type, public_key);
                if *record.key() != expected {
                    return Err(mismatch(
                        "the record describes another key, wallet or deployment",
                    ));
                }
                record
            }
        };
        self.hold(record)
    }

    /// Holds `record` (a key's first record, or one admitted), refusing one
    /// older than a record seen for the wallet since start.
    pub fn hold(&self, record: Record) -> Result<Arc<Record>, SignerError> {
        let wallet = record.wallet_id().to_owned();
        {
            let mut seen = self.seen.lock().map_err(|_| poisoned())?;
            let newest = seen.entry(wallet.clone()).or_insert(0);
            if record.version() < *newest {
                return Err(mismatch(format!(
                    "record version {} is older than version {} this signer has seen for the wallet",
                    record.version(),
                    newest
                )));
            }
            *newest = record.version();
        }
        let record = Arc::new(record);
        self.held
            .lock()
            .map_err(|_| poisoned())?
            .put(wallet, Arc::clone(&record));
        Ok(record)
    }

    /// Forgets the record of a destroyed key.
    pub fn forget(&self, key_id: &str) {
        if let Ok(mut held) = self.held.lock() {
            held.pop(key_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signet_authority::Policy;

    fn key() -> Vec<u8> {
        ed25519_dalek::SigningKey::from_bytes(&[3; 32])
            .verifying_key()
            .to_bytes()
            .to_vec()
    }

    fn records() -> Records {
        Records::new("test", NonZeroUsize::new(8).unwrap()).unwrap()
    }

    fn owned(r: &Records) -> Record {
        let settings = Records::settings(Some(
            r#"{"owners":[{"id":"ann","type":"ed25519","public_key":"3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"}]}"#,
        ))
        .unwrap();
        r.initial(settings, "w1", KeyType::Ed25519, &key()).unwrap()
    }

    #[test]
    fn a_blob_from_before_records_gets_the_legacy_record_and_no_other() {
        let r = records();
        let legacy = r.admit("w1", KeyType::Ed25519, &key(), None, None).unwrap();
        assert!(legacy.owners().is_empty());
        assert_eq!(legacy.policy(), &Policy::permissive());
        let again = r
            .admit("w1", KeyType::Ed25519, &key(), None, Some(legacy.text()))
            .unwrap();
        assert_eq!(again, legacy);
        let other = owned(&r);
        assert_eq!(
            r.admit("w1", KeyType::Ed25519, &key(), None, Some(other.text()))
                .unwrap_err()
                .code,
            ErrorCode::RecordMismatch
        );
    }

    #[test]
    fn a_bound_blob_loads_only_with_its_own_record_for_its_own_key() {
        let r = records();
        let rec = owned(&r);
        let bound = Some(rec.record_hash().0);
        let code = |e: SignerError| e.code;
        assert_eq!(
            code(
                r.admit("w1", KeyType::Ed25519, &key(), bound, None)
                    .unwrap_err()
            ),
            ErrorCode::RecordMismatch,
            "no record"
        );
        let legacy = r.legacy("w1", KeyType::Ed25519, &key()).unwrap();
        assert_eq!(
            code(
                r.admit("w1", KeyType::Ed25519, &key(), bound, Some(legacy.text()))
                    .unwrap_err()
            ),
            ErrorCode::RecordMismatch,
            "another record"
        );
        let edited = rec.text().replace("\"threshold\":1", "\"threshold\":0");
        assert_eq!(
            code(
                r.admit("w1", KeyType::Ed25519, &key(), bound, Some(&edited))
                    .unwrap_err()
            ),
            ErrorCode::RecordMismatch,
            "an edited record"
        );
        // The right record, claimed for another wallet id or key.
        assert_eq!(
            code(
                r.admit("w2", KeyType::Ed25519, &key(), bound, Some(rec.text()))
                    .unwrap_err()
            ),
            ErrorCode::RecordMismatch
        );
        assert_eq!(
            code(
                r.admit("w1", KeyType::Ed25519, &[9; 32], bound, Some(rec.text()))
                    .unwrap_err()
            ),
            ErrorCode::RecordMismatch
        );
        let held = r
            .admit("w1", KeyType::Ed25519, &key(), bound, Some(rec.text()))
            .unwrap();
        assert_eq!(r.get("w1"), Some(held));
    }

    #[test]
    fn no_record_text_stands_for_the_record_without_owners_only_when_it_is_the_one_bound() {
        let r = records();
        let legacy = r.legacy("w1", KeyType::Ed25519, &key()).unwrap();
        let admitted = r
            .admit(
                "w1",
                KeyType::Ed25519,
                &key(),
                Some(legacy.record_hash().0),
                None,
            )
            .unwrap();
        assert_eq!(*admitted, legacy);
        let owned = owned(&r);
        assert_eq!(
            r.admit(
                "w1",
                KeyType::Ed25519,
                &key(),
                Some(owned.record_hash().0),
                None
            )
            .unwrap_err()
            .code,
            ErrorCode::RecordMismatch
        );
    }

    #[test]
    fn an_older_record_is_refused_once_a_newer_one_was_seen() {
        let r = records();
        let first = owned(&r);
        let second = first
            .next(first.owners().to_vec(), 1, Policy::permissive())
            .unwrap();
        r.hold(second).unwrap();
        assert_eq!(
            r.hold(first.clone()).unwrap_err().code,
            ErrorCode::RecordMismatch
        );
        assert_eq!(
            r.admit("w1", KeyType::Ed25519, &key(), None, None)
                .unwrap_err()
                .code,
            ErrorCode::RecordMismatch,
            "the legacy record (version 1) of a wallet now at version 2"
        );
        r.forget("w1");
        assert!(r.get("w1").is_none());
        assert!(
            r.hold(first).is_err(),
            "forgetting the record keeps the rule"
        );
    }

    #[test]
    fn settings_are_read_strictly() {
        assert_eq!(Records::settings(None).unwrap(), RecordSettings::default());
        assert_eq!(
            Records::settings(Some(r#"{"policy":{"allow":[]}}"#))
                .unwrap()
                .policy
                .map(|p| p.allow().is_empty()),
            Some(true)
        );
        for bad in [
            "nope",
            r#"{"owners":[{"id":"Ann","type":"ed25519","public_key":"00"}]}"#,
            r#"{"policy":{"allow":["everything"]}}"#,
            r#"{"threshold":99}"#,
        ] {
            assert_eq!(
                Records::settings(Some(bad)).unwrap_err().code,
                ErrorCode::BadRequest,
                "{bad}"
            );
        }
        assert!(Records::new("", NonZeroUsize::MIN).is_err());
        assert!(Records::new("has space", NonZeroUsize::MIN).is_err());
    }
}
