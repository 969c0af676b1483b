-- Schema version 2: claim and queue positions walk queued jobs in created order and stop early
-- (the covering index also answers run_after without reading rows); the batch index lets
-- delete_jobs drop idempotency keys whose batch is gone.

DROP INDEX jobs_claim;
CREATE INDEX jobs_queue_order ON jobs (status, created_at, id, run_after);
CREATE INDEX idempotency_keys_batch ON idempotency_keys (batch_id);
