-- The wallet's record (owners, threshold, policy), as the signer made it:
-- canonical JSON whose SHA-256 the sealed blob is bound to. NULL for wallets
-- from before records, whose record is the one without owners and with the
-- permissive policy (the signer derives it from the key).
ALTER TABLE wallets ADD COLUMN record TEXT;

-- A sign intent's content object as owners approve it (`{digest}`,
-- `{message, encoding}`, `{transaction}` or `{typed_data}`, JSON), and, when
-- the wallet's owners must approve it, the authorization they sign and the
-- approvals given so far (JSON array).
ALTER TABLE sign_intents ADD COLUMN payload TEXT;
ALTER TABLE sign_intents ADD COLUMN owner_authorization TEXT;
ALTER TABLE sign_intents ADD COLUMN owner_approvals TEXT;
