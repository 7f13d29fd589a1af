/* deliver.c - alert notifications to the journal, a webhook and an exec hook (see deliver.h).
 *
 * DESIGN
 * One lane per receiver (journal, webhook, exec), each a thread of its own with its own
 * queue, so a webhook that hangs for its whole timeout delays neither the journal nor the
 * hook, and an attempt can simply block: curl on the webhook lane, a child's run on the exec
 * lane.  The main thread's part is deliver_submit(): copy the alert once into a "note"
 * (shared by the lanes, reference-counted), append a job per configured receiver, write the
 * lanes' eventfds, return.  It takes one mutex, which the lanes hold only to look at their
 * queues, never during an attempt or while logging.
 *
 * A job is one notification for one receiver: the note, the configuration it was queued
 * under (a reference-counted snapshot, so a reload does not redirect queued notifications),
 * attempts made and when the next is due.  A lane picks the oldest due job that is the first
 * of its alert in the queue ("head"), so one alert's notifications keep their order while
 * another alert's go ahead; a failed attempt puts its job back with the next due time
 * (retry_initial_ms doubling up to retry_max_ms, or a later Retry-After).  A full queue
 * drops its oldest waiting job (never the one being attempted).
 *
 * Stopping: deliver_close() sets a deadline; lanes keep delivering what is due before it
 * and leave as soon as nothing more can be done by then.  An attempt running at the
 * deadline is abandoned: the lane's eventfd wakes curl_multi_poll() or the exec loop's
 * poll(), which read the deadline (an atomic) each time round.
 *
 * The webhook runs one easy handle in a multi handle, not curl_easy_perform(), only so that
 * the eventfd can interrupt it; connections stay cached in the multi handle between attempts.
 *
 * The exec hook: posix_spawn() of /bin/sh -c COMMAND in a process group of its own, with an
 * empty signal mask and default dispositions (the lane thread blocks every signal and the
 * daemon ignores SIGPIPE; a child must inherit neither), stdin /dev/null, stdout and stderr
 * a pipe whose lines are logged at info (a hook's complaint is worth seeing in the journal;
 * at most OUTPUT_LOG_MAX bytes a run, the rest read and counted), every other descriptor
 * closed (O_CLOEXEC everywhere, and closefrom in the child for what a library forgot).  The
 * lane waits for the child through a pidfd and reaps it with waitpid() on that pid only;
 * SIGCHLD keeps its default disposition (the main thread's signalfd takes SIGTERM, SIGINT
 * and SIGHUP only), so no other code can reap it first.  At the timeout the group gets
 * SIGTERM, then SIGKILL up to a second later. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <systemd/sd-journal.h>

#include "api_paths.h"
#include "conf.h"
#include "curlglobal.h"
#include "deliver.h"
#include "log.h"
#include "util.h"

extern char **environ;

/* journalctl MESSAGE_ID=... finds every memwatch alert; made once with systemd-id128 new. */
#define MEMWATCH_ALERT_MESSAGE_ID "2cb5904cc8dc4a9f97edf749a6894621"
/* Where sd_journal_send() sends.  It returns 0 when nothing listens there ("fail silently
 * if the journal is not available"), so we look for the socket ourselves. */
#define JOURNAL_SOCKET "/run/systemd/journal/socket"
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* After SIGTERM a command has min(timeout, this) to exit before SIGKILL. */
#define KILL_GRACE_MAX_MS 1000
/* A command's output logged per run; more is read and counted, not logged. */
#define OUTPUT_LOG_MAX 4096
/* JSON as we send it: 15 significant digits print 0.97 as 0.97, not 0.96999999999999997. */
#define JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))
/* Of a webhook's response to a failed request, this much is quoted in the log. */
#define BODY_QUOTE_MAX 200

/* ---- data ---------------------------------------------------------------------------- */

/* One configuration, shared by the jobs queued under it. */
struct snapshot {
    atomic_uint refs;
    struct deliver_config cfg;
    char hostname[256];
    char webhook_where[320];    /* "https://host:port": the URL without path or secrets */
};

/* One notification: the alert as submitted, shared by its jobs. */
struct note {
    atomic_uint refs;
    struct alert alert;
};

struct job {
    TAILQ_ENTRY(job) link;
    enum deliver_receiver kind;
    struct note *note;
    struct snapshot *snap;
    int attempts;               /* made so far */
    int max_attempts;
    bool resend;                /* an Alertmanager re-send of a firing alert */
    bool head;                  /* the first job of its alert in the lane: may be attempted */
    int64_t due_mono;
    int64_t queued_mono;
};

TAILQ_HEAD(job_list, job);

struct deliver;

struct lane {
    struct deliver *d;
    enum deliver_receiver kind;
    int wake_fd;                /* eventfd: a job, a new configuration, or stop */
    pthread_t thread;
    bool started;
    struct job_list jobs;       /* d->lock; oldest first */
    size_t n_jobs;              /* d->lock */
    struct job *current;        /* d->lock; being attempted, still in jobs */
    /* Lane thread only. */
    CURLM *multi;
    CURL *easy;
    bool no_journal_logged;
};

/* An alert last notified as firing, for Alertmanager re-sends. */
struct firing {
    struct note *note;
    int64_t next_mono;
};

struct deliver {
    pthread_mutex_t lock;
    struct snapshot *snap;              /* lock: the current configuration */
    struct lane lanes[DELIVER_RECEIVERS];
    bool stopping;                      /* lock */
    _Atomic int64_t stop_at_mono;       /* INT64_MAX until deliver_close */
    struct deliver_stats stats;         /* lock; waiting is computed */
    struct firing *firing;              /* lock */
    size_t n_firing, cap_firing;
    char **base_env;                    /* the daemon's environment that commands get */
};

enum result { OUT_OK, OUT_NOBODY, OUT_RETRY, OUT_REFUSED };

struct outcome {
    enum result result;
    char what[400];             /* "HTTP 500 \"oops\"", "exit status 3", ... */
    int64_t retry_after_ms;     /* the receiver asked to wait this long; 0: no opinion */
    bool cut_short;             /* abandoned at deliver_close()'s deadline */
};

static const char *const receiver_names[DELIVER_RECEIVERS] = { "journal", "webhook", "exec" };

const char *deliver_receiver_name(enum deliver_receiver r)
{
    return (unsigned)r < DELIVER_RECEIVERS ? receiver_names[r] : "unknown";
}

/* ---- small helpers --------------------------------------------------------------------- */

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static struct snapshot *snapshot_ref(struct snapshot *s)
{
    atomic_fetch_add(&s->refs, 1);
    return s;
}

static void snapshot_unref(struct snapshot *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1)
        free(s);
}

static struct note *note_ref(struct note *n)
{
    atomic_fetch_add(&n->refs, 1);
    return n;
}

static void note_unref(struct note *n)
{
    if (n && atomic_fetch_sub(&n->refs, 1) == 1)
        free(n);
}

static void job_free(struct job *j)
{
    if (!j)
        return;
    note_unref(j->note);
    snapshot_unref(j->snap);
    free(j);
}

static void wake(struct lane *l)
{
    static const uint64_t one = 1;
    (void)!write(l->wake_fd, &one, sizeof one);     /* EAGAIN only at 2^64-2: still awake */
}

static void drain(int fd)
{
    uint64_t n;
    (void)!read(fd, &n, sizeof n);
}

