-- Placeholder on branch i18n only: migration 006 belongs to another branch (numbers are
-- assigned per feature and must run without gaps). Delete this file when that branch merges.
SELECT 1;
