//! The journal: the one writer of audited changes. Concurrent writes are
//! batched into one transaction; their audit events are appended to the
//! hash chain in that same transaction, after reading the chain head inside
//! it under the database's writer lock. Nothing is cached across
//! transactions, so other replicas, the `admin` commands and a failed batch
//! can never leave the journal with a stale head.
//!
//! What a batch writes, and with which parameters, is decided here for both
//! databases; [`sqlite`] runs it on a thread of its own through rusqlite,
//! [`postgres`] on a task through sqlx.

use std::borrow::Cow;

use signet_proto::audit::{chain_hash, AuditEventBody, GENESIS_HASH};
use signet_proto::time::rfc3339_ms;
use tokio::sync::{mpsc, oneshot};

use super::{i64_of, Dialect, StoreError};
use crate::domain::{ApiClient, Decision, Intent, RecordProposal, Wallet};

mod postgres;
mod sqlite;

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

/// Writes waiting for the journal, at most.
const QUEUE: usize = 4096;

impl Journal {
    /// Starts the SQLite journal on a thread of its own, writing to `file`
    /// (the migrations have run); fails if its connection does not open.
    pub(super) async fn start_sqlite(
        file: super::sqlite::JournalFile,
        metrics: crate::metrics::StoreMetrics,
    ) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel(QUEUE);
        sqlite::start(file, rx, metrics).await?;
        Ok(Self { tx })
    }

    /// Starts the PostgreSQL journal on a task, with `conn` (reopened from
    /// `options` after a failure).
    pub(super) fn start_postgres(
        conn: sqlx::AnyConnection,
        options: sqlx::any::AnyConnectOptions,
        metrics: crate::metrics::StoreMetrics,
    ) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(postgres::run(conn, options, rx, metrics));
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

/// Most writes folded into one transaction.
const MAX_BATCH: usize = 1024;

/// Answers a batch's writers, counting its time and its failure.
fn answer(
    batch: &mut Vec<Job>,
    result: Result<Vec<bool>, StoreError>,
    started: std::time::Instant,
    metrics: &crate::metrics::StoreMetrics,
) {
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
            for job in batch.drain(..) {
                let _ = job.reply.send(Err(e.clone()));
            }
        }
    }
}

/// A statement parameter, borrowed from the batch where it can be.
#[derive(Debug)]
pub(super) enum Param<'a> {
    /// An integer or NULL.
    Int(Option<i64>),
    /// Text or NULL.
    Text(Option<Cow<'a, str>>),
    /// Bytes or NULL.
    Blob(Option<&'a [u8]>),
}

impl<'a> Param<'a> {
    /// A time or count (stored as a signed 64-bit integer).
    fn int(v: u64) -> Self {
        Self::Int(Some(i64_of(v)))
    }

    /// Borrowed text.
    fn text(v: &'a str) -> Self {
        Self::Text(Some(Cow::Borrowed(v)))
    }

    /// Borrowed text or NULL.
    fn opt_text(v: Option<&'a str>) -> Self {
        Self::Text(v.map(Cow::Borrowed))
    }

    /// Text made for the statement, or NULL.
    fn owned(v: Option<String>) -> Self {
        Self::Text(v.map(Cow::Owned))
    }
}

/// One statement of a rare write.
pub(super) struct Statement<'a> {
    /// The SQL, with `$n` parameters (SQLite runs them as `?n`).
    sql: &'static str,
    /// `$1`, `$2`, … in order.
    params: Vec<Param<'a>>,
}

/// How a rare write (not a ticket, an intent or its signature) is applied.
pub(super) struct OpSql<'a> {
    /// The write.
    write: Statement<'a>,
    /// Whether the write applies only where it changes one row (then
    /// `Applied(false)` when it changed none); unconditional writes apply.
    conditional: bool,
    /// Run after `write` only when it applied.
    then: Option<Statement<'a>>,
}

impl<'a> OpSql<'a> {
    /// A write that always applies (an insert; a conflict fails the batch).
    fn always(sql: &'static str, params: Vec<Param<'a>>) -> Self {
        Self {
            write: Statement { sql, params },
            conditional: false,
            then: None,
        }
    }

    /// A write that applies where it changes exactly one row.
    fn one_row(sql: &'static str, params: Vec<Param<'a>>) -> Self {
        Self {
            conditional: true,
            ..Self::always(sql, params)
        }
    }

