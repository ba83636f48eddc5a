-- Incident freezes (POST /v1/admin/freeze): while a row exists, signing,
-- sign intents and approvals in its scope (all, tenant:T, wallet:ID) are
-- refused on every replica.
CREATE TABLE freezes (
    scope TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    frozen_by TEXT NOT NULL,
    frozen_at BIGINT NOT NULL
);
