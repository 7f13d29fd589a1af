/* scrape.c - fetch and parse Go targets' debug endpoints on a worker thread (see scrape.h).
 *
 * DESIGN
 * One worker thread owns a libcurl multi handle and every easy handle; the main thread never
 * touches either, except for curl_multi_wakeup(), the one libcurl call documented as safe
 * from another thread.  The two threads share three things under one mutex:
 *   queue   - jobs submitted and not yet picked up by the worker;
 *   done    - jobs whose result is ready, oldest first, announced through an eventfd;
 *   pending - queued + running + unread results: the number max_in_flight bounds.
 * A job moves queue -> running (worker-only list) -> done -> scrape_take, which hands its
 * result over and frees the job.  So the memory held is at most max_in_flight jobs, each with
 * at most max_body bytes of body and, for an unread profile, its decoded form.
 *
 * The eventfd is a counter of results published since it was last drained; scrape_take
 * drains it, under the lock, when it takes the last result, so "readable" means "results
 * waiting" without a wakeup getting lost between the two threads.
 *
 * Every transfer: http only (also for redirects, which we do not follow anyway), never through
 * a proxy from the environment (targets are local; http_proxy would send them elsewhere),
 * no signals (curl's SIGALRM for DNS timeouts is not thread-safe), a timeout on the whole
 * transfer, and no Accept-Encoding: curl must not inflate anything, because profiles are gzip
 * files the parser inflates under its own cap and a Content-Encoding: gzip bomb must stay
 * compressed.  The body cap has two halves: CURLOPT_MAXFILESIZE refuses a too-large
 * Content-Length before any body byte, and the write callback stops chunked bodies, which
 * MAXFILESIZE ignores in curl 7.88 (techref 10).
 *
 * The worker parses what it fetched, so the main loop never spends time on a body.  The
 * price: while it parses, other transfers wait; the worst case, a gzip bomb inflated to the
 * 16 MiB default cap, takes ~20 ms, and a transfer may end that much after its timeout.
 *
 * Nothing is logged from the worker (log.c is written for one thread); results carry their
 * errors in plain words and the main loop decides what is worth saying. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <unistd.h>

#include <curl/curl.h>

#include "curlglobal.h"
#include "expvar.h"
#include "log.h"
#include "pprof.h"
#include "promtext.h"
#include "scrape.h"
#include "util.h"

static const struct scrape_limits default_limits = {
    .timeout_ms = 2000,
    .connect_timeout_ms = 1000,
    .max_body = 8u << 20,
    .max_inflated = 16u << 20,
    .max_in_flight = 256,
};

/* The first body buffer; it doubles from here up to max_body.  Most /debug/vars pages fit. */
#define BODY_INITIAL (16u << 10)
/* Finished easy handles kept for the next transfers, so steady scraping allocates nothing. */
#define IDLE_HANDLES_MAX 32
/* The worker's longest sleep; curl_multi_poll() returns sooner for curl's own timers. */
#define POLL_MAX_MS 1000

struct job {
    TAILQ_ENTRY(job) link;
    struct scrape_result *res;      /* filled in as we go; handed over by scrape_take */
    /* Worker-only from here on. */
    struct scraper *sc;
    CURL *easy;                     /* while running */
    uint8_t *body;                  /* what the write callback kept */
    size_t len, cap;
    bool status_checked;            /* the write callback has looked at the HTTP status */
    bool bad_status;                /* ... and stopped the transfer: not a 2xx */
    bool too_big;                   /* ... or stopped it at max_body */
    int64_t started_mono;
    char errbuf[CURL_ERROR_SIZE];
};

TAILQ_HEAD(job_list, job);

struct scraper {
    struct scrape_limits lim;
    CURLM *multi;
    int efd;
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t lock;
    struct job_list queue;          /* lock */
    struct job_list done;           /* lock */
    unsigned pending;               /* lock: queued + running + unread */
    bool stopping;                  /* lock */

    /* Worker-only. */
    struct job_list running;
    CURL *idle[IDLE_HANDLES_MAX];
    unsigned nidle;
};

static const char *const kind_names[SCRAPE_KIND_COUNT] = {
    [SCRAPE_VARS] = "vars",
    [SCRAPE_METRICS] = "metrics",
    [SCRAPE_HEAP] = "heap",
    [SCRAPE_GOROUTINE] = "goroutine",
    [SCRAPE_GOROUTINE_LEAK] = "goroutineleak",     /* the pprof profile's own name */
};

