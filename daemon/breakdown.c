/* breakdown.c - RSS explained from the OS's and the Go runtime's figures (see breakdown.h). */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "breakdown.h"
#include "util.h"

static const struct {
    const char *name;
    const char *description;
} parts[BD_COUNT] = {
    [BD_LIVE_HEAP] = { "live_heap", "Go heap objects still referenced (HeapAlloc)" },
    [BD_HEAP_FRAGMENTATION] = { "heap_fragmentation",
                                "free space inside heap spans in use (HeapInuse - HeapAlloc)" },
    [BD_RETAINED_HEAP] = { "retained_heap",
                           "heap freed by the GC but still held by the runtime, not yet returned "
                           "to the OS (HeapIdle - HeapReleased)" },
    [BD_STACKS] = { "stacks", "goroutine stacks (StackInuse)" },
    [BD_RUNTIME_METADATA] = { "runtime_metadata",
                              "the runtime's own structures: spans, caches, GC metadata, "
                              "profiling buckets (MSpan, MCache, GC, BuckHash and Other sys)" },
    [BD_NON_GO] = { "non_go",
                    "anonymous memory the Go runtime does not manage: cgo and C libraries, "
                    "foreign mmaps, C thread stacks (RssAnon minus the Go parts)" },
    [BD_FILE_BACKED] = { "file_backed",
                         "the binary, shared libraries and mapped files (RssFile + RssShmem)" },
};

const char *breakdown_part_name(enum bd_part part)
{
    return (unsigned)part < BD_COUNT ? parts[part].name : "?";
}

const char *breakdown_part_description(enum bd_part part)
{
    return (unsigned)part < BD_COUNT ? parts[part].description : "";
}

static bool has(uint64_t present, enum metric_id m)
{
    return (present >> m) & 1;
}

static double val(const double *v, uint64_t present, enum metric_id m)
{
    return has(present, m) && v[m] > 0 ? v[m] : 0;
}

static void add_caveat(struct breakdown *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_caveat(struct breakdown *b, const char *fmt, ...)
{
    if (b->ncaveats >= (int)(sizeof b->caveats / sizeof b->caveats[0]))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->caveats[b->ncaveats++], sizeof b->caveats[0], fmt, ap);
    va_end(ap);
}

int breakdown_compute(const double *v, uint64_t present, struct breakdown *b)
{
    memset(b, 0, sizeof *b);
    if (!has(present, M_RSS) || !has(present, M_GO_HEAP_ALLOC) || !has(present, M_GO_HEAP_INUSE))
        return -ENODATA;
    double rss = val(v, present, M_RSS);
    /* Without the status split, everything resident counts as anonymous. */
    double anon = has(present, M_RSS_ANON) ? val(v, present, M_RSS_ANON) : rss;
    double file = val(v, present, M_RSS_FILE) + val(v, present, M_RSS_SHMEM);
    double heap_alloc = val(v, present, M_GO_HEAP_ALLOC);
    double heap_inuse = val(v, present, M_GO_HEAP_INUSE);
    double idle = val(v, present, M_GO_HEAP_IDLE), released = val(v, present, M_GO_HEAP_RELEASED);
    double stacks = val(v, present, M_GO_STACK_INUSE);
    double meta = val(v, present, M_GO_MSPAN_SYS) + val(v, present, M_GO_MCACHE_SYS) +
                  val(v, present, M_GO_BUCKHASH_SYS) + val(v, present, M_GO_GC_SYS) +
                  val(v, present, M_GO_OTHER_SYS);

    b->rss = (int64_t)rss;
    b->bytes[BD_FILE_BACKED] = (int64_t)file;
    b->bytes[BD_LIVE_HEAP] = (int64_t)heap_alloc;
    b->bytes[BD_HEAP_FRAGMENTATION] = heap_inuse > heap_alloc ? (int64_t)(heap_inuse - heap_alloc) : 0;
    b->bytes[BD_RETAINED_HEAP] = idle > released ? (int64_t)(idle - released) : 0;
    b->bytes[BD_STACKS] = (int64_t)stacks;
    b->bytes[BD_RUNTIME_METADATA] = (int64_t)meta;
    b->released_heap = (int64_t)released;
    double go = 0;
    for (int p = BD_LIVE_HEAP; p <= BD_RUNTIME_METADATA; p++)
        go += (double)b->bytes[p];
    if (anon >= go) {
        b->bytes[BD_NON_GO] = (int64_t)(anon - go);
    } else {
        b->go_over_anon = (int64_t)(go - anon);
        char buf[32];
        add_caveat(b, "the runtime's figures exceed resident anonymous memory by %s: they count "
                   "reserved pages never touched (GC metadata mostly), so non_go shows 0 and the "
                   "Go parts are upper bounds", format_bytes(go - anon, buf, sizeof buf));
    }
    add_caveat(b, "RSS counts pages touched, the runtime counts what it obtained; the two views "
               "are read seconds apart");
    if (released > 0) {
        char buf[32];
        add_caveat(b, "%s of heap was returned to the OS (HeapReleased) and is not in RSS",
                   format_bytes(released, buf, sizeof buf));
    }

    double total = 0;
    for (int p = 0; p < BD_COUNT; p++)
        total += (double)b->bytes[p];
    double base = rss > 0 ? rss : total;
    int dom = BD_LIVE_HEAP;
    for (int p = 0; p < BD_COUNT; p++) {
        b->percent[p] = base > 0 ? 100.0 * (double)b->bytes[p] / base : 0;
        if (b->bytes[p] > b->bytes[dom])
            dom = p;
    }
    b->dominant = (enum bd_part)dom;

    char amount[32], other[32];
    format_bytes((double)b->bytes[dom], amount, sizeof amount);
    double pct = b->percent[dom];
    switch (b->dominant) {
    case BD_LIVE_HEAP:
        snprintf(b->summary, sizeof b->summary,
                 "Most of the memory (%s, %.0f%%) is live Go heap, objects the program still "
                 "references; if it keeps growing, compare heap profiles to see which code holds "
                 "it (memwatchctl diff).", amount, pct);
        break;
    case BD_RETAINED_HEAP:
        snprintf(b->summary, sizeof b->summary,
                 "Most of the memory (%s, %.0f%%) is heap the Go runtime has freed but not yet "
                 "returned to the OS: memory retained after a burst, not a leak (live heap is "
                 "%s); the scavenger returns it over time, or call debug.FreeOSMemory or set "
                 "GOMEMLIMIT.", amount, pct,
                 format_bytes((double)b->bytes[BD_LIVE_HEAP], other, sizeof other));
        break;
    case BD_NON_GO:
        snprintf(b->summary, sizeof b->summary,
                 "Most of the memory (%s, %.0f%%) is outside the Go runtime (non-Go: cgo, C "
                 "libraries, foreign mmaps); Go heap profiles cannot see it, while the Go heap "
                 "holds %s.", amount, pct,
                 format_bytes((double)b->bytes[BD_LIVE_HEAP], other, sizeof other));
        break;
    case BD_STACKS:
        snprintf(b->summary, sizeof b->summary,
                 "Most of the memory (%s, %.0f%%) is goroutine stacks; many goroutines that "
                 "never finish look like this.", amount, pct);
        break;
    case BD_RUNTIME_METADATA:
        snprintf(b->summary, sizeof b->summary,
                 "Most of the memory (%s, %.0f%%) is the Go runtime's own metadata; the heap "
                 "itself is small (%s live).", amount, pct,
                 format_bytes((double)b->bytes[BD_LIVE_HEAP], other, sizeof other));
        break;
    case BD_HEAP_FRAGMENTATION:
        snprintf(b->summary, sizeof b->summary,
                 "Most of the memory (%s, %.0f%%) is free space inside heap spans still in use: "
                 "fragmentation, typical after many objects of mixed sizes died.", amount, pct);
        break;
    case BD_FILE_BACKED:
    default:
        snprintf(b->summary, sizeof b->summary,
                 "Most of the resident memory (%s, %.0f%%) is file-backed (the binary and shared "
                 "libraries); the Go heap is small (%s live).", amount, pct,
                 format_bytes((double)b->bytes[BD_LIVE_HEAP], other, sizeof other));
        break;
    }
    return 0;
}

