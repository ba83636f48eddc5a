//! The store on both dialects: every test runs on a fresh SQLite file and,
//! where a PostgreSQL server is configured (`SIGNET_TEST_POSTGRES_URL`), on
//! a fresh PostgreSQL database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use signet_proto::audit::{ChainVerifier, GENESIS_HASH};

use super::journal::testing;
use super::*;
use crate::domain::{Decided, Decision, Rotation, RotationPhase, VersionState};
use signet_proto::KeyType;

/// A database for one test; the SQLite directory lives as long as it.
pub(crate) struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

pub(crate) fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    TestDb {
        url: format!("sqlite://{}", dir.path().join("t.db").display()),
        _dir: Some(dir),
    }
}

/// A fresh PostgreSQL database, or `None` (said loudly) without a server.
pub(crate) async fn postgres_db() -> Option<TestDb> {
    let Ok(admin) = std::env::var("SIGNET_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("SIGNET_REQUIRE_POSTGRES").is_err(),
            "SIGNET_REQUIRE_POSTGRES is set but SIGNET_TEST_POSTGRES_URL is not"
        );
        eprintln!("SKIPPED the PostgreSQL half: SIGNET_TEST_POSTGRES_URL is not set (scripts/test.sh sets it)");
        return None;
    };
    install_drivers();
    let mut conn = AnyConnection::connect(&admin).await.unwrap();
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let name = format!(
        "signet_t_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        signet_proto::time::now_ms()
    );
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    Some(TestDb {
        url: format!("{base}/{name}"),
        _dir: None,
    })
}

/// SQLite always, PostgreSQL when configured.
async fn databases() -> Vec<TestDb> {
    let mut dbs = vec![sqlite_db()];
    dbs.extend(postgres_db().await);
    dbs
}

fn owner(stored: &str) -> Owner {
    Owner::parse(stored).unwrap()
}

fn wallet(id: &str, owner_of: &str, at: u64) -> Wallet {
    Wallet {
        id: id.into(),
        owner: owner(owner_of),
        key_type: KeyType::P256,
        public_key: vec![4; 65],
        label: None,
        sealed: Some(vec![0xA5; 200]),
        attestation: Some(vec![0x5A; 3000]),
        created_at_ms: at,
        require_approval: false,
        record: None,
    }
}

fn ev(target: &str) -> NewEvent {
    NewEvent::new("client:x", "test", target, "ok", Some("a".into()))
}

/// An event whose write is a ticket consumption: recorded as a refusal
/// when the ticket was already consumed.
fn ev_replay(target: &str) -> NewEvent {
    NewEvent {
        outcome_if_not_applied: Some("denied:ticket_replayed".into()),
        ..ev(target)
    }
}

/// An event whose write is a decision: recorded as a refusal when the
/// intent was decided meanwhile (or expired).
fn ev_decided(target: &str) -> NewEvent {
    NewEvent {
        outcome_if_not_applied: Some("denied:intent_decided".into()),
        ..ev(target)
    }
}

fn consume(jti: &str) -> WriteOp {
    WriteOp::ConsumeTicket {
        jti: jti.into(),
        wallet_id: "w1".into(),
        expires_at: 4_000_000_000,
    }
}

async fn verify_chain(s: &Store) -> Vec<AuditEvent> {
    let events = s.audit(0, 10_000, None, &Default::default()).await.unwrap();
    let mut v = ChainVerifier::default();
    events.iter().try_for_each(|e| v.push(e)).unwrap();
    events
}

#[tokio::test]
async fn writes_are_audited_and_chained() {
    for db in databases().await {
        let s = Store::open(&db.url).await.unwrap();
        let j = s.journal();
        j.write(WriteOp::CreateWallet(wallet("w1", "tenant:a", 1)), ev("w1"))
            .await
            .unwrap();
        assert!(j.write(consume("t"), ev_replay("w1")).await.unwrap());
        assert!(!j.write(consume("t"), ev_replay("w1")).await.unwrap());
        let events = verify_chain(&s).await;
        assert_eq!(events.len(), 3, "{}", db.url);
        assert_eq!(events[2].outcome, "denied:ticket_replayed");
        let w = s.wallet("w1").await.unwrap().unwrap();
        assert_eq!(w, wallet("w1", "tenant:a", 1), "bytes round-trip as bytes");
    }
}

#[tokio::test]
async fn concurrent_writes_keep_one_gapless_chain() {
    for db in databases().await {
        let s = Store::open(&db.url).await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..300 {
            let j = s.journal().clone();
            tasks.spawn(async move { j.write(WriteOp::Audit, ev(&i.to_string())).await.unwrap() });
        }
        while tasks.join_next().await.is_some() {}
        assert_eq!(verify_chain(&s).await.len(), 300, "{}", db.url);
    }
}

/// The bug this journal was rebuilt for: a second writer (another replica,
/// `signet-host admin`) appends to the chain; the first must keep writing.
#[tokio::test]
async fn another_writer_on_the_same_database_never_wedges_the_journal() {
    for db in databases().await {
        let a = Store::open(&db.url).await.unwrap();
        let b = Store::open(&db.url).await.unwrap();
        a.journal().write(WriteOp::Audit, ev("a1")).await.unwrap();
        b.journal().write(WriteOp::Audit, ev("b1")).await.unwrap();
        a.journal().write(WriteOp::Audit, ev("a2")).await.unwrap();
        // And both at once.
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..100 {
            let (ja, jb) = (a.journal().clone(), b.journal().clone());
            tasks.spawn(async move {
                ja.write(WriteOp::Audit, ev(&format!("a{i}")))
                    .await
                    .unwrap();
                jb.write(consume(&format!("t{i}")), ev_replay(&format!("b{i}")))
                    .await
                    .unwrap()
            });
        }
        while let Some(fresh) = tasks.join_next().await {
            assert!(fresh.unwrap());
        }
        let events = verify_chain(&a).await;
        assert_eq!(events.len(), 203, "{}", db.url);
        assert_eq!(events.last().unwrap().seq, 203, "no gap in seq");
    }
}

