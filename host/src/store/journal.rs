//! The journal: the one writer of audited changes. Concurrent writes are
//! batched into one transaction; their audit events are appended to the
//! hash chain in that same transaction, after reading the chain head inside
//! it under the database's writer lock. Nothing is cached across
//! transactions, so other replicas, the `admin` commands and a failed batch
//! can never leave the journal with a stale head.

use signet_proto::audit::{chain_hash, AuditEventBody, GENESIS_HASH};
use signet_proto::time::rfc3339_ms;
use sqlx::any::AnyConnectOptions;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};
use tokio::sync::{mpsc, oneshot};

use super::{connect, i64_of, Dialect, StoreError};
use crate::domain::{ApiClient, Decision, Intent, RecordProposal, Wallet};

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
    /// The tenant whose view of the log includes this event (not hashed;
    /// `None`: operators only).
    pub tenant: Option<String>,
    /// What was signed, decoded (hashed when present).
    pub detail: Option<serde_json::Value>,
    /// The outcome recorded instead of `outcome` when a conditional write
    /// does not apply (a replayed ticket, an intent decided meanwhile).
    pub outcome_if_not_applied: Option<String>,
}

impl NewEvent {
    /// An event.
    pub fn new(
        actor: impl Into<String>,
        action: impl Into<String>,
        target: impl Into<String>,
        outcome: impl Into<String>,
        tenant: Option<String>,
    ) -> Self {
        Self {
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            outcome: outcome.into(),
            tenant,
            detail: None,
            outcome_if_not_applied: None,
        }
    }
}

/// A write and the audit event recorded with it, atomically.
#[derive(Debug)]
pub enum WriteOp {
    /// Only the audit event.
    Audit,
    /// A new API client.
    CreateClient(ApiClient),
    /// Revoke a client from a time on (an earlier revocation stays).
    RevokeClient {
        /// Client id.
        id: String,
        /// Unix ms.
        at: u64,
    },
    /// A new wallet.
    CreateWallet(Wallet),
    /// Mark destroyed and shred the sealed key and document.
    DestroyWallet {
        /// Wallet id.
        id: String,
        /// Unix ms.
        at: u64,
    },
    /// Record a sign intent.
    CreateIntent(Intent),
    /// Require (or not) the owner's approval of a wallet's sign intents.
    SetApproval {
        /// Wallet id.
        id: String,
        /// Whether approval is required.
        required: bool,
    },
    /// Approve or decline a pending, unexpired intent: `Applied(false)` if it
    /// was not pending any more or has expired (the event is then recorded
    /// as `denied:intent_decided`).
    DecideIntent {
        /// jti.
        jti: String,
        /// What the owner decided.
        decision: Decision,
        /// `user:<id>`.
        by: String,
        /// Unix ms.
        at: u64,
    },
    /// Replace a live wallet's record, with its blob and attestation bound
    /// to it (a record change made by the signer); a proposal of this
    /// record for this wallet, pending or waiting, is marked applied.
    SetRecord {
        /// Wallet id.
        id: String,
        /// The new record's text.
        record: String,
        /// The key sealed bound to it (none for an HSM key).
        sealed: Option<Vec<u8>>,
        /// The document binding the key and the new record.
        attestation: Option<Vec<u8>>,
    },
    /// Keep the owners' approvals of a pending intent: `Applied(false)` if
    /// it is not pending any more, or its approvals changed since
    /// `previous` was read (another owner approved meanwhile: read again).
    OwnerApprovals {
        /// jti.
        jti: String,
        /// The approvals read before this one was added (JSON), if any.
        previous: Option<String>,
        /// All approvals now (JSON array).
        approvals: String,
    },
    /// A record change proposed to the wallet's owners.
    CreateProposal(RecordProposal),
    /// Keep the owners' approvals of a pending record proposal:
    /// `Applied(false)` if it is not pending any more, its authorization
    /// expired, or its approvals changed since `previous` was read.
    ProposalApprovals {
        /// Proposal id.
        id: String,
        /// The approvals read before this one was added (JSON), if any.
        previous: Option<String>,
        /// All approvals now (JSON array).
        approvals: String,
    },
    /// A pending record proposal the signer holds until `effective_at`
    /// (a loosening approved by the owners): `Applied(false)` if it was not
    /// pending any more.
    ProposalWaiting {
        /// Proposal id.
        id: String,
        /// Unix seconds.
        effective_at: u64,
    },
    /// Keep the signature made with an intent's ticket (for its approver).
    IntentSigned {
        /// jti.
        jti: String,
        /// The signature, JSON.
        signature: String,
    },
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

pub(super) struct Job {
    op: WriteOp,
    event: NewEvent,
    reply: oneshot::Sender<Result<bool, StoreError>>,
}

/// The single writer of this process. Cloning shares it.
#[derive(Clone)]
pub struct Journal {
    tx: mpsc::Sender<Job>,
}

impl Journal {
    pub(super) fn start(
        dialect: Dialect,
        conn: AnyConnection,
        options: AnyConnectOptions,
        metrics: crate::metrics::StoreMetrics,
    ) -> Self {
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(journal_loop(
            Writer {
                dialect,
                conn: Some(conn),
                options,
            },
            rx,
            metrics,
        ));
        Self { tx }
    }

