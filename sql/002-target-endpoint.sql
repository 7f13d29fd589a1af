-- 002-target-endpoint.sql - a target may name a Go program's debug HTTP endpoint.
--
-- endpoint is the base URL ('' = no Go runtime view); the *_path columns override where the
-- program mounts each handler ('' = Go's defaults: /debug/vars, /debug/pprof/heap,
-- /debug/pprof/goroutine, /metrics).  Intervals of 0 follow the configuration.
ALTER TABLE targets ADD COLUMN endpoint TEXT NOT NULL DEFAULT '';
ALTER TABLE targets ADD COLUMN vars_path TEXT NOT NULL DEFAULT '';
ALTER TABLE targets ADD COLUMN heap_path TEXT NOT NULL DEFAULT '';
ALTER TABLE targets ADD COLUMN goroutine_path TEXT NOT NULL DEFAULT '';
ALTER TABLE targets ADD COLUMN metrics_path TEXT NOT NULL DEFAULT '';
ALTER TABLE targets ADD COLUMN runtime_interval_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE targets ADD COLUMN profile_interval_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE targets ADD COLUMN heap_gc INTEGER NOT NULL DEFAULT 0;
