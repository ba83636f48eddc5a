//! The one mapping from failures to HTTP: `{"error":{"code","message"}}`
//! with DESIGN.md's statuses. A 500 is a bug and says so in the log.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::{ApprovalRefusal, ChallengeRefusal};
use crate::service::Error;

/// An error as sent to API clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// snake_case code.
    pub code: &'static str,
    /// Message for the client (never secrets or internals).
    pub message: String,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u64>,
    /// A freeze's `(scope, reason)` (423 `frozen`).
    pub frozen: Option<(String, String)>,
    /// The signer's `rule` (policy refusals) or `reason` (approval
    /// refusals).
    pub authority: Option<Box<(&'static str, String)>>,
}

/// The body of every error response.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    /// The error.
    pub error: ErrorDetail<'a>,
}

/// `{code, message}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail<'a> {
    /// snake_case code.
    pub code: &'a str,
    /// What went wrong.
    pub message: &'a str,
    /// With `frozen`: the freeze's scope (`all`, `tenant:<t>`, `wallet:<id>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<&'a str>,
    /// With `frozen`: the operator's reason; with `approval_invalid` and
    /// `approval_replayed`: why the signer refused the approvals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    /// With `policy_denied` and `owner_approval_required`: the policy rule
    /// that refused (`allow`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'a str>,
    /// With `change_not_yet_effective`: when the approved change takes
    /// effect (Unix seconds); send it again then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_at: Option<u64>,
}

/// The error responses most operations share, for `#[utoipa::path]`'s
/// `responses(...)`: each is a type implementing [`utoipa::IntoResponses`],
/// listed beside the route's own statuses. A response tuple listed after a
/// set replaces that set's description for its status (a route whose 403
/// or 503 means something narrower says so).
pub mod responses {
    use std::collections::BTreeMap;

    use utoipa::openapi::{RefOr, Response};
    use utoipa::IntoResponses;

    use super::ErrorBody;

