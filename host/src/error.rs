//! The one mapping from failures to HTTP: `{"error":{"code","message"}}`
//! with DESIGN.md's statuses. A 500 is a bug and says so in the log.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use signet_proto::ErrorCode;

use crate::store::StoreError;

/// An API error.
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
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    /// 401.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }
    /// 403 `scope_denied`.
    pub fn scope_denied(scope: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "scope_denied",
            format!("this API client lacks the `{scope}` scope"),
        )
    }
    /// 404.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
    /// 413.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }
    /// 429 with `Retry-After`.
    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "rate limit exceeded; retry later",
            )
        }
    }
    /// 503 `enclave_unavailable` (retryable).
    pub fn enclave_unavailable(message: impl Into<String>) -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "enclave_unavailable",
                message,
            )
        }
    }
    /// 503 `storage_unavailable` (retryable); the detail is logged, not sent.
    pub fn storage(e: &StoreError) -> Self {
        tracing::error!(error = %e, "storage failure");
        Self {
            retry_after: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "storage is unavailable; retry",
            )
        }
    }
    /// 500: a bug. The detail is logged, not sent.
    pub fn internal(detail: &str) -> Self {
        tracing::error!(detail, "internal error (a bug)");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
    /// A signer refusal as HTTP, by its code.
    pub fn from_signer(code: ErrorCode, message: &str) -> Self {
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match code {
            ErrorCode::KeyNotLoaded
            | ErrorCode::Busy
            | ErrorCode::HsmUnavailable
            | ErrorCode::AttestationUnavailable => {
                Self::enclave_unavailable(format!("signer: {message}"))
            }
            ErrorCode::KeyNotFound => Self::not_found("wallet key"),
            ErrorCode::SealedKeyInvalid | ErrorCode::Internal | ErrorCode::Unknown => {
                tracing::error!(%code, message, "signer failure");
                Self::new(
                    status,
                    code.as_str(),
                    "the signer could not complete the request",
                )
            }
            _ => Self::new(status, code.as_str(), message.to_owned()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::storage(&e)
    }
}
