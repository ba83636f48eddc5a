//! The token calls the signer recognises in a transaction's calldata (ERC-20
//! transfers and approvals, ERC-721/1155 transfers and operator approvals),
//! decoded for the policy engine and approvers.
//!
//! Decoding is strict on purpose: what the policy engine sees must be exactly
//! what the token contract will execute, and a lenient decoder can be made to
//! show something else. Solidity reads an `address` argument as its low 20
//! bytes and a `bool` as "not zero", so calldata with dirty high bytes or a
//! `bool` of 2 still executes; refusing it means no two decoders (ours, a
//! block explorer's, an approver's wallet) can disagree about it. Trailing
//! bytes, non-canonical offsets and dirty padding are refused for the same
//! reason. A calldata that is not one of the calls below is not an error: it
//! is an unknown call, `Ok(None)`, for the policy to treat as such.

use alloy_primitives::{hex, Address, Bytes, U256};
use alloy_sol_types::abi::AbiDecoderConfig;
use alloy_sol_types::SolCall;
use serde_json::{Map, Value};

use crate::error::{EthError, Scope};

/// The Solidity declarations the calls are decoded with (and re-encoded by
/// [`Call::abi_encode`]).
mod abi {
    alloy_sol_types::sol! {
        function transfer(address to, uint256 amount);
        function transferFrom(address from, address to, uint256 amount);
        function approve(address spender, uint256 amount);
        function increaseAllowance(address spender, uint256 amount);
        function setApprovalForAll(address operator, bool approved);

        interface IERC721 {
            function safeTransferFrom(address from, address to, uint256 tokenId);
            function safeTransferFrom(address from, address to, uint256 tokenId, bytes data);
        }

        interface IERC1155 {
            function safeTransferFrom(address from, address to, uint256 id, uint256 amount, bytes data);
        }
    }
}

use abi::IERC1155::safeTransferFromCall as Erc1155SafeTransferFrom;
use abi::IERC721::{
    safeTransferFrom_0Call as Erc721SafeTransferFrom,
    safeTransferFrom_1Call as Erc721SafeTransferFromData,
};

/// The selectors [`decode_call`] recognises: `transfer`, `transferFrom`,
/// `approve`, `increaseAllowance`, ERC-721 `safeTransferFrom` (both
/// overloads), ERC-1155 `safeTransferFrom` and `setApprovalForAll`.
pub const KNOWN_SELECTORS: [[u8; 4]; 8] = [
    abi::transferCall::SELECTOR,
    abi::transferFromCall::SELECTOR,
    abi::approveCall::SELECTOR,
    abi::increaseAllowanceCall::SELECTOR,
    Erc721SafeTransferFrom::SELECTOR,
    Erc721SafeTransferFromData::SELECTOR,
    Erc1155SafeTransferFrom::SELECTOR,
    abi::setApprovalForAllCall::SELECTOR,
];

/// Whether `selector` is one of [`KNOWN_SELECTORS`].
pub fn is_known_selector(selector: [u8; 4]) -> bool {
    KNOWN_SELECTORS.contains(&selector)
}

