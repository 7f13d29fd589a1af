/* render.c - memwatchctl's human-readable output (see render.h).
 *
 * Tables are built as cells first and printed once the column widths are known.  Widths are
 * counted in bytes, which is right for the ASCII that target names, states and units are made
 * of; a regex with multi-byte characters may shift its row, which we accept. */
#include "config.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "render.h"
#include "util.h"

char *render_clean(const char *s)
{
    char *copy, *p;

    if (s == NULL)
        return xstrdup("-");
    copy = xstrdup(s);
    for (p = copy; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return copy;
}

static const char *str_field(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static bool num_field(json_t *obj, const char *key, double *out)
{
    json_t *v = json_object_get(obj, key);

    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A metric value: bytes (by the API's "_bytes" naming rule) in human units, counts plain,
 * averages of counts with two decimals, anything absent or non-numeric as "-". */
static const char *format_value(const char *metric, json_t *v, char *buf, size_t len)
{
    double d;

    if (!json_is_number(v)) {
        snprintf(buf, len, "-");
        return buf;
    }
    d = json_number_value(v);
    if (ends_with(metric, "_bytes"))
        return format_bytes(d, buf, len);
    if (json_is_integer(v))
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (d > -9e15 && d < 9e15 && d == (double)(long long)d)
        snprintf(buf, len, "%lld", (long long)d);
    else
        snprintf(buf, len, "%.2f", d);
    return buf;
}

/* Local time of unix seconds t, "2026-11-21 23:50:01" (with ".250" when with_ms). */
static const char *format_time(double t, bool with_ms, char *buf, size_t len)
{
    struct tm tm;
    time_t sec;
    size_t n;

    /* Reject what localtime cannot represent sensibly: negative, NaN, past year 9999. */
    if (!(t >= 0 && t < 253402300800.0)) {
        snprintf(buf, len, "-");
        return buf;
    }
    sec = (time_t)t;
    if (localtime_r(&sec, &tm) == NULL || (n = strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm)) == 0) {
        snprintf(buf, len, "-");
        return buf;
    }
    if (with_ms)
        snprintf(buf + n, len - n, ".%03d", (int)((t - (double)sec) * 1000));
    return buf;
}

/* "2s ago", "just now", "never" for a timestamp field that may be null. */
static const char *format_age(json_t *obj, const char *key, int64_t now_ms, char *buf, size_t len)
{
    char dur[32];
    int64_t age_ms;
    double t;

    if (!num_field(obj, key, &t)) {
        snprintf(buf, len, "never");
        return buf;
    }
    age_ms = now_ms - (int64_t)(t * 1000);
    if (age_ms < 1000)
        snprintf(buf, len, "just now");
    else
        snprintf(buf, len, "%s ago", format_duration_ms(age_ms, dur, sizeof(dur)));
    return buf;
}

/* Prints rows x cols cells, two spaces apart; header may be NULL; right[c] right-aligns
 * column c.  Frees the cells. */
static void print_table(FILE *out, const char *const *header, char **cells, size_t rows,
                        size_t cols, const bool *right)
{
    size_t *width = xcalloc(cols, sizeof(*width));
    size_t r, c;

    for (c = 0; c < cols; c++) {
        if (header != NULL)
            width[c] = strlen(header[c]);
        for (r = 0; r < rows; r++)
            if (strlen(cells[r * cols + c]) > width[c])
                width[c] = strlen(cells[r * cols + c]);
    }
    for (r = 0; r < rows + (header != NULL); r++) {
        bool is_header = header != NULL && r == 0;
        size_t row = r - (header != NULL);

        for (c = 0; c < cols; c++) {
            const char *cell = is_header ? header[c] : cells[row * cols + c];
            const char *sep = c + 1 < cols ? "  " : "\n";

            if (right[c])
                fprintf(out, "%*s%s", (int)width[c], cell, sep);
            else if (c + 1 < cols)
                fprintf(out, "%-*s%s", (int)width[c], cell, sep);
            else
                fprintf(out, "%s%s", cell, sep); /* no trailing blanks */
        }
    }
    for (r = 0; r < rows * cols; r++)
        free(cells[r]);
    free(cells);
    free(width);
}

char *render_selector(json_t *target)
{
    const char *selector = str_field(target, "selector");
    char *match, *text;
    double pid;

    if (selector == NULL)
        return xstrdup("-");
    if (strcmp(selector, "pid") == 0 && num_field(target, "pid", &pid))
        return xasprintf("pid %.0f", pid);
    if (strcmp(selector, "self") == 0)
        return num_field(target, "pid", &pid) ? xasprintf("self (pid %.0f)", pid) : xstrdup("self");
    if (strcmp(selector, "match") == 0) {
        match = render_clean(str_field(target, "match"));
        text = xasprintf("match %s%s", match,
                         json_is_true(json_object_get(target, "cmdline")) ? " (cmdline)" : "");
        free(match);
        return text;
    }
    return render_clean(selector);
}

void render_target_table(FILE *out, json_t *targets, int64_t now_ms)
{
    static const char *const header[] = {"NAME", "SELECTOR", "STATE", "RSS", "PSS", "LAST SAMPLE"};
    static const bool right[] = {false, false, false, true, true, false};
    const size_t cols = sizeof(header) / sizeof(header[0]);
    size_t rows = json_array_size(targets), r;
    char **cells;
    char buf[64];

    if (rows == 0) {
        fprintf(out, "no targets; add one with 'memwatchctl add NAME --pid PID'\n");
        return;
    }
    cells = xcalloc(rows * cols, sizeof(*cells));
    for (r = 0; r < rows; r++) {
        json_t *t = json_array_get(targets, r);
        json_t *latest = json_object_get(t, "latest");
        char **row = cells + r * cols;

        row[0] = render_clean(str_field(t, "name"));
        row[1] = render_selector(t);
        row[2] = render_clean(str_field(t, "state"));
        row[3] = xstrdup(
            format_value("rss_bytes", json_object_get(latest, "rss_bytes"), buf, sizeof(buf)));
        row[4] = xstrdup(
            format_value("pss_bytes", json_object_get(latest, "pss_bytes"), buf, sizeof(buf)));
        row[5] = xstrdup(format_age(t, "last_sample", now_ms, buf, sizeof(buf)));
    }
    print_table(out, header, cells, rows, cols, right);
}

/* "label:" padded to a common column; an empty label continues the previous field. */
static void print_field(FILE *out, const char *label, const char *value)
{
    size_t len = strlen(label);

    if (len == 0)
        fprintf(out, "%17s%s\n", "", value);
    else
        fprintf(out, "%s:%*s%s\n", label, len < 16 ? (int)(16 - len) : 1, "", value);
}

/* The "latest" block of `show`, in a fixed, meaningful order; keys a newer daemon adds are
 * printed after these under their own names. */
static const struct {
    const char *key;
    const char *label;
    bool needs_smaps; /* measured from smaps, which may not be permitted */
} latest_fields[] = {
    {"rss_bytes", "rss", false},
    {"pss_bytes", "pss", true},
    {"uss_bytes", "uss", true},
    {"rss_anon_bytes", "rss anon", false},
    {"rss_file_bytes", "rss file", false},
    {"rss_shmem_bytes", "rss shmem", false},
    {"swap_bytes", "swap", false},
    {"vsz_bytes", "vsz", false},
    {"threads", "threads", false},
    {"processes", "processes", false},
    {"minor_faults_total", "minor faults", false},
    {"major_faults_total", "major faults", false},
};

static bool is_known_latest(const char *key)
{
    size_t i;

    for (i = 0; i < sizeof(latest_fields) / sizeof(latest_fields[0]); i++)
        if (strcmp(key, latest_fields[i].key) == 0)
            return true;
    return false;
}

static void print_time_field(FILE *out, const char *label, json_t *obj, const char *key,
                             int64_t now_ms)
{
    char when[48], age[48], *line;
    double t;

    if (!num_field(obj, key, &t)) {
        print_field(out, label, "never");
        return;
    }
    line = xasprintf("%s (%s)", format_time(t, false, when, sizeof(when)),
                     format_age(obj, key, now_ms, age, sizeof(age)));
    print_field(out, label, line);
    free(line);
}

static void print_interval_field(FILE *out, const char *label, json_t *obj, const char *key)
{
    char buf[32];
    double s;

    if (num_field(obj, key, &s))
        print_field(out, label, format_duration_ms((int64_t)(s * 1000), buf, sizeof(buf)));
    else
        print_field(out, label, "-");
}

void render_target(FILE *out, json_t *target, int64_t now_ms)
{
    json_t *latest = json_object_get(target, "latest");
    json_t *procs = json_object_get(target, "processes");
    const char *state = str_field(target, "state");
    bool active = state != NULL && strcmp(state, "active") == 0;
    bool sampled = json_is_number(json_object_get(target, "last_sample"));
    const char *key;
    json_t *value;
    char buf[64], *s;
    size_t i;

    s = render_clean(str_field(target, "name"));
    print_field(out, "name", s);
    free(s);
    s = render_selector(target);
    print_field(out, "selector", s);
    free(s);
    s = render_clean(state);
    print_field(out, "state", s);
    free(s);
    if (str_field(target, "message") != NULL) {
        s = render_clean(str_field(target, "message"));
        print_field(out, "message", s);
        free(s);
    }

    if (json_array_size(procs) == 0)
        print_field(out, "pids", "none");
    for (i = 0; i < json_array_size(procs); i++) {
        json_t *p = json_array_get(procs, i);
        char when[48];
        double pid = -1, start;

        (void)num_field(p, "pid", &pid);
        if (num_field(p, "start_time", &start))
            s = xasprintf("%.0f (started %s)", pid, format_time(start, false, when, sizeof(when)));
        else
            s = xasprintf("%.0f", pid);
        print_field(out, i == 0 ? "pids" : "", s);
        free(s);
    }

    print_interval_field(out, "interval", target, "interval_seconds");
    print_interval_field(out, "smaps interval", target, "smaps_interval_seconds");
    print_time_field(out, "created", target, "created", now_ms);
    print_time_field(out, "last sample", target, "last_sample", now_ms);

    for (i = 0; i < sizeof(latest_fields) / sizeof(latest_fields[0]); i++) {
        value = json_object_get(latest, latest_fields[i].key);
        /* Only a `match` target counts processes; "-" elsewhere would read as unknown. */
        if (value == NULL && strcmp(latest_fields[i].key, "processes") == 0)
            continue;
        format_value(latest_fields[i].key, value, buf, sizeof(buf));
        /* An active, already sampled target without PSS/USS means the kernel refused
         * smaps_rollup to us (another user's process without CAP_SYS_PTRACE). */
        if (value == NULL && latest_fields[i].needs_smaps && active && sampled)
            snprintf(buf, sizeof(buf), "- (not permitted)");
        print_field(out, latest_fields[i].label, buf);
    }
    if (json_is_object(latest)) {
        json_object_foreach(latest, key, value)
        {
            if (is_known_latest(key))
                continue;
            s = render_clean(key);
            print_field(out, s, format_value(key, value, buf, sizeof(buf)));
            free(s);
        }
    }
}

void render_series(FILE *out, json_t *series)
{
    static const char *const agg_header[] = {"TIME", "MIN", "AVG", "MAX"};
    static const bool right[] = {false, true, true, true};
    json_t *points = json_object_get(series, "points");
    const char *metric = str_field(series, "metric");
    size_t rows = json_array_size(points), cols, r, c;
    bool with_ms = false, aggregated;
    char buf[64], **cells;
    double step = 0;

    if (metric == NULL)
        metric = "";
    if (rows == 0) {
        char *m = render_clean(metric), *t = render_clean(str_field(series, "target"));

        fprintf(out, "no %s samples for \"%s\" in this time range\n", m, t);
        free(m);
        free(t);
        return;
    }
    (void)num_field(series, "step", &step);
    aggregated = step > 0 || json_array_size(json_array_get(points, 0)) == 4;
    cols = aggregated ? 4 : 2;

    /* Sub-second sampling gives several points per second; show milliseconds only then. */
    for (r = 0; r < rows && !with_ms; r++) {
        double t = json_number_value(json_array_get(json_array_get(points, r), 0));

        with_ms = t > 0 && t < 9e15 && t != (double)(int64_t)t;
    }

    cells = xcalloc(rows * cols, sizeof(*cells));
    for (r = 0; r < rows; r++) {
        json_t *point = json_array_get(points, r), *t = json_array_get(point, 0);

        cells[r * cols] = xstrdup(
            json_is_number(t) ? format_time(json_number_value(t), with_ms, buf, sizeof(buf)) : "-");
        for (c = 1; c < cols; c++)
            cells[r * cols + c] =
                xstrdup(format_value(metric, json_array_get(point, c), buf, sizeof(buf)));
    }
    print_table(out, aggregated ? agg_header : NULL, cells, rows, cols, right);
}

void render_health(FILE *out, json_t *health)
{
    char *status = render_clean(str_field(health, "status"));
    char *version = render_clean(str_field(health, "version"));
    char up[32] = "-";
    double uptime, targets = -1;

    if (num_field(health, "uptime_seconds", &uptime))
        format_duration_ms((int64_t)(uptime * 1000), up, sizeof(up));
    (void)num_field(health, "targets", &targets);
    if (targets >= 0)
        fprintf(out, "memwatchd %s %s, up %s, %.0f target%s\n", version, status, up, targets,
                targets == 1 ? "" : "s");
    else
        fprintf(out, "memwatchd %s %s, up %s\n", version, status, up);
    free(status);
    free(version);
}
