-- Schema version 12: the admin statistics page at a million jobs. usage_stats aggregated every
-- job of the range on each visit (1.8-5.3 s at 1M jobs); it now reads daily rollups kept by the
-- triggers below in the same transaction as the job's insert, change or delete (docs/scale.md).
-- `day` is the UTC day of the job's created_at (created_at / 86,400,000,000 microseconds).
--
--   stats_day_provider  per_day and failure rates: jobs of every status, failed ones
--   stats_day_failure   failed jobs by error code (NULL counts as 'unknown')
--   stats_day_latency   done jobs with both times, by duration bucket (two significant digits
--                       of the duration in microseconds; -1 holds any negative duration), with
--                       the exact sum of their durations: a percentile is the mean of its bucket
--   stats_day_user      the top users: jobs, done, failed
--   stats_day_spend     done jobs per provider, model and user, those with a recorded cost
--                       (admin_spend_usd) and its sum
--
-- Each trigger applies a row's contribution with a sign: insert +NEW, delete -OLD, a change
-- -OLD then +NEW, and removes the rows of OLD's keys that reach zero. A later migration that
-- rebuilds `jobs` (new table, copy, rename, as 006 did) drops these triggers with the old table
-- and must create them again.
CREATE TABLE IF NOT EXISTS stats_day_provider (
    day INTEGER NOT NULL,
    provider TEXT NOT NULL,
    jobs INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    PRIMARY KEY (day, provider)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stats_day_failure (
    day INTEGER NOT NULL,
    provider TEXT NOT NULL,
    error_code TEXT NOT NULL,
    jobs INTEGER NOT NULL,
    PRIMARY KEY (day, provider, error_code)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stats_day_latency (
    day INTEGER NOT NULL,
    provider TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    jobs INTEGER NOT NULL,
    total_us INTEGER NOT NULL,
    PRIMARY KEY (day, provider, bucket)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stats_day_user (
    day INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    jobs INTEGER NOT NULL,
    done INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    PRIMARY KEY (day, user_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stats_day_spend (
    day INTEGER NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    user_id TEXT NOT NULL,
    images INTEGER NOT NULL,
    priced INTEGER NOT NULL,
    usd REAL NOT NULL,
    PRIMARY KEY (day, provider, model, user_id)
) WITHOUT ROWID;

-- The same spend per week (day / 7: blocks of 7 days from the epoch). It is the biggest rollup
-- (a row per day, provider, model and user); a range reads its leading days (at most 6) from
-- stats_day_spend and its weeks from here, about a third of the rows.
CREATE TABLE IF NOT EXISTS stats_week_spend (
    week INTEGER NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    user_id TEXT NOT NULL,
    images INTEGER NOT NULL,
    priced INTEGER NOT NULL,
    usd REAL NOT NULL,
    PRIMARY KEY (week, provider, model, user_id)
) WITHOUT ROWID;

-- The backfill: an existing deployment's figures are right straight after the upgrade.
DELETE FROM stats_day_provider;
INSERT INTO stats_day_provider (day, provider, jobs, failed)
    SELECT created_at / 86400000000, provider, COUNT(*), SUM(status = 'failed')
    FROM jobs GROUP BY 1, 2;
DELETE FROM stats_day_failure;
INSERT INTO stats_day_failure (day, provider, error_code, jobs)
    SELECT created_at / 86400000000, provider, COALESCE(error_code, 'unknown'), COUNT(*)
    FROM jobs WHERE status = 'failed' GROUP BY 1, 2, 3;
DELETE FROM stats_day_latency;
INSERT INTO stats_day_latency (day, provider, bucket, jobs, total_us)
    SELECT day, provider,
           CASE WHEN d < 0 THEN -1 WHEN d < 100 THEN d
                ELSE CAST(substr(CAST(d AS TEXT), 1, 2)
                          || substr('0000000000000000000', 1, length(CAST(d AS TEXT)) - 2)
                          AS INTEGER) END,
           COUNT(*), SUM(d)
    FROM (SELECT created_at / 86400000000 AS day, provider,
                 CAST(finished_at - started_at AS INTEGER) AS d
          FROM jobs WHERE status = 'done' AND started_at IS NOT NULL AND finished_at IS NOT NULL)
    GROUP BY 1, 2, 3;
DELETE FROM stats_day_user;
INSERT INTO stats_day_user (day, user_id, jobs, done, failed)
    SELECT created_at / 86400000000, user_id, COUNT(*), SUM(status = 'done'),
           SUM(status = 'failed')
    FROM jobs GROUP BY 1, 2;
DELETE FROM stats_day_spend;
INSERT INTO stats_day_spend (day, provider, model, user_id, images, priced, usd)
    SELECT created_at / 86400000000, provider, model, user_id, COUNT(*), COUNT(admin_spend_usd),
           COALESCE(SUM(admin_spend_usd), 0.0)
    FROM jobs WHERE status = 'done' GROUP BY 1, 2, 3, 4;
DELETE FROM stats_week_spend;
INSERT INTO stats_week_spend (week, provider, model, user_id, images, priced, usd)
    SELECT day / 7, provider, model, user_id, SUM(images), SUM(priced), SUM(usd)
    FROM stats_day_spend GROUP BY 1, 2, 3, 4;

-- The indexes that served the old aggregate: nothing reads them now, and each cost a write on
-- every status change.
DROP INDEX IF EXISTS jobs_by_day;
DROP INDEX IF EXISTS jobs_user_usage;
DROP INDEX IF EXISTS jobs_spend_by;

DROP TRIGGER IF EXISTS jobs_stats_insert;
CREATE TRIGGER jobs_stats_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO stats_day_provider (day, provider, jobs, failed)
        VALUES (NEW.created_at / 86400000000, NEW.provider, 1, NEW.status = 'failed')
        ON CONFLICT (day, provider) DO UPDATE
        SET jobs = jobs + excluded.jobs, failed = failed + excluded.failed;
    INSERT INTO stats_day_user (day, user_id, jobs, done, failed)
        VALUES (NEW.created_at / 86400000000, NEW.user_id, 1, NEW.status = 'done',
                NEW.status = 'failed')
        ON CONFLICT (day, user_id) DO UPDATE
        SET jobs = jobs + excluded.jobs, done = done + excluded.done,
            failed = failed + excluded.failed;
    INSERT INTO stats_day_failure (day, provider, error_code, jobs)
        SELECT NEW.created_at / 86400000000, NEW.provider, COALESCE(NEW.error_code, 'unknown'), 1
        WHERE NEW.status = 'failed'
        ON CONFLICT (day, provider, error_code) DO UPDATE SET jobs = jobs + excluded.jobs;
    INSERT INTO stats_day_latency (day, provider, bucket, jobs, total_us)
        SELECT NEW.created_at / 86400000000, NEW.provider,
               CASE WHEN d < 0 THEN -1 WHEN d < 100 THEN d
                    ELSE CAST(substr(CAST(d AS TEXT), 1, 2)
                              || substr('0000000000000000000', 1, length(CAST(d AS TEXT)) - 2)
                              AS INTEGER) END,
               1, d
        FROM (SELECT CAST(NEW.finished_at - NEW.started_at AS INTEGER) AS d)
        WHERE NEW.status = 'done' AND NEW.started_at IS NOT NULL AND NEW.finished_at IS NOT NULL
        ON CONFLICT (day, provider, bucket) DO UPDATE
        SET jobs = jobs + excluded.jobs, total_us = total_us + excluded.total_us;
    INSERT INTO stats_day_spend (day, provider, model, user_id, images, priced, usd)
        SELECT NEW.created_at / 86400000000, NEW.provider, NEW.model, NEW.user_id, 1,
               NEW.admin_spend_usd IS NOT NULL, COALESCE(NEW.admin_spend_usd, 0.0)
        WHERE NEW.status = 'done'
        ON CONFLICT (day, provider, model, user_id) DO UPDATE
        SET images = images + excluded.images, priced = priced + excluded.priced,
            usd = usd + excluded.usd;
    INSERT INTO stats_week_spend (week, provider, model, user_id, images, priced, usd)
        SELECT NEW.created_at / 604800000000, NEW.provider, NEW.model, NEW.user_id, 1,
               NEW.admin_spend_usd IS NOT NULL, COALESCE(NEW.admin_spend_usd, 0.0)
        WHERE NEW.status = 'done'
        ON CONFLICT (week, provider, model, user_id) DO UPDATE
        SET images = images + excluded.images, priced = priced + excluded.priced,
            usd = usd + excluded.usd;
END;

DROP TRIGGER IF EXISTS jobs_stats_delete;
CREATE TRIGGER jobs_stats_delete AFTER DELETE ON jobs BEGIN
    UPDATE stats_day_provider SET jobs = jobs - 1, failed = failed - (OLD.status = 'failed')
        WHERE day = OLD.created_at / 86400000000 AND provider = OLD.provider;
    DELETE FROM stats_day_provider
        WHERE day = OLD.created_at / 86400000000 AND provider = OLD.provider AND jobs <= 0;
    UPDATE stats_day_user
        SET jobs = jobs - 1, done = done - (OLD.status = 'done'),
            failed = failed - (OLD.status = 'failed')
        WHERE day = OLD.created_at / 86400000000 AND user_id = OLD.user_id;
    DELETE FROM stats_day_user
        WHERE day = OLD.created_at / 86400000000 AND user_id = OLD.user_id AND jobs <= 0;
    UPDATE stats_day_failure SET jobs = jobs - 1
        WHERE OLD.status = 'failed' AND day = OLD.created_at / 86400000000
          AND provider = OLD.provider AND error_code = COALESCE(OLD.error_code, 'unknown');
    DELETE FROM stats_day_failure
        WHERE OLD.status = 'failed' AND day = OLD.created_at / 86400000000
          AND provider = OLD.provider AND error_code = COALESCE(OLD.error_code, 'unknown')
          AND jobs <= 0;
    UPDATE stats_day_latency SET jobs = jobs - 1, total_us = total_us - (
            SELECT CAST(OLD.finished_at - OLD.started_at AS INTEGER))
        WHERE OLD.status = 'done' AND OLD.started_at IS NOT NULL AND OLD.finished_at IS NOT NULL
          AND day = OLD.created_at / 86400000000 AND provider = OLD.provider
          AND bucket = (SELECT CASE WHEN d < 0 THEN -1 WHEN d < 100 THEN d
                    ELSE CAST(substr(CAST(d AS TEXT), 1, 2)
                              || substr('0000000000000000000', 1, length(CAST(d AS TEXT)) - 2)
                              AS INTEGER) END
                FROM (SELECT CAST(OLD.finished_at - OLD.started_at AS INTEGER) AS d));
    DELETE FROM stats_day_latency
        WHERE OLD.status = 'done' AND day = OLD.created_at / 86400000000
          AND provider = OLD.provider AND jobs <= 0;
    -- the usd sum returns to exactly 0 with the last priced job (no float residue)
    UPDATE stats_day_spend
        SET images = images - 1, priced = priced - (OLD.admin_spend_usd IS NOT NULL),
            usd = CASE WHEN priced - (OLD.admin_spend_usd IS NOT NULL) <= 0 THEN 0.0
                       ELSE usd - COALESCE(OLD.admin_spend_usd, 0.0) END
        WHERE OLD.status = 'done' AND day = OLD.created_at / 86400000000
          AND provider = OLD.provider AND model = OLD.model AND user_id = OLD.user_id;
    UPDATE stats_week_spend
        SET images = images - 1, priced = priced - (OLD.admin_spend_usd IS NOT NULL),
            usd = CASE WHEN priced - (OLD.admin_spend_usd IS NOT NULL) <= 0 THEN 0.0
                       ELSE usd - COALESCE(OLD.admin_spend_usd, 0.0) END
        WHERE OLD.status = 'done' AND week = OLD.created_at / 604800000000
          AND provider = OLD.provider AND model = OLD.model AND user_id = OLD.user_id;
    DELETE FROM stats_day_spend
        WHERE OLD.status = 'done' AND day = OLD.created_at / 86400000000
          AND provider = OLD.provider AND model = OLD.model AND user_id = OLD.user_id
          AND images <= 0;
    DELETE FROM stats_week_spend
        WHERE OLD.status = 'done' AND week = OLD.created_at / 604800000000
          AND provider = OLD.provider AND model = OLD.model AND user_id = OLD.user_id
          AND images <= 0;
END;

-- A change that moves a job's contribution: its status to or from done/failed, or, while it is
-- done or failed, its error code, times or cost; or any change of its day, provider, model or
-- owner (no code makes those; tests do). Claims, leases and reviews do not fire it.
DROP TRIGGER IF EXISTS jobs_stats_update;
CREATE TRIGGER jobs_stats_update
AFTER UPDATE OF created_at, provider, model, user_id, status, error_code, started_at,
    finished_at, result_meta ON jobs
WHEN NEW.created_at IS NOT OLD.created_at OR NEW.provider IS NOT OLD.provider
    OR NEW.model IS NOT OLD.model OR NEW.user_id IS NOT OLD.user_id
    OR ((OLD.status IN ('done', 'failed') OR NEW.status IN ('done', 'failed'))
        AND (NEW.status IS NOT OLD.status OR NEW.error_code IS NOT OLD.error_code
             OR NEW.started_at IS NOT OLD.started_at OR NEW.finished_at IS NOT OLD.finished_at
             OR NEW.admin_spend_usd IS NOT OLD.admin_spend_usd))
BEGIN
    -- take OLD's contribution away (as jobs_stats_delete, without removing empty rows yet)
    UPDATE stats_day_provider SET jobs = jobs - 1, failed = failed - (OLD.status = 'failed')
        WHERE day = OLD.created_at / 86400000000 AND provider = OLD.provider;
    UPDATE stats_day_user
        SET jobs = jobs - 1, done = done - (OLD.status = 'done'),
            failed = failed - (OLD.status = 'failed')
        WHERE day = OLD.created_at / 86400000000 AND user_id = OLD.user_id;
    UPDATE stats_day_failure SET jobs = jobs - 1
        WHERE OLD.status = 'failed' AND day = OLD.created_at / 86400000000
          AND provider = OLD.provider AND error_code = COALESCE(OLD.error_code, 'unknown');
    UPDATE stats_day_latency SET jobs = jobs - 1, total_us = total_us - (
            SELECT CAST(OLD.finished_at - OLD.started_at AS INTEGER))
        WHERE OLD.status = 'done' AND OLD.started_at IS NOT NULL AND OLD.finished_at IS NOT NULL
          AND day = OLD.created_at / 86400000000 AND provider = OLD.provider
          AND bucket = (SELECT CASE WHEN d < 0 THEN -1 WHEN d < 100 THEN d
                    ELSE CAST(substr(CAST(d AS TEXT), 1, 2)
                              || substr('0000000000000000000', 1, length(CAST(d AS TEXT)) - 2)
                              AS INTEGER) END
                FROM (SELECT CAST(OLD.finished_at - OLD.started_at AS INTEGER) AS d));
    UPDATE stats_day_spend
        SET images = images - 1, priced = priced - (OLD.admin_spend_usd IS NOT NULL),
            usd = CASE WHEN priced - (OLD.admin_spend_usd IS NOT NULL) <= 0 THEN 0.0
                       ELSE usd - COALESCE(OLD.admin_spend_usd, 0.0) END
        WHERE OLD.status = 'done' AND day = OLD.created_at / 86400000000
          AND provider = OLD.provider AND model = OLD.model AND user_id = OLD.user_id;
    UPDATE stats_week_spend
        SET images = images - 1, priced = priced - (OLD.admin_spend_usd IS NOT NULL),
            usd = CASE WHEN priced - (OLD.admin_spend_usd IS NOT NULL) <= 0 THEN 0.0
                       ELSE usd - COALESCE(OLD.admin_spend_usd, 0.0) END
        WHERE OLD.status = 'done' AND week = OLD.created_at / 604800000000
          AND provider = OLD.provider AND model = OLD.model AND user_id = OLD.user_id;
    -- add NEW's (as jobs_stats_insert)
    INSERT INTO stats_day_provider (day, provider, jobs, failed)
        VALUES (NEW.created_at / 86400000000, NEW.provider, 1, NEW.status = 'failed')
        ON CONFLICT (day, provider) DO UPDATE
        SET jobs = jobs + excluded.jobs, failed = failed + excluded.failed;
    INSERT INTO stats_day_user (day, user_id, jobs, done, failed)
        VALUES (NEW.created_at / 86400000000, NEW.user_id, 1, NEW.status = 'done',
                NEW.status = 'failed')
        ON CONFLICT (day, user_id) DO UPDATE
        SET jobs = jobs + excluded.jobs, done = done + excluded.done,
            failed = failed + excluded.failed;
    INSERT INTO stats_day_failure (day, provider, error_code, jobs)
        SELECT NEW.created_at / 86400000000, NEW.provider, COALESCE(NEW.error_code, 'unknown'), 1
        WHERE NEW.status = 'failed'
        ON CONFLICT (day, provider, error_code) DO UPDATE SET jobs = jobs + excluded.jobs;
    INSERT INTO stats_day_latency (day, provider, bucket, jobs, total_us)
        SELECT NEW.created_at / 86400000000, NEW.provider,
               CASE WHEN d < 0 THEN -1 WHEN d < 100 THEN d
                    ELSE CAST(substr(CAST(d AS TEXT), 1, 2)
                              || substr('0000000000000000000', 1, length(CAST(d AS TEXT)) - 2)
                              AS INTEGER) END,
               1, d
        FROM (SELECT CAST(NEW.finished_at - NEW.started_at AS INTEGER) AS d)
        WHERE NEW.status = 'done' AND NEW.started_at IS NOT NULL AND NEW.finished_at IS NOT NULL
        ON CONFLICT (day, provider, bucket) DO UPDATE
        SET jobs = jobs + excluded.jobs, total_us = total_us + excluded.total_us;
    INSERT INTO stats_day_spend (day, provider, model, user_id, images, priced, usd)
        SELECT NEW.created_at / 86400000000, NEW.provider, NEW.model, NEW.user_id, 1,
               NEW.admin_spend_usd IS NOT NULL, COALESCE(NEW.admin_spend_usd, 0.0)
        WHERE NEW.status = 'done'
        ON CONFLICT (day, provider, model, user_id) DO UPDATE
        SET images = images + excluded.images, priced = priced + excluded.priced,
            usd = usd + excluded.usd;
    INSERT INTO stats_week_spend (week, provider, model, user_id, images, priced, usd)
        SELECT NEW.created_at / 604800000000, NEW.provider, NEW.model, NEW.user_id, 1,
               NEW.admin_spend_usd IS NOT NULL, COALESCE(NEW.admin_spend_usd, 0.0)
        WHERE NEW.status = 'done'
        ON CONFLICT (week, provider, model, user_id) DO UPDATE
        SET images = images + excluded.images, priced = priced + excluded.priced,
            usd = usd + excluded.usd;
    -- and remove OLD's rows that reached zero
    DELETE FROM stats_day_provider
        WHERE day = OLD.created_at / 86400000000 AND provider = OLD.provider AND jobs <= 0;
    DELETE FROM stats_day_user
        WHERE day = OLD.created_at / 86400000000 AND user_id = OLD.user_id AND jobs <= 0;
    DELETE FROM stats_day_failure
        WHERE OLD.status = 'failed' AND day = OLD.created_at / 86400000000
          AND provider = OLD.provider AND error_code = COALESCE(OLD.error_code, 'unknown')
          AND jobs <= 0;
    DELETE FROM stats_day_latency
        WHERE OLD.status = 'done' AND day = OLD.created_at / 86400000000
          AND provider = OLD.provider AND jobs <= 0;
    DELETE FROM stats_day_spend
        WHERE OLD.status = 'done' AND day = OLD.created_at / 86400000000
          AND provider = OLD.provider AND model = OLD.model AND user_id = OLD.user_id
          AND images <= 0;
    DELETE FROM stats_week_spend
        WHERE OLD.status = 'done' AND week = OLD.created_at / 604800000000
          AND provider = OLD.provider AND model = OLD.model AND user_id = OLD.user_id
          AND images <= 0;
END;