    /// Applies `op` and appends `event`, durably, in one transaction (shared
    /// with other concurrent writes). Returns whether a conditional write
    /// applied (always `true` for unconditional ones).
    pub async fn write(&self, op: WriteOp, event: NewEvent) -> Result<bool, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { op, event, reply })
            .await
            .map_err(|_| StoreError::JournalStopped)?;
        rx.await.map_err(|_| StoreError::JournalStopped)?
    }
}

/// The journal's connection, reopened after a failure (a PostgreSQL server
/// restart, a dropped connection).
struct Writer {
    dialect: Dialect,
    conn: Option<AnyConnection>,
    options: AnyConnectOptions,
}

/// Most writes folded into one transaction.
const MAX_BATCH: usize = 1024;

async fn journal_loop(
    mut writer: Writer,
    mut rx: mpsc::Receiver<Job>,
    metrics: crate::metrics::StoreMetrics,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let started = std::time::Instant::now();
        let result: Result<Vec<bool>, StoreError> = match writer.conn.as_mut() {
            Some(conn) => run_batch(writer.dialect, conn, &batch)
                .await
                .map_err(StoreError::from),
            None => match Box::pin(connect(writer.dialect, &writer.options)).await {
                Ok(conn) => run_batch(writer.dialect, writer.conn.insert(conn), &batch)
                    .await
                    .map_err(StoreError::from),
                Err(e) => Err(e),
            },
        };
        metrics
            .journal_commit
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok(applied) => {
                for (job, applied) in batch.drain(..).zip(applied) {
                    let _ = job.reply.send(Ok(applied));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, writes = batch.len(), "journal batch failed; nothing of it was written");
                metrics.storage_errors.inc();
                // Start the next batch on a fresh connection: whatever state
                // this one is in (broken socket, aborted transaction) stays behind.
                writer.conn = None;
                for job in batch.drain(..) {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Applies a batch in one transaction: the writer lock is taken and the
/// chain head read first (one trip), rare writes go one by one, ticket
/// consumptions and audit events in multi-row statements. On SQLite the
/// `COMMIT` travels with the last statement. On any error the transaction is
/// rolled back and nothing of the batch stays.
///
/// Boxed: it names one lifetime for the connection's executor, which keeps
/// the spawned journal task `Send` (rustc cannot prove it through sqlx's
/// higher-ranked executor bounds otherwise).
fn run_batch<'a>(
    dialect: Dialect,
    conn: &'a mut AnyConnection,
    batch: &'a [Job],
) -> BatchFuture<'a> {
    Box::pin(async move {
        let result = write_batch(dialect, conn, batch).await;
        if result.is_err() {
            // Whether or not a transaction is still open (a failed COMMIT
            // has already ended it), nothing of this batch may stay.
            if let Err(e) = super::exec_raw(&mut *conn, "ROLLBACK").await {
                tracing::debug!(error = %e, "rollback after a failed batch");
            }
        }
        result
    })
}

type BatchFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Vec<bool>, sqlx::Error>> + Send + 'a>,
>;

async fn write_batch(
    dialect: Dialect,
    conn: &mut AnyConnection,
    batch: &[Job],
) -> Result<Vec<bool>, sqlx::Error> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let mut applied = vec![true; batch.len()];
    let mut tickets = Vec::new();
    // Intents are made and signed many at a time under load: one
    // statement each per batch, like ticket consumptions.
    let mut new_intents = Vec::new();
    let mut signed_intents = Vec::new();
    let mut others = Vec::new();
    for (i, job) in batch.iter().enumerate() {
        match &job.op {
            WriteOp::Audit => {}
            WriteOp::ConsumeTicket {
                jti,
                wallet_id,
                expires_at,
            } => tickets.push((i, (jti.as_str(), wallet_id.as_str(), *expires_at))),
            WriteOp::CreateIntent(intent) => new_intents.push(intent),
            WriteOp::IntentSigned { jti, signature } => {
                signed_intents.push((jti.as_str(), signature.as_str()));
            }
            op => others.push((i, op)),
        }
    }
    // The writer lock and the chain head come first. On SQLite they travel
    // with the first ticket insert (one trip to its worker thread instead of
    // two); PostgreSQL cannot carry parameters in a multi-statement query.
    let rows: Vec<(&str, &str, u64)> = tickets.iter().map(|(_, t)| *t).collect();
    let (head, fresh) = if dialect == Dialect::Sqlite && !rows.is_empty() {
        consume_tickets(
            dialect,
            &mut *conn,
            &rows,
            Some(dialect.begin_and_read_head()),
        )
        .await?
    } else {
        // All rows, then the first: the statements before the SELECT yield
        // none, and a "fetch one" stops SQLite's worker after the first statement.
        let head =
            sqlx::Executor::fetch_all(&mut *conn, sqlx::raw_sql(dialect.begin_and_read_head()))
                .await?
                .into_iter()
                .next()
                .map(|row| head_of(&row))
                .transpose()?;
        (
            head,
            consume_tickets(dialect, &mut *conn, &rows, None).await?.1,
        )
    };
    let mut head = head.unwrap_or_else(|| (0, GENESIS_HASH.to_owned()));
    for ((i, _), fresh) in tickets.iter().zip(fresh) {
        applied[*i] = fresh;
    }
    insert_intents(dialect, &mut *conn, &new_intents).await?;
    let mut shredded = false;
    for (i, op) in others {
        shredded |= matches!(op, WriteOp::DestroyWallet { .. });
        applied[i] = apply(&mut *conn, op).await?;
    }
    set_intent_signatures(dialect, &mut *conn, &signed_intents).await?;
    // Each event with the outcome it records: a conditional write that did
    // not apply records its refusal instead.
    let events: Vec<(&NewEvent, &str)> = batch
        .iter()
        .zip(&applied)
        .map(|(job, done)| {
            let outcome = match (done, &job.event.outcome_if_not_applied) {
                (false, Some(refused)) => refused,
                _ => &job.event.outcome,
            };
            (&job.event, outcome.as_str())
        })
        .collect();
    // Every job carries an event, so this is never empty.
    let commit_inline = dialect == Dialect::Sqlite;
    append_events(dialect, &mut *conn, &mut head, &events, commit_inline).await?;
    if !commit_inline {
        super::exec_raw(&mut *conn, "COMMIT").await?;
    }
    if shredded && dialect == Dialect::Sqlite {
        // Best effort: the shredded row is committed either way.
        if let Err(e) = super::exec_raw(&mut *conn, super::sqlite::AFTER_SHRED).await {
            tracing::warn!(error = %e, "WAL checkpoint after a destroy failed");
        }
    }
    Ok(applied)
}

