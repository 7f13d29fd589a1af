/* test_insight.c - unit tests for insight_compute (daemon/insight.c) on synthetic series.
 *
 * Exercises: a burst dropped with the freed heap kept (GOGC=off: retained_heap with its
 * figures, the peak, the GC-off sentence, no churn); the same burst returned to the OS by the
 * scavenger (nothing); a run of retained memory shorter than the hold (nothing) and longer
 * (its exact duration); retained memory that is large but a small part of RSS (nothing); a
 * GC saw-tooth whose idle spans refill each cycle (nothing); heavy churn (gc_churn with the
 * rates, the recent GC CPU derived from the cumulative fraction and the process start, the
 * sites named in order); a busy GC with little allocation (the GOGC advice), and the
 * since-start fraction when the start is unknown; churn without profiles; a calm program
 * (nothing); a counter reset by a restart inside the window; too little history; the
 * default configuration and its speed scaling. */
#include "config.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "insight.h"

#define MiB (1024.0 * 1024.0)
#define T0 INT64_C(1800000000000)      /* "now" in every test */
#define WINDOW INT64_C(600000)
#define STEP INT64_C(10000)             /* a scrape every 10 s */

static struct insight_config cfg;

static int setup(void **state)
{
    insight_config_default(&cfg, 1);
    return 0;
}

static struct insight_input *new_input(void)
{
    struct insight_input *in = calloc(1, sizeof *in);
    assert_non_null(in);
    in->to_ms = T0;
    in->from_ms = T0 - WINDOW;
    in->process_start_ms = T0 - 3600 * 1000;
    return in;
}

static void push(struct insight_input *in, enum insight_series k, int64_t ts, double v)
{
    struct insight_points *p = &in->s[k];
    assert_true(p->n < INSIGHT_MAX_POINTS);
    p->ts_ms[p->n] = ts;
    p->v[p->n++] = v;
}

/* Scrapes every 10 s over the window: f(t) gives each series' value at t seconds before now
 * (t from 600 down to 0), or NAN to leave the point out. */
typedef double (*series_fn)(enum insight_series k, double secs_ago);

static void fill(struct insight_input *in, series_fn f)
{
    for (int64_t ts = in->from_ms; ts <= in->to_ms; ts += STEP) {
        double ago = (double)(in->to_ms - ts) / 1000.0;
        for (int k = 0; k < INS_SERIES_COUNT; k++) {
            double v = f((enum insight_series)k, ago);
            if (!isnan(v))
                push(in, (enum insight_series)k, ts, v);
        }
    }
}

static const struct insight *find(const struct insight_list *l, enum insight_kind kind)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].kind == kind)
            return &l->v[i];
    return NULL;
}

static double figure(const struct insight *ins, const char *name)
{
    for (size_t i = 0; i < ins->nfigures; i++)
        if (strcmp(ins->figures[i].name, name) == 0)
            return ins->figures[i].value;
    return NAN;
}

/* ---- retained heap ------------------------------------------------------------------------ */

/* 300 MiB loaded, held, dropped 400 s ago; how the runtime treats the freed heap depends on
 * released_after (seconds after the drop it is returned; < 0: never). */
static double drop_ago = 400, released_after = -1;

static double burst(enum insight_series k, double ago)
{
    bool dropped = ago <= drop_ago;
    bool returned = dropped && released_after >= 0 && ago <= drop_ago - released_after;
    switch (k) {
    case INS_RSS: return (returned ? 18 : 320) * MiB;
    case INS_HEAP_ALLOC: return (dropped ? 0.2 : 300.2) * MiB;
    case INS_HEAP_INUSE: return (dropped ? 0.8 : 300.8) * MiB;
    case INS_HEAP_IDLE: return (dropped ? 302.9 : 2.9) * MiB;
    case INS_HEAP_RELEASED: return (returned ? 302.4 : 2.6) * MiB;
    case INS_NEXT_GC: return 8796093022196.4 * MiB;     /* GOGC=off, as Go reports it */
    case INS_ALLOC_TOTAL: return 310 * MiB;
    case INS_MALLOCS_TOTAL: return 9000;
    case INS_GC_TOTAL: return 1;
    case INS_GC_CPU_FRACTION: return 0.00001;
    default: return NAN;
    }
}

