/* util.c - allocation policy, clocks, unit parsing and human formatting (see util.h).
 *
 * The parsers here see text from outside (config files, HTTP bodies, command lines), so they
 * are strict and never abort: the whole string must be consumed, no sign or whitespace is
 * skipped silently, and every multiplication is checked before it is done. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util.h"

/* Out of memory is not something a monitor can work around; say what happened and stop, so
 * the supervisor restarts us rather than us limping on with half-built state. */
static void __attribute__((noreturn)) oom(const char *what, size_t nmemb, size_t size)
{
    fprintf(stderr, "%s: %s: out of memory (%zu x %zu bytes)\n", program_invocation_short_name,
            what, nmemb, size);
    abort();
}

void *xmalloc(size_t size)
{
    /* malloc(0) may legally return NULL; ask for one byte so NULL always means OOM. */
    void *p = malloc(size ? size : 1);

    if (p == NULL)
        oom("xmalloc", 1, size);
    return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
    void *p;

    if (nmemb == 0 || size == 0)
        nmemb = size = 1;
    /* calloc checks the product itself, but say so plainly rather than relying on it. */
    if (SIZE_MAX / nmemb < size)
        oom("xcalloc: nmemb * size overflows", nmemb, size);
    p = calloc(nmemb, size);
    if (p == NULL)
        oom("xcalloc", nmemb, size);
    return p;
}

void *xreallocarray(void *ptr, size_t nmemb, size_t size)
{
    size_t total;
    void *p;

    if (nmemb != 0 && SIZE_MAX / nmemb < size)
        oom("xreallocarray: nmemb * size overflows", nmemb, size);
    total = nmemb * size;
    /* realloc(ptr, 0) frees ptr and may return NULL, which would read as OOM here. */
    p = realloc(ptr, total ? total : 1);
    if (p == NULL)
        oom("xreallocarray", nmemb, size);
    return p;
}

char *xstrdup(const char *s)
{
    char *p = strdup(s);

    if (p == NULL)
        oom("xstrdup", 1, strlen(s) + 1);
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *p;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom("xasprintf", 1, 0);
    return p;
}

static int64_t clock_ms(clockid_t clock)
{
    struct timespec ts;

    /* Only fails for an invalid clock id, which would be our bug, not a runtime condition. */
    if (clock_gettime(clock, &ts) != 0)
        abort();
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t now_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

int64_t now_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads a run of decimal digits at *sp into *out, advancing *sp.  strtoull is avoided on
 * purpose: it skips whitespace and accepts signs, which would let " -5" through. */
static int parse_digits(const char **sp, uint64_t *out)
{
    const char *s = *sp;
    uint64_t v = 0;

    if (!is_digit(*s))
        return -EINVAL;
    for (; is_digit(*s); s++) {
        unsigned d = (unsigned)(*s - '0');

        if (v > (UINT64_MAX - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    *sp = s;
    *out = v;
    return 0;
}

/* Duration units, largest first; a compound value ("1h30m") must use them in this order.
 * "ms" comes before "m" so that "500ms" is not read as 500 minutes followed by an "s". */
static const struct {
    const char *suffix;
    int64_t ms;
} duration_units[] = {
    {"d", 86400000}, {"h", 3600000}, {"ms", 1}, {"m", 60000}, {"s", 1000},
};

int parse_duration_ms(const char *s, int64_t *out_ms)
{
    int64_t total = 0, last_unit_ms = INT64_MAX;
    bool first = true;

    if (s == NULL || *s == '\0')
        return -EINVAL;
    while (*s != '\0') {
        int64_t unit_ms = 0;
        uint64_t n;
        size_t i;

        if (parse_digits(&s, &n) != 0)
            return -EINVAL;
        if (*s == '\0' && first) {
            unit_ms = 1000; /* a bare number is seconds */
        } else {
            for (i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
                size_t len = strlen(duration_units[i].suffix);

                if (strncmp(s, duration_units[i].suffix, len) == 0) {
                    unit_ms = duration_units[i].ms;
                    s += len;
                    break;
                }
            }
        }
        /* Unknown unit, or "5s5s" / "5s1h": each part must be a smaller unit than the last. */
        if (unit_ms == 0 || unit_ms >= last_unit_ms)
            return -EINVAL;
        if (n > (uint64_t)(INT64_MAX - total) / (uint64_t)unit_ms)
            return -EINVAL;
        total += (int64_t)n * unit_ms;
        last_unit_ms = unit_ms;
        first = false;
    }
    *out_ms = total;
    return 0;
}

int parse_size_bytes(const char *s, uint64_t *out)
{
    static const struct {
        const char *suffix;
        unsigned shift;
    } units[] = {
        /* clang-format off */
        {"", 0},     {"b", 0},
        {"k", 10},   {"kb", 10},  {"kib", 10},
        {"m", 20},   {"mb", 20},  {"mib", 20},
        {"g", 30},   {"gb", 30},  {"gib", 30},
        {"t", 40},   {"tb", 40},  {"tib", 40},
        /* clang-format on */
    };
    uint64_t n;
    size_t i;

    if (s == NULL || parse_digits(&s, &n) != 0)
        return -EINVAL;
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(s, units[i].suffix) != 0)
            continue;
        if (n > (UINT64_MAX >> units[i].shift))
            return -EINVAL;
        *out = n << units[i].shift;
        return 0;
    }
    return -EINVAL;
}

int parse_int64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    bool negative = false;
    uint64_t mag;

    if (s == NULL)
        return -EINVAL;
    if (*s == '-') {
        negative = true;
        s++;
    }
    if (parse_digits(&s, &mag) != 0) {
        /* parse_digits also fails on uint64 overflow; tell that apart from garbage. */
        const char *p = s;

        while (is_digit(*p))
            p++;
        return (p != s && *p == '\0') ? -ERANGE : -EINVAL;
    }
    if (*s != '\0')
        return -EINVAL;
    if (negative) {
        /* -INT64_MIN does not fit in int64_t, so compare magnitudes in uint64_t. */
        if (mag > (uint64_t)INT64_MAX + 1)
            return -ERANGE;
        *out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    } else {
        if (mag > (uint64_t)INT64_MAX)
            return -ERANGE;
        *out = (int64_t)mag;
    }
    if (*out < min || *out > max)
        return -ERANGE;
    return 0;
}

int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    size_t i;

    if (s == NULL)
        return -EINVAL;
    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}

