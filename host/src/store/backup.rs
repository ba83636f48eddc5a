//! Consistent backups while serving, and restores into an empty database.
//!
//! SQLite: `VACUUM INTO` writes a consistent copy of the database as one
//! transaction sees it (other connections keep writing). PostgreSQL:
//! `pg_dump --format=custom` reading the snapshot of a repeatable-read
//! transaction that also counts what the backup holds, so the counts are
//! those of the dump exactly. Restores: the SQLite file is copied into
//! place; `pg_restore` loads the dump in one transaction.

use std::path::Path;
use std::process::Command;

use sqlx::{AnyConnection, Connection as _, Row as _};

use super::{Dialect, Store, StoreError};

/// What a backup holds, counted in the snapshot it was taken from.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// Wallet rows (destroyed ones included).
    pub wallets: u64,
    /// Wallets not destroyed.
    pub live_wallets: u64,
    /// API clients (revoked ones included).
    pub api_clients: u64,
    /// Audit events.
    pub audit_events: u64,
    /// The last audit event's seq (0 when empty).
    pub audit_head_seq: u64,
    /// Its hash (empty when empty).
    pub audit_head_hash: String,
    /// Consumed tickets still remembered (replays stay refused after a
    /// restore).
    pub consumed_tickets: u64,
    /// Sealing key versions stored.
    pub sealing_versions: u64,
}

/// Why a backup or a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The database refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file could not be written or read.
    #[error("{path}: {source}")]
    File {
        /// Which file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `pg_dump` / `pg_restore` failed or is missing.
    #[error("{0}")]
    Tool(String),
    /// The target of a restore is not empty, or the backup is unusable.
    #[error("{0}")]
    Refused(String),
}

fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::File {
        path: path.display().to_string(),
        source,
    }
}

const COUNTS: &str = "SELECT \
    (SELECT COUNT(*) FROM wallets), \
    (SELECT COUNT(*) FROM wallets WHERE destroyed_at IS NULL), \
    (SELECT COUNT(*) FROM api_clients), \
    (SELECT COUNT(*) FROM audit_events), \
    (SELECT COALESCE(MAX(seq), 0) FROM audit_events), \
    (SELECT COALESCE((SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1), '')), \
    (SELECT COUNT(*) FROM consumed_tickets), \
    (SELECT COUNT(*) FROM sealing_keys)";

async fn counts_on(conn: &mut AnyConnection) -> Result<Counts, StoreError> {
    let r = sqlx::query(COUNTS).fetch_one(&mut *conn).await?;
    let n = |i: usize| -> Result<u64, StoreError> {
        let v: i64 = r.try_get(i)?;
        u64::try_from(v).map_err(|_| StoreError::corrupt("count", v.to_string()))
    };
    Ok(Counts {
        wallets: n(0)?,
        live_wallets: n(1)?,
        api_clients: n(2)?,
        audit_events: n(3)?,
        audit_head_seq: n(4)?,
        audit_head_hash: r.try_get(5)?,
        consumed_tickets: n(6)?,
        sealing_versions: n(7)?,
    })
}

