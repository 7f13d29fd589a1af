/* api.c - REST API routes.  Every reply is JSON; errors are {"error": "..."} with a 4xx status
 * that says whose fault it was.  Nothing a client sends can crash the daemon: bodies are
 * capped by http.c, parsed by jansson, and checked field by field here. */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "api.h"
#include "api_internal.h"
#include "gorun.h"
#include "leak.h"
#include "api_paths.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "targets.h"
#include "util.h"

/* Raw points in one reply at most: a day at 1 s is 86,400.  Beyond this, ask for a step. */
#define MAX_POINTS 200000

struct api *api_new(struct targets *ts, struct store *st, struct gorun *gr, struct profstore *ps,
                    struct leakwatch *lw, struct alerts *ab)
{
    struct api *api = xcalloc(1, sizeof *api);
    api->ts = ts;
    api->st = st;
    api->gr = gr;
    api->ps = ps;
    api->lw = lw;
    api->ab = ab;
    api->started_mono_ms = now_mono_ms();
    return api;
}

void api_free(struct api *api)
{
    free(api);
}

/* ---- replies ----------------------------------------------------------------------------- */

void api_reply_json(struct http_reply *r, unsigned status, json_t *doc)
{
    r->status = status;
    r->content_type = "application/json";
    /* 15 digits: millisecond timestamps stay exact, 52.3 does not print as 52.299999999999997 */
    r->body = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(doc);
    if (!r->body) {     /* only on OOM inside jansson */
        r->status = 500;
        r->body = xstrdup("{\"error\":\"out of memory\"}");
    }
    r->len = strlen(r->body);
}

void api_reply_error(struct http_reply *r, unsigned status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Messages quote client input; jansson refuses invalid UTF-8, so keep them ASCII. */
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
            *p = '?';
    api_reply_json(r, status, json_pack("{ss}", "error", msg));
}

static void reply_method(struct http_reply *r, const char *allow)
{
    api_reply_error(r, 405, "method not allowed here; use %s", allow);
    r->allow = allow;
}

/* Unix seconds with millisecond precision, as a JSON number. */
json_t *api_json_seconds(int64_t ms)
{
    if (ms % 1000 == 0)
        return json_integer(ms / 1000);
    return json_real((double)ms / 1000.0);
}

static const char *selector_name(enum target_selector s)
{
    return s == SELECTOR_MATCH ? "match" : s == SELECTOR_SELF ? "self" : "pid";
}

static const char *state_name(enum target_state s)
{
    return s == TARGET_GONE ? "gone" : s == TARGET_WAITING ? "waiting" : "active";
}

static json_t *target_json(struct api *api, const struct target *t)
{
    const struct target_record *rec = target_record(t);
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(rec->name));
    json_object_set_new(o, "selector", json_string(selector_name(rec->selector)));
    if (rec->selector == SELECTOR_MATCH) {
        json_object_set_new(o, "match", json_string(rec->pattern));
        json_object_set_new(o, "cmdline", json_boolean(rec->match_cmdline));
    } else {
        json_object_set_new(o, "pid", json_integer(rec->pid));
    }
    json_object_set_new(o, "state", json_string(state_name(rec->state)));
    const char *msg = target_message(t);
    if (msg[0])
        json_object_set_new(o, "message", json_string(msg));
    size_t n;
    const struct target_proc *procs = target_processes(t, &n);
    json_t *pa = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(pa, json_pack("{sIso}", "pid", (json_int_t)procs[i].pid,
                                            "start_time", api_json_seconds(procs[i].start_time_ms)));
    json_object_set_new(o, "processes", pa);
    json_object_set_new(o, "interval_seconds",
                        json_real((double)targets_interval_ms(api->ts, t) / 1000.0));
    json_object_set_new(o, "smaps_interval_seconds",
                        json_real((double)targets_smaps_interval_ms(api->ts, t) / 1000.0));
    json_object_set_new(o, "created", api_json_seconds(rec->created_ms));
    int64_t last = target_last_sample_ms(t);
    json_object_set_new(o, "last_sample", last ? api_json_seconds(last) : json_null());
    const int64_t *values;
    uint64_t present = target_latest(t, &values);
    json_t *latest = json_object();
    for (int m = 0; m < METRIC_COUNT; m++)
        if (present & (UINT64_C(1) << m)) {
            const struct metric_info *mi = metric_info((enum metric_id)m);
            json_object_set_new(latest, mi->name, json_integer((json_int_t)(values[m] * mi->scale)));
        }
    api_add_go_latest(api, t, latest);
    json_object_set_new(o, "latest", latest);
    json_t *rt = api_runtime_json(api, t);
    if (rt)
        json_object_set_new(o, "runtime", rt);
    json_object_set_new(o, "verdict", api_verdict_json(api, t));
    json_object_set_new(o, "detect", api_detect_json(api, t));
    return o;
}

