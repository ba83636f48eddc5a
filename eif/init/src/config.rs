//! The signer's configuration file (`/etc/signet/signer.conf`, ramdisk 2)
//! and the command line built from it.
//!
//! The file pins what differs between deployments: the KMS key, its region
//! and the deployment name, one `key=value` per line (`#` comments and blank
//! lines allowed). Everything else on the signer's command line is fixed
//! here ([`SIGNER_FIXED_ARGS`]): it is part of the init, hence of PCR1 and
//! PCR0; the file is part of PCR2 and PCR0. The KMS key policy and
//! `ATTESTATION_POLICY` pin both.

use thiserror::Error;

/// The largest configuration file read (checked before parsing).
pub const MAX_CONFIG_LEN: usize = 4096;

/// The signer's arguments that never change between deployments: a vsock
/// listener on port 5000, NSM attestation, software keys sealed under a KMS
/// data key released only to this image, the runtime secrets provisioned by
/// the host after it checked the attestation, and KMS reached through the
/// parent's vsock-proxy (CID 3, port 8000).
pub const SIGNER_FIXED_ARGS: &[&str] = &[
    "--listen",
    "vsock://5000",
    "--attestation",
    "nsm",
    "--backend",
    "software",
    "--sealing",
    "kms",
    "--secrets",
    "host",
    "--kms-proxy",
    "vsock://3:8000",
];

/// Why a configuration file was refused.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignerConfigError {
    /// The file is larger than [`MAX_CONFIG_LEN`].
    #[error("the configuration is {len} bytes, more than the {max} allowed")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The file is not UTF-8.
    #[error("the configuration is not UTF-8")]
    NotUtf8,
    /// A line is neither blank, a comment, nor `key=value`.
    #[error("line {line}: not key=value")]
    Malformed {
        /// 1-based line number.
        line: usize,
    },
    /// A key this init does not know (a typo would otherwise go unnoticed).
    #[error("line {line}: unknown key {key:?} (known: kms_key_id, kms_region, deployment)")]
    UnknownKey {
        /// 1-based line number.
        line: usize,
        /// The key.
        key: String,
    },
    /// A key given twice.
    #[error("line {line}: {key} is given twice")]
    Duplicate {
        /// 1-based line number of the second one.
        line: usize,
        /// The key.
        key: &'static str,
    },
    /// A required key is missing.
    #[error("{0} is missing")]
    Missing(&'static str),
    /// A value has the wrong form.
    #[error("{key} {value:?} is not {expected}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// The value.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
    /// The key is not in the configured region.
    #[error("the KMS key {key_id} is not in kms_region {region}")]
    RegionMismatch {
        /// The key's ARN.
        key_id: String,
        /// The configured region.
        region: String,
    },
}

/// The pinned per-deployment values of the signer's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerConfig {
    /// The sealing key's ARN (`--kms-key-id`); a key ARN, never an alias.
    pub kms_key_id: String,
    /// Its region (`--kms-region`).
    pub kms_region: String,
    /// The Terraform module's `name` (`--deployment`), bound into the KMS
    /// encryption context.
    pub deployment: String,
}