/// A PostgreSQL URL split for libpq tools: the URL without its password
/// (it would show in the process list) and the password (for `PGPASSWORD`).
fn libpq_target(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return (url.to_owned(), None);
    };
    let Some((user, password)) = userinfo.split_once(':') else {
        return (url.to_owned(), None);
    };
    let password = percent_decode(password);
    (format!("{scheme}://{user}@{host}{tail}"), Some(password))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() + 1 {
            if let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs a libpq tool (`pg_dump`, `pg_restore`) against `url`.
fn run_pg_tool(tool: &str, url: &str, args: &[&str]) -> Result<(), BackupError> {
    let (target, password) = libpq_target(url);
    let mut cmd = Command::new(tool);
    cmd.args(args).arg(format!("--dbname={target}"));
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let out = cmd.output().map_err(|e| {
        BackupError::Tool(format!(
            "cannot run {tool} ({e}): install PostgreSQL's client tools (Debian: postgresql-client) at least as new as the server"
        ))
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(BackupError::Tool(format!(
            "{tool} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl Store {
    /// Records a backup once written (`taken_at` in ms): the hosts export
    /// the latest as `signet_last_backup_timestamp_seconds`.
    pub async fn record_backup(
        &self,
        sha256: &str,
        taken_at: u64,
        counts: &Counts,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO backups (sha256, taken_at, wallets, audit_head) VALUES ($1, $2, $3, $4) ON CONFLICT (sha256) DO NOTHING")
            .bind(sha256)
            .bind(super::i64_of(taken_at))
            .bind(super::i64_of(counts.wallets))
            .bind(super::i64_of(counts.audit_head_seq))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// When the latest recorded backup was taken (ms), if any.
    pub async fn last_backup_at(&self) -> Result<Option<u64>, StoreError> {
        let r = sqlx::query("SELECT MAX(taken_at) FROM backups")
            .fetch_one(&self.pool)
            .await?;
        let at: Option<i64> = r.try_get(0)?;
        Ok(at.and_then(|v| u64::try_from(v).ok()))
    }

    /// The recorded backups taken at or after `since` (Unix ms), oldest
    /// first: those that may still need a sealing key version.
    pub async fn recorded_backups(
        &self,
        since: u64,
    ) -> Result<Vec<crate::domain::RecordedBackup>, StoreError> {
        let rows = sqlx::query(
            "SELECT sha256, taken_at FROM backups WHERE taken_at >= $1 ORDER BY taken_at, sha256",
        )
        .bind(super::i64_of(since))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(crate::domain::RecordedBackup {
                    sha256: r.try_get(0)?,
                    taken_at_ms: super::u64_col(r, 1)?,
                })
            })
            .collect()
    }

    /// What the database holds now (the figures a backup records).
    pub async fn counts(&self) -> Result<Counts, StoreError> {
        let mut conn = self.pool.acquire().await?;
        counts_on(&mut conn).await
    }

    /// Writes a consistent backup of the whole database to `out` (which
    /// must not exist) while the hosts keep serving, and returns what it
    /// holds, counted in the same snapshot.
    pub async fn backup_to(&self, url: &str, out: &Path) -> Result<Counts, BackupError> {
        if out.exists() {
            return Err(BackupError::Refused(format!(
                "{} exists: a backup never overwrites a file",
                out.display()
            )));
        }
        match self.dialect {
            Dialect::Sqlite => {
                let path = out.to_str().ok_or_else(|| {
                    BackupError::Refused(format!("{}: not a UTF-8 path", out.display()))
                })?;
                sqlx::query("VACUUM INTO $1")
                    .bind(path)
                    .execute(&self.pool)
                    .await
                    .map_err(StoreError::from)?;
                // Counted in the copy itself: exactly what it holds.
                let copy = format!("sqlite://{path}?mode=ro");
                let mut conn = AnyConnection::connect(&copy)
                    .await
                    .map_err(StoreError::from)?;
                let counts = counts_on(&mut conn).await?;
                conn.close().await.map_err(StoreError::from)?;
                Ok(counts)
            }
            Dialect::Postgres => {
                let mut conn = self.pool.acquire().await.map_err(StoreError::from)?;
                sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *conn)
                    .await
                    .map_err(StoreError::from)?;
                let result = async {
                    let snapshot: String = sqlx::query("SELECT pg_export_snapshot()")
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(StoreError::from)?
                        .try_get(0)
                        .map_err(StoreError::from)?;
                    let counts = counts_on(&mut conn).await?;
                    let out_arg = format!("--file={}", out.display());
                    let snapshot_arg = format!("--snapshot={snapshot}");
                    let url = url.to_owned();
                    tokio::task::spawn_blocking(move || {
                        run_pg_tool(
                            "pg_dump",
                            &url,
                            &[
                                "--format=custom",
                                "--no-owner",
                                "--no-privileges",
                                &snapshot_arg,
                                &out_arg,
                            ],
                        )
                    })
                    .await
                    .map_err(|e| BackupError::Tool(format!("pg_dump: {e}")))??;
                    Ok::<_, BackupError>(counts)
                }
                .await;
                // Read-only: ending it changes nothing either way.
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                result
            }
        }
    }
}

/// Restores the backup `from` into the empty database of `url`: for
/// SQLite, `url`'s file must not exist (or be empty); for PostgreSQL, its
/// schema must hold no table. Open the store afterwards (it applies the
/// migrations newer than the backup).
///
/// # Errors
/// [`BackupError::Refused`] for a target that is not empty.
pub async fn restore(url: &str, from: &Path) -> Result<(), BackupError> {
    std::fs::metadata(from).map_err(file_error(from))?;
    match Dialect::of(url).map_err(StoreError::from)? {
        Dialect::Sqlite => {
            let path = super::sqlite::file_path(url).ok_or_else(|| {
                BackupError::Refused(format!("restore needs a file database, not {url}"))
            })?;
            let path = Path::new(&path);
            if std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
                return Err(BackupError::Refused(format!(
                    "{} exists: restore only into an empty database (move it aside first)",
                    path.display()
                )));
            }
            std::fs::copy(from, path).map_err(file_error(path))?;
            Ok(())
        }
        Dialect::Postgres => {
            super::install_drivers();
            let mut conn = AnyConnection::connect(url)
                .await
                .map_err(StoreError::from)?;
            let tables: i64 = sqlx::query(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()",
            )
            .fetch_one(&mut conn)
            .await
            .map_err(StoreError::from)?
            .try_get(0)
            .map_err(StoreError::from)?;
            conn.close().await.map_err(StoreError::from)?;
            if tables > 0 {
                return Err(BackupError::Refused(format!(
                    "the database holds {tables} tables: restore only into an empty database (createdb a new one)"
                )));
            }
            let file = from.display().to_string();
            let url = url.to_owned();
            tokio::task::spawn_blocking(move || {
                run_pg_tool(
                    "pg_restore",
                    &url,
                    &[
                        "--no-owner",
                        "--no-privileges",
                        "--exit-on-error",
                        "--single-transaction",
                        &file,
                    ],
                )
            })
            .await
            .map_err(|e| BackupError::Tool(format!("pg_restore: {e}")))?
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_url_for_pgpassword() {
        assert_eq!(
            libpq_target("postgres://signet:s%40cret@db.internal:5432/signet?sslmode=verify-full"),
            (
                "postgres://signet@db.internal:5432/signet?sslmode=verify-full".to_owned(),
                Some("s@cret".to_owned())
            )
        );
        assert_eq!(
            libpq_target("postgres://postgres@127.0.0.1:5432/x"),
            ("postgres://postgres@127.0.0.1:5432/x".to_owned(), None)
        );
        assert_eq!(libpq_target("postgres://127.0.0.1/x").1, None);
    }
}