    /// Whether the write applied, given the rows its statement changed.
    fn applied(&self, rows_changed: u64) -> bool {
        !self.conditional || rows_changed == 1
    }
}

/// The SQL of a rare write; `None` for the writes a batch applies together
/// (tickets, intents, their signatures) and for `Audit`.
fn op_sql(op: &WriteOp) -> Option<OpSql<'_>> {
    Some(match op {
        WriteOp::Audit
        | WriteOp::ConsumeTicket { .. }
        | WriteOp::CreateIntent(_)
        | WriteOp::IntentSigned { .. } => return None,
        WriteOp::CreateClient(c) => OpSql::always(
            "INSERT INTO api_clients (id, name, tenant, scopes, secret_sha256, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)",
            vec![
                Param::text(&c.id),
                Param::text(&c.name),
                Param::text(&c.tenant),
                Param::owned(Some(serde_json::to_string(&c.scopes).unwrap_or_default())),
                Param::text(&c.secret_sha256),
                Param::int(c.created_at_ms),
            ],
        ),
        WriteOp::RevokeClient { id, at } => OpSql::one_row(
            "UPDATE api_clients SET revoked_at = $2 WHERE id = $1 AND (revoked_at IS NULL OR revoked_at > $2)",
            vec![Param::text(id), Param::int(*at)],
        ),
        WriteOp::CreateWallet(w) => OpSql::always(
            "INSERT INTO wallets (id, owner, key_type, public_key, label, sealed, attestation, created_at, destroyed_at, require_approval, record) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $10)",
            vec![
                Param::text(&w.id),
                Param::owned(Some(w.owner.to_string())),
                Param::text(w.key_type.as_str()),
                Param::Blob(Some(&w.public_key)),
                Param::opt_text(w.label.as_deref()),
                Param::Blob(w.sealed.as_deref()),
                Param::Blob(w.attestation.as_deref()),
                Param::int(w.created_at_ms),
                Param::Int(Some(i64::from(w.require_approval))),
                Param::opt_text(w.record.as_deref()),
            ],
        ),
        WriteOp::DestroyWallet { id, at } => OpSql::one_row(
            "UPDATE wallets SET destroyed_at = $2, sealed = NULL, attestation = NULL WHERE id = $1 AND destroyed_at IS NULL",
            vec![Param::text(id), Param::int(*at)],
        ),
        WriteOp::SetApproval { id, required } => OpSql::one_row(
            "UPDATE wallets SET require_approval = $2 WHERE id = $1 AND destroyed_at IS NULL",
            vec![Param::text(id), Param::Int(Some(i64::from(*required)))],
        ),
        WriteOp::DecideIntent {
            jti,
            decision,
            by,
            at,
        } => OpSql::one_row(
            "UPDATE sign_intents SET approval = $2, decided_at = $3, decided_by = $4 WHERE jti = $1 AND approval = 'pending' AND expires_at >= $5",
            vec![
                Param::text(jti),
                Param::text(decision.approval().as_str()),
                Param::int(*at),
                Param::text(by),
                Param::int(*at / 1000),
            ],
        ),
        WriteOp::SetRecord {
            id,
            record,
            sealed,
            attestation,
        } => OpSql {
            then: Some(Statement {
                sql: "UPDATE record_proposals SET stage = 'applied', decided_at = $3 WHERE wallet_id = $1 AND record = $2 AND stage IN ('pending', 'waiting')",
                params: vec![
                    Param::text(id),
                    Param::text(record),
                    Param::int(signet_proto::time::now_ms()),
                ],
            }),
            ..OpSql::one_row(
                "UPDATE wallets SET record = $2, sealed = COALESCE($3, sealed), attestation = $4 WHERE id = $1 AND destroyed_at IS NULL",
                vec![
                    Param::text(id),
                    Param::text(record),
                    Param::Blob(sealed.as_deref()),
                    Param::Blob(attestation.as_deref()),
                ],
            )
        },
        WriteOp::CreateProposal(p) => OpSql::always(
            "INSERT INTO record_proposals (id, wallet_id, previous_record, record, owner_authorization, owner_approvals, stage, effective_at, expires_at, created_by, created_at, decided_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL)",
            vec![
                Param::text(&p.id),
                Param::text(&p.wallet_id),
                Param::text(&p.previous_record),
                Param::text(&p.record),
                Param::text(&p.authorization),
                Param::opt_text(p.approvals.as_deref()),
                Param::text(p.stage.as_str()),
                Param::Int(p.effective_at_s.map(i64_of)),
                Param::int(p.expires_at_s),
                Param::text(&p.created_by),
                Param::int(p.created_at_ms),
            ],
        ),
        WriteOp::ProposalApprovals {
            id,
            previous,
            approvals,
        } => OpSql::one_row(
            "UPDATE record_proposals SET owner_approvals = $2 WHERE id = $1 AND stage = 'pending' AND expires_at >= $4 AND COALESCE(owner_approvals, '') = $3",
            vec![
                Param::text(id),
                Param::text(approvals),
                Param::text(previous.as_deref().unwrap_or("")),
                Param::int(signet_proto::time::now_ms() / 1000),
            ],
        ),
        WriteOp::ProposalWaiting { id, effective_at } => OpSql::one_row(
            "UPDATE record_proposals SET stage = 'waiting', effective_at = $2 WHERE id = $1 AND stage = 'pending'",
            vec![Param::text(id), Param::int(*effective_at)],
        ),
        WriteOp::OwnerApprovals {
            jti,
            previous,
            approvals,
        } => OpSql::one_row(
            "UPDATE sign_intents SET owner_approvals = $2 WHERE jti = $1 AND approval = 'pending' AND COALESCE(owner_approvals, '') = $3",
            vec![
                Param::text(jti),
                Param::text(approvals),
                Param::text(previous.as_deref().unwrap_or("")),
            ],
        ),
    })
}