const char *scrape_kind_name(enum scrape_kind kind)
{
    if ((unsigned)kind >= SCRAPE_KIND_COUNT)
        return "unknown";
    return kind_names[kind];
}

void scrape_result_free(struct scrape_result *r)
{
    if (!r)
        return;
    if (r->profile)
        pprof_free(r->profile);
    free(r->raw);
    free(r);
}

static void job_free(struct job *j)
{
    if (!j)
        return;
    scrape_result_free(j->res);
    free(j->body);
    free(j);
}

/* ---- the worker ------------------------------------------------------------------------ */

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct job *j = arg;
    size_t n = size * nmemb;        /* size is always 1 */

    /* A non-2xx body is never used: stop reading it at once rather than take up to max_body
     * of an error page.  finish() still reports the status.  (Returning a count other than n
     * makes the transfer fail with CURLE_WRITE_ERROR.) */
    if (!j->status_checked) {
        long code = 0;
        (void)curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
        j->status_checked = true;
        if (code < 200 || code > 299) {
            j->bad_status = true;
            return 0;
        }
    }
    if (n > j->sc->lim.max_body - j->len) {
        j->too_big = true;
        return 0;
    }
    if (j->len + n > j->cap) {
        size_t cap = j->cap ? j->cap : BODY_INITIAL;
        while (cap < j->len + n)
            cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
        if (cap > j->sc->lim.max_body)
            cap = j->sc->lim.max_body;
        j->body = xreallocarray(j->body, cap, 1);
        j->cap = cap;
    }
    memcpy(j->body + j->len, data, n);
    j->len += n;
    return n;
}

/* The options that make a transfer safe to point at anything; see DESIGN.  Returns the
 * first failure: a transfer we could not restrict must not run. */
static CURLcode setup_easy(struct scraper *sc, struct job *j)
{
    CURL *e = j->easy;
    CURLcode rc;

#define SET(opt, val) do { if ((rc = curl_easy_setopt(e, opt, val)) != CURLE_OK) return rc; } while (0)
    SET(CURLOPT_URL, j->res->url);
    SET(CURLOPT_PROTOCOLS_STR, "http");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_NOPROXY, "*");
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TIMEOUT_MS, sc->lim.timeout_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, sc->lim.connect_timeout_ms);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)sc->lim.max_body);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, j);
    SET(CURLOPT_PRIVATE, j);
    SET(CURLOPT_ERRORBUFFER, j->errbuf);
    SET(CURLOPT_USERAGENT, "memwatchd/" PACKAGE_VERSION);
#undef SET
    /* Deliberately not set: CURLOPT_ACCEPT_ENCODING (see DESIGN). */
    return CURLE_OK;
}

static CURL *easy_get(struct scraper *sc)
{
    if (sc->nidle > 0)
        return sc->idle[--sc->nidle];
    return curl_easy_init();
}

/* Keeps a finished handle for the next transfer.  Connections live in the multi handle's
 * cache either way; this only saves curl_easy_init()'s allocations. */
static void easy_put(struct scraper *sc, CURL *e)
{
    if (sc->nidle < IDLE_HANDLES_MAX) {
        curl_easy_reset(e);
        sc->idle[sc->nidle++] = e;
    } else {
        curl_easy_cleanup(e);
    }
}

static void publish(struct scraper *sc, struct job *j)
{
    static const uint64_t one = 1;

    pthread_mutex_lock(&sc->lock);
    TAILQ_INSERT_TAIL(&sc->done, j, link);
    /* Cannot fail short of a counter at 2^64-2: the main loop drains it. */
    (void)!write(sc->efd, &one, sizeof one);
    pthread_mutex_unlock(&sc->lock);
}

