/* test_store.c - unit tests for daemon/store.c on real SQLite files in a mkdtemp directory.
 *
 * Exercises: write and read back, raw and stepped, before and after flushes and window
 * closes (unflushed samples are visible); one-minute rollups (min/avg/max/count of a known
 * sequence across several minutes and a 6-hour window boundary, stepped count-weighted
 * averages, the minute in progress, and the same answers after a reopen rebuilds them);
 * retention (old raw chunks go, rollups stay, queries of old ranges switch to rollups);
 * reopen after store_close; crash recovery (a child killed with SIGKILL after a flush loses
 * exactly the samples appended since, also when the recovered window is already past);
 * damaged staging rows (garbage, truncation) losing only their own data;
 * schema migration (new file gets user_version = schema_migration_count, a newer file and a
 * non-database are refused); targets (add, duplicate -EEXIST, update, -ENOENT, load order,
 * remove deleting the series and its chunks); out-of-order samples (-ERANGE); one staging row
 * per flush and its clean-up; a failing disk (RLIMIT_FSIZE): errors, retry, nothing lost,
 * and the memory bound dropping the oldest closed chunks.
 * The clock is injected through the now_ms arguments. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "schema.h"
#include "store.h"
#include "util.h"
#include "tmpdir.h"

#define MIN_MS   INT64_C(60000)
#define WIN_MS   INT64_C(600000)
#define HOUR_MS  INT64_C(3600000)
#define SIXH_MS  (6 * HOUR_MS)
#define DAY_MS   (24 * HOUR_MS)
/* A 6-hour boundary (and so a window and minute boundary): 2023-11-15 00:00:00 UTC. */
#define T6       INT64_C(1700006400000)

static int db_counter;

static int group_setup(void **state)
{
    (void)state;
    return tmpdir_make("test_store");
}

static int group_teardown(void **state)
{
    (void)state;
    tmpdir_remove();
    return 0;
}

/* A fresh database path per test; the caller frees it. */
static char *new_db_path(void)
{
    return xasprintf("%s/store%d.db", tmpdir, ++db_counter);
}

static struct store *open_store(const char *path, int64_t now, int64_t raw_ret)
{
    struct store_config cfg = { .path = path, .flush_interval_ms = 10000,
                                .raw_retention_ms = raw_ret };
    struct store *st = NULL;
    char *err = NULL;
    int r = store_open(&cfg, now, &st, &err);
    if (r != 0)
        print_error("store_open: %d %s\n", r, err ? err : "");
    assert_int_equal(r, 0);
    assert_null(err);
    assert_non_null(st);
    return st;
}

static int64_t add_target(struct store *st, const char *name)
{
    struct target_record rec;
    memset(&rec, 0, sizeof(rec));
    snprintf(rec.name, sizeof(rec.name), "%s", name);
    rec.selector = SELECTOR_MATCH;
    snprintf(rec.pattern, sizeof(rec.pattern), "^%s$", name);
    rec.created_ms = rec.state_changed_ms = T6;
    assert_int_equal(store_target_add(st, &rec), 0);
    assert_true(rec.id > 0);
    return rec.id;
}

struct points {
    size_t n, cap, stop_after;
    struct store_point *p;
};

static int collect(void *arg, const struct store_point *p)
{
    struct points *pts = arg;
    if (pts->n == pts->cap) {
        pts->cap = pts->cap ? pts->cap * 2 : 256;
        pts->p = xreallocarray(pts->p, pts->cap, sizeof(*pts->p));
    }
    pts->p[pts->n++] = *p;
    return pts->stop_after && pts->n >= pts->stop_after;
}

static struct points query(struct store *st, struct store_series *s, int64_t from, int64_t to,
                           int64_t step, int64_t *res)
{
    struct points pts = { 0 };
    int64_t r_ms = -1;
    assert_int_equal(store_query(st, s, from, to, step, collect, &pts, &r_ms), 0);
    if (res)
        *res = r_ms;
    return pts;
}

/* Runs SQL on a second connection and returns the first column of the first row. */
static int64_t sql_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    int rc = sqlite3_step(q);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