impl SignerConfig {
    /// Parses the file's bytes. Refuses oversized or non-UTF-8 input,
    /// malformed lines, unknown or duplicate keys, missing keys, values of
    /// the wrong form (an alias instead of a key ARN, a malformed region or
    /// deployment name) and a key outside the configured region.
    pub fn parse(bytes: &[u8]) -> Result<Self, SignerConfigError> {
        if bytes.len() > MAX_CONFIG_LEN {
            return Err(SignerConfigError::TooLarge {
                len: bytes.len(),
                max: MAX_CONFIG_LEN,
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|_| SignerConfigError::NotUtf8)?;
        let mut kms_key_id = None;
        let mut kms_region = None;
        let mut deployment = None;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (key, value) = trimmed
                .split_once('=')
                .ok_or(SignerConfigError::Malformed { line })?;
            let (name, slot) = match key.trim() {
                "kms_key_id" => ("kms_key_id", &mut kms_key_id),
                "kms_region" => ("kms_region", &mut kms_region),
                "deployment" => ("deployment", &mut deployment),
                other => {
                    return Err(SignerConfigError::UnknownKey {
                        line,
                        key: other.to_owned(),
                    })
                }
            };
            if slot.is_some() {
                return Err(SignerConfigError::Duplicate { line, key: name });
            }
            *slot = Some(value.trim().to_owned());
        }
        let kms_key_id = kms_key_id.ok_or(SignerConfigError::Missing("kms_key_id"))?;
        let kms_region = kms_region.ok_or(SignerConfigError::Missing("kms_region"))?;
        let deployment = deployment.ok_or(SignerConfigError::Missing("deployment"))?;
        if !is_key_arn(&kms_key_id) {
            return Err(SignerConfigError::Invalid {
                key: "kms_key_id",
                value: kms_key_id,
                expected: "a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID; not an alias)",
            });
        }
        if !is_region(&kms_region) {
            return Err(SignerConfigError::Invalid {
                key: "kms_region",
                value: kms_region,
                expected: "a region name (e.g. eu-west-1)",
            });
        }
        if !is_deployment(&deployment) {
            return Err(SignerConfigError::Invalid {
                key: "deployment",
                value: deployment,
                expected: "a Terraform module name (2-31 of a-z, 0-9, -, starting with a letter)",
            });
        }
        if !kms_key_id.contains(&format!(":kms:{kms_region}:")) {
            return Err(SignerConfigError::RegionMismatch {
                key_id: kms_key_id,
                region: kms_region,
            });
        }
        Ok(Self {
            kms_key_id,
            kms_region,
            deployment,
        })
    }

    /// The signer's arguments (without the program name): the fixed ones,
    /// then `--kms-key-id`, `--kms-region` and `--deployment`.
    #[must_use]
    pub fn signer_args(&self) -> Vec<String> {
        let mut args: Vec<String> = SIGNER_FIXED_ARGS.iter().map(|a| (*a).to_owned()).collect();
        args.extend([
            "--kms-key-id".to_owned(),
            self.kms_key_id.clone(),
            "--kms-region".to_owned(),
            self.kms_region.clone(),
            "--deployment".to_owned(),
            self.deployment.clone(),
        ]);
        args
    }

    /// The file's canonical text (what `eif/build.sh` writes).
    #[must_use]
    pub fn to_file(&self) -> String {
        format!(
            "kms_key_id={}\nkms_region={}\ndeployment={}\n",
            self.kms_key_id, self.kms_region, self.deployment
        )
    }
}

/// `arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+`
fn is_key_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    let [arn, partition, service, region, account, resource] = parts.as_slice() else {
        return false;
    };
    let Some(partition_tail) = partition.strip_prefix("aws") else {
        return false;
    };
    let Some(key_id) = resource.strip_prefix("key/") else {
        return false;
    };
    *arn == "arn"
        && partition_tail
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-')
        && *service == "kms"
        && !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !key_id.is_empty()
        && key_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// `[a-z]{2}(-[a-z]+)+-[0-9]+`
fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return false;
    };
    parts.len() >= 3
        && first.len() == 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
}

