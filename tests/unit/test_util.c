/* test_util.c - unit tests for common/util.c.
 *
 * Exercises: the x* allocators (zero sizes, growth, overflow aborts in a child process),
 * both clocks, and every parser and formatter with tables of good and bad inputs, including
 * signs, whitespace, empty strings, unknown units and values one past the int64/uint64 limits. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static void test_xmalloc_family(void **state)
{
    char *p, *q;
    int *ints;
    size_t i;

    (void)state;
    p = xmalloc(0);
    assert_non_null(p);
    free(p);

    ints = xcalloc(16, sizeof(*ints));
    for (i = 0; i < 16; i++)
        assert_int_equal(ints[i], 0);
    for (i = 0; i < 16; i++)
        ints[i] = (int)i;
    ints = xreallocarray(ints, 1024, sizeof(*ints));
    for (i = 0; i < 16; i++)
        assert_int_equal(ints[i], (int)i);
    free(ints);

    p = xcalloc(0, 8);
    assert_non_null(p);
    free(p);
    p = xreallocarray(NULL, 0, 0);
    assert_non_null(p);
    free(p);

    p = xstrdup("memwatch");
    assert_string_equal(p, "memwatch");
    q = xasprintf("%s/%d/%.1f", p, 42, 1.5);
    assert_string_equal(q, "memwatch/42/1.5");
    free(p);
    free(q);
}

/* Runs fn in a child and reports whether it died of SIGABRT, as an allocator must on overflow. */
static int aborts_in_child(void (*fn)(void))
{
    int status;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        /* The abort message is expected; keep the test output clean. */
        if (freopen("/dev/null", "w", stderr) == NULL)
            _exit(2);
        fn();
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void calloc_overflow(void)
{
    free(xcalloc(SIZE_MAX / 2 + 1, 2));
}

static void reallocarray_overflow(void)
{
    free(xreallocarray(NULL, SIZE_MAX / 4 + 1, 8));
}

static void test_alloc_overflow_aborts(void **state)
{
    (void)state;
    assert_true(aborts_in_child(calloc_overflow));
    assert_true(aborts_in_child(reallocarray_overflow));
}

static void test_clocks(void **state)
{
    struct timespec nap = {0, 20 * 1000 * 1000};
    int64_t wall = now_wall_ms(), t0 = now_mono_ms(), t1;

    (void)state;
    /* Wall clock agrees with time(2) to within a couple of seconds. */
    assert_true(wall / 1000 >= (int64_t)time(NULL) - 2);
    assert_true(wall / 1000 <= (int64_t)time(NULL) + 2);
    nanosleep(&nap, NULL);
    t1 = now_mono_ms();
    assert_true(t1 - t0 >= 19);
    assert_true(t1 - t0 < 10000);
}

static void test_parse_duration_ms(void **state)
{
    static const struct {
        const char *in;
        int64_t ms;
    } good[] = {
        {"0", 0},
        {"1500ms", 1500},
        {"10s", 10000},
        {"10", 10000},
        {"5m", 300000},
        {"24h", 86400000},
        {"30d", 30LL * 86400000},
        {"3m20s", 200000},
        {"2h5m", 7500000},
        {"1d12h", 129600000},
        {"1s500ms", 1500},
        {"0ms", 0},
        {"007s", 7000},
        {"9223372036854775807ms", INT64_MAX},
        {"9223372036854775s", 9223372036854775000LL},
    };
    static const char *const bad[] = {
        "",
        "-5s",
        "-5",
        "+5",
        " 5s",
        "5s ",
        "5 s",
        "s",
        "ms",
        "5x",
        "5S",
        "5sec",
        "1.5s",
        "5s5s",
        "5s1h",
        "1h1h",
        "10msm",
        "9223372036854775808ms",
        "9223372036854776s",
        "106751991168d",
        "99999999999999999999999",
        "5s-",
        "1h 30m",
        "0x10",
    };
    int64_t out;
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(good); i++) {
        out = -1;
        if (parse_duration_ms(good[i].in, &out) != 0 || out != good[i].ms)
            fail_msg("parse_duration_ms(\"%s\") -> %" PRId64 ", want %" PRId64, good[i].in, out,
                     good[i].ms);
    }
    for (i = 0; i < N_ELEMS(bad); i++) {
        out = 12345;
        if (parse_duration_ms(bad[i], &out) != -EINVAL)
            fail_msg("parse_duration_ms(\"%s\") accepted", bad[i]);
        assert_int_equal(out, 12345); /* untouched on error */
    }
    assert_int_equal(parse_duration_ms(NULL, &out), -EINVAL);
}