/* "alert 12 (api, heap, firing)" */
static const char *alert_words(const struct alert *a, char *buf, size_t len)
{
    snprintf(buf, len, "alert %lld (%s, %s, %s)", (long long)a->id, a->target, a->kind,
             alert_state_name(a->state));
    return buf;
}

/* "journal", "webhook https://host:8080", "exec hook" */
static const char *receiver_words(const struct job *j, char *buf, size_t len)
{
    if (j->kind == DELIVER_WEBHOOK)
        snprintf(buf, len, "webhook %s", j->snap->webhook_where);
    else if (j->kind == DELIVER_EXEC)
        snprintf(buf, len, "exec hook");
    else
        snprintf(buf, len, "journal");
    return buf;
}

/* A JSON string of text that should be UTF-8; bytes that are not become '?'. */
static json_t *text_json(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    char *copy = xstrdup(s);
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

/* RFC 3339 in UTC with milliseconds: "2026-11-22T03:01:49.123Z". */
static void rfc3339(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03dZ", (int)(ms % 1000));
}

/* "function file:line" of the first culprit, or "" */
static void first_culprit(const struct alert *a, char *buf, size_t len)
{
    buf[0] = '\0';
    if (a->n_culprits == 0)
        return;
    const struct alert_culprit *c = &a->culprits[0];
    if (c->line > 0)
        snprintf(buf, len, "%s %s:%lld", c->function, c->file, (long long)c->line);
    else
        snprintf(buf, len, "%s %s", c->function, c->file);
}

/* ---- configuration ------------------------------------------------------------------- */

void deliver_config_default(struct deliver_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->journal = true;
    cfg->webhook_format = DELIVER_MEMWATCH;
    cfg->timeout_ms = 10 * 1000;
    cfg->max_attempts = 8;
    cfg->retry_initial_ms = 5 * 1000;
    cfg->retry_max_ms = 5 * 60 * 1000;
    cfg->queue_max = 256;
    cfg->alertmanager_resend_ms = 60 * 1000;
}

struct deliver_config deliver_config_of(const struct mw_config *cfg, unsigned api_port)
{
    struct deliver_config dc;
    deliver_config_default(&dc);
    dc.journal = cfg->alerts_journal;
    snprintf(dc.webhook_url, sizeof dc.webhook_url, "%s", cfg->alerts_webhook);
    dc.webhook_format = cfg->alerts_webhook_format == 1 ? DELIVER_ALERTMANAGER : DELIVER_MEMWATCH;
    snprintf(dc.exec_command, sizeof dc.exec_command, "%s", cfg->alerts_exec);
    dc.timeout_ms = cfg->alerts_timeout_ms;
    dc.max_attempts = (int)cfg->alerts_max_attempts;
    dc.retry_initial_ms = cfg->alerts_retry_initial_ms;
    dc.retry_max_ms = cfg->alerts_retry_max_ms;
    dc.queue_max = (size_t)cfg->alerts_queue_max;
    if (cfg->alerts_external_url[0]) {
        snprintf(dc.external_url, sizeof dc.external_url, "%s", cfg->alerts_external_url);
    } else {
        /* A wildcard address is no place to link to; the host name is the best guess. */
        char host[200];     /* a host name is at most 64 (HOST_NAME_MAX) */
        snprintf(host, sizeof host, "%s", cfg->listen_host);
        if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) {
            if (gethostname(host, sizeof host - 1) < 0)
                snprintf(host, sizeof host, "localhost");
            host[sizeof host - 1] = '\0';
        }
        bool v6 = strchr(host, ':') != NULL;
        snprintf(dc.external_url, sizeof dc.external_url, "http://%s%s%s:%u", v6 ? "[" : "", host,
                 v6 ? "]" : "", api_port);
    }
    return dc;
}

/* An http:// or https:// URL with a host, as libcurl parses it; *where gets
 * "scheme://host[:port]" for the log (no user, password, path or query: those may be
 * secrets, as in chat services' webhook URLs). */
static bool webhook_url_ok(const char *url, char *where, size_t len)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    bool ok = false;

    if (!u)
        return false;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        ok = (strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0) &&
             host[0] != '\0';
        if (ok && where) {
            if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK)
                snprintf(where, len, "%s://%s:%s", scheme, host, port);
            else
                snprintf(where, len, "%s://%s", scheme, host);
        }
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ok;
}

/* NULL if cfg can work, else why not. */
static const char *config_problem(const struct deliver_config *c)
{
    if (!memchr(c->webhook_url, '\0', sizeof c->webhook_url) ||
        !memchr(c->exec_command, '\0', sizeof c->exec_command) ||
        !memchr(c->external_url, '\0', sizeof c->external_url))
        return "a string is not terminated";
    if (c->webhook_url[0] && !webhook_url_ok(c->webhook_url, NULL, 0))
        return "the webhook is not an http:// or https:// URL";
    if (c->webhook_format != DELIVER_MEMWATCH && c->webhook_format != DELIVER_ALERTMANAGER)
        return "unknown webhook format";
    if (c->timeout_ms <= 0)
        return "the timeout must be positive";
    if (c->max_attempts < 1)
        return "max_attempts must be at least 1";
    if (c->retry_initial_ms <= 0 || c->retry_max_ms <= 0)
        return "retry delays must be positive";
    if (c->queue_max < 1)
        return "queue_max must be at least 1";
    if (c->alertmanager_resend_ms < 0)
        return "alertmanager_resend_ms must not be negative";
    return NULL;
}

static struct snapshot *snapshot_new(const struct deliver_config *cfg)
{
    struct snapshot *s = xcalloc(1, sizeof *s);
    atomic_init(&s->refs, 1);
    s->cfg = *cfg;
    if (s->cfg.webhook_url[0] &&
        !webhook_url_ok(s->cfg.webhook_url, s->webhook_where, sizeof s->webhook_where))
        s->cfg.webhook_url[0] = '\0';       /* config_problem() said so already */
    if (gethostname(s->hostname, sizeof s->hostname - 1) < 0 || !s->hostname[0])
        snprintf(s->hostname, sizeof s->hostname, "localhost");
    return s;
}

static bool receiver_on(const struct snapshot *s, enum deliver_receiver r)
{
    switch (r) {
    case DELIVER_JOURNAL: return s->cfg.journal;
    case DELIVER_WEBHOOK: return s->cfg.webhook_url[0] != '\0';
    case DELIVER_EXEC: return s->cfg.exec_command[0] != '\0';
    default: return false;
    }
}

static void log_receivers(const char *how, const struct snapshot *s)
{
    const char *format = !s->cfg.webhook_url[0] ? ""
                         : s->cfg.webhook_format == DELIVER_ALERTMANAGER ? " (alertmanager)"
                                                                         : " (memwatch)";
    char t[32];
    log_info("%s: journal %s, webhook %s%s, exec hook %s; up to %d attempt%s, timeout %s",
             how, s->cfg.journal ? "on" : "off", s->cfg.webhook_url[0] ? s->webhook_where : "off",
             format, s->cfg.exec_command[0] ? "on" : "off", s->cfg.max_attempts,
             s->cfg.max_attempts == 1 ? "" : "s",
             format_duration_ms(s->cfg.timeout_ms, t, sizeof t));
}

/* ---- queues (all under d->lock) ------------------------------------------------------ */

