-- Backup-aware retirement of sealing key versions: when the rotation away
-- from a version finished re-sealing (no blob taken after that is under
-- it), and, while a recorded backup within SIGNET_BACKUP_RETENTION_DAYS may
-- hold blobs under it (state 'held': blob kept, signers still unseal it),
-- until when it is kept and for which backup (backups.sha256).
ALTER TABLE sealing_keys ADD COLUMN superseded_at BIGINT;
ALTER TABLE sealing_keys ADD COLUMN retire_after BIGINT;
ALTER TABLE sealing_keys ADD COLUMN held_by TEXT;
