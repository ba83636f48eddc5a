//! Storage: one interface over SQLite (the embedded default) and PostgreSQL
//! (several replicas share it). One schema, migrations per dialect, run at
//! start. Reads go through a pool; every audited write goes through the
//! [`Journal`], which batches writes into one transaction each and appends
//! their audit events to the hash chain in that transaction, reading the
//! chain head inside it (never caching it), so other replicas and the
//! `admin` commands can write to the same database at any time.
//!
//! SQL is written once for both dialects (`$N` parameters, but anonymous `?`
//! in the multi-row `VALUES` lists on SQLite; `RETURNING`,
//! `ON CONFLICT`) through sqlx's `Any` driver; what differs (locking, pragmas,
//! migrations, shredding) lives in `sqlite.rs` and `postgres.rs`.

pub mod backup;
mod journal;
mod sealing;
mod users;
pub use sealing::SealedBlob;
pub use users::{ChallengeRow, NewChallenge, SessionState, Verified};
mod postgres;
mod sqlite;

use std::sync::{Arc, Once};

use signet_proto::audit::AuditEvent;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyConnection, AnyPool, Connection as _, Row as _};

pub use journal::{Journal, NewEvent, WriteOp};

use crate::domain::{
    ApiClient, Approval, Decided, Freeze, FreezeScope, Intent, Owner, ProposalStage,
    RecordProposal, Replica, Wallet,
};

/// A storage failure. Details go to the log, never to API clients.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed a statement, or the connection broke.
    #[error("database: {0}")]
    Database(#[source] Arc<sqlx::Error>),
    /// SQLite failed the journal: opening its connection, or a statement.
    #[error("database: {0}")]
    Sqlite(#[source] Arc<rusqlite::Error>),
    /// The journal's thread could not be started.
    #[error("starting the journal: {0}")]
    Thread(#[source] Arc<std::io::Error>),
    /// A stored value this build cannot read (corrupt, or written by a
    /// newer version).
    #[error("corrupt {what} in the database: {detail}")]
    Corrupt {
        /// Which value.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// `SIGNET_DATABASE_URL` names no supported database.
    #[error("SIGNET_DATABASE_URL {0}")]
    Url(#[from] UrlError),
    /// The journal's writer is gone (the process is stopping).
    #[error("the journal stopped")]
    JournalStopped,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(Arc::new(e))
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(Arc::new(e))
    }
}

impl StoreError {
    /// A corrupt stored value.
    pub fn corrupt(what: &'static str, detail: impl Into<String>) -> Self {
        Self::Corrupt {
            what,
            detail: detail.into(),
        }
    }
}

/// Why a database URL is refused.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Neither SQLite nor PostgreSQL.
    #[error("must be sqlite://PATH or postgres://USER@HOST/DB")]
    Unsupported,
    /// The driver could not parse it.
    #[error("{0}")]
    Malformed(#[source] Arc<sqlx::Error>),
    /// An in-memory SQLite database: each connection would have its own,
    /// and the journal and the readers must share one file.
    #[error("must name a SQLite file (sqlite://PATH), not an in-memory database")]
    InMemory,
}

/// Which database the URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// `sqlite://PATH`: one file, one writing host (plus the `admin` commands).
    Sqlite,
    /// `postgres://…`: shared by host replicas.
    Postgres,
}

impl Dialect {
    /// The dialect of `url`, or why it is not supported.
    pub fn of(url: &str) -> Result<Self, UrlError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(UrlError::Unsupported)
        }
    }

    /// `sqlite` or `postgres`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }

    /// Schema versions for this dialect, applied in order, each once.
    fn migrations(self) -> &'static [(i64, &'static str)] {
        match self {
            Self::Sqlite => sqlite::MIGRATIONS,
            Self::Postgres => postgres::MIGRATIONS,
        }
    }
}

/// What one pruning pass removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Expired sign intents (and their Ed25519 messages).
    pub intents: u64,
    /// Record proposals whose authorization expired before the owners
    /// approved them, or whose held change was lost a day ago.
    pub proposals: u64,
    /// Consumed tickets past their expiry.
    pub tickets: u64,
    /// Rate-limit windows that ended.
    pub rate_windows: u64,
}

