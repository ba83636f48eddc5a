//! A wallet's policy: what the signer signs on the host's ticket alone,
//! without the owners.
//!
//! The rules (docs/policy.md): `allow` (the kinds signable without owners),
//! `chain_ids`, `max_value_wei`, `recipients`, `selectors`, `tokens`,
//! `typed_data_domains`, `windows` and `change_delay_seconds`. Each is one
//! validated field of [`Policy`]; a malformed one is refused naming it with
//! its index (`policy.tokens[1].address`). [`Policy::evaluate`] decides the
//! stateless rules over what the signer decoded ([`crate::facts::Facts`]);
//! windows hold state, so the signer keeps them ([`Policy::windows`]).

use serde_json::{json, Map, Value};

use crate::amount::Amount;
use crate::error::{FieldError, FieldErrorKind as K};
use crate::eth::{parse_address, to_checksummed, Address, AddressError};
use crate::fields::{as_array, as_integer, as_str, index, quote, Object};

/// A kind of signing request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// An opaque 32-byte prehash: the signer cannot see what it signs.
    Digest,
    /// A message (EIP-191 `personal_sign` for secp256k1; raw bytes otherwise).
    Message,
    /// An Ethereum transaction, decoded by the signer.
    Transaction,
    /// EIP-712 typed data, decoded by the signer.
    TypedData,
}

impl Kind {
    /// Every kind, in canonical (name) order.
    pub const ALL: [Kind; 4] = [
        Self::Digest,
        Self::Message,
        Self::Transaction,
        Self::TypedData,
    ];

    /// The name used in policies and requests.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Digest => "digest",
            Self::Message => "message",
            Self::Transaction => "transaction",
            Self::TypedData => "typed_data",
        }
    }

    /// The kind named `s`.
    #[must_use]
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The rules a policy may hold, in canonical (name) order.
pub const RULES: [&str; 9] = [
    "allow",
    "chain_ids",
    "change_delay_seconds",
    "max_value_wei",
    "recipients",
    "selectors",
    "tokens",
    "typed_data_domains",
    "windows",
];

/// The most entries a list rule (`chain_ids`, `recipients`, `selectors`,
/// `tokens`, `typed_data_domains`) holds.
pub const MAX_LIST: usize = 256;
/// The most windows a policy holds.
pub const MAX_WINDOWS: usize = 4;
/// The longest window: 366 days.
pub const MAX_WINDOW_SECONDS: u64 = 366 * 86_400;
/// The longest change delay: 30 days.
pub const MAX_CHANGE_DELAY_SECONDS: u64 = 30 * 86_400;

/// `tokens[i]`: the most of one ERC-20 token a single call or permit may
/// move or approve, and optionally how to show its amounts to people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenLimit {
    /// The token contract.
    pub address: Address,
    /// The most per call, in the token's base units.
    pub max_amount: Amount,
    /// The token's `decimals` (0 to 36), to show amounts in its units.
    pub decimals: Option<u8>,
    /// The token's symbol (1 to 11 letters or digits), to show amounts.
    pub symbol: Option<String>,
}

/// The most decimals a token's amounts are shown with.
pub const MAX_DECIMALS: u64 = 36;

impl TokenLimit {
    /// `amount` (base units) in the token's units for a person, when the
    /// policy gives its `decimals`: `"1000.5 USDC"`; `None` without.
    #[must_use]
    pub fn in_units(&self, amount: Amount) -> Option<String> {
        let decimals = usize::from(self.decimals?);
        let digits = amount.to_string();
        let (whole, frac) = if digits.len() > decimals {
            digits.split_at(digits.len() - decimals)
        } else {
            ("0", digits.as_str())
        };
        let frac = format!("{frac:0>decimals$}");
        let frac = frac.trim_end_matches('0');
        let mut out = if frac.is_empty() {
            whole.to_owned()
        } else {
            format!("{whole}.{frac}")
        };
        if let Some(symbol) = &self.symbol {
            out.push(' ');
            out.push_str(symbol);
        }
        Some(out)
    }
}

/// `typed_data_domains[i]`: an EIP-712 domain typed data may name. Each
/// field present must match; at least one is present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainRule {
    /// The domain's `chainId`.
    pub chain_id: Option<u64>,
    /// The domain's `verifyingContract`.
    pub verifying_contract: Option<Address>,
}

