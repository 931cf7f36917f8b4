-- Encrypted secrets (API keys, broker credentials). Described in docs/secrets.md.
--
-- Only Fernet ciphertext is stored; the key lives outside the database (the environment
-- variable MACROQUANT_FERNET_KEY or $MACROQUANT_HOME/secret.key). key_fingerprint is the
-- first 16 hex digits of SHA-256 of the key, so a value read with a different key is detected
-- and reported instead of failing obscurely. data_sources.credentials_ref names a row here.
CREATE TABLE secrets (
    name             text PRIMARY KEY CHECK (name ~ '^[A-Z][A-Z0-9_]{1,63}$'),
    ciphertext       bytea NOT NULL,
    key_fingerprint  text NOT NULL CHECK (key_fingerprint ~ '^[0-9a-f]{16}$'),
    created_at       timestamptz NOT NULL DEFAULT now(),   -- audit only
    updated_at       timestamptz NOT NULL DEFAULT now()    -- audit only
);
