-- What was signed, decoded: the audit event's `detail` (hashed when present)
-- and an intent's structured content (an Ethereum transaction or EIP-712 data).
ALTER TABLE audit_events ADD COLUMN detail TEXT;
ALTER TABLE sign_intents ADD COLUMN content TEXT;
