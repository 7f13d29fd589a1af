/* metrics.h - the series memwatchd records for every target, in one table.
 *
 * Values are stored as integers in the unit the source reports (KiB for /proc, plain counts),
 * because small integer deltas compress best; `scale` turns a stored value into the API
 * unit (bytes for *_bytes).  The API and memwatchctl only ever see scaled values. */
#ifndef MEMWATCH_METRICS_H
#define MEMWATCH_METRICS_H

#include <stddef.h>

/*      id                  name               scale  kind       description */
#define METRIC_TABLE(X) \
    X(M_RSS,             "rss_bytes",          1024, "gauge",   "Resident set size (VmRSS)") \
    X(M_VSZ,             "vsz_bytes",          1024, "gauge",   "Virtual memory size (VmSize)") \
    X(M_RSS_ANON,        "rss_anon_bytes",     1024, "gauge",   "Resident anonymous memory (RssAnon)") \
    X(M_RSS_FILE,        "rss_file_bytes",     1024, "gauge",   "Resident file mappings (RssFile)") \
    X(M_RSS_SHMEM,       "rss_shmem_bytes",    1024, "gauge",   "Resident shared memory (RssShmem)") \
    X(M_SWAP,            "swap_bytes",         1024, "gauge",   "Swapped-out anonymous memory (VmSwap)") \
    X(M_PSS,             "pss_bytes",          1024, "gauge",   "Proportional set size (smaps_rollup Pss)") \
    X(M_USS,             "uss_bytes",          1024, "gauge",   "Unique set size (smaps_rollup Private_Clean+Private_Dirty)") \
    X(M_THREADS,         "threads",               1, "gauge",   "OS threads") \
    X(M_MINFLT,          "minor_faults_total",    1, "counter", "Minor page faults since process start") \
    X(M_MAJFLT,          "major_faults_total",    1, "counter", "Major page faults since process start") \
    X(M_PROCESSES,       "processes",             1, "gauge",   "Processes the target's selector matches") \
    /* The Go runtime's own view, scraped from expvar /debug/vars or a Prometheus page. */ \
    X(M_GO_HEAP_ALLOC,   "go_heap_alloc_bytes",   1, "gauge",   "Live and not yet swept heap objects (HeapAlloc)") \
    X(M_GO_HEAP_INUSE,   "go_heap_inuse_bytes",   1, "gauge",   "Heap spans in use (HeapInuse)") \
    X(M_GO_HEAP_IDLE,    "go_heap_idle_bytes",    1, "gauge",   "Heap spans unused (HeapIdle)") \
    X(M_GO_HEAP_RELEASED, "go_heap_released_bytes", 1, "gauge", "Idle heap returned to the OS (HeapReleased)") \
    X(M_GO_HEAP_SYS,     "go_heap_sys_bytes",     1, "gauge",   "Heap obtained from the OS (HeapSys)") \
    X(M_GO_HEAP_OBJECTS, "go_heap_objects",       1, "gauge",   "Live heap objects (HeapObjects)") \
    X(M_GO_STACK_INUSE,  "go_stack_inuse_bytes",  1, "gauge",   "Goroutine stack spans in use (StackInuse)") \
    X(M_GO_STACK_SYS,    "go_stack_sys_bytes",    1, "gauge",   "Stack memory obtained from the OS (StackSys)") \
    X(M_GO_MSPAN_INUSE,  "go_mspan_inuse_bytes",  1, "gauge",   "mspan structures in use (MSpanInuse)") \
    X(M_GO_MSPAN_SYS,    "go_mspan_sys_bytes",    1, "gauge",   "mspan memory from the OS (MSpanSys)") \
    X(M_GO_MCACHE_INUSE, "go_mcache_inuse_bytes", 1, "gauge",   "mcache structures in use (MCacheInuse)") \
    X(M_GO_MCACHE_SYS,   "go_mcache_sys_bytes",   1, "gauge",   "mcache memory from the OS (MCacheSys)") \
    X(M_GO_GC_SYS,       "go_gc_sys_bytes",       1, "gauge",   "GC metadata (GCSys)") \
    X(M_GO_BUCKHASH_SYS, "go_buckhash_sys_bytes", 1, "gauge",   "Profiling bucket hash table (BuckHashSys)") \
    X(M_GO_OTHER_SYS,    "go_other_sys_bytes",    1, "gauge",   "Other runtime allocations (OtherSys)") \
    X(M_GO_SYS,          "go_sys_bytes",          1, "gauge",   "All memory the runtime obtained from the OS (Sys)") \
    X(M_GO_NEXT_GC,      "go_next_gc_bytes",      1, "gauge",   "Heap size goal of the next GC (NextGC)") \
    X(M_GO_NUM_GC,       "go_gc_total",           1, "counter", "Completed GC cycles (NumGC)") \
    X(M_GO_TOTAL_ALLOC,  "go_alloc_bytes_total",  1, "counter", "Bytes allocated for heap objects, ever (TotalAlloc)") \
    X(M_GO_MALLOCS,      "go_mallocs_total",      1, "counter", "Heap objects allocated, ever (Mallocs)") \
    X(M_GO_FREES,        "go_frees_total",        1, "counter", "Heap objects freed, ever (Frees)") \
    X(M_GO_GC_CPU_FRACTION, "go_gc_cpu_fraction", 1e-6, "gauge", "Fraction of CPU time used by the GC since start (GCCPUFraction); stored in millionths") \
    X(M_GO_LAST_PAUSE,   "go_last_gc_pause_seconds", 1e-9, "gauge", "Stop-the-world pause of the latest GC; stored in ns") \
    X(M_GO_GOROUTINES,   "go_goroutines",         1, "gauge",   "Goroutines") \
    X(M_GO_NON_GO,       "go_non_go_bytes",       1, "gauge",   "Anonymous memory outside the Go runtime (RssAnon minus the runtime's parts, see breakdown)") \
    X(M_GO_GOROUTINES_LEAKED, "go_goroutines_leaked", 1, "gauge", "Goroutines the runtime reports leaked (/debug/pprof/goroutineleak, newer Go)")

enum metric_id {
#define METRIC_ENUM(id, name, scale, kind, desc) id,
    METRIC_TABLE(METRIC_ENUM)
#undef METRIC_ENUM
    METRIC_COUNT
};

struct metric_info {
    const char *name;
    double scale;
    const char *kind;
    const char *description;
};

const struct metric_info *metric_info(enum metric_id id);
/* Bits of a uint64_t mask, one per metric: there must be at most 64. */
_Static_assert(METRIC_COUNT <= 64, "metric masks are uint64_t");

/* Returns the id, or -1 if no metric has that name. */
int metric_by_name(const char *name);

#endif
