//! The host's domain types: what the store decodes rows into, what the
//! service works with and what the HTTP views render. Strings from the
//! database become enums here, at the store boundary, so every match on an
//! owner, an intent's state or a sealing version's state is exhaustive.
//!
//! Times carry their unit in their name: `_ms` Unix milliseconds, `_s` Unix
//! seconds (tickets and intents expire on whole seconds, like the JWTs that
//! carry them).

use signet_proto::KeyType;

/// Who owns a wallet (and whose intents and audit events one sees).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    /// A tenant: its API clients share its wallets.
    Tenant(String),
    /// A person (signed in with a session, or through an API client of their
    /// tenant `user:<id>`).
    User(String),
}

impl Owner {
    /// Decodes the stored form (`tenant:<t>` or `user:<id>`).
    pub fn parse(stored: &str) -> Option<Self> {
        match stored.split_once(':') {
            Some(("tenant", t)) if !t.is_empty() => Some(Self::Tenant(t.to_owned())),
            Some(("user", u)) if !u.is_empty() => Some(Self::User(u.to_owned())),
            _ => None,
        }
    }

    /// The owner of wallets made by a member of `tenant`: the person for a
    /// person's tenant `user:<id>`, else the tenant.
    #[must_use]
    pub fn of_tenant(tenant: &str) -> Self {
        match tenant.strip_prefix("user:") {
            Some(user) => Self::User(user.to_owned()),
            None => Self::Tenant(tenant.to_owned()),
        }
    }

    /// Whether this is a person (whose wallets may require their approval).
    #[must_use]
    pub fn is_person(&self) -> bool {
        matches!(self, Self::User(_))
    }

    /// The person, if this is one.
    #[must_use]
    pub fn user(&self) -> Option<&str> {
        match self {
            Self::User(u) => Some(u),
            Self::Tenant(_) => None,
        }
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tenant(t) => write!(f, "tenant:{t}"),
            Self::User(u) => write!(f, "user:{u}"),
        }
    }
}

/// An API client (the token's secret only as SHA-256).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiClient {
    /// Id (the middle part of the token).
    pub id: String,
    /// Human name.
    pub name: String,
    /// Tenant (`user:<id>` for a person's tenant).
    pub tenant: String,
    /// Granted scopes as written (`*` and `prefix:*` wildcards included).
    pub scopes: Vec<String>,
    /// Hex SHA-256 of the token secret.
    pub secret_sha256: String,
    /// Unix ms.
    pub created_at_ms: u64,
    /// Unix ms from which the client is refused.
    pub revoked_at_ms: Option<u64>,
    /// When it was last used, Unix ms (recorded at most once a minute).
    pub last_used_at_ms: Option<u64>,
}

/// A person who signed in through Telegram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Id (`u_…`).
    pub id: String,
    /// Their Telegram user id.
    pub telegram_user_id: i64,
    /// Unix ms.
    pub created_at_ms: u64,
}

/// A live wallet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wallet {
    /// Id (also the signer's key id).
    pub id: String,
    /// Who owns it.
    pub owner: Owner,
    /// Key type.
    pub key_type: KeyType,
    /// Public key bytes.
    pub public_key: Vec<u8>,
    /// Label.
    pub label: Option<String>,
    /// Sealed private key (CBOR bytes), for software-backend wallets.
    pub sealed: Option<Vec<u8>>,
    /// Creation attestation document.
    pub attestation: Option<Vec<u8>>,
    /// Unix ms.
    pub created_at_ms: u64,
    /// Whether each sign intent waits for the owner's approval.
    pub require_approval: bool,
    /// The wallet's record as the signer made it (canonical JSON); `None`
    /// for a wallet from before records (no owners, permissive policy).
    pub record: Option<String>,
}

/// Where an intent that needs its owner's approval stands, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Approval {
    /// Waiting for the owner.
    Pending,
    /// Approved: the ticket may be used.
    Approved,
    /// Declined: the ticket is refused.
    Declined,
}

impl Approval {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Declined => "declined",
        }
    }

    /// Decodes the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Declined]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// A proposed change of a wallet's record, kept while its owners approve