static void fail(struct job *j, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fail(struct job *j, int error, const char *fmt, ...)
{
    va_list ap;

    j->res->error = error;
    va_start(ap, fmt);
    vsnprintf(j->res->message, sizeof j->res->message, fmt, ap);
    va_end(ap);
}

/* Maps curl's outcome to scrape.h's error classes.  Leaves error 0 for a complete 2xx. */
static void classify(struct scraper *sc, struct job *j, CURLcode cc)
{
    struct scrape_result *r = j->res;

    if (j->too_big || cc == CURLE_FILESIZE_EXCEEDED) {
        fail(j, -EFBIG, "response larger than %zu bytes", sc->lim.max_body);
        return;
    }
    if (cc == CURLE_OK || j->bad_status) {
        if (r->http_status >= 200 && r->http_status <= 299)
            return;
        if (r->http_status == 404) {
            fail(j, -ENOENT, "HTTP 404");
            return;
        }
        /* The header as sent: CURLINFO_REDIRECT_URL stays NULL once on_body() has stopped
         * the transfer. */
        struct curl_header *location = NULL;
        if (r->http_status >= 300 && r->http_status <= 399 &&
            curl_easy_header(j->easy, "Location", 0, CURLH_HEADER, -1, &location) == CURLHE_OK)
            fail(j, -EPROTO, "HTTP %ld: redirect to %.160s not followed", r->http_status,
                 location->value);
        else
            fail(j, -EPROTO, "HTTP %ld", r->http_status);
        return;
    }

    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT: {
        /* A reused connection also reports a connect time of 0, so tell a connect timeout
         * by when it struck: before the whole-transfer timeout could have. */
        curl_off_t connect_us = 0, total_us = 0;
        (void)curl_easy_getinfo(j->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
        (void)curl_easy_getinfo(j->easy, CURLINFO_TOTAL_TIME_T, &total_us);
        if (connect_us == 0 && total_us / 1000 < sc->lim.timeout_ms - 100) {
            long ms = sc->lim.connect_timeout_ms < sc->lim.timeout_ms ? sc->lim.connect_timeout_ms
                                                                      : sc->lim.timeout_ms;
            fail(j, -ETIMEDOUT, "connect timed out after %ld ms", ms);
        } else if (r->http_status == 0) {
            fail(j, -ETIMEDOUT, "timed out after %ld ms", sc->lim.timeout_ms);
        } else {
            /* Headers came; the body did not finish: a trickle, or a body too slow for us. */
            fail(j, -ETIMEDOUT, "timed out after %ld ms (HTTP %ld, %zu bytes received)",
                 sc->lim.timeout_ms, r->http_status, r->body_bytes);
        }
        return;
    }
    case CURLE_COULDNT_CONNECT: {
        long os_errno = 0;
        (void)curl_easy_getinfo(j->easy, CURLINFO_OS_ERRNO, &os_errno);
        if (os_errno == ECONNREFUSED || os_errno == 0)
            fail(j, -ECONNREFUSED, "connection refused");
        else
            fail(j, -EIO, "cannot connect: %s", strerror((int)os_errno));
        return;
    }
    case CURLE_GOT_NOTHING:
        fail(j, -EIO, "connection closed without a response");
        return;
    default:
        fail(j, -EIO, "%s", j->errbuf[0] ? j->errbuf : curl_easy_strerror(cc));
        return;
    }
}

/* Parses a complete 2xx body by kind.  A profile's body is kept as result.raw, also when it
 * does not parse: it is what the target said. */
static void parse(struct scraper *sc, struct job *j)
{
    struct scrape_result *r = j->res;
    const uint8_t *body = j->body ? j->body : (const uint8_t *)"";
    char err[sizeof r->message] = "";
    bool profile = false;
    int rc;

    switch (r->kind) {
    case SCRAPE_VARS:
        rc = expvar_parse((const char *)body, j->len, &r->stats, err, sizeof err);
        break;
    case SCRAPE_METRICS:
        rc = promtext_parse_go((const char *)body, j->len, &r->stats, err, sizeof err);
        break;
    case SCRAPE_HEAP:
        profile = true;
        rc = pprof_parse(body, j->len, sc->lim.max_inflated, PPROF_HEAP, &r->profile, err,
                         sizeof err);
        break;
    case SCRAPE_GOROUTINE:
    case SCRAPE_GOROUTINE_LEAK:
        profile = true;
        rc = pprof_parse(body, j->len, sc->lim.max_inflated, PPROF_GOROUTINE, &r->profile, err,
                         sizeof err);
        break;
    default:
        rc = -EINVAL;
        snprintf(err, sizeof err, "unknown kind %d", (int)r->kind);
        break;
    }

    if (rc < 0) {
        /* Whatever a parser left behind on failure is not a result. */
        memset(&r->stats, 0, sizeof r->stats);
        if (r->profile) {
            pprof_free(r->profile);
            r->profile = NULL;
        }
        r->error = rc == -EFBIG ? -EFBIG : -EBADMSG;
        snprintf(r->message, sizeof r->message, "%s", err[0] ? err : "unparseable response");
    }
    if (profile && j->len > 0) {
        /* Hand the buffer over, trimmed: an unread result should not hold twice its size. */
        r->raw = j->len < j->cap ? xreallocarray(j->body, j->len, 1) : j->body;
        r->raw_len = j->len;
        j->body = NULL;
        j->len = j->cap = 0;
    }
}

static void finish(struct scraper *sc, struct job *j, CURLcode cc)
{
    struct scrape_result *r = j->res;
    curl_off_t received = 0;

    (void)curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &r->http_status);
    if (curl_easy_getinfo(j->easy, CURLINFO_SIZE_DOWNLOAD_T, &received) == CURLE_OK &&
        received > 0)
        r->body_bytes = (size_t)received;
    else
        r->body_bytes = j->len;
    r->duration_ms = now_mono_ms() - j->started_mono;

    classify(sc, j, cc);
    if (r->error == 0)
        parse(sc, j);

    TAILQ_REMOVE(&sc->running, j, link);
    (void)curl_multi_remove_handle(sc->multi, j->easy);
    easy_put(sc, j->easy);
    j->easy = NULL;
    free(j->body);
    j->body = NULL;
    publish(sc, j);
}

