/* insight.c - insights on retained heap and garbage churn (see insight.h).
 *
 * Why these thresholds.
 *
 * Retained heap.  Measured with Go 1.19.8 and tests/targets/goleaks -mode burst (300 MiB
 * allocated and touched, dropped, runtime.GC(), then idle), MemStats every second: with
 * GOGC=100, and with GOGC=400, the background scavenger returned the 300 MiB within 2 s of the
 * GC (RSS 317 -> 18 MiB, HeapIdle - HeapReleased < 1 MiB after); with GOGC=off, with or
 * without GOMEMLIMIT=1GiB, it kept all of it as long as we watched (RSS 317 MiB over 0.2 MiB
 * of live heap).  tests/corpus burst-release (no explicit GC) kept the dropped 300 MiB as
 * garbage until the next GC, then released it within 2 s too.  In steady churn the freed but
 * unreleased heap swings with each GC cycle, 2-19 MiB for a 16 MiB live set (the spans the
 * next cycle allocates into), up to a third of a small program's RSS.  The runtime forces a
 * GC at least every 2 minutes, and the scavenger trims what exceeds about 10 % over the heap
 * in use after each: memory retained without a break for 5 minutes, across two forced GCs,
 * is memory the runtime chose to keep (GOGC=off, a memory limit far above the heap, an older
 * Go with a slower scavenger), not a saw-tooth's.  At least 64 MiB and a quarter of RSS: less
 * does not change what RSS means.
 *
 * Churn.  Each allocation costs the allocator and the zeroing of its memory, and the GC runs
 * once per GOGC % of the live heap allocated: at 50 MiB/s a service with a 50 MiB live heap
 * collects about once a second, which is where reusing buffers starts to pay.  Measured with
 * goleaks -mode churn (256 KiB pointer-free buffers, GOMAXPROCS 2): 64 MiB/s cost 0.16 % of
 * the CPU in the GC, 256 MiB/s 0.7 % (and a tenth of a core in all, mostly allocating and
 * filling): the GC's share grows with the pointers it must scan, the allocation cost with
 * the rate, so either is a reason to look.  5 % of the CPU the program may use (GOMAXPROCS)
 * spent in the GC is where its cost is real whatever the rate. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "insight.h"
#include "metrics.h"
#include "pprof.h"
#include "profstore.h"
#include "store.h"
#include "targets.h"
#include "util.h"

#define MiB (1024.0 * 1024.0)
/* NextGC this high means no heap goal: GOGC=off without a memory limit (Go reports ~2^63). */
#define NO_HEAP_GOAL 1e15

static const char *const kind_names[INSIGHT_KIND_COUNT] = {
    [INSIGHT_RETAINED_HEAP] = "retained_heap",
    [INSIGHT_GC_CHURN] = "gc_churn",
};

const char *insight_kind_name(enum insight_kind k)
{
    return (unsigned)k < INSIGHT_KIND_COUNT ? kind_names[k] : "?";
}

void insight_config_default(struct insight_config *cfg, double speed)
{
    if (!(speed >= 1))
        speed = 1;
    cfg->window_ms = (int64_t)(10 * 60 * 1000 / speed);
    cfg->hold_ms = (int64_t)(5 * 60 * 1000 / speed);
    cfg->retained_min_bytes = 64 * MiB;
    cfg->retained_min_fraction = 0.25;
    cfg->churn_alloc_bytes_per_second = 50 * MiB;
    cfg->churn_gc_cpu_fraction = 0.05;
}

/* ---- the pure part ------------------------------------------------------------------------ */

static bool last_value(const struct insight_points *p, double *v)
{
    if (p->n == 0 || !isfinite(p->v[p->n - 1]))
        return false;
    *v = p->v[p->n - 1];
    return true;
}