static char *sql_text(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    char *v = xstrdup((const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

/* The value of the test series at time t: moves now and then, sometimes down. */
static int64_t value_at(int64_t t)
{
    int64_t s = t / 1000;
    return 100000 + (s / 7) % 50 * 4 - (s / 13) % 9;
}

/* Appends one sample every `every` ms in [from, to), ticking the store after each. */
static void feed(struct store *st, struct store_series *s, int64_t from, int64_t to,
                 int64_t every)
{
    for (int64_t t = from; t < to; t += every) {
        assert_int_equal(store_append(st, s, t, value_at(t)), 0);
        assert_true(store_tick(st, t) >= 0);
    }
}

static void assert_raw_points(const struct points *pts, int64_t from, int64_t every, size_t n)
{
    assert_int_equal(pts->n, n);
    for (size_t i = 0; i < n; i++) {
        int64_t t = from + (int64_t)i * every;
        assert_int_equal(pts->p[i].ts_ms, t);
        assert_int_equal(pts->p[i].count, 1);
        assert_true(pts->p[i].min == (double)value_at(t));
        assert_true(pts->p[i].avg == (double)value_at(t));
        assert_true(pts->p[i].max == (double)value_at(t));
    }
}

/* Checks stepped points against the samples from `from` every `every` ms, n of them. */
static void assert_stepped(const struct points *pts, int64_t from, int64_t every, size_t n,
                           int64_t step)
{
    size_t k = 0, i = 0;
    while (i < n) {
        int64_t b = (from + (int64_t)i * every) / step * step;
        int64_t mn = INT64_MAX, mx = INT64_MIN, cnt = 0;
        double sum = 0;
        for (; i < n && (from + (int64_t)i * every) / step * step == b; i++) {
            int64_t v = value_at(from + (int64_t)i * every);
            mn = v < mn ? v : mn;
            mx = v > mx ? v : mx;
            sum += (double)v;
            cnt++;
        }
        assert_true(k < pts->n);
        assert_int_equal(pts->p[k].ts_ms, b);
        assert_int_equal(pts->p[k].count, cnt);
        assert_true(pts->p[k].min == (double)mn);
        assert_true(pts->p[k].max == (double)mx);
        double avg = sum / (double)cnt;
        assert_true(pts->p[k].avg > avg - 1e-6 && pts->p[k].avg < avg + 1e-6);
        k++;
    }
    assert_int_equal(pts->n, k);
}

static void test_write_read(void **state)
{
    (void)state;
    char *path = new_db_path();
    int64_t t0 = T6 + 3 * WIN_MS - 125000;      /* crosses a window boundary */
    struct store *st = open_store(path, t0, 0);
    struct store_series *s = store_series_get(st, add_target(st, "app"), "rss_bytes");
    assert_non_null(s);
    assert_ptr_equal(store_series_find(st, 1, "rss_bytes"), s);
    assert_ptr_equal(store_series_get(st, 1, "rss_bytes"), s);
    assert_null(store_series_find(st, 1, "vsz_bytes"));
    assert_null(store_series_get(st, 999, "rss_bytes"));      /* no such target */

    /* Before any flush: the open chunk answers. */
    for (int64_t t = t0; t < t0 + 5000; t += 1000)
        assert_int_equal(store_append(st, s, t, value_at(t)), 0);
    struct points pts = query(st, s, t0, t0 + HOUR_MS, 0, NULL);
    assert_raw_points(&pts, t0, 1000, 5);
    free(pts.p);

    feed(st, s, t0 + 5000, t0 + 1200000, 1000);
    int64_t res;
    pts = query(st, s, t0, t0 + HOUR_MS, 0, &res);
    assert_int_equal(res, 1000);
    assert_raw_points(&pts, t0, 1000, 1200);
    free(pts.p);
    /* A sub-range, and a stepped query (buckets aligned to the epoch). */
    pts = query(st, s, t0 + 100000, t0 + 199999, 0, NULL);
    assert_raw_points(&pts, t0 + 100000, 1000, 100);
    free(pts.p);
    pts = query(st, s, t0, t0 + 1199999, 60000, &res);
    assert_int_equal(res, 1000);
    assert_stepped(&pts, t0, 1000, 1200, 60000);
    free(pts.p);
    pts = query(st, s, t0, t0 + 1199999, 7000, NULL);
    assert_stepped(&pts, t0, 1000, 1200, 7000);
    free(pts.p);

    /* Stopping early is not an error. */
    struct points few = { .stop_after = 5 };
    assert_int_equal(store_query(st, s, t0, t0 + HOUR_MS, 0, collect, &few, NULL), 0);
    assert_int_equal(few.n, 5);
    free(few.p);
    /* An empty range. */
    pts = query(st, s, t0 + 5000, t0, 0, NULL);
    assert_int_equal(pts.n, 0);
    free(pts.p);

    struct store_stats stats;
    store_get_stats(st, &stats);
    assert_int_equal(stats.samples_appended, 1200);
    assert_int_equal(stats.series, 1);
    assert_true(stats.flushes > 0);
    assert_true(stats.db_bytes > 0);
    assert_true(stats.memory_bytes > 0);

    store_close(st, t0 + 1200000);
    free(path);
}

/* Samples every 10 s from 3 minutes before a 6-hour boundary to 5 minutes after. */
static void assert_minutes(const struct points *pts, int64_t from, int64_t to)
{
    size_t k = 0;
    for (int64_t m = from; m < to; m += MIN_MS, k++) {
        int64_t mn = INT64_MAX, mx = INT64_MIN, sum = 0, cnt = 0;
        for (int64_t t = m; t < m + MIN_MS; t += 10000) {
            int64_t v = value_at(t);
            mn = v < mn ? v : mn;
            mx = v > mx ? v : mx;
            sum += v;
            cnt++;
        }
        assert_true(k < pts->n);
        assert_int_equal(pts->p[k].ts_ms, m);
        assert_int_equal(pts->p[k].count, cnt);
        assert_true(pts->p[k].min == (double)mn);
        assert_true(pts->p[k].max == (double)mx);
        /* The stored average is rounded to a whole unit. */
        double avg = (double)sum / (double)cnt;
        assert_true(pts->p[k].avg >= avg - 0.5 && pts->p[k].avg <= avg + 0.5);
    }
    assert_int_equal(pts->n, k);
}

static void test_rollups(void **state)
{
    (void)state;
    char *path = new_db_path();
    int64_t t0 = T6 - 3 * MIN_MS, t1 = T6 + 5 * MIN_MS;
    struct store *st = open_store(path, t0, 0);
    struct store_series *s = store_series_get(st, add_target(st, "app"), "rss_bytes");
    feed(st, s, t0, t1, 10000);

    /* A range over 6 hours with a step of a minute or more reads rollups (one-minute steps
     * give the minutes themselves).  The last minute is still in progress, and shown. */
    int64_t res;
    struct points pts = query(st, s, t0 - 7 * HOUR_MS, t1, MIN_MS, &res);
    assert_int_equal(res, 60000);
    assert_minutes(&pts, t0, t1);
    free(pts.p);
    /* Five-minute steps: count-weighted averages of the minutes (rounded, so within 0.5). */
    pts = query(st, s, t0 - 7 * HOUR_MS, t1, 5 * MIN_MS, &res);
    assert_int_equal(res, 60000);
    assert_int_equal(pts.n, 2);     /* 23:55 (3 minutes of samples), 00:00 (5 minutes) */
    assert_int_equal(pts.p[0].ts_ms, T6 - 5 * MIN_MS);
    assert_int_equal(pts.p[0].count, 18);
    assert_int_equal(pts.p[1].ts_ms, T6);
    assert_int_equal(pts.p[1].count, 30);
    free(pts.p);

    /* Past the 6-hour boundary plus grace the old rollup window is written. */
    assert_int_equal(store_flush(st, t1 + 10000), 0);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM chunks WHERE resolution_ms = 60000"), 1);
    assert_int_equal(sql_int(path, "SELECT count FROM chunks WHERE resolution_ms = 60000"), 3);
    pts = query(st, s, t0 - 7 * HOUR_MS, t1, MIN_MS, NULL);
    assert_minutes(&pts, t0, t1);
    free(pts.p);

    /* A reopen rebuilds the open rollup chunk from the raw samples. */
    store_close(st, t1 + 20000);
    st = open_store(path, t1 + 30000, 0);
    s = store_series_find(st, 1, "rss_bytes");
    assert_non_null(s);
    pts = query(st, s, t0 - 7 * HOUR_MS, t1, MIN_MS, NULL);
    assert_minutes(&pts, t0, t1);
    free(pts.p);
    /* And after the next window closes, the reopened store writes the next rollup chunk. */
    feed(st, s, t1, T6 + SIXH_MS + MIN_MS, 10000);
    assert_int_equal(store_flush(st, T6 + SIXH_MS + MIN_MS + 10000), 0);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM chunks WHERE resolution_ms = 60000"), 2);
    assert_int_equal(sql_int(path, "SELECT sum(count) FROM chunks WHERE resolution_ms = 60000"),
                     3 + 360);
    pts = query(st, s, t0 - 7 * HOUR_MS, T6 + SIXH_MS + MIN_MS - 1, MIN_MS, NULL);
    assert_minutes(&pts, t0, T6 + SIXH_MS + MIN_MS);
    free(pts.p);
    store_close(st, T6 + SIXH_MS + 2 * MIN_MS);
    free(path);
}

static void test_retention(void **state)
{
    (void)state;
    char *path = new_db_path();
    int64_t t0 = T6 - 2 * HOUR_MS, t1 = T6 + 2 * HOUR_MS;
    struct store *st = open_store(path, t0, HOUR_MS);      /* raw kept 1 h */
    struct store_series *s = store_series_get(st, add_target(st, "app"), "rss_bytes");
    feed(st, s, t0, t1, 10000);
    /* Hourly retention has run.  The 6-hour rollup window before T6 is written, so the raw
     * chunks before T6, older than an hour, are gone; those after T6 stay although older
     * than an hour too: no stored rollup covers them yet (a reopen replays them). */
    store_close(st, t1);
    st = open_store(path, t1 + 1000, HOUR_MS);              /* retention runs at open */
    s = store_series_find(st, 1, "rss_bytes");
    assert_int_equal(sql_int(path, "SELECT min(start_ms) FROM chunks WHERE resolution_ms = 0"), T6);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM chunks WHERE resolution_ms = 60000"), 1);

    /* Old ranges come from rollups, with the right counts; recent ones are raw. */
    int64_t res;
    struct points pts = query(st, s, t0, t0 + HOUR_MS - 1, 0, &res);
    assert_int_equal(res, 60000);
    assert_minutes(&pts, t0, t0 + HOUR_MS);
    free(pts.p);
    pts = query(st, s, t1 - 30 * MIN_MS, t1, 0, &res);
    assert_int_equal(res, 10000);
    assert_raw_points(&pts, t1 - 30 * MIN_MS, 10000, 180);
    free(pts.p);

    /* Rollups expire too, by their own retention. */
    store_close(st, t1 + 2000);
    struct store_config cfg = { .path = path, .raw_retention_ms = HOUR_MS,
                                .rollup_retention_ms = HOUR_MS };
    char *err = NULL;
    assert_int_equal(store_open(&cfg, t1 + 7 * HOUR_MS, &st, &err), 0);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM chunks"
                                   " WHERE resolution_ms = 60000 AND start_ms < 1700006400000"), 0);
    store_close(st, t1 + 7 * HOUR_MS);
    /* The file shrinks back: free pages beyond a few are returned. */
    assert_true(sql_int(path, "PRAGMA freelist_count") <= 1024);
    free(path);
}

static void test_reopen(void **state)
{
    (void)state;
    char *path = new_db_path();
    int64_t t0 = T6 + 17 * MIN_MS + 500;
    struct store *st = open_store(path, t0, 0);
    int64_t tid = add_target(st, "app");
    struct store_series *a = store_series_get(st, tid, "rss_bytes");
    struct store_series *b = store_series_get(st, tid, "minor_faults_total");
    feed(st, a, t0, t0 + 700000, 1000);
    for (int64_t t = t0; t < t0 + 700000; t += 5000)
        assert_int_equal(store_append(st, b, t, t / 100), 0);
    /* Closed at once, between flushes: the open chunks go to a staging row. */
    store_close(st, t0 + 700000);

    st = open_store(path, t0 + 701000, 0);
    a = store_series_find(st, tid, "rss_bytes");
    b = store_series_find(st, tid, "minor_faults_total");
    assert_non_null(a);
    assert_non_null(b);
    struct points pts = query(st, a, t0, t0 + HOUR_MS, 0, NULL);
    assert_raw_points(&pts, t0, 1000, 700);
    free(pts.p);
    pts = query(st, b, t0, t0 + HOUR_MS, 0, NULL);
    assert_int_equal(pts.n, 140);
    assert_true(pts.p[139].avg == (double)((t0 + 139 * 5000) / 100));
    free(pts.p);
    /* Appending continues the recovered chunk; older samples are refused. */
    assert_int_equal(store_append(st, a, t0 + 699000, 1), -ERANGE);
    feed(st, a, t0 + 700000, t0 + 800000, 1000);
    store_close(st, t0 + 800000);

    st = open_store(path, t0 + HOUR_MS, 0);
    a = store_series_find(st, tid, "rss_bytes");
    pts = query(st, a, t0, t0 + HOUR_MS, 0, NULL);
    assert_raw_points(&pts, t0, 1000, 800);
    free(pts.p);
    store_close(st, t0 + HOUR_MS);
    free(path);
}

/* The child: open, append, flush by the clock, append more, die without closing. */
static void crash_child(const char *path, int64_t t0)
{
    struct store_config cfg = { .path = path, .flush_interval_ms = 10000 };
    struct store *st;
    char *err;
    if (store_open(&cfg, t0, &st, &err) != 0)
        _exit(3);
    struct target_record rec = { .name = "app", .selector = SELECTOR_PID, .pid = 1 };
    if (store_target_add(st, &rec) != 0)
        _exit(4);
    struct store_series *s = store_series_get(st, rec.id, "rss_bytes");
    struct store_series *s2 = store_series_get(st, rec.id, "vsz_bytes");
    if (!s || !s2)
        _exit(5);
    for (int i = 0; i < 30; i++) {
        int64_t t = t0 + i * 1000;
        if (store_append(st, s, t, value_at(t)) != 0 || store_append(st, s2, t, 7 * i) != 0)
            _exit(6);
        if (i == 25)        /* the last flush is at i = 20 */
            continue;
        if (store_tick(st, t) != 0)
            _exit(7);
    }
    raise(SIGKILL);
    _exit(8);
}

static void run_crash(const char *path, int64_t t0)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        crash_child(path, t0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
}

static void test_crash_recovery(void **state)
{
    (void)state;
    /* Starting 5 s before a window boundary: the first window's chunk is closed by sample 5
     * and written whole by the flush at 10 s; the flush at 20 s stages sample 20. */
    char *path = new_db_path();
    int64_t t0 = T6 + 595000;
    run_crash(path, t0);

    struct store *st = open_store(path, t0 + 31000, 0);
    struct store_series *s = store_series_find(st, 1, "rss_bytes");
    struct store_series *s2 = store_series_find(st, 1, "vsz_bytes");
    assert_non_null(s);
    assert_non_null(s2);
    struct points pts = query(st, s, t0 - HOUR_MS, t0 + HOUR_MS, 0, NULL);
    assert_raw_points(&pts, t0, 1000, 21);
    free(pts.p);
    pts = query(st, s2, t0 - HOUR_MS, t0 + HOUR_MS, 0, NULL);
    assert_int_equal(pts.n, 21);
    assert_true(pts.p[20].avg == 140);
    free(pts.p);
    /* Rollups rebuilt from the recovered raw samples: the minute in progress. */
    pts = query(st, s, t0 - DAY_MS + HOUR_MS, t0 + HOUR_MS, MIN_MS, NULL);
    assert_int_equal(pts.n, 2);
    assert_int_equal(pts.p[0].count + pts.p[1].count, 21);
    free(pts.p);
    /* Appending goes on after the recovered samples. */
    assert_int_equal(store_append(st, s, t0 + 20000, 1), -ERANGE);
    assert_int_equal(store_append(st, s, t0 + 21000, value_at(t0 + 21000)), 0);
    store_close(st, t0 + 32000);
    st = open_store(path, t0 + 33000, 0);
    s = store_series_find(st, 1, "rss_bytes");
    pts = query(st, s, t0 - HOUR_MS, t0 + HOUR_MS, 0, NULL);
    assert_raw_points(&pts, t0, 1000, 22);
    free(pts.p);
    store_close(st, t0 + 34000);
    free(path);

    /* Recovered when its window is long past: the chunk is closed and written whole by the
     * next flush, and the staging rows go. */
    path = new_db_path();
    run_crash(path, t0);
    st = open_store(path, t0 + 2 * HOUR_MS, 0);
    assert_int_equal(store_flush(st, t0 + 2 * HOUR_MS), 0);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM staging"), 0);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM chunks WHERE resolution_ms = 0"), 4);
    s = store_series_find(st, 1, "rss_bytes");
    pts = query(st, s, t0 - HOUR_MS, t0 + HOUR_MS, 0, NULL);
    assert_raw_points(&pts, t0, 1000, 21);
    free(pts.p);
    store_close(st, t0 + 2 * HOUR_MS);
    free(path);
}