/// `[a-z][a-z0-9-]{1,30}`
fn is_deployment(s: &str) -> bool {
    let bytes = s.as_bytes();
    (2..=31).contains(&bytes.len())
        && bytes.first().is_some_and(u8::is_ascii_lowercase)
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    const ARN: &str = "arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789";

    fn good() -> String {
        format!("# pinned by eif/build.sh\nkms_key_id={ARN}\nkms_region=eu-west-1\n\ndeployment=signet\n")
    }

    #[test]
    fn parses_the_file_build_sh_writes_and_builds_the_command_line() {
        let config = SignerConfig::parse(good().as_bytes()).unwrap();
        assert_eq!(config.kms_key_id, ARN);
        assert_eq!(
            SignerConfig::parse(config.to_file().as_bytes()).unwrap(),
            config
        );
        assert_eq!(
            config.signer_args(),
            [
                "--listen",
                "vsock://5000",
                "--attestation",
                "nsm",
                "--backend",
                "software",
                "--sealing",
                "kms",
                "--secrets",
                "host",
                "--kms-proxy",
                "vsock://3:8000",
                "--kms-key-id",
                ARN,
                "--kms-region",
                "eu-west-1",
                "--deployment",
                "signet",
            ]
        );
        let gov = "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/abc";
        let config = SignerConfig::parse(
            format!("kms_key_id={gov}\nkms_region=us-gov-west-1\ndeployment=s1\n").as_bytes(),
        )
        .unwrap();
        assert_eq!(config.kms_region, "us-gov-west-1");
    }

    #[test]
    fn refuses_an_oversized_file() {
        let big = format!("{}#{}\n", good(), "x".repeat(MAX_CONFIG_LEN));
        assert!(matches!(
            SignerConfig::parse(big.as_bytes()),
            Err(SignerConfigError::TooLarge { .. })
        ));
    }

    #[test]
    fn refuses_non_utf8() {
        let mut bytes = good().into_bytes();
        bytes.push(0xff);
        assert_eq!(SignerConfig::parse(&bytes), Err(SignerConfigError::NotUtf8));
    }

    #[test]
    fn refuses_a_line_without_equals() {
        let text = good().replace("kms_region=eu-west-1", "kms_region eu-west-1");
        assert_eq!(
            SignerConfig::parse(text.as_bytes()),
            Err(SignerConfigError::Malformed { line: 3 })
        );
    }

    #[test]
    fn refuses_an_unknown_key() {
        let text = format!("{}kms_endpoint=localhost:443\n", good());
        assert!(matches!(
            SignerConfig::parse(text.as_bytes()),
            Err(SignerConfigError::UnknownKey { line: 6, key }) if key == "kms_endpoint"
        ));
    }

    #[test]
    fn refuses_a_duplicate_key() {
        let text = format!("{}deployment=other\n", good());
        assert_eq!(
            SignerConfig::parse(text.as_bytes()),
            Err(SignerConfigError::Duplicate {
                line: 6,
                key: "deployment"
            })
        );
    }

    #[test]
    fn refuses_a_missing_key() {
        for key in ["kms_key_id", "kms_region", "deployment"] {
            let text: String = good()
                .lines()
                .filter(|l| !l.starts_with(key))
                .map(|l| format!("{l}\n"))
                .collect();
            assert_eq!(
                SignerConfig::parse(text.as_bytes()),
                Err(SignerConfigError::Missing(key))
            );
        }
    }

    #[test]
    fn refuses_an_alias_or_malformed_arn() {
        for bad in [
            "arn:aws:kms:eu-west-1:123456789012:alias/signet",
            "arn:aws:kms:eu-west-1:12345678901:key/abc",
            "arn:aws:s3:eu-west-1:123456789012:key/abc",
            "arn:aws:kms:eu-west-1:123456789012:key/",
            "arn:aws:kms:eu-west-1:123456789012:key/a b",
            "0a1b2c3d-4e5f-6789-abcd-ef0123456789",
        ] {
            let text = good().replace(ARN, bad);
            assert!(
                matches!(
                    SignerConfig::parse(text.as_bytes()),
                    Err(SignerConfigError::Invalid {
                        key: "kms_key_id",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn refuses_a_malformed_region() {
        for bad in [
            "eu",
            "eu-west",
            "EU-west-1",
            "e-west-1",
            "eu--1",
            "eu-west-x",
        ] {
            let text = good().replace("kms_region=eu-west-1", &format!("kms_region={bad}"));
            assert!(
                matches!(
                    SignerConfig::parse(text.as_bytes()),
                    Err(SignerConfigError::Invalid {
                        key: "kms_region",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn refuses_a_malformed_deployment() {
        for bad in ["x", "Signet", "1signet", "signet prod", &"a".repeat(32)] {
            let text = good().replace("deployment=signet", &format!("deployment={bad}"));
            assert!(
                matches!(
                    SignerConfig::parse(text.as_bytes()),
                    Err(SignerConfigError::Invalid {
                        key: "deployment",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn refuses_a_key_outside_the_region() {
        let text = good().replace("kms_region=eu-west-1", "kms_region=us-east-1");
        assert!(matches!(
            SignerConfig::parse(text.as_bytes()),
            Err(SignerConfigError::RegionMismatch { .. })
        ));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = SignerConfig::parse(&bytes);
        }

        #[test]
        fn never_panics_on_near_misses(
            noise in "[a-z_=:/#\\- \n0-9]{0,200}",
            at in 0usize..200,
        ) {
            let mut text = good();
            let at = at.min(text.len());
            text.insert_str(at, &noise);
            let _ = SignerConfig::parse(text.as_bytes());
        }
    }
}
