-- Schema version 6: lineage and inputs (edit and iterate). Every job records where it came from:
-- `kind` widens to generate / edit / variation / reference / compare, `parent_id` names the job
-- it was made from (NULL for a fresh prompt or an uploaded image), `mask_path` the stored mask of
-- an edit and `reference_paths` (a JSON array) its other input images. SQLite cannot change a
-- CHECK constraint in place, so the table is rebuilt (https://sqlite.org/lang_altertable.html,
-- "other kinds of table schema changes"): new table, copy, drop, rename, indexes again. The
-- migration runs inside one transaction (db.py), so a failure leaves version 5 as it was.

CREATE TABLE jobs_v6 (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL,
    provider         TEXT NOT NULL,
    model            TEXT NOT NULL,
    kind             TEXT NOT NULL DEFAULT 'generate'
                     CHECK (kind IN ('generate', 'edit', 'variation', 'reference', 'compare')),
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
    updated_at       INTEGER NOT NULL,
    admin_bytes INTEGER GENERATED ALWAYS AS (CASE
        WHEN json_type(result_meta, '$.bytes') IN ('integer', 'real')
        THEN CAST(json_extract(result_meta, '$.bytes') AS INTEGER) ELSE 0 END) VIRTUAL,
    admin_spend_usd REAL GENERATED ALWAYS AS (CASE
        WHEN json_type(result_meta, '$.cost_usd') IN ('integer', 'real')
        THEN json_extract(result_meta, '$.cost_usd')
        WHEN json_type(result_meta, '$.estimated_cost_usd') IN ('integer', 'real')
        THEN json_extract(result_meta, '$.estimated_cost_usd') END) VIRTUAL,
    admin_objects INTEGER GENERATED ALWAYS AS
        ((result_path IS NOT NULL) + (thumb_path IS NOT NULL)) VIRTUAL,
    parent_id        TEXT,
    mask_path        TEXT,
    reference_paths  TEXT NOT NULL DEFAULT '[]'
);

INSERT INTO jobs_v6 (id, user_id, provider, model, kind, prompt, params, input_path, status,
    attempts, max_attempts, run_after, lease_owner, lease_expires_at, error_code, error_message,
    result_path, thumb_path, result_meta, review_status, review_note, reviewed_by, reviewed_at,
    batch_id, idempotency_key, created_at, started_at, finished_at, updated_at)
SELECT id, user_id, provider, model, kind, prompt, params, input_path, status,
    attempts, max_attempts, run_after, lease_owner, lease_expires_at, error_code, error_message,
    result_path, thumb_path, result_meta, review_status, review_note, reviewed_by, reviewed_at,
    batch_id, idempotency_key, created_at, started_at, finished_at, updated_at
FROM jobs;

DROP TABLE jobs;
ALTER TABLE jobs_v6 RENAME TO jobs;

CREATE INDEX jobs_history ON jobs (user_id, created_at DESC, id DESC);
CREATE INDEX jobs_all_history ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_leases ON jobs (status, lease_expires_at);
CREATE INDEX jobs_sweeper ON jobs (status, finished_at);
CREATE INDEX jobs_review ON jobs (review_status, created_at DESC);
CREATE INDEX jobs_batch ON jobs (batch_id);
CREATE INDEX jobs_queue_order ON jobs (status, created_at, id, run_after);
CREATE INDEX jobs_review_queue ON jobs (status, review_status, created_at, id);
CREATE INDEX jobs_status_created ON jobs (status, created_at, id);
CREATE INDEX jobs_by_day ON jobs
    (created_at, provider, status, error_code, started_at, finished_at);
CREATE INDEX jobs_user_usage ON jobs (user_id, created_at, status);
CREATE INDEX jobs_spend_by ON jobs
    (status, provider, model, user_id, created_at, admin_spend_usd);
CREATE INDEX jobs_purge_cover ON jobs
    (status, COALESCE(finished_at, created_at), id, user_id, review_status, admin_bytes,
    admin_objects);
-- The lineage chain (a job's children) and "is this stored input still used by a job".
CREATE INDEX jobs_parent ON jobs (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX jobs_input ON jobs (input_path) WHERE input_path IS NOT NULL;
CREATE INDEX jobs_mask ON jobs (mask_path) WHERE mask_path IS NOT NULL;