/* Damaged staging rows (garbage, a wrong format byte, a truncated blob) cost their own data,
 * never the recovery of the rest nor a crash. */
static void test_staging_damage(void **state)
{
    (void)state;
    char *path = new_db_path();
    int64_t t0 = T6 + 595000;
    run_crash(path, t0);

    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    /* Cut the last row (the flush at 20 s: samples 11..20) short by 3 bytes. */
    assert_int_equal(sqlite3_exec(db, "UPDATE staging SET data = substr(data, 1, length(data) - 3)"
                                      " WHERE seq = (SELECT max(seq) FROM staging)",
                                  NULL, NULL, NULL), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO staging(written_ms, max_start_ms, data)"
                                            " VALUES(0, 0, ?1)", -1, &q, NULL), SQLITE_OK);
    uint8_t junk[300];
    uint64_t x = 88172645463325252ULL;
    for (int k = 0; k < 20; k++) {
        for (size_t i = 0; i < sizeof(junk); i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            junk[i] = (uint8_t)x;
        }
        junk[0] = k % 2 ? 1 : (uint8_t)x;       /* half claim to be format 1 */
        sqlite3_bind_blob(q, 1, junk, (int)(k * 15), SQLITE_TRANSIENT);
        assert_int_equal(sqlite3_step(q), SQLITE_DONE);
        sqlite3_reset(q);
    }
    sqlite3_finalize(q);
    sqlite3_close(db);

    struct store *st = open_store(path, t0 + 31000, 0);
    struct store_series *s = store_series_find(st, 1, "rss_bytes");
    assert_non_null(s);
    struct store_series *s2 = store_series_find(st, 1, "vsz_bytes");
    assert_non_null(s2);
    /* Samples 0..4 are in `chunks` and 5..10 in the first staging row.  The second row holds
     * 11..20 of rss_bytes, then of vsz_bytes, whose piece lost its tail: rss_bytes keeps
     * everything, vsz_bytes goes back to sample 10. */
    struct points pts = query(st, s, t0 - HOUR_MS, t0 + HOUR_MS, 0, NULL);
    assert_raw_points(&pts, t0, 1000, 21);
    free(pts.p);
    pts = query(st, s2, t0 - HOUR_MS, t0 + HOUR_MS, 0, NULL);
    assert_int_equal(pts.n, 11);
    for (size_t i = 0; i < pts.n; i++)
        assert_true(pts.p[i].ts_ms == t0 + (int64_t)i * 1000 && pts.p[i].avg == 7.0 * (double)i);
    free(pts.p);
    /* vsz_bytes goes on after sample 10 (the lost samples are not in the way). */
    assert_int_equal(store_append(st, s2, t0 + 11000, 77), 0);
    /* It goes on working. */
    assert_int_equal(store_append(st, s, t0 + 40000, 1), 0);
    assert_int_equal(store_flush(st, t0 + 2 * HOUR_MS), 0);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM staging"), 0);
    store_close(st, t0 + 2 * HOUR_MS);
    free(path);
}

