//! Cross-check against an independent implementation: random transactions of
//! all four types and random typed data are hashed (and the transactions signed
//! and assembled) here, and by Python's eth-account (tests/independent.py),
//! which shares no code with alloy. RFC 6979 makes both signatures identical,
//! so the signed bytes must match byte for byte.
//!
//! The interpreter comes from `SIGNET_ETH_PYTHON` (a venv with web3; see
//! scripts/eth-deps.sh). Without it the test prints a loud SKIPPED line, unless
//! `SIGNET_REQUIRE_ETH` is set, when it fails. `SIGNET_ETH_SEED` (hex) replays
//! a run; the seed is printed on failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use proptest::prelude::Rng;
use proptest::test_runner::{RngAlgorithm, TestRng};
use serde_json::{json, Map, Value};
use signet_eth::alloy::{Address, U256};
use signet_eth::{parse_request, typed_data};

const TRANSACTIONS: usize = 200;
const TYPED_DATA: usize = 100;

fn python() -> Option<String> {
    match std::env::var("SIGNET_ETH_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            if std::env::var_os("SIGNET_REQUIRE_ETH").is_some() {
                panic!("SIGNET_ETH_PYTHON is required (SIGNET_REQUIRE_ETH) but unset; scripts/eth-deps.sh sets it");
            }
            eprintln!(
                "SKIPPED: SIGNET_ETH_PYTHON is unset (source scripts/eth-deps.sh); the eth-account cross-check did not run"
            );
            None
        }
    }
}

/// Random values from a seeded proptest RNG.
struct Gen(TestRng);

impl Gen {
    fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn below(&mut self, n: u64) -> u64 {
        self.u64() % n
    }
    fn coin(&mut self) -> bool {
        self.u64() & 1 == 1
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n];
        self.0.fill_bytes(&mut b);
        b
    }
    /// A value of at most `bits` bits, often much smaller (edges and small
    /// numbers are where encoders differ).
    fn uint(&mut self, bits: usize) -> U256 {
        let width = match self.below(4) {
            0 => 0,
            1 => self.below(9) as usize,
            2 => self.below(65) as usize,
            _ => bits,
        }
        .min(bits);
        let v = U256::from_be_slice(&self.bytes(32));
        if width == 0 {
            U256::ZERO
        } else if width == 256 {
            v
        } else {
            v & ((U256::from(1u8) << width) - U256::from(1u8))
        }
    }
    fn address(&mut self) -> Address {
        Address::from_slice(&self.bytes(20))
    }
    /// A quantity as a client might write it: 0x hex, decimal string, or (when
    /// it fits) a JSON integer.
    fn quantity(&mut self, v: U256) -> Value {
        match self.below(4) {
            0 | 1 => json!(format!("{v:#x}")),
            2 => json!(v.to_string()),
            _ => match u64::try_from(v) {
                Ok(n) => json!(n),
                Err(_) => json!(format!("{v:#x}")),
            },
        }
    }
    /// An address as a client might write it: EIP-55 or lower case.
    fn address_text(&mut self, a: Address) -> Value {
        if self.coin() {
            json!(a.to_checksum(None))
        } else {
            json!(format!("{a:#x}"))
        }
    }
    fn key(&mut self) -> [u8; 32] {
        loop {
            let k: [u8; 32] = self.bytes(32).try_into().unwrap();
            if k256::ecdsa::SigningKey::from_slice(&k).is_ok() {
                return k;
            }
        }
    }
}

fn hx(v: U256) -> Value {
    json!(format!("{v:#x}"))
}

