//! Arbitrary bytes as a wallet policy and a request: the input up to its
//! first NUL byte is read as JSON and then as a policy (never a panic); an
//! accepted policy round-trips through its canonical JSON and does not loosen
//! itself; the bytes after the NUL become the facts of a request (kinds,
//! chains, addresses and amounts mostly drawn from the policy itself, so its
//! rules are met and missed at their edges), which `evaluate` decides without
//! panicking, the same way for the round-tripped policy, naming a rule.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signet_authority::eth::Address;
use signet_authority::policy::RULES;
use signet_authority::{Amount, CallFacts, Facts, Kind, PermitFacts, Policy, TxFacts, TypedFacts};

/// The bytes after the policy, read one value at a time; zeros once spent.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for b in &mut out {
            *b = self.byte();
        }
        out
    }

    fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    /// One of `pool` (by the next byte), or `None` when it is empty.
    fn pick<T: Copy>(&mut self, pool: &[T]) -> Option<T> {
        let b = usize::from(self.byte());
        pool.get(b % pool.len().max(1)).copied()
    }
}

/// What the policy names, for requests that meet or just miss its rules.
struct Pools {
    addresses: Vec<Address>,
    chains: Vec<u64>,
    amounts: Vec<Amount>,
    selectors: Vec<[u8; 4]>,
}

impl Pools {
    fn of(p: &Policy) -> Self {
        let mut addresses = vec![[0u8; 20], [0xee; 20]];
        addresses.extend(p.recipients().unwrap_or_default());
        let mut amounts = vec![Amount::ZERO, Amount::from_u128(1), Amount::MAX];
        let mut near = |a: Amount| {
            amounts.push(a);
            amounts.push(a.saturating_add(Amount::from_u128(1)));
            amounts.push(a.saturating_sub(Amount::from_u128(1)));
        };
        p.max_value_wei().into_iter().for_each(&mut near);
        for t in p.tokens().unwrap_or_default() {
            addresses.push(t.address);
            near(t.max_amount);
        }
        let mut chains = vec![1, u64::MAX];
        chains.extend(p.chain_ids().unwrap_or_default());
        for d in p.typed_data_domains().unwrap_or_default() {
            chains.extend(d.chain_id);
            addresses.extend(d.verifying_contract);
        }
        let mut selectors = vec![[0xa9, 0x05, 0x9c, 0xbb], [0xa2, 0x2c, 0xb4, 0x65]];
        selectors.extend(p.selectors().unwrap_or_default());
        Self {
            addresses,
            chains,
            amounts,
            selectors,
        }
    }

    fn address(&self, b: &mut Bytes<'_>) -> Address {
        match b.byte() {
            0 => b.array(),
            _ => b.pick(&self.addresses).unwrap_or_default(),
        }
    }

    fn chain(&self, b: &mut Bytes<'_>) -> u64 {
        match b.byte() {
            0 => u64::from_be_bytes(b.array()),
            _ => b.pick(&self.chains).unwrap_or(1),
        }
    }

    fn amount(&self, b: &mut Bytes<'_>) -> Amount {
        match b.byte() {
            0 => Amount::from_be_bytes(b.array()),
            _ => b.pick(&self.amounts).unwrap_or(Amount::ZERO),
        }
    }

    fn addresses(&self, b: &mut Bytes<'_>) -> Vec<Address> {
        (0..b.byte() % 4).map(|_| self.address(b)).collect()
    }

    fn transaction(&self, b: &mut Bytes<'_>) -> TxFacts {
        let chain_id = self.chain(b);
        let to = (!b.flag()).then(|| self.address(b));
        let value_wei = self.amount(b);
        let data_len = usize::from(b.byte());
        let selector = match b.byte() {
            0 => b.array(),
            _ => b.pick(&self.selectors).unwrap_or_default(),
        };
        let call = match b.byte() % 3 {
            0 => CallFacts::Unknown,
            1 => CallFacts::Token {
                counterparty: self.address(b),
                amount: b.flag().then(|| self.amount(b)),
                unlimited: b.flag(),
            },
            _ => CallFacts::Malformed,
        };
        TxFacts {
            chain_id,
            to,
            value_wei,
            data_len,
            selector: (data_len >= 4).then_some(selector),
            call,
            delegates: self.addresses(b),
        }
    }

    fn typed_data(&self, b: &mut Bytes<'_>) -> TypedFacts {
        let chain_id = b.flag().then(|| self.chain(b));
        let verifying_contract = b.flag().then(|| self.address(b));
        let permit = match b.byte() % 3 {
            0 => PermitFacts::None,
            1 => PermitFacts::Permit {
                spender: self.address(b),
                grants: (0..b.byte() % 4)
                    .map(|_| (self.address(b), self.amount(b)))
                    .collect(),
            },
            _ => PermitFacts::Malformed,
        };
        TypedFacts {
            chain_id,
            verifying_contract,
            permit,
        }
    }

    fn facts(&self, b: &mut Bytes<'_>) -> Facts {
        let kind = Kind::ALL[usize::from(b.byte() % 4)];
        let mut facts = Facts::of_kind(kind);
        match b.byte() % 3 {
            0 => facts.transaction = Some(self.transaction(b)),
            1 => facts.typed_data = Some(self.typed_data(b)),
            _ => {}
        }
        facts
    }
}

fuzz_target!(|data: &[u8]| {
    let cut = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (text, rest) = data.split_at(cut);
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(text) else {
        return;
    };
    let Ok(policy) = Policy::from_value(&value, "policy") else {
        return;
    };
    let again = Policy::from_value(&policy.to_value(), "policy").expect("canonical policy");
    assert_eq!(again, policy);
    assert!(!policy.loosens(&policy));

    let pools = Pools::of(&policy);
    let mut bytes = Bytes(rest.get(1..).unwrap_or_default());
    while !bytes.0.is_empty() {
        let facts = pools.facts(&mut bytes);
        let decision = policy.evaluate(&facts);
        assert_eq!(again.evaluate(&facts), decision);
        if let Err(d) = decision {
            assert!(
                RULES.iter().any(|r| d.rule.starts_with(r)),
                "an unknown rule {:?}",
                d.rule
            );
        }
    }
});
