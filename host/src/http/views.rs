//! Response bodies: typed views of the service's results, separate from the
//! database rows (DESIGN.md's wallet, signature, client and audit forms).

use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use signet_proto::audit::AuditEvent;
use signet_proto::message::SignatureInfo;
use signet_proto::time::rfc3339_ms;
use signet_proto::KeyType;

use crate::domain::{ApiClient, RecordedBackup, Rotation, SealingVersion, Wallet};
use crate::service::digest::eth_address;
use crate::service::replicas::ReplicaStatus;
use crate::service::sealing::{HeldVersion, RotationReport, SealingStatus};
use crate::service::{Status, StatusReport, TenantStatus};

/// An attestation document.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AttestationView {
    /// Always `aws-nitro-cose-sign1`.
    pub format: &'static str,
    /// Base64 of the COSE_Sign1 bytes.
    pub document: String,
}

impl AttestationView {
    /// The view of a document, if any.
    #[must_use]
    pub fn of(doc: Option<&[u8]>) -> Option<Self> {
        doc.map(|d| Self {
            format: "aws-nitro-cose-sign1",
            document: base64::engine::general_purpose::STANDARD.encode(d),
        })
    }
}

/// `{attestation}` (null when the signer runs without attestation).
#[derive(Serialize, utoipa::ToSchema)]
pub struct AttestationResponse {
    /// The document.
    pub attestation: Option<AttestationView>,
}

/// A wallet.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WalletView {
    /// Id.
    pub id: String,
    /// `secp256k1 | p256 | ed25519`.
    pub key_type: &'static str,
    /// Hex public key (SEC1 uncompressed for ECDSA, 32 bytes for Ed25519).
    pub public_key: String,
    /// EIP-55 address (secp256k1 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// Whether each sign intent waits for the owner's approval.
    pub require_approval: bool,
    /// The creation attestation document: for a wallet with a record it
    /// binds the key and the record (key binding v2).
    pub attestation: Option<AttestationView>,
    /// The wallet's record as the signer made it (canonical JSON: owners,
    /// threshold, policy); null for a wallet from before records, whose
    /// record is the one without owners and with the permissive policy.
    pub record: Option<String>,
    /// SHA-256 of `record` (hex), which the attestation binds.
    pub record_hash: Option<String>,
}

impl From<&Wallet> for WalletView {
    fn from(w: &Wallet) -> Self {
        Self {
            id: w.id.clone(),
            key_type: w.key_type.as_str(),
            public_key: signet_proto::hexstr::encode(&w.public_key),
            address: (w.key_type == KeyType::Secp256k1)
                .then(|| eth_address(&w.public_key))
                .flatten(),
            label: w.label.clone(),
            created_at: rfc3339_ms(w.created_at_ms),
            // A wallet whose record has owners requires their approval
            // when its policy allows nothing alone (`allow: []`).
            require_approval: w.require_approval
                || w.record
                    .as_deref()
                    .and_then(|text| signet_authority::Record::parse(text).ok())
                    .is_some_and(|r| !r.owners().is_empty() && r.policy().allow().is_empty()),
            attestation: AttestationView::of(w.attestation.as_deref()),
            record: w.record.clone(),
            record_hash: w
                .record
                .as_deref()
                .map(|r| signet_proto::hexstr::encode(Sha256::digest(r.as_bytes()))),
        }
    }
}

/// A change of a wallet's record proposed to its owners.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RecordProposalView {
    /// `rp_…`.
    pub proposal_id: String,
    /// The wallet.
    pub wallet_id: String,
    /// `pending` (collecting approvals), `expired` (its authorization
    /// expired first), `waiting` (approved; a loosening waits for
    /// `effective_at`), `applied`, or `superseded` (another change of the
    /// record was applied first).
    pub state: &'static str,
    /// The proposed record's text (canonical JSON).
    pub record: String,
    /// Its SHA-256, hex.
    pub record_hash: String,
    /// What each owner signs (action `update_record`): `{text, sha256}`.
    #[schema(value_type = Object)]
    pub authorization: serde_json::Value,
    /// The owners whose approvals are in, in order.
    pub approved_by: Vec<String>,
    /// How many approvals the current record needs.
    pub threshold: u32,
    /// Unix seconds: when the change takes effect — the signer's time once
    /// it holds the approved change; before that, for a loosening, the
    /// earliest (were the owners to approve now); null when at once.
    pub effective_at: Option<u64>,
    /// Unix seconds: approvals are taken until then.
    pub expires_at: u64,
    /// Who proposed it.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// The wallet with its new record, when this request applied it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wallet: Option<WalletView>,
}