/// A store whose chain holds one event (`first`), and a journal connection
/// of the test's own to the same database.
async fn store_and_second_writer(db: &TestDb) -> (Store, testing::Conn) {
    let s = Store::open(&db.url).await.unwrap();
    s.journal()
        .write(WriteOp::Audit, ev("first"))
        .await
        .unwrap();
    let conn = testing::Conn::open(&db.url).await.unwrap();
    (s, conn)
}

#[tokio::test]
async fn a_failed_batch_leaves_nothing_and_the_next_one_commits() {
    for db in databases().await {
        let (s, mut conn) = store_and_second_writer(&db).await;
        // A wallet insert that collides makes the batch fail after the
        // ticket consumption in it succeeded: the ticket must not stay.
        s.journal()
            .write(
                WriteOp::CreateWallet(wallet("dup", "tenant:a", 1)),
                ev("dup"),
            )
            .await
            .unwrap();
        let jobs = [
            testing::job(consume("t1"), ev_replay("t1")),
            testing::job(
                WriteOp::CreateWallet(wallet("dup", "tenant:a", 2)),
                ev("dup"),
            ),
        ];
        assert!(conn.batch(&jobs).await.is_err());
        let consumed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM consumed_tickets")
            .fetch_one(&s.pool)
            .await
            .unwrap();
        assert_eq!(consumed, 0, "the failed batch left a row ({})", db.url);
        // The connection is not left inside a transaction.
        let jobs = [testing::job(consume("t1"), ev_replay("t1"))];
        assert_eq!(conn.batch(&jobs).await.unwrap(), [true]);
        let jobs = [testing::job(consume("t1"), ev_replay("t1"))];
        assert_eq!(
            conn.batch(&jobs).await.unwrap(),
            [false],
            "a consumed ticket stays consumed"
        );
        // The store's own journal continues the chain after those writes.
        s.journal().write(WriteOp::Audit, ev("last")).await.unwrap();
        let events = verify_chain(&s).await;
        assert_eq!(events.len(), 5);
        assert_eq!(events[3].outcome, "denied:ticket_replayed");
    }
}

/// The journal's own failure path: a write the database refuses is
/// refused to its writer (and counted), nothing of its batch stays, and
/// the journal goes on, on a fresh connection, with the chain intact.
#[tokio::test]
async fn a_refused_write_fails_alone_and_the_journal_goes_on() {
    for db in databases().await {
        let metrics = crate::metrics::StoreMetrics::default();
        let s = Store::open_with(&db.url, metrics.clone()).await.unwrap();
        let j = s.journal();
        j.write(WriteOp::CreateWallet(wallet("w1", "tenant:a", 1)), ev("w1"))
            .await
            .unwrap();
        let e = j
            .write(
                WriteOp::CreateWallet(wallet("w1", "tenant:a", 2)),
                ev("again"),
            )
            .await
            .unwrap_err();
        assert!(
            e.to_string().starts_with("database: ") && e.to_string().contains("UNIQUE")
                || e.to_string().contains("duplicate key"),
            "{e} ({})",
            db.url
        );
        assert_eq!(metrics.storage_errors.get(), 1);
        assert!(j.write(consume("t1"), ev_replay("t1")).await.unwrap());
        assert!(!j.write(consume("t1"), ev_replay("t1")).await.unwrap());
        let events = verify_chain(&s).await;
        let targets: Vec<_> = events.iter().map(|e| e.target.as_str()).collect();
        assert_eq!(targets, ["w1", "t1", "t1"], "{}", db.url);
        assert_eq!(s.wallet("w1").await.unwrap().unwrap().created_at_ms, 1);
    }
}

/// SQLite: a batch that cannot take the writer lock within the busy
/// timeout (another writer holds it) fails whole, leaves no transaction
/// open on the journal's connection, and the next batch commits.
#[tokio::test]
async fn a_batch_that_cannot_take_the_writer_lock_fails_and_the_next_commits() {
    let db = sqlite_db();
    let (s, mut conn) = store_and_second_writer(&db).await;
    conn.sqlite()
        .busy_timeout(std::time::Duration::from_millis(50))
        .unwrap();
    // Another writer (an `admin` command, another process) holds the lock.
    let other = rusqlite::Connection::open(sqlite::file_path(&db.url).unwrap()).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let jobs = [testing::job(consume("t1"), ev_replay("t1"))];
    let e = conn.batch(&jobs).await.unwrap_err();
    assert!(e.to_string().contains("locked"), "{e}");
    assert!(conn.sqlite().is_autocommit(), "no transaction left open");
    other.execute_batch("COMMIT").unwrap();
    assert_eq!(conn.batch(&jobs).await.unwrap(), [true]);
    let events = verify_chain(&s).await;
    let targets: Vec<_> = events.iter().map(|e| e.target.as_str()).collect();
    assert_eq!(targets, ["first", "t1"]);
}

/// The journal and the readers share one database file: an in-memory
/// SQLite database (one per connection) is refused, not half-used.
#[tokio::test]
async fn an_in_memory_sqlite_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let in_memory = format!("sqlite://{}?mode=memory", dir.path().join("m.db").display());
    for url in ["sqlite::memory:", &in_memory] {
        let Err(e) = Store::open(url).await else {
            panic!("{url} opened");
        };
        assert!(
            matches!(e, StoreError::Url(UrlError::InMemory)),
            "{url}: {e}"
        );
    }
    assert!(
        !dir.path().join("m.db").exists(),
        "nothing was created for an in-memory URL"
    );
}