static bool max_value(const struct insight_points *p, double *v)
{
    bool any = false;
    for (size_t i = 0; i < p->n; i++)
        if (isfinite(p->v[i]) && (!any || p->v[i] > *v)) {
            *v = p->v[i];
            any = true;
        }
    return any;
}

/* A counter's increase per second over the points, and the time they span.  A drop is a
 * restart (the new process counts from zero), so its value counts as the increase. */
static bool counter_rate(const struct insight_points *p, double *rate, int64_t *span_ms)
{
    if (p->n < 2 || p->ts_ms[p->n - 1] <= p->ts_ms[0])
        return false;
    double sum = 0;
    for (size_t i = 1; i < p->n; i++) {
        double d = p->v[i] - p->v[i - 1];
        if (!isfinite(d))
            continue;
        sum += d >= 0 ? d : p->v[i];
    }
    *span_ms = p->ts_ms[p->n - 1] - p->ts_ms[0];
    *rate = sum / ((double)*span_ms / 1000.0);
    return true;
}

/* GCCPUFraction is the GC's CPU time over GOMAXPROCS times the time since the program
 * started, as of the end of the latest GC.  Times its age it is the GC's CPU time so far; the
 * difference over the window, over the window, is the recent fraction.  Only points of the
 * current process count. */
static bool gc_cpu_recent(const struct insight_input *in, int64_t min_span_ms, double *out)
{
    const struct insight_points *p = &in->s[INS_GC_CPU_FRACTION];
    int64_t start = in->process_start_ms;
    if (start <= 0 || p->n < 2)
        return false;
    size_t first = 0;
    while (first < p->n && p->ts_ms[first] <= start)
        first++;
    if (first >= p->n - 1)
        return false;
    int64_t t1 = p->ts_ms[first], t2 = p->ts_ms[p->n - 1];
    if (t2 - t1 < min_span_ms)
        return false;
    double cpu1 = p->v[first] * (double)(t1 - start), cpu2 = p->v[p->n - 1] * (double)(t2 - start);
    double f = (cpu2 - cpu1) / (double)(t2 - t1);
    if (!isfinite(f))
        return false;
    *out = f < 0 ? 0 : f > 1 ? 1 : f;
    return true;
}

static void add_figure(struct insight *ins, const char *name, double value)
{
    if (ins->nfigures < INSIGHT_MAX_FIGURES && isfinite(value))
        ins->figures[ins->nfigures++] = (struct insight_figure){ name, value };
}

/* Appends to the insight's summary. */
static void say(struct insight *ins, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct insight *ins, const char *fmt, ...)
{
    size_t len = strlen(ins->summary);
    if (len + 1 >= sizeof ins->summary)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ins->summary + len, sizeof ins->summary - len, fmt, ap);
    va_end(ap);
}

static void retained_heap(const struct insight_input *in, const struct insight_config *cfg,
                          struct insight_list *out)
{
    const struct insight_points *idle = &in->s[INS_HEAP_IDLE], *rel = &in->s[INS_HEAP_RELEASED];
    double rss;
    if (!last_value(&in->s[INS_RSS], &rss) || rss <= 0)
        return;
    double bar = fmax(cfg->retained_min_bytes, cfg->retained_min_fraction * rss);
    /* Walk back over the scrapes (idle and released come from the same one, so they share
     * timestamps) while the runtime keeps at least the bar. */
    size_t i = idle->n, j = rel->n;
    double now = NAN;
    int64_t newest = 0, run_start = 0;
    bool broken = false;
    while (i > 0 && j > 0) {
        int64_t ti = idle->ts_ms[i - 1], tj = rel->ts_ms[j - 1];
        if (ti != tj) {
            if (ti > tj)
                i--;
            else
                j--;
            continue;
        }
        double r = idle->v[i - 1] - rel->v[j - 1];
        if (isnan(now)) {
            now = r;
            newest = ti;
        }
        if (!(r >= bar)) {
            broken = true;
            break;
        }
        run_start = ti;
        i--;
        j--;
    }
    if (!(now >= bar) || newest - run_start < cfg->hold_ms)
        return;

