/* promtext.c - the Go runtime's metrics from a Prometheus text page (format 0.0.4).
 *
 * The body is walked line by line in place: it is not NUL-terminated and is never copied;
 * only a value token is, into a small bounded buffer, for strtod.  Work is linear in len
 * whatever the input.  Each line is
 *     name [ "{" label="value" { "," label="value" } [","] "}" ] value [ timestamp ]
 * and the label values may hold \\, \" and \n escapes, '{', '}', ',' and '#'.
 *
 * Names: client_golang's Go collector (techref 6.1).  Values are Go floats, and anything
 * from 1e6 up is written with an exponent (2.3584768e+07), hence strtod, never strtoull.
 * Newer client_golang versions may also (or only) expose runtime/metrics series
 * (go_memory_classes_*, go_gc_*, go_sched_*): those that equal a MemStats field exactly
 * (checked against Go 1.19's runtime/metrics.go and mstats.go) are read too, but a
 * go_memstats_* sample always wins over them.  For one name, an unlabelled sample wins over
 * labelled ones, and otherwise the first sample seen is kept.
 *
 * strtod honours LC_NUMERIC; memwatchd never calls setlocale, so the decimal point is '.'. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promtext.h"

enum value_kind { V_COUNT, V_FRACTION };

/* rank: 0 for client_golang's MemStats names, 1 for runtime/metrics names. */
static const struct {
    const char *name;
    enum metric_id id;
    enum value_kind kind;
    int rank;
} prom_names[] = {
    /* Alloc, which is HeapAlloc under another name (techref 3.2). */
    { "go_memstats_alloc_bytes", M_GO_HEAP_ALLOC, V_COUNT, 0 },
    { "go_memstats_heap_alloc_bytes", M_GO_HEAP_ALLOC, V_COUNT, 0 },
    { "go_memstats_heap_inuse_bytes", M_GO_HEAP_INUSE, V_COUNT, 0 },
    { "go_memstats_heap_idle_bytes", M_GO_HEAP_IDLE, V_COUNT, 0 },
    { "go_memstats_heap_released_bytes", M_GO_HEAP_RELEASED, V_COUNT, 0 },
    { "go_memstats_heap_sys_bytes", M_GO_HEAP_SYS, V_COUNT, 0 },
    { "go_memstats_heap_objects", M_GO_HEAP_OBJECTS, V_COUNT, 0 },
    { "go_memstats_stack_inuse_bytes", M_GO_STACK_INUSE, V_COUNT, 0 },
    { "go_memstats_stack_sys_bytes", M_GO_STACK_SYS, V_COUNT, 0 },
    { "go_memstats_mspan_inuse_bytes", M_GO_MSPAN_INUSE, V_COUNT, 0 },
    { "go_memstats_mspan_sys_bytes", M_GO_MSPAN_SYS, V_COUNT, 0 },
    { "go_memstats_mcache_inuse_bytes", M_GO_MCACHE_INUSE, V_COUNT, 0 },
    { "go_memstats_mcache_sys_bytes", M_GO_MCACHE_SYS, V_COUNT, 0 },
    { "go_memstats_gc_sys_bytes", M_GO_GC_SYS, V_COUNT, 0 },
    { "go_memstats_buck_hash_sys_bytes", M_GO_BUCKHASH_SYS, V_COUNT, 0 },
    { "go_memstats_other_sys_bytes", M_GO_OTHER_SYS, V_COUNT, 0 },
    { "go_memstats_sys_bytes", M_GO_SYS, V_COUNT, 0 },
    { "go_memstats_next_gc_bytes", M_GO_NEXT_GC, V_COUNT, 0 },
    { "go_memstats_alloc_bytes_total", M_GO_TOTAL_ALLOC, V_COUNT, 0 },
    { "go_memstats_mallocs_total", M_GO_MALLOCS, V_COUNT, 0 },
    { "go_memstats_frees_total", M_GO_FREES, V_COUNT, 0 },
    /* Dropped by client_golang for Go >= 1.17 builds (techref 6.1): often absent. */
    { "go_memstats_gc_cpu_fraction", M_GO_GC_CPU_FRACTION, V_FRACTION, 0 },
    { "go_goroutines", M_GO_GOROUTINES, V_COUNT, 0 },
    /* The GC pause summary's count is NumGC (client_golang reads it from debug.GCStats). */
    { "go_gc_duration_seconds_count", M_GO_NUM_GC, V_COUNT, 0 },
    /* runtime/metrics equivalents, named the way client_golang names them. */
    { "go_memory_classes_heap_objects_bytes", M_GO_HEAP_ALLOC, V_COUNT, 1 },
    { "go_memory_classes_heap_released_bytes", M_GO_HEAP_RELEASED, V_COUNT, 1 },
    { "go_memory_classes_heap_stacks_bytes", M_GO_STACK_INUSE, V_COUNT, 1 },
    { "go_memory_classes_metadata_mspan_inuse_bytes", M_GO_MSPAN_INUSE, V_COUNT, 1 },
    { "go_memory_classes_metadata_mcache_inuse_bytes", M_GO_MCACHE_INUSE, V_COUNT, 1 },
    { "go_memory_classes_metadata_other_bytes", M_GO_GC_SYS, V_COUNT, 1 },
    { "go_memory_classes_profiling_buckets_bytes", M_GO_BUCKHASH_SYS, V_COUNT, 1 },
    { "go_memory_classes_other_bytes", M_GO_OTHER_SYS, V_COUNT, 1 },
    { "go_memory_classes_total_bytes", M_GO_SYS, V_COUNT, 1 },
    { "go_gc_heap_goal_bytes", M_GO_NEXT_GC, V_COUNT, 1 },
    { "go_gc_heap_objects_objects", M_GO_HEAP_OBJECTS, V_COUNT, 1 },
    { "go_gc_heap_allocs_bytes_total", M_GO_TOTAL_ALLOC, V_COUNT, 1 },
    { "go_gc_cycles_total_gc_cycles_total", M_GO_NUM_GC, V_COUNT, 1 },
    { "go_sched_goroutines_goroutines", M_GO_GOROUTINES, V_COUNT, 1 },
};