/// A request waiting for a second operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfirmationRow {
    /// `cf_…`.
    pub id: String,
    /// The action, as JSON.
    pub action: String,
    /// The requesting operator (`client:<id>`).
    pub requested_by: String,
    /// Unix ms.
    pub created_at: u64,
    /// Unix ms.
    pub expires_at: u64,
    /// Who confirmed it, once confirmed.
    pub confirmed_by: Option<String>,
}

/// What `GET /v1/audit` filters by (exact values; `outcome` also matches
/// `outcome:<code>`; `since` inclusive, `until` exclusive, both RFC 3339 as
/// the log writes them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// `action`.
    pub action: Option<String>,
    /// `actor`.
    pub actor: Option<String>,
    /// `target`.
    pub target: Option<String>,
    /// `ok`, `denied`, `error`, or one with its code (`denied:scope_denied`).
    pub outcome: Option<String>,
    /// From (`at >=`).
    pub since: Option<String>,
    /// Until (`at <`).
    pub until: Option<String>,
}

/// The database: a read pool and the journal (the only audited writer).
#[derive(Clone)]
pub struct Store {
    dialect: Dialect,
    pool: AnyPool,
    journal: Journal,
}

pub(crate) fn install_drivers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

/// Connection options for `url`: SQLite files are created if missing.
fn connect_options(dialect: Dialect, url: &str) -> Result<AnyConnectOptions, StoreError> {
    install_drivers();
    let url = match dialect {
        Dialect::Sqlite => sqlite::normalize_url(url),
        Dialect::Postgres => url.to_owned(),
    };
    url.parse::<AnyConnectOptions>()
        .map_err(|e| StoreError::Url(UrlError::Malformed(Arc::new(e))))
}

/// Runs statements without parameters (several in one trip). Through the
/// executor's method: `RawSql::execute` trips a rustc limitation in spawned
/// tasks (sqlx issue 3150).
async fn exec_raw(conn: &mut AnyConnection, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::Executor::execute(conn, sqlx::raw_sql(sql)).await?;
    Ok(())
}

/// The database file of a `sqlite://PATH` URL, as sqlx reads it
/// (percent-decoded), and whether the URL opens it read-only (`mode=ro`).
/// An in-memory database (`:memory:`, `mode=memory`) is refused: the
/// journal and the readers must share the file.
fn sqlite_file(url: &str) -> Result<sqlite::JournalFile, StoreError> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let mode = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("mode="))
        .unwrap_or("rwc");
    if sqlite::file_path(url).is_none() || mode == "memory" {
        return Err(StoreError::Url(UrlError::InMemory));
    }
    let options: sqlx::sqlite::SqliteConnectOptions = sqlite::normalize_url(url)
        .parse()
        .map_err(|e| StoreError::Url(UrlError::Malformed(Arc::new(e))))?;
    Ok(sqlite::JournalFile {
        path: options.get_filename().to_path_buf(),
        read_only: mode == "ro",
    })
}

/// Opens one connection with the dialect's session settings.
async fn connect(
    dialect: Dialect,
    options: &AnyConnectOptions,
) -> Result<AnyConnection, StoreError> {
    let mut conn = AnyConnection::connect_with(options).await?;
    if let Dialect::Sqlite = dialect {
        exec_raw(&mut conn, sqlite::SESSION_PRAGMAS).await?;
    }
    Ok(conn)
}