static bool lane_has_alert(const struct lane *l, int64_t id)
{
    const struct job *j;
    TAILQ_FOREACH(j, &l->jobs, link)
        if (j->note->alert.id == id)
            return true;
    return false;
}

static void lane_remove(struct lane *l, struct job *j)
{
    if (j->head) {
        /* The next notification of the same alert may go now. */
        for (struct job *n = TAILQ_NEXT(j, link); n; n = TAILQ_NEXT(n, link))
            if (n->note->alert.id == j->note->alert.id) {
                n->head = true;
                break;
            }
    }
    TAILQ_REMOVE(&l->jobs, j, link);
    l->n_jobs--;
}

/* Appends a job; if the queue is full, its oldest waiting job moves to *dropped. */
static void lane_add(struct deliver *d, struct lane *l, struct note *n, struct snapshot *s,
                     bool resend, int64_t now, struct job_list *dropped)
{
    size_t waiting = l->n_jobs - (l->current ? 1 : 0);
    while (waiting >= s->cfg.queue_max) {
        struct job *old = TAILQ_FIRST(&l->jobs);
        if (old == l->current)
            old = TAILQ_NEXT(old, link);
        if (!old)
            break;
        lane_remove(l, old);
        TAILQ_INSERT_TAIL(dropped, old, link);
        d->stats.receiver[l->kind].dropped++;
        waiting--;
    }
    struct job *j = xcalloc(1, sizeof *j);
    j->kind = l->kind;
    j->note = note_ref(n);
    j->snap = snapshot_ref(s);
    j->max_attempts = resend ? 1 : s->cfg.max_attempts;
    j->resend = resend;
    j->head = !lane_has_alert(l, n->alert.id);
    j->due_mono = now;
    j->queued_mono = now;
    TAILQ_INSERT_TAIL(&l->jobs, j, link);
    l->n_jobs++;
}

/* The oldest due job that is the first of its alert; else NULL, and *wake lowered to when
 * the next one is due. */
static struct job *lane_pick(struct lane *l, int64_t now, int64_t *wake)
{
    struct job *j;
    TAILQ_FOREACH(j, &l->jobs, link) {
        if (!j->head)
            continue;
        if (j->due_mono <= now)
            return j;
        if (j->due_mono < *wake)
            *wake = j->due_mono;
    }
    return NULL;
}

/* Remembers the alerts last notified as firing, for Alertmanager re-sends. */
static void firing_update(struct deliver *d, struct note *n, int64_t now)
{
    size_t i;
    for (i = 0; i < d->n_firing; i++)
        if (d->firing[i].note->alert.id == n->alert.id)
            break;
    if (i < d->n_firing) {
        note_unref(d->firing[i].note);
        memmove(&d->firing[i], &d->firing[i + 1], (d->n_firing - i - 1) * sizeof d->firing[0]);
        d->n_firing--;
    }
    if (n->alert.state != ALERT_FIRING)
        return;
    if (d->n_firing >= d->snap->cfg.queue_max && d->n_firing > 0) {
        note_unref(d->firing[0].note);      /* the longest firing: bounded memory first */
        memmove(&d->firing[0], &d->firing[1], (d->n_firing - 1) * sizeof d->firing[0]);
        d->n_firing--;
    }
    if (d->n_firing == d->cap_firing) {
        d->cap_firing = d->cap_firing ? d->cap_firing * 2 : 8;
        d->firing = xreallocarray(d->firing, d->cap_firing, sizeof d->firing[0]);
    }
    d->firing[d->n_firing].note = note_ref(n);
    d->firing[d->n_firing].next_mono = now + d->snap->cfg.alertmanager_resend_ms;
    d->n_firing++;
}

/* Queues Alertmanager re-sends that are due; returns when the next one is. */
static int64_t schedule_resends(struct deliver *d, struct lane *l, int64_t now)
{
    struct snapshot *s = d->snap;
    int64_t next = INT64_MAX;
    if (!s->cfg.webhook_url[0] || s->cfg.webhook_format != DELIVER_ALERTMANAGER ||
        s->cfg.alertmanager_resend_ms <= 0)
        return next;
    for (size_t i = 0; i < d->n_firing; i++) {
        struct firing *f = &d->firing[i];
        if (f->next_mono <= now) {
            f->next_mono = now + s->cfg.alertmanager_resend_ms;
            /* Still on its way (or retrying): that is as good as a re-send. */
            if (!lane_has_alert(l, f->note->alert.id) &&
                l->n_jobs - (l->current ? 1 : 0) < s->cfg.queue_max) {
                struct job_list none = TAILQ_HEAD_INITIALIZER(none);
                lane_add(d, l, f->note, s, true, now, &none);
            }
        }
        next = min64(next, f->next_mono);
    }
    return next;
}

/* ---- the journal ----------------------------------------------------------------------- */

#define JOURNAL_FIELDS_MAX 12

/* The entry's fields, "NAME=value", each allocated; returns how many. */
static size_t journal_fields(const struct alert *a, char *f[JOURNAL_FIELDS_MAX])
{
    size_t n = 0;
    char culprit[600];
    char words[200];

    if (a->summary[0])
        f[n++] = xasprintf("MESSAGE=%s", a->summary);
    else
        f[n++] = xasprintf("MESSAGE=memwatch %s", alert_words(a, words, sizeof words));
    f[n++] = xasprintf("PRIORITY=%d", a->state == ALERT_FIRING ? LOG_WARNING : LOG_NOTICE);
    f[n++] = xasprintf("MESSAGE_ID=%s", MEMWATCH_ALERT_MESSAGE_ID);
    f[n++] = xasprintf("MEMWATCH_ALERT_ID=%lld", (long long)a->id);
    f[n++] = xasprintf("MEMWATCH_TARGET=%s", a->target);
    f[n++] = xasprintf("MEMWATCH_KIND=%s", a->kind);
    f[n++] = xasprintf("MEMWATCH_STATE=%s", alert_state_name(a->state));
    f[n++] = xasprintf("MEMWATCH_GROWTH_PER_HOUR=%.0f", a->growth_per_hour);
    f[n++] = xasprintf("MEMWATCH_CONFIDENCE=%.2f", a->confidence);
    first_culprit(a, culprit, sizeof culprit);
    if (culprit[0])
        f[n++] = xasprintf("MEMWATCH_CULPRIT=%s", culprit);
    if (a->seconds_to_limit >= 0)
        f[n++] = xasprintf("MEMWATCH_SECONDS_TO_LIMIT=%.0f", a->seconds_to_limit);
    return n;
}