/// One random transaction: the JSON a client would send, the same transaction
/// as an eth-account dict (integers as 0x hex, converted by independent.py),
/// and a signing key.
fn transaction(g: &mut Gen) -> (Value, Value, [u8; 32]) {
    let ty = [0u8, 1, 2, 4][g.below(4) as usize];
    let mut client = Map::new();
    let mut py = Map::new();
    let chain_id = U256::from(1 + g.uint(63).to::<u64>());
    let nonce = U256::from(g.uint(64).to::<u64>().min(u64::MAX - 1));
    let gas = g.uint(64);
    let value = g.uint(256);
    client.insert("chainId".into(), g.quantity(chain_id));
    py.insert("chainId".into(), hx(chain_id));
    client.insert("nonce".into(), g.quantity(nonce));
    py.insert("nonce".into(), hx(nonce));
    client.insert(
        if g.coin() { "gas" } else { "gasLimit" }.into(),
        g.quantity(gas),
    );
    py.insert("gas".into(), hx(gas));
    if !value.is_zero() || g.coin() {
        client.insert("value".into(), g.quantity(value));
    }
    py.insert("value".into(), hx(value));
    let to = if ty == 4 || g.below(5) != 0 {
        Some(g.address())
    } else {
        None
    };
    match to {
        Some(a) => {
            client.insert("to".into(), g.address_text(a));
            py.insert("to".into(), json!(a.to_checksum(None)));
        }
        None if g.coin() => {
            client.insert("to".into(), Value::Null);
        }
        None => {}
    }
    let len = g.below(70) as usize;
    let data = format!("0x{}", hex::encode(g.bytes(len)));
    if len > 0 || g.coin() {
        client.insert(if g.coin() { "data" } else { "input" }.into(), json!(data));
    }
    py.insert("data".into(), json!(data));
    if ty <= 1 {
        let price = g.uint(128);
        client.insert("gasPrice".into(), g.quantity(price));
        py.insert("gasPrice".into(), hx(price));
    } else {
        let (a, b) = (g.uint(128), g.uint(128));
        let (prio, max) = if a <= b { (a, b) } else { (b, a) };
        client.insert("maxFeePerGas".into(), g.quantity(max));
        client.insert("maxPriorityFeePerGas".into(), g.quantity(prio));
        py.insert("maxFeePerGas".into(), hx(max));
        py.insert("maxPriorityFeePerGas".into(), hx(prio));
    }
    if ty >= 1 {
        let mut c_list = Vec::new();
        let mut p_list = Vec::new();
        for _ in 0..g.below(4) {
            let a = g.address();
            let keys: Vec<String> = (0..g.below(4))
                .map(|_| format!("0x{}", hex::encode(g.bytes(32))))
                .collect();
            c_list.push(json!({"address": g.address_text(a), "storageKeys": keys}));
            p_list.push(json!({"address": a.to_checksum(None), "storageKeys": keys}));
        }
        // Type 1 needs its access list for inference; others send it at random.
        if ty == 1 || !c_list.is_empty() || g.coin() {
            client.insert("accessList".into(), json!(c_list));
        }
        py.insert("accessList".into(), json!(p_list));
    }
    if ty == 4 {
        let mut c_list = Vec::new();
        let mut p_list = Vec::new();
        for _ in 0..1 + g.below(3) {
            let chain = if g.coin() { U256::ZERO } else { g.uint(256) };
            let a = g.address();
            let n = U256::from(g.uint(64).to::<u64>());
            let y = U256::from(g.below(2));
            let (r, s) = (g.uint(256), g.uint(256));
            c_list.push(json!({
                "chainId": g.quantity(chain), "address": g.address_text(a), "nonce": g.quantity(n),
                "yParity": g.quantity(y), "r": g.quantity(r), "s": g.quantity(s),
            }));
            p_list.push(json!({
                "chainId": hx(chain), "address": a.to_checksum(None), "nonce": hx(n),
                "yParity": hx(y), "r": hx(r), "s": hx(s),
            }));
        }
        client.insert("authorizationList".into(), json!(c_list));
        py.insert("authorizationList".into(), json!(p_list));
    }
    if ty != 0 {
        py.insert("type".into(), json!(ty));
    }
    // The type is inferred from the fields as often as it is given.
    if g.coin() {
        client.insert("type".into(), g.quantity(U256::from(ty)));
    }
    (Value::Object(client), Value::Object(py), g.key())
}

/// A random EIP-712 struct tree under `name`: its definitions go into `types`,
/// the returned value is a message for it.
fn structure(g: &mut Gen, name: &str, depth: u32, types: &mut Map<String, Value>) -> Value {
    let mut members = Vec::new();
    let mut message = Map::new();
    for i in 0..1 + g.below(5) {
        let member = format!("m{i}");
        let nested = depth < 2 && g.below(4) == 0;
        let base = if nested {
            format!("{name}_{member}")
        } else {
            atomic(g)
        };
        let dims: Vec<Option<u64>> = (0..[0, 0, 1, 2][g.below(4) as usize])
            .map(|_| if g.coin() { None } else { Some(1 + g.below(3)) })
            .collect();
        let mut ty = base.clone();
        for d in &dims {
            ty.push_str(&d.map_or("[]".into(), |n| format!("[{n}]")));
        }
        if nested {
            // Defined once, before any value: an empty array still needs it.
            structure(g, &base, depth + 1, types);
        }
        let value = array_value(g, &base, nested, &dims, types);
        members.push(json!({"name": member, "type": ty}));
        message.insert(member, value);
    }
    types.insert(name.into(), json!(members));
    Value::Object(message)
}

