-- 003-profiles.sql - Go heap and goroutine profiles of targets (migration 3).
--
-- Written and read by daemon/profstore.c, which documents the blob format.  store.c runs this
-- in one transaction and then sets PRAGMA user_version = 3.  Times are Unix milliseconds;
-- kind is enum pprof_kind (0 heap, 1 goroutine).

-- Per target and kind, a dictionary of sites (pprof.h: the leaf frame and the user frame).
-- A profile names its sites by id, so the strings are stored once per target rather than
-- once a minute.  AUTOINCREMENT: profile blobs hold site ids that no foreign key checks, and
-- a reused id would quietly rename a site in old profiles.  The UNIQUE index is the lookup
-- by key (profstore.c keeps a copy of it in memory, so adding a profile of known sites reads
-- nothing) and, leading with target_id, also serves the ON DELETE CASCADE.
CREATE TABLE profile_sites (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    target_id INTEGER NOT NULL REFERENCES targets(id) ON DELETE CASCADE,
    kind      INTEGER NOT NULL,
    leaf_func TEXT NOT NULL,
    leaf_file TEXT NOT NULL,
    leaf_line INTEGER NOT NULL,
    user_func TEXT NOT NULL,
    user_file TEXT NOT NULL,
    user_line INTEGER NOT NULL,
    UNIQUE (target_id, kind, leaf_func, leaf_file, leaf_line, user_func, user_file, user_line)
);

-- One row per stored profile: its totals over all samples (total0..3 are pprof.h's
-- PV_* indices: heap alloc_objects, alloc_bytes, inuse_objects, inuse_bytes; a goroutine
-- profile has its count in total0 and zeros), the number of sites in the blob, and the
-- blob: every site's values, deflated (format in profstore.c).
--
-- A rowid table, rows appended at the right edge; the index answers everything by
-- (target, kind, time): diff's "first at or after" / "last at or before", thinning and
-- retention (range deletes per target and kind), counts, and the CASCADE.  UNIQUE: two
-- profiles of the same target and kind at the same millisecond make "the profile at t"
-- ambiguous; profstore_add refuses the second with -EEXIST.
CREATE TABLE profiles (
    id        INTEGER PRIMARY KEY,
    target_id INTEGER NOT NULL REFERENCES targets(id) ON DELETE CASCADE,
    kind      INTEGER NOT NULL,
    ts_ms     INTEGER NOT NULL,
    nsites    INTEGER NOT NULL,
    total0    INTEGER NOT NULL,
    total1    INTEGER NOT NULL,
    total2    INTEGER NOT NULL,
    total3    INTEGER NOT NULL,
    blob      BLOB NOT NULL
);
CREATE UNIQUE INDEX profiles_time ON profiles (target_id, kind, ts_ms);