/// Applies one op inside the batch transaction.
async fn apply(conn: &mut AnyConnection, op: &WriteOp) -> Result<bool, sqlx::Error> {
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
                .bind(i64_of(c.created_at_ms))
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
            sqlx::query("INSERT INTO wallets (id, owner, key_type, public_key, label, sealed, attestation, created_at, destroyed_at, require_approval, record) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $10)")
                .bind(&w.id)
                .bind(w.owner.to_string())
                .bind(w.key_type.as_str())
                .bind(&w.public_key)
                .bind(&w.label)
                .bind(&w.sealed)
                .bind(&w.attestation)
                .bind(i64_of(w.created_at_ms))
                .bind(i64::from(w.require_approval))
                .bind(w.record.as_deref())
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
        WriteOp::SetApproval { id, required } => {
            let r = sqlx::query(
                "UPDATE wallets SET require_approval = $2 WHERE id = $1 AND destroyed_at IS NULL",
            )
            .bind(id)
            .bind(i64::from(*required))
            .execute(&mut *conn)
            .await?;
            Ok(r.rows_affected() == 1)
        }
        WriteOp::DecideIntent {
            jti,
            decision,
            by,
            at,
        } => {
            let state = decision.approval();
            let r = sqlx::query("UPDATE sign_intents SET approval = $2, decided_at = $3, decided_by = $4 WHERE jti = $1 AND approval = 'pending' AND expires_at >= $5")
                .bind(jti)
                .bind(state.as_str())
                .bind(i64_of(*at))
                .bind(by)
                .bind(i64_of(*at / 1000))
                .execute(&mut *conn)
                .await?;
            Ok(r.rows_affected() == 1)
        }
        WriteOp::SetRecord {
            id,
            record,
            sealed,
            attestation,
        } => {
            let r = sqlx::query("UPDATE wallets SET record = $2, sealed = COALESCE($3, sealed), attestation = $4 WHERE id = $1 AND destroyed_at IS NULL")
                .bind(id)
                .bind(record)
                .bind(sealed)
                .bind(attestation)
                .execute(&mut *conn)
                .await?;
            if r.rows_affected() == 1 {
                sqlx::query("UPDATE record_proposals SET stage = 'applied', decided_at = $3 WHERE wallet_id = $1 AND record = $2 AND stage IN ('pending', 'waiting')")
                    .bind(id)
                    .bind(record)
                    .bind(i64_of(signet_proto::time::now_ms()))
                    .execute(&mut *conn)
                    .await?;
            }
            Ok(r.rows_affected() == 1)
        }
        WriteOp::CreateProposal(p) => {
            sqlx::query("INSERT INTO record_proposals (id, wallet_id, previous_record, record, owner_authorization, owner_approvals, stage, effective_at, expires_at, created_by, created_at, decided_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL)")
                .bind(&p.id)
                .bind(&p.wallet_id)
                .bind(&p.previous_record)
                .bind(&p.record)
                .bind(&p.authorization)
                .bind(&p.approvals)
                .bind(p.stage.as_str())
                .bind(p.effective_at_s.map(i64_of))
                .bind(i64_of(p.expires_at_s))
                .bind(&p.created_by)
                .bind(i64_of(p.created_at_ms))
                .execute(&mut *conn)
                .await?;
            Ok(true)
        }
        WriteOp::ProposalApprovals {
            id,
            previous,
            approvals,
        } => {
            let r = sqlx::query("UPDATE record_proposals SET owner_approvals = $2 WHERE id = $1 AND stage = 'pending' AND expires_at >= $4 AND COALESCE(owner_approvals, '') = $3")
                .bind(id)
                .bind(approvals)
                .bind(previous.as_deref().unwrap_or(""))
                .bind(i64_of(signet_proto::time::now_ms() / 1000))
                .execute(&mut *conn)
                .await?;
            Ok(r.rows_affected() == 1)
        }
        WriteOp::ProposalWaiting { id, effective_at } => {
            let r = sqlx::query("UPDATE record_proposals SET stage = 'waiting', effective_at = $2 WHERE id = $1 AND stage = 'pending'")
                .bind(id)
                .bind(i64_of(*effective_at))
                .execute(&mut *conn)
                .await?;
            Ok(r.rows_affected() == 1)
        }
        WriteOp::OwnerApprovals {
            jti,
            previous,
            approvals,
        } => {
            let r = sqlx::query("UPDATE sign_intents SET owner_approvals = $2 WHERE jti = $1 AND approval = 'pending' AND COALESCE(owner_approvals, '') = $3")
                .bind(jti)
                .bind(approvals)
                .bind(previous.as_deref().unwrap_or(""))
                .execute(&mut *conn)
                .await?;
            Ok(r.rows_affected() == 1)
        }
        // Applied together by `insert_intents` and `set_intent_signatures`.
        WriteOp::CreateIntent(_) | WriteOp::IntentSigned { .. } => Ok(true),
    }
}

