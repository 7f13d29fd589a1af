/* test_scrape.c - unit tests for daemon/scrape.c against tests/targets/hostile, a real HTTP
 * server started once for the group ($MEMWATCH_BUILDDIR/tests/targets/hostile/hostile,
 * MEMWATCH_BUILDDIR defaulting to ".").
 *
 * Exercises: well-behaved pages parsed by kind (expvar HeapAlloc, a Prometheus page, heap and
 * goroutine profiles with their raw bodies kept); every hostile body mapped to its error class
 * with a message (not JSON, truncated JSON, wrong types, HTML, truncated gzip, a protobuf with
 * dangling indices, 404 -> -ENOENT, 500 and an unfollowed 302 -> -EPROTO); a gzip bomb, plain
 * and as Content-Encoding, stopped by the parser's inflate cap and never inflated by curl;
 * 1 GiB bodies (chunked, and with Content-Length) cut at the body cap at once, memory bounded;
 * stall, trickle and silent-after-accept each timing out at the timeout; a refused port;
 * isolation (20 good scrapes finish while a stalled one to the same server hangs);
 * max_in_flight counting queued, running and unread results (-EBUSY beyond it); non-http URLs
 * refused at submit (-EINVAL); the event fd's readiness; scrape_stop with transfers queued,
 * running and unread, returning promptly.  Run it under valgrind for the leak half of that.
 *
 * The assertions on parse results (error 0 for the /ok pages, the -EBADMSG/-EFBIG classes)
 * hold only with the real parsers of expvar.c, promtext.c and pprof.c linked in. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#include "metrics.h"
#include "pprof.h"
#include "scrape.h"
#include "util.h"

#define MIB (1024 * 1024)

static pid_t server_pid = -1;
static int server_out = -1;         /* kept open: a Go program dies of SIGPIPE on stdout */
static char base_url[128];          /* "http://127.0.0.1:PORT" */
/* Time limits are stretched under valgrind, which runs everything 10-50 times slower. */
static int64_t slow = 1;

/* ---- the hostile server ------------------------------------------------------------------ */

