/* test_deliver.c - alert delivery (daemon/deliver.c) against a real HTTP receiver: a small
 * server thread in this process that records every request and can answer an error N
 * times, for one alert only, or hang until told.
 *
 * Exercises: the memwatch payload (method, path, Content-Type, User-Agent, the JSON) and
 * the Alertmanager payload (labels, string annotations, startsAt/endsAt in RFC 3339,
 * generatorURL), its re-sends while firing and their end once resolved; retries with
 * exponential backoff, then success, each attempt in the log; a 400 not retried, 429 and
 * 408 retried; max_attempts; a hanging receiver timing out while deliver_submit() returns
 * at once (measured); order per alert (a resolved never overtakes its firing; another
 * alert's notification does not wait); a full queue dropping its oldest; a reload keeping
 * queued notifications on their receiver; the exec hook's environment (MEMWATCH_*, the
 * whitelist, nothing of systemd's), its output in the log, its exit status, SIGTERM and
 * SIGKILL at the timeout, its process group killed, no descriptor inherited, children
 * reaped with the daemon's signal setup, default signal dispositions and an empty mask;
 * the journal's fields, and "delivered to nobody" without journald; deliver_close()
 * within its grace (an attempt cut short logged once); bad configurations refused;
 * deliver_config_of().  Run it under valgrind for the leak half of that.
 *
 * It includes deliver.c itself, to reach the journal's field list. */
#include "deliver.c"

#include <dirent.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/signalfd.h>
#include <cmocka.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

/* Time limits are stretched under valgrind, which runs everything 10-50 times slower. */
static int64_t slow = 1;

#define WAIT_FOR(cond, ms) ({                                                   \
    int64_t end_ = now_mono_ms() + (int64_t)(ms) * slow;                        \
    bool ok_;                                                                   \
    while (!(ok_ = (cond)) && now_mono_ms() < end_)                             \
        usleep(5 * 1000);                                                       \
    ok_;                                                                        \
})

static struct deliver_stats stats_of(struct deliver *d)
{
    struct deliver_stats s;
    deliver_get_stats(d, &s);
    return s;
}

#define WEB(d) (stats_of(d).receiver[DELIVER_WEBHOOK])
#define EXEC(d) (stats_of(d).receiver[DELIVER_EXEC])
#define JOURNAL(d) (stats_of(d).receiver[DELIVER_JOURNAL])

/* ---- the receiver ---------------------------------------------------------------------- */

#define MAX_REQUESTS 64

struct request {
    char method[16], path[256], content_type[128], user_agent[128];
    char *body;
    json_t *json;
    int64_t id;                 /* alert.id of a memwatch payload; -1 otherwise */
    char state[16];             /* its status, or for Alertmanager firing/resolved by endsAt */
    int64_t at_mono;
    int status;                 /* what we answered; 0: nothing (the client went away) */
};

struct server {
    int listen_fd, stop_fd;
    pthread_t thread;
    char url[128];
    pthread_mutex_t lock;
    struct request req[MAX_REQUESTS];
    size_t n;
    /* Behaviour, under lock. */
    int fail_n;                 /* answer fail_status this many more times... */
    int fail_status;
    int64_t fail_id;            /* ... to requests about this alert (0: any) */
    bool hold;                  /* answer nothing while set */
    char retry_after[16];
};

static size_t server_count(struct server *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->n;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static void server_set(struct server *s, int fail_n, int status, int64_t fail_id, bool hold)
{
    pthread_mutex_lock(&s->lock);
    s->fail_n = fail_n;
    s->fail_status = status;
    s->fail_id = fail_id;
    s->hold = hold;
    pthread_mutex_unlock(&s->lock);
}

static bool stopping(struct server *s)
{
    struct pollfd p = { .fd = s->stop_fd, .events = POLLIN };
    return poll(&p, 1, 0) > 0;
}

/* Reads one request: headers, then Content-Length bytes of body.  NULL if the client went
 * away or we are stopping. */
static char *read_request(struct server *s, int fd, size_t *hdr_len, size_t *body_len)
{
    size_t cap = 64 * 1024, len = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            *hdr_len = (size_t)(end - buf) + 4;
            char *cl = strcasestr(buf, "\r\nContent-Length:");
            size_t want = cl ? strtoul(cl + 17, NULL, 10) : 0;
            if (len >= *hdr_len + want) {
                *body_len = want;
                return buf;
            }
        }
        if (len == cap) {
            cap *= 2;
            buf = xreallocarray(buf, cap + 1, 1);
        }
        struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
                               { .fd = s->stop_fd, .events = POLLIN } };
        if (poll(p, 2, 5000) <= 0 || p[1].revents)
            break;
        ssize_t r = read(fd, buf + len, cap - len);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    free(buf);
    return NULL;
}

static void header(const char *hdrs, const char *name, char *out, size_t len)
{
    out[0] = '\0';
    char key[64];
    snprintf(key, sizeof key, "\r\n%s:", name);
    const char *p = strcasestr(hdrs, key);
    if (!p)
        return;
    p += strlen(key);
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, "\r\n");
    snprintf(out, len, "%.*s", (int)n, p);
}

