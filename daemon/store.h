/* store.h - memwatchd's persistent state in one SQLite file: targets and their time series.
 *
 * Samples are kept per series as compressed chunks (see chunk.h) covering fixed wall-clock
 * windows.  The open chunk of every series lives in memory; every flush interval the bytes
 * appended since the last flush, for all series together, go to disk in ONE small staging
 * row, so a flush dirties a few pages however many series there are.  When a window closes,
 * each series' chunk is written whole and the staging rows it covered are deleted.  After a
 * crash the open chunks are rebuilt from the staging rows: a SIGKILL loses at most one flush
 * interval.  One-minute min/avg/max rollups are derived from the raw samples and kept longer.
 *
 * Single-threaded: every call comes from memwatchd's main loop.  No call allocates per sample
 * in steady state.  Values are integers in the metric's stored unit (metrics.h). */
#ifndef MEMWATCH_STORE_H
#define MEMWATCH_STORE_H

#include <stdbool.h>
#include <stdint.h>

struct store;
struct store_series;    /* owned by the store; valid until store_close or its target's removal */

struct store_config {
    const char *path;               /* SQLite file, created if missing */
    int64_t flush_interval_ms;      /* how much a SIGKILL may lose; default 10 s */
    int64_t raw_retention_ms;       /* raw samples kept this long; default 24 h */
    int64_t rollup_retention_ms;    /* 1-minute rollups kept this long; default 30 d */
    uint64_t pending_limit_bytes;   /* closed chunks held in memory while writes fail; 0 = 64 MiB */
};

/* Opens (creating and migrating as needed) and recovers unflushed-window data from the
 * staging rows.  On failure returns a negative errno and sets *errmsg (caller frees). */
int store_open(const struct store_config *cfg, int64_t now_ms, struct store **out, char **errmsg);
/* Flushes everything still in memory and closes.  Accepts NULL. */
void store_close(struct store *st, int64_t now_ms);
/* Last error text from SQLite or the store, for logging after a failed call. */
const char *store_errmsg(const struct store *st);

/* ---- targets ---------------------------------------------------------------------------- */
enum target_selector { SELECTOR_PID = 0, SELECTOR_MATCH = 1, SELECTOR_SELF = 2 };
enum target_state { TARGET_ACTIVE = 0, TARGET_WAITING = 1, TARGET_GONE = 2 };

struct target_record {
    int64_t id;                     /* assigned by store_target_add */
    char name[64];
    enum target_selector selector;
    int64_t pid;                    /* SELECTOR_PID/SELF: the process ... */
    int64_t start_time_ms;          /* ... and its start time, so a reused PID is not it */
    char pattern[256];              /* SELECTOR_MATCH: POSIX extended regex */
    bool match_cmdline;             /* match the whole command line, not just the name */
    int64_t interval_ms;            /* 0 = the configured default */
    int64_t smaps_interval_ms;      /* 0 = the configured default */
    enum target_state state;
    int64_t created_ms;
    int64_t state_changed_ms;
    /* The Go runtime view (gorun.h): a debug HTTP endpoint, "" for none. */
    char endpoint[256];             /* base URL, "http://127.0.0.1:6060" */
    char vars_path[128];            /* "" = /debug/vars */
    char heap_path[128];            /* "" = /debug/pprof/heap */
    char goroutine_path[128];       /* "" = /debug/pprof/goroutine */
    char metrics_path[128];         /* "" = /metrics */
    int64_t runtime_interval_ms;    /* 0 = the configured default */
    int64_t profile_interval_ms;    /* 0 = the configured default */
    bool heap_gc;                   /* ask for ?gc=1 (a full GC in the target) */
    /* Leak detection (leak.h) for this target; 0 = the configuration's. */
    int64_t detect_window_ms;
    double detect_min_growth;           /* bytes an hour */
    double detect_min_relative_growth;  /* fraction of the level an hour */
    double detect_min_goroutine_growth; /* goroutines an hour */
};

/* Inserts; sets rec->id.  -EEXIST if the name is taken. */
int store_target_add(struct store *st, struct target_record *rec);
/* Rewrites the record with rec->id (selector fields, state, times).  -ENOENT if missing. */
int store_target_update(struct store *st, const struct target_record *rec);
/* Deletes the target with all of its series and samples; invalidates its series handles. */
int store_target_remove(struct store *st, int64_t target_id);
/* Calls cb for every stored target, ordered by id; stops early if cb returns non-zero. */
int store_targets_load(struct store *st, int (*cb)(void *arg, const struct target_record *rec),
                       void *arg);

/* ---- series ----------------------------------------------------------------------------- */
/* Finds or creates the series (target, metric name).  NULL on database error. */
struct store_series *store_series_get(struct store *st, int64_t target_id, const char *metric);
/* Looks an existing series up without creating it; NULL if none. */
struct store_series *store_series_find(struct store *st, int64_t target_id, const char *metric);

/* Appends one sample.  Timestamps must increase per series; an older or equal one is
 * dropped with -ERANGE (a wall clock stepped back), and so is one that falls in a minute or
 * window a flush already closed (it does so 5 s after their end).  Never touches the disk. */
int store_append(struct store *st, struct store_series *s, int64_t ts_ms, int64_t value);

/* Called from the main loop on every iteration: flushes when the flush interval has passed,
 * closes finished windows, applies retention about once an hour.  Cheap when nothing is due.
 * On a database error (a full disk, say) returns negative errno; the data stays in memory
 * (bounded) and the next call retries. */
int store_tick(struct store *st, int64_t now_ms);
/* Flushes now, whatever the interval. */
int store_flush(struct store *st, int64_t now_ms);

/* ---- queries ---------------------------------------------------------------------------- */
struct store_point {
    int64_t ts_ms;      /* raw: the sample time; aggregated: the start of the step */
    double min, avg, max;
    int64_t count;      /* raw samples behind the point */
};

/* Points of series s in [from_ms, to_ms], oldest first, from disk and memory alike.
 * step_ms == 0: raw samples (min = avg = max = value, count = 1) where raw data covers the
 * range, else the 1-minute rollups.  step_ms > 0: one point per step bucket, aligned to
 * multiples of step_ms since the epoch, with min/avg/max over the bucket, computed from raw
 * samples or from rollups, whichever resolution the range and step call for.
 * *resolution_ms is set to the resolution used: for raw data the sampling interval (the
 * median of the first intervals returned, rounded to 10 ms; 0 if unknown), or 60000.
 * cb returning non-zero stops the walk (not an error). */
int store_query(struct store *st, struct store_series *s, int64_t from_ms, int64_t to_ms,
                int64_t step_ms, int (*cb)(void *arg, const struct store_point *p), void *arg,
                int64_t *resolution_ms);

/* ---- figures, for bench/ and the daemon's own /metrics -------------------------------- */
struct store_stats {
    uint64_t samples_appended;      /* since open */
    uint64_t samples_dropped;       /* out of order, or over the memory bound while the disk failed */
    uint64_t flushes, flush_errors;
    uint64_t db_bytes;              /* page_count * page_size of the main file */
    uint64_t series;                /* series known */
    uint64_t memory_bytes;          /* bytes held in open and pending chunks */
};
void store_get_stats(struct store *st, struct store_stats *out);

#endif
