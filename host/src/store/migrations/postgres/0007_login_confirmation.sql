-- Login confirmation (the hijack fix): a challenge is exchanged only with the
-- verifier its browser was given (its SHA-256 is kept), and resolved only by
-- the person who opened it pressing the page's two-digit code in Telegram.
ALTER TABLE auth_challenges ADD COLUMN verifier_hash TEXT;
ALTER TABLE auth_challenges ADD COLUMN code TEXT;
ALTER TABLE auth_challenges ADD COLUMN requester TEXT;
ALTER TABLE auth_challenges ADD COLUMN claimed_by BIGINT;
ALTER TABLE auth_challenges ADD COLUMN refused_at BIGINT;