static void handle(struct server *s, int fd)
{
    size_t hl = 0, bl = 0;
    char *buf = read_request(s, fd, &hl, &bl);
    if (!buf)
        return;
    struct request r = { .id = -1, .at_mono = now_mono_ms() };
    sscanf(buf, "%15s %255s", r.method, r.path);
    buf[hl - 2] = '\0';         /* the headers end with their last \r\n */
    header(buf, "Content-Type", r.content_type, sizeof r.content_type);
    header(buf, "User-Agent", r.user_agent, sizeof r.user_agent);
    r.body = xasprintf("%.*s", (int)bl, buf + hl);
    free(buf);
    r.json = json_loads(r.body, 0, NULL);
    if (json_is_object(r.json)) {
        r.id = json_integer_value(json_object_get(json_object_get(r.json, "alert"), "id"));
        snprintf(r.state, sizeof r.state, "%s",
                 json_string_value(json_object_get(r.json, "status")) ?: "");
    } else if (json_is_array(r.json)) {
        snprintf(r.state, sizeof r.state, "%s",
                 json_object_get(json_array_get(r.json, 0), "endsAt") ? "resolved" : "firing");
    }

    pthread_mutex_lock(&s->lock);
    size_t idx = s->n < MAX_REQUESTS ? s->n++ : MAX_REQUESTS - 1;
    if (s->req[idx].body) {                 /* overflow: overwrite the last */
        free(s->req[idx].body);
        json_decref(s->req[idx].json);
    }
    s->req[idx] = r;
    /* Hang while told to; give up when the client does. */
    while (s->hold) {
        pthread_mutex_unlock(&s->lock);
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char c;
        if ((poll(&p, 1, 20) > 0 && recv(fd, &c, 1, MSG_PEEK) <= 0) || stopping(s))
            return;
        pthread_mutex_lock(&s->lock);
    }
    int status = 200;
    if (s->fail_n > 0 && (s->fail_id == 0 || s->fail_id == r.id)) {
        s->fail_n--;
        status = s->fail_status;
    }
    s->req[idx].status = status;
    char extra[64] = "";
    if (s->retry_after[0])
        snprintf(extra, sizeof extra, "Retry-After: %s\r\n", s->retry_after);
    pthread_mutex_unlock(&s->lock);

    const char *text = status == 200 ? "ok" : "oops, not now";
    char *resp = xasprintf("HTTP/1.1 %d X\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                           "Connection: close\r\n%s\r\n%s", status, strlen(text), extra, text);
    (void)!write(fd, resp, strlen(resp));
    free(resp);
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    for (;;) {
        struct pollfd p[2] = { { .fd = s->listen_fd, .events = POLLIN },
                               { .fd = s->stop_fd, .events = POLLIN } };
        if (poll(p, 2, -1) < 0 || p[1].revents)
            break;
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        handle(s, fd);
        close(fd);
    }
    return NULL;
}

static struct server *server_start(void)
{
    struct server *s = xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->listen_fd >= 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(s->listen_fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(s->listen_fd, 16), 0);
    socklen_t sl = sizeof sa;
    getsockname(s->listen_fd, (struct sockaddr *)&sa, &sl);
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    s->stop_fd = eventfd(0, EFD_CLOEXEC);
    assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
    return s;
}

static void server_stop(struct server *s)
{
    uint64_t one = 1;
    (void)!write(s->stop_fd, &one, sizeof one);
    pthread_join(s->thread, NULL);
    for (size_t i = 0; i < s->n; i++) {
        free(s->req[i].body);
        json_decref(s->req[i].json);
    }
    close(s->listen_fd);
    close(s->stop_fd);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---- fixtures -------------------------------------------------------------------------- */

#define FIRED_MS 1790000600123LL
#define RESOLVED_MS 1790003600000LL

static struct alert make_alert(int64_t id, enum alert_state state)
{
    struct alert a;
    memset(&a, 0, sizeof a);
    a.id = id;
    a.target_id = 7;
    snprintf(a.target, sizeof a.target, "api");
    snprintf(a.kind, sizeof a.kind, "heap");
    a.state = state;
    a.started_ms = FIRED_MS - 600000;
    a.fired_ms = FIRED_MS;
    a.resolved_ms = state == ALERT_RESOLVED ? RESOLVED_MS : 0;
    a.since_ms = state == ALERT_RESOLVED ? RESOLVED_MS : FIRED_MS;
    a.updated_ms = a.since_ms;
    a.growth_per_hour = 125829120;
    a.confidence = 0.97;
    a.window_from_ms = FIRED_MS - 1800000;
    a.window_to_ms = FIRED_MS;
    a.level = 5e8;
    a.limit_bytes = 8589934592.0;
    snprintf(a.limit_source, sizeof a.limit_source, "MemTotal");
    a.seconds_to_limit = 18000;
    a.n_culprits = 2;
    struct alert_culprit *c = &a.culprits[0];
    snprintf(c->function, sizeof c->function, "main.(*sessionStore).put");
    snprintf(c->file, sizeof c->file, "/src/app/leaks.go");
    c->line = 40;
    snprintf(c->leaf_function, sizeof c->leaf_function, "bytes.growSlice");
    snprintf(c->leaf_file, sizeof c->leaf_file, "/usr/lib/go/src/bytes/buffer.go");
    c->leaf_line = 10;
    c->growth_bytes = 83886080;
    c->growth_count = 12345;
    c = &a.culprits[1];
    snprintf(c->function, sizeof c->function, "main.cacheFill");
    snprintf(c->file, sizeof c->file, "/src/app/cache.go");
    c->line = 77;
    c->growth_bytes = 1048576;
    c->growth_count = 10;
    alert_summarize(&a);
    return a;
}

static struct deliver_config test_config(void)
{
    struct deliver_config c;
    deliver_config_default(&c);
    c.journal = false;
    c.timeout_ms = 2000 * slow;
    c.max_attempts = 5;
    c.retry_initial_ms = 50;
    c.retry_max_ms = 400;
    c.queue_max = 16;
    c.alertmanager_resend_ms = 0;
    return c;
}

static struct deliver *open_ok(const struct deliver_config *c)
{
    struct deliver *d = NULL;
    char *err = NULL;
    int r = deliver_open(c, &d, &err);
    if (r < 0)
        fail_msg("deliver_open: %s", err);
    return d;
}

/* stderr into a file, for tests that read the log. */
struct capture {
    int saved;
    char path[64];
};

static void capture_start(struct capture *c)
{
    fflush(stderr);
    snprintf(c->path, sizeof c->path, "/tmp/mwdeliver-log-XXXXXX");
    int fd = mkostemp(c->path, O_CLOEXEC);
    assert_true(fd >= 0);
    c->saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    dup2(fd, STDERR_FILENO);
    close(fd);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    char *buf = xmalloc(1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static char *capture_end(struct capture *c)
{
    fflush(stderr);
    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    char *text = slurp(c->path);
    unlink(c->path);
    fputs(text, stderr);        /* still in the test's log */
    return text;
}

static char *temp_dir(void)
{
    char *dir = xstrdup("/tmp/mwdeliver-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void remove_dir(char *dir)
{
    DIR *dp = opendir(dir);
    struct dirent *e;
    while (dp && (e = readdir(dp)))
        if (e->d_name[0] != '.') {
            char *p = xasprintf("%s/%s", dir, e->d_name);
            unlink(p);
            free(p);
        }
    if (dp)
        closedir(dp);
    rmdir(dir);
    free(dir);
}

/* ---- the webhook ----------------------------------------------------------------------- */

static void test_memwatch_payload(void **state)
{
    struct server *s = server_start();
    struct deliver_config c = test_config();
    snprintf(c.webhook_url, sizeof c.webhook_url, "%s/hook?token=secret", s->url);
    struct deliver *d = open_ok(&c);
    struct alert a = make_alert(1, ALERT_FIRING);
    deliver_submit(d, &a);
    assert_true(WAIT_FOR(WEB(d).delivered == 1, 3000));

    assert_int_equal(server_count(s), 1);
    struct request *r = &s->req[0];
    assert_string_equal(r->method, "POST");
    assert_string_equal(r->path, "/hook?token=secret");
    assert_string_equal(r->content_type, "application/json");
    assert_string_equal(r->user_agent, "memwatch/" PACKAGE_VERSION);
    assert_non_null(r->json);
    assert_int_equal(json_integer_value(json_object_get(r->json, "version")), 1);
    assert_string_equal(json_string_value(json_object_get(r->json, "status")), "firing");
    json_t *al = json_object_get(r->json, "alert");
    assert_int_equal(json_integer_value(json_object_get(al, "id")), 1);
    assert_string_equal(json_string_value(json_object_get(al, "target")), "api");
    assert_string_equal(json_string_value(json_object_get(al, "kind")), "heap");
    assert_string_equal(json_string_value(json_object_get(al, "state")), "firing");
    assert_string_equal(json_string_value(json_object_get(al, "summary")), a.summary);
    json_t *cs = json_object_get(al, "culprits");
    assert_int_equal(json_array_size(cs), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(cs, 0), "function")),
                        "main.(*sessionStore).put");
    /* The whole alert is alert_to_json()'s, key for key. */
    json_t *want = alert_to_json(&a);
    assert_true(json_equal(al, want));
    json_decref(want);
    struct deliver_stats st = stats_of(d);
    assert_int_equal(st.submitted, 1);
    assert_int_equal(st.receiver[DELIVER_WEBHOOK].attempts, 1);
    assert_int_equal(st.receiver[DELIVER_WEBHOOK].waiting, 0);
    assert_int_equal(st.receiver[DELIVER_EXEC].attempts, 0);
    deliver_close(d, 1000);
    server_stop(s);
}

static void test_alertmanager_payload(void **state)
{
    struct server *s = server_start();
    struct deliver_config c = test_config();
    snprintf(c.webhook_url, sizeof c.webhook_url, "%s/api/v2/alerts", s->url);
    c.webhook_format = DELIVER_ALERTMANAGER;
    snprintf(c.external_url, sizeof c.external_url, "http://mw.example:7464/");
    struct deliver *d = open_ok(&c);
    struct alert a = make_alert(3, ALERT_FIRING), b = make_alert(3, ALERT_RESOLVED);
    deliver_submit(d, &a);
    deliver_submit(d, &b);
    assert_true(WAIT_FOR(WEB(d).delivered == 2, 3000));
    assert_int_equal(server_count(s), 2);
    char host[256] = "";
    gethostname(host, sizeof host - 1);

    for (int i = 0; i < 2; i++) {
        struct request *r = &s->req[i];
        assert_string_equal(r->path, "/api/v2/alerts");
        assert_string_equal(r->content_type, "application/json");
        assert_true(json_is_array(r->json));
        assert_int_equal(json_array_size(r->json), 1);
        json_t *o = json_array_get(r->json, 0);
        json_t *labels = json_object_get(o, "labels");
        assert_int_equal(json_object_size(labels), 5);
        assert_string_equal(json_string_value(json_object_get(labels, "alertname")), "MemoryLeak");
        assert_string_equal(json_string_value(json_object_get(labels, "target")), "api");
        assert_string_equal(json_string_value(json_object_get(labels, "kind")), "heap");
        assert_string_equal(json_string_value(json_object_get(labels, "instance")), host);
        assert_string_equal(json_string_value(json_object_get(labels, "job")), "memwatch");
        json_t *ann = json_object_get(o, "annotations");
        const char *key;
        json_t *v;
        json_object_foreach(ann, key, v)
            if (!json_is_string(v))
                fail_msg("annotation %s is not a string (Alertmanager's LabelSet)", key);
        assert_string_equal(json_string_value(json_object_get(ann, "summary")),
                            i == 0 ? a.summary : b.summary);
        const char *desc = json_string_value(json_object_get(ann, "description"));
        assert_non_null(desc);
        assert_non_null(strstr(desc, "main.(*sessionStore).put (/src/app/leaks.go:40)"));
        assert_non_null(strstr(desc, "main.cacheFill (/src/app/cache.go:77)"));
        assert_string_equal(json_string_value(json_object_get(ann, "growth_per_hour")),
                            "125829120");
        assert_string_equal(json_string_value(json_object_get(ann, "confidence")), "0.97");
        assert_string_equal(json_string_value(json_object_get(o, "startsAt")),
                            "2026-09-21T14:23:20.123Z");
        assert_string_equal(json_string_value(json_object_get(o, "generatorURL")),
                            "http://mw.example:7464/api/v1/alerts");
        if (i == 0)
            assert_null(json_object_get(o, "endsAt"));     /* firing: no end known */
        else
            assert_string_equal(json_string_value(json_object_get(o, "endsAt")),
                                "2026-09-21T15:13:20.000Z");
        /* Nothing else: postableAlert has exactly these. */
        json_object_foreach(o, key, v)
            if (strcmp(key, "labels") && strcmp(key, "annotations") && strcmp(key, "startsAt") &&
                strcmp(key, "endsAt") && strcmp(key, "generatorURL"))
                fail_msg("unexpected field %s", key);
    }
    deliver_close(d, 1000);
    server_stop(s);
}

/* Alertmanager resolves what it has not heard of for resolve_timeout: firing alerts are
 * sent again until resolved, and not after. */
static void test_alertmanager_resend(void **state)
{
    struct server *s = server_start();
    struct deliver_config c = test_config();
    snprintf(c.webhook_url, sizeof c.webhook_url, "%s/api/v2/alerts", s->url);
    c.webhook_format = DELIVER_ALERTMANAGER;
    c.alertmanager_resend_ms = 100 * slow;
    struct deliver *d = open_ok(&c);
    struct alert a = make_alert(4, ALERT_FIRING), b = make_alert(4, ALERT_RESOLVED);
    deliver_submit(d, &a);
    assert_true(WAIT_FOR(WEB(d).resent >= 2, 3000));
    deliver_submit(d, &b);
    assert_true(WAIT_FOR(WEB(d).delivered == 2, 3000));
    size_t n = server_count(s);
    assert_string_equal(s->req[n - 1].state, "resolved");
    for (size_t i = 0; i < n - 1; i++)
        assert_string_equal(s->req[i].state, "firing");
    usleep((useconds_t)(400 * 1000 * slow));
    assert_int_equal(server_count(s), n);       /* no re-send once resolved */
    deliver_close(d, 1000);
    server_stop(s);
}

static void test_retry_backoff(void **state)
{
    struct server *s = server_start();
    server_set(s, 3, 500, 0, false);
    struct deliver_config c = test_config();
    snprintf(c.webhook_url, sizeof c.webhook_url, "%s/hook", s->url);
    c.retry_initial_ms = 100;
    c.retry_max_ms = 250;
    struct capture cap;
    capture_start(&cap);
    struct deliver *d = open_ok(&c);
    struct alert a = make_alert(5, ALERT_FIRING);
    deliver_submit(d, &a);
    bool ok = WAIT_FOR(WEB(d).delivered == 1, 5000);
    deliver_close(d, 1000);
    char *log = capture_end(&cap);
    assert_true(ok);

    assert_int_equal(server_count(s), 4);
    assert_int_equal(s->req[0].status, 500);
    assert_int_equal(s->req[3].status, 200);
    /* 100 ms, doubled to 200, capped at 250. */
    static const int64_t want[] = { 100, 200, 250 };
    for (int i = 0; i < 3; i++) {
        int64_t gap = s->req[i + 1].at_mono - s->req[i].at_mono;
        if (gap < want[i] - 5 || gap > want[i] + 500 * slow)
            fail_msg("gap %d: %lld ms, wanted about %lld", i, (long long)gap, (long long)want[i]);
    }
    /* Every attempt is in the log, with receiver, alert, outcome and the next retry. */
    const char *need[] = {
        "webhook http://127.0.0.1:",
        "alert 5 (api, heap, firing) failed (attempt 1 of 5): HTTP 500 \"oops, not now\"; "
        "next attempt in 100ms, at ",
        "failed (attempt 2 of 5): HTTP 500 \"oops, not now\"; next attempt in 200ms",
        "failed (attempt 3 of 5): HTTP 500 \"oops, not now\"; next attempt in 250ms",
        "alert 5 (api, heap, firing) delivered (attempt 4 of 5): HTTP 200",
    };
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (!strstr(log, need[i]))
            fail_msg("not in the log: %s", need[i]);
    assert_null(strstr(log, "/hook"));          /* the URL's path (secrets) stays out */
    free(log);
    server_stop(s);
}

static void test_refused_not_retried(void **state)
{
    struct server *s = server_start();
    server_set(s, 100, 400, 0, false);
    struct deliver_config c = test_config();
    snprintf(c.webhook_url, sizeof c.webhook_url, "%s/hook", s->url);
    struct deliver *d = open_ok(&c);
    struct alert a = make_alert(6, ALERT_FIRING);
    deliver_submit(d, &a);
    assert_true(WAIT_FOR(WEB(d).failed == 1, 3000));
    usleep((useconds_t)(300 * 1000));           /* 6 retry intervals */
    assert_int_equal(server_count(s), 1);
    assert_int_equal(WEB(d).attempts, 1);

    /* 429 (with Retry-After) and 408 are worth another try. */
    server_set(s, 1, 429, 0, false);
    snprintf(s->retry_after, sizeof s->retry_after, "0");
    a.id = 7;
    deliver_submit(d, &a);
    assert_true(WAIT_FOR(WEB(d).delivered == 1, 3000));
    server_set(s, 1, 408, 0, false);
    a.id = 8;
    deliver_submit(d, &a);
    assert_true(WAIT_FOR(WEB(d).delivered == 2, 3000));
    assert_int_equal(server_count(s), 5);
    assert_int_equal(WEB(d).failed, 1);
    deliver_close(d, 1000);
    server_stop(s);
}

static void test_max_attempts(void **state)
{
    struct server *s = server_start();
    server_set(s, 1000, 503, 0, false);
    struct deliver_config c = test_config();
    snprintf(c.webhook_url, sizeof c.webhook_url, "%s/hook", s->url);
    c.max_attempts = 3;
    c.retry_initial_ms = 20;
    struct deliver *d = open_ok(&c);
    struct alert a = make_alert(9, ALERT_FIRING);
    deliver_submit(d, &a);
    assert_true(WAIT_FOR(WEB(d).failed == 1, 3000));
    assert_int_equal(server_count(s), 3);
    assert_int_equal(WEB(d).attempts, 3);
    assert_int_equal(WEB(d).waiting, 0);
    deliver_close(d, 1000);
    server_stop(s);
}

/* A receiver that never answers costs each attempt its timeout, on the delivery thread;
 * deliver_submit() does not notice, and deliver_close() abandons the attempt. */
static void test_hanging_receiver(void **state)
{
    struct server *s = server_start();
    server_set(s, 0, 0, 0, true);
    struct deliver_config c = test_config();
    snprintf(c.webhook_url, sizeof c.webhook_url, "%s/hook", s->url);
    c.timeout_ms = 300;
    c.max_attempts = 2;
    c.queue_max = 256;
    struct deliver *d = open_ok(&c);
    struct alert a = make_alert(10, ALERT_FIRING);

    int64_t t0 = now_mono_ms();
    deliver_submit(d, &a);
    assert_true(WAIT_FOR(server_count(s) == 1, 3000));
    /* Now the lane is stuck in a request: submitting costs what it always costs. */
    int64_t worst_us = 0, t1 = now_mono_ms();
    for (int i = 0; i < 100; i++) {
        struct timespec x, y;
        a.id = 100 + i;
        clock_gettime(CLOCK_MONOTONIC, &x);
        deliver_submit(d, &a);
        clock_gettime(CLOCK_MONOTONIC, &y);
        int64_t us = (y.tv_sec - x.tv_sec) * 1000000 + (y.tv_nsec - x.tv_nsec) / 1000;
        if (us > worst_us)
            worst_us = us;
    }
    int64_t all_ms = now_mono_ms() - t1;
    print_message("100 submits while the receiver hangs: %lld ms, the slowest %lld us\n",
                  (long long)all_ms, (long long)worst_us);
    assert_true(all_ms < 100 * slow);
    assert_true(worst_us < 20000 * slow);

    /* Alert 10: two attempts of 300 ms, 50 ms apart; then given up. */
    assert_true(WAIT_FOR(WEB(d).failed >= 1, 3000));
    int64_t took = now_mono_ms() - t0;
    assert_true(took >= 600);
    assert_int_equal(WEB(d).dropped, 0);

    struct capture cap;
    capture_start(&cap);
    int64_t c0 = now_mono_ms();
    deliver_close(d, 100);
    int64_t close_ms = now_mono_ms() - c0;
    char *log = capture_end(&cap);
    print_message("deliver_close(100 ms) with a request hanging: %lld ms\n", (long long)close_ms);
    assert_true(close_ms < 100 + 400 * slow);
    /* The attempt cut short says so once, without promising another. */
    assert_non_null(strstr(log, "): request abandoned; memwatchd is stopping"));
    assert_null(strstr(log, "request abandoned; next attempt"));
    free(log);
    server_stop(s);
}

static int index_of(struct server *s, int64_t id, const char *state, bool last)
{
    int found = -1;
    for (size_t i = 0; i < s->n; i++)
        if (s->req[i].id == id && strcmp(s->req[i].state, state) == 0 &&
            s->req[i].status == 200) {
            found = (int)i;
            if (!last)
                break;
        }
    return found;
}

static void test_order_per_alert(void **state)
{
    struct server *s = server_start();
    server_set(s, 2, 500, 11, false);       /* alert 11 fails twice */
    struct deliver_config c = test_config();
    snprintf(c.webhook_url, sizeof c.webhook_url, "%s/hook", s->url);
    c.retry_initial_ms = 150;
    struct deliver *d = open_ok(&c);
    struct alert f = make_alert(11, ALERT_FIRING), r = make_alert(11, ALERT_RESOLVED);
    struct alert other = make_alert(12, ALERT_FIRING);
    deliver_submit(d, &f);
    deliver_submit(d, &r);
    deliver_submit(d, &other);
    assert_true(WAIT_FOR(WEB(d).delivered == 3, 5000));
    assert_int_equal(server_count(s), 5);
    int fired = index_of(s, 11, "firing", true), resolved = index_of(s, 11, "resolved", false);
    int o = index_of(s, 12, "firing", false);
    assert_true(fired >= 0 && resolved >= 0 && o >= 0);
    assert_true(resolved > fired);          /* the resolved waited for its firing */
    assert_int_equal(o, 1);                 /* the other alert did not wait for the retries */
    assert_int_equal(s->req[0].id, 11);
    assert_int_equal(s->req[0].status, 500);
    deliver_close(d, 1000);
    server_stop(s);
}

static void test_queue_overflow(void **state)
{
    struct server *s = server_start();
    server_set(s, 0, 0, 0, true);
    struct deliver_config c = test_config();
    snprintf(c.webhook_url, sizeof c.webhook_url, "%s/hook", s->url);
    c.timeout_ms = 5000 * slow;
    c.queue_max = 4;
    struct capture cap;
    capture_start(&cap);
    struct deliver *d = open_ok(&c);
    struct alert a = make_alert(1, ALERT_FIRING);
    deliver_submit(d, &a);
    bool ok = WAIT_FOR(server_count(s) == 1, 3000);       /* 1 is being attempted */
    for (int id = 2; id <= 10; id++) {
        a.id = id;
        deliver_submit(d, &a);
    }
    struct deliver_stats st = stats_of(d);
    server_set(s, 0, 0, 0, false);
    ok = ok && WAIT_FOR(WEB(d).delivered == 5, 5000);
    deliver_close(d, 1000);
    char *log = capture_end(&cap);
    assert_true(ok);
    assert_int_equal(st.receiver[DELIVER_WEBHOOK].dropped, 5);     /* 2..6 */
    assert_int_equal(st.receiver[DELIVER_WEBHOOK].waiting, 5);     /* 1 running, 7..10 */
    static const int64_t want[] = { 1, 7, 8, 9, 10 };
    assert_int_equal(server_count(s), 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(s->req[i].id, want[i]);
    assert_non_null(strstr(log, "queue full (4 waiting): dropped alert 2 (api, heap, firing)"));
    assert_non_null(strstr(log, "dropped alert 6 (api, heap, firing)"));
    assert_null(strstr(log, "dropped alert 7 "));
    free(log);
    server_stop(s);
}

static void test_reconfigure(void **state)
{
    struct server *sa = server_start(), *sb = server_start();
    server_set(sa, 1, 500, 21, false);
    struct deliver_config c = test_config();
    snprintf(c.webhook_url, sizeof c.webhook_url, "%s/hook", sa->url);
    c.retry_initial_ms = 200;
    struct deliver *d = open_ok(&c);
    struct alert a = make_alert(21, ALERT_FIRING);
    deliver_submit(d, &a);
    assert_true(WAIT_FOR(server_count(sa) == 1, 3000));
    snprintf(c.webhook_url, sizeof c.webhook_url, "%s/hook", sb->url);
    deliver_set_config(d, &c);
    a.id = 22;
    deliver_submit(d, &a);
    assert_true(WAIT_FOR(WEB(d).delivered == 2, 3000));
    /* 21 was queued for A and stays there; 22 goes to B. */
    assert_int_equal(server_count(sa), 2);
    assert_int_equal(sa->req[1].id, 21);
    assert_int_equal(sa->req[1].status, 200);
    assert_int_equal(server_count(sb), 1);
    assert_int_equal(sb->req[0].id, 22);
    deliver_close(d, 1000);
    server_stop(sa);
    server_stop(sb);
}

/* ---- the exec hook --------------------------------------------------------------------- */

/* NAME's value in env's output, or NULL. */
static char *env_value(const char *env, const char *name)
{
    size_t n = strlen(name);
    for (const char *line = env; *line; line += strcspn(line, "\n"), line += *line == '\n')
        if (strncmp(line, name, n) == 0 && line[n] == '=')
            return xasprintf("%.*s", (int)strcspn(line + n + 1, "\n"), line + n + 1);
    return NULL;
}

static void assert_env(const char *env, const char *name, const char *want)
{
    char *v = env_value(env, name);
    if (!v || strcmp(v, want) != 0)
        fail_msg("%s=%s, wanted %s", name, v ? v : "(unset)", want);
    free(v);
}

static void test_exec_env(void **state)
{
    char *dir = temp_dir();
    setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
    setenv("LISTEN_FDS", "1", 1);
    setenv("MEMWATCH_TARGET", "not-this-one", 1);
    struct deliver_config c = test_config();
    snprintf(c.exec_command, sizeof c.exec_command,
             "env > '%s/env'; echo hello from the hook; echo oops >&2; exit 0", dir);
    struct capture cap;
    capture_start(&cap);
    struct deliver *d = open_ok(&c);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("LISTEN_FDS");
    unsetenv("MEMWATCH_TARGET");
    struct alert a = make_alert(31, ALERT_FIRING);
    deliver_submit(d, &a);
    bool ok = WAIT_FOR(EXEC(d).delivered == 1, 3000);
    deliver_close(d, 1000);
    char *log = capture_end(&cap);
    assert_true(ok);

    char *path = xasprintf("%s/env", dir);
    char *env = slurp(path);
    free(path);
    assert_non_null(env);
    assert_env(env, "MEMWATCH_ALERT_ID", "31");
    assert_env(env, "MEMWATCH_TARGET", "api");
    assert_env(env, "MEMWATCH_KIND", "heap");
    assert_env(env, "MEMWATCH_STATE", "firing");
    assert_env(env, "MEMWATCH_SUMMARY", a.summary);
    assert_env(env, "MEMWATCH_GROWTH_PER_HOUR", "125829120");
    assert_env(env, "MEMWATCH_CONFIDENCE", "0.97");
    assert_env(env, "MEMWATCH_SINCE", "1790000600");
    assert_env(env, "MEMWATCH_CULPRIT", "main.(*sessionStore).put /src/app/leaks.go:40");
    char *cj = env_value(env, "MEMWATCH_CULPRITS_JSON"), *aj = env_value(env, "MEMWATCH_JSON");
    assert_non_null(cj);
    assert_non_null(aj);
    json_t *culprits = json_loads(cj, 0, NULL), *all = json_loads(aj, 0, NULL);
    assert_int_equal(json_array_size(culprits), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(culprits, 1), "function")),
                        "main.cacheFill");
    assert_int_equal(json_integer_value(json_object_get(all, "id")), 31);
    assert_string_equal(json_string_value(json_object_get(all, "state")), "firing");
    json_decref(culprits);
    json_decref(all);
    free(cj);
    free(aj);
    /* The daemon's plumbing stays behind; PATH comes along. */
    char *v;
    assert_non_null(v = env_value(env, "PATH"));
    free(v);
    assert_null(env_value(env, "NOTIFY_SOCKET"));
    assert_null(env_value(env, "LISTEN_FDS"));
    assert_null(strstr(env, "not-this-one"));

    assert_non_null(strstr(log, "exec hook, alert 31: hello from the hook"));
    assert_non_null(strstr(log, "exec hook, alert 31: oops"));
    assert_non_null(strstr(log, "exec hook: alert 31 (api, heap, firing) delivered "
                                "(attempt 1 of 5): exit status 0"));
    free(log);
    free(env);
    remove_dir(dir);
}

static void test_exec_failure_retried(void **state)
{
    struct deliver_config c = test_config();
    snprintf(c.exec_command, sizeof c.exec_command, "exit 3");
    c.max_attempts = 2;
    c.retry_initial_ms = 30;
    struct capture cap;
    capture_start(&cap);
    struct deliver *d = open_ok(&c);
    struct alert a = make_alert(32, ALERT_RESOLVED);
    deliver_submit(d, &a);
    bool ok = WAIT_FOR(EXEC(d).failed == 1, 3000);
    int attempts = (int)EXEC(d).attempts;
    deliver_close(d, 1000);
    char *log = capture_end(&cap);
    assert_true(ok);
    assert_int_equal(attempts, 2);
    assert_non_null(strstr(log, "exec hook: alert 32 (api, heap, resolved) failed "
                                "(attempt 1 of 2): exit status 3; next attempt in 30ms"));
    assert_non_null(strstr(log, "failed (attempt 2 of 2): exit status 3; giving up"));
    free(log);
}

static bool gone_or_zombie(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    char *st = slurp(path);
    if (!st)
        return true;
    const char *p = strrchr(st, ')');
    bool z = p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
    free(st);
    return z;
}

static void test_exec_timeout_kills(void **state)
{
    char *dir = temp_dir();
    struct deliver_config c = test_config();
    c.timeout_ms = 300;
    c.max_attempts = 1;

    /* A command that ends at SIGTERM. */
    snprintf(c.exec_command, sizeof c.exec_command, "sleep 30");
    struct capture cap;
    capture_start(&cap);
    struct deliver *d = open_ok(&c);
    struct alert a = make_alert(33, ALERT_FIRING);
    int64_t t0 = now_mono_ms();
    deliver_submit(d, &a);
    bool ok = WAIT_FOR(EXEC(d).failed == 1, 3000);
    int64_t took = now_mono_ms() - t0;
    deliver_close(d, 1000);
    char *log = capture_end(&cap);
    assert_true(ok);
    print_message("sleep 30 with a 300 ms timeout: failed after %lld ms\n", (long long)took);
    assert_true(took >= 300 && took < 300 + 700 * slow);
    assert_non_null(strstr(log, "timed out after 300ms; killed (SIGTERM); giving up"));
    free(log);

    /* One that ignores it, with a child of its own: SIGKILL for the whole group. */
    snprintf(c.exec_command, sizeof c.exec_command,
             "trap '' TERM; sleep 30 & echo $! > '%s/pid'; wait", dir);
    capture_start(&cap);
    d = open_ok(&c);
    t0 = now_mono_ms();
    deliver_submit(d, &a);
    ok = WAIT_FOR(EXEC(d).failed == 1, 3000);
    took = now_mono_ms() - t0;
    deliver_close(d, 1000);
    log = capture_end(&cap);
    assert_true(ok);
    print_message("a command ignoring SIGTERM: failed after %lld ms\n", (long long)took);
    assert_true(took >= 600 && took < 600 + 700 * slow);
    assert_non_null(strstr(log, "timed out after 300ms; killed (SIGKILL)"));
    free(log);
    char *path = xasprintf("%s/pid", dir);
    char *pid = slurp(path);
    free(path);
    assert_non_null(pid);
    assert_true(WAIT_FOR(gone_or_zombie((pid_t)atoi(pid)), 2000));   /* the background sleep */
    free(pid);
    remove_dir(dir);
}

static void test_exec_no_fds_inherited(void **state)
{
    char *dir = temp_dir();
    int stray = open("/dev/null", O_RDONLY);            /* deliberately without O_CLOEXEC */
    assert_true(stray >= 3);
    struct server *s = server_start();
    struct deliver_config c = test_config();
    snprintf(c.webhook_url, sizeof c.webhook_url, "%s/hook", s->url);     /* curl's sockets */
    snprintf(c.exec_command, sizeof c.exec_command, "ls -l /proc/self/fd > '%s/fds'", dir);
    struct deliver *d = open_ok(&c);
    struct alert a = make_alert(34, ALERT_FIRING);
    deliver_submit(d, &a);
    assert_true(WAIT_FOR(EXEC(d).delivered == 1 && WEB(d).delivered == 1, 3000));
    deliver_close(d, 1000);
    server_stop(s);
    close(stray);

    char *path = xasprintf("%s/fds", dir);
    char *fds = slurp(path);
    free(path);
    assert_non_null(fds);
    /* ls itself: 0 /dev/null, 1 the file, 2 the pipe to the log, 3 the directory it reads. */
    int n = 0;
    for (char *line = strtok(fds, "\n"); line; line = strtok(NULL, "\n")) {
        const char *arrow = strstr(line, " -> ");
        if (!arrow)
            continue;
        const char *num = arrow;
        while (num > line && num[-1] != ' ')
            num--;
        int fd = atoi(num);
        n++;
        if (fd > 3)
            fail_msg("the hook inherited descriptor %d: %s", fd, line);
        if (fd == 0)
            assert_non_null(strstr(arrow, "/dev/null"));
        if (fd == 2)
            assert_non_null(strstr(arrow, "pipe:"));
    }
    assert_true(n >= 3 && n <= 4);
    free(fds);
    remove_dir(dir);
}

/* The daemon's signal setup: SIGTERM, SIGINT and SIGHUP blocked and read from a signalfd by
 * the main thread, SIGCHLD left alone.  Hooks' exit statuses come through, and no child is
 * left unreaped. */
static void test_exec_children_reaped(void **state)
{
    sigset_t mask, old;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, &old);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    assert_true(sfd >= 0);
    struct sigaction sa;
    sigaction(SIGCHLD, NULL, &sa);
    assert_true(sa.sa_handler == SIG_DFL);

    struct deliver_config c = test_config();
    snprintf(c.exec_command, sizeof c.exec_command,
             "[ \"$MEMWATCH_ALERT_ID\" = 41 ] && exit 0; (sleep 0.05; exit 0) & exit 5");
    c.max_attempts = 1;
    struct deliver *d = open_ok(&c);
    for (int id = 41; id <= 44; id++) {
        struct alert a = make_alert(id, ALERT_FIRING);
        deliver_submit(d, &a);
    }
    assert_true(WAIT_FOR(EXEC(d).delivered == 1 && EXEC(d).failed == 3, 5000));
    deliver_close(d, 1000);
    /* Our children, the hooks' shells, are all reaped (their own background children are
     * not ours: they go to init). */
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    struct signalfd_siginfo si;
    assert_true(read(sfd, &si, sizeof si) < 0);         /* nothing of ours arrived there */
    close(sfd);
    sigprocmask(SIG_SETMASK, &old, NULL);
}

/* memwatchd ignores SIGPIPE, and an ignored signal stays ignored across exec: the hook gets
 * default dispositions (a "cmd | head" in it must end as usual) and an empty mask. */
static void test_exec_signals_default(void **state)
{
    struct sigaction ign = { .sa_handler = SIG_IGN }, old;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &old);
    struct deliver_config c = test_config();
    snprintf(c.exec_command, sizeof c.exec_command,
             "grep -q '^SigBlk:[[:space:]]*0*$' /proc/self/status || exit 7; "
             "kill -PIPE $$; exit 0");
    c.max_attempts = 1;
    struct capture cap;
    capture_start(&cap);
    struct deliver *d = open_ok(&c);
    struct alert a = make_alert(45, ALERT_FIRING);
    deliver_submit(d, &a);
    bool ok = WAIT_FOR(EXEC(d).failed == 1, 3000);
    deliver_close(d, 1000);
    char *log = capture_end(&cap);
    sigaction(SIGPIPE, &old, NULL);
    assert_true(ok);
    assert_non_null(strstr(log, "alert 45 (api, heap, firing) failed (attempt 1 of 1): killed by "
                                "signal 13"));
    free(log);
}

/* ---- the journal ----------------------------------------------------------------------- */

static bool has_field(char **f, size_t n, const char *want)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i], want) == 0)
            return true;
    return false;
}