static void test_migration(void **state)
{
    (void)state;
    char *path = new_db_path();
    struct store *st = open_store(path, T6, 0);
    store_close(st, T6);
    assert_int_equal(sql_int(path, "PRAGMA user_version"), (int64_t)schema_migration_count);
    char *mode = sql_text(path, "PRAGMA journal_mode");
    assert_string_equal(mode, "wal");
    free(mode);
    assert_int_equal(sql_int(path, "PRAGMA auto_vacuum"), 2);       /* incremental */
    free(path);

    /* A database from a newer memwatchd is refused, and left alone. */
    path = new_db_path();
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version=%u", schema_migration_count + 1);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    struct store_config cfg = { .path = path };
    char *err = NULL;
    st = NULL;
    assert_true(store_open(&cfg, T6, &st, &err) < 0);
    assert_null(st);
    assert_non_null(err);
    char want[128];
    snprintf(want, sizeof(want), "database schema version %u is newer than this memwatchd (%u)",
             schema_migration_count + 1, schema_migration_count);
    assert_non_null(strstr(err, want));
    free(err);
    assert_int_equal(sql_int(path, "PRAGMA user_version"), (int64_t)schema_migration_count + 1);
    free(path);

    /* Not a database at all. */
    path = new_db_path();
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 200; i++)
        fputs("this is not an SQLite database\n", f);
    fclose(f);
    cfg.path = path;
    assert_true(store_open(&cfg, T6, &st, &err) < 0);
    assert_non_null(err);
    free(err);
    free(path);
}