    struct insight *ins = &out->v[out->n++];
    memset(ins, 0, sizeof *ins);
    ins->kind = INSIGHT_RETAINED_HEAP;
    double inuse = NAN, peak = NAN, released = NAN, next_gc = NAN;
    (void)last_value(&in->s[INS_HEAP_INUSE], &inuse);
    (void)max_value(&in->s[INS_HEAP_INUSE], &peak);
    (void)last_value(rel, &released);
    (void)last_value(&in->s[INS_NEXT_GC], &next_gc);
    int64_t held = newest - run_start;
    add_figure(ins, "retained_bytes", now);
    add_figure(ins, "rss_bytes", rss);
    add_figure(ins, "retained_fraction_of_rss", now / rss);
    add_figure(ins, "retained_seconds", (double)held / 1000.0);
    add_figure(ins, "heap_inuse_bytes", inuse);
    add_figure(ins, "heap_inuse_peak_bytes", peak);
    add_figure(ins, "heap_released_bytes", released);

    char amount[32], dur[32], inuse_s[32], peak_s[32], window[32];
    format_bytes(now, amount, sizeof amount);
    format_duration_ms(held, dur, sizeof dur);
    format_duration_ms(in->to_ms - in->from_ms, window, sizeof window);
    say(ins, "The Go runtime has kept %s of freed heap (%.0f%% of RSS) for %s%s without "
        "returning it to the OS", amount, 100.0 * now / rss, broken ? "" : "at least ", dur);
    if (isfinite(inuse)) {
        say(ins, ", while the heap in use is %s", format_bytes(inuse, inuse_s, sizeof inuse_s));
        if (isfinite(peak) && peak >= 2 * inuse && peak - inuse >= cfg->retained_min_bytes)
            say(ins, " (it was %s within the last %s)", format_bytes(peak, peak_s, sizeof peak_s),
                window);
    }
    say(ins, ". This is memory kept after a burst, not a leak. To give it back sooner, call "
        "debug.FreeOSMemory() once the burst is over, or set (or lower) GOMEMLIMIT: the runtime "
        "returns memory above it promptly.");
    if (isfinite(next_gc) && next_gc >= NO_HEAP_GOAL)
        say(ins, " The GC is off (GOGC=off): it runs, and returns memory, only when the program "
            "asks or near GOMEMLIMIT.");
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static void gc_churn(const struct insight_input *in, const struct insight_config *cfg,
                     struct insight_list *out)
{
    double alloc = NAN, mallocs = NAN, gcs = NAN, cpu = NAN;
    int64_t span = 0, s2;
    /* Rates need the hold's worth of data, so a start-up or one busy minute is not churn. */
    if (!counter_rate(&in->s[INS_ALLOC_TOTAL], &alloc, &span) || span < cfg->hold_ms)
        alloc = NAN;
    if (!counter_rate(&in->s[INS_MALLOCS_TOTAL], &mallocs, &s2) || s2 < cfg->hold_ms)
        mallocs = NAN;
    if (!counter_rate(&in->s[INS_GC_TOTAL], &gcs, &s2) || s2 < cfg->hold_ms)
        gcs = NAN;
    bool recent = gc_cpu_recent(in, cfg->hold_ms, &cpu);
    if (!recent && !last_value(&in->s[INS_GC_CPU_FRACTION], &cpu))
        cpu = NAN;
    bool heavy_alloc = alloc >= cfg->churn_alloc_bytes_per_second;
    bool heavy_gc = cpu >= cfg->churn_gc_cpu_fraction;
    if (!heavy_alloc && !heavy_gc)
        return;

