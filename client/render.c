/* render.c - memwatchctl's human-readable output (see render.h).
 *
 * Tables are built as cells first and printed once the column widths are known.  Widths are
 * counted in UTF-8 characters, which is right for the ASCII that target names, states and units
 * are made of and for the "Δ" of our own headers; a double-width character in a regex or a Go
 * function name may shift its row, which we accept. */
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
    char *copy, *p, *q;

    if (s == NULL)
        return xstrdup("-");
    copy = xstrdup(s);
    for (p = q = copy; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;

        if (c < 0x20 || c == 0x7f) {
            *q++ = '?';
        } else if (c == 0xc2 && (unsigned char)p[1] >= 0x80 && (unsigned char)p[1] <= 0x9f) {
            /* U+0080..U+009F, the C1 controls: some terminals act on them (CSI) too.  Go
             * function and file names come from the target itself and may carry them. */
            *q++ = '?';
            p++;
        } else {
            *q++ = *p;
        }
    }
    *q = '\0';
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

/* Columns a cleaned string takes: UTF-8 continuation bytes take none. */
static size_t text_width(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

/* Prints rows x cols cells, two spaces apart; header may be NULL; right[c] right-aligns
 * column c.  notes may be NULL, else notes[r] (NULL for none) is printed on a line of its own
 * after row r, starting under column note_col.  Frees the cells and the notes. */
static void print_table_notes(FILE *out, const char *const *header, char **cells, size_t rows,
                              size_t cols, const bool *right, char **notes, size_t note_col)
{
    size_t *width = xcalloc(cols, sizeof(*width));
    size_t r, c, indent = 0;

    for (c = 0; c < cols; c++) {
        if (header != NULL)
            width[c] = text_width(header[c]);
        for (r = 0; r < rows; r++)
            if (text_width(cells[r * cols + c]) > width[c])
                width[c] = text_width(cells[r * cols + c]);
    }
    for (c = 0; c < note_col && c < cols; c++)
        indent += width[c] + 2;
    for (r = 0; r < rows + (header != NULL); r++) {
        bool is_header = header != NULL && r == 0;
        size_t row = r - (header != NULL);

        for (c = 0; c < cols; c++) {
            const char *cell = is_header ? header[c] : cells[row * cols + c];
            int pad = (int)(width[c] - text_width(cell));

            if (right[c])
                fprintf(out, "%*s%s", pad, "", cell);
            else if (c + 1 < cols)
                fprintf(out, "%s%*s", cell, pad, "");
            else
                fputs(cell, out); /* no trailing blanks */
            fputs(c + 1 < cols ? "  " : "\n", out);
        }
        if (!is_header && notes != NULL && notes[row] != NULL)
            fprintf(out, "%*s%s\n", (int)indent, "", notes[row]);
    }
    for (r = 0; r < rows * cols; r++)
        free(cells[r]);
    free(cells);
    if (notes != NULL)
        for (r = 0; r < rows; r++)
            free(notes[r]);
    free(notes);
    free(width);
}

static void print_table(FILE *out, const char *const *header, char **cells, size_t rows,
                        size_t cols, const bool *right)
{
    print_table_notes(out, header, cells, rows, cols, right, NULL, 0);
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

/* The GO column of `list`: "ok" while the runtime's statistics (vars or metrics) come in,
 * "err" when neither does, "-" for a target without a Go endpoint. */
static const char *runtime_state(json_t *target)
{
    json_t *runtime = json_object_get(target, "runtime");
    json_t *sources = json_object_get(runtime, "sources");

    if (!json_is_object(runtime) || str_field(runtime, "endpoint") == NULL)
        return "-";
    if (json_is_true(json_object_get(json_object_get(sources, "vars"), "ok")) ||
        json_is_true(json_object_get(json_object_get(sources, "metrics"), "ok")))
        return "ok";
    return "err";
}

void render_target_table(FILE *out, json_t *targets, int64_t now_ms)
{
    static const char *const header[] = {"NAME", "SELECTOR", "STATE",      "RSS",
                                         "PSS",  "GO",       "LAST SAMPLE"};
    static const bool right[] = {false, false, false, true, true, false, false};
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
        row[5] = xstrdup(runtime_state(t));
        row[6] = xstrdup(format_age(t, "last_sample", now_ms, buf, sizeof(buf)));
    }
    print_table(out, header, cells, rows, cols, right);
}

/* "label:" padded to a common column; an empty label continues the previous field. */
static void print_field(FILE *out, const char *label, const char *value);

/* ", limit 1.5 GiB (GOMEMLIMIT) in 3h20m": what the growth runs into and when; "" if the
 * verdict names no limit (a goroutine leak, an older daemon). */
static void format_limit(json_t *v, char *buf, size_t len)
{
    char bytes[32], when[48] = "", *source;
    double limit, secs;

    buf[0] = '\0';
    if (!num_field(v, "limit_bytes", &limit) || limit <= 0)
        return;
    source = render_clean(str_field(v, "limit_source"));
    if (num_field(v, "seconds_to_limit", &secs) && secs >= 0) {
        /* A projection past a year says "not soon" better than a count of days. */
        if (secs > 365.0 * 86400)
            snprintf(when, sizeof(when), " in over a year");
        else if (secs < 1)
            snprintf(when, sizeof(when), " reached");
        else {
            char d[32];
            snprintf(when, sizeof(when), " in %s", format_duration_ms((int64_t)(secs * 1000), d,
                                                                      sizeof(d)));
        }
    }
    snprintf(buf, len, ", limit %s (%s)%s", format_bytes(limit, bytes, sizeof(bytes)), source,
             when);
    free(source);
}

/* "verdict: leaking (heap, +7.4 GiB/h, confidence 1.00, limit 1.5 GiB (GOMEMLIMIT) in 3h)";
 * nothing for an older daemon. */
static void render_verdict_line(FILE *out, json_t *v)
{
    const char *state = str_field(v, "state");
    if (!state)
        return;
    const char *kind = str_field(v, "kind");
    double growth, conf;
    char *line, *cs = render_clean(state), *ck = render_clean(kind), limit[160];
    if (kind && num_field(v, "growth_per_hour", &growth) && num_field(v, "confidence", &conf)) {
        char rate[48];
        if (strcmp(kind, "goroutine") == 0)
            snprintf(rate, sizeof rate, "%+.0f goroutines/h", growth);
        else {
            char b[32];
            snprintf(rate, sizeof rate, "%s%s/h", growth < 0 ? "-" : "+",
                     format_bytes(growth < 0 ? -growth : growth, b, sizeof b));
        }
        format_limit(v, limit, sizeof limit);
        line = xasprintf("%s (%s, %s, confidence %.2f%s)", cs, ck, rate, conf, limit);
    } else {
        line = xasprintf("%s", cs);
    }
    print_field(out, "verdict", line);
    free(line);
    free(cs);
    free(ck);
}

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

/* The compact Go subset of `show`, under "Go runtime"; the other go_* values are in --json
 * and `series`. */
static const struct {
    const char *key;
    const char *label;
} go_fields[] = {
    {"go_heap_alloc_bytes", "heap alloc"},
    {"go_heap_inuse_bytes", "heap in use"},
    {"go_heap_idle_bytes", "heap idle"},
    {"go_heap_released_bytes", "heap released"},
    {"go_stack_inuse_bytes", "stacks"},
    {"go_sys_bytes", "sys"},
    {"go_next_gc_bytes", "next GC"},
    {"go_goroutines", "goroutines"},
    {"go_gc_total", "GCs"},
    {"go_gc_cpu_fraction", "GC CPU"},
};

/* The sources of the Go runtime view, in the order `show` prints them. */
static const char *const go_sources[] = {"vars", "metrics", "heap", "goroutine"};

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

static bool is_go_source(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(go_sources) / sizeof(go_sources[0]); i++)
        if (strcmp(name, go_sources[i]) == 0)
            return true;
    return false;
}