struct load_ctx {
    int n, stop_at;
    int64_t ids[8];
    struct target_record last;
};

static int load_cb(void *arg, const struct target_record *rec)
{
    struct load_ctx *c = arg;
    c->ids[c->n++] = rec->id;
    c->last = *rec;
    return c->n == c->stop_at;
}

static void test_targets(void **state)
{
    (void)state;
    char *path = new_db_path();
    struct store *st = open_store(path, T6, 0);
    int64_t a = add_target(st, "alpha");
    int64_t b = add_target(st, "beta");
    assert_true(b > a);

    struct target_record rec;
    memset(&rec, 0, sizeof(rec));
    snprintf(rec.name, sizeof(rec.name), "alpha");
    assert_int_equal(store_target_add(st, &rec), -EEXIST);
    snprintf(rec.name, sizeof(rec.name), "bad name");
    assert_int_equal(store_target_add(st, &rec), -EINVAL);

    /* Update every field but the name. */
    memset(&rec, 0, sizeof(rec));
    rec.id = b;
    snprintf(rec.name, sizeof(rec.name), "beta");
    rec.selector = SELECTOR_PID;
    rec.pid = 4242;
    rec.start_time_ms = 1234567;
    snprintf(rec.pattern, sizeof(rec.pattern), "x'y\"z");
    rec.match_cmdline = true;
    rec.interval_ms = 2000;
    rec.smaps_interval_ms = 30000;
    rec.state = TARGET_GONE;
    rec.created_ms = T6;
    rec.state_changed_ms = T6 + 5;
    assert_int_equal(store_target_update(st, &rec), 0);
    rec.id = 999;
    assert_int_equal(store_target_update(st, &rec), -ENOENT);

    struct load_ctx c = { 0 };
    assert_int_equal(store_targets_load(st, load_cb, &c), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.ids[0], a);
    assert_int_equal(c.ids[1], b);
    assert_string_equal(c.last.name, "beta");
    assert_int_equal(c.last.selector, SELECTOR_PID);
    assert_int_equal(c.last.pid, 4242);
    assert_int_equal(c.last.start_time_ms, 1234567);
    assert_string_equal(c.last.pattern, "x'y\"z");
    assert_true(c.last.match_cmdline);
    assert_int_equal(c.last.interval_ms, 2000);
    assert_int_equal(c.last.smaps_interval_ms, 30000);
    assert_int_equal(c.last.state, TARGET_GONE);
    assert_int_equal(c.last.state_changed_ms, T6 + 5);
    struct load_ctx c1 = { .stop_at = 1 };
    assert_int_equal(store_targets_load(st, load_cb, &c1), 0);
    assert_int_equal(c1.n, 1);

    /* Removing a target deletes its series and their chunks, on disk and in memory; the
     * other target's data stays. */
    struct store_series *sa = store_series_get(st, a, "rss_bytes");
    struct store_series *sb = store_series_get(st, b, "rss_bytes");
    feed(st, sa, T6, T6 + 1300000, 5000);
    for (int64_t t = T6; t < T6 + 1300000; t += 5000)
        assert_int_equal(store_append(st, sb, t, value_at(t)), 0);
    assert_int_equal(store_flush(st, T6 + 1300000), 0);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM chunks WHERE series_id = 1"), 2);
    assert_int_equal(store_target_remove(st, a), 0);
    assert_int_equal(store_target_remove(st, a), -ENOENT);
    assert_null(store_series_find(st, a, "rss_bytes"));
    assert_int_equal(sql_int(path, "SELECT count(*) FROM chunks WHERE series_id = 1"), 0);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM series WHERE target_id = 1"), 0);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM targets"), 1);
    struct store_stats stats;
    store_get_stats(st, &stats);
    assert_int_equal(stats.series, 1);
    struct points pts = query(st, sb, T6, T6 + HOUR_MS, 0, NULL);
    assert_raw_points(&pts, T6, 5000, 260);
    free(pts.p);

    /* The name is free again; ids are not reused; the staging rows naming the removed series
     * are skipped by recovery. */
    int64_t a2 = add_target(st, "alpha");
    assert_true(a2 > b);
    struct store_series *sa2 = store_series_get(st, a2, "rss_bytes");
    assert_int_equal(store_append(st, sa2, T6 + 1300000, 5), 0);
    store_close(st, T6 + 1301000);
    st = open_store(path, T6 + 1302000, 0);
    sa2 = store_series_find(st, a2, "rss_bytes");
    assert_non_null(sa2);
    pts = query(st, sa2, T6, T6 + HOUR_MS, 0, NULL);
    assert_int_equal(pts.n, 1);
    free(pts.p);
    store_close(st, T6 + 1303000);
    free(path);
}

