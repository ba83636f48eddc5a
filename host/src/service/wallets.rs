//! Wallets: created in the signer, stored with their sealed key, visible
//! only to their owner (another tenant's wallet is a 404, recorded as
//! `TENANT_DENY`), destroyed in the signer and shredded in storage.

use std::sync::Arc;

use rand_core::RngCore as _;
use signet_proto::time::now_ms;
use signet_proto::{ErrorCode, KeyType, SealedKey};

use super::audit::{Action, Event, Outcome, SecurityEvent};
use super::authz::{Principal, Scope};
use super::{Denier, Error, Result, Service};
use crate::domain::{VersionState, Wallet};
use crate::signer::CallError;
use crate::store::WriteOp;

/// Parses a `nonce` given as hex (at most 512 bytes).
pub fn parse_nonce(nonce: Option<&str>) -> Result<Option<Vec<u8>>> {
    nonce
        .map(|n| {
            let bytes = hex::decode(n).map_err(|_| Error::bad_request("`nonce` must be hex"))?;
            if bytes.len() > 512 {
                return Err(Error::bad_request("`nonce` is at most 512 bytes"));
            }
            Ok(bytes)
        })
        .transpose()
}

/// The stored sealed key of `wallet`, for the signer to load.
pub(super) fn sealed_of(wallet: &Wallet) -> Result<SealedKey> {
    let bytes = wallet.sealed.as_ref().ok_or_else(|| {
        Error::SignerUnavailable(
            "the signer does not hold this key and no sealed copy is stored".into(),
        )
    })?;
    SealedKey::from_bytes(bytes)
        .map_err(|e| Error::internal(format!("stored sealed key of {}: {e}", wallet.id)))
}

/// The stored sealed key of `wallet` when there is one (`None` for a key
/// the signer holds itself, as on PKCS#11).
pub(super) fn stored_sealed(wallet: &Wallet) -> Result<Option<SealedKey>> {
    wallet
        .sealed
        .as_ref()
        .map(|_| sealed_of(wallet))
        .transpose()
}

impl Service {
    /// The wallet row `id`, whoever owns it, through the cache.
    pub(crate) async fn wallet_row(&self, id: &str) -> Result<Option<Arc<Wallet>>> {
        if let Some(w) = self.wallets.get(id) {
            return Ok(w);
        }
        let w = self.store.wallet(id).await?.map(Arc::new);
        self.wallets.put(id, w.clone());
        Ok(w)
    }

    /// A wallet the principal may use; another owner's is a 404 (and a
    /// `TENANT_DENY` event), indistinguishable from a missing one.
    pub async fn owned_wallet(&self, principal: &Principal, id: &str) -> Result<Arc<Wallet>> {
        match self.wallet_row(id).await? {
            Some(w) if w.owner == principal.owner() => Ok(w),
            Some(_) => {
                self.deny(
                    SecurityEvent::TenantDeny,
                    Denier::Principal(principal),
                    id,
                    Outcome::denied("other_tenant"),
                )
                .await;
                Err(Error::NotFound("wallet"))
            }
            None => Err(Error::NotFound("wallet")),
        }
    }

    /// In a person's tenant (`user:<id>`) only the person's own session
    /// creates or destroys wallets: an API client attached to that tenant
    /// (a merchant's integration) could otherwise destroy the person's
    /// wallet for good or create look-alikes without their approval.
    async fn person_only(&self, principal: &Principal, target: &str) -> Result<()> {
        let Principal::Client(client) = principal else {
            return Ok(());
        };
        if !client.tenant.starts_with("user:") {
            return Ok(());
        }
        self.deny(
            SecurityEvent::ScopeDeny,
            Denier::Principal(principal),
            target,
            Outcome::denied("person_only"),
        )
        .await;
        Err(Error::Forbidden(
            "in a person's tenant only the person (their session) creates or destroys wallets"
                .into(),
        ))
    }

