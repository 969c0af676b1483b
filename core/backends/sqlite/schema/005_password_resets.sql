-- Schema version 5: one-time password reset links (local mode; an admin makes them, there is
-- no mail server). Only the SHA-256 digest of a link's token is stored; a link works once
-- (used_at) and until expires_at. Deleting a user deletes their links.
CREATE TABLE IF NOT EXISTS password_resets (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_by TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX IF NOT EXISTS password_resets_user ON password_resets (user_id);
