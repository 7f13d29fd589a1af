/* store.c - targets and time series in one SQLite file (contract in store.h).
 *
 * DESIGN
 *
 * Every series has, in memory:
 *   - an open raw chunk (chunk.h, 1 value a point) for the current 10-minute wall-clock
 *     window, with `raw_staged` = how many of its bytes are already on disk in staging rows;
 *   - a one-minute accumulator (min, max, sum, count) and an open rollup chunk (4 values a
 *     point: min, avg, max, count) for the current 6-hour window;
 *   - a horizon: samples older than it are refused (-ERANGE), which keeps timestamps
 *     increasing and keeps a sample out of a window or minute that is already closed.
 * A chunk is closed when a sample falls into a later window, or at a flush when the clock is
 * SEAL_GRACE_MS past the window's end.  Closed chunks wait in `pending` (one FIFO for the
 * whole store) until a flush writes them whole as rows of `chunks`.
 *
 * A flush is one transaction: all pending chunks as `chunks` rows, plus ONE staging row with
 * the new bytes of every open raw chunk, plus the deletion of the staging rows that only
 * mention chunks now in `chunks`.  The staging row keeps the pages a flush dirties to a few,
 * however many series there are; a row per series would dirty a page per series.
 *
 * Staging row blob, format 1:
 *     u8 1, then entries to the end of the blob, each:
 *     uvarint series_id, uvarint zigzag(start_ms - previous entry's start_ms, 0 for the
 *     first), uvarint offset (chunk bytes before this piece), uvarint len, len bytes.
 * Because the chunk format only appends (chunk.h), the pieces of one (series, window) in seq
 * order, concatenated, are the chunk.  The offsets make the concatenation checkable.
 *
 * Recovery (store_open): series whose raw chunk for a window is already in `chunks` skip
 * their staging pieces for it; the rest are concatenated, the valid prefix kept, the last
 * window becomes the open chunk and earlier ones pending.  Rollups are not staged: the open
 * rollup chunk and minute are rebuilt by replaying raw samples from the end of the last
 * stored rollup chunk.  Raw retention never deletes raw samples of a rollup window that is
 * not on disk yet, so the replay always has its input.
 *
 * Costs: store_append is a few varint writes, no allocation once buffers are warm (they are
 * reused across windows; a closed chunk is copied into an exact-size pending block, once per
 * window).  A flush walks all series once. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "chunk.h"
#include "schema.h"
#include "store.h"
#include "db.h"
#include "util.h"

#define RAW_WINDOW_MS       INT64_C(600000)         /* 10 min */
#define ROLLUP_STEP_MS      INT64_C(60000)
#define ROLLUP_WINDOW_MS    INT64_C(21600000)       /* 6 h, a multiple of RAW_WINDOW_MS */
#define RES_RAW             0                       /* chunks.resolution_ms of raw chunks */
/* How far past its end the clock must be before a flush closes a window or a minute: a
 * sample stamped just before the boundary may reach store_append a little after it. */
#define SEAL_GRACE_MS       INT64_C(5000)
#define RETENTION_EVERY_MS  INT64_C(3600000)
#define RETRY_MIN_MS        INT64_C(1000)           /* a failed flush is retried this soon */
#define PENDING_MAX_DEFAULT (UINT64_C(64) << 20)
#define STAGING_FORMAT      1
/* 16 KiB pages: a raw chunk row is about 1.2 KB and 4 KiB pages hold only 3 of them, leaving
 * ~10% of the file empty (measured 2.53 against 2.33 bytes a sample on disk); bigger pages
 * cost a little more per flush (18.6 against 16.4 bytes written a sample). */
#define PAGE_SIZE           16384
#define FREE_PAGES_KEPT     128     /* at least; reused by chunks and staging rows */
/* Timestamps are kept far from the int64 limits so window arithmetic cannot overflow. */
#define TS_LIMIT            (INT64_C(1) << 61)

/* A closed chunk not yet in the `chunks` table. */
struct pending {
    struct pending *next;
    struct store_series *series;
    int64_t resolution_ms;
    int64_t start_ms, end_ms;
    uint32_t count;
    bool conflict;              /* the window was on disk already: not written */
    size_t len;
    uint8_t data[];
};

struct minute_acc {
    int64_t minute;             /* start of the minute; count 0 = empty */
    int64_t min, max, count;
    __int128 sum;
};

struct store_series {
    int64_t id, target_id;
    char *metric;
    struct store_series *hash_next;
    struct chunk_enc raw;       /* open raw chunk: open iff raw.count > 0 */
    size_t raw_staged;          /* its bytes already in staging rows */
    int64_t horizon;            /* the oldest acceptable timestamp */
    struct minute_acc acc;
    struct chunk_enc roll;      /* open rollup chunk: open iff roll.count > 0 */
    int64_t roll_stored_end;    /* end of the last rollup window in `chunks` when opened,
                                 * where the replay starts; INT64_MIN if none */
};