    struct insight *ins = &out->v[out->n++];
    memset(ins, 0, sizeof *ins);
    ins->kind = INSIGHT_GC_CHURN;
    double heap = NAN, next_gc = NAN;
    (void)last_value(&in->s[INS_HEAP_ALLOC], &heap);
    (void)last_value(&in->s[INS_NEXT_GC], &next_gc);
    add_figure(ins, "alloc_bytes_per_second", alloc);
    add_figure(ins, "allocs_per_second", mallocs);
    add_figure(ins, "gc_per_second", gcs);
    add_figure(ins, recent ? "gc_cpu_fraction" : "gc_cpu_fraction_since_start", cpu);
    add_figure(ins, "window_seconds", span > 0 ? (double)span / 1000.0 : NAN);
    add_figure(ins, "heap_alloc_bytes", heap);
    add_figure(ins, "next_gc_bytes", next_gc < NO_HEAP_GOAL ? next_gc : NAN);

    char rate[32], window[32];
    format_duration_ms(span > 0 ? span : in->to_ms - in->from_ms, window, sizeof window);
    if (isfinite(alloc)) {
        say(ins, "Over the last %s the program allocated %s/s", window,
            format_bytes(alloc, rate, sizeof rate));
        if (isfinite(mallocs))
            say(ins, " (%.0f objects a second)", mallocs);
        if (isfinite(gcs))
            say(ins, " and collected garbage %.1f times a second", gcs);
        say(ins, ".");
    }
    if (isfinite(cpu))
        say(ins, "%sThe GC took %.*f%% of the CPU it may use (GOMAXPROCS) %s.",
            ins->summary[0] ? " " : "", cpu < 0.01 ? 2 : 1, 100.0 * cpu,
            recent ? "over that time" : "since the program started");