static void test_burst_kept(void **state)
{
    drop_ago = 400;
    released_after = -1;
    struct insight_input *in = new_input();
    fill(in, burst);
    struct insight_list out;
    assert_int_equal(insight_compute(in, &cfg, &out), 1);
    const struct insight *r = find(&out, INSIGHT_RETAINED_HEAP);
    assert_non_null(r);
    assert_null(find(&out, INSIGHT_GC_CHURN));
    assert_true(fabs(figure(r, "retained_bytes") - 300.3 * MiB) < 1);
    assert_true(fabs(figure(r, "rss_bytes") - 320 * MiB) < 1);
    assert_true(fabs(figure(r, "retained_fraction_of_rss") - 300.3 / 320) < 1e-9);
    assert_true(figure(r, "retained_seconds") == 400);
    assert_true(fabs(figure(r, "heap_inuse_peak_bytes") - 300.8 * MiB) < 1);
    assert_true(fabs(figure(r, "heap_inuse_bytes") - 0.8 * MiB) < 1);
    print_message("# %s\n", r->summary);
    assert_non_null(strstr(r->summary, "300 MiB of freed heap (94% of RSS) for 6m40s"));
    assert_non_null(strstr(r->summary, "not a leak"));
    assert_non_null(strstr(r->summary, "debug.FreeOSMemory()"));
    assert_non_null(strstr(r->summary, "GOMEMLIMIT"));
    assert_non_null(strstr(r->summary, "GOGC=off"));
    assert_non_null(strstr(r->summary, "it was 301 MiB within the last 10m"));
    assert_int_equal(r->nsites, 0);
    free(in);
}

static void test_burst_returned(void **state)
{
    /* What Go 1.19 does by default: the scavenger returns it 2 s after the GC. */
    drop_ago = 400;
    released_after = 2;
    struct insight_input *in = new_input();
    fill(in, burst);
    struct insight_list out;
    assert_int_equal(insight_compute(in, &cfg, &out), 0);
    free(in);
}

static void test_hold(void **state)
{
    released_after = -1;
    /* Dropped 3 minutes ago: kept, but not yet for the 5 minute hold. */
    drop_ago = 180;
    struct insight_input *in = new_input();
    fill(in, burst);
    struct insight_list out;
    assert_int_equal(insight_compute(in, &cfg, &out), 0);
    free(in);
    /* Exactly the hold: 300 s between the first and the newest scrape that kept it. */
    drop_ago = 300;
    in = new_input();
    fill(in, burst);
    assert_int_equal(insight_compute(in, &cfg, &out), 1);
    assert_true(figure(&out.v[0], "retained_seconds") == 300);
    assert_non_null(strstr(out.v[0].summary, "for 5m without"));
    free(in);
    /* Since before the window: "at least" the window. */
    drop_ago = 1000;
    in = new_input();
    fill(in, burst);
    assert_int_equal(insight_compute(in, &cfg, &out), 1);
    assert_non_null(strstr(out.v[0].summary, "for at least 10m"));
    /* no peak in the window to speak of */
    assert_null(strstr(out.v[0].summary, "it was"));
    free(in);
    drop_ago = 400;
}

static double big_rss(enum insight_series k, double ago)
{
    switch (k) {
    case INS_RSS: return 2048 * MiB;
    case INS_HEAP_INUSE: return 1800 * MiB;
    case INS_HEAP_IDLE: return 104 * MiB;
    case INS_HEAP_RELEASED: return 4 * MiB;
    default: return NAN;
    }
}

static void test_small_part_of_rss(void **state)
{
    /* 100 MiB kept, but 5 % of a 2 GiB process: not what its RSS is about. */
    struct insight_input *in = new_input();
    fill(in, big_rss);
    struct insight_list out;
    assert_int_equal(insight_compute(in, &cfg, &out), 0);
    free(in);
}

static double sawtooth(enum insight_series k, double ago)
{
    /* A GC every 30 s: the freed spans (up to 90 MiB) are allocated into again before the
     * next one, so idle swings from 90 down to 5 MiB; the scrapes catch it at 76, 19 and
     * 48 MiB in turn, the newest above the bar. */
    double phase = fmod(ago + 25, 30.0) / 30.0;
    switch (k) {
    case INS_RSS: return 200 * MiB;
    case INS_HEAP_INUSE: return (180 - 85 * phase) * MiB;
    case INS_HEAP_IDLE: return (5 + 85 * phase) * MiB;
    case INS_HEAP_RELEASED: return 1 * MiB;
    default: return NAN;
    }
}

static void test_sawtooth(void **state)
{
    struct insight_input *in = new_input();
    fill(in, sawtooth);
    struct insight_list out;
    assert_int_equal(insight_compute(in, &cfg, &out), 0);
    free(in);
}

/* ---- churn --------------------------------------------------------------------------------- */

static double alloc_rate = 64 * MiB, gc_cpu_now = 0.0015;

