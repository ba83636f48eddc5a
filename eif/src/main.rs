//! `signet-eif`: builds the Signet enclave image file (EIF) from its parts
//! and says what an auditor and an infra team need from any EIF: its PCRs,
//! the attestation policy the host and `signet attest verify` consume, and
//! the Terraform value that binds the KMS key policy to it. PCRs are
//! computed by AWS's own `aws-nitro-enclaves-image-format` crate, so they
//! are the ones `nitro-cli describe-eif` prints and the NSM reports for the
//! same file.

mod build;
mod error;
mod pcrs;
mod ramdisk;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::{json, Value};

use crate::error::EifError;

/// Enclave images: ramdisks, the EIF, its PCRs, policies and Terraform values.
#[derive(Parser)]
#[command(name = "signet-eif", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the image's PCR0, PCR1, PCR2 (and PCR8 when signed) as JSON,
    /// measured from the EIF.
    Pcrs {
        /// The EIF.
        eif: PathBuf,
    },
    /// Print an attestation policy accepting these images (several for a
    /// rolling upgrade or a rollback): the host's ATTESTATION_POLICY and the
    /// input of `signet attest verify --policy`.
    Policy {
        /// The images whose measurements are allowed: EIFs or their
        /// signet.pcrs.json.
        #[arg(required = true)]
        image: Vec<PathBuf>,
        /// Maximum age of a document, seconds.
        #[arg(long, default_value_t = 300)]
        max_age: u64,
    },
    /// Print the Terraform variables pinning the KMS key policy to these
    /// images: `{"enclave_pcr_sets": [{"pcr0", "pcr1", "pcr2"}, …]}`, the
    /// new image first, then those still allowed (upgrade, rollback).
    Tfvars {
        /// The images: EIFs or their signet.pcrs.json.
        #[arg(required = true)]
        image: Vec<PathBuf>,
    },
    /// Write a deterministic newc cpio ramdisk from a manifest
    /// (`dir PATH MODE`, `file PATH SOURCE MODE`, `nod PATH MODE c MAJOR MINOR`;
    /// sorted entries, uid/gid 0, mtime 0).
    Cpio {
        /// The manifest; relative SOURCE paths are relative to its directory.
        #[arg(long)]
        manifest: PathBuf,
        /// The archive to write.
        #[arg(long)]
        output: PathBuf,
    },
    /// Build an EIF from a kernel, its command line and ramdisks (the first
    /// is measured into PCR1, the others into PCR2); equal inputs give
    /// byte-identical files. Prints the PCRs; writes the full description
    /// (PCRs, inputs' hashes) with --describe.
    Build {
        /// Kernel image (bzImage).
        #[arg(long)]
        kernel: PathBuf,
        /// Kernel command line.
        #[arg(long, default_value = "")]
        cmdline: String,
        /// Ramdisks, in order.
        #[arg(long = "ramdisk", required = true)]
        ramdisks: Vec<PathBuf>,
        /// Output file.
        #[arg(long)]
        output: PathBuf,
        /// Image name recorded in the (unmeasured) metadata.
        #[arg(long, default_value = "signet-enclave")]
        name: String,
        /// Kernel version recorded in the (unmeasured) metadata.
        #[arg(long, default_value = "custom")]
        kernel_version: String,
        /// Write signet.pcrs.json here: the PCRs, the image's SHA-256, the
        /// command line, the inputs' SHA-256 and the --fact values.
        #[arg(long, value_name = "FILE")]
        describe: Option<PathBuf>,
        /// Another input whose SHA-256 goes into the description (repeatable).
        #[arg(long = "input", value_name = "NAME=FILE")]
        inputs: Vec<String>,
        /// A fact about the build for the description (repeatable).
        #[arg(long = "fact", value_name = "NAME=VALUE")]
        facts: Vec<String>,
    },
    /// Compare two images (signet.pcrs.json or EIF): exit 0 when their PCRs
    /// are equal, 1 with every difference (PCRs, then inputs) otherwise.
    Compare {
        /// The reference (e.g. the published signet.pcrs.json).
        expected: PathBuf,
        /// The rebuilt one.
        actual: PathBuf,
    },
}

fn name_value(s: &str) -> Result<(String, String), EifError> {
    match s.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(EifError::NotNameValue(s.to_owned())),
    }
}

fn pcrs_json(p: &pcrs::Pcrs) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("HashAlgorithm".into(), "Sha384".into());
    out.extend(pcrs::named(p));
    Value::Object(out)
}

fn run(cli: Cli) -> Result<Value, EifError> {
    match cli.command {
        Command::Pcrs { eif } => Ok(pcrs_json(&pcrs::from_eif(&eif)?)),
        Command::Policy { image, max_age } => {
            let sets = image
                .iter()
                .map(|e| pcrs::from_image(e).map(|p| pcrs::policy_set(&p)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(json!({"pcr_sets": sets, "allow_debug": false, "max_age_seconds": max_age}))
        }
        Command::Tfvars { image } => {
            let sets = image
                .iter()
                .map(|e| pcrs::from_image(e).map(|p| pcrs::tf_set(&p)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(json!({ "enclave_pcr_sets": sets }))
        }
        Command::Cpio { manifest, output } => {
            let text =
                std::fs::read_to_string(&manifest).map_err(|e| EifError::io(&manifest, e))?;
            let base = manifest
                .parent()
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."));
            ramdisk::Manifest::parse(&text, &manifest, &base)?.write(&output)?;
            Ok(json!({"cpio": output, "sha256": build::sha256_file(&output)?}))
        }
        Command::Build {
            kernel,
            cmdline,
            ramdisks,
            output,
            name,
            kernel_version,
            describe,
            inputs,
            facts,
        } => {
            let inputs = inputs
                .iter()
                .map(|s| name_value(s).map(|(n, v)| (n, PathBuf::from(v))))
                .collect::<Result<Vec<_>, _>>()?;
            let facts = facts
                .iter()
                .map(|s| name_value(s))
                .collect::<Result<Vec<_>, _>>()?;
            let spec = build::ImageSpec {
                kernel: &kernel,
                cmdline: &cmdline,
                ramdisks: &ramdisks,
                name: &name,
                kernel_version: &kernel_version,
            };
            let p = build::build(&spec, &output)?;
            if let Some(path) = describe {
                let doc = build::describe(&spec, &output, &p, &inputs, &facts)?;
                let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
                std::fs::write(&path, text).map_err(|e| EifError::io(&path, e))?;
            }
            let mut out = pcrs_json(&p);
            if let Value::Object(o) = &mut out {
                o.insert("eif".into(), json!(output));
            }
            Ok(out)
        }
        Command::Compare { expected, actual } => {
            let report = build::compare(&expected, &actual)?;
            Ok(json!({"equal": true, "report": report}))
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