    /// Creates a wallet of `key_type` (`secp256k1`, `p256`, `ed25519`).
    pub async fn create_wallet(
        &self,
        principal: &Principal,
        key_type: &str,
        label: Option<String>,
        require_approval: bool,
        settings: Option<String>,
    ) -> Result<Wallet> {
        self.require(principal, Scope::WalletsWrite, "wallets")
            .await?;
        self.person_only(principal, "wallets").await?;
        let key_type: KeyType = key_type
            .parse()
            .map_err(|()| Error::bad_request("`key_type` must be secp256k1, p256 or ed25519"))?;
        if let Some(label) = &label {
            super::text::visible_field("label", label, 128)?;
        }
        if require_approval && !principal.owner().is_person() {
            return Err(Error::bad_request(
                "only a person's wallet can require approval: one created by a signed-in user, or by an API client of their tenant `user:<id>`",
            ));
        }
        let mut raw = [0u8; 16];
        rand_core::OsRng.fill_bytes(&mut raw);
        let id = format!("w_{}", hex::encode(raw));
        let mut generated = self.signer.generate(&id, key_type, settings).await?;
        if let Some(sealed) = generated.sealed.take() {
            generated.sealed = Some(
                self.current_sealing(sealed, &generated.key.public_key)
                    .await?,
            );
        }
        let row = Wallet {
            id: id.clone(),
            owner: principal.owner(),
            key_type,
            public_key: generated.key.public_key,
            label,
            sealed: generated.sealed.as_ref().map(SealedKey::to_bytes),
            attestation: generated.attestation,
            created_at_ms: now_ms(),
            require_approval,
            record: generated.record.take(),
        };
        let event = Event::by(principal, Action::WalletCreate, &id, Outcome::Ok);
        if let Err(e) = self
            .audit
            .write(WriteOp::CreateWallet(row.clone()), event)
            .await
        {
            // Not stored, so not created: drop the key from the signer too.
            if let Err(destroy) = self.signer.destroy(&id).await {
                tracing::warn!(wallet = %id, error = ?destroy, "could not drop an unstored key from the signer");
            }
            return Err(e.into());
        }
        self.wallets.forget(&id);
        Ok(row)
    }

    /// A page of the principal's wallets after the cursor `after`
    /// (`<created_at>.<id>`), and the cursor of the next page.
    pub async fn list_wallets(
        &self,
        principal: &Principal,
        after: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<Wallet>, Option<String>)> {
        self.require(principal, Scope::WalletsRead, "wallets")
            .await?;
        let after = after
            .map(|cursor| {
                let bad = || Error::bad_request("bad `after` cursor");
                let (at, id) = cursor.split_once('.').ok_or_else(bad)?;
                Ok::<_, Error>((at.parse::<u64>().map_err(|_| bad())?, id.to_owned()))
            })
            .transpose()?;
        let rows = self.store.wallets(&principal.owner(), after, limit).await?;
        let next = (rows.len() == limit as usize)
            .then(|| rows.last().map(|w| format!("{}.{}", w.created_at_ms, w.id)))
            .flatten();
        Ok((rows, next))
    }

    /// One of the principal's wallets.
    pub async fn show_wallet(&self, principal: &Principal, id: &str) -> Result<Wallet> {
        self.require(principal, Scope::WalletsRead, id).await?;
        self.owned_wallet(principal, id)
            .await
            .map(Arc::unwrap_or_clone)
    }

    /// Destroys a wallet: the key is zeroized in the signer, then the
    /// wallet is marked destroyed and its sealed copy shredded.
    pub async fn destroy_wallet(&self, principal: &Principal, id: &str) -> Result<()> {
        self.require(principal, Scope::WalletsWrite, id).await?;
        self.person_only(principal, id).await?;
        let wallet = self.owned_wallet(principal, id).await?;
        match self.signer.destroy(&wallet.id).await {
            Ok(()) | Err(CallError::Refused(ErrorCode::KeyNotFound, _)) => {}
            Err(e) => return Err(e.into()),
        }
        self.audit
            .write(
                WriteOp::DestroyWallet {
                    id: id.to_owned(),
                    at: now_ms(),
                },
                Event::by(principal, Action::WalletDestroy, id, Outcome::Ok),
            )
            .await?;
        self.wallets.forget(id);
        Ok(())
    }