static int group_setup(void **state)
{
    (void)state;
    if (RUNNING_ON_VALGRIND)
        slow = 10;

    const char *dir = getenv("MEMWATCH_BUILDDIR");
    char *path = xasprintf("%s/tests/targets/hostile/hostile", dir && dir[0] ? dir : ".");
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    server_pid = fork();
    if (server_pid < 0)
        return -1;
    if (server_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);     /* never outlive a crashed test */
        dup2(fds[1], STDOUT_FILENO);
        execl(path, path, "-addr", "127.0.0.1:0", (char *)NULL);
        fprintf(stderr, "cannot run %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    server_out = fds[0];

    /* "listening on HOST:PORT\n"; building the gzip bomb takes a fraction of a second. */
    char line[256];
    size_t n = 0;
    int64_t deadline = now_mono_ms() + 30000;
    while (!memchr(line, '\n', n) && n < sizeof line - 1) {
        struct pollfd p = { .fd = server_out, .events = POLLIN };
        int64_t left = deadline - now_mono_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t k = read(server_out, line + n, sizeof line - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    line[n] = '\0';
    char hostport[100];
    if (sscanf(line, "listening on %99s", hostport) != 1) {
        print_error("%s did not say where it listens (got \"%s\")\n", path, line);
        free(path);
        return -1;
    }
    snprintf(base_url, sizeof base_url, "http://%s", hostport);
    free(path);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
    }
    if (server_out >= 0)
        close(server_out);
    return 0;
}

/* ---- helpers ----------------------------------------------------------------------------- */

static struct scraper *start(const struct scrape_limits *lim)
{
    struct scraper *sc = NULL;
    assert_int_equal(scrape_start(lim, &sc), 0);
    assert_non_null(sc);
    return sc;
}

static int submit(struct scraper *sc, int64_t id, enum scrape_kind kind, const char *path)
{
    struct scrape_request req = { .target_id = id, .kind = kind };
    snprintf(req.url, sizeof req.url, "%s%s", base_url, path);
    return scrape_submit(sc, &req);
}

/* Waits until n results have been taken into out[] or timeout_ms has passed; returns how
 * many arrived. */
static size_t collect(struct scraper *sc, struct scrape_result **out, size_t n,
                      int64_t timeout_ms)
{
    int64_t deadline = now_mono_ms() + timeout_ms;
    size_t got = 0;
    while (got < n) {
        struct scrape_result *r = scrape_take(sc);
        if (r) {
            out[got++] = r;
            continue;
        }
        int64_t left = deadline - now_mono_ms();
        if (left <= 0)
            break;
        struct pollfd p = { .fd = scrape_event_fd(sc), .events = POLLIN };
        (void)poll(&p, 1, (int)left);
    }
    return got;
}

static struct scrape_result *fetch(struct scraper *sc, enum scrape_kind kind, const char *path)
{
    struct scrape_result *r = NULL;
    assert_int_equal(submit(sc, 7, kind, path), 0);
    assert_int_equal(collect(sc, &r, 1, 10000 * slow), 1);
    return r;
}

static void show(const struct scrape_result *r)
{
    print_message("# %s %s: error %d (%s) \"%s\", HTTP %ld, %zu bytes, %" PRId64 " ms\n",
                  scrape_kind_name(r->kind), r->url, r->error,
                  r->error ? strerror(-r->error) : "ok", r->message, r->http_status,
                  r->body_bytes, r->duration_ms);
}

/* The result has error `want` (or `alt`, when a parser may answer either way) and, for an
 * error, a message saying why. */
static void expect_error(const struct scrape_result *r, int want, int alt)
{
    if (r->error != want && r->error != alt)
        show(r);
    assert_true(r->error == want || r->error == alt);
    if (r->error != 0)
        assert_true(r->message[0] != '\0');
}

static void expect_message(const struct scrape_result *r, const char *part)
{
    if (!strstr(r->message, part)) {
        show(r);
        print_error("message lacks \"%s\"\n", part);
    }
    assert_non_null(strstr(r->message, part));
}

static bool has(const struct go_stats *s, enum metric_id m)
{
    return (s->present >> m) & 1;
}

/* Peak RSS since the last reset_peak(), in bytes; 0 if /proc does not say. */
static void reset_peak(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)!write(fd, "5", 1);       /* 5: reset VmHWM to the current RSS */
        close(fd);
    }
}

