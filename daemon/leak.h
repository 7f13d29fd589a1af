/* leak.h - per-target verdicts: is this target leaking, what kind of leak, how fast, and
 * how long until it hits its limit.
 *
 * Every judge interval, each target's leak-prone signals are judged by detect.h over the
 * detection window, read back from the store (so a restart loses no history):
 *   heap       live Go heap (go_heap_alloc_bytes; its lower envelope, not the GC peaks);
 *   goroutine  go_goroutines;
 *   non_go     memory outside the Go runtime (go_non_go_bytes, recorded with each scrape);
 *   rss        resident memory, for any process.
 * A target's verdict is its most advanced signal's (leaking > suspect > ok > warming); the
 * Go signals are preferred over rss when both say the same, since they name the kind, and
 * goroutine over heap (leaked goroutines grow the heap with what they hold).
 *
 * The projection: growth runs into a limit (memlimit.h), read per target when its process
 * changes and every limit_refresh_ms.  A heap leak of a single Go process whose GOMEMLIMIT is
 * below its other limits runs the runtime's total (go_sys_bytes - go_heap_released_bytes,
 * what GOMEMLIMIT bounds) into GOMEMLIMIT: there the GC starts to run almost without pause,
 * which is where a heap leak first hurts, long before any OOM kill.  The total includes the
 * heap's GC headroom, which the runtime gives up near its limit, so this errs early.  Every
 * other case runs into the smaller of the cgroup's memory.max and MemTotal, from the cgroup's
 * own charge (memory.current, what the kernel compares with memory.max) when memory.max binds
 * and can be read, else from RSS.  GOMEMLIMIT is per process: a target of several processes
 * is never projected onto one's. */
#ifndef MEMWATCH_LEAK_H
#define MEMWATCH_LEAK_H

#include <stdbool.h>
#include <stdint.h>

#include "detect.h"

struct leakwatch;
struct store;
struct targets;

enum leak_kind { LEAK_HEAP = 0, LEAK_GOROUTINE, LEAK_NON_GO, LEAK_RSS, LEAK_KIND_COUNT };
const char *leak_kind_name(enum leak_kind k);      /* "heap", "goroutine", "non_go", "rss" */

struct leak_verdict {
    enum detect_state state;
    enum leak_kind kind;                /* the signal that decided */
    int64_t since_ms;                   /* when the state began */
    struct detect_trend trend;          /* of that signal */
    double limit_bytes;                 /* what the projection runs into (0: unknown) */
    char limit_source[16];              /* "memory.max", "GOMEMLIMIT", "MemTotal"; "" if none */
    double seconds_to_limit;            /* projected, < 0 when not growing */
    /* Every limit known for the target's process (memlimit.h); 0 where none or unknown. */
    double memory_max_bytes, gomemlimit_bytes, mem_total_bytes;
    enum detect_state signal_state[LEAK_KIND_COUNT];
    bool signal_seen[LEAK_KIND_COUNT];  /* the target has had data for this signal */
};

struct leakwatch_config {
    struct detect_params bytes;         /* heap, non_go, rss */
    struct detect_params counts;        /* goroutines */
    int64_t judge_interval_ms;          /* default 30 s */
    int64_t limit_refresh_ms;           /* memory limits re-read this often; default 5 min */
    double speed;                       /* > 1 in tests: detect_params_speed() is applied to
                                         * each target's parameters, the judge interval and
                                         * limit refresh are divided by it (but >= 1 s) */
};

const struct leakwatch_config *leakwatch_get_config(const struct leakwatch *lw);
/* Production defaults (speed 1). */
void leakwatch_config_default(struct leakwatch_config *cfg);
/* A target's own parameters for a signal: the configuration's, with the target's
 * detect_* overrides, then sped up. */
struct target_record;
void leakwatch_target_params(const struct leakwatch_config *cfg, const struct target_record *rec,
                             enum leak_kind k, struct detect_params *out);
int leakwatch_open(struct store *st, const struct leakwatch_config *cfg, struct leakwatch **out);
void leakwatch_close(struct leakwatch *lw);
/* New parameters (a config reload); the detectors keep their state. */
void leakwatch_set_config(struct leakwatch *lw, const struct leakwatch_config *cfg);
/* Judges the targets that are due.  Returns the monotonic time of the next judgement. */
int64_t leakwatch_tick(struct leakwatch *lw, struct targets *ts, int64_t now_mono_ms,
                       int64_t now_wall_ms);
/* The current verdict of a target (a warming one if never judged). */
void leakwatch_verdict(const struct leakwatch *lw, int64_t target_id, struct leak_verdict *out);
void leakwatch_forget(struct leakwatch *lw, int64_t target_id);
/* Calls fn after every judgement of a target with its verdict, and every judge interval
 * for a target whose process is gone with a NULL verdict (alerts.h follows them). */
struct target;
typedef void (*leakwatch_observer_fn)(void *arg, const struct target *t,
                                      const struct leak_verdict *v, int64_t now_wall_ms);
void leakwatch_set_observer(struct leakwatch *lw, leakwatch_observer_fn fn, void *arg);
/* The configured speed, for other judgements that must scale their durations alike. */
double leakwatch_speed(const struct leakwatch *lw);

#endif