/* ---- handlers ---------------------------------------------------------------------------- */

static void handle_health(struct api *api, struct http_reply *r)
{
    api_reply_json(r, 200, json_pack("{sssssIsI}", "status", "ok", "version", PACKAGE_VERSION,
                                 "uptime_seconds",
                                 (json_int_t)((now_mono_ms() - api->started_mono_ms) / 1000),
                                 "targets", (json_int_t)targets_count(api->ts)));
}

static void handle_list(struct api *api, struct http_reply *r)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < targets_count(api->ts); i++)
        json_array_append_new(arr, target_json(api, targets_at(api->ts, i)));
    api_reply_json(r, 200, json_pack("{so}", "targets", arr));
}

/* A duration field: a string like "10s" or a number of seconds. */
int api_json_duration(json_t *v, int64_t *ms)
{
    if (json_is_string(v))
        return parse_duration_ms(json_string_value(v), ms);
    if (json_is_number(v)) {
        double s = json_number_value(v);
        if (!(s > 0 && s < 1e9))
            return -EINVAL;
        *ms = (int64_t)llround(s * 1000.0);
        return 0;
    }
    return -EINVAL;
}

static void handle_add(struct api *api, const struct http_request *req, struct http_reply *r)
{
    size_t len;
    const char *body = http_body(req, &len);
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        api_reply_error(r, 400, "malformed JSON at line %d column %d: %s", jerr.line, jerr.column,
                    jerr.text);
        return;
    }
    struct target_record rec = { 0 };
    const char *key;
    json_t *v;
    if (!json_is_object(doc)) {
        api_reply_error(r, 400, "the body must be a JSON object like {\"name\":\"api\",\"pid\":1234}");
        goto out;
    }
    json_object_foreach(doc, key, v) {
        static const char *const known[] = {
            "name", "pid", "match", "cmdline", "interval", "smaps_interval", "endpoint",
            "vars_path", "heap_path", "goroutine_path", "metrics_path", "runtime_interval",
            "profile_interval", "heap_gc", "detect_window", "detect_min_growth",
            "detect_min_relative_growth", "detect_min_goroutine_growth",
        };
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            ok = ok || strcmp(key, known[i]) == 0;
        if (!ok) {
            api_reply_error(r, 400, "unknown field \"%.64s\"; known: name, pid, match, cmdline, "
                            "interval, smaps_interval, endpoint, vars_path, heap_path, "
                            "goroutine_path, metrics_path, runtime_interval, profile_interval, "
                            "heap_gc, detect_window, detect_min_growth, "
                            "detect_min_relative_growth, detect_min_goroutine_growth", key);
            goto out;
        }
    }
    json_t *name = json_object_get(doc, "name"), *pid = json_object_get(doc, "pid");
    json_t *match = json_object_get(doc, "match"), *cmdline = json_object_get(doc, "cmdline");
    if (!json_is_string(name)) {
        api_reply_error(r, 400, "\"name\" (a string) is required");
        goto out;
    }
    if (strlen(json_string_value(name)) >= sizeof rec.name) {
        api_reply_error(r, 400, "\"name\" is longer than %zu characters", sizeof rec.name - 1);
        goto out;
    }
    snprintf(rec.name, sizeof rec.name, "%s", json_string_value(name));
    if ((pid != NULL) == (match != NULL)) {
        api_reply_error(r, 400, "give exactly one selector: \"pid\" or \"match\"");
        goto out;
    }
    if (pid) {
        if (!json_is_integer(pid)) {
            api_reply_error(r, 400, "\"pid\" must be an integer");
            goto out;
        }
        if (cmdline) {
            api_reply_error(r, 400, "\"cmdline\" goes with \"match\", not \"pid\"");
            goto out;
        }
        rec.selector = SELECTOR_PID;
        rec.pid = json_integer_value(pid);
    } else {
        if (!json_is_string(match) || json_string_length(match) == 0) {
            api_reply_error(r, 400, "\"match\" must be a non-empty string (a regular expression)");
            goto out;
        }
        if (json_string_length(match) >= sizeof rec.pattern) {
            api_reply_error(r, 400, "\"match\" is longer than %zu characters", sizeof rec.pattern - 1);
            goto out;
        }
        if (cmdline && !json_is_boolean(cmdline)) {
            api_reply_error(r, 400, "\"cmdline\" must be true or false");
            goto out;
        }
        rec.selector = SELECTOR_MATCH;
        snprintf(rec.pattern, sizeof rec.pattern, "%s", json_string_value(match));
        rec.match_cmdline = cmdline && json_is_true(cmdline);
    }
    if ((v = json_object_get(doc, "interval")) && api_json_duration(v, &rec.interval_ms) < 0) {
        api_reply_error(r, 400, "\"interval\" must be a duration like \"1s\" or \"500ms\"");
        goto out;
    }
    if ((v = json_object_get(doc, "smaps_interval")) && api_json_duration(v, &rec.smaps_interval_ms) < 0) {
        api_reply_error(r, 400, "\"smaps_interval\" must be a duration like \"30s\"");
        goto out;
    }
    if (api_parse_go_fields(doc, &rec, r) < 0 || api_parse_detect_fields(doc, &rec, r) < 0)
        goto out;
    char *err = NULL;
    int rc = targets_add(api->ts, &rec, &err);
    if (rc < 0) {
        api_reply_error(r, rc == -EEXIST ? 409 : rc == -EINVAL || rc == -ESRCH ? 400 : 500, "%s", err);
        free(err);
        goto out;
    }
    api_reply_json(r, 201, target_json(api, targets_find(api->ts, rec.name)));
