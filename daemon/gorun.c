/* gorun.c - scheduling the Go runtime scrapes and recording what they bring (gorun.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "breakdown.h"
#include "gorun.h"
#include "log.h"
#include "profstore.h"
#include "store.h"
#include "targets.h"
#include "util.h"

/* A source the program does not serve (404) is asked again this rarely: it may be turned
 * on at run time, but asking often would only fill its logs. */
#define NOT_SERVED_RECHECK_MS (10 * 60 * 1000LL)
/* Failures double the wait up to this. */
#define BACKOFF_MAX_MS (5 * 60 * 1000LL)

static const char *const default_path[SCRAPE_KIND_COUNT] = {
    [SCRAPE_VARS] = "/debug/vars",
    [SCRAPE_METRICS] = "/metrics",
    [SCRAPE_HEAP] = "/debug/pprof/heap",
    [SCRAPE_GOROUTINE] = "/debug/pprof/goroutine",
    [SCRAPE_GOROUTINE_LEAK] = "/debug/pprof/goroutineleak",
};

struct gotarget {
    int64_t id;
    struct gorun_source src[SCRAPE_KIND_COUNT];
    bool in_flight[SCRAPE_KIND_COUNT];
    int64_t next_due[SCRAPE_KIND_COUNT];    /* monotonic */
    int failures[SCRAPE_KIND_COUNT];
    struct go_stats latest;
    int64_t latest_ms;
    struct store_series *series[METRIC_COUNT];
};

struct gorun {
    struct store *st;
    struct profstore *ps;
    struct scraper *sc;         /* NULL until a target has an endpoint */
    struct scrape_limits limits;
    struct gorun_config cfg;
    struct gotarget **v;        /* sorted by id */
    size_t n, cap;
    gorun_heap_sink_fn heap_sink;
    void *heap_sink_arg;
};

void gorun_set_heap_sink(struct gorun *g, gorun_heap_sink_fn fn, void *arg)
{
    g->heap_sink = fn;
    g->heap_sink_arg = arg;
}

int gorun_open(struct store *st, struct profstore *ps, const struct scrape_limits *limits,
               const struct gorun_config *cfg, struct gorun **out)
{
    struct gorun *g = xcalloc(1, sizeof *g);
    g->st = st;
    g->ps = ps;
    g->limits = *limits;
    g->cfg = *cfg;
    *out = g;
    return 0;
}

void gorun_close(struct gorun *g)
{
    if (!g)
        return;
    scrape_stop(g->sc);
    for (size_t i = 0; i < g->n; i++)
        free(g->v[i]);
    free(g->v);
    free(g);
}

void gorun_set_config(struct gorun *g, const struct gorun_config *cfg)
{
    g->cfg = *cfg;
}

