-- Schema version 7: push, not poll (issue 15). Every state change of a job is logged in
-- job_events by triggers, inside the transaction that changed the job (the outbox): event
-- streams resume from it by seq (Last-Event-ID) and the webhook dispatcher fans it out into
-- webhook_deliveries, one row per event and target, sent at least once.
CREATE TABLE IF NOT EXISTS job_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS job_events_user ON job_events (user_id, seq);
CREATE INDEX IF NOT EXISTS job_events_job ON job_events (job_id, seq);

CREATE TRIGGER IF NOT EXISTS job_events_insert AFTER INSERT ON jobs
BEGIN
    INSERT INTO job_events (job_id, user_id, status, created_at)
    VALUES (NEW.id, NEW.user_id, NEW.status, NEW.updated_at);
END;

-- A status change, or a job claimed again after its lease ran out (a new attempt starts).
CREATE TRIGGER IF NOT EXISTS job_events_update AFTER UPDATE OF status, attempts ON jobs
WHEN OLD.status IS NOT NEW.status
  OR (NEW.status = 'processing' AND NEW.attempts > OLD.attempts)
BEGIN
    INSERT INTO job_events (job_id, user_id, status, created_at)
    VALUES (NEW.id, NEW.user_id, NEW.status, NEW.updated_at);
END;

-- Registered endpoints. The signing secret is derived from the server key and `salt`, never
-- stored. `events` is a comma-separated list of event names.
CREATE TABLE IF NOT EXISTS webhook_endpoints (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    url             TEXT NOT NULL,
    events          TEXT NOT NULL,
    salt            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    disabled_at     INTEGER,
    disabled_reason TEXT
);
CREATE INDEX IF NOT EXISTS webhook_endpoints_user ON webhook_endpoints (user_id, created_at);

-- The salt of each account's secret for per-job `webhook_url`s.
CREATE TABLE IF NOT EXISTS webhook_account_secrets (
    user_id    TEXT PRIMARY KEY,
    salt       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- A job's own webhook_url (POST /api/jobs), written before the job row.
CREATE TABLE IF NOT EXISTS job_webhooks (
    job_id     TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    url        TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- How far the fan-out has read job_events.
CREATE TABLE IF NOT EXISTS webhook_cursor (
    name TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL
);

-- One event for one target; `id` is the webhook-id, the same on every attempt. `target` is the
-- endpoint id, or 'job' for the job's own URL: one delivery per (event, target).
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL,
    endpoint_id      TEXT,
    target           TEXT NOT NULL,
    url              TEXT NOT NULL,
    salt             TEXT NOT NULL,
    event_seq        INTEGER NOT NULL,
    event            TEXT NOT NULL,
    job_id           TEXT NOT NULL,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed', 'gone')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    last_status_code INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    delivered_at     INTEGER,
    UNIQUE (event_seq, target)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS webhook_deliveries_user ON webhook_deliveries (user_id, created_at DESC);
CREATE INDEX IF NOT EXISTS webhook_deliveries_endpoint
    ON webhook_deliveries (endpoint_id, created_at DESC);

-- Deleting an account deletes its endpoints, secrets, per-job URLs, deliveries and event log.
CREATE TRIGGER IF NOT EXISTS webhooks_user_deleted AFTER DELETE ON users
BEGIN
    DELETE FROM webhook_deliveries WHERE user_id = OLD.id;
    DELETE FROM webhook_endpoints WHERE user_id = OLD.id;
    DELETE FROM webhook_account_secrets WHERE user_id = OLD.id;
    DELETE FROM job_webhooks WHERE user_id = OLD.id;
    DELETE FROM job_events WHERE user_id = OLD.id;
END;
