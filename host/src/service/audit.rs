//! The one place that writes audit events. Actions and outcomes are enums;
//! what a denial records is capped, so an anonymous caller cannot grow the
//! append-only log with large rows.

use std::borrow::Cow;

use sha2::{Digest as _, Sha256};

use signet_proto::ErrorCode;

use super::Error;
use crate::domain::ApprovalRefusal;
use crate::store::{Journal, NewEvent, StoreError, WriteOp};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// A wallet was created.
    WalletCreate,
    /// A wallet was destroyed.
    WalletDestroy,
    /// A sign intent (and its ticket) was minted.
    SignIntent,
    /// A signature was made (or refused).
    Sign,
    /// A client-presented ticket was consumed.
    TicketConsume,
    /// An API client was created.
    ApiClientCreate,
    /// An API client was revoked.
    ApiClientRevoke,
    /// Authentication refused.
    AuthDeny,
    /// A scope was missing.
    ScopeDeny,
    /// Another tenant's object was asked for.
    TenantDeny,
    /// A rate limit refused a request.
    RateLimit,
    /// Authentication refusals from one peer that were counted, not recorded
    /// one by one (a flood).
    AuthDenyFlood,
    /// A sealing key version was created (first boot, rotation).
    SealingKeyCreate,
    /// A sealing key rotation started, ended or failed.
    SealingRotate,
    /// A sealing key version was retired.
    SealingKeyRetire,
    /// A superseded sealing key version was held (not retired) for a
    /// recorded backup within the retention window.
    SealingKeyHold,
    /// A user signed in (a session was issued).
    SessionCreate,
    /// A user logged out (their session was revoked).
    SessionRevoke,
    /// Every session issued so far was invalidated.
    SessionInvalidateAll,
    /// Every session of one user was ended (logout everywhere, an operator).
    SessionRevokeAll,
    /// A user was banned from signing in.
    UserBan,
    /// A user's ban was lifted.
    UserUnban,
    /// An operator asked for something a second operator must confirm.
    ConfirmationRequest,
    /// A second operator confirmed it (it was then carried out).
    ConfirmationConfirm,
    /// A wallet's approval policy changed.
    WalletApprovalPolicy,
    /// A wallet's record (owners, threshold, policy) was replaced.
    WalletRecord,
    /// A change of a wallet's record was proposed to its owners.
    WalletRecordPropose,
    /// An owner approved a proposed record change (or the signer took the
    /// approvals and holds a loosening until it is due).
    WalletRecordApprove,
    /// A wallet's owners lifted its cold windows on a signer (`resume`).
    WalletResume,
    /// The owner approved a sign intent.
    IntentApprove,
    /// The owner declined a sign intent.
    IntentDecline,
    /// A login was refused in Telegram (another code or "Not me").
    LoginRefused,
    /// An operator or admin request from outside `ADMIN_ALLOWED_CIDRS`.
    NetworkDeny,
    /// A scope was frozen (signing in it refused until lifted).
    Freeze,
    /// A freeze was lifted.
    Unfreeze,
}

impl Action {
    /// The name in the log.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WalletCreate => "wallet.create",
            Self::WalletDestroy => "wallet.destroy",
            Self::SignIntent => "sign.intent",
            Self::Sign => "sign",
            Self::TicketConsume => "ticket.consume",
            Self::ApiClientCreate => "api_client.create",
            Self::ApiClientRevoke => "api_client.revoke",
            Self::AuthDeny => "AUTH_DENY",
            Self::ScopeDeny => "SCOPE_DENY",
            Self::TenantDeny => "TENANT_DENY",
            Self::RateLimit => "RATE_LIMIT",
            Self::AuthDenyFlood => "AUTH_DENY_FLOOD",
            Self::SealingKeyCreate => "sealing_key.create",
            Self::SealingRotate => "sealing_key.rotate",
            Self::SealingKeyRetire => "sealing_key.retire",
            Self::SealingKeyHold => "sealing_key.hold",
            Self::SessionCreate => "session.create",
            Self::SessionRevoke => "session.revoke",
            Self::SessionInvalidateAll => "session.invalidate_all",
            Self::SessionRevokeAll => "session.revoke_all",
            Self::UserBan => "user.ban",
            Self::UserUnban => "user.unban",
            Self::ConfirmationRequest => "confirmation.request",
            Self::ConfirmationConfirm => "confirmation.confirm",
            Self::WalletApprovalPolicy => "wallet.approval_policy",
            Self::WalletRecord => "wallet.record",
            Self::WalletRecordPropose => "wallet.record_propose",
            Self::WalletRecordApprove => "wallet.record_approve",
            Self::WalletResume => "wallet.resume",
            Self::IntentApprove => "intent.approve",
            Self::IntentDecline => "intent.decline",
            Self::LoginRefused => "LOGIN_REFUSED",
            Self::NetworkDeny => "NETWORK_DENY",
            Self::Freeze => "freeze",
            Self::Unfreeze => "unfreeze",
        }
    }
}

