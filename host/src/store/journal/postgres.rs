//! The PostgreSQL journal: a task with one connection, through sqlx. A
//! batch takes the writer lock and reads the chain head in one trip, then
//! sends ticket consumptions, intents and audit events as multi-row
//! statements (a trip to the server each).

use sqlx::any::{AnyArguments, AnyConnectOptions, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Row as _};
use tokio::sync::mpsc;

use super::{
    answer, chain, values_clause, Job, Param, Plan, Statement, EVENT_COLUMNS, INTENT_COLUMNS,
    MAX_BATCH, ROWS_PER_INSERT, TICKET_COLUMNS,
};
use crate::store::{connect, exec_raw, postgres::BEGIN_AND_READ_HEAD, Dialect, StoreError};

/// Writes batches until every [`Journal`](super::Journal) is dropped. After
/// a failed batch the next one starts on a fresh connection: whatever state
/// the old one is in (a broken socket, an aborted transaction) stays behind.
pub(super) async fn run(
    conn: AnyConnection,
    options: AnyConnectOptions,
    mut rx: mpsc::Receiver<Job>,
    metrics: crate::metrics::StoreMetrics,
) {
    let mut conn = Some(conn);
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let started = std::time::Instant::now();
        let result = match conn.as_mut() {
            Some(c) => run_batch(c, &batch).await.map_err(StoreError::from),
            None => match Box::pin(connect(Dialect::Postgres, &options)).await {
                Ok(c) => run_batch(conn.insert(c), &batch)
                    .await
                    .map_err(StoreError::from),
                Err(e) => Err(e),
            },
        };
        if result.is_err() {
            conn = None;
        }
        answer(&mut batch, result, started, &metrics);
    }
}

/// Applies a batch in one transaction, or nothing of it.
///
/// Boxed: it names one lifetime for the connection's executor, which keeps
/// the spawned journal task `Send` (rustc cannot prove it through sqlx's
/// higher-ranked executor bounds otherwise).
pub(super) fn run_batch<'a>(conn: &'a mut AnyConnection, batch: &'a [Job]) -> BatchFuture<'a> {
    Box::pin(async move {
        let result = write_batch(conn, batch).await;
        if result.is_err() {
            // Whether or not a transaction is still open (a failed COMMIT
            // has already ended it), nothing of this batch may stay.
            if let Err(e) = exec_raw(&mut *conn, "ROLLBACK").await {
                tracing::debug!(error = %e, "rollback after a failed batch");
            }
        }
        result
    })
}

/// What [`run_batch`] returns.
type BatchFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Vec<bool>, sqlx::Error>> + Send + 'a>,
>;

/// The batch's statements, from the lock and the head read to `COMMIT`.
async fn write_batch(conn: &mut AnyConnection, batch: &[Job]) -> Result<Vec<bool>, sqlx::Error> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    // The writer lock and the chain head in one trip. All rows, then the
    // first: the statements before the SELECT yield none.
    let head = sqlx::Executor::fetch_all(&mut *conn, sqlx::raw_sql(BEGIN_AND_READ_HEAD))
        .await?
        .into_iter()
        .next()
        .map(|row| head_of(&row))
        .transpose()?;
    let plan = Plan::of(batch);
    let mut applied = vec![true; batch.len()];
    let fresh = consume_tickets(&mut *conn, &plan.tickets).await?;
    for ((i, _, _), fresh) in plan.tickets.iter().zip(fresh) {
        applied[*i] = fresh;
    }
    let rows: Vec<&[_]> = plan.new_intents.iter().map(|r| &r[..]).collect();
    insert_rows(&mut *conn, INTENT_COLUMNS, &rows).await?;
    for (i, how) in &plan.others {
        let changed = execute(&mut *conn, &how.write).await?;
        applied[*i] = how.applied(changed);
        if let (true, Some(then)) = (applied[*i], &how.then) {
            execute(&mut *conn, then).await?;
        }
    }
    // An `UPDATE … FROM (VALUES …)`, with the values' columns named
    // `column1`, `column2`.
    for chunk in plan.signed_intents.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "UPDATE sign_intents SET signature = v.column2 FROM (VALUES {}) AS v WHERE sign_intents.jti = v.column1",
            values_clause(Dialect::Postgres, chunk.len(), 2)
        );
        bind_all(sqlx::query(&sql), chunk.iter().flatten())
            .execute(&mut *conn)
            .await?;
    }
    let events = chain(head, batch, &applied);
    let params: Vec<_> = events.iter().map(super::EventRow::params).collect();
    let rows: Vec<&[_]> = params.iter().map(|r| &r[..]).collect();
    insert_rows(&mut *conn, EVENT_COLUMNS, &rows).await?;
    exec_raw(&mut *conn, "COMMIT").await?;
    Ok(applied)
}