#define N_NAMES (sizeof(prom_names) / sizeof(prom_names[0]))
/* Longer than any number Go writes ("-1.7976931348623157e+308" is 24). */
#define VALUE_MAX 64
#define INT64_LIMIT_D 9223372036854775808.0

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static int is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

static const char *skip_blanks(const char *p, const char *end)
{
    while (p < end && is_blank(*p))
        p++;
    return p;
}

/* Skips a label set from just after '{'; returns the position after '}', or NULL. */
static const char *skip_labels(const char *p, const char *end)
{
    for (;;) {
        p = skip_blanks(p, end);
        if (p < end && *p == '}')
            return p + 1;
        /* label names have no ':' but accepting one costs nothing here */
        if (p >= end || !is_name_start(*p))
            return NULL;
        while (p < end && is_name_char(*p))
            p++;
        p = skip_blanks(p, end);
        if (p >= end || *p != '=')
            return NULL;
        p = skip_blanks(p + 1, end);
        if (p >= end || *p != '"')
            return NULL;
        for (p++;; p++) {
            if (p >= end)
                return NULL;
            if (*p == '\\') {
                if (++p >= end)
                    return NULL;
            } else if (*p == '"') {
                break;
            }
        }
        p = skip_blanks(p + 1, end);
        if (p < end && *p == ',')
            p++;
        else if (p >= end || *p != '}')
            return NULL;
    }
}

/* A sample line [line, end) (no '\n').  1 parsed, 0 not a sample (blank, comment),
 * -1 malformed. */