impl Store {
    /// Opens (creating a SQLite file if needed) the database at `url`, runs
    /// the migrations it lacks (one migrator at a time across processes) and
    /// starts the journal.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, crate::metrics::StoreMetrics::default()).await
    }

    /// [`open`](Self::open), counting into `metrics`.
    pub async fn open_with(
        url: &str,
        metrics: crate::metrics::StoreMetrics,
    ) -> Result<Self, StoreError> {
        let dialect = Dialect::of(url)?;
        let options = connect_options(dialect, url)?;
        // The SQLite journal's file, checked before anything opens it.
        let journal_file = match dialect {
            Dialect::Sqlite => Some(sqlite_file(url)?),
            Dialect::Postgres => None,
        };
        let mut writer = connect(dialect, &options).await?;
        migrate(dialect, &mut writer).await?;
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if let Dialect::Sqlite = dialect {
                        sqlx::Executor::execute(&mut *conn, sqlx::raw_sql(sqlite::SESSION_PRAGMAS))
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options.clone())
            .await?;
        let journal = match journal_file {
            Some(file) => {
                // The journal opens its own; this one only ran the migrations.
                if let Err(e) = writer.close().await {
                    tracing::debug!(error = %e, "closing the migrations' connection");
                }
                Journal::start_sqlite(file, metrics).await?
            }
            None => Journal::start_postgres(writer, options, metrics),
        };
        Ok(Self {
            dialect,
            pool,
            journal,
        })
    }

    /// The journal (all audited writes).
    #[must_use]
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Which database this is.
    #[must_use]
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Closes the connections (waits for them to finish).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// An API client by id.
    pub async fn client(&self, id: &str) -> Result<Option<ApiClient>, StoreError> {
        let row = sqlx::query(&format!("{CLIENT_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| client_from_row(&r)).transpose()
    }

    /// Puts `f` in force (or replaces the reason of the freeze of its scope).
    pub async fn freeze(&self, f: &Freeze) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO freezes (scope, reason, frozen_by, frozen_at) VALUES ($1, $2, $3, $4) ON CONFLICT (scope) DO UPDATE SET reason = excluded.reason, frozen_by = excluded.frozen_by, frozen_at = excluded.frozen_at")
            .bind(f.scope.to_string())
            .bind(&f.reason)
            .bind(&f.frozen_by)
            .bind(i64_of(f.frozen_at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Lifts the freeze of `scope`; `false` when none was in force.
    pub async fn unfreeze(&self, scope: &FreezeScope) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM freezes WHERE scope = $1")
            .bind(scope.to_string())
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(done == 1)
    }

    /// Every freeze in force, by scope.
    pub async fn freezes(&self) -> Result<Vec<Freeze>, StoreError> {
        let rows =
            sqlx::query("SELECT scope, reason, frozen_by, frozen_at FROM freezes ORDER BY scope")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                let scope: String = r.try_get(0)?;
                Ok(Freeze {
                    scope: FreezeScope::parse(&scope)
                        .ok_or_else(|| StoreError::corrupt("freeze scope", scope))?,
                    reason: r.try_get(1)?,
                    frozen_by: r.try_get(2)?,
                    frozen_at: u64_col(r, 3)?,
                })
            })
            .collect()
    }

    /// Records a heartbeat of replica `r`: inserts its row, or moves its
    /// `last_seen_at` (and version) on; the start time stays the first
    /// recorded. Not audited (a heartbeat changes nothing anyone owns).
    pub async fn record_heartbeat(&self, r: &Replica) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO replicas (id, version, started_at, last_seen_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET version = excluded.version, last_seen_at = excluded.last_seen_at")
            .bind(&r.id)
            .bind(&r.version)
            .bind(i64_of(r.started_at_ms))
            .bind(i64_of(r.last_seen_at_ms))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every replica recorded (and not yet pruned), oldest start first.
    pub async fn replicas(&self) -> Result<Vec<Replica>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, version, started_at, last_seen_at FROM replicas ORDER BY started_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Replica {
                    id: r.try_get(0)?,
                    version: r.try_get(1)?,
                    started_at_ms: u64_col(r, 2)?,
                    last_seen_at_ms: u64_col(r, 3)?,
                })
            })
            .collect()
    }

    /// Forgets the replicas last seen before `before_ms`; how many.
    pub async fn prune_replicas(&self, before_ms: u64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM replicas WHERE last_seen_at < $1")
            .bind(i64_of(before_ms))
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// Stores a pending confirmation.
    pub async fn insert_confirmation(&self, c: &ConfirmationRow) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO confirmations (id, action, requested_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&c.id)
            .bind(&c.action)
            .bind(&c.requested_by)
            .bind(i64_of(c.created_at))
            .bind(i64_of(c.expires_at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A confirmation by id.
    pub async fn confirmation(&self, id: &str) -> Result<Option<ConfirmationRow>, StoreError> {
        let row = sqlx::query("SELECT id, action, requested_by, created_at, expires_at, confirmed_by FROM confirmations WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(ConfirmationRow {
                id: r.try_get(0)?,
                action: r.try_get(1)?,
                requested_by: r.try_get(2)?,
                created_at: u64_col(&r, 3)?,
                expires_at: u64_col(&r, 4)?,
                confirmed_by: r.try_get(5)?,
            })
        })
        .transpose()
    }

    /// Marks a live, unconfirmed confirmation as confirmed by `by` (a
    /// compare-and-set: two replicas never both carry it out).
    pub async fn claim_confirmation(
        &self,
        id: &str,
        by: &str,
        now: u64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE confirmations SET confirmed_by = $2, confirmed_at = $3 WHERE id = $1 AND confirmed_at IS NULL AND expires_at > $3")
            .bind(id)
            .bind(by)
            .bind(i64_of(now))
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(done == 1)
    }

    /// Records that client `id` was used at `at` (ms), unless a later use
    /// is already recorded (replicas race harmlessly). Not audited.
    pub async fn touch_client(&self, id: &str, at: u64) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_clients SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)")
            .bind(id)
            .bind(i64_of(at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// API clients, oldest first: every tenant's, or one tenant's.
    pub async fn clients(&self, tenant: Option<&str>) -> Result<Vec<ApiClient>, StoreError> {
        let rows = match tenant {
            None => {
                sqlx::query(&format!("{CLIENT_COLUMNS} ORDER BY created_at, id"))
                    .fetch_all(&self.pool)
                    .await?
            }
            Some(t) => {
                sqlx::query(&format!(
                    "{CLIENT_COLUMNS} WHERE tenant = $1 ORDER BY created_at, id"
                ))
                .bind(t)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(client_from_row).collect()
    }

    /// How many live wallets `owner` has, and how many API clients of
    /// `tenant` are not revoked at `now_ms` (a tenant's `/v1/admin/status`).
    pub async fn tenant_counts(
        &self,
        owner: &Owner,
        tenant: &str,
        now_ms: u64,
    ) -> Result<(u64, u64), StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM wallets WHERE owner = $1 AND destroyed_at IS NULL), (SELECT COUNT(*) FROM api_clients WHERE tenant = $2 AND (revoked_at IS NULL OR revoked_at > $3))",
        )
        .bind(owner.to_string())
        .bind(tenant)
        .bind(i64_of(now_ms))
        .fetch_one(&self.pool)
        .await?;
        Ok((u64_col(&row, 0)?, u64_col(&row, 1)?))
    }

    /// A live (not destroyed) wallet by id.
    pub async fn wallet(&self, id: &str) -> Result<Option<Wallet>, StoreError> {
        let row = sqlx::query(&format!(
            "{WALLET_COLUMNS} WHERE id = $1 AND destroyed_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| wallet_from_row(&r)).transpose()
    }

    /// Live wallets of `owner` after the cursor `(created_at_ms, id)`, at most `limit`.
    pub async fn wallets(
        &self,
        owner: &Owner,
        after: Option<(u64, String)>,
        limit: u32,
    ) -> Result<Vec<Wallet>, StoreError> {
        let (after_at, after_id) = after.unwrap_or((0, String::new()));
        let rows = sqlx::query(&format!(
            "{WALLET_COLUMNS} WHERE owner = $1 AND destroyed_at IS NULL AND (created_at > $2 OR (created_at = $2 AND id > $3)) ORDER BY created_at, id LIMIT $4"
        ))
        .bind(owner.to_string())
        .bind(i64_of(after_at))
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(wallet_from_row).collect()
    }

    /// A record proposal by id.
    pub async fn record_proposal(&self, id: &str) -> Result<Option<RecordProposal>, StoreError> {
        let row = sqlx::query(&format!("{PROPOSAL_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| proposal_from_row(&r)).transpose()
    }

    /// A wallet's newest record proposals, at most `limit`.
    pub async fn record_proposals(
        &self,
        wallet_id: &str,
        limit: u32,
    ) -> Result<Vec<RecordProposal>, StoreError> {
        let rows = sqlx::query(&format!(
            "{PROPOSAL_COLUMNS} WHERE wallet_id = $1 ORDER BY created_at DESC, id LIMIT $2"
        ))
        .bind(wallet_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(proposal_from_row).collect()
    }

    /// Record proposals a signer holds whose `effective_at` is not after
    /// `now_s` (and not so long before that they were lost), oldest first,
    /// at most `limit`.
    pub async fn due_proposals(
        &self,
        now_s: u64,
        limit: u32,
    ) -> Result<Vec<RecordProposal>, StoreError> {
        let rows = sqlx::query(&format!(
            "{PROPOSAL_COLUMNS} WHERE stage = 'waiting' AND effective_at <= $1 AND effective_at >= $3 ORDER BY effective_at, id LIMIT $2"
        ))
        .bind(i64_of(now_s))
        .bind(i64::from(limit))
        .bind(i64_of(now_s.saturating_sub(crate::domain::WAITING_GRACE_S)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(proposal_from_row).collect()
    }

    /// A sign intent by ticket id.
    pub async fn intent(&self, jti: &str) -> Result<Option<Intent>, StoreError> {
        let row = sqlx::query(&format!("{INTENT_COLUMNS} WHERE jti = $1"))
            .bind(jti)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| intent_from_row(&r)).transpose()
    }

    /// The newest intents on `owner`'s wallets (only those waiting for
    /// approval and not expired at `now_s` when `pending_only`), at most `limit`.
    pub async fn intents_of(
        &self,
        owner: &Owner,
        pending_only: bool,
        now_s: u64,
        limit: u32,
    ) -> Result<Vec<Intent>, StoreError> {
        let filter = if pending_only {
            " AND approval = 'pending' AND expires_at >= $2"
        } else {
            " AND $2 >= 0"
        };
        let rows = sqlx::query(&format!(
            "{INTENT_COLUMNS} WHERE owner = $1{filter} ORDER BY created_at DESC, jti LIMIT $3"
        ))
        .bind(owner.to_string())
        .bind(i64_of(now_s))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(intent_from_row).collect()
    }

    /// Audit events with `seq > after` that match `filter`, at most
    /// `limit`, in `seq` order: the whole log, or only the events recorded
    /// for `tenant`. Every value is a bound parameter.
    pub async fn audit(
        &self,
        after: u64,
        limit: u32,
        tenant: Option<&str>,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let mut sql = String::from(
            "SELECT seq, at, actor, action, target, outcome, prev_hash, hash, detail FROM audit_events WHERE seq > $1",
        );
        // A kind (`denied`) matches `denied` and `denied:<code>` (the value's
        // own `%`, `_` and `\` match only themselves); a coded outcome
        // (`denied:scope_denied`) only itself, through its index.
        let outcome_prefix = filter
            .outcome
            .as_deref()
            .filter(|o| !o.contains(':'))
            .map(|o| {
                let escaped = o
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                format!("{escaped}:%")
            });
        let mut texts: Vec<&str> = Vec::new();
        let clauses: [(&str, Option<&str>); 9] = [
            (" AND tenant = ?", tenant),
            (" AND action = ?", filter.action.as_deref()),
            (" AND actor = ?", filter.actor.as_deref()),
            (" AND target = ?", filter.target.as_deref()),
            (" AND (outcome = ?", filter.outcome.as_deref()),
            (" OR outcome LIKE ? ESCAPE '\\'", outcome_prefix.as_deref()),
            (")", filter.outcome.as_deref().map(|_| "")),
            (" AND at >= ?", filter.since.as_deref()),
            (" AND at < ?", filter.until.as_deref()),
        ];
        for (clause, value) in clauses {
            let Some(value) = value else { continue };
            if clause.contains('?') {
                texts.push(value);
                // $1 is `after`; the texts follow from $2.
                sql.push_str(&clause.replace('?', &format!("${}", texts.len() + 1)));
            } else {
                sql.push_str(clause);
            }
        }
        sql.push_str(&format!(" ORDER BY seq LIMIT ${}", texts.len() + 2));
        let mut query = sqlx::query(&sql).bind(i64_of(after));
        for text in &texts {
            query = query.bind(*text);
        }
        let rows = query.bind(i64::from(limit)).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEvent {
                    seq: u64_col(r, 0)?,
                    at: r.try_get(1)?,
                    actor: r.try_get(2)?,
                    action: r.try_get(3)?,
                    target: r.try_get(4)?,
                    outcome: r.try_get(5)?,
                    prev_hash: r.try_get(6)?,
                    hash: r.try_get(7)?,
                    detail: r
                        .try_get::<Option<String>, _>(8)?
                        .map(|d| serde_json::from_str(&d))
                        .transpose()
                        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                })
            })
            .collect()
    }

    /// Adds `hits` to shared rate-limit counters (`(key, window_start_ms,
    /// hits)`, keys unique) and returns each counter's total across every
    /// replica. Not audited, so not through the journal.
    pub async fn add_rate_hits(&self, hits: &[(String, u64, u64)]) -> Result<Vec<u64>, StoreError> {
        let mut totals = Vec::with_capacity(hits.len());
        for chunk in hits.chunks(journal::ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO rate_limits (bucket, window_start, hits) VALUES {} ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + excluded.hits RETURNING bucket, hits",
                journal::values_clause(self.dialect, chunk.len(), 3)
            );
            let mut q = sqlx::query(&sql);
            for (key, window, n) in chunk {
                q = q.bind(key.as_str()).bind(i64_of(*window)).bind(i64_of(*n));
            }
            let rows = q.fetch_all(&self.pool).await?;
            let mut by_key = std::collections::HashMap::with_capacity(rows.len());
            for r in &rows {
                by_key.insert(r.try_get::<String, _>(0)?, u64_col(r, 1)?);
            }
            totals.extend(
                chunk
                    .iter()
                    .map(|(k, _, _)| by_key.get(k).copied().unwrap_or(0)),
            );
        }
        Ok(totals)
    }

    /// The shared totals of `buckets` in the window starting at `window`
    /// (0 where nobody counted yet), without adding anything.
    pub async fn rate_totals(
        &self,
        window: u64,
        buckets: &[String],
    ) -> Result<Vec<u64>, StoreError> {
        let mut by_bucket = std::collections::HashMap::with_capacity(buckets.len());
        for chunk in buckets.chunks(journal::ROWS_PER_INSERT) {
            let list = (2..chunk.len() + 2)
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT bucket, hits FROM rate_limits WHERE window_start = $1 AND bucket IN ({list})"
            );
            let mut q = sqlx::query(&sql).bind(i64_of(window));
            for b in chunk {
                q = q.bind(b.as_str());
            }
            for r in q.fetch_all(&self.pool).await? {
                by_bucket.insert(r.try_get::<String, _>(0)?, u64_col(&r, 1)?);
            }
        }
        Ok(buckets
            .iter()
            .map(|b| by_bucket.get(b).copied().unwrap_or(0))
            .collect())
    }

    /// Takes or renews the lease `name` for `holder` until `now_ms + ttl_ms`;
    /// true if `holder` holds it now (it was free, expired, or already its).
    pub async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query("INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at WHERE leases.holder = excluded.holder OR leases.expires_at < $4 RETURNING holder")
            .bind(name)
            .bind(holder)
            .bind(i64_of(now_ms.saturating_add(ttl_ms)))
            .bind(i64_of(now_ms))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Gives the lease `name` up if `holder` has it (a clean shutdown: the
    /// next replica need not wait for it to expire).
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The last event the sink `name` acknowledged (0: none yet).
    pub async fn export_cursor(&self, name: &str) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT last_seq FROM export_cursors WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map_or(Ok(0), |r| u64_col(&r, 0))
    }

    /// Moves the cursor of `name` from `from` to `to`; false if another
    /// writer moved it meanwhile (nothing changed then).
    pub async fn advance_export_cursor(
        &self,
        name: &str,
        from: u64,
        to: u64,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query("INSERT INTO export_cursors (name, last_seq, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET last_seq = excluded.last_seq, updated_at = excluded.updated_at WHERE export_cursors.last_seq = $4 RETURNING last_seq")
            .bind(name)
            .bind(i64_of(to))
            .bind(i64_of(signet_proto::time::now_ms()))
            .bind(i64_of(from))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Removes what has expired: intents (`expires_at` in seconds), record
    /// proposals never approved, and consumed tickets past `now_s - grace_s`, rate-limit windows that began
    /// before `windows_before_ms`. The audit log is never pruned.
    pub async fn prune(
        &self,
        now_s: u64,
        grace_s: u64,
        windows_before_ms: u64,
    ) -> Result<Pruned, StoreError> {
        let cutoff = i64_of(now_s.saturating_sub(grace_s));
        let intents = sqlx::query("DELETE FROM sign_intents WHERE expires_at < $1")
            .bind(cutoff)
            .execute(&self.pool)
            .await?
            .rows_affected();
        let proposals = sqlx::query(
            "DELETE FROM record_proposals WHERE (stage = 'pending' AND expires_at < $1) OR (stage = 'waiting' AND effective_at < $2)",
        )
        .bind(cutoff)
        .bind(i64_of(
            now_s
                .saturating_sub(grace_s)
                .saturating_sub(crate::domain::WAITING_GRACE_S),
        ))
        .execute(&self.pool)
        .await?
        .rows_affected();
        let tickets = sqlx::query("DELETE FROM consumed_tickets WHERE expires_at < $1")
            .bind(cutoff)
            .execute(&self.pool)
            .await?
            .rows_affected();
        let rate_windows = sqlx::query("DELETE FROM rate_limits WHERE window_start < $1")
            .bind(i64_of(windows_before_ms))
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(Pruned {
            intents,
            proposals,
            tickets,
            rate_windows,
        })
    }
}

const CLIENT_COLUMNS: &str =
    "SELECT id, name, tenant, scopes, secret_sha256, created_at, revoked_at, last_used_at FROM api_clients";
const WALLET_COLUMNS: &str =
    "SELECT id, owner, key_type, public_key, label, sealed, attestation, created_at, require_approval, record FROM wallets";

const INTENT_COLUMNS: &str = "SELECT jti, wallet_id, digest, message, created_by, expires_at, content, approval, decided_at, decided_by, created_at, detail, owner, signature, payload, owner_authorization, owner_approvals FROM sign_intents";

const PROPOSAL_COLUMNS: &str = "SELECT id, wallet_id, record, owner_authorization, owner_approvals, stage, effective_at, expires_at, created_by, created_at, decided_at, previous_record FROM record_proposals";

fn proposal_from_row(r: &AnyRow) -> Result<RecordProposal, StoreError> {
    let stage: String = r.try_get(5)?;
    Ok(RecordProposal {
        id: r.try_get(0)?,
        wallet_id: r.try_get(1)?,
        record: r.try_get(2)?,
        authorization: r.try_get(3)?,
        approvals: r.try_get(4)?,
        stage: ProposalStage::parse(&stage)
            .ok_or_else(|| StoreError::corrupt("record proposal stage", stage))?,
        effective_at_s: r
            .try_get::<Option<i64>, _>(6)?
            .map(|v| u64::try_from(v).unwrap_or(0)),
        expires_at_s: u64_col(r, 7)?,
        created_by: r.try_get(8)?,
        created_at_ms: u64_col(r, 9)?,
        decided_at_ms: r
            .try_get::<Option<i64>, _>(10)?
            .map(|v| u64::try_from(v).unwrap_or(0)),
        previous_record: r.try_get(11)?,
    })
}

fn intent_from_row(r: &AnyRow) -> Result<Intent, StoreError> {
    let approval: Option<String> = r.try_get(7)?;
    let decided_at: Option<i64> = r.try_get(8)?;
    let decided_by: Option<String> = r.try_get(9)?;
    Ok(Intent {
        jti: r.try_get(0)?,
        wallet_id: r.try_get(1)?,
        digest: r.try_get(2)?,
        message: r.try_get(3)?,
        created_by: r.try_get(4)?,
        expires_at_s: u64_col(r, 5)?,
        content: r.try_get(6)?,
        approval: approval
            .map(|a| Approval::parse(&a).ok_or_else(|| StoreError::corrupt("intent approval", a)))
            .transpose()?,
        decided: decided_at.zip(decided_by).map(|(at, by)| Decided {
            at_ms: u64::try_from(at).unwrap_or(0),
            by,
        }),
        created_at_ms: u64_col(r, 10)?,
        detail: r.try_get(11)?,
        owner: r
            .try_get::<Option<String>, _>(12)?
            .map(|o| Owner::parse(&o).ok_or_else(|| StoreError::corrupt("owner", o)))
            .transpose()?,
        signature: r.try_get(13)?,
        payload: r.try_get(14)?,
        authorization: r.try_get(15)?,
        owner_approvals: r.try_get(16)?,
    })
}

/// An owner column (`tenant:<t>` or `user:<id>`).
fn owner_col(r: &AnyRow, i: usize) -> Result<Owner, StoreError> {
    let stored: String = r.try_get(i)?;
    Owner::parse(&stored).ok_or_else(|| StoreError::corrupt("owner", stored))
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn u64_col(r: &AnyRow, i: usize) -> Result<u64, StoreError> {
    let v = r.try_get::<i64, _>(i)?;
    u64::try_from(v).map_err(|_| StoreError::corrupt("time or count", format!("{v} in column {i}")))
}

fn client_from_row(r: &AnyRow) -> Result<ApiClient, StoreError> {
    let scopes: String = r.try_get(3)?;
    Ok(ApiClient {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        tenant: r.try_get(2)?,
        scopes: serde_json::from_str(&scopes)
            .map_err(|e| StoreError::corrupt("client scopes", e.to_string()))?,
        secret_sha256: r.try_get(4)?,
        created_at_ms: u64_col(r, 5)?,
        revoked_at_ms: r
            .try_get::<Option<i64>, _>(6)?
            .map(|v| u64::try_from(v).unwrap_or(0)),
        last_used_at_ms: r
            .try_get::<Option<i64>, _>(7)?
            .map(|v| u64::try_from(v).unwrap_or(0)),
    })
}

fn wallet_from_row(r: &AnyRow) -> Result<Wallet, StoreError> {
    let key_type: String = r.try_get(2)?;
    Ok(Wallet {
        id: r.try_get(0)?,
        owner: owner_col(r, 1)?,
        key_type: key_type
            .parse()
            .map_err(|()| StoreError::corrupt("key type", key_type))?,
        public_key: r.try_get(3)?,
        label: r.try_get(4)?,
        sealed: r.try_get(5)?,
        attestation: r.try_get(6)?,
        created_at_ms: u64_col(r, 7)?,
        require_approval: r.try_get::<i64, _>(8)? != 0,
        record: r.try_get(9)?,
    })
}

/// Applies the dialect's missing migrations, each in its own transaction,
/// while holding the dialect's migration lock (two replicas starting at once
/// do not both migrate).
async fn migrate(dialect: Dialect, conn: &mut AnyConnection) -> Result<(), StoreError> {
    const TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)";
    for (version, sql) in dialect.migrations() {
        // Each migration in a transaction that holds the migration lock
        // (PostgreSQL's `CREATE TABLE IF NOT EXISTS` itself races between
        // sessions, so the lock comes first).
        let mut tx = match dialect {
            Dialect::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => {
                let mut tx = conn.begin().await?;
                exec_raw(&mut tx, postgres::MIGRATION_LOCK).await?;
                tx
            }
        };
        exec_raw(&mut tx, TABLE).await?;
        let done = sqlx::query("SELECT version FROM schema_migrations WHERE version = $1")
            .bind(version)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if done {
            tx.rollback().await?;
            continue;
        }
        exec_raw(&mut tx, sql).await?;
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(version)
            .bind(i64_of(signet_proto::time::now_ms()))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, ?dialect, "database migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