/// Rows per multi-row INSERT (within SQLite's 32,766 and PostgreSQL's 65,535
/// bound parameters).
pub(super) const ROWS_PER_INSERT: usize = 500;

/// `($1, $2, …), (…)` for `rows` rows of `cols` parameters.
pub(super) fn values_clause(dialect: Dialect, rows: usize, cols: usize) -> String {
    let mut out = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 1..=cols {
            if c > 1 {
                out.push_str(", ");
            }
            match dialect {
                // Anonymous and in order: sqlx-sqlite looks each named
                // parameter up by index, a walk of the statement's name list,
                // which made binding a 1,000-parameter insert quadratic
                // (3.6 % of the host's CPU under `sign`, issue 29).
                Dialect::Sqlite => out.push('?'),
                Dialect::Postgres => {
                    out.push('$');
                    out.push_str(&(r * cols + c).to_string());
                }
            }
        }
        out.push(')');
    }
    out
}

/// The chain head `(seq, hash)` of a `SELECT seq, hash` row.
fn head_of(row: &AnyRow) -> Result<(u64, String), sqlx::Error> {
    Ok((
        u64::try_from(row.try_get::<i64, _>(0)?)
            .map_err(|_| sqlx::Error::Protocol("negative audit seq".into()))?,
        row.try_get::<String, _>(1)?,
    ))
}