impl From<&crate::service::owners::ProposalView> for RecordProposalView {
    fn from(v: &crate::service::owners::ProposalView) -> Self {
        Self {
            proposal_id: v.proposal.id.clone(),
            wallet_id: v.proposal.wallet_id.clone(),
            state: v.state.as_str(),
            record: v.proposal.record.clone(),
            record_hash: v.record_hash.clone(),
            authorization: crate::service::owners::authorization_view(&v.proposal.authorization),
            approved_by: v.approved_by.clone(),
            threshold: v.threshold,
            effective_at: v.effective_at,
            expires_at: v.proposal.expires_at_s,
            created_by: v.proposal.created_by.clone(),
            created_at: rfc3339_ms(v.proposal.created_at_ms),
            wallet: v.wallet.as_ref().map(WalletView::from),
        }
    }
}

/// A wallet's newest record proposals.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RecordProposalList {
    /// Newest first, at most 50.
    pub proposals: Vec<RecordProposalView>,
}

/// A page of wallets.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WalletPage {
    /// Wallets.
    pub wallets: Vec<WalletView>,
    /// Cursor of the next page (`after=`), null on the last.
    pub next: Option<String>,
}

/// A destroyed wallet.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DestroyedView {
    /// Id.
    pub id: String,
    /// Always true.
    pub destroyed: bool,
}

/// A signature.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SignatureView {
    /// Hex raw `r||s` (low-S) or Ed25519 signature, 64 bytes.
    pub signature: String,
    /// 0/1 for secp256k1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_id: Option<u8>,
    /// Hex DER for ECDSA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature_der: Option<String>,
    /// Hex public key.
    pub public_key: String,
    /// Key type.
    pub key_type: &'static str,
    /// Document binding the signature (with `attest: true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestation: Option<AttestationView>,
    /// For a `transaction`: the signed transaction (`0x` hex, EIP-2718), as
    /// `eth_sendRawTransaction` takes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_transaction: Option<String>,
    /// For a `transaction`: its hash (`0x` hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_hash: Option<String>,
}

impl SignatureView {
    /// The view of a signature (and signed transaction).
    #[must_use]
    pub fn of(signed: &crate::service::signing::Signed) -> Self {
        let mut view = Self::new(&signed.wallet, &signed.signature);
        if let Some(t) = &signed.transaction {
            view.raw_transaction = Some(format!("0x{}", signet_proto::hexstr::encode(&t.raw)));
            view.transaction_hash = Some(format!("0x{}", signet_proto::hexstr::encode(t.hash)));
        }
        view
    }

    /// The view of a signature by `wallet`.
    #[must_use]
    pub fn new(wallet: &Wallet, s: &SignatureInfo) -> Self {
        let der = match wallet.key_type {
            KeyType::Secp256k1 => k256::ecdsa::Signature::from_slice(&s.signature)
                .ok()
                .map(|sig| signet_proto::hexstr::encode(sig.to_der().as_bytes())),
            KeyType::P256 => p256::ecdsa::Signature::from_slice(&s.signature)
                .ok()
                .map(|sig| signet_proto::hexstr::encode(sig.to_der().as_bytes())),
            KeyType::Ed25519 => None,
        };
        Self {
            signature: signet_proto::hexstr::encode(&s.signature),
            recovery_id: s.recovery_id,
            signature_der: der,
            public_key: signet_proto::hexstr::encode(&s.public_key),
            key_type: wallet.key_type.as_str(),
            attestation: AttestationView::of(s.attestation.as_deref()),
            raw_transaction: None,
            transaction_hash: None,
        }
    }
}

