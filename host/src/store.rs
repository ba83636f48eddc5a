//! Storage: one interface over the database (SQLite by default; the SQL is
//! kept portable for PostgreSQL). Reads go through a pool; every write goes
//! through the [`Journal`], which batches writes into one transaction each
//! and appends their audit events to the hash chain in the same transaction.

use std::str::FromStr as _;
use std::time::Duration;

use signet_proto::audit::{chain_hash, AuditEvent, AuditEventBody, GENESIS_HASH};
use signet_proto::time::rfc3339_ms;
use signet_proto::KeyType;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection as _, Row as _, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

/// A storage failure. Details go to the log, never to API clients.
#[derive(Debug, thiserror::Error)]
#[error("storage: {0}")]
pub struct StoreError(pub String);

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        Self(e.to_string())
    }
}

/// Schema versions, applied in order at start, each in one transaction.
const MIGRATIONS: &[(i64, &str)] = &[(
    1,
    r"
CREATE TABLE api_clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    tenant TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE TABLE wallets (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    key_type TEXT NOT NULL,
    public_key TEXT NOT NULL,
    label TEXT,
    sealed TEXT,
    attestation TEXT,
    created_at BIGINT NOT NULL,
    destroyed_at BIGINT
);
CREATE INDEX wallets_by_owner ON wallets (owner, created_at, id);
CREATE TABLE sign_intents (
    jti TEXT PRIMARY KEY,
    wallet_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    message TEXT,
    created_by TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE consumed_tickets (
    jti TEXT PRIMARY KEY,
    wallet_id TEXT NOT NULL,
    consumed_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX consumed_tickets_by_expiry ON consumed_tickets (expires_at);
CREATE TABLE audit_events (
    seq BIGINT PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
",
)];

/// An API client as stored (the token's secret only as SHA-256).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiClientRow {
    /// Id (the middle part of the token).
    pub id: String,
    /// Human name.
    pub name: String,
    /// Tenant.
    pub tenant: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Hex SHA-256 of the token secret.
    pub secret_sha256: String,
    /// Unix ms.
    pub created_at: u64,
    /// Unix ms from which the client is refused.
    pub revoked_at: Option<u64>,
}

/// A wallet as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalletRow {
    /// Id (also the signer's key id).
    pub id: String,
    /// `tenant:<t>` or `user:<id>`.
    pub owner: String,
    /// Key type.
    pub key_type: KeyType,
    /// Public key bytes.
    pub public_key: Vec<u8>,
    /// Label.
    pub label: Option<String>,
    /// Sealed private key (CBOR bytes), for software-backend wallets.
    pub sealed: Option<Vec<u8>>,
    /// Creation attestation document.
    pub attestation: Option<Vec<u8>>,
    /// Unix ms.
    pub created_at: u64,
}

/// A sign intent: what a ticket from `sign-intent` authorizes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntentRow {
    /// The ticket's `jti`.
    pub jti: String,
    /// Wallet.
    pub wallet_id: String,
    /// 32-byte digest.
    pub digest: Vec<u8>,
    /// Ed25519 message.
    pub message: Option<Vec<u8>>,
    /// Who asked.
    pub created_by: String,
    /// Unix seconds.
    pub expires_at: u64,
}

/// An audit event to append (seq, time and hashes are the journal's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    /// Actor.
    pub actor: String,
    /// Action.
    pub action: String,
    /// Target.
    pub target: String,
    /// Outcome.
    pub outcome: String,
}

impl NewEvent {
    /// An event.
    pub fn new(
        actor: impl Into<String>,
        action: impl Into<String>,
        target: impl Into<String>,
        outcome: impl Into<String>,
    ) -> Self {
        Self {
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            outcome: outcome.into(),
        }
    }
}

