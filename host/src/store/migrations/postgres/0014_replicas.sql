-- The host processes (`serve`, `dev`) sharing this database, for
-- /v1/admin/status: each upserts its row at start and every 5 s (a
-- heartbeat); rows not seen for a day are pruned. Not audited.
CREATE TABLE replicas (
    id TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
