/* test_breakdown.c - RSS explained: each part computed from known figures, the dominant part
 * and its sentence, the caveat when the runtime's figures exceed resident memory, missing
 * data refused, and the change sentence over a range. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "breakdown.h"

#define MiB (1024.0 * 1024.0)

struct fig {
    double v[METRIC_COUNT];
    uint64_t present;
};

static void set(struct fig *f, enum metric_id m, double value)
{
    f->v[m] = value;
    f->present |= UINT64_C(1) << m;
}

/* A Go process: `anon` MiB of anonymous RSS, 10 MiB file-backed, and the runtime's figures. */
static struct fig go_process(double anon, double live, double inuse, double idle, double released)
{
    struct fig f = { { 0 }, 0 };
    set(&f, M_RSS, (anon + 10) * MiB);
    set(&f, M_RSS_ANON, anon * MiB);
    set(&f, M_RSS_FILE, 10 * MiB);
    set(&f, M_RSS_SHMEM, 0);
    set(&f, M_GO_HEAP_ALLOC, live * MiB);
    set(&f, M_GO_HEAP_INUSE, inuse * MiB);
    set(&f, M_GO_HEAP_IDLE, idle * MiB);
    set(&f, M_GO_HEAP_RELEASED, released * MiB);
    set(&f, M_GO_STACK_INUSE, 1 * MiB);
    set(&f, M_GO_MSPAN_SYS, 0.5 * MiB);
    set(&f, M_GO_MCACHE_SYS, 0.0);
    set(&f, M_GO_BUCKHASH_SYS, 0.5 * MiB);
    set(&f, M_GO_GC_SYS, 1 * MiB);
    set(&f, M_GO_OTHER_SYS, 1 * MiB);
    return f;
}

static void test_parts_add_up(void **state)
{
    struct fig f = go_process(100, 60, 64, 20, 4);
    struct breakdown b;
    assert_int_equal(breakdown_compute(f.v, f.present, &b), 0);
    assert_int_equal(b.rss, (int64_t)(110 * MiB));
    assert_int_equal(b.bytes[BD_LIVE_HEAP], (int64_t)(60 * MiB));
    assert_int_equal(b.bytes[BD_HEAP_FRAGMENTATION], (int64_t)(4 * MiB));
    assert_int_equal(b.bytes[BD_RETAINED_HEAP], (int64_t)(16 * MiB));
    assert_int_equal(b.bytes[BD_STACKS], (int64_t)(1 * MiB));
    assert_int_equal(b.bytes[BD_RUNTIME_METADATA], (int64_t)(3 * MiB));
    assert_int_equal(b.bytes[BD_FILE_BACKED], (int64_t)(10 * MiB));
    /* 100 anon - (60 + 4 + 16 + 1 + 3) = 16 MiB outside the runtime */
    assert_int_equal(b.bytes[BD_NON_GO], (int64_t)(16 * MiB));
    int64_t sum = 0;
    double pct = 0;
    for (int p = 0; p < BD_COUNT; p++) {
        sum += b.bytes[p];
        pct += b.percent[p];
    }
    assert_int_equal(sum, b.rss);
    assert_true(pct > 99.9 && pct < 100.1);
    assert_int_equal(b.dominant, BD_LIVE_HEAP);
    assert_non_null(strstr(b.summary, "live Go heap"));
    assert_int_equal(b.released_heap, (int64_t)(4 * MiB));
}

/* After a burst: little live heap, much freed heap still held. */
static void test_burst_is_retained_not_leak(void **state)
{
    struct fig f = go_process(310, 2, 3, 300, 0);
    struct breakdown b;
    assert_int_equal(breakdown_compute(f.v, f.present, &b), 0);
    assert_int_equal(b.dominant, BD_RETAINED_HEAP);
    assert_non_null(strstr(b.summary, "not a leak"));
    assert_non_null(strstr(b.summary, "FreeOSMemory"));
}

/* cgo: anonymous memory far beyond what the runtime holds. */
static void test_cgo_is_non_go(void **state)
{
    struct fig f = go_process(400, 5, 6, 2, 1);
    struct breakdown b;
    assert_int_equal(breakdown_compute(f.v, f.present, &b), 0);
    assert_int_equal(b.dominant, BD_NON_GO);
    assert_true(b.bytes[BD_NON_GO] > (int64_t)(380 * MiB));
    assert_non_null(strstr(b.summary, "outside the Go runtime"));
}

/* The runtime counts reserved pages never touched: its parts may exceed RssAnon. */
static void test_reservations_exceed_anon(void **state)
{
    struct fig f = go_process(20, 15, 16, 10, 0);
    struct breakdown b;
    assert_int_equal(breakdown_compute(f.v, f.present, &b), 0);
    assert_int_equal(b.bytes[BD_NON_GO], 0);
    assert_true(b.go_over_anon > 0);
    bool said = false;
    for (int i = 0; i < b.ncaveats; i++)
        said = said || strstr(b.caveats[i], "exceed") != NULL;
    assert_true(said);
}

static void test_missing_data(void **state)
{
    struct fig f = go_process(100, 60, 64, 20, 4);
    struct breakdown b;
    uint64_t no_go = f.present & ~(UINT64_C(1) << M_GO_HEAP_ALLOC);
    assert_int_equal(breakdown_compute(f.v, no_go, &b), -ENODATA);
    uint64_t no_rss = f.present & ~(UINT64_C(1) << M_RSS);
    assert_int_equal(breakdown_compute(f.v, no_rss, &b), -ENODATA);
}

static void test_change_summary(void **state)
{
    struct fig a = go_process(100, 20, 22, 5, 0), c = go_process(300, 21, 23, 5, 0);
    struct breakdown ba, bc;
    assert_int_equal(breakdown_compute(a.v, a.present, &ba), 0);
    assert_int_equal(breakdown_compute(c.v, c.present, &bc), 0);
    char buf[400];
    breakdown_change_summary(&ba, &bc, 600, buf, sizeof buf);
    assert_non_null(strstr(buf, "non-Go memory (outside the Go runtime) grew"));
    assert_non_null(strstr(buf, "while the live heap changed by +1 MiB"));
    assert_non_null(strstr(buf, "Go heap profiles will not show it"));

    breakdown_change_summary(&ba, &ba, 600, buf, sizeof buf);
    assert_non_null(strstr(buf, "stable"));

    struct fig h = go_process(200, 120, 122, 5, 0);
    struct breakdown bh;
    assert_int_equal(breakdown_compute(h.v, h.present, &bh), 0);
    breakdown_change_summary(&ba, &bh, 600, buf, sizeof buf);
    assert_non_null(strstr(buf, "the live Go heap grew by 100 MiB: the program holds"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parts_add_up),
        cmocka_unit_test(test_burst_is_retained_not_leak),
        cmocka_unit_test(test_cgo_is_non_go),
        cmocka_unit_test(test_reservations_exceed_anon),
        cmocka_unit_test(test_missing_data),
        cmocka_unit_test(test_change_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
