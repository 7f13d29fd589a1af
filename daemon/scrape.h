/* scrape.h - fetch and parse Go targets' debug endpoints, off the main thread.
 *
 * One worker thread drives libcurl's multi interface: every request in flight at once, each
 * with its own timeout (the whole transfer), a cap on the body enforced while it is read
 * (CURLOPT_MAXFILESIZE does not stop chunked bodies in curl 7.88, techref 10), http only,
 * no redirects, no proxies.  The same thread parses what it fetched (expvar.h, promtext.h,
 * pprof.h), so a huge or hostile body never costs the main loop anything.  A slow, hung or
 * dead target only ever occupies its own transfer.
 *
 * The main loop submits requests and, when scrape_event_fd() polls readable, takes the
 * results.  Memory is bounded: at most `max_in_flight` requests are queued or running; a
 * submit beyond that is refused with -EBUSY. */
#ifndef MEMWATCH_SCRAPE_H
#define MEMWATCH_SCRAPE_H

#include <stddef.h>
#include <stdint.h>

#include "gostats.h"
#include "pprof.h"

struct scraper;

enum scrape_kind {
    SCRAPE_VARS = 0,        /* expvar JSON -> stats */
    SCRAPE_METRICS,         /* Prometheus text -> stats */
    SCRAPE_HEAP,            /* pprof heap -> profile */
    SCRAPE_GOROUTINE,       /* pprof goroutine -> profile */
    SCRAPE_GOROUTINE_LEAK,  /* pprof goroutineleak (newer Go) -> profile */
    SCRAPE_KIND_COUNT
};

struct scrape_limits {
    long timeout_ms;            /* whole transfer; default 2000 */
    long connect_timeout_ms;    /* default 1000 */
    size_t max_body;            /* bytes read off the wire; default 8 MiB */
    size_t max_inflated;        /* bytes after gunzip; default 16 MiB */
    unsigned max_in_flight;     /* default 256 */
};

struct scrape_request {
    int64_t target_id;
    enum scrape_kind kind;
    char url[512];              /* full URL, http:// only */
};

struct scrape_result {
    int64_t target_id;
    enum scrape_kind kind;
    char url[512];
    int64_t started_wall_ms;
    int64_t duration_ms;
    long http_status;           /* 0 if no response */
    size_t body_bytes;          /* as received */
    int error;                  /* 0, or negative errno: -ETIMEDOUT, -ECONNREFUSED, -EFBIG,
                                 * -EBADMSG (unparseable), -ENOENT (404), -EPROTO (other HTTP
                                 * status), -EIO (anything else) */
    char message[256];          /* plain words when error != 0: "timed out after 2000 ms" */
    struct go_stats stats;      /* SCRAPE_VARS, SCRAPE_METRICS */
    struct pprof_profile *profile;  /* SCRAPE_HEAP, SCRAPE_GOROUTINE*; owned by the result */
    uint8_t *raw;               /* the body as received, for profiles only (owned) */
    size_t raw_len;
};

/* Starts the worker thread.  limits may be NULL for the defaults.  0 or negative errno. */
int scrape_start(const struct scrape_limits *limits, struct scraper **out);
/* Stops the thread, abandoning transfers in flight and freeing unread results. */
void scrape_stop(struct scraper *sc);
/* Queues a request.  0, -EBUSY (too many in flight), or -EINVAL (not an http:// URL). */
int scrape_submit(struct scraper *sc, const struct scrape_request *req);
/* Readable (POLLIN) while results are waiting. */
int scrape_event_fd(const struct scraper *sc);
/* The next result, or NULL if none; free it with scrape_result_free. */
struct scrape_result *scrape_take(struct scraper *sc);
void scrape_result_free(struct scrape_result *r);

const char *scrape_kind_name(enum scrape_kind kind);   /* "vars", "metrics", "heap", ... */

#endif