/// it one by one (docs/owners.md, "Record changes").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordProposal {
    /// `rp_` and 32 hex digits.
    pub id: String,
    /// Wallet.
    pub wallet_id: String,
    /// The text of the record it changes.
    pub previous_record: String,
    /// The proposed record's text.
    pub record: String,
    /// The authorization (v1, action `update_record`) each owner signs.
    pub authorization: String,
    /// The owners' approvals given so far (JSON array).
    pub approvals: Option<String>,
    /// Where it stands, as stored.
    pub stage: ProposalStage,
    /// Unix seconds: when a loosening the signer holds takes effect.
    pub effective_at_s: Option<u64>,
    /// Unix seconds: the authorization's expiry (approvals after it are
    /// refused).
    pub expires_at_s: u64,
    /// Who proposed it (the audit actor).
    pub created_by: String,
    /// Unix ms.
    pub created_at_ms: u64,
    /// Unix ms: when it was applied.
    pub decided_at_ms: Option<u64>,
}

impl RecordProposal {
    /// Where it stands at `now_s`; `superseded` when the wallet's record is
    /// no longer the one it changes (another change was applied first).
    #[must_use]
    pub fn state(&self, now_s: u64, superseded: bool) -> ProposalState {
        match self.stage {
            ProposalStage::Applied => ProposalState::Applied,
            _ if superseded => ProposalState::Superseded,
            // A held change is applied within seconds of its time: one a
            // day late was lost (its signer restarted).
            ProposalStage::Waiting
                if self
                    .effective_at_s
                    .is_some_and(|at| now_s > at.saturating_add(WAITING_GRACE_S)) =>
            {
                ProposalState::Expired
            }
            ProposalStage::Waiting => ProposalState::Waiting,
            ProposalStage::Pending if now_s > self.expires_at_s => ProposalState::Expired,
            ProposalStage::Pending => ProposalState::Pending,
        }
    }
}

/// How long after its `effective_at` a held change still counts as
/// waiting (the hosts apply one within seconds; later, it was lost).
pub const WAITING_GRACE_S: u64 = 86_400;

/// A record proposal's stored stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposalStage {
    /// Collecting the owners' approvals.
    Pending,
    /// Approved: the signer holds the change until its `effective_at`.
    Waiting,
    /// The signer took the new record.
    Applied,
}

impl ProposalStage {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Waiting => "waiting",
            Self::Applied => "applied",
        }
    }

    /// Decodes the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Waiting, Self::Applied]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// Where a record proposal stands, as the API shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposalState {
    /// Collecting the owners' approvals.
    Pending,
    /// Its authorization expired before the owners met the threshold.
    Expired,
    /// Approved; a loosening waits for its `effective_at`.
    Waiting,
    /// Applied: the wallet has the proposed record.
    Applied,
    /// Another change of the record was applied first.
    Superseded,
}

impl ProposalState {
    /// The API's name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Expired => "expired",
            Self::Waiting => "waiting",
            Self::Applied => "applied",
            Self::Superseded => "superseded",
        }
    }
}

/// An owner's decision on a pending intent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The ticket may sign (once).
    Approve,
    /// The ticket never signs.
    Decline,
}

impl Decision {
    /// The stored approval state this decision leads to.
    #[must_use]
    pub fn approval(self) -> Approval {
        match self {
            Self::Approve => Approval::Approved,
            Self::Decline => Approval::Declined,
        }
    }
}

/// Who decided an intent, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decided {
    /// Unix ms.
    pub at_ms: u64,
    /// `user:<id>`.
    pub by: String,
}

