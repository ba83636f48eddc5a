-- Users (people who sign in through Telegram), their login challenges,
-- revoked sessions (logout) and the time before which every session is
-- refused (invalidate-all), shared by every replica.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    telegram_user_id BIGINT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE TABLE auth_challenges (
    id TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    telegram_user_id BIGINT,
    resolved_at BIGINT,
    verified_at BIGINT
);
CREATE TABLE session_revocations (
    jti TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE TABLE telegram_updates (
    update_id BIGINT PRIMARY KEY,
    received_at BIGINT NOT NULL
);
CREATE TABLE session_epochs (
    id BIGINT PRIMARY KEY,
    not_before BIGINT NOT NULL
);
