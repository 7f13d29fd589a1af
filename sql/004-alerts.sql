-- 004-alerts.sql - alerts, the heap profiles that prove them, and per-target detection
-- settings (migration 4).
--
-- Written and read by daemon/alerts.c.  Times are Unix milliseconds; state is enum
-- alert_state (0 pending, 1 firing, 2 resolved).  One row per alert for its whole life: the
-- row is updated as the alert moves on, so a restart picks up pending and firing alerts where
-- they were (and does not notify again).  culprits is the JSON array the API serves.
CREATE TABLE alerts (
    id               INTEGER PRIMARY KEY,
    target_id        INTEGER NOT NULL REFERENCES targets(id) ON DELETE CASCADE,
    kind             TEXT NOT NULL,
    state            INTEGER NOT NULL,
    started_ms       INTEGER NOT NULL,
    since_ms         INTEGER NOT NULL,
    fired_ms         INTEGER NOT NULL DEFAULT 0,
    resolved_ms      INTEGER NOT NULL DEFAULT 0,
    updated_ms       INTEGER NOT NULL,
    growth_per_hour  REAL NOT NULL,
    confidence       REAL NOT NULL,
    window_from_ms   INTEGER NOT NULL,
    window_to_ms     INTEGER NOT NULL,
    level            REAL NOT NULL,
    limit_bytes      REAL NOT NULL,
    limit_source     TEXT NOT NULL,
    seconds_to_limit REAL NOT NULL,
    summary          TEXT NOT NULL,
    culprits         TEXT NOT NULL
);
CREATE INDEX alerts_target ON alerts (target_id, state);
CREATE INDEX alerts_state ON alerts (state, since_ms);

-- The two heap profiles kept when an alert fired, as the target served them (.pb.gz):
-- which is 0 for the window's start, 1 for the moment of firing.
CREATE TABLE alert_profiles (
    alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    which    INTEGER NOT NULL,
    ts_ms    INTEGER NOT NULL,
    data     BLOB NOT NULL,
    PRIMARY KEY (alert_id, which)
);

-- A rolling few raw heap profiles per target, so that when an alert fires the profile from
-- the start of its window is still at hand: one every window/8, for the window and a bit.
-- (The alert's second profile is the next one the target serves after firing.)
CREATE TABLE raw_profiles (
    id        INTEGER PRIMARY KEY,
    target_id INTEGER NOT NULL REFERENCES targets(id) ON DELETE CASCADE,
    ts_ms     INTEGER NOT NULL,
    data      BLOB NOT NULL
);
CREATE INDEX raw_profiles_time ON raw_profiles (target_id, ts_ms);

-- Per-target detection settings; 0 follows the configuration ([detect]).  Growths are per
-- hour: bytes, a fraction of the level, goroutines.
ALTER TABLE targets ADD COLUMN detect_window_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE targets ADD COLUMN detect_min_growth REAL NOT NULL DEFAULT 0;
ALTER TABLE targets ADD COLUMN detect_min_relative_growth REAL NOT NULL DEFAULT 0;
ALTER TABLE targets ADD COLUMN detect_min_goroutine_growth REAL NOT NULL DEFAULT 0;
