/* alert.h - one alert: what it says, and its JSON form.
 *
 * Plain data, copied freely (no pointers inside), so the alert book (alerts.h) can hand a
 * copy to the delivery thread (deliver.h) and forget it.  The JSON form is the API's and the
 * webhook's: both speak of an alert in the same words. */
#ifndef MEMWATCH_ALERT_H
#define MEMWATCH_ALERT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum alert_state { ALERT_PENDING = 0, ALERT_FIRING, ALERT_RESOLVED };
const char *alert_state_name(enum alert_state s);     /* "pending", "firing", "resolved" */

/* A place in the program that the leak is blamed on.  function/file/line name the program's
 * own frame (the first that is not the runtime or the standard library); leaf_* the frame
 * that allocated (or, for goroutines, where they wait) when that is a different one. */
struct alert_culprit {
    char function[256], file[256];
    int64_t line;
    char leaf_function[256], leaf_file[256];
    int64_t leaf_line;
    int64_t growth_bytes;           /* in-use bytes gained over the window (heap), or the
                                     * stack memory of the goroutines gained (estimated) */
    int64_t growth_count;           /* objects (heap) or goroutines gained */
};

#define ALERT_MAX_CULPRITS 8

struct alert {
    int64_t id;                     /* unique, increasing; persisted */
    int64_t target_id;
    char target[64];                /* the target's name */
    char kind[16];                  /* "heap", "goroutine", "non_go", "rss" */
    enum alert_state state;
    int64_t started_ms;             /* when growth was first seen (pending began) */
    int64_t since_ms;               /* when the current state began */
    int64_t fired_ms;               /* 0: never fired */
    int64_t resolved_ms;            /* 0: not resolved */
    int64_t updated_ms;             /* last judgement that touched it */
    double growth_per_hour;         /* bytes/h, or goroutines/h for kind "goroutine" */
    double confidence;              /* 0..1 */
    int64_t window_from_ms, window_to_ms;   /* the window judged */
    double level;                   /* the signal's current level (bytes or goroutines) */
    double limit_bytes;             /* what the target runs into; 0: unknown */
    char limit_source[16];          /* "memory.max", "GOMEMLIMIT", "MemTotal" or "" */
    double seconds_to_limit;        /* projected; < 0 when not known */
    char summary[512];              /* one plain sentence */
    size_t n_culprits;
    struct alert_culprit culprits[ALERT_MAX_CULPRITS];  /* largest growth first */
    int n_profiles;                 /* 0 or 2: heap profiles kept (base, now) */
    char reason[64];                /* why it resolved when not by calming down ("the
                                     * process exited"); only in the summary once written */
};

/* The alert as JSON: target, kind, state, since (Unix seconds), started, fired, resolved,
 * growth_bytes_per_hour (or growth_goroutines_per_hour and growth_bytes_per_hour null for
 * goroutine leaks), confidence, window {from, to}, level, limit {bytes, source,
 * seconds_to_limit}, summary, culprits [{function, file, line, growth_bytes, ...}], and
 * profiles {base, now} (API paths) when kept.  A new reference. */
json_t *alert_to_json(const struct alert *a);

/* Fills in a->summary from the rest, e.g. "api is leaking Go heap: +120 MiB an hour,
 * mostly in main.(*sessionStore).put (leaks.go:40); 2.3 GiB in about 5 hours." */
void alert_summarize(struct alert *a);

#endif
