-- Schema version 8: favourites (issue 12 item 4). A job its owner starred has the time they
-- starred it; NULL is not starred. History filters by it (the partial index keeps that cheap).
ALTER TABLE jobs ADD COLUMN starred_at INTEGER;
CREATE INDEX jobs_starred_idx ON jobs (user_id, created_at DESC, id DESC) WHERE starred_at IS NOT NULL;
