//! `signet-kms-fake`: a faithful stand-in for AWS KMS for Signet's tests and
//! local dev. It speaks the KMS API (awsJson1.1 over TLS, SigV4-verified)
//! for `GenerateDataKey`, `Decrypt`, `GenerateRandom`, `DisableKey` and
//! `EnableKey`, verifies `Recipient` attestation documents, answers with a
//! CMS `CiphertextForRecipient` laid out byte for byte as KMS does, and
//! evaluates the keys' IAM key policies — so a call the Terraform policy
//! denies is denied here too, and one it allows without `Recipient` gets
//! `Plaintext`, exactly as from KMS.
//!
//! **Never use it for real keys**: its key material sits in a file in its
//! directory.
//!
//! Modules: [`server`] (state and listeners), [`api`] (operations and
//! errors), [`sigv4`] (authentication), [`policy`] (key policies),
//! [`cms`] (the envelope encoder), [`store`] (keys and blobs), [`tls`]
//! (CA and server certificate), [`faults`] and [`control`] (test hooks).

pub mod api;
pub mod cms;
pub mod control;
pub mod faults;
pub mod policy;
pub mod server;
pub mod sigv4;
pub mod store;
pub mod tls;
