-- Schema version 9: the UI language a user chose (issue #14), remembered in their profile so
-- every device they sign in on uses it. NULL: not chosen yet (the browser's language applies).
ALTER TABLE users ADD COLUMN language TEXT CHECK (language IN ('en', 'zh-CN'));
