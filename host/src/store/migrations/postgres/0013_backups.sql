-- Backups taken with `signet-host admin backup` (recorded once written):
-- the hosts export the latest as signet_last_backup_timestamp_seconds.
CREATE TABLE backups (
    sha256 TEXT PRIMARY KEY,
    taken_at BIGINT NOT NULL,
    wallets BIGINT NOT NULL,
    audit_head BIGINT NOT NULL
);