/* One source of the Go runtime view: "ok, 3s ago", "not served" (404: the target does not
 * serve that path), "error: connection refused", "not fetched yet". */
static char *format_source(json_t *source, int64_t now_ms)
{
    json_t *ok = json_object_get(source, "ok");
    char age[48], *clean, *text;

    if (json_is_true(ok)) {
        if (!json_is_number(json_object_get(source, "last")))
            return xstrdup("ok");
        return xasprintf("ok, %s", format_age(source, "last", now_ms, age, sizeof(age)));
    }
    if (json_is_false(json_object_get(source, "served")))
        return xstrdup("not served");
    if (str_field(source, "error") != NULL) {
        clean = render_clean(str_field(source, "error"));
        text = xasprintf("error: %s", clean);
        free(clean);
        return text;
    }
    if (json_is_false(ok) && !json_is_number(json_object_get(source, "last")))
        return xstrdup("not fetched yet");
    return xstrdup("-");
}

/* "Go runtime": the endpoint, each source's state and the runtime's own figures. */
static void print_runtime(FILE *out, json_t *runtime, json_t *latest, int64_t now_ms)
{
    json_t *sources = json_object_get(runtime, "sources"), *value;
    char buf[64], *s, *label;
    const char *key;
    bool any = false;
    size_t i;

    fprintf(out, "\nGo runtime\n");
    s = render_clean(str_field(runtime, "endpoint"));
    print_field(out, "endpoint", s);
    free(s);
    for (i = 0; i < sizeof(go_sources) / sizeof(go_sources[0]); i++) {
        s = format_source(json_object_get(sources, go_sources[i]), now_ms);
        print_field(out, go_sources[i], s);
        free(s);
    }
    /* Sources a newer daemon probes as well (a newer Go's goroutineleak profile). */
    if (json_is_object(sources)) {
        json_object_foreach(sources, key, value)
        {
            if (is_go_source(key))
                continue;
            label = render_clean(key);
            s = format_source(value, now_ms);
            print_field(out, label, s);
            free(label);
            free(s);
        }
    }

    /* Nothing scraped yet: one "-" line per figure would only be noise. */
    for (i = 0; i < sizeof(go_fields) / sizeof(go_fields[0]); i++)
        any = any || json_object_get(latest, go_fields[i].key) != NULL;
    if (!any)
        return;
    for (i = 0; i < sizeof(go_fields) / sizeof(go_fields[0]); i++) {
        value = json_object_get(latest, go_fields[i].key);
        /* A fraction of CPU time since the process started; a percentage reads better. */
        if (strcmp(go_fields[i].key, "go_gc_cpu_fraction") == 0 && json_is_number(value))
            snprintf(buf, sizeof(buf), "%.2f%%", json_number_value(value) * 100);
        else
            format_value(go_fields[i].key, value, buf, sizeof(buf));
        print_field(out, go_fields[i].label, buf);
    }
}