static double churn(enum insight_series k, double ago)
{
    double t = 600 - ago;       /* seconds since the window began */
    switch (k) {
    case INS_RSS: return 26 * MiB;
    case INS_HEAP_ALLOC: return 12 * MiB;
    case INS_HEAP_INUSE: return 14 * MiB;
    case INS_HEAP_IDLE: return 5 * MiB;
    case INS_HEAP_RELEASED: return 1 * MiB;
    case INS_NEXT_GC: return 20 * MiB;
    case INS_ALLOC_TOTAL: return 1e10 + alloc_rate * t;
    case INS_MALLOCS_TOTAL: return 5e6 + 256 * t;
    case INS_GC_TOTAL: return 3000 + 8 * t;
    case INS_GC_CPU_FRACTION: return gc_cpu_now;
    default: return NAN;
    }
}

static void add_site(struct insight_input *in, const char *fn, const char *file, int line,
                     const char *leaf, double rate)
{
    struct insight_site *s = &in->sites[in->nsites++];
    snprintf(s->function, sizeof s->function, "%s", fn);
    snprintf(s->file, sizeof s->file, "%s", file);
    s->line = line;
    snprintf(s->leaf_function, sizeof s->leaf_function, "%s", leaf);
    s->bytes_per_second = rate;
}

static void test_heavy_churn(void **state)
{
    alloc_rate = 64 * MiB;
    gc_cpu_now = 0.0015;
    struct insight_input *in = new_input();
    fill(in, churn);
    add_site(in, "main.renderPage", "/src/goleaks/main.go", 141, "bytes.makeSlice", 60 * MiB);
    add_site(in, "main.churn.func1", "/src/goleaks/main.go", 231, "", 4 * MiB);
    in->sites_from_ms = in->from_ms;
    in->sites_to_ms = in->to_ms;
    struct insight_list out;
    assert_int_equal(insight_compute(in, &cfg, &out), 1);
    const struct insight *c = find(&out, INSIGHT_GC_CHURN);
    assert_non_null(c);
    print_message("# %s\n", c->summary);
    assert_true(fabs(figure(c, "alloc_bytes_per_second") - 64 * MiB) < 1);
    assert_true(fabs(figure(c, "allocs_per_second") - 256) < 1e-6);
    assert_true(fabs(figure(c, "gc_per_second") - 8) < 1e-9);
    assert_true(figure(c, "window_seconds") == 600);
    /* A constant cumulative fraction over the window: the recent one is the same. */
    assert_true(fabs(figure(c, "gc_cpu_fraction") - 0.0015) < 1e-9);
    assert_true(isnan(figure(c, "gc_cpu_fraction_since_start")));
    assert_int_equal(c->nsites, 2);
    assert_string_equal(c->sites[0].function, "main.renderPage");
    assert_non_null(strstr(c->summary, "allocated 64 MiB/s"));
    assert_non_null(strstr(c->summary, "8.0 times a second"));
    assert_non_null(strstr(c->summary, "0.15% of the CPU"));
    assert_non_null(strstr(c->summary, "Most of the allocation comes from main.renderPage (main.go:141) "
                                       "at 60 MiB/s, and main.churn.func1 (main.go:231) at 4 MiB/s"));
    assert_non_null(strstr(c->summary, "sync.Pool"));
    assert_null(strstr(c->summary, "GOGC"));
    free(in);

    /* The same without profiles: said so. */
    in = new_input();
    fill(in, churn);
    assert_int_equal(insight_compute(in, &cfg, &out), 1);
    assert_non_null(strstr(out.v[0].summary, "not two heap profiles"));
    free(in);
}

/* The GC's cumulative fraction for a process started 1 h before the window, spending `recent`
 * of the CPU in the window after 0.5 % before it. */
static double recent_cpu = 0.10;

static double busy_gc(enum insight_series k, double ago)
{
    double since_start = 3600 - ago;        /* process_start_ms is an hour before now */
    double before = 3000 * 0.005;           /* the GC's CPU seconds when the window began */
    double t = 600 - ago;
    switch (k) {
    case INS_RSS: return 900 * MiB;
    case INS_HEAP_ALLOC: return 600 * MiB;
    case INS_ALLOC_TOTAL: return 1e9 + 20 * MiB * t;
    case INS_GC_TOTAL: return 100 + 0.5 * t;
    case INS_GC_CPU_FRACTION: return (before + recent_cpu * t) / since_start;
    default: return NAN;
    }
}