/// How it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Ok,
    /// Refused, with the reason's code.
    Denied(Cow<'static, str>),
    /// Failed on the service's side, with the error's code (or, for a
    /// background job such as a rotation, what stopped it).
    Error(Cow<'static, str>),
}

impl Outcome {
    /// The outcome of a request that failed with `error`: `error:<code>` for
    /// the service's failures (5xx), `denied:<code>` for refusals.
    #[must_use]
    pub fn of(error: &Error) -> Self {
        if error.is_server_side() {
            Self::Error(Cow::Borrowed(error.code()))
        } else {
            Self::Denied(Cow::Borrowed(error.code()))
        }
    }

    /// A refusal with the code `reason`.
    #[must_use]
    pub fn denied(reason: &'static str) -> Self {
        Self::Denied(Cow::Borrowed(reason))
    }
}

/// A security event: counted in `signet_security_events_total{type}` and,
/// for most, recorded in the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecurityEvent {
    /// Authentication refused (a bad, missing, revoked token).
    AuthDeny,
    /// A scope was missing.
    ScopeDeny,
    /// Another tenant's object was asked for.
    TenantDeny,
    /// A rate limit refused a request.
    RateLimit,
    /// The Telegram webhook was called without its secret.
    TelegramWebhookDeny,
    /// Polling Telegram failed.
    TelegramPollError,
    /// A login was refused in Telegram (another code or "Not me").
    LoginRefused,
    /// An operator or admin request from outside `ADMIN_ALLOWED_CIDRS`.
    NetworkDeny,
}

impl SecurityEvent {
    /// The metric label.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthDeny => "AUTH_DENY",
            Self::ScopeDeny => "SCOPE_DENY",
            Self::TenantDeny => "TENANT_DENY",
            Self::RateLimit => "RATE_LIMIT",
            Self::TelegramWebhookDeny => "TELEGRAM_WEBHOOK_DENY",
            Self::TelegramPollError => "TELEGRAM_POLL_ERROR",
            Self::LoginRefused => "LOGIN_REFUSED",
            Self::NetworkDeny => "NETWORK_DENY",
        }
    }

    /// The audit action it is recorded as (`None`: counted only).
    #[must_use]
    pub fn action(self) -> Option<Action> {
        match self {
            Self::AuthDeny | Self::TelegramWebhookDeny => Some(Action::AuthDeny),
            Self::ScopeDeny => Some(Action::ScopeDeny),
            Self::TenantDeny => Some(Action::TenantDeny),
            Self::RateLimit => Some(Action::RateLimit),
            Self::LoginRefused => Some(Action::LoginRefused),
            Self::NetworkDeny => Some(Action::NetworkDeny),
            Self::TelegramPollError => None,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ok => f.write_str("ok"),
            Self::Denied(code) => write!(f, "denied:{code}"),
            Self::Error(code) => write!(f, "error:{code}"),
        }
    }
}

/// Longest target recorded as given; longer ones keep a prefix and a hash.
pub const MAX_TARGET: usize = 128;

/// `target` if short, else its first characters and the SHA-256 of the whole
/// (so equal long targets stay recognizable without being stored).
#[must_use]
pub fn cap_target(target: &str) -> String {
    if target.len() <= MAX_TARGET {
        return target.to_owned();
    }
    let mut cut = 64;
    while !target.is_char_boundary(cut) {
        cut -= 1;
    }
    let digest = Sha256::digest(target.as_bytes());
    format!(
        "{}…[{} bytes, sha256:{}]",
        &target[..cut],
        target.len(),
        hex::encode(&digest[..16])
    )
}

/// Writes audit events through the journal.
#[derive(Clone)]
pub struct Auditor {
    journal: Journal,
}

