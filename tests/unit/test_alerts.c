/* test_alerts.c - unit tests for daemon/alerts.c (and alert.c) on real SQLite files made by
 * the real store (store_open migrates them), real profile stores, verdicts built by hand.
 *
 * Exercises: the lifecycle (suspect -> pending, leaking -> firing, ok -> resolved; a pending
 * alert that clears resolves quietly; warming holds; a gone process resolves it with its
 * reason; a new alert after a resolved one gets a new id); persistence (close and reopen: the
 * firing alert comes back as it was, with the same id and times); the kind following the
 * verdict; culprits from heap profiles (sites grouped by the program's own function, the
 * allocating leaf kept beside it, shrinking sites and the noise tail left out) and from
 * goroutine profiles; the rolling raw profiles (bounded per target, the window's start and
 * the newest kept at firing, byte for byte); JSON form and summaries; history purge;
 * forgetting a target; listing with and without resolved ones. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "alerts.h"
#include "pprof.h"
#include "profstore.h"
#include "store.h"
#include "util.h"
#include "tmpdir.h"

#define MIN_MS INT64_C(60000)

static int db_counter;
static int64_t t0;      /* "now" for the tests: a real recent time, so history windows see it */

static int group_setup(void **state)
{
    (void)state;
    t0 = now_wall_ms() / 1000 * 1000 - 3600 * 1000;
    return tmpdir_make("test_alerts");
}

static int group_teardown(void **state)
{
    (void)state;
    tmpdir_remove();
    return 0;
}

struct fx {
    char *path;
    struct store *st;
    struct profstore *ps;
    struct alerts *ab;
    int64_t t1, t2;
};

static int64_t add_target(struct store *st, const char *name)
{
    struct target_record rec;
    memset(&rec, 0, sizeof rec);
    snprintf(rec.name, sizeof rec.name, "%s", name);
    rec.selector = SELECTOR_MATCH;
    snprintf(rec.pattern, sizeof rec.pattern, "^%s$", name);
    rec.created_ms = rec.state_changed_ms = t0;
    assert_int_equal(store_target_add(st, &rec), 0);
    return rec.id;
}

static void open_alerts(struct fx *f, int64_t window_ms, int64_t history_ms)
{
    struct alerts_config ac = { .path = f->path, .window_ms = window_ms,
                                .history_ms = history_ms };
    char *err = NULL;
    int r = alerts_open(&ac, f->ps, NULL, NULL, &f->ab, &err);
    if (r != 0)
        print_error("alerts_open: %d %s\n", r, err ? err : "");
    assert_int_equal(r, 0);
    assert_null(err);
}

static void fx_open(struct fx *f, int64_t window_ms)
{
    struct store_config sc = { 0 };
    char *err = NULL;
    memset(f, 0, sizeof *f);
    f->path = xasprintf("%s/alerts%d.db", tmpdir, ++db_counter);
    sc.path = f->path;
    assert_int_equal(store_open(&sc, t0, &f->st, &err), 0);
    f->t1 = add_target(f->st, "api");
    f->t2 = add_target(f->st, "worker");
    struct profstore_config pc = { .path = f->path };
    assert_int_equal(profstore_open(&pc, &f->ps, &err), 0);
    open_alerts(f, window_ms, 0);
}

static void fx_close(struct fx *f)
{
    alerts_close(f->ab);
    profstore_close(f->ps);
    store_close(f->st, t0);
    free(f->path);
}

static struct leak_verdict verdict(enum detect_state s, enum leak_kind k, int64_t now,
                                   double slope)
{
    struct leak_verdict v;
    memset(&v, 0, sizeof v);
    v.state = s;
    v.kind = k;
    v.since_ms = now;
    v.trend.slope_per_hour = slope;
    v.trend.confidence = 0.97;
    v.trend.from_ms = now - 30 * MIN_MS;
    v.trend.to_ms = now;
    v.trend.level = 100e6;
    v.limit_bytes = 8e9;
    snprintf(v.limit_source, sizeof v.limit_source, "MemTotal");
    v.seconds_to_limit = 3600 * 10;
    return v;
}

