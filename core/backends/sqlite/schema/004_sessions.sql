-- Schema version 4: what the session list shows (issue #16). Every session gets an opaque id
-- (never its secret, which only the browser holds), when it was last seen (recorded at most
-- once a minute) and the browser's User-Agent header captured at sign-in.
ALTER TABLE sessions ADD COLUMN id TEXT;
ALTER TABLE sessions ADD COLUMN last_seen_at INTEGER;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
UPDATE sessions SET id = lower(hex(randomblob(16))) WHERE id IS NULL;
UPDATE sessions SET last_seen_at = created_at WHERE last_seen_at IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS sessions_id ON sessions (id);
