//! What the service layer refuses or fails with, as data. The HTTP layer
//! maps each kind to one status (`http::error`); the audit log records
//! [`super::audit::Outcome::of`] it.

use signet_proto::ErrorCode;

use super::authz::Scope;
use super::limits::Limit;
use crate::domain::{ApprovalRefusal, ChallengeRefusal};
use crate::signer::CallError;
use crate::store::StoreError;

/// A refusal or failure of a service call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed or out-of-range input (400).
    #[error("{0}")]
    BadRequest(String),
    /// No valid credentials (401).
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The caller lacks a scope (403 `scope_denied`).
    #[error("this API client lacks the `{}` scope", .0.as_str())]
    ScopeDenied(Scope),
    /// An operator's token, or an admin route, from an address outside
    /// `ADMIN_ALLOWED_CIDRS` (403 `network_denied`).
    #[error("operator and admin requests are only taken from the networks in ADMIN_ALLOWED_CIDRS")]
    NetworkDenied,
    /// The caller may not revoke an API client holding a scope the caller
    /// could not grant (403 `scope_denied`): a client revokes only clients
    /// whose every scope it could grant itself, so only an operator revokes
    /// an operator.
    #[error("cannot revoke API client `{client}`: it holds `{scope}`, which this API client could not grant (a client revokes only clients whose every scope it could grant itself; only an operator revokes an operator)")]
    Outranked {
        /// The client that was to be revoked.
        client: String,
        /// Its first scope the caller could not grant.
        scope: String,
    },
    /// A confirmation refused (403 same operator, 410 expired, 409 used).
    #[error("{}", .0.message())]
    Confirmation(super::confirmations::ConfirmationRefusal),
    /// The caller may not do this to that (403 `forbidden`), e.g. a tenant's
    /// admin acting on another tenant or granting more than it holds.
    #[error("{0}")]
    Forbidden(String),
    /// Unknown, or not the caller's (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Too large (413).
    #[error("{0}")]
    TooLarge(String),
    /// Over a rate limit (429 with `Retry-After`).
    #[error("rate limit exceeded ({}); retry in {retry_after} s", .limit.variable())]
    RateLimited {
        /// Which limit.
        limit: Limit,
        /// Seconds until the window ends.
        retry_after: u64,
    },
    /// A ticket refusal (403 `ticket_invalid`, 409 `ticket_replayed`, 410
    /// `ticket_expired`), by the host's own check or the signer's.
    #[error("{message}")]
    Ticket {
        /// `TicketInvalid`, `TicketReplayed` or `TicketExpired`.
        code: ErrorCode,
        /// What was wrong.
        message: String,
    },
    /// The signer cannot be reached or is busy (503 `enclave_unavailable`).
    #[error("{0}")]
    SignerUnavailable(String),
    /// The signer's authority refused (the wallet's record, policy or
    /// owners' approvals), with the rule or reason.
    #[error("{message}")]
    Authority {
        /// The signer's code.
        code: ErrorCode,
        /// Safe to show.
        message: String,
        /// The rule (`policy_denied`, `owner_approval_required`) or reason
        /// (`approval_invalid`, `approval_replayed`).
        detail: Option<String>,
    },
    /// Any other refusal by the signer, by its code.
    #[error("{message}")]
    Signer {
        /// The signer's code.
        code: ErrorCode,
        /// Safe to show.
        message: String,
    },
    /// The request took longer than `SIGNET_REQUEST_TIMEOUT_SECONDS` (503
    /// `timeout`, retryable). What it did so far is not undone: a signature
    /// made before the deadline is in the audit log.
    #[error("the request took too long; retry")]
    Timeout,
    /// The database failed (503 `storage_unavailable`; detail logged only).
    #[error(transparent)]
    Storage(#[from] StoreError),
    /// A login challenge that cannot be exchanged now: 409
    /// `challenge_pending` / `challenge_used`, 410 `challenge_expired`.
    #[error("{}", .0.message())]
    Challenge(ChallengeRefusal),
    /// A sign intent's approval stands in the way, or an approval cannot be
    /// made: 403 `approval_required` / `intent_declined`, 409
    /// `approval_pending` / `intent_decided` / `approval_not_required`, 410
    /// `intent_expired`.
    #[error("{message}")]
    Approval {
        /// The kind.
        refusal: ApprovalRefusal,
        /// What to do.
        message: String,
    },
    /// A freeze covers the wallet (423 `frozen`).
    #[error("frozen ({scope}): {reason}")]
    Frozen {
        /// The freeze's scope (`all`, `tenant:<t>`, `wallet:<id>`).
        scope: String,
        /// The operator's reason.
        reason: String,
    },
    /// A feature this host is not configured for (404 `not_configured`).
    #[error("{0}")]
    NotConfigured(&'static str),
    /// A bug (500; detail logged only).
    #[error("internal error: {0}")]
    Internal(String),
}

/// Service results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A bad-request error.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }

    /// A payment-approval refusal.
    pub fn approval(refusal: ApprovalRefusal, message: impl Into<String>) -> Self {
        Self::Approval {
            refusal,
            message: message.into(),
        }
    }

    /// A ticket refusal.
    pub fn ticket(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Ticket {
            code,
            message: message.into(),
        }
    }

    /// A bug: logged with its detail here, shown as "internal error".
    pub fn internal(detail: impl Into<String>) -> Self {
        let detail = detail.into();
        tracing::error!(detail = %detail, "internal error (a bug)");
        Self::Internal(detail)
    }

    /// A signer refusal, by its code.
    #[must_use]
    pub fn from_signer(code: ErrorCode, message: &str) -> Self {
        match code {
            ErrorCode::KeyNotLoaded
            | ErrorCode::Busy
            | ErrorCode::HsmUnavailable
            | ErrorCode::AttestationUnavailable
            | ErrorCode::SealingUnavailable
            | ErrorCode::KmsUnavailable
            | ErrorCode::CredentialsExpired => {
                Self::SignerUnavailable(format!("signer: {message}"))
            }
            ErrorCode::KeyNotFound => Self::NotFound("wallet key"),
            ErrorCode::TicketInvalid | ErrorCode::TicketExpired | ErrorCode::TicketReplayed => {
                Self::ticket(code, message)
            }
            ErrorCode::SealedKeyInvalid | ErrorCode::Internal | ErrorCode::Unknown => {
                tracing::error!(%code, message, "signer failure");
                Self::Signer {
                    code,
                    message: "the signer could not complete the request".into(),
                }
            }
            _ => Self::Signer {
                code,
                message: message.to_owned(),
            },
        }
    }

    /// The snake_case code of DESIGN.md's error bodies.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthenticated(_) => "unauthenticated",
            Self::ScopeDenied(_) | Self::Outranked { .. } => "scope_denied",
            Self::NetworkDenied => "network_denied",
            Self::Confirmation(refusal) => refusal.code(),
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::TooLarge(_) => "too_large",
            Self::RateLimited { .. } => "rate_limited",
            Self::Ticket { code, .. }
            | Self::Signer { code, .. }
            | Self::Authority { code, .. } => code.as_str(),
            Self::SignerUnavailable(_) => "enclave_unavailable",
            Self::Storage(_) => "storage_unavailable",
            Self::Timeout => "timeout",
            Self::Internal(_) => "internal",
            Self::Challenge(refusal) => refusal.code(),
            Self::Approval { refusal, .. } => refusal.code(),
            Self::NotConfigured(_) => "not_configured",
            Self::Frozen { .. } => "frozen",
        }
    }

    /// Whether the failure is the service's (5xx) rather than the caller's.
    #[must_use]
    pub fn is_server_side(&self) -> bool {
        match self {
            Self::SignerUnavailable(_) | Self::Storage(_) | Self::Internal(_) | Self::Timeout => {
                true
            }
            Self::Signer { code, .. } => code.http_status() >= 500,
            _ => false,
        }
    }
}

impl From<CallError> for Error {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Unavailable(m) => Error::SignerUnavailable(m),
            CallError::Refused(code, m) => Error::from_signer(code, &m),
            CallError::Decided(code, message, detail) => Error::Authority {
                code,
                message,
                detail,
            },
            CallError::Unexpected(what) => {
                Error::internal(format!("unexpected signer response to {what}"))
            }
        }
    }
}
