-- Schema version 3: the admin store's table, virtual columns and indexes (queries in admin.py).
-- Earlier versions made them on every open, outside the versioned schema, so a version-2
-- database may already hold any of them, or retired ones: every step checks first. SQLite has
-- no IF [NOT] EXISTS for columns, so db.py skips an ADD COLUMN whose column the table already
-- has and a DROP COLUMN whose column it lacks.

-- A generated column of an earlier development version, with the index that used it.
DROP INDEX IF EXISTS jobs_spend_groups;
ALTER TABLE jobs DROP COLUMN admin_cost_usd;

-- Virtual columns (computed on read, never stored) over the job's JSON and paths, so that the
-- indexes below can cover the figures the admin queries sum without reading whole rows.
-- `admin_bytes` counts exactly as core.services.purge.job_bytes does (numbers only).
ALTER TABLE jobs ADD COLUMN admin_bytes INTEGER GENERATED ALWAYS AS (CASE
    WHEN json_type(result_meta, '$.bytes') IN ('integer', 'real')
    THEN CAST(json_extract(result_meta, '$.bytes') AS INTEGER) ELSE 0 END) VIRTUAL;
-- What a job cost: the provider's figure (`cost_usd`), else the adapter's estimate
-- (`estimated_cost_usd`); NULL when neither is a number.
ALTER TABLE jobs ADD COLUMN admin_spend_usd REAL GENERATED ALWAYS AS (CASE
    WHEN json_type(result_meta, '$.cost_usd') IN ('integer', 'real')
    THEN json_extract(result_meta, '$.cost_usd')
    WHEN json_type(result_meta, '$.estimated_cost_usd') IN ('integer', 'real')
    THEN json_extract(result_meta, '$.estimated_cost_usd') END) VIRTUAL;
ALTER TABLE jobs ADD COLUMN admin_objects INTEGER GENERATED ALWAYS AS
    ((result_path IS NOT NULL) + (thumb_path IS NOT NULL)) VIRTUAL;

CREATE TABLE IF NOT EXISTS sweep_runs (
    id            TEXT PRIMARY KEY,
    trigger       TEXT NOT NULL,
    owner         TEXT NOT NULL,
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER NOT NULL,
    deleted_jobs  INTEGER NOT NULL,
    deleted_bytes INTEGER NOT NULL,
    kept_jobs     INTEGER NOT NULL,
    errors        TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS sweep_runs_started ON sweep_runs (started_at DESC);

-- The review queue: done jobs of one review status in created order (both directions).
CREATE INDEX IF NOT EXISTS jobs_review_queue ON jobs (status, review_status, created_at, id);
-- Every done job in created order (review queue without a review-status filter).
CREATE INDEX IF NOT EXISTS jobs_status_created ON jobs (status, created_at, id);

-- The statistics read only these indexes, never whole rows; the queries name them with
-- INDEXED BY, and the ones that group follow the index order so SQLite need not sort.
-- (Indexes of earlier development versions, replaced by the ones below.)
DROP INDEX IF EXISTS jobs_stats;
DROP INDEX IF EXISTS jobs_usage;
DROP INDEX IF EXISTS jobs_spend;
DROP INDEX IF EXISTS jobs_purge;
DROP INDEX IF EXISTS jobs_purge_summary;
DROP INDEX IF EXISTS jobs_spend_groups;
CREATE INDEX IF NOT EXISTS jobs_by_day ON jobs
    (created_at, provider, status, error_code, started_at, finished_at);
CREATE INDEX IF NOT EXISTS jobs_user_usage ON jobs (user_id, created_at, status);
CREATE INDEX IF NOT EXISTS jobs_spend_by ON jobs
    (status, provider, model, user_id, created_at, admin_spend_usd);
-- Purge batches select and order by the cutoff expression; previews sum the figures.
CREATE INDEX IF NOT EXISTS jobs_purge_cover ON jobs
    (status, COALESCE(finished_at, created_at), id, user_id, review_status, admin_bytes,
    admin_objects);