void render_target(FILE *out, json_t *target, int64_t now_ms)
{
    json_t *runtime = json_object_get(target, "runtime");
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
    render_verdict_line(out, json_object_get(target, "verdict"));

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
            /* With a runtime view the go_* values are shown under "Go runtime" instead. */
            if (is_known_latest(key) || (json_is_object(runtime) && strncmp(key, "go_", 3) == 0))
                continue;
            s = render_clean(key);
            print_field(out, s, format_value(key, value, buf, sizeof(buf)));
            free(s);
        }
    }
    if (json_is_object(runtime))
        print_runtime(out, runtime, latest, now_ms);
    /* Computed by the daemon for the detail view of a Go target; absent otherwise. */
    if (json_is_array(json_object_get(target, "insights")))
        render_insights(out, json_object_get(target, "insights"), NULL);
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

/* "+4.2 MiB", "-512 KiB", "0 B". */
static const char *format_signed_bytes(double bytes, char *buf, size_t len)
{
    if (bytes > 0 && len > 1) {
        buf[0] = '+';
        format_bytes(bytes, buf + 1, len - 1);
        return buf;
    }
    return format_bytes(bytes, buf, len); /* its own "-" for negative values */
}

/* A byte count field in human units, signed or not; "-" if absent. */
static char *bytes_cell(json_t *obj, const char *key, bool sign)
{
    char buf[64];
    double v;

    if (!num_field(obj, key, &v))
        return xstrdup("-");
    return xstrdup(sign ? format_signed_bytes(v, buf, sizeof(buf))
                        : format_bytes(v, buf, sizeof(buf)));
}

/* A count field, "+3" / "-3" / "0" when signed; "-" if absent. */
static char *count_cell(json_t *obj, const char *key, bool sign)
{
    double v;

    if (!num_field(obj, key, &v))
        return xstrdup("-");
    if (sign && v != 0)
        return xasprintf("%+.0f", v);
    return xasprintf("%.0f", v);
}

