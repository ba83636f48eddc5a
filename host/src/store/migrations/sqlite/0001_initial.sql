-- The first schema (hex text for bytes); kept as shipped so existing
-- databases and new ones reach the same state through 0002.
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
    public_key TEXT NOT NULL,
    label TEXT,
    sealed TEXT,
    attestation TEXT,
    created_at BIGINT NOT NULL,
    destroyed_at BIGINT
);
CREATE INDEX wallets_by_owner ON wallets (owner, created_at, id);
CREATE TABLE sign_intents (
    jti TEXT PRIMARY KEY,
    wallet_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    message TEXT,
    created_by TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
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
    hash TEXT NOT NULL
);