static void journal_attempt(struct lane *l, struct job *j, struct outcome *o)
{
    struct stat st;
    if (stat(JOURNAL_SOCKET, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        if (!l->no_journal_logged) {
            log_debug("journal: no journald listens at %s (not under systemd?): alert "
                      "notifications to the journal go to nobody", JOURNAL_SOCKET);
            l->no_journal_logged = true;
        }
        o->result = OUT_NOBODY;
        snprintf(o->what, sizeof o->what, "no journald at %s", JOURNAL_SOCKET);
        return;
    }
    char *f[JOURNAL_FIELDS_MAX];
    struct iovec iov[JOURNAL_FIELDS_MAX];
    size_t n = journal_fields(&j->note->alert, f);
    for (size_t i = 0; i < n; i++)
        iov[i] = (struct iovec){ .iov_base = f[i], .iov_len = strlen(f[i]) };
    int r = sd_journal_sendv(iov, (int)n);
    for (size_t i = 0; i < n; i++)
        free(f[i]);
    if (r < 0) {
        o->result = OUT_RETRY;
        snprintf(o->what, sizeof o->what, "sd_journal_send: %s", strerror(-r));
    } else {
        o->result = OUT_OK;
        snprintf(o->what, sizeof o->what, "sent");
    }
}

/* ---- payloads -------------------------------------------------------------------------- */

/* {"version":1,"status":"firing","alert":{...}} */
static json_t *memwatch_payload(const struct alert *a)
{
    json_t *o = json_object();
    json_object_set_new(o, "version", json_integer(1));
    json_object_set_new(o, "status", json_string(alert_state_name(a->state)));
    json_object_set_new(o, "alert", alert_to_json(a));
    return o;
}

/* The culprits, one a line, for Alertmanager's description annotation. */
static char *culprit_lines(const struct alert *a)
{
    bool gr = strcmp(a->kind, "goroutine") == 0;
    size_t cap = 256 + a->n_culprits * 1400, len = 0;
    char *s = xmalloc(cap);

    if (a->n_culprits == 0) {
        snprintf(s, cap, "No culprit known: memwatch names allocation sites for the heap and "
                         "goroutine kinds only, from the target's profiles.");
        return s;
    }
    len += (size_t)snprintf(s + len, cap - len, "Culprits, by growth over the window judged:");
    for (size_t i = 0; i < a->n_culprits && i < ALERT_MAX_CULPRITS; i++) {
        const struct alert_culprit *c = &a->culprits[i];
        char bytes[32];
        format_bytes((double)c->growth_bytes, bytes, sizeof bytes);
        if (gr)
            len += (size_t)snprintf(s + len, cap - len, "\n%zu. %s (%s:%lld): %+lld goroutines "
                                    "(%s of stacks)", i + 1, c->function, c->file,
                                    (long long)c->line, (long long)c->growth_count, bytes);
        else
            len += (size_t)snprintf(s + len, cap - len, "\n%zu. %s (%s:%lld): +%s, %+lld objects",
                                    i + 1, c->function, c->file, (long long)c->line, bytes,
                                    (long long)c->growth_count);
        if (c->leaf_function[0] && strcmp(c->leaf_function, c->function) != 0)
            len += (size_t)snprintf(s + len, cap - len, "; %s in %s (%s:%lld)",
                                    gr ? "waiting" : "allocating", c->leaf_function, c->leaf_file,
                                    (long long)c->leaf_line);
        if (len >= cap)
            break;
    }
    return s;
}

/* [{"labels":{...},"annotations":{...},"startsAt":..,"endsAt":..,"generatorURL":..}]: one
 * postableAlert of Alertmanager's API v2 (api/v2/openapi.yaml).  Labels identify the alert
 * (one per target and kind); annotations are strings, numbers included. */
static json_t *alertmanager_payload(const struct alert *a, const struct snapshot *s)
{
    json_t *labels = json_object();
    json_object_set_new(labels, "alertname", json_string("MemoryLeak"));
    json_object_set_new(labels, "target", text_json(a->target));
    json_object_set_new(labels, "kind", text_json(a->kind));
    json_object_set_new(labels, "instance", text_json(s->hostname));
    json_object_set_new(labels, "job", json_string("memwatch"));

    char growth[64], confidence[32];
    snprintf(growth, sizeof growth, "%.0f", a->growth_per_hour);
    snprintf(confidence, sizeof confidence, "%.2f", a->confidence);
    char *description = culprit_lines(a);
    json_t *ann = json_object();
    json_object_set_new(ann, "summary", text_json(a->summary));
    json_object_set_new(ann, "description", text_json(description));
    json_object_set_new(ann, "growth_per_hour", json_string(growth));
    json_object_set_new(ann, "confidence", json_string(confidence));
    free(description);

    json_t *o = json_object();
    json_object_set_new(o, "labels", labels);
    json_object_set_new(o, "annotations", ann);
    char when[64];
    int64_t starts = a->fired_ms > 0 ? a->fired_ms : a->since_ms > 0 ? a->since_ms : a->started_ms;
    if (starts > 0) {
        rfc3339(starts, when, sizeof when);
        json_object_set_new(o, "startsAt", json_string(when));
    }
    /* A firing alert has no end: Alertmanager keeps it while we re-send it. */
    if (a->state == ALERT_RESOLVED) {
        rfc3339(a->resolved_ms > 0 ? a->resolved_ms : a->since_ms > 0 ? a->since_ms : now_wall_ms(),
                when, sizeof when);
        json_object_set_new(o, "endsAt", json_string(when));
    }
    if (s->cfg.external_url[0]) {
        size_t n = strlen(s->cfg.external_url);
        while (n > 0 && s->cfg.external_url[n - 1] == '/')
            n--;
        char *url = xasprintf("%.*s%s/alerts", (int)n, s->cfg.external_url, API_PREFIX);
        json_object_set_new(o, "generatorURL", text_json(url));
        free(url);
    }
    json_t *arr = json_array();
    json_array_append_new(arr, o);
    return arr;
}

/* ---- the webhook ----------------------------------------------------------------------- */

struct response {
    char quote[BODY_QUOTE_MAX + 1];
    size_t len;
    bool more;
};

static size_t on_response(char *data, size_t size, size_t nmemb, void *arg)
{
    struct response *r = arg;
    size_t n = size * nmemb;
    size_t take = n < BODY_QUOTE_MAX - r->len ? n : BODY_QUOTE_MAX - r->len;
    memcpy(r->quote + r->len, data, take);
    r->len += take;
    r->quote[r->len] = '\0';
    if (take < n)
        r->more = true;
    return n;       /* the rest is read and forgotten */
}

/* "HTTP 500 \"first words of the body\"" */
static void http_words(long status, const struct response *r, char *buf, size_t len)
{
    char q[BODY_QUOTE_MAX + 1];
    size_t n = 0;
    for (size_t i = 0; i < r->len; i++)
        q[n++] = (unsigned char)r->quote[i] < ' ' ? ' ' : r->quote[i];
    while (n > 0 && q[n - 1] == ' ')
        n--;
    q[n] = '\0';
    if (n)
        snprintf(buf, len, "HTTP %ld \"%s%s\"", status, q, r->more ? "..." : "");
    else
        snprintf(buf, len, "HTTP %ld", status);
}

/* Retry-After in seconds (the HTTP-date form is ignored): ms, or 0. */
static int64_t retry_after_ms(CURL *e)
{
    struct curl_header *h = NULL;
    if (curl_easy_header(e, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK || !h)
        return 0;
    int64_t s;
    if (parse_int64(h->value, 0, 24 * 3600, &s) < 0)
        return 0;
    return s * 1000;
}

static void webhook_attempt(struct lane *l, struct job *j, struct outcome *o)
{
    const struct snapshot *s = j->snap;
    const struct alert *a = &j->note->alert;
    struct deliver *d = l->d;

    if (!l->multi || !l->easy) {
        o->result = OUT_RETRY;
        snprintf(o->what, sizeof o->what, "cannot create a curl handle");
        return;
    }
    json_t *payload = s->cfg.webhook_format == DELIVER_ALERTMANAGER ? alertmanager_payload(a, s)
                                                                    : memwatch_payload(a);
    char *body = json_dumps(payload, JSON_FLAGS);
    json_decref(payload);
    if (!body) {
        o->result = OUT_REFUSED;
        snprintf(o->what, sizeof o->what, "cannot write the payload as JSON");
        return;
    }

    CURL *e = l->easy;
    struct response resp = { .len = 0 };
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");     /* no 100-continue round trip */
    curl_easy_reset(e);
    CURLcode cc = CURLE_OK;
#define SET(opt, val) do { if (cc == CURLE_OK) cc = curl_easy_setopt(e, opt, val); } while (0)
    SET(CURLOPT_URL, s->cfg.webhook_url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TIMEOUT_MS, (long)s->cfg.timeout_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)s->cfg.timeout_ms);
    SET(CURLOPT_HTTPHEADER, headers);
    SET(CURLOPT_USERAGENT, "memwatch/" PACKAGE_VERSION);
    SET(CURLOPT_POSTFIELDS, body);
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    SET(CURLOPT_WRITEFUNCTION, on_response);
    SET(CURLOPT_WRITEDATA, &resp);
    SET(CURLOPT_ERRORBUFFER, errbuf);
#undef SET
    bool added = false, done = false, stopped = false;
    if (cc == CURLE_OK) {
        CURLMcode mc = curl_multi_add_handle(l->multi, e);
        if (mc != CURLM_OK) {
            o->result = OUT_RETRY;
            snprintf(o->what, sizeof o->what, "cannot start the request: %s",
                     curl_multi_strerror(mc));
            goto out;
        }
        added = true;
    } else {
        o->result = OUT_REFUSED;
        snprintf(o->what, sizeof o->what, "cannot set up the request: %s", curl_easy_strerror(cc));
        goto out;
    }

    while (!done) {
        int running = 0;
        (void)curl_multi_perform(l->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(l->multi, &left)))
            if (m->msg == CURLMSG_DONE) {
                cc = m->data.result;
                done = true;
            }
        if (done)
            break;
        int64_t now = now_mono_ms(), stop_at = atomic_load(&d->stop_at_mono);
        if (now >= stop_at) {
            stopped = true;
            break;
        }
        struct curl_waitfd w = { .fd = l->wake_fd, .events = CURL_WAIT_POLLIN };
        if (curl_multi_poll(l->multi, &w, 1, (int)min64(1000, stop_at - now), NULL) != CURLM_OK)
            usleep(10 * 1000);      /* should not happen; at least do not spin */
        if (w.revents)
            drain(l->wake_fd);
    }

    long status = 0;
    (void)curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (stopped) {
        o->result = OUT_RETRY;
        o->cut_short = true;
        snprintf(o->what, sizeof o->what, "request abandoned");
    } else if (cc == CURLE_OK) {
        http_words(status, &resp, o->what, sizeof o->what);
        if (status >= 200 && status <= 299) {
            o->result = OUT_OK;
        } else if (status >= 400 && status <= 499 && status != 408 && status != 429) {
            o->result = OUT_REFUSED;      /* the same request will be refused again */
        } else {
            o->result = OUT_RETRY;
            if (status == 429 || status == 503)
                o->retry_after_ms = retry_after_ms(e);
        }
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        o->result = OUT_RETRY;
        char t[32];
        snprintf(o->what, sizeof o->what, "timed out after %s%s",
                 format_duration_ms(s->cfg.timeout_ms, t, sizeof t),
                 status ? " (the response had begun)" : "");
    } else {
        /* A URL curl cannot use will not get better by itself. */
        o->result = cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT ? OUT_REFUSED
                                                                                 : OUT_RETRY;
        snprintf(o->what, sizeof o->what, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
    }
out:
    if (added)
        (void)curl_multi_remove_handle(l->multi, e);   /* an unfinished one closes its connection */
    curl_slist_free_all(headers);
    free(body);
}

/* ---- the exec hook --------------------------------------------------------------------- */

/* The daemon's environment that a command gets: what a program needs to run and find its
 * way (PATH, HOME, locale, time zone, proxies), nothing of systemd's plumbing
 * (NOTIFY_SOCKET, LISTEN_FDS, WATCHDOG_USEC...) or anything else the daemon was given. */
static bool env_passed(const char *entry)
{
    static const char *const names[] = {
        "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR",
        "http_proxy", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "all_proxy",
        "ALL_PROXY",
    };
    const char *eq = strchr(entry, '=');
    if (!eq)
        return false;
    size_t n = (size_t)(eq - entry);
    if (n > 3 && strncmp(entry, "LC_", 3) == 0)
        return true;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == n && strncmp(entry, names[i], n) == 0)
            return true;
    return false;
}