#[tokio::test]
async fn a_ticket_repeated_within_one_batch_is_fresh_once() {
    for db in databases().await {
        let s = Store::open(&db.url).await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let j = s.journal().clone();
            tasks.spawn(async move { j.write(consume("same"), ev_replay("w")).await.unwrap() });
        }
        let mut fresh = 0;
        while let Some(r) = tasks.join_next().await {
            fresh += usize::from(r.unwrap());
        }
        assert_eq!(fresh, 1, "{}", db.url);
        let events = verify_chain(&s).await;
        assert_eq!(
            events
                .iter()
                .filter(|e| e.outcome == "denied:ticket_replayed")
                .count(),
            49
        );
    }
}

#[tokio::test]
async fn destroy_hides_and_pages_skip_it() {
    for db in databases().await {
        let s = Store::open(&db.url).await.unwrap();
        let j = s.journal();
        for (id, owner, at) in [
            ("w1", "tenant:a", 1),
            ("w2", "tenant:a", 2),
            ("w3", "tenant:b", 3),
        ] {
            j.write(WriteOp::CreateWallet(wallet(id, owner, at)), ev(id))
                .await
                .unwrap();
        }
        assert_eq!(
            s.wallets(&owner("tenant:a"), None, 10).await.unwrap().len(),
            2
        );
        assert_eq!(
            s.wallets(&owner("tenant:a"), Some((1, "w1".into())), 10)
                .await
                .unwrap()[0]
                .id,
            "w2"
        );
        let destroy = |at| WriteOp::DestroyWallet {
            id: "w1".into(),
            at,
        };
        assert!(j.write(destroy(5), ev("w1")).await.unwrap());
        assert!(!j.write(destroy(6), ev("w1")).await.unwrap());
        assert!(s.wallet("w1").await.unwrap().is_none());
        let sealed: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT sealed FROM wallets WHERE id = 'w1'")
                .fetch_one(&s.pool)
                .await
                .unwrap();
        assert_eq!(sealed, None, "sealed copy shredded ({})", db.url);
    }
}

#[tokio::test]
async fn tenant_counts_are_the_tenants_live_wallets_and_unrevoked_clients() {
    for db in databases().await {
        let s = Store::open(&db.url).await.unwrap();
        let j = s.journal();
        for (id, owner, at) in [
            ("w1", "tenant:a", 1),
            ("w2", "tenant:a", 2),
            ("w3", "tenant:b", 3),
        ] {
            j.write(WriteOp::CreateWallet(wallet(id, owner, at)), ev(id))
                .await
                .unwrap();
        }
        j.write(
            WriteOp::DestroyWallet {
                id: "w2".into(),
                at: 4,
            },
            ev("w2"),
        )
        .await
        .unwrap();
        for (id, tenant) in [("c1", "a"), ("c2", "a"), ("c3", "a"), ("c4", "b")] {
            let client = ApiClient {
                id: id.into(),
                name: id.into(),
                tenant: tenant.into(),
                scopes: vec!["*".into()],
                secret_sha256: "00".repeat(32),
                created_at_ms: 1,
                revoked_at_ms: None,
                last_used_at_ms: None,
            };
            j.write(WriteOp::CreateClient(client), ev(id))
                .await
                .unwrap();
        }
        // Revoked: c2 at 10; c3 with a grace period ending at 100.
        for (id, at) in [("c2", 10), ("c3", 100)] {
            j.write(WriteOp::RevokeClient { id: id.into(), at }, ev(id))
                .await
                .unwrap();
        }
        let a = owner("tenant:a");
        assert_eq!(
            s.tenant_counts(&a, "a", 50).await.unwrap(),
            (1, 2),
            "{}",
            db.url
        );
        assert_eq!(
            s.tenant_counts(&a, "a", 100).await.unwrap(),
            (1, 1),
            "{}",
            db.url
        );
        assert_eq!(
            s.tenant_counts(&owner("tenant:b"), "b", 50).await.unwrap(),
            (1, 1),
            "{}",
            db.url
        );
        assert_eq!(
            s.tenant_counts(&owner("tenant:c"), "c", 50).await.unwrap(),
            (0, 0),
            "{}",
            db.url
        );
    }
}

/// `secure_delete` and the WAL checkpoint: the destroyed wallet's sealed
/// blob and document are in neither the database file nor its WAL.
#[tokio::test]
async fn a_destroyed_wallets_blob_is_gone_from_the_sqlite_files() {
    let db = sqlite_db();
    let s = Store::open(&db.url).await.unwrap();
    let mut w = wallet("w1", "tenant:a", 1);
    let marker: Vec<u8> = b"SEALED-BLOB-MARKER-"
        .iter()
        .copied()
        .cycle()
        .take(400)
        .collect();
    w.sealed = Some(marker.clone());
    s.journal()
        .write(WriteOp::CreateWallet(w), ev("w1"))
        .await
        .unwrap();
    let path = db.url.trim_start_matches("sqlite://").to_owned();
    let contains = |p: &str| {
        std::fs::read(p).is_ok_and(|bytes| bytes.windows(19).any(|win| win == &marker[..19]))
    };
    assert!(
        contains(&path) || contains(&format!("{path}-wal")),
        "the blob is stored at first"
    );
    s.journal()
        .write(
            WriteOp::DestroyWallet {
                id: "w1".into(),
                at: 2,
            },
            ev("w1"),
        )
        .await
        .unwrap();
    assert!(!contains(&path), "the blob is still in the database file");
    assert!(
        !contains(&format!("{path}-wal")),
        "the blob is still in the WAL"
    );
}

#[tokio::test]
async fn reopening_continues_the_chain() {
    for db in databases().await {
        {
            let s = Store::open(&db.url).await.unwrap();
            s.journal().write(WriteOp::Audit, ev("1")).await.unwrap();
        }
        let s = Store::open(&db.url).await.unwrap();
        s.journal().write(WriteOp::Audit, ev("2")).await.unwrap();
        assert_eq!(verify_chain(&s).await.len(), 2);
    }
}