/// A minted sign intent.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IntentView {
    /// The ticket's id.
    pub intent_id: String,
    /// The ticket to present to `sign`.
    pub ticket: String,
    /// Hex digest it authorizes.
    pub digest: String,
    /// RFC 3339.
    pub expires_at: String,
    /// For a `transaction` or `typed_data`: what will be signed, decoded
    /// (as the audit log records it).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
    /// `pending` (the wallet requires its owner's approval: the ticket is
    /// refused until then) or `not_required`.
    #[schema(value_type = String, pattern = "^(pending|not_required)$")]
    pub state: &'static str,
    /// Where the owner approves it (pending intents only): the console page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_url: Option<String>,
    /// When the wallet's owners must approve it: `{text, sha256}`, the
    /// authorization v1 each owner signs (POST /v1/intents/{id}/approve).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub authorization: Option<serde_json::Value>,
}

/// A sign intent as its owner (and requester) see it: what it authorizes,
/// decoded, and where its approval stands. Never its ticket.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IntentDetailView {
    /// Id.
    pub intent_id: String,
    /// Wallet id.
    pub wallet_id: String,
    /// The wallet's label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wallet_label: Option<String>,
    /// The wallet's key type.
    pub key_type: &'static str,
    /// The wallet's EIP-55 address (secp256k1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// `pending`, `approved`, `declined`, `expired` or `not_required`.
    #[schema(pattern = "^(pending|approved|declined|expired|not_required)$")]
    pub state: &'static str,
    /// Whether the wallet required approval when it was made.
    pub approval_required: bool,
    /// Hex digest it authorizes.
    pub digest: String,
    /// What is signed: `{kind: transaction|typed_data|message|digest, …}`.
    #[schema(value_type = Object)]
    pub content: serde_json::Value,
    /// Who asked (`client:<id>` or `user:<id>`).
    pub requested_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub expires_at: String,
    /// RFC 3339, once approved or declined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    /// `user:<id>`, once approved or declined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// Once its ticket signed: `{signature, recovery_id, raw_transaction, transaction_hash, signed_at}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub signature: Option<serde_json::Value>,
    /// When the wallet's owners must approve it: `{text, sha256}`, the
    /// authorization v1 each owner signs.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub authorization: Option<serde_json::Value>,
    /// The owners who approved it so far.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub approved_by: Vec<String>,
}

impl From<&crate::service::approvals::IntentRecord> for IntentDetailView {
    fn from(r: &crate::service::approvals::IntentRecord) -> Self {
        let row = &r.intent;
        Self {
            intent_id: row.jti.clone(),
            wallet_id: row.wallet_id.clone(),
            wallet_label: r.wallet.label.clone(),
            key_type: r.wallet.key_type.as_str(),
            address: (r.wallet.key_type == KeyType::Secp256k1)
                .then(|| eth_address(&r.wallet.public_key))
                .flatten(),
            state: r.state.as_str(),
            approval_required: row.approval.is_some(),
            digest: signet_proto::hexstr::encode(&row.digest),
            content: row
                .detail
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or_else(
                    || serde_json::json!({"kind": "digest", "digest": signet_proto::hexstr::encode(&row.digest)}),
                ),
            requested_by: row.created_by.clone(),
            created_at: rfc3339_ms(row.created_at_ms),
            expires_at: rfc3339_ms(row.expires_at_s.saturating_mul(1000)),
            decided_at: row.decided.as_ref().map(|d| rfc3339_ms(d.at_ms)),
            decided_by: row.decided.as_ref().map(|d| d.by.clone()),
            signature: row
                .signature
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok()),
            authorization: row
                .authorization
                .as_deref()
                .map(crate::service::owners::authorization_view),
            approved_by: crate::service::owners::stored_approvals(row.owner_approvals.as_deref())
                .unwrap_or_default()
                .into_iter()
                .map(|a| a.owner_id)
                .collect(),
        }
    }
}

