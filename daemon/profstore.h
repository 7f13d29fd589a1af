/* profstore.h - heap and goroutine profiles of Go targets, kept compactly, and their diffs.
 *
 * Per target, a dictionary of sites (leaf and user frame, see pprof.h); per profile, one row
 * whose blob lists (site id, values) for every site.  Older profiles are thinned so that
 * storage stays within a few MB per target per day at the default 60 s interval.  Uses its
 * own SQLite connection to the store's file; the schema comes from sql/ like the rest. */
#ifndef MEMWATCH_PROFSTORE_H
#define MEMWATCH_PROFSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "pprof.h"

struct profstore;

struct profstore_config {
    const char *path;           /* the store's SQLite file (already migrated by store_open) */
    int64_t full_retention_ms;  /* every profile kept this long; default 6 h */
    int64_t thin_interval_ms;   /* older ones: one per this interval; default 30 min */
    int64_t retention_ms;       /* none older than this; default 30 d */
};

int profstore_open(const struct profstore_config *cfg, struct profstore **out, char **err);
void profstore_close(struct profstore *ps);
const char *profstore_errmsg(const struct profstore *ps);

/* Stores a decoded profile taken at ts_ms.  0 or negative errno. */
int profstore_add(struct profstore *ps, int64_t target_id, enum pprof_kind kind, int64_t ts_ms,
                  const struct pprof_profile *p);
/* Thinning and retention; call about hourly.  0 or negative errno. */
int profstore_maintain(struct profstore *ps, int64_t now_ms);
/* Forgets a target's profiles and sites (its rows go with the target's row too). */
int profstore_remove_target(struct profstore *ps, int64_t target_id);

struct profstore_diff_site {
    char leaf_func[256], leaf_file[256];
    int64_t leaf_line;
    char user_func[256], user_file[256];
    int64_t user_line;
    int64_t from[PV_MAX], to[PV_MAX];   /* values in the two profiles (0 where absent) */
    int64_t delta[PV_MAX];              /* to - from */
};

struct profstore_diff {
    enum pprof_kind kind;
    int64_t from_ms, to_ms;             /* times of the two profiles actually compared */
    int64_t total_from[PV_MAX], total_to[PV_MAX];
    size_t nsites;
    struct profstore_diff_site *sites;  /* heap: by delta[PV_INUSE_BYTES] descending;
                                         * goroutine: by delta[PV_COUNT] descending */
};

/* Compares the first profile at or after from_ms with the last at or before to_ms.  With
 * limit > 0 keeps that many sites.  0 and *out (free with profstore_diff_free), -ENOENT if
 * fewer than two profiles fall in the range, or negative errno. */
int profstore_diff(struct profstore *ps, int64_t target_id, enum pprof_kind kind, int64_t from_ms,
                   int64_t to_ms, size_t limit, struct profstore_diff **out);
void profstore_diff_free(struct profstore_diff *d);

/* The number of profiles stored for a target and kind, and the newest time (0 if none). */
int profstore_count(struct profstore *ps, int64_t target_id, enum pprof_kind kind, size_t *n,
                    int64_t *newest_ms);

#endif
