//! Packs a kernel, its command line and ramdisks into an EIF with AWS's
//! image-format crate, every unmeasured field fixed, and describes the
//! result in `signet.pcrs.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_nitro_enclaves_image_format::defs::{EifBuildInfo, EifIdentityInfo};
use aws_nitro_enclaves_image_format::utils::EifBuilder;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256, Sha384};

use crate::error::EifError;
use crate::pcrs::{self, Pcrs};

/// What goes into an image.
pub struct ImageSpec<'a> {
    /// The kernel (`bzImage`: Debian's `vmlinuz`).
    pub kernel: &'a Path,
    /// The kernel command line.
    pub cmdline: &'a str,
    /// The ramdisks: the first is measured into PCR1, the others into PCR2.
    pub ramdisks: &'a [PathBuf],
    /// The image name in the (unmeasured) metadata.
    pub name: &'a str,
    /// The kernel's version in the (unmeasured) metadata.
    pub kernel_version: &'a str,
}

/// SHA-256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, EifError> {
    let bytes = std::fs::read(path).map_err(|e| EifError::io(path, e))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// Writes the EIF and returns its PCRs, as measured back from the written
/// file. The metadata holds no time, host or user: equal inputs give
/// byte-identical files. (The PCRs never depend on the metadata.)
pub fn build(spec: &ImageSpec<'_>, output: &Path) -> Result<Pcrs, EifError> {
    for input in std::iter::once(spec.kernel).chain(spec.ramdisks.iter().map(PathBuf::as_path)) {
        if !input.is_file() {
            return Err(EifError::NotAFile {
                path: input.to_owned(),
            });
        }
    }
    if spec.cmdline.contains('\0') {
        return Err(EifError::NulInCmdline);
    }
    let info = EifIdentityInfo {
        img_name: spec.name.to_owned(),
        img_version: env!("CARGO_PKG_VERSION").to_owned(),
        build_info: EifBuildInfo {
            build_time: "1970-01-01T00:00:00Z".to_owned(),
            build_tool: "signet-eif".to_owned(),
            build_tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            img_os: "linux".to_owned(),
            img_kernel: spec.kernel_version.to_owned(),
        },
        docker_info: json!({}),
        custom_info: json!({}),
    };
    // The crate's builder opens its inputs itself and panics on I/O errors:
    // they were checked above; default_mem/default_cpus are its constants.
    let mut builder = EifBuilder::new(
        spec.kernel,
        spec.cmdline.to_owned(),
        None,
        Sha384::new(),
        0,
        info,
    );
    for r in spec.ramdisks {
        builder.add_ramdisk(r);
    }
    let mut file = std::fs::File::create(output).map_err(|e| EifError::io(output, e))?;
    builder.write_to(&mut file);
    file.sync_all().map_err(|e| EifError::io(output, e))?;
    drop(file);
    pcrs::from_eif(output)
}

/// `signet.pcrs.json`: the PCRs, the image's own hash and size, the command
/// line, the SHA-256 of each input (kernel, ramdisks, and `extra_inputs`:
/// the kernel package, each module, the init, the signer, its
/// configuration) and `build` facts (toolchain, kernel package version).
pub fn describe(
    spec: &ImageSpec<'_>,
    output: &Path,
    pcrs: &Pcrs,
    extra_inputs: &[(String, PathBuf)],
    build_facts: &[(String, String)],
) -> Result<Value, EifError> {
    let mut inputs = BTreeMap::new();
    inputs.insert("kernel".to_owned(), sha256_file(spec.kernel)?);
    for (i, r) in spec.ramdisks.iter().enumerate() {
        inputs.insert(format!("ramdisk{}", i + 1), sha256_file(r)?);
    }
    for (name, path) in extra_inputs {
        inputs.insert(name.clone(), sha256_file(path)?);
    }
    let size = std::fs::metadata(output)
        .map_err(|e| EifError::io(output, e))?
        .len();
    let mut doc = Map::new();
    doc.insert("HashAlgorithm".into(), "Sha384".into());
    doc.extend(pcrs::named(pcrs));
    doc.insert(
        "eif".into(),
        json!({"sha256": sha256_file(output)?, "size": size}),
    );
    doc.insert("cmdline".into(), spec.cmdline.into());
    doc.insert("inputs".into(), json!(inputs));
    doc.insert(
        "build".into(),
        Value::Object(
            build_facts
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        ),
    );
    Ok(Value::Object(doc))
}

/// Compares two images' descriptions (each a `signet.pcrs.json` or an
/// EIF): the PCRs must be equal. Returns the report; an error lists every
/// PCR that differs and, for descriptions, every input whose hash differs
/// (where to look first).
pub fn compare(expected: &Path, actual: &Path) -> Result<String, EifError> {
    let want = pcrs::from_image(expected)?;
    let have = pcrs::from_image(actual)?;
    let mut lines = Vec::new();
    let mut differ = false;
    for index in want
        .keys()
        .chain(have.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let (w, h) = (want.get(index), have.get(index));
        if w == h {
            lines.push(format!(
                "PCR{index} equal {}",
                w.map_or("-", String::as_str)
            ));
        } else {
            differ = true;
            lines.push(format!(
                "PCR{index} DIFFERS: expected {} got {}",
                w.map_or("(none)", String::as_str),
                h.map_or("(none)", String::as_str)
            ));
        }
    }
    let inputs = |p: &Path| -> Option<Map<String, Value>> {
        let v: Value = serde_json::from_slice(&std::fs::read(p).ok()?).ok()?;
        v.get("inputs")?.as_object().cloned()
    };
    if let (Some(w), Some(h)) = (inputs(expected), inputs(actual)) {
        for (name, value) in &w {
            match h.get(name) {
                Some(other) if other == value => {}
                Some(other) => lines.push(format!(
                    "input {name} differs: expected {value} got {other}"
                )),
                None => lines.push(format!("input {name} is missing from {}", actual.display())),
            }
        }
    }
    let report = lines.join("\n");
    if differ {
        Err(EifError::Differ(report))
    } else {
        Ok(report)
    }
}