static void test_out_of_order(void **state)
{
    (void)state;
    char *path = new_db_path();
    struct store *st = open_store(path, T6, 0);
    struct store_series *s = store_series_get(st, add_target(st, "app"), "rss_bytes");
    assert_int_equal(store_append(st, s, T6 + 1000, 1), 0);
    assert_int_equal(store_append(st, s, T6 + 1000, 2), -ERANGE);
    assert_int_equal(store_append(st, s, T6 + 999, 2), -ERANGE);
    assert_int_equal(store_append(st, s, T6 + 1001, 3), 0);
    /* A window closed by the clock (past its end plus the grace) takes no late samples. */
    assert_int_equal(store_append(st, s, T6 + WIN_MS - 1000, 4), 0);
    assert_int_equal(store_flush(st, T6 + WIN_MS + 6000), 0);
    assert_int_equal(store_append(st, s, T6 + WIN_MS - 500, 5), -ERANGE);
    assert_int_equal(store_append(st, s, T6 + WIN_MS, 6), 0);
    struct store_stats stats;
    store_get_stats(st, &stats);
    assert_int_equal(stats.samples_appended, 4);
    assert_int_equal(stats.samples_dropped, 3);
    struct points pts = query(st, s, T6, T6 + HOUR_MS, 0, NULL);
    assert_int_equal(pts.n, 4);
    assert_true(pts.p[0].avg == 1 && pts.p[1].avg == 3 && pts.p[2].avg == 4 && pts.p[3].avg == 6);
    free(pts.p);
    store_close(st, T6 + WIN_MS + 7000);
    free(path);
}

