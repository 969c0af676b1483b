-- Schema version 11: the admin user list at a million jobs. Counting every user's jobs read the
-- whole jobs_user_usage index (one entry per job) on every visit; the counts are now kept per
-- user by triggers in the same transaction as the insert or delete, and the latest activity is
-- one probe of jobs_history per user (LocalAdminStore.user_activity).
CREATE TABLE IF NOT EXISTS user_job_totals (
    user_id TEXT PRIMARY KEY,
    jobs INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT OR REPLACE INTO user_job_totals (user_id, jobs)
    SELECT user_id, COUNT(*) FROM jobs GROUP BY user_id;
DROP TRIGGER IF EXISTS jobs_total_insert;
CREATE TRIGGER jobs_total_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO user_job_totals (user_id, jobs) VALUES (NEW.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET jobs = jobs + 1;
END;
DROP TRIGGER IF EXISTS jobs_total_delete;
CREATE TRIGGER jobs_total_delete AFTER DELETE ON jobs BEGIN
    UPDATE user_job_totals SET jobs = jobs - 1 WHERE user_id = OLD.user_id;
    DELETE FROM user_job_totals WHERE user_id = OLD.user_id AND jobs <= 0;
END;
-- A job never changes owner; if one ever did, its count moves with it.
DROP TRIGGER IF EXISTS jobs_total_move;
CREATE TRIGGER jobs_total_move AFTER UPDATE OF user_id ON jobs
WHEN NEW.user_id IS NOT OLD.user_id BEGIN
    UPDATE user_job_totals SET jobs = jobs - 1 WHERE user_id = OLD.user_id;
    DELETE FROM user_job_totals WHERE user_id = OLD.user_id AND jobs <= 0;
    INSERT INTO user_job_totals (user_id, jobs) VALUES (NEW.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET jobs = jobs + 1;
END;
