//! The signer is the authority: wallet records, owners, policy, and the owners'
//! approvals that let a signature through when the policy alone does not.
//!
//! This crate is the one place that knows these formats. The signer (enclave)
//! decides with it, the host uses it for early feedback, the CLI makes and
//! signs approvals with it and the WebAssembly verifier shows records with it.
//! It is pure: no I/O, no clock (callers pass `now`), no RNG of its own
//! (callers pass random bytes or an RNG), so it builds for `wasm32`.
//!
//! - [`record`]: the wallet record (canonical JSON, RFC 8785) and its hash.
//! - [`owner`]: owners (`passkey`, `secp256k1`, `ed25519`, `p256`).
//! - [`policy`]: what a wallet may sign without its owners.
//! - [`facts`]: what the signer decoded from a request, and the policy's decision over it.
//! - [`amount`]: 256-bit amounts (wei, token units) as decimal strings.
//! - [`authz`]: the authorization v1 text owners sign, and request payloads.
//! - [`approval`]: approvals and [`approval::verify_approvals`].
//! - [`webauthn`]: WebAuthn assertions (clientDataJSON, authenticatorData, ES256).
//! - [`replay`]: the bounded memory of request ids already used.
//! - [`keys`]: owner secret keys, their files, and signing approvals (CLI, tests).
//!
//! The formats, bounds and every refusal are described for users and auditors
//! in `docs/owners.md`.

pub mod amount;
pub mod approval;
pub mod authz;
mod canonical;
pub mod error;
pub mod eth;
pub mod facts;
mod fields;
pub mod keys;
pub mod owner;
pub mod policy;
pub mod record;
pub mod replay;
pub mod webauthn;

pub use amount::Amount;
pub use approval::{
    verify_approvals, Approval, ApprovalError, ApprovalRefusal, Expected, Proof, Verified,
    WebAuthnProof,
};
pub use authz::{payload_sha256, Action, Authorization, Request};
pub use error::{FieldError, FieldErrorKind};
pub use facts::{CallFacts, Denied, Facts, PermitFacts, TxFacts, TypedFacts};
pub use keys::{KeyFileError, OwnerKeyType, OwnerSecretKey};
pub use owner::{Owner, OwnerType};
pub use policy::{DomainRule, Kind, Policy, TokenLimit, Window};
pub use record::{loosens, KeyType, Record, RecordHash, RecordSettings, WalletKey};
pub use replay::{ReplayError, ReplayGuard};
pub use webauthn::WebAuthnError;

/// The largest integer every JSON number in our texts may hold: 2^53 − 1.
/// RFC 8785 writes numbers as IEEE 754 doubles, which are exact up to here;
/// a larger integer would not survive canonicalization unchanged.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