/* Three significant digits, trailing zeros dropped ("1.5 KiB", "12.3 MiB", "1.02 GiB", "512 B"):
 * enough to see a trend, short enough for a table column. */
const char *format_bytes(double bytes, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    const size_t nunits = sizeof(units) / sizeof(units[0]);
    const char *sign = "";
    double v = bytes;
    size_t u = 0;
    int decimals, n;

    if (len == 0)
        return buf;
    if (v != v || v - v != 0) { /* NaN or infinity, without pulling in libm */
        snprintf(buf, len, "-");
        return buf;
    }
    if (v < 0) {
        sign = "-";
        v = -v;
    } else {
        v += 0.0; /* turns -0.0 into 0.0, which would otherwise print as "-0 B" */
    }
    /* 1023.6 KiB would print as "1024 KiB"; move it up to "1 MiB" instead. */
    while (u + 1 < nunits && v >= 1023.5) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        decimals = 0; /* bytes are whole */
    else
        decimals = v < 9.995 ? 2 : v < 99.95 ? 1 : 0;
    n = snprintf(buf, len, "%s%.*f", sign, decimals, v);
    if (n < 0 || (size_t)n >= len)
        return buf;
    if (decimals > 0) {
        char *end = buf + n;

        while (end[-1] == '0')
            end--;
        if (end[-1] == '.')
            end--;
        *end = '\0';
        n = (int)(end - buf);
    }
    snprintf(buf + n, len - (size_t)n, " %s", units[u]);
    return buf;
}

/* The largest unit and the one below it, truncated: "850ms", "12s", "3m20s", "2h5m", "3d4h".
 * Precision below the second unit is noise for "up 3m20s" or "last sample 2s ago". */
const char *format_duration_ms(int64_t ms, char *buf, size_t len)
{
    const char *sign = ms < 0 ? "-" : "";
    /* Magnitude in uint64_t so INT64_MIN does not overflow on negation. */
    uint64_t m = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    uint64_t s = m / 1000, big, small;
    const char *big_unit, *small_unit;

    if (len == 0)
        return buf;
    if (m == 0) {
        snprintf(buf, len, "0s");
        return buf;
    }
    if (m < 1000) {
        snprintf(buf, len, "%s%" PRIu64 "ms", sign, m);
        return buf;
    }
    if (s < 60) {
        snprintf(buf, len, "%s%" PRIu64 "s", sign, s);
        return buf;
    }
    if (s < 3600) {
        big = s / 60, big_unit = "m", small = s % 60, small_unit = "s";
    } else if (s < 86400) {
        big = s / 3600, big_unit = "h", small = (s / 60) % 60, small_unit = "m";
    } else {
        big = s / 86400, big_unit = "d", small = (s / 3600) % 24, small_unit = "h";
    }
    if (small != 0)
        snprintf(buf, len, "%s%" PRIu64 "%s%" PRIu64 "%s", sign, big, big_unit, small, small_unit);
    else
        snprintf(buf, len, "%s%" PRIu64 "%s", sign, big, big_unit);
    return buf;
}

bool target_name_valid(const char *name)
{
    size_t i;

    if (name == NULL || name[0] == '\0' || name[0] == '.' || name[0] == '-')
        return false;
    for (i = 0; name[i] != '\0'; i++) {
        char c = name[i];

        if (i >= 63)
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' ||
              c == '.' || c == '-'))
            return false;
    }
    return true;
}
