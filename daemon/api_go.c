/* api_go.c - the REST API's Go runtime view: a target's runtime sources and values, the RSS
 * breakdown, heap and goroutine profile diffs, and insights. */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "breakdown.h"
#include "gorun.h"
#include "insight.h"
#include "leak.h"
#include "metrics.h"
#include "profstore.h"
#include "scrape.h"
#include "store.h"
#include "targets.h"
#include "util.h"

/* A metric's value in API units, as an integer where the unit allows. */
static json_t *json_metric(enum metric_id m, int64_t stored)
{
    const struct metric_info *mi = metric_info(m);
    if (mi->scale == 1.0 || mi->scale == 1024.0)
        return json_integer((json_int_t)((double)stored * mi->scale));
    return json_real((double)stored * mi->scale);
}

void api_add_go_latest(struct api *api, const struct target *t, json_t *latest)
{
    const struct go_stats *gs = gorun_latest(api->gr, target_record(t)->id, NULL);
    if (!gs)
        return;
    for (int m = 0; m < METRIC_COUNT; m++)
        if ((gs->present >> m) & 1)
            json_object_set_new(latest, metric_info((enum metric_id)m)->name,
                                json_metric((enum metric_id)m, gs->v[m]));
}

json_t *api_runtime_json(struct api *api, const struct target *t)
{
    const struct target_record *rec = target_record(t);
    if (!rec->endpoint[0])
        return NULL;
    json_t *o = json_object();
    json_object_set_new(o, "endpoint", json_string(rec->endpoint));
    json_object_set_new(o, "heap_gc", json_boolean(rec->heap_gc));
    int64_t when = 0;
    if (gorun_latest(api->gr, rec->id, &when))
        json_object_set_new(o, "last_stats", api_json_seconds(when));
    json_t *sources = json_object();
    const struct gorun_source *src = gorun_sources(api->gr, rec->id);
    for (int k = 0; src && k < SCRAPE_KIND_COUNT; k++) {
        if (!src[k].enabled)
            continue;
        json_t *so = json_object();
        json_object_set_new(so, "ok", json_boolean(src[k].ok));
        json_object_set_new(so, "served", src[k].served < 0 ? json_null()
                                                            : json_boolean(src[k].served));
        json_object_set_new(so, "last", src[k].last_ok_ms ? api_json_seconds(src[k].last_ok_ms)
                                                          : json_null());
        if (src[k].last_attempt_ms)
            json_object_set_new(so, "duration_ms", json_integer(src[k].duration_ms));
        if (src[k].error[0])
            json_object_set_new(so, "error", json_string(src[k].error));
        if (src[k].url[0])
            json_object_set_new(so, "url", json_string(src[k].url));
        json_object_set_new(sources, scrape_kind_name((enum scrape_kind)k), so);
    }
    json_object_set_new(o, "sources", sources);
    return o;
}

static int copy_string(json_t *doc, const char *key, char *dst, size_t cap, struct http_reply *r)
{
    json_t *v = json_object_get(doc, key);
    if (!v)
        return 0;
    if (!json_is_string(v) || json_string_length(v) >= cap) {
        api_reply_error(r, 400, "\"%s\" must be a string shorter than %zu characters", key, cap);
        return -EINVAL;
    }
    snprintf(dst, cap, "%s", json_string_value(v));
    return 0;
}

int api_parse_go_fields(json_t *doc, struct target_record *rec, struct http_reply *r)
{
    if (copy_string(doc, "endpoint", rec->endpoint, sizeof rec->endpoint, r) < 0 ||
        copy_string(doc, "vars_path", rec->vars_path, sizeof rec->vars_path, r) < 0 ||
        copy_string(doc, "heap_path", rec->heap_path, sizeof rec->heap_path, r) < 0 ||
        copy_string(doc, "goroutine_path", rec->goroutine_path, sizeof rec->goroutine_path, r) < 0 ||
        copy_string(doc, "metrics_path", rec->metrics_path, sizeof rec->metrics_path, r) < 0)
        return -EINVAL;
    json_t *v;
    if ((v = json_object_get(doc, "runtime_interval")) &&
        api_json_duration(v, &rec->runtime_interval_ms) < 0) {
        api_reply_error(r, 400, "\"runtime_interval\" must be a duration like \"10s\"");
        return -EINVAL;
    }
    if ((v = json_object_get(doc, "profile_interval")) &&
        api_json_duration(v, &rec->profile_interval_ms) < 0) {
        api_reply_error(r, 400, "\"profile_interval\" must be a duration like \"60s\"");
        return -EINVAL;
    }
    if ((v = json_object_get(doc, "heap_gc"))) {
        if (!json_is_boolean(v)) {
            api_reply_error(r, 400, "\"heap_gc\" must be true or false");
            return -EINVAL;
        }
        rec->heap_gc = json_is_true(v);
    }
    char *err = NULL;
    if (gorun_validate(rec, &err) < 0) {
        api_reply_error(r, 400, "%s", err);
        free(err);
        return -EINVAL;
    }
    return 0;
}