static int64_t peak_rss(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    long long kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %lld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib * 1024;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_kind_names(void **state)
{
    (void)state;
    assert_string_equal(scrape_kind_name(SCRAPE_VARS), "vars");
    assert_string_equal(scrape_kind_name(SCRAPE_METRICS), "metrics");
    assert_string_equal(scrape_kind_name(SCRAPE_HEAP), "heap");
    assert_string_equal(scrape_kind_name(SCRAPE_GOROUTINE), "goroutine");
    assert_string_equal(scrape_kind_name(SCRAPE_GOROUTINE_LEAK), "goroutineleak");
    assert_string_equal(scrape_kind_name(SCRAPE_KIND_COUNT), "unknown");
}

static void test_invalid_urls(void **state)
{
    (void)state;
    struct scrape_limits lim = { .max_in_flight = 1 };
    struct scraper *sc = start(&lim);
    static const char *const bad[] = {
        "file:///etc/passwd", "FILE:///etc/passwd", "https://127.0.0.1/debug/vars",
        "ftp://127.0.0.1/", "gopher://127.0.0.1/", "dict://127.0.0.1:11211/stat",
        "127.0.0.1:6060/debug/vars", "/debug/vars", "", "http://",
        "http://127.0.0.1/debug vars",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct scrape_request req = { .target_id = 1, .kind = SCRAPE_VARS };
        snprintf(req.url, sizeof req.url, "%s", bad[i]);
        int rc = scrape_submit(sc, &req);
        if (rc != -EINVAL)
            print_error("\"%s\" gave %d\n", bad[i], rc);
        assert_int_equal(rc, -EINVAL);
    }
    /* Not NUL-terminated within url[]. */
    struct scrape_request req = { .target_id = 1, .kind = SCRAPE_VARS };
    memcpy(req.url, "http://127.0.0.1/", 17);
    memset(req.url + 17, 'a', sizeof req.url - 17);
    assert_int_equal(scrape_submit(sc, &req), -EINVAL);
    /* A kind out of range. */
    snprintf(req.url, sizeof req.url, "%s/ok/debug/vars", base_url);
    req.kind = SCRAPE_KIND_COUNT;
    assert_int_equal(scrape_submit(sc, &req), -EINVAL);
    req.kind = (enum scrape_kind)-1;
    assert_int_equal(scrape_submit(sc, &req), -EINVAL);

    /* None of that took the one slot. */
    req.kind = SCRAPE_VARS;
    assert_int_equal(scrape_submit(sc, &req), 0);
    scrape_stop(sc);
}

static void test_ok_vars(void **state)
{
    (void)state;
    struct scraper *sc = start(NULL);
    int64_t before = now_wall_ms();
    struct scrape_result *r = fetch(sc, SCRAPE_VARS, "/ok/debug/vars");
    expect_error(r, 0, 0);
    assert_int_equal(r->target_id, 7);
    assert_int_equal(r->kind, SCRAPE_VARS);
    char want[sizeof r->url];
    snprintf(want, sizeof want, "%s/ok/debug/vars", base_url);
    assert_string_equal(r->url, want);
    assert_int_equal(r->http_status, 200);
    assert_true(r->body_bytes > 1000);
    assert_true(r->started_wall_ms >= before && r->started_wall_ms <= now_wall_ms());
    assert_true(r->duration_ms >= 0 && r->duration_ms < 2000);
    assert_string_equal(r->message, "");
    assert_true(has(&r->stats, M_GO_HEAP_ALLOC));
    assert_true(r->stats.v[M_GO_HEAP_ALLOC] > 0);
    assert_null(r->profile);
    assert_null(r->raw);
    scrape_result_free(r);
    scrape_stop(sc);
}

static void test_ok_metrics(void **state)
{
    (void)state;
    struct scraper *sc = start(NULL);
    struct scrape_result *r = fetch(sc, SCRAPE_METRICS, "/ok/metrics");
    expect_error(r, 0, 0);
    assert_int_equal(r->http_status, 200);
    assert_true(has(&r->stats, M_GO_HEAP_ALLOC));
    assert_true(r->stats.v[M_GO_HEAP_ALLOC] > 0);
    assert_null(r->raw);
    scrape_result_free(r);
    scrape_stop(sc);
}

static void test_ok_profiles(void **state)
{
    (void)state;
    struct scraper *sc = start(NULL);

    struct scrape_result *r = fetch(sc, SCRAPE_HEAP, "/ok/debug/pprof/heap");
    expect_error(r, 0, 0);
    assert_non_null(r->profile);
    assert_int_equal(r->profile->kind, PPROF_HEAP);
    assert_true(r->profile->total[PV_ALLOC_BYTES] > 0);
    /* The body as received: still gzip. */
    assert_non_null(r->raw);
    assert_int_equal(r->raw_len, r->body_bytes);
    assert_true(r->raw_len > 2 && r->raw[0] == 0x1f && r->raw[1] == 0x8b);
    scrape_result_free(r);

    r = fetch(sc, SCRAPE_GOROUTINE, "/ok/debug/pprof/goroutine");
    expect_error(r, 0, 0);
    assert_non_null(r->profile);
    assert_int_equal(r->profile->kind, PPROF_GOROUTINE);
    assert_true(r->profile->total[PV_COUNT] >= 1);
    assert_non_null(r->raw);
    scrape_result_free(r);
    scrape_stop(sc);
}

struct hostile_case {
    enum scrape_kind kind;
    const char *path;
    int error, alt;                 /* alt: a parser may also answer this */
    long status;
    const char *message;            /* part of it; NULL: any */
};

/* Bodies that arrive in full and quickly; all at once, each must get its own answer. */
static void test_hostile_bodies(void **state)
{
    (void)state;
    static const struct hostile_case cases[] = {
        { SCRAPE_VARS, "/notjson", -EBADMSG, -EBADMSG, 200, NULL },
        { SCRAPE_VARS, "/truncjson", -EBADMSG, -EBADMSG, 200, NULL },
        { SCRAPE_VARS, "/wrongtypes", -EBADMSG, -EBADMSG, 200, NULL },
        { SCRAPE_VARS, "/html", -EBADMSG, -EBADMSG, 200, NULL },
        { SCRAPE_VARS, "/gzipenc", -EBADMSG, -EBADMSG, 200, NULL },     /* still gzip */
        { SCRAPE_METRICS, "/notjson", -EBADMSG, -EBADMSG, 200, NULL },
        { SCRAPE_METRICS, "/html", -EBADMSG, -EBADMSG, 200, NULL },
        { SCRAPE_HEAP, "/notjson", -EBADMSG, -EBADMSG, 200, NULL },
        { SCRAPE_HEAP, "/html", -EBADMSG, -EBADMSG, 200, NULL },
        { SCRAPE_HEAP, "/truncgzip", -EBADMSG, -EBADMSG, 200, NULL },
        { SCRAPE_GOROUTINE, "/truncgzip", -EBADMSG, -EBADMSG, 200, NULL },
        /* pprof.h: dangling indices are errors or skipped samples; never a crash. */
        { SCRAPE_HEAP, "/badproto", -EBADMSG, 0, 200, NULL },
        /* 3 GiB of zeros in 3 MB: the parser's inflate cap (64 MiB) stops it. */
        { SCRAPE_HEAP, "/gzipbomb", -EFBIG, -EBADMSG, 200, NULL },
        { SCRAPE_HEAP, "/gzipenc", -EFBIG, -EBADMSG, 200, NULL },
        { SCRAPE_VARS, "/status500", -EPROTO, -EPROTO, 500, "HTTP 500" },
        { SCRAPE_VARS, "/redirect", -EPROTO, -EPROTO, 302, "HTTP 302" },
        { SCRAPE_HEAP, "/redirect", -EPROTO, -EPROTO, 302, "not followed" },
        { SCRAPE_VARS, "/nope", -ENOENT, -ENOENT, 404, "HTTP 404" },
        { SCRAPE_GOROUTINE_LEAK, "/debug/pprof/goroutineleak", -ENOENT, -ENOENT, 404, NULL },
    };
    enum { N = sizeof cases / sizeof cases[0] };
    struct scraper *sc = start(NULL);
    struct scrape_result *res[N];

    reset_peak();
    int64_t peak0 = peak_rss();
    for (size_t i = 0; i < N; i++)
        assert_int_equal(submit(sc, (int64_t)i, cases[i].kind, cases[i].path), 0);
    assert_int_equal(collect(sc, res, N, 15000 * slow), N);
    int64_t peak = peak_rss() - peak0;

    bool seen[N] = { false };
    for (size_t i = 0; i < N; i++) {
        struct scrape_result *r = res[i];
        assert_true(r->target_id >= 0 && r->target_id < N);
        assert_false(seen[r->target_id]);
        seen[r->target_id] = true;
        const struct hostile_case *c = &cases[r->target_id];
        assert_int_equal(r->kind, c->kind);
        expect_error(r, c->error, c->alt);
        if (r->http_status != c->status)
            show(r);
        assert_int_equal(r->http_status, c->status);
        if (c->message)
            expect_message(r, c->message);
        if (r->error != 0) {
            assert_null(r->profile);
            assert_int_equal(r->stats.present, 0);
        }
        /* curl inflated nothing: what arrived is the 3 MB on the wire, not 3 GiB. */
        if (strcmp(c->path, "/gzipenc") == 0 || strcmp(c->path, "/gzipbomb") == 0)
            assert_in_range(r->body_bytes, 1 * MIB, 8 * MIB);
        /* A profile's body is kept as it came, even when it does not parse. */
        if (c->kind >= SCRAPE_HEAP && r->http_status == 200) {
            assert_non_null(r->raw);
            assert_int_equal(r->raw_len, r->body_bytes);
        } else {
            assert_null(r->raw);
        }
        scrape_result_free(r);
    }
    /* Two bombs under a 64 MiB inflate cap, not 3 GiB each. */
    print_message("# peak RSS grew by %" PRId64 " MiB\n", peak / MIB);
    if (slow == 1)
        assert_true(peak <= 512 * MIB);
    scrape_stop(sc);
}

/* 1 GiB bodies stop at the body cap within milliseconds, not at the timeout. */
static void test_huge(void **state)
{
    (void)state;
    struct scraper *sc = start(NULL);   /* 8 MiB cap, 2 s timeout */

    reset_peak();
    int64_t peak0 = peak_rss();
    struct scrape_result *r = fetch(sc, SCRAPE_VARS, "/huge");
    int64_t peak = peak_rss() - peak0;
    expect_error(r, -EFBIG, -EFBIG);
    assert_string_equal(r->message, "response larger than 8388608 bytes");
    assert_int_equal(r->http_status, 200);
    assert_true(r->body_bytes <= 8 * MIB);
    assert_true(r->duration_ms < 500 * slow);
    /* One 8 MiB buffer, doubled up to there: a few copies at most.  (Valgrind's shadow
     * memory makes RSS meaningless.) */
    print_message("# peak RSS grew by %" PRId64 " MiB\n", peak / MIB);
    if (slow == 1)
        assert_true(peak <= 48 * MIB);
    assert_null(r->raw);
    scrape_result_free(r);

    /* With a Content-Length, curl refuses before the first body byte. */
    r = fetch(sc, SCRAPE_HEAP, "/hugecl");
    expect_error(r, -EFBIG, -EFBIG);
    assert_string_equal(r->message, "response larger than 8388608 bytes");
    assert_int_equal(r->body_bytes, 0);
    assert_true(r->duration_ms < 500 * slow);
    assert_null(r->raw);
    scrape_result_free(r);
    scrape_stop(sc);

    /* A smaller cap, and a real page just over it. */
    struct scrape_limits lim = { .max_body = 1 * MIB };
    sc = start(&lim);
    r = fetch(sc, SCRAPE_HEAP, "/huge");
    expect_error(r, -EFBIG, -EFBIG);
    assert_string_equal(r->message, "response larger than 1048576 bytes");
    scrape_result_free(r);
    scrape_stop(sc);

    lim.max_body = 1000;
    sc = start(&lim);
    r = fetch(sc, SCRAPE_VARS, "/ok/debug/vars");
    expect_error(r, -EFBIG, -EFBIG);
    assert_string_equal(r->message, "response larger than 1000 bytes");
    assert_true(r->body_bytes <= 1000);
    assert_int_equal(r->stats.present, 0);
    scrape_result_free(r);
    scrape_stop(sc);
}

/* Slow in three ways, all at once: each ends at the 2 s timeout with -ETIMEDOUT. */
static void test_timeouts(void **state)
{
    (void)state;
    static const char *const paths[] = { "/stall", "/trickle", "/slowheaders" };
    enum { N = sizeof paths / sizeof paths[0] };
    struct scraper *sc = start(NULL);
    struct scrape_result *res[N];

    int64_t t0 = now_mono_ms();
    for (size_t i = 0; i < N; i++)
        assert_int_equal(submit(sc, (int64_t)i, SCRAPE_VARS, paths[i]), 0);
    assert_int_equal(collect(sc, res, N, 10000 * slow), N);
    int64_t elapsed = now_mono_ms() - t0;
    assert_true(elapsed >= 1900 && elapsed < 2000 + 1000 * slow);
    for (size_t i = 0; i < N; i++) {
        struct scrape_result *r = res[i];
        expect_error(r, -ETIMEDOUT, -ETIMEDOUT);
        expect_message(r, "timed out after 2000 ms");
        assert_in_range(r->duration_ms, 1900, 2000 + 1000 * slow);
        if (strcmp(paths[r->target_id], "/trickle") == 0) {
            /* Headers and a few bytes came: the timeout covers the whole transfer. */
            assert_int_equal(r->http_status, 200);
            assert_in_range(r->body_bytes, 1, 11);
        } else {
            assert_int_equal(r->http_status, 0);
            assert_int_equal(r->body_bytes, 0);
        }
        scrape_result_free(r);
    }
    scrape_stop(sc);
}

static void test_refused(void **state)
{
    (void)state;
    /* A port that was just free: bind, learn the number, close. */
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &alen), 0);
    close(s);

    struct scraper *sc = start(NULL);
    struct scrape_request req = { .target_id = 3, .kind = SCRAPE_VARS };
    snprintf(req.url, sizeof req.url, "http://127.0.0.1:%u/debug/vars", ntohs(a.sin_port));
    assert_int_equal(scrape_submit(sc, &req), 0);
    struct scrape_result *r = NULL;
    assert_int_equal(collect(sc, &r, 1, 5000 * slow), 1);
    expect_error(r, -ECONNREFUSED, -ECONNREFUSED);
    assert_string_equal(r->message, "connection refused");
    assert_int_equal(r->http_status, 0);
    assert_true(r->duration_ms < 200 * slow);
    scrape_result_free(r);
    scrape_stop(sc);
}

