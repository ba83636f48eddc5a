//! What the signer decoded from a request, and the policy's stateless
//! decision over it ([`Policy::evaluate`]).
//!
//! The signer fills [`Facts`] from the content it signs (never from what the
//! host says about it); this module only compares. Deny wins: the first rule
//! that refuses, in the order of docs/policy.md (`allow`, `chain_ids`,
//! `max_value_wei`, `recipients`, `selectors`, `tokens`,
//! `typed_data_domains`), names the refusal. Windows are the signer's (they
//! hold state).

use crate::amount::Amount;
use crate::eth::{to_checksummed, Address};
use crate::policy::{Kind, Policy};

/// A request as the signer decoded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The kind.
    pub kind: Kind,
    /// For a transaction: what it does.
    pub transaction: Option<TxFacts>,
    /// For typed data: its domain and what it grants.
    pub typed_data: Option<TypedFacts>,
}

impl Facts {
    /// A request with nothing decoded beyond its kind (a message, a digest).
    #[must_use]
    pub fn of_kind(kind: Kind) -> Self {
        Self {
            kind,
            transaction: None,
            typed_data: None,
        }
    }

    /// The wei this request moves: a transaction's value, else zero.
    #[must_use]
    pub fn value_wei(&self) -> Amount {
        self.transaction
            .as_ref()
            .map_or(Amount::ZERO, |t| t.value_wei)
    }
}

/// A transaction's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxFacts {
    /// The chain id.
    pub chain_id: u64,
    /// The recipient; `None` for a contract creation.
    pub to: Option<Address>,
    /// The value in wei.
    pub value_wei: Amount,
    /// The length of the calldata (or init code).
    pub data_len: usize,
    /// The calldata's first 4 bytes, when there are 4.
    pub selector: Option<[u8; 4]>,
    /// The call, when the signer recognises its selector.
    pub call: CallFacts,
    /// EIP-7702: the contracts the account delegates to.
    pub delegates: Vec<Address>,
}

/// A transaction's call as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallFacts {
    /// No calldata, or a selector the signer does not recognise.
    Unknown,
    /// A recognised token call (ERC-20, ERC-721, ERC-1155).
    Token {
        /// Who receives the value or the rights: recipient, spender or
        /// operator.
        counterparty: Address,
        /// The ERC-20 amount moved or approved (`None` for NFT calls).
        amount: Option<Amount>,
        /// An approval without limit (2^256 − 1, or `setApprovalForAll`).
        unlimited: bool,
    },
    /// A recognised selector whose arguments do not decode: never within a
    /// policy that looks at calls.
    Malformed,
}

/// Typed data's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedFacts {
    /// The domain's `chainId` (`None` when absent; [`u64::MAX`] when larger
    /// than any chain id a policy can name).
    pub chain_id: Option<u64>,
    /// The domain's `verifyingContract`.
    pub verifying_contract: Option<Address>,
    /// A token permit (EIP-2612, Permit2).
    pub permit: PermitFacts,
}

/// Whether typed data is a token permit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermitFacts {
    /// Not a permit.
    None,
    /// A permit: `spender` may move up to each grant's amount of its token.
    Permit {
        /// Who may spend.
        spender: Address,
        /// (token, amount) pairs.
        grants: Vec<(Address, Amount)>,
    },
    /// Shaped like a permit but not decodable: never within a policy that
    /// looks at tokens or recipients.
    Malformed,
}

/// A refusal by a policy rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// The rule, named as in docs/policy.md: `chain_ids`,
    /// `tokens[0].max_amount`, `windows[1].cold`.
    pub rule: String,
    /// What the request did that the rule does not allow.
    pub message: String,
}

impl Denied {
    /// A refusal by `rule`.
    pub fn new(rule: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            rule: rule.into(),
            message: message.into(),
        }
    }
}

impl Policy {
    /// The stateless rules over `facts`: `Ok` when every one of them allows
    /// the request, else the first that refuses. Windows are not checked
    /// here.
    pub fn evaluate(&self, facts: &Facts) -> Result<(), Denied> {
        if !self.allows(facts.kind) {
            return Err(Denied::new(
                "allow",
                format!(
                    "this wallet's policy does not allow `{}` on its own",
                    facts.kind.as_str()
                ),
            ));
        }
        // A transaction or typed data is judged on what was decoded from it;
        // with nothing decoded, only a policy of `allow` alone can pass it.
        let undecoded = match facts.kind {
            Kind::Transaction => facts.transaction.is_none(),
            Kind::TypedData => facts.typed_data.is_none(),
            _ => false,
        };
        if undecoded && self.has_rules() {
            return Err(Denied::new(
                "allow",
                format!(
                    "this `{}` request carries nothing the signer decoded, so the policy's rules cannot be checked",
                    facts.kind.as_str()
                ),
            ));
        }
        if let Some(tx) = &facts.transaction {
            self.evaluate_transaction(tx)?;
        }
        if let Some(td) = &facts.typed_data {
            self.evaluate_typed_data(td)?;
        }
        Ok(())
    }