out:
    json_decref(doc);
}

/* "now", unix seconds ("1700000000", "1700000000.5"), or relative to now ("-1h", "-90s"). */
int api_parse_time_ms(const char *s, int64_t now_ms, int64_t *out)
{
    if (strcmp(s, "now") == 0) {
        *out = now_ms;
        return 0;
    }
    if (s[0] == '-') {
        int64_t d;
        if (parse_duration_ms(s + 1, &d) < 0)
            return -EINVAL;
        *out = now_ms - d;
        return 0;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0 && v < 1e11))
        return -EINVAL;
    *out = (int64_t)llround(v * 1000.0);
    return 0;
}

/* A growing text buffer for the points array: a day of raw points is too many to build as
 * jansson objects one by one. */
struct text {
    char *p;
    size_t len, cap;
    size_t points;
    double scale;
    int64_t step_ms;
};

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(struct text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = t->cap * 2 + (size_t)(n > 0 ? n : 0) + 256;
        t->p = xreallocarray(t->p, t->cap, 1);
    }
}

static void text_number(struct text *t, double v)
{
    if (v == floor(v) && fabs(v) < 9e15)
        text_printf(t, "%.0f", v);
    else
        text_printf(t, "%.4f", v);
}

static void text_time(struct text *t, int64_t ms)
{
    if (ms % 1000 == 0)
        text_printf(t, "%lld", (long long)(ms / 1000));
    else
        text_printf(t, "%lld.%03lld", (long long)(ms / 1000), (long long)(ms % 1000));
}

