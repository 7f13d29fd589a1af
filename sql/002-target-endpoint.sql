-- 002-target-endpoint.sql - being written.
SELECT 1;