/// A sign intent: what a ticket from `sign-intent` authorizes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Intent {
    /// The ticket's `jti`.
    pub jti: String,
    /// Wallet.
    pub wallet_id: String,
    /// 32-byte digest.
    pub digest: Vec<u8>,
    /// Ed25519 message.
    pub message: Option<Vec<u8>>,
    /// Who asked (the audit actor).
    pub created_by: String,
    /// Unix seconds (the ticket's `exp`).
    pub expires_at_s: u64,
    /// What the digest was computed from, when it was structured (JSON:
    /// `{"transaction": {…}}` or `{"typed_data": {…}}`), so that the signed
    /// transaction can be assembled when the ticket is used.
    pub content: Option<String>,
    /// `None` when the wallet needed no approval; else the approval state.
    pub approval: Option<Approval>,
    /// When it was approved or declined, and by whom.
    pub decided: Option<Decided>,
    /// Unix ms.
    pub created_at_ms: u64,
    /// What it authorizes, decoded (JSON), for the approver.
    pub detail: Option<String>,
    /// The wallet's owner when the intent was made (`None` for intents made
    /// before owners were recorded: nobody lists them).
    pub owner: Option<Owner>,
    /// The signature (JSON) once the ticket was used.
    pub signature: Option<String>,
    /// The content object (JSON) the signer gets and owners approve;
    /// `None` for intents from before it was kept.
    pub payload: Option<String>,
    /// The authorization (v1 text) the wallet's owners sign, when its
    /// policy does not allow this intent on a ticket alone.
    pub authorization: Option<String>,
    /// The owners' approvals given so far (JSON array).
    pub owner_approvals: Option<String>,
}

impl Intent {
    /// Where this intent stands at `now_s`.
    #[must_use]
    pub fn state(&self, now_s: u64) -> IntentState {
        IntentState::of(self.approval, self.expires_at_s, now_s)
    }

    /// Whether this intent's ticket may sign on its wallet, which
    /// `requires_approval` now. An intent made before its wallet required
    /// approval carries no approval state: once the wallet requires it, its
    /// ticket is refused as direct signing is (it was never approved).
    /// Expiry is the ticket's own check.
    pub fn ticket_usable(&self, requires_approval: bool) -> Result<(), ApprovalRefusal> {
        match self.approval {
            None if requires_approval => Err(ApprovalRefusal::ApprovalRequired),
            Some(Approval::Pending) => Err(ApprovalRefusal::ApprovalPending),
            Some(Approval::Declined) => Err(ApprovalRefusal::IntentDeclined),
            Some(Approval::Approved) | None => Ok(()),
        }
    }
}

/// Where a sign intent stands, as its owner and requester see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntentState {
    /// Waiting for the owner's decision; its ticket is refused until then.
    Pending,
    /// Approved: its ticket signs once.
    Approved,
    /// Declined: its ticket never signs.
    Declined,
    /// Undecided past its expiry.
    Expired,
    /// Its wallet did not require approval: the ticket signs as any ticket.
    NotRequired,
}

/// Why an intent cannot be decided, or its ticket not used: the refusal
/// kinds of payment approval, each with one code and one HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApprovalRefusal {
    /// Direct signing (or an unapproved ticket) on a wallet that requires
    /// its owner's approval (403).
    ApprovalRequired,
    /// The intent waits for its owner (409).
    ApprovalPending,
    /// The owner declined the intent (403).
    IntentDeclined,
    /// The intent was already approved or declined (409).
    IntentDecided,
    /// The intent expired before a decision (410).
    IntentExpired,
    /// The intent's wallet did not require approval (409).
    ApprovalNotRequired,
    /// The record proposal was applied, or another change of the record
    /// was applied first (409).
    ProposalDecided,
    /// The record proposal's authorization expired before its owners met
    /// the threshold, or no signer holds their approval any more (410).
    ProposalExpired,
}

impl ApprovalRefusal {
    /// The error code of the API.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::ApprovalRequired => "approval_required",
            Self::ApprovalPending => "approval_pending",
            Self::IntentDeclined => "intent_declined",
            Self::IntentDecided => "intent_decided",
            Self::IntentExpired => "intent_expired",
            Self::ApprovalNotRequired => "approval_not_required",
            Self::ProposalDecided => "proposal_decided",
            Self::ProposalExpired => "proposal_expired",
        }
    }
}

