/* test_profstore.c - unit tests for daemon/profstore.c on real SQLite files in a mkdtemp
 * directory, created and migrated by the real store (store_open), targets made with
 * store_target_add; profiles are built by hand as struct pprof_profile.
 *
 * Exercises: heap diff (the growing site first, exact deltas, sites only in one profile,
 * totals, names, limit); goroutine diff (by count); which profiles a diff compares (first at
 * or after from, last at or before to, clamped to what is stored; -ENOENT for one profile,
 * none, the same one, an unknown target or kind); the site dictionary (a second profile of
 * 1000 known sites, and one with a new site, read nothing from profile_sites: counted by
 * wrapping sqlite3_step); duplicate times (-EEXIST) and an add failing after it inserted
 * sites (injected), the dictionary staying right; long and non-ASCII names cut at a UTF-8
 * boundary, NULL names; thinning with an injected clock (exactly the first profile of each
 * bucket older than full_retention stays, also over repeated runs, jittered times);
 * retention, and the deletion of sites no profile names (a pair with none left, a target
 * whose sites churn); profstore_remove_target; store_target_remove cascading to both tables
 * and later adds for the removed target failing cleanly; corrupt blobs (garbage, truncation,
 * well-compressed bad contents, wrong counts, random byte flips) giving -EBADMSG, never a
 * crash; bad arguments and unmigrated files.  It prints the storage of 1000-site heap
 * profiles (bytes a profile, MB a target a day at the defaults) and checks the budget; set
 * PROFSTORE_SIM_HOURS to simulate longer than the default 8 hours.  Randomized parts print
 * their seed (PROFSTORE_SEED to replay). */
#include "config.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <zlib.h>

#include "pprof.h"
#include "profstore.h"
#include "store.h"
#include "util.h"
#include "tmpdir.h"

#define MIN_MS   INT64_C(60000)
#define HOUR_MS  INT64_C(3600000)
#define DAY_MS   (24 * HOUR_MS)
/* 2023-11-15 00:00:00 UTC: a multiple of 30 minutes. */
#define T0       INT64_C(1700006400000)

/* ---- a seam: every sqlite3_step of the process passes here ------------------------------ */

static int (*real_step)(sqlite3_stmt *);
static int counting;            /* count the steps below only while set */
static int site_selects;        /* executions of SELECTs reading profile_sites */
static const char *fail_sql;    /* a statement whose SQL contains this fails with SQLITE_FULL */

int sqlite3_step(sqlite3_stmt *s)
{
    if (!real_step)
        *(void **)&real_step = dlsym(RTLD_NEXT, "sqlite3_step");
    const char *sql = sqlite3_sql(s);
    /* A statement not yet stepped since its reset starts a new execution. */
    if (counting && !sqlite3_stmt_busy(s) && sql && strncmp(sql, "SELECT", 6) == 0
        && strstr(sql, "FROM profile_sites"))
        site_selects++;
    if (fail_sql && sql && strstr(sql, fail_sql))
        return SQLITE_FULL;
    return real_step(s);
}

/* ---- fixtures ------------------------------------------------------------------------------ */

static int db_counter;

static int group_setup(void **state)
{
    (void)state;
    return tmpdir_make("test_profstore");
}

static int group_teardown(void **state)
{
    (void)state;
    tmpdir_remove();
    return 0;
}

/* A migrated store, a profile store on the same file, and targets. */
struct fx {
    char *path;
    struct store *st;
    struct profstore *ps;
    int64_t t1, t2;
};

static int64_t add_target(struct store *st, const char *name)
{
    struct target_record rec;
    memset(&rec, 0, sizeof(rec));
    snprintf(rec.name, sizeof(rec.name), "%s", name);
    rec.selector = SELECTOR_MATCH;
    snprintf(rec.pattern, sizeof(rec.pattern), "^%s$", name);
    rec.created_ms = rec.state_changed_ms = T0;
    assert_int_equal(store_target_add(st, &rec), 0);
    assert_true(rec.id > 0);
    return rec.id;
}

static void fx_open(struct fx *f, int64_t full_ms, int64_t thin_ms, int64_t retention_ms)
{
    struct store_config sc = { 0 };
    char *err = NULL;

    memset(f, 0, sizeof(*f));
    f->path = xasprintf("%s/prof%d.db", tmpdir, ++db_counter);
    sc.path = f->path;
    int r = store_open(&sc, T0, &f->st, &err);
    if (r != 0)
        print_error("store_open: %d %s\n", r, err ? err : "");
    assert_int_equal(r, 0);
    f->t1 = add_target(f->st, "one");
    f->t2 = add_target(f->st, "two");

    struct profstore_config pc = { .path = f->path, .full_retention_ms = full_ms,
                                   .thin_interval_ms = thin_ms, .retention_ms = retention_ms };
    r = profstore_open(&pc, &f->ps, &err);
    if (r != 0)
        print_error("profstore_open: %d %s\n", r, err ? err : "");
    assert_int_equal(r, 0);
    assert_null(err);
    assert_non_null(f->ps);
}

static void fx_close(struct fx *f)
{
    profstore_close(f->ps);
    store_close(f->st, T0);
    free(f->path);
}