enum stmt_id {
    S_BEGIN, S_COMMIT, S_ROLLBACK,
    S_TARGET_INSERT, S_TARGET_UPDATE, S_TARGET_DELETE, S_TARGET_ALL,
    S_SERIES_INSERT, S_SERIES_ALL,
    S_CHUNK_INSERT, S_RAW_RANGE, S_ROLL_RANGE, S_RAW_LAST_ALL, S_ROLL_LAST,
    S_RAW_REPLAY, S_CHUNK_DATA, S_RAW_EXPIRE, S_ROLL_EXPIRE,
    S_RAW_DELETE_TARGET, S_ROLL_DELETE_TARGET,
    S_STAGING_INSERT, S_STAGING_GC, S_STAGING_ALL,
    S_PAGE_COUNT, S_FREELIST_COUNT,
    S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_TARGET_INSERT] =
        "INSERT INTO targets(name, selector, pid, start_time_ms, pattern, match_cmdline,"
        " interval_ms, smaps_interval_ms, state, created_ms, state_changed_ms, endpoint,"
        " vars_path, heap_path, goroutine_path, metrics_path, runtime_interval_ms,"
        " profile_interval_ms, heap_gc, detect_window_ms, detect_min_growth,"
        " detect_min_relative_growth, detect_min_goroutine_growth)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
        " ?18, ?19, ?20, ?21, ?22, ?23)",
    [S_TARGET_UPDATE] =
        "UPDATE targets SET selector = ?2, pid = ?3, start_time_ms = ?4, pattern = ?5,"
        " match_cmdline = ?6, interval_ms = ?7, smaps_interval_ms = ?8, state = ?9,"
        " created_ms = ?10, state_changed_ms = ?11, endpoint = ?12, vars_path = ?13,"
        " heap_path = ?14, goroutine_path = ?15, metrics_path = ?16, runtime_interval_ms = ?17,"
        " profile_interval_ms = ?18, heap_gc = ?19, detect_window_ms = ?20,"
        " detect_min_growth = ?21, detect_min_relative_growth = ?22,"
        " detect_min_goroutine_growth = ?23 WHERE id = ?1",
    [S_TARGET_DELETE] = "DELETE FROM targets WHERE id = ?1",
    [S_TARGET_ALL] =
        "SELECT id, name, selector, pid, start_time_ms, pattern, match_cmdline, interval_ms,"
        " smaps_interval_ms, state, created_ms, state_changed_ms, endpoint, vars_path,"
        " heap_path, goroutine_path, metrics_path, runtime_interval_ms, profile_interval_ms,"
        " heap_gc, detect_window_ms, detect_min_growth, detect_min_relative_growth,"
        " detect_min_goroutine_growth FROM targets ORDER BY id",
    [S_SERIES_INSERT] = "INSERT INTO series(target_id, metric) VALUES(?1, ?2)",
    [S_SERIES_ALL] = "SELECT id, target_id, metric FROM series ORDER BY id",
    [S_CHUNK_INSERT] =
        "INSERT INTO chunks(series_id, resolution_ms, start_ms, end_ms, count, data)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    /* One raw chunk of a series, by window start: raw windows are aligned, so a query seeks
     * each window of its range in chunks_raw (start_ms, series_id) instead of reading the
     * range's entries of every series (a day among 10,000 series is 1.4 M of them).  The
     * resolution is a literal so that the planner can use the partial indexes. */
    [S_RAW_RANGE] =
        "SELECT start_ms, data FROM chunks WHERE resolution_ms = 0 AND start_ms = ?2"
        " AND series_id = ?1 AND end_ms >= ?4",
    /* The rollup chunks of a series with start_ms in (?2, ?3] and points at or after ?4. */
    [S_ROLL_RANGE] =
        "SELECT start_ms, data FROM chunks WHERE resolution_ms = 60000 AND series_id = ?1"
        " AND start_ms > ?2 AND start_ms <= ?3 AND end_ms >= ?4 ORDER BY start_ms",
    /* One pass over chunks_raw (covering), at open. */
    [S_RAW_LAST_ALL] =
        "SELECT series_id, max(start_ms) FROM chunks WHERE resolution_ms = 0 GROUP BY series_id",
    [S_ROLL_LAST] =
        "SELECT max(start_ms) FROM chunks WHERE resolution_ms = 60000 AND series_id = ?1",
    /* At open, in time order, from chunks_raw alone (covering): no row is read here. */
    [S_RAW_REPLAY] =
        "SELECT series_id, start_ms, id FROM chunks WHERE resolution_ms = 0 AND start_ms >= ?1"
        " ORDER BY start_ms",
    [S_CHUNK_DATA] = "SELECT data FROM chunks WHERE id = ?1",
    [S_RAW_EXPIRE] = "DELETE FROM chunks WHERE resolution_ms = 0 AND start_ms < ?1",
    [S_ROLL_EXPIRE] =
        "DELETE FROM chunks WHERE resolution_ms = 60000 AND series_id = ?1 AND start_ms < ?2",
    [S_RAW_DELETE_TARGET] =
        "DELETE FROM chunks WHERE resolution_ms = 0"
        " AND series_id IN (SELECT id FROM series WHERE target_id = ?1)",
    [S_ROLL_DELETE_TARGET] =
        "DELETE FROM chunks WHERE resolution_ms = 60000"
        " AND series_id IN (SELECT id FROM series WHERE target_id = ?1)",
    [S_STAGING_INSERT] = "INSERT INTO staging(written_ms, max_start_ms, data) VALUES(?1, ?2, ?3)",
    [S_STAGING_GC] = "DELETE FROM staging WHERE max_start_ms < ?1",
    [S_STAGING_ALL] = "SELECT data FROM staging ORDER BY seq",
    [S_PAGE_COUNT] = "PRAGMA page_count",
    [S_FREELIST_COUNT] = "PRAGMA freelist_count",
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *stmt[S_COUNT];
    int64_t flush_interval_ms, raw_retention_ms, rollup_retention_ms;
    uint64_t pending_max;

    struct store_series **series;   /* ordered by id (ids only grow) */
    size_t nseries, series_cap;
    struct store_series **buckets;  /* by (target_id, metric) */
    size_t nbuckets;                /* a power of two */

    struct pending *pend_head, *pend_tail;
    uint64_t pend_bytes;

    uint8_t *stage;                 /* the staging blob being built; reused */
    size_t stage_cap;
    bool staging_gc;                /* a raw chunk closed: some staging rows may be done */

    int64_t now_ms, next_flush_ms, next_retention_ms;
    struct store_stats stats;
    char errmsg[512];
};

/* ---- helpers ------------------------------------------------------------------------------ */

static int64_t floor_to(int64_t t, int64_t unit)
{
    int64_t q = t / unit;
    if (t % unit < 0)
        q--;
    return q * unit;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static void set_err(struct store *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(struct store *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->errmsg, sizeof(st->errmsg), fmt, ap);
    va_end(ap);
}

/* Records the database's message for a failed rc and returns it as -errno. */
static int db_fail(struct store *st, int rc, const char *what)
{
    set_err(st, "%s: %s", what, sqlite3_errmsg(st->db));
    return db_errno(st->db, rc);
}

/* Steps a statement that returns no rows, and resets it. */
static int run(struct store *st, enum stmt_id id, const char *what)
{
    sqlite3_stmt *s = st->stmt[id];
    int rc = sqlite3_step(s);
    int r = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : db_fail(st, rc, what);
    sqlite3_reset(s);
    return r;
}

static int tx_begin(struct store *st)
{
    return run(st, S_BEGIN, "begin");
}

static int tx_commit(struct store *st)
{
    return run(st, S_COMMIT, "commit");
}

/* Rolls back if a transaction is still open (SQLite ends some on its own after errors). */
static void tx_abort(struct store *st)
{
    if (!sqlite3_get_autocommit(st->db)) {
        sqlite3_step(st->stmt[S_ROLLBACK]);
        sqlite3_reset(st->stmt[S_ROLLBACK]);
    }
}

static int64_t pragma_int(struct store *st, enum stmt_id id)
{
    sqlite3_stmt *s = st->stmt[id];
    int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return v;
}

/* ---- series table in memory --------------------------------------------------------------- */

static size_t series_hash(int64_t target_id, const char *metric)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)target_id * 0x9e3779b97f4a7c15ULL;
    for (const unsigned char *p = (const unsigned char *)metric; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (size_t)(h ^ (h >> 29));
}

static void hash_insert(struct store *st, struct store_series *s)
{
    if (st->nseries + 1 > st->nbuckets) {
        size_t n = st->nbuckets ? st->nbuckets * 2 : 64;
        struct store_series **b = xcalloc(n, sizeof(*b));
        for (size_t i = 0; i < st->nbuckets; i++) {
            for (struct store_series *e = st->buckets[i], *next; e; e = next) {
                next = e->hash_next;
                size_t h = series_hash(e->target_id, e->metric) & (n - 1);
                e->hash_next = b[h];
                b[h] = e;
            }
        }
        free(st->buckets);
        st->buckets = b;
        st->nbuckets = n;
    }
    size_t h = series_hash(s->target_id, s->metric) & (st->nbuckets - 1);
    s->hash_next = st->buckets[h];
    st->buckets[h] = s;
}

static void hash_remove(struct store *st, struct store_series *s)
{
    size_t h = series_hash(s->target_id, s->metric) & (st->nbuckets - 1);
    for (struct store_series **pp = &st->buckets[h]; *pp; pp = &(*pp)->hash_next) {
        if (*pp == s) {
            *pp = s->hash_next;
            return;
        }
    }
}

static struct store_series *series_new(struct store *st, int64_t id, int64_t target_id,
                                       const char *metric)
{
    struct store_series *s = xcalloc(1, sizeof(*s));
    s->id = id;
    s->target_id = target_id;
    s->metric = xstrdup(metric);
    s->horizon = -TS_LIMIT;
    s->roll_stored_end = INT64_MIN;
    chunk_enc_init(&s->raw, 0, 1);
    chunk_enc_init(&s->roll, 0, 4);

    if (st->nseries == st->series_cap) {
        st->series_cap = st->series_cap ? st->series_cap * 2 : 64;
        st->series = xreallocarray(st->series, st->series_cap, sizeof(*st->series));
    }
    st->series[st->nseries++] = s;      /* ids only grow: the array stays sorted */
    hash_insert(st, s);
    st->stats.series = st->nseries;
    return s;
}

