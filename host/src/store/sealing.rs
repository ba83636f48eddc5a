//! Sealing key versions (their KMS `CiphertextBlob`s) and the rotation
//! state: one SQL text for both dialects.

use sqlx::any::AnyRow;
use sqlx::Row as _;

use super::{i64_of, u64_col, Store, StoreError};
use crate::domain::{RecordedBackup, Rotation, RotationPhase, SealingVersion, VersionState};

/// A live wallet's sealed blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedBlob {
    /// Wallet id.
    pub id: String,
    /// Its public key.
    pub public_key: Vec<u8>,
    /// The blob (CBOR).
    pub sealed: Vec<u8>,
    /// The wallet's record (`None`: from before records).
    pub record: Option<String>,
}

fn u32_col(r: &AnyRow, i: usize) -> Result<u32, StoreError> {
    let v = u64_col(r, i)?;
    u32::try_from(v).map_err(|_| StoreError::corrupt("sealing version", v.to_string()))
}

/// A nullable time column (Unix ms); negative is corrupt.
fn opt_u64_col(r: &AnyRow, i: usize) -> Result<Option<u64>, StoreError> {
    r.try_get::<Option<i64>, _>(i)?
        .map(|v| {
            u64::try_from(v).map_err(|_| StoreError::corrupt("time", format!("{v} in column {i}")))
        })
        .transpose()
}

fn sealing_key_from_row(r: &AnyRow) -> Result<SealingVersion, StoreError> {
    let state: String = r.try_get(3)?;
    let held_by: Option<String> = r.try_get(9)?;
    let held_by = match (held_by, opt_u64_col(r, 10)?) {
        (None, _) => None,
        (Some(sha256), Some(taken_at_ms)) => Some(RecordedBackup {
            sha256,
            taken_at_ms,
        }),
        // The holding backup is always recorded before a version is held.
        (Some(sha256), None) => {
            return Err(StoreError::corrupt(
                "sealing version held by an unrecorded backup",
                sha256,
            ))
        }
    };
    Ok(SealingVersion {
        version: u32_col(r, 0)?,
        kms_key_id: r.try_get(1)?,
        ciphertext_blob: r.try_get(2)?,
        key_check: r.try_get(6)?,
        state: VersionState::parse(&state)
            .ok_or_else(|| StoreError::corrupt("sealing version state", state))?,
        created_at_ms: u64_col(r, 4)?,
        retired_at_ms: opt_u64_col(r, 5)?,
        superseded_at_ms: opt_u64_col(r, 7)?,
        retire_after_ms: opt_u64_col(r, 8)?,
        held_by,
    })
}

impl Store {
    /// Every sealing key version, ascending (a held one with the backup
    /// that holds it).
    pub async fn sealing_keys(&self) -> Result<Vec<SealingVersion>, StoreError> {
        let rows = sqlx::query("SELECT k.version, k.kms_key_id, k.ciphertext_blob, k.state, k.created_at, k.retired_at, k.key_check, k.superseded_at, k.retire_after, k.held_by, b.taken_at FROM sealing_keys k LEFT JOIN backups b ON b.sha256 = k.held_by ORDER BY k.version")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(sealing_key_from_row).collect()
    }

    /// Stores a new version; false if it exists already (another replica).
    pub async fn insert_sealing_key(
        &self,
        version: u32,
        kms_key_id: &str,
        ciphertext_blob: &[u8],
        key_check: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("INSERT INTO sealing_keys (version, kms_key_id, ciphertext_blob, state, created_at, key_check) VALUES ($1, $2, $3, 'active', $4, $5) ON CONFLICT (version) DO NOTHING")
            .bind(i64::from(version))
            .bind(kms_key_id)
            .bind(ciphertext_blob.to_vec())
            .bind(i64_of(signet_proto::time::now_ms()))
            .bind(key_check.map(<[u8]>::to_vec))
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(done == 1)
    }