/* Copied once, on the main thread: the environment is not for reading from other threads. */
static char **base_env_new(void)
{
    size_t n = 0, cap = 8;
    char **env = xcalloc(cap, sizeof *env);
    bool path = false;
    for (char **e = environ; e && *e; e++) {
        if (!env_passed(*e))
            continue;
        if (n + 2 > cap) {
            cap *= 2;
            env = xreallocarray(env, cap, sizeof *env);
        }
        path = path || strncmp(*e, "PATH=", 5) == 0;
        env[n++] = xstrdup(*e);
    }
    if (!path) {
        if (n + 2 > cap)
            env = xreallocarray(env, ++cap + 1, sizeof *env);
        env[n++] = xstrdup("PATH=" DEFAULT_PATH);
    }
    env[n] = NULL;
    return env;
}

static void env_free(char **env)
{
    for (char **e = env; e && *e; e++)
        free(*e);
    free(env);
}

/* base_env plus the alert in MEMWATCH_* variables.  NULL-terminated; env_free() it. */
static char **exec_env(char **base, const struct alert *a)
{
    size_t nb = 0;
    while (base[nb])
        nb++;
    char **env = xcalloc(nb + 16, sizeof *env);
    size_t n = 0;
    for (size_t i = 0; i < nb; i++)
        env[n++] = xstrdup(base[i]);

    json_t *aj = alert_to_json(a);
    json_t *cj = json_object_get(aj, "culprits");
    char *all = json_dumps(aj, JSON_FLAGS);
    char *culprits = cj ? json_dumps(cj, JSON_FLAGS) : NULL;
    char culprit[600];
    first_culprit(a, culprit, sizeof culprit);

    env[n++] = xasprintf("MEMWATCH_ALERT_ID=%lld", (long long)a->id);
    env[n++] = xasprintf("MEMWATCH_TARGET=%s", a->target);
    env[n++] = xasprintf("MEMWATCH_KIND=%s", a->kind);
    env[n++] = xasprintf("MEMWATCH_STATE=%s", alert_state_name(a->state));
    env[n++] = xasprintf("MEMWATCH_SUMMARY=%s", a->summary);
    env[n++] = xasprintf("MEMWATCH_GROWTH_PER_HOUR=%.0f", a->growth_per_hour);
    env[n++] = xasprintf("MEMWATCH_CONFIDENCE=%.2f", a->confidence);
    env[n++] = xasprintf("MEMWATCH_SINCE=%lld", (long long)(a->since_ms / 1000));
    env[n++] = xasprintf("MEMWATCH_CULPRIT=%s", culprit);
    env[n++] = xasprintf("MEMWATCH_CULPRITS_JSON=%s", culprits ? culprits : "[]");
    env[n++] = xasprintf("MEMWATCH_JSON=%s", all ? all : "{}");
    env[n] = NULL;
    free(all);
    free(culprits);
    json_decref(aj);
    return env;
}

