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
    X(M_PROCESSES,       "processes",             1, "gauge",   "Processes the target's selector matches")

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
/* Returns the id, or -1 if no metric has that name. */
int metric_by_name(const char *name);

#endif