/// Binds `param` to `q`, as a typed NULL where it is one (PostgreSQL types
/// every parameter).
fn bind<'q>(
    q: Query<'q, Any, AnyArguments<'q>>,
    param: &'q Param<'_>,
) -> Query<'q, Any, AnyArguments<'q>> {
    match param {
        Param::Int(v) => q.bind(*v),
        Param::Text(v) => q.bind(v.as_deref()),
        Param::Blob(v) => q.bind(*v),
    }
}

/// Binds `params` to `q`, in order.
fn bind_all<'q>(
    mut q: Query<'q, Any, AnyArguments<'q>>,
    params: impl IntoIterator<Item = &'q Param<'q>>,
) -> Query<'q, Any, AnyArguments<'q>> {
    for p in params {
        q = bind(q, p);
    }
    q
}

/// Runs one statement; returns the rows it changed.
async fn execute(conn: &mut AnyConnection, st: &Statement<'_>) -> Result<u64, sqlx::Error> {
    Ok(bind_all(sqlx::query(st.sql), &st.params)
        .execute(&mut *conn)
        .await?
        .rows_affected())
}

/// Inserts rows into `table_columns`, one statement per chunk.
async fn insert_rows(
    conn: &mut AnyConnection,
    table_columns: &str,
    rows: &[&[Param<'_>]],
) -> Result<(), sqlx::Error> {
    let Some(cols) = rows.first().map(|r| r.len()) else {
        return Ok(());
    };
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO {table_columns} VALUES {}",
            values_clause(Dialect::Postgres, chunk.len(), cols)
        );
        bind_all(sqlx::query(&sql), chunk.iter().copied().flatten())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Consumes tickets with one statement per chunk; returns, per ticket,
/// whether it was fresh (a jti repeated within the batch is fresh once).
async fn consume_tickets(
    conn: &mut AnyConnection,
    tickets: &[(usize, &str, [Param<'_>; 4])],
) -> Result<Vec<bool>, sqlx::Error> {
    let mut fresh = Vec::with_capacity(tickets.len());
    for chunk in tickets.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO {TICKET_COLUMNS} VALUES {} ON CONFLICT (jti) DO NOTHING RETURNING jti",
            values_clause(Dialect::Postgres, chunk.len(), 4)
        );
        let mut inserted = std::collections::HashSet::new();
        for row in bind_all(sqlx::query(&sql), chunk.iter().flat_map(|(_, _, row)| row))
            .fetch_all(&mut *conn)
            .await?
        {
            inserted.insert(row.try_get::<String, _>(0)?);
        }
        fresh.extend(chunk.iter().map(|(_, jti, _)| inserted.remove(*jti)));
    }
    Ok(fresh)
}

/// The chain head `(seq, hash)` of a `SELECT seq, hash` row.
fn head_of(row: &AnyRow) -> Result<(u64, String), sqlx::Error> {
    Ok((
        u64::try_from(row.try_get::<i64, _>(0)?)
            .map_err(|_| sqlx::Error::Protocol("negative audit seq".into()))?,
        row.try_get::<String, _>(1)?,
    ))
}
