//! The Signet signer. The only place keys exist in plaintext: every byte that
//! reaches it is treated as hostile.
//!
//! - [`transport`]: the [`transport::Listener`] trait over vsock and unix sockets.
//! - [`server`]: challenge → hello (HMAC proof of `INTERNAL_API_KEY`, attestation
//!   document) → pipelined requests; a bad frame closes only its connection.
//! - [`service::Signer`]: tickets (MAC, audience, expiry, wallet/digest/type
//!   binding, replay), keys, signing, attestation.
//! - [`backend::KeyBackend`]: [`backend::SoftwareBackend`] keeps keys in a
//!   bounded cache and seals them ([`sealing`]) for the host to store.
//! - [`attestor::Attestor`]: `nsm`, `dev` or `none`.

pub mod attestor;
pub mod backend;
pub mod content;
pub mod error;
pub mod keys;
pub mod kms;
pub mod pkcs11;
pub mod records;
pub mod replay;
pub mod sealing;
pub mod server;
pub mod service;
pub mod transport;
pub mod windows;

pub use error::SignerError;