/// `windows[i]`: what a wallet may sign without owners in any `seconds`
/// long stretch; the signer keeps the count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// The window's length.
    pub seconds: u64,
    /// The most wei of transaction value in a window.
    pub max_value_wei: Option<Amount>,
    /// The most signatures in a window.
    pub max_count: Option<u64>,
}

/// A validated policy. `allow` is a set, kept in canonical (name) order; the
/// lists keep the order they were given in (refusals name their indexes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    allow: Vec<Kind>,
    chain_ids: Option<Vec<u64>>,
    max_value_wei: Option<Amount>,
    recipients: Option<Vec<Address>>,
    selectors: Option<Vec<[u8; 4]>>,
    tokens: Option<Vec<TokenLimit>>,
    typed_data_domains: Option<Vec<DomainRule>>,
    windows: Option<Vec<Window>>,
    change_delay_seconds: Option<u64>,
}

impl Policy {
    fn only_allow(allow: Vec<Kind>) -> Self {
        Self {
            allow,
            chain_ids: None,
            max_value_wei: None,
            recipients: None,
            selectors: None,
            tokens: None,
            typed_data_domains: None,
            windows: None,
            change_delay_seconds: None,
        }
    }

    /// Everything signable without owners: the policy of wallets without
    /// owners (and of every wallet from before records).
    #[must_use]
    pub fn permissive() -> Self {
        Self::only_allow(Kind::ALL.to_vec())
    }

    /// Nothing signable without owners (`{"allow":[]}`): the default of a
    /// wallet with owners.
    #[must_use]
    pub fn owners_only() -> Self {
        Self::only_allow(Vec::new())
    }

    /// The default when a wallet is created without a policy: permissive
    /// without owners, [`Policy::owners_only`] with them.
    #[must_use]
    pub fn default_for(has_owners: bool) -> Self {
        if has_owners {
            Self::owners_only()
        } else {
            Self::permissive()
        }
    }

    /// A policy allowing exactly `kinds`, with no other rule; a kind listed
    /// twice is refused.
    pub fn with_allow(kinds: &[Kind]) -> Result<Self, FieldError> {
        let mut allow: Vec<Kind> = Vec::with_capacity(kinds.len());
        for (i, k) in kinds.iter().enumerate() {
            if allow.contains(k) {
                return Err(duplicate_kind(&index("allow", i), *k));
            }
            allow.push(*k);
        }
        allow.sort();
        Ok(Self::only_allow(allow))
    }

    /// The kinds signable without owners, in canonical order.
    #[must_use]
    pub fn allow(&self) -> &[Kind] {
        &self.allow
    }

    /// Whether `kind` is signable without owners (by `allow`; the other
    /// rules may still refuse a request of that kind).
    #[must_use]
    pub fn allows(&self, kind: Kind) -> bool {
        self.allow.contains(&kind)
    }

    /// `chain_ids`, when present.
    #[must_use]
    pub fn chain_ids(&self) -> Option<&[u64]> {
        self.chain_ids.as_deref()
    }

    /// `max_value_wei`, when present.
    #[must_use]
    pub fn max_value_wei(&self) -> Option<Amount> {
        self.max_value_wei
    }

    /// `recipients`, when present.
    #[must_use]
    pub fn recipients(&self) -> Option<&[Address]> {
        self.recipients.as_deref()
    }

    /// `selectors`, when present.
    #[must_use]
    pub fn selectors(&self) -> Option<&[[u8; 4]]> {
        self.selectors.as_deref()
    }

    /// `tokens`, when present.
    #[must_use]
    pub fn tokens(&self) -> Option<&[TokenLimit]> {
        self.tokens.as_deref()
    }

    /// The `tokens` entry for the token contract `address`, with its index.
    #[must_use]
    pub fn token(&self, address: &Address) -> Option<(usize, &TokenLimit)> {
        self.tokens()?
            .iter()
            .enumerate()
            .find(|(_, t)| t.address == *address)
    }

