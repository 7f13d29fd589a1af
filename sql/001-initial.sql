-- 001-initial.sql - memwatchd's first schema (migration 1).
--
-- store.c runs this in one transaction and then sets PRAGMA user_version = 1.  Before it, on a
-- new file, store.c sets page_size and auto_vacuum=INCREMENTAL (only possible before the
-- first table); journal_mode=WAL after.  Times are Unix milliseconds.

-- What to watch.  AUTOINCREMENT: a removed target's id is never handed out again, because
-- API clients may still hold it.
CREATE TABLE targets (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT NOT NULL UNIQUE,
    selector          INTEGER NOT NULL,         -- enum target_selector
    pid               INTEGER NOT NULL DEFAULT 0,
    start_time_ms     INTEGER NOT NULL DEFAULT 0,
    pattern           TEXT NOT NULL DEFAULT '',
    match_cmdline     INTEGER NOT NULL DEFAULT 0,
    interval_ms       INTEGER NOT NULL DEFAULT 0,
    smaps_interval_ms INTEGER NOT NULL DEFAULT 0,
    state             INTEGER NOT NULL DEFAULT 0,   -- enum target_state
    created_ms        INTEGER NOT NULL,
    state_changed_ms  INTEGER NOT NULL
);

-- One time series per (target, metric name).  AUTOINCREMENT: staging rows may still name a
-- deleted series, and a reused id would graft its bytes onto a new series.
CREATE TABLE series (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    target_id INTEGER NOT NULL REFERENCES targets(id) ON DELETE CASCADE,
    metric    TEXT NOT NULL,
    UNIQUE (target_id, metric)
);

-- Closed chunks (daemon/chunk.h format): resolution_ms 0 = raw samples (1 value a point) in
-- 10-minute windows; 60000 = one-minute rollups (min, avg, max, count a point) in 6-hour
-- windows.  start_ms is the window start, end_ms the last point's time, count the points.
--
-- A rowid table with separate indexes rather than WITHOUT ROWID: a raw chunk is 1-2 KB, and
-- an index b-tree keeps only about 1000 bytes of a row on a 4 KiB page, so every chunk would
-- spill into an overflow page of its own (about 3x the file size).  Rowids only grow, so rows
-- are appended at the right edge and leaf pages fill up.
CREATE TABLE chunks (
    id            INTEGER PRIMARY KEY,
    series_id     INTEGER NOT NULL,             -- series(id); deleted explicitly with it
    resolution_ms INTEGER NOT NULL,
    start_ms      INTEGER NOT NULL,
    end_ms        INTEGER NOT NULL,
    count         INTEGER NOT NULL,
    data          BLOB NOT NULL
);
-- Raw chunks are keyed by time first.  Every 10 minutes each series adds one raw chunk; with a
-- (series, time) key those entries land all over the index and dirty nearly every page of it
-- (3 MiB for 1000 series x 24 h, rewritten every window, and more with a longer retention:
-- measured 29.1 against 18.6 bytes written to disk per sample, bench/store_bench --hours 48).
-- Time first, they append.  The price: a series' raw query reads the range's index entries
-- of every series (one hour of one series among 1000: 0.3 ms instead of 0.03 ms), which is
-- why rollups, read over long ranges, are keyed by series.  Retention is one range delete.
-- (resolution_ms, always 0 here, costs a byte and makes the index covering for the scans at
-- open, which would otherwise load every row.)
CREATE UNIQUE INDEX chunks_raw ON chunks (start_ms, series_id, resolution_ms)
    WHERE resolution_ms = 0;
-- Rollup chunks are few (one per series per 6 hours) and read over long ranges: by series.
CREATE UNIQUE INDEX chunks_rollup ON chunks (series_id, start_ms) WHERE resolution_ms = 60000;

-- The bytes appended to the open raw chunks since the previous flush, for all series in one
-- row (format in store.c); deleted once every chunk they belong to is in `chunks`.
-- max_start_ms is the latest window start the row mentions.
CREATE TABLE staging (
    seq          INTEGER PRIMARY KEY,
    written_ms   INTEGER NOT NULL,
    max_start_ms INTEGER NOT NULL,
    data         BLOB NOT NULL
);
