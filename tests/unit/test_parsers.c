/* test_parsers.c - unit tests for the parsers of what Go targets send: daemon/expvar.c,
 * daemon/promtext.c and daemon/pprof.c.
 *
 * Exercises, against real Go 1.19 output committed in tests/data/ (tests/data/gen/main.go
 * made it and says how to regenerate it):
 *   - expvar: every M_GO_* value of a /debug/vars page, the last GC pause from the PauseNs
 *     ring, GCCPUFraction written as the integer 0 before the first GC, a uint64 beyond
 *     long long in an application's own var; empty, non-JSON, truncated, HTML, wrongly
 *     typed, negative and fractional input, and 8 MiB of "0," (refused before jansson
 *     builds 200 MB of values);
 *   - promtext: a client_golang page (HELP/TYPE, 2.3584768e+07, NaN, +Inf, -Inf, labels with
 *     escapes, timestamps) checked value by value against the expvar page of the same MemStats
 *     snapshot; runtime/metrics names alone; the unlabelled-or-first rule; CRLF; malformed
 *     lines; no Go metrics; a 16 MiB line; a body not NUL-terminated;
 *   - pprof: the top heap site and its bytes, bytes.growSlice attributed to the caller that
 *     grew the buffer, an inlined frame, goroutines per blocking function, raw protobuf,
 *     truncated and corrupt gzip, a 1 GiB gzip bomb (stops at the cap, quickly, with bounded
 *     memory), HTML, empty bodies, the wrong profile kind, and profiles built here with
 *     protobuf-c: indices out of range, unknown or duplicate ids, sparse ids, wrong value
 *     counts, samples without locations, all-runtime stacks, duplicate strings, bad UTF-8,
 *     overflowing values, a decode-budget bomb, the distinct-site cap, and deep stacks
 *     through a location of 20000 lines (work linear in the input);
 *   - pprof_func_is_std on real name shapes.
 * Every body is handed over in a heap block of exactly its length, so an over-read shows
 * under ASan or valgrind. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <cmocka.h>
#include <zlib.h>

#include "expvar.h"
#include "gostats.h"
#include "pprof.h"
#include "profile.pb-c.h"
#include "promtext.h"
#include "util.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define BIT(id) (UINT64_C(1) << (id))
#define MAX_INFLATED (64u << 20)

/* ---- helpers ------------------------------------------------------------------------------ */

static const char *srcdir(void)
{
    static char dir[4096];
    const char *env = getenv("MEMWATCH_SRCDIR");
    const char *suffix = "tests/unit/test_parsers.c";
    size_t n;

    if (env && *env)
        return env;
    /* __FILE__ is the path the compiler was given: absolute, or relative to the build
     * directory the test runs in. */
    n = strlen(__FILE__) - strlen(suffix);
    snprintf(dir, sizeof(dir), "%.*s", (int)n, __FILE__);
    if (dir[0] == '\0')
        snprintf(dir, sizeof(dir), ".");
    return dir;
}

/* The fixture's bytes in a block of exactly its size (no NUL after it). */
static char *read_fixture(const char *name, size_t *len)
{
    char path[4096];
    FILE *f;
    char *buf = NULL;
    size_t cap = 0, n = 0, got;

    if ((size_t)snprintf(path, sizeof(path), "%s/tests/data/%s", srcdir(), name) >= sizeof(path))
        fail_msg("path too long");
    f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    do {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            buf = xreallocarray(buf, cap, 1);
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    buf = xreallocarray(buf, n ? n : 1, 1);
    *len = n;
    return buf;
}

/* A copy of s without its NUL. */
static char *exact(const char *s, size_t len)
{
    char *b = xmalloc(len ? len : 1);

    memcpy(b, s, len);
    return b;
}

/* strstr for a buffer that is not NUL-terminated */
static int contains(const char *buf, size_t len, const char *needle)
{
    return memmem(buf, len, needle, strlen(needle)) != NULL;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long maxrss_kib(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int under_valgrind(void)
{
    const char *p = getenv("LD_PRELOAD");

    return p && strstr(p, "vgpreload") != NULL;
}

/* gzip of [data, data+len) */
static uint8_t *gzip_bytes(const void *data, size_t len, size_t *outlen)
{
    z_stream zs;
    size_t cap = len + len / 100 + 1024;
    uint8_t *out = xmalloc(cap);

    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY),
                     Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *outlen = zs.total_out;
    deflateEnd(&zs);
    return out;
}

static uint8_t *gunzip_bytes(const void *data, size_t len, size_t *outlen)
{
    z_stream zs;
    size_t cap = 1 << 24;
    uint8_t *out = xmalloc(cap);

    memset(&zs, 0, sizeof(zs));
    assert_int_equal(inflateInit2(&zs, 16 + MAX_WBITS), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    *outlen = zs.total_out;
    inflateEnd(&zs);
    return out;
}

/* ---- expvar ------------------------------------------------------------------------------- */

struct expect {
    enum metric_id id;
    int64_t v;
};

/* tests/data/expvar.json: update these when the fixture is regenerated. */
static const struct expect expvar_expect[] = {
    { M_GO_HEAP_ALLOC, 25209016 },    { M_GO_HEAP_INUSE, 25747456 },
    { M_GO_HEAP_IDLE, 11640832 },     { M_GO_HEAP_RELEASED, 3784704 },
    { M_GO_HEAP_SYS, 37388288 },      { M_GO_HEAP_OBJECTS, 21681 },
    { M_GO_STACK_INUSE, 360448 },     { M_GO_STACK_SYS, 360448 },
    { M_GO_MSPAN_INUSE, 69696 },      { M_GO_MSPAN_SYS, 81360 },
    { M_GO_MCACHE_INUSE, 2400 },      { M_GO_MCACHE_SYS, 15600 },
    { M_GO_GC_SYS, 8566936 },         { M_GO_BUCKHASH_SYS, 1460810 },
    { M_GO_OTHER_SYS, 735078 },       { M_GO_SYS, 48608520 },
    { M_GO_NEXT_GC, 45455896 },       { M_GO_NUM_GC, 5 },
    { M_GO_TOTAL_ALLOC, 42990624 },   { M_GO_MALLOCS, 22510 },
    { M_GO_FREES, 829 },
    /* "GCCPUFraction":0.03441657487883716 -> millionths */
    { M_GO_GC_CPU_FRACTION, 34417 },
    /* PauseNs[(5+255)%256] = PauseNs[4] */
    { M_GO_LAST_PAUSE, 30689 },
};

static void check_expect(const struct go_stats *st, const struct expect *e, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (!(st->present & BIT(e[i].id)))
            fail_msg("%s absent", metric_info(e[i].id)->name);
        if (st->v[e[i].id] != e[i].v)
            fail_msg("%s = %" PRId64 ", expected %" PRId64, metric_info(e[i].id)->name,
                     st->v[e[i].id], e[i].v);
    }
}

static void test_expvar_real(void **state)
{
    struct go_stats st;
    char err[256];
    size_t len, i;
    char *body = read_fixture("expvar.json", &len);
    uint64_t want = 0;

    (void)state;
    assert_int_equal(expvar_parse(body, len, &st, err, sizeof(err)), 0);
    check_expect(&st, expvar_expect, N_ELEMS(expvar_expect));
    for (i = 0; i < N_ELEMS(expvar_expect); i++)
        want |= BIT(expvar_expect[i].id);
    /* nothing else, and in particular no goroutine count: expvar does not carry one */
    assert_int_equal(st.present, want);
    assert_false(st.present & BIT(M_GO_GOROUTINES));
    free(body);
}

static void test_expvar_fresh(void **state)
{
    struct go_stats st;
    char err[256];
    size_t len;
    char *body = read_fixture("expvar_fresh.json", &len);

    (void)state;
    /* before the first GC Go writes "GCCPUFraction":0, a JSON integer */
    assert_true(contains(body, len, "\"GCCPUFraction\":0,"));
    assert_int_equal(expvar_parse(body, len, &st, err, sizeof(err)), 0);
    assert_true(st.present & BIT(M_GO_GC_CPU_FRACTION));
    assert_int_equal(st.v[M_GO_GC_CPU_FRACTION], 0);
    assert_true(st.present & BIT(M_GO_NUM_GC));
    assert_int_equal(st.v[M_GO_NUM_GC], 0);
    /* no GC yet: the PauseNs ring means nothing */
    assert_false(st.present & BIT(M_GO_LAST_PAUSE));
    assert_int_equal(st.v[M_GO_HEAP_ALLOC], 123456);
    assert_int_equal(st.v[M_GO_SYS], 14398728);
    free(body);
}

static void test_expvar_errors(void **state)
{
    static const struct {
        const char *body;
        const char *reason; /* a word the message must hold */
    } cases[] = {
        { "", "not JSON" },
        { "not json at all", "not JSON" },
        { "<!DOCTYPE html><html><body>404 page not found</body></html>", "not JSON" },
        { "404 page not found\n", "not JSON" },
        { "[1,2,3]", "memstats" },
        { "\"memstats\"", "not JSON" },
        { "{\"cmdline\":[\"./app\"]}", "memstats" },
        { "{\"memstats\": 5}", "memstats" },
        { "{\"memstats\": [1]}", "memstats" },
        { "{\"memstats\": {}}", "HeapAlloc" },
        { "{\"memstats\": {\"Sys\": 1}}", "HeapAlloc" },
        { "{\"memstats\": {\"HeapAlloc\": \"123\"}}", "HeapAlloc" },
        { "{\"memstats\": {\"HeapAlloc\": null}}", "HeapAlloc" },
        { "{\"memstats\": {\"HeapAlloc\": -1}}", "HeapAlloc" },
        { "{\"memstats\": {\"HeapAlloc\": 1.5}}", "HeapAlloc" },
        { "{\"memstats\": {\"HeapAlloc\": 1e300}}", "HeapAlloc" },
        { "{\"memstats\": {\"HeapAlloc\": 1}", "not JSON" },
        { "{\"memstats\": {\"HeapAlloc\": 1}} trailing", "not JSON" },
        { "{\"memstats\": {\"HeapAlloc\": 1e999}}", "not JSON" },
    };
    struct go_stats st;
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(cases); i++) {
        char *b = exact(cases[i].body, strlen(cases[i].body));

        err[0] = '\0';
        if (expvar_parse(b, strlen(cases[i].body), &st, err, sizeof(err)) != -EBADMSG)
            fail_msg("case %zu (%s) parsed", i, cases[i].body);
        if (!strstr(err, cases[i].reason))
            fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, err, cases[i].reason);
        assert_int_equal(st.present, 0);
        free(b);
    }
    /* NULL body, no err buffer */
    assert_int_equal(expvar_parse(NULL, 0, &st, NULL, 0), -EBADMSG);
}