    /// Adds `amount_units` (`"1000.5 USDC"`) beside each token amount of a
    /// decoded request shown to people — a call's `amount` (the token being
    /// the transaction's `to`) and each of a permit's `tokens[].amount` —
    /// for the tokens this policy lists with their `decimals`. `decoded`
    /// has the shape of the signer's `/check` answer and of an intent's
    /// content: `{transaction: {to}, call: {amount}, permit: {tokens}}`.
    pub fn annotate_units(&self, decoded: &mut Value) {
        let units = |token: Option<&str>, amount: Option<&str>| -> Option<String> {
            let token = parse_address(token?).ok()?;
            let amount = Amount::parse_decimal(amount?, "amount").ok()?;
            self.token(&token)?.1.in_units(amount)
        };
        let to = decoded
            .pointer("/transaction/to")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(call) = decoded.get_mut("call").filter(|c| c.is_object()) {
            if let Some(u) = units(to.as_deref(), call.get("amount").and_then(Value::as_str)) {
                call["amount_units"] = Value::String(u);
            }
        }
        if let Some(tokens) = decoded
            .pointer_mut("/permit/tokens")
            .and_then(Value::as_array_mut)
        {
            for t in tokens {
                let u = units(
                    t.get("token").and_then(Value::as_str),
                    t.get("amount").and_then(Value::as_str),
                );
                if let Some(u) = u {
                    t["amount_units"] = Value::String(u);
                }
            }
        }
    }

    /// `typed_data_domains`, when present.
    #[must_use]
    pub fn typed_data_domains(&self) -> Option<&[DomainRule]> {
        self.typed_data_domains.as_deref()
    }

    /// `windows` (empty when absent).
    #[must_use]
    pub fn windows(&self) -> &[Window] {
        self.windows.as_deref().unwrap_or_default()
    }

    /// `change_delay_seconds` (0 when absent): how long a record change
    /// that loosens anything waits after its owners approve it.
    #[must_use]
    pub fn change_delay_seconds(&self) -> u64 {
        self.change_delay_seconds.unwrap_or(0)
    }

    /// Whether the policy holds a signing rule besides `allow` (every rule
    /// but `change_delay_seconds`, which governs record changes): the host
    /// and the signer take a shortcut for wallets with `allow` alone.
    #[must_use]
    pub fn has_rules(&self) -> bool {
        self.chain_ids.is_some()
            || self.max_value_wei.is_some()
            || self.recipients.is_some()
            || self.selectors.is_some()
            || self.tokens.is_some()
            || self.typed_data_domains.is_some()
            || !self.windows().is_empty()
    }

