//! The KMS sealing path: the ephemeral RSA recipient key, the strict
//! `CiphertextForRecipient` parser, and the KMS client.

pub mod client;
pub mod cms;
pub mod recipient;
pub mod sealer;