/// A batch sorted by how it is written: ticket consumptions, new intents
/// and intents' signatures are many under load and go together; the rest
/// one by one, in the batch's order.
struct Plan<'a> {
    /// `(job index, jti, the row in TICKET_COLUMNS' order)`.
    tickets: Vec<(usize, &'a str, [Param<'a>; 4])>,
    /// Rows in `INTENT_COLUMNS`' order.
    new_intents: Vec<[Param<'a>; 14]>,
    /// `(jti, signature)`.
    signed_intents: Vec<[Param<'a>; 2]>,
    /// `(job index, how)`.
    others: Vec<(usize, OpSql<'a>)>,
    /// Whether a wallet's sealed key is shredded.
    shreds: bool,
}

impl<'a> Plan<'a> {
    /// The batch's plan. Made under the writer lock: the times it reads
    /// (a ticket's consumption, a decision, an approval's expiry check)
    /// are those of the transaction, not of the wait for the lock.
    fn of(batch: &'a [Job]) -> Self {
        // One time for the batch's ticket rows (pruned after expiry).
        let now = signet_proto::time::now_ms() / 1000;
        let mut plan = Self {
            tickets: Vec::new(),
            new_intents: Vec::new(),
            signed_intents: Vec::new(),
            others: Vec::new(),
            shreds: false,
        };
        for (i, job) in batch.iter().enumerate() {
            match &job.op {
                WriteOp::Audit => {}
                WriteOp::ConsumeTicket {
                    jti,
                    wallet_id,
                    expires_at,
                } => plan.tickets.push((
                    i,
                    jti,
                    [
                        Param::text(jti),
                        Param::text(wallet_id),
                        Param::int(now),
                        Param::int(*expires_at),
                    ],
                )),
                WriteOp::CreateIntent(intent) => plan.new_intents.push(intent_row(intent)),
                WriteOp::IntentSigned { jti, signature } => plan
                    .signed_intents
                    .push([Param::text(jti), Param::text(signature)]),
                op => {
                    plan.shreds |= matches!(op, WriteOp::DestroyWallet { .. });
                    if let Some(how) = op_sql(op) {
                        plan.others.push((i, how));
                    }
                }
            }
        }
        plan
    }
}

/// Columns of a ticket consumption; `ON CONFLICT (jti) DO NOTHING`
/// makes a consumed ticket's insert change no row.
const TICKET_COLUMNS: &str = "consumed_tickets (jti, wallet_id, consumed_at, expires_at)";

/// Columns of a new sign intent, in [`intent_row`]'s order.
const INTENT_COLUMNS: &str = "sign_intents (jti, wallet_id, digest, message, created_by, expires_at, content, approval, created_at, detail, owner, payload, owner_authorization, owner_approvals)";

/// A new intent's row, in `INTENT_COLUMNS`' order.
fn intent_row(i: &Intent) -> [Param<'_>; 14] {
    [
        Param::text(&i.jti),
        Param::text(&i.wallet_id),
        Param::Blob(Some(&i.digest)),
        Param::Blob(i.message.as_deref()),
        Param::text(&i.created_by),
        Param::int(i.expires_at_s),
        Param::opt_text(i.content.as_deref()),
        Param::opt_text(i.approval.map(|a| a.as_str())),
        Param::int(i.created_at_ms),
        Param::opt_text(i.detail.as_deref()),
        Param::owned(i.owner.as_ref().map(ToString::to_string)),
        Param::opt_text(i.payload.as_deref()),
        Param::opt_text(i.authorization.as_deref()),
        Param::opt_text(i.owner_approvals.as_deref()),
    ]
}

/// Columns of an audit event, in [`EventRow::params`]'s order.
const EVENT_COLUMNS: &str =
    "audit_events (seq, at, actor, action, target, outcome, prev_hash, hash, tenant, detail)";

/// An audit event chained after the one before it, ready to insert.
struct EventRow<'a> {
    /// What is hashed.
    body: AuditEventBody,
    /// The hash of the event before it.
    prev: String,
    /// Its own hash.
    hash: String,
    /// Whose view of the log includes it.
    tenant: Option<&'a str>,
    /// `body.detail` as stored (JSON text).
    detail: Option<String>,
}

impl EventRow<'_> {
    /// The row, in `EVENT_COLUMNS`' order.
    fn params(&self) -> [Param<'_>; 10] {
        [
            Param::int(self.body.seq),
            Param::text(&self.body.at),
            Param::text(&self.body.actor),
            Param::text(&self.body.action),
            Param::text(&self.body.target),
            Param::text(&self.body.outcome),
            Param::text(&self.prev),
            Param::text(&self.hash),
            Param::opt_text(self.tenant),
            Param::opt_text(self.detail.as_deref()),
        ]
    }
}