/* The index of series `id` in st->series, or SIZE_MAX. */
static size_t series_index(struct store *st, int64_t id)
{
    size_t lo = 0, hi = st->nseries;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (st->series[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < st->nseries && st->series[lo]->id == id ? lo : SIZE_MAX;
}

static void series_free(struct store_series *s)
{
    chunk_enc_free(&s->raw);
    chunk_enc_free(&s->roll);
    free(s->metric);
    free(s);
}

/* ---- pending (closed, unwritten) chunks ---------------------------------------------------- */

static void pending_free_head(struct store *st)
{
    struct pending *p = st->pend_head;
    st->pend_head = p->next;
    if (!st->pend_head)
        st->pend_tail = NULL;
    st->pend_bytes -= sizeof(*p) + p->len;
    free(p);
}

/* Queues a copy of a closed chunk; over the memory bound (the disk has been failing for a
 * while) drops the oldest chunks.  Dropped raw samples are counted; dropped rollup points
 * are not samples (their raw samples were counted when written or dropped). */
static void pending_push(struct store *st, struct store_series *s, int64_t resolution,
                         const struct chunk_enc *e)
{
    struct pending *p = xmalloc(sizeof(*p) + e->len);
    p->next = NULL;
    p->series = s;
    p->resolution_ms = resolution;
    p->start_ms = e->start_ms;
    p->end_ms = e->last_ts;
    p->count = e->count;
    p->conflict = false;
    p->len = e->len;
    memcpy(p->data, e->buf, e->len);
    if (st->pend_tail)
        st->pend_tail->next = p;
    else
        st->pend_head = p;
    st->pend_tail = p;
    st->pend_bytes += sizeof(*p) + p->len;

    while (st->pend_bytes > st->pending_max && st->pend_head != p) {
        if (st->pend_head->resolution_ms == RES_RAW)
            st->stats.samples_dropped += st->pend_head->count;
        pending_free_head(st);
    }
}

static void close_raw(struct store *st, struct store_series *s)
{
    pending_push(st, s, RES_RAW, &s->raw);
    s->horizon = max64(s->horizon, s->raw.start_ms + RAW_WINDOW_MS);
    s->raw.count = 0;
    s->raw.len = 0;
    s->raw_staged = 0;
    st->staging_gc = true;
}

static void close_roll(struct store *st, struct store_series *s)
{
    pending_push(st, s, ROLLUP_STEP_MS, &s->roll);
    s->roll.count = 0;
    s->roll.len = 0;
}

/* ---- samples -------------------------------------------------------------------------------- */

static void emit_minute(struct store *st, struct store_series *s)
{
    struct minute_acc *a = &s->acc;
    int64_t w = floor_to(a->minute, ROLLUP_WINDOW_MS);

    if (s->roll.count && s->roll.start_ms != w)
        close_roll(st, s);
    if (!s->roll.count)
        chunk_enc_reset(&s->roll, w);
    /* The average is kept as an integer, rounded half away from zero: values are integers in
     * small stored units (KiB, counts), so the error is at most half a unit. */
    __int128 twice = a->sum * 2;
    __int128 q = (twice + (twice >= 0 ? a->count : -a->count)) / (2 * a->count);
    int64_t vals[4] = { a->min, (int64_t)q, a->max, a->count };
    chunk_enc_append(&s->roll, a->minute, vals);
    a->count = 0;
}

static void rollup_add(struct store *st, struct store_series *s, int64_t ts, int64_t v)
{
    struct minute_acc *a = &s->acc;
    int64_t m = floor_to(ts, ROLLUP_STEP_MS);

    if (a->count && a->minute != m)
        emit_minute(st, s);
    if (!a->count) {
        a->minute = m;
        a->min = a->max = v;
        a->sum = v;
        a->count = 1;
        return;
    }
    if (v < a->min)
        a->min = v;
    if (v > a->max)
        a->max = v;
    a->sum += v;
    a->count++;
}

int store_append(struct store *st, struct store_series *s, int64_t ts_ms, int64_t value)
{
    if (ts_ms < s->horizon || ts_ms >= TS_LIMIT) {
        st->stats.samples_dropped++;
        return -ERANGE;
    }
    int64_t w = floor_to(ts_ms, RAW_WINDOW_MS);
    if (s->raw.count && s->raw.start_ms != w)
        close_raw(st, s);
    if (!s->raw.count) {
        chunk_enc_reset(&s->raw, w);
        s->raw_staged = 0;
    }
    chunk_enc_append(&s->raw, ts_ms, &value);
    s->horizon = ts_ms + 1;
    rollup_add(st, s, ts_ms, value);
    st->stats.samples_appended++;
    return 0;
}

/* Closes, by the clock, the minute and the windows of s that ended SEAL_GRACE_MS ago. */
static void seal_series(struct store *st, struct store_series *s, int64_t cutoff)
{
    if (s->acc.count && s->acc.minute + ROLLUP_STEP_MS <= cutoff) {
        s->horizon = max64(s->horizon, s->acc.minute + ROLLUP_STEP_MS);
        emit_minute(st, s);
    }
    if (s->raw.count && s->raw.start_ms + RAW_WINDOW_MS <= cutoff)
        close_raw(st, s);
    if (s->roll.count && s->roll.start_ms + ROLLUP_WINDOW_MS <= cutoff)
        close_roll(st, s);
}

/* ---- flush ---------------------------------------------------------------------------------- */

static uint8_t *stage_reserve(struct store *st, size_t used, size_t more)
{
    if (st->stage_cap - used < more) {
        size_t cap = st->stage_cap ? st->stage_cap : 4096;
        while (cap - used < more)
            cap *= 2;
        st->stage = xreallocarray(st->stage, cap, 1);
        st->stage_cap = cap;
    }
    return st->stage + used;
}

static uint64_t zz(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzz(uint64_t u)
{
    return (int64_t)((u >> 1) ^ (0 - (u & 1)));
}

static int write_pending(struct store *st, struct pending *p)
{
    sqlite3_stmt *q = st->stmt[S_CHUNK_INSERT];
    sqlite3_bind_int64(q, 1, p->series->id);
    sqlite3_bind_int64(q, 2, p->resolution_ms);
    sqlite3_bind_int64(q, 3, p->start_ms);
    sqlite3_bind_int64(q, 4, p->end_ms);
    sqlite3_bind_int64(q, 5, p->count);
    sqlite3_bind_blob(q, 6, p->data, (int)p->len, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    int r = rc == SQLITE_DONE ? 0 : db_fail(st, rc, "writing a chunk");
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    /* The window is already on disk (it cannot be, short of a clock stepped back across a
     * restart): keep what is there rather than block every later flush on this chunk. */
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return 1;
    return r;
}

static int flush(struct store *st, int64_t now_ms)
{
    int64_t cutoff = now_ms - SEAL_GRACE_MS;
    size_t used = 0;
    int64_t max_start = INT64_MIN, min_open = INT64_MAX, prev_start = 0;
    int r;

    st->now_ms = max64(st->now_ms, now_ms);
    for (size_t i = 0; i < st->nseries; i++)
        seal_series(st, st->series[i], cutoff);

    /* The staging row: the new bytes of every open raw chunk. */
    *stage_reserve(st, 0, 1) = STAGING_FORMAT;
    used = 1;
    for (size_t i = 0; i < st->nseries; i++) {
        struct store_series *s = st->series[i];
        if (!s->raw.count)
            continue;
        if (s->raw.start_ms < min_open)
            min_open = s->raw.start_ms;
        if (s->raw.len == s->raw_staged)
            continue;
        size_t n = s->raw.len - s->raw_staged;
        uint8_t *p = stage_reserve(st, used, 4 * CHUNK_VARINT_MAX + n);
        p = chunk_put_uvarint(p, (uint64_t)s->id);
        p = chunk_put_uvarint(p, zz(s->raw.start_ms - prev_start));
        p = chunk_put_uvarint(p, s->raw_staged);
        p = chunk_put_uvarint(p, n);
        memcpy(p, s->raw.buf + s->raw_staged, n);
        used = (size_t)(p + n - st->stage);
        prev_start = s->raw.start_ms;
        max_start = max64(max_start, s->raw.start_ms);
    }

    if (used == 1 && !st->pend_head && !st->staging_gc)
        return 0;

    if ((r = tx_begin(st)) < 0)
        goto fail;
    for (struct pending *p = st->pend_head; p; p = p->next) {
        if ((r = write_pending(st, p)) < 0)
            goto fail;
        p->conflict = r > 0;
    }
    if (used > 1) {
        sqlite3_stmt *q = st->stmt[S_STAGING_INSERT];
        sqlite3_bind_int64(q, 1, now_ms);
        sqlite3_bind_int64(q, 2, max_start);
        sqlite3_bind_blob(q, 3, st->stage, (int)used, SQLITE_STATIC);
        r = run(st, S_STAGING_INSERT, "writing the staging row");
        sqlite3_clear_bindings(q);
        if (r < 0)
            goto fail;
    }
    /* Every chunk before the oldest open window is in `chunks` once this commits (or was
     * dropped), so staging rows mentioning only such windows are done. */
    if (st->staging_gc) {
        sqlite3_bind_int64(st->stmt[S_STAGING_GC], 1, min_open);
        if ((r = run(st, S_STAGING_GC, "deleting staging rows")) < 0)
            goto fail;
    }
    if ((r = tx_commit(st)) < 0)
        goto fail;

    while (st->pend_head) {
        if (st->pend_head->conflict && st->pend_head->resolution_ms == RES_RAW)
            st->stats.samples_dropped += st->pend_head->count;
        pending_free_head(st);
    }
    for (size_t i = 0; i < st->nseries; i++)
        st->series[i]->raw_staged = st->series[i]->raw.len;
    st->staging_gc = false;
    st->stats.flushes++;
    return 0;

fail:
    tx_abort(st);
    st->stats.flush_errors++;
    return r;
}

/* ---- retention ------------------------------------------------------------------------------ */

static int retention(struct store *st, int64_t now_ms)
{
    int64_t raw_cut = now_ms - st->raw_retention_ms - RAW_WINDOW_MS + 1;
    int64_t roll_cut = now_ms - st->rollup_retention_ms - ROLLUP_WINDOW_MS + 1;
    int r;

    /* Raw samples that a rollup not yet on disk comes from stay, whatever their age: a
     * reopen rebuilds that rollup from them.  Normally that is the current 6-hour window,
     * younger than the raw retention. */
    for (const struct pending *p = st->pend_head; p; p = p->next)
        if (p->resolution_ms == ROLLUP_STEP_MS && p->start_ms < raw_cut)
            raw_cut = p->start_ms;
    for (size_t i = 0; i < st->nseries; i++) {
        const struct store_series *s = st->series[i];
        int64_t w = s->roll.count ? s->roll.start_ms
                  : s->acc.count ? floor_to(s->acc.minute, ROLLUP_WINDOW_MS) : INT64_MAX;
        if (w < raw_cut)
            raw_cut = w;
    }

    if ((r = tx_begin(st)) < 0)
        return r;
    /* Index ranges, never a scan: raw chunks by time (chunks_raw), rollups per series
     * (chunks_rollup). */
    sqlite3_bind_int64(st->stmt[S_RAW_EXPIRE], 1, raw_cut);
    if ((r = run(st, S_RAW_EXPIRE, "expiring raw chunks")) < 0)
        goto fail;
    sqlite3_stmt *q = st->stmt[S_ROLL_EXPIRE];
    for (size_t i = 0; i < st->nseries; i++) {
        sqlite3_bind_int64(q, 1, st->series[i]->id);
        sqlite3_bind_int64(q, 2, roll_cut);
        if ((r = run(st, S_ROLL_EXPIRE, "expiring rollup chunks")) < 0)
            goto fail;
    }
    if ((r = tx_commit(st)) < 0)
        goto fail;

    /* Give free pages back to the file system, but only beyond what the next hour's chunks
     * and staging rows will take again: incremental vacuum moves pages from the end of the
     * file into the holes, which costs writes, and in a steady state the pages retention
     * frees are simply reused.  A removed target or a shorter retention frees more. */
    int64_t free_pages = pragma_int(st, S_FREELIST_COUNT);
    int64_t keep = pragma_int(st, S_PAGE_COUNT) / 8;
    if (keep < FREE_PAGES_KEPT)
        keep = FREE_PAGES_KEPT;
    if (free_pages > keep) {
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA incremental_vacuum(%lld)",
                 (long long)(free_pages - keep));
        int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            return db_fail(st, rc, "incremental vacuum");
    }
    return 0;

fail:
    tx_abort(st);
    return r;
}

int store_tick(struct store *st, int64_t now_ms)
{
    int r = 0, r2 = 0;

    /* A wall clock stepped back must not postpone the next flush by as much. */
    if (st->next_flush_ms - now_ms > st->flush_interval_ms)
        st->next_flush_ms = now_ms + st->flush_interval_ms;
    if (st->next_retention_ms - now_ms > RETENTION_EVERY_MS)
        st->next_retention_ms = now_ms + RETENTION_EVERY_MS;

    if (now_ms >= st->next_flush_ms) {
        r = flush(st, now_ms);
        st->next_flush_ms = now_ms + (r < 0 && st->flush_interval_ms > RETRY_MIN_MS
                                      ? RETRY_MIN_MS : st->flush_interval_ms);
    }
    if (now_ms >= st->next_retention_ms) {
        r2 = retention(st, now_ms);
        st->next_retention_ms = now_ms + (r2 < 0 ? RETRY_MIN_MS * 60 : RETENTION_EVERY_MS);
    }
    return r < 0 ? r : r2;
}

int store_flush(struct store *st, int64_t now_ms)
{
    int r = flush(st, now_ms);
    if (r == 0)
        st->next_flush_ms = now_ms + st->flush_interval_ms;
    return r;
}

/* ---- targets -------------------------------------------------------------------------------- */

static void bind_str(sqlite3_stmt *q, int idx, const char *s, size_t cap)
{
    sqlite3_bind_text(q, idx, s, (int)strnlen(s, cap), SQLITE_STATIC);
}

static void bind_target(sqlite3_stmt *q, const struct target_record *rec)
{
    sqlite3_bind_int(q, 2, rec->selector);
    sqlite3_bind_int64(q, 3, rec->pid);
    sqlite3_bind_int64(q, 4, rec->start_time_ms);
    sqlite3_bind_text(q, 5, rec->pattern, (int)strnlen(rec->pattern, sizeof(rec->pattern)),
                      SQLITE_STATIC);
    sqlite3_bind_int(q, 6, rec->match_cmdline);
    sqlite3_bind_int64(q, 7, rec->interval_ms);
    sqlite3_bind_int64(q, 8, rec->smaps_interval_ms);
    sqlite3_bind_int(q, 9, rec->state);
    sqlite3_bind_int64(q, 10, rec->created_ms);
    sqlite3_bind_int64(q, 11, rec->state_changed_ms);
    bind_str(q, 12, rec->endpoint, sizeof(rec->endpoint));
    bind_str(q, 13, rec->vars_path, sizeof(rec->vars_path));
    bind_str(q, 14, rec->heap_path, sizeof(rec->heap_path));
    bind_str(q, 15, rec->goroutine_path, sizeof(rec->goroutine_path));
    bind_str(q, 16, rec->metrics_path, sizeof(rec->metrics_path));
    sqlite3_bind_int64(q, 17, rec->runtime_interval_ms);
    sqlite3_bind_int64(q, 18, rec->profile_interval_ms);
    sqlite3_bind_int(q, 19, rec->heap_gc);
    sqlite3_bind_int64(q, 20, rec->detect_window_ms);
    sqlite3_bind_double(q, 21, rec->detect_min_growth);
    sqlite3_bind_double(q, 22, rec->detect_min_relative_growth);
    sqlite3_bind_double(q, 23, rec->detect_min_goroutine_growth);
}

int store_target_add(struct store *st, struct target_record *rec)
{
    sqlite3_stmt *q = st->stmt[S_TARGET_INSERT];
    size_t nlen = strnlen(rec->name, sizeof(rec->name));

    if (nlen == sizeof(rec->name) || !target_name_valid(rec->name)) {
        set_err(st, "invalid target name");
        return -EINVAL;
    }
    sqlite3_bind_text(q, 1, rec->name, (int)nlen, SQLITE_STATIC);
    bind_target(q, rec);
    int rc = sqlite3_step(q);
    int r = 0;
    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        set_err(st, "a target named \"%s\" exists", rec->name);
        r = -EEXIST;
    } else if (rc != SQLITE_DONE) {
        r = db_fail(st, rc, "adding a target");
    } else {
        rec->id = sqlite3_last_insert_rowid(st->db);
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return r;
}

int store_target_update(struct store *st, const struct target_record *rec)
{
    sqlite3_stmt *q = st->stmt[S_TARGET_UPDATE];

    sqlite3_bind_int64(q, 1, rec->id);
    bind_target(q, rec);
    int r = run(st, S_TARGET_UPDATE, "updating a target");
    sqlite3_clear_bindings(q);
    if (r == 0 && sqlite3_changes(st->db) == 0) {
        set_err(st, "no target with id %lld", (long long)rec->id);
        r = -ENOENT;
    }
    return r;
}

int store_target_remove(struct store *st, int64_t target_id)
{
    int r;

    if ((r = tx_begin(st)) < 0)
        return r;
    sqlite3_bind_int64(st->stmt[S_RAW_DELETE_TARGET], 1, target_id);
    if ((r = run(st, S_RAW_DELETE_TARGET, "deleting a target's chunks")) < 0)
        goto fail;
    sqlite3_bind_int64(st->stmt[S_ROLL_DELETE_TARGET], 1, target_id);
    if ((r = run(st, S_ROLL_DELETE_TARGET, "deleting a target's chunks")) < 0)
        goto fail;
    sqlite3_bind_int64(st->stmt[S_TARGET_DELETE], 1, target_id);
    if ((r = run(st, S_TARGET_DELETE, "deleting a target")) < 0)    /* series: ON DELETE CASCADE */
        goto fail;
    if (sqlite3_changes(st->db) == 0) {
        set_err(st, "no target with id %lld", (long long)target_id);
        r = -ENOENT;
        goto fail;
    }
    if ((r = tx_commit(st)) < 0)
        goto fail;

    /* Forget the in-memory state: pending chunks first (they point at the series). */
    struct pending **pp = &st->pend_head;
    st->pend_tail = NULL;
    while (*pp) {
        struct pending *p = *pp;
        if (p->series->target_id == target_id) {
            *pp = p->next;
            st->pend_bytes -= sizeof(*p) + p->len;
            free(p);
        } else {
            st->pend_tail = p;
            pp = &p->next;
        }
    }
    size_t j = 0;
    for (size_t i = 0; i < st->nseries; i++) {
        struct store_series *s = st->series[i];
        if (s->target_id == target_id) {
            hash_remove(st, s);
            series_free(s);
        } else {
            st->series[j++] = s;
        }
    }
    st->nseries = j;
    st->stats.series = j;
    /* Its staging pieces are left to the usual clean-up; recovery skips unknown series. */
    st->staging_gc = true;
    return 0;

fail:
    tx_abort(st);
    return r;
}

static void copy_text(char *dst, size_t size, const unsigned char *src)
{
    snprintf(dst, size, "%s", src ? (const char *)src : "");
}

int store_targets_load(struct store *st, int (*cb)(void *arg, const struct target_record *rec),
                       void *arg)
{
    sqlite3_stmt *q = st->stmt[S_TARGET_ALL];
    int rc, r = 0;

    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct target_record rec;
        memset(&rec, 0, sizeof(rec));
        rec.id = sqlite3_column_int64(q, 0);
        copy_text(rec.name, sizeof(rec.name), sqlite3_column_text(q, 1));
        rec.selector = (enum target_selector)sqlite3_column_int(q, 2);
        rec.pid = sqlite3_column_int64(q, 3);
        rec.start_time_ms = sqlite3_column_int64(q, 4);
        copy_text(rec.pattern, sizeof(rec.pattern), sqlite3_column_text(q, 5));
        rec.match_cmdline = sqlite3_column_int(q, 6) != 0;
        rec.interval_ms = sqlite3_column_int64(q, 7);
        rec.smaps_interval_ms = sqlite3_column_int64(q, 8);
        rec.state = (enum target_state)sqlite3_column_int(q, 9);
        rec.created_ms = sqlite3_column_int64(q, 10);
        rec.state_changed_ms = sqlite3_column_int64(q, 11);
        copy_text(rec.endpoint, sizeof(rec.endpoint), sqlite3_column_text(q, 12));
        copy_text(rec.vars_path, sizeof(rec.vars_path), sqlite3_column_text(q, 13));
        copy_text(rec.heap_path, sizeof(rec.heap_path), sqlite3_column_text(q, 14));
        copy_text(rec.goroutine_path, sizeof(rec.goroutine_path), sqlite3_column_text(q, 15));
        copy_text(rec.metrics_path, sizeof(rec.metrics_path), sqlite3_column_text(q, 16));
        rec.runtime_interval_ms = sqlite3_column_int64(q, 17);
        rec.profile_interval_ms = sqlite3_column_int64(q, 18);
        rec.heap_gc = sqlite3_column_int(q, 19) != 0;
        rec.detect_window_ms = sqlite3_column_int64(q, 20);
        rec.detect_min_growth = sqlite3_column_double(q, 21);
        rec.detect_min_relative_growth = sqlite3_column_double(q, 22);
        rec.detect_min_goroutine_growth = sqlite3_column_double(q, 23);
        if (cb(arg, &rec) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = db_fail(st, rc, "loading targets");
    sqlite3_reset(q);
    return r;
}

/* ---- series --------------------------------------------------------------------------------- */

struct store_series *store_series_find(struct store *st, int64_t target_id, const char *metric)
{
    if (!st->nbuckets)
        return NULL;
    size_t h = series_hash(target_id, metric) & (st->nbuckets - 1);
    for (struct store_series *s = st->buckets[h]; s; s = s->hash_next)
        if (s->target_id == target_id && strcmp(s->metric, metric) == 0)
            return s;
    return NULL;
}

struct store_series *store_series_get(struct store *st, int64_t target_id, const char *metric)
{
    struct store_series *s = store_series_find(st, target_id, metric);
    if (s)
        return s;

    sqlite3_stmt *q = st->stmt[S_SERIES_INSERT];
    sqlite3_bind_int64(q, 1, target_id);
    sqlite3_bind_text(q, 2, metric, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc != SQLITE_DONE)
        (void)db_fail(st, rc, "adding a series");      /* e.g. no such target */
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    if (rc != SQLITE_DONE)
        return NULL;
    return series_new(st, sqlite3_last_insert_rowid(st->db), target_id, metric);
}

/* ---- queries -------------------------------------------------------------------------------- */

#define INTERVAL_SAMPLES 31

struct walk {
    int64_t from, to, step;
    int (*cb)(void *arg, const struct store_point *p);
    void *arg;
    bool stop;
    /* the step bucket being filled */
    bool have;
    int64_t b_ts, b_min, b_max, b_count;
    __int128 b_sum;
    /* raw: the first intervals between points, for the resolution */
    int64_t last_ts;
    size_t nint;
    int64_t intervals[INTERVAL_SAMPLES];
};

static void walk_emit_bucket(struct walk *w)
{
    if (!w->have || w->stop)
        return;
    struct store_point pt = {
        .ts_ms = w->b_ts, .min = (double)w->b_min, .max = (double)w->b_max,
        .avg = (double)w->b_sum / (double)w->b_count, .count = w->b_count,
    };
    w->have = false;
    if (w->cb(w->arg, &pt) != 0)
        w->stop = true;
}

/* One point: a raw sample (count 1, min = avg = max) or a minute (avg is the minute's). */
static void walk_point(struct walk *w, int64_t ts, int64_t min, int64_t avg, int64_t max,
                       int64_t count)
{
    if (ts < w->from || ts > w->to || w->stop)
        return;
    if (count == 1 && w->nint < INTERVAL_SAMPLES && w->last_ts != INT64_MIN)
        w->intervals[w->nint++] = ts - w->last_ts;
    w->last_ts = ts;
    if (w->step == 0) {
        struct store_point pt = { .ts_ms = ts, .min = (double)min, .avg = (double)avg,
                                  .max = (double)max, .count = count };
        if (w->cb(w->arg, &pt) != 0)
            w->stop = true;
        return;
    }
    int64_t b = floor_to(ts, w->step);
    if (w->have && b != w->b_ts)
        walk_emit_bucket(w);
    if (!w->have) {
        w->have = true;
        w->b_ts = b;
        w->b_min = min;
        w->b_max = max;
        w->b_sum = 0;
        w->b_count = 0;
    }
    if (min < w->b_min)
        w->b_min = min;
    if (max > w->b_max)
        w->b_max = max;
    w->b_sum += (__int128)avg * count;
    w->b_count += count;
}

static void walk_chunk(struct walk *w, int64_t start, unsigned nvals, const uint8_t *data,
                       size_t len)
{
    struct chunk_dec d;
    int64_t ts, v[CHUNK_MAX_VALS];

    chunk_dec_init(&d, start, nvals, data, len);
    /* A damaged chunk yields the points before the damage. */
    while (!w->stop && chunk_dec_next(&d, &ts, v) == 1) {
        if (ts > w->to)
            break;
        if (nvals == 1)
            walk_point(w, ts, v[0], v[0], v[0], 1);
        else if (v[3] > 0)
            walk_point(w, ts, v[0], v[1], v[2], v[3]);
    }
}

/* The in-memory chunks of a series at one resolution, oldest first: pending ones (the FIFO
 * holds a series' chunks in window order), then the open one. */
struct mem_cursor {
    const struct store_series *s;
    int64_t res;
    const struct pending *p;
    bool open_done;
};

static bool mem_next(struct mem_cursor *c, int64_t *start, const uint8_t **data, size_t *len)
{
    for (; c->p; c->p = c->p->next) {
        if (c->p->series == c->s && c->p->resolution_ms == c->res) {
            *start = c->p->start_ms;
            *data = c->p->data;
            *len = c->p->len;
            c->p = c->p->next;
            return true;
        }
    }
    if (c->open_done)
        return false;
    c->open_done = true;
    const struct chunk_enc *e = c->res == RES_RAW ? &c->s->raw : &c->s->roll;
    if (!e->count)
        return false;
    *start = e->start_ms;
    *data = e->buf;
    *len = e->len;
    return true;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int store_query(struct store *st, struct store_series *s, int64_t from_ms, int64_t to_ms,
                int64_t step_ms, int (*cb)(void *arg, const struct store_point *p), void *arg,
                int64_t *resolution_ms)
{
    struct walk w = { .from = from_ms, .to = to_ms, .step = step_ms > 0 ? step_ms : 0,
                      .cb = cb, .arg = arg, .last_ts = INT64_MIN };
    bool raw = from_ms >= st->now_ms - st->raw_retention_ms
               && (w.step == 0 || w.step < ROLLUP_STEP_MS || to_ms - from_ms <= ROLLUP_WINDOW_MS);
    int64_t res = raw ? RES_RAW : ROLLUP_STEP_MS;
    int64_t window = raw ? RAW_WINDOW_MS : ROLLUP_WINDOW_MS;
    unsigned nvals = raw ? 1 : 4;
    int r = 0;

    if (resolution_ms)
        *resolution_ms = raw ? 0 : ROLLUP_STEP_MS;
    if (from_ms > to_ms)
        return 0;

    struct mem_cursor mc = { .s = s, .res = res, .p = st->pend_head };
    int64_t m_start;
    const uint8_t *m_data;
    size_t m_len;
    bool m_have = mem_next(&mc, &m_start, &m_data, &m_len);

    /* Stored chunks and in-memory ones, merged by window start.  Rollups come from one range
     * query; raw chunks from one seek per window (see S_RAW_RANGE). */
    sqlite3_stmt *q = st->stmt[raw ? S_RAW_RANGE : S_ROLL_RANGE];
    int64_t seek = floor_to(from_ms, window), seek_end = to_ms;
    sqlite3_bind_int64(q, 1, s->id);
    sqlite3_bind_int64(q, 2, raw ? seek : from_ms - window);
    if (!raw)
        sqlite3_bind_int64(q, 3, to_ms);
    sqlite3_bind_int64(q, 4, from_ms);
    int rc;
    for (;;) {
        rc = sqlite3_step(q);
        if (raw && rc == SQLITE_DONE) {     /* this window done: on to the next one */
            sqlite3_reset(q);
            seek += window;
            if (seek > seek_end || w.stop)
                break;
            sqlite3_bind_int64(q, 2, seek);
            continue;
        }
        if (w.stop || rc != SQLITE_ROW)
            break;
        int64_t start = sqlite3_column_int64(q, 0);
        while (m_have && m_start < start && !w.stop) {
            walk_chunk(&w, m_start, nvals, m_data, m_len);
            m_have = mem_next(&mc, &m_start, &m_data, &m_len);
        }
        if (m_have && m_start == start)     /* cannot be both; trust the disk */
            m_have = mem_next(&mc, &m_start, &m_data, &m_len);
        const void *blob = sqlite3_column_blob(q, 1);
        int n = sqlite3_column_bytes(q, 1);
        walk_chunk(&w, start, nvals, blob, blob && n > 0 ? (size_t)n : 0);
    }
    if (!w.stop && rc != SQLITE_DONE)
        r = db_fail(st, rc, "reading chunks");
    sqlite3_reset(q);
    if (r < 0)
        return r;

    while (m_have && !w.stop) {
        if (m_start <= to_ms)
            walk_chunk(&w, m_start, nvals, m_data, m_len);
        m_have = mem_next(&mc, &m_start, &m_data, &m_len);
    }
    /* The minute in progress, so the newest samples show at rollup resolution too. */
    if (!raw && s->acc.count > 0 && !w.stop) {
        __int128 twice = s->acc.sum * 2;
        int64_t avg = (int64_t)((twice + (twice >= 0 ? s->acc.count : -s->acc.count))
                                / (2 * s->acc.count));
        walk_point(&w, s->acc.minute, s->acc.min, avg, s->acc.max, s->acc.count);
    }
    walk_emit_bucket(&w);

    if (raw && resolution_ms) {
        /* The raw resolution is the sampling interval: the median of the first intervals
         * seen, or the series' latest one. */
        if (w.nint > 0) {
            qsort(w.intervals, w.nint, sizeof(w.intervals[0]), cmp_i64);
            int64_t med = w.intervals[w.nint / 2];
            /* Timer jitter of a few ms is not part of the interval: 999 ms is 1 s. */
            *resolution_ms = med >= 100 ? (med + 5) / 10 * 10 : med;
        } else if (s->raw.count > 1) {
            *resolution_ms = s->raw.last_delta;
        }
    }
    return 0;
}

/* ---- stats ---------------------------------------------------------------------------------- */

void store_get_stats(struct store *st, struct store_stats *out)
{
    uint64_t mem = st->pend_bytes + st->stage_cap;
    for (size_t i = 0; i < st->nseries; i++)
        mem += st->series[i]->raw.cap + st->series[i]->roll.cap;
    st->stats.memory_bytes = mem;
    st->stats.db_bytes = (uint64_t)pragma_int(st, S_PAGE_COUNT) * PAGE_SIZE;
    st->stats.series = st->nseries;
    *out = st->stats;
}

const char *store_errmsg(const struct store *st)
{
    return st ? st->errmsg : "no store";
}

/* ---- open, recovery, close ------------------------------------------------------------------ */

static int exec_sql(struct store *st, const char *sql, const char *what)
{
    char *msg = NULL;
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        return 0;
    set_err(st, "%s: %s", what, msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return db_errno(st->db, rc);
}

static int migrate(struct store *st)
{
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL);
    if (rc != SQLITE_OK)
        return db_fail(st, rc, "reading the schema version");
    rc = sqlite3_step(q);
    int64_t version = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW)
        return db_fail(st, rc, "reading the schema version");
    if (version > (int64_t)schema_migration_count) {
        set_err(st, "database schema version %lld is newer than this memwatchd (%u)",
                (long long)version, schema_migration_count);
        return -EPROTONOSUPPORT;
    }
    if (version == (int64_t)schema_migration_count)
        return 0;

    /* Settings stored in the file, that only a new file accepts. */
    if (version == 0) {
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA page_size=%d", PAGE_SIZE);
        int r = exec_sql(st, sql, "setting the page size");
        if (r == 0)     /* before the first table, or it needs a VACUUM */
            r = exec_sql(st, "PRAGMA auto_vacuum=INCREMENTAL", "setting auto_vacuum");
        if (r < 0)
            return r;
    }
    for (unsigned i = (unsigned)version; i < schema_migration_count; i++) {
        char tail[64];
        int r = exec_sql(st, "BEGIN IMMEDIATE", "starting a migration");
        if (r == 0)
            r = exec_sql(st, schema_migrations[i], "applying a schema migration");
        if (r == 0) {
            snprintf(tail, sizeof(tail), "PRAGMA user_version=%u", i + 1);
            r = exec_sql(st, tail, "setting the schema version");
        }
        if (r == 0)
            r = exec_sql(st, "COMMIT", "committing a schema migration");
        if (r < 0) {
            if (!sqlite3_get_autocommit(st->db))
                (void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            return r;
        }
    }
    return 0;
}

static int prepare_all(struct store *st)
{
    for (int i = 0; i < S_COUNT; i++) {
        int rc = sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                    &st->stmt[i], NULL);
        if (rc != SQLITE_OK)
            return db_fail(st, rc, "preparing statements");
    }
    return 0;
}

static int load_series(struct store *st)
{
    sqlite3_stmt *q = st->stmt[S_SERIES_ALL];
    int rc, r = 0;

    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const unsigned char *metric = sqlite3_column_text(q, 2);
        (void)series_new(st, sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1),
                         metric ? (const char *)metric : "");
    }
    if (rc != SQLITE_DONE)
        r = db_fail(st, rc, "loading series");
    sqlite3_reset(q);
    if (r < 0)
        return r;

    /* A raw window already in `chunks` is closed for good. */
    q = st->stmt[S_RAW_LAST_ALL];
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        size_t i = series_index(st, sqlite3_column_int64(q, 0));
        if (i != SIZE_MAX)
            st->series[i]->horizon = sqlite3_column_int64(q, 1) + RAW_WINDOW_MS;
    }
    if (rc != SQLITE_DONE)
        r = db_fail(st, rc, "reading chunks");
    sqlite3_reset(q);

    /* Rollups are rebuilt from the end of the last stored rollup window. */
    q = st->stmt[S_ROLL_LAST];
    for (size_t i = 0; r == 0 && i < st->nseries; i++) {
        struct store_series *s = st->series[i];
        sqlite3_bind_int64(q, 1, s->id);
        rc = sqlite3_step(q);
        if (rc == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL)
            s->roll_stored_end = sqlite3_column_int64(q, 0) + ROLLUP_WINDOW_MS;
        else if (rc != SQLITE_ROW)
            r = db_fail(st, rc, "reading chunks");
        sqlite3_reset(q);
    }
    return r;
}

/* One (series, window) being reassembled from staging pieces. */
struct rebuild {
    uint8_t *buf;
    size_t len, cap;
    int64_t start;
    bool broken;        /* a piece was missing: later pieces cannot follow on */
};

/* Makes rb the series' raw chunk, keeping the whole points inside its window; then closes it
 * unless it is the series' last. */
static void rebuild_finish(struct store *st, struct store_series *s, struct rebuild *rb,
                           bool last)
{
    struct chunk_dec d;
    int64_t ts, v;
    size_t good = 0;

    chunk_dec_init(&d, rb->start, 1, rb->buf, rb->len);
    while (chunk_dec_next(&d, &ts, &v) == 1 && ts >= s->horizon && ts >= rb->start
           && ts < rb->start + RAW_WINDOW_MS)
        good = chunk_dec_offset(&d);
    (void)chunk_enc_load(&s->raw, rb->start, 1, rb->buf, good);
    rb->len = 0;
    rb->broken = false;
    if (!s->raw.count)
        return;
    s->raw_staged = s->raw.len;
    s->horizon = s->raw.last_ts + 1;
    if (!last)
        close_raw(st, s);
}

/* Parses one staging blob into the rebuilds; damage ends the blob, never the recovery. */
static void recover_blob(struct store *st, struct rebuild *rbs, const uint8_t *p, size_t n)
{
    const uint8_t *end = p + n;
    int64_t start = 0;

    if (n < 1 || *p++ != STAGING_FORMAT)
        return;
    while (p < end) {
        uint64_t sid, dstart, off, len;
        if (chunk_get_uvarint(&p, end, &sid) < 0 || chunk_get_uvarint(&p, end, &dstart) < 0
            || chunk_get_uvarint(&p, end, &off) < 0 || chunk_get_uvarint(&p, end, &len) < 0
            || len > (uint64_t)(end - p))
            return;
        const uint8_t *piece = p;
        p += len;
        start = (int64_t)((uint64_t)start + (uint64_t)unzz(dstart));

        size_t idx = series_index(st, (int64_t)sid);
        if (idx == SIZE_MAX)
            continue;                   /* a series removed since */
        struct store_series *s = st->series[idx];
        struct rebuild *rb = &rbs[idx];
        if (start < s->horizon || start < rb->start || floor_to(start, RAW_WINDOW_MS) != start)
            continue;                   /* in `chunks` already, stale, or damaged */
        if (start > rb->start || (rb->len == 0 && !rb->broken)) {
            if (rb->len > 0)
                rebuild_finish(st, s, rb, false);
            rb->start = start;
            rb->len = 0;
            rb->broken = false;
        }
        /* A piece starting inside what we have supersedes the rest (a writer that went
         * back, after a recovery kept less than the pieces held); one after it leaves a
         * gap that nothing later can fill. */
        if (rb->broken || off > rb->len) {
            rb->broken = true;
            continue;
        }
        rb->len = off;
        if (rb->cap - rb->len < len) {
            size_t cap = rb->cap ? rb->cap : 1024;
            while (cap - rb->len < len)
                cap *= 2;
            rb->buf = xreallocarray(rb->buf, cap, 1);
            rb->cap = cap;
        }
        memcpy(rb->buf + rb->len, piece, len);
        rb->len += len;
    }
}

/* Rebuilds the open raw chunks (and closed, unwritten ones) from the staging rows. */
static int recover_staging(struct store *st)
{
    sqlite3_stmt *q = st->stmt[S_STAGING_ALL];
    struct rebuild *rbs = xcalloc(st->nseries ? st->nseries : 1, sizeof(*rbs));
    int rc, r = 0;

    for (size_t i = 0; i < st->nseries; i++)
        rbs[i].start = INT64_MIN;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const uint8_t *blob = sqlite3_column_blob(q, 0);
        int n = sqlite3_column_bytes(q, 0);
        if (blob && n > 0)
            recover_blob(st, rbs, blob, (size_t)n);
    }
    if (rc != SQLITE_DONE)
        r = db_fail(st, rc, "reading staging rows");
    sqlite3_reset(q);

    for (size_t i = 0; i < st->nseries; i++) {
        if (r == 0 && rbs[i].len > 0)
            rebuild_finish(st, st->series[i], &rbs[i], true);
        free(rbs[i].buf);
    }
    free(rbs);
    /* Whatever was recovered is in staging already; the rows can go once it is written. */
    st->staging_gc = true;
    return r;
}