/// Intents.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IntentList {
    /// Newest first.
    pub intents: Vec<IntentDetailView>,
}

/// An API client (never its token, except once at creation).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ClientView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Tenant.
    pub tenant: String,
    /// Scopes as granted.
    pub scopes: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339 time from which it is refused, if revoked.
    pub revoked_at: Option<String>,
    /// RFC 3339 time it was last used (recorded at most once a minute per
    /// replica), if ever.
    pub last_used_at: Option<String>,
    /// The token, only in the creation response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl From<&ApiClient> for ClientView {
    fn from(c: &ApiClient) -> Self {
        Self {
            id: c.id.clone(),
            name: c.name.clone(),
            tenant: c.tenant.clone(),
            scopes: c.scopes.clone(),
            created_at: rfc3339_ms(c.created_at_ms),
            revoked_at: c.revoked_at_ms.map(rfc3339_ms),
            last_used_at: c.last_used_at_ms.map(rfc3339_ms),
            token: None,
        }
    }
}

/// The API clients.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ClientList {
    /// Clients.
    pub api_clients: Vec<ClientView>,
}

/// A revocation.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RevokedView {
    /// Client id.
    pub id: String,
    /// RFC 3339 time from which the client is refused.
    pub revoked_at: String,
}

/// An audit event as served (DESIGN.md's form; `signet audit verify`
/// recomputes `hash`): the schema of `signet_proto::audit::AuditEvent`,
/// which is what is served (a test checks the two have the same fields).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct AuditEventView {
    /// Position in the log, from 1, without gaps.
    seq: u64,
    /// RFC 3339 UTC time with milliseconds.
    at: String,
    /// `client:<id>`, `operator`, `anonymous`, `system`.
    actor: String,
    /// `wallet.create`, `sign`, `AUTH_DENY`, …
    action: String,
    /// A wallet id, client id, or request path (capped).
    target: String,
    /// `ok`, `denied:<code>` or `error:<code>`.
    outcome: String,
    /// What was signed, decoded (a transaction's type, chain, to, value,
    /// fees; typed data's domain, primary type and message); hashed with
    /// the event when present.
    #[schema(value_type = Option<Object>)]
    detail: Option<serde_json::Value>,
    /// Hex SHA-256 of the previous event (64 zeros for the first).
    prev_hash: String,
    /// Hex SHA-256 of `prev_hash ‖ canonical event`.
    hash: String,
}

/// A page of the audit log.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// Events.
    #[schema(value_type = Vec<AuditEventView>)]
    pub events: Vec<AuditEvent>,
    /// `after=` of the next page, null on the last.
    pub next: Option<u64>,
}

/// `/health`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HealthView {
    /// Always true.
    pub ok: bool,
    /// `signet-host`.
    pub service: &'static str,
    /// Version.
    pub version: &'static str,
}

/// `/ready`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReadyView {
    /// Whether the host can serve.
    pub ready: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// `GET /v1/admin/status`: an operator's view (`view: "operator"`: `host`,
/// `signer`, `storage`, `sealing`, `frozen`, `replicas`) or a tenant's
/// (`view: "tenant"`: only `tenant`, its own counts; none of the shared
/// state).
#[derive(Serialize, utoipa::ToSchema)]
pub struct StatusView {
    /// `operator` (a client with `operator`) or `tenant` (a tenant's client
    /// with `admin:status` but not `operator`).
    #[schema(value_type = String, pattern = "^(operator|tenant)$")]
    view: &'static str,
    /// The host (operators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<HostStatus>,
    /// The signer (operators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    signer: Option<SignerStatusView>,
    /// The database (operators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    storage: Option<StorageStatus>,
    /// KMS sealing: stored versions, whether the signer holds its key (and
    /// why not), the rotation's progress. Operators only; absent with dev
    /// sealing.
    #[serde(skip_serializing_if = "Option::is_none")]
    sealing: Option<SealingStatusView>,
    /// The caller's own tenant (the tenant view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<TenantStatusView>,
    /// The freezes in force (operators only; empty when nothing is frozen).
    #[serde(skip_serializing_if = "Option::is_none")]
    frozen: Option<Vec<FreezeView>>,
    /// The host processes sharing the database, oldest start first, each
    /// with whether it is live and whether it answered this request
    /// (operators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    replicas: Option<Vec<ReplicaView>>,
}