static bool has_name(char **f, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strncmp(f[i], name, strlen(name)) == 0 && f[i][strlen(name)] == '=')
            return true;
    return false;
}

static void free_fields(char **f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(f[i]);
}

static void test_journal_fields(void **state)
{
    struct alert a = make_alert(51, ALERT_FIRING);
    char *f[JOURNAL_FIELDS_MAX], *want;
    size_t n = journal_fields(&a, f);
    want = xasprintf("MESSAGE=%s", a.summary);
    assert_true(has_field(f, n, want));
    free(want);
    assert_true(has_field(f, n, "PRIORITY=4"));
    assert_true(has_field(f, n, "MESSAGE_ID=2cb5904cc8dc4a9f97edf749a6894621"));
    assert_true(has_field(f, n, "MEMWATCH_ALERT_ID=51"));
    assert_true(has_field(f, n, "MEMWATCH_TARGET=api"));
    assert_true(has_field(f, n, "MEMWATCH_KIND=heap"));
    assert_true(has_field(f, n, "MEMWATCH_STATE=firing"));
    assert_true(has_field(f, n, "MEMWATCH_GROWTH_PER_HOUR=125829120"));
    assert_true(has_field(f, n, "MEMWATCH_CONFIDENCE=0.97"));
    assert_true(has_field(f, n, "MEMWATCH_CULPRIT=main.(*sessionStore).put /src/app/leaks.go:40"));
    assert_true(has_field(f, n, "MEMWATCH_SECONDS_TO_LIMIT=18000"));
    free_fields(f, n);

    a = make_alert(52, ALERT_RESOLVED);
    a.n_culprits = 0;
    a.seconds_to_limit = -1;
    n = journal_fields(&a, f);
    assert_true(has_field(f, n, "PRIORITY=5"));
    assert_true(has_field(f, n, "MEMWATCH_STATE=resolved"));
    assert_false(has_name(f, n, "MEMWATCH_CULPRIT"));
    assert_false(has_name(f, n, "MEMWATCH_SECONDS_TO_LIMIT"));
    free_fields(f, n);
}

