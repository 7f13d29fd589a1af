/* expvar.c - the "memstats" object of a Go /debug/vars page, read with jansson.
 *
 * Go writes runtime.MemStats with encoding/json and no tags (techref 3.2): every byte count
 * and counter is a JSON integer, GCCPUFraction a number that is the integer 0 until the
 * first GC, PauseNs a ring of 256 integers whose newest entry is (NumGC+255)%256.
 * A field that is missing, of the wrong type, negative or fractional is left out of the
 * result; only a page with no memstats object or no usable HeapAlloc is an error. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "expvar.h"

static const struct {
    const char *key;
    enum metric_id id;
} memstats_fields[] = {
    { "HeapAlloc", M_GO_HEAP_ALLOC },
    { "HeapInuse", M_GO_HEAP_INUSE },
    { "HeapIdle", M_GO_HEAP_IDLE },
    { "HeapReleased", M_GO_HEAP_RELEASED },
    { "HeapSys", M_GO_HEAP_SYS },
    { "HeapObjects", M_GO_HEAP_OBJECTS },
    { "StackInuse", M_GO_STACK_INUSE },
    { "StackSys", M_GO_STACK_SYS },
    { "MSpanInuse", M_GO_MSPAN_INUSE },
    { "MSpanSys", M_GO_MSPAN_SYS },
    { "MCacheInuse", M_GO_MCACHE_INUSE },
    { "MCacheSys", M_GO_MCACHE_SYS },
    { "GCSys", M_GO_GC_SYS },
    { "BuckHashSys", M_GO_BUCKHASH_SYS },
    { "OtherSys", M_GO_OTHER_SYS },
    { "Sys", M_GO_SYS },
    { "NextGC", M_GO_NEXT_GC },
    { "NumGC", M_GO_NUM_GC },
    { "TotalAlloc", M_GO_TOTAL_ALLOC },
    { "Mallocs", M_GO_MALLOCS },
    { "Frees", M_GO_FREES },
};

/* jansson builds a json_t for every value: "[0,0,0,..." costs ~24 bytes of memory per byte
 * of input, 200 MB for an 8 MiB body.  A real page holds about a thousand values (the
 * PauseNs and PauseEnd rings, BySize) plus what the application publishes; refuse a body
 * that may hold more than this many before building anything. */
#define EXPVAR_MAX_VALUES (1u << 20)

/* Largest double below 2^63: values at or above it do not fit an int64_t. */
#define INT64_LIMIT_D 9223372036854775808.0

/* A non-negative integer: a JSON integer, or a real with no fractional part (what jansson
 * gives when the page had to be decoded with JSON_DECODE_INT_AS_REAL, see below). */
static int json_to_count(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0)
            return -ERANGE;
        *out = (int64_t)i;
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) || d < 0 || d >= INT64_LIMIT_D || d != floor(d))
            return -ERANGE;
        *out = (int64_t)d;
        return 0;
    }
    return -EINVAL;
}

/* An upper bound on the number of JSON values in body: one more than its separators. */
static size_t max_values(const char *body, size_t len)
{
    size_t i, n = 1;

    for (i = 0; i < len; i++)
        n += body[i] == ',' || body[i] == ':' || body[i] == '[' || body[i] == '{';
    return n;
}

static void set(struct go_stats *out, enum metric_id id, int64_t v)
{
    out->v[id] = v;
    out->present |= UINT64_C(1) << id;
}

int expvar_parse(const char *body, size_t len, struct go_stats *out, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root, *ms, *v;
    int64_t n;
    size_t i;
    int r = -EBADMSG;

    memset(out, 0, sizeof(*out));
    if (err && errlen)
        err[0] = '\0';
    if (!body)
        len = 0;

    /* jansson refuses integers beyond long long ("too big integer") and fails the whole
     * page, yet an application may publish its own uint64 next to memstats.  Only then
     * decode again with every number as a double: our fields stay exact below 2^53 bytes.
     * (numeric_overflow also covers reals beyond DBL_MAX; the second try fails on those.) */
    if (max_values(body, len) > EXPVAR_MAX_VALUES) {
        if (err)
            snprintf(err, errlen, "not JSON we will parse: more than %u values",
                     EXPVAR_MAX_VALUES);
        return -EBADMSG;
    }
    root = json_loadb(body ? body : "", len, 0, &jerr);
    if (!root && json_error_code(&jerr) == json_error_numeric_overflow)
        root = json_loadb(body, len, JSON_DECODE_INT_AS_REAL, &jerr);
    if (!root) {
        if (err)
            snprintf(err, errlen, "not JSON: %s at line %d column %d", jerr.text, jerr.line,
                     jerr.column);
        return -EBADMSG;
    }
    ms = json_object_get(root, "memstats");
    if (!json_is_object(ms)) {
        if (err)
            snprintf(err, errlen, "no \"memstats\" object: is expvar imported?");
        goto out;
    }
    v = json_object_get(ms, "HeapAlloc");
    if (!v) {
        if (err)
            snprintf(err, errlen, "no memstats.HeapAlloc");
        goto out;
    }
    if (json_to_count(v, &n) < 0) {
        if (err)
            snprintf(err, errlen, "memstats.HeapAlloc is not a number of bytes");
        goto out;
    }

    for (i = 0; i < sizeof(memstats_fields) / sizeof(memstats_fields[0]); i++)
        if (json_to_count(json_object_get(ms, memstats_fields[i].key), &n) == 0)
            set(out, memstats_fields[i].id, n);

    /* A fraction of the CPU, so in [0, 1]; stored in millionths.  json_number_value because
     * Go writes 0 as the integer 0. */
    v = json_object_get(ms, "GCCPUFraction");
    if (json_is_number(v)) {
        double f = json_number_value(v);
        if (isfinite(f) && f >= 0 && f <= 1)
            set(out, M_GO_GC_CPU_FRACTION, (int64_t)llround(f * 1e6));
    }

    /* The newest pause; before the first GC the ring is all zeros and means nothing. */
    if ((out->present & (UINT64_C(1) << M_GO_NUM_GC)) && out->v[M_GO_NUM_GC] > 0) {
        uint64_t idx = ((uint64_t)out->v[M_GO_NUM_GC] + 255) % 256;
        json_t *ring = json_object_get(ms, "PauseNs");
        if (json_is_array(ring) && json_to_count(json_array_get(ring, (size_t)idx), &n) == 0)
            set(out, M_GO_LAST_PAUSE, n);
    }
    r = 0;
out:
    if (r < 0)
        out->present = 0;
    json_decref(root);
    return r;
}