static void test_parse_size_bytes(void **state)
{
    static const struct {
        const char *in;
        uint64_t bytes;
    } good[] = {
        {"0", 0},
        {"65536", 65536},
        {"512B", 512},
        {"64K", 65536},
        {"64KB", 65536},
        {"64KiB", 65536},
        {"64kib", 65536},
        {"8M", 8 << 20},
        {"8MB", 8 << 20},
        {"8MiB", 8 << 20},
        {"1G", 1 << 30},
        {"1GB", 1 << 30},
        {"1GiB", 1 << 30},
        {"2TiB", 2ULL << 40},
        {"18446744073709551615", UINT64_MAX},
        {"17179869183GiB", 17179869183ULL << 30},
    };
    static const char *const bad[] = {
        "",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1 KiB",
        "KiB",
        "1.5MiB",
        "1KiBs",
        "1Ki",
        "1iB",
        "1X",
        "1PiB",
        "18446744073709551616",
        "17179869184GiB",
        "16777216TiB",
        "0x10",
    };
    uint64_t out;
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(good); i++) {
        out = 1;
        if (parse_size_bytes(good[i].in, &out) != 0 || out != good[i].bytes)
            fail_msg("parse_size_bytes(\"%s\") -> %" PRIu64 ", want %" PRIu64, good[i].in, out,
                     good[i].bytes);
    }
    for (i = 0; i < N_ELEMS(bad); i++) {
        out = 12345;
        if (parse_size_bytes(bad[i], &out) != -EINVAL)
            fail_msg("parse_size_bytes(\"%s\") accepted", bad[i]);
        assert_int_equal(out, 12345);
    }
    assert_int_equal(parse_size_bytes(NULL, &out), -EINVAL);
}

static void test_parse_int64(void **state)
{
    static const struct {
        const char *in;
        int64_t min, max;
        int ret;
        int64_t value;
    } cases[] = {
        {"0", 0, 10, 0, 0},
        {"10", 0, 10, 0, 10},
        {"-3", -5, 5, 0, -3},
        {"0042", 0, 100, 0, 42},
        {"9223372036854775807", INT64_MIN, INT64_MAX, 0, INT64_MAX},
        {"-9223372036854775808", INT64_MIN, INT64_MAX, 0, INT64_MIN},
        {"11", 0, 10, -ERANGE, 0},
        {"-1", 0, 10, -ERANGE, 0},
        {"9223372036854775808", INT64_MIN, INT64_MAX, -ERANGE, 0},
        {"-9223372036854775809", INT64_MIN, INT64_MAX, -ERANGE, 0},
        {"99999999999999999999999", INT64_MIN, INT64_MAX, -ERANGE, 0},
        {"", 0, 10, -EINVAL, 0},
        {"-", 0, 10, -EINVAL, 0},
        {"+5", 0, 10, -EINVAL, 0},
        {" 5", 0, 10, -EINVAL, 0},
        {"5 ", 0, 10, -EINVAL, 0},
        {"5x", 0, 10, -EINVAL, 0},
        {"--5", -10, 10, -EINVAL, 0},
        {"1e3", 0, 10000, -EINVAL, 0},
        {"0x10", 0, 100, -EINVAL, 0},
        {"3.0", 0, 10, -EINVAL, 0},
        {"99999999999999999999999x", INT64_MIN, INT64_MAX, -EINVAL, 0},
    };
    int64_t out;
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(cases); i++) {
        int ret;

        out = 0;
        ret = parse_int64(cases[i].in, cases[i].min, cases[i].max, &out);
        if (ret != cases[i].ret)
            fail_msg("parse_int64(\"%s\") returned %d, want %d", cases[i].in, ret, cases[i].ret);
        if (ret == 0 && out != cases[i].value)
            fail_msg("parse_int64(\"%s\") -> %" PRId64, cases[i].in, out);
    }
    assert_int_equal(parse_int64(NULL, 0, 1, &out), -EINVAL);
}

static void test_parse_bool(void **state)
{
    static const struct {
        const char *in;
        int ret;
        bool value;
    } cases[] = {
        {"yes", 0, true},         {"true", 0, true},          {"on", 0, true},
        {"1", 0, true},           {"YES", 0, true},           {"True", 0, true},
        {"no", 0, false},         {"false", 0, false},        {"off", 0, false},
        {"0", 0, false},          {"OFF", 0, false},          {"", -EINVAL, false},
        {"y", -EINVAL, false},    {"2", -EINVAL, false},      {" yes", -EINVAL, false},
        {"yes ", -EINVAL, false}, {"enable", -EINVAL, false},
    };
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(cases); i++) {
        bool out = !cases[i].value;
        int ret = parse_bool(cases[i].in, &out);

        if (ret != cases[i].ret || (ret == 0 && out != cases[i].value))
            fail_msg("parse_bool(\"%s\") -> %d/%d", cases[i].in, ret, out);
    }
}

