/* api_alerts.c - the alerts part of the REST API:
 *   GET /api/v1/alerts[?all=1][&target=NAME][&limit=N]   {"alerts": [...]}: the pending and
 *       firing alerts; with all=1 the resolved ones of the history too (newest first);
 *   GET /api/v1/alerts/{id}/profiles/{base,now}.pb.gz     the heap profiles kept when the
 *       alert fired, as the target served them (for `go tool pprof -base`). */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "api_internal.h"
#include "api_paths.h"
#include "leak.h"
#include "targets.h"
#include "util.h"

static void add_alert(void *arg, const struct alert *a)
{
    json_array_append_new(arg, alert_to_json(a));
}

void api_handle_alerts(struct api *api, const struct http_request *req, const struct target *t,
                       struct http_reply *r)
{
    const char *all = http_query(req, "all"), *name = http_query(req, "target");
    const char *limit_s = http_query(req, "limit");
    bool include_resolved = false;
    int64_t limit = 100, target_id = t ? target_record(t)->id : 0;
    if (all && parse_bool(all, &include_resolved) < 0) {
        api_reply_error(r, 400, "all: expected true or false, got \"%.40s\"", all);
        return;
    }
    if (limit_s && parse_int64(limit_s, 1, 10000, &limit) < 0) {
        api_reply_error(r, 400, "limit: expected a number from 1 to 10000, got \"%.40s\"", limit_s);
        return;
    }
    if (!t && name) {
        const struct target *named = targets_find(api->ts, name);
        if (!named) {
            api_reply_error(r, 404, "target \"%.64s\" not found", name);
            return;
        }
        target_id = target_record(named)->id;
    }
    json_t *arr = json_array();
    if (alerts_foreach(api->ab, target_id, include_resolved, (size_t)limit, add_alert, arr) < 0) {
        json_decref(arr);
        api_reply_error(r, 500, "cannot read the alert history");
        return;
    }
    api_reply_json(r, 200, json_pack("{so}", "alerts", arr));
}

void api_handle_alert_path(struct api *api, const char *rest, struct http_reply *r)
{
    /* rest: "{id}/profiles/{base,now}.pb.gz" */
    char *end;
    errno = 0;
    long long id = strtoll(rest, &end, 10);
    if (errno || end == rest || id <= 0 || strncmp(end, "/profiles/", 10) != 0) {
        api_reply_error(r, 404, "no such resource");
        return;
    }
    const char *file = end + 10;
    int which = strcmp(file, "base.pb.gz") == 0 ? 0 : strcmp(file, "now.pb.gz") == 0 ? 1 : -1;
    if (which < 0) {
        api_reply_error(r, 404, "no such profile: expected base.pb.gz or now.pb.gz");
        return;
    }
    uint8_t *data;
    size_t len;
    int rc = alerts_profile(api->ab, id, which, &data, &len, NULL);
    if (rc == -ENOENT) {
        api_reply_error(r, 404, "alert %lld has no kept heap profiles", id);
        return;
    }
    if (rc < 0) {
        api_reply_error(r, 500, "cannot read the profile: %s", strerror(-rc));
        return;
    }
    r->status = 200;
    r->body = (char *)data;
    r->len = len;
    r->content_type = "application/octet-stream";
}

/* A growth threshold: a number, or for bytes a size string ("16MiB"). */
static int growth_field(json_t *doc, const char *key, bool size, double max, double *out,
                        struct http_reply *r)
{
    json_t *v = json_object_get(doc, key);
    if (!v)
        return 0;
    double d = -1;
    uint64_t bytes;
    if (json_is_number(v))
        d = json_number_value(v);
    else if (size && json_is_string(v) && parse_size_bytes(json_string_value(v), &bytes) == 0)
        d = (double)bytes;
    if (!(d >= 0 && d <= max)) {
        api_reply_error(r, 400, "\"%s\" must be %s from 0 to %g (0: the configured default)",
                        key, size ? "bytes an hour (a number or a size like \"16MiB\")"
                                  : "a number", max);
        return -EINVAL;
    }
    *out = d;
    return 0;
}

int api_parse_detect_fields(json_t *doc, struct target_record *rec, struct http_reply *r)
{
    json_t *v = json_object_get(doc, "detect_window");
    if (v && (api_json_duration(v, &rec->detect_window_ms) < 0 ||
              (rec->detect_window_ms != 0 && rec->detect_window_ms < 60 * 1000) ||
              rec->detect_window_ms > 7 * 24 * 3600 * 1000LL)) {
        api_reply_error(r, 400, "\"detect_window\" must be a duration from 1m to 7d, like \"2h\"");
        return -EINVAL;
    }
    double percent = 0;
    if (growth_field(doc, "detect_min_growth", true, 1e15, &rec->detect_min_growth, r) < 0 ||
        growth_field(doc, "detect_min_relative_growth", false, 1000, &percent, r) < 0 ||
        growth_field(doc, "detect_min_goroutine_growth", false, 1e9,
                     &rec->detect_min_goroutine_growth, r) < 0)
        return -EINVAL;
    rec->detect_min_relative_growth = percent / 100.0;
    return 0;
}

json_t *api_detect_json(struct api *api, const struct target *t)
{
    const struct target_record *rec = target_record(t);
    const struct leakwatch_config *cfg = leakwatch_get_config(api->lw);
    struct detect_params b, g;
    leakwatch_target_params(cfg, rec, LEAK_HEAP, &b);
    leakwatch_target_params(cfg, rec, LEAK_GOROUTINE, &g);
    json_t *o = json_object();
    json_object_set_new(o, "window", json_real((double)b.window_ms / 1000.0));
    json_object_set_new(o, "min_history", json_real((double)b.min_history_ms / 1000.0));
    json_object_set_new(o, "min_growth_bytes_per_hour", json_real(b.min_growth_per_hour));
    json_object_set_new(o, "min_relative_growth_percent_per_hour",
                        json_real(b.min_relative_growth_per_hour * 100.0));
    json_object_set_new(o, "min_goroutine_growth_per_hour", json_real(g.min_growth_per_hour));
    json_object_set_new(o, "confirm", json_real((double)b.confirm_ms / 1000.0));
    json_object_set_new(o, "own", json_boolean(rec->detect_window_ms || rec->detect_min_growth ||
                                               rec->detect_min_relative_growth ||
                                               rec->detect_min_goroutine_growth));
    return o;
}