/* ---- leak verdict ------------------------------------------------------------------------ */

json_t *api_verdict_json(struct api *api, const struct target *t)
{
    struct leak_verdict v;
    leakwatch_verdict(api->lw, target_record(t)->id, &v);
    json_t *o = json_object();
    json_object_set_new(o, "state", json_string(detect_state_name(v.state)));
    if (v.state == DETECT_WARMING)
        return o;
    json_object_set_new(o, "kind", json_string(leak_kind_name(v.kind)));
    json_object_set_new(o, "since", api_json_seconds(v.since_ms));
    json_object_set_new(o, "growth_per_hour", json_real(v.trend.slope_per_hour));
    json_object_set_new(o, "confidence", json_real(round(v.trend.confidence * 1000) / 1000));
    json_object_set_new(o, "window", json_pack("{soso}", "from", api_json_seconds(v.trend.from_ms),
                                               "to", api_json_seconds(v.trend.to_ms)));
    json_object_set_new(o, "level", json_real(v.trend.level));
    if (v.limit_bytes > 0) {
        json_object_set_new(o, "limit_bytes", json_integer((json_int_t)v.limit_bytes));
        json_object_set_new(o, "limit_source", json_string(v.limit_source));
    }
    /* Every limit known, keyed like limit_source; null where none or unknown. */
    const struct { const char *name; double bytes; } limits[] = {
        { "memory.max", v.memory_max_bytes },
        { "GOMEMLIMIT", v.gomemlimit_bytes },
        { "MemTotal", v.mem_total_bytes },
    };
    json_t *lo = json_object();
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
        json_object_set_new(lo, limits[i].name, limits[i].bytes > 0
                                                    ? json_integer((json_int_t)limits[i].bytes)
                                                    : json_null());
    json_object_set_new(o, "limits", lo);
    json_object_set_new(o, "seconds_to_limit",
                        v.seconds_to_limit >= 0 ? json_integer((json_int_t)v.seconds_to_limit)
                                                : json_null());
    json_t *sig = json_object();
    for (int k = 0; k < LEAK_KIND_COUNT; k++)
        if (v.signal_seen[k])
            json_object_set_new(sig, leak_kind_name((enum leak_kind)k),
                                json_string(detect_state_name(v.signal_state[k])));
    json_object_set_new(o, "signals", sig);
    return o;
}

/* ---- breakdown --------------------------------------------------------------------------- */

/* The metrics a breakdown reads. */
static const enum metric_id breakdown_inputs[] = {
    M_RSS, M_RSS_ANON, M_RSS_FILE, M_RSS_SHMEM, M_GO_HEAP_ALLOC, M_GO_HEAP_INUSE, M_GO_HEAP_IDLE,
    M_GO_HEAP_RELEASED, M_GO_STACK_INUSE, M_GO_MSPAN_SYS, M_GO_MCACHE_SYS, M_GO_BUCKHASH_SYS,
    M_GO_GC_SYS, M_GO_OTHER_SYS, M_GO_GOROUTINES,
};

struct nearest {
    int64_t t;
    int64_t best_dist;
    double value;
};

static int take_nearest(void *arg, const struct store_point *p)
{
    struct nearest *n = arg;
    int64_t d = llabs(p->ts_ms - n->t);
    if (n->best_dist < 0 || d < n->best_dist) {
        n->best_dist = d;
        n->value = p->avg;
    }
    return 0;
}

