-- Leases (one holder of a background duty across replicas, e.g. the audit
-- exporter) and export cursors (the last event a sink acknowledged).
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE export_cursors (
    name TEXT PRIMARY KEY,
    last_seq BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