/// A write and the audit event recorded with it, atomically.
#[derive(Debug)]
pub enum WriteOp {
    /// Only the audit event.
    Audit,
    /// A new API client.
    CreateClient(ApiClientRow),
    /// Revoke a client from a time on.
    RevokeClient {
        /// Client id.
        id: String,
        /// Unix ms.
        at: u64,
    },
    /// A new wallet.
    CreateWallet(WalletRow),
    /// Mark destroyed and shred the sealed key and document.
    DestroyWallet {
        /// Wallet id.
        id: String,
        /// Unix ms.
        at: u64,
    },
    /// Record a sign intent.
    CreateIntent(IntentRow),
    /// Consume a ticket: `Applied(false)` if it was already consumed (then
    /// the audit event given is recorded with outcome `denied:ticket_replayed`).
    ConsumeTicket {
        /// jti.
        jti: String,
        /// Wallet.
        wallet_id: String,
        /// Unix seconds.
        expires_at: u64,
    },
}

struct Job {
    op: WriteOp,
    event: NewEvent,
    reply: oneshot::Sender<Result<bool, StoreError>>,
}

/// The single writer. Cloning shares it.
#[derive(Clone)]
pub struct Journal {
    tx: mpsc::Sender<Job>,
}

impl Journal {
    /// Applies `op` and appends `event`, durably, in one transaction (shared
    /// with other concurrent writes). Returns whether a conditional write
    /// applied (always `true` for unconditional ones).
    pub async fn write(&self, op: WriteOp, event: NewEvent) -> Result<bool, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { op, event, reply })
            .await
            .map_err(|_| StoreError("journal stopped".into()))?;
        rx.await.map_err(|_| StoreError("journal stopped".into()))?
    }
}

/// The database.
#[derive(Clone)]
pub struct Store {
    read: SqlitePool,
    journal: Journal,
}

fn sqlite_options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
    Ok(SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a commit is on disk before the journal answers (durable audit).
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true))
}

impl Store {
    /// Opens (creating if needed) the database at `url`, runs migrations and
    /// starts the journal.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = sqlite_options(url)?;
        let mut writer = SqliteConnection::connect_with(&options).await?;
        migrate(&mut writer).await?;
        let head = sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut writer)
            .await?
            .map(|r| {
                Ok::<_, sqlx::Error>((
                    u64::try_from(r.try_get::<i64, _>(0)?).unwrap_or(0),
                    r.try_get::<String, _>(1)?,
                ))
            })
            .transpose()?
            .unwrap_or((0, GENESIS_HASH.to_owned()));
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.read_only(true))
            .await?;
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(journal_loop(writer, rx, head));
        Ok(Self {
            read,
            journal: Journal { tx },
        })
    }

    /// The journal (all writes).
    #[must_use]
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// An API client by id.
    pub async fn client(&self, id: &str) -> Result<Option<ApiClientRow>, StoreError> {
        let row = sqlx::query("SELECT id, name, tenant, scopes, secret_sha256, created_at, revoked_at FROM api_clients WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| client_from_row(&r)).transpose()
    }

    /// Every API client, oldest first.
    pub async fn clients(&self) -> Result<Vec<ApiClientRow>, StoreError> {
        let rows = sqlx::query("SELECT id, name, tenant, scopes, secret_sha256, created_at, revoked_at FROM api_clients ORDER BY created_at, id")
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(client_from_row).collect()
    }

    /// A live (not destroyed) wallet by id.
    pub async fn wallet(&self, id: &str) -> Result<Option<WalletRow>, StoreError> {
        let row = sqlx::query(&format!(
            "{WALLET_COLUMNS} WHERE id = $1 AND destroyed_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| wallet_from_row(&r)).transpose()
    }

    /// Live wallets of `owner` after the cursor `(created_at, id)`, at most `limit`.
    pub async fn wallets(
        &self,
        owner: &str,
        after: Option<(u64, String)>,
        limit: u32,
    ) -> Result<Vec<WalletRow>, StoreError> {
        let (after_at, after_id) = after.unwrap_or((0, String::new()));
        let rows = sqlx::query(&format!(
            "{WALLET_COLUMNS} WHERE owner = $1 AND destroyed_at IS NULL AND (created_at > $2 OR (created_at = $2 AND id > $3)) ORDER BY created_at, id LIMIT $4"
        ))
        .bind(owner)
        .bind(i64::try_from(after_at).unwrap_or(i64::MAX))
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(wallet_from_row).collect()
    }

    /// A sign intent by ticket id.
    pub async fn intent(&self, jti: &str) -> Result<Option<IntentRow>, StoreError> {
        let row = sqlx::query("SELECT jti, wallet_id, digest, message, created_by, expires_at FROM sign_intents WHERE jti = $1")
            .bind(jti)
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| {
            Ok(IntentRow {
                jti: r.try_get(0)?,
                wallet_id: r.try_get(1)?,
                digest: hex_col(&r, 2)?,
                message: r
                    .try_get::<Option<String>, _>(3)?
                    .map(|m| decode_hex(&m))
                    .transpose()?,
                created_by: r.try_get(4)?,
                expires_at: u64_col(&r, 5)?,
            })
        })
        .transpose()
    }

    /// Audit events with `seq > after`, at most `limit`.
    pub async fn audit(&self, after: u64, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query("SELECT seq, at, actor, action, target, outcome, prev_hash, hash FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(i64::try_from(after).unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await?;
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
                })
            })
            .collect()
    }
}

