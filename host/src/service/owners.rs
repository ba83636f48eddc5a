//! Wallets with owners: what the host does around the signer's authority.
//!
//! The signer decides (it holds each wallet's record, verifies the owners'
//! approvals and refuses what its policy does not allow); the host makes
//! the way there usable: it reads the owner settings of a new wallet, tells
//! a caller at `sign-intent` time that the owners are needed and what they
//! sign (authorization v1), collects their approvals on the intent —
//! checking each one early for feedback — and hands them to the signer with
//! the intent's ticket. Nothing here is trusted by the signer.

use serde_json::{json, Value};
use signet_authority::approval::ApprovalRefusal as Refusal;
use signet_authority::{
    verify_approvals, Approval, Authorization, Expected, Kind, Proof, Record, RecordSettings,
    Request as AuthzRequest, WebAuthnProof,
};
use signet_proto::time::now_ms;
use signet_proto::ErrorCode;

use super::audit::{Action, Event, Outcome};
use super::authz::Principal;
use super::{Error, Result, Service};
use crate::domain::{ApprovalRefusal, Decision, IntentState, Wallet};
use crate::store::WriteOp;

use super::approvals::IntentRecord;

/// How long an authorization the host writes for owners lives: the most
/// the signer takes (a signer in its first 600 s takes only authorizations
/// expiring after that, so a shorter one could be refused).
const AUTHORIZATION_LIFETIME_S: u64 = signet_authority::authz::MAX_LIFETIME_SECONDS;

/// Reads the owner settings of `POST /v1/wallets` (`owners`, `threshold`,
/// `policy`, each optional) and returns them as the signer's `Generate`
/// takes them, or `None` when none is given. Refusals name the field; the
/// signer checks them again, and it is the one that decides.
pub fn wallet_settings(
    owners: Option<Value>,
    threshold: Option<Value>,
    policy: Option<Value>,
) -> Result<Option<String>> {
    let settings = settings_object(owners, threshold, policy);
    if settings.as_object().is_some_and(serde_json::Map::is_empty) {
        return Ok(None);
    }
    RecordSettings::from_request(&settings).map_err(|e| Error::bad_request(e.to_string()))?;
    Ok(Some(settings.to_string()))
}

/// `{owners?, threshold?, policy?}` as a JSON object, with what is absent
/// or `null` left out: what a record is made or changed with.
#[must_use]
pub fn settings_object(
    owners: Option<Value>,
    threshold: Option<Value>,
    policy: Option<Value>,
) -> Value {
    let mut settings = serde_json::Map::new();
    for (name, value) in [
        ("owners", owners),
        ("threshold", threshold),
        ("policy", policy),
    ] {
        if let Some(v) = value.filter(|v| !v.is_null()) {
            settings.insert(name.into(), v);
        }
    }
    Value::Object(settings)
}

/// The wallet's record, parsed; `None` for a wallet from before records.
pub fn record_of(wallet: &Wallet) -> Result<Option<Record>> {
    wallet
        .record
        .as_deref()
        .map(|text| {
            Record::parse(text).map_err(|e| {
                Error::internal(format!(
                    "wallet {}: its stored record does not parse: {e}",
                    wallet.id
                ))
            })
        })
        .transpose()
}

/// Adds `amount_units` beside the token amounts of `detail` (a decoded
/// transaction or typed data) for the tokens `wallet`'s policy lists with
/// their `decimals` (docs/policy.md). A record without `decimals` is not
/// even parsed: this runs on every signature of a transaction.
pub fn annotate_units(wallet: &Wallet, detail: Option<&mut Value>) -> Result<()> {
    let Some(detail) = detail else {
        return Ok(());
    };
    if !wallet
        .record
        .as_deref()
        .is_some_and(|t| t.contains("\"decimals\""))
    {
        return Ok(());
    }
    if let Some(record) = record_of(wallet)? {
        record.policy().annotate_units(detail);
    }
    Ok(())
}

