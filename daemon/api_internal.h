/* api_internal.h - what the REST API's files (api.c routes and targets, api_go.c the Go
 * runtime view) share.  Not an interface for anything else. */
#ifndef MEMWATCH_API_INTERNAL_H
#define MEMWATCH_API_INTERNAL_H

#include <jansson.h>
#include <stdint.h>

#include "http.h"
#include "pprof.h"
#include "store.h"

struct targets;
struct target;
struct store;
struct gorun;
struct profstore;
struct leakwatch;
struct alerts;

struct api {
    struct targets *ts;
    struct store *st;
    struct gorun *gr;
    struct profstore *ps;
    struct leakwatch *lw;
    struct alerts *ab;
    int64_t started_mono_ms;
};

/* Replies: doc is consumed; errors are {"error": "..."} with the message made ASCII-safe. */
void api_reply_json(struct http_reply *r, unsigned status, json_t *doc);
void api_reply_error(struct http_reply *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Unix seconds with millisecond precision. */
json_t *api_json_seconds(int64_t ms);
/* A duration field: "10s" or a number of seconds.  0 or -EINVAL. */
int api_json_duration(json_t *v, int64_t *ms);
/* "now", Unix seconds, or relative ("-1h"). */
int api_parse_time_ms(const char *s, int64_t now_ms, int64_t *out);

/* api_go.c */
/* The target's "runtime" object, or NULL if it has no endpoint. */
json_t *api_runtime_json(struct api *api, const struct target *t);
/* Adds the latest Go runtime values to a target's "latest" object. */
void api_add_go_latest(struct api *api, const struct target *t, json_t *latest);
/* Reads endpoint, paths, intervals and heap_gc from a POST body into rec: 0 or 400 sent. */
int api_parse_go_fields(json_t *doc, struct target_record *rec, struct http_reply *r);
/* The target's leak verdict object. */
json_t *api_verdict_json(struct api *api, const struct target *t);
void api_handle_breakdown(struct api *api, const struct http_request *req, struct target *t,
                          struct http_reply *r);
/* GET .../insights: {"target","window":{"from","to"},"insights":[...]} (insight.h). */
void api_handle_insights(struct api *api, const struct http_request *req, struct target *t,
                         struct http_reply *r);
/* Adds "insights" to a target's detail object, computed now (targets with an endpoint). */
void api_add_insights(struct api *api, const struct target *t, json_t *target);
void api_handle_profile_diff(struct api *api, const struct http_request *req, struct target *t,
                             enum pprof_kind kind, struct http_reply *r);

/* api_alerts.c */
/* GET /api/v1/alerts (t NULL) or /api/v1/targets/{name}/alerts. */
void api_handle_alerts(struct api *api, const struct http_request *req, const struct target *t,
                       struct http_reply *r);
/* Reads detect_window, detect_min_growth, detect_min_relative_growth and
 * detect_min_goroutine_growth from a POST body: 0 or 400 sent. */
int api_parse_detect_fields(json_t *doc, struct target_record *rec, struct http_reply *r);
/* The target's detection settings in effect: {"window", "min_growth_bytes_per_hour", ...}. */
json_t *api_detect_json(struct api *api, const struct target *t);
/* GET /api/v1/alerts/{rest}. */
void api_handle_alert_path(struct api *api, const char *rest, struct http_reply *r);

#endif