/* Collects what alerts_foreach gives. */
struct seen {
    size_t n;
    struct alert a[8];
};

static void collect(void *arg, const struct alert *a)
{
    struct seen *s = arg;
    if (s->n < 8)
        s->a[s->n] = *a;
    s->n++;
}

static struct seen list(struct fx *f, int64_t target, bool all)
{
    struct seen s = { 0 };
    assert_int_equal(alerts_foreach(f->ab, target, all, 100, collect, &s), 0);
    return s;
}

static void judge(struct fx *f, int64_t target, enum detect_state s, enum leak_kind k,
                  int64_t now)
{
    struct leak_verdict v = verdict(s, k, now, 120.0 * 1024 * 1024);
    alerts_update(f->ab, target, target == f->t1 ? "api" : "worker", &v, now);
}

static void test_lifecycle(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, 30 * MIN_MS);
    judge(&f, f.t1, DETECT_WARMING, LEAK_HEAP, t0);
    judge(&f, f.t1, DETECT_OK, LEAK_HEAP, t0 + 1000);
    assert_int_equal(list(&f, 0, true).n, 0);         /* nothing until growth is seen */

    judge(&f, f.t1, DETECT_SUSPECT, LEAK_HEAP, t0 + 30000);
    struct seen s = list(&f, 0, false);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.a[0].state, ALERT_PENDING);
    assert_int_equal(s.a[0].fired_ms, 0);
    assert_string_equal(s.a[0].target, "api");
    assert_string_equal(s.a[0].kind, "heap");
    assert_non_null(strstr(s.a[0].summary, "may be leaking"));
    int64_t id = s.a[0].id;

    judge(&f, f.t1, DETECT_LEAKING, LEAK_HEAP, t0 + 60000);
    s = list(&f, f.t1, false);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.a[0].id, id);
    assert_int_equal(s.a[0].state, ALERT_FIRING);
    assert_int_equal(s.a[0].fired_ms, t0 + 60000);
    assert_int_equal(s.a[0].started_ms, t0 + 30000);
    assert_non_null(strstr(s.a[0].summary, "api is leaking Go heap: +120 MiB an hour"));
    assert_non_null(strstr(s.a[0].summary, "MemTotal"));

    /* A suspect verdict while firing (another signal leads) does not resolve it. */
    judge(&f, f.t1, DETECT_SUSPECT, LEAK_HEAP, t0 + 90000);
    judge(&f, f.t1, DETECT_WARMING, LEAK_HEAP, t0 + 120000);
    s = list(&f, 0, false);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.a[0].state, ALERT_FIRING);
    assert_int_equal(list(&f, f.t2, false).n, 0);

    judge(&f, f.t1, DETECT_OK, LEAK_HEAP, t0 + 150000);
    assert_int_equal(list(&f, 0, false).n, 0);
    s = list(&f, 0, true);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.a[0].id, id);
    assert_int_equal(s.a[0].state, ALERT_RESOLVED);
    assert_int_equal(s.a[0].resolved_ms, t0 + 150000);
    assert_int_equal(s.a[0].fired_ms, t0 + 60000);
    assert_non_null(strstr(s.a[0].summary, "was leaking"));
    assert_non_null(strstr(s.a[0].summary, "stopped growing"));

    /* The next leak of the same target is a new alert. */
    judge(&f, f.t1, DETECT_LEAKING, LEAK_HEAP, t0 + 200000);
    s = list(&f, 0, false);
    assert_int_equal(s.n, 1);
    assert_true(s.a[0].id > id);
    assert_int_equal(s.a[0].state, ALERT_FIRING);
    assert_int_equal(list(&f, 0, true).n, 2);
    fx_close(&f);
}