void breakdown_change_summary(const struct breakdown *from, const struct breakdown *to,
                              int64_t seconds, char *buf, size_t len)
{
    int big = 0;
    int64_t bigd = 0;
    for (int p = 0; p < BD_COUNT; p++) {
        int64_t d = to->bytes[p] - from->bytes[p];
        if (llabs(d) > llabs(bigd)) {
            bigd = d;
            big = p;
        }
    }
    char span[32], amount[32], heap[32], rss[32];
    format_duration_ms(seconds * 1000, span, sizeof span);
    int64_t drss = to->rss - from->rss;
    /* Below a MiB or 2% of RSS, movement is noise (page cache, GC timing). */
    double noise = fmax(1 << 20, 0.02 * (double)(to->rss > from->rss ? to->rss : from->rss));
    if ((double)llabs(bigd) < noise) {
        snprintf(buf, len, "Over %s memory was stable: RSS changed by %s%s.", span,
                 drss < 0 ? "-" : "+", format_bytes((double)llabs(drss), rss, sizeof rss));
        return;
    }
    format_bytes((double)llabs(bigd), amount, sizeof amount);
    int64_t dheap = to->bytes[BD_LIVE_HEAP] - from->bytes[BD_LIVE_HEAP];
    format_bytes((double)llabs(dheap), heap, sizeof heap);
    static const char *const human[BD_COUNT] = {
        [BD_LIVE_HEAP] = "the live Go heap",
        [BD_HEAP_FRAGMENTATION] = "heap fragmentation",
        [BD_RETAINED_HEAP] = "freed heap the runtime still holds",
        [BD_STACKS] = "goroutine stacks",
        [BD_RUNTIME_METADATA] = "the runtime's metadata",
        [BD_NON_GO] = "non-Go memory (outside the Go runtime)",
        [BD_FILE_BACKED] = "file-backed memory",
    };
    const char *meaning = "";
    switch (big) {
    case BD_NON_GO:
        meaning = bigd > 0 ? ": cgo or C libraries are holding more and more; Go heap profiles "
                             "will not show it" : "";
        break;
    case BD_LIVE_HEAP:
        meaning = bigd > 0 ? ": the program holds more and more objects; heap profiles name the "
                             "code (memwatchctl diff)" : "";
        break;
    case BD_RETAINED_HEAP:
        meaning = bigd > 0 ? ": freed heap is being kept, typically right after a burst; not a leak"
                           : ": the runtime returned freed heap to the OS";
        break;
    case BD_STACKS:
        meaning = bigd > 0 ? ": more goroutines are alive; if they never finish, that is a "
                             "goroutine leak" : "";
        break;
    default:
        break;
    }
    char also[96] = "";
    if (big != BD_LIVE_HEAP)
        snprintf(also, sizeof also, " while the live heap changed by %s%s", dheap < 0 ? "-" : "+",
                 heap);
    snprintf(buf, len, "Over %s %s %s by %s%s%s.", span, human[big],
             bigd > 0 ? "grew" : "shrank", amount, also, meaning);
}