/// A host process (`serve` or `dev`) sharing the database, as its
/// heartbeats (every 5 s) recorded it; listed until it has not been seen
/// for a day.
#[derive(Serialize, utoipa::ToSchema)]
struct ReplicaView {
    /// A random id per process (a restarted host has a new one).
    id: String,
    /// The host's version.
    version: String,
    /// When the process started (RFC 3339).
    started_at: String,
    /// Its latest heartbeat (RFC 3339).
    last_seen_at: String,
    /// Seen within the last 15 s (three heartbeats): false for a replica
    /// that stopped, was killed or cannot reach the database.
    live: bool,
    /// The replica that answered this request.
    this: bool,
}

impl From<&ReplicaStatus> for ReplicaView {
    fn from(r: &ReplicaStatus) -> Self {
        Self {
            id: r.replica.id.clone(),
            version: r.replica.version.clone(),
            started_at: rfc3339_ms(r.replica.started_at_ms),
            last_seen_at: rfc3339_ms(r.replica.last_seen_at_ms),
            live: r.live,
            this: r.this,
        }
    }
}

/// A freeze in force.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FreezeView {
    /// `all`, `tenant:<t>` or `wallet:<id>`.
    pub scope: String,
    /// Why (shown to every refused caller).
    pub reason: String,
    /// Who froze it.
    pub frozen_by: String,
    /// When (RFC 3339).
    pub frozen_at: String,
}

impl From<&crate::domain::Freeze> for FreezeView {
    fn from(f: &crate::domain::Freeze) -> Self {
        Self {
            scope: f.scope.to_string(),
            reason: f.reason.clone(),
            frozen_by: f.frozen_by.clone(),
            frozen_at: rfc3339_ms(f.frozen_at),
        }
    }
}

/// A tenant's own counts.
#[derive(Serialize, utoipa::ToSchema)]
struct TenantStatusView {
    /// The tenant.
    id: String,
    /// Its live wallets.
    wallets: u64,
    /// Its API clients that are not revoked (one revoked with a grace
    /// period counts until the grace period ends).
    api_clients: u64,
}

impl From<TenantStatus> for TenantStatusView {
    fn from(t: TenantStatus) -> Self {
        Self {
            id: t.tenant,
            wallets: t.wallets,
            api_clients: t.api_clients,
        }
    }
}