/// A contract call the signer recognises from a transaction's calldata.
///
/// The selector alone does not say which token standard the contract follows:
/// ERC-20 and ERC-721 share `transferFrom` and `approve`, and for an ERC-721
/// contract their `amount` is a token id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Call {
    /// ERC-20 `transfer(address,uint256)`, selector `0xa9059cbb`.
    Transfer {
        /// The recipient.
        to: Address,
        /// The amount, in the token's base units.
        amount: U256,
    },
    /// `transferFrom(address,address,uint256)`, selector `0x23b872dd` (ERC-20;
    /// ERC-721's has the same selector, and `amount` is then the token id).
    TransferFrom {
        /// Whose tokens move.
        from: Address,
        /// The recipient.
        to: Address,
        /// The amount in base units (the token id for ERC-721).
        amount: U256,
    },
    /// `approve(address,uint256)`, selector `0x095ea7b3` (ERC-20; ERC-721's
    /// has the same selector, and `amount` is then the token id).
    Approve {
        /// Who may spend.
        spender: Address,
        /// The allowance in base units (the token id for ERC-721);
        /// `U256::MAX` is unlimited.
        amount: U256,
    },
    /// `increaseAllowance(address,uint256)`, selector `0x39509351` (the
    /// OpenZeppelin ERC-20 extension).
    IncreaseAllowance {
        /// Who may spend.
        spender: Address,
        /// How much the allowance grows, in base units.
        amount: U256,
    },
    /// ERC-721 `safeTransferFrom(address,address,uint256)` (`0x42842e0e`) and
    /// `safeTransferFrom(address,address,uint256,bytes)` (`0xb88d4fde`);
    /// ERC-1155 `safeTransferFrom(address,address,uint256,uint256,bytes)`
    /// (`0xf242432a`, then `amount` is `Some`).
    SafeTransferFrom {
        /// Whose token moves.
        from: Address,
        /// The recipient (its `onERC721Received`/`onERC1155Received` hook
        /// is called with `data`).
        to: Address,
        /// The token id.
        token_id: U256,
        /// The amount of ERC-1155 token `token_id`; `None` for ERC-721.
        amount: Option<U256>,
        /// The `bytes data` handed to the recipient's hook: `None` for the
        /// ERC-721 overload without it, `Some` (possibly empty) otherwise.
        data: Option<Bytes>,
    },
    /// ERC-721/1155 `setApprovalForAll(address,bool)`, selector `0xa22cb465`.
    SetApprovalForAll {
        /// Who may move every token of the collection.
        operator: Address,
        /// `true` grants, `false` revokes.
        approved: bool,
    },
}