static void test_pending_clears_quietly(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, 30 * MIN_MS);
    judge(&f, f.t2, DETECT_SUSPECT, LEAK_RSS, t0);
    judge(&f, f.t2, DETECT_OK, LEAK_RSS, t0 + 30000);
    struct seen s = list(&f, f.t2, true);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.a[0].state, ALERT_RESOLVED);
    assert_int_equal(s.a[0].fired_ms, 0);
    assert_non_null(strstr(s.a[0].summary, "not confirmed"));
    /* JSON: fired is null, growth in bytes, no profiles. */
    json_t *j = alert_to_json(&s.a[0]);
    assert_true(json_is_null(json_object_get(j, "fired")));
    assert_true(json_is_null(json_object_get(j, "profiles")));
    assert_string_equal(json_string_value(json_object_get(j, "state")), "resolved");
    assert_true(json_is_number(json_object_get(j, "growth_bytes_per_hour")));
    assert_int_equal(json_array_size(json_object_get(j, "culprits")), 0);
    json_decref(j);
    fx_close(&f);
}

static void test_persistence_and_gone(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, 30 * MIN_MS);
    judge(&f, f.t1, DETECT_LEAKING, LEAK_GOROUTINE, t0);
    judge(&f, f.t2, DETECT_SUSPECT, LEAK_HEAP, t0);
    struct seen before = list(&f, 0, false);
    assert_int_equal(before.n, 2);

    alerts_close(f.ab);
    open_alerts(&f, 30 * MIN_MS, 0);
    struct seen after = list(&f, 0, false);
    assert_int_equal(after.n, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(after.a[i].id, before.a[i].id);
        assert_int_equal(after.a[i].state, before.a[i].state);
        assert_int_equal(after.a[i].fired_ms, before.a[i].fired_ms);
        assert_string_equal(after.a[i].kind, before.a[i].kind);
        assert_string_equal(after.a[i].summary, before.a[i].summary);
    }
    /* Goroutine alerts speak of goroutines, in JSON too. */
    json_t *j = alert_to_json(&after.a[0]);
    assert_true(json_is_null(json_object_get(j, "growth_bytes_per_hour")));
    assert_true(json_is_number(json_object_get(j, "growth_goroutines_per_hour")));
    json_decref(j);

    /* After a restart the verdict is warming for a while: the alert holds. */
    judge(&f, f.t1, DETECT_WARMING, LEAK_HEAP, t0 + 60000);
    assert_int_equal(list(&f, f.t1, false).a[0].state, ALERT_FIRING);

    alerts_update(f.ab, f.t1, "api", NULL, t0 + 90000);
    struct seen s = list(&f, f.t1, true);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.a[0].state, ALERT_RESOLVED);
    assert_non_null(strstr(s.a[0].summary, "the process exited"));

    /* A new alert's id is above every stored one, across a restart too. */
    int64_t max_id = before.a[0].id > before.a[1].id ? before.a[0].id : before.a[1].id;
    alerts_close(f.ab);
    open_alerts(&f, 30 * MIN_MS, 0);
    judge(&f, f.t1, DETECT_SUSPECT, LEAK_RSS, t0 + 120000);
    s = list(&f, f.t1, false);
    assert_int_equal(s.n, 1);
    assert_true(s.a[0].id > max_id);
    fx_close(&f);
}

static void test_kind_follows_verdict(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, 30 * MIN_MS);
    judge(&f, f.t1, DETECT_LEAKING, LEAK_RSS, t0);
    judge(&f, f.t1, DETECT_LEAKING, LEAK_NON_GO, t0 + 30000);
    struct seen s = list(&f, 0, false);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.a[0].kind, "non_go");
    assert_int_equal(s.a[0].fired_ms, t0);      /* one alert, still the same firing */
    assert_non_null(strstr(s.a[0].summary, "outside the Go runtime"));
    fx_close(&f);
}

