//! What a verifier expects of a document: PCRs (required), debug mode, nonce, age.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::document::AttestationDoc;
use crate::error::VerifyError;

/// One set of expected PCR values; a document matches when every listed PCR
/// is present with exactly this value (unlisted PCRs are not checked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcrSet(BTreeMap<u8, Vec<u8>>);

impl PcrSet {
    /// Builds a set; refuses an empty set, an index outside 0..32 and a value
    /// that is not 32, 48 or 64 bytes.
    pub fn new(pcrs: BTreeMap<u8, Vec<u8>>) -> Result<Self, VerifyError> {
        if pcrs.is_empty() {
            return Err(VerifyError::Policy(
                "a PCR set must name at least one PCR".into(),
            ));
        }
        for (index, value) in &pcrs {
            if *index >= 32 {
                return Err(VerifyError::Policy(format!(
                    "PCR index {index} is not in 0..32"
                )));
            }
            if ![32, 48, 64].contains(&value.len()) {
                return Err(VerifyError::Policy(format!(
                    "PCR{index} is {} bytes; PCRs are 48 bytes (SHA-384)",
                    value.len()
                )));
            }
        }
        Ok(Self(pcrs))
    }

    /// Builds a set from `(index, hex)` pairs.
    pub fn from_hex<'a>(
        pairs: impl IntoIterator<Item = (u8, &'a str)>,
    ) -> Result<Self, VerifyError> {
        let mut map = BTreeMap::new();
        for (index, value) in pairs {
            let bytes = hex::decode(value.trim())
                .map_err(|_| VerifyError::Policy(format!("PCR{index} is not hex")))?;
            if map.insert(index, bytes).is_some() {
                return Err(VerifyError::Policy(format!("PCR{index} is given twice")));
            }
        }
        Self::new(map)
    }

    /// Parses a command-line `IDX=HEX` argument into `(index, hex)`.
    pub fn parse_arg(arg: &str) -> Result<(u8, String), VerifyError> {
        let (index, value) = arg
            .split_once('=')
            .ok_or_else(|| VerifyError::Policy(format!("`{arg}` is not IDX=HEX")))?;
        let index = index
            .trim()
            .parse::<u8>()
            .map_err(|_| VerifyError::Policy(format!("`{index}` is not a PCR index")))?;
        Ok((index, value.trim().to_owned()))
    }

    /// The expected values.
    #[must_use]
    pub fn values(&self) -> &BTreeMap<u8, Vec<u8>> {
        &self.0
    }

    fn first_mismatch(&self, doc: &AttestationDoc) -> Option<VerifyError> {
        self.0.iter().find_map(|(index, expected)| {
            let actual = doc.pcrs.get(index);
            (actual != Some(expected)).then(|| VerifyError::PcrMismatch {
                index: *index,
                expected: hex::encode(expected),
                actual: actual.map_or_else(|| "absent".to_owned(), hex::encode),
            })
        })
    }
}

/// Which measurements a verifier accepts. Fail closed by construction: the
/// only ways to build one are to give at least one expected PCR set, or to
/// call the explicitly named [`PcrPolicy::accept_any_measurement_insecure`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcrPolicy(PcrPolicyKind);

#[derive(Clone, Debug, PartialEq, Eq)]
enum PcrPolicyKind {
    AnyOf(Vec<PcrSet>),
    AnyMeasurement,
}

impl PcrPolicy {
    /// Accept a document whose PCRs match this one set.
    #[must_use]
    pub fn exactly(set: PcrSet) -> Self {
        Self(PcrPolicyKind::AnyOf(vec![set]))
    }

    /// Accept a document whose PCRs match any of `sets` (rolling upgrades:
    /// old and new image both allowed). Refuses an empty list.
    pub fn any_of(sets: Vec<PcrSet>) -> Result<Self, VerifyError> {
        if sets.is_empty() {
            return Err(VerifyError::Policy(
                "at least one expected PCR set is required".into(),
            ));
        }
        Ok(Self(PcrPolicyKind::AnyOf(sets)))
    }

    /// Accept any enclave image. Signature, chain, debug mode, nonce and age are
    /// still checked, but nothing ties the document to *your* code: use it only
    /// to inspect an unknown image's chain, never to trust a key.
    #[must_use]
    pub fn accept_any_measurement_insecure() -> Self {
        Self(PcrPolicyKind::AnyMeasurement)
    }

    /// Whether this policy checks measurements at all.
    #[must_use]
    pub fn checks_measurements(&self) -> bool {
        matches!(self.0, PcrPolicyKind::AnyOf(_))
    }

    pub(crate) fn check(&self, doc: &AttestationDoc) -> Result<(), VerifyError> {
        let PcrPolicyKind::AnyOf(sets) = &self.0 else {
            return Ok(());
        };
        let mut mismatches = sets.iter().filter_map(|s| s.first_mismatch(doc));
        match sets.len() {
            1 => mismatches.next().map_or(Ok(()), Err),
            n if mismatches.count() == n => Err(VerifyError::NoPcrSetMatches { sets: n }),
            _ => Ok(()),
        }
    }
}

/// The instant certificates are checked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum VerifyAt {
    /// The verifier's clock.
    #[default]
    Now,
    /// The document's own timestamp (for audits of old documents: the leaf
    /// certificate lives about three hours).
    DocumentTimestamp,
    /// A given Unix time in milliseconds.
    UnixMs(u64),
}