    /// A fresh attestation document binding the wallet's key.
    pub async fn wallet_attestation(
        &self,
        principal: &Principal,
        id: &str,
        nonce: Option<&str>,
    ) -> Result<Option<Vec<u8>>> {
        self.require(principal, Scope::WalletsRead, id).await?;
        let nonce = parse_nonce(nonce)?;
        let wallet = self.owned_wallet(principal, id).await?;
        let attest = || self.signer.attest(nonce.clone(), Some(wallet.id.clone()));
        match attest().await {
            Err(CallError::Refused(ErrorCode::KeyNotLoaded, _)) => {
                self.metrics.sealed_key_loads.inc();
                match self
                    .signer
                    .load_sealed(sealed_of(&wallet)?, wallet.record.clone())
                    .await
                {
                    // Another replica rotated the sealing key meanwhile.
                    Err(CallError::Refused(ErrorCode::SealingUnavailable, _))
                        if self.sealing_manager.is_some() =>
                    {
                        if let Some(fresh) = self.resync_sealed(&wallet.id).await? {
                            self.signer
                                .load_sealed(fresh, wallet.record.clone())
                                .await?;
                        }
                    }
                    other => other?,
                }
                Ok(attest().await?)
            }
            other => Ok(other?),
        }
    }

    /// A fresh attestation document of the signer.
    pub async fn signer_attestation(&self, nonce: Option<&str>) -> Result<Option<Vec<u8>>> {
        let nonce = parse_nonce(nonce)?;
        Ok(self.signer.attest(nonce, None).await?)
    }
}

impl Service {
    /// With KMS sealing, a new wallet's blob must be under the newest stored
    /// version: a signer that has not yet moved to a version another
    /// replica's rotation created is brought to it and the blob re-sealed,
    /// so a rotation never retires a version a new wallet still needs.
    pub(super) async fn current_sealing(
        &self,
        sealed: SealedKey,
        public_key: &[u8],
    ) -> Result<SealedKey> {
        if self.sealing_manager.is_none() {
            return Ok(sealed);
        }
        let newest = self
            .store
            .sealing_keys()
            .await?
            .iter()
            .filter(|k| k.state == VersionState::Active)
            .map(|k| k.version)
            .max();
        if newest.is_none_or(|v| sealed.sealing_key_version >= v) {
            return Ok(sealed);
        }
        self.sync_sealing().await;
        let (resealed, key) = self.signer.reseal(sealed).await?;
        if key != public_key || newest.is_some_and(|v| resealed.sealing_key_version < v) {
            return Err(Error::SignerUnavailable(
                "signer: its sealing key is behind the stored one; retry".into(),
            ));
        }
        Ok(resealed)
    }
}

impl Service {
    /// Loads every live wallet's sealed key into the signer, the check of
    /// `signet-host admin restore --verify`: how many were loaded, and the
    /// wallets the signer could not unseal, each with its reason (a sealing
    /// version no longer held, another deployment's key, a corrupt blob).
    /// Wallets whose key lives in a PKCS#11 token have no blob and are not
    /// counted.
    pub async fn check_unsealable(&self) -> Result<(u64, Vec<(String, String)>)> {
        self.sync_sealing().await;
        let (mut after, mut loaded, mut refused) = (String::new(), 0u64, Vec::new());
        loop {
            let page = self.store.sealed_wallets(&after, 500).await?;
            let Some(last) = page.last() else {
                break;
            };
            after.clone_from(&last.id);
            for blob in page {
                let why = match SealedKey::from_bytes(&blob.sealed) {
                    Err(e) => Some(format!("the stored blob does not parse: {e}")),
                    Ok(sealed) => match self.signer.load_sealed(sealed, blob.record).await {
                        Ok(()) => None,
                        Err(crate::signer::CallError::Unavailable(m)) => {
                            return Err(Error::SignerUnavailable(m));
                        }
                        Err(e) => Some(Error::from(e).to_string()),
                    },
                };
                match why {
                    None => loaded += 1,
                    Some(why) => refused.push((blob.id, why)),
                }
            }
        }
        Ok((loaded, refused))
    }
}