static void test_expvar_truncated(void **state)
{
    struct go_stats st;
    char err[256];
    size_t len, cut;
    char *body = read_fixture("expvar.json", &len);

    (void)state;
    /* every proper prefix is broken JSON (the page ends "}\n": the last byte is optional) */
    for (cut = 0; cut + 2 < len; cut += 97) {
        char *b = exact(body, cut);

        assert_int_equal(expvar_parse(b, cut, &st, err, sizeof(err)), -EBADMSG);
        free(b);
    }
    free(body);
}

static void test_expvar_wrong_types(void **state)
{
    const char *page =
        "{\"big\": 18446744073709551615, \"memstats\": {"
        "\"HeapAlloc\": 1000, \"HeapInuse\": \"2000\", \"HeapIdle\": -5, \"HeapSys\": 1.5,"
        "\"Sys\": 4096.0, \"HeapObjects\": true, \"StackInuse\": null, \"StackSys\": [1],"
        "\"NextGC\": 9007199254740992, \"NumGC\": 3, \"PauseNs\": [1, 2, 3],"
        "\"GCCPUFraction\": 1.5, \"Mallocs\": {\"x\": 1}, \"Frees\": 0}}";
    const char *ring_bad = "{\"memstats\": {\"HeapAlloc\": 1, \"NumGC\": 300,"
                           "\"PauseNs\": {\"44\": 7}, \"GCCPUFraction\": \"0\"}}";
    const char *ring_ok = "{\"memstats\": {\"HeapAlloc\": 1, \"NumGC\": 257,"
                          "\"PauseNs\": [11, 22, 33], \"GCCPUFraction\": 2.5e-07}}";
    struct go_stats st;
    char err[256];
    char *b;

    (void)state;
    /* a uint64 beyond long long elsewhere on the page must not lose memstats */
    b = exact(page, strlen(page));
    assert_int_equal(expvar_parse(b, strlen(page), &st, err, sizeof(err)), 0);
    free(b);
    assert_int_equal(st.v[M_GO_HEAP_ALLOC], 1000);
    assert_int_equal(st.v[M_GO_SYS], 4096);
    assert_int_equal(st.v[M_GO_NEXT_GC], INT64_C(9007199254740992));
    assert_int_equal(st.v[M_GO_FREES], 0);
    assert_true(st.present & BIT(M_GO_FREES));
    assert_int_equal(st.v[M_GO_NUM_GC], 3);
    /* (3+255)%256 = 2 */
    assert_int_equal(st.v[M_GO_LAST_PAUSE], 3);
    assert_false(st.present & (BIT(M_GO_HEAP_INUSE) | BIT(M_GO_HEAP_IDLE) | BIT(M_GO_HEAP_SYS) |
                               BIT(M_GO_HEAP_OBJECTS) | BIT(M_GO_STACK_INUSE) |
                               BIT(M_GO_STACK_SYS) | BIT(M_GO_GC_CPU_FRACTION) |
                               BIT(M_GO_MALLOCS) | BIT(M_GO_GOROUTINES)));

    b = exact(ring_bad, strlen(ring_bad));
    assert_int_equal(expvar_parse(b, strlen(ring_bad), &st, err, sizeof(err)), 0);
    free(b);
    assert_false(st.present & (BIT(M_GO_LAST_PAUSE) | BIT(M_GO_GC_CPU_FRACTION)));

    /* (257+255)%256 = 0; 2.5e-07 rounds to 0 millionths, 3.5e-07 would too */
    b = exact(ring_ok, strlen(ring_ok));
    assert_int_equal(expvar_parse(b, strlen(ring_ok), &st, err, sizeof(err)), 0);
    free(b);
    assert_int_equal(st.v[M_GO_LAST_PAUSE], 11);
    assert_true(st.present & BIT(M_GO_GC_CPU_FRACTION));
    assert_int_equal(st.v[M_GO_GC_CPU_FRACTION], 0);
}

/* An 8 MiB array of zeros would cost jansson ~200 MB: refused before parsing. */
static void test_expvar_too_many_values(void **state)
{
    const size_t n = 8u << 20;
    char *b = xmalloc(n);
    struct go_stats st;
    char err[256];
    size_t i;
    const char *head = "{\"memstats\": {\"HeapAlloc\": 1}, \"x\": [";

    (void)state;
    memcpy(b, head, strlen(head));
    for (i = strlen(head); i < n - 3; i++)
        b[i] = (i - strlen(head)) % 2 ? ',' : '0';
    memcpy(b + n - 3, "0]}", 3);
    assert_int_equal(expvar_parse(b, n, &st, err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, "more than"));
    assert_int_equal(st.present, 0);
    free(b);
}

/* ---- promtext ----------------------------------------------------------------------------- */

static void test_prom_real(void **state)
{
    struct go_stats prom, ev;
    char err[256];
    size_t len, elen, i;
    char *body = read_fixture("metrics.txt", &len);
    char *ebody = read_fixture("expvar.json", &elen);
    uint64_t both;

    (void)state;
    /* the page really is in client_golang's shape */
    assert_true(contains(body, len, "\ngo_memstats_alloc_bytes 2.5209016e+07\n"));
    assert_true(contains(body, len, "# TYPE go_gc_duration_seconds summary\n"));
    assert_true(contains(body, len, " NaN\n"));
    assert_true(contains(body, len, "le=\"+Inf\"} 12\n"));

    assert_int_equal(promtext_parse_go(body, len, &prom, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_int_equal(expvar_parse(ebody, elen, &ev, err, sizeof(err)), 0);

    /* metrics.txt was rendered from expvar.json's MemStats: every value they share agrees */
    both = prom.present & ev.present;
    for (i = 0; i < METRIC_COUNT; i++)
        if ((both & BIT(i)) && prom.v[i] != ev.v[i])
            fail_msg("%s: prom %" PRId64 " expvar %" PRId64, metric_info((enum metric_id)i)->name,
                     prom.v[i], ev.v[i]);
    /* all but what client_golang >= 1.12 does not write for Go >= 1.17 (gc_cpu_fraction)
     * and what it has no name for (last pause); plus go_goroutines, which expvar lacks */
    assert_int_equal(ev.present & ~prom.present,
                     BIT(M_GO_GC_CPU_FRACTION) | BIT(M_GO_LAST_PAUSE));
    assert_int_equal(prom.present & ~ev.present, BIT(M_GO_GOROUTINES));
    assert_int_equal(prom.v[M_GO_GOROUTINES], 36);
    assert_int_equal(prom.v[M_GO_HEAP_ALLOC], 25209016);
    assert_int_equal(prom.v[M_GO_NUM_GC], 5);
    free(body);
    free(ebody);
}

/* The fixture without client_golang's go_memstats_* families: runtime/metrics names only. */
static void test_prom_runtime_metrics_only(void **state)
{
    struct go_stats st;
    char err[256];
    size_t len, n = 0;
    char *body = read_fixture("metrics.txt", &len), *p = body, *end = body + len;
    char *out = xmalloc(len);

    (void)state;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);

        if (!contains(p, l, "go_memstats_")) {
            memcpy(out + n, p, l);
            n += l;
        }
        p += l;
    }
    assert_int_equal(promtext_parse_go(out, n, &st, err, sizeof(err)), 0);
    /* runtime/metrics was read a moment after the MemStats snapshot */
    assert_int_equal(st.v[M_GO_HEAP_ALLOC], 25221304);
    assert_int_equal(st.v[M_GO_HEAP_RELEASED], 3784704);
    assert_int_equal(st.v[M_GO_SYS], 48608520);
    assert_int_equal(st.v[M_GO_NEXT_GC], 45455896);
    assert_int_equal(st.v[M_GO_NUM_GC], 5);
    assert_int_equal(st.v[M_GO_GOROUTINES], 36);
    assert_false(st.present & BIT(M_GO_HEAP_INUSE));
    free(body);
    free(out);
}