/* ---- culprits ------------------------------------------------------------------------------ */

static struct pprof_site site(const char *leaf, const char *user, int64_t line, int64_t inuse)
{
    struct pprof_site s;
    memset(&s, 0, sizeof s);
    s.leaf = (struct pprof_frame){ leaf, "/src/app/leaf.go", line };
    s.user = (struct pprof_frame){ user, "/src/app/main.go", line + 100 };
    s.v[PV_INUSE_BYTES] = inuse;
    s.v[PV_INUSE_OBJECTS] = inuse / 1024;
    s.v[PV_ALLOC_BYTES] = inuse * 2;
    s.v[PV_ALLOC_OBJECTS] = inuse / 512;
    return s;
}

static void add_profile(struct fx *f, int64_t target, enum pprof_kind kind, int64_t ts,
                        struct pprof_site *sites, size_t n)
{
    struct pprof_profile p = { .kind = kind, .nsites = n, .sites = sites };
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < PV_MAX; k++)
            p.total[k] += sites[i].v[k];
    assert_int_equal(profstore_add(f->ps, target, kind, ts, &p), 0);
}

static void test_heap_culprits(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, 30 * MIN_MS);
    int64_t start = t0 - 30 * MIN_MS;
    struct pprof_site old[] = {
        site("main.(*cache).put", "main.(*cache).put", 40, 1 << 20),
        site("runtime.growslice", "main.(*cache).put", 41, 1 << 20),
        site("main.other", "main.other", 10, 1 << 20),
        site("bytes.makeSlice", "main.render", 20, 50 << 20),  /* garbage: shrinks */
        site("main.tiny", "main.tiny", 5, 1000),
    };
    struct pprof_site now[] = {
        site("main.(*cache).put", "main.(*cache).put", 40, 81 << 20),  /* +80 MiB */
        site("runtime.growslice", "main.(*cache).put", 41, 21 << 20),  /* +20 MiB, same user */
        site("main.other", "main.other", 10, 4 << 20),                 /* +3 MiB */
        site("bytes.makeSlice", "main.render", 20, 10 << 20),          /* -40 MiB */
        site("main.tiny", "main.tiny", 5, 200000),                     /* +~195 KB: noise */
    };
    add_profile(&f, f.t1, PPROF_HEAP, start + 1000, old, 5);
    add_profile(&f, f.t1, PPROF_HEAP, t0 - 1000, now, 5);

    struct leak_verdict v = verdict(DETECT_LEAKING, LEAK_HEAP, t0, 200e6);
    alerts_update(f.ab, f.t1, "api", &v, t0);
    struct seen s = list(&f, f.t1, false);
    assert_int_equal(s.n, 1);
    const struct alert *a = &s.a[0];
    assert_int_equal(a->n_culprits, 2);
    assert_string_equal(a->culprits[0].function, "main.(*cache).put");
    assert_int_equal(a->culprits[0].growth_bytes, 100 << 20);
    assert_int_equal(a->culprits[0].line, 140);
    assert_string_equal(a->culprits[0].file, "/src/app/main.go");
    assert_string_equal(a->culprits[1].function, "main.other");
    assert_int_equal(a->culprits[1].growth_bytes, 3 << 20);
    /* The group's top site was the user frame itself (leaf == user function) */
    assert_string_equal(a->culprits[0].leaf_function, "main.(*cache).put");
    assert_int_equal(a->culprits[0].leaf_line, 40);
    assert_non_null(strstr(a->summary, "mostly in main.(*cache).put (main.go:140)"));

    /* JSON names them too, largest first; and they survive a restart. */
    json_t *j = alert_to_json(a);
    json_t *c0 = json_array_get(json_object_get(j, "culprits"), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "function")), "main.(*cache).put");
    assert_int_equal(json_integer_value(json_object_get(c0, "growth_bytes")), 100 << 20);
    json_decref(j);
    alerts_close(f.ab);
    open_alerts(&f, 30 * MIN_MS, 0);
    s = list(&f, f.t1, false);
    assert_int_equal(s.a[0].n_culprits, 2);
    assert_string_equal(s.a[0].culprits[0].function, "main.(*cache).put");
    assert_int_equal(s.a[0].culprits[1].growth_bytes, 3 << 20);
    fx_close(&f);
}

