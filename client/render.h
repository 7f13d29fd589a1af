/* render.h - memwatchctl's human-readable output of memwatchd's JSON answers.
 *
 * Renderers are tolerant: a missing or mistyped field prints as "-" rather than failing, so
 * an older client still shows what it can of a newer daemon's answer.  Every string that came
 * from the daemon is printed with control characters replaced, because process names and
 * regexes are user-controlled and must not drive the terminal.  The JSON field names are the
 * contract described in common/api_paths.h.  (Arguments are not const because jansson's
 * object iteration API is not.) */
#ifndef MEMWATCH_CTL_RENDER_H
#define MEMWATCH_CTL_RENDER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* "pid 1234", "match ^myapi$", "match ^myapi$ (cmdline)", "self"; free() the result. */
char *render_selector(json_t *target);

/* The table of `list`: NAME SELECTOR STATE RSS PSS GO LAST SAMPLE. */
void render_target_table(FILE *out, json_t *targets, int64_t now_ms);

/* `show`: one field per line, latest values in human units; a target with a "runtime" gets
 * a "Go runtime" section (endpoint, sources, a compact subset of the go_* values). */
void render_target(FILE *out, json_t *target, int64_t now_ms);

/* `breakdown` and the end of `show`: RSS split into parts, the summary and the caveats as
 * notes; with_change adds the "change" block of a breakdown asked for with a start time. */
void render_breakdown(FILE *out, json_t *breakdown, bool with_change);
/* "breakdown: not available yet (why)", for a target the daemon has no runtime data for. */
void render_breakdown_unavailable(FILE *out, const char *why);

/* `diff`: a header line, then the sites ranked by in-use growth, or by goroutine count growth;
 * a site allocated (or standing) in a frame other than its user frame gets a second line. */
void render_heap_diff(FILE *out, json_t *diff);
void render_goroutine_diff(FILE *out, json_t *diff);

/* `insights` and the end of `show`: under "Insights", each insight's kind and its summary
 * wrapped, and for gc_churn the allocating sites; "none" for an empty list.  window (the
 * answer's "window", or NULL) says over what time. */
void render_insights(FILE *out, json_t *insights, json_t *window);

/* `series`: one line per point, "2026-11-21 23:50:01  12.3 MiB", or time/min/avg/max. */
void render_series(FILE *out, json_t *series);

/* `health`: "memwatchd 0.1.0 ok, up 3m20s, 3 targets". */
void render_health(FILE *out, json_t *health);

/* s with every control character replaced by '?'; free() the result.  NULL gives "-". */
char *render_clean(const char *s);

/* render_alert.c: `alerts` (an array of alert objects) and one alert. */
void render_alerts(FILE *out, json_t *alerts, int64_t now_ms);
void render_alert(FILE *out, json_t *alert, int64_t now_ms);

#endif