static int add_point(void *arg, const struct store_point *p)
{
    struct text *t = arg;
    if (t->points >= MAX_POINTS)
        return 1;
    text_printf(t, t->points ? ",[" : "[");
    text_time(t, p->ts_ms);
    if (t->step_ms) {
        text_printf(t, ",");
        text_number(t, p->min * t->scale);
        text_printf(t, ",");
        text_number(t, p->avg * t->scale);
        text_printf(t, ",");
        text_number(t, p->max * t->scale);
    } else {
        text_printf(t, ",");
        text_number(t, p->avg * t->scale);
    }
    text_printf(t, "]");
    t->points++;
    return 0;
}

static void handle_series(struct api *api, const struct http_request *req, struct target *tg,
                          struct http_reply *r)
{
    const char *metric = http_query(req, "metric");
    const char *from_s = http_query(req, "from"), *to_s = http_query(req, "to");
    const char *step_s = http_query(req, "step");
    if (!metric) {
        api_reply_error(r, 400, "\"metric\" is required, e.g. ?metric=rss_bytes");
        return;
    }
    int m = metric_by_name(metric);
    if (m < 0) {
        api_reply_error(r, 400, "unknown metric \"%.64s\"", metric);
        return;
    }
    int64_t now = now_wall_ms(), from = now - 3600 * 1000, to = now, step = 0;
    if (from_s && api_parse_time_ms(from_s, now, &from) < 0) {
        api_reply_error(r, 400, "bad \"from\": use unix seconds, \"now\" or a relative time like -1h");
        return;
    }
    if (to_s && api_parse_time_ms(to_s, now, &to) < 0) {
        api_reply_error(r, 400, "bad \"to\": use unix seconds, \"now\" or a relative time like -5m");
        return;
    }
    if (step_s && parse_duration_ms(step_s, &step) < 0) {
        api_reply_error(r, 400, "bad \"step\": use a duration like 60s or 5m");
        return;
    }
    if (from > to) {
        api_reply_error(r, 400, "\"from\" is after \"to\"");
        return;
    }
    if (step && (to - from) / step > MAX_POINTS) {
        api_reply_error(r, 400, "step too small for the range: at most %d points", MAX_POINTS);
        return;
    }
    const struct target_record *rec = target_record(tg);
    const struct metric_info *mi = metric_info((enum metric_id)m);
    struct text t = { .scale = mi->scale, .step_ms = step };
    text_printf(&t, "{\"target\":\"%s\",\"metric\":\"%s\",\"from\":", rec->name, mi->name);
    text_time(&t, from);
    text_printf(&t, ",\"to\":");
    text_time(&t, to);
    text_printf(&t, ",\"step\":");
    text_time(&t, step);
    int64_t resolution = 0;
    struct store_series *s = store_series_find(api->st, rec->id, mi->name);
    text_printf(&t, ",\"points\":[");
    if (s && store_query(api->st, s, from, to, step, add_point, &t, &resolution) < 0) {
        free(t.p);
        api_reply_error(r, 500, "cannot read the series: %s", store_errmsg(api->st));
        return;
    }
    text_printf(&t, "],\"resolution\":\"%s\",\"truncated\":%s}\n",
                resolution >= 60000 ? "1m" : "raw", t.points >= MAX_POINTS ? "true" : "false");
    r->status = 200;
    r->content_type = "application/json";
    r->body = t.p;
    r->len = t.len;
}