    /// Reads a policy from JSON at `path` (`policy`). Refuses unknown rules
    /// and malformed values, naming the field
    /// (`policy.windows[0].seconds: must be at least 1`).
    pub fn from_value(value: &Value, path: &str) -> Result<Self, FieldError> {
        let obj = Object::open(value, path, "a policy")?;
        let mut keys: Vec<&String> = obj.keys().collect();
        keys.sort();
        if let Some(k) = keys.iter().find(|k| !RULES.contains(&k.as_str())) {
            return Err(FieldError::new(
                obj.field(k),
                K::UnknownField,
                format!(
                    "unknown policy rule {}; the rules are: {}",
                    quote(k),
                    RULES.join(", ")
                ),
            ));
        }
        let allow_path = obj.field("allow");
        let items = obj.array("allow").map_err(|e| {
            if e.kind == K::Missing {
                FieldError::new(
                    &allow_path,
                    K::Missing,
                    "list the kinds signable without the owners (digest, message, transaction, typed_data), or [] for none",
                )
            } else {
                e
            }
        })?;
        let mut allow = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let p = index(&allow_path, i);
            let name = as_str(item, &p)?;
            let kind = Kind::from_name(name).ok_or_else(|| {
                FieldError::new(
                    &p,
                    K::UnknownKind,
                    format!(
                        "unknown kind {}; the kinds are digest, message, transaction, typed_data",
                        quote(name)
                    ),
                )
            })?;
            if allow.contains(&kind) {
                return Err(duplicate_kind(&p, kind));
            }
            allow.push(kind);
        }
        allow.sort();
        let mut policy = Self::only_allow(allow);
        let list = |key: &str| -> Result<Option<(String, &Vec<Value>)>, FieldError> {
            let Some(v) = obj.get(key) else {
                return Ok(None);
            };
            let p = obj.field(key);
            let items = as_array(v, &p)?;
            if items.len() > MAX_LIST {
                return Err(FieldError::new(
                    &p,
                    K::TooMany,
                    format!("at most {MAX_LIST} entries"),
                ));
            }
            Ok(Some((p, items)))
        };
        if let Some((p, items)) = list("chain_ids")? {
            let mut ids = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let id = as_integer(item, &index(&p, i))?;
                if id == 0 {
                    return Err(FieldError::new(
                        index(&p, i),
                        K::OutOfRange,
                        "a chain id is at least 1",
                    ));
                }
                no_duplicate(&ids, &id, &index(&p, i))?;
                ids.push(id);
            }
            policy.chain_ids = Some(ids);
        }
        if let Some(v) = obj.get("max_value_wei") {
            let p = obj.field("max_value_wei");
            policy.max_value_wei = Some(Amount::parse_decimal(as_str(v, &p)?, &p)?);
        }
        if let Some((p, items)) = list("recipients")? {
            let mut addresses = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let a = address_at(item, &index(&p, i))?;
                no_duplicate(&addresses, &a, &index(&p, i))?;
                addresses.push(a);
            }
            policy.recipients = Some(addresses);
        }
        if let Some((p, items)) = list("selectors")? {
            let mut selectors = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let ip = index(&p, i);
                let s = as_str(item, &ip)?;
                let mut sel = [0u8; 4];
                let ok = s.len() == 10
                    && s.starts_with("0x")
                    && s[2..]
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                    && hex::decode_to_slice(&s[2..], &mut sel).is_ok();
                if !ok {
                    return Err(FieldError::new(
                        &ip,
                        K::InvalidHex,
                        "a selector is 0x and 8 lower-case hex digits, like \"0xa9059cbb\"",
                    ));
                }
                no_duplicate(&selectors, &sel, &ip)?;
                selectors.push(sel);
            }
            policy.selectors = Some(selectors);
        }
        if let Some((p, items)) = list("tokens")? {
            let mut tokens: Vec<TokenLimit> = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let ip = index(&p, i);
                let t = Object::new(
                    item,
                    &ip,
                    "a token limit",
                    &["address", "max_amount", "decimals", "symbol"],
                )?;
                let address = address_at(t.required("address")?, &t.field("address"))?;
                if tokens.iter().any(|x| x.address == address) {
                    return Err(FieldError::new(
                        t.field("address"),
                        K::Duplicate,
                        "this token is listed twice",
                    ));
                }
                let mp = t.field("max_amount");
                let max_amount = Amount::parse_decimal(t.string("max_amount")?, &mp)?;
                let decimals = t
                    .get("decimals")
                    .map(|v| {
                        let p = t.field("decimals");
                        let d = as_integer(v, &p)?;
                        u8::try_from(d)
                            .ok()
                            .filter(|d| u64::from(*d) <= MAX_DECIMALS)
                            .ok_or_else(|| {
                                FieldError::new(
                                    &p,
                                    K::OutOfRange,
                                    format!("a token's decimals are 0 to {MAX_DECIMALS}"),
                                )
                            })
                    })
                    .transpose()?;
                let symbol = t
                    .optional_string("symbol")?
                    .map(|s| {
                        if (1..=11).contains(&s.len())
                            && s.bytes().all(|b| b.is_ascii_alphanumeric())
                        {
                            Ok(s.to_owned())
                        } else {
                            Err(FieldError::new(
                                t.field("symbol"),
                                K::InvalidValue,
                                "a token's symbol is 1 to 11 letters or digits, like \"USDC\"",
                            ))
                        }
                    })
                    .transpose()?;
                tokens.push(TokenLimit {
                    address,
                    max_amount,
                    decimals,
                    symbol,
                });
            }
            policy.tokens = Some(tokens);
        }
        if let Some((p, items)) = list("typed_data_domains")? {
            let mut domains: Vec<DomainRule> = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let ip = index(&p, i);
                let d = Object::new(
                    item,
                    &ip,
                    "a typed-data domain",
                    &["chain_id", "verifying_contract"],
                )?;
                let chain_id = d
                    .get("chain_id")
                    .map(|v| as_integer(v, &d.field("chain_id")))
                    .transpose()?;
                let verifying_contract = d
                    .get("verifying_contract")
                    .map(|v| address_at(v, &d.field("verifying_contract")))
                    .transpose()?;
                if chain_id.is_none() && verifying_contract.is_none() {
                    return Err(FieldError::new(
                        &ip,
                        K::Missing,
                        "name the domain's chain_id, verifying_contract, or both",
                    ));
                }
                let rule = DomainRule {
                    chain_id,
                    verifying_contract,
                };
                no_duplicate(&domains, &rule, &ip)?;
                domains.push(rule);
            }
            policy.typed_data_domains = Some(domains);
        }
        if let Some(v) = obj.get("windows") {
            let p = obj.field("windows");
            let items = as_array(v, &p)?;
            if items.len() > MAX_WINDOWS {
                return Err(FieldError::new(
                    &p,
                    K::TooMany,
                    format!("at most {MAX_WINDOWS} windows"),
                ));
            }
            let mut windows: Vec<Window> = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let w = window(item, &index(&p, i))?;
                if windows.iter().any(|o| o.seconds == w.seconds) {
                    return Err(FieldError::new(
                        format!("{}.seconds", index(&p, i)),
                        K::Duplicate,
                        "another window has this length: put both limits in one window",
                    ));
                }
                windows.push(w);
            }
            policy.windows = Some(windows);
        }
        if let Some(v) = obj.get("change_delay_seconds") {
            let p = obj.field("change_delay_seconds");
            let s = as_integer(v, &p)?;
            if s > MAX_CHANGE_DELAY_SECONDS {
                return Err(FieldError::new(
                    &p,
                    K::OutOfRange,
                    format!("at most {MAX_CHANGE_DELAY_SECONDS} (30 days)"),
                ));
            }
            policy.change_delay_seconds = Some(s);
        }
        Ok(policy)
    }

    /// The policy as JSON, in canonical form (addresses EIP-55, amounts as
    /// decimal strings; the rules present and only those).
    #[must_use]
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            "allow".into(),
            json!(self.allow.iter().map(|k| k.as_str()).collect::<Vec<_>>()),
        );
        if let Some(ids) = &self.chain_ids {
            m.insert("chain_ids".into(), json!(ids));
        }
        if let Some(s) = self.change_delay_seconds {
            m.insert("change_delay_seconds".into(), json!(s));
        }
        if let Some(v) = self.max_value_wei {
            m.insert("max_value_wei".into(), json!(v.to_string()));
        }
        if let Some(r) = &self.recipients {
            m.insert(
                "recipients".into(),
                json!(r.iter().map(to_checksummed).collect::<Vec<_>>()),
            );
        }
        if let Some(s) = &self.selectors {
            m.insert(
                "selectors".into(),
                json!(s
                    .iter()
                    .map(|s| format!("0x{}", hex::encode(s)))
                    .collect::<Vec<_>>()),
            );
        }
        if let Some(t) = &self.tokens {
            m.insert(
                "tokens".into(),
                Value::Array(
                    t.iter()
                        .map(|t| {
                            let mut o = json!({"address": to_checksummed(&t.address), "max_amount": t.max_amount.to_string()});
                            if let Some(d) = t.decimals {
                                o["decimals"] = json!(d);
                            }
                            if let Some(s) = &t.symbol {
                                o["symbol"] = json!(s);
                            }
                            o
                        })
                        .collect(),
                ),
            );
        }
        if let Some(d) = &self.typed_data_domains {
            m.insert(
                "typed_data_domains".into(),
                Value::Array(
                    d.iter()
                        .map(|d| {
                            let mut o = Map::new();
                            if let Some(c) = d.chain_id {
                                o.insert("chain_id".into(), json!(c));
                            }
                            if let Some(a) = &d.verifying_contract {
                                o.insert("verifying_contract".into(), json!(to_checksummed(a)));
                            }
                            Value::Object(o)
                        })
                        .collect(),
                ),
            );
        }
        if let Some(w) = &self.windows {
            m.insert(
                "windows".into(),
                Value::Array(
                    w.iter()
                        .map(|w| {
                            let mut o = Map::new();
                            if let Some(c) = w.max_count {
                                o.insert("max_count".into(), json!(c));
                            }
                            if let Some(v) = w.max_value_wei {
                                o.insert("max_value_wei".into(), json!(v.to_string()));
                            }
                            o.insert("seconds".into(), json!(w.seconds));
                            Value::Object(o)
                        })
                        .collect(),
                ),
            );
        }
        Value::Object(m)
    }

    /// Whether `self` allows something `old` did not: a kind added to
    /// `allow`, a list rule dropped or widened, a limit dropped or raised, a
    /// window dropped, shortened or raised, a shorter change delay. When in
    /// doubt it says yes (a change that only reorders a list is not one).
    #[must_use]
    pub fn loosens(&self, old: &Policy) -> bool {
        fn wider<T: PartialEq>(old: Option<&[T]>, new: Option<&[T]>) -> bool {
            match (old, new) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(o), Some(n)) => n.iter().any(|x| !o.contains(x)),
            }
        }
        let kinds = self.allow.iter().any(|k| !old.allows(*k));
        let raised = |o: Option<Amount>, n: Option<Amount>| match (o, n) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(o), Some(n)) => n > o,
        };
        let tokens = match (&old.tokens, &self.tokens) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(o), Some(n)) => o.iter().any(|ot| {
                n.iter()
                    .find(|nt| nt.address == ot.address)
                    .is_none_or(|nt| nt.max_amount > ot.max_amount)
            }),
        };
        let windows = old.windows().iter().any(|ow| {
            !self.windows().iter().any(|nw| {
                nw.seconds >= ow.seconds
                    && ow
                        .max_count
                        .is_none_or(|c| nw.max_count.is_some_and(|n| n <= c))
                    && ow
                        .max_value_wei
                        .is_none_or(|v| nw.max_value_wei.is_some_and(|n| n <= v))
            })
        });
        kinds
            || wider(old.chain_ids(), self.chain_ids())
            || raised(old.max_value_wei, self.max_value_wei)
            || wider(old.recipients(), self.recipients())
            || wider(old.selectors(), self.selectors())
            || tokens
            || wider(old.typed_data_domains(), self.typed_data_domains())
            || windows
            || self.change_delay_seconds() < old.change_delay_seconds()
    }
}

