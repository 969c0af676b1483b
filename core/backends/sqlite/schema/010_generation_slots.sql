-- Schema version 10: generation slots do only generation. A processing job whose provider call
-- has returned is marked generated_at (its thumbnail and uploads are still running, under the
-- same lease); the claim's concurrency cap counts only processing jobs not yet generated, so
-- the storage work no longer holds one of the provider slots. A claim clears the mark: a job
-- whose worker died mid-storage is generated again (at-least-once, as before).
ALTER TABLE jobs ADD COLUMN generated_at INTEGER;
-- A Generate page reads its batch by user and batch id (JobsService.batch_jobs): without this
-- index SQLite walks every job of the user (jobs_history) to find the batch's few.
CREATE INDEX IF NOT EXISTS jobs_user_batch ON jobs (user_id, batch_id, created_at, id);