void api_handle(void *arg, const struct http_request *req, struct http_reply *r)
{
    struct api *api = arg;
    const char *method = http_method(req), *path = http_path(req);
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;

    if (strcmp(path, API_HEALTH) == 0) {
        if (!get)
            { reply_method(r, "GET"); return; }
        { handle_health(api, r); return; }
    }
    if (strcmp(path, API_ALERTS) == 0 || strcmp(path, API_ALERTS "/") == 0) {
        if (!get)
            { reply_method(r, "GET"); return; }
        { api_handle_alerts(api, req, NULL, r); return; }
    }
    if (strncmp(path, API_ALERTS "/", strlen(API_ALERTS) + 1) == 0) {
        if (!get)
            { reply_method(r, "GET"); return; }
        { api_handle_alert_path(api, path + strlen(API_ALERTS) + 1, r); return; }
    }
    if (strcmp(path, API_TARGETS) == 0 || strcmp(path, API_TARGETS "/") == 0) {
        if (get)
            { handle_list(api, r); return; }
        if (strcmp(method, "POST") == 0)
            { handle_add(api, req, r); return; }
        { reply_method(r, "GET, POST"); return; }
    }
    if (strncmp(path, API_TARGETS "/", strlen(API_TARGETS) + 1) == 0) {
        const char *rest = path + strlen(API_TARGETS) + 1;
        const char *slash = strchr(rest, '/');
        char name[64];
        size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
        if (n == 0 || n >= sizeof name) {
            api_reply_error(r, 404, "no such target");
            return;
        }
        memcpy(name, rest, n);
        name[n] = '\0';
        struct target *t = targets_find(api->ts, name);
        if (!slash) {
            if (get) {
                if (!t)
                    { api_reply_error(r, 404, "target \"%s\" not found", name); return; }
                json_t *o = target_json(api, t);
                api_add_insights(api, t, o);    /* computed on request: the detail view only */
                { api_reply_json(r, 200, o); return; }
            }
            if (strcmp(method, "DELETE") == 0) {
                if (!t)
                    { api_reply_error(r, 404, "target \"%s\" not found", name); return; }
                int64_t id = target_record(t)->id;
                int rc = targets_remove(api->ts, name);
                if (rc == 0) {
                    gorun_forget(api->gr, id);
                    leakwatch_forget(api->lw, id);
                    alerts_forget_target(api->ab, id);
                }
                if (rc < 0)
                    { api_reply_error(r, 500, "cannot remove target \"%s\": %s", name,
                                       store_errmsg(api->st)); return; }
                { api_reply_json(r, 200, json_pack("{ss}", "deleted", name)); return; }
            }
            { reply_method(r, "GET, DELETE"); return; }
        }
        if (strcmp(slash, "/verdict") == 0) {
            if (!get)
                { reply_method(r, "GET"); return; }
            if (!t)
                { api_reply_error(r, 404, "target \"%s\" not found", name); return; }
            json_t *v = api_verdict_json(api, t);
            json_object_set_new(v, "target", json_string(target_record(t)->name));
            api_reply_json(r, 200, v);
            return;
        }
        if (strcmp(slash, "/alerts") == 0) {
            if (!get)
                { reply_method(r, "GET"); return; }
            if (!t)
                { api_reply_error(r, 404, "target \"%s\" not found", name); return; }
            { api_handle_alerts(api, req, t, r); return; }
        }
        if (strcmp(slash, "/breakdown") == 0 || strcmp(slash, "/heap/diff") == 0 ||
            strcmp(slash, "/goroutines/diff") == 0 || strcmp(slash, "/insights") == 0) {
            if (!get)
                { reply_method(r, "GET"); return; }
            if (!t)
                { api_reply_error(r, 404, "target \"%s\" not found", name); return; }
            if (slash[1] == 'b')
                api_handle_breakdown(api, req, t, r);
            else if (slash[1] == 'i')
                api_handle_insights(api, req, t, r);
            else
                api_handle_profile_diff(api, req, t, slash[1] == 'h' ? PPROF_HEAP : PPROF_GOROUTINE, r);
            return;
        }
        if (strcmp(slash, "/series") == 0) {
            if (!get)
                { reply_method(r, "GET"); return; }
            if (!t)
                { api_reply_error(r, 404, "target \"%s\" not found", name); return; }
            { handle_series(api, req, t, r); return; }
        }
    }
    api_reply_error(r, 404, "no such resource: %.200s", path);
}