/// The kind of a content object (`{digest}`, `{message, encoding}`,
/// `{transaction}`, `{typed_data}`).
#[must_use]
pub fn payload_kind(payload: &Value) -> Kind {
    let has = |k: &str| payload.get(k).is_some();
    if has("transaction") {
        Kind::Transaction
    } else if has("typed_data") {
        Kind::TypedData
    } else if has("message") {
        Kind::Message
    } else {
        Kind::Digest
    }
}

/// What signing `payload` on `wallet` takes: `None` when its policy allows
/// it on a ticket alone, else the record whose owners must approve. A
/// wallet without owners refuses at once (`policy_denied`), as its signer
/// would.
pub fn owners_needed(wallet: &Wallet, payload: &Value) -> Result<Option<Record>> {
    let Some(record) = record_of(wallet)? else {
        return Ok(None);
    };
    let kind = payload_kind(payload);
    if record.policy().allows(kind) {
        return Ok(None);
    }
    if record.owners().is_empty() {
        return Err(Error::Authority {
            code: ErrorCode::PolicyDenied,
            message: format!(
                "wallet {}'s policy does not allow `{}`, and it has no owners to approve it",
                wallet.id,
                kind.as_str()
            ),
            detail: Some("allow".into()),
        });
    }
    Ok(Some(record))
}

/// The authorization the owners of `record` sign to approve signing
/// `payload` (whose digest is `digest`), fresh for 600 s.
pub fn authorization(record: &Record, payload: &Value, digest: &[u8]) -> Result<Authorization> {
    let digest: [u8; 32] = digest
        .try_into()
        .map_err(|_| Error::internal("a digest is not 32 bytes"))?;
    let payload_sha256 = signet_authority::payload_sha256(payload)
        .map_err(|e| Error::bad_request(format!("content: {e}")))?;
    fresh_authorization(
        record,
        AuthzRequest::Sign {
            payload_sha256,
            digest,
        },
    )
}

/// The authorization the owners of `record` sign for `request`: a random
/// request id, fresh for 600 s from now.
fn fresh_authorization(record: &Record, request: AuthzRequest) -> Result<Authorization> {
    let mut request_id = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut request_id);
    Authorization::fresh(
        record,
        request,
        now_ms() / 1000,
        AUTHORIZATION_LIFETIME_S,
        request_id,
    )
    .map_err(|e| Error::internal(format!("authorization: {e}")))
}

/// The approvals kept on an intent (JSON array), or none.
pub fn stored_approvals(stored: Option<&str>) -> Result<Vec<Approval>> {
    stored
        .map(|s| {
            serde_json::from_str(s)
                .map_err(|e| Error::internal(format!("an intent's approvals do not parse: {e}")))
        })
        .transpose()
        .map(Option::unwrap_or_default)
}

/// `{authorization: {text, sha256}}` of an intent waiting for its owners.
#[must_use]
pub fn authorization_view(text: &str) -> Value {
    use sha2::Digest as _;
    json!({
        "text": text,
        "sha256": hex::encode(sha2::Sha256::digest(text.as_bytes())),
    })
}

/// An owner's approval as `POST /v1/intents/{id}/approve` takes it.
#[derive(Debug, Clone)]
pub struct OwnerApproval {
    /// The owner's id in the wallet's record.
    pub owner_id: String,
    /// `signature` (secp256k1, ed25519, p256 owners) in hex.
    pub signature: Option<String>,
    /// `webauthn` (passkey owners).
    pub webauthn: Option<WebAuthnProof>,
}