static void test_format_bytes(void **state)
{
    static const struct {
        double in;
        const char *out;
    } cases[] = {
        {0, "0 B"},
        {1, "1 B"},
        {512, "512 B"},
        {1023, "1023 B"},
        {1024, "1 KiB"},
        {1536, "1.5 KiB"},
        {12.3 * 1048576, "12.3 MiB"},
        {1.02 * 1073741824, "1.02 GiB"},
        {100 * 1024, "100 KiB"},
        {1023.4 * 1024, "1023 KiB"},
        {1023.6 * 1024, "1 MiB"}, /* rounds to 1024 KiB, so shown in the next unit */
        {9.999 * 1024, "10 KiB"},
        {99.99 * 1048576, "100 MiB"},
        {3.0 * 1099511627776.0, "3 TiB"},
        {-1536, "-1.5 KiB"},
        {-0.0, "0 B"},
        {1.0 / 0.0, "-"},
    };
    char buf[32], tiny[4];
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(cases); i++) {
        assert_ptr_equal(format_bytes(cases[i].in, buf, sizeof(buf)), buf);
        if (strcmp(buf, cases[i].out) != 0)
            fail_msg("format_bytes(%f) -> \"%s\", want \"%s\"", cases[i].in, buf, cases[i].out);
    }
    /* A short buffer truncates but stays terminated. */
    format_bytes(1536, tiny, sizeof(tiny));
    assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
}

static void test_format_duration_ms(void **state)
{
    static const struct {
        int64_t in;
        const char *out;
    } cases[] = {
        {0, "0s"},
        {1, "1ms"},
        {850, "850ms"},
        {999, "999ms"},
        {1000, "1s"},
        {12000, "12s"},
        {12999, "12s"},
        {60000, "1m"},
        {200000, "3m20s"},
        {3600000, "1h"},
        {7500000, "2h5m"},
        {7559999, "2h5m"},
        {86400000, "1d"},
        {273600000, "3d4h"},
        {-850, "-850ms"},
        {-200000, "-3m20s"},
        {INT64_MIN, "-106751991167d7h"},
        {INT64_MAX, "106751991167d7h"},
    };
    char buf[32], tiny[3];
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(cases); i++) {
        assert_ptr_equal(format_duration_ms(cases[i].in, buf, sizeof(buf)), buf);
        if (strcmp(buf, cases[i].out) != 0)
            fail_msg("format_duration_ms(%" PRId64 ") -> \"%s\", want \"%s\"", cases[i].in, buf,
                     cases[i].out);
    }
    format_duration_ms(200000, tiny, sizeof(tiny));
    assert_string_equal(tiny, "3m");
}

/* format_duration_ms output must parse back (to the truncated value), so users can paste it. */
static void test_duration_round_trip(void **state)
{
    static const int64_t values[] = {1000, 12000, 200000, 7500000, 273600000};
    char buf[32];
    int64_t out;
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(values); i++) {
        format_duration_ms(values[i], buf, sizeof(buf));
        assert_int_equal(parse_duration_ms(buf, &out), 0);
        assert_int_equal(out, values[i]);
    }
}

static void test_target_name_valid(void **state)
{
    static const char *const good[] = {
        "a",
        "api",
        "my-api",
        "my_api",
        "api.v2",
        "API2",
        "0day",
        "_x",
        "123456789012345678901234567890123456789012345678901234567890123", /* 63 */
    };
    static const char *const bad[] = {
        "",
        ".hidden",
        "-flag",
        "a b",
        "a/b",
        "a:b",
        "ä",
        "api\n",
        "..",
        "a%2f",
        "1234567890123456789012345678901234567890123456789012345678901234", /* 64 */
    };
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(good); i++)
        if (!target_name_valid(good[i]))
            fail_msg("target_name_valid(\"%s\") rejected", good[i]);
    for (i = 0; i < N_ELEMS(bad); i++)
        if (target_name_valid(bad[i]))
            fail_msg("target_name_valid(\"%s\") accepted", bad[i]);
    assert_false(target_name_valid(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xmalloc_family),
        cmocka_unit_test(test_alloc_overflow_aborts),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_parse_duration_ms),
        cmocka_unit_test(test_parse_size_bytes),
        cmocka_unit_test(test_parse_int64),
        cmocka_unit_test(test_parse_bool),
        cmocka_unit_test(test_format_bytes),
        cmocka_unit_test(test_format_duration_ms),
        cmocka_unit_test(test_duration_round_trip),
        cmocka_unit_test(test_target_name_valid),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