    ins->nsites = in->nsites < INSIGHT_MAX_SITES ? in->nsites : INSIGHT_MAX_SITES;
    memcpy(ins->sites, in->sites, ins->nsites * sizeof ins->sites[0]);
    if (ins->nsites > 0) {
        for (size_t k = 0; k < ins->nsites && k < 3; k++) {
            const struct insight_site *s = &ins->sites[k];
            say(ins, "%s %s (%s:%lld) at %s/s", k == 0 ? " Most of the allocation comes from"
                                               : k + 1 < ins->nsites && k < 2 ? ","
                                                                              : ", and",
                s->function, base_name(s->file), (long long)s->line,
                format_bytes(s->bytes_per_second, rate, sizeof rate));
        }
        say(ins, ": reusing buffers there (keep one and Reset it, or take them from a "
            "sync.Pool) cuts the garbage and the collector's work.");
    } else {
        say(ins, " There are not two heap profiles of this time yet to name where it is "
            "allocated.");
    }
    if (heavy_gc)
        say(ins, " With the GC this busy, a higher GOGC (or GOMEMLIMIT with a higher GOGC) "
            "trades memory for fewer collections.");
}

size_t insight_compute(const struct insight_input *in, const struct insight_config *cfg,
                       struct insight_list *out)
{
    out->n = 0;
    retained_heap(in, cfg, out);
    gc_churn(in, cfg, out);
    return out->n;
}

/* ---- gathering ----------------------------------------------------------------------------- */

static const enum metric_id series_metric[INS_SERIES_COUNT] = {
    [INS_RSS] = M_RSS,
    [INS_HEAP_ALLOC] = M_GO_HEAP_ALLOC,
    [INS_HEAP_INUSE] = M_GO_HEAP_INUSE,
    [INS_HEAP_IDLE] = M_GO_HEAP_IDLE,
    [INS_HEAP_RELEASED] = M_GO_HEAP_RELEASED,
    [INS_NEXT_GC] = M_GO_NEXT_GC,
    [INS_ALLOC_TOTAL] = M_GO_TOTAL_ALLOC,
    [INS_MALLOCS_TOTAL] = M_GO_MALLOCS,
    [INS_GC_TOTAL] = M_GO_NUM_GC,
    [INS_GC_CPU_FRACTION] = M_GO_GC_CPU_FRACTION,
};

struct collector {
    struct insight_points *p;
    double scale;
};

static int collect(void *arg, const struct store_point *pt)
{
    struct collector *c = arg;
    if (c->p->n >= INSIGHT_MAX_POINTS)
        return 1;
    c->p->ts_ms[c->p->n] = pt->ts_ms;
    c->p->v[c->p->n++] = pt->avg * c->scale;
    return 0;
}

/* Keeps the INSIGHT_MAX_SITES sites that allocated most, largest first. */
static void top_sites(const struct profstore_diff *d, struct insight_input *in)
{
    double secs = (double)(d->to_ms - d->from_ms) / 1000.0;
    in->nsites = 0;
    if (!(secs > 0))
        return;
    for (size_t i = 0; i < d->nsites; i++) {
        const struct profstore_diff_site *s = &d->sites[i];
        double rate = (double)s->delta[PV_ALLOC_BYTES] / secs;
        if (!(rate > 0))
            continue;   /* nothing allocated, or a restart between the profiles */
        size_t k = in->nsites;
        if (k == INSIGHT_MAX_SITES) {
            if (rate <= in->sites[k - 1].bytes_per_second)
                continue;
            k--;
        } else {
            in->nsites++;
        }
        while (k > 0 && in->sites[k - 1].bytes_per_second < rate) {
            in->sites[k] = in->sites[k - 1];
            k--;
        }
        struct insight_site *o = &in->sites[k];
        snprintf(o->function, sizeof o->function, "%s", s->user_func);
        snprintf(o->file, sizeof o->file, "%s", s->user_file);
        o->line = s->user_line;
        bool same = strcmp(s->leaf_func, s->user_func) == 0 && s->leaf_line == s->user_line;
        snprintf(o->leaf_function, sizeof o->leaf_function, "%s", same ? "" : s->leaf_func);
        o->bytes_per_second = rate;
    }
    in->sites_from_ms = d->from_ms;
    in->sites_to_ms = d->to_ms;
}

int insight_gather(struct store *st, struct profstore *ps, const struct target *t,
                   const struct insight_config *cfg, int64_t now_ms, struct insight_input *in)
{
    const struct target_record *rec = target_record(t);
    memset(in, 0, sizeof *in);
    in->to_ms = now_ms;
    in->from_ms = now_ms - cfg->window_ms;
    if (!rec->endpoint[0])
        return -ENODATA;
    size_t nproc;
    const struct target_proc *procs = target_processes(t, &nproc);
    /* Several processes behind one endpoint: which one answers is unknown. */
    if (nproc == 1)
        in->process_start_ms = procs[0].start_time_ms;
    /* Buckets of whole seconds that keep a window within INSIGHT_MAX_POINTS, edges included;
     * the series' buckets line up, so the scrape's idle and released stay paired. */
    int64_t step = (cfg->window_ms / (INSIGHT_MAX_POINTS - 16) + 999) / 1000 * 1000;
    bool any_go = false;
    for (int k = 0; k < INS_SERIES_COUNT; k++) {
        const struct metric_info *mi = metric_info(series_metric[k]);
        struct store_series *s = store_series_find(st, rec->id, mi->name);
        if (!s)
            continue;
        struct collector c = { &in->s[k], mi->scale };
        int rc = store_query(st, s, in->from_ms, in->to_ms, step, collect, &c, NULL);
        if (rc < 0)
            return rc;
        any_go = any_go || (k != INS_RSS && in->s[k].n > 0);
    }
    if (!any_go)
        return -ENODATA;
    if (ps) {
        struct profstore_diff *d = NULL;
        if (profstore_diff(ps, rec->id, PPROF_HEAP, in->from_ms, in->to_ms, 0, &d) == 0) {
            top_sites(d, in);
            profstore_diff_free(d);
        }
        /* -ENOENT (fewer than two profiles) or a failure: no sites, said in the summary. */
    }
    return 0;
}