impl From<StatusReport> for StatusView {
    fn from(report: StatusReport) -> Self {
        match report {
            StatusReport::Operator(s) => Self::from(*s),
            StatusReport::Tenant(t) => Self {
                view: "tenant",
                host: None,
                signer: None,
                storage: None,
                sealing: None,
                tenant: Some(t.into()),
                frozen: None,
                replicas: None,
            },
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct HostStatus {
    version: &'static str,
    uptime_seconds: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
struct StorageStatus {
    /// `sqlite` or `postgres`.
    dialect: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
struct SignerStatusView {
    /// Whether the signer answered this status request.
    reachable: bool,
    /// Why the last connection attempt failed (paths, PCR values: operators only).
    last_connect_error: Option<String>,
    module_id: Option<String>,
    /// The signer's own status (backend, attestation mode, loaded keys,
    /// key cache capacity, replay cache entries, sealing key version,
    /// uptime), when it answered.
    #[serde(flatten)]
    #[schema(value_type = Option<Object>)]
    status: Option<signet_proto::message::SignerStatus>,
}

impl From<Status> for StatusView {
    fn from(s: Status) -> Self {
        Self {
            view: "operator",
            sealing: s.sealing.as_ref().map(SealingStatusView::from),
            host: Some(HostStatus {
                version: s.version,
                uptime_seconds: s.uptime_seconds,
            }),
            storage: Some(StorageStatus { dialect: s.dialect }),
            signer: Some(SignerStatusView {
                reachable: s.signer.is_some(),
                last_connect_error: s.last_connect_error,
                module_id: s.module_id,
                status: s.signer,
            }),
            tenant: None,
            frozen: Some(s.frozen.iter().map(FreezeView::from).collect()),
            replicas: Some(s.replicas.iter().map(ReplicaView::from).collect()),
        }
    }
}

/// What operators see of the sealing keys.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SealingStatusView {
    /// `kms`.
    pub mode: &'static str,
    /// The pinned KMS key.
    pub kms_key_id: String,
    /// Whether the signer holds its sealing key.
    pub ready: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The signer's current version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u32>,
    /// Stored versions: `active`, `held` or `retired`.
    pub versions: Vec<VersionView>,
    /// The last rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationView>,
}

impl From<&SealingStatus> for SealingStatusView {
    fn from(s: &SealingStatus) -> Self {
        Self {
            mode: "kms",
            kms_key_id: s.kms_key_id.clone(),
            ready: s.ready,
            reason: s.reason.clone(),
            current: s.current,
            versions: s.versions.iter().map(VersionView::from).collect(),
            rotation: s.rotation.as_ref().map(RotationView::from),
        }
    }
}

/// The 202 of `POST /v1/admin/sealing/rotate`: the sealing state when the
/// rotation started, and where to follow it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RotationStartedView {
    /// Where the rotation's progress shows: `GET` it and read
    /// `sealing.rotation` (`phase`, `resealed`, `verified`, `error`) until
    /// `phase` is `done` or `error` is set.
    pub status_url: &'static str,
    /// The same, said for people.
    pub poll: &'static str,
    /// The sealing keys as the rotation starts, as before (the rotation
    /// itself shows in `status_url`).
    #[serde(flatten)]
    pub sealing: SealingStatusView,
}

impl RotationStartedView {
    /// Where rotation progress is read.
    pub const STATUS_URL: &'static str = "/v1/admin/status";

    /// The reply for a rotation started from `sealing`.
    #[must_use]
    pub fn new(sealing: SealingStatusView) -> Self {
        Self {
            status_url: Self::STATUS_URL,
            poll: "started in the background: GET /v1/admin/status and read sealing.rotation (phase resealing → verifying → settling → retiring → done; error when it stopped)",
            sealing,
        }
    }
}

/// A stored sealing key version.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct VersionView {
    /// Version.
    pub version: u32,
    /// `active`, `held` (superseded, kept for a recorded backup within
    /// `SIGNET_BACKUP_RETENTION_DAYS`: signers still unseal it) or
    /// `retired`.
    #[schema(value_type = String, pattern = "^(active|held|retired)$")]
    pub state: &'static str,
    /// Unix ms.
    pub created_at: u64,
    /// When a rotation moved every blob off it (Unix ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub superseded_at: Option<u64>,
    /// Held: when it may be retired (Unix ms); the hosts retire it within a
    /// minute after, unless a backup recorded since needs it longer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retire_after: Option<u64>,
    /// Held: the newest recorded backup that may hold blobs sealed under it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_by: Option<BackupRefView>,
}

impl From<&SealingVersion> for VersionView {
    fn from(v: &SealingVersion) -> Self {
        Self {
            version: v.version,
            state: v.state.as_str(),
            created_at: v.created_at_ms,
            superseded_at: v.superseded_at_ms,
            retire_after: v.retire_after_ms,
            held_by: v.held_by.as_ref().map(BackupRefView::from),
        }
    }
}

/// A backup recorded by `signet-host admin backup`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct BackupRefView {
    /// SHA-256 (hex) of the backup file, as in its manifest.
    pub sha256: String,
    /// When it was taken (Unix ms).
    pub taken_at: u64,
}

impl From<&RecordedBackup> for BackupRefView {
    fn from(b: &RecordedBackup) -> Self {
        Self {
            sha256: b.sha256.clone(),
            taken_at: b.taken_at_ms,
        }
    }
}

/// A sealing key version a rotation held instead of retiring.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct HeldVersionView {
    /// Version.
    pub version: u32,
    /// When it may be retired (Unix ms).
    pub retire_after: u64,
    /// The backup that holds it.
    pub held_by: BackupRefView,
}