/* One integer from the test's own connection. */
static int64_t sql_int(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int64_t sql_int(const char *path, const char *fmt, ...)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    char sql[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    int rc = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
    if (rc != SQLITE_OK)
        print_error("%s: %s\n", sql, sqlite3_errmsg(db));
    assert_int_equal(rc, SQLITE_OK);
    rc = sqlite3_step(q);
    assert_true(rc == SQLITE_ROW || rc == SQLITE_DONE);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

static void sql_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    char *msg = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        print_error("%s: %s\n", sql, msg ? msg : "");
    sqlite3_free(msg);
    assert_int_equal(rc, SQLITE_OK);
    sqlite3_close(db);
}

/* The profile times of a pair, oldest first; *n set; caller frees. */
static int64_t *stored_times(const char *path, int64_t target, int kind, size_t *n)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    size_t cap = 64;
    int64_t *ts = xcalloc(cap, sizeof(*ts));

    *n = 0;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT ts_ms FROM profiles WHERE target_id = ?1"
                                        " AND kind = ?2 ORDER BY ts_ms", -1, &q, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(q, 1, target);
    sqlite3_bind_int(q, 2, kind);
    while (sqlite3_step(q) == SQLITE_ROW) {
        if (*n == cap)
            ts = xreallocarray(ts, cap *= 2, sizeof(*ts));
        ts[(*n)++] = sqlite3_column_int64(q, 0);
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return ts;
}

/* ---- building profiles ----------------------------------------------------------------------- */

static struct pprof_profile *prof_new(enum pprof_kind kind, size_t cap)
{
    struct pprof_profile *p = xcalloc(1, sizeof(*p));
    p->kind = kind;
    p->sites = xcalloc(cap ? cap : 1, sizeof(*p->sites));
    return p;
}

static void prof_free(struct pprof_profile *p)
{
    if (p)
        free(p->sites);
    free(p);
}

/* Adds a site; strings must outlive the profile.  Totals add up. */
static void prof_site(struct pprof_profile *p, const char *leaf_func, const char *leaf_file,
                      int64_t leaf_line, const char *user_func, const char *user_file,
                      int64_t user_line, int64_t v0, int64_t v1, int64_t v2, int64_t v3)
{
    struct pprof_site *s = &p->sites[p->nsites++];
    s->leaf = (struct pprof_frame){ leaf_func, leaf_file, leaf_line };
    s->user = (struct pprof_frame){ user_func, user_file, user_line };
    int64_t v[PV_MAX] = { v0, v1, v2, v3 };
    for (int k = 0; k < PV_MAX; k++) {
        s->v[k] = v[k];
        p->total[k] = (int64_t)((uint64_t)p->total[k] + (uint64_t)v[k]);
    }
}

/* A heap site named after a number: leaf "pkg.fN" in "/src/pkg/fN.go", user main.callerN. */
struct names {
    size_t n;
    char (*leaf_func)[96], (*user_func)[96], (*file)[96];
};

static void names_init(struct names *nm, size_t n, const char *prefix)
{
    nm->n = n;
    nm->leaf_func = xcalloc(n, sizeof(*nm->leaf_func));
    nm->user_func = xcalloc(n, sizeof(*nm->user_func));
    nm->file = xcalloc(n, sizeof(*nm->file));
    for (size_t i = 0; i < n; i++) {
        snprintf(nm->leaf_func[i], sizeof(nm->leaf_func[i]), "%s.alloc%zu", prefix, i);
        snprintf(nm->user_func[i], sizeof(nm->user_func[i]), "main.caller%zu", i % 97);
        snprintf(nm->file[i], sizeof(nm->file[i]), "/src/%s/f%zu.go", prefix, i / 10);
    }
}

static void names_free(struct names *nm)
{
    free(nm->leaf_func);
    free(nm->user_func);
    free(nm->file);
}

static void add_ok(struct profstore *ps, int64_t target, int64_t ts, const struct pprof_profile *p)
{
    int r = profstore_add(ps, target, p->kind, ts, p);
    if (r != 0)
        print_error("profstore_add: %d %s\n", r, profstore_errmsg(ps));
    assert_int_equal(r, 0);
}

static const struct profstore_diff_site *find_site(const struct profstore_diff *d,
                                                    const char *leaf_func)
{
    for (size_t i = 0; i < d->nsites; i++)
        if (strcmp(d->sites[i].leaf_func, leaf_func) == 0)
            return &d->sites[i];
    return NULL;
}

/* ---- diffs ------------------------------------------------------------------------------------- */

static void test_diff_heap(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, 0, 0, 0);

    /* grow: inuse grows; steady: unchanged; shrink: inuse falls; gone: only in the first;
     * fresh: only in the last.  alloc_* are cumulative, as Go reports them. */
    struct pprof_profile *a = prof_new(PPROF_HEAP, 8), *b = prof_new(PPROF_HEAP, 8);
    prof_site(a, "bytes.growSlice", "/usr/lib/go/src/bytes/buffer.go", 120,
              "main.leakyCache", "/src/app/cache.go", 42, 100, 102400, 50, 51200);
    prof_site(a, "main.steady", "/src/app/steady.go", 7, "main.steady", "/src/app/steady.go", 7,
              10, 1000, 10, 1000);
    prof_site(a, "main.shrink", "/src/app/shrink.go", 9, "main.shrink", "/src/app/shrink.go", 9,
              500, 500000, 400, 400000);
    prof_site(a, "main.gone", "/src/app/gone.go", 3, "main.gone", "/src/app/gone.go", 3,
              5, 5000, 5, 5000);
    prof_site(b, "main.fresh", "/src/app/fresh.go", 11, "main.fresh", "/src/app/fresh.go", 11,
              30, 30000, 30, 30000);
    prof_site(b, "main.shrink", "/src/app/shrink.go", 9, "main.shrink", "/src/app/shrink.go", 9,
              600, 600000, 100, 100000);
    prof_site(b, "main.steady", "/src/app/steady.go", 7, "main.steady", "/src/app/steady.go", 7,
              10, 1000, 10, 1000);
    prof_site(b, "bytes.growSlice", "/usr/lib/go/src/bytes/buffer.go", 120,
              "main.leakyCache", "/src/app/cache.go", 42, 3100, 3174400, 2050, 2099200);
    /* The same leaf reached from another user frame is another site. */
    prof_site(b, "bytes.growSlice", "/usr/lib/go/src/bytes/buffer.go", 120,
              "main.other", "/src/app/other.go", 5, 1, 1024, 1, 1024);

    add_ok(f.ps, f.t1, T0, a);
    add_ok(f.ps, f.t1, T0 + MIN_MS, a);     /* a middle one the diff must skip */
    add_ok(f.ps, f.t1, T0 + 2 * MIN_MS, b);

    struct profstore_diff *d = NULL;
    assert_int_equal(profstore_diff(f.ps, f.t1, PPROF_HEAP, T0, T0 + 2 * MIN_MS, 0, &d), 0);
    assert_int_equal(d->kind, PPROF_HEAP);
    assert_int_equal(d->from_ms, T0);
    assert_int_equal(d->to_ms, T0 + 2 * MIN_MS);
    assert_int_equal(d->nsites, 6);
    for (int k = 0; k < PV_MAX; k++) {
        assert_int_equal(d->total_from[k], a->total[k]);
        assert_int_equal(d->total_to[k], b->total[k]);
    }

    const struct profstore_diff_site *s = &d->sites[0];     /* the growing one first */
    assert_string_equal(s->leaf_func, "bytes.growSlice");
    assert_string_equal(s->leaf_file, "/usr/lib/go/src/bytes/buffer.go");
    assert_int_equal(s->leaf_line, 120);
    assert_string_equal(s->user_func, "main.leakyCache");
    assert_string_equal(s->user_file, "/src/app/cache.go");
    assert_int_equal(s->user_line, 42);
    int64_t from[PV_MAX] = { 100, 102400, 50, 51200 }, to[PV_MAX] = { 3100, 3174400, 2050, 2099200 };
    for (int k = 0; k < PV_MAX; k++) {
        assert_int_equal(s->from[k], from[k]);
        assert_int_equal(s->to[k], to[k]);
        assert_int_equal(s->delta[k], to[k] - from[k]);
    }
    /* Then by delta inuse_bytes descending: fresh +30000, other +1024, steady 0, gone -5000,
     * shrink -300000. */
    static const char *const order[] = { "bytes.growSlice", "main.fresh", "bytes.growSlice",
                                          "main.steady", "main.gone", "main.shrink" };
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(d->sites[i].leaf_func, order[i]);
    assert_string_equal(d->sites[2].user_func, "main.other");
    for (size_t i = 1; i < d->nsites; i++)
        assert_true(d->sites[i - 1].delta[PV_INUSE_BYTES] >= d->sites[i].delta[PV_INUSE_BYTES]);
    s = find_site(d, "main.fresh");
    assert_int_equal(s->from[PV_INUSE_BYTES], 0);
    assert_int_equal(s->delta[PV_INUSE_OBJECTS], 30);
    s = find_site(d, "main.gone");
    assert_int_equal(s->to[PV_ALLOC_BYTES], 0);
    assert_int_equal(s->delta[PV_ALLOC_BYTES], -5000);
    s = find_site(d, "main.shrink");
    assert_int_equal(s->delta[PV_ALLOC_OBJECTS], 100);
    assert_int_equal(s->delta[PV_INUSE_BYTES], -300000);
    profstore_diff_free(d);

    /* limit keeps the first ones. */
    assert_int_equal(profstore_diff(f.ps, f.t1, PPROF_HEAP, T0, T0 + 2 * MIN_MS, 2, &d), 0);
    assert_int_equal(d->nsites, 2);
    assert_string_equal(d->sites[0].user_func, "main.leakyCache");
    assert_string_equal(d->sites[1].leaf_func, "main.fresh");
    profstore_diff_free(d);

    /* The other target and the other kind have nothing. */
    assert_int_equal(profstore_diff(f.ps, f.t2, PPROF_HEAP, 0, INT64_MAX, 0, &d), -ENOENT);
    assert_null(d);
    assert_int_equal(profstore_diff(f.ps, f.t1, PPROF_GOROUTINE, 0, INT64_MAX, 0, &d), -ENOENT);
    size_t n = 99;
    int64_t newest = -1;
    assert_int_equal(profstore_count(f.ps, f.t1, PPROF_HEAP, &n, &newest), 0);
    assert_int_equal(n, 3);
    assert_int_equal(newest, T0 + 2 * MIN_MS);
    assert_int_equal(profstore_count(f.ps, f.t1, PPROF_GOROUTINE, &n, &newest), 0);
    assert_int_equal(n, 0);
    assert_int_equal(newest, 0);

    prof_free(a);
    prof_free(b);
    fx_close(&f);
}