/// Consumes tickets with one statement per chunk; returns, per ticket,
/// whether it was fresh (a jti repeated within the batch is fresh once).
/// A `head_prefix` (SQLite: the writer lock and the head `SELECT`) is sent
/// with the first statement; its two-column row is the chain head returned.
async fn consume_tickets(
    dialect: Dialect,
    conn: &mut AnyConnection,
    tickets: &[(&str, &str, u64)],
    mut head_prefix: Option<&str>,
) -> Result<(Option<(u64, String)>, Vec<bool>), sqlx::Error> {
    let now = i64_of(signet_proto::time::now_ms() / 1000);
    let mut head = None;
    let mut fresh = Vec::with_capacity(tickets.len());
    for chunk in tickets.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "{}{}INSERT INTO consumed_tickets (jti, wallet_id, consumed_at, expires_at) VALUES {} ON CONFLICT (jti) DO NOTHING RETURNING jti",
            head_prefix.unwrap_or_default(),
            if head_prefix.is_some() { "; " } else { "" },
            values_clause(dialect, chunk.len(), 4)
        );
        head_prefix = None;
        let mut q = sqlx::query(&sql);
        for (jti, wallet, exp) in chunk {
            q = q.bind(*jti).bind(*wallet).bind(now).bind(i64_of(*exp));
        }
        let mut inserted = std::collections::HashSet::new();
        for row in q.fetch_all(&mut *conn).await? {
            if row.columns().len() == 2 {
                head = Some(head_of(&row)?);
            } else {
                inserted.insert(row.try_get::<String, _>(0)?);
            }
        }
        fresh.extend(chunk.iter().map(|(jti, _, _)| inserted.remove(*jti)));
    }
    Ok((head, fresh))
}

