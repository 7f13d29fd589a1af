/* breakdown.h - where a Go process's resident memory is, from the OS's and the runtime's
 * views together, in bytes, percent and one plain sentence.
 *
 * RSS is split into:
 *   file_backed        RssFile + RssShmem: the binary, shared libraries, mapped files;
 *   live_heap          HeapAlloc: reachable objects (and garbage not yet swept);
 *   heap_fragmentation HeapInuse - HeapAlloc: free space inside spans that are in use;
 *   retained_heap      HeapIdle - HeapReleased: freed heap the runtime keeps, still resident
 *                      until the scavenger (or debug.FreeOSMemory) returns it;
 *   stacks             StackInuse: goroutine stacks;
 *   runtime_metadata   MSpan, MCache, BuckHash, GC and Other sys: the runtime's own books;
 *   non_go             RssAnon minus all of the above: cgo and C libraries' malloc, foreign
 *                      mmaps, C thread stacks: memory the Go runtime does not manage.
 * Caveats the numbers carry: RSS counts pages touched, the runtime's *Sys figures count
 * reservations (much of GCSys is never touched), so the Go parts can exceed RssAnon; then
 * non_go is 0 and a caveat says by how much.  The runtime figures are from its last scrape,
 * the OS figures from the last sample: they are seconds apart. */
#ifndef MEMWATCH_BREAKDOWN_H
#define MEMWATCH_BREAKDOWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

enum bd_part {
    BD_LIVE_HEAP, BD_HEAP_FRAGMENTATION, BD_RETAINED_HEAP, BD_STACKS, BD_RUNTIME_METADATA,
    BD_NON_GO, BD_FILE_BACKED, BD_COUNT
};

struct breakdown {
    int64_t rss;                    /* bytes */
    int64_t bytes[BD_COUNT];
    double percent[BD_COUNT];       /* of rss */
    int64_t released_heap;          /* HeapReleased: returned to the OS, not in RSS */
    int64_t go_over_anon;           /* > 0: runtime figures exceed RssAnon by this much */
    enum bd_part dominant;
    char summary[400];
    char caveats[3][240];
    int ncaveats;
};

/* values[] is indexed by metric id, in API units (bytes, counts); `present` marks which are
 * real.  Needs the OS's rss/rss_anon/rss_file and the runtime's heap figures: -ENODATA when
 * they are missing, else 0. */
int breakdown_compute(const double *values, uint64_t present, struct breakdown *out);

/* One sentence on how memory moved from `from` to `to` into buf. */
void breakdown_change_summary(const struct breakdown *from, const struct breakdown *to,
                              int64_t seconds, char *buf, size_t len);

const char *breakdown_part_name(enum bd_part part);
const char *breakdown_part_description(enum bd_part part);

#endif
