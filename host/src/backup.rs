//! `signet-host admin backup` and `admin restore`: a consistent backup
//! while the hosts serve, with a manifest of what it holds; a restore into
//! an empty database that checks the file against its manifest first and,
//! with `--verify`, re-verifies the audit chain, compares every count and
//! has the signer unseal every wallet.
//!
//! A backup is two files: `FILE` (SQLite: a database file; PostgreSQL: a
//! `pg_dump` custom archive) and `FILE.manifest.json`. Keep them together.
//! Neither holds a private key in the clear: sealed blobs open only inside
//! an attested signer of the deployment (docs/RUNBOOK.md, "Backup and
//! restore").

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use signet_proto::audit::ChainVerifier;
use signet_proto::time::{now_ms, rfc3339_ms};

use crate::store::backup::{BackupError, Counts};
use crate::store::Store;

/// The manifest's format version.
const FORMAT: u32 = 1;

/// What a backup holds, written beside it as `FILE.manifest.json`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// 1.
    pub format: u32,
    /// `sqlite` or `postgres`: a backup restores into the same kind.
    pub dialect: String,
    /// When it was taken (RFC 3339).
    pub taken_at: String,
    /// SHA-256 (hex) of the backup file.
    pub sha256: String,
    /// What it holds, counted in the snapshot it was taken from.
    pub counts: Counts,
}

/// The manifest's path for backup `file`.
#[must_use]
pub fn manifest_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".manifest.json");
    PathBuf::from(name)
}

fn sha256_file(path: &Path) -> Result<String, BackupError> {
    let mut file = std::fs::File::open(path).map_err(|source| BackupError::File {
        path: path.display().to_string(),
        source,
    })?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|source| BackupError::File {
        path: path.display().to_string(),
        source,
    })?;
    Ok(hex::encode(hasher.finalize()))
}

/// Takes a backup of the database at `url` into `out` (and its manifest),
/// consistent while the hosts keep writing.
///
/// # Errors
/// When `out` exists, the database or `pg_dump` fails, or a file cannot be
/// written.
pub async fn backup(url: &str, out: &Path) -> Result<Manifest, BackupError> {
    let manifest_file = manifest_path(out);
    if manifest_file.exists() {
        return Err(BackupError::Refused(format!(
            "{} exists: a backup never overwrites a file",
            manifest_file.display()
        )));
    }
    let store = Store::open(url).await?;
    let taken_at = now_ms();
    let counts = store.backup_to(url, out).await?;
    let manifest = Manifest {
        format: FORMAT,
        dialect: store.dialect().as_str().to_owned(),
        taken_at: rfc3339_ms(taken_at),
        sha256: sha256_file(out)?,
        counts,
    };
    let text = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| BackupError::Refused(format!("manifest: {e}")))?;
    std::fs::write(&manifest_file, text).map_err(|source| BackupError::File {
        path: manifest_file.display().to_string(),
        source,
    })?;
    // Recorded once both files are written (so not in the backup itself).
    store
        .record_backup(&manifest.sha256, taken_at, &manifest.counts)
        .await?;
    store.close().await;
    Ok(manifest)
}

/// Reads the manifest of backup `file` and checks the file against it.
///
/// # Errors
/// A missing or unreadable manifest, another format, or a file whose
/// SHA-256 differs (corrupt or altered).
pub fn checked_manifest(file: &Path) -> Result<Manifest, BackupError> {
    let path = manifest_path(file);
    let text = std::fs::read(&path).map_err(|source| BackupError::File {
        path: path.display().to_string(),
        source,
    })?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| BackupError::Refused(format!("{}: {e}", path.display())))?;
    if manifest.format != FORMAT {
        return Err(BackupError::Refused(format!(
            "{}: format {} (this build reads {FORMAT})",
            path.display(),
            manifest.format
        )));
    }
    let actual = sha256_file(file)?;
    if actual != manifest.sha256 {
        return Err(BackupError::Refused(format!(
            "{} does not match its manifest (SHA-256 {actual}, the manifest says {}): the file is corrupt or was altered",
            file.display(),
            manifest.sha256
        )));
    }
    Ok(manifest)
}

/// What a restore's `--verify` found.
#[derive(Clone, Debug, Default)]
pub struct Verified {
    /// Audit events whose chain was re-verified.
    pub audit_events: u64,
    /// The restored counts (equal to the manifest's, or the restore fails).
    pub counts: Counts,
}

/// Restores backup `from` (checked against its manifest first) into the
/// empty database at `url`, then opens it (applying newer migrations).
///
/// # Errors
/// A corrupt backup, another dialect, a target that is not empty, or the
/// database's or `pg_restore`'s failure.
pub async fn restore(url: &str, from: &Path) -> Result<(Manifest, Store), BackupError> {
    let manifest = checked_manifest(from)?;
    let dialect = crate::store::Dialect::of(url)
        .map_err(crate::store::StoreError::from)?
        .as_str();
    if manifest.dialect != dialect {
        return Err(BackupError::Refused(format!(
            "this is a {} backup; SIGNET_DATABASE_URL is {dialect}",
            manifest.dialect
        )));
    }
    crate::store::backup::restore(url, from).await?;
    let store = Store::open(url).await?;
    Ok((manifest, store))
}

/// Re-verifies the restored audit chain from its first event and compares
/// what the database holds with the manifest.
///
/// # Errors
/// A broken chain (naming the first bad event) or a count that differs.
pub async fn verify(store: &Store, manifest: &Manifest) -> Result<Verified, BackupError> {
    let mut chain = ChainVerifier::default();
    let mut after = 0;
    loop {
        let page = store.audit(after, 1000, None, &Default::default()).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.seq;
        for event in &page {
            chain.push(event).map_err(|e| {
                BackupError::Refused(format!("the restored audit chain is broken: {e}"))
            })?;
        }
    }
    let counts = store.counts().await?;
    let expected = &manifest.counts;
    let mut differs = Vec::new();
    for (what, want, got) in [
        ("wallets", expected.wallets, counts.wallets),
        ("live wallets", expected.live_wallets, counts.live_wallets),
        ("API clients", expected.api_clients, counts.api_clients),
        ("audit events", expected.audit_events, counts.audit_events),
        (
            "consumed tickets",
            expected.consumed_tickets,
            counts.consumed_tickets,
        ),
        (
            "sealing key versions",
            expected.sealing_versions,
            counts.sealing_versions,
        ),
    ] {
        if want != got {
            differs.push(format!(
                "{what}: the backup holds {want}, the database {got}"
            ));
        }
    }
    let head_differs = expected.audit_events > 0 && chain.head() != expected.audit_head_hash;
    if chain.checked() != expected.audit_events || head_differs {
        differs.push(format!(
            "audit chain: {} events up to {}, the backup's head is event {} ({})",
            chain.checked(),
            chain.head(),
            expected.audit_head_seq,
            expected.audit_head_hash
        ));
    }
    if !differs.is_empty() {
        return Err(BackupError::Refused(format!(
            "the restored database differs from the backup: {}",
            differs.join("; ")
        )));
    }
    Ok(Verified {
        audit_events: chain.checked(),
        counts,
    })
}