static void test_goroutine_culprits(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, 30 * MIN_MS);
    struct pprof_site old[] = { site("runtime.gopark", "main.awaitResponse", 158, 0),
                                site("runtime.gopark", "main.serve", 30, 0) };
    struct pprof_site now[] = { site("runtime.gopark", "main.awaitResponse", 158, 0),
                                site("runtime.gopark", "main.serve", 30, 0) };
    old[0].v[PV_COUNT] = 10;
    old[1].v[PV_COUNT] = 5;
    now[0].v[PV_COUNT] = 5010;
    now[1].v[PV_COUNT] = 5;
    add_profile(&f, f.t2, PPROF_GOROUTINE, t0 - 29 * MIN_MS, old, 2);
    add_profile(&f, f.t2, PPROF_GOROUTINE, t0 - 1000, now, 2);
    judge(&f, f.t2, DETECT_LEAKING, LEAK_GOROUTINE, t0);
    struct seen s = list(&f, f.t2, false);
    assert_int_equal(s.a[0].n_culprits, 1);
    assert_string_equal(s.a[0].culprits[0].function, "main.awaitResponse");
    assert_int_equal(s.a[0].culprits[0].growth_count, 5000);
    assert_int_equal(s.a[0].culprits[0].growth_bytes, 5000 * 8192);   /* no runtime figures */
    assert_string_equal(s.a[0].culprits[0].leaf_function, "runtime.gopark");
    assert_non_null(strstr(s.a[0].summary, "waiting in main.awaitResponse"));
    fx_close(&f);
}

/* ---- evidence ------------------------------------------------------------------------------ */

static int64_t sql_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