impl Service {
    /// Adds one owner's approval to an intent waiting for its owners. The
    /// approval is checked now against the wallet's record (so a wrong one
    /// is refused at once, with the reason), kept on the intent, and once
    /// the approvals meet the record's threshold the intent is approved:
    /// its ticket then signs, the signer verifying every approval again.
    pub async fn approve_as_owner(
        &self,
        principal: &Principal,
        id: &str,
        approval: OwnerApproval,
    ) -> Result<IntentRecord> {
        let current = self.intent_record(principal, id).await?;
        let Some(text) = current.intent.authorization.clone() else {
            return Err(Error::bad_request(
                "this intent does not wait for owners' approvals: its wallet's policy allows it (or its owner approves it in a session, without a body)",
            ));
        };
        match current.state {
            IntentState::Pending => {}
            IntentState::Expired => {
                return Err(Error::Approval {
                    refusal: ApprovalRefusal::IntentExpired,
                    message: "this intent expired before its owners approved it".into(),
                })
            }
            _ => {
                return Err(Error::Approval {
                    refusal: ApprovalRefusal::IntentDecided,
                    message: "this intent is already decided".into(),
                })
            }
        }
        self.check_not_frozen(&current.wallet.id, &current.wallet.owner)?;
        let record = record_of(&current.wallet)?.ok_or_else(|| {
            Error::internal("an intent waits for owners on a wallet without a record")
        })?;
        let proof = match (approval.signature, approval.webauthn) {
            (Some(s), None) => Proof::Signature(s),
            (None, Some(w)) => Proof::WebAuthn(w),
            _ => {
                return Err(Error::bad_request(
                    "send exactly one of `signature` (secp256k1, ed25519, p256 owners) and `webauthn` (passkey owners)",
                ))
            }
        };
        let mut approvals = stored_approvals(current.intent.owner_approvals.as_deref())?;
        approvals.push(Approval {
            owner_id: approval.owner_id,
            text: text.clone(),
            proof,
        });
        let authz = Authorization::parse(&text)
            .map_err(|e| Error::internal(format!("an intent's authorization: {e}")))?;
        let expected = Expected::for_request(
            record.deployment(),
            &record,
            &AuthzRequest::Sign {
                payload_sha256: *authz.payload_sha256(),
                digest: authz
                    .digest()
                    .copied()
                    .ok_or_else(|| Error::internal("an intent's authorization has no digest"))?,
            },
        );
        let met = match verify_approvals(&record, &expected, &approvals, now_ms() / 1000) {
            Ok(_) => true,
            Err(e) if e.refusal == Refusal::BelowThreshold => false,
            Err(e) => {
                return Err(Error::Authority {
                    code: ErrorCode::ApprovalInvalid,
                    message: e.to_string(),
                    detail: Some(e.refusal.as_str().into()),
                })
            }
        };
        let owners: Vec<&str> = approvals.iter().map(|a| a.owner_id.as_str()).collect();
        let stored = serde_json::to_string(&approvals)
            .map_err(|e| Error::internal(format!("approvals: {e}")))?;
        let detail = Some(json!({"intent_id": id, "owners": owners, "threshold_met": met}));
        let wallet_id = current.wallet.id.clone();
        let kept = self
            .audit
            .write(
                WriteOp::OwnerApprovals {
                    jti: id.to_owned(),
                    previous: current.intent.owner_approvals.clone(),
                    approvals: stored,
                },
                Event::by(principal, Action::IntentApprove, &wallet_id, Outcome::Ok).detail(detail),
            )
            .await?;
        if !kept {
            return Err(Error::Approval {
                refusal: ApprovalRefusal::IntentDecided,
                message: "this intent changed meanwhile (decided, expired, or another owner approved): read it again and retry".into(),
            });
        }
        if met {
            let applied = self
                .audit
                .write(
                    WriteOp::DecideIntent {
                        jti: id.to_owned(),
                        decision: Decision::Approve,
                        by: format!("owners:{}", owners.join(",")),
                        at: now_ms(),
                    },
                    Event::by(principal, Action::IntentApprove, &wallet_id, Outcome::Ok)
                        .detail(Some(json!({"intent_id": id, "threshold_met": true}))),
                )
                .await?;
            if !applied {
                return Err(Error::Approval {
                    refusal: ApprovalRefusal::IntentDecided,
                    message: "this intent was decided or expired meanwhile".into(),
                });
            }
        }
        self.intent_record(principal, id).await
    }
}