static size_t lower_bound(const struct gorun *g, int64_t id)
{
    size_t lo = 0, hi = g->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (g->v[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct gotarget *find(const struct gorun *g, int64_t id)
{
    size_t i = lower_bound(g, id);
    return i < g->n && g->v[i]->id == id ? g->v[i] : NULL;
}

static struct gotarget *find_or_add(struct gorun *g, int64_t id)
{
    size_t i = lower_bound(g, id);
    if (i < g->n && g->v[i]->id == id)
        return g->v[i];
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 16;
        g->v = xreallocarray(g->v, g->cap, sizeof *g->v);
    }
    memmove(&g->v[i + 1], &g->v[i], (g->n - i) * sizeof *g->v);
    struct gotarget *gt = xcalloc(1, sizeof *gt);
    gt->id = id;
    for (int k = 0; k < SCRAPE_KIND_COUNT; k++)
        gt->src[k].served = -1;
    g->v[i] = gt;
    g->n++;
    return gt;
}

void gorun_forget(struct gorun *g, int64_t target_id)
{
    size_t i = lower_bound(g, target_id);
    if (i < g->n && g->v[i]->id == target_id) {
        free(g->v[i]);
        memmove(&g->v[i], &g->v[i + 1], (g->n - i - 1) * sizeof *g->v);
        g->n--;
    }
    if (g->ps && profstore_remove_target(g->ps, target_id) < 0)
        log_warn("cannot remove the profiles of target %lld: %s", (long long)target_id,
                 profstore_errmsg(g->ps));
}

static bool url_chars_ok(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f || *s == '#' || *s == '"' || *s == '\\')
            return false;
    return true;
}

int gorun_validate(const struct target_record *rec, char **err)
{
    if (rec->endpoint[0]) {
        if (strncmp(rec->endpoint, "http://", 7) != 0 || !rec->endpoint[7] ||
            rec->endpoint[7] == '/' || !url_chars_ok(rec->endpoint) ||
            strchr(rec->endpoint + 7, '?')) {
            *err = xasprintf("endpoint must be an http:// URL like http://127.0.0.1:6060 "
                             "(https is not supported)");
            return -EINVAL;
        }
    }
    const char *paths[] = { rec->vars_path, rec->heap_path, rec->goroutine_path,
                            rec->metrics_path };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (paths[i][0] && (paths[i][0] != '/' || !url_chars_ok(paths[i]))) {
            *err = xasprintf("paths must start with '/' and contain no spaces (got \"%s\")",
                             paths[i]);
            return -EINVAL;
        }
    if (!rec->endpoint[0] && (rec->vars_path[0] || rec->heap_path[0] || rec->goroutine_path[0] ||
                              rec->metrics_path[0] || rec->runtime_interval_ms ||
                              rec->profile_interval_ms || rec->heap_gc)) {
        *err = xasprintf("runtime settings need an endpoint");
        return -EINVAL;
    }
    const int64_t day = 24LL * 3600 * 1000;
    if ((rec->runtime_interval_ms && (rec->runtime_interval_ms < 1000 || rec->runtime_interval_ms > day)) ||
        (rec->profile_interval_ms && (rec->profile_interval_ms < 1000 || rec->profile_interval_ms > day))) {
        *err = xasprintf("runtime and profile intervals must be between 1s and 1d");
        return -EINVAL;
    }
    return 0;
}

static const char *path_of(const struct target_record *rec, enum scrape_kind k)
{
    const char *p = NULL;
    switch (k) {
    case SCRAPE_VARS: p = rec->vars_path; break;
    case SCRAPE_METRICS: p = rec->metrics_path; break;
    case SCRAPE_HEAP: p = rec->heap_path; break;
    case SCRAPE_GOROUTINE: p = rec->goroutine_path; break;
    default: break;
    }
    return p && p[0] ? p : default_path[k];
}

static void build_url(const struct gorun *g, const struct target_record *rec, enum scrape_kind k,
                      char *url, size_t len)
{
    size_t n = strlen(rec->endpoint);
    while (n > 7 && rec->endpoint[n - 1] == '/')
        n--;
    bool gc = k == SCRAPE_HEAP && (rec->heap_gc || g->cfg.heap_gc);
    snprintf(url, len, "%.*s%s%s", (int)n, rec->endpoint, path_of(rec, k), gc ? "?gc=1" : "");
}

static int64_t interval_of(const struct gorun *g, const struct target_record *rec,
                           enum scrape_kind k)
{
    if (k == SCRAPE_VARS || k == SCRAPE_METRICS)
        return rec->runtime_interval_ms ? rec->runtime_interval_ms : g->cfg.runtime_interval_ms;
    return rec->profile_interval_ms ? rec->profile_interval_ms : g->cfg.profile_interval_ms;
}

int gorun_event_fd(const struct gorun *g)
{
    return g->sc ? scrape_event_fd(g->sc) : -1;
}

int64_t gorun_tick(struct gorun *g, struct targets *ts, int64_t now)
{
    int64_t next = now + 60 * 1000;
    for (size_t i = 0; i < targets_count(ts); i++) {
        const struct target_record *rec = target_record(targets_at(ts, i));
        if (!rec->endpoint[0])
            continue;
        if (!g->sc) {
            int r = scrape_start(&g->limits, &g->sc);
            if (r < 0) {
                log_err("cannot start the scraper: %s; retrying in a minute", strerror(-r));
                return next;
            }
        }
        struct gotarget *gt = find_or_add(g, rec->id);
        if (rec->state != TARGET_ACTIVE)
            continue;
        /* Runtime statistics come from expvar; /metrics only if expvar is not served. */
        gt->src[SCRAPE_VARS].enabled = true;
        gt->src[SCRAPE_METRICS].enabled = gt->src[SCRAPE_VARS].served == 0;
        gt->src[SCRAPE_HEAP].enabled = gt->src[SCRAPE_GOROUTINE].enabled = true;
        gt->src[SCRAPE_GOROUTINE_LEAK].enabled = true;
        for (int k = 0; k < SCRAPE_KIND_COUNT; k++) {
            struct gorun_source *src = &gt->src[k];
            if (!src->enabled || gt->in_flight[k])
                continue;
            if (now < gt->next_due[k]) {
                if (gt->next_due[k] < next)
                    next = gt->next_due[k];
                continue;
            }
            struct scrape_request req = { .target_id = rec->id, .kind = (enum scrape_kind)k };
            build_url(g, rec, (enum scrape_kind)k, req.url, sizeof req.url);
            snprintf(src->url, sizeof src->url, "%s", req.url);
            int r = scrape_submit(g->sc, &req);
            int64_t iv = src->served == 0 ? NOT_SERVED_RECHECK_MS
                                          : interval_of(g, rec, (enum scrape_kind)k);
            if (r < 0) {
                /* The scraper is full: every target is slow.  Try again in a second. */
                gt->next_due[k] = now + 1000;
                snprintf(src->error, sizeof src->error, "not scraped: %s", strerror(-r));
            } else {
                gt->in_flight[k] = true;
                gt->next_due[k] = now + iv;
            }
            if (gt->next_due[k] < next)
                next = gt->next_due[k];
        }
    }
    return next;
}

static void record(struct gorun *g, struct gotarget *gt, enum metric_id m, int64_t ts_ms,
                   int64_t value)
{
    if (!gt->series[m]) {
        gt->series[m] = store_series_get(g->st, gt->id, metric_info(m)->name);
        if (!gt->series[m])
            return;
    }
    (void)store_append(g->st, gt->series[m], ts_ms, value);
    gt->latest.v[m] = value;
    gt->latest.present |= UINT64_C(1) << m;
}

static void record_stats(struct gorun *g, struct gotarget *gt, const struct go_stats *s,
                         int64_t ts_ms)
{
    for (int m = 0; m < METRIC_COUNT; m++)
        if ((s->present >> m) & 1)
            record(g, gt, (enum metric_id)m, ts_ms, s->v[m]);
    gt->latest_ms = ts_ms;
}

/* Memory outside the Go runtime, as a series of its own: the leak detector judges it like
 * the heap.  From the newest OS sample and these runtime figures (breakdown.h). */
static void record_non_go(struct gorun *g, struct gotarget *gt, const struct target *t,
                          int64_t ts_ms)
{
    double values[METRIC_COUNT] = { 0 };
    const int64_t *os;
    uint64_t present = t ? target_latest(t, &os) : 0;
    for (int m = 0; m < METRIC_COUNT; m++) {
        if ((present >> m) & 1)
            values[m] = (double)os[m] * metric_info((enum metric_id)m)->scale;
        if ((gt->latest.present >> m) & 1 && m >= M_GO_HEAP_ALLOC)
            values[m] = (double)gt->latest.v[m] * metric_info((enum metric_id)m)->scale;
    }
    present |= gt->latest.present;
    struct breakdown b;
    if (breakdown_compute(values, present, &b) == 0)
        record(g, gt, M_GO_NON_GO, ts_ms, b.bytes[BD_NON_GO]);
}

static void handle(struct gorun *g, struct gotarget *gt, const struct target *t,
                   struct scrape_result *r, int64_t now)
{
    enum scrape_kind k = r->kind;
    struct gorun_source *src = &gt->src[k];
    gt->in_flight[k] = false;
    src->last_attempt_ms = r->started_wall_ms;
    src->duration_ms = r->duration_ms;
    if (r->error == -ENOENT) {
        if (src->served != 0 && k != SCRAPE_GOROUTINE_LEAK)
            log_info("target %lld: %s is not served (404); asking again every 10 minutes",
                     (long long)gt->id, r->url);
        src->served = 0;
        src->ok = false;
        snprintf(src->error, sizeof src->error, "not served (HTTP 404)");
        gt->next_due[k] = now + NOT_SERVED_RECHECK_MS;
        if (k == SCRAPE_VARS)   /* try /metrics at once */
            gt->next_due[SCRAPE_METRICS] = now;
        return;
    }
    if (r->error < 0) {
        gt->failures[k]++;
        if (gt->failures[k] == 1)
            log_warn("target %lld: scraping %s failed: %s", (long long)gt->id, r->url, r->message);
        src->ok = false;
        snprintf(src->error, sizeof src->error, "%s", r->message);
        int64_t wait = 1000LL << (gt->failures[k] < 9 ? gt->failures[k] : 9);
        gt->next_due[k] = now + (wait < BACKOFF_MAX_MS ? wait : BACKOFF_MAX_MS);
        return;
    }
    if (gt->failures[k] > 0)
        log_info("target %lld: %s answers again", (long long)gt->id, r->url);
    gt->failures[k] = 0;
    src->served = 1;
    src->ok = true;
    src->error[0] = '\0';
    src->last_ok_ms = r->started_wall_ms;

    switch (k) {
    case SCRAPE_VARS:
    case SCRAPE_METRICS:
        record_stats(g, gt, &r->stats, r->started_wall_ms);
        record_non_go(g, gt, t, r->started_wall_ms);
        break;
    case SCRAPE_HEAP:
        if (r->profile && r->raw && g->heap_sink)
            g->heap_sink(g->heap_sink_arg, gt->id, r->started_wall_ms, r->raw, r->raw_len);
        if (r->profile && g->ps &&
            profstore_add(g->ps, gt->id, PPROF_HEAP, r->started_wall_ms, r->profile) < 0)
            log_warn("target %lld: cannot store a heap profile: %s", (long long)gt->id,
                     profstore_errmsg(g->ps));
        break;
    case SCRAPE_GOROUTINE:
        if (r->profile && g->ps &&
            profstore_add(g->ps, gt->id, PPROF_GOROUTINE, r->started_wall_ms, r->profile) < 0)
            log_warn("target %lld: cannot store a goroutine profile: %s", (long long)gt->id,
                     profstore_errmsg(g->ps));
        /* expvar has no goroutine count; unless /metrics gives it, the profile's total is it. */
        if (r->profile && gt->src[SCRAPE_METRICS].served != 1)
            record(g, gt, M_GO_GOROUTINES, r->started_wall_ms, r->profile->total[PV_COUNT]);
        break;
    case SCRAPE_GOROUTINE_LEAK:
        /* Newer Go finds goroutines blocked on what nothing can reach any more: proof of a
         * leak, not a guess.  Its count is kept as a series; the stacks are in the profile. */
        if (r->profile)
            record(g, gt, M_GO_GOROUTINES_LEAKED, r->started_wall_ms, r->profile->total[PV_COUNT]);
        break;
    default:
        break;
    }
}

void gorun_collect(struct gorun *g, struct targets *ts)
{
    struct scrape_result *r;
    int64_t now = now_mono_ms();
    while (g->sc && (r = scrape_take(g->sc))) {
        struct gotarget *gt = find(g, r->target_id);
        if (gt)     /* else the target was removed while its scrape ran */
            handle(g, gt, targets_find_id(ts, r->target_id), r, now);
        scrape_result_free(r);
    }
}

const struct go_stats *gorun_latest(const struct gorun *g, int64_t target_id, int64_t *when_ms)
{
    const struct gotarget *gt = find(g, target_id);
    if (!gt || !gt->latest.present)
        return NULL;
    if (when_ms)
        *when_ms = gt->latest_ms;
    return &gt->latest;
}

const struct gorun_source *gorun_sources(const struct gorun *g, int64_t target_id)
{
    const struct gotarget *gt = find(g, target_id);
    return gt ? gt->src : NULL;
}