static void test_prom_rules(void **state)
{
    const char *page =
        "# HELP go_goroutines Number of goroutines that currently exist.\n"
        "# TYPE go_goroutines gauge\n"
        "go_goroutines{instance=\"a b\",x=\"}\\\"{,\\\\\"} 5\n"
        "go_goroutines 7\n"
        "go_goroutines 8\n"
        "go_memory_classes_heap_objects_bytes 999\n"
        "go_memstats_heap_alloc_bytes{pool=\"x\"} 100\n"
        "go_memstats_heap_alloc_bytes{pool=\"y\"} 200\n"
        "go_memstats_sys_bytes{} 300\n"
        "   go_memstats_gc_cpu_fraction\t0.0210722846399591\n"
        "go_memstats_heap_inuse_bytes 1.5e+03 1700000000000\n"
        "go_memstats_heap_idle_bytes NaN\n"
        "go_memstats_heap_released_bytes +Inf\n"
        "go_memstats_heap_objects -1\n"
        "go_memstats_heap_sys_bytes 1e400\n"
        "go_memstats_stack_inuse_bytes 12 junk\n"
        "go_memstats_stack_sys_bytes{a=\"unterminated} 5\n"
        "go_memstats_mspan_inuse_bytes{a=\"x\" 5\n"
        "go_memstats_mspan_sys_bytes{=\"x\"} 5\n"
        "go_memstats_mcache_inuse_bytes\n"
        "go_memstats_mcache_sys_bytes 0x10\n"
        "go_memstats_next_gc_bytes 4.1943e+06 -5\n"
        "go_memstats_frees_total 12 34 56\n"
        "9bad_name 1\n"
        "go_memstats_gc_sys_bytes{a=\"\\\n"
        "go_memstats_other_sys_bytes 77";
    struct go_stats st;
    char err[256];
    size_t len = strlen(page);
    char *b = exact(page, len);

    (void)state;
    assert_int_equal(promtext_parse_go(b, len, &st, err, sizeof(err)), 0);
    free(b);
    /* an unlabelled sample beats a labelled one; between equals the first stays */
    assert_int_equal(st.v[M_GO_GOROUTINES], 7);
    /* go_memstats_* beats runtime/metrics; the first of two labelled samples stays */
    assert_int_equal(st.v[M_GO_HEAP_ALLOC], 100);
    assert_int_equal(st.v[M_GO_SYS], 300);
    assert_int_equal(st.v[M_GO_GC_CPU_FRACTION], 21072);
    assert_int_equal(st.v[M_GO_HEAP_INUSE], 1500);
    assert_int_equal(st.v[M_GO_MCACHE_SYS], 16);
    assert_int_equal(st.v[M_GO_NEXT_GC], 4194300);
    assert_int_equal(st.v[M_GO_OTHER_SYS], 77); /* last line, no '\n' */
    /* NaN, +Inf, negative, overflow: absent; malformed lines: absent and counted */
    assert_false(st.present & (BIT(M_GO_HEAP_IDLE) | BIT(M_GO_HEAP_RELEASED) |
                               BIT(M_GO_HEAP_OBJECTS) | BIT(M_GO_HEAP_SYS) |
                               BIT(M_GO_STACK_INUSE) | BIT(M_GO_STACK_SYS) |
                               BIT(M_GO_MSPAN_INUSE) | BIT(M_GO_MSPAN_SYS) |
                               BIT(M_GO_MCACHE_INUSE) | BIT(M_GO_FREES) | BIT(M_GO_GC_SYS)));
    assert_string_equal(err, "8 malformed lines skipped");
}

static void test_prom_crlf_and_bounds(void **state)
{
    const char *crlf = "# TYPE go_memstats_sys_bytes gauge\r\ngo_memstats_sys_bytes 4.5e+07\r\n"
                       "go_goroutines 3\r\n";
    /* the buffer goes on after len: the parser must stop at len */
    const char *cut = "go_memstats_sys_bytes 1234";
    struct go_stats st;
    char err[256];
    char *b;

    (void)state;
    b = exact(crlf, strlen(crlf));
    assert_int_equal(promtext_parse_go(b, strlen(crlf), &st, err, sizeof(err)), 0);
    free(b);
    assert_int_equal(st.v[M_GO_SYS], 45000000);
    assert_int_equal(st.v[M_GO_GOROUTINES], 3);

    /* no blank between a label set and the value, as Prometheus's parser allows */
    b = exact("go_memstats_sys_bytes{a=\"}\"}42\n", 31);
    assert_int_equal(promtext_parse_go(b, 31, &st, err, sizeof(err)), 0);
    assert_int_equal(st.v[M_GO_SYS], 42);
    free(b);
    b = exact("go_memstats_sys_bytes42\n", 24);
    assert_int_equal(promtext_parse_go(b, 24, &st, err, sizeof(err)), -EBADMSG);
    free(b);

    b = exact(cut, strlen(cut));
    assert_int_equal(promtext_parse_go(b, strlen(cut) - 2, &st, err, sizeof(err)), 0);
    assert_int_equal(st.v[M_GO_SYS], 12);
    /* cut inside the name: not our metric any more */
    assert_int_equal(promtext_parse_go(b, 10, &st, err, sizeof(err)), -EBADMSG);
    free(b);
}

static void test_prom_no_go_metrics(void **state)
{
    static const char *const pages[] = {
        "",
        "\n\n\n",
        "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n"
        "http_requests_total{code=\"200\"} 1027 1395066363000\n"
        "process_resident_memory_bytes 4.1226240e+07\n",
        /* goroutines and GC cycles alone are no memory view */
        "go_goroutines 12\ngo_gc_duration_seconds_count 4\ngo_threads 7\n",
        "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n</html>\n",
        "{\"memstats\": {\"HeapAlloc\": 1}}",
        /* names that only start like ours */
        "go_memstats_sys_bytes_x 1\ngo_memstats_sy 2\nxgo_memstats_sys_bytes 3\n",
    };
    struct go_stats st;
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(pages); i++) {
        size_t len = strlen(pages[i]);
        char *b = exact(pages[i], len);

        if (promtext_parse_go(b, len, &st, err, sizeof(err)) != -EBADMSG)
            fail_msg("page %zu parsed", i);
        assert_non_null(strstr(err, "no go_memstats_* metrics"));
        assert_int_equal(st.present, 0);
        free(b);
    }
    assert_int_equal(promtext_parse_go(NULL, 0, &st, NULL, 0), -EBADMSG);
}

static void test_prom_huge_line(void **state)
{
    const size_t big = 16u << 20;
    const char *tail = "\ngo_memstats_heap_alloc_bytes 42\n";
    char *b = xmalloc(big + strlen(tail));
    struct go_stats st;
    char err[256];
    double t0;
    size_t i;

    (void)state;
    /* a 16 MiB label set with quotes and escapes, then a good line */
    memcpy(b, "go_memstats_sys_bytes{a=\"", 25);
    for (i = 25; i < big; i++)
        b[i] = "x\\\"{},="[i % 7];
    memcpy(b + big, tail, strlen(tail));
    t0 = now_s();
    assert_int_equal(promtext_parse_go(b, big + strlen(tail), &st, err, sizeof(err)), 0);
    assert_int_equal(st.v[M_GO_HEAP_ALLOC], 42);
    assert_false(st.present & BIT(M_GO_SYS));
    assert_string_equal(err, "1 malformed lines skipped");

    /* a value token far longer than any number */
    memcpy(b, "go_memstats_sys_bytes ", 22);
    memset(b + 22, '1', big - 22);
    assert_int_equal(promtext_parse_go(b, big, &st, err, sizeof(err)), -EBADMSG);
    assert_true(now_s() - t0 < 30);
    free(b);
}