/// One event to record.
pub struct Event<'a> {
    /// Who.
    pub actor: String,
    /// What.
    pub action: Action,
    /// On what (capped).
    pub target: &'a str,
    /// How it ended.
    pub outcome: Outcome,
    /// Whose view of the log includes it (`None`: operators only).
    pub tenant: Option<&'a str>,
    /// What was signed, decoded.
    pub detail: Option<serde_json::Value>,
}

impl<'a> Event<'a> {
    /// An event.
    #[must_use]
    pub fn new(
        actor: impl Into<String>,
        action: Action,
        target: &'a str,
        outcome: Outcome,
    ) -> Self {
        Self {
            actor: actor.into(),
            action,
            target,
            outcome,
            tenant: None,
            detail: None,
        }
    }

    /// An event by an API client, in its tenant's view of the log.
    #[must_use]
    pub fn by(
        principal: &'a super::authz::Principal,
        action: Action,
        target: &'a str,
        outcome: Outcome,
    ) -> Self {
        Self::new(principal.actor(), action, target, outcome).tenant(principal.tenant())
    }

    /// In `tenant`'s view of the log.
    #[must_use]
    pub fn tenant(mut self, tenant: &'a str) -> Self {
        self.tenant = Some(tenant);
        self
    }

    /// With what was signed, decoded (an object; serialized with sorted
    /// keys, as the chain hash needs).
    #[must_use]
    pub fn detail(mut self, detail: Option<serde_json::Value>) -> Self {
        self.detail = detail.map(signet_proto::audit::canonical);
        self
    }

    /// The journal's form.
    #[must_use]
    pub fn into_new_event(self) -> NewEvent {
        NewEvent {
            actor: self.actor,
            action: self.action.as_str().to_owned(),
            target: cap_target(self.target),
            outcome: self.outcome.to_string(),
            tenant: self.tenant.map(str::to_owned),
            detail: self.detail,
            outcome_if_not_applied: None,
        }
    }
}

impl Auditor {
    /// Writes through `journal`.
    #[must_use]
    pub fn new(journal: Journal) -> Self {
        Self { journal }
    }

    /// Applies `op` and records `event` in one transaction; returns whether
    /// a conditional write applied. When it did not, the event is recorded
    /// as the refusal it is (a replayed ticket, an intent decided meanwhile).
    pub async fn write(&self, op: WriteOp, event: Event<'_>) -> Result<bool, StoreError> {
        let mut event = event.into_new_event();
        event.outcome_if_not_applied = match op {
            WriteOp::ConsumeTicket { .. } => {
                Some(Outcome::denied(ErrorCode::TicketReplayed.as_str()).to_string())
            }
            WriteOp::DecideIntent { .. } => {
                Some(Outcome::denied(ApprovalRefusal::IntentDecided.code()).to_string())
            }
            _ => None,
        };
        self.journal.write(op, event).await
    }

    /// Records an event alone; a storage failure is logged, never returned
    /// (a refusal is not turned into a 503 by its own audit record).
    pub async fn record(&self, event: Event<'_>) {
        let action = event.action;
        if let Err(e) = self.write(WriteOp::Audit, event).await {
            tracing::error!(error = %e, action = action.as_str(), "could not record an audit event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_targets_are_capped_and_hashed() {
        assert_eq!(cap_target("/v1/wallets/w_1"), "/v1/wallets/w_1");
        let long = format!("/v1/wallets/{}", "a".repeat(60_000));
        let capped = cap_target(&long);
        assert!(capped.len() < 200, "{}", capped.len());
        assert!(capped.starts_with("/v1/wallets/aaa"));
        assert_ne!(capped, cap_target(&format!("{long}b")));
        // Multi-byte characters are cut on a boundary.
        let wide = "é".repeat(200);
        assert!(cap_target(&wide).starts_with("éé"));
    }

    #[test]
    fn outcomes_read_as_before() {
        assert_eq!(Outcome::Ok.to_string(), "ok");
        assert_eq!(
            Outcome::denied("ticket_replayed").to_string(),
            "denied:ticket_replayed"
        );
        assert_eq!(
            Outcome::Error("enclave_unavailable".into()).to_string(),
            "error:enclave_unavailable"
        );
        assert_eq!(Outcome::of(&Error::Timeout).to_string(), "error:timeout");
        assert_eq!(
            Outcome::of(&Error::NotFound("wallet")).to_string(),
            "denied:not_found"
        );
    }
}