static void start_transfer(struct scraper *sc, struct job *j)
{
    CURLcode cc;
    CURLMcode mc;

    j->sc = sc;
    j->started_mono = now_mono_ms();
    j->res->started_wall_ms = now_wall_ms();
    j->easy = easy_get(sc);
    if (!j->easy) {
        fail(j, -EIO, "cannot create a transfer");
        publish(sc, j);
        return;
    }
    if ((cc = setup_easy(sc, j)) != CURLE_OK) {
        fail(j, -EIO, "cannot set up the transfer: %s", curl_easy_strerror(cc));
    } else if ((mc = curl_multi_add_handle(sc->multi, j->easy)) != CURLM_OK) {
        fail(j, -EIO, "cannot start the transfer: %s", curl_multi_strerror(mc));
    } else {
        TAILQ_INSERT_TAIL(&sc->running, j, link);
        return;
    }
    curl_easy_cleanup(j->easy);     /* half set up: not worth recycling */
    j->easy = NULL;
    publish(sc, j);
}

static void *worker_main(void *arg)
{
    struct scraper *sc = arg;
    struct job_list incoming = TAILQ_HEAD_INITIALIZER(incoming);

    for (;;) {
        pthread_mutex_lock(&sc->lock);
        bool stop = sc->stopping;
        if (!stop)
            TAILQ_CONCAT(&incoming, &sc->queue, link);
        pthread_mutex_unlock(&sc->lock);
        if (stop)
            break;

        struct job *j;
        while ((j = TAILQ_FIRST(&incoming))) {
            TAILQ_REMOVE(&incoming, j, link);
            start_transfer(sc, j);
        }

        /* Its errors (out of memory, a bad handle) concern no transfer in particular and
         * have no remedy here; transfers still end through their own timeouts. */
        int running = 0;
        (void)curl_multi_perform(sc->multi, &running);

        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(sc->multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            void *done = NULL;
            (void)curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &done);
            /* msg points into the handle: read the result before finish() removes it. */
            CURLcode cc = msg->data.result;
            finish(sc, done, cc);
        }

        /* Returns on socket activity, curl's next timeout, or curl_multi_wakeup(). */
        if (curl_multi_poll(sc->multi, NULL, 0, POLL_MAX_MS, NULL) != CURLM_OK)
            usleep(10 * 1000);      /* should not happen; at least do not spin on it */
    }

    /* Abandon whatever is running: removing a handle closes its connection. */
    struct job *j;
    while ((j = TAILQ_FIRST(&sc->running))) {
        TAILQ_REMOVE(&sc->running, j, link);
        (void)curl_multi_remove_handle(sc->multi, j->easy);
        curl_easy_cleanup(j->easy);
        job_free(j);
    }
    while (sc->nidle > 0)
        curl_easy_cleanup(sc->idle[--sc->nidle]);
    return NULL;
}

/* ---- the main thread's side ------------------------------------------------------------ */