/* ---- pprof: real profiles ---------------------------------------------------------------- */

static const struct pprof_site *find_site(const struct pprof_profile *p, const char *leaf,
                                          const char *user)
{
    size_t i;

    for (i = 0; i < p->nsites; i++)
        if (strcmp(p->sites[i].leaf.func, leaf) == 0 &&
            (!user || strcmp(p->sites[i].user.func, user) == 0))
            return &p->sites[i];
    return NULL;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);

    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void check_heap_profile(const struct pprof_profile *p)
{
    const struct pprof_site *s;
    int64_t sum[PV_MAX] = { 0 };
    size_t i;
    int k;

    assert_int_equal(p->kind, PPROF_HEAP);
    assert_true(p->time_ns > INT64_C(1600000000) * 1000000000);
    assert_true(p->nsites >= 5);
    /* largest first, and the totals cover every site */
    for (i = 0; i < p->nsites; i++) {
        if (i > 0)
            assert_true(p->sites[i - 1].v[PV_INUSE_BYTES] >= p->sites[i].v[PV_INUSE_BYTES]);
        for (k = 0; k < PV_MAX; k++)
            sum[k] += p->sites[i].v[k];
    }
    for (k = 0; k < PV_MAX; k++)
        assert_int_equal(sum[k], p->total[k]);

    /* leakyCache keeps 64 x 256 KiB: the top site, its own user frame */
    s = &p->sites[0];
    assert_string_equal(s->leaf.func, "main.leakyCache");
    assert_string_equal(s->user.func, "main.leakyCache");
    assert_true(ends_with(s->leaf.file, "tests/data/gen/main.go"));
    assert_true(s->leaf.line > 0);
    assert_true(s->v[PV_INUSE_BYTES] >= 16 << 20);
    assert_true(s->v[PV_INUSE_BYTES] < (16 << 20) + (1 << 20));
    assert_true(s->v[PV_INUSE_OBJECTS] >= 60 && s->v[PV_INUSE_OBJECTS] <= 70);
    assert_true(s->v[PV_ALLOC_BYTES] >= s->v[PV_INUSE_BYTES]);

    /* bytes.Buffer growth: the standard library allocates, growBuffers is to blame */
    s = find_site(p, "bytes.growSlice", "main.growBuffers");
    if (!s)
        s = find_site(p, "bytes.makeSlice", "main.growBuffers");
    assert_non_null(s);
    assert_true(ends_with(s->leaf.file, "bytes/buffer.go"));
    assert_true(ends_with(s->user.file, "tests/data/gen/main.go"));
    assert_true(s->user.line > 0);
    assert_true(s->v[PV_INUSE_BYTES] >= 4 << 20 && s->v[PV_INUSE_BYTES] < 6 << 20);

    /* newRecord is inlined into fillRecords: line[0] of the location is newRecord */
    s = find_site(p, "main.newRecord", "main.newRecord");
    assert_non_null(s);
    assert_true(s->v[PV_INUSE_OBJECTS] > 10000);
    assert_null(find_site(p, "main.fillRecords", "main.newRecord"));
}

static void test_pprof_heap_real(void **state)
{
    struct pprof_profile *p = NULL;
    char err[256];
    size_t len;
    char *body = read_fixture("heap.pb.gz", &len);

    (void)state;
    assert_int_equal(pprof_parse((uint8_t *)body, len, MAX_INFLATED, PPROF_HEAP, &p, err,
                                 sizeof(err)),
                     0);
    check_heap_profile(p);
    pprof_free(p);

    /* a goroutine profile is not a heap profile, and the other way round */
    assert_int_equal(pprof_parse((uint8_t *)body, len, MAX_INFLATED, PPROF_GOROUTINE, &p, err,
                                 sizeof(err)),
                     -EBADMSG);
    assert_null(p);
    assert_non_null(strstr(err, "goroutine"));
    free(body);
    body = read_fixture("goroutine.pb.gz", &len);
    assert_int_equal(pprof_parse((uint8_t *)body, len, MAX_INFLATED, PPROF_HEAP, &p, err,
                                 sizeof(err)),
                     -EBADMSG);
    assert_non_null(strstr(err, "not a heap profile"));
    free(body);
}

static void test_pprof_raw_protobuf(void **state)
{
    struct pprof_profile *p = NULL;
    char err[256];
    size_t len, rawlen;
    char *body = read_fixture("heap.pb.gz", &len);
    uint8_t *raw = gunzip_bytes(body, len, &rawlen), *rawx = (uint8_t *)exact((char *)raw, rawlen);

    (void)state;
    assert_int_equal(pprof_parse(rawx, rawlen, MAX_INFLATED, PPROF_HEAP, &p, err, sizeof(err)),
                     0);
    check_heap_profile(p);
    pprof_free(p);
    /* a raw body over the cap is refused as the inflated one would be */
    assert_int_equal(pprof_parse(rawx, rawlen, rawlen - 1, PPROF_HEAP, &p, err, sizeof(err)),
                     -EFBIG);
    /* the cap is inclusive: exactly max_inflated bytes after gunzip is fine */
    assert_int_equal(pprof_parse((uint8_t *)body, len, rawlen, PPROF_HEAP, &p, err, sizeof(err)),
                     0);
    pprof_free(p);
    assert_int_equal(pprof_parse((uint8_t *)body, len, rawlen - 1, PPROF_HEAP, &p, err,
                                 sizeof(err)),
                     -EFBIG);
    free(body);
    free(raw);
    free(rawx);
}

static void test_pprof_goroutine_real(void **state)
{
    struct pprof_profile *p = NULL;
    const struct pprof_site *s;
    char err[256];
    size_t len, i;
    char *body = read_fixture("goroutine.pb.gz", &len);
    int64_t sum = 0;

    (void)state;
    assert_int_equal(pprof_parse((uint8_t *)body, len, MAX_INFLATED, PPROF_GOROUTINE, &p, err,
                                 sizeof(err)),
                     0);
    assert_int_equal(p->kind, PPROF_GOROUTINE);
    for (i = 0; i < p->nsites; i++) {
        if (i > 0)
            assert_true(p->sites[i - 1].v[PV_COUNT] >= p->sites[i].v[PV_COUNT]);
        sum += p->sites[i].v[PV_COUNT];
    }
    assert_int_equal(sum, p->total[PV_COUNT]);
    assert_true(p->total[PV_COUNT] >= 36);

    /* blocked on a channel: runtime.gopark/chanrecv are skipped for the leaf */
    s = &p->sites[0];
    assert_string_equal(s->leaf.func, "main.blockForever");
    assert_string_equal(s->user.func, "main.blockForever");
    assert_true(s->v[PV_COUNT] >= 25);
    /* WaitGroup.Wait parks in the standard library; the user frame is the waiter */
    s = find_site(p, "sync.runtime_Semacquire", "main.waitForGroup");
    assert_non_null(s);
    assert_true(s->v[PV_COUNT] >= 7);
    s = find_site(p, "time.Sleep", "main.sleeper");
    assert_non_null(s);
    assert_true(s->v[PV_COUNT] >= 3);
    /* no site is named after package runtime */
    for (i = 0; i < p->nsites; i++)
        assert_false(strncmp(p->sites[i].leaf.func, "runtime.", 8) == 0);
    pprof_free(p);
    free(body);
}

/* ---- pprof: broken transport ------------------------------------------------------------ */

