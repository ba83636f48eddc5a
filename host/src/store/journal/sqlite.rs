//! The SQLite journal: a thread of its own with one rusqlite connection.
//! Writers hand it their jobs once per batch (the jobs queued behind the
//! first join it); it runs the batch's statements in place, prepared once
//! and bound to the batch's values without copying them, and answers each
//! writer once the `COMMIT` is on disk.

use std::sync::LazyLock;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, OptionalExtension as _};
use tokio::sync::{mpsc, oneshot};

use super::{
    answer, chain, EventRow, Job, Param, Plan, Statement, EVENT_COLUMNS, INTENT_COLUMNS, MAX_BATCH,
    TICKET_COLUMNS,
};
use crate::store::sqlite::{self, JournalFile};
use crate::store::StoreError;

/// A ticket's consumption: a consumed ticket's insert changes no row.
static CONSUME_TICKET: LazyLock<String> = LazyLock::new(|| {
    format!("INSERT INTO {TICKET_COLUMNS} VALUES (?1, ?2, ?3, ?4) ON CONFLICT (jti) DO NOTHING")
});

/// A new intent.
static INSERT_INTENT: LazyLock<String> = LazyLock::new(|| insert(INTENT_COLUMNS, 14));

/// An audit event.
static INSERT_EVENT: LazyLock<String> = LazyLock::new(|| insert(EVENT_COLUMNS, 10));

/// The signature made with an intent's ticket.
const SET_INTENT_SIGNATURE: &str = "UPDATE sign_intents SET signature = ?2 WHERE jti = ?1";

/// `INSERT INTO table (columns) VALUES (?1, …, ?n)`.
fn insert(table_columns: &str, n: usize) -> String {
    let placeholders: Vec<String> = (1..=n).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO {table_columns} VALUES ({})",
        placeholders.join(", ")
    )
}