/* Many series, one staging row per flush; staging rows go when their windows are written. */
static void test_staging_rows(void **state)
{
    (void)state;
    char *path = new_db_path();
    int64_t t0 = T6 + 60000;
    struct store *st = open_store(path, t0, 0);
    struct store_series *s[300];
    for (int i = 0; i < 30; i++) {
        char name[16];
        snprintf(name, sizeof(name), "t%d", i);
        int64_t tid = add_target(st, name);
        for (int m = 0; m < 10; m++) {
            char metric[16];
            snprintf(metric, sizeof(metric), "m%d", m);
            s[i * 10 + m] = store_series_get(st, tid, metric);
        }
    }
    int64_t t;
    for (t = t0; t < t0 + 65000; t += 1000) {
        for (int i = 0; i < 300; i++)
            assert_int_equal(store_append(st, s[i], t, i * 1000 + t / 10000), 0);
        assert_int_equal(store_tick(st, t), 0);
    }
    /* Flushes at +10 s .. +60 s: six rows. */
    assert_int_equal(sql_int(path, "SELECT count(*) FROM staging"), 6);
    for (; t < T6 + WIN_MS + 20000; t += 1000) {
        for (int i = 0; i < 300; i++)
            assert_int_equal(store_append(st, s[i], t, i * 1000 + t / 10000), 0);
        assert_int_equal(store_tick(st, t), 0);
    }
    /* The first window is written whole; only rows of the new window remain. */
    assert_int_equal(sql_int(path, "SELECT count(*) FROM chunks WHERE resolution_ms = 0"), 300);
    assert_true(sql_int(path, "SELECT count(*) FROM staging") <= 2);
    assert_int_equal(sql_int(path, "SELECT min(max_start_ms) FROM staging"), T6 + WIN_MS);
    struct points pts = query(st, s[123], t0, t, 0, NULL);
    assert_int_equal(pts.n, (size_t)((t - t0) / 1000));
    free(pts.p);
    store_close(st, t);
    free(path);
}