#[tokio::test]
async fn audit_searches_filter_by_each_field_on_both_databases() {
    use crate::store::AuditFilter;
    for db in databases().await {
        let s = Store::open(&db.url).await.unwrap();
        let events = [
            ("client:a", "sign", "w_1", "ok", Some("t1")),
            (
                "client:a",
                "sign",
                "w_2",
                "denied:ticket_replayed",
                Some("t1"),
            ),
            (
                "client:b",
                "SCOPE_DENY",
                "/v1/wallets",
                "denied:wallets:write",
                Some("t2"),
            ),
            (
                "anonymous",
                "AUTH_DENY",
                "/v1/eth",
                "denied:bad_token",
                None,
            ),
            (
                "client:a",
                "sign",
                "w_1",
                "error:enclave_unavailable",
                Some("t1"),
            ),
        ];
        for (actor, action, target, outcome, tenant) in events {
            s.journal()
                .write(
                    WriteOp::Audit,
                    NewEvent::new(actor, action, target, outcome, tenant.map(str::to_owned)),
                )
                .await
                .unwrap();
        }
        let find = |f: AuditFilter, tenant: Option<&'static str>| {
            let s = s.clone();
            async move {
                s.audit(0, 100, tenant, &f)
                    .await
                    .unwrap()
                    .iter()
                    .map(|e| e.seq)
                    .collect::<Vec<_>>()
            }
        };
        let f = |k: &str, v: &str| {
            let mut f = AuditFilter::default();
            let v = Some(v.to_owned());
            match k {
                "action" => f.action = v,
                "actor" => f.actor = v,
                "target" => f.target = v,
                "outcome" => f.outcome = v,
                "since" => f.since = v,
                _ => f.until = v,
            }
            f
        };
        assert_eq!(
            find(f("action", "sign"), None).await,
            [1, 2, 5],
            "{}",
            db.url
        );
        assert_eq!(find(f("actor", "client:b"), None).await, [3]);
        assert_eq!(find(f("target", "w_1"), None).await, [1, 5]);
        assert_eq!(find(f("outcome", "denied"), None).await, [2, 3, 4]);
        assert_eq!(find(f("outcome", "denied:bad_token"), None).await, [4]);
        assert_eq!(find(f("outcome", "ok"), None).await, [1]);
        assert_eq!(find(f("outcome", "deni"), None).await, Vec::<u64>::new());
        // `%` and `_` are matched as themselves in exact filters.
        assert_eq!(find(f("action", "%"), None).await, Vec::<u64>::new());
        assert_eq!(find(f("outcome", "%"), None).await, Vec::<u64>::new());
        assert_eq!(find(f("outcome", "_enied"), None).await, Vec::<u64>::new());
        assert_eq!(
            find(f("since", "2000-01-01T00:00:00.000Z"), None)
                .await
                .len(),
            5
        );
        assert_eq!(
            find(f("until", "2000-01-01T00:00:00.000Z"), None)
                .await
                .len(),
            0
        );
        // Combined, and within a tenant's view.
        let mut both = f("action", "sign");
        both.outcome = Some("error".into());
        assert_eq!(find(both, None).await, [5]);
        assert_eq!(
            find(f("action", "SCOPE_DENY"), Some("t1")).await,
            Vec::<u64>::new()
        );
        assert_eq!(find(f("action", "SCOPE_DENY"), Some("t2")).await, [3]);
    }
}

#[tokio::test]
async fn audit_reads_filter_by_tenant() {
    for db in databases().await {
        let s = Store::open(&db.url).await.unwrap();
        for (t, tenant) in [("x", Some("a")), ("y", Some("b")), ("z", None)] {
            s.journal()
                .write(
                    WriteOp::Audit,
                    NewEvent::new("c", "test", t, "ok", tenant.map(str::to_owned)),
                )
                .await
                .unwrap();
        }
        let a = s
            .audit(0, 10, Some("a"), &Default::default())
            .await
            .unwrap();
        assert_eq!(
            a.iter().map(|e| e.target.as_str()).collect::<Vec<_>>(),
            ["x"]
        );
        assert_eq!(
            s.audit(0, 10, None, &Default::default())
                .await
                .unwrap()
                .len(),
            3
        );
    }
}

#[tokio::test]
async fn rate_hits_add_up_across_stores() {
    for db in databases().await {
        let a = Store::open(&db.url).await.unwrap();
        let b = Store::open(&db.url).await.unwrap();
        let hits = |n| {
            vec![
                ("client:x".to_owned(), 1000, n),
                ("wallet:y".to_owned(), 1000, 1),
            ]
        };
        assert_eq!(a.add_rate_hits(&hits(3)).await.unwrap(), [3, 1]);
        assert_eq!(b.add_rate_hits(&hits(2)).await.unwrap(), [5, 2]);
        let pruned = a.prune(0, 0, 2000).await.unwrap();
        assert_eq!(pruned.rate_windows, 2);
    }
}

#[tokio::test]
async fn pruning_removes_only_what_expired() {
    for db in databases().await {
        let s = Store::open(&db.url).await.unwrap();
        let j = s.journal();
        for (jti, exp) in [("old", 100), ("new", 10_000)] {
            j.write(
                WriteOp::ConsumeTicket {
                    jti: jti.into(),
                    wallet_id: "w".into(),
                    expires_at: exp,
                },
                ev(jti),
            )
            .await
            .unwrap();
            j.write(
                WriteOp::CreateIntent(Intent {
                    jti: jti.into(),
                    wallet_id: "w".into(),
                    digest: vec![1; 32],
                    message: Some(b"hello".to_vec()),
                    created_by: "c".into(),
                    expires_at_s: exp,
                    content: None,
                    approval: None,
                    decided: None,
                    created_at_ms: 0,
                    detail: None,
                    owner: Some(owner("tenant:a")),
                    signature: None,
                    payload: None,
                    authorization: None,
                    owner_approvals: None,
                }),
                ev(jti),
            )
            .await
            .unwrap();
        }
        let p = s.prune(1000, 300, 0).await.unwrap();
        assert_eq!((p.intents, p.tickets), (1, 1), "{}", db.url);
        assert!(s.intent("old").await.unwrap().is_none());
        assert!(s.intent("new").await.unwrap().is_some());
        assert_eq!(
            verify_chain(&s).await.len(),
            4,
            "the audit log is never pruned"
        );
    }
}