impl From<&HeldVersion> for HeldVersionView {
    fn from(h: &HeldVersion) -> Self {
        Self {
            version: h.version,
            retire_after: h.retire_after_ms,
            held_by: BackupRefView::from(&h.backup),
        }
    }
}

/// A rotation's progress.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RotationView {
    /// From this version (and older).
    pub from_version: u32,
    /// To this one.
    pub to_version: u32,
    /// `resealing`, `verifying`, `settling` (a grace period for the other
    /// replicas, then one more check), `retiring`, `done`.
    #[schema(value_type = String, pattern = "^(resealing|verifying|settling|retiring|done)$")]
    pub phase: &'static str,
    /// Blobs re-sealed.
    pub resealed: u64,
    /// Blobs verified.
    pub verified: u64,
    /// Unix ms.
    pub started_at: u64,
    /// Unix ms.
    pub updated_at: u64,
    /// Why it stopped (it resumes from where it was when run again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<&Rotation> for RotationView {
    fn from(r: &Rotation) -> Self {
        Self {
            from_version: r.from_version,
            to_version: r.to_version,
            phase: r.phase.as_str(),
            resealed: r.resealed,
            verified: r.verified,
            started_at: r.started_at_ms,
            updated_at: r.updated_at_ms,
            error: r.error.clone(),
        }
    }
}

/// What a rotation did (or, dry, would do).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RotationReportView {
    /// Nothing was changed.
    pub dry_run: bool,
    /// From this version (and older).
    pub from_version: u32,
    /// To this one.
    pub to_version: u32,
    /// Live wallets with a sealed key.
    pub wallets: u64,
    /// Blobs under an older version (to re-seal).
    pub to_reseal: u64,
    /// Blobs re-sealed.
    pub resealed: u64,
    /// Blobs verified under the new version.
    pub verified: u64,
    /// Versions retired.
    pub retired: Vec<u32>,
    /// Versions held instead (a recorded backup within
    /// `SIGNET_BACKUP_RETENTION_DAYS` may need them): retired by the hosts
    /// once `retire_after` passes.
    pub held: Vec<HeldVersionView>,
}

impl From<&RotationReport> for RotationReportView {
    fn from(r: &RotationReport) -> Self {
        Self {
            dry_run: r.dry_run,
            from_version: r.from_version,
            to_version: r.to_version,
            wallets: r.wallets,
            to_reseal: r.to_reseal,
            resealed: r.resealed,
            verified: r.verified,
            retired: r.retired.clone(),
            held: r.held.iter().map(HeldVersionView::from).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The served audit event and its OpenAPI schema have the same fields.
    #[test]
    fn the_audit_schema_matches_the_served_events() {
        let event = AuditEvent {
            seq: 1,
            at: "2026-01-01T00:00:00.000Z".into(),
            actor: "client:c".into(),
            action: "sign".into(),
            target: "w_1".into(),
            outcome: "ok".into(),
            detail: Some(serde_json::json!({"transaction": {}})),
            prev_hash: "0".repeat(64),
            hash: "1".repeat(64),
        };
        let served: std::collections::BTreeSet<String> = serde_json::to_value(&event)
            .ok()
            .and_then(|v| v.as_object().map(|o| o.keys().cloned().collect()))
            .unwrap_or_default();
        let schema = serde_json::to_value(<AuditEventView as utoipa::PartialSchema>::schema())
            .unwrap_or_default();
        let documented: std::collections::BTreeSet<String> = schema["properties"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        assert!(!served.is_empty());
        assert_eq!(served, documented);
    }
}
