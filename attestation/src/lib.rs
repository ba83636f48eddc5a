//! Parse and verify AWS Nitro Enclaves attestation documents.
//!
//! A document is a COSE_Sign1 (ES384) whose payload is the NSM's CBOR
//! `AttestationDocument`. [`Verifier::verify`] checks, in order: size and
//! envelope shape, payload fields against the NSM limits, the signature by the
//! leaf certificate over the bytes as received, the chain
//! `leaf → cabundle[n-1] → … → cabundle[1]` to a **pinned** root (AWS Nitro
//! Enclaves Root-G1 unless another root is passed explicitly) at a chosen time,
//! debug mode, the expected PCRs (required), the nonce and the maximum age.
//! [`VerifiedDocument`] then checks Signet's key and signature bindings.
//!
//! [`inspect_unverified`] decodes without checking anything, for display only.
//! With the `dev` feature, [`dev::DevIssuer`] issues documents with the same
//! structure from a local CA that no verifier trusts unless told to.

mod binding;
mod chain;
mod cose;
mod document;
mod error;
mod policy;
mod verify;

#[cfg(feature = "dev")]
pub mod dev;
pub mod report;

pub use binding::{
    key_binding, key_binding_v2, signature_binding, KEY_BINDING_LABEL, KEY_BINDING_V2_LABEL,
    SIGNATURE_BINDING_LABEL,
};
pub use chain::{TrustAnchor, AWS_NITRO_ROOT_G1_SHA256};
pub use cose::MAX_DOCUMENT_LEN;
pub use document::{
    inspect_unverified, AttestationDoc, MAX_CABUNDLE, MAX_CERT_LEN, MAX_PCRS, MAX_PUBLIC_KEY_LEN,
    MAX_USER_DATA_LEN,
};
pub use error::VerifyError;
pub use policy::{PcrPolicy, PcrSet, PolicyFile, VerifyAt, CLOCK_SKEW};
pub use verify::{now_ms, VerifiedDocument, Verifier};