/* A descriptor at 3 or above, so dup2() onto 0-2 in the child always clears O_CLOEXEC. */
static int fd_above_stdio(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return n;
}

/* A command's output, logged a line at a time up to OUTPUT_LOG_MAX bytes a run. */
struct output {
    char line[512];
    size_t len;
    size_t logged, unlogged;
    long long alert_id;
};

static void output_line(struct output *out)
{
    if (out->len == 0)
        return;
    out->line[out->len] = '\0';
    if (out->logged < OUTPUT_LOG_MAX) {
        log_info("exec hook, alert %lld: %s", out->alert_id, out->line);
        out->logged += out->len;
    } else {
        out->unlogged += out->len;
    }
    out->len = 0;
}

static void output_add(struct output *out, const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            output_line(out);
            continue;
        }
        out->line[out->len++] = buf[i];
        if (out->len == sizeof out->line - 1)
            output_line(out);
    }
}

/* Reads what is there; false at end of file or error. */
static bool output_read(struct output *out, int fd)
{
    char buf[4096];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r > 0) {
            output_add(out, buf, (size_t)r);
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        return r < 0 && errno == EAGAIN;
    }
}

/* A pidfd (Linux 5.3, close-on-exec by itself), or -1 where there is none: an old kernel,
 * or valgrind 3.19, which does not know the call; asked once. */
static int pidfd_of(pid_t pid)
{
#ifdef SYS_pidfd_open
    static atomic_bool unsupported;
    if (atomic_load(&unsupported))
        return -1;
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0 && errno == ENOSYS)
        atomic_store(&unsupported, true);
    return fd;
#else
    (void)pid;
    return -1;
#endif
}

static void exec_attempt(struct lane *l, struct job *j, struct outcome *o)
{
    struct deliver *d = l->d;
    const struct deliver_config *c = &j->snap->cfg;
    int pipefd[2] = { -1, -1 };

    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        o->result = OUT_RETRY;
        snprintf(o->what, sizeof o->what, "pipe: %s", strerror(errno));
        return;
    }
    pipefd[0] = fd_above_stdio(pipefd[0]);
    pipefd[1] = fd_above_stdio(pipefd[1]);
    /* Only our end: the flag belongs to the open file, and the child's end must block. */
    (void)fcntl(pipefd[0], F_SETFL, O_NONBLOCK);

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
#ifdef HAVE_POSIX_SPAWN_FILE_ACTIONS_ADDCLOSEFROM_NP
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
    posix_spawnattr_init(&at);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
    char **env = exec_env(d->base_env, &j->note->alert);
    char *argv[] = { (char *)"sh", (char *)"-c", (char *)c->exec_command, NULL };
    pid_t pid = -1;
    int rc = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    env_free(env);
    close(pipefd[1]);
    if (rc != 0) {
        close(pipefd[0]);
        o->result = OUT_RETRY;
        snprintf(o->what, sizeof o->what, "cannot run /bin/sh: %s", strerror(rc));
        return;
    }

    int pidfd = pidfd_of(pid);
    int out_fd = pipefd[0];
    struct output out = { .alert_id = (long long)j->note->alert.id };
    int64_t deadline = now_mono_ms() + c->timeout_ms, kill_at = INT64_MAX;
    bool exited = false, termed = false, killed = false, timed_out = false;
    int status = 0, wait_errno = 0;

    while (!exited) {
        int64_t now = now_mono_ms(), stop_at = atomic_load(&d->stop_at_mono);
        if (!termed && (now >= deadline || now >= stop_at)) {
            timed_out = now >= deadline;
            (void)kill(-pid, SIGTERM);
            termed = true;
            kill_at = now + min64(c->timeout_ms, KILL_GRACE_MAX_MS);
        }
        if (termed && !killed && now >= kill_at) {
            (void)kill(-pid, SIGKILL);
            killed = true;
        }
        int64_t until = killed ? now + 1000 : termed ? kill_at : min64(deadline, stop_at);
        int64_t t = until - now;
        if (t < 0)
            t = 0;
        if (t > 1000)
            t = 1000;
        if (pidfd < 0 && t > 20)
            t = 20;     /* no pidfd (old kernel): look for the child's exit every 20 ms */
        struct pollfd p[3] = {
            { .fd = pidfd, .events = POLLIN },
            { .fd = out_fd, .events = POLLIN },
            { .fd = l->wake_fd, .events = POLLIN },
        };
        if (poll(p, 3, (int)t) < 0 && errno != EINTR)
            usleep(10 * 1000);
        if (out_fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
            !output_read(&out, out_fd)) {
            close(out_fd);      /* end of file: every writer is gone */
            out_fd = -1;
        }
        if (p[2].revents & POLLIN)
            drain(l->wake_fd);
        if (pidfd < 0 || (p[0].revents & POLLIN)) {
            pid_t r = waitpid(pid, &status, WNOHANG);
            if (r == pid) {
                exited = true;
            } else if (r < 0 && errno != EINTR) {
                wait_errno = errno;     /* ECHILD: someone set SIGCHLD to SIG_IGN */
                exited = true;
            }
        }
    }
    /* What the command wrote before it ended; a background job of its that keeps the pipe
     * open is not waited for. */
    if (out_fd >= 0) {
        (void)output_read(&out, out_fd);
        close(out_fd);
    }
    output_line(&out);
    if (out.unlogged)
        log_info("exec hook, alert %lld: %zu more bytes of output not logged", out.alert_id,
                 out.unlogged);
    if (pidfd >= 0)
        close(pidfd);

    char t[32];
    o->result = OUT_RETRY;
    if (termed) {
        const char *sig = killed ? "SIGKILL" : "SIGTERM";
        if (timed_out)
            snprintf(o->what, sizeof o->what, "timed out after %s; killed (%s)",
                     format_duration_ms(c->timeout_ms, t, sizeof t), sig);
        else
            snprintf(o->what, sizeof o->what, "killed (%s) before it finished", sig);
        o->cut_short = !timed_out;
    } else if (wait_errno) {
        snprintf(o->what, sizeof o->what, "its exit status is lost: waitpid: %s",
                 strerror(wait_errno));
    } else if (WIFEXITED(status)) {
        snprintf(o->what, sizeof o->what, "exit status %d", WEXITSTATUS(status));
        if (WEXITSTATUS(status) == 0)
            o->result = OUT_OK;
    } else if (WIFSIGNALED(status)) {
        snprintf(o->what, sizeof o->what, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    } else {
        snprintf(o->what, sizeof o->what, "wait status 0x%x", (unsigned)status);
    }
}

/* ---- the lanes ------------------------------------------------------------------------- */

static int64_t backoff_ms(const struct deliver_config *c, int attempts)
{
    int64_t cap = c->retry_max_ms > c->retry_initial_ms ? c->retry_max_ms : c->retry_initial_ms;
    int64_t ms = c->retry_initial_ms;
    for (int i = 1; i < attempts && ms < cap; i++)
        ms = ms > INT64_MAX / 2 ? cap : ms * 2;
    return ms < cap ? ms : cap;
}