static void test_raw_profiles_kept(void **state)
{
    (void)state;
    struct fx f;
    int64_t window = 80 * 1000;     /* a keeper every 10 s, kept ~110 s */
    fx_open(&f, window);
    uint8_t blob[300];
    int64_t ts = t0 - 200 * 1000;
    for (int i = 0; i < 100; i++, ts += 2000) {
        memset(blob, i, sizeof blob);
        alerts_note_heap_profile(f.ab, f.t1, ts, blob, sizeof blob - (size_t)i);
        alerts_note_heap_profile(f.ab, f.t2, ts, blob, 10);
    }
    int64_t last = ts - 2000;
    /* Bounded, and little written: one every spacing, for ~(1.25 window + spacing). */
    int64_t rows = sql_int(f.path, "SELECT count(*) FROM raw_profiles WHERE target_id = 1");
    assert_true(rows >= 10 && rows <= 12);

    struct leak_verdict v = verdict(DETECT_LEAKING, LEAK_HEAP, last, 1e9);
    v.trend.from_ms = last - window;
    alerts_update(f.ab, f.t1, "api", &v, last);
    struct seen s = list(&f, f.t1, false);
    assert_int_equal(s.a[0].n_profiles, 0);     /* the base is kept; "now" is the next one */
    uint8_t *data;
    size_t len;
    int64_t when;
    assert_int_equal(alerts_profile(f.ab, s.a[0].id, 1, &data, &len, &when), -ENOENT);
    memset(blob, 0xee, sizeof blob);
    alerts_note_heap_profile(f.ab, f.t1, last + 2000, blob, 77);
    s = list(&f, f.t1, false);
    assert_int_equal(s.a[0].n_profiles, 2);
    assert_int_equal(alerts_profile(f.ab, s.a[0].id, 1, &data, &len, &when), 0);
    assert_int_equal(when, last + 2000);
    assert_int_equal(len, 77);
    assert_int_equal(data[0], 0xee);
    free(data);
    assert_int_equal(alerts_profile(f.ab, s.a[0].id, 0, &data, &len, &when), 0);
    assert_true(when <= last - window && when > last - window - 12000);
    int i = (int)((when - (t0 - 200 * 1000)) / 2000);
    assert_int_equal(len, sizeof blob - (size_t)i);
    assert_int_equal(data[len - 1], i);
    free(data);
    assert_int_equal(alerts_profile(f.ab, s.a[0].id, 2, &data, &len, NULL), -ENOENT);
    assert_int_equal(alerts_profile(f.ab, 9999, 0, &data, &len, NULL), -ENOENT);
    json_t *j = alert_to_json(&s.a[0]);
    char want[96];
    snprintf(want, sizeof want, "/api/v1/alerts/%lld/profiles/base.pb.gz", (long long)s.a[0].id);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "profiles"), "base")),
                        want);
    json_decref(j);

    /* The kept profiles outlive the rolling ones. */
    for (int k = 0; k < 100; k++, ts += 2000)
        alerts_note_heap_profile(f.ab, f.t1, ts, blob, 5);
    assert_int_equal(alerts_profile(f.ab, s.a[0].id, 0, &data, &len, &when), 0);
    free(data);
    /* A restart between firing and the next profile: the next one still completes it. */
    judge(&f, f.t2, DETECT_LEAKING, LEAK_HEAP, last);
    assert_int_equal(list(&f, f.t2, false).a[0].n_profiles, 0);
    alerts_close(f.ab);
    open_alerts(&f, window, 0);
    alerts_note_heap_profile(f.ab, f.t2, last + 4000, blob, 10);
    assert_int_equal(list(&f, f.t2, false).a[0].n_profiles, 2);
    /* A target without profiles fires without evidence. */
    int64_t t3 = add_target(f.st, "third");
    struct leak_verdict v3 = verdict(DETECT_LEAKING, LEAK_HEAP, last, 1e9);
    alerts_update(f.ab, t3, "third", &v3, last);
    struct seen s3 = list(&f, t3, false);
    assert_int_equal(s3.n, 1);
    assert_int_equal(s3.a[0].n_profiles, 0);
    assert_int_equal(alerts_profile(f.ab, s3.a[0].id, 0, &data, &len, NULL), -ENOENT);
    fx_close(&f);
}

static void test_forget_and_purge(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, 30 * MIN_MS);
    judge(&f, f.t1, DETECT_LEAKING, LEAK_HEAP, t0);
    judge(&f, f.t1, DETECT_OK, LEAK_HEAP, t0 + 1000);
    judge(&f, f.t2, DETECT_LEAKING, LEAK_HEAP, t0);
    assert_int_equal(list(&f, 0, true).n, 2);
    /* Removing a target takes its rows (cascade) and its active alert. */
    assert_int_equal(store_target_remove(f.st, f.t2), 0);
    alerts_forget_target(f.ab, f.t2);
    assert_int_equal(list(&f, 0, true).n, 1);
    assert_int_equal(list(&f, 0, false).n, 0);
    /* Resolved alerts older than the history go. */
    alerts_close(f.ab);
    open_alerts(&f, 30 * MIN_MS, 60 * 1000);
    alerts_maintain(f.ab, t0 + 30 * 1000);
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM alerts"), 1);
    alerts_maintain(f.ab, t0 + 120 * 1000);
    assert_int_equal(sql_int(f.path, "SELECT count(*) FROM alerts"), 0);
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_pending_clears_quietly),
        cmocka_unit_test(test_persistence_and_gone),
        cmocka_unit_test(test_kind_follows_verdict),
        cmocka_unit_test(test_heap_culprits),
        cmocka_unit_test(test_goroutine_culprits),
        cmocka_unit_test(test_raw_profiles_kept),
        cmocka_unit_test(test_forget_and_purge),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
