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

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* "pid 1234", "match ^myapi$", "match ^myapi$ (cmdline)", "self"; free() the result. */
char *render_selector(json_t *target);

/* The table of `list`: NAME SELECTOR STATE RSS PSS LAST SAMPLE. */
void render_target_table(FILE *out, json_t *targets, int64_t now_ms);

/* `show`: one field per line, latest values in human units. */
void render_target(FILE *out, json_t *target, int64_t now_ms);

/* `series`: one line per point, "2026-11-21 23:50:01  12.3 MiB", or time/min/avg/max. */
void render_series(FILE *out, json_t *series);

/* `health`: "memwatchd 0.1.0 ok, up 3m20s, 3 targets". */
void render_health(FILE *out, json_t *health);

/* s with every control character replaced by '?'; free() the result.  NULL gives "-". */
char *render_clean(const char *s);

#endif
