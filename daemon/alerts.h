/* alerts.h - the alert book: alerts raised from leak verdicts, their lifecycle, their
 * evidence, their history.
 *
 * One active alert per target at most.  It follows the target's verdict (leak.h), whose
 * detector already has the hysteresis (several growing judgements to confirm, several calm
 * ones to clear), so alerts do not flap:
 *   verdict suspect                 -> a pending alert (not notified: it may come to nothing);
 *   verdict leaking                 -> firing: culprits named, the two heap profiles that
 *                                      prove it kept, the receivers notified (deliver.h);
 *   verdict ok again                -> resolved (notified if it had fired); a pending one
 *                                      that clears is resolved quietly;
 *   the target's process gone       -> resolved ("the process exited");
 *   warming (after a restart)       -> no change: a firing alert stays firing.
 * While firing, its figures follow the verdict and its culprits are recomputed now and then.
 * Every alert is a row of the store's `alerts` table (sql/004-alerts.sql), written as it
 * changes, so pending and firing alerts survive a restart without being notified again;
 * resolved ones are kept for history_ms.
 *
 * Culprits: heap leaks, from the heap profiles' diff over the judged window, grouped by the
 * program's own function (profstore.h's user frame, with the allocating leaf frame beside
 * it); goroutine leaks, from the goroutine profiles' diff, grouped the same way (where they
 * wait).  non_go and rss leaks have none: Go's profiles do not see them.
 *
 * The evidence: for every target with a heap profile source, a few raw profiles (.pb.gz as
 * served) are kept rolling over the detection window (one every window/8: with a 60 s
 * profile interval, one in four is written); when an alert fires, the one from the
 * window's start is copied to the alert and the next profile the target serves becomes its
 * second, for `go tool pprof -base base.pb.gz now.pb.gz`. */
#ifndef MEMWATCH_ALERTS_H
#define MEMWATCH_ALERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "leak.h"

struct alerts;
struct deliver;
struct gorun;
struct profstore;

struct alerts_config {
    const char *path;                   /* the store's SQLite file (migrated by store_open) */
    int64_t window_ms;                  /* the detection window (for the raw profiles kept) */
    int64_t culprit_refresh_ms;         /* recompute a firing alert's culprits; default 10 min */
    int64_t history_ms;                 /* keep resolved alerts this long; default 30 days */
};

/* Opens the book and loads the pending and firing alerts.  ps, gr and dl may be NULL (no
 * culprits, no goroutine stack estimate, no notifications).  0 or negative errno + *err. */
int alerts_open(const struct alerts_config *cfg, struct profstore *ps, struct gorun *gr,
                struct deliver *dl, struct alerts **out, char **err);
void alerts_close(struct alerts *ab);
void alerts_set_window(struct alerts *ab, int64_t window_ms);
/* Where firing and resolved alerts are sent from now on (NULL: nowhere). */
void alerts_set_deliver(struct alerts *ab, struct deliver *dl);

/* A judgement of a target: moves its alert along.  v NULL: the target's process is gone. */
void alerts_update(struct alerts *ab, int64_t target_id, const char *target_name,
                   const struct leak_verdict *v, int64_t now_wall_ms);
/* A heap profile as the target served it (raw, usually gzip'd protobuf). */
void alerts_note_heap_profile(struct alerts *ab, int64_t target_id, int64_t ts_ms,
                              const uint8_t *raw, size_t len);
/* The target was removed (its rows go with it by cascade). */
void alerts_forget_target(struct alerts *ab, int64_t target_id);
/* Deletes resolved alerts past history_ms; call about hourly. */
void alerts_maintain(struct alerts *ab, int64_t now_wall_ms);

/* Calls fn for each alert: the active ones (in memory), and with include_resolved the
 * resolved ones of the last history_ms too (newest first, at most max_resolved).
 * target_id > 0 narrows it to one target.  0 or negative errno. */
int alerts_foreach(struct alerts *ab, int64_t target_id, bool include_resolved,
                   size_t max_resolved, void (*fn)(void *arg, const struct alert *a),
                   void *arg);
/* A kept profile of an alert (which: 0 base, 1 now): 0 and *data (free it), -ENOENT. */
int alerts_profile(struct alerts *ab, int64_t alert_id, int which, uint8_t **data, size_t *len,
                   int64_t *ts_ms);

#endif
