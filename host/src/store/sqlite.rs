//! SQLite specifics: the file is created if missing, WAL with `synchronous =
//! FULL` (a commit is on disk before the journal answers), `secure_delete`
//! (freed pages are zeroed, so a destroyed wallet's sealed blob does not
//! linger in the file), and `BEGIN IMMEDIATE` as the writer lock.

/// Schema versions.
pub(super) const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/sqlite/0001_initial.sql")),
    (
        2,
        include_str!("migrations/sqlite/0002_bytes_tenants_limits.sql"),
    ),
    (3, include_str!("migrations/sqlite/0003_leases_export.sql")),
    (4, include_str!("migrations/sqlite/0004_sealing.sql")),
    (5, include_str!("migrations/sqlite/0005_users_sessions.sql")),
    (6, include_str!("migrations/sqlite/0006_eth_detail.sql")),
    (7, include_str!("migrations/sqlite/0007_approvals.sql")),
    (
        8,
        include_str!("migrations/sqlite/0008_login_confirmation.sql"),
    ),
    (9, include_str!("migrations/sqlite/0009_user_controls.sql")),
    (10, include_str!("migrations/sqlite/0010_audit_search.sql")),
    (
        11,
        include_str!("migrations/sqlite/0011_client_last_used.sql"),
    ),
    (12, include_str!("migrations/sqlite/0012_confirmations.sql")),
    (13, include_str!("migrations/sqlite/0013_freezes.sql")),
    (14, include_str!("migrations/sqlite/0014_backups.sql")),
    (15, include_str!("migrations/sqlite/0015_replicas.sql")),
    (
        16,
        include_str!("migrations/sqlite/0016_sealing_retention.sql"),
    ),
    (
        17,
        include_str!("migrations/sqlite/0017_wallet_records.sql"),
    ),
    (
        18,
        include_str!("migrations/sqlite/0018_record_proposals.sql"),
    ),
];

/// Run on every new connection.
pub(super) const SESSION_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON; PRAGMA temp_store = MEMORY;";

/// Takes the write lock (waiting up to the busy timeout for another writer).
pub(super) const BEGIN: &str = "BEGIN IMMEDIATE";

/// The chain head, read under the write lock.
pub(super) const READ_HEAD: &str = "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1";

/// After a wallet's sealed blob was shredded: fold the WAL (which still
/// holds the old page images) into the file and truncate it.
pub(super) const AFTER_SHRED: &str = "PRAGMA wal_checkpoint(TRUNCATE)";

/// The file the journal writes, from the store's URL.
#[derive(Clone, Debug)]
pub(super) struct JournalFile {
    /// The database file, as sqlx reads the URL.
    pub path: std::path::PathBuf,
    /// `mode=ro`: the journal opens it read-only too (and every write fails).
    pub read_only: bool,
}

/// `sqlite://PATH` with `mode=rwc` (create if missing) unless a mode is given.
pub(super) fn normalize_url(url: &str) -> String {
    if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// The file of `sqlite://PATH[?…]`; `None` for an in-memory database.
pub(super) fn file_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| path.to_owned())
}
