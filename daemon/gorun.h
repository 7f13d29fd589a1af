/* gorun.h - the Go runtime view of targets that name a debug HTTP endpoint.
 *
 * For each such target, on its own schedule: runtime statistics from expvar /debug/vars (or,
 * if the program does not serve it, a Prometheus /metrics page) every runtime interval, and
 * heap and goroutine profiles every profile interval.  Requests go to the scraper (scrape.h),
 * which works off the main thread and is started only once a target has an endpoint (libcurl
 * and its TLS library cost a few MB of resident memory that plain targets need not pay); results come back through gorun_collect().  A source
 * that answers 404 is marked "not served" and asked again only every 10 minutes; one that
 * fails backs off (doubling, up to 5 minutes) and says why in its status.  Only targets
 * whose process is alive are scraped.
 *
 * Statistics become series (M_GO_* in metrics.h), profiles go to profstore.h. */
#ifndef MEMWATCH_GORUN_H
#define MEMWATCH_GORUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gostats.h"
#include "scrape.h"

struct gorun;
struct store;
struct profstore;
struct targets;
struct target_record;

struct gorun_config {
    int64_t runtime_interval_ms;
    int64_t profile_interval_ms;
    bool heap_gc;
};

struct gorun_source {
    bool enabled;               /* this source is part of the target's plan */
    int served;                 /* -1 unknown, 0 the program does not serve it (404), 1 yes */
    bool ok;                    /* the last attempt succeeded */
    int64_t last_ok_ms;         /* wall time of the last success, 0 if never */
    int64_t last_attempt_ms;
    int64_t duration_ms;        /* of the last attempt */
    char url[512];
    char error[256];            /* the last failure, in plain words; "" after a success */
};

int gorun_open(struct store *st, struct profstore *ps, const struct scrape_limits *limits,
               const struct gorun_config *cfg, struct gorun **out);
void gorun_close(struct gorun *g);
void gorun_set_config(struct gorun *g, const struct gorun_config *cfg);

/* Submits the scrapes that are due.  Returns the monotonic time of the next one. */
int64_t gorun_tick(struct gorun *g, struct targets *ts, int64_t now_mono_ms);
/* The descriptor to poll for scrape results, or -1 while no scraper runs. */
int gorun_event_fd(const struct gorun *g);
/* Takes every result the scraper has ready and records it. */
void gorun_collect(struct gorun *g, struct targets *ts);
/* Hands every heap profile, as the target served it, to fn (alerts.h keeps a few). */
typedef void (*gorun_heap_sink_fn)(void *arg, int64_t target_id, int64_t ts_ms,
                                   const uint8_t *raw, size_t len);
void gorun_set_heap_sink(struct gorun *g, gorun_heap_sink_fn fn, void *arg);
/* Drops a removed target's state and profiles. */
void gorun_forget(struct gorun *g, int64_t target_id);

/* Checks a record's endpoint and paths: 0, or -EINVAL with *err. */
int gorun_validate(const struct target_record *rec, char **err);

/* The latest runtime statistics of a target (NULL if none yet) and its sources' status
 * (NULL if the target has no endpoint).  sources[] is indexed by enum scrape_kind. */
const struct go_stats *gorun_latest(const struct gorun *g, int64_t target_id, int64_t *when_ms);
const struct gorun_source *gorun_sources(const struct gorun *g, int64_t target_id);

#endif
