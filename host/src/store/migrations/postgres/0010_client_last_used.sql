-- When each API client was last used (written at most once a minute per
-- client and replica, not on every request): "no use in 24 h" before a kill.
ALTER TABLE api_clients ADD COLUMN last_used_at BIGINT;
