//! KMS sealing (`--sealing kms`): the signer obtains its sealing keys from
//! KMS itself, for an attestation document that carries its per-boot RSA
//! public key, so the data keys exist in plaintext only inside the signer.

use std::collections::BTreeMap;
use std::sync::Arc;

use signet_proto::message::{SealingState, StoredDataKey, UnsealRequest, Unsealed};
use signet_proto::ErrorCode;
use zeroize::Zeroizing;

use super::client::KmsClient;
use super::recipient::RecipientKey;
use crate::attestor::Attestor;
use crate::error::SignerError;
use crate::sealing::{SealingKey, SealingKeys};

/// Encryption-context key naming the purpose (always `sealing-key`).
pub const CONTEXT_PURPOSE: &str = "signet-purpose";
/// Encryption-context key naming the deployment (`--deployment`).
pub const CONTEXT_DEPLOYMENT: &str = "signet-deployment";
/// Encryption-context key carrying the sealing key version.
pub const CONTEXT_VERSION: &str = "signet-sealing-key-version";

/// SHA-256("signet/sealing-key-check/v1" ‖ key).
#[must_use]
pub fn key_check(key: &[u8; 32]) -> [u8; 32] {
    use sha2::{Digest as _, Sha256};
    let mut h = Sha256::new();
    h.update(b"signet/sealing-key-check/v1");
    h.update(key);
    h.finalize().into()
}

/// Constant-time equality (subtle).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

/// The KMS side of a signer's sealing keys.
pub struct KmsSealer {
    client: KmsClient,
    recipient: RecipientKey,
    attestor: Arc<dyn Attestor>,
    keys: Arc<SealingKeys>,
    deployment: String,
    /// The key check of each version held.
    checks: std::sync::Mutex<BTreeMap<u32, [u8; 32]>>,
    /// One unseal at a time (they change the key set).
    busy: tokio::sync::Mutex<()>,
}