/* "    " + the cleaned string field: the indented first column of a nested table. */
static char *indented_cell(json_t *obj, const char *key)
{
    char *clean = render_clean(str_field(obj, key)), *cell = xasprintf("  %s", clean);

    free(clean);
    return cell;
}

static const char *time_field(json_t *obj, const char *key, char *buf, size_t len)
{
    double t;

    if (!num_field(obj, key, &t)) {
        snprintf(buf, len, "-");
        return buf;
    }
    return format_time(t, false, buf, len);
}

/* An indented line of daemon text: a summary, or a caveat with its "note: ". */
static void print_text_line(FILE *out, const char *prefix, const char *text)
{
    char *clean;

    if (text == NULL)
        return;
    clean = render_clean(text);
    fprintf(out, "  %s%s\n", prefix, clean);
    free(clean);
}

static void print_change(FILE *out, json_t *change)
{
    static const bool right[] = {false, true, false, true, true};
    json_t *parts = json_object_get(change, "parts");
    size_t rows = json_array_size(parts), r;
    char from[48], to[48], *line, **cells;

    if (!json_is_object(change)) {
        print_field(out, "change", "not available");
        return;
    }
    line = xasprintf("%s -> %s", time_field(change, "from", from, sizeof(from)),
                     time_field(change, "to", to, sizeof(to)));
    print_field(out, "change", line);
    free(line);
    if (rows > 0) {
        cells = xcalloc(rows * 5, sizeof(*cells));
        for (r = 0; r < rows; r++) {
            json_t *part = json_array_get(parts, r);
            char **row = cells + r * 5;

            row[0] = indented_cell(part, "name");
            row[1] = bytes_cell(part, "from_bytes", false);
            row[2] = xstrdup("->");
            row[3] = bytes_cell(part, "to_bytes", false);
            row[4] = bytes_cell(part, "delta_bytes", true);
        }
        print_table(out, NULL, cells, rows, 5, right);
    }
    print_text_line(out, "", str_field(change, "summary"));
}

void render_breakdown(FILE *out, json_t *breakdown, bool with_change)
{
    static const bool right[] = {false, true, true, false};
    json_t *parts = json_object_get(breakdown, "parts");
    json_t *caveats = json_object_get(breakdown, "caveats");
    size_t rows = json_array_size(parts), r;
    char rss[32], when[48], buf[32], *line, **cells;
    double v;

    if (!num_field(breakdown, "rss_bytes", &v))
        v = -1;
    line = xasprintf("RSS %s at %s", v >= 0 ? format_bytes(v, rss, sizeof(rss)) : "-",
                     time_field(breakdown, "time", when, sizeof(when)));
    print_field(out, "breakdown", line);
    free(line);

    cells = rows > 0 ? xcalloc(rows * 4, sizeof(*cells)) : NULL;
    for (r = 0; r < rows; r++) {
        json_t *part = json_array_get(parts, r);
        char **row = cells + r * 4;

        row[0] = indented_cell(part, "name");
        row[1] = bytes_cell(part, "bytes", false);
        if (num_field(part, "percent", &v))
            row[2] = xasprintf("%.1f%%", v);
        else
            row[2] = xstrdup("-");
        row[3] = render_clean(str_field(part, "description"));
    }
    if (rows > 0)
        print_table(out, NULL, cells, rows, 4, right);
    if (num_field(breakdown, "released_heap_bytes", &v))
        fprintf(out, "  Go heap released to the OS: %s\n", format_bytes(v, buf, sizeof(buf)));
    print_text_line(out, "", str_field(breakdown, "summary"));
    for (r = 0; r < json_array_size(caveats); r++)
        print_text_line(out, "note: ", json_string_value(json_array_get(caveats, r)));

    if (with_change)
        print_change(out, json_object_get(breakdown, "change"));
}

void render_breakdown_unavailable(FILE *out, const char *why)
{
    char *clean = render_clean(why), *line = xasprintf("not available yet (%s)", clean);

    print_field(out, "breakdown", line);
    free(line);
    free(clean);
}