static int parse_sample(const char *line, const char *end, const char **name, size_t *namelen,
                        int *labelled, double *value)
{
    const char *p = skip_blanks(line, end), *tok;
    char buf[VALUE_MAX + 1], *e;
    size_t n;

    if (p == end || *p == '#')
        return 0;
    if (!is_name_start(*p))
        return -1;
    *name = p;
    while (p < end && is_name_char(*p))
        p++;
    *namelen = (size_t)(p - *name);
    tok = skip_blanks(p, end);
    *labelled = 0;
    if (tok < end && *tok == '{') {
        /* "x{} 1" is the same series as "x 1" */
        p = skip_blanks(tok + 1, end);
        *labelled = !(p < end && *p == '}');
        p = skip_labels(tok + 1, end);
        if (!p)
            return -1;
    }
    /* blanks before the value: "name 1"; after a label set they are optional, as in
     * Prometheus's own parser: "name{a=\"b\"}1" */
    if (p == end || (p[-1] != '}' && !is_blank(*p)))
        return -1;
    p = skip_blanks(p, end);
    tok = p;
    while (p < end && !is_blank(*p))
        p++;
    n = (size_t)(p - tok);
    if (n == 0 || n > VALUE_MAX)
        return -1;
    memcpy(buf, tok, n);
    buf[n] = '\0';
    *value = strtod(buf, &e);
    if (e != buf + n)
        return -1;
    /* an optional integer timestamp in ms, then nothing */
    p = skip_blanks(p, end);
    if (p < end) {
        if (*p == '-' || *p == '+')
            p++;
        tok = p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == tok || skip_blanks(p, end) != end)
            return -1;
    }
    return 1;
}

static int lookup(const char *name, size_t len)
{
    size_t i;

    if (len < 3 || memcmp(name, "go_", 3) != 0)
        return -1;
    for (i = 0; i < N_NAMES; i++)
        if (strlen(prom_names[i].name) == len && memcmp(prom_names[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

/* The stored integer for a sample value, or -1 if it cannot be one (NaN, Inf, negative). */
static int to_stored(enum value_kind kind, double v, int64_t *out)
{
    if (!isfinite(v) || v < 0)
        return -1;
    if (kind == V_FRACTION) {
        if (v > 1)
            return -1;
        *out = (int64_t)llround(v * 1e6);
        return 0;
    }
    v = nearbyint(v);
    if (v >= INT64_LIMIT_D)
        return -1;
    *out = (int64_t)v;
    return 0;
}

int promtext_parse_go(const char *body, size_t len, struct go_stats *out, char *err,
                      size_t errlen)
{
    /* Best rank so far per metric: 2*name rank + labelled; 0 is the best possible. */
    int best[METRIC_COUNT];
    const char *p = body, *end = body ? body + len : body, *nl;
    size_t malformed = 0, i;
    uint64_t memory_mask = 0;

    memset(out, 0, sizeof(*out));
    if (err && errlen)
        err[0] = '\0';
    for (i = 0; i < METRIC_COUNT; i++)
        best[i] = 1 << 30;

    while (p && p < end) {
        const char *line = p, *lend, *name;
        size_t namelen;
        int labelled, k, r, rank;
        double v;
        int64_t stored;

        nl = memchr(p, '\n', (size_t)(end - p));
        lend = nl ? nl : end;
        p = nl ? nl + 1 : end;
        if (lend > line && lend[-1] == '\r')
            lend--;
        r = parse_sample(line, lend, &name, &namelen, &labelled, &v);
        if (r < 0)
            malformed++;
        if (r <= 0)
            continue;
        k = lookup(name, namelen);
        if (k < 0)
            continue;
        rank = 2 * prom_names[k].rank + labelled;
        if (rank >= best[prom_names[k].id])
            continue;
        if (to_stored(prom_names[k].kind, v, &stored) < 0)
            continue;
        best[prom_names[k].id] = rank;
        out->v[prom_names[k].id] = stored;
        out->present |= UINT64_C(1) << prom_names[k].id;
    }

    /* Goroutines and GC cycles alone do not make a memory view. */
    for (i = 0; i < N_NAMES; i++)
        if (prom_names[i].id != M_GO_GOROUTINES && prom_names[i].id != M_GO_NUM_GC)
            memory_mask |= UINT64_C(1) << prom_names[i].id;
    if (!(out->present & memory_mask)) {
        out->present = 0;
        if (err)
            snprintf(err, errlen, "no go_memstats_* metrics on the page%s",
                     malformed ? " (and malformed lines)" : "");
        return -EBADMSG;
    }
    if (malformed && err)
        snprintf(err, errlen, "%zu malformed lines skipped", malformed);
    return 0;
}
