-- A person's sessions can be ended all at once (logout everywhere, an
-- operator's revoke-sessions), and a person can be banned from signing in.
ALTER TABLE users ADD COLUMN sessions_not_before BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN banned_at BIGINT;