    fn evaluate_transaction(&self, tx: &TxFacts) -> Result<(), Denied> {
        if let Some(ids) = self.chain_ids() {
            if !ids.contains(&tx.chain_id) {
                return Err(Denied::new(
                    "chain_ids",
                    format!("chain {} is not in the policy's chain_ids", tx.chain_id),
                ));
            }
        }
        if let Some(max) = self.max_value_wei() {
            if tx.value_wei > max {
                return Err(Denied::new(
                    "max_value_wei",
                    format!(
                        "the transaction sends {} wei, over the policy's max_value_wei {max}",
                        tx.value_wei
                    ),
                ));
            }
        }
        if let Some(list) = self.recipients() {
            let Some(to) = tx.to else {
                return Err(Denied::new(
                    "recipients",
                    "a contract creation has no recipient in the policy's recipients",
                ));
            };
            if !list.contains(&to) {
                return Err(Denied::new(
                    "recipients",
                    format!("{} is not in the policy's recipients", to_checksummed(&to)),
                ));
            }
            match &tx.call {
                CallFacts::Token { counterparty, .. } if !list.contains(counterparty) => {
                    return Err(Denied::new(
                        "recipients",
                        format!(
                            "the call gives tokens or rights to {}, who is not in the policy's recipients",
                            to_checksummed(counterparty)
                        ),
                    ));
                }
                CallFacts::Malformed => {
                    return Err(Denied::new(
                        "recipients",
                        "the call's arguments do not decode, so its recipient cannot be checked",
                    ));
                }
                _ => {}
            }
            if let Some(d) = tx.delegates.iter().find(|d| !list.contains(d)) {
                return Err(Denied::new(
                    "recipients",
                    format!(
                        "the transaction delegates this account to {}, which is not in the policy's recipients",
                        to_checksummed(d)
                    ),
                ));
            }
        }
        if let Some(list) = self.selectors() {
            if tx.to.is_none() && tx.data_len > 0 {
                return Err(Denied::new(
                    "selectors",
                    "a contract creation is not a call the policy's selectors allow",
                ));
            }
            if !tx.delegates.is_empty() {
                return Err(Denied::new(
                    "selectors",
                    "an EIP-7702 delegation hands the account to a contract: not within a policy that lists selectors",
                ));
            }
            match tx.selector {
                Some(s) if !list.contains(&s) => {
                    return Err(Denied::new(
                        "selectors",
                        format!(
                            "function 0x{} is not in the policy's selectors",
                            hex::encode(s)
                        ),
                    ));
                }
                None if tx.data_len > 0 => {
                    return Err(Denied::new(
                        "selectors",
                        "calldata shorter than a selector is not a call the policy allows",
                    ));
                }
                _ => {}
            }
            if tx.call == CallFacts::Malformed {
                return Err(Denied::new(
                    "selectors",
                    "the call's arguments do not decode",
                ));
            }
        }
        if let (Some(tokens), Some(to)) = (self.tokens(), tx.to) {
            if let Some(i) = tokens.iter().position(|t| t.address == to) {
                let max = tokens[i].max_amount;
                let rule = format!("tokens[{i}].max_amount");
                match &tx.call {
                    CallFacts::Token {
                        amount: Some(a), ..
                    } if *a > max => {
                        return Err(Denied::new(
                            rule,
                            format!(
                                "the call moves or approves {} of token {}, over the policy's max_amount {max}",
                                if *a == Amount::MAX { "UNLIMITED".to_owned() } else { a.to_string() },
                                to_checksummed(&to)
                            ),
                        ));
                    }
                    CallFacts::Token {
                        amount: None,
                        unlimited: true,
                        ..
                    } => {
                        return Err(Denied::new(
                            rule,
                            format!(
                                "the call approves an operator for all of token {}: UNLIMITED",
                                to_checksummed(&to)
                            ),
                        ));
                    }
                    CallFacts::Malformed => {
                        return Err(Denied::new(
                            rule,
                            "the call's arguments do not decode, so its amount cannot be checked",
                        ));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn evaluate_typed_data(&self, td: &TypedFacts) -> Result<(), Denied> {
        if let Some(ids) = self.chain_ids() {
            match td.chain_id {
                Some(c) if ids.contains(&c) => {}
                Some(c) => {
                    return Err(Denied::new(
                        "chain_ids",
                        format!("the typed data's domain is for chain {c}, not in the policy's chain_ids"),
                    ))
                }
                None => {
                    return Err(Denied::new(
                        "chain_ids",
                        "the typed data's domain names no chainId, so it is not bound to the policy's chain_ids",
                    ))
                }
            }
        }
        if let Some(list) = self.recipients() {
            match &td.permit {
                PermitFacts::Permit { spender, .. } if !list.contains(spender) => {
                    return Err(Denied::new(
                        "recipients",
                        format!(
                            "the permit lets {} spend tokens, who is not in the policy's recipients",
                            to_checksummed(spender)
                        ),
                    ));
                }
                PermitFacts::Malformed => {
                    return Err(Denied::new(
                        "recipients",
                        "the typed data looks like a permit but does not decode, so its spender cannot be checked",
                    ));
                }
                _ => {}
            }
        }
        if let Some(tokens) = self.tokens() {
            match &td.permit {
                PermitFacts::Permit { grants, .. } => {
                    for (token, amount) in grants {
                        if let Some(i) = tokens.iter().position(|t| t.address == *token) {
                            let max = tokens[i].max_amount;
                            if *amount > max {
                                return Err(Denied::new(
                                    format!("tokens[{i}].max_amount"),
                                    format!(
                                        "the permit grants {} of token {}, over the policy's max_amount {max}",
                                        amount,
                                        to_checksummed(token)
                                    ),
                                ));
                            }
                        }
                    }
                }
                PermitFacts::Malformed => {
                    return Err(Denied::new(
                        "tokens",
                        "the typed data looks like a permit but does not decode, so its amounts cannot be checked",
                    ));
                }
                PermitFacts::None => {}
            }
        }
        if let Some(domains) = self.typed_data_domains() {
            let matches = domains.iter().any(|d| {
                d.chain_id.is_none_or(|c| td.chain_id == Some(c))
                    && d.verifying_contract
                        .is_none_or(|a| td.verifying_contract == Some(a))
            });
            if !matches {
                return Err(Denied::new(
                    "typed_data_domains",
                    "the typed data's domain (chainId, verifyingContract) is not one of the policy's typed_data_domains",
                ));
            }
        }
        Ok(())
    }
}