static void test_diff_goroutine(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, 0, 0, 0);

    struct pprof_profile *a = prof_new(PPROF_GOROUTINE, 4), *b = prof_new(PPROF_GOROUTINE, 4);
    prof_site(a, "sync.runtime_Semacquire", "sema.go", 62, "main.worker", "/src/w.go", 30,
              4, 0, 0, 0);
    prof_site(a, "net.(*conn).Read", "net.go", 179, "main.serve", "/src/s.go", 88, 10, 0, 0, 0);
    prof_site(a, "time.Sleep", "time.go", 195, "main.ticker", "/src/t.go", 12, 1, 0, 0, 0);
    prof_site(b, "net.(*conn).Read", "net.go", 179, "main.serve", "/src/s.go", 88, 12, 0, 0, 0);
    prof_site(b, "sync.runtime_Semacquire", "sema.go", 62, "main.worker", "/src/w.go", 30,
              504, 0, 0, 0);
    add_ok(f.ps, f.t2, T0 + 1000, a);
    add_ok(f.ps, f.t2, T0 + 61000, b);

    struct profstore_diff *d = NULL;
    assert_int_equal(profstore_diff(f.ps, f.t2, PPROF_GOROUTINE, INT64_MIN, INT64_MAX, 0, &d), 0);
    assert_int_equal(d->kind, PPROF_GOROUTINE);
    assert_int_equal(d->nsites, 3);
    assert_string_equal(d->sites[0].user_func, "main.worker");
    assert_int_equal(d->sites[0].from[PV_COUNT], 4);
    assert_int_equal(d->sites[0].to[PV_COUNT], 504);
    assert_int_equal(d->sites[0].delta[PV_COUNT], 500);
    assert_string_equal(d->sites[1].user_func, "main.serve");
    assert_int_equal(d->sites[1].delta[PV_COUNT], 2);
    assert_string_equal(d->sites[2].leaf_func, "time.Sleep");
    assert_int_equal(d->sites[2].delta[PV_COUNT], -1);
    assert_int_equal(d->total_from[PV_COUNT], 15);
    assert_int_equal(d->total_to[PV_COUNT], 516);
    profstore_diff_free(d);

    /* A heap profile of the same target does not mix in. */
    assert_int_equal(profstore_diff(f.ps, f.t2, PPROF_HEAP, INT64_MIN, INT64_MAX, 0, &d), -ENOENT);
    prof_free(a);
    prof_free(b);
    fx_close(&f);
}

/* Which two profiles are compared. */
static void test_diff_selection(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, 0, 0, 0);

    struct pprof_profile *p = prof_new(PPROF_HEAP, 1);
    prof_site(p, "main.a", "a.go", 1, "main.a", "a.go", 1, 1, 1, 1, 1);
    struct profstore_diff *d = NULL;

    /* One profile: nothing to compare. */
    add_ok(f.ps, f.t1, T0 + 100000, p);
    assert_int_equal(profstore_diff(f.ps, f.t1, PPROF_HEAP, 0, INT64_MAX, 0, &d), -ENOENT);
    assert_null(d);
    add_ok(f.ps, f.t1, T0 + 200000, p);
    add_ok(f.ps, f.t1, T0 + 300000, p);

    static const struct {
        int64_t from, to;
        int r;
        int64_t from_ms, to_ms;
    } cases[] = {
        /* Outside on both sides: the nearest inside, the oldest and the newest. */
        { 0, INT64_MAX, 0, T0 + 100000, T0 + 300000 },
        { INT64_MIN, T0 + 10 * HOUR_MS, 0, T0 + 100000, T0 + 300000 },
        /* Exact times are included. */
        { T0 + 200000, T0 + 300000, 0, T0 + 200000, T0 + 300000 },
        { T0 + 100000, T0 + 200000, 0, T0 + 100000, T0 + 200000 },
        /* Between profiles: first at or after from, last at or before to. */
        { T0 + 150000, T0 + 299999, -ENOENT, 0, 0 },  /* only 200000 inside */
        { T0 + 100001, T0 + 350000, 0, T0 + 200000, T0 + 300000 },
        { T0 + 50000, T0 + 250000, 0, T0 + 100000, T0 + 200000 },
        /* The same profile, none inside, an empty or reversed range. */
        { T0 + 200000, T0 + 200000, -ENOENT, 0, 0 },
        { T0 + 210000, T0 + 290000, -ENOENT, 0, 0 },
        { T0 + 300000, T0 + 100000, -ENOENT, 0, 0 },
        { T0 + 300001, INT64_MAX, -ENOENT, 0, 0 },
        { 0, T0 + 99999, -ENOENT, 0, 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int r = profstore_diff(f.ps, f.t1, PPROF_HEAP, cases[i].from, cases[i].to, 0, &d);
        if (r != cases[i].r)
            print_error("case %zu: %d\n", i, r);
        assert_int_equal(r, cases[i].r);
        if (r == 0) {
            assert_int_equal(d->from_ms, cases[i].from_ms);
            assert_int_equal(d->to_ms, cases[i].to_ms);
            assert_int_equal(d->nsites, 1);
            assert_int_equal(d->sites[0].delta[PV_INUSE_BYTES], 0);
            profstore_diff_free(d);
        } else {
            assert_null(d);
        }
    }
    assert_int_equal(profstore_diff(f.ps, 12345, PPROF_HEAP, 0, INT64_MAX, 0, &d), -ENOENT);
    assert_int_equal(profstore_diff(f.ps, f.t1, (enum pprof_kind)7, 0, INT64_MAX, 0, &d), -EINVAL);
    prof_free(p);
    fx_close(&f);
}

/* ---- the site dictionary ----------------------------------------------------------------------- */

static void test_site_cache(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, 0, 0, 0);

    struct names nm;
    names_init(&nm, 1001, "cache");
    struct pprof_profile *p = prof_new(PPROF_HEAP, 1001);
    for (size_t i = 0; i < 1000; i++)
        prof_site(p, nm.leaf_func[i], nm.file[i], (int64_t)i, nm.user_func[i], nm.file[i], 7,
                  (int64_t)i, (int64_t)i * 16, (int64_t)i, (int64_t)i * 16);

    /* The first profile of a pair loads its dictionary: one SELECT, then 1000 INSERTs. */
    counting = 1;
    site_selects = 0;
    add_ok(f.ps, f.t1, T0, p);
    assert_int_equal(site_selects, 1);
    /* Known sites: nothing read. */
    site_selects = 0;
    for (int i = 1; i <= 3; i++) {
        p->sites[5].v[PV_INUSE_BYTES] += 1000;
        add_ok(f.ps, f.t1, T0 + i * MIN_MS, p);
    }
    assert_int_equal(site_selects, 0);
    /* A new site among known ones: one INSERT, still nothing read. */
    prof_site(p, nm.leaf_func[1000], nm.file[1000], 1000, nm.user_func[1000], nm.file[1000], 7,
              1, 2, 3, 4);
    add_ok(f.ps, f.t1, T0 + 4 * MIN_MS, p);
    assert_int_equal(site_selects, 0);
    counting = 0;
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profile_sites WHERE target_id = %lld",
                             (long long)f.t1), 1001);
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profiles"), 5);

    /* The same sites for another target are that target's own. */
    add_ok(f.ps, f.t2, T0, p);
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profile_sites"), 2002);

    struct profstore_diff *d = NULL;
    assert_int_equal(profstore_diff(f.ps, f.t1, PPROF_HEAP, T0, T0 + 4 * MIN_MS, 3, &d), 0);
    assert_int_equal(d->nsites, 3);
    assert_string_equal(d->sites[0].leaf_func, "cache.alloc5");
    assert_int_equal(d->sites[0].delta[PV_INUSE_BYTES], 3000);
    assert_string_equal(d->sites[1].leaf_func, "cache.alloc1000");
    assert_int_equal(d->sites[1].from[PV_ALLOC_OBJECTS], 0);
    assert_int_equal(d->sites[1].to[PV_INUSE_BYTES], 4);
    profstore_diff_free(d);

    /* A reopened store finds the sites again (one SELECT, no duplicate rows). */
    profstore_close(f.ps);
    struct profstore_config pc = { .path = f.path };
    assert_int_equal(profstore_open(&pc, &f.ps, NULL), 0);
    counting = 1;
    site_selects = 0;
    add_ok(f.ps, f.t1, T0 + 5 * MIN_MS, p);
    add_ok(f.ps, f.t1, T0 + 6 * MIN_MS, p);
    assert_int_equal(site_selects, 1);
    counting = 0;
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profile_sites"), 2002);

    prof_free(p);
    names_free(&nm);
    fx_close(&f);
}

