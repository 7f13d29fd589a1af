/* insight.h - what is worth knowing about a Go target's memory that is not an alert.
 *
 * Two insights, judged on the target's last window (10 minutes) of Go series and heap
 * profiles:
 *   retained_heap  the runtime keeps freed heap (HeapIdle - HeapReleased) resident instead
 *                  of returning it to the OS: at least 64 MiB and a quarter of RSS, without
 *                  a break for `hold` (5 minutes).  Memory kept after a burst, not a leak;
 *                  debug.FreeOSMemory or GOMEMLIMIT give it back.
 *   gc_churn       heavy garbage: at least 50 MiB/s allocated over the window, or the GC
 *                  taking at least 5 % of the CPU the program may use (GOMAXPROCS); with the
 *                  sites allocating most (heap profiles compared over the window), where
 *                  reusing buffers (a kept buffer, a sync.Pool) cuts allocation and GC work.
 * insight.c says why these thresholds, from what Go 1.19 was measured to do.
 *
 * insight_compute() is a pure function of a summary of the series (insight_input);
 * insight_gather() builds that summary from the store and the profile store.  Both run on
 * request (the API), never on a tick: together a few milliseconds, most of it the profile
 * diff.  [detect] speed divides the window and the hold like every detection duration; the
 * rates are not scaled. */
#ifndef MEMWATCH_INSIGHT_H
#define MEMWATCH_INSIGHT_H

#include <stddef.h>
#include <stdint.h>

struct store;
struct profstore;
struct target;

enum insight_kind { INSIGHT_RETAINED_HEAP = 0, INSIGHT_GC_CHURN, INSIGHT_KIND_COUNT };
const char *insight_kind_name(enum insight_kind k);    /* "retained_heap", "gc_churn" */

struct insight_config {
    int64_t window_ms;                      /* judged on this much history; default 10 min */
    int64_t hold_ms;                        /* retained this long without a break; 5 min */
    double retained_min_bytes;              /* default 64 MiB */
    double retained_min_fraction;           /* of RSS; default 0.25 */
    double churn_alloc_bytes_per_second;    /* default 50 MiB/s */
    double churn_gc_cpu_fraction;           /* default 0.05 */
};

/* Production defaults, durations divided by speed (>= 1). */
void insight_config_default(struct insight_config *cfg, double speed);

/* ---- input: the window's series, in API units (bytes, counts, fractions) ----------------- */
enum insight_series {
    INS_RSS, INS_HEAP_ALLOC, INS_HEAP_INUSE, INS_HEAP_IDLE, INS_HEAP_RELEASED, INS_NEXT_GC,
    INS_ALLOC_TOTAL, INS_MALLOCS_TOTAL, INS_GC_TOTAL, INS_GC_CPU_FRACTION, INS_SERIES_COUNT
};

#define INSIGHT_MAX_POINTS 256
struct insight_points {
    size_t n;
    int64_t ts_ms[INSIGHT_MAX_POINTS];      /* increasing */
    double v[INSIGHT_MAX_POINTS];
};

#define INSIGHT_MAX_SITES 5
struct insight_site {
    char function[256], file[256];          /* the program's own frame (pprof.h "user") */
    int64_t line;
    char leaf_function[256];                /* where it allocated, "" when the same frame */
    double bytes_per_second;
};

struct insight_input {
    int64_t from_ms, to_ms;                 /* the window; to_ms is "now" */
    int64_t process_start_ms;               /* of the Go process; 0 if unknown */
    struct insight_points s[INS_SERIES_COUNT];
    size_t nsites;                          /* allocation sites, largest rate first */
    struct insight_site sites[INSIGHT_MAX_SITES];
    int64_t sites_from_ms, sites_to_ms;     /* the two heap profiles compared (0: none) */
};

/* ---- output ------------------------------------------------------------------------------- */
#define INSIGHT_MAX_FIGURES 10
struct insight_figure {
    const char *name;                       /* a static string: "retained_bytes", ... */
    double value;
};

struct insight {
    enum insight_kind kind;
    char summary[768];                      /* plain words, with the figures */
    size_t nfigures;
    struct insight_figure figures[INSIGHT_MAX_FIGURES];
    size_t nsites;                          /* gc_churn: where allocation comes from */
    struct insight_site sites[INSIGHT_MAX_SITES];
};

struct insight_list {
    size_t n;
    struct insight v[INSIGHT_KIND_COUNT];
};

/* Judges in against cfg.  Returns the number of insights in out (0: nothing to say). */
size_t insight_compute(const struct insight_input *in, const struct insight_config *cfg,
                       struct insight_list *out);

/* Fills in with target t's window ending at now_ms: its series from st, its process's start,
 * and the top allocation sites from the first and last heap profile of the window in ps (ps
 * may be NULL).  0; -ENODATA when the target has no Go series at all; another negative errno
 * when the store fails (store_errmsg says why). */
int insight_gather(struct store *st, struct profstore *ps, const struct target *t,
                   const struct insight_config *cfg, int64_t now_ms, struct insight_input *in);

#endif