/* Without journald (a terminal, a container) a notification goes to nobody, at once. */
static void test_journal_without_journald(void **state)
{
    struct deliver_config c = test_config();
    c.journal = true;
    struct deliver *d = open_ok(&c);
    struct alert a = make_alert(53, ALERT_FIRING);
    deliver_submit(d, &a);
    deliver_submit(d, &a);
    assert_true(WAIT_FOR(JOURNAL(d).nobody + JOURNAL(d).delivered == 2, 3000));
    struct stat st;
    if (stat(JOURNAL_SOCKET, &st) < 0)
        assert_int_equal(JOURNAL(d).nobody, 2);
    assert_int_equal(JOURNAL(d).attempts, 2);
    assert_int_equal(JOURNAL(d).failed, 0);
    assert_int_equal(JOURNAL(d).waiting, 0);
    deliver_close(d, 1000);
}

/* ---- lifecycle and configuration ------------------------------------------------------- */

static void test_close_grace(void **state)
{
    struct server *s = server_start();
    struct deliver_config c = test_config();
    snprintf(c.webhook_url, sizeof c.webhook_url, "%s/hook", s->url);

    /* What can go out within the grace does. */
    struct deliver *d = open_ok(&c);
    for (int id = 61; id <= 63; id++) {
        struct alert a = make_alert(id, ALERT_FIRING);
        deliver_submit(d, &a);
    }
    int64_t t0 = now_mono_ms();
    deliver_close(d, 2000 * slow);
    int64_t took = now_mono_ms() - t0;
    assert_int_equal(server_count(s), 3);
    assert_true(took < 1000 * slow);

    /* A retry due after the grace is not waited for. */
    server_set(s, 1000, 500, 0, false);
    c.retry_initial_ms = 10000;
    struct capture cap;
    capture_start(&cap);
    d = open_ok(&c);
    struct alert a = make_alert(64, ALERT_FIRING);
    deliver_submit(d, &a);
    bool ok = WAIT_FOR(WEB(d).attempts == 1 && server_count(s) == 4, 3000);
    usleep(20 * 1000);
    t0 = now_mono_ms();
    deliver_close(d, 500);
    took = now_mono_ms() - t0;
    char *log = capture_end(&cap);
    assert_true(ok);
    print_message("close with a retry due in 10 s, grace 500 ms: %lld ms\n", (long long)took);
    assert_true(took < 200 * slow);
    assert_non_null(strstr(log, "alert 64 (api, heap, firing) not delivered: memwatchd is "
                                "stopping (attempts made: 1)"));
    free(log);
    server_stop(s);
}

