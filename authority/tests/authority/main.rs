//! signet-authority's refusals, each its own test, and its accepted
//! boundaries; published vectors (RFC 8785, WebAuthn) in `vectors` and `jcs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../common/mod.rs"]
mod common;

mod approvals;
mod authorizations;
mod jcs;
mod keys;
mod passkeys;
mod policy;
mod records;
mod replay;
mod vectors;