static void replay_chunk(struct store *st, struct store_series *s, int64_t start,
                         const uint8_t *data, size_t len)
{
    struct chunk_dec d;
    int64_t ts, v;

    chunk_dec_init(&d, start, 1, data, len);
    while (chunk_dec_next(&d, &ts, &v) == 1)
        rollup_add(st, s, ts, v);
}

/* Rebuilds every series' minute and open rollup chunk (and closes the rollup windows nobody
 * wrote) from its raw samples after its last stored rollup window.  One pass in time order
 * over chunks_raw, fetching only the chunks needed: per series, a range of a time-first
 * index would read every series' entries each time. */
static int replay_rollups(struct store *st)
{
    sqlite3_stmt *q = st->stmt[S_RAW_REPLAY], *qd = st->stmt[S_CHUNK_DATA];
    int64_t from = TS_LIMIT;
    int rc, r = 0;

    for (size_t i = 0; i < st->nseries; i++) {
        int64_t f = st->series[i]->roll_stored_end;
        if (f < from)
            from = f == INT64_MIN ? -TS_LIMIT : f;
    }
    sqlite3_bind_int64(q, 1, from);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        size_t i = series_index(st, sqlite3_column_int64(q, 0));
        int64_t start = sqlite3_column_int64(q, 1);
        if (i == SIZE_MAX || start < st->series[i]->roll_stored_end)
            continue;       /* windows align: a raw chunk is wholly before or after it */
        sqlite3_bind_int64(qd, 1, sqlite3_column_int64(q, 2));
        if ((rc = sqlite3_step(qd)) == SQLITE_ROW) {
            const uint8_t *blob = sqlite3_column_blob(qd, 0);
            int n = sqlite3_column_bytes(qd, 0);
            replay_chunk(st, st->series[i], start, blob, blob && n > 0 ? (size_t)n : 0);
        }
        sqlite3_reset(qd);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            break;
    }
    if (rc != SQLITE_DONE)
        r = db_fail(st, rc, "reading raw chunks");
    sqlite3_reset(q);
    if (r < 0)
        return r;

    /* Then the recovered chunks, all newer than the stored ones: pending raw ones (the FIFO
     * keeps a series' windows in order), then the open ones. */
    for (const struct pending *p = st->pend_head; p; p = p->next)
        if (p->resolution_ms == RES_RAW)
            replay_chunk(st, p->series, p->start_ms, p->data, p->len);
    for (size_t i = 0; i < st->nseries; i++) {
        struct store_series *s = st->series[i];
        if (s->raw.count)
            replay_chunk(st, s, s->raw.start_ms, s->raw.buf, s->raw.len);
    }
    return 0;
}