/* The values nearest to time t (within two minutes), in API units. */
static uint64_t values_at(struct api *api, int64_t target_id, int64_t t, double *values)
{
    uint64_t present = 0;
    for (size_t i = 0; i < sizeof breakdown_inputs / sizeof breakdown_inputs[0]; i++) {
        enum metric_id m = breakdown_inputs[i];
        struct store_series *s = store_series_find(api->st, target_id, metric_info(m)->name);
        struct nearest n = { .t = t, .best_dist = -1 };
        if (!s || store_query(api->st, s, t - 120000, t + 120000, 0, take_nearest, &n, NULL) < 0 ||
            n.best_dist < 0)
            continue;
        values[m] = n.value * metric_info(m)->scale;
        present |= UINT64_C(1) << m;
    }
    return present;
}

/* The newest values: the OS's last sample and the runtime's last scrape. */
static uint64_t values_latest(struct api *api, const struct target *t, double *values)
{
    const int64_t *os;
    uint64_t present = target_latest(t, &os);
    for (int m = 0; m < METRIC_COUNT; m++)
        if ((present >> m) & 1)
            values[m] = (double)os[m] * metric_info((enum metric_id)m)->scale;
    const struct go_stats *gs = gorun_latest(api->gr, target_record(t)->id, NULL);
    if (gs) {
        for (int m = 0; m < METRIC_COUNT; m++)
            if ((gs->present >> m) & 1)
                values[m] = (double)gs->v[m] * metric_info((enum metric_id)m)->scale;
        present |= gs->present;
    }
    return present;
}

static json_t *breakdown_json(const struct breakdown *b)
{
    json_t *parts = json_array();
    for (int p = 0; p < BD_COUNT; p++) {
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(breakdown_part_name(p)));
        json_object_set_new(o, "bytes", json_integer(b->bytes[p]));
        json_object_set_new(o, "percent", json_real(round(b->percent[p] * 10) / 10));
        json_object_set_new(o, "description", json_string(breakdown_part_description(p)));
        json_array_append_new(parts, o);
    }
    json_t *caveats = json_array();
    for (int i = 0; i < b->ncaveats; i++)
        json_array_append_new(caveats, json_string(b->caveats[i]));
    json_t *doc = json_object();
    json_object_set_new(doc, "rss_bytes", json_integer(b->rss));
    json_object_set_new(doc, "parts", parts);
    json_object_set_new(doc, "released_heap_bytes", json_integer(b->released_heap));
    json_object_set_new(doc, "dominant", json_string(breakdown_part_name(b->dominant)));
    json_object_set_new(doc, "summary", json_string(b->summary));
    json_object_set_new(doc, "caveats", caveats);
    return doc;
}

void api_handle_breakdown(struct api *api, const struct http_request *req, struct target *t,
                          struct http_reply *r)
{
    const struct target_record *rec = target_record(t);
    const char *from_s = http_query(req, "from"), *to_s = http_query(req, "to");
    int64_t now = now_wall_ms(), from = 0, to = now;
    if (from_s && api_parse_time_ms(from_s, now, &from) < 0) {
        api_reply_error(r, 400, "bad \"from\": use unix seconds, \"now\" or a relative time like -1h");
        return;
    }
    if (to_s && api_parse_time_ms(to_s, now, &to) < 0) {
        api_reply_error(r, 400, "bad \"to\": use unix seconds, \"now\" or a relative time like -5m");
        return;
    }
    if (from_s && from >= to) {
        api_reply_error(r, 400, "\"from\" must be before \"to\"");
        return;
    }
    double v_to[METRIC_COUNT] = { 0 };
    bool to_is_now = !to_s || to >= now - 1000;
    uint64_t p_to = to_is_now ? values_latest(api, t, v_to) : values_at(api, rec->id, to, v_to);
    struct breakdown b_to;
    if (breakdown_compute(v_to, p_to, &b_to) < 0) {
        api_reply_error(r, 409, "no breakdown for \"%s\" yet: it needs the OS's figures and the "
                        "Go runtime's (%s)", rec->name,
                        rec->endpoint[0] ? "the endpoint has not answered yet"
                                         : "add the target with an endpoint");
        return;
    }
    json_t *doc = breakdown_json(&b_to);
    json_object_set_new(doc, "target", json_string(rec->name));
    json_object_set_new(doc, "time", api_json_seconds(to));
    if (from_s) {
        double v_from[METRIC_COUNT] = { 0 };
        uint64_t p_from = values_at(api, rec->id, from, v_from);
        struct breakdown b_from;
        if (breakdown_compute(v_from, p_from, &b_from) < 0) {
            json_object_set_new(doc, "change", json_null());
        } else {
            json_t *parts = json_array();
            for (int p = 0; p < BD_COUNT; p++)
                json_array_append_new(parts, json_pack("{sssIsIsI}", "name", breakdown_part_name(p),
                                                       "from_bytes", (json_int_t)b_from.bytes[p],
                                                       "to_bytes", (json_int_t)b_to.bytes[p],
                                                       "delta_bytes",
                                                       (json_int_t)(b_to.bytes[p] - b_from.bytes[p])));
            char summary[400];
            breakdown_change_summary(&b_from, &b_to, (to - from) / 1000, summary, sizeof summary);
            json_object_set_new(doc, "change",
                                json_pack("{sosososs}", "from", api_json_seconds(from), "to",
                                          api_json_seconds(to), "parts", parts, "summary", summary));
        }
    }
    api_reply_json(r, 200, doc);
}