/// Opens the journal's connection to `file` (created by the migrations)
/// with the store's session settings.
pub(super) fn open(file: &JournalFile) -> Result<Connection, rusqlite::Error> {
    let access = if file.read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    };
    let conn = Connection::open_with_flags(&file.path, access | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.execute_batch(sqlite::SESSION_PRAGMAS)?;
    // Every statement a batch runs stays prepared.
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// Starts the journal's thread; returns once its connection is open (or
/// why it did not open), without blocking the caller's runtime.
pub(super) async fn start(
    file: JournalFile,
    rx: mpsc::Receiver<Job>,
    metrics: crate::metrics::StoreMetrics,
) -> Result<(), StoreError> {
    let (opened, is_open) = oneshot::channel();
    std::thread::Builder::new()
        .name("signet-journal".into())
        .spawn(move || match open(&file) {
            Ok(conn) => {
                if opened.send(Ok(())).is_ok() {
                    run(conn, &file, rx, &metrics);
                }
            }
            Err(e) => {
                let _ = opened.send(Err(StoreError::from(e)));
            }
        })
        .map_err(|e| StoreError::Thread(std::sync::Arc::new(e)))?;
    is_open.await.map_err(|_| StoreError::JournalStopped)?
}

/// Writes batches until every [`Journal`](super::Journal) is dropped. After
/// a failed batch the next one starts on a fresh connection.
fn run(
    conn: Connection,
    file: &JournalFile,
    mut rx: mpsc::Receiver<Job>,
    metrics: &crate::metrics::StoreMetrics,
) {
    let mut conn = Some(conn);
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    // The first job waits; those queued behind it join its batch.
    while let Some(job) = rx.blocking_recv() {
        batch.push(job);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let started = std::time::Instant::now();
        let result = match conn.as_mut() {
            Some(c) => run_batch(c, &batch),
            None => open(file).and_then(|c| run_batch(conn.insert(c), &batch)),
        }
        .map_err(StoreError::from);
        if result.is_err() {
            conn = None;
        }
        answer(&mut batch, result, started, metrics);
    }
}

/// Applies a batch in one transaction, or nothing of it.
pub(super) fn run_batch(
    conn: &mut Connection,
    batch: &[Job],
) -> Result<Vec<bool>, rusqlite::Error> {
    let result = write_batch(conn, batch);
    if result.is_err() && !conn.is_autocommit() {
        // Nothing of this batch may stay (a failed COMMIT or BEGIN leaves
        // no transaction open, and nothing to roll back).
        if let Err(e) = conn.execute_batch("ROLLBACK") {
            tracing::debug!(error = %e, "rollback after a failed batch");
        }
    }
    result
}

/// The batch's statements, from `BEGIN IMMEDIATE` to `COMMIT`.
fn write_batch(conn: &Connection, batch: &[Job]) -> Result<Vec<bool>, rusqlite::Error> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    // The writer lock (waiting up to the busy timeout for another writer),
    // then the chain head under it.
    conn.prepare_cached(sqlite::BEGIN)?.execute([])?;
    let head = conn
        .prepare_cached(sqlite::READ_HEAD)?
        .query_row([], |row| {
            Ok((row.get::<_, u64>(0)?, row.get::<_, String>(1)?))
        })
        .optional()?;
    let plan = Plan::of(batch);
    let mut applied = vec![true; batch.len()];
    if !plan.tickets.is_empty() {
        // A jti repeated within the batch is fresh once.
        let mut consume = conn.prepare_cached(&CONSUME_TICKET)?;
        for (i, _, row) in &plan.tickets {
            applied[*i] = consume.execute(rusqlite::params_from_iter(row))? == 1;
        }
    }
    insert_rows(conn, &INSERT_INTENT, &plan.new_intents)?;
    for (i, how) in &plan.others {
        let changed = execute(conn, &how.write)?;
        applied[*i] = how.applied(changed);
        if let (true, Some(then)) = (applied[*i], &how.then) {
            execute(conn, then)?;
        }
    }
    if !plan.signed_intents.is_empty() {
        let mut set = conn.prepare_cached(SET_INTENT_SIGNATURE)?;
        for row in &plan.signed_intents {
            set.execute(rusqlite::params_from_iter(row))?;
        }
    }
    let events = chain(head, batch, &applied);
    insert_rows(conn, &INSERT_EVENT, events.iter().map(EventRow::params))?;
    conn.prepare_cached("COMMIT")?.execute([])?;
    if plan.shreds {
        // Fold the WAL, which still holds the shredded blob's old page
        // images, into the file and truncate it. Best effort: the shredded
        // row is committed either way.
        if let Err(e) = conn.execute_batch(sqlite::AFTER_SHRED) {
            tracing::warn!(error = %e, "WAL checkpoint after a destroy failed");
        }
    }
    Ok(applied)
}

/// Runs a rare write's statement (its `$n` are SQLite's `?n`); returns the
/// rows it changed.
fn execute(conn: &Connection, st: &Statement<'_>) -> Result<u64, rusqlite::Error> {
    let sql = st.sql.replace('$', "?");
    let changed = conn
        .prepare_cached(&sql)?
        .execute(rusqlite::params_from_iter(&st.params))?;
    Ok(u64::try_from(changed).unwrap_or(u64::MAX))
}

/// Inserts rows with one prepared single-row statement, run once per row
/// (in process, as fast as a multi-row insert, and one text to prepare).
fn insert_rows<'a, R: AsRef<[Param<'a>]>>(
    conn: &Connection,
    sql: &str,
    rows: impl IntoIterator<Item = R>,
) -> Result<(), rusqlite::Error> {
    let mut rows = rows.into_iter().peekable();
    if rows.peek().is_none() {
        return Ok(());
    }
    let mut insert = conn.prepare_cached(sql)?;
    for row in rows {
        insert.execute(rusqlite::params_from_iter(row.as_ref()))?;
    }
    Ok(())
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Param::Int(Some(v)) => ValueRef::Integer(*v),
            Param::Text(Some(v)) => ValueRef::Text(v.as_bytes()),
            Param::Blob(Some(v)) => ValueRef::Blob(v),
            Param::Int(None) | Param::Text(None) | Param::Blob(None) => ValueRef::Null,
        }))
    }
}