/// Decodes a transaction's calldata (`input`) into a [`Call`] the signer
/// recognises.
///
/// Returns `Ok(None)` for calldata that is not one of these calls: empty
/// (a plain transfer of ether), shorter than a 4-byte selector, or a selector
/// not in [`KNOWN_SELECTORS`].
///
/// Refuses (`Err`) a known selector whose arguments are not strictly
/// ABI-encoded: too short, trailing bytes after the arguments, an address word
/// whose high 12 bytes are not zero, a `bool` word other than 0 or 1, or a
/// `bytes` argument with a non-canonical offset, a length beyond the data or
/// non-zero padding.
pub fn decode_call(input: &[u8]) -> Result<Option<Call>, EthError> {
    let Some(selector) = input.first_chunk::<4>().copied() else {
        return Ok(None);
    };
    let call = match selector {
        s if s == abi::transferCall::SELECTOR => {
            let c: abi::transferCall = strict(input)?;
            Call::Transfer {
                to: c.to,
                amount: c.amount,
            }
        }
        s if s == abi::transferFromCall::SELECTOR => {
            let c: abi::transferFromCall = strict(input)?;
            Call::TransferFrom {
                from: c.from,
                to: c.to,
                amount: c.amount,
            }
        }
        s if s == abi::approveCall::SELECTOR => {
            let c: abi::approveCall = strict(input)?;
            Call::Approve {
                spender: c.spender,
                amount: c.amount,
            }
        }
        s if s == abi::increaseAllowanceCall::SELECTOR => {
            let c: abi::increaseAllowanceCall = strict(input)?;
            Call::IncreaseAllowance {
                spender: c.spender,
                amount: c.amount,
            }
        }
        s if s == Erc721SafeTransferFrom::SELECTOR => {
            let c: Erc721SafeTransferFrom = strict(input)?;
            Call::SafeTransferFrom {
                from: c.from,
                to: c.to,
                token_id: c.tokenId,
                amount: None,
                data: None,
            }
        }
        s if s == Erc721SafeTransferFromData::SELECTOR => {
            let c: Erc721SafeTransferFromData = strict(input)?;
            Call::SafeTransferFrom {
                from: c.from,
                to: c.to,
                token_id: c.tokenId,
                amount: None,
                data: Some(c.data),
            }
        }
        s if s == Erc1155SafeTransferFrom::SELECTOR => {
            let c: Erc1155SafeTransferFrom = strict(input)?;
            Call::SafeTransferFrom {
                from: c.from,
                to: c.to,
                token_id: c.id,
                amount: Some(c.amount),
                data: Some(c.data),
            }
        }
        s if s == abi::setApprovalForAllCall::SELECTOR => {
            let c: abi::setApprovalForAllCall = strict(input)?;
            Call::SetApprovalForAll {
                operator: c.operator,
                approved: c.approved,
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(call))
}

/// Decodes `input` (selector included) as `C` in alloy's strict mode: the
/// arguments must be exactly the canonical encoding (validated words, so no
/// dirty address bits or non-0/1 bools; canonical offsets; zero padding; no
/// trailing bytes).
fn strict<C: SolCall>(input: &[u8]) -> Result<C, EthError> {
    C::abi_decode_with_config(input, AbiDecoderConfig::new().strict(true)).map_err(|e| {
        EthError::invalid(
            Scope::Transaction,
            "input",
            format!(
                "is calldata for {} that does not decode strictly: {e}",
                C::SIGNATURE
            ),
        )
    })
}

impl Call {
    /// The function's name, e.g. `approve`.
    pub fn function(&self) -> &'static str {
        match self {
            Self::Transfer { .. } => "transfer",
            Self::TransferFrom { .. } => "transferFrom",
            Self::Approve { .. } => "approve",
            Self::IncreaseAllowance { .. } => "increaseAllowance",
            Self::SafeTransferFrom { .. } => "safeTransferFrom",
            Self::SetApprovalForAll { .. } => "setApprovalForAll",
        }
    }

    /// The function's Solidity signature, e.g. `approve(address,uint256)`
    /// (which `safeTransferFrom` overload follows from `amount` and `data`).
    pub fn signature(&self) -> &'static str {
        self.abi().0
    }

    /// The 4-byte selector of [`Call::signature`].
    pub fn selector(&self) -> [u8; 4] {
        self.abi().1
    }

    /// The Solidity signature and selector of the function this call is.
    fn abi(&self) -> (&'static str, [u8; 4]) {
        fn of<C: SolCall>() -> (&'static str, [u8; 4]) {
            (C::SIGNATURE, C::SELECTOR)
        }
        match self {
            Self::Transfer { .. } => of::<abi::transferCall>(),
            Self::TransferFrom { .. } => of::<abi::transferFromCall>(),
            Self::Approve { .. } => of::<abi::approveCall>(),
            Self::IncreaseAllowance { .. } => of::<abi::increaseAllowanceCall>(),
            Self::SafeTransferFrom {
                amount: Some(_), ..
            } => of::<Erc1155SafeTransferFrom>(),
            Self::SafeTransferFrom {
                amount: None,
                data: Some(_),
                ..
            } => of::<Erc721SafeTransferFromData>(),
            Self::SafeTransferFrom {
                amount: None,
                data: None,
                ..
            } => of::<Erc721SafeTransferFrom>(),
            Self::SetApprovalForAll { .. } => of::<abi::setApprovalForAllCall>(),
        }
    }

    /// Who receives value or rights: the recipient (`to`) of a transfer, the
    /// `spender` of an allowance, the `operator` of an approval for all.
    pub fn counterparty(&self) -> Address {
        match self {
            Self::Transfer { to, .. }
            | Self::TransferFrom { to, .. }
            | Self::SafeTransferFrom { to, .. } => *to,
            Self::Approve { spender, .. } | Self::IncreaseAllowance { spender, .. } => *spender,
            Self::SetApprovalForAll { operator, .. } => *operator,
        }
    }

    /// The token amount: `amount` of the ERC-20-shaped calls (a token id if
    /// the contract is ERC-721) and of ERC-1155 `safeTransferFrom`; `None`
    /// for ERC-721 `safeTransferFrom` and `setApprovalForAll`.
    pub fn amount(&self) -> Option<U256> {
        match self {
            Self::Transfer { amount, .. }
            | Self::TransferFrom { amount, .. }
            | Self::Approve { amount, .. }
            | Self::IncreaseAllowance { amount, .. } => Some(*amount),
            Self::SafeTransferFrom { amount, .. } => *amount,
            Self::SetApprovalForAll { .. } => None,
        }
    }

    /// Whether the call grants unlimited rights: `approve` or
    /// `increaseAllowance` of `2^256 - 1` (tokens treat it as an allowance
    /// that never decreases), or `setApprovalForAll(operator, true)`.
    pub fn is_unlimited(&self) -> bool {
        match self {
            Self::Approve { amount, .. } | Self::IncreaseAllowance { amount, .. } => {
                *amount == U256::MAX
            }
            Self::SetApprovalForAll { approved, .. } => *approved,
            Self::Transfer { .. } | Self::TransferFrom { .. } | Self::SafeTransferFrom { .. } => {
                false
            }
        }
    }

    /// The calldata of this call (selector and arguments), canonically
    /// encoded: `decode_call(&call.abi_encode())` gives `call` back. An
    /// ERC-1155 `SafeTransferFrom` without `data` is encoded with empty data.
    pub fn abi_encode(&self) -> Vec<u8> {
        match self {
            Self::Transfer { to, amount } => abi::transferCall {
                to: *to,
                amount: *amount,
            }
            .abi_encode(),
            Self::TransferFrom { from, to, amount } => abi::transferFromCall {
                from: *from,
                to: *to,
                amount: *amount,
            }
            .abi_encode(),
            Self::Approve { spender, amount } => abi::approveCall {
                spender: *spender,
                amount: *amount,
            }
            .abi_encode(),
            Self::IncreaseAllowance { spender, amount } => abi::increaseAllowanceCall {
                spender: *spender,
                amount: *amount,
            }
            .abi_encode(),
            Self::SafeTransferFrom {
                from,
                to,
                token_id,
                amount: Some(amount),
                data,
            } => Erc1155SafeTransferFrom {
                from: *from,
                to: *to,
                id: *token_id,
                amount: *amount,
                data: data.clone().unwrap_or_default(),
            }
            .abi_encode(),
            Self::SafeTransferFrom {
                from,
                to,
                token_id,
                amount: None,
                data: Some(data),
            } => Erc721SafeTransferFromData {
                from: *from,
                to: *to,
                tokenId: *token_id,
                data: data.clone(),
            }
            .abi_encode(),
            Self::SafeTransferFrom {
                from,
                to,
                token_id,
                amount: None,
                data: None,
            } => Erc721SafeTransferFrom {
                from: *from,
                to: *to,
                tokenId: *token_id,
            }
            .abi_encode(),
            Self::SetApprovalForAll { operator, approved } => abi::setApprovalForAllCall {
                operator: *operator,
                approved: *approved,
            }
            .abi_encode(),
        }
    }

    /// The call for approvers and the audit log, e.g.
    /// `{"function":"approve","signature":"approve(address,uint256)","spender":"0x…","amount":"<decimal>","unlimited":true}`.
    ///
    /// Addresses are EIP-55, amounts and token ids decimal strings, `data`
    /// `0x` hex. The arguments are named as in [`Call`] (`to`, `from`,
    /// `spender`, `operator`, `amount`, `token_id`, `approved`, `data`);
    /// `unlimited` is present for `approve`, `increaseAllowance` and
    /// `setApprovalForAll` (see [`Call::is_unlimited`]).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("function".into(), self.function().into());
        m.insert("signature".into(), self.signature().into());
        let address = |a: &Address| Value::String(a.to_checksum(None));
        let number = |n: &U256| Value::String(n.to_string());
        match self {
            Self::Transfer { to, amount } => {
                m.insert("to".into(), address(to));
                m.insert("amount".into(), number(amount));
            }
            Self::TransferFrom { from, to, amount } => {
                m.insert("from".into(), address(from));
                m.insert("to".into(), address(to));
                m.insert("amount".into(), number(amount));
            }
            Self::Approve { spender, amount } | Self::IncreaseAllowance { spender, amount } => {
                m.insert("spender".into(), address(spender));
                m.insert("amount".into(), number(amount));
                m.insert("unlimited".into(), self.is_unlimited().into());
            }
            Self::SafeTransferFrom {
                from,
                to,
                token_id,
                amount,
                data,
            } => {
                m.insert("from".into(), address(from));
                m.insert("to".into(), address(to));
                m.insert("token_id".into(), number(token_id));
                if let Some(amount) = amount {
                    m.insert("amount".into(), number(amount));
                }
                if let Some(data) = data {
                    m.insert("data".into(), hex::encode_prefixed(data).into());
                }
            }
            Self::SetApprovalForAll { operator, approved } => {
                m.insert("operator".into(), address(operator));
                m.insert("approved".into(), (*approved).into());
                m.insert("unlimited".into(), self.is_unlimited().into());
            }
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_are_the_standard_ones() {
        let expected: [(&str, &str); 8] = [
            ("a9059cbb", "transfer(address,uint256)"),
            ("23b872dd", "transferFrom(address,address,uint256)"),
            ("095ea7b3", "approve(address,uint256)"),
            ("39509351", "increaseAllowance(address,uint256)"),
            ("42842e0e", "safeTransferFrom(address,address,uint256)"),
            (
                "b88d4fde",
                "safeTransferFrom(address,address,uint256,bytes)",
            ),
            (
                "f242432a",
                "safeTransferFrom(address,address,uint256,uint256,bytes)",
            ),
            ("a22cb465", "setApprovalForAll(address,bool)"),
        ];
        for (selector, (hex_selector, signature)) in KNOWN_SELECTORS.iter().zip(expected) {
            assert_eq!(hex::encode(selector), hex_selector, "{signature}");
            assert_eq!(
                &alloy_primitives::keccak256(signature)[..4],
                selector,
                "{signature}"
            );
            assert!(is_known_selector(*selector));
        }
        assert!(!is_known_selector([0, 0, 0, 0]));
    }

    #[test]
    fn signature_and_selector_agree() {
        let a = Address::repeat_byte(0x11);
        let calls = [
            Call::Transfer {
                to: a,
                amount: U256::from(1),
            },
            Call::TransferFrom {
                from: a,
                to: a,
                amount: U256::from(1),
            },
            Call::Approve {
                spender: a,
                amount: U256::from(1),
            },
            Call::IncreaseAllowance {
                spender: a,
                amount: U256::from(1),
            },
            Call::SafeTransferFrom {
                from: a,
                to: a,
                token_id: U256::from(1),
                amount: None,
                data: None,
            },
            Call::SafeTransferFrom {
                from: a,
                to: a,
                token_id: U256::from(1),
                amount: None,
                data: Some(Bytes::new()),
            },
            Call::SafeTransferFrom {
                from: a,
                to: a,
                token_id: U256::from(1),
                amount: Some(U256::from(2)),
                data: Some(Bytes::new()),
            },
            Call::SetApprovalForAll {
                operator: a,
                approved: true,
            },
        ];
        for (call, selector) in calls.iter().zip(KNOWN_SELECTORS) {
            assert_eq!(call.selector(), selector, "{call:?}");
            assert_eq!(
                &alloy_primitives::keccak256(call.signature())[..4],
                selector,
                "{call:?}"
            );
            assert!(call.signature().starts_with(call.function()));
            assert_eq!(
                decode_call(&call.abi_encode()).unwrap().as_ref(),
                Some(call)
            );
        }
    }
}