/* Duplicate times, and an add failing after it inserted sites. */
static void test_add_failures(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, 0, 0, 0);

    struct pprof_profile *p = prof_new(PPROF_HEAP, 4);
    prof_site(p, "main.a", "a.go", 1, "main.a", "a.go", 1, 1, 1, 1, 1);
    add_ok(f.ps, f.t1, T0, p);
    prof_site(p, "main.b", "b.go", 2, "main.b", "b.go", 2, 2, 2, 2, 2);
    assert_int_equal(profstore_add(f.ps, f.t1, PPROF_HEAP, T0, p), -EEXIST);
    assert_non_null(strstr(profstore_errmsg(f.ps), "stored already"));

    /* The profile row fails after main.c's site row went in: both are rolled back. */
    prof_site(p, "main.c", "c.go", 3, "main.c", "c.go", 3, 3, 3, 3, 3);
    fail_sql = "INSERT INTO profiles";
    assert_int_equal(profstore_add(f.ps, f.t1, PPROF_HEAP, T0 + MIN_MS, p), -ENOSPC);
    fail_sql = NULL;
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profile_sites"), 1);
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profiles"), 1);
    /* A commit failing too. */
    fail_sql = "COMMIT";
    assert_int_equal(profstore_add(f.ps, f.t1, PPROF_HEAP, T0 + MIN_MS, p), -ENOSPC);
    fail_sql = NULL;
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profile_sites"), 1);

    /* The next add stores them, with ids that exist. */
    add_ok(f.ps, f.t1, T0 + 2 * MIN_MS, p);
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profile_sites"), 3);
    struct profstore_diff *d = NULL;
    assert_int_equal(profstore_diff(f.ps, f.t1, PPROF_HEAP, 0, INT64_MAX, 0, &d), 0);
    assert_int_equal(d->nsites, 3);
    assert_string_equal(d->sites[0].leaf_func, "main.c");
    assert_string_equal(d->sites[1].leaf_func, "main.b");
    assert_string_equal(d->sites[2].leaf_func, "main.a");
    profstore_diff_free(d);

    /* Unknown target: the foreign key refuses it. */
    assert_int_equal(profstore_add(f.ps, 999, PPROF_HEAP, T0, p), -ENOENT);
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profile_sites"), 3);

    /* Bad arguments. */
    assert_int_equal(profstore_add(f.ps, f.t1, PPROF_GOROUTINE, T0 + 9 * MIN_MS, p), -EINVAL);
    assert_int_equal(profstore_add(f.ps, f.t1, PPROF_HEAP, T0, NULL), -EINVAL);
    assert_int_equal(profstore_add(f.ps, f.t1, PPROF_HEAP, -5, p), -EINVAL);
    struct pprof_profile bad = { .kind = PPROF_HEAP, .nsites = 3, .sites = NULL };
    assert_int_equal(profstore_add(f.ps, f.t1, PPROF_HEAP, T0 + 9 * MIN_MS, &bad), -EINVAL);
    /* An empty profile is a profile. */
    struct pprof_profile empty = { .kind = PPROF_HEAP };
    add_ok(f.ps, f.t1, T0 + 3 * MIN_MS, &empty);
    assert_int_equal(profstore_diff(f.ps, f.t1, PPROF_HEAP, T0 + 2 * MIN_MS, INT64_MAX, 0, &d), 0);
    assert_int_equal(d->nsites, 3);
    assert_int_equal(d->sites[0].delta[PV_INUSE_BYTES], -1);
    assert_int_equal(d->sites[2].delta[PV_INUSE_BYTES], -3);
    profstore_diff_free(d);

    prof_free(p);
    fx_close(&f);
}

/* Names longer than the diff's buffers, non-ASCII, NULL; duplicate sites. */
static void test_names(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, 0, 0, 0);

    /* 254 ASCII bytes then "é" (2 bytes): 256 bytes, cut to 254 rather than splitting é. */
    char longa[400], longb[400], longc[400];
    memset(longa, 'a', 254);
    strcpy(longa + 254, "\xc3\xa9tail");
    /* Differs from longa only after the cut: the two become one site, values added. */
    memset(longb, 'a', 254);
    strcpy(longb + 254, "\xc3\xa9other");
    /* 253 bytes then a 3-byte character, and so on: cut at 253. */
    memset(longc, 'c', 253);
    strcpy(longc + 253, "\xe2\x82\xac\xe2\x82\xac");

    struct pprof_profile *p = prof_new(PPROF_HEAP, 4);
    prof_site(p, longa, longc, 5, NULL, NULL, 0, 1, 10, 1, 10);
    prof_site(p, longb, longc, 5, NULL, NULL, 0, 2, 20, 2, 20);
    prof_site(p, "main.\xe6\x97\xa5\xe6\x9c\xac", "/src/\xe6\x97\xa5.go", 8, "main.x", "x.go", 9,
              0, 0, 0, 0);
    add_ok(f.ps, f.t1, T0, p);
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profile_sites"), 2);
    assert_int_equal(sql_int(f.path, "SELECT max(length(CAST(leaf_func AS BLOB)))"
                             " FROM profile_sites"), 254);
    p->sites[2].v[PV_INUSE_BYTES] = 7;
    add_ok(f.ps, f.t1, T0 + MIN_MS, p);

    struct profstore_diff *d = NULL;
    assert_int_equal(profstore_diff(f.ps, f.t1, PPROF_HEAP, 0, INT64_MAX, 0, &d), 0);
    assert_int_equal(d->nsites, 2);
    assert_string_equal(d->sites[0].leaf_func, "main.\xe6\x97\xa5\xe6\x9c\xac");
    assert_string_equal(d->sites[0].leaf_file, "/src/\xe6\x97\xa5.go");
    assert_int_equal(d->sites[0].delta[PV_INUSE_BYTES], 7);
    const struct profstore_diff_site *s = &d->sites[1];
    assert_int_equal(strlen(s->leaf_func), 254);
    assert_int_equal(strncmp(s->leaf_func, longa, 254), 0);
    assert_int_equal(strlen(s->leaf_file), 253);
    assert_string_equal(s->user_func, "");
    assert_string_equal(s->user_file, "");
    assert_int_equal(s->to[PV_ALLOC_BYTES], 30);        /* the merged two */
    profstore_diff_free(d);

    /* Longer names stored by something else are cut on the way out too. */
    char sql[1024];
    snprintf(sql, sizeof(sql), "UPDATE profile_sites SET leaf_func = '%s%s%s'"
             " WHERE leaf_func LIKE 'main.%%'", longa, longa, "\xc3\xa9");
    sql_exec(f.path, sql);
    assert_int_equal(profstore_diff(f.ps, f.t1, PPROF_HEAP, 0, INT64_MAX, 0, &d), 0);
    assert_int_equal(strlen(d->sites[0].leaf_func), 254);
    profstore_diff_free(d);

    prof_free(p);
    fx_close(&f);
}

/* ---- thinning, retention, removal ----------------------------------------------------------- */

/* Whether the profile at ts[i] should survive maintain(now) by the documented rule. */
static int expect_kept(const int64_t *ts, size_t n, size_t i, int64_t now, int64_t full,
                       int64_t thin, int64_t retention)
{
    (void)n;
    if (ts[i] < now - retention)
        return 0;
    if (ts[i] >= now - full)
        return 1;
    return i == 0 || ts[i - 1] / thin != ts[i] / thin;     /* the first of its bucket */
}

static void check_thinned(const struct fx *f, const int64_t *all, size_t nall, int64_t now,
                          int64_t full, int64_t thin, int64_t retention, int kind)
{
    size_t n;
    int64_t *got = stored_times(f->path, f->t1, kind, &n);
    size_t j = 0;
    for (size_t i = 0; i < nall; i++) {
        if (!expect_kept(all, nall, i, now, full, thin, retention))
            continue;
        if (j >= n || got[j] != all[i])
            print_error("expected %" PRId64 " at %zu, got %" PRId64 "\n", all[i], j,
                        j < n ? got[j] : -1);
        assert_true(j < n);
        assert_int_equal(got[j], all[i]);
        j++;
    }
    assert_int_equal(j, n);
    free(got);
}

