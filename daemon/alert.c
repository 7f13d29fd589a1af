/* alert.c - an alert's JSON form and its one-sentence summary (see alert.h). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alert.h"
#include "util.h"

const char *alert_state_name(enum alert_state s)
{
    switch (s) {
    case ALERT_PENDING: return "pending";
    case ALERT_FIRING: return "firing";
    case ALERT_RESOLVED: return "resolved";
    }
    return "?";
}

static bool is_goroutine(const struct alert *a)
{
    return strcmp(a->kind, "goroutine") == 0;
}

/* Unix seconds (ms precision), or null for "never". */
static json_t *seconds_or_null(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    return ms % 1000 == 0 ? json_integer(ms / 1000) : json_real((double)ms / 1000.0);
}

static json_t *culprit_json(const struct alert_culprit *c, bool goroutines)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:I}", "function", c->function, "file", c->file,
                          "line", (json_int_t)c->line, "growth_bytes",
                          (json_int_t)c->growth_bytes);
    json_object_set_new(o, goroutines ? "growth_goroutines" : "growth_objects",
                        json_integer(c->growth_count));
    if (c->leaf_function[0] && strcmp(c->leaf_function, c->function) != 0) {
        json_object_set_new(o, "leaf_function", json_string(c->leaf_function));
        json_object_set_new(o, "leaf_file", json_string(c->leaf_file));
        json_object_set_new(o, "leaf_line", json_integer(c->leaf_line));
    }
    return o;
}

json_t *alert_to_json(const struct alert *a)
{
    bool gr = is_goroutine(a);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(a->id));
    json_object_set_new(o, "target", json_string(a->target));
    json_object_set_new(o, "kind", json_string(a->kind));
    json_object_set_new(o, "state", json_string(alert_state_name(a->state)));
    json_object_set_new(o, "since", seconds_or_null(a->since_ms));
    json_object_set_new(o, "started", seconds_or_null(a->started_ms));
    json_object_set_new(o, "fired", seconds_or_null(a->fired_ms));
    json_object_set_new(o, "resolved", seconds_or_null(a->resolved_ms));
    json_object_set_new(o, "updated", seconds_or_null(a->updated_ms));
    if (gr) {
        json_object_set_new(o, "growth_bytes_per_hour", json_null());
        json_object_set_new(o, "growth_goroutines_per_hour", json_real(a->growth_per_hour));
    } else {
        json_object_set_new(o, "growth_bytes_per_hour", json_real(a->growth_per_hour));
    }
    json_object_set_new(o, "confidence", json_real(a->confidence));
    json_object_set_new(o, "window", json_pack("{s:o, s:o}", "from",
                                               seconds_or_null(a->window_from_ms), "to",
                                               seconds_or_null(a->window_to_ms)));
    json_object_set_new(o, "level", json_real(a->level));
    json_t *limit = json_object();
    json_object_set_new(limit, "bytes", a->limit_bytes > 0 ? json_real(a->limit_bytes) : json_null());
    json_object_set_new(limit, "source", a->limit_source[0] ? json_string(a->limit_source)
                                                            : json_null());
    json_object_set_new(limit, "seconds_to_limit", a->seconds_to_limit >= 0
                                                       ? json_real(a->seconds_to_limit)
                                                       : json_null());
    json_object_set_new(o, "limit", limit);
    json_object_set_new(o, "summary", json_string(a->summary));
    json_t *cs = json_array();
    for (size_t i = 0; i < a->n_culprits && i < ALERT_MAX_CULPRITS; i++)
        json_array_append_new(cs, culprit_json(&a->culprits[i], gr));
    json_object_set_new(o, "culprits", cs);
    if (a->n_profiles == 2) {
        char base[128], now[128];
        snprintf(base, sizeof base, "/api/v1/alerts/%lld/profiles/base.pb.gz", (long long)a->id);
        snprintf(now, sizeof now, "/api/v1/alerts/%lld/profiles/now.pb.gz", (long long)a->id);
        json_object_set_new(o, "profiles", json_pack("{s:s, s:s}", "base", base, "now", now));
    } else {
        json_object_set_new(o, "profiles", json_null());
    }
    return o;
}

static const char *kind_words(const char *kind)
{
    if (strcmp(kind, "heap") == 0)
        return "Go heap";
    if (strcmp(kind, "goroutine") == 0)
        return "goroutines";
    if (strcmp(kind, "non_go") == 0)
        return "memory outside the Go runtime (cgo or native code)";
    return "resident memory";
}

/* "main.(*sessionStore).put (leaks.go:40)": the file's last component keeps it short. */
static void culprit_words(const struct alert_culprit *c, char *buf, size_t len)
{
    const char *base = strrchr(c->file, '/');
    base = base ? base + 1 : c->file;
    if (c->line > 0)
        snprintf(buf, len, "%s (%s:%lld)", c->function, base, (long long)c->line);
    else
        snprintf(buf, len, "%s", c->function);
}

void alert_summarize(struct alert *a)
{
    bool gr = is_goroutine(a);
    char rate[64], where[600] = "", eta[160] = "", text[1200];
    if (gr)
        snprintf(rate, sizeof rate, "%+.0f goroutines an hour", a->growth_per_hour);
    else
        snprintf(rate, sizeof rate, "%s%s an hour", a->growth_per_hour < 0 ? "-" : "+",
                 format_bytes(fabs(a->growth_per_hour), (char[32]){ 0 }, 32));
    if (a->n_culprits > 0) {
        char c[560];
        culprit_words(&a->culprits[0], c, sizeof c);
        snprintf(where, sizeof where, gr ? ", most of them waiting in %s" : ", mostly in %s", c);
    }
    if (a->limit_bytes > 0 && a->seconds_to_limit >= 0) {
        char lim[32], when[32];
        format_bytes(a->limit_bytes, lim, sizeof lim);
        format_duration_ms((int64_t)(a->seconds_to_limit * 1000), when, sizeof when);
        snprintf(eta, sizeof eta, "; at this rate it reaches %s (%s) in about %s", lim,
                 a->limit_source[0] ? a->limit_source : "its limit", when);
    }
    const char *verb = a->state == ALERT_RESOLVED ? "was leaking"
                       : a->state == ALERT_PENDING ? "may be leaking"
                                                   : "is leaking";
    if (a->state == ALERT_RESOLVED && !a->fired_ms)
        snprintf(text, sizeof text, "%s showed growth in %s (%s) that was not confirmed; %s.",
                 a->target, kind_words(a->kind), rate, a->reason[0] ? a->reason : "it stopped");
    else if (a->state == ALERT_RESOLVED)
        snprintf(text, sizeof text, "%s %s %s (%s%s); %s.", a->target, verb,
                 kind_words(a->kind), rate, where,
                 a->reason[0] ? a->reason : "it has stopped growing");
    else
        snprintf(text, sizeof text, "%s %s %s: %s%s%s.", a->target, verb, kind_words(a->kind),
                 rate, where, eta);
    /* A culprit with a very long name shortens the sentence rather than failing it. */
    size_t n = strlen(text);
    if (n >= sizeof a->summary)
        n = sizeof a->summary - 1;
    memcpy(a->summary, text, n);
    a->summary[n] = '\0';
}