/* How long to wait before the next attempt: backoff, or longer if the receiver asked. */
static int64_t retry_delay(const struct deliver_config *c, const struct job *j,
                           const struct outcome *o)
{
    int64_t delay = backoff_ms(c, j->attempts);
    if (o->retry_after_ms > delay)
        delay = min64(o->retry_after_ms, c->retry_max_ms > delay ? c->retry_max_ms : delay);
    return delay;
}

/* Logs the attempt's outcome and files the job: done, or due again later.  Called without
 * the lock; returns with it. */
static void settle(struct lane *l, struct job *j, const struct outcome *o)
{
    struct deliver *d = l->d;
    const struct deliver_config *c = &j->snap->cfg;
    char who[400], what[200];
    receiver_words(j, who, sizeof who);
    alert_words(&j->note->alert, what, sizeof what);
    int64_t delay = -1;         /* -1: done with this job */
    /* Cut short by deliver_close(), or its retry would come after the deadline. */
    bool abandoned = o->cut_short ||
                     (o->result == OUT_RETRY && j->attempts < j->max_attempts &&
                      retry_delay(c, j, o) > atomic_load(&d->stop_at_mono) - now_mono_ms());

    if (o->result == OUT_OK) {
        if (j->resend)
            log_debug("%s: re-sent %s: %s", who, what, o->what);
        else
            log_info("%s: %s delivered (attempt %d of %d): %s", who, what, j->attempts,
                     j->max_attempts, o->what);
    } else if (o->result == OUT_NOBODY) {
        log_debug("%s: %s not sent (attempt %d of %d): %s; counted as delivered to nobody",
                  who, what, j->attempts, j->max_attempts, o->what);
    } else if (j->resend) {
        char t[32];
        log_warn("%s: re-sending %s failed: %s; next re-send in %s", who, what, o->what,
                 format_duration_ms(c->alertmanager_resend_ms, t, sizeof t));
    } else if (abandoned) {
        log_warn("%s: %s not delivered (attempt %d of %d): %s; memwatchd is stopping", who,
                 what, j->attempts, j->max_attempts, o->what);
    } else if (o->result == OUT_REFUSED) {
        log_warn("%s: %s refused (attempt %d of %d): %s; not retrying", who, what, j->attempts,
                 j->max_attempts, o->what);
    } else if (j->attempts >= j->max_attempts) {
        log_warn("%s: %s failed (attempt %d of %d): %s; giving up", who, what, j->attempts,
                 j->max_attempts, o->what);
    } else {
        delay = retry_delay(c, j, o);
        time_t at = (time_t)((now_wall_ms() + delay) / 1000);
        struct tm tm;
        char t[32], clock[16] = "";
        localtime_r(&at, &tm);
        strftime(clock, sizeof clock, "%H:%M:%S", &tm);
        log_warn("%s: %s failed (attempt %d of %d): %s; next attempt in %s, at %s", who, what,
                 j->attempts, j->max_attempts, o->what,
                 format_duration_ms(delay, t, sizeof t), clock);
    }

    pthread_mutex_lock(&d->lock);
    l->current = NULL;
    if (delay >= 0) {
        j->due_mono = now_mono_ms() + delay;
        return;
    }
    if (j->resend)
        d->stats.receiver[l->kind].resent += o->result == OUT_OK;  /* a failure: the next one */
    else if (abandoned && o->result != OUT_OK && o->result != OUT_NOBODY)
        d->stats.receiver[l->kind].dropped++;
    else if (o->result == OUT_OK)
        d->stats.receiver[l->kind].delivered++;
    else if (o->result == OUT_NOBODY)
        d->stats.receiver[l->kind].nobody++;
    else
        d->stats.receiver[l->kind].failed++;
    lane_remove(l, j);
    job_free(j);
}

static void attempt(struct lane *l, struct job *j, struct outcome *o)
{
    memset(o, 0, sizeof *o);
    switch (l->kind) {
    case DELIVER_JOURNAL: journal_attempt(l, j, o); break;
    case DELIVER_WEBHOOK: webhook_attempt(l, j, o); break;
    case DELIVER_EXEC: exec_attempt(l, j, o); break;
    default: o->result = OUT_REFUSED; break;
    }
}

static void lane_sleep(struct lane *l, int64_t ms)
{
    struct pollfd p = { .fd = l->wake_fd, .events = POLLIN };
    int t = ms < 0 ? -1 : ms > INT_MAX ? INT_MAX : (int)ms;
    if (poll(&p, 1, t) > 0)
        drain(l->wake_fd);
}

static void *lane_main(void *arg)
{
    struct lane *l = arg;
    struct deliver *d = l->d;

    if (l->kind == DELIVER_WEBHOOK) {
        l->multi = curl_multi_init();
        l->easy = curl_easy_init();
    }
    pthread_mutex_lock(&d->lock);
    for (;;) {
        int64_t now = now_mono_ms(), next = INT64_MAX;
        if (l->kind == DELIVER_WEBHOOK && !d->stopping)
            next = schedule_resends(d, l, now);
        struct job *j = lane_pick(l, now, &next);
        if (d->stopping) {
            /* Leave once nothing more can go out before the deadline. */
            int64_t stop_at = atomic_load(&d->stop_at_mono);
            if (now >= stop_at || (!j && next >= stop_at))
                break;
        }
        if (!j) {
            pthread_mutex_unlock(&d->lock);
            lane_sleep(l, next == INT64_MAX ? -1 : next - now);
            pthread_mutex_lock(&d->lock);
            continue;
        }
        l->current = j;
        j->attempts++;
        d->stats.receiver[l->kind].attempts++;
        pthread_mutex_unlock(&d->lock);

        struct outcome o;
        attempt(l, j, &o);
        settle(l, j, &o);
    }

    /* What is left was not delivered: say so, one line each. */
    struct job_list left = TAILQ_HEAD_INITIALIZER(left);
    TAILQ_CONCAT(&left, &l->jobs, link);
    d->stats.receiver[l->kind].dropped += l->n_jobs;
    l->n_jobs = 0;
    pthread_mutex_unlock(&d->lock);
    struct job *j;
    while ((j = TAILQ_FIRST(&left))) {
        TAILQ_REMOVE(&left, j, link);
        if (!j->resend) {
            char who[400], what[200];
            log_warn("%s: %s not delivered: memwatchd is stopping (attempts made: %d)",
                     receiver_words(j, who, sizeof who),
                     alert_words(&j->note->alert, what, sizeof what), j->attempts);
        }
        job_free(j);
    }
    if (l->easy)
        curl_easy_cleanup(l->easy);
    if (l->multi)
        curl_multi_cleanup(l->multi);
    l->easy = NULL;
    l->multi = NULL;
    return NULL;
}

/* ---- the main thread's side ------------------------------------------------------------ */