static void test_pprof_bad_gzip(void **state)
{
    struct pprof_profile *p = NULL;
    char err[256];
    size_t len, cut;
    char *body = read_fixture("heap.pb.gz", &len);
    static const char html[] = "<!DOCTYPE html>\n<html><body><h1>404 page not found</h1>"
                               "</body></html>\n";
    uint8_t *gz;
    size_t gzlen;
    char *b;

    (void)state;
    /* every truncation, including one that only loses the trailer's last byte */
    for (cut = 2; cut < len; cut += (cut < 32 || cut > len - 16) ? 1 : 61) {
        b = exact(body, cut);
        if (pprof_parse((uint8_t *)b, cut, MAX_INFLATED, PPROF_HEAP, &p, err, sizeof(err)) !=
            -EBADMSG)
            fail_msg("cut at %zu of %zu: %s", cut, len, err);
        assert_null(p);
        free(b);
    }
    /* a flipped bit in the deflate data or the CRC */
    b = exact(body, len);
    b[len / 2] ^= 0x10;
    assert_int_equal(pprof_parse((uint8_t *)b, len, MAX_INFLATED, PPROF_HEAP, &p, err,
                                 sizeof(err)),
                     -EBADMSG);
    b[len / 2] ^= 0x10;
    b[len - 6] ^= 0x01;
    assert_int_equal(pprof_parse((uint8_t *)b, len, MAX_INFLATED, PPROF_HEAP, &p, err,
                                 sizeof(err)),
                     -EBADMSG);
    free(b);
    /* junk after the gzip member */
    b = xmalloc(len + 3);
    memcpy(b, body, len);
    memcpy(b + len, "abc", 3);
    assert_int_equal(pprof_parse((uint8_t *)b, len + 3, MAX_INFLATED, PPROF_HEAP, &p, err,
                                 sizeof(err)),
                     -EBADMSG);
    assert_non_null(strstr(err, "junk"));
    free(b);

    /* HTML, plain and gzip'd (a proxy's error page), and Go's plain-text 404 */
    b = exact(html, sizeof(html) - 1);
    assert_int_equal(pprof_parse((uint8_t *)b, sizeof(html) - 1, MAX_INFLATED, PPROF_HEAP, &p,
                                 err, sizeof(err)),
                     -EBADMSG);
    free(b);
    gz = gzip_bytes(html, sizeof(html) - 1, &gzlen);
    assert_int_equal(pprof_parse(gz, gzlen, MAX_INFLATED, PPROF_HEAP, &p, err, sizeof(err)),
                     -EBADMSG);
    free(gz);
    b = exact("404 page not found\n", 19);
    assert_int_equal(pprof_parse((uint8_t *)b, 19, MAX_INFLATED, PPROF_GOROUTINE, &p, err,
                                 sizeof(err)),
                     -EBADMSG);
    free(b);

    /* empty bodies, and a gzip of nothing */
    assert_int_equal(pprof_parse(NULL, 0, MAX_INFLATED, PPROF_HEAP, &p, err, sizeof(err)),
                     -EBADMSG);
    assert_non_null(strstr(err, "empty"));
    b = exact("x", 1);
    assert_int_equal(pprof_parse((uint8_t *)b, 0, MAX_INFLATED, PPROF_HEAP, &p, err, sizeof(err)),
                     -EBADMSG);
    free(b);
    gz = gzip_bytes("", 0, &gzlen);
    assert_int_equal(pprof_parse(gz, gzlen, MAX_INFLATED, PPROF_HEAP, &p, NULL, 0), -EBADMSG);
    free(gz);
    assert_int_equal(pprof_parse((uint8_t *)body, len, MAX_INFLATED, (enum pprof_kind)7, &p, err,
                                 sizeof(err)),
                     -EINVAL);
    free(body);
}

/* A valid gzip file of 1 GiB of zeros in about 1 MiB, built without deflating 1 GiB: after
 * Z_FULL_FLUSH the compressor starts afresh, so each further MiB of zeros compresses to the
 * same bytes, which are simply repeated; the trailer's CRC is combined arithmetically. */
static uint8_t *gzip_bomb(size_t mib, size_t *outlen)
{
    static uint8_t zeros[1 << 20];
    uint8_t *head = xmalloc(1 << 16), *rep = xmalloc(1 << 16), *rep2 = xmalloc(1 << 16);
    uint8_t *out, *o;
    size_t headlen, replen, i;
    uLong crc1 = crc32(0, zeros, sizeof(zeros)), crc = crc1;
    z_stream zs;

    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY),
                     Z_OK);
#define DEFLATE_INTO(buf, n, flush)                                                          \
    do {                                                                                     \
        zs.next_in = zeros;                                                                  \
        zs.avail_in = (n);                                                                   \
        zs.next_out = (buf);                                                                 \
        zs.avail_out = 1 << 16;                                                              \
        assert_int_not_equal(deflate(&zs, (flush)), Z_STREAM_ERROR);                         \
        assert_int_equal(zs.avail_in, 0);                                                    \
    } while (0)
    DEFLATE_INTO(head, sizeof(zeros), Z_FULL_FLUSH);
    headlen = (1 << 16) - zs.avail_out;
    DEFLATE_INTO(rep, sizeof(zeros), Z_FULL_FLUSH);
    replen = (1 << 16) - zs.avail_out;
    DEFLATE_INTO(rep2, sizeof(zeros), Z_FULL_FLUSH);
    assert_int_equal((1 << 16) - zs.avail_out, replen);
    assert_memory_equal(rep, rep2, replen);
    out = xmalloc(headlen + replen * (mib - 1) + 64);
    memcpy(out, head, headlen);
    o = out + headlen;
    for (i = 1; i < mib; i++) {
        memcpy(o, rep, replen);
        o += replen;
        crc = crc32_combine(crc, crc1, (z_off_t)sizeof(zeros));
    }
    /* the final (empty) block, then our own trailer */
    DEFLATE_INTO(rep2, 0, Z_FINISH);
    replen = (1 << 16) - zs.avail_out;
    assert_true(replen > 8);
    memcpy(o, rep2, replen - 8);
    o += replen - 8;
    for (i = 0; i < 4; i++)
        *o++ = (uint8_t)(crc >> (8 * i));
    for (i = 0; i < 4; i++)
        *o++ = (uint8_t)(((uint64_t)mib << 20) >> (8 * i));
#undef DEFLATE_INTO
    deflateEnd(&zs);
    free(head);
    free(rep);
    free(rep2);
    *outlen = (size_t)(o - out);
    return out;
}

static void test_pprof_gzip_bomb(void **state)
{
    struct pprof_profile *p = NULL;
    char err[256];
    size_t len;
    uint8_t *bomb = gzip_bomb(1024, &len);
    long rss0 = maxrss_kib();
    double t0 = now_s(), dt;
    int r;

    (void)state;
    assert_true(len < (2u << 20));
    r = pprof_parse(bomb, len, MAX_INFLATED, PPROF_HEAP, &p, err, sizeof(err));
    dt = now_s() - t0;
    assert_int_equal(r, -EFBIG);
    assert_null(p);
    assert_non_null(strstr(err, "more than"));
    print_message("# gzip bomb: %zu bytes -> 1 GiB, refused after %.2fs, max RSS +%ld KiB\n",
                  len, dt, maxrss_kib() - rss0);
    /* it stopped at the cap: inflating 1 GiB takes seconds and 1 GiB */
    assert_true(dt < (under_valgrind() ? 60 : 5));
    if (!under_valgrind())
        assert_true(maxrss_kib() - rss0 < 3 * (MAX_INFLATED / 1024));
    /* a small cap stops sooner */
    assert_int_equal(pprof_parse(bomb, len, 1 << 20, PPROF_GOROUTINE, &p, err, sizeof(err)),
                     -EFBIG);
    free(bomb);

    /* the bomb is well formed: below the cap it inflates (to zeros, not a profile) */
    bomb = gzip_bomb(4, &len);
    assert_int_equal(pprof_parse(bomb, len, 4u << 20, PPROF_HEAP, &p, err, sizeof(err)),
                     -EBADMSG);
    assert_null(strstr(err, "gzip"));
    free(bomb);
}

/* ---- pprof: profiles built here ---------------------------------------------------------- */

typedef Perftools__Profiles__Profile Profile;
typedef Perftools__Profiles__ValueType ValueType;
typedef Perftools__Profiles__Sample Sample;
typedef Perftools__Profiles__Location Location;
typedef Perftools__Profiles__Line Line;
typedef Perftools__Profiles__Function Function;

#define MAXN 64

/* A profile under construction: fixed-size tables, enough for these tests. */
struct pb {
    Profile prof;
    ValueType vt[4], *vtp[4];
    char *strs[MAXN];
    Function fn[MAXN], *fnp[MAXN];
    Location loc[MAXN], *locp[MAXN];
    Line line[MAXN][4], *linep[MAXN][4];
    Sample smp[MAXN], *smpp[MAXN];
    uint64_t locids[MAXN][8];
    int64_t vals[MAXN][4];
};

static int64_t pb_str(struct pb *b, const char *s)
{
    size_t i;

    for (i = 0; i < b->prof.n_string_table; i++)
        if (strcmp(b->strs[i], s) == 0)
            return (int64_t)i;
    assert_true(b->prof.n_string_table < MAXN);
    b->strs[b->prof.n_string_table] = (char *)s;
    return (int64_t)b->prof.n_string_table++;
}

