//! PostgreSQL specifics. Replicas serialize their audit appends with an
//! `EXCLUSIVE` lock on `audit_events` taken first in each journal
//! transaction (reads are not blocked; under READ COMMITTED the head read
//! after the lock sees every committed event). TLS to the server is set in
//! the URL (`sslmode=verify-full&sslrootcert=CA.pem`, as RDS needs).
//!
//! Shredding: a destroyed wallet's `sealed` column is set to NULL; the old
//! row version stays in the table file until VACUUM reclaims it and may
//! survive in WAL archives and backups. The blob is sealed under the
//! signer's key either way; see docs/storage.md.

/// Schema versions.
pub(super) const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/postgres/0001_initial.sql")),
    (
        2,
        include_str!("migrations/postgres/0002_leases_export.sql"),
    ),
    (3, include_str!("migrations/postgres/0003_sealing.sql")),
    (
        4,
        include_str!("migrations/postgres/0004_users_sessions.sql"),
    ),
    (5, include_str!("migrations/postgres/0005_eth_detail.sql")),
    (6, include_str!("migrations/postgres/0006_approvals.sql")),
    (
        7,
        include_str!("migrations/postgres/0007_login_confirmation.sql"),
    ),
    (
        8,
        include_str!("migrations/postgres/0008_user_controls.sql"),
    ),
    (9, include_str!("migrations/postgres/0009_audit_search.sql")),
    (
        10,
        include_str!("migrations/postgres/0010_client_last_used.sql"),
    ),
    (
        11,
        include_str!("migrations/postgres/0011_confirmations.sql"),
    ),
    (12, include_str!("migrations/postgres/0012_freezes.sql")),
    (13, include_str!("migrations/postgres/0013_backups.sql")),
    (14, include_str!("migrations/postgres/0014_replicas.sql")),
    (
        15,
        include_str!("migrations/postgres/0015_sealing_retention.sql"),
    ),
    (
        16,
        include_str!("migrations/postgres/0016_wallet_records.sql"),
    ),
    (
        17,
        include_str!("migrations/postgres/0017_record_proposals.sql"),
    ),
];

/// Held for the migration transaction: one migrator at a time.
pub(super) const MIGRATION_LOCK: &str = "SELECT 1 FROM pg_advisory_xact_lock(7368756)";

/// Serializes writers and reads the chain head in one round trip (simple
/// query protocol: several statements, no parameters).
pub(super) const BEGIN_AND_READ_HEAD: &str = "BEGIN; LOCK TABLE audit_events IN EXCLUSIVE MODE; SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1";