fn array_value(
    g: &mut Gen,
    base: &str,
    nested: bool,
    dims: &[Option<u64>],
    types: &Map<String, Value>,
) -> Value {
    match dims.split_last() {
        None if nested => value_for(g, &types[base], types),
        None => atomic_value(g, base),
        Some((outer, inner)) => {
            let n = outer.unwrap_or_else(|| g.below(3));
            Value::Array(
                (0..n)
                    .map(|_| array_value(g, base, nested, inner, types))
                    .collect(),
            )
        }
    }
}

/// A fresh message for an already defined struct.
fn value_for(g: &mut Gen, def: &Value, types: &Map<String, Value>) -> Value {
    let mut message = Map::new();
    for m in def.as_array().unwrap() {
        let name = m["name"].as_str().unwrap().to_owned();
        let ty = m["type"].as_str().unwrap();
        let base_end = ty.find('[').unwrap_or(ty.len());
        let base = &ty[..base_end];
        let dims: Vec<Option<u64>> = ty[base_end..]
            .split(']')
            .filter(|s| !s.is_empty())
            .map(|s| s.trim_start_matches('[').parse().ok())
            .collect();
        let nested = types.contains_key(base);
        let v = array_value(g, base, nested, &dims, types);
        message.insert(name, v);
    }
    Value::Object(message)
}

fn atomic(g: &mut Gen) -> String {
    match g.below(8) {
        0 => "bool".into(),
        1 => "address".into(),
        2 => "string".into(),
        3 => "bytes".into(),
        4 => format!("bytes{}", 1 + g.below(32)),
        5 => format!("int{}", 8 * (1 + g.below(32))),
        _ => format!("uint{}", 8 * (1 + g.below(32))),
    }
}

fn atomic_value(g: &mut Gen, ty: &str) -> Value {
    if ty == "bool" {
        json!(g.coin())
    } else if ty == "address" {
        json!(g.address().to_checksum(None))
    } else if ty == "string" {
        let chars = ['a', 'Z', ' ', 'é', '€', '𝄞', '"', '\\', '0'];
        json!((0..g.below(12))
            .map(|_| chars[g.below(chars.len() as u64) as usize])
            .collect::<String>())
    } else if ty == "bytes" {
        let len = g.below(40) as usize;
        json!(format!("0x{}", hex::encode(g.bytes(len))))
    } else if let Some(n) = ty.strip_prefix("bytes") {
        let len = n.parse().unwrap();
        json!(format!("0x{}", hex::encode(g.bytes(len))))
    } else if let Some(bits) = ty.strip_prefix("uint") {
        let v = g.uint(bits.parse().unwrap());
        if g.coin() {
            json!(v.to_string())
        } else {
            hx(v)
        }
    } else if let Some(bits) = ty.strip_prefix("int") {
        let bits: usize = bits.parse().unwrap();
        let mag = g.uint(bits - 1);
        if g.coin() && !mag.is_zero() {
            json!(format!("-{mag}"))
        } else {
            json!(mag.to_string())
        }
    } else {
        unreachable!("{ty}")
    }
}

/// One random typed-data object (always with `types.EIP712Domain`, which
/// eth-account needs to be consistent with the domain) and a variant of it
/// for signet-eth without `EIP712Domain` half the time.
fn typed(g: &mut Gen) -> (Value, Value) {
    let mut types = Map::new();
    let message = structure(g, "Main", 0, &mut types);
    let mut domain = Map::new();
    let mut domain_type = Vec::new();
    if g.coin() {
        domain.insert("name".into(), json!(format!("App {}", g.below(1000))));
        domain_type.push(json!({"name": "name", "type": "string"}));
    }
    if g.coin() {
        domain.insert("version".into(), json!(g.below(10).to_string()));
        domain_type.push(json!({"name": "version", "type": "string"}));
    }
    if g.coin() {
        domain.insert("chainId".into(), json!(1 + g.below(100_000)));
        domain_type.push(json!({"name": "chainId", "type": "uint256"}));
    }
    if g.coin() {
        domain.insert(
            "verifyingContract".into(),
            json!(g.address().to_checksum(None)),
        );
        domain_type.push(json!({"name": "verifyingContract", "type": "address"}));
    }
    if g.coin() {
        domain.insert(
            "salt".into(),
            json!(format!("0x{}", hex::encode(g.bytes(32)))),
        );
        domain_type.push(json!({"name": "salt", "type": "bytes32"}));
    }
    let mut for_signet =
        json!({"types": types, "primaryType": "Main", "domain": domain, "message": message});
    types.insert("EIP712Domain".into(), json!(domain_type));
    let for_python =
        json!({"types": types, "primaryType": "Main", "domain": domain, "message": message});
    if g.coin() {
        for_signet = for_python.clone();
    }
    (for_signet, for_python)
}