/* A stalled request to a server must not delay 20 others to the same server. */
static void test_isolation(void **state)
{
    (void)state;
    enum { N = 20 };
    struct scraper *sc = start(NULL);
    struct scrape_result *res[N];

    int64_t t0 = now_mono_ms();
    assert_int_equal(submit(sc, 0, SCRAPE_VARS, "/stall"), 0);
    for (int i = 1; i <= N; i++)
        assert_int_equal(submit(sc, i, SCRAPE_VARS, "/ok/debug/vars"), 0);
    size_t got = collect(sc, res, N, 1500 * slow);
    int64_t elapsed = now_mono_ms() - t0;
    print_message("# %zu good scrapes in %" PRId64 " ms next to a stalled one\n", got, elapsed);
    assert_int_equal(got, N);
    assert_true(elapsed < 200 * slow);
    for (size_t i = 0; i < got; i++) {
        assert_true(res[i]->target_id >= 1);    /* not the stalled one */
        expect_error(res[i], 0, 0);
        assert_int_equal(res[i]->http_status, 200);
        assert_true(has(&res[i]->stats, M_GO_HEAP_ALLOC));
        scrape_result_free(res[i]);
    }
    /* The stalled one is still running; scrape_stop abandons it. */
    assert_null(scrape_take(sc));
    scrape_stop(sc);
}