const WALLET_COLUMNS: &str =
    "SELECT id, owner, key_type, public_key, label, sealed, attestation, created_at FROM wallets";

fn u64_col(r: &sqlx::sqlite::SqliteRow, i: usize) -> Result<u64, StoreError> {
    u64::try_from(r.try_get::<i64, _>(i)?)
        .map_err(|_| StoreError(format!("negative value in column {i}")))
}

fn decode_hex(s: &str) -> Result<Vec<u8>, StoreError> {
    hex::decode(s).map_err(|_| StoreError("corrupt hex column".into()))
}

fn hex_col(r: &sqlx::sqlite::SqliteRow, i: usize) -> Result<Vec<u8>, StoreError> {
    decode_hex(&r.try_get::<String, _>(i)?)
}

fn client_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<ApiClientRow, StoreError> {
    let scopes: String = r.try_get(3)?;
    Ok(ApiClientRow {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        tenant: r.try_get(2)?,
        scopes: serde_json::from_str(&scopes).map_err(|_| StoreError("corrupt scopes".into()))?,
        secret_sha256: r.try_get(4)?,
        created_at: u64_col(r, 5)?,
        revoked_at: r
            .try_get::<Option<i64>, _>(6)?
            .map(|v| u64::try_from(v).unwrap_or(0)),
    })
}

fn wallet_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<WalletRow, StoreError> {
    let key_type: String = r.try_get(2)?;
    Ok(WalletRow {
        id: r.try_get(0)?,
        owner: r.try_get(1)?,
        key_type: key_type
            .parse()
            .map_err(|()| StoreError(format!("unknown key type {key_type}")))?,
        public_key: hex_col(r, 3)?,
        label: r.try_get(4)?,
        sealed: r
            .try_get::<Option<String>, _>(5)?
            .map(|s| decode_hex(&s))
            .transpose()?,
        attestation: r
            .try_get::<Option<String>, _>(6)?
            .map(|s| decode_hex(&s))
            .transpose()?,
        created_at: u64_col(r, 7)?,
    })
}