static void test_open_rejects(void **state)
{
    struct deliver_config c = test_config();
    struct deliver *d = NULL;
    char *err = NULL;
    snprintf(c.webhook_url, sizeof c.webhook_url, "ftp://example.com/x");
    assert_int_equal(deliver_open(&c, &d, &err), -EINVAL);
    assert_null(d);
    assert_non_null(strstr(err, "webhook"));
    free(err);
    c = test_config();
    c.max_attempts = 0;
    assert_int_equal(deliver_open(&c, &d, &err), -EINVAL);
    free(err);
    c = test_config();
    c.queue_max = 0;
    assert_int_equal(deliver_open(&c, &d, &err), -EINVAL);
    free(err);

    /* NULL is nothing; a pending alert is no notification. */
    struct alert a = make_alert(71, ALERT_PENDING);
    deliver_submit(NULL, &a);
    deliver_set_config(NULL, &c);
    deliver_close(NULL, 0);
    c = test_config();
    d = open_ok(&c);
    deliver_submit(d, &a);
    assert_int_equal(stats_of(d).submitted, 0);
    /* A reload with a URL that cannot work leaves the webhook out, not the daemon. */
    snprintf(c.webhook_url, sizeof c.webhook_url, "gopher://x");
    deliver_set_config(d, &c);
    a.state = ALERT_FIRING;
    deliver_submit(d, &a);
    assert_int_equal(stats_of(d).submitted, 1);
    assert_int_equal(WEB(d).waiting + WEB(d).attempts, 0);
    deliver_close(d, 0);
}

