//! The wire between Signet's host and its signer.
//!
//! - [`frame`]: length-prefixed (u32 big-endian) CBOR frames with a hard size
//!   cap checked before any allocation, each carrying a request id so a
//!   connection can pipeline.
//! - [`message`]: the requests and responses, and the versioned hello in which
//!   the host proves knowledge of `INTERNAL_API_KEY` by an HMAC over a fresh
//!   challenge (the key never crosses the wire) and receives an attestation
//!   document.
//! - [`ErrorCode`]: the signer's refusals, one-to-one with the HTTP error codes.
//! - [`ticket`]: minting and verifying the single-use JWT (HS256) tickets.
//! - [`secret`]: shared secrets that zeroize, never print, and compare in
//!   constant time.
//! - [`client`]: an async, pipelining client over unix or vsock sockets.
//! - [`files`]: private files written atomically (keys, tokens).

pub mod addr;
pub mod audit;
pub mod client;
pub mod digest;
pub mod error;
pub mod files;
pub mod frame;
pub mod hello;
pub mod hexstr;
pub mod jwt;
pub mod message;
pub mod secret;
pub mod ticket;
pub mod time;

pub use addr::SignerAddr;
pub use error::ErrorCode;
pub use message::{KeyType, Request, Response, SealedKey};
pub use secret::SharedSecret;