/* Goroutine-style profile (one "goroutine"/"count" value) or heap (the four Go types). */
static void pb_init(struct pb *b, enum pprof_kind kind)
{
    static const char *const heap[4][2] = { { "alloc_objects", "count" },
                                            { "alloc_space", "bytes" },
                                            { "inuse_objects", "count" },
                                            { "inuse_space", "bytes" } };
    size_t i, n = kind == PPROF_HEAP ? 4 : 1;

    memset(b, 0, sizeof(*b));
    perftools__profiles__profile__init(&b->prof);
    b->prof.string_table = b->strs;
    pb_str(b, "");
    for (i = 0; i < n; i++) {
        perftools__profiles__value_type__init(&b->vt[i]);
        b->vt[i].type = pb_str(b, kind == PPROF_HEAP ? heap[i][0] : "goroutine");
        b->vt[i].unit = pb_str(b, kind == PPROF_HEAP ? heap[i][1] : "count");
        b->vtp[i] = &b->vt[i];
    }
    b->prof.sample_type = b->vtp;
    b->prof.n_sample_type = n;
    b->prof.function = b->fnp;
    b->prof.location = b->locp;
    b->prof.sample = b->smpp;
    b->prof.time_nanos = INT64_C(1700000000) * 1000000000;
}

static uint64_t pb_func(struct pb *b, uint64_t id, const char *name, const char *file)
{
    size_t i = b->prof.n_function++;

    assert_true(i < MAXN);
    perftools__profiles__function__init(&b->fn[i]);
    b->fn[i].id = id;
    b->fn[i].name = pb_str(b, name);
    b->fn[i].system_name = b->fn[i].name;
    b->fn[i].filename = pb_str(b, file);
    b->fnp[i] = &b->fn[i];
    return id;
}

/* A location with up to 4 lines, innermost (inlined) first: func ids and line numbers. */
static uint64_t pb_loc(struct pb *b, uint64_t id, size_t nlines, const uint64_t *fids,
                       const int64_t *lines)
{
    size_t i = b->prof.n_location++, j;

    assert_true(i < MAXN && nlines <= 4);
    perftools__profiles__location__init(&b->loc[i]);
    b->loc[i].id = id;
    b->loc[i].address = 0x400000 + id;
    for (j = 0; j < nlines; j++) {
        perftools__profiles__line__init(&b->line[i][j]);
        b->line[i][j].function_id = fids[j];
        b->line[i][j].line = lines[j];
        b->linep[i][j] = &b->line[i][j];
    }
    b->loc[i].line = b->linep[i];
    b->loc[i].n_line = nlines;
    b->locp[i] = &b->loc[i];
    return id;
}

/* A sample: location ids leaf first, and n_sample_type values. */
static void pb_sample(struct pb *b, size_t nlocs, const uint64_t *locs, const int64_t *vals)
{
    size_t i = b->prof.n_sample++;

    assert_true(i < MAXN && nlocs <= 8);
    perftools__profiles__sample__init(&b->smp[i]);
    if (nlocs)
        memcpy(b->locids[i], locs, nlocs * sizeof(*locs));
    memcpy(b->vals[i], vals, b->prof.n_sample_type * sizeof(*vals));
    b->smp[i].location_id = b->locids[i];
    b->smp[i].n_location_id = nlocs;
    b->smp[i].value = b->vals[i];
    b->smp[i].n_value = b->prof.n_sample_type;
    b->smpp[i] = &b->smp[i];
}

static uint8_t *pb_pack(const Profile *prof, size_t *len)
{
    uint8_t *buf;

    *len = perftools__profiles__profile__get_packed_size(prof);
    buf = xmalloc(*len ? *len : 1);
    assert_int_equal(perftools__profiles__profile__pack(prof, buf), *len);
    return buf;
}

/* Packs b (gzip'd or not) and parses it. */
static int pb_parse(struct pb *b, enum pprof_kind kind, int gz, struct pprof_profile **out,
                    char *err, size_t errlen)
{
    size_t len, gzlen;
    uint8_t *raw = pb_pack(&b->prof, &len), *z;
    int r;

    if (!gz) {
        r = pprof_parse(raw, len, MAX_INFLATED, kind, out, err, errlen);
        free(raw);
        return r;
    }
    z = gzip_bytes(raw, len, &gzlen);
    r = pprof_parse(z, gzlen, MAX_INFLATED, kind, out, err, errlen);
    free(z);
    free(raw);
    return r;
}

/* A small goroutine profile with sparse ids (the format only promises "unique nonzero"):
 * main.handler -> net/http.(*conn).serve-ish chain. */
static void build_sparse(struct pb *b)
{
    uint64_t f_gopark, f_select, f_read, f_client, f_handler, f_main;
    uint64_t l1, l2, l3, l4, l5;

    pb_init(b, PPROF_GOROUTINE);
    f_gopark = pb_func(b, 900000000001ULL, "runtime.gopark", "runtime/proc.go");
    f_select = pb_func(b, 7, "runtime.selectgo", "runtime/select.go");
    f_read = pb_func(b, 123456, "net/http.(*persistConn).roundTrip", "net/http/transport.go");
    f_client = pb_func(b, 99, "github.com/acme/api.(*Client).Do", "github.com/acme/api/c.go");
    f_handler = pb_func(b, 3, "main.(*server).handle", "/src/app/server.go");
    f_main = pb_func(b, UINT64_MAX, "main.main", "/src/app/main.go");
    l1 = pb_loc(b, 5000, 1, (uint64_t[]){ f_gopark }, (int64_t[]){ 363 });
    l2 = pb_loc(b, 17, 1, (uint64_t[]){ f_select }, (int64_t[]){ 328 });
    l3 = pb_loc(b, UINT64_MAX - 1, 1, (uint64_t[]){ f_read }, (int64_t[]){ 2620 });
    /* client.Do inlined into handle: line[0] innermost */
    l4 = pb_loc(b, 1, 2, (uint64_t[]){ f_client, f_handler }, (int64_t[]){ 88, 41 });
    l5 = pb_loc(b, 2, 1, (uint64_t[]){ f_main }, (int64_t[]){ 12 });
    pb_sample(b, 5, (uint64_t[]){ l1, l2, l3, l4, l5 }, (int64_t[]){ 40 });
    pb_sample(b, 2, (uint64_t[]){ l1, l5 }, (int64_t[]){ 2 });
    /* all runtime: named by its innermost frame */
    pb_sample(b, 2, (uint64_t[]){ l1, l2 }, (int64_t[]){ 1 });
    /* no locations at all */
    pb_sample(b, 0, NULL, (int64_t[]){ 5 });
}

static void test_pprof_built_sparse_ids(void **state)
{
    struct pb b;
    struct pprof_profile *p = NULL;
    const struct pprof_site *s;
    char err[256];
    int gz;

    (void)state;
    build_sparse(&b);
    for (gz = 0; gz <= 1; gz++) {
        assert_int_equal(pb_parse(&b, PPROF_GOROUTINE, gz, &p, err, sizeof(err)), 0);
        assert_int_equal(p->nsites, 4);
        assert_int_equal(p->total[PV_COUNT], 48);
        assert_int_equal(p->time_ns, INT64_C(1700000000) * 1000000000);
        /* std leaf; the user frame is the third-party client, innermost in the inlined pair */
        s = &p->sites[0];
        assert_string_equal(s->leaf.func, "net/http.(*persistConn).roundTrip");
        assert_string_equal(s->leaf.file, "net/http/transport.go");
        assert_int_equal(s->leaf.line, 2620);
        assert_string_equal(s->user.func, "github.com/acme/api.(*Client).Do");
        assert_int_equal(s->user.line, 88);
        assert_int_equal(s->v[PV_COUNT], 40);
        s = &p->sites[1];
        assert_string_equal(s->leaf.func, "?");
        assert_string_equal(s->user.func, "?");
        assert_int_equal(s->v[PV_COUNT], 5);
        s = find_site(p, "main.main", "main.main");
        assert_non_null(s);
        assert_int_equal(s->v[PV_COUNT], 2);
        s = find_site(p, "runtime.gopark", "runtime.gopark");
        assert_non_null(s);
        assert_int_equal(s->v[PV_COUNT], 1);
        assert_int_equal(s->leaf.line, 363);
        pprof_free(p);
    }
}