static void test_config_of(void **state)
{
    struct mw_config mc;
    conf_defaults(&mc);
    struct deliver_config c = deliver_config_of(&mc, 7464);
    assert_true(c.journal);
    assert_string_equal(c.webhook_url, "");
    assert_int_equal(c.webhook_format, DELIVER_MEMWATCH);
    assert_string_equal(c.exec_command, "");
    assert_int_equal(c.timeout_ms, 10000);
    assert_int_equal(c.max_attempts, 8);
    assert_int_equal(c.retry_initial_ms, 5000);
    assert_int_equal(c.retry_max_ms, 300000);
    assert_int_equal(c.queue_max, 256);
    assert_int_equal(c.alertmanager_resend_ms, 60000);
    assert_string_equal(c.external_url, "http://127.0.0.1:7464");
    char *err = NULL;
    assert_int_equal(conf_set(&mc, "daemon", "listen", "[::1]:0", &err), 0);
    c = deliver_config_of(&mc, 40001);
    assert_string_equal(c.external_url, "http://[::1]:40001");
    assert_int_equal(conf_set(&mc, "alerts", "webhook_format", "alertmanager", &err), 0);
    assert_int_equal(conf_set(&mc, "alerts", "external_url", "https://mw.example.com", &err), 0);
    assert_int_equal(
        conf_set(&mc, "alerts", "webhook", "http://127.0.0.1:9093/api/v2/alerts", &err), 0);
    assert_int_equal(
        conf_set(&mc, "alerts", "exec", "logger -t memwatch \"$MEMWATCH_SUMMARY\"", &err), 0);
    c = deliver_config_of(&mc, 40001);
    assert_int_equal(c.webhook_format, DELIVER_ALERTMANAGER);
    assert_string_equal(c.external_url, "https://mw.example.com");
    assert_string_equal(c.webhook_url, "http://127.0.0.1:9093/api/v2/alerts");
    assert_string_equal(c.exec_command, "logger -t memwatch \"$MEMWATCH_SUMMARY\"");
    /* What the file allows, deliver_open() takes. */
    struct deliver *d = NULL;
    c.journal = false;
    assert_int_equal(deliver_open(&c, &d, &err), 0);
    deliver_close(d, 0);
}

int main(void)
{
    if (RUNNING_ON_VALGRIND)
        slow = 10;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memwatch_payload),
        cmocka_unit_test(test_alertmanager_payload),
        cmocka_unit_test(test_alertmanager_resend),
        cmocka_unit_test(test_retry_backoff),
        cmocka_unit_test(test_refused_not_retried),
        cmocka_unit_test(test_max_attempts),
        cmocka_unit_test(test_hanging_receiver),
        cmocka_unit_test(test_order_per_alert),
        cmocka_unit_test(test_queue_overflow),
        cmocka_unit_test(test_reconfigure),
        cmocka_unit_test(test_exec_env),
        cmocka_unit_test(test_exec_failure_retried),
        cmocka_unit_test(test_exec_timeout_kills),
        cmocka_unit_test(test_exec_no_fds_inherited),
        cmocka_unit_test(test_exec_children_reaped),
        cmocka_unit_test(test_exec_signals_default),
        cmocka_unit_test(test_journal_fields),
        cmocka_unit_test(test_journal_without_journald),
        cmocka_unit_test(test_close_grace),
        cmocka_unit_test(test_open_rejects),
        cmocka_unit_test(test_config_of),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