/// A database made by the first schema (hex text) is migrated to bytes.
#[tokio::test]
async fn a_version_1_sqlite_database_is_migrated_with_its_data() {
    let db = sqlite_db();
    install_drivers();
    let options = connect_options(Dialect::Sqlite, &db.url).unwrap();
    let mut conn = connect(Dialect::Sqlite, &options).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL); INSERT INTO schema_migrations VALUES (1, 0);",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::raw_sql(sqlite::MIGRATIONS[0].1)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::raw_sql(&format!(
        "INSERT INTO wallets VALUES ('w1', 'tenant:a', 'p256', '{}', 'l', '0102', NULL, 7, NULL); INSERT INTO audit_events VALUES (1, 't', 'a', 'b', 'c', 'ok', '{GENESIS_HASH}', 'h');",
        "04".repeat(65)
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    drop(conn);
    let s = Store::open(&db.url).await.unwrap();
    let w = s.wallet("w1").await.unwrap().unwrap();
    assert_eq!(w.public_key, vec![4; 65]);
    assert_eq!(w.sealed, Some(vec![1, 2]));
    assert_eq!(w.label.as_deref(), Some("l"));
    assert_eq!(
        s.audit(0, 10, None, &Default::default())
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_lease_has_one_holder_until_it_expires_or_is_released() {
    for db in databases().await {
        let a = Store::open(&db.url).await.unwrap();
        let b = Store::open(&db.url).await.unwrap();
        assert!(a.try_lease("duty", "A", 1_000, 100).await.unwrap());
        assert!(
            !b.try_lease("duty", "B", 1_050, 100).await.unwrap(),
            "{}",
            db.url
        );
        assert!(
            a.try_lease("duty", "A", 1_090, 100).await.unwrap(),
            "renewed"
        );
        assert!(
            !b.try_lease("duty", "B", 1_150, 100).await.unwrap(),
            "renewal counted"
        );
        assert!(
            b.try_lease("duty", "B", 1_200, 100).await.unwrap(),
            "expired"
        );
        assert!(!a.try_lease("duty", "A", 1_210, 100).await.unwrap());
        b.release_lease("duty", "A").await.unwrap();
        assert!(
            !a.try_lease("duty", "A", 1_220, 100).await.unwrap(),
            "only its holder releases it"
        );
        b.release_lease("duty", "B").await.unwrap();
        assert!(a.try_lease("duty", "A", 1_230, 100).await.unwrap());
    }
}

fn replica(id: &str, started_at_ms: u64, last_seen_at_ms: u64) -> Replica {
    Replica {
        id: id.into(),
        version: "1.2.3".into(),
        started_at_ms,
        last_seen_at_ms,
    }
}

#[tokio::test]
async fn a_heartbeat_moves_last_seen_and_keeps_the_first_start() {
    for db in databases().await {
        let a = Store::open(&db.url).await.unwrap();
        let b = Store::open(&db.url).await.unwrap();
        a.record_heartbeat(&replica("a", 1_000, 1_000))
            .await
            .unwrap();
        b.record_heartbeat(&replica("b", 500, 2_000)).await.unwrap();
        // The start is computed again at each beat and may move by a
        // millisecond: the first one stays.
        a.record_heartbeat(&replica("a", 1_001, 6_000))
            .await
            .unwrap();
        assert_eq!(
            b.replicas().await.unwrap(),
            [replica("b", 500, 2_000), replica("a", 1_000, 6_000)],
            "{}",
            db.url
        );
    }
}

#[tokio::test]
async fn pruning_forgets_only_the_replicas_not_seen_since_the_cutoff() {
    for db in databases().await {
        let s = Store::open(&db.url).await.unwrap();
        s.record_heartbeat(&replica("quiet", 0, 2_000))
            .await
            .unwrap();
        s.record_heartbeat(&replica("alive", 0, 9_000))
            .await
            .unwrap();
        assert_eq!(s.prune_replicas(2_000).await.unwrap(), 0, "{}", db.url);
        assert_eq!(s.prune_replicas(2_001).await.unwrap(), 1, "{}", db.url);
        assert_eq!(s.replicas().await.unwrap(), [replica("alive", 0, 9_000)]);
    }
}

#[tokio::test]
async fn an_export_cursor_moves_only_from_where_it_is() {
    for db in databases().await {
        let s = Store::open(&db.url).await.unwrap();
        assert_eq!(s.export_cursor("sink").await.unwrap(), 0);
        assert!(s.advance_export_cursor("sink", 0, 5).await.unwrap());
        assert!(
            !s.advance_export_cursor("sink", 0, 7).await.unwrap(),
            "{}",
            db.url
        );
        assert_eq!(s.export_cursor("sink").await.unwrap(), 5);
        assert!(s.advance_export_cursor("sink", 5, 9).await.unwrap());
        assert_eq!(s.export_cursor("sink").await.unwrap(), 9);
    }
}

#[tokio::test]
async fn sealing_versions_rotation_state_and_blob_swaps() {
    for db in databases().await {
        let s = Store::open(&db.url).await.unwrap();
        assert!(s.sealing_keys().await.unwrap().is_empty());
        assert!(s
            .insert_sealing_key(1, "arn:k", &[1, 2, 3], Some(&[9; 32]))
            .await
            .unwrap());
        assert!(
            !s.insert_sealing_key(1, "arn:k", &[4], None).await.unwrap(),
            "a version is stored once ({})",
            db.url
        );
        assert!(s
            .insert_sealing_key(2, "arn:k", &[5, 6], None)
            .await
            .unwrap());
        assert!(s.retire_sealing_key(1).await.unwrap());
        assert!(
            !s.retire_sealing_key(1).await.unwrap(),
            "retired once ({})",
            db.url
        );
        let keys = s.sealing_keys().await.unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!((keys[0].version, keys[0].state.as_str()), (1, "retired"));
        assert_eq!(keys[0].ciphertext_blob, None, "a retired blob is deleted");
        assert!(keys[0].retired_at_ms.is_some());
        assert_eq!(keys[1].ciphertext_blob.as_deref(), Some(&[5u8, 6][..]));
        assert_eq!(keys[1].state, VersionState::Active);

        // Blob swaps are compare-and-set, and skip destroyed wallets.
        let j = s.journal();
        for id in ["w1", "w2", "w3"] {
            j.write(WriteOp::CreateWallet(wallet(id, "tenant:a", 1)), ev(id))
                .await
                .unwrap();
        }
        let page = s.sealed_wallets("", 2).await.unwrap();
        assert_eq!(
            page.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
            ["w1", "w2"]
        );
        let rest = s.sealed_wallets("w2", 2).await.unwrap();
        assert_eq!(rest.len(), 1);
        let old = page[0].sealed.clone();
        assert!(s.replace_sealed("w1", &old, b"new").await.unwrap());
        assert!(
            !s.replace_sealed("w1", &old, b"newer").await.unwrap(),
            "not the blob any more"
        );
        j.write(
            WriteOp::DestroyWallet {
                id: "w2".into(),
                at: 5,
            },
            ev("w2"),
        )
        .await
        .unwrap();
        assert!(!s.replace_sealed("w2", &page[1].sealed, b"x").await.unwrap());
        assert_eq!(s.sealed_wallets("", 10).await.unwrap().len(), 2);

        assert_eq!(s.rotation().await.unwrap(), None);
        let mut row = Rotation {
            from_version: 1,
            to_version: 2,
            phase: RotationPhase::Resealing,
            cursor: "w1".into(),
            resealed: 1,
            verified: 0,
            started_at_ms: 10,
            updated_at_ms: 11,
            error: None,
        };
        s.save_rotation(&row).await.unwrap();
        row.phase = RotationPhase::Done;
        row.error = Some("x".into());
        s.save_rotation(&row).await.unwrap();
        assert_eq!(s.rotation().await.unwrap(), Some(row));
    }
}

#[tokio::test]
async fn a_held_version_keeps_its_blob_and_names_its_backup() {
    use crate::domain::RecordedBackup;
    for db in databases().await {
        let s = Store::open(&db.url).await.unwrap();
        s.insert_sealing_key(1, "arn:k", &[1, 2, 3], None)
            .await
            .unwrap();
        let counts = backup::Counts::default();
        s.record_backup("aa", 1_000, &counts).await.unwrap();
        s.record_backup("bb", 5_000, &counts).await.unwrap();
        assert_eq!(
            s.recorded_backups(2_000).await.unwrap(),
            [RecordedBackup {
                sha256: "bb".into(),
                taken_at_ms: 5_000
            }],
            "only those in the window ({})",
            db.url
        );
        assert_eq!(s.recorded_backups(0).await.unwrap().len(), 2);

        s.supersede_sealing_key(1, 7_000).await.unwrap();
        s.supersede_sealing_key(1, 9_000).await.unwrap();
        let by = RecordedBackup {
            sha256: "bb".into(),
            taken_at_ms: 5_000,
        };
        assert!(s.hold_sealing_key(1, 50_000, &by).await.unwrap());
        let v = &s.sealing_keys().await.unwrap()[0];
        assert_eq!(v.state, VersionState::Held, "{}", db.url);
        assert_eq!(v.superseded_at_ms, Some(7_000), "the first time stays");
        assert_eq!(v.retire_after_ms, Some(50_000));
        assert_eq!(v.held_by.as_ref(), Some(&by));
        assert_eq!(v.ciphertext_blob.as_deref(), Some(&[1u8, 2, 3][..]));

        assert!(s.retire_sealing_key(1).await.unwrap());
        let v = &s.sealing_keys().await.unwrap()[0];
        assert_eq!(v.state, VersionState::Retired);
        assert_eq!((v.retire_after_ms, v.held_by.as_ref()), (None, None));
        assert_eq!(v.superseded_at_ms, Some(7_000));
        assert!(
            !s.hold_sealing_key(1, 60_000, &by).await.unwrap(),
            "a retired version is never held again ({})",
            db.url
        );
        assert_eq!(
            s.sealing_keys().await.unwrap()[0].state,
            VersionState::Retired
        );
    }
}

#[tokio::test]
async fn a_version_held_by_an_unrecorded_backup_is_refused_as_corrupt() {
    for db in databases().await {
        let s = Store::open(&db.url).await.unwrap();
        s.insert_sealing_key(1, "arn:k", &[1], None).await.unwrap();
        sqlx::query("UPDATE sealing_keys SET state = 'held', held_by = 'gone', retire_after = 5")
            .execute(&s.pool)
            .await
            .unwrap();
        let e = s.sealing_keys().await.unwrap_err();
        assert!(matches!(e, StoreError::Corrupt { .. }), "{e} ({})", db.url);
        sqlx::query("UPDATE sealing_keys SET state = 'kept', held_by = NULL")
            .execute(&s.pool)
            .await
            .unwrap();
        let e = s.sealing_keys().await.unwrap_err();
        assert!(
            matches!(
                e,
                StoreError::Corrupt {
                    what: "sealing version state",
                    ..
                }
            ),
            "{e} ({})",
            db.url
        );
    }
}

fn intent(
    jti: &str,
    owner_of: &str,
    approval: Option<Approval>,
    created_at: u64,
    exp: u64,
) -> Intent {
    Intent {
        jti: jti.into(),
        wallet_id: "w1".into(),
        digest: vec![7; 32],
        message: None,
        created_by: "client:x".into(),
        expires_at_s: exp,
        content: None,
        approval,
        decided: None,
        created_at_ms: created_at,
        detail: Some(r#"{"digest":"07"}"#.into()),
        owner: Some(owner(owner_of)),
        signature: None,
        payload: None,
        authorization: None,
        owner_approvals: None,
    }
}

#[tokio::test]
async fn approvals_are_decided_once_and_never_after_expiry() {
    for db in databases().await {
        let store = &Store::open(&db.url).await.unwrap();
        let j = store.journal();
        let now_s = signet_proto::time::now_ms() / 1000;
        let mut w = wallet("w1", "user:u1", 1);
        w.require_approval = true;
        j.write(WriteOp::CreateWallet(w), ev("w1")).await.unwrap();
        assert!(
            store.wallet("w1").await.unwrap().unwrap().require_approval,
            "{}",
            db.url
        );
        assert!(j
            .write(
                WriteOp::SetApproval {
                    id: "w1".into(),
                    required: false
                },
                ev("w1")
            )
            .await
            .unwrap());
        assert!(!store.wallet("w1").await.unwrap().unwrap().require_approval);
        assert!(!j
            .write(
                WriteOp::SetApproval {
                    id: "nope".into(),
                    required: true
                },
                ev("nope")
            )
            .await
            .unwrap());
        for (jti, at, exp) in [
            ("i1", 10, now_s + 600),
            ("i2", 20, now_s + 600),
            ("old", 5, now_s - 5),
        ] {
            j.write(
                WriteOp::CreateIntent(intent(jti, "user:u1", Some(Approval::Pending), at, exp)),
                ev(jti),
            )
            .await
            .unwrap();
        }
        j.write(
            WriteOp::CreateIntent(intent(
                "other",
                "user:u2",
                Some(Approval::Pending),
                30,
                now_s + 600,
            )),
            ev("other"),
        )
        .await
        .unwrap();
        let pending: Vec<String> = store
            .intents_of(&owner("user:u1"), true, now_s, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.jti)
            .collect();
        assert_eq!(
            pending,
            ["i2", "i1"],
            "{}: newest first, not expired, own only",
            db.url
        );
        assert_eq!(
            store
                .intents_of(&owner("user:u1"), false, now_s, 10)
                .await
                .unwrap()
                .len(),
            3
        );
        let decide = |jti: &str, approve: bool| WriteOp::DecideIntent {
            jti: jti.into(),
            decision: if approve {
                Decision::Approve
            } else {
                Decision::Decline
            },
            by: "user:u1".into(),
            at: now_s * 1000,
        };
        assert!(j.write(decide("i1", true), ev_decided("i1")).await.unwrap());
        // Once decided, it stays: neither a second approval nor a decline applies.
        assert!(!j
            .write(decide("i1", false), ev_decided("i1"))
            .await
            .unwrap());
        assert!(
            !j.write(decide("old", true), ev_decided("old"))
                .await
                .unwrap(),
            "expired"
        );
        let i1 = store.intent("i1").await.unwrap().unwrap();
        assert_eq!(i1.approval, Some(Approval::Approved));
        assert_eq!(
            i1.decided,
            Some(Decided {
                at_ms: now_s * 1000,
                by: "user:u1".into()
            })
        );
        assert_eq!(
            store.intent("old").await.unwrap().unwrap().approval,
            Some(Approval::Pending)
        );
        j.write(
            WriteOp::IntentSigned {
                jti: "i1".into(),
                signature: "{}".into(),
            },
            ev("i1"),
        )
        .await
        .unwrap();
        assert_eq!(
            store
                .intent("i1")
                .await
                .unwrap()
                .unwrap()
                .signature
                .as_deref(),
            Some("{}")
        );
        // The refused decision is in the audit log as such.
        let events = store
            .audit(0, 1000, None, &Default::default())
            .await
            .unwrap();
        assert_eq!(
            events
                .iter()
                .filter(|e| e.outcome == "denied:intent_decided")
                .count(),
            2,
            "{}",
            db.url
        );
    }
}

#[test]
fn values_lists_are_numbered_on_postgres_and_anonymous_on_sqlite() {
    assert_eq!(
        journal::values_clause(Dialect::Postgres, 2, 3),
        "($1, $2, $3), ($4, $5, $6)"
    );
    assert_eq!(
        journal::values_clause(Dialect::Sqlite, 2, 3),
        "(?, ?, ?), (?, ?, ?)"
    );
}

#[tokio::test]
async fn owners_approvals_are_kept_only_on_a_pending_intent_read_as_it_is() {
    for db in databases().await {
        let store = &Store::open(&db.url).await.unwrap();
        let j = store.journal();
        let now_s = signet_proto::time::now_ms() / 1000;
        let mut w = wallet("w1", "user:u1", 1);
        w.record = Some(r#"{"record":"text"}"#.into());
        j.write(WriteOp::CreateWallet(w), ev("w1")).await.unwrap();
        assert_eq!(
            store.wallet("w1").await.unwrap().unwrap().record.as_deref(),
            Some(r#"{"record":"text"}"#),
            "{}",
            db.url
        );
        let mut i = intent("i1", "user:u1", Some(Approval::Pending), 10, now_s + 600);
        i.payload = Some(r#"{"digest":"07"}"#.into());
        i.authorization = Some("authz text".into());
        j.write(WriteOp::CreateIntent(i), ev("i1")).await.unwrap();
        let stored = store.intent("i1").await.unwrap().unwrap();
        assert_eq!(stored.payload.as_deref(), Some(r#"{"digest":"07"}"#));
        assert_eq!(stored.authorization.as_deref(), Some("authz text"));
        assert_eq!(stored.owner_approvals, None);
        let keep = |previous: Option<&str>, approvals: &str| WriteOp::OwnerApprovals {
            jti: "i1".into(),
            previous: previous.map(str::to_owned),
            approvals: approvals.into(),
        };
        assert!(j.write(keep(None, "[1]"), ev("i1")).await.unwrap());
        // Read before the first one was kept: refused, nothing lost.
        assert!(!j.write(keep(None, "[2]"), ev("i1")).await.unwrap());
        assert!(j.write(keep(Some("[1]"), "[1,2]"), ev("i1")).await.unwrap());
        assert_eq!(
            store
                .intent("i1")
                .await
                .unwrap()
                .unwrap()
                .owner_approvals
                .as_deref(),
            Some("[1,2]")
        );
        // Decided: nothing more is kept.
        assert!(j
            .write(
                WriteOp::DecideIntent {
                    jti: "i1".into(),
                    decision: crate::domain::Decision::Approve,
                    by: "owners:a".into(),
                    at: now_s * 1000,
                },
                ev("i1")
            )
            .await
            .unwrap());
        assert!(!j
            .write(keep(Some("[1,2]"), "[1,2,3]"), ev("i1"))
            .await
            .unwrap());
    }
}

#[tokio::test]
async fn record_proposals_keep_approvals_read_as_they_are_and_are_applied_with_their_record() {
    use crate::domain::{ProposalStage, RecordProposal};
    for db in databases().await {
        let store = &Store::open(&db.url).await.unwrap();
        let j = store.journal();
        let now_s = signet_proto::time::now_ms() / 1000;
        j.write(WriteOp::CreateWallet(wallet("w1", "user:u1", 1)), ev("w1"))
            .await
            .unwrap();
        let proposal = |id: &str, record: &str, expires_at_s: u64| RecordProposal {
            id: id.into(),
            wallet_id: "w1".into(),
            previous_record: "v1".into(),
            record: record.into(),
            authorization: format!("authz of {record}"),
            approvals: None,
            stage: ProposalStage::Pending,
            effective_at_s: None,
            expires_at_s,
            created_by: "client:c".into(),
            created_at_ms: now_s * 1000,
            decided_at_ms: None,
        };
        for p in [
            proposal("rp_a", "v2", now_s + 600),
            proposal("rp_b", "v2b", now_s + 600),
            proposal("rp_old", "v2c", now_s.saturating_sub(7200)),
        ] {
            j.write(WriteOp::CreateProposal(p), ev("w1")).await.unwrap();
        }
        let stored = store.record_proposal("rp_a").await.unwrap().unwrap();
        assert_eq!(stored, proposal("rp_a", "v2", now_s + 600), "{}", db.url);
        assert_eq!(store.record_proposals("w1", 50).await.unwrap().len(), 3);
        assert!(store.record_proposal("rp_none").await.unwrap().is_none());

        // Approvals: a compare-and-set on what was read.
        let keep = |id: &str, previous: Option<&str>, approvals: &str| WriteOp::ProposalApprovals {
            id: id.into(),
            previous: previous.map(str::to_owned),
            approvals: approvals.into(),
        };
        assert!(j.write(keep("rp_a", None, "[1]"), ev("w1")).await.unwrap());
        assert!(!j.write(keep("rp_a", None, "[2]"), ev("w1")).await.unwrap());
        assert!(j
            .write(keep("rp_a", Some("[1]"), "[1,2]"), ev("w1"))
            .await
            .unwrap());
        // Expired: nothing is kept.
        assert!(!j
            .write(keep("rp_old", None, "[1]"), ev("w1"))
            .await
            .unwrap());

        // Waiting: due once its time has come (and only a pending one moves).
        let waiting = |id: &str, at: u64| WriteOp::ProposalWaiting {
            id: id.into(),
            effective_at: at,
        };
        assert!(j
            .write(waiting("rp_b", now_s + 30), ev("w1"))
            .await
            .unwrap());
        assert!(!j.write(waiting("rp_b", now_s), ev("w1")).await.unwrap());
        assert!(store.due_proposals(now_s, 50).await.unwrap().is_empty());
        let due = store.due_proposals(now_s + 30, 50).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(
            (due[0].stage, due[0].effective_at_s),
            (ProposalStage::Waiting, Some(now_s + 30))
        );
        // Lost a day later: no longer due.
        assert!(store
            .due_proposals(now_s + 30 + crate::domain::WAITING_GRACE_S + 1, 50)
            .await
            .unwrap()
            .is_empty());
        assert!(!j.write(keep("rp_b", None, "[9]"), ev("w1")).await.unwrap());

        // The wallet takes record v2: its proposal is applied, others stay.
        assert!(j
            .write(
                WriteOp::SetRecord {
                    id: "w1".into(),
                    record: "v2".into(),
                    sealed: None,
                    attestation: None,
                },
                ev("w1")
            )
            .await
            .unwrap());
        let applied = store.record_proposal("rp_a").await.unwrap().unwrap();
        assert_eq!(applied.stage, ProposalStage::Applied);
        assert!(applied.decided_at_ms.is_some());
        assert_eq!(
            store.record_proposal("rp_b").await.unwrap().unwrap().stage,
            ProposalStage::Waiting
        );
        // Applied: approvals are not kept any more.
        assert!(!j
            .write(keep("rp_a", Some("[1,2]"), "[1,2,3]"), ev("w1"))
            .await
            .unwrap());

        // Pruning drops the expired pending one only.
        let pruned = store.prune(now_s, 60, 0).await.unwrap();
        assert_eq!(pruned.proposals, 1, "{}", db.url);
        assert!(store.record_proposal("rp_old").await.unwrap().is_none());
        assert!(store.record_proposal("rp_a").await.unwrap().is_some());
    }
}