impl IntentState {
    /// Every state.
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Approved,
        Self::Declined,
        Self::Expired,
        Self::NotRequired,
    ];

    /// The state of an intent with `approval` expiring at `expires_at_s`,
    /// at `now_s`: a decision stands after expiry (it is history); an
    /// undecided intent past its time is expired.
    #[must_use]
    pub fn of(approval: Option<Approval>, expires_at_s: u64, now_s: u64) -> Self {
        match approval {
            Some(Approval::Approved) => Self::Approved,
            Some(Approval::Declined) => Self::Declined,
            _ if expires_at_s < now_s => Self::Expired,
            Some(Approval::Pending) => Self::Pending,
            None => Self::NotRequired,
        }
    }

    /// The API's name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Declined => "declined",
            Self::Expired => "expired",
            Self::NotRequired => "not_required",
        }
    }

    /// The transition table of a decision: only a pending intent is
    /// decided; every other state refuses with its own kind.
    pub fn decide(self, decision: Decision) -> Result<Self, ApprovalRefusal> {
        match (self, decision) {
            (Self::Pending, Decision::Approve) => Ok(Self::Approved),
            (Self::Pending, Decision::Decline) => Ok(Self::Declined),
            (Self::Approved | Self::Declined, _) => Err(ApprovalRefusal::IntentDecided),
            (Self::Expired, _) => Err(ApprovalRefusal::IntentExpired),
            (Self::NotRequired, _) => Err(ApprovalRefusal::ApprovalNotRequired),
        }
    }
}

impl std::fmt::Display for IntentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a login challenge cannot be exchanged for a session now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengeRefusal {
    /// Not resolved in Telegram yet (409).
    Pending,
    /// Already exchanged for a session (409).
    Used,
    /// Past its expiry (410).
    Expired,
    /// Cancelled in Telegram: a wrong code or "Not me" (410).
    Refused,
}

impl ChallengeRefusal {
    /// The error code of the API.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Pending => "challenge_pending",
            Self::Used => "challenge_used",
            Self::Expired => "challenge_expired",
            Self::Refused => "challenge_refused",
        }
    }

    /// What the caller should do.
    #[must_use]
    pub fn message(self) -> &'static str {
        match self {
            Self::Pending => {
                "the challenge is not resolved yet: open the deep link in Telegram, press Start, then press the code the page shows"
            }
            Self::Used => "the challenge was already exchanged for a session",
            Self::Expired => "the challenge has expired; ask for a new one",
            Self::Refused => {
                "the sign-in was refused in Telegram (another code or \"Not me\" was pressed); start again"
            }
        }
    }
}

/// A sealing key version's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionState {
    /// Its blob is stored and signers unseal it.
    Active,
    /// Superseded (every live blob was re-sealed under a newer version) but
    /// kept, blob stored and unsealed by signers, because a recorded backup
    /// within `SIGNET_BACKUP_RETENTION_DAYS` may hold blobs sealed under it;
    /// retired once that backup leaves the window.
    Held,
    /// Its blob is gone: nothing sealed under it loads again.
    Retired,
}

impl VersionState {
    /// Every state.
    pub const ALL: [Self; 3] = [Self::Active, Self::Held, Self::Retired];

    /// The stored (and status) name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Held => "held",
            Self::Retired => "retired",
        }
    }

    /// Decodes the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether signers hold (unseal) a version in this state: its blob is
    /// stored, active or held.
    #[must_use]
    pub fn unsealed(self) -> bool {
        match self {
            Self::Active | Self::Held => true,
            Self::Retired => false,
        }
    }
}

/// A backup recorded by `signet-host admin backup` (the `backups` table),
/// as far as sealing key retirement cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedBackup {
    /// SHA-256 (hex) of the backup file, as in its manifest.
    pub sha256: String,
    /// When it was taken (Unix ms): its snapshot is from then or just after.
    pub taken_at_ms: u64,
}

/// A sealing key version as stored: its KMS `CiphertextBlob`, never a
/// plaintext key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealingVersion {
    /// Version.
    pub version: u32,
    /// The KMS key it was made under.
    pub kms_key_id: String,
    /// KMS `CiphertextBlob` (gone once retired).
    pub ciphertext_blob: Option<Vec<u8>>,
    /// The signer's check of the data key.
    pub key_check: Option<Vec<u8>>,
    /// Active, held or retired.
    pub state: VersionState,
    /// Unix ms.
    pub created_at_ms: u64,
    /// Unix ms.
    pub retired_at_ms: Option<u64>,
    /// When the rotation away from it finished re-sealing (Unix ms): no
    /// blob taken after this is under it. `None` while it is current.
    pub superseded_at_ms: Option<u64>,
    /// While held: when it may be retired (Unix ms), the holding backup's
    /// time plus the retention.
    pub retire_after_ms: Option<u64>,
    /// While held: the newest recorded backup that may need it.
    pub held_by: Option<RecordedBackup>,
}

