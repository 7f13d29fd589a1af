/* test_chunk.c - unit tests for daemon/chunk.c, the sample codec.
 *
 * Exercises: round trips of random series (1 and 4 values a point) and of edge cases (negative
 * deltas, huge jumps, INT64_MIN/INT64_MAX values and timestamps); the suffix property (bytes
 * taken in pieces at arbitrary points, concatenated, equal the one-shot encoding, and a chunk
 * reloaded from a prefix continues identically); truncated, overlong and corrupted input
 * (every prefix, every single-byte change, random garbage) giving -EBADMSG or fewer points,
 * never an out-of-bounds read (the inputs are exact-size heap copies, for ASan and valgrind)
 * nor an endless loop; and the size of a realistic 1 s series (< 3 bytes a sample).
 * Randomised tests print their seed; set TEST_SEED to replay one. */
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
#include <time.h>

#include <cmocka.h>

#include "chunk.h"
#include "util.h"

static uint64_t rng_state;

/* splitmix64: small, seedable, good enough to make test data. */
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int64_t rnd_range(int64_t lo, int64_t hi)     /* inclusive, hi - lo small */
{
    return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

struct series {
    size_t n;
    unsigned nvals;
    int64_t start;
    int64_t *ts;
    int64_t *vals;      /* n * nvals */
};

static void series_alloc(struct series *s, size_t n, unsigned nvals, int64_t start)
{
    s->n = n;
    s->nvals = nvals;
    s->start = start;
    s->ts = xcalloc(n ? n : 1, sizeof(int64_t));
    s->vals = xcalloc(n ? n * nvals : 1, sizeof(int64_t));
}

static void series_free(struct series *s)
{
    free(s->ts);
    free(s->vals);
}

/* Encodes s in one go; returns an exact-size heap copy of the bytes. */
static uint8_t *encode(const struct series *s, size_t *len)
{
    struct chunk_enc e;
    chunk_enc_init(&e, s->start, s->nvals);
    for (size_t i = 0; i < s->n; i++)
        chunk_enc_append(&e, s->ts[i], &s->vals[i * s->nvals]);
    assert_int_equal(e.count, s->n);
    *len = e.len;
    uint8_t *out = xmalloc(e.len ? e.len : 1);
    if (e.len)
        memcpy(out, e.buf, e.len);
    chunk_enc_free(&e);
    return out;
}

static void assert_decodes_to(const struct series *s, const uint8_t *buf, size_t len)
{
    struct chunk_dec d;
    int64_t ts, v[CHUNK_MAX_VALS];
    size_t i = 0;
    int r;

    chunk_dec_init(&d, s->start, s->nvals, buf, len);
    while ((r = chunk_dec_next(&d, &ts, v)) == 1) {
        assert_true(i < s->n);
        assert_int_equal(ts, s->ts[i]);
        for (unsigned k = 0; k < s->nvals; k++)
            assert_int_equal(v[k], s->vals[i * s->nvals + k]);
        i++;
    }
    assert_int_equal(r, 0);
    assert_int_equal(i, s->n);
    assert_int_equal(chunk_dec_offset(&d), len);
}

static void roundtrip(const struct series *s)
{
    size_t len;
    uint8_t *buf = encode(s, &len);
    assert_decodes_to(s, buf, len);
    free(buf);
}

static void make_random(struct series *s, size_t n, unsigned nvals, int wild)
{
    int64_t start = (int64_t)(rnd() % 2000000000000ULL) / 600000 * 600000;
    series_alloc(s, n, nvals, start);
    int64_t ts = start + rnd_range(0, 5000);
    int64_t v[CHUNK_MAX_VALS] = { 0 };
    for (unsigned k = 0; k < nvals; k++)
        v[k] = rnd_range(-1000000, 1000000);
    for (size_t i = 0; i < n; i++) {
        s->ts[i] = ts;
        for (unsigned k = 0; k < nvals; k++) {
            if (wild)
                v[k] = (int64_t)rnd();          /* any int64 at all */
            else
                v[k] += rnd_range(-3, 3) * (int64_t)(rnd() % 1000);
            s->vals[i * nvals + k] = v[k];
        }
        ts += wild ? rnd_range(1, INT64_C(1) << 40) : rnd_range(1, 3000);
    }
}

static void test_roundtrip_random(void **state)
{
    (void)state;
    for (int iter = 0; iter < 200; iter++) {
        struct series s;
        make_random(&s, (size_t)rnd_range(0, 700), iter % 2 ? 4 : 1, iter % 5 == 0);
        roundtrip(&s);
        series_free(&s);
    }
}

static void test_roundtrip_edges(void **state)
{
    (void)state;
    struct series s;

    /* Empty chunk: no bytes, no points. */
    series_alloc(&s, 0, 1, 600000);
    roundtrip(&s);
    series_free(&s);

    /* Value extremes, both ways, and negative deltas. */
    static const int64_t vals[] = { 0, INT64_MAX, INT64_MIN, INT64_MAX, -1, 1, INT64_MIN, 0,
                                    -5, -500000000000, 500000000000, INT64_MIN + 1, 42, 42, 42 };
    size_t n = sizeof(vals) / sizeof(vals[0]);
    series_alloc(&s, n, 1, 1700000000000);
    for (size_t i = 0; i < n; i++) {
        s.ts[i] = s.start + 1000 * (int64_t)i;
        s.vals[i] = vals[i];
    }
    roundtrip(&s);
    series_free(&s);

    /* Timestamp extremes: from INT64_MIN to INT64_MAX with wildly varying gaps, a window
     * start far away in either direction, and the first point before its window start. */
    static const int64_t starts[] = { INT64_MIN, 0, INT64_MAX, 1700000000000 };
    for (size_t j = 0; j < sizeof(starts) / sizeof(starts[0]); j++) {
        static const int64_t tss[] = { INT64_MIN, INT64_MIN + 1, -1000, -999, 0, 1, 2,
                                       INT64_MAX / 2, INT64_MAX - 1, INT64_MAX };
        n = sizeof(tss) / sizeof(tss[0]);
        series_alloc(&s, n, 4, starts[j]);
        for (size_t i = 0; i < n; i++) {
            s.ts[i] = tss[i];
            for (unsigned k = 0; k < 4; k++)
                s.vals[i * 4 + k] = (k & 1) ? tss[n - 1 - i] : -(int64_t)(i * k);
        }
        roundtrip(&s);
        series_free(&s);
    }
}

/* The bytes appended between two points in time, concatenated, are the one-shot bytes; and
 * chunk_enc_load of any point-aligned prefix continues exactly as the original encoder did. */
static void test_suffix_concatenation(void **state)
{
    (void)state;
    for (int iter = 0; iter < 100; iter++) {
        struct series s;
        make_random(&s, (size_t)rnd_range(1, 400), iter % 2 ? 4 : 1, iter % 7 == 0);
        size_t full_len;
        uint8_t *full = encode(&s, &full_len);

        struct chunk_enc e;
        chunk_enc_init(&e, s.start, s.nvals);
        uint8_t *cat = xmalloc(full_len + 1);
        size_t cat_len = 0, staged = 0;
        for (size_t i = 0; i < s.n; i++) {
            chunk_enc_append(&e, s.ts[i], &s.vals[i * s.nvals]);
            if (rnd() % 5 == 0 || i + 1 == s.n) {     /* a "flush": take the new suffix */
                memcpy(cat + cat_len, e.buf + staged, e.len - staged);
                cat_len += e.len - staged;
                staged = e.len;
            }
        }
        assert_int_equal(cat_len, full_len);
        assert_memory_equal(cat, full, full_len);

        /* Reload a prefix of k points and append the rest. */
        size_t k = (size_t)rnd_range(0, (int64_t)s.n);
        struct chunk_enc pre;
        chunk_enc_init(&pre, s.start, s.nvals);
        for (size_t i = 0; i < k; i++)
            chunk_enc_append(&pre, s.ts[i], &s.vals[i * s.nvals]);
        uint8_t *pre_copy = xmalloc(pre.len ? pre.len : 1);
        if (pre.len)
            memcpy(pre_copy, pre.buf, pre.len);
        struct chunk_enc re;
        memset(&re, 0, sizeof(re));
        assert_int_equal(chunk_enc_load(&re, s.start, s.nvals, pre_copy, pre.len), 0);
        assert_int_equal(re.count, k);
        for (size_t i = k; i < s.n; i++)
            chunk_enc_append(&re, s.ts[i], &s.vals[i * s.nvals]);
        assert_int_equal(re.len, full_len);
        assert_memory_equal(re.buf, full, full_len);

        chunk_enc_free(&re);
        chunk_enc_free(&pre);
        free(pre_copy);
        chunk_enc_free(&e);
        free(cat);
        free(full);
        series_free(&s);
    }
}

/* Decodes untrusted bytes and checks the decoder's promises: it ends (with 0 or -EBADMSG),
 * it keeps failing after a failure, each point consumed at least 1 + nvals bytes, and the
 * offset is inside the input.  Returns the points decoded, *err the final result. */
static size_t decode_untrusted(int64_t start, unsigned nvals, const uint8_t *buf, size_t len,
                               int *err)
{
    struct chunk_dec d;
    int64_t ts, v[CHUNK_MAX_VALS], prev = 0;
    size_t n = 0;
    int r;

    chunk_dec_init(&d, start, nvals, buf, len);
    while ((r = chunk_dec_next(&d, &ts, v)) == 1) {
        if (n > 0)
            assert_true(ts > prev);
        prev = ts;
        n++;
        assert_true(n * (1 + nvals) <= len);
    }
    assert_true(r == 0 || r == -EBADMSG);
    assert_true(chunk_dec_offset(&d) <= len);
    if (r < 0)
        assert_int_equal(chunk_dec_next(&d, &ts, v), -EBADMSG);
    else
        assert_int_equal(chunk_dec_offset(&d), len);
    *err = r;
    return n;
}

static void test_truncated(void **state)
{
    (void)state;
    for (int iter = 0; iter < 40; iter++) {
        struct series s;
        make_random(&s, (size_t)rnd_range(1, 60), iter % 2 ? 4 : 1, iter % 3 == 0);
        size_t full_len;
        uint8_t *full = encode(&s, &full_len);

        /* Point boundaries, to know which prefixes are clean ends. */
        size_t *bound = xcalloc(s.n + 1, sizeof(size_t));
        struct chunk_dec d;
        int64_t ts, v[CHUNK_MAX_VALS];
        chunk_dec_init(&d, s.start, s.nvals, full, full_len);
        for (size_t i = 1; i <= s.n; i++) {
            assert_int_equal(chunk_dec_next(&d, &ts, v), 1);
            bound[i] = chunk_dec_offset(&d);
        }

        for (size_t cut = 0; cut < full_len; cut++) {
            uint8_t *p = xmalloc(cut ? cut : 1);      /* exact size: overreads are caught */
            memcpy(p, full, cut);
            int err;
            size_t n = decode_untrusted(s.start, s.nvals, p, cut, &err);
            size_t whole = 0;
            while (whole < s.n && bound[whole + 1] <= cut)
                whole++;
            assert_int_equal(n, whole);
            assert_int_equal(err, bound[whole] == cut ? 0 : -EBADMSG);

            /* chunk_enc_load keeps the whole points before the cut. */
            struct chunk_enc e;
            memset(&e, 0, sizeof(e));
            assert_int_equal(chunk_enc_load(&e, s.start, s.nvals, p, cut), err);
            assert_int_equal(e.count, whole);
            assert_int_equal(e.len, bound[whole]);
            chunk_enc_free(&e);
            free(p);
        }
        free(bound);
        free(full);
        series_free(&s);
    }
}

static void test_corrupt(void **state)
{
    (void)state;
    int err;

    /* Overlong varints: 11 continuation bytes; a 10th byte with more than bit 63. */
    uint8_t *p = xmalloc(11);
    memset(p, 0x80, 11);
    assert_int_equal(decode_untrusted(0, 1, p, 11, &err), 0);
    assert_int_equal(err, -EBADMSG);
    memset(p, 0xff, 9);
    p[9] = 0x02;
    p[10] = 0x00;
    assert_int_equal(decode_untrusted(0, 1, p, 11, &err), 0);
    assert_int_equal(err, -EBADMSG);
    p[9] = 0x01;        /* the largest legal varint, then a 0 value */
    assert_int_equal(decode_untrusted(0, 1, p, 11, &err), 1);
    assert_int_equal(err, 0);
    free(p);

    /* A timestamp that does not increase: point 1 with delta 0. */
    p = xmalloc(4);
    memcpy(p, (const uint8_t[]){ 0x02, 0x00, 0x00, 0x00 }, 4);
    assert_int_equal(decode_untrusted(0, 1, p, 4, &err), 1);
    assert_int_equal(err, -EBADMSG);
    free(p);

    /* Every single-byte change of real chunks, then random garbage. */
    for (int iter = 0; iter < 30; iter++) {
        struct series s;
        make_random(&s, (size_t)rnd_range(1, 40), iter % 2 ? 4 : 1, iter % 4 == 0);
        size_t len;
        uint8_t *full = encode(&s, &len);
        for (size_t i = 0; i < len; i++) {
            for (int b = 0; b < 4; b++) {
                p = xmalloc(len);
                memcpy(p, full, len);
                p[i] = b == 0 ? 0x80 : b == 1 ? 0xff : b == 2 ? 0x00 : (uint8_t)rnd();
                (void)decode_untrusted(s.start, s.nvals, p, len, &err);
                free(p);
            }
        }
        free(full);
        series_free(&s);
    }
    for (int iter = 0; iter < 2000; iter++) {
        size_t len = (size_t)rnd_range(0, 300);
        p = xmalloc(len ? len : 1);
        for (size_t i = 0; i < len; i++)
            p[i] = (uint8_t)rnd();
        (void)decode_untrusted((int64_t)rnd(), iter % 2 ? 4 : 1, p, len, &err);
        free(p);
    }
}

/* A realistic day-of-work series: samples every 1 s from a timer with a few ms of jitter, an
 * RSS in KiB that stays put most seconds and moves by a few pages now and then. */
static void test_size_realistic(void **state)
{
    (void)state;
    const size_t n = 600;           /* one 10-minute window */
    double total_bytes = 0, total_points = 0;

    for (int w = 0; w < 50; w++) {
        struct series s;
        series_alloc(&s, n, 1, 1700000400000 + w * 600000);
        int64_t rss = 150000 + rnd_range(0, 50000);
        for (size_t i = 0; i < n; i++) {
            s.ts[i] = s.start + 1000 * (int64_t)i + rnd_range(0, 15);
            if (rnd() % 10 == 0)
                rss += 4 * rnd_range(-8, 8);
            s.vals[i] = rss;
        }
        size_t len;
        uint8_t *buf = encode(&s, &len);
        assert_decodes_to(&s, buf, len);
        total_bytes += (double)len;
        total_points += (double)n;
        free(buf);
        series_free(&s);
    }
    double bps = total_bytes / total_points;
    print_message("# realistic 1 s series: %.3f bytes/sample\n", bps);
    assert_true(bps < 3.0);
}

int main(void)
{
    const char *seed_env = getenv("TEST_SEED");
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : (uint64_t)time(NULL);
    rng_state = seed;
    printf("# test_chunk seed %" PRIu64 " (TEST_SEED=%" PRIu64 " replays it)\n", seed, seed);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_random),
        cmocka_unit_test(test_roundtrip_edges),
        cmocka_unit_test(test_suffix_concatenation),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_size_realistic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