static void test_thinning(void **state)
{
    (void)state;
    const int64_t full = 6 * HOUR_MS, thin = 30 * MIN_MS, ret = 30 * DAY_MS;
    struct fx f;
    fx_open(&f, 0, 0, 0);       /* the defaults are these */

    struct pprof_profile *p = prof_new(PPROF_HEAP, 2), *g = prof_new(PPROF_GOROUTINE, 1);
    prof_site(p, "main.a", "a.go", 1, "main.a", "a.go", 1, 1, 1, 1, 1);
    prof_site(g, "main.g", "g.go", 1, "main.g", "g.go", 1, 3, 0, 0, 0);

    /* 12 hours every minute from 07:00 past a bucket boundary, with jitter, so buckets
     * start between profiles. */
    size_t nall = 0, ngall = 0;
    int64_t *all = xcalloc(24 * 60, sizeof(*all)), *gall = xcalloc(24 * 6, sizeof(*gall));
    uint32_t x = 12345;
    for (int i = 0; i < 12 * 60; i++) {
        x = x * 1103515245u + 12345u;
        all[nall++] = T0 + 7 * MIN_MS + i * MIN_MS + (int64_t)(x >> 16) % 20000 - 10000;
        add_ok(f.ps, f.t1, all[nall - 1], p);
        if (i % 10 == 0) {
            gall[ngall++] = all[nall - 1];
            add_ok(f.ps, f.t1, all[nall - 1], g);
        }
    }
    int64_t now = all[nall - 1] + 30000;
    assert_int_equal(profstore_maintain(f.ps, now), 0);
    check_thinned(&f, all, nall, now, full, thin, ret, PPROF_HEAP);
    size_t n;
    assert_int_equal(profstore_count(f.ps, f.t1, PPROF_HEAP, &n, NULL), 0);
    assert_true(n >= 360 && n <= 360 + 15);     /* 6 h in full, 6 h at two an hour */

    /* Hourly, as the daemon does: the same rule, however often it runs. */
    for (int h = 0; h < 3; h++) {
        for (int i = 0; i < 60; i++) {
            all[nall] = all[nall - 1] + MIN_MS;
            add_ok(f.ps, f.t1, all[nall++], p);
        }
        now = all[nall - 1] + 1000;
        assert_int_equal(profstore_maintain(f.ps, now), 0);
        check_thinned(&f, all, nall, now, full, thin, ret, PPROF_HEAP);
    }
    /* Goroutine profiles (every 10 min) thin the same way, on their own. */
    check_thinned(&f, gall, ngall, now, full, thin, ret, PPROF_GOROUTINE);
    assert_int_equal(profstore_count(f.ps, f.t1, PPROF_GOROUTINE, &n, NULL), 0);
    assert_int_equal(n, 36);    /* 18 in the last 6 h of goroutine profiles, 18 before */

    /* A diff across the thinned part compares profiles still there. */
    struct profstore_diff *d = NULL;
    assert_int_equal(profstore_diff(f.ps, f.t1, PPROF_HEAP, T0 + 20 * MIN_MS, T0 + 70 * MIN_MS,
                                    0, &d), 0);
    assert_true(d->from_ms >= T0 + 30 * MIN_MS && d->from_ms < T0 + 32 * MIN_MS);
    assert_true(d->to_ms >= T0 + 60 * MIN_MS && d->to_ms < T0 + 62 * MIN_MS);
    profstore_diff_free(d);

    /* A shorter interval and retention through the config. */
    profstore_close(f.ps);
    struct profstore_config pc = { .path = f.path, .full_retention_ms = HOUR_MS,
                                   .thin_interval_ms = 2 * HOUR_MS, .retention_ms = 10 * HOUR_MS };
    assert_int_equal(profstore_open(&pc, &f.ps, NULL), 0);
    assert_int_equal(profstore_maintain(f.ps, now), 0);
    /* Of the rule's survivors (30-min buckets), the first of each 2-hour bucket; the rule
     * applied to all profiles gives the same set, as the first of a 2-hour bucket is the
     * first of its first 30-minute bucket. */
    check_thinned(&f, all, nall, now, HOUR_MS, 2 * HOUR_MS, 10 * HOUR_MS, PPROF_HEAP);

    free(all);
    free(gall);
    prof_free(p);
    prof_free(g);
    fx_close(&f);
}

static void test_retention_and_sites(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, HOUR_MS, 30 * MIN_MS, 3 * HOUR_MS);

    /* Target 2: stable sites; all its profiles expire, and its sites go with them. */
    struct pprof_profile *s = prof_new(PPROF_GOROUTINE, 2);
    prof_site(s, "main.s", "s.go", 1, "main.s", "s.go", 1, 1, 0, 0, 0);
    prof_site(s, "main.t", "t.go", 1, "main.t", "t.go", 1, 1, 0, 0, 0);
    add_ok(f.ps, f.t2, T0, s);
    add_ok(f.ps, f.t2, T0 + MIN_MS, s);

    /* Target 1: every 20 minutes 100 sites of its own plus 3 shared. */
    struct names nm;
    names_init(&nm, 1500, "churn");
    int64_t ts[15];
    for (int i = 0; i < 15; i++) {
        struct pprof_profile *p = prof_new(PPROF_HEAP, 103);
        for (int k = 0; k < 3; k++)
            prof_site(p, nm.leaf_func[k], nm.file[k], k, nm.user_func[k], nm.file[k], 1,
                      i, i, i, i);
        for (int k = 0; k < 100; k++) {
            size_t j = 3 + (size_t)i * 100 + (size_t)k;
            if (j < nm.n)
                prof_site(p, nm.leaf_func[j], nm.file[j], (int64_t)j, nm.user_func[j],
                          nm.file[j], 1, 1, 1, 1, 1);
        }
        ts[i] = T0 + i * 20 * MIN_MS;
        add_ok(f.ps, f.t1, ts[i], p);
        prof_free(p);
    }
    int64_t sites1 = sql_int(f.path, "SELECT count(*) FROM profile_sites WHERE target_id = %lld",
                             (long long)f.t1);
    assert_int_equal(sites1, 1500);

    /* Now 5 h after the first: older than 3 h gone, 1-3 h thinned to one per 30 min. */
    int64_t now = T0 + 4 * HOUR_MS + 40 * MIN_MS + 1;
    assert_int_equal(profstore_maintain(f.ps, now), 0);
    size_t n;
    int64_t *got = stored_times(f.path, f.t1, PPROF_HEAP, &n);
    size_t j = 0;
    for (int i = 0; i < 15; i++) {
        if (!expect_kept(ts, 15, (size_t)i, now, HOUR_MS, 30 * MIN_MS, 3 * HOUR_MS))
            continue;
        assert_true(j < n);
        assert_int_equal(got[j++], ts[i]);
    }
    assert_int_equal(j, n);
    /* Sites: the 3 shared, and 100 for each remaining profile (the last one has 97). */
    int64_t want = 3;
    for (size_t i = 0; i < n; i++)
        want += got[i] == ts[14] ? 97 : 100;
    free(got);
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profile_sites WHERE target_id = %lld",
                             (long long)f.t1), want);
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profiles WHERE target_id = %lld",
                             (long long)f.t2), 0);
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profile_sites WHERE target_id = %lld",
                             (long long)f.t2), 0);

    /* The names of what is left still resolve. */
    struct profstore_diff *d = NULL;
    assert_int_equal(profstore_diff(f.ps, f.t1, PPROF_HEAP, 0, INT64_MAX, 0, &d), 0);
    assert_true(d->nsites > 100);
    assert_string_equal(d->sites[0].leaf_func, "churn.alloc0");
    assert_int_equal(d->sites[0].to[PV_INUSE_BYTES], 14);
    profstore_diff_free(d);

    /* A site deleted by the GC comes back under a new id; target 2 starts afresh. */
    struct pprof_profile *p = prof_new(PPROF_HEAP, 2);
    prof_site(p, nm.leaf_func[5], nm.file[5], 5, nm.user_func[5], nm.file[5], 1, 9, 9, 9, 9);
    add_ok(f.ps, f.t1, now, p);
    add_ok(f.ps, f.t2, now, s);
    add_ok(f.ps, f.t2, now + 1, s);
    assert_int_equal(profstore_diff(f.ps, f.t1, PPROF_HEAP, ts[14], INT64_MAX, 0, &d), 0);
    assert_non_null(find_site(d, "churn.alloc5"));
    assert_int_equal(find_site(d, "churn.alloc5")->delta[PV_INUSE_BYTES], 9);
    profstore_diff_free(d);
    assert_int_equal(profstore_diff(f.ps, f.t2, PPROF_GOROUTINE, 0, INT64_MAX, 0, &d), 0);
    assert_int_equal(d->nsites, 2);
    profstore_diff_free(d);
    /* A maintain that has nothing to do changes nothing. */
    int64_t before = sql_int(f.path, "SELECT count(*) FROM profile_sites");
    assert_int_equal(profstore_maintain(f.ps, now + 2), 0);
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profile_sites"), before);

    /* Everything expires. */
    assert_int_equal(profstore_maintain(f.ps, now + 4 * HOUR_MS), 0);
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profiles"), 0);
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profile_sites"), 0);
    /* ... and the dictionaries went with the rows. */
    add_ok(f.ps, f.t2, now + 5 * HOUR_MS, s);
    add_ok(f.ps, f.t2, now + 5 * HOUR_MS + 1, s);
    assert_int_equal(profstore_diff(f.ps, f.t2, PPROF_GOROUTINE, 0, INT64_MAX, 0, &d), 0);
    assert_int_equal(d->nsites, 2);
    profstore_diff_free(d);

    prof_free(p);
    prof_free(s);
    names_free(&nm);
    fx_close(&f);
}