/// How often a replica retries writing the records of wallets from before
/// records until every one has its record.
pub const BACKFILL_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

impl Service {
    /// Gives every live wallet from before records its record: the one
    /// without owners and with the permissive policy, naming the signer's
    /// deployment — the record the signer holds such a key under (its blob
    /// binds no record). Until this ran, such a wallet shows `record: null`.
    /// `Ok(true)` once no wallet is left without one; `Ok(false)` while the
    /// signer's deployment is not known yet (no connection so far).
    pub async fn backfill_records(&self) -> Result<bool> {
        if self.signer.info().deployment.is_none() {
            // Not connected yet: connecting learns it.
            let _ = self.signer.ready().await;
        }
        let Some(deployment) = self.signer.info().deployment else {
            return Ok(false);
        };
        let mut after = String::new();
        let mut written = 0u64;
        loop {
            let page = self.store.wallets_without_record(&after, 500).await?;
            let Some(last) = page.last() else {
                break;
            };
            after.clone_from(&last.0);
            for (id, key_type, public_key) in page {
                let key_type = signet_authority::KeyType::from_name(&key_type)
                    .ok_or_else(|| Error::internal(format!("wallet {id}: key type {key_type}")))?;
                let record = Record::legacy(signet_authority::WalletKey {
                    deployment: deployment.clone(),
                    wallet_id: id.clone(),
                    key_type,
                    public_key,
                })
                .map_err(|e| Error::internal(format!("wallet {id}: its record: {e}")))?;
                if self.store.set_missing_record(&id, record.text()).await? {
                    self.wallets.forget(&id);
                    written += 1;
                }
            }
        }
        if written > 0 {
            tracing::info!(wallets = written, %deployment, "records written for wallets from before records");
        }
        Ok(true)
    }
}

/// What `POST /v1/wallets/{id}/record` did.
#[derive(Debug)]
pub enum RecordChange {
    /// The signer took the new record: the wallet as it is now.
    Applied(Wallet),
    /// The wallet's owners must approve it: the record they would get and
    /// the authorization (`update_record`) each one signs; send the same
    /// settings again with their `approvals`.
    NeedsOwners {
        /// The proposed record's text.
        record: String,
        /// The authorization text.
        authorization: String,
    },
}

impl Service {
    /// Changes a wallet's record to the one `settings` (`{owners?,
    /// threshold?, policy?}`: what is not given stays) make from the
    /// current one. The signer decides: its owners' `approvals` of this
    /// exact change (authorization v1, action `update_record`), or for a
    /// wallet without owners a change that loosens nothing. Without
    /// approvals on a wallet with owners, nothing changes: the answer is
    /// the record and the authorization to approve.
    pub async fn change_record(
        &self,
        principal: &Principal,
        id: &str,
        settings: &Value,
        approvals: Vec<Approval>,
    ) -> Result<RecordChange> {
        self.require(principal, super::authz::Scope::WalletsWrite, id)
            .await?;
        let wallet = self.owned_wallet(principal, id).await?;
        self.check_not_frozen(&wallet.id, &wallet.owner)?;
        let current = record_of(&wallet)?.ok_or_else(|| {
            Error::SignerUnavailable(
                "this wallet's record is being written (a wallet from before records); retry in a few seconds".into(),
            )
        })?;
        let next = RecordSettings::from_request(settings)
            .and_then(|s| s.next(&current))
            .map_err(|e| Error::bad_request(e.to_string()))?;
        let sealed = super::wallets::stored_sealed(&wallet)?;
        let request = signet_proto::message::UpdateRecordRequest {
            key_id: wallet.id.clone(),
            sealed,
            record: wallet.record.clone(),
            new_record: next.text().to_owned(),
            approvals,
        };
        let needs_owners = request.approvals.is_empty() && !current.owners().is_empty();
        // Without approvals the signer applies only a change the owners
        // approved earlier whose change delay has passed; otherwise the
        // owners are asked.
        let generated = match self.signer.update_record(request).await {
            Err(crate::signer::CallError::Decided(ErrorCode::OwnerApprovalRequired, _, _))
                if needs_owners =>
            {
                None
            }
            other => Some(other?),
        };
        let Some(mut generated) = generated else {
            let authz = fresh_authorization(
                &current,
                AuthzRequest::UpdateRecord {
                    new_record: next.record_hash(),
                },
            )?;
            return Ok(RecordChange::NeedsOwners {
                record: next.text().to_owned(),
                authorization: authz.text().to_owned(),
            });
        };
        if generated.record.as_deref() != Some(next.text()) {
            return Err(Error::internal("the signer answered with another record"));
        }
        if let Some(blob) = generated.sealed.take() {
            generated.sealed = Some(self.current_sealing(blob, &wallet.public_key).await?);
        }
        let event = Event::by(principal, Action::WalletRecord, &wallet.id, Outcome::Ok).detail(
            Some(json!({
                "version": next.version(),
                "record_hash": next.record_hash().to_hex(),
                "owners": next.owners().iter().map(signet_authority::Owner::id).collect::<Vec<_>>(),
                "threshold": next.threshold(),
            })),
        );
        let applied = self
            .audit
            .write(
                WriteOp::SetRecord {
                    id: wallet.id.clone(),
                    record: next.text().to_owned(),
                    sealed: generated
                        .sealed
                        .as_ref()
                        .map(signet_proto::SealedKey::to_bytes),
                    attestation: generated.attestation.clone(),
                },
                event,
            )
            .await?;
        self.wallets.forget(&wallet.id);
        if !applied {
            return Err(Error::NotFound("wallet"));
        }
        let fresh = self
            .wallet_row(&wallet.id)
            .await?
            .ok_or(Error::NotFound("wallet"))?;
        Ok(RecordChange::Applied(fresh))
    }
}