int deliver_open(const struct deliver_config *cfg, struct deliver **out, char **err)
{
    *out = NULL;
    const char *problem = config_problem(cfg);
    if (problem) {
        *err = xasprintf("alert delivery: %s", problem);
        return -EINVAL;
    }
    const char *why = NULL;
    if (curl_global_once(&why) < 0) {
        *err = xasprintf("alert delivery: curl_global_init: %s", why);
        return -EIO;
    }

    struct deliver *d = xcalloc(1, sizeof *d);
    pthread_mutex_init(&d->lock, NULL);
    atomic_init(&d->stop_at_mono, INT64_MAX);
    d->snap = snapshot_new(cfg);
    d->base_env = base_env_new();
    for (int k = 0; k < DELIVER_RECEIVERS; k++) {
        struct lane *l = &d->lanes[k];
        l->d = d;
        l->kind = (enum deliver_receiver)k;
        l->wake_fd = -1;
        TAILQ_INIT(&l->jobs);
    }
    for (int k = 0; k < DELIVER_RECEIVERS; k++) {
        struct lane *l = &d->lanes[k];
        l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (l->wake_fd < 0) {
            int e = errno;
            *err = xasprintf("alert delivery: eventfd: %s", strerror(e));
            deliver_close(d, 0);
            return -e;
        }
    }
    /* The lanes start with every signal blocked: the daemon takes its signals through a
     * signalfd in the main thread, and a process-directed one must never land on a thread
     * that does not expect it. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (int k = 0; k < DELIVER_RECEIVERS; k++) {
        struct lane *l = &d->lanes[k];
        int rc = pthread_create(&l->thread, NULL, lane_main, l);
        if (rc != 0) {
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            *err = xasprintf("alert delivery: cannot start a thread: %s", strerror(rc));
            deliver_close(d, 0);
            return -rc;
        }
        l->started = true;
        char name[16];
        snprintf(name, sizeof name, "mw-%s", receiver_names[k]);
        (void)pthread_setname_np(l->thread, name);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    log_receivers("alert delivery", d->snap);
    *out = d;
    return 0;
}

void deliver_set_config(struct deliver *d, const struct deliver_config *cfg)
{
    if (!d)
        return;
    struct deliver_config c = *cfg;
    const char *problem = config_problem(&c);
    if (problem) {
        /* Keep what can work rather than nothing. */
        log_err("alert delivery: %s; leaving that out (a bad number: its default)", problem);
        struct deliver_config def;
        deliver_config_default(&def);
        c.webhook_url[sizeof c.webhook_url - 1] = '\0';
        c.exec_command[sizeof c.exec_command - 1] = '\0';
        c.external_url[sizeof c.external_url - 1] = '\0';
        if (c.webhook_url[0] && !webhook_url_ok(c.webhook_url, NULL, 0))
            c.webhook_url[0] = '\0';
        if (c.webhook_format != DELIVER_ALERTMANAGER)
            c.webhook_format = DELIVER_MEMWATCH;
        if (c.timeout_ms <= 0)
            c.timeout_ms = def.timeout_ms;
        if (c.max_attempts < 1)
            c.max_attempts = def.max_attempts;
        if (c.retry_initial_ms <= 0)
            c.retry_initial_ms = def.retry_initial_ms;
        if (c.retry_max_ms <= 0)
            c.retry_max_ms = def.retry_max_ms;
        if (c.queue_max < 1)
            c.queue_max = def.queue_max;
        if (c.alertmanager_resend_ms < 0)
            c.alertmanager_resend_ms = def.alertmanager_resend_ms;
    }
    struct snapshot *s = snapshot_new(&c);
    pthread_mutex_lock(&d->lock);
    struct snapshot *old = d->snap;
    d->snap = s;
    pthread_mutex_unlock(&d->lock);
    snapshot_unref(old);
    log_receivers("alert delivery reconfigured", s);
    wake(&d->lanes[DELIVER_WEBHOOK]);       /* re-sends may start or stop */
}

void deliver_submit(struct deliver *d, const struct alert *a)
{
    if (!d || !a)
        return;
    char what[200];
    if (a->state != ALERT_FIRING && a->state != ALERT_RESOLVED) {
        log_debug("alert delivery: %s is no notification, ignored",
                  alert_words(a, what, sizeof what));
        return;
    }
    struct note *n = xmalloc(sizeof *n);
    atomic_init(&n->refs, 1);       /* ours until the end of this function */
    n->alert = *a;
    /* Plain data from elsewhere: make sure its strings end. */
    struct alert *c = &n->alert;
    c->target[sizeof c->target - 1] = c->kind[sizeof c->kind - 1] = '\0';
    c->summary[sizeof c->summary - 1] = c->limit_source[sizeof c->limit_source - 1] = '\0';
    if (c->n_culprits > ALERT_MAX_CULPRITS)
        c->n_culprits = ALERT_MAX_CULPRITS;
    for (size_t i = 0; i < c->n_culprits; i++) {
        struct alert_culprit *u = &c->culprits[i];
        u->function[sizeof u->function - 1] = u->file[sizeof u->file - 1] = '\0';
        u->leaf_function[sizeof u->leaf_function - 1] = '\0';
        u->leaf_file[sizeof u->leaf_file - 1] = '\0';
    }

    struct job_list dropped = TAILQ_HEAD_INITIALIZER(dropped);
    bool woke[DELIVER_RECEIVERS] = { false };
    int64_t now = now_mono_ms();
    pthread_mutex_lock(&d->lock);
    if (d->stopping) {
        pthread_mutex_unlock(&d->lock);
        note_unref(n);
        return;
    }
    d->stats.submitted++;
    for (int k = 0; k < DELIVER_RECEIVERS; k++)
        if (receiver_on(d->snap, (enum deliver_receiver)k)) {
            lane_add(d, &d->lanes[k], n, d->snap, false, now, &dropped);
            woke[k] = true;
        }
    firing_update(d, n, now);
    pthread_mutex_unlock(&d->lock);
    note_unref(n);
    for (int k = 0; k < DELIVER_RECEIVERS; k++)
        if (woke[k])
            wake(&d->lanes[k]);

    struct job *j;
    while ((j = TAILQ_FIRST(&dropped))) {
        TAILQ_REMOVE(&dropped, j, link);
        if (!j->resend) {
            char who[400], t[32];
            log_warn("%s: queue full (%zu waiting): dropped %s, queued %s ago, attempts made: %d",
                     receiver_words(j, who, sizeof who), j->snap->cfg.queue_max,
                     alert_words(&j->note->alert, what, sizeof what),
                     format_duration_ms(now - j->queued_mono, t, sizeof t), j->attempts);
        }
        job_free(j);
    }
}

void deliver_get_stats(struct deliver *d, struct deliver_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    *out = d->stats;
    for (int k = 0; k < DELIVER_RECEIVERS; k++)
        out->receiver[k].waiting = d->lanes[k].n_jobs;
    pthread_mutex_unlock(&d->lock);
}

void deliver_close(struct deliver *d, int64_t grace_ms)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    d->stopping = true;
    atomic_store(&d->stop_at_mono, now_mono_ms() + (grace_ms > 0 ? grace_ms : 0));
    pthread_mutex_unlock(&d->lock);
    for (int k = 0; k < DELIVER_RECEIVERS; k++)
        if (d->lanes[k].started) {
            wake(&d->lanes[k]);
            pthread_join(d->lanes[k].thread, NULL);
        }
    for (int k = 0; k < DELIVER_RECEIVERS; k++) {
        struct lane *l = &d->lanes[k];
        struct job *j;
        while ((j = TAILQ_FIRST(&l->jobs))) {       /* a lane that never started */
            TAILQ_REMOVE(&l->jobs, j, link);
            job_free(j);
        }
        if (l->wake_fd >= 0)
            close(l->wake_fd);
    }
    for (size_t i = 0; i < d->n_firing; i++)
        note_unref(d->firing[i].note);
    free(d->firing);
    snapshot_unref(d->snap);
    env_free(d->base_env);
    pthread_mutex_destroy(&d->lock);
    free(d);
}