#[test]
fn matches_eth_account() {
    let Some(python) = python() else { return };
    let seed: [u8; 32] = match std::env::var("SIGNET_ETH_SEED") {
        Ok(s) => hex::decode(s).unwrap().try_into().unwrap(),
        Err(_) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            common::keccak(&nanos.to_le_bytes())
        }
    };
    let seed_hex = hex::encode(seed);
    let mut g = Gen(TestRng::from_seed(RngAlgorithm::ChaCha, &seed));

    let txs: Vec<_> = (0..TRANSACTIONS).map(|_| transaction(&mut g)).collect();
    let tds: Vec<_> = (0..TYPED_DATA).map(|_| typed(&mut g)).collect();
    let batch = json!({
        "transactions": txs.iter().map(|(_, py, key)| json!({"key": format!("0x{}", hex::encode(key)), "tx": py})).collect::<Vec<_>>(),
        "typed_data": tds.iter().map(|(_, py)| py.clone()).collect::<Vec<_>>(),
    });

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/independent.py");
    let mut child = Command::new(&python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(batch.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "independent.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();

    let mut types_seen = [0usize; 5];
    for (i, ((client, py, key), want)) in txs
        .iter()
        .zip(answer["transactions"].as_array().unwrap())
        .enumerate()
    {
        let ctx = || {
            format!("seed {seed_hex}, transaction {i}\nclient: {client}\neth-account: {py}\nanswer: {want}")
        };
        assert!(
            want.get("error").is_none(),
            "eth-account refused: {}",
            ctx()
        );
        let req = parse_request(client).unwrap_or_else(|e| panic!("{e}: {}", ctx()));
        let tx = req.build().unwrap_or_else(|e| panic!("{e}: {}", ctx()));
        types_seen[tx.tx_type() as usize] += 1;
        let hash = tx.signing_hash();
        assert_eq!(
            format!("0x{}", hex::encode(hash)),
            want["signing_hash"],
            "signing hash: {}",
            ctx()
        );
        let (rs, rec) = common::sign(key, &hash);
        let signed = tx.into_signed(&rs, rec).unwrap();
        assert_eq!(
            format!("0x{}", hex::encode(&signed.raw)),
            want["raw"],
            "raw: {}",
            ctx()
        );
        assert_eq!(
            format!("0x{}", hex::encode(signed.hash)),
            want["hash"],
            "hash: {}",
            ctx()
        );
        let sender = want["sender"].as_str().unwrap().to_lowercase();
        assert_eq!(
            sender,
            format!("0x{}", hex::encode(common::address_of_key(key))),
            "sender: {}",
            ctx()
        );
    }
    let (mut nested, mut arrays) = (0, 0);
    for (i, ((signet, py), want)) in tds
        .iter()
        .zip(answer["typed_data"].as_array().unwrap())
        .enumerate()
    {
        let text = py["types"].to_string();
        nested += usize::from(py["types"].as_object().unwrap().len() > 2);
        arrays += usize::from(text.contains("]\""));
        let ctx = || {
            format!("seed {seed_hex}, typed data {i}\nsignet: {signet}\neth-account: {py}\nanswer: {want}")
        };
        assert!(want.is_string(), "eth-account refused: {}", ctx());
        let got = typed_data(signet).unwrap_or_else(|e| panic!("{e}: {}", ctx()));
        assert_eq!(
            format!("0x{}", hex::encode(got.hash)),
            *want,
            "typed-data hash: {}",
            ctx()
        );
    }
    assert_eq!(
        answer["transactions"].as_array().unwrap().len(),
        TRANSACTIONS
    );
    assert_eq!(answer["typed_data"].as_array().unwrap().len(), TYPED_DATA);
    assert!(
        types_seen[0] > 0 && types_seen[1] > 0 && types_seen[2] > 0 && types_seen[4] > 0,
        "{types_seen:?}"
    );
    assert!(
        nested > 0 && arrays > 0,
        "the generator made no nested structs ({nested}) or arrays ({arrays})"
    );
    eprintln!(
        "eth-account agrees on {TRANSACTIONS} transactions (by type {types_seen:?}) and {TYPED_DATA} typed-data hashes \
         ({nested} with nested structs, {arrays} with arrays); seed {seed_hex}"
    );
}
