//! An image's PCRs, read from an EIF (measured by AWS's image-format crate,
//! as `nitro-cli describe-eif` and the NSM do) or from the
//! `signet.pcrs.json` that `signet-eif build` wrote.

use std::collections::BTreeMap;
use std::path::Path;

use aws_nitro_enclaves_image_format::utils::eif_reader::EifReader;
use serde_json::{Map, Value};

use crate::error::EifError;

/// PCR index → lowercase hex SHA-384; 0, 1 and 2 always, 8 when signed.
pub type Pcrs = BTreeMap<u8, String>;

fn is_sha384_hex(v: &str) -> bool {
    v.len() == 96
        && v.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Measures an EIF. Refuses a file that is not an EIF, whose CRC does not
/// match, or that lacks a SHA-384 PCR0, PCR1 or PCR2.
pub fn from_eif(eif: &Path) -> Result<Pcrs, EifError> {
    if !eif.is_file() {
        return Err(EifError::NotAFile {
            path: eif.to_owned(),
        });
    }
    let not_an_eif = |reason: String| EifError::NotAnEif {
        path: eif.to_owned(),
        reason,
    };
    let mut reader = EifReader::from_eif(eif.display().to_string()).map_err(not_an_eif)?;
    if !reader.check_crc() {
        return Err(EifError::Crc {
            path: eif.to_owned(),
        });
    }
    let measurements = reader.get_measurements().map_err(not_an_eif)?;
    let mut out = Pcrs::new();
    for (name, value) in measurements {
        if let Some(i) = name.strip_prefix("PCR").and_then(|i| i.parse::<u8>().ok()) {
            out.insert(i, value.to_ascii_lowercase());
        }
    }
    check(eif, out)
}

fn check(path: &Path, pcrs: Pcrs) -> Result<Pcrs, EifError> {
    for (index, value) in &pcrs {
        if !is_sha384_hex(value) {
            return Err(EifError::MissingPcr {
                path: path.to_owned(),
                index: *index,
            });
        }
    }
    for index in [0u8, 1, 2] {
        if !pcrs.contains_key(&index) {
            return Err(EifError::MissingPcr {
                path: path.to_owned(),
                index,
            });
        }
    }
    Ok(pcrs)
}

/// Reads the PCRs of a `signet.pcrs.json` (`"PCR0"`, `"PCR1"`, `"PCR2"`,
/// optional `"PCR8"`: 96 hex digits each).
pub fn from_json(path: &Path) -> Result<Pcrs, EifError> {
    let bytes = std::fs::read(path).map_err(|e| EifError::io(path, e))?;
    let bad = |reason: String| EifError::NotPcrsJson {
        path: path.to_owned(),
        reason,
    };
    let json: Value = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    let object = json
        .as_object()
        .ok_or_else(|| bad("not a JSON object".into()))?;
    let mut out = Pcrs::new();
    for index in [0u8, 1, 2, 8] {
        match object.get(&format!("PCR{index}")) {
            None | Some(Value::Null) if index == 8 => {}
            Some(Value::String(v)) if is_sha384_hex(&v.to_ascii_lowercase()) => {
                out.insert(index, v.to_ascii_lowercase());
            }
            _ => return Err(bad(format!("PCR{index} is not 96 hex digits"))),
        }
    }
    check(path, out)
}

/// The PCRs of an image given as an EIF or as its `signet.pcrs.json`
/// (a file starting with `{` or `[` is read as JSON).
pub fn from_image(path: &Path) -> Result<Pcrs, EifError> {
    let mut head = [0u8; 1];
    let first = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .map_err(|e| EifError::io(path, e))?;
    if first == 1 && matches!(head[0], b'{' | b'[') {
        from_json(path)
    } else {
        from_eif(path)
    }
}

/// `{"PCR0": hex, "PCR1": hex, "PCR2": hex}` (and `"PCR8"` when present).
pub fn named(pcrs: &Pcrs) -> Map<String, Value> {
    pcrs.iter()
        .map(|(i, v)| (format!("PCR{i}"), Value::String(v.clone())))
        .collect()
}

/// `{"0": hex, …}`: one set of the attestation policy's `pcr_sets`.
pub fn policy_set(pcrs: &Pcrs) -> Value {
    Value::Object(
        pcrs.iter()
            .map(|(i, v)| (i.to_string(), Value::String(v.clone())))
            .collect(),
    )
}

/// `{"pcr0": hex, "pcr1": hex, "pcr2": hex}` (and `"pcr8"` when signed):
/// one element of the Terraform module's `enclave_pcr_sets`.
pub fn tf_set(pcrs: &Pcrs) -> Value {
    Value::Object(
        pcrs.iter()
            .map(|(i, v)| (format!("pcr{i}"), Value::String(v.clone())))
            .collect(),
    )
}
