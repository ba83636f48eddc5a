//! The signer's error codes; each maps to exactly one HTTP code of DESIGN.md.

use serde::{Deserialize, Serialize};

/// Why the signer refused a request. Crosses the wire as a snake_case string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request is malformed or inconsistent (wrong digest length, a
    /// message for an ECDSA key, an unknown key type…).
    BadRequest,
    /// The hello proof is wrong, or a request came before the hello.
    Unauthenticated,
    /// The ticket's MAC, key id, audience, wallet, digest or key type is wrong.
    TicketInvalid,
    /// The ticket's `exp` has passed.
    TicketExpired,
    /// The ticket's `jti` was already used.
    TicketReplayed,
    /// The key is not in the signer's cache; send its sealed blob.
    KeyNotLoaded,
    /// No such key (destroyed, or never created).
    KeyNotFound,
    /// A key with this id already exists.
    KeyExists,
    /// A sealed blob failed authentication (tampered, another sealing key,
    /// another key id) or names a sealing key version the signer lacks.
    SealedKeyInvalid,
    /// A frame exceeded the size cap; the connection is closed.
    FrameTooLarge,
    /// The peer speaks a protocol version this signer does not.
    UnsupportedVersion,
    /// The HSM did not answer (PKCS#11 backend).
    HsmUnavailable,
    /// An attestation document could not be produced.
    AttestationUnavailable,
    /// The signer is at a capacity limit (replay cache or connection slots);
    /// retry shortly.
    Busy,
    /// The signer has no sealing key yet (KMS sealing: the host has not
    /// unsealed it, or KMS refused); retry once it is unsealed.
    SealingUnavailable,
    /// KMS could not be reached or kept failing (throttling, 5xx, network)
    /// after the signer's retries; retryable.
    KmsUnavailable,
    /// KMS refused the call (key policy, disabled key, bad request) or its
    /// answer failed the signer's checks (`Plaintext` present, another
    /// `KeyId`, a CMS for another key, tampered): not retryable as is.
    KmsRefused,
    /// The AWS credentials the host handed over have expired: the host
    /// refreshes them and asks again.
    CredentialsExpired,
    /// Outside the policy of a wallet without owners (`detail`: the rule).
    PolicyDenied,
    /// Outside the policy of a wallet with owners, without enough of their
    /// approvals (`detail`: the rule).
    OwnerApprovalRequired,
    /// An owner's approval was refused (`detail`: the reason).
    ApprovalInvalid,
    /// The approvals' `request_id` was already used.
    ApprovalReplayed,
    /// The record given is not the one the sealed blob is bound to, or is
    /// older than one this signer has seen for the wallet.
    RecordMismatch,
    /// A record change that loosens the policy waits for the current
    /// policy's `change_delay_seconds` (`detail`: when it takes effect, Unix
    /// seconds).
    ChangeNotYetEffective,
    /// A bug or an unexpected failure inside the signer.
    Internal,
    /// A code this build does not know (a newer signer).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The snake_case name used on the wire and in HTTP error bodies.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Unauthenticated => "unauthenticated",
            Self::TicketInvalid => "ticket_invalid",
            Self::TicketExpired => "ticket_expired",
            Self::TicketReplayed => "ticket_replayed",
            Self::KeyNotLoaded => "key_not_loaded",
            Self::KeyNotFound => "key_not_found",
            Self::KeyExists => "key_exists",
            Self::SealedKeyInvalid => "sealed_key_invalid",
            Self::FrameTooLarge => "frame_too_large",
            Self::UnsupportedVersion => "unsupported_version",
            Self::HsmUnavailable => "hsm_unavailable",
            Self::AttestationUnavailable => "attestation_unavailable",
            Self::Busy => "busy",
            Self::SealingUnavailable => "sealing_unavailable",
            Self::KmsUnavailable => "kms_unavailable",
            Self::KmsRefused => "kms_refused",
            Self::CredentialsExpired => "credentials_expired",
            Self::PolicyDenied => "policy_denied",
            Self::OwnerApprovalRequired => "owner_approval_required",
            Self::ApprovalInvalid => "approval_invalid",
            Self::ApprovalReplayed => "approval_replayed",
            Self::RecordMismatch => "record_mismatch",
            Self::ChangeNotYetEffective => "change_not_yet_effective",
            Self::Internal => "internal",
            Self::Unknown => "unknown",
        }
    }

    /// The HTTP status the host answers with when this code reaches a client.
    #[must_use]
    pub fn http_status(self) -> u16 {
        match self {
            Self::BadRequest | Self::UnsupportedVersion => 400,
            Self::Unauthenticated => 401,
            Self::TicketInvalid
            | Self::PolicyDenied
            | Self::OwnerApprovalRequired
            | Self::ApprovalInvalid => 403,
            Self::KeyNotFound => 404,
            Self::TicketReplayed
            | Self::KeyExists
            | Self::ApprovalReplayed
            | Self::RecordMismatch
            | Self::ChangeNotYetEffective => 409,
            Self::TicketExpired => 410,
            Self::FrameTooLarge => 413,
            Self::KeyNotLoaded
            | Self::HsmUnavailable
            | Self::AttestationUnavailable
            | Self::SealingUnavailable
            | Self::KmsUnavailable
            | Self::CredentialsExpired
            | Self::Busy => 503,
            Self::KmsRefused => 502,
            Self::SealedKeyInvalid | Self::Internal | Self::Unknown => 500,
        }
    }

    /// Whether the same request may succeed if retried later.
    #[must_use]
    pub fn retryable(self) -> bool {
        self.http_status() == 503
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_as_str() {
        for code in [
            ErrorCode::BadRequest,
            ErrorCode::TicketReplayed,
            ErrorCode::TicketExpired,
            ErrorCode::TicketInvalid,
            ErrorCode::KeyNotLoaded,
            ErrorCode::SealedKeyInvalid,
            ErrorCode::Busy,
            ErrorCode::PolicyDenied,
            ErrorCode::OwnerApprovalRequired,
            ErrorCode::ApprovalInvalid,
            ErrorCode::ApprovalReplayed,
            ErrorCode::RecordMismatch,
            ErrorCode::ChangeNotYetEffective,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
        let unknown: ErrorCode = serde_json::from_str("\"from_the_future\"").unwrap();
        assert_eq!(unknown, ErrorCode::Unknown);
    }

    #[test]
    fn design_statuses() {
        assert_eq!(ErrorCode::TicketInvalid.http_status(), 403);
        assert_eq!(ErrorCode::TicketReplayed.http_status(), 409);
        assert_eq!(ErrorCode::TicketExpired.http_status(), 410);
        assert_eq!(ErrorCode::Unauthenticated.http_status(), 401);
        assert_eq!(ErrorCode::PolicyDenied.http_status(), 403);
        assert_eq!(ErrorCode::OwnerApprovalRequired.http_status(), 403);
        assert_eq!(ErrorCode::ApprovalInvalid.http_status(), 403);
        assert_eq!(ErrorCode::ApprovalReplayed.http_status(), 409);
        assert_eq!(ErrorCode::RecordMismatch.http_status(), 409);
        assert_eq!(ErrorCode::ChangeNotYetEffective.http_status(), 409);
        assert!(ErrorCode::KeyNotLoaded.retryable());
        assert!(!ErrorCode::TicketReplayed.retryable());
    }
}
