-- Placeholder for schema version 4, which another branch of issue #16 adds: migrations must be
-- numbered without gaps. When the branches merge, delete this file and keep the real 004.
SELECT 1;
