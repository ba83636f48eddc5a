-- Bytes as bytes (BLOB, was hex text), the tenant an audit event belongs to
-- (for tenant-filtered reads; not part of the hashed event), rate-limit
-- counters shared by replicas, and an index for pruning expired intents.
CREATE TABLE wallets_v2 (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    key_type TEXT NOT NULL,
    public_key BLOB NOT NULL,
    label TEXT,
    sealed BLOB,
    attestation BLOB,
    created_at BIGINT NOT NULL,
    destroyed_at BIGINT
);
INSERT INTO wallets_v2 (id, owner, key_type, public_key, label, sealed, attestation, created_at, destroyed_at)
    SELECT id, owner, key_type, unhex(public_key), label, unhex(sealed), unhex(attestation), created_at, destroyed_at FROM wallets;
DROP TABLE wallets;
ALTER TABLE wallets_v2 RENAME TO wallets;
CREATE INDEX wallets_by_owner ON wallets (owner, created_at, id);
CREATE TABLE sign_intents_v2 (
    jti TEXT PRIMARY KEY,
    wallet_id TEXT NOT NULL,
    digest BLOB NOT NULL,
    message BLOB,
    created_by TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
INSERT INTO sign_intents_v2 (jti, wallet_id, digest, message, created_by, expires_at)
    SELECT jti, wallet_id, unhex(digest), unhex(message), created_by, expires_at FROM sign_intents;
DROP TABLE sign_intents;
ALTER TABLE sign_intents_v2 RENAME TO sign_intents;
CREATE INDEX sign_intents_by_expiry ON sign_intents (expires_at);
ALTER TABLE audit_events ADD COLUMN tenant TEXT;
CREATE INDEX audit_events_by_tenant ON audit_events (tenant, seq);
CREATE TABLE rate_limits (
    bucket TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    hits BIGINT NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX rate_limits_by_window ON rate_limits (window_start);