static void test_remove_and_cascade(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, 0, 0, 0);
    int64_t t3 = add_target(f.st, "three");

    struct pprof_profile *p = prof_new(PPROF_HEAP, 3), *g = prof_new(PPROF_GOROUTINE, 1);
    prof_site(p, "main.a", "a.go", 1, "main.a", "a.go", 1, 1, 1, 1, 1);
    prof_site(p, "main.b", "b.go", 1, "main.b", "b.go", 1, 1, 1, 1, 1);
    prof_site(g, "main.g", "g.go", 1, "main.g", "g.go", 1, 3, 0, 0, 0);
    int64_t ids[3] = { f.t1, f.t2, t3 };
    for (int i = 0; i < 3; i++) {
        add_ok(f.ps, ids[i], T0, p);
        add_ok(f.ps, ids[i], T0 + MIN_MS, p);
        add_ok(f.ps, ids[i], T0, g);
    }
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profiles"), 9);
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profile_sites"), 9);

    /* The store removes target 1: ON DELETE CASCADE takes its rows of both tables. */
    assert_int_equal(store_target_remove(f.st, f.t1), 0);
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profiles WHERE target_id = %lld",
                             (long long)f.t1), 0);
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profile_sites WHERE target_id = %lld",
                             (long long)f.t1), 0);
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profiles"), 6);
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profile_sites"), 6);
    /* Its dictionary is stale: adds fail cleanly, nothing is left behind. */
    assert_int_equal(profstore_add(f.ps, f.t1, PPROF_HEAP, T0 + 2 * MIN_MS, p), -ENOENT);
    prof_site(p, "main.new", "n.go", 1, "main.new", "n.go", 1, 1, 1, 1, 1);
    assert_int_equal(profstore_add(f.ps, f.t1, PPROF_HEAP, T0 + 3 * MIN_MS, p), -ENOENT);
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profile_sites"), 6);
    struct profstore_diff *d = NULL;
    assert_int_equal(profstore_diff(f.ps, f.t1, PPROF_HEAP, 0, INT64_MAX, 0, &d), -ENOENT);
    size_t n;
    assert_int_equal(profstore_count(f.ps, f.t1, PPROF_HEAP, &n, NULL), 0);
    assert_int_equal(n, 0);
    assert_int_equal(profstore_maintain(f.ps, T0 + HOUR_MS), 0);

    /* profstore_remove_target forgets a target's rows while the target stays. */
    assert_int_equal(profstore_remove_target(f.ps, f.t2), 0);
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profiles WHERE target_id = %lld",
                             (long long)f.t2), 0);
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profile_sites WHERE target_id = %lld",
                             (long long)f.t2), 0);
    assert_int_equal(profstore_remove_target(f.ps, 424242), 0);
    /* ... and can start again. */
    add_ok(f.ps, f.t2, T0 + 5 * MIN_MS, p);
    add_ok(f.ps, f.t2, T0 + 6 * MIN_MS, p);
    assert_int_equal(profstore_diff(f.ps, f.t2, PPROF_HEAP, 0, INT64_MAX, 0, &d), 0);
    assert_int_equal(d->nsites, 3);
    profstore_diff_free(d);

    /* Target 3 untouched. */
    assert_int_equal(profstore_diff(f.ps, t3, PPROF_HEAP, 0, INT64_MAX, 0, &d), 0);
    assert_int_equal(d->nsites, 2);
    profstore_diff_free(d);
    assert_int_equal(profstore_count(f.ps, t3, PPROF_GOROUTINE, &n, NULL), 0);
    assert_int_equal(n, 1);

    prof_free(p);
    prof_free(g);
    fx_close(&f);
}

/* ---- corrupt blobs --------------------------------------------------------------------------- */

/* Replaces the blob (and nsites) of the newest heap profile of target t1. */
static void set_blob(const struct fx *f, const void *blob, size_t len, int64_t nsites)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_prepare_v2(db, "UPDATE profiles SET blob = ?1, nsites = ?2 WHERE id"
                                        " = (SELECT max(id) FROM profiles)", -1, &q, NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(q, 1, blob, (int)len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 2, nsites);
    assert_int_equal(sqlite3_step(q), SQLITE_DONE);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

static void set_raw(const struct fx *f, const uint8_t *raw, size_t len, int64_t nsites)
{
    uint8_t z[4096];
    uLongf zlen = sizeof(z);
    assert_int_equal(compress2(z, &zlen, raw, len, 6), Z_OK);
    set_blob(f, z, zlen, nsites);
}

/* The stored blob of the newest profile; caller frees. */
static uint8_t *get_blob(const struct fx *f, size_t *len, int64_t *nsites)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT blob, nsites FROM profiles"
                                        " ORDER BY id DESC LIMIT 1", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    *len = (size_t)sqlite3_column_bytes(q, 0);
    uint8_t *b = xmalloc(*len + 1);
    memcpy(b, sqlite3_column_blob(q, 0), *len);
    *nsites = sqlite3_column_int64(q, 1);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return b;
}

static int diff_rc(const struct fx *f)
{
    struct profstore_diff *d = (void *)1;
    int r = profstore_diff(f->ps, f->t1, PPROF_HEAP, 0, INT64_MAX, 0, &d);
    if (r == 0)
        profstore_diff_free(d);
    else
        assert_null(d);
    return r;
}