/* "cache.go:42" of a frame; the line is left out when unknown. */
static char *frame_location(json_t *frame)
{
    const char *file = str_field(frame, "file");
    char *clean, *text;
    double line;

    if (file == NULL)
        return xstrdup("-");
    clean = render_clean(file);
    if (!num_field(frame, "line", &line) || line <= 0)
        return clean;
    text = xasprintf("%s:%.0f", clean, line);
    free(clean);
    return text;
}

static bool same_frame(json_t *a, json_t *b)
{
    const char *fa = str_field(a, "function"), *fb = str_field(b, "function");
    const char *la = str_field(a, "file"), *lb = str_field(b, "file");
    double na = 0, nb = 0;

    (void)num_field(a, "line", &na);
    (void)num_field(b, "line", &nb);
    return (fa == NULL ? fb == NULL : fb != NULL && strcmp(fa, fb) == 0) &&
           (la == NULL ? lb == NULL : lb != NULL && strcmp(la, lb) == 0) && na == nb;
}

/* A site's user frame as FUNCTION and FILE:LINE cells, and a note naming the leaf frame
 * ("allocated in runtime.makeslice (slice.go:103)") when the leaf is another frame. */
static void site_cells(json_t *site, const char *leaf_words, char **function, char **location,
                       char **note)
{
    json_t *user = json_object_get(site, "user"), *leaf = json_object_get(site, "leaf");
    char *fn, *loc;

    /* A daemon that names only the leaf still gets a row. */
    if (!json_is_object(user))
        user = leaf;
    *function = render_clean(str_field(user, "function"));
    *location = frame_location(user);
    *note = NULL;
    if (json_is_object(leaf) && leaf != user && !same_frame(leaf, user)) {
        fn = render_clean(str_field(leaf, "function"));
        loc = frame_location(leaf);
        *note = xasprintf("%s %s (%s)", leaf_words, fn, loc);
        free(fn);
        free(loc);
    }
}

/* "heap growth between 2026-11-21 23:10:00 and 2026-11-22 00:10:00 (+12 MiB in use)" */
static void print_diff_header(FILE *out, json_t *diff, const char *what, const char *total)
{
    char from[48], to[48];

    fprintf(out, "%s between %s and %s", what, time_field(diff, "from", from, sizeof(from)),
            time_field(diff, "to", to, sizeof(to)));
    if (total != NULL)
        fprintf(out, " (%s)", total);
    fputc('\n', out);
}

void render_heap_diff(FILE *out, json_t *diff)
{
    static const char *const header[] = {"RANK", "IN-USE Δ", "ALLOC RATE", "FUNCTION", "FILE:LINE"};
    static const bool right[] = {true, true, true, false, false};
    json_t *sites = json_object_get(diff, "sites");
    size_t rows = json_array_size(sites), r;
    char buf[64], *total = NULL, **cells, **notes;
    double v;

    if (num_field(diff, "total_inuse_bytes_delta", &v))
        total = xasprintf("%s in use", format_signed_bytes(v, buf, sizeof(buf)));
    print_diff_header(out, diff, "heap growth", total);
    free(total);
    if (rows == 0) {
        fprintf(out, "no allocation sites changed in this time range\n");
        return;
    }
    cells = xcalloc(rows * 5, sizeof(*cells));
    notes = xcalloc(rows, sizeof(*notes));
    for (r = 0; r < rows; r++) {
        json_t *site = json_array_get(sites, r);
        char **row = cells + r * 5;

        row[0] = xasprintf("%zu", r + 1);
        row[1] = bytes_cell(site, "inuse_bytes_delta", true);
        if (num_field(site, "alloc_rate_bytes_per_second", &v))
            row[2] = xasprintf("%s/s", format_bytes(v, buf, sizeof(buf)));
        else
            row[2] = xstrdup("-");
        site_cells(site, "allocated in", &row[3], &row[4], &notes[r]);
    }
    print_table_notes(out, header, cells, rows, 5, right, notes, 3);
}