/// What `POST /v1/wallets/{id}/resume` did.
#[derive(Debug)]
pub enum ResumeOutcome {
    /// The signer lifted the wallet's cold windows.
    Resumed,
    /// The owners must approve it: the authorization (action `resume`)
    /// each one signs; send it again with their `approvals`.
    NeedsOwners {
        /// The authorization text.
        authorization: String,
    },
}

impl Service {
    /// The owners' `resume`: lifts the wallet's cold windows on this host's
    /// signer (docs/policy.md). Without approvals, the authorization to
    /// approve.
    pub async fn resume(
        &self,
        principal: &Principal,
        id: &str,
        approvals: Vec<Approval>,
    ) -> Result<ResumeOutcome> {
        self.require(principal, super::authz::Scope::WalletsWrite, id)
            .await?;
        let wallet = self.owned_wallet(principal, id).await?;
        self.check_not_frozen(&wallet.id, &wallet.owner)?;
        let record = record_of(&wallet)?.ok_or_else(|| {
            Error::SignerUnavailable(
                "this wallet's record is being written (a wallet from before records); retry in a few seconds".into(),
            )
        })?;
        if record.owners().is_empty() {
            return Err(Error::Authority {
                code: ErrorCode::PolicyDenied,
                message: "this wallet has no owners to sign `resume`: its windows warm up once the signer has held it for a whole window".into(),
                detail: Some("resume".into()),
            });
        }
        if approvals.is_empty() {
            let authz = fresh_authorization(&record, AuthzRequest::Resume)?;
            return Ok(ResumeOutcome::NeedsOwners {
                authorization: authz.text().to_owned(),
            });
        }
        let sealed = super::wallets::stored_sealed(&wallet)?;
        self.signer
            .resume(signet_proto::message::ResumeRequest {
                key_id: wallet.id.clone(),
                sealed,
                record: wallet.record.clone(),
                approvals,
            })
            .await?;
        let event = Event::by(principal, Action::WalletResume, &wallet.id, Outcome::Ok)
            .detail(Some(json!({"record_hash": record.record_hash().to_hex()})));
        self.audit.write(WriteOp::Audit, event).await?;
        Ok(ResumeOutcome::Resumed)
    }
}