static void test_corrupt_blob(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, 0, 0, 0);

    struct pprof_profile *p = prof_new(PPROF_HEAP, 40);
    for (int i = 0; i < 40; i++) {
        static char nm[40][24];
        snprintf(nm[i], sizeof(nm[i]), "main.f%d", i);
        prof_site(p, nm[i], "x.go", i, nm[i], "x.go", i, i * 3, i * 1000, -i, INT64_MIN + i);
    }
    add_ok(f.ps, f.t1, T0, p);
    add_ok(f.ps, f.t1, T0 + MIN_MS, p);
    assert_int_equal(diff_rc(&f), 0);
    size_t good_len;
    int64_t good_n;
    uint8_t *good = get_blob(&f, &good_len, &good_n);
    assert_int_equal(good_n, 40);

    /* Not zlib; empty; truncated; trailing bytes; a count too small for what inflates. */
    set_blob(&f, "garbage!", 8, 40);
    assert_int_equal(diff_rc(&f), -EBADMSG);
    assert_non_null(strstr(profstore_errmsg(f.ps), "corrupt"));
    set_blob(&f, "", 0, 40);
    assert_int_equal(diff_rc(&f), -EBADMSG);
    for (size_t cut = 1; cut < good_len; cut += 7) {
        set_blob(&f, good, good_len - cut, good_n);
        assert_int_equal(diff_rc(&f), -EBADMSG);
    }
    uint8_t *more = xmalloc(good_len + 1);
    memcpy(more, good, good_len);
    more[good_len] = 0;
    set_blob(&f, more, good_len + 1, good_n);
    assert_int_equal(diff_rc(&f), -EBADMSG);
    free(more);
    set_blob(&f, good, good_len, 3);
    assert_int_equal(diff_rc(&f), -EBADMSG);
    set_blob(&f, good, good_len, -1);
    assert_int_equal(diff_rc(&f), -EBADMSG);
    set_blob(&f, good, good_len, INT64_MAX);
    assert_int_equal(diff_rc(&f), -EBADMSG);
    set_blob(&f, good, good_len, 41);
    assert_int_equal(diff_rc(&f), -EBADMSG);
    /* A blob that would inflate beyond what its count allows (a zlib bomb). */
    uint8_t *zeros = xcalloc(1 << 20, 1), *bomb = xmalloc(1 << 16);
    uLongf blen = 1 << 16;
    assert_int_equal(compress2(bomb, &blen, zeros, 1 << 20, 9), Z_OK);
    set_blob(&f, bomb, blen, 1);
    assert_int_equal(diff_rc(&f), -EBADMSG);
    free(zeros);
    free(bomb);

    /* Well-compressed, bad contents: version, counts, ids, varints. */
    static const struct {
        uint8_t raw[16];
        size_t len;
        int64_t nsites;
    } bad[] = {
        { { 2, 0 }, 2, 0 },                                     /* unknown format */
        { { 1 }, 1, 0 },                                        /* no count */
        { { 1, 2, 1, 0, 0, 0, 0 }, 7, 2 },                      /* fewer entries than count */
        { { 1, 1, 0, 0, 0, 0, 0 }, 7, 1 },                      /* id delta 0 */
        { { 1, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 12, 2 },      /* repeated id */
        { { 1, 1, 1, 0, 0, 0 }, 6, 1 },                         /* values missing */
        { { 1, 1, 1, 0x80, 0x80 }, 5, 1 },                      /* truncated varint */
        { { 1, 1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0 }, 16, 1 },
        { { 1, 1, 1, 0, 0, 0, 0, 9 }, 8, 1 },                   /* trailing byte */
        { { 1, 0x80, 0x80, 0x80, 0x80, 0x01 }, 6, 1 },          /* count != nsites */
        /* ids overflowing int64 */
        { { 1, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0x7f }, 16, 2 },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        set_raw(&f, bad[i].raw, bad[i].len, bad[i].nsites);
        int r = diff_rc(&f);
        if (r != -EBADMSG)
            print_error("bad[%zu]: %d\n", i, r);
        assert_int_equal(r, -EBADMSG);
    }
    /* Good contents naming a site that is not the target's (or does not exist). */
    static const uint8_t unknown[] = { 1, 1, 0x80, 0x80, 0x04, 0, 0, 0, 0 };
    set_raw(&f, unknown, sizeof(unknown), 1);
    assert_int_equal(diff_rc(&f), -EBADMSG);
    assert_non_null(strstr(profstore_errmsg(f.ps), "unknown site"));
    /* Valid and empty is fine. */
    static const uint8_t none[] = { 1, 0 };
    set_raw(&f, none, sizeof(none), 0);
    assert_int_equal(diff_rc(&f), 0);

    /* Random damage: every result is a diff or -EBADMSG (the Adler-32 sees most). */
    unsigned seed = getenv("PROFSTORE_SEED") ? (unsigned)strtoul(getenv("PROFSTORE_SEED"), NULL, 0)
                                             : (unsigned)time(NULL);
    print_message("corrupt blob seed %u\n", seed);
    srand(seed);
    uint8_t *buf = xmalloc(good_len);
    int ok = 0, badmsg = 0;
    for (int i = 0; i < 300; i++) {
        memcpy(buf, good, good_len);
        int flips = 1 + rand() % 4;
        for (int k = 0; k < flips; k++)
            buf[(size_t)rand() % good_len] ^= (uint8_t)(1 + rand() % 255);
        set_blob(&f, buf, good_len, good_n);
        int r = diff_rc(&f);
        assert_true(r == 0 || r == -EBADMSG);
        r == 0 ? ok++ : badmsg++;
    }
    print_message("random damage: %d diffs, %d -EBADMSG\n", ok, badmsg);
    free(buf);

    /* Restored, all is well again. */
    set_blob(&f, good, good_len, good_n);
    assert_int_equal(diff_rc(&f), 0);

    /* The GC meets a corrupt blob: it keeps every site.  300 more sites in one profile and an
     * empty newest one make the dictionary big enough for a GC. */
    struct names nm;
    names_init(&nm, 300, "gc");
    struct pprof_profile *q = prof_new(PPROF_HEAP, 300);
    for (size_t i = 0; i < 300; i++)
        prof_site(q, nm.leaf_func[i], nm.file[i], 1, nm.user_func[i], nm.file[i], 1, 1, 1, 1, 1);
    add_ok(f.ps, f.t1, T0 + 2 * MIN_MS, q);
    struct pprof_profile empty = { .kind = PPROF_HEAP };
    add_ok(f.ps, f.t1, T0 + 3 * MIN_MS, &empty);
    sql_exec(f.path, "UPDATE profiles SET blob = x'00112233' WHERE nsites = 300");
    assert_int_equal(profstore_maintain(f.ps, T0 + HOUR_MS), 0);
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profile_sites"), 340);
    /* Without it, the GC deletes the 300 that nothing names any more. */
    sql_exec(f.path, "DELETE FROM profiles WHERE nsites = 300");
    assert_int_equal(profstore_maintain(f.ps, T0 + HOUR_MS), 0);
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profile_sites"), 40);
    assert_int_equal(diff_rc(&f), 0);
    add_ok(f.ps, f.t1, T0 + 4 * MIN_MS, q);     /* they come back */
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM profile_sites"), 340);
    assert_int_equal(diff_rc(&f), 0);
    prof_free(q);
    names_free(&nm);

    free(good);
    prof_free(p);
    fx_close(&f);
}