static void test_busy_gc(void **state)
{
    struct insight_input *in = new_input();
    fill(in, busy_gc);
    struct insight_list out;
    assert_int_equal(insight_compute(in, &cfg, &out), 1);
    const struct insight *c = &out.v[0];
    assert_int_equal(c->kind, INSIGHT_GC_CHURN);
    print_message("# %s\n", c->summary);
    assert_true(fabs(figure(c, "gc_cpu_fraction") - 0.10) < 1e-6);
    assert_true(fabs(figure(c, "alloc_bytes_per_second") - 20 * MiB) < 1);
    assert_non_null(strstr(c->summary, "10.0% of the CPU it may use (GOMAXPROCS) over that time"));
    assert_non_null(strstr(c->summary, "higher GOGC"));
    free(in);

    /* Without the process's start only the fraction since then is known, and named so:
     * 0.5 % before and 10 % in the last 10 minutes of an hour is 2.08 % since the start,
     * below the bar. */
    in = new_input();
    fill(in, busy_gc);
    in->process_start_ms = 0;
    assert_int_equal(insight_compute(in, &cfg, &out), 0);
    recent_cpu = 0.40;      /* 7.1 % since the start */
    free(in);
    in = new_input();
    fill(in, busy_gc);
    in->process_start_ms = 0;
    assert_int_equal(insight_compute(in, &cfg, &out), 1);
    assert_true(isnan(figure(&out.v[0], "gc_cpu_fraction")));
    assert_true(fabs(figure(&out.v[0], "gc_cpu_fraction_since_start") - (15 + 240) / 3600.0) < 1e-9);
    assert_non_null(strstr(out.v[0].summary, "since the program started"));
    recent_cpu = 0.10;
    free(in);
}

static void test_calm(void **state)
{
    alloc_rate = 1 * MiB;
    gc_cpu_now = 0.0003;
    struct insight_input *in = new_input();
    fill(in, churn);
    struct insight_list out;
    assert_int_equal(insight_compute(in, &cfg, &out), 0);
    free(in);
    alloc_rate = 64 * MiB;
    gc_cpu_now = 0.0015;
    /* Nothing at all: a target whose scrapes have not begun. */
    in = new_input();
    assert_int_equal(insight_compute(in, &cfg, &out), 0);
    free(in);
}

static void test_restart_and_short_history(void **state)
{
    /* The process restarted halfway: its counters began again from zero. */
    struct insight_input *in = new_input();
    for (int64_t ts = in->from_ms; ts <= in->to_ms; ts += STEP) {
        double t = (double)(ts - in->from_ms) / 1000.0;
        double v = t < 300 ? 5e9 + 64 * MiB * t : 64 * MiB * (t - 300 + 5);
        push(in, INS_ALLOC_TOTAL, ts, v);
        push(in, INS_RSS, ts, 30 * MiB);
    }
    struct insight_list out;
    assert_int_equal(insight_compute(in, &cfg, &out), 1);
    double r = figure(&out.v[0], "alloc_bytes_per_second");
    assert_true(r > 60 * MiB && r < 66 * MiB);
    free(in);

    /* Two minutes of data at 500 MiB/s: not yet a reason (less than the hold). */
    in = new_input();
    for (int64_t ts = in->to_ms - 120000; ts <= in->to_ms; ts += STEP)
        push(in, INS_ALLOC_TOTAL, ts, 500 * MiB * (double)(ts - in->from_ms) / 1000.0);
    assert_int_equal(insight_compute(in, &cfg, &out), 0);
    free(in);
}

static void test_config(void **state)
{
    struct insight_config c;
    insight_config_default(&c, 1);
    assert_int_equal(c.window_ms, 600000);
    assert_int_equal(c.hold_ms, 300000);
    assert_true(c.retained_min_bytes == 64 * MiB);
    assert_true(c.churn_alloc_bytes_per_second == 50 * MiB);
    insight_config_default(&c, 20);
    assert_int_equal(c.window_ms, 30000);
    assert_int_equal(c.hold_ms, 15000);
    assert_true(c.churn_alloc_bytes_per_second == 50 * MiB);   /* rates are not scaled */
    insight_config_default(&c, 0);
    assert_int_equal(c.window_ms, 600000);
    assert_string_equal(insight_kind_name(INSIGHT_RETAINED_HEAP), "retained_heap");
    assert_string_equal(insight_kind_name(INSIGHT_GC_CHURN), "gc_churn");
    assert_string_equal(insight_kind_name(INSIGHT_KIND_COUNT), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_kept),
        cmocka_unit_test(test_burst_returned),
        cmocka_unit_test(test_hold),
        cmocka_unit_test(test_small_part_of_rss),
        cmocka_unit_test(test_sawtooth),
        cmocka_unit_test(test_heavy_churn),
        cmocka_unit_test(test_busy_gc),
        cmocka_unit_test(test_calm),
        cmocka_unit_test(test_restart_and_short_history),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
