-- A change of a wallet's record proposed to its owners, kept while they
-- approve it one by one (`POST /v1/wallets/{id}/record/{proposal_id}/approve`):
-- the record it changes and the proposed record (texts), the authorization (v1, action `update_record`)
-- each owner signs, their approvals so far (JSON array), and its stage:
-- `pending` (collecting approvals until `expires_at`, Unix s), `waiting` (the
-- signer verified the approvals; a loosening takes effect at `effective_at`,
-- Unix s) or `applied`.
CREATE TABLE record_proposals (
    id TEXT PRIMARY KEY,
    wallet_id TEXT NOT NULL,
    previous_record TEXT NOT NULL,
    record TEXT NOT NULL,
    owner_authorization TEXT NOT NULL,
    owner_approvals TEXT,
    stage TEXT NOT NULL,
    effective_at BIGINT,
    expires_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    decided_at BIGINT
);
CREATE INDEX record_proposals_wallet ON record_proposals (wallet_id, created_at);
CREATE INDEX record_proposals_stage ON record_proposals (stage, effective_at);