/// The batch's events chained after `head` (`None`: the genesis), each
/// with the outcome it records: a conditional write that did not apply
/// records its refusal instead.
fn chain<'a>(head: Option<(u64, String)>, batch: &'a [Job], applied: &[bool]) -> Vec<EventRow<'a>> {
    let (mut seq, mut prev) = head.unwrap_or_else(|| (0, GENESIS_HASH.to_owned()));
    let at = rfc3339_ms(signet_proto::time::now_ms());
    let mut rows = Vec::with_capacity(batch.len());
    for (job, done) in batch.iter().zip(applied) {
        let event = &job.event;
        let outcome = match (done, &event.outcome_if_not_applied) {
            (false, Some(refused)) => refused,
            _ => &event.outcome,
        };
        seq += 1;
        let body = AuditEventBody {
            seq,
            at: at.clone(),
            actor: event.actor.clone(),
            action: event.action.clone(),
            target: event.target.clone(),
            outcome: outcome.clone(),
            detail: event.detail.clone(),
        };
        let hash = chain_hash(&prev, &body);
        let detail = body.detail.as_ref().map(serde_json::Value::to_string);
        rows.push(EventRow {
            body,
            prev: std::mem::replace(&mut prev, hash.clone()),
            hash,
            tenant: event.tenant.as_deref(),
            detail,
        });
    }
    rows
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

#[cfg(test)]
pub(super) mod testing {
    //! Lets the store's tests run batches on a connection of their own.
    use super::*;

    /// A job whose reply nobody awaits.
    pub(in crate::store) fn job(op: WriteOp, event: NewEvent) -> Job {
        let (reply, _) = oneshot::channel();
        Job { op, event, reply }
    }

    /// A journal connection of the test's own.
    pub(in crate::store) enum Conn {
        /// SQLite, as its journal thread writes.
        Sqlite(rusqlite::Connection),
        /// PostgreSQL.
        Postgres(sqlx::AnyConnection),
    }

    impl Conn {
        /// Opens one to the database at `url` (the store has opened it).
        pub(in crate::store) async fn open(url: &str) -> Result<Self, StoreError> {
            Ok(match Dialect::of(url)? {
                Dialect::Sqlite => Self::Sqlite(sqlite::open(&super::super::sqlite_file(url)?)?),
                dialect => {
                    let options = super::super::connect_options(dialect, url)?;
                    Self::Postgres(super::super::connect(dialect, &options).await?)
                }
            })
        }