impl KmsSealer {
    /// A sealer with a fresh RSA-2048 recipient key for this boot.
    pub fn new(
        client: KmsClient,
        attestor: Arc<dyn Attestor>,
        keys: Arc<SealingKeys>,
        deployment: &str,
    ) -> Result<Self, String> {
        if deployment.is_empty()
            || deployment.len() > 128
            || !deployment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return Err(format!(
                "--deployment {deployment:?}: 1 to 128 of [A-Za-z0-9._-] (it is in the KMS encryption context)"
            ));
        }
        let recipient =
            RecipientKey::generate().map_err(|e| format!("cannot make the RSA key: {e}"))?;
        Ok(Self {
            client,
            recipient,
            attestor,
            keys,
            deployment: deployment.to_owned(),
            checks: std::sync::Mutex::new(BTreeMap::new()),
            busy: tokio::sync::Mutex::new(()),
        })
    }

    /// The encryption context of `version`: KMS binds the data key to it, so
    /// a blob of one version or deployment cannot be passed off as another.
    #[must_use]
    pub fn context(&self, version: u32) -> BTreeMap<String, String> {
        BTreeMap::from([
            (CONTEXT_PURPOSE.to_owned(), "sealing-key".to_owned()),
            (CONTEXT_DEPLOYMENT.to_owned(), self.deployment.clone()),
            (CONTEXT_VERSION.to_owned(), version.to_string()),
        ])
    }

    /// The sealing state, for the hello and status.
    #[must_use]
    pub fn state(&self) -> SealingState {
        SealingState {
            mode: "kms".into(),
            current: self.keys.current_version(),
            versions: self.keys.versions(),
            kms_key_id: Some(self.client.key_id().to_owned()),
        }
    }

    /// A fresh document carrying the recipient's public key (KMS checks its
    /// age, so one per call).
    fn document(&self) -> Result<Vec<u8>, SignerError> {
        self.attestor
            .attest(Some(self.recipient.spki_der()), None, None)?
            .ok_or_else(|| {
                SignerError::new(
                    ErrorCode::AttestationUnavailable,
                    "KMS sealing needs attestation documents",
                )
            })
    }

    fn data_key(&self, version: u32, cms: &[u8]) -> Result<Zeroizing<[u8; 32]>, SignerError> {
        let refused = |m: String| SignerError::new(ErrorCode::KmsRefused, m);
        let plain = self
            .recipient
            .decrypt(cms)
            .map_err(|e| refused(format!("CiphertextForRecipient of version {version}: {e}")))?;
        if plain.len() != 32 {
            return Err(refused(format!(
                "KMS returned a data key of {} bytes for version {version}; 32 expected",
                plain.len()
            )));
        }
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&plain);
        Ok(key)
    }

    /// Whether the held `version` is the one the host stored (same key check).
    fn holds_same(&self, version: u32, expected: &[u8]) -> Result<bool, SignerError> {
        if !self.keys.holds(version) {
            return Ok(false);
        }
        let checks = self
            .checks
            .lock()
            .map_err(|_| SignerError::new(ErrorCode::Internal, "key checks lock poisoned"))?;
        Ok(checks.get(&version).is_some_and(|c| ct_eq(c, expected)))
    }

    fn install(&self, version: u32, key: &Zeroizing<[u8; 32]>) -> Result<(), SignerError> {
        self.keys.replace(SealingKey::new(version, key))?;
        self.checks
            .lock()
            .map_err(|_| SignerError::new(ErrorCode::Internal, "key checks lock poisoned"))?
            .insert(version, key_check(key));
        Ok(())
    }

    /// Obtains the stored versions (KMS `Decrypt`) and, if asked, a new one
    /// (KMS `GenerateDataKey`). Nothing is installed unless KMS's answer
    /// passes every check. The current version becomes the highest one the
    /// host listed as stored: a version just generated is not used until
    /// the host has stored its blob and lists it.
    pub async fn unseal(&self, request: UnsealRequest) -> Result<Unsealed, SignerError> {
        let _busy = self.busy.lock().await;
        let now = signet_proto::time::now_ms() / 1000;
        if request.credentials.expires_at.is_some_and(|t| t <= now) {
            return Err(SignerError::new(
                ErrorCode::CredentialsExpired,
                "the AWS credentials handed over have expired",
            ));
        }
        let mut data_keys = request.data_keys.clone();
        data_keys.sort_by_key(|k| k.version);
        for stored in &data_keys {
            if stored.version == 0 {
                return Err(SignerError::bad_request("sealing key versions start at 1"));
            }
            let expected = stored.key_check.as_deref().ok_or_else(|| {
                SignerError::bad_request(format!(
                    "stored version {} has no key check",
                    stored.version
                ))
            })?;
            if self.holds_same(stored.version, expected)? {
                continue;
            }
            if self.keys.current_version() == Some(stored.version) {
                // Cannot happen unless the database was changed under us:
                // refuse rather than swap the key new blobs are sealed under.
                return Err(SignerError::new(
                    ErrorCode::KmsRefused,
                    format!(
                        "the stored version {} is not the key this signer seals with; restart the signer",
                        stored.version
                    ),
                ));
            }
            let document = self.document()?;
            let answer = self
                .client
                .decrypt(
                    &request.credentials,
                    &self.context(stored.version),
                    &stored.ciphertext_blob,
                    &document,
                )
                .await?;
            let key = self.data_key(stored.version, &answer.ciphertext_for_recipient)?;
            if !ct_eq(&key_check(&key), expected) {
                return Err(SignerError::new(
                    ErrorCode::KmsRefused,
                    format!(
                        "the data key KMS returned for version {} fails its key check: tampered answer, or another blob",
                        stored.version
                    ),
                ));
            }
            self.install(stored.version, &key)?;
            tracing::info!(
                version = stored.version,
                "sealing key obtained from KMS (Decrypt)"
            );
        }
        let mut generated = None;
        if let Some(version) = request.generate {
            let highest = self.keys.versions().last().copied().unwrap_or(0);
            let stored_top = data_keys.last().map_or(0, |k| k.version);
            if version == 0 || version <= highest.max(stored_top) {
                return Err(SignerError::bad_request(format!(
                    "a new sealing key version must be above {}",
                    highest.max(stored_top)
                )));
            }
            let document = self.document()?;
            let answer = self
                .client
                .generate_data_key(&request.credentials, &self.context(version), &document)
                .await?;
            let key = self.data_key(version, &answer.ciphertext_for_recipient)?;
            let ciphertext_blob = answer.ciphertext_blob.ok_or_else(|| {
                SignerError::new(ErrorCode::KmsRefused, "GenerateDataKey: no CiphertextBlob")
            })?;
            // The CMS has no integrity of its own: before anything is sealed
            // under the new key, KMS must give the same key back for the
            // blob the host will store (a tampered answer fails here).
            let document = self.document()?;
            let again = self
                .client
                .decrypt(
                    &request.credentials,
                    &self.context(version),
                    &ciphertext_blob,
                    &document,
                )
                .await?;
            let check = self.data_key(version, &again.ciphertext_for_recipient)?;
            if !ct_eq(key.as_ref(), check.as_ref()) {
                return Err(SignerError::new(
                    ErrorCode::KmsRefused,
                    format!("GenerateDataKey and Decrypt of its blob disagree for version {version}: tampered answer"),
                ));
            }
            self.install(version, &key)?;
            tracing::info!(version, "sealing key created by KMS (GenerateDataKey)");
            generated = Some(StoredDataKey {
                version,
                ciphertext_blob,
                key_check: Some(key_check(&key).to_vec()),
            });
        }
        // Only once every stored version is held does the highest of them
        // become current (never one the host has not stored).
        if let Some(top) = data_keys.last() {
            self.keys.make_current(top.version)?;
        }
        Ok(Unsealed {
            state: self.state(),
            generated,
        })
    }
}
