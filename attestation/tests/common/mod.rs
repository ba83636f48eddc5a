//! Shared helpers: the real AWS vectors and their manifest.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use ciborium::value::Value;
use serde::Deserialize;
use signet_attestation::{PcrPolicy, PcrSet, TrustAnchor, Verifier, VerifyAt};

#[derive(Deserialize)]
pub struct Manifest {
    pub root_der_sha256: String,
    pub documents: Vec<Vector>,
}

#[derive(Deserialize, Clone)]
pub struct Vector {
    pub file: String,
    pub sha256: String,
    pub module_id: String,
    pub timestamp_ms: u64,
    pub debug_mode: bool,
    pub pcrs: BTreeMap<String, String>,
    pub public_key_len: usize,
    pub user_data_len: usize,
    pub nonce_len: usize,
    pub high_s_signature: bool,
    pub payload_map: String,
    pub expect: Expect,
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

#[derive(Deserialize, Clone)]
pub struct Expect {
    pub valid_at_ms: Vec<u64>,
    pub invalid_at_ms: Vec<u64>,
}

pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/vectors")
}

pub fn manifest() -> Manifest {
    let text = std::fs::read_to_string(vectors_dir().join("manifest.json")).unwrap();
    let mut manifest: Manifest = serde_json::from_str(&text).unwrap();
    for v in &mut manifest.documents {
        v.bytes = std::fs::read(vectors_dir().join(&v.file)).unwrap();
    }
    assert_eq!(
        manifest.documents.len(),
        12,
        "all twelve vectors are present"
    );
    manifest
}

impl Vector {
    pub fn pcr_set(&self) -> PcrSet {
        PcrSet::from_hex(
            self.pcrs
                .iter()
                .map(|(i, v)| (i.parse::<u8>().unwrap(), v.as_str())),
        )
        .unwrap()
    }

    /// The verifier an auditor would use: AWS root, the manifest's PCRs, the
    /// document's own timestamp, debug allowed only for debug documents.
    pub fn verifier(&self) -> Verifier {
        Verifier::new(
            TrustAnchor::aws_nitro_root_g1(),
            PcrPolicy::exactly(self.pcr_set()),
        )
        .allow_debug(self.debug_mode)
        .at(VerifyAt::DocumentTimestamp)
    }

    /// The COSE array of this document as CBOR values.
    pub fn cose(&self) -> Vec<Value> {
        match ciborium::de::from_reader::<Value, _>(self.bytes.as_slice()).unwrap() {
            Value::Array(items) => items,
            other => panic!("not an array: {other:?}"),
        }
    }

    pub fn payload_bytes(&self) -> Vec<u8> {
        self.cose()[2].as_bytes().unwrap().clone()
    }

    pub fn payload_map(&self) -> Vec<(Value, Value)> {
        match ciborium::de::from_reader::<Value, _>(self.payload_bytes().as_slice()).unwrap() {
            Value::Map(m) => m,
            other => panic!("not a map: {other:?}"),
        }
    }
}

pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).unwrap();
    out
}

/// Rebuilds a COSE array with some parts replaced.
pub fn rebuild(items: Vec<Value>) -> Vec<u8> {
    encode(&Value::Array(items))
}

pub fn field<'a>(map: &'a [(Value, Value)], name: &str) -> &'a Value {
    &map.iter()
        .find(|(k, _)| k.as_text() == Some(name))
        .unwrap()
        .1
}

pub fn set_field(map: &mut [(Value, Value)], name: &str, value: Value) {
    for (k, v) in map.iter_mut() {
        if k.as_text() == Some(name) {
            *v = value.clone();
        }
    }
}