/// The sealing key rotation's progress (one row, kept after it ends).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// The version blobs are moved from (and every older one).
    pub from_version: u32,
    /// The new version.
    pub to_version: u32,
    /// Where it stands.
    pub phase: RotationPhase,
    /// The last wallet id handled in this phase.
    pub cursor: String,
    /// Blobs re-sealed so far.
    pub resealed: u64,
    /// Blobs verified so far.
    pub verified: u64,
    /// Unix ms.
    pub started_at_ms: u64,
    /// Unix ms.
    pub updated_at_ms: u64,
    /// Why it stopped, if it stopped on an error (it resumes from where it
    /// was when run again).
    pub error: Option<String>,
}

/// A sealing key rotation's phase. A rotation moves forward through
/// [`RotationPhase::next`] only: re-seal every blob, verify every blob is
/// under the new version, wait a grace period for other replicas' signers
/// and wallets being created (`settling`) and verify again, retire the old
/// versions, done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RotationPhase {
    /// Re-sealing every blob under the new version.
    Resealing,
    /// Checking every blob is under the new version.
    Verifying,
    /// Waiting out the grace period, then checking again.
    Settling,
    /// Retiring the old versions.
    Retiring,
    /// Finished.
    Done,
}

/// A rotation phase change that the table does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a sealing rotation cannot go from `{}` to `{}`", .from.as_str(), .to.as_str())]
pub struct IllegalTransition {
    /// The phase it was in.
    pub from: RotationPhase,
    /// The phase asked for.
    pub to: RotationPhase,
}

impl RotationPhase {
    /// Every phase, in order.
    pub const ALL: [Self; 5] = [
        Self::Resealing,
        Self::Verifying,
        Self::Settling,
        Self::Retiring,
        Self::Done,
    ];

    /// The stored (and status) name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Resealing => "resealing",
            Self::Verifying => "verifying",
            Self::Settling => "settling",
            Self::Retiring => "retiring",
            Self::Done => "done",
        }
    }

    /// Decodes the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The phase after this one (`None` once done).
    #[must_use]
    pub fn next(self) -> Option<Self> {
        match self {
            Self::Resealing => Some(Self::Verifying),
            Self::Verifying => Some(Self::Settling),
            Self::Settling => Some(Self::Retiring),
            Self::Retiring => Some(Self::Done),
            Self::Done => None,
        }
    }

    /// Moves to `to` if the table allows it (only to the next phase).
    pub fn advance(self, to: Self) -> Result<Self, IllegalTransition> {
        if self.next() == Some(to) {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }

    /// Whether blobs are re-sealed in this phase, and whether each must be
    /// under the new version afterwards (`None`: no pass over the blobs).
    #[must_use]
    pub fn pass(self) -> Option<Pass> {
        match self {
            Self::Resealing => Some(Pass::Reseal),
            Self::Verifying | Self::Settling => Some(Pass::ResealAndVerify),
            Self::Retiring | Self::Done => None,
        }
    }
}

/// What one pass over the sealed blobs checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Re-seal what is older than the new version.
    Reseal,
    /// Re-seal what is older, then require every blob under the new version.
    ResealAndVerify,
}