async fn migrate(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
        .execute(&mut *conn)
        .await?;
    for (version, sql) in MIGRATIONS {
        let done = sqlx::query("SELECT 1 FROM schema_migrations WHERE version = $1")
            .bind(version)
            .fetch_optional(&mut *conn)
            .await?
            .is_some();
        if done {
            continue;
        }
        let mut tx = conn.begin().await?;
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(version)
            .bind(i64::try_from(signet_proto::time::now_ms()).unwrap_or(0))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, "database migrated");
    }
    Ok(())
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Applies one op inside the batch transaction.
async fn apply(conn: &mut SqliteConnection, op: &WriteOp) -> Result<bool, sqlx::Error> {
    match op {
        // Ticket consumptions are applied together by `consume_tickets`.
        WriteOp::Audit | WriteOp::ConsumeTicket { .. } => Ok(true),
        WriteOp::CreateClient(c) => {
            sqlx::query("INSERT INTO api_clients (id, name, tenant, scopes, secret_sha256, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)")
                .bind(&c.id)
                .bind(&c.name)
                .bind(&c.tenant)
                .bind(serde_json::to_string(&c.scopes).unwrap_or_default())
                .bind(&c.secret_sha256)
                .bind(i64_of(c.created_at))
                .execute(&mut *conn)
                .await?;
            Ok(true)
        }
        WriteOp::RevokeClient { id, at } => {
            let r = sqlx::query("UPDATE api_clients SET revoked_at = $2 WHERE id = $1 AND (revoked_at IS NULL OR revoked_at > $2)")
                .bind(id)
                .bind(i64_of(*at))
                .execute(&mut *conn)
                .await?;
            Ok(r.rows_affected() == 1)
        }
        WriteOp::CreateWallet(w) => {
            sqlx::query("INSERT INTO wallets (id, owner, key_type, public_key, label, sealed, attestation, created_at, destroyed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)")
                .bind(&w.id)
                .bind(&w.owner)
                .bind(w.key_type.as_str())
                .bind(hex::encode(&w.public_key))
                .bind(&w.label)
                .bind(w.sealed.as_ref().map(hex::encode))
                .bind(w.attestation.as_ref().map(hex::encode))
                .bind(i64_of(w.created_at))
                .execute(&mut *conn)
                .await?;
            Ok(true)
        }
        WriteOp::DestroyWallet { id, at } => {
            let r = sqlx::query("UPDATE wallets SET destroyed_at = $2, sealed = NULL, attestation = NULL WHERE id = $1 AND destroyed_at IS NULL")
                .bind(id)
                .bind(i64_of(*at))
                .execute(&mut *conn)
                .await?;
            Ok(r.rows_affected() == 1)
        }
        WriteOp::CreateIntent(i) => {
            sqlx::query("INSERT INTO sign_intents (jti, wallet_id, digest, message, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(&i.jti)
                .bind(&i.wallet_id)
                .bind(hex::encode(&i.digest))
                .bind(i.message.as_ref().map(hex::encode))
                .bind(&i.created_by)
                .bind(i64_of(i.expires_at))
                .execute(&mut *conn)
                .await?;
            Ok(true)
        }
    }
}

/// Rows per multi-row INSERT (SQLite's bound-parameter limit is 32,766).
const ROWS_PER_INSERT: usize = 500;

/// `($1, $2, …), (…)` for `rows` rows of `cols` parameters.
fn values_clause(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| {
            format!(
                "({})",
                (1..=cols)
                    .map(|c| format!("${}", r * cols + c))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Consumes tickets with one statement per chunk; returns, per ticket,
/// whether it was fresh (a jti repeated within the batch is fresh once).
/// A pending `begin` is sent with the first statement (see [`run_batch`]).
async fn consume_tickets(
    conn: &mut SqliteConnection,
    tickets: &[(&str, &str, u64)],
    begin: &mut &str,
) -> Result<Vec<bool>, sqlx::Error> {
    let now = i64_of(signet_proto::time::now_ms() / 1000);
    let mut fresh = Vec::with_capacity(tickets.len());
    for chunk in tickets.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "{}INSERT INTO consumed_tickets (jti, wallet_id, consumed_at, expires_at) VALUES {} ON CONFLICT (jti) DO NOTHING RETURNING jti",
            std::mem::take(begin),
            values_clause(chunk.len(), 4)
        );
        let mut q = sqlx::query_scalar::<_, String>(&sql);
        for (jti, wallet, exp) in chunk {
            q = q.bind(*jti).bind(*wallet).bind(now).bind(i64_of(*exp));
        }
        let mut inserted: std::collections::HashSet<String> =
            q.fetch_all(&mut *conn).await?.into_iter().collect();
        fresh.extend(chunk.iter().map(|(jti, _, _)| inserted.remove(*jti)));
    }
    Ok(fresh)
}

/// Appends events (at least one) to the chain, one statement per chunk; a
/// pending `begin` is sent with the first statement and `commit` with the
/// last (see [`run_batch`]).
async fn append_events(
    conn: &mut SqliteConnection,
    head: &mut (u64, String),
    events: &[NewEvent],
    begin: &mut &str,
    commit: &str,
) -> Result<(), sqlx::Error> {
    let at = rfc3339_ms(signet_proto::time::now_ms());
    let chunks = events.len().div_ceil(ROWS_PER_INSERT);
    for (n, chunk) in events.chunks(ROWS_PER_INSERT).enumerate() {
        let mut rows = Vec::with_capacity(chunk.len());
        for event in chunk {
            let body = AuditEventBody {
                seq: head.0 + 1,
                at: at.clone(),
                actor: event.actor.clone(),
                action: event.action.clone(),
                target: event.target.clone(),
                outcome: event.outcome.clone(),
            };
            let hash = chain_hash(&head.1, &body);
            rows.push((body, head.1.clone(), hash.clone()));
            *head = (head.0 + 1, hash);
        }
        let sql = format!(
            "{}INSERT INTO audit_events (seq, at, actor, action, target, outcome, prev_hash, hash) VALUES {}{}",
            std::mem::take(begin),
            values_clause(rows.len(), 8),
            if n + 1 == chunks { commit } else { "" }
        );
        let mut q = sqlx::query(&sql);
        for (body, prev, hash) in &rows {
            q = q
                .bind(i64_of(body.seq))
                .bind(&body.at)
                .bind(&body.actor)
                .bind(&body.action)
                .bind(&body.target)
                .bind(&body.outcome)
                .bind(prev)
                .bind(hash);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Most writes folded into one transaction.
const MAX_BATCH: usize = 1024;

async fn journal_loop(
    mut conn: SqliteConnection,
    mut rx: mpsc::Receiver<Job>,
    mut head: (u64, String),
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let before = head.clone();
        let result = run_batch(&mut conn, &batch, &mut head).await;
        match result {
            Ok(applied) => {
                for (job, applied) in batch.drain(..).zip(applied) {
                    let _ = job.reply.send(Ok(applied));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, writes = batch.len(), "journal batch failed; nothing of it was written");
                head = before;
                for job in batch.drain(..) {
                    let _ = job.reply.send(Err(StoreError(e.to_string())));
                }
            }
        }
    }
}

/// Applies a batch in one transaction: rare writes one by one, ticket
/// consumptions and audit events in multi-row statements. Each trip to
/// SQLite's worker thread costs two context switches, so `BEGIN` travels with
/// the first statement and `COMMIT` with the last (sqlx-sqlite runs a
/// multi-statement query in one trip): a batch of signatures is two trips.
/// On any error the transaction is rolled back and nothing of the batch stays.
async fn run_batch(
    conn: &mut SqliteConnection,
    batch: &[Job],
    head: &mut (u64, String),
) -> Result<Vec<bool>, sqlx::Error> {
    let result = write_batch(conn, batch, head).await;
    if result.is_err() {
        // Whether or not a transaction is still open (a failed COMMIT has
        // already ended it), nothing of this batch may stay.
        if let Err(e) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
            tracing::debug!(error = %e, "rollback after a failed batch");
        }
    }
    result
}

async fn write_batch(
    conn: &mut SqliteConnection,
    batch: &[Job],
    head: &mut (u64, String),
) -> Result<Vec<bool>, sqlx::Error> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    // Sent with the first statement of the batch, whichever it is.
    let mut begin = "BEGIN IMMEDIATE; ";
    let mut applied = vec![true; batch.len()];
    let mut tickets = Vec::new();
    for (i, job) in batch.iter().enumerate() {
        match &job.op {
            WriteOp::Audit => {}
            WriteOp::ConsumeTicket {
                jti,
                wallet_id,
                expires_at,
            } => tickets.push((i, (jti.as_str(), wallet_id.as_str(), *expires_at))),
            op => {
                if !begin.is_empty() {
                    sqlx::query(std::mem::take(&mut begin))
                        .execute(&mut *conn)
                        .await?;
                }
                applied[i] = apply(&mut *conn, op).await?;
            }
        }
    }
    let rows: Vec<(&str, &str, u64)> = tickets.iter().map(|(_, t)| *t).collect();
    for ((i, _), fresh) in tickets
        .iter()
        .zip(consume_tickets(&mut *conn, &rows, &mut begin).await?)
    {
        applied[*i] = fresh;
    }
    let events: Vec<NewEvent> = batch
        .iter()
        .zip(&applied)
        .map(|(job, done)| {
            let mut event = job.event.clone();
            if !done && matches!(job.op, WriteOp::ConsumeTicket { .. }) {
                event.outcome = "denied:ticket_replayed".into();
            }
            event
        })
        .collect();
    // Every job carries an event, so this is never empty and COMMIT is sent.
    append_events(&mut *conn, head, &events, &mut begin, "; COMMIT").await?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use signet_proto::audit::ChainVerifier;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let s = Store::open(&url).await.unwrap();
        (dir, s)
    }

    fn wallet(id: &str, owner: &str, at: u64) -> WalletRow {
        WalletRow {
            id: id.into(),
            owner: owner.into(),
            key_type: KeyType::P256,
            public_key: vec![4; 65],
            label: None,
            sealed: Some(vec![1, 2]),
            attestation: None,
            created_at: at,
        }
    }

    #[tokio::test]
    async fn writes_are_audited_and_chained() {
        let (_d, s) = store().await;
        let j = s.journal();
        j.write(
            WriteOp::CreateWallet(wallet("w1", "tenant:a", 1)),
            NewEvent::new("client:x", "wallet.create", "w1", "ok"),
        )
        .await
        .unwrap();
        let fresh = j
            .write(
                WriteOp::ConsumeTicket {
                    jti: "t".into(),
                    wallet_id: "w1".into(),
                    expires_at: 9,
                },
                NewEvent::new("client:x", "sign", "w1", "ok"),
            )
            .await
            .unwrap();
        let again = j
            .write(
                WriteOp::ConsumeTicket {
                    jti: "t".into(),
                    wallet_id: "w1".into(),
                    expires_at: 9,
                },
                NewEvent::new("client:x", "sign", "w1", "ok"),
            )
            .await
            .unwrap();
        assert!(fresh && !again);
        let events = s.audit(0, 100).await.unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[2].outcome, "denied:ticket_replayed");
        let mut v = ChainVerifier::default();
        for e in &events {
            v.push(e).unwrap();
        }
    }

    #[tokio::test]
    async fn concurrent_writes_keep_one_gapless_chain() {
        let (_d, s) = store().await;
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..500 {
            let j = s.journal().clone();
            tasks.spawn(async move {
                j.write(
                    WriteOp::Audit,
                    NewEvent::new("system", "test", format!("{i}"), "ok"),
                )
                .await
                .unwrap()
            });
        }
        while tasks.join_next().await.is_some() {}
        let events = s.audit(0, 1000).await.unwrap();
        assert_eq!(events.len(), 500);
        let mut v = ChainVerifier::default();
        events.iter().try_for_each(|e| v.push(e)).unwrap();
    }

    async fn consumed(conn: &mut SqliteConnection) -> i64 {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM consumed_tickets")
            .fetch_one(conn)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_failed_batch_leaves_nothing_and_the_next_one_commits() {
        let (dir, s) = store().await;
        s.journal()
            .write(
                WriteOp::Audit,
                NewEvent::new("system", "test", "first", "ok"),
            )
            .await
            .unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let mut conn = SqliteConnection::connect_with(&sqlite_options(&url).unwrap())
            .await
            .unwrap();
        let jobs = |jti: &str| {
            let (reply, _) = oneshot::channel();
            vec![Job {
                op: WriteOp::ConsumeTicket {
                    jti: jti.into(),
                    wallet_id: "w".into(),
                    expires_at: 4_000_000_000,
                },
                event: NewEvent::new("client", "sign", "w", "ok"),
                reply,
            }]
        };
        // A stale chain head: the audit insert collides with seq 1 after the
        // ticket insert succeeded; the ticket must not stay consumed.
        let mut stale = (0, GENESIS_HASH.to_owned());
        assert!(run_batch(&mut conn, &jobs("t1"), &mut stale).await.is_err());
        assert_eq!(consumed(&mut conn).await, 0, "the failed batch left a row");
        // The connection is not left inside a transaction.
        let head = s.audit(0, 10).await.unwrap().pop().unwrap();
        let mut head = (head.seq, head.hash);
        assert_eq!(
            run_batch(&mut conn, &jobs("t1"), &mut head).await.unwrap(),
            [true]
        );
        assert_eq!(consumed(&mut conn).await, 1);
        assert_eq!(
            run_batch(&mut conn, &jobs("t1"), &mut head).await.unwrap(),
            [false],
            "a consumed ticket stays consumed"
        );
        let events = s.audit(0, 10).await.unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[2].outcome, "denied:ticket_replayed");
        let mut v = ChainVerifier::default();
        events.iter().try_for_each(|e| v.push(e)).unwrap();
    }

    #[tokio::test]
    async fn a_ticket_repeated_within_one_batch_is_fresh_once() {
        let (_d, s) = store().await;
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let j = s.journal().clone();
            tasks.spawn(async move {
                j.write(
                    WriteOp::ConsumeTicket {
                        jti: "same".into(),
                        wallet_id: "w".into(),
                        expires_at: 9,
                    },
                    NewEvent::new("a", "sign", "w", "ok"),
                )
                .await
                .unwrap()
            });
        }
        let mut fresh = 0;
        while let Some(r) = tasks.join_next().await {
            fresh += usize::from(r.unwrap());
        }
        assert_eq!(fresh, 1);
        let events = s.audit(0, 100).await.unwrap();
        assert_eq!(
            events
                .iter()
                .filter(|e| e.outcome == "denied:ticket_replayed")
                .count(),
            49
        );
    }

    #[tokio::test]
    async fn destroy_shreds_and_hides() {
        let (_d, s) = store().await;
        let j = s.journal();
        j.write(
            WriteOp::CreateWallet(wallet("w1", "tenant:a", 1)),
            NewEvent::new("a", "b", "c", "ok"),
        )
        .await
        .unwrap();
        j.write(
            WriteOp::CreateWallet(wallet("w2", "tenant:a", 2)),
            NewEvent::new("a", "b", "c", "ok"),
        )
        .await
        .unwrap();
        j.write(
            WriteOp::CreateWallet(wallet("w3", "tenant:b", 3)),
            NewEvent::new("a", "b", "c", "ok"),
        )
        .await
        .unwrap();
        assert_eq!(s.wallets("tenant:a", None, 10).await.unwrap().len(), 2);
        assert_eq!(
            s.wallets("tenant:a", Some((1, "w1".into())), 10)
                .await
                .unwrap()[0]
                .id,
            "w2"
        );
        assert!(j
            .write(
                WriteOp::DestroyWallet {
                    id: "w1".into(),
                    at: 5
                },
                NewEvent::new("a", "b", "c", "ok")
            )
            .await
            .unwrap());
        assert!(!j
            .write(
                WriteOp::DestroyWallet {
                    id: "w1".into(),
                    at: 6
                },
                NewEvent::new("a", "b", "c", "ok")
            )
            .await
            .unwrap());
        assert!(s.wallet("w1").await.unwrap().is_none());
        let sealed: Option<String> =
            sqlx::query_scalar("SELECT sealed FROM wallets WHERE id = 'w1'")
                .fetch_one(&s.read)
                .await
                .unwrap();
        assert_eq!(sealed, None, "sealed copy shredded");
    }

    #[tokio::test]
    async fn reopening_continues_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        {
            let s = Store::open(&url).await.unwrap();
            s.journal()
                .write(WriteOp::Audit, NewEvent::new("a", "b", "c", "ok"))
                .await
                .unwrap();
        }
        let s = Store::open(&url).await.unwrap();
        s.journal()
            .write(WriteOp::Audit, NewEvent::new("a", "b", "c", "ok"))
            .await
            .unwrap();
        let events = s.audit(0, 10).await.unwrap();
        let mut v = ChainVerifier::default();
        events.iter().try_for_each(|e| v.push(e)).unwrap();
        assert_eq!(v.checked(), 2);
    }
}