static void test_pprof_built_invalid(void **state)
{
    struct pb b;
    struct pprof_profile *p = NULL;
    char err[256];
    int64_t keep;
    uint64_t keepu;

    (void)state;
    /* string index out of range: function name, file, sample type, negative */
    build_sparse(&b);
    keep = b.fn[2].name;
    b.fn[2].name = (int64_t)b.prof.n_string_table;
    assert_int_equal(pb_parse(&b, PPROF_GOROUTINE, 1, &p, err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, "out of range"));
    assert_null(p);
    b.fn[2].name = -1;
    assert_int_equal(pb_parse(&b, PPROF_GOROUTINE, 1, &p, err, sizeof(err)), -EBADMSG);
    b.fn[2].name = keep;
    b.fn[4].filename = INT64_MAX;
    assert_int_equal(pb_parse(&b, PPROF_GOROUTINE, 0, &p, err, sizeof(err)), -EBADMSG);
    build_sparse(&b);
    b.vt[0].unit = 1000;
    assert_int_equal(pb_parse(&b, PPROF_GOROUTINE, 0, &p, err, sizeof(err)), -EBADMSG);

    /* a sample pointing at a location that does not exist */
    build_sparse(&b);
    b.locids[0][2] = 424242;
    assert_int_equal(pb_parse(&b, PPROF_GOROUTINE, 0, &p, err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, "location id 424242"));
    b.locids[0][2] = 0;
    assert_int_equal(pb_parse(&b, PPROF_GOROUTINE, 0, &p, err, sizeof(err)), -EBADMSG);

    /* a line pointing at a function that does not exist */
    build_sparse(&b);
    b.line[3][1].function_id = 4;
    assert_int_equal(pb_parse(&b, PPROF_GOROUTINE, 0, &p, err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, "unknown function"));

    /* duplicate and zero ids */
    build_sparse(&b);
    keepu = b.loc[1].id;
    b.loc[1].id = b.loc[0].id;
    assert_int_equal(pb_parse(&b, PPROF_GOROUTINE, 0, &p, err, sizeof(err)), -EBADMSG);
    b.loc[1].id = 0;
    assert_int_equal(pb_parse(&b, PPROF_GOROUTINE, 0, &p, err, sizeof(err)), -EBADMSG);
    b.loc[1].id = keepu;
    b.fn[3].id = b.fn[5].id;
    assert_int_equal(pb_parse(&b, PPROF_GOROUTINE, 0, &p, err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, "function id"));

    /* value count differs from the sample type count */
    build_sparse(&b);
    b.smp[1].n_value = 0;
    assert_int_equal(pb_parse(&b, PPROF_GOROUTINE, 0, &p, err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, "values"));
    build_sparse(&b);
    b.vals[2][1] = 9;
    b.smp[2].n_value = 2;
    assert_int_equal(pb_parse(&b, PPROF_GOROUTINE, 0, &p, err, sizeof(err)), -EBADMSG);

    /* no sample types; no string table */
    build_sparse(&b);
    b.prof.n_sample_type = 0;
    assert_int_equal(pb_parse(&b, PPROF_GOROUTINE, 0, &p, err, sizeof(err)), -EBADMSG);
    build_sparse(&b);
    b.prof.n_string_table = 0;
    b.prof.n_sample_type = 0;
    assert_int_equal(pb_parse(&b, PPROF_GOROUTINE, 0, &p, err, sizeof(err)), -EBADMSG);

    /* a heap profile must carry all four of Go's sample types */
    pb_init(&b, PPROF_HEAP);
    b.vt[2].type = pb_str(&b, "alloc_space");
    assert_int_equal(pb_parse(&b, PPROF_HEAP, 0, &p, err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, "inuse_objects"));
}

static void test_pprof_built_names(void **state)
{
    struct pb b;
    struct pprof_profile *p = NULL;
    char err[256];
    uint64_t f1, f2, f3, l1, l2, l3;
    /* the same text at two string indices, so two function entries with one name */
    static char dup_name[] = "main.alloc";

    (void)state;
    pb_init(&b, PPROF_HEAP);
    f1 = pb_func(&b, 1, "main.alloc", "/src/a.go");
    f2 = pb_func(&b, 2, "bytes.growSlice", "bytes/buffer.go");
    assert_true(b.prof.n_string_table < MAXN);
    b.strs[b.prof.n_string_table] = dup_name; /* "main.alloc" again, at another index */
    b.fn[1].name = (int64_t)b.prof.n_string_table++;
    b.fn[1].filename = b.fn[0].filename;
    f3 = pb_func(&b, 3, "main.\x01we\xffird\xe2\x82", "/src/\xc0\xafx.go");
    l1 = pb_loc(&b, 1, 1, (uint64_t[]){ f1 }, (int64_t[]){ 10 });
    l2 = pb_loc(&b, 2, 1, (uint64_t[]){ f2 }, (int64_t[]){ 10 });
    l3 = pb_loc(&b, 3, 1, (uint64_t[]){ f3 }, (int64_t[]){ 1 });
    pb_sample(&b, 1, (uint64_t[]){ l1 }, (int64_t[]){ 1, 100, 1, INT64_MAX });
    pb_sample(&b, 1, (uint64_t[]){ l2 }, (int64_t[]){ 1, 50, 1, 60 });
    pb_sample(&b, 1, (uint64_t[]){ l3 }, (int64_t[]){ 1, 10, 1, 10 });
    pb_sample(&b, 1, (uint64_t[]){ l1 }, (int64_t[]){ 1, 100, 1, INT64_MAX });
    assert_int_equal(pb_parse(&b, PPROF_HEAP, 1, &p, err, sizeof(err)), 0);
    /* one site for both "main.alloc" entries (same function, file and line), saturated */
    assert_int_equal(p->nsites, 2);
    assert_string_equal(p->sites[0].leaf.func, "main.alloc");
    assert_int_equal(p->sites[0].v[PV_INUSE_BYTES], INT64_MAX);
    assert_int_equal(p->sites[0].v[PV_ALLOC_BYTES], 250);
    assert_int_equal(p->sites[0].v[PV_INUSE_OBJECTS], 3);
    assert_int_equal(p->total[PV_INUSE_BYTES], INT64_MAX);
    /* control characters and broken UTF-8 do not reach JSON, SQLite or terminals */
    assert_string_equal(p->sites[1].leaf.func, "main.?we?ird??");
    assert_string_equal(p->sites[1].leaf.file, "/src/??x.go");
    pprof_free(p);
}

/* 100,010 samples of as many functions: the site table stops at its cap. */
static void test_pprof_site_cap(void **state)
{
    const size_t n = 100010;
    Profile prof;
    ValueType vt = PERFTOOLS__PROFILES__VALUE_TYPE__INIT, *vtp = &vt;
    char **strs = xcalloc(n + 3, sizeof(*strs));
    Function *fn = xcalloc(n, sizeof(*fn)), **fnp = xcalloc(n, sizeof(*fnp));
    Location *loc = xcalloc(n, sizeof(*loc)), **locp = xcalloc(n, sizeof(*locp));
    Line *line = xcalloc(n, sizeof(*line)), **linep = xcalloc(n, sizeof(*linep));
    Sample *smp = xcalloc(n, sizeof(*smp)), **smpp = xcalloc(n, sizeof(*smpp));
    uint64_t *ids = xcalloc(n, sizeof(*ids));
    int64_t one = 1;
    struct pprof_profile *p = NULL;
    char err[256];
    size_t i, len;
    uint8_t *raw;

    (void)state;
    perftools__profiles__profile__init(&prof);
    strs[0] = (char *)"";
    strs[1] = (char *)"goroutine";
    strs[2] = (char *)"count";
    vt.type = 1;
    vt.unit = 2;
    for (i = 0; i < n; i++) {
        strs[i + 3] = xasprintf("main.f%zu", i);
        perftools__profiles__function__init(&fn[i]);
        fn[i].id = i + 1;
        fn[i].name = (int64_t)i + 3;
        fn[i].filename = 0;
        fnp[i] = &fn[i];
        perftools__profiles__line__init(&line[i]);
        line[i].function_id = i + 1;
        linep[i] = &line[i];
        perftools__profiles__location__init(&loc[i]);
        loc[i].id = i + 1;
        loc[i].line = &linep[i];
        loc[i].n_line = 1;
        locp[i] = &loc[i];
        perftools__profiles__sample__init(&smp[i]);
        ids[i] = i + 1;
        smp[i].location_id = &ids[i];
        smp[i].n_location_id = 1;
        smp[i].value = &one;
        smp[i].n_value = 1;
        smpp[i] = &smp[i];
    }
    prof.string_table = strs;
    prof.n_string_table = n + 3;
    prof.sample_type = &vtp;
    prof.n_sample_type = 1;
    prof.function = fnp;
    prof.n_function = n;
    prof.location = locp;
    prof.n_location = n;
    prof.sample = smpp;
    prof.n_sample = n;
    raw = pb_pack(&prof, &len);
    assert_int_equal(pprof_parse(raw, len, MAX_INFLATED, PPROF_GOROUTINE, &p, err, sizeof(err)),
                     0);
    assert_int_equal(p->nsites, 100000);
    assert_int_equal(p->total[PV_COUNT], (int64_t)n);
    /* equal counts: ordered by name, so the output does not depend on hashing */
    assert_string_equal(p->sites[0].leaf.func, "main.f0");
    assert_string_equal(p->sites[1].leaf.func, "main.f1");
    assert_string_equal(p->sites[2].leaf.func, "main.f10");
    pprof_free(p);
    free(raw);
    for (i = 0; i < n; i++)
        free(strs[i + 3]);
    free(strs);
    free(fn);
    free(fnp);
    free(loc);
    free(locp);
    free(line);
    free(linep);
    free(smp);
    free(smpp);
    free(ids);
}