/* ---- profile diffs ----------------------------------------------------------------------- */

static json_t *frame_json(const char *func, const char *file, int64_t line)
{
    return json_pack("{sssssI}", "function", func, "file", file, "line", (json_int_t)line);
}

void api_handle_profile_diff(struct api *api, const struct http_request *req, struct target *t,
                             enum pprof_kind kind, struct http_reply *r)
{
    const struct target_record *rec = target_record(t);
    const char *from_s = http_query(req, "from"), *to_s = http_query(req, "to");
    const char *limit_s = http_query(req, "limit");
    int64_t now = now_wall_ms(), from = now - 3600 * 1000, to = now, limit = 20;
    if ((from_s && api_parse_time_ms(from_s, now, &from) < 0) ||
        (to_s && api_parse_time_ms(to_s, now, &to) < 0) || from >= to) {
        api_reply_error(r, 400, "bad \"from\"/\"to\": unix seconds, \"now\" or relative like -1h, "
                        "from before to");
        return;
    }
    if (limit_s && parse_int64(limit_s, 1, 1000, &limit) < 0) {
        api_reply_error(r, 400, "\"limit\" must be a whole number from 1 to 1000");
        return;
    }
    if (!rec->endpoint[0]) {
        api_reply_error(r, 409, "target \"%s\" has no endpoint, so no profiles", rec->name);
        return;
    }
    struct profstore_diff *d = NULL;
    int rc = profstore_diff(api->ps, rec->id, kind, from, to, (size_t)limit, &d);
    if (rc == -ENOENT) {
        api_reply_error(r, 409, "not enough %s profiles yet: a diff needs two in the range",
                        kind == PPROF_HEAP ? "heap" : "goroutine");
        return;
    }
    if (rc < 0) {
        api_reply_error(r, 500, "cannot read profiles: %s", profstore_errmsg(api->ps));
        return;
    }
    double secs = (double)(d->to_ms - d->from_ms) / 1000.0;
    json_t *sites = json_array();
    for (size_t i = 0; i < d->nsites; i++) {
        const struct profstore_diff_site *s = &d->sites[i];
        json_t *o = json_object();
        json_object_set_new(o, "leaf", frame_json(s->leaf_func, s->leaf_file, s->leaf_line));
        json_object_set_new(o, "user", frame_json(s->user_func, s->user_file, s->user_line));
        if (kind == PPROF_HEAP) {
            json_object_set_new(o, "inuse_bytes", json_integer(s->to[PV_INUSE_BYTES]));
            json_object_set_new(o, "inuse_bytes_delta", json_integer(s->delta[PV_INUSE_BYTES]));
            json_object_set_new(o, "inuse_objects_delta", json_integer(s->delta[PV_INUSE_OBJECTS]));
            json_object_set_new(o, "alloc_bytes_delta", json_integer(s->delta[PV_ALLOC_BYTES]));
            json_object_set_new(o, "alloc_rate_bytes_per_second",
                                json_real(secs > 0 ? (double)s->delta[PV_ALLOC_BYTES] / secs : 0));
        } else {
            json_object_set_new(o, "count", json_integer(s->to[PV_COUNT]));
            json_object_set_new(o, "count_delta", json_integer(s->delta[PV_COUNT]));
        }
        json_array_append_new(sites, o);
    }
    json_t *doc = json_object();
    json_object_set_new(doc, "target", json_string(rec->name));
    json_object_set_new(doc, "kind", json_string(kind == PPROF_HEAP ? "heap" : "goroutine"));
    json_object_set_new(doc, "from", api_json_seconds(d->from_ms));
    json_object_set_new(doc, "to", api_json_seconds(d->to_ms));
    if (kind == PPROF_HEAP) {
        json_object_set_new(doc, "total_inuse_bytes_delta",
                            json_integer(d->total_to[PV_INUSE_BYTES] - d->total_from[PV_INUSE_BYTES]));
        json_object_set_new(doc, "total_alloc_bytes_delta",
                            json_integer(d->total_to[PV_ALLOC_BYTES] - d->total_from[PV_ALLOC_BYTES]));
    } else {
        json_object_set_new(doc, "total", json_integer(d->total_to[PV_COUNT]));
        json_object_set_new(doc, "total_delta",
                            json_integer(d->total_to[PV_COUNT] - d->total_from[PV_COUNT]));
    }
    json_object_set_new(doc, "sites", sites);
    profstore_diff_free(d);
    api_reply_json(r, 200, doc);
}