    /// Retires a version: its blob is deleted and it is never handed to a
    /// signer again. False if it was retired already (by another replica).
    pub async fn retire_sealing_key(&self, version: u32) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE sealing_keys SET state = 'retired', ciphertext_blob = NULL, retired_at = $2, retire_after = NULL, held_by = NULL WHERE version = $1 AND state <> 'retired'")
            .bind(i64::from(version))
            .bind(i64_of(signet_proto::time::now_ms()))
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(done == 1)
    }

    /// Records when the rotation away from `version` finished re-sealing
    /// (`at`, Unix ms), unless recorded already (a resumed rotation keeps
    /// the first time).
    pub async fn supersede_sealing_key(&self, version: u32, at: u64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sealing_keys SET superseded_at = $2 WHERE version = $1 AND superseded_at IS NULL",
        )
        .bind(i64::from(version))
        .bind(i64_of(at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Holds `version` (its blob kept, signers still unseal it) until
    /// `retire_after` (Unix ms) for the recorded backup `by`. False if it
    /// is retired (a retired version never comes back).
    pub async fn hold_sealing_key(
        &self,
        version: u32,
        retire_after: u64,
        by: &RecordedBackup,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE sealing_keys SET state = 'held', retire_after = $2, held_by = $3 WHERE version = $1 AND state <> 'retired'")
            .bind(i64::from(version))
            .bind(i64_of(retire_after))
            .bind(by.sha256.clone())
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(done == 1)
    }

    /// Live wallets without a record (from before records), in id order
    /// after `after`: id, key type, public key.
    pub async fn wallets_without_record(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<Vec<(String, String, Vec<u8>)>, StoreError> {
        let rows = sqlx::query("SELECT id, key_type, public_key FROM wallets WHERE destroyed_at IS NULL AND record IS NULL AND id > $1 ORDER BY id LIMIT $2")
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// Writes the record of a wallet from before records, if it still has
    /// none: whether it was written.
    pub async fn set_missing_record(&self, id: &str, record: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE wallets SET record = $2 WHERE id = $1 AND record IS NULL")
            .bind(id)
            .bind(record)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Live wallets with a sealed blob, in id order after `after`.
    pub async fn sealed_wallets(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<Vec<SealedBlob>, StoreError> {
        let rows = sqlx::query("SELECT id, public_key, sealed, record FROM wallets WHERE destroyed_at IS NULL AND sealed IS NOT NULL AND id > $1 ORDER BY id LIMIT $2")
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(SealedBlob {
                    id: r.try_get(0)?,
                    public_key: r.try_get(1)?,
                    sealed: r.try_get(2)?,
                    record: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// Replaces a wallet's blob if it still is `old` (and the wallet is
    /// live); false otherwise (destroyed, or changed meanwhile).
    pub async fn replace_sealed(
        &self,
        id: &str,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE wallets SET sealed = $3 WHERE id = $1 AND sealed = $2 AND destroyed_at IS NULL",
        )
        .bind(id)
        .bind(old.to_vec())
        .bind(new.to_vec())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    /// The rotation's state, if one ever started.
    pub async fn rotation(&self) -> Result<Option<Rotation>, StoreError> {
        let row = sqlx::query("SELECT from_version, to_version, phase, cursor, resealed, verified, started_at, updated_at, error FROM sealing_rotation WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let phase: String = r.try_get(2)?;
            Ok(Rotation {
                from_version: u32_col(&r, 0)?,
                to_version: u32_col(&r, 1)?,
                phase: RotationPhase::parse(&phase)
                    .ok_or_else(|| StoreError::corrupt("rotation phase", phase))?,
                cursor: r.try_get(3)?,
                resealed: u64_col(&r, 4)?,
                verified: u64_col(&r, 5)?,
                started_at_ms: u64_col(&r, 6)?,
                updated_at_ms: u64_col(&r, 7)?,
                error: r.try_get(8)?,
            })
        })
        .transpose()
    }

    /// Writes the rotation's state.
    pub async fn save_rotation(&self, row: &Rotation) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sealing_rotation (id, from_version, to_version, phase, cursor, resealed, verified, started_at, updated_at, error) VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO UPDATE SET from_version = excluded.from_version, to_version = excluded.to_version, phase = excluded.phase, cursor = excluded.cursor, resealed = excluded.resealed, verified = excluded.verified, started_at = excluded.started_at, updated_at = excluded.updated_at, error = excluded.error")
            .bind(i64::from(row.from_version))
            .bind(i64::from(row.to_version))
            .bind(row.phase.as_str())
            .bind(row.cursor.clone())
            .bind(i64_of(row.resealed))
            .bind(i64_of(row.verified))
            .bind(i64_of(row.started_at_ms))
            .bind(i64_of(row.updated_at_ms))
            .bind(row.error.clone())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