void render_goroutine_diff(FILE *out, json_t *diff)
{
    static const char *const header[] = {"Δ COUNT", "COUNT", "FUNCTION", "FILE:LINE"};
    static const bool right[] = {true, true, false, false};
    json_t *sites = json_object_get(diff, "sites");
    size_t rows = json_array_size(sites), r;
    char *total = NULL, **cells, **notes;
    double v, now;

    if (num_field(diff, "total_delta", &v) && num_field(diff, "total", &now))
        total =
            xasprintf(v != 0 ? "%+.0f goroutines, %.0f now" : "%.0f goroutines, %.0f now", v, now);
    else if (num_field(diff, "total_delta", &v))
        total = xasprintf(v != 0 ? "%+.0f goroutines" : "%.0f goroutines", v);
    print_diff_header(out, diff, "goroutine growth", total);
    free(total);
    if (rows == 0) {
        fprintf(out, "no goroutine stacks changed in this time range\n");
        return;
    }
    cells = xcalloc(rows * 4, sizeof(*cells));
    notes = xcalloc(rows, sizeof(*notes));
    for (r = 0; r < rows; r++) {
        json_t *site = json_array_get(sites, r);
        char **row = cells + r * 4;

        row[0] = count_cell(site, "count_delta", true);
        row[1] = count_cell(site, "count", false);
        /* The leaf of a goroutine's stack is where it stands, usually runtime.gopark. */
        site_cells(site, "top frame", &row[2], &row[3], &notes[r]);
    }
    print_table_notes(out, header, cells, rows, 4, right, notes, 2);
}

/* ---- insights ---------------------------------------------------------------------------- */

/* text cleaned and word-wrapped to 100 columns, every line indented by indent. */
static void print_wrapped(FILE *out, const char *text, int indent)
{
    const int width = 100;
    char *clean = render_clean(text), *p = clean;

    while (*p != '\0') {
        size_t room = (size_t)(width - indent), n = strlen(p), cut;

        if (n <= room) {
            cut = n;
        } else {
            /* The last space within the line, or the whole word if it has none. */
            for (cut = room; cut > 0 && p[cut] != ' '; cut--)
                ;
            if (cut == 0)
                cut = strcspn(p, " ");
        }
        fprintf(out, "%*s%.*s\n", indent, "", (int)cut, p);
        p += cut;
        while (*p == ' ')
            p++;
    }
    free(clean);
}

/* gc_churn's sites: rate, function, location, and the allocating frame when it differs. */
static void print_insight_sites(FILE *out, json_t *sites)
{
    static const char *const header[] = {"  ", "ALLOC RATE", "FUNCTION", "FILE:LINE"};
    static const bool right[] = {false, true, false, false};
    size_t rows = json_array_size(sites), r;
    char buf[32], **cells, **notes, *fn;
    double v;

    if (rows == 0)
        return;
    cells = xcalloc(rows * 4, sizeof(*cells));
    notes = xcalloc(rows, sizeof(*notes));
    for (r = 0; r < rows; r++) {
        json_t *site = json_array_get(sites, r);
        char **row = cells + r * 4;

        row[0] = xstrdup("  ");
        if (num_field(site, "bytes_per_second", &v))
            row[1] = xasprintf("%s/s", format_bytes(v, buf, sizeof(buf)));
        else
            row[1] = xstrdup("-");
        row[2] = render_clean(str_field(site, "function"));
        row[3] = frame_location(site);
        if (str_field(site, "leaf_function") != NULL) {
            fn = render_clean(str_field(site, "leaf_function"));
            notes[r] = xasprintf("allocated in %s", fn);
            free(fn);
        }
    }
    print_table_notes(out, header, cells, rows, 4, right, notes, 2);
}

void render_insights(FILE *out, json_t *insights, json_t *window)
{
    size_t i, n = json_array_size(insights);
    char from[48], to[48];

    if (json_is_object(window))
        fprintf(out, "\nInsights (not alerts), %s to %s\n",
                time_field(window, "from", from, sizeof(from)),
                time_field(window, "to", to, sizeof(to)));
    else
        fprintf(out, "\nInsights (not alerts)\n");
    if (n == 0)
        fprintf(out, "  none: no retained heap or heavy garbage churn to report\n");
    for (i = 0; i < n; i++) {
        json_t *ins = json_array_get(insights, i);
        char *kind = render_clean(str_field(ins, "kind"));

        fprintf(out, "  %s\n", kind);
        free(kind);
        if (str_field(ins, "summary") != NULL)
            print_wrapped(out, str_field(ins, "summary"), 4);
        print_insight_sites(out, json_object_get(ins, "sites"));
    }
}
