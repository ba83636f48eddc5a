//! Response bodies: typed views of the service's results, separate from the
//! database rows (DESIGN.md's wallet, signature, client and audit forms).

use base64::Engine as _;
use serde::Serialize;
use signet_proto::audit::AuditEvent;
use signet_proto::message::SignatureInfo;
use signet_proto::time::rfc3339_ms;
use signet_proto::KeyType;

use crate::service::digest::eth_address;
use crate::store::{ApiClientRow, WalletRow};

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
    /// The creation attestation document.
    pub attestation: Option<AttestationView>,
}

impl From<&WalletRow> for WalletView {
    fn from(w: &WalletRow) -> Self {
        Self {
            id: w.id.clone(),
            key_type: w.key_type.as_str(),
            public_key: hex::encode(&w.public_key),
            address: (w.key_type == KeyType::Secp256k1)
                .then(|| eth_address(&w.public_key))
                .flatten(),
            label: w.label.clone(),
            created_at: rfc3339_ms(w.created_at),
            require_approval: w.require_approval,
            attestation: AttestationView::of(w.attestation.as_deref()),
        }
    }
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
            view.raw_transaction = Some(format!("0x{}", hex::encode(&t.raw)));
            view.transaction_hash = Some(format!("0x{}", hex::encode(t.hash)));
        }
        view
    }

    /// The view of a signature by `wallet`.
    #[must_use]
    pub fn new(wallet: &WalletRow, s: &SignatureInfo) -> Self {
        let der = match wallet.key_type {
            KeyType::Secp256k1 => k256::ecdsa::Signature::from_slice(&s.signature)
                .ok()
                .map(|sig| hex::encode(sig.to_der().as_bytes())),
            KeyType::P256 => p256::ecdsa::Signature::from_slice(&s.signature)
                .ok()
                .map(|sig| hex::encode(sig.to_der().as_bytes())),
            KeyType::Ed25519 => None,
        };
        Self {
            signature: hex::encode(&s.signature),
            recovery_id: s.recovery_id,
            signature_der: der,
            public_key: hex::encode(&s.public_key),
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
    #[schema(pattern = "^(pending|not_required)$")]
    pub state: &'static str,
    /// Where the owner approves it (pending intents only): the console page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_url: Option<String>,
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
}

impl From<&crate::service::approvals::IntentRecord> for IntentDetailView {
    fn from(r: &crate::service::approvals::IntentRecord) -> Self {
        let row = &r.row;
        Self {
            intent_id: row.jti.clone(),
            wallet_id: row.wallet_id.clone(),
            wallet_label: r.wallet.label.clone(),
            key_type: r.wallet.key_type.as_str(),
            address: (r.wallet.key_type == KeyType::Secp256k1)
                .then(|| eth_address(&r.wallet.public_key))
                .flatten(),
            state: r.state,
            approval_required: row.approval.is_some(),
            digest: hex::encode(&row.digest),
            content: row
                .detail
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or_else(
                    || serde_json::json!({"kind": "digest", "digest": hex::encode(&row.digest)}),
                ),
            requested_by: row.created_by.clone(),
            created_at: rfc3339_ms(row.created_at),
            expires_at: rfc3339_ms(row.expires_at * 1000),
            decided_at: row.decided.as_ref().map(|(at, _)| rfc3339_ms(*at)),
            decided_by: row.decided.as_ref().map(|(_, by)| by.clone()),
            signature: row
                .signature
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok()),
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
    /// The token, only in the creation response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl From<&ApiClientRow> for ClientView {
    fn from(c: &ApiClientRow) -> Self {
        Self {
            id: c.id.clone(),
            name: c.name.clone(),
            tenant: c.tenant.clone(),
            scopes: c.scopes.clone(),
            created_at: rfc3339_ms(c.created_at),
            revoked_at: c.revoked_at.map(rfc3339_ms),
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
/// recomputes `hash`).
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