/// How far a document's timestamp may lie ahead of the verifier's clock when a
/// maximum age is enforced.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// A policy file (JSON), as `signet attest verify --policy` and the host's
/// `ATTESTATION_POLICY` read it and `signet-eif` writes it:
///
/// ```json
/// {"root": "aws", "pcr_sets": [{"0": "<96 hex>", "1": "<96 hex>", "2": "<96 hex>"}],
///  "allow_debug": false, "max_age_seconds": 300}
/// ```
///
/// `signet-host dev` writes its signer's as `DATA/attestation-policy.json`
/// (its dev root's path and the signer binary's dev PCRs).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// The trusted root: `"aws"` (the pinned AWS Nitro Enclaves Root-G1, also
    /// when absent) or the path of a PEM file. A root given to the verifier
    /// explicitly (`--root`) wins over it.
    #[serde(default)]
    pub root: Option<String>,
    /// Allowed PCR sets, PCR index (as a string) to hex value.
    pub pcr_sets: Vec<BTreeMap<String, String>>,
    /// Accept debug-mode documents.
    #[serde(default)]
    pub allow_debug: bool,
    /// Refuse documents older than this.
    #[serde(default)]
    pub max_age_seconds: Option<u64>,
}

impl PolicyFile {
    /// Parses the JSON form.
    pub fn from_json(json: &str) -> Result<Self, VerifyError> {
        serde_json::from_str(json).map_err(|e| VerifyError::Policy(format!("policy file: {e}")))
    }

    /// The PCR policy the file describes (refuses an empty list of sets).
    pub fn pcr_policy(&self) -> Result<PcrPolicy, VerifyError> {
        let sets = self
            .pcr_sets
            .iter()
            .map(|set| {
                let pairs = set
                    .iter()
                    .map(|(index, value)| {
                        index
                            .parse::<u8>()
                            .map(|i| (i, value.as_str()))
                            .map_err(|_| {
                                VerifyError::Policy(format!("`{index}` is not a PCR index"))
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                PcrSet::from_hex(pairs)
            })
            .collect::<Result<Vec<_>, _>>()?;
        PcrPolicy::any_of(sets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc_with(pcrs: &[(u8, u8)]) -> AttestationDoc {
        AttestationDoc {
            module_id: "dev-x".into(),
            digest: "SHA384".into(),
            timestamp_ms: 1,
            pcrs: pcrs.iter().map(|(i, b)| (*i, vec![*b; 48])).collect(),
            certificate: vec![1],
            cabundle: vec![vec![1]],
            public_key: None,
            user_data: None,
            nonce: None,
        }
    }

    fn set(pcrs: &[(u8, u8)]) -> PcrSet {
        PcrSet::new(pcrs.iter().map(|(i, b)| (*i, vec![*b; 48])).collect()).unwrap()
    }

    #[test]
    fn empty_policies_are_refused() {
        assert!(PcrSet::new(BTreeMap::new()).is_err());
        assert!(PcrPolicy::any_of(vec![]).is_err());
        assert!(PcrSet::new([(40u8, vec![0; 48])].into()).is_err());
        assert!(PcrSet::new([(0u8, vec![0; 47])].into()).is_err());
        assert!(PcrSet::from_hex([(0u8, "zz")]).is_err());
    }

    #[test]
    fn single_set_reports_the_mismatching_pcr() {
        let doc = doc_with(&[(0, 1), (1, 2), (2, 3)]);
        assert!(PcrPolicy::exactly(set(&[(0, 1), (2, 3)]))
            .check(&doc)
            .is_ok());
        let err = PcrPolicy::exactly(set(&[(0, 1), (2, 4)]))
            .check(&doc)
            .unwrap_err();
        assert!(matches!(err, VerifyError::PcrMismatch { index: 2, .. }));
        let err = PcrPolicy::exactly(set(&[(8, 1)])).check(&doc).unwrap_err();
        assert!(
            matches!(err, VerifyError::PcrMismatch { index: 8, ref actual, .. } if actual == "absent")
        );
    }

    #[test]
    fn any_of_several_sets() {
        let doc = doc_with(&[(0, 1), (1, 2), (2, 3)]);
        let policy = PcrPolicy::any_of(vec![set(&[(0, 9)]), set(&[(0, 1)])]).unwrap();
        assert!(policy.check(&doc).is_ok());
        let policy = PcrPolicy::any_of(vec![set(&[(0, 9)]), set(&[(0, 8)])]).unwrap();
        assert_eq!(
            policy.check(&doc),
            Err(VerifyError::NoPcrSetMatches { sets: 2 })
        );
    }

    #[test]
    fn policy_file_parses_and_refuses_unknown_fields() {
        let pcr = "ab".repeat(48);
        let json = format!(r#"{{"pcr_sets":[{{"0":"{pcr}"}}],"max_age_seconds":5}}"#);
        let file = PolicyFile::from_json(&json).unwrap();
        assert_eq!(file.max_age_seconds, Some(5));
        assert_eq!(file.root, None);
        let json = format!(r#"{{"root":"/d/dev-root.pem","pcr_sets":[{{"0":"{pcr}"}}]}}"#);
        assert_eq!(
            PolicyFile::from_json(&json).unwrap().root.as_deref(),
            Some("/d/dev-root.pem")
        );
        assert!(file.pcr_policy().unwrap().checks_measurements());
        assert!(PolicyFile::from_json(r#"{"pcr_sets":[],"pcrs":{}}"#).is_err());
        assert!(PolicyFile::from_json(r#"{"pcr_sets":[]}"#)
            .unwrap()
            .pcr_policy()
            .is_err());
        assert!(PcrSet::parse_arg("x=00").is_err());
        assert_eq!(PcrSet::parse_arg("8=ab").unwrap(), (8, "ab".into()));
    }
}
