/* render_alert.c - memwatchctl's view of alerts (`alerts`, and the alert lines of `show`).
 *
 * One paragraph per alert: a head line (id, state, target, kind, how long), its summary
 * sentence, its culprits (the program's own function, where it is, how much it gained, and
 * the allocating frame when that is another), and where its heap profiles can be fetched. */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"
#include "util.h"

static const char *str_or(json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

static double num_or(json_t *o, const char *key, double dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

/* How long ago a Unix-seconds field was ("12m"), "-" when missing. */
static void ago(json_t *o, const char *key, int64_t now_ms, char *buf, size_t len)
{
    double s = num_or(o, key, -1);
    char d[32];
    if (s <= 0) {
        snprintf(buf, len, "-");
        return;
    }
    int64_t ms = now_ms - (int64_t)(s * 1000);
    format_duration_ms(ms < 0 ? 0 : ms, d, sizeof d);
    snprintf(buf, len, "%s", d);
}

static void print_culprit(FILE *out, json_t *c, bool goroutines)
{
    char *fn = render_clean(str_or(c, "function", "?"));
    char *file = render_clean(str_or(c, "file", ""));
    const char *base = strrchr(file, '/');
    char growth[48], b[32];
    double bytes = num_or(c, "growth_bytes", 0);
    if (goroutines)
        snprintf(growth, sizeof growth, "+%.0f goroutines",
                 num_or(c, "growth_goroutines", 0));
    else
        snprintf(growth, sizeof growth, "+%s", format_bytes(fabs(bytes), b, sizeof b));
    fprintf(out, "    %16s  %s  %s:%" PRId64 "\n", growth, fn, base ? base + 1 : file,
            (int64_t)num_or(c, "line", 0));
    if (json_is_string(json_object_get(c, "leaf_function"))) {
        char *leaf = render_clean(str_or(c, "leaf_function", "?"));
        char *lfile = render_clean(str_or(c, "leaf_file", ""));
        const char *lbase = strrchr(lfile, '/');
        fprintf(out, "    %16s    %s %s (%s:%" PRId64 ")\n", "",
                goroutines ? "waiting in" : "allocated by", leaf, lbase ? lbase + 1 : lfile,
                (int64_t)num_or(c, "leaf_line", 0));
        free(leaf);
        free(lfile);
    }
    free(fn);
    free(file);
}

void render_alert(FILE *out, json_t *a, int64_t now_ms)
{
    char *target = render_clean(str_or(a, "target", "?"));
    char *kind = render_clean(str_or(a, "kind", "?"));
    char *state = render_clean(str_or(a, "state", "?"));
    char *summary = render_clean(str_or(a, "summary", ""));
    char since[48];
    ago(a, "since", now_ms, since, sizeof since);
    fprintf(out, "alert %" PRId64 " [%s for %s]: %s leak in %s (confidence %.2f)\n",
            (int64_t)num_or(a, "id", 0), state, since, kind, target, num_or(a, "confidence", 0));
    fprintf(out, "  %s\n", summary);
    json_t *cs = json_object_get(a, "culprits");
    if (json_array_size(cs) > 0) {
        bool gr = strcmp(kind, "goroutine") == 0;
        fprintf(out, "  culprits (%s over the judged window):\n",
                gr ? "goroutines gained" : "in-use heap gained");
        size_t i;
        json_t *c;
        json_array_foreach(cs, i, c)
            print_culprit(out, c, gr);
    } else if (strcmp(kind, "non_go") == 0) {
        fprintf(out, "  culprits: not in Go's profiles (memory from C, cgo or mmap outside the "
                     "Go runtime)\n");
    }
    json_t *p = json_object_get(a, "profiles");
    if (json_is_object(p)) {
        char *base = render_clean(str_or(p, "base", "")), *now = render_clean(str_or(p, "now", ""));
        fprintf(out, "  heap profiles: %s %s\n", base, now);
        free(base);
        free(now);
    }
    free(target);
    free(kind);
    free(state);
    free(summary);
}

void render_alerts(FILE *out, json_t *alerts, int64_t now_ms)
{
    size_t i;
    json_t *a;
    if (json_array_size(alerts) == 0) {
        fprintf(out, "no alerts\n");
        return;
    }
    json_array_foreach(alerts, i, a) {
        if (i > 0)
            fputc('\n', out);
        render_alert(out, a, now_ms);
    }
}