/* max_in_flight counts queued, running and unread results. */
static void test_busy(void **state)
{
    (void)state;
    struct scrape_limits lim = { .max_in_flight = 3 };
    struct scraper *sc = start(&lim);
    for (int i = 0; i < 3; i++)
        assert_int_equal(submit(sc, i, SCRAPE_VARS, "/stall"), 0);
    assert_int_equal(submit(sc, 3, SCRAPE_VARS, "/ok/debug/vars"), -EBUSY);
    scrape_stop(sc);

    lim.max_in_flight = 2;
    sc = start(&lim);
    assert_int_equal(submit(sc, 1, SCRAPE_VARS, "/ok/debug/vars"), 0);
    assert_int_equal(submit(sc, 2, SCRAPE_VARS, "/nope"), 0);
    /* Wait until both results are published but leave them unread: the event fd counts
     * published results, and reading it (instead of scrape_take) takes nothing away. */
    uint64_t published = 0;
    int64_t deadline = now_mono_ms() + 5000 * slow;
    while (published < 2 && now_mono_ms() < deadline) {
        struct pollfd p = { .fd = scrape_event_fd(sc), .events = POLLIN };
        uint64_t n;
        if (poll(&p, 1, 100) == 1 && read(p.fd, &n, sizeof n) == sizeof n)
            published += n;
    }
    assert_int_equal(published, 2);
    assert_int_equal(submit(sc, 3, SCRAPE_VARS, "/ok/debug/vars"), -EBUSY);
    struct scrape_result *r = scrape_take(sc);
    assert_non_null(r);
    scrape_result_free(r);
    assert_int_equal(submit(sc, 3, SCRAPE_VARS, "/ok/debug/vars"), 0);
    assert_int_equal(submit(sc, 4, SCRAPE_VARS, "/ok/debug/vars"), -EBUSY);
    scrape_stop(sc);      /* one unread result, one running or done */
}