/// Records new sign intents, one multi-row statement per chunk.
async fn insert_intents(
    dialect: Dialect,
    conn: &mut AnyConnection,
    intents: &[&Intent],
) -> Result<(), sqlx::Error> {
    for chunk in intents.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO sign_intents (jti, wallet_id, digest, message, created_by, expires_at, content, approval, created_at, detail, owner, payload, owner_authorization, owner_approvals) VALUES {}",
            values_clause(dialect, chunk.len(), 14)
        );
        let mut q = sqlx::query(&sql);
        for i in chunk {
            q = q
                .bind(&i.jti)
                .bind(&i.wallet_id)
                .bind(&i.digest)
                .bind(&i.message)
                .bind(&i.created_by)
                .bind(i64_of(i.expires_at_s))
                .bind(&i.content)
                .bind(i.approval.map(|a| a.as_str()))
                .bind(i64_of(i.created_at_ms))
                .bind(&i.detail)
                .bind(i.owner.as_ref().map(ToString::to_string))
                .bind(&i.payload)
                .bind(&i.authorization)
                .bind(&i.owner_approvals);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Keeps the signatures made with intents' tickets, one statement per
/// chunk (an `UPDATE … FROM (VALUES …)`, which SQLite and PostgreSQL both
/// take, with the values' columns named `column1`, `column2`).
async fn set_intent_signatures(
    dialect: Dialect,
    conn: &mut AnyConnection,
    signed: &[(&str, &str)],
) -> Result<(), sqlx::Error> {
    for chunk in signed.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "UPDATE sign_intents SET signature = v.column2 FROM (VALUES {}) AS v WHERE sign_intents.jti = v.column1",
            values_clause(dialect, chunk.len(), 2)
        );
        let mut q = sqlx::query(&sql);
        for (jti, signature) in chunk {
            q = q.bind(*jti).bind(*signature);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Appends events (at least one) to the chain after `head`, one statement
/// per chunk; with `commit_inline` the last statement carries the `COMMIT`.
async fn append_events(
    dialect: Dialect,
    conn: &mut AnyConnection,
    head: &mut (u64, String),
    events: &[(&NewEvent, &str)],
    commit_inline: bool,
) -> Result<(), sqlx::Error> {
    let at = rfc3339_ms(signet_proto::time::now_ms());
    let chunks = events.len().div_ceil(ROWS_PER_INSERT);
    for (n, chunk) in events.chunks(ROWS_PER_INSERT).enumerate() {
        let mut rows = Vec::with_capacity(chunk.len());
        for (event, outcome) in chunk {
            let body = AuditEventBody {
                seq: head.0 + 1,
                at: at.clone(),
                actor: event.actor.clone(),
                action: event.action.clone(),
                target: event.target.clone(),
                outcome: (*outcome).to_owned(),
                detail: event.detail.clone(),
            };
            let hash = chain_hash(&head.1, &body);
            rows.push((body, head.1.clone(), hash.clone(), event.tenant.as_deref()));
            *head = (head.0 + 1, hash);
        }
        let sql = format!(
            "INSERT INTO audit_events (seq, at, actor, action, target, outcome, prev_hash, hash, tenant, detail) VALUES {}{}",
            values_clause(dialect, rows.len(), 10),
            if commit_inline && n + 1 == chunks { "; COMMIT" } else { "" }
        );
        let mut q = sqlx::query(&sql);
        for (body, prev, hash, tenant) in &rows {
            q = q
                .bind(i64_of(body.seq))
                .bind(&body.at)
                .bind(&body.actor)
                .bind(&body.action)
                .bind(&body.target)
                .bind(&body.outcome)
                .bind(prev)
                .bind(hash)
                .bind(*tenant)
                .bind(body.detail.as_ref().map(serde_json::Value::to_string));
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod testing {
    //! Lets the store's tests run a batch on a connection of their own.
    use super::*;

    /// A job whose reply nobody awaits.
    pub(in crate::store) fn job(op: WriteOp, event: NewEvent) -> Job {
        let (reply, _) = oneshot::channel();
        Job { op, event, reply }
    }

    /// Runs one batch on `conn`.
    pub(in crate::store) async fn batch(
        dialect: Dialect,
        conn: &mut AnyConnection,
        jobs: &[Job],
    ) -> Result<Vec<bool>, sqlx::Error> {
        run_batch(dialect, conn, jobs).await
    }
}
