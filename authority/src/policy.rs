//! A wallet's policy: what the signer signs on the host's ticket alone,
//! without the owners.
//!
//! Today a policy holds one rule, `allow`: the kinds of request signable
//! without owners. The other rules of the design (`chain_ids`,
//! `max_value_wei`, `recipients`, `selectors`, `tokens`,
//! `typed_data_domains`, `windows`, `change_delay_seconds`) are refused by
//! name ("not supported yet") rather than ignored, so that nobody believes a
//! limit holds that this signer does not enforce. Each rule is one validated
//! field of [`Policy`]; a refusal names it with its index (`policy.allow[2]`).

use serde_json::{json, Value};

use crate::error::{FieldError, FieldErrorKind as K};
use crate::fields::{as_str, index, quote, Object};

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

/// The policy rules of the design that this signer does not enforce yet.
const NOT_YET: [&str; 8] = [
    "chain_ids",
    "max_value_wei",
    "recipients",
    "selectors",
    "tokens",
    "typed_data_domains",
    "windows",
    "change_delay_seconds",
];

/// A validated policy. `allow` is a set, kept in canonical (name) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    allow: Vec<Kind>,
}

impl Policy {
    /// Everything signable without owners: the policy of wallets without
    /// owners (and of every wallet from before records).
    #[must_use]
    pub fn permissive() -> Self {
        Self {
            allow: Kind::ALL.to_vec(),
        }
    }

    /// Nothing signable without owners (`{"allow":[]}`): the default of a
    /// wallet with owners.
    #[must_use]
    pub fn owners_only() -> Self {
        Self { allow: Vec::new() }
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

    /// A policy allowing exactly `kinds`; a kind listed twice is refused.
    pub fn with_allow(kinds: &[Kind]) -> Result<Self, FieldError> {
        let mut allow: Vec<Kind> = Vec::with_capacity(kinds.len());
        for (i, k) in kinds.iter().enumerate() {
            if allow.contains(k) {
                return Err(duplicate_kind(&index("allow", i), *k));
            }
            allow.push(*k);
        }
        allow.sort();
        Ok(Self { allow })
    }

    /// The kinds signable without owners, in canonical order.
    #[must_use]
    pub fn allow(&self) -> &[Kind] {
        &self.allow
    }

    /// Whether `kind` is signable without owners.
    #[must_use]
    pub fn allows(&self, kind: Kind) -> bool {
        self.allow.contains(&kind)
    }

    /// Reads a policy from JSON at `path` (`policy`). Refuses unknown rules,
    /// and the design's rules not enforced yet, naming them
    /// (`policy.max_value_wei: not supported yet`).
    pub fn from_value(value: &Value, path: &str) -> Result<Self, FieldError> {
        let obj = Object::open(value, path, "a policy")?;
        let mut keys: Vec<&String> = obj.keys().collect();
        keys.sort();
        for k in keys {
            if k == "allow" {
                continue;
            }
            return Err(if NOT_YET.contains(&k.as_str()) {
                FieldError::new(
                    obj.field(k),
                    K::NotSupportedYet,
                    "not supported yet: this signer enforces only `allow`; leave this rule out (a wallet needing it can require its owners' approval with a narrower `allow`)",
                )
            } else {
                FieldError::new(
                    obj.field(k),
                    K::UnknownField,
                    format!("unknown policy rule {}; the rules are: allow", quote(k)),
                )
            });
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
        Ok(Self { allow })
    }

    /// The policy as JSON, in canonical form.
    #[must_use]
    pub fn to_value(&self) -> Value {
        json!({"allow": self.allow.iter().map(|k| k.as_str()).collect::<Vec<_>>()})
    }

    /// Whether `self` allows something `old` did not (a kind added to
    /// `allow`).
    #[must_use]
    pub fn loosens(&self, old: &Policy) -> bool {
        self.allow.iter().any(|k| !old.allows(*k))
    }
}

fn duplicate_kind(path: &str, kind: Kind) -> FieldError {
    FieldError::new(
        path,
        K::Duplicate,
        format!("{} is listed twice", quote(kind.as_str())),
    )
}
