-- Schema version 1: jobs (the queue is the jobs table), idempotency keys, submissions (rate
-- limit and quota), named leases, and the accounts (users, sessions, API tokens, failed sign-ins).
-- Times are integer microseconds since the epoch (UTC). Never edit a shipped migration; add one.

CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL,
    provider         TEXT NOT NULL,
    model            TEXT NOT NULL,
    kind             TEXT NOT NULL DEFAULT 'generate'
                     CHECK (kind IN ('generate', 'edit')),
    prompt           TEXT NOT NULL,
    params           TEXT NOT NULL DEFAULT '{}',
    input_path       TEXT,
    status           TEXT NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'processing', 'done', 'failed', 'canceled')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    run_after        INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    error_code       TEXT,
    error_message    TEXT,
    result_path      TEXT,
    thumb_path       TEXT,
    result_meta      TEXT NOT NULL DEFAULT '{}',
    review_status    TEXT NOT NULL DEFAULT 'unreviewed'
                     CHECK (review_status IN ('unreviewed', 'approved', 'rejected', 'flagged')),
    review_note      TEXT,
    reviewed_by      TEXT,
    reviewed_at      INTEGER,
    batch_id         TEXT,
    idempotency_key  TEXT,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX jobs_history ON jobs (user_id, created_at DESC, id DESC);
CREATE INDEX jobs_all_history ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_claim ON jobs (status, run_after);
CREATE INDEX jobs_leases ON jobs (status, lease_expires_at);
CREATE INDEX jobs_sweeper ON jobs (status, finished_at);
CREATE INDEX jobs_review ON jobs (review_status, created_at DESC);
CREATE INDEX jobs_batch ON jobs (batch_id);

-- One row per idempotency key: the primary key makes a second batch for a key impossible.
CREATE TABLE idempotency_keys (
    user_id    TEXT NOT NULL,
    key        TEXT NOT NULL,
    batch_id   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
);

-- Submissions are logged apart from jobs so that deleting jobs frees no rate-limit or
-- quota room. Rows older than two days are pruned on the next submission.
CREATE TABLE submissions (
    user_id    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    count      INTEGER NOT NULL
);
CREATE INDEX submissions_user ON submissions (user_id, created_at);

CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'reviewer', 'admin')),
    disabled      INTEGER NOT NULL DEFAULT 0,
    daily_quota   INTEGER,
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX api_tokens_user ON api_tokens (user_id, created_at);

CREATE TABLE sign_in_failures (
    email TEXT NOT NULL,
    at    INTEGER NOT NULL
);
CREATE INDEX sign_in_failures_email ON sign_in_failures (email, at);
