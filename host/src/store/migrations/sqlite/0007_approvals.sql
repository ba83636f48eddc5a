-- Payment approval (the console). A wallet may require its owner's approval
-- of each sign intent; an intent records its state and decision, what it
-- authorizes in decoded form (for the approver's page), the wallet's owner
-- (to list an owner's requests) and, once its ticket is used, the signature.
ALTER TABLE wallets ADD COLUMN require_approval BIGINT NOT NULL DEFAULT 0;
-- NULL: no approval needed; else pending | approved | declined.
ALTER TABLE sign_intents ADD COLUMN approval TEXT;
ALTER TABLE sign_intents ADD COLUMN decided_at BIGINT;
ALTER TABLE sign_intents ADD COLUMN decided_by TEXT;
ALTER TABLE sign_intents ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sign_intents ADD COLUMN detail TEXT;
ALTER TABLE sign_intents ADD COLUMN owner TEXT;
ALTER TABLE sign_intents ADD COLUMN signature TEXT;
CREATE INDEX sign_intents_by_owner ON sign_intents (owner, created_at);