/* Readable exactly while results wait; non-blocking and close-on-exec. */
static void test_event_fd(void **state)
{
    (void)state;
    struct scraper *sc = start(NULL);
    int fd = scrape_event_fd(sc);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    struct pollfd p = { .fd = fd, .events = POLLIN };
    assert_int_equal(poll(&p, 1, 0), 0);
    assert_null(scrape_take(sc));

    assert_int_equal(submit(sc, 1, SCRAPE_VARS, "/ok/debug/vars"), 0);
    assert_int_equal(submit(sc, 2, SCRAPE_VARS, "/status500"), 0);
    struct scrape_result *r[2];
    assert_int_equal(poll(&p, 1, (int)(5000 * slow)), 1);
    assert_int_equal(collect(sc, r, 2, 5000 * slow), 2);
    assert_int_equal(poll(&p, 1, 0), 0);        /* drained with the last result */
    assert_null(scrape_take(sc));
    scrape_result_free(r[0]);
    scrape_result_free(r[1]);
    scrape_stop(sc);
}

/* scrape_stop with work everywhere: queued, connecting, stalled, streaming, and unread. */
static void test_stop_in_flight(void **state)
{
    (void)state;
    struct scrape_limits lim = { .max_body = 64 * MIB, .timeout_ms = 30000 };
    struct scraper *sc = start(&lim);
    static const char *const paths[] = {
        "/stall", "/trickle", "/slowheaders", "/huge", "/hugecl", "/gzipbomb",
        "/ok/debug/vars", "/ok/debug/pprof/heap", "/ok/debug/pprof/goroutine",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        assert_int_equal(submit(sc, (int64_t)i, i == 7 ? SCRAPE_HEAP : SCRAPE_VARS, paths[i]),
                         0);
    usleep(200 * 1000);
    /* And some the worker has not picked up yet. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(submit(sc, 100 + i, SCRAPE_GOROUTINE, "/ok/debug/pprof/goroutine"), 0);

    int64_t t0 = now_mono_ms();
    scrape_stop(sc);
    int64_t took = now_mono_ms() - t0;
    print_message("# scrape_stop took %" PRId64 " ms\n", took);
    assert_true(took < 500 * slow);

    /* Start and stop with nothing to do. */
    sc = start(NULL);
    scrape_stop(sc);
    scrape_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_invalid_urls),
        cmocka_unit_test(test_ok_vars),
        cmocka_unit_test(test_ok_metrics),
        cmocka_unit_test(test_ok_profiles),
        cmocka_unit_test(test_hostile_bodies),
        cmocka_unit_test(test_huge),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_isolation),
        cmocka_unit_test(test_busy),
        cmocka_unit_test(test_event_fd),
        cmocka_unit_test(test_stop_in_flight),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