static void test_open_errors(void **state)
{
    (void)state;
    struct profstore *ps = (void *)1;
    char *err = NULL;

    char *missing = xasprintf("%s/missing.db", tmpdir);
    struct profstore_config pc = { .path = missing };
    assert_true(profstore_open(&pc, &ps, &err) < 0);
    assert_null(ps);
    assert_non_null(err);
    free(err);
    assert_int_equal(access(missing, F_OK), -1);        /* not created */
    free(missing);

    /* A database store_open never migrated. */
    char *bare = xasprintf("%s/bare.db", tmpdir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(bare, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE x(y)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    pc.path = bare;
    err = NULL;
    assert_true(profstore_open(&pc, &ps, &err) < 0);
    assert_non_null(strstr(err, "no such table"));
    free(err);
    free(bare);

    pc.path = NULL;
    assert_int_equal(profstore_open(&pc, &ps, NULL), -EINVAL);
    profstore_close(NULL);
    profstore_diff_free(NULL);
    assert_non_null(profstore_errmsg(NULL));
}

/* ---- the storage budget ---------------------------------------------------------------------- */

/* A heap profile shaped like Go's: every site has an object size; the runtime samples one
 * allocation per 512 KiB on average and scales sample counts by 1/(1 - exp(-size/512Ki)), so
 * values are multiples of a per-site scale.  Most sites allocate rarely (a few samples, the
 * same minute after minute), a few often; alloc_* only grow, inuse_* wander below them. */
struct gosite {
    double scale, size;
    double rate;                /* samples a minute */
    int64_t alloc, inuse;       /* samples */
};

static uint64_t rng_state;

static double rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static int64_t poisson(double lambda)
{
    /* Small lambdas by inversion, large ones by a normal approximation. */
    if (lambda > 30) {
        double u1 = rnd() + 1e-12, u2 = rnd();
        double z = sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
        int64_t v = (int64_t)(lambda + z * sqrt(lambda) + 0.5);
        return v < 0 ? 0 : v;
    }
    double l = exp(-lambda), pr = 1;
    int64_t k = 0;
    do {
        k++;
        pr *= rnd();
    } while (pr > l);
    return k - 1;
}

static void gosite_init(struct gosite *g)
{
    static const double sizes[] = { 8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 160, 192, 256, 320,
                                    384, 512, 640, 896, 1024, 2048, 4096, 8192, 16384, 32768,
                                    65536, 262144, 1048576 };
    g->size = sizes[(size_t)(rnd() * (sizeof(sizes) / sizeof(sizes[0])))];
    g->scale = 1 / (1 - exp(-g->size / 524288.0));
    /* Rates spread over five decades: most sites allocate rarely. */
    g->rate = 0.001 * pow(10, rnd() * 5);
    g->alloc = 1 + poisson(g->rate * 1440);     /* a day of uptime behind it */
    g->inuse = (int64_t)((double)g->alloc * rnd() * rnd());
}

static void gosite_step(struct gosite *g, struct pprof_site *s)
{
    int64_t n = poisson(g->rate);
    g->alloc += n;
    /* Most of what was allocated is freed again; inuse drifts. */
    int64_t freed = poisson((double)g->inuse * 0.05);
    g->inuse += n - (freed < g->inuse ? freed : g->inuse);
    if (g->inuse > g->alloc)
        g->inuse = g->alloc;
    s->v[PV_ALLOC_OBJECTS] = (int64_t)((double)g->alloc * g->scale);
    s->v[PV_ALLOC_BYTES] = (int64_t)((double)g->alloc * g->scale * g->size);
    s->v[PV_INUSE_OBJECTS] = (int64_t)((double)g->inuse * g->scale);
    s->v[PV_INUSE_BYTES] = (int64_t)((double)g->inuse * g->scale * g->size);
}

/* Bytes of the pages of the profile tables and their indexes (dbstat), and their payload. */
static void table_bytes(const char *path, const char *names, int64_t *pages, int64_t *payload)
{
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT sum(pgsize) FROM dbstat WHERE name IN (%s)", names);
    *pages = sql_int(path, "%s", sql);
    snprintf(sql, sizeof(sql), "SELECT sum(payload) FROM dbstat WHERE name IN (%s)", names);
    *payload = sql_int(path, "%s", sql);
}

/* The size of a profile in blob format 1 before compression (profstore.c), for the report. */
static size_t uvarint_len(uint64_t u)
{
    size_t n = 1;
    while (u >= 0x80) {
        u >>= 7;
        n++;
    }
    return n;
}

static size_t encoded_len(const struct pprof_profile *p)
{
    size_t n = 1 + uvarint_len(p->nsites);
    for (size_t i = 0; i < p->nsites; i++) {
        n += 1;     /* site ids of a new target's first profile are consecutive */
        for (int k = 0; k < PV_MAX; k++) {
            uint64_t v = (uint64_t)p->sites[i].v[k];
            n += uvarint_len((v << 1) ^ (0 - (v >> 63)));
        }
    }
    return n;
}

static double elapsed_ms(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

static void test_storage_budget(void **state)
{
    (void)state;
    const size_t nsites = 1000;
    const int64_t full = 6 * HOUR_MS, thin = 30 * MIN_MS;
    int hours = getenv("PROFSTORE_SIM_HOURS") ? atoi(getenv("PROFSTORE_SIM_HOURS")) : 8;
    if (hours < 7)
        hours = 7;
    struct fx f;
    fx_open(&f, 0, 0, 0);       /* defaults: 6 h, 30 min, 30 d */

    rng_state = getenv("PROFSTORE_SEED") ? strtoull(getenv("PROFSTORE_SEED"), NULL, 0) : 0x5eed;
    if (!rng_state)
        rng_state = 1;
    print_message("storage seed %" PRIu64 "\n", rng_state);
    struct names nm;
    names_init(&nm, nsites, "github.com/acme/svc/internal/store");
    struct gosite *gs = xcalloc(nsites, sizeof(*gs));
    struct pprof_profile *p = prof_new(PPROF_HEAP, nsites);
    for (size_t i = 0; i < nsites; i++) {
        gosite_init(&gs[i]);
        prof_site(p, nm.leaf_func[i], nm.file[i], (int64_t)(i * 7 % 400), nm.user_func[i],
                  nm.file[i], (int64_t)(i * 13 % 300), 0, 0, 0, 0);
    }

    double add_ms = 0, add_max = 0, maint_ms = 0;
    int64_t now = T0;
    int adds = 0;
    for (int m = 0; m < hours * 60; m++) {
        memset(p->total, 0, sizeof(p->total));
        for (size_t i = 0; i < nsites; i++) {
            gosite_step(&gs[i], &p->sites[i]);
            for (int k = 0; k < PV_MAX; k++)
                p->total[k] += p->sites[i].v[k];
        }
        now = T0 + m * MIN_MS;
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        add_ok(f.ps, f.t1, now, p);
        double ms = elapsed_ms(&t);
        add_ms += ms;
        add_max = ms > add_max ? ms : add_max;
        adds++;
        if (m % 60 == 59) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            assert_int_equal(profstore_maintain(f.ps, now), 0);
            maint_ms += elapsed_ms(&t);
        }
    }

    size_t nprof;
    assert_int_equal(profstore_count(f.ps, f.t1, PPROF_HEAP, &nprof, NULL), 0);
    int64_t kept_thinned = (int64_t)nprof - sql_int(f.path, "SELECT count(*) FROM profiles"
                                                    " WHERE ts_ms >= %lld", (long long)(now - full));
    assert_true(kept_thinned > 0);
    int64_t blob_sum = sql_int(f.path, "SELECT sum(length(blob)) FROM profiles");
    int64_t row_pages, row_payload, idx_pages, idx_payload, site_pages, site_payload;
    table_bytes(f.path, "'profiles'", &row_pages, &row_payload);
    table_bytes(f.path, "'profiles_time'", &idx_pages, &idx_payload);
    table_bytes(f.path, "'profile_sites', 'sqlite_autoindex_profile_sites_1'", &site_pages,
                &site_payload);
    int64_t freelist = sql_int(f.path, "PRAGMA freelist_count");
    int64_t page_size = sql_int(f.path, "PRAGMA page_size");

    double blob_avg = (double)blob_sum / (double)nprof;
    /* On disk a profile costs its share of the pages of its table and index. */
    double disk_avg = (double)(row_pages + idx_pages) / (double)nprof;
    double per_day_thinned = (double)(DAY_MS / thin) * disk_avg;    /* 48 kept a day */
    double window = (double)(full / MIN_MS) * disk_avg;             /* 360 in full */
    double first_day = window + (double)((DAY_MS - full) / thin) * disk_avg;
    double steady = window + 30.0 * per_day_thinned;
    print_message("profstore storage, 1000-site heap profiles, %d h simulated at 60 s, defaults:\n"
                  "  %zu profiles kept (%lld thinned), blob %.0f bytes avg compressed"
                  " (%.1f bytes a site; %zu bytes before deflate)\n"
                  "  on disk %.0f bytes a profile (table %lld + index %lld bytes of %lld-byte"
                  " pages, payload %lld), free pages %lld\n"
                  "  site dictionary %lld bytes (payload %lld)\n"
                  "  per target: %.2f MB a day of history after thinning (48 profiles),"
                  " %.2f MB for the last 6 h (360), %.2f MB after the first day, %.1f MB at 30 d\n"
                  "  add %.2f ms avg, %.2f ms max; maintain %.2f ms avg\n",
                  hours, nprof, (long long)kept_thinned, blob_avg, blob_avg / (double)nsites,
                  encoded_len(p), disk_avg, (long long)row_pages, (long long)idx_pages,
                  (long long)page_size, (long long)(row_payload + idx_payload),
                  (long long)freelist, (long long)site_pages, (long long)site_payload,
                  per_day_thinned / 1e6, window / 1e6, first_day / 1e6, steady / 1e6,
                  add_ms / adds, add_max, maint_ms / hours);
    /* The budget: 5 MB a target for each day of history kept after thinning.  The last 6 h,
     * kept in full, are a constant on top (printed above). */
    assert_true(per_day_thinned <= 5e6);

    /* The newest diff finds what grew most. */
    struct profstore_diff *d = NULL;
    assert_int_equal(profstore_diff(f.ps, f.t1, PPROF_HEAP, now - HOUR_MS, now, 5, &d), 0);
    assert_int_equal(d->nsites, 5);
    assert_true(d->sites[0].delta[PV_INUSE_BYTES] >= d->sites[4].delta[PV_INUSE_BYTES]);
    profstore_diff_free(d);

    free(gs);
    prof_free(p);
    names_free(&nm);
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diff_heap),
        cmocka_unit_test(test_diff_goroutine),
        cmocka_unit_test(test_diff_selection),
        cmocka_unit_test(test_site_cache),
        cmocka_unit_test(test_add_failures),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_thinning),
        cmocka_unit_test(test_retention_and_sites),
        cmocka_unit_test(test_remove_and_cascade),
        cmocka_unit_test(test_corrupt_blob),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_storage_budget),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
