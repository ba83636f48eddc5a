-- KMS sealing: the KMS CiphertextBlob of each sealing key version (the host
-- never holds a plaintext data key), and the state of the key rotation
-- (one row; resumable after a crash).
CREATE TABLE sealing_keys (
    version BIGINT PRIMARY KEY,
    kms_key_id TEXT NOT NULL,
    ciphertext_blob BLOB,
    key_check BLOB,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);
CREATE TABLE sealing_rotation (
    id BIGINT PRIMARY KEY,
    from_version BIGINT NOT NULL,
    to_version BIGINT NOT NULL,
    phase TEXT NOT NULL,
    cursor TEXT NOT NULL,
    resealed BIGINT NOT NULL,
    verified BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    error TEXT
);