int scrape_start(const struct scrape_limits *limits, struct scraper **out)
{
    struct scrape_limits lim = default_limits;
    int rc;

    *out = NULL;
    /* A zero field means its default, so callers can set only what they care about. */
    if (limits) {
        if (limits->timeout_ms < 0 || limits->connect_timeout_ms < 0)
            return -EINVAL;
        if (limits->timeout_ms)
            lim.timeout_ms = limits->timeout_ms;
        if (limits->connect_timeout_ms)
            lim.connect_timeout_ms = limits->connect_timeout_ms;
        if (limits->max_body)
            lim.max_body = limits->max_body;
        if (limits->max_inflated)
            lim.max_inflated = limits->max_inflated;
        if (limits->max_in_flight)
            lim.max_in_flight = limits->max_in_flight;
    }

    /* Before our worker exists (curlglobal.h). */
    const char *why = NULL;
    if (curl_global_once(&why) < 0) {
        log_debug("scrape: curl_global_init: %s", why);
        return -EIO;
    }

    struct scraper *sc = xcalloc(1, sizeof *sc);
    sc->lim = lim;
    sc->efd = -1;
    pthread_mutex_init(&sc->lock, NULL);
    TAILQ_INIT(&sc->queue);
    TAILQ_INIT(&sc->done);
    TAILQ_INIT(&sc->running);

    sc->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (sc->efd < 0) {
        rc = -errno;
        goto fail;
    }
    sc->multi = curl_multi_init();
    if (!sc->multi) {
        rc = -ENOMEM;
        goto fail;
    }
    /* No per-host connection limit: a target's stalled transfer must not queue its other
     * requests behind it.  max_in_flight bounds the total. */

    /* The worker starts with every signal blocked: the daemon takes SIGTERM/SIGHUP through
     * a signalfd in the main thread, and a process-directed signal must never be delivered
     * to a thread that does not expect it. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = -pthread_create(&sc->thread, NULL, worker_main, sc);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc < 0)
        goto fail;
    sc->thread_started = true;
    (void)pthread_setname_np(sc->thread, "mw-scrape");     /* for top -H, gdb */

    *out = sc;
    return 0;

fail:
    scrape_stop(sc);
    return rc;
}

void scrape_stop(struct scraper *sc)
{
    if (!sc)
        return;
    if (sc->thread_started) {
        pthread_mutex_lock(&sc->lock);
        sc->stopping = true;
        pthread_mutex_unlock(&sc->lock);
        (void)curl_multi_wakeup(sc->multi);
        pthread_join(sc->thread, NULL);
    }

    struct job *j;
    while ((j = TAILQ_FIRST(&sc->queue))) {
        TAILQ_REMOVE(&sc->queue, j, link);
        job_free(j);
    }
    while ((j = TAILQ_FIRST(&sc->done))) {
        TAILQ_REMOVE(&sc->done, j, link);
        job_free(j);
    }
    if (sc->multi)
        curl_multi_cleanup(sc->multi);
    if (sc->efd >= 0)
        close(sc->efd);
    pthread_mutex_destroy(&sc->lock);
    free(sc);
}

/* An absolute http:// URL with a host, as libcurl itself will parse it. */
static bool url_ok(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    bool ok = false;

    if (!u)
        return false;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        ok = strcasecmp(scheme, "http") == 0 && host[0] != '\0';
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

int scrape_submit(struct scraper *sc, const struct scrape_request *req)
{
    if ((unsigned)req->kind >= SCRAPE_KIND_COUNT)
        return -EINVAL;
    if (!memchr(req->url, '\0', sizeof req->url) || !url_ok(req->url))
        return -EINVAL;

    pthread_mutex_lock(&sc->lock);
    if (sc->pending >= sc->lim.max_in_flight) {
        pthread_mutex_unlock(&sc->lock);
        return -EBUSY;
    }
    struct job *j = xcalloc(1, sizeof *j);
    j->res = xcalloc(1, sizeof *j->res);
    j->res->target_id = req->target_id;
    j->res->kind = req->kind;
    memcpy(j->res->url, req->url, sizeof j->res->url);
    TAILQ_INSERT_TAIL(&sc->queue, j, link);
    sc->pending++;
    pthread_mutex_unlock(&sc->lock);

    (void)curl_multi_wakeup(sc->multi);
    return 0;
}

int scrape_event_fd(const struct scraper *sc)
{
    return sc->efd;
}

struct scrape_result *scrape_take(struct scraper *sc)
{
    struct scrape_result *r = NULL;
    struct job *j;

    pthread_mutex_lock(&sc->lock);
    if ((j = TAILQ_FIRST(&sc->done))) {
        TAILQ_REMOVE(&sc->done, j, link);
        sc->pending--;
    }
    if (TAILQ_EMPTY(&sc->done)) {
        uint64_t n;
        (void)!read(sc->efd, &n, sizeof n);     /* resets the counter; EAGAIN if already 0 */
    }
    pthread_mutex_unlock(&sc->lock);

    if (j) {
        r = j->res;
        j->res = NULL;
        job_free(j);
    }
    return r;
}