/* Writes fail (RLIMIT_FSIZE 0: every write(2) to a file gets EFBIG): errors come back, data
 * stays in memory and gets written once the disk works again; beyond the memory bound the
 * oldest closed chunks are dropped and counted. */
static void test_disk_failure(void **state)
{
    (void)state;
    struct rlimit saved, zero = { 0, 0 };
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    zero.rlim_max = saved.rlim_max;
    signal(SIGXFSZ, SIG_IGN);

    char *path = new_db_path();
    int64_t t0 = T6;
    struct store *st = open_store(path, t0, 0);
    struct store_series *s = store_series_get(st, add_target(st, "app"), "rss_bytes");
    feed(st, s, t0, t0 + 30000, 1000);

    int64_t t, fails = 0;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &zero), 0);
    for (t = t0 + 30000; t < t0 + 2 * WIN_MS; t += 1000) {
        int r1 = store_append(st, s, t, value_at(t));
        int r2 = store_tick(st, t);
        if (r1 != 0 || r2 >= 0)     /* a flush is due (retried) every second */
            break;
        fails++;
    }
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    assert_int_equal(t, t0 + 2 * WIN_MS);
    assert_true(fails > 0);
    struct store_stats stats;
    store_get_stats(st, &stats);
    assert_true(stats.flush_errors >= 2 * 60);
    assert_int_equal(stats.samples_dropped, 0);
    /* Still all visible, then written. */
    struct points pts = query(st, s, t0, t, 0, NULL);
    assert_raw_points(&pts, t0, 1000, 1200);
    free(pts.p);
    assert_int_equal(store_flush(st, t), 0);
    store_close(st, t);
    st = open_store(path, t + 1000, 0);
    s = store_series_find(st, 1, "rss_bytes");
    pts = query(st, s, t0, t, 0, NULL);
    assert_raw_points(&pts, t0, 1000, 1200);
    free(pts.p);
    store_close(st, t + 1000);
    free(path);

    /* A tiny memory bound: each closed window replaces the one before. */
    path = new_db_path();
    struct store_config cfg = { .path = path, .pending_limit_bytes = 1 };
    char *err = NULL;
    assert_int_equal(store_open(&cfg, t0, &st, &err), 0);
    s = store_series_get(st, add_target(st, "app"), "rss_bytes");
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &zero), 0);
    for (t = t0; t < t0 + 3 * WIN_MS + 10000; t += 1000) {
        (void)store_append(st, s, t, value_at(t));
        (void)store_tick(st, t);
    }
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    store_get_stats(st, &stats);
    assert_int_equal(stats.samples_dropped, 2 * 600);
    assert_int_equal(store_flush(st, t), 0);
    pts = query(st, s, t0, t, 0, NULL);
    assert_raw_points(&pts, t0 + 2 * WIN_MS, 1000, 610);
    free(pts.p);
    store_close(st, t);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_read),
        cmocka_unit_test(test_rollups),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_reopen),
        cmocka_unit_test(test_crash_recovery),
        cmocka_unit_test(test_staging_damage),
        cmocka_unit_test(test_migration),
        cmocka_unit_test(test_targets),
        cmocka_unit_test(test_out_of_order),
        cmocka_unit_test(test_staging_rows),
        cmocka_unit_test(test_disk_failure),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
