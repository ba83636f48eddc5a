//! `signet-eif`: what an auditor and an infra team need from an enclave image
//! file (EIF): its PCRs, the attestation policy the host and `signet attest
//! verify` consume, and the Terraform variables that bind the KMS key policy to
//! it — all computed by AWS's own `aws-nitro-enclaves-image-format` crate, so
//! they match what `nitro-cli describe-eif` and the NSM report.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use aws_nitro_enclaves_image_format::defs::{EifBuildInfo, EifIdentityInfo};
use aws_nitro_enclaves_image_format::utils::eif_reader::EifReader;
use aws_nitro_enclaves_image_format::utils::EifBuilder;
use clap::{Parser, Subcommand};
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha384};

/// PCRs, policies and Terraform values from enclave image files.
#[derive(Parser)]
#[command(name = "signet-eif", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the image's PCR0, PCR1, PCR2 (and PCR8 when signed) as JSON.
    Pcrs {
        /// The EIF.
        eif: PathBuf,
    },
    /// Print an attestation policy accepting these images (several for a
    /// rolling upgrade): input of `signet attest verify --policy` and the host's
    /// ATTESTATION_POLICY.
    Policy {
        /// The EIFs whose measurements are allowed.
        #[arg(required = true)]
        eif: Vec<PathBuf>,
        /// Maximum age of a document, seconds.
        #[arg(long, default_value_t = 300)]
        max_age: u64,
    },
    /// Print the Terraform variables (`-var-file` JSON) pinning the KMS key policy to the image.
    Tfvars {
        /// The EIF.
        eif: PathBuf,
    },
    /// Build an EIF from a kernel, command line and ramdisks (what nitro-cli does after
    /// docker); deterministic for the same inputs. Mostly for tests and inspection.
    Build {
        /// Kernel image.
        #[arg(long)]
        kernel: PathBuf,
        /// Kernel command line.
        #[arg(long, default_value = "")]
        cmdline: String,
        /// Ramdisks, in order (the first is the bootstrap ramdisk, the rest the application).
        #[arg(long = "ramdisk", required = true)]
        ramdisks: Vec<PathBuf>,
        /// Output file.
        #[arg(long)]
        output: PathBuf,
        /// Image name recorded in the metadata.
        #[arg(long, default_value = "signet-enclave")]
        name: String,
    },
}

/// `{"0": hex, "1": hex, "2": hex, "8"?: hex}` of an EIF.
fn pcrs(eif: &std::path::Path) -> Result<BTreeMap<u8, String>, String> {
    let mut reader = EifReader::from_eif(eif.display().to_string())
        .map_err(|e| format!("{}: {e}", eif.display()))?;
    if !reader.check_crc() {
        return Err(format!("{}: CRC mismatch (corrupt image)", eif.display()));
    }
    let measurements = reader
        .get_measurements()
        .map_err(|e| format!("{}: {e}", eif.display()))?;
    let mut out = BTreeMap::new();
    for (name, value) in measurements {
        if let Some(i) = name.strip_prefix("PCR").and_then(|i| i.parse::<u8>().ok()) {
            out.insert(i, value.to_ascii_lowercase());
        }
    }
    for required in [0u8, 1, 2] {
        if out.get(&required).is_none_or(|v| v.len() != 96) {
            return Err(format!("{}: no SHA-384 PCR{required}", eif.display()));
        }
    }
    Ok(out)
}

fn as_object(pcrs: &BTreeMap<u8, String>) -> Value {
    Value::Object(
        pcrs.iter()
            .map(|(i, v)| (i.to_string(), Value::String(v.clone())))
            .collect::<Map<_, _>>(),
    )
}

fn build(
    kernel: &std::path::Path,
    cmdline: &str,
    ramdisks: &[PathBuf],
    output: &std::path::Path,
    name: &str,
) -> Result<BTreeMap<u8, String>, String> {
    for input in std::iter::once(kernel).chain(ramdisks.iter().map(PathBuf::as_path)) {
        if !input.is_file() {
            return Err(format!("{} is not a file", input.display()));
        }
    }
    // Metadata is fixed (no build time or host names), so equal inputs give
    // byte-identical images; the PCRs never depend on it anyway.
    let info = EifIdentityInfo {
        img_name: name.to_owned(),
        img_version: env!("CARGO_PKG_VERSION").to_owned(),
        build_info: EifBuildInfo {
            build_time: "1970-01-01T00:00:00Z".to_owned(),
            build_tool: "signet-eif".to_owned(),
            build_tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            img_os: "linux".to_owned(),
            img_kernel: "custom".to_owned(),
        },
        docker_info: json!({}),
        custom_info: json!({}),
    };
    let mut builder = EifBuilder::new(kernel, cmdline.to_owned(), None, Sha384::new(), 0, info);
    for r in ramdisks {
        builder.add_ramdisk(r);
    }
    let mut file =
        std::fs::File::create(output).map_err(|e| format!("{}: {e}", output.display()))?;
    builder.write_to(&mut file);
    drop(file);
    pcrs(output)
}

fn run(cli: Cli) -> Result<Value, String> {
    match cli.command {
        Command::Pcrs { eif } => {
            let p = pcrs(&eif)?;
            Ok(
                json!({"HashAlgorithm": "Sha384", "PCR0": p[&0], "PCR1": p[&1], "PCR2": p[&2], "PCR8": p.get(&8)}),
            )
        }
        Command::Policy { eif, max_age } => {
            let sets = eif
                .iter()
                .map(|e| pcrs(e).map(|p| as_object(&p)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(json!({"pcr_sets": sets, "allow_debug": false, "max_age_seconds": max_age}))
        }
        Command::Tfvars { eif } => {
            let p = pcrs(&eif)?;
            Ok(
                json!({"enclave_pcr0": p[&0], "enclave_pcr1": p[&1], "enclave_pcr2": p[&2], "enclave_pcr8": p.get(&8)}),
            )
        }
        Command::Build {
            kernel,
            cmdline,
            ramdisks,
            output,
            name,
        } => {
            let p = build(&kernel, &cmdline, &ramdisks, &output, &name)?;
            Ok(json!({"eif": output, "PCR0": p[&0], "PCR1": p[&1], "PCR2": p[&2]}))
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(v) => {
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("signet-eif: {e}");
            ExitCode::FAILURE
        }
    }
}
