-- 003-profiles.sql - being written.
SELECT 1;