impl std::fmt::Display for RotationPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn owners_round_trip_and_refuse_other_forms() {
        for o in [Owner::Tenant("acme".into()), Owner::User("u_1".into())] {
            assert_eq!(Owner::parse(&o.to_string()), Some(o));
        }
        for bad in ["", "acme", "tenant:", "user:", "group:x", ":x"] {
            assert_eq!(Owner::parse(bad), None, "{bad}");
        }
        assert_eq!(Owner::of_tenant("user:u_1"), Owner::User("u_1".into()));
        assert_eq!(Owner::of_tenant("acme"), Owner::Tenant("acme".into()));
    }

    #[test]
    fn intent_states_at_a_time() {
        use Approval::{Approved, Declined, Pending};
        assert_eq!(IntentState::of(None, 10, 5), IntentState::NotRequired);
        assert_eq!(IntentState::of(None, 10, 11), IntentState::Expired);
        assert_eq!(IntentState::of(Some(Pending), 10, 10), IntentState::Pending);
        assert_eq!(IntentState::of(Some(Pending), 10, 11), IntentState::Expired);
        assert_eq!(
            IntentState::of(Some(Approved), 10, 99),
            IntentState::Approved
        );
        assert_eq!(
            IntentState::of(Some(Declined), 10, 99),
            IntentState::Declined
        );
    }

    #[test]
    fn a_pending_intent_is_approved_or_declined() {
        assert_eq!(
            IntentState::Pending.decide(Decision::Approve),
            Ok(IntentState::Approved)
        );
        assert_eq!(
            IntentState::Pending.decide(Decision::Decline),
            Ok(IntentState::Declined)
        );
    }

    #[test]
    fn an_approved_intent_is_not_decided_again() {
        for d in [Decision::Approve, Decision::Decline] {
            assert_eq!(
                IntentState::Approved.decide(d),
                Err(ApprovalRefusal::IntentDecided)
            );
        }
    }

    #[test]
    fn a_declined_intent_is_not_decided_again() {
        for d in [Decision::Approve, Decision::Decline] {
            assert_eq!(
                IntentState::Declined.decide(d),
                Err(ApprovalRefusal::IntentDecided)
            );
        }
    }

    #[test]
    fn an_expired_intent_is_not_decided() {
        for d in [Decision::Approve, Decision::Decline] {
            assert_eq!(
                IntentState::Expired.decide(d),
                Err(ApprovalRefusal::IntentExpired)
            );
        }
    }

    #[test]
    fn an_intent_without_approval_is_not_decided() {
        for d in [Decision::Approve, Decision::Decline] {
            assert_eq!(
                IntentState::NotRequired.decide(d),
                Err(ApprovalRefusal::ApprovalNotRequired)
            );
        }
    }

    /// A person's intent, expiring at second 10, for unit tests here and in
    /// the service.
    pub(crate) fn intent(approval: Option<Approval>) -> Intent {
        Intent {
            jti: "j".into(),
            wallet_id: "w".into(),
            digest: vec![0; 32],
            message: None,
            created_by: "client:c".into(),
            expires_at_s: 10,
            content: None,
            approval,
            decided: None,
            created_at_ms: 0,
            detail: None,
            owner: Some(Owner::User("u".into())),
            signature: None,
            payload: None,
            authorization: None,
            owner_approvals: None,
        }
    }

    #[test]
    fn tickets_sign_only_when_approved_or_not_required() {
        use ApprovalRefusal::{ApprovalPending, IntentDeclined};
        assert_eq!(intent(None).ticket_usable(false), Ok(()));
        assert_eq!(intent(Some(Approval::Approved)).ticket_usable(true), Ok(()));
        assert_eq!(
            intent(Some(Approval::Pending)).ticket_usable(true),
            Err(ApprovalPending)
        );
        assert_eq!(
            intent(Some(Approval::Declined)).ticket_usable(false),
            Err(IntentDeclined)
        );
    }

    #[test]
    fn a_ticket_minted_before_approval_was_required_is_refused() {
        assert_eq!(
            intent(None).ticket_usable(true),
            Err(ApprovalRefusal::ApprovalRequired)
        );
    }

    #[test]
    fn stored_names_round_trip() {
        for a in [Approval::Pending, Approval::Approved, Approval::Declined] {
            assert_eq!(Approval::parse(a.as_str()), Some(a));
        }
        for p in RotationPhase::ALL {
            assert_eq!(RotationPhase::parse(p.as_str()), Some(p));
        }
        for v in VersionState::ALL {
            assert_eq!(VersionState::parse(v.as_str()), Some(v));
        }
        assert_eq!(Approval::parse("Pending"), None);
        assert_eq!(RotationPhase::parse("failed"), None);
        assert_eq!(VersionState::parse(""), None);
    }

    #[test]
    fn a_rotation_moves_forward_one_phase_at_a_time() {
        let mut phase = RotationPhase::Resealing;
        let mut seen = vec![phase];
        while let Some(next) = phase.next() {
            phase = phase.advance(next).unwrap_or(phase);
            seen.push(phase);
        }
        assert_eq!(seen, RotationPhase::ALL);
    }

    #[test]
    fn a_rotation_does_not_skip_verification() {
        assert!(RotationPhase::Resealing
            .advance(RotationPhase::Retiring)
            .is_err());
        assert!(RotationPhase::Resealing
            .advance(RotationPhase::Done)
            .is_err());
        assert!(RotationPhase::Verifying
            .advance(RotationPhase::Retiring)
            .is_err());
    }

    #[test]
    fn a_rotation_does_not_go_back() {
        for (i, from) in RotationPhase::ALL.into_iter().enumerate() {
            for to in &RotationPhase::ALL[..=i] {
                assert_eq!(
                    from.advance(*to),
                    Err(IllegalTransition { from, to: *to }),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn a_finished_rotation_stays_finished() {
        assert_eq!(RotationPhase::Done.next(), None);
        for to in RotationPhase::ALL {
            assert!(RotationPhase::Done.advance(to).is_err());
        }
    }

    #[test]
    fn settling_verifies_again() {
        assert_eq!(RotationPhase::Settling.pass(), Some(Pass::ResealAndVerify));
        assert_eq!(RotationPhase::Resealing.pass(), Some(Pass::Reseal));
        assert_eq!(RotationPhase::Retiring.pass(), None);
    }
}

/// What a freeze covers (`POST /v1/admin/freeze`): every wallet, a
/// tenant's, or one wallet.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FreezeScope {
    /// `all`.
    All,
    /// `tenant:<t>` (a person's tenant is `tenant:user:<id>`).
    Tenant(String),
    /// `wallet:<id>`.
    Wallet(String),
}

impl FreezeScope {
    /// Decodes `all`, `tenant:<t>` or `wallet:<id>`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.split_once(':') {
            None if text == "all" => Some(Self::All),
            Some(("tenant", t)) if !t.is_empty() && t.len() <= 200 => {
                Some(Self::Tenant(t.to_owned()))
            }
            Some(("wallet", w)) if !w.is_empty() && w.len() <= 200 => {
                Some(Self::Wallet(w.to_owned()))
            }
            _ => None,
        }
    }

    /// Whether this scope covers wallet `wallet_id` of `owner`.
    #[must_use]
    pub fn covers(&self, wallet_id: &str, owner: &Owner) -> bool {
        match (self, owner) {
            (Self::All, _) => true,
            (Self::Wallet(w), _) => w == wallet_id,
            (Self::Tenant(t), Owner::Tenant(o)) => t == o,
            (Self::Tenant(t), Owner::User(u)) => t.strip_prefix("user:") == Some(u.as_str()),
        }
    }
}

impl std::fmt::Display for FreezeScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::All => f.write_str("all"),
            Self::Tenant(t) => write!(f, "tenant:{t}"),
            Self::Wallet(w) => write!(f, "wallet:{w}"),
        }
    }
}

/// A freeze in force: signing, sign intents and approvals in its scope are
/// refused (423 `frozen`) on every replica until it is lifted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Freeze {
    /// What it covers.
    pub scope: FreezeScope,
    /// Why (shown to refused callers).
    pub reason: String,
    /// Who froze it (`client:<id>`, `admin-cli`).
    pub frozen_by: String,
    /// Unix ms.
    pub frozen_at: u64,
}

/// A host process (`serve` or `dev`) as the database last heard of it: each
/// records itself at start and at every heartbeat, so that operators see
/// which replicas share the database, which version each runs and which
/// have gone quiet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replica {
    /// A random id per process (the same as in its leases).
    pub id: String,
    /// The host's version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// When the process started (Unix ms, its own clock).
    pub started_at_ms: u64,
    /// Its latest heartbeat (Unix ms, its own clock).
    pub last_seen_at_ms: u64,
}
