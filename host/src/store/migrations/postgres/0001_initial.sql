-- The schema of SQLite's 0001 + 0002 in PostgreSQL's types (no PostgreSQL
-- database predates it).
CREATE TABLE api_clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    tenant TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE TABLE wallets (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    key_type TEXT NOT NULL,
    public_key BYTEA NOT NULL,
    label TEXT,
    sealed BYTEA,
    attestation BYTEA,
    created_at BIGINT NOT NULL,
    destroyed_at BIGINT
);
CREATE INDEX wallets_by_owner ON wallets (owner, created_at, id);
CREATE TABLE sign_intents (
    jti TEXT PRIMARY KEY,
    wallet_id TEXT NOT NULL,
    digest BYTEA NOT NULL,
    message BYTEA,
    created_by TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sign_intents_by_expiry ON sign_intents (expires_at);
CREATE TABLE consumed_tickets (
    jti TEXT PRIMARY KEY,
    wallet_id TEXT NOT NULL,
    consumed_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX consumed_tickets_by_expiry ON consumed_tickets (expires_at);
CREATE TABLE audit_events (
    seq BIGINT PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    tenant TEXT
);
CREATE INDEX audit_events_by_tenant ON audit_events (tenant, seq);
CREATE TABLE rate_limits (
    bucket TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    hits BIGINT NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX rate_limits_by_window ON rate_limits (window_start);
