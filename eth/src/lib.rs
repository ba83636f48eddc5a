//! Ethereum transactions and EIP-712 typed data for Signet: decode, validate,
//! hash, assemble.
//!
//! The host hands this crate what API clients and Ethereum wallets send, gets
//! back the 32-byte digest that the signer signs and a decoded summary for the
//! audit log and approvers, and after signing assembles the transaction that
//! goes on chain. Encoding and hashing are alloy's (`alloy-consensus`,
//! `alloy-eips`, `alloy-dyn-abi`); this crate adds the strict parsing and the
//! error messages API users see.
//!
//! - Transactions: [`parse_request`] → [`TxRequest`] → [`TxRequest::build`] →
//!   [`UnsignedTx`] ([`UnsignedTx::signing_hash`], [`UnsignedTx::summary`]) →
//!   [`UnsignedTx::into_signed`] → [`SignedTx`]. Types 0 (legacy, always with
//!   EIP-155 chain id), 1 (EIP-2930), 2 (EIP-1559) and 4 (EIP-7702); blob
//!   transactions (type 3) are refused.
//! - Typed data: [`typed_data`] → [`TypedDataHash`].
//! - For the policy engine and approvers: [`decode_call`] recognises token
//!   calls (ERC-20 transfers and approvals, ERC-721/1155 transfers and
//!   operator approvals) in a transaction's calldata as a [`Call`];
//!   [`permit()`] recognises token permits (EIP-2612, DAI, Uniswap Permit2) in
//!   typed data as a [`Permit`].
//!
//! Numbers ("quantities") are accepted as `0x`-prefixed hex strings, as
//! JSON-RPC specifies (`"0x0"`, `"0x1a"`), and for hand-written requests also
//! as decimal strings (`"21000"`) and JSON integers (`21000`). Negative values,
//! overflow, empty `"0x"`, signs, spaces, fractions and other junk are refused
//! with a message naming the field. Byte strings are `0x` hex; addresses are
//! `0x` + 40 hex digits, and mixed-case addresses must carry a valid EIP-55
//! checksum.
//!
//! Nothing here touches the network; filling a missing nonce, gas or fees from
//! a node is the host's job (it can use [`TxRequest::to_rpc_json`] for
//! `eth_estimateGas`).

mod call;
mod error;
mod parse;
mod permit;
mod tx;
mod typed;

pub use call::{decode_call, is_known_selector, Call, KNOWN_SELECTORS};
pub use error::{EthError, Scope};
pub use permit::{permit, Permit, PERMIT2_MAX_AMOUNT};
pub use tx::{parse_request, AuthorizationSummary, SignedTx, TxRequest, TxSummary, UnsignedTx};
pub use typed::{typed_data, DomainSummary, TypedDataHash, TypedDataSummary};

/// The alloy types in [`TxRequest`]'s fields and [`UnsignedTx`]'s
/// constructors, re-exported so callers need not pin alloy themselves.
pub mod alloy {
    pub use alloy_consensus::{TxEip1559, TxEip2930, TxEip7702, TxLegacy};
    pub use alloy_eips::eip2930::{AccessList, AccessListItem};
    pub use alloy_eips::eip7702::{Authorization, SignedAuthorization};
    pub use alloy_primitives::{keccak256, Address, Bytes, TxKind, B256, U256};
}
