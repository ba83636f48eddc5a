//! The signer's error: a wire code plus a message free of secrets.

use signet_proto::{ErrorCode, Response};

/// A refusal or failure, as it will cross the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct SignerError {
    /// The code.
    pub code: ErrorCode,
    /// Detail for the operator; never contains key material or secrets.
    pub message: String,
    /// The rule (policy refusals) or reason (approval refusals).
    pub detail: Option<String>,
}

impl SignerError {
    /// An error with `code`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            detail: None,
        }
    }

    /// With the rule or reason of a policy or approval refusal.
    #[must_use]
    pub fn with_detail(mut self, detail: &str) -> Self {
        self.detail = Some(detail.to_owned());
        self
    }

    /// `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// The wire form.
    #[must_use]
    pub fn into_response(self) -> Response {
        Response::Error {
            code: self.code,
            message: self.message,
            detail: self.detail,
        }
    }
}