/* ---- insights ---------------------------------------------------------------------------- */

static json_t *insight_json(const struct insight *ins)
{
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string(insight_kind_name(ins->kind)));
    json_object_set_new(o, "summary", json_string(ins->summary));
    json_t *fig = json_object();
    for (size_t i = 0; i < ins->nfigures; i++) {
        double v = ins->figures[i].value;
        json_object_set_new(fig, ins->figures[i].name,
                            v == floor(v) && fabs(v) < 9e15 ? json_integer((json_int_t)v)
                                                            : json_real(v));
    }
    json_object_set_new(o, "figures", fig);
    if (ins->kind == INSIGHT_GC_CHURN) {
        json_t *sites = json_array();
        for (size_t i = 0; i < ins->nsites; i++) {
            const struct insight_site *s = &ins->sites[i];
            json_t *so = json_pack("{sssssIsf}", "function", s->function, "file", s->file,
                                   "line", (json_int_t)s->line, "bytes_per_second",
                                   round(s->bytes_per_second));
            if (s->leaf_function[0])
                json_object_set_new(so, "leaf_function", json_string(s->leaf_function));
            json_array_append_new(sites, so);
        }
        json_object_set_new(o, "sites", sites);
    }
    return o;
}

/* The target's insights now, as {"window":{...},"insights":[...]}; NULL (with *status and
 * *why) when they cannot be had. */
static json_t *insights_doc(struct api *api, const struct target *t, unsigned *status,
                            const char **why)
{
    struct insight_config cfg;
    insight_config_default(&cfg, leakwatch_speed(api->lw));
    struct insight_input *in = xcalloc(1, sizeof *in);
    int rc = insight_gather(api->st, api->ps, t, &cfg, now_wall_ms(), in);
    json_t *list = json_array();
    if (rc == 0) {
        struct insight_list out;
        insight_compute(in, &cfg, &out);
        for (size_t i = 0; i < out.n; i++)
            json_array_append_new(list, insight_json(&out.v[i]));
    } else if (rc != -ENODATA) {
        /* No Go series (no endpoint, nothing scraped yet) is nothing to say, not a failure. */
        json_decref(list);
        free(in);
        *status = 500;
        *why = store_errmsg(api->st);
        return NULL;
    }
    json_t *doc = json_pack("{s{soso}so}", "window", "from", api_json_seconds(in->from_ms), "to",
                            api_json_seconds(in->to_ms), "insights", list);
    free(in);
    return doc;
}

void api_handle_insights(struct api *api, const struct http_request *req, struct target *t,
                         struct http_reply *r)
{
    unsigned status;
    const char *why;
    json_t *doc = insights_doc(api, t, &status, &why);
    if (!doc) {
        api_reply_error(r, status, "cannot read the target's series: %s", why);
        return;
    }
    json_object_set_new(doc, "target", json_string(target_record(t)->name));
    api_reply_json(r, 200, doc);
}

void api_add_insights(struct api *api, const struct target *t, json_t *target)
{
    if (!target_record(t)->endpoint[0])
        return;     /* no Go view, nothing to say: skip the queries */
    unsigned status;
    const char *why;
    json_t *doc = insights_doc(api, t, &status, &why);
    if (doc) {
        json_object_set(target, "insights", json_object_get(doc, "insights"));
        json_decref(doc);
    }
}
