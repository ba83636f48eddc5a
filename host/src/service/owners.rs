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
use std::sync::Arc;

use super::audit::{Action, Event, Outcome};
use super::authz::Principal;
use super::cache::TtlCache;
use super::{Error, Result, Service};
use crate::domain::{
    ApprovalRefusal, Decision, IntentState, ProposalStage, ProposalState, RecordProposal, Wallet,
};
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
///
/// [`Record::parse`] is strict (JSON, the canonical form checked field by
/// field, the canonical text rebuilt and hashed) and cost more host CPU than
/// a whole `sign` on each `sign-intent` (issue 29). A text always parses to
/// the same record, so the parse is kept by wallet and used while the
/// wallet's stored text is still the record's own.
pub fn record_of(wallet: &Wallet) -> Result<Option<Arc<Record>>> {
    /// Long: an entry is only used while its text matches, so age never
    /// makes it wrong; the cache's own bound keeps it small.
    const KEPT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
    static PARSED: std::sync::LazyLock<TtlCache<Arc<Record>>> =
        std::sync::LazyLock::new(|| TtlCache::new(KEPT));
    let Some(text) = wallet.record.as_deref() else {
        return Ok(None);
    };
    if let Some(record) = PARSED.get(&wallet.id).filter(|r| r.text() == text) {
        return Ok(Some(record));
    }
    let record = Arc::new(Record::parse(text).map_err(|e| {
        Error::internal(format!(
            "wallet {}: its stored record does not parse: {e}",
            wallet.id
        ))
    })?);
    PARSED.put(&wallet.id, Arc::clone(&record));
    Ok(Some(record))
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

/// What signing `payload` on wallet `wallet_id`, whose record is `record`,
/// takes: `None` when its policy allows it on a ticket alone, else the
/// record whose owners must approve. A wallet without owners refuses at
/// once (`policy_denied`), as its signer would.
pub fn owners_needed(
    wallet_id: &str,
    record: Arc<Record>,
    payload: &Value,
) -> Result<Option<Arc<Record>>> {
    let kind = payload_kind(payload);
    if record.policy().allows(kind) {
        return Ok(None);
    }
    if record.owners().is_empty() {
        return Err(Error::Authority {
            code: ErrorCode::PolicyDenied,
            message: format!(
                "wallet {wallet_id}'s policy does not allow `{}`, and it has no owners to approve it",
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

impl OwnerApproval {
    /// The approval of `text` this carries: exactly one of `signature` and
    /// `webauthn`.
    fn into_approval(self, text: String) -> Result<Approval> {
        let proof = match (self.signature, self.webauthn) {
            (Some(s), None) => Proof::Signature(s),
            (None, Some(w)) => Proof::WebAuthn(w),
            _ => {
                return Err(Error::bad_request(
                    "send exactly one of `signature` (secp256k1, ed25519, p256 owners) and `webauthn` (passkey owners)",
                ))
            }
        };
        Ok(Approval {
            owner_id: self.owner_id,
            text,
            proof,
        })
    }
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
        let mut approvals = stored_approvals(current.intent.owner_approvals.as_deref())?;
        approvals.push(approval.into_approval(text.clone())?);
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
        let met = threshold_met(&record, &expected, &approvals, now_ms() / 1000)?;
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

/// How often a replica applies the approved loosenings that are due.
pub const DUE_PROPOSALS_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// What `POST /v1/wallets/{id}/record` did.
#[derive(Debug)]
pub enum RecordChange {
    /// The signer took the new record: the wallet as it is now.
    Applied(Wallet),
    /// The wallet's owners must approve it: the proposal they approve, one
    /// by one (`/record/{proposal_id}/approve`) or all at once (the same
    /// change again with their `approvals`).
    Proposed(Box<ProposalView>),
}

/// A record proposal with what the API shows of it.
#[derive(Debug)]
pub struct ProposalView {
    /// As stored.
    pub proposal: RecordProposal,
    /// Where it stands now.
    pub state: ProposalState,
    /// The proposed record's hash (hex).
    pub record_hash: String,
    /// The owners whose approvals are kept, in order.
    pub approved_by: Vec<String>,
    /// How many approvals the current record needs.
    pub threshold: u32,
    /// Unix seconds: when the change takes effect — the signer's time once
    /// it holds the approved change, else (for a loosening not approved
    /// yet) the earliest, were the owners to approve now.
    pub effective_at: Option<u64>,
    /// The wallet with its new record, when this request applied it.
    pub wallet: Option<Wallet>,
}

/// What the signer answered: its result, or its refusal.
type SignerAnswer<T> = std::result::Result<T, crate::signer::CallError>;

/// Whether `next` no longer changes the wallet's `current` record.
fn superseded(next: &Record, current: &Record) -> bool {
    next.prev() != Some(current.record_hash())
}

/// The tenant whose view of the audit log shows events on `wallet`.
fn tenant_of(wallet: &Wallet) -> String {
    match &wallet.owner {
        crate::domain::Owner::Tenant(t) => t.clone(),
        crate::domain::Owner::User(u) => format!("user:{u}"),
    }
}

impl ProposalView {
    /// `proposal` as it stands against the wallet's `current` record at
    /// `now_s`.
    fn of(proposal: RecordProposal, current: &Record, now_s: u64) -> Result<Self> {
        let next = Record::parse(&proposal.record)
            .map_err(|e| Error::internal(format!("a stored record proposal: {e}")))?;
        let state = proposal.state(now_s, superseded(&next, current));
        let approved_by = stored_approvals(proposal.approvals.as_deref())?
            .into_iter()
            .map(|a| a.owner_id)
            .collect();
        let delay = current.policy().change_delay_seconds();
        let effective_at = proposal.effective_at_s.or_else(|| {
            (state == ProposalState::Pending
                && delay > 0
                && signet_authority::record::loosens(current, &next))
            .then(|| now_s.saturating_add(delay))
        });
        Ok(Self {
            record_hash: next.record_hash().to_hex(),
            threshold: current.threshold(),
            state,
            approved_by,
            effective_at,
            wallet: None,
            proposal,
        })
    }
}

impl Service {
    /// Changes a wallet's record to the one `settings` (`{owners?,
    /// threshold?, policy?}`: what is not given stays) make from the
    /// current one. The signer decides: its owners' `approvals` of this
    /// exact change (authorization v1, action `update_record`), or for a
    /// wallet without owners a change that loosens nothing. Without
    /// approvals on a wallet with owners, nothing changes: the change is
    /// kept as a proposal its owners approve.
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
        let current = current_record(&wallet)?;
        let next = RecordSettings::from_request(settings)
            .and_then(|s| s.next(&current))
            .map_err(|e| Error::bad_request(e.to_string()))?;
        let needs_owners = approvals.is_empty() && !current.owners().is_empty();
        // Without approvals the signer applies only a change the owners
        // approved earlier whose change delay has passed; otherwise the
        // owners are asked.
        match self.submit_record(&wallet, &next, approvals).await? {
            Ok(generated) => {
                let event = Event::by(principal, Action::WalletRecord, &wallet.id, Outcome::Ok);
                Ok(RecordChange::Applied(
                    self.apply_record(&wallet, &next, generated, event, None)
                        .await?,
                ))
            }
            Err(crate::signer::CallError::Decided(ErrorCode::OwnerApprovalRequired, _, _))
                if needs_owners =>
            {
                Ok(RecordChange::Proposed(Box::new(
                    self.propose(principal, &wallet, &current, &next).await?,
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Keeps `next` as a proposal for the wallet's owners, with the
    /// authorization they sign.
    async fn propose(
        &self,
        principal: &Principal,
        wallet: &Wallet,
        current: &Record,
        next: &Record,
    ) -> Result<ProposalView> {
        let authz = fresh_authorization(
            current,
            AuthzRequest::UpdateRecord {
                new_record: next.record_hash(),
            },
        )?;
        let proposal = RecordProposal {
            id: super::sessions::random_id("rp_", 16),
            wallet_id: wallet.id.clone(),
            previous_record: current.text().to_owned(),
            record: next.text().to_owned(),
            authorization: authz.text().to_owned(),
            approvals: None,
            stage: ProposalStage::Pending,
            effective_at_s: None,
            expires_at_s: authz.expires_at(),
            created_by: principal.actor(),
            created_at_ms: now_ms(),
            decided_at_ms: None,
        };
        let event = Event::by(
            principal,
            Action::WalletRecordPropose,
            &wallet.id,
            Outcome::Ok,
        )
        .detail(Some(json!({
            "proposal_id": proposal.id,
            "version": next.version(),
            "record_hash": next.record_hash().to_hex(),
            "loosens": signet_authority::record::loosens(current, next),
        })));
        self.audit
            .write(WriteOp::CreateProposal(proposal.clone()), event)
            .await?;
        ProposalView::of(proposal, current, now_ms() / 1000)
    }

    /// A record proposal of the caller's wallet `wallet_id`.
    pub async fn record_proposal(
        &self,
        principal: &Principal,
        wallet_id: &str,
        proposal_id: &str,
    ) -> Result<ProposalView> {
        self.require(principal, super::authz::Scope::WalletsRead, wallet_id)
            .await?;
        self.owned_wallet(principal, wallet_id).await?;
        self.proposal_view(wallet_id, proposal_id).await
    }

    /// A record proposal of wallet `wallet_id` as it stands now, read
    /// fresh (after a change this request made), the caller already
    /// checked.
    async fn proposal_view(&self, wallet_id: &str, proposal_id: &str) -> Result<ProposalView> {
        let wallet = self
            .wallet_row(wallet_id)
            .await?
            .ok_or(Error::NotFound("wallet"))?;
        let proposal = self.proposal_of(&wallet, proposal_id).await?;
        let current = current_record(&wallet)?;
        ProposalView::of(proposal, &current, now_ms() / 1000)
    }

    /// The newest record proposals of the caller's wallet `wallet_id`.
    pub async fn record_proposals(
        &self,
        principal: &Principal,
        wallet_id: &str,
    ) -> Result<Vec<ProposalView>> {
        self.require(principal, super::authz::Scope::WalletsRead, wallet_id)
            .await?;
        let wallet = self.owned_wallet(principal, wallet_id).await?;
        let current = current_record(&wallet)?;
        let now = now_ms() / 1000;
        self.store
            .record_proposals(&wallet.id, 50)
            .await?
            .into_iter()
            .map(|p| ProposalView::of(p, &current, now))
            .collect()
    }

    async fn proposal_of(&self, wallet: &Wallet, proposal_id: &str) -> Result<RecordProposal> {
        self.store
            .record_proposal(proposal_id)
            .await?
            .filter(|p| p.wallet_id == wallet.id)
            .ok_or(Error::NotFound("record proposal"))
    }

    /// Adds one owner's approval to a record proposal (checked now against
    /// the wallet's record, so a wrong one is refused at once with the
    /// reason). Once the approvals meet the threshold the signer verifies
    /// them again and decides: it applies the change, or holds a loosening
    /// until its `effective_at`. Without an approval, a proposal whose
    /// approvals are all in is handed to the signer again (a waiting
    /// loosening once it is due; it is also applied in the background).
    pub async fn approve_record_proposal(
        &self,
        principal: &Principal,
        wallet_id: &str,
        proposal_id: &str,
        approval: Option<OwnerApproval>,
    ) -> Result<ProposalView> {
        self.require(principal, super::authz::Scope::WalletsWrite, wallet_id)
            .await?;
        let wallet = self.owned_wallet(principal, wallet_id).await?;
        self.check_not_frozen(&wallet.id, &wallet.owner)?;
        let proposal = self.proposal_of(&wallet, proposal_id).await?;
        let current = current_record(&wallet)?;
        let now = now_ms() / 1000;
        let view = ProposalView::of(proposal, &current, now)?;
        match view.state {
            ProposalState::Pending | ProposalState::Waiting => {}
            ProposalState::Applied | ProposalState::Superseded => {
                return Err(super::approvals::refusal(
                    ApprovalRefusal::ProposalDecided,
                    wallet_id,
                ))
            }
            ProposalState::Expired => {
                return Err(super::approvals::refusal(
                    ApprovalRefusal::ProposalExpired,
                    wallet_id,
                ))
            }
        }
        let next = Record::parse(&view.proposal.record)
            .map_err(|e| Error::internal(format!("a stored record proposal: {e}")))?;
        let expected = Expected::for_request(
            current.deployment(),
            &current,
            &AuthzRequest::UpdateRecord {
                new_record: next.record_hash(),
            },
        );
        let mut approvals = stored_approvals(view.proposal.approvals.as_deref())?;
        let waiting = view.state == ProposalState::Waiting;
        if let Some(approval) = approval {
            if waiting {
                return Err(Error::bad_request(
                    "this change has its owners' approvals already: it takes effect at its effective_at",
                ));
            }
            approvals.push(approval.into_approval(view.proposal.authorization.clone())?);
            let met = threshold_met(&current, &expected, &approvals, now)?;
            let owners: Vec<&str> = approvals.iter().map(|a| a.owner_id.as_str()).collect();
            let stored = serde_json::to_string(&approvals)
                .map_err(|e| Error::internal(format!("approvals: {e}")))?;
            let detail =
                Some(json!({"proposal_id": proposal_id, "owners": owners, "threshold_met": met}));
            let kept = self
                .audit
                .write(
                    WriteOp::ProposalApprovals {
                        id: proposal_id.to_owned(),
                        previous: view.proposal.approvals.clone(),
                        approvals: stored,
                    },
                    Event::by(
                        principal,
                        Action::WalletRecordApprove,
                        &wallet.id,
                        Outcome::Ok,
                    )
                    .detail(detail),
                )
                .await?;
            if !kept {
                return Err(Error::Approval {
                    refusal: ApprovalRefusal::ProposalDecided,
                    message: "this record change changed meanwhile (another owner approved, or it expired): read it again and retry".into(),
                });
            }
            if !met {
                return self
                    .record_proposal(principal, wallet_id, proposal_id)
                    .await;
            }
        } else if !waiting && !threshold_met(&current, &expected, &approvals, now)? {
            return Err(Error::bad_request(
                "send an owner's approval: `{owner_id, signature}` or `{owner_id, webauthn}` over the proposal's authorization",
            ));
        }
        // The signer decides: with the approvals once they are all in, and
        // without them for a loosening it holds.
        let sent = if waiting { Vec::new() } else { approvals };
        match self.submit_record(&wallet, &next, sent).await? {
            Ok(generated) => {
                let event = Event::by(principal, Action::WalletRecord, &wallet.id, Outcome::Ok);
                let applied = self
                    .apply_record(&wallet, &next, generated, event, Some(proposal_id))
                    .await?;
                let mut view = self.proposal_view(wallet_id, proposal_id).await?;
                view.wallet = Some(applied);
                Ok(view)
            }
            Err(crate::signer::CallError::Decided(ErrorCode::ChangeNotYetEffective, _, Some(at)))
                if !waiting =>
            {
                let effective_at: u64 = at.parse().map_err(|_| {
                    Error::internal(format!("the signer's effective_at {at:?}"))
                })?;
                let event = Event::by(principal, Action::WalletRecordApprove, &wallet.id, Outcome::Ok)
                    .detail(Some(json!({"proposal_id": proposal_id, "effective_at": effective_at})));
                self.audit
                    .write(
                        WriteOp::ProposalWaiting {
                            id: proposal_id.to_owned(),
                            effective_at,
                        },
                        event,
                    )
                    .await?;
                self.proposal_view(wallet_id, proposal_id).await
            }
            Err(crate::signer::CallError::Decided(ErrorCode::OwnerApprovalRequired, _, _))
                if waiting =>
            {
                Err(Error::Approval {
                    refusal: ApprovalRefusal::ProposalExpired,
                    message: "the signer this host reaches does not hold the owners' approval of this change: it restarted since they approved it (propose it again), or they approved it through another replica, which applies it when it is due".into(),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Applies the record proposals whose loosening is due on the signer
    /// that holds them (each replica tries its own signer; the one holding
    /// the change applies it). Returns how many were applied.
    pub async fn apply_due_proposals(&self) -> Result<u64> {
        let mut applied = 0;
        for proposal in self.store.due_proposals(now_ms() / 1000, 50).await? {
            let Some(wallet) = self.wallet_row(&proposal.wallet_id).await? else {
                continue;
            };
            if self.check_not_frozen(&wallet.id, &wallet.owner).is_err() {
                continue;
            }
            let Ok(current) = current_record(&wallet) else {
                continue;
            };
            let next = Record::parse(&proposal.record)
                .map_err(|e| Error::internal(format!("a stored record proposal: {e}")))?;
            if superseded(&next, &current) {
                continue;
            }
            match self.submit_record(&wallet, &next, Vec::new()).await? {
                Ok(generated) => {
                    let tenant = tenant_of(&wallet);
                    let event = Event::new(
                        "system:record_change",
                        Action::WalletRecord,
                        &wallet.id,
                        Outcome::Ok,
                    )
                    .tenant(&tenant);
                    self.apply_record(&wallet, &next, generated, event, Some(&proposal.id))
                        .await?;
                    applied += 1;
                }
                // Not this replica's signer, or it restarted since.
                Err(crate::signer::CallError::Decided(ErrorCode::OwnerApprovalRequired, _, _)) => {}
                Err(e) => {
                    tracing::warn!(proposal = %proposal.id, wallet = %wallet.id, error = %e, "a due record change was not applied; retrying");
                }
            }
        }
        Ok(applied)
    }

    /// Asks the signer to change `wallet`'s record to `next`: its answer
    /// (a refusal the caller may handle), inside this host's own errors.
    async fn submit_record(
        &self,
        wallet: &Wallet,
        next: &Record,
        approvals: Vec<Approval>,
    ) -> Result<SignerAnswer<signet_proto::message::GeneratedKey>> {
        let sealed = super::wallets::stored_sealed(wallet)?;
        Ok(self
            .signer
            .update_record(signet_proto::message::UpdateRecordRequest {
                key_id: wallet.id.clone(),
                sealed,
                record: wallet.record.clone(),
                new_record: next.text().to_owned(),
                approvals,
            })
            .await)
    }

    /// Stores the record the signer made, with the blob and attestation
    /// bound to it (and marks its proposal applied); the wallet as it is now.
    async fn apply_record(
        &self,
        wallet: &Wallet,
        next: &Record,
        mut generated: signet_proto::message::GeneratedKey,
        event: Event<'_>,
        proposal_id: Option<&str>,
    ) -> Result<Wallet> {
        if generated.record.as_deref() != Some(next.text()) {
            return Err(Error::internal("the signer answered with another record"));
        }
        if let Some(blob) = generated.sealed.take() {
            generated.sealed = Some(self.current_sealing(blob, &wallet.public_key).await?);
        }
        let mut detail = json!({
            "version": next.version(),
            "record_hash": next.record_hash().to_hex(),
            "owners": next.owners().iter().map(signet_authority::Owner::id).collect::<Vec<_>>(),
            "threshold": next.threshold(),
        });
        if let Some(id) = proposal_id {
            detail["proposal_id"] = id.into();
        }
        let event = event.detail(Some(detail));
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
        self.wallet_row(&wallet.id)
            .await?
            .map(Arc::unwrap_or_clone)
            .ok_or(Error::NotFound("wallet"))
    }
}

/// What `PATCH /v1/wallets/{id}` with `require_approval` did.
#[derive(Debug)]
pub enum ApprovalSwitch {
    /// Done (or nothing to do): the wallet as it is now.
    Done(Wallet),
    /// A wallet with owners: its record changes only with their approval;
    /// the proposal they approve.
    Proposed(Box<ProposalView>),
}

/// The policy object of `record` (JSON).
fn policy_json(record: &Record) -> Result<Value> {
    serde_json::from_str::<Value>(record.text())
        .ok()
        .and_then(|mut r| r.get_mut("policy").map(Value::take))
        .ok_or_else(|| Error::internal("a record without a policy object"))
}

/// The `allow` a proposal took away when it made every signature need the
/// owners (`None` when it did not).
fn allow_taken_away(proposal: &RecordProposal) -> Option<Value> {
    let before = Record::parse(&proposal.previous_record).ok()?;
    let after = Record::parse(&proposal.record).ok()?;
    (after.policy().allow().is_empty() && !before.policy().allow().is_empty())
        .then(|| policy_json(&before).ok().map(|p| p["allow"].clone()))
        .flatten()
}

impl Service {
    /// The console's "require my approval" on a wallet whose record has
    /// owners: a record change its owners approve — `allow: []` (every
    /// signature needs them) or back to the `allow` they had before they
    /// last required it.
    pub async fn switch_owner_approval(
        &self,
        principal: &Principal,
        wallet: Wallet,
        record: &Record,
        required: bool,
    ) -> Result<ApprovalSwitch> {
        if required == record.policy().allow().is_empty() {
            return Ok(ApprovalSwitch::Done(wallet));
        }
        let mut policy = policy_json(record)?;
        policy["allow"] = if required {
            json!([])
        } else {
            self.store
                .record_proposals(&wallet.id, 50)
                .await?
                .iter()
                .filter(|p| p.stage == ProposalStage::Applied)
                .find_map(allow_taken_away)
                .ok_or_else(|| {
                    Error::bad_request(format!(
                        "every signature on this wallet needs its owners, and no earlier record of it said otherwise: say what it may sign without them with POST /v1/wallets/{}/record {{\"policy\": {{\"allow\": […]}}}}",
                        wallet.id
                    ))
                })?
        };
        let settings = settings_object(None, None, Some(policy));
        Ok(
            match self
                .change_record(principal, &wallet.id, &settings, Vec::new())
                .await?
            {
                RecordChange::Applied(w) => ApprovalSwitch::Done(w),
                RecordChange::Proposed(p) => ApprovalSwitch::Proposed(p),
            },
        )
    }
}

/// The wallet's record; a wallet from before records is told to retry.
fn current_record(wallet: &Wallet) -> Result<Arc<Record>> {
    record_of(wallet)?.ok_or_else(|| {
        Error::SignerUnavailable(
            "this wallet's record is being written (a wallet from before records); retry in a few seconds".into(),
        )
    })
}

/// Whether `approvals` meet `record`'s threshold for `expected`: `false`
/// while too few, a refusal with its reason for a wrong one.
fn threshold_met(
    record: &Record,
    expected: &Expected,
    approvals: &[Approval],
    now_s: u64,
) -> Result<bool> {
    match verify_approvals(record, expected, approvals, now_s) {
        Ok(_) => Ok(true),
        Err(e) if e.refusal == Refusal::BelowThreshold => Ok(false),
        Err(e) => Err(Error::Authority {
            code: ErrorCode::ApprovalInvalid,
            message: e.to_string(),
            detail: Some(e.refusal.as_str().into()),
        }),
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use signet_authority::WalletKey;
    use signet_proto::KeyType;

    fn legacy_record(wallet_id: &str) -> Record {
        let key = k256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
        Record::legacy(WalletKey {
            deployment: "dev".into(),
            wallet_id: wallet_id.into(),
            key_type: signet_authority::KeyType::Secp256k1,
            public_key: key
                .verifying_key()
                .to_encoded_point(false)
                .as_bytes()
                .to_vec(),
        })
        .unwrap()
    }

    fn wallet_with(record: Option<String>) -> Wallet {
        Wallet {
            id: "w_parsed_once".into(),
            owner: crate::domain::Owner::parse("tenant:a").unwrap(),
            key_type: KeyType::Secp256k1,
            public_key: Vec::new(),
            label: None,
            sealed: None,
            attestation: None,
            created_at_ms: 1,
            require_approval: false,
            record,
        }
    }

    #[test]
    fn a_record_text_is_parsed_once_and_a_refused_one_is_not_kept() {
        let record = legacy_record("w_parsed_once");
        let mut wallet = wallet_with(Some(record.text().to_owned()));
        let first = record_of(&wallet).unwrap().unwrap();
        let again = record_of(&wallet).unwrap().unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "the second read is the first parse"
        );
        assert_eq!(*first, record);
        // The wallet's record changed (another text): the new one is read,
        // never the parse kept for the old text.
        let changed = legacy_record("w_parsed_once_v2");
        wallet.record = Some(changed.text().to_owned());
        assert_eq!(*record_of(&wallet).unwrap().unwrap(), changed);
        // Not canonical (a leading space): refused, every time.
        wallet.record = Some(format!(" {}", record.text()));
        for _ in 0..2 {
            let e = record_of(&wallet).unwrap_err();
            assert!(e.to_string().contains("does not parse"), "{e}");
        }
        wallet.record = None;
        assert!(record_of(&wallet).unwrap().is_none());
    }
}