/* Deep stacks through a location of many lines: the work must stay linear in the input
 * (one step per location id), not locations x lines per sample (10^10 steps here). */
static void test_pprof_deep_stacks(void **state)
{
    const size_t nlines = 20000, nids = 20000, nsamples = 50;
    Profile prof;
    ValueType vt = PERFTOOLS__PROFILES__VALUE_TYPE__INIT, *vtp = &vt;
    char *strs[] = { (char *)"", (char *)"goroutine", (char *)"count", (char *)"bytes.f",
                     (char *)"bytes/f.go" };
    Function fn = PERFTOOLS__PROFILES__FUNCTION__INIT, *fnp = &fn;
    Location loc = PERFTOOLS__PROFILES__LOCATION__INIT, *locp = &loc;
    Line *lines = xcalloc(nlines, sizeof(*lines)), **linep = xcalloc(nlines, sizeof(*linep));
    Sample smp[50], *smpp[50];
    uint64_t *ids = xcalloc(nids, sizeof(*ids));
    int64_t one = 1;
    struct pprof_profile *p = NULL;
    char err[256];
    size_t i, len;
    uint8_t *raw;
    double t0;

    (void)state;
    perftools__profiles__profile__init(&prof);
    vt.type = 1;
    vt.unit = 2;
    fn.id = 1;
    fn.name = 3;
    fn.filename = 4;
    for (i = 0; i < nlines; i++) {
        perftools__profiles__line__init(&lines[i]);
        lines[i].function_id = 1;
        lines[i].line = (int64_t)i + 1;
        linep[i] = &lines[i];
    }
    loc.id = 1;
    loc.line = linep;
    loc.n_line = nlines;
    for (i = 0; i < nids; i++)
        ids[i] = 1;
    for (i = 0; i < nsamples; i++) {
        perftools__profiles__sample__init(&smp[i]);
        smp[i].location_id = ids;
        smp[i].n_location_id = nids;
        smp[i].value = &one;
        smp[i].n_value = 1;
        smpp[i] = &smp[i];
    }
    prof.string_table = strs;
    prof.n_string_table = N_ELEMS(strs);
    prof.sample_type = &vtp;
    prof.n_sample_type = 1;
    prof.function = &fnp;
    prof.n_function = 1;
    prof.location = &locp;
    prof.n_location = 1;
    prof.sample = smpp;
    prof.n_sample = nsamples;
    raw = pb_pack(&prof, &len);
    t0 = now_s();
    assert_int_equal(pprof_parse(raw, len, MAX_INFLATED, PPROF_GOROUTINE, &p, err, sizeof(err)),
                     0);
    assert_true(now_s() - t0 < (under_valgrind() ? 30 : 2));
    /* all standard library: user = leaf = the innermost line of the first location */
    assert_int_equal(p->nsites, 1);
    assert_string_equal(p->sites[0].leaf.func, "bytes.f");
    assert_int_equal(p->sites[0].leaf.line, 1);
    assert_string_equal(p->sites[0].user.func, "bytes.f");
    assert_int_equal(p->sites[0].v[PV_COUNT], (int64_t)nsamples);
    pprof_free(p);
    free(raw);
    free(lines);
    free(linep);
    free(ids);
}

/* Empty samples cost 2 bytes on the wire and ~100 decoded: a decode-budget bomb. */
static void test_pprof_decode_budget(void **state)
{
    const size_t n = 4u << 20;
    uint8_t *raw = xmalloc(n), *gz;
    struct pprof_profile *p = NULL;
    char err[256];
    size_t i, gzlen;

    (void)state;
    for (i = 0; i < n; i += 2) {
        raw[i] = 0x12; /* field 2 (sample), length-delimited */
        raw[i + 1] = 0x00;
    }
    gz = gzip_bytes(raw, n, &gzlen);
    assert_int_equal(pprof_parse(gz, gzlen, MAX_INFLATED, PPROF_HEAP, &p, err, sizeof(err)),
                     -EFBIG);
    assert_non_null(strstr(err, "decodes to more than"));
    assert_null(p);
    free(gz);
    free(raw);
}

/* ---- pprof_func_is_std -------------------------------------------------------------------- */

static void test_func_is_std(void **state)
{
    static const struct {
        const char *func;
        int std;
    } cases[] = {
        { "runtime.gopark", 1 },
        { "runtime.mallocgc", 1 },
        { "bytes.makeSlice", 1 },
        { "bytes.growSlice", 1 },
        { "bytes.(*Buffer).grow", 1 },
        { "net/http.(*conn).serve", 1 },
        { "net/http.HandlerFunc.ServeHTTP", 1 },
        { "encoding/json.(*decodeState).object", 1 },
        { "internal/poll.runtime_pollWait", 1 },
        { "sync.runtime_Semacquire", 1 },
        { "sync.(*WaitGroup).Wait", 1 },
        { "runtime/pprof.writeGoroutine", 1 },
        { "vendor/golang.org/x/net/http2/hpack.(*Decoder).Write", 1 },
        { "time.Sleep", 1 },
        { "type..eq.main.T", 1 },
        { "type..hash.github.com/x/y.T", 1 },
        { "main.main", 0 },
        { "main.(*server).handle", 0 },
        { "main.main.func1", 0 },
        { "main.Map[...]", 0 },
        { "main.Map[go.shape.*uint8_0]", 0 },
        { "main.F[github.com/x/y.T]", 0 },
        { "slices.Sort[go.shape.[]github.com/x/y.T_0]", 1 },
        { "github.com/x/y.(*T).M", 0 },
        { "github.com/prometheus/client_golang/prometheus.(*Registry).Gather", 0 },
        { "golang.org/x/net/http2.(*Framer).ReadFrame", 0 },
        { "gopkg.in/yaml%2ev3.unmarshal", 0 },
        { "example.com/a.b/c.F", 0 },
        { "command-line-arguments.F", 0 },
        { "maine.F", 1 },
        { "main", 0 },
        { "", 1 },
    };
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(cases); i++)
        if (pprof_func_is_std(cases[i].func) != cases[i].std)
            fail_msg("pprof_func_is_std(\"%s\") != %d", cases[i].func, cases[i].std);
    assert_false(pprof_func_is_std(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expvar_real),
        cmocka_unit_test(test_expvar_fresh),
        cmocka_unit_test(test_expvar_errors),
        cmocka_unit_test(test_expvar_truncated),
        cmocka_unit_test(test_expvar_wrong_types),
        cmocka_unit_test(test_expvar_too_many_values),
        cmocka_unit_test(test_prom_real),
        cmocka_unit_test(test_prom_runtime_metrics_only),
        cmocka_unit_test(test_prom_rules),
        cmocka_unit_test(test_prom_crlf_and_bounds),
        cmocka_unit_test(test_prom_no_go_metrics),
        cmocka_unit_test(test_prom_huge_line),
        cmocka_unit_test(test_pprof_heap_real),
        cmocka_unit_test(test_pprof_raw_protobuf),
        cmocka_unit_test(test_pprof_goroutine_real),
        cmocka_unit_test(test_pprof_bad_gzip),
        cmocka_unit_test(test_pprof_gzip_bomb),
        cmocka_unit_test(test_pprof_built_sparse_ids),
        cmocka_unit_test(test_pprof_built_invalid),
        cmocka_unit_test(test_pprof_built_names),
        cmocka_unit_test(test_pprof_site_cap),
        cmocka_unit_test(test_pprof_deep_stacks),
        cmocka_unit_test(test_pprof_decode_budget),
        cmocka_unit_test(test_func_is_std),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