fn address_at(v: &Value, path: &str) -> Result<Address, FieldError> {
    let s = as_str(v, path)?;
    let a = parse_address(s).map_err(|e| {
        let kind = match e {
            AddressError::BadChecksum => K::BadChecksum,
            _ => K::InvalidAddress,
        };
        FieldError::new(path, kind, e.to_string())
    })?;
    Ok(a)
}

fn no_duplicate<T: PartialEq>(seen: &[T], x: &T, path: &str) -> Result<(), FieldError> {
    if seen.contains(x) {
        return Err(FieldError::new(path, K::Duplicate, "listed twice"));
    }
    Ok(())
}

fn window(v: &Value, path: &str) -> Result<Window, FieldError> {
    let w = Object::new(
        v,
        path,
        "a window",
        &["seconds", "max_value_wei", "max_count"],
    )?;
    let seconds = w.integer("seconds")?;
    if seconds == 0 || seconds > MAX_WINDOW_SECONDS {
        return Err(FieldError::new(
            w.field("seconds"),
            K::OutOfRange,
            format!("a window is 1 to {MAX_WINDOW_SECONDS} seconds (366 days)"),
        ));
    }
    let max_value_wei = w
        .get("max_value_wei")
        .map(|v| {
            let p = w.field("max_value_wei");
            Amount::parse_decimal(as_str(v, &p)?, &p)
        })
        .transpose()?;
    let max_count = w
        .get("max_count")
        .map(|v| as_integer(v, &w.field("max_count")))
        .transpose()?;
    if max_count == Some(0) {
        return Err(FieldError::new(
            w.field("max_count"),
            K::OutOfRange,
            "a window of 0 signatures allows nothing: leave the kinds out of `allow` instead",
        ));
    }
    if max_value_wei.is_none() && max_count.is_none() {
        return Err(FieldError::new(
            path,
            K::Missing,
            "a window limits max_value_wei, max_count, or both",
        ));
    }
    Ok(Window {
        seconds,
        max_value_wei,
        max_count,
    })
}

fn duplicate_kind(path: &str, kind: Kind) -> FieldError {
    FieldError::new(
        path,
        K::Duplicate,
        format!("{} is listed twice", quote(kind.as_str())),
    )
}
