-- SIGNET_OPERATOR_QUORUM=2: what an operator asked that a second operator
-- must confirm (the action as JSON), and who confirmed it.
CREATE TABLE confirmations (
    id TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    confirmed_by TEXT,
    confirmed_at BIGINT
);