    /// 400: the body, a parameter or the query string is refused.
    #[derive(IntoResponses)]
    #[response(
        status = 400,
        description = "Bad input (unknown fields, malformed values)"
    )]
    pub struct BadInput(pub ErrorBody<'static>);

    /// 401: no valid credentials.
    #[derive(IntoResponses)]
    #[response(status = 401, description = "No valid token")]
    pub struct Unauthenticated(pub ErrorBody<'static>);

    /// 403: the caller may not do this.
    #[derive(IntoResponses)]
    #[response(
        status = 403,
        description = "A scope is missing (`scope_denied`), the tenancy model refuses (`forbidden`), or a ticket is invalid (`ticket_invalid`)"
    )]
    pub struct Forbidden(pub ErrorBody<'static>);

    /// 404: the resource named in the path is unknown to the caller.
    #[derive(IntoResponses)]
    #[response(status = 404, description = "Unknown, or not the caller's")]
    pub struct NotFound(pub ErrorBody<'static>);

    /// 413: the body is over [`crate::http::MAX_BODY`].
    #[derive(IntoResponses)]
    #[response(status = 413, description = "Body too large")]
    pub struct TooLarge(pub ErrorBody<'static>);

    /// 429: the caller's rate limit.
    #[derive(IntoResponses)]
    #[response(status = 429, description = "Rate limited; see `Retry-After`")]
    pub struct RateLimited(pub ErrorBody<'static>);

    /// 423: a freeze covers the wallet.
    #[derive(IntoResponses)]
    #[response(
        status = 423,
        description = "Frozen (`frozen`): an operator froze this wallet, its tenant or everything; the error adds `scope` and `reason`"
    )]
    pub struct Frozen(pub ErrorBody<'static>);

    /// 503: a dependency is down or the request outlived its deadline.
    #[derive(IntoResponses)]
    #[response(
        status = 503,
        description = "The signer or the database is unavailable, or the request timed out; retry (`Retry-After`)"
    )]
    pub struct Unavailable(pub ErrorBody<'static>);

    /// A set of responses made of other sets.
    macro_rules! union {
        ($(#[$doc:meta])* $name:ident = $($part:ty),+) => {
            $(#[$doc])*
            pub struct $name;

            impl IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    let mut all = BTreeMap::new();
                    $(all.extend(<$part>::responses());)+
                    all
                }
            }
        };
    }

    union!(
        /// Any route behind the authentication layer: 401, 429, 503.
        Authenticated = Unauthenticated, RateLimited, Unavailable
    );
    union!(
        /// An authenticated route that also checks scopes and tenancy: 401,
        /// 403, 429, 503.
        Authorized = Authenticated, Forbidden
    );
    union!(
        /// A route reading a JSON body: 400, 413.
        JsonBody = BadInput, TooLarge
    );
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            frozen: None,
            authority: None,
        }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 404 for a route that does not exist.
    #[must_use]
    pub fn no_route() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "route not found")
    }

    /// 405: the route exists, not with this method.
    #[must_use]
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not take this method (see /openapi.json)",
        )
    }

    /// 413.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let code = e.code();
        match e {
            Error::BadRequest(m) => Self::new(StatusCode::BAD_REQUEST, code, m),
            Error::Unauthenticated(m) => Self::new(StatusCode::UNAUTHORIZED, code, m),
            Error::ScopeDenied(_)
            | Error::Outranked { .. }
            | Error::Forbidden(_)
            | Error::NetworkDenied => Self::new(StatusCode::FORBIDDEN, code, e.to_string()),
            Error::Confirmation(refusal) => Self::new(
                match refusal {
                    crate::service::confirmations::ConfirmationRefusal::SameOperator => {
                        StatusCode::FORBIDDEN
                    }
                    crate::service::confirmations::ConfirmationRefusal::Expired => StatusCode::GONE,
                    crate::service::confirmations::ConfirmationRefusal::Used => {
                        StatusCode::CONFLICT
                    }
                },
                code,
                e.to_string(),
            ),
            Error::NotFound(_) => Self::new(StatusCode::NOT_FOUND, code, e.to_string()),
            Error::TooLarge(m) => Self::new(StatusCode::PAYLOAD_TOO_LARGE, code, m),
            Error::RateLimited { retry_after, .. } => Self {
                retry_after: Some(retry_after.max(1)),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, e.to_string())
            },
            Error::Ticket { code: c, message } | Error::Signer { code: c, message } => Self::new(
                StatusCode::from_u16(c.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                code,
                message,
            ),
            Error::Timeout => Self {
                retry_after: Some(1),
                ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, e.to_string())
            },
            Error::SignerUnavailable(m) => Self {
                retry_after: Some(1),
                ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, m)
            },
            Error::Storage(detail) => {
                tracing::error!(error = %detail, "storage failure");
                Self {
                    retry_after: Some(1),
                    ..Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        code,
                        "storage is unavailable; retry",
                    )
                }
            }
            Error::Challenge(refusal) => Self::new(
                match refusal {
                    ChallengeRefusal::Expired | ChallengeRefusal::Refused => StatusCode::GONE,
                    ChallengeRefusal::Pending | ChallengeRefusal::Used => StatusCode::CONFLICT,
                },
                code,
                refusal.message(),
            ),
            Error::Authority {
                code: c,
                message,
                detail,
            } => Self {
                authority: detail.map(|d| {
                    let key = match c {
                        signet_proto::ErrorCode::PolicyDenied
                        | signet_proto::ErrorCode::OwnerApprovalRequired => "rule",
                        signet_proto::ErrorCode::ChangeNotYetEffective => "effective_at",
                        _ => "reason",
                    };
                    Box::new((key, d))
                }),
                ..Self::new(
                    StatusCode::from_u16(c.http_status()).unwrap_or(StatusCode::FORBIDDEN),
                    code,
                    message,
                )
            },
            Error::Frozen { scope, reason } => Self {
                message: format!("frozen ({scope}): {reason}"),
                frozen: Some((scope, reason)),
                ..Self::new(StatusCode::LOCKED, code, String::new())
            },
            Error::Approval { refusal, message } => Self::new(
                match refusal {
                    ApprovalRefusal::ApprovalRequired | ApprovalRefusal::IntentDeclined => {
                        StatusCode::FORBIDDEN
                    }
                    ApprovalRefusal::IntentExpired | ApprovalRefusal::ProposalExpired => {
                        StatusCode::GONE
                    }
                    ApprovalRefusal::ApprovalPending
                    | ApprovalRefusal::IntentDecided
                    | ApprovalRefusal::ProposalDecided
                    | ApprovalRefusal::ApprovalNotRequired => StatusCode::CONFLICT,
                },
                code,
                message,
            ),
            // Not a server failure: this host has no such endpoint.
            Error::NotConfigured(m) => Self::new(StatusCode::NOT_FOUND, code, m),
            // Logged with its detail where it was made.
            Error::Internal(_) => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, code, "internal error")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
                scope: self.frozen.as_ref().map(|(s, _)| s.as_str()),
                reason: self.frozen.as_ref().map(|(_, r)| r.as_str()).or_else(|| {
                    self.authority
                        .as_deref()
                        .filter(|(k, _)| *k == "reason")
                        .map(|(_, v)| v.as_str())
                }),
                rule: self
                    .authority
                    .as_deref()
                    .filter(|(k, _)| *k == "rule")
                    .map(|(_, v)| v.as_str()),
                effective_at: self
                    .authority
                    .as_deref()
                    .filter(|(k, _)| *k == "effective_at")
                    .and_then(|(_, v)| v.parse().ok()),
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signet_proto::ErrorCode;

    #[test]
    fn statuses_follow_design() {
        let cases: Vec<(Error, u16, &str)> = vec![
            (Error::bad_request("x"), 400, "bad_request"),
            (Error::Unauthenticated("x"), 401, "unauthenticated"),
            (
                Error::ScopeDenied(crate::service::authz::Scope::Sign),
                403,
                "scope_denied",
            ),
            (
                Error::Outranked {
                    client: "c".into(),
                    scope: "*".into(),
                },
                403,
                "scope_denied",
            ),
            (Error::Forbidden("x".into()), 403, "forbidden"),
            (Error::NotFound("wallet"), 404, "not_found"),
            (Error::TooLarge("x".into()), 413, "too_large"),
            (
                Error::RateLimited {
                    limit: crate::service::limits::Limit::PerClient,
                    retry_after: 3,
                },
                429,
                "rate_limited",
            ),
            (
                Error::ticket(ErrorCode::TicketInvalid, "x"),
                403,
                "ticket_invalid",
            ),
            (
                Error::ticket(ErrorCode::TicketReplayed, "x"),
                409,
                "ticket_replayed",
            ),
            (
                Error::ticket(ErrorCode::TicketExpired, "x"),
                410,
                "ticket_expired",
            ),
            (
                Error::SignerUnavailable("x".into()),
                503,
                "enclave_unavailable",
            ),
            (
                Error::Storage(crate::store::StoreError::JournalStopped),
                503,
                "storage_unavailable",
            ),
            (Error::Internal("bug".into()), 500, "internal"),
            (Error::Timeout, 503, "timeout"),
            (
                Error::from_signer(ErrorCode::KeyNotFound, "x"),
                404,
                "not_found",
            ),
            (
                Error::from_signer(ErrorCode::Busy, "x"),
                503,
                "enclave_unavailable",
            ),
            (
                Error::Challenge(ChallengeRefusal::Pending),
                409,
                "challenge_pending",
            ),
            (
                Error::Challenge(ChallengeRefusal::Used),
                409,
                "challenge_used",
            ),
            (
                Error::Challenge(ChallengeRefusal::Expired),
                410,
                "challenge_expired",
            ),
            (
                Error::Challenge(ChallengeRefusal::Refused),
                410,
                "challenge_refused",
            ),
            (
                Error::approval(ApprovalRefusal::ApprovalRequired, "x"),
                403,
                "approval_required",
            ),
            (
                Error::approval(ApprovalRefusal::IntentDeclined, "x"),
                403,
                "intent_declined",
            ),
            (
                Error::approval(ApprovalRefusal::ApprovalPending, "x"),
                409,
                "approval_pending",
            ),
            (
                Error::approval(ApprovalRefusal::IntentDecided, "x"),
                409,
                "intent_decided",
            ),
            (
                Error::approval(ApprovalRefusal::ApprovalNotRequired, "x"),
                409,
                "approval_not_required",
            ),
            (
                Error::approval(ApprovalRefusal::IntentExpired, "x"),
                410,
                "intent_expired",
            ),
            (
                Error::approval(ApprovalRefusal::ProposalDecided, "x"),
                409,
                "proposal_decided",
            ),
            (
                Error::approval(ApprovalRefusal::ProposalExpired, "x"),
                410,
                "proposal_expired",
            ),
        ];
        for (e, status, code) in cases {
            let api = ApiError::from(e);
            assert_eq!((api.status.as_u16(), api.code), (status, code));
        }
    }

    #[test]
    fn internals_are_not_sent() {
        let api = ApiError::from(Error::Storage(crate::store::StoreError::corrupt(
            "wallet",
            "/var/lib/signet/signet.db: disk I/O error",
        )));
        assert!(!api.message.contains("/var/lib"));
        assert_eq!(api.retry_after, Some(1));
        let api = ApiError::from(Error::Internal("secret detail".into()));
        assert_eq!(api.message, "internal error");
    }

    /// The sets hold the statuses their names promise, each an `ErrorBody`.
    #[test]
    fn the_response_sets_compose() {
        use super::responses::{Authenticated, Authorized, JsonBody, NotFound};
        use utoipa::IntoResponses;
        fn statuses<T: IntoResponses>() -> Vec<String> {
            T::responses().into_keys().collect()
        }
        assert_eq!(statuses::<Authenticated>(), ["401", "429", "503"]);
        assert_eq!(statuses::<Authorized>(), ["401", "403", "429", "503"]);
        assert_eq!(statuses::<JsonBody>(), ["400", "413"]);
        assert_eq!(statuses::<NotFound>(), ["404"]);
        let json = serde_json::to_value(Authorized::responses()).unwrap_or_default();
        for status in ["401", "403", "429", "503"] {
            assert_eq!(
                json[status]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{status}"
            );
        }
    }

    /// A route's own tuple listed after a set replaces the set's
    /// description for that status, and only that one.
    #[test]
    fn a_tuple_after_a_set_narrows_its_description() {
        use super::responses::Authorized;
        #[utoipa::path(get, path = "/x", responses((status = 200, description = "ok"), Authorized, (status = 403, description = "narrower", body = ErrorBody)))]
        async fn x() {}
        let (_, api) = utoipa_axum::router::OpenApiRouter::<()>::default()
            .routes(utoipa_axum::routes!(x))
            .split_for_parts();
        let json = serde_json::to_value(&api).unwrap_or_default();
        let responses = &json["paths"]["/x"]["get"]["responses"];
        assert_eq!(responses["403"]["description"], "narrower");
        assert_eq!(responses["401"]["description"], "No valid token");
        let statuses: Vec<&String> = responses
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(statuses, ["200", "401", "403", "429", "503"]);
    }
}