        /// The SQLite connection (a test of SQLite's own behaviour).
        pub(in crate::store) fn sqlite(&self) -> &rusqlite::Connection {
            match self {
                Self::Sqlite(conn) => conn,
                Self::Postgres(_) => panic!("not SQLite"),
            }
        }

        /// Runs one batch.
        pub(in crate::store) async fn batch(
            &mut self,
            jobs: &[Job],
        ) -> Result<Vec<bool>, StoreError> {
            match self {
                Self::Sqlite(conn) => sqlite::run_batch(conn, jobs).map_err(StoreError::from),
                Self::Postgres(conn) => postgres::run_batch(conn, jobs)
                    .await
                    .map_err(StoreError::from),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::domain::{Owner, ProposalStage};
    use signet_proto::KeyType;

    /// Every rare write's statements: each `$` starts a parameter number,
    /// and the numbers are exactly `1..=params.len()` (SQLite runs `$n` as
    /// `?n`, PostgreSQL binds them by number).
    #[test]
    fn every_rare_write_numbers_its_parameters_one_to_n() {
        let wallet = Wallet {
            id: "w".into(),
            owner: Owner::parse("tenant:a").unwrap(),
            key_type: KeyType::Secp256k1,
            public_key: vec![4; 65],
            label: None,
            sealed: None,
            attestation: None,
            created_at_ms: 1,
            require_approval: false,
            record: None,
        };
        let client = ApiClient {
            id: "c".into(),
            name: "c".into(),
            tenant: "a".into(),
            scopes: vec!["*".into()],
            secret_sha256: "00".repeat(32),
            created_at_ms: 1,
            revoked_at_ms: None,
            last_used_at_ms: None,
        };
        let proposal = RecordProposal {
            id: "rp".into(),
            wallet_id: "w".into(),
            previous_record: "v1".into(),
            record: "v2".into(),
            authorization: "a".into(),
            approvals: None,
            stage: ProposalStage::Pending,
            effective_at_s: None,
            expires_at_s: 2,
            created_by: "client:c".into(),
            created_at_ms: 1,
            decided_at_ms: None,
        };
        let (id, jti) = (String::from("w"), String::from("j"));
        let ops = [
            WriteOp::CreateClient(client),
            WriteOp::RevokeClient {
                id: "c".into(),
                at: 1,
            },
            WriteOp::CreateWallet(wallet),
            WriteOp::DestroyWallet {
                id: id.clone(),
                at: 1,
            },
            WriteOp::SetApproval {
                id: id.clone(),
                required: true,
            },
            WriteOp::DecideIntent {
                jti: jti.clone(),
                decision: Decision::Approve,
                by: "user:u".into(),
                at: 1,
            },
            WriteOp::SetRecord {
                id: id.clone(),
                record: "v2".into(),
                sealed: None,
                attestation: None,
            },
            WriteOp::OwnerApprovals {
                jti,
                previous: None,
                approvals: "[]".into(),
            },
            WriteOp::CreateProposal(proposal),
            WriteOp::ProposalApprovals {
                id: "rp".into(),
                previous: None,
                approvals: "[]".into(),
            },
            WriteOp::ProposalWaiting {
                id: "rp".into(),
                effective_at: 2,
            },
        ];
        let mut statements = 0;
        for op in &ops {
            let how = op_sql(op).expect("a rare write");
            for st in std::iter::once(&how.write).chain(&how.then) {
                statements += 1;
                let mut numbers = std::collections::BTreeSet::new();
                for after in st.sql.split('$').skip(1) {
                    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
                    assert!(!digits.is_empty(), "a `$` that is no parameter: {}", st.sql);
                    numbers.insert(digits.parse::<usize>().unwrap());
                }
                let expected: std::collections::BTreeSet<_> = (1..=st.params.len()).collect();
                assert_eq!(numbers, expected, "{}", st.sql);
            }
        }
        assert_eq!(
            statements, 12,
            "every rare write, and SetRecord's follow-up"
        );
        for op in [
            WriteOp::Audit,
            WriteOp::IntentSigned {
                jti: "j".into(),
                signature: "{}".into(),
            },
        ] {
            assert!(op_sql(&op).is_none(), "{op:?} is written with its batch");
        }
    }
}