static void store_free(struct store *st)
{
    if (!st)
        return;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    if (st->db)
        sqlite3_close(st->db);
    while (st->pend_head)
        pending_free_head(st);
    for (size_t i = 0; i < st->nseries; i++)
        series_free(st->series[i]);
    free(st->series);
    free(st->buckets);
    free(st->stage);
    free(st);
}

int store_open(const struct store_config *cfg, int64_t now_ms, struct store **out, char **errmsg)
{
    struct store *st = xcalloc(1, sizeof(*st));
    int r;

    *out = NULL;
    if (errmsg)
        *errmsg = NULL;
    st->flush_interval_ms = cfg->flush_interval_ms > 0 ? cfg->flush_interval_ms : 10000;
    st->raw_retention_ms = cfg->raw_retention_ms > 0 ? cfg->raw_retention_ms : INT64_C(86400000);
    st->rollup_retention_ms = cfg->rollup_retention_ms > 0 ? cfg->rollup_retention_ms
                                                           : INT64_C(30) * 86400000;
    st->pending_max = cfg->pending_limit_bytes > 0 ? cfg->pending_limit_bytes
                                                   : PENDING_MAX_DEFAULT;
    st->now_ms = now_ms;
    if (!cfg->path || !*cfg->path) {
        set_err(st, "no database path");
        r = -EINVAL;
        goto fail;
    }

    if ((r = db_open(cfg->path, true, &st->db, st->errmsg, sizeof(st->errmsg))) < 0)
        goto fail;
    if ((r = migrate(st)) < 0)
        goto fail;
    /* WAL, stored in the file: readers never block the writer.  Only now, because the page
     * size cannot change in WAL mode and migrate() sets it on a new file. */
    if ((r = exec_sql(st, "PRAGMA journal_mode=WAL", "setting up the database")) < 0)
        goto fail;
    if ((r = prepare_all(st)) < 0 || (r = load_series(st)) < 0 || (r = recover_staging(st)) < 0)
        goto fail;
    if ((r = replay_rollups(st)) < 0)
        goto fail;
    if ((r = retention(st, now_ms)) < 0)
        goto fail;
    st->next_flush_ms = now_ms + st->flush_interval_ms;
    st->next_retention_ms = now_ms + RETENTION_EVERY_MS;
    *out = st;
    return 0;

fail:
    if (errmsg)
        *errmsg = xasprintf("%s: %s", cfg->path ? cfg->path : "(null)", st->errmsg);
    store_free(st);
    return r;
}

void store_close(struct store *st, int64_t now_ms)
{
    if (!st)
        return;
    /* Open chunks go to a staging row like at any flush; the next open rebuilds them.  An
     * error here loses at most a flush interval, as a crash would. */
    (void)flush(st, now_ms);
    store_free(st);
}
