/* gostats.h - the Go runtime's view of its own memory, as the parsers hand it over.
 *
 * One value per Go metric of metrics.h (M_GO_*), in the metric's stored unit: bytes, counts,
 * GC CPU fraction in millionths, pause in nanoseconds.  Fields the source did not carry
 * (an older client_golang drops go_memstats_gc_cpu_fraction, expvar has no goroutine
 * count) are absent from `present`, never zero. */
#ifndef MEMWATCH_GOSTATS_H
#define MEMWATCH_GOSTATS_H

#include <stdint.h>

#include "metrics.h"

struct go_stats {
    uint64_t present;               /* bit (UINT64_C(1) << metric id) per value read */
    int64_t v[METRIC_COUNT];        /* indexed by enum metric_id; only M_GO_* are used */
};

#endif
