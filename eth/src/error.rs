//! Why an Ethereum request was refused. The `Display` texts are shown to API
//! users verbatim (HTTP 400 messages, JSON-RPC error messages): each names the
//! input (`transaction` or `typed_data`), the field, and what is wrong with it.

use std::fmt;

/// Which input an [`EthError`] is about; the first word of its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// An Ethereum transaction object (`{transaction: {...}}`, `eth_signTransaction`).
    Transaction,
    /// EIP-712 typed data (`{typed_data: {...}}`, `eth_signTypedData_v4`).
    TypedData,
}

impl Scope {
    /// The name used in messages: `transaction` or `typed_data`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Transaction => "transaction",
            Self::TypedData => "typed_data",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused transaction, typed-data object or signature.
///
/// `field` is the JSON path of the offending value as the caller wrote it
/// (`chainId`, `accessList[2].storageKeys[0]`, `message.to.wallets[1]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EthError {
    /// The input is not the JSON shape expected at all (not an object, a
    /// typed-data string that is not JSON, ...).
    #[error("{scope}: {reason}")]
    Malformed {
        /// Which input.
        scope: Scope,
        /// What is wrong.
        reason: String,
    },
    /// A field the format does not have (unknown fields are refused, never
    /// ignored: an ignored field could be one the caller believes is signed).
    #[error("{scope}: unknown field `{field}`")]
    UnknownField {
        /// Which input.
        scope: Scope,
        /// The field's path.
        field: String,
    },
    /// A required field is absent.
    #[error("{scope}: `{field}` is required")]
    Missing {
        /// Which input.
        scope: Scope,
        /// The field's path.
        field: String,
    },
    /// A field is present but its value is refused.
    #[error("{scope}: `{field}` {reason}")]
    Invalid {
        /// Which input.
        scope: Scope,
        /// The field's path.
        field: String,
        /// Why, as a predicate (`must not be negative`, `out of range for uint8`).
        reason: String,
    },
    /// Fields that are each valid contradict each other (`gasPrice` with
    /// `maxFeePerGas`, a legacy `type` with an `accessList`, ...).
    #[error("{scope}: {reason}")]
    Conflict {
        /// Which input.
        scope: Scope,
        /// Which fields, and why they cannot go together.
        reason: String,
    },
    /// The signature handed to [`crate::UnsignedTx::into_signed`] is not a
    /// valid low-S secp256k1 signature with a 0/1 recovery id.
    #[error("signature: {0}")]
    Signature(&'static str),
}

impl EthError {
    pub(crate) fn malformed(scope: Scope, reason: impl Into<String>) -> Self {
        Self::Malformed {
            scope,
            reason: reason.into(),
        }
    }

    pub(crate) fn unknown(scope: Scope, field: impl Into<String>) -> Self {
        Self::UnknownField {
            scope,
            field: field.into(),
        }
    }

    pub(crate) fn missing(scope: Scope, field: impl Into<String>) -> Self {
        Self::Missing {
            scope,
            field: field.into(),
        }
    }

    pub(crate) fn invalid(
        scope: Scope,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            scope,
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn conflict(scope: Scope, reason: impl Into<String>) -> Self {
        Self::Conflict {
            scope,
            reason: reason.into(),
        }
    }

    /// Which input the error is about, if it is about an input (not a signature).
    pub fn scope(&self) -> Option<Scope> {
        match self {
            Self::Malformed { scope, .. }
            | Self::UnknownField { scope, .. }
            | Self::Missing { scope, .. }
            | Self::Invalid { scope, .. }
            | Self::Conflict { scope, .. } => Some(*scope),
            Self::Signature(_) => None,
        }
    }
}
