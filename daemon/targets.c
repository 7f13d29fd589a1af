/* targets.c - targets at run time: selectors resolved to processes, batched sampling. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "procmem.h"
#include "selector.h"
#include "targets.h"
#include "util.h"

#define PID_MAX_LINUX 4194304   /* /proc/sys/kernel/pid_max can be at most 2^22 */

/* The metrics libproc2 gives us every interval, and those that come from smaps_rollup. */
#define CHEAP_METRICS ((UINT64_C(1) << M_RSS) | (UINT64_C(1) << M_VSZ) | (UINT64_C(1) << M_RSS_ANON) | (UINT64_C(1) << M_RSS_FILE) | \
                       (UINT64_C(1) << M_RSS_SHMEM) | (UINT64_C(1) << M_SWAP) | (UINT64_C(1) << M_THREADS) | \
                       (UINT64_C(1) << M_MINFLT) | (UINT64_C(1) << M_MAJFLT))
#define SMAPS_METRICS ((UINT64_C(1) << M_PSS) | (UINT64_C(1) << M_USS))

struct target {
    struct target_record rec;
    struct selector *sel;               /* SELECTOR_MATCH only */
    struct target_proc *procs;          /* the processes it watches now */
    size_t nprocs, procs_cap;
    struct target_proc *found;          /* scan scratch, swapped with procs when it differs */
    size_t nfound, found_cap;
    int64_t next_due_mono, next_smaps_mono;
    bool due, smaps_due;
    int64_t last_sample_ms;
    uint64_t latest_present;
    int64_t latest[METRIC_COUNT];
    struct store_series *series[METRIC_COUNT];
    char message[192];
};

struct targets {
    struct store *st;
    struct procmem *pm;
    struct targets_config cfg;
    struct target **v;
    size_t n, cap;
    int *pids;                          /* batch scratch: PIDs to sample this tick */
    size_t pids_cap;
    struct proc_sample *samples;        /* batch scratch: their samples, sorted by pid */
    size_t samples_cap;
    struct proc_sample *smaps;          /* per-target scratch for smaps_rollup */
    size_t smaps_cap;
};

static void target_free(struct target *t)
{
    if (!t)
        return;
    selector_free(t->sel);
    free(t->procs);
    free(t->found);
    free(t);
}

static void proc_push(struct target_proc **v, size_t *n, size_t *cap, int pid, int64_t start)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        *v = xreallocarray(*v, *cap, sizeof **v);
    }
    (*v)[*n].pid = pid;
    (*v)[(*n)++].start_time_ms = start;
}

static struct target *target_new(const struct target_record *rec, char **err)
{
    struct target *t = xcalloc(1, sizeof *t);
    t->rec = *rec;
    if (rec->selector == SELECTOR_MATCH &&
        selector_compile(rec->pattern, rec->match_cmdline, &t->sel, err) < 0) {
        free(t);
        return NULL;
    }
    if (rec->selector != SELECTOR_MATCH && rec->state != TARGET_GONE)
        proc_push(&t->procs, &t->nprocs, &t->procs_cap, (int)rec->pid, rec->start_time_ms);
    return t;
}

static void targets_push(struct targets *ts, struct target *t)
{
    if (ts->n == ts->cap) {
        ts->cap = ts->cap ? ts->cap * 2 : 16;
        ts->v = xreallocarray(ts->v, ts->cap, sizeof *ts->v);
    }
    ts->v[ts->n++] = t;
}

static int load_one(void *arg, const struct target_record *rec)
{
    struct targets *ts = arg;
    char *err = NULL;
    struct target *t = target_new(rec, &err);
    if (!t) {
        /* Stored by an older memwatchd with other regex rules, say: keep the daemon going. */
        log_warn("target \"%s\": %s; not watching it", rec->name, err);
        free(err);
        return 0;
    }
    targets_push(ts, t);
    return 0;
}

int targets_open(struct store *st, struct procmem *pm, const struct targets_config *cfg,
                 struct targets **out, char **err)
{
    struct targets *ts = xcalloc(1, sizeof *ts);
    ts->st = st;
    ts->pm = pm;
    ts->cfg = *cfg;
    int r = store_targets_load(st, load_one, ts);
    if (r < 0) {
        *err = xasprintf("cannot load targets: %s", store_errmsg(st));
        targets_close(ts);
        return r;
    }
    *out = ts;
    return 0;
}

void targets_close(struct targets *ts)
{
    if (!ts)
        return;
    for (size_t i = 0; i < ts->n; i++)
        target_free(ts->v[i]);
    free(ts->v);
    free(ts->pids);
    free(ts->samples);
    free(ts->smaps);
    free(ts);
}

void targets_set_config(struct targets *ts, const struct targets_config *cfg)
{
    ts->cfg = *cfg;
}

struct target *targets_find(struct targets *ts, const char *name)
{
    for (size_t i = 0; i < ts->n; i++)
        if (strcmp(ts->v[i]->rec.name, name) == 0)
            return ts->v[i];
    return NULL;
}

struct target *targets_find_id(struct targets *ts, int64_t id)
{
    for (size_t i = 0; i < ts->n; i++)
        if (ts->v[i]->rec.id == id)
            return ts->v[i];
    return NULL;
}

size_t targets_count(const struct targets *ts)
{
    return ts->n;
}

struct target *targets_at(struct targets *ts, size_t i)
{
    return i < ts->n ? ts->v[i] : NULL;
}

static void set_state(struct targets *ts, struct target *t, enum target_state state)
{
    if (t->rec.state == state)
        return;
    t->rec.state = state;
    t->rec.state_changed_ms = now_wall_ms();
    if (store_target_update(ts->st, &t->rec) < 0)
        log_warn("target \"%s\": cannot save its state: %s", t->rec.name, store_errmsg(ts->st));
}

void targets_ensure_self(struct targets *ts)
{
    int64_t start;
    int pid = (int)getpid();
    if (procmem_identify(ts->pm, pid, &start) < 0) {
        log_warn("cannot read our own /proc entry; not watching memwatchd itself");
        return;
    }
    struct target *t = targets_find(ts, "memwatchd");
    if (t && t->rec.selector != SELECTOR_SELF) {
        log_notice("a target named \"memwatchd\" exists and is not memwatchd itself; leaving it");
        return;
    }
    if (t) {    /* a new run of the same daemon: the history goes on in the same series */
        t->rec.pid = pid;
        t->rec.start_time_ms = start;
        t->rec.state = TARGET_ACTIVE;
        t->rec.state_changed_ms = now_wall_ms();
        t->nprocs = 0;
        proc_push(&t->procs, &t->nprocs, &t->procs_cap, pid, start);
        t->message[0] = '\0';
        if (store_target_update(ts->st, &t->rec) < 0)
            log_warn("cannot update the memwatchd target: %s", store_errmsg(ts->st));
        return;
    }
    struct target_record rec = { .selector = SELECTOR_SELF, .pid = pid };
    snprintf(rec.name, sizeof rec.name, "memwatchd");
    char *err = NULL;
    if (targets_add(ts, &rec, &err) < 0) {
        log_warn("cannot add the memwatchd target: %s", err);
        free(err);
    }
}

int targets_add(struct targets *ts, const struct target_record *def, char **err)
{
    struct target_record rec = *def;
    if (!target_name_valid(rec.name)) {
        *err = xasprintf("invalid target name \"%s\": use 1-63 letters, digits, '_', '.' or '-', "
                         "not starting with '.' or '-'", rec.name);
        return -EINVAL;
    }
    if (targets_find(ts, rec.name)) {
        *err = xasprintf("a target named \"%s\" exists already", rec.name);
        return -EEXIST;
    }
    const int64_t day = 24LL * 3600 * 1000;
    if (rec.interval_ms && (rec.interval_ms < 100 || rec.interval_ms > day)) {
        *err = xasprintf("interval must be between 100ms and 1d");
        return -EINVAL;
    }
    if (rec.smaps_interval_ms && (rec.smaps_interval_ms < 1000 || rec.smaps_interval_ms > day)) {
        *err = xasprintf("smaps_interval must be between 1s and 1d");
        return -EINVAL;
    }
    if (rec.selector == SELECTOR_PID || rec.selector == SELECTOR_SELF) {
        if (rec.pid <= 0 || rec.pid > PID_MAX_LINUX) {
            *err = xasprintf("pid %lld is out of range", (long long)rec.pid);
            return -EINVAL;
        }
        if (procmem_identify(ts->pm, (int)rec.pid, &rec.start_time_ms) < 0) {
            *err = xasprintf("no process with pid %lld", (long long)rec.pid);
            return -ESRCH;
        }
        rec.pattern[0] = '\0';
        rec.match_cmdline = false;
    } else {
        rec.pid = 0;
        rec.start_time_ms = 0;
    }
    rec.state = rec.selector == SELECTOR_MATCH ? TARGET_WAITING : TARGET_ACTIVE;
    rec.created_ms = rec.state_changed_ms = now_wall_ms();

    struct target *t = target_new(&rec, err);
    if (!t)
        return -EINVAL;
    int r = store_target_add(ts->st, &t->rec);
    if (r < 0) {
        *err = r == -EEXIST ? xasprintf("a target named \"%s\" exists already", rec.name)
                            : xasprintf("cannot store the target: %s", store_errmsg(ts->st));
        target_free(t);
        return r == -EEXIST ? -EEXIST : -EIO;
    }
    targets_push(ts, t);
    if (rec.selector == SELECTOR_MATCH)
        log_info("target \"%s\": watching processes matching /%s/%s", rec.name, rec.pattern,
                 rec.match_cmdline ? " (command line)" : "");
    else
        log_info("target \"%s\": watching pid %lld", rec.name, (long long)rec.pid);
    return 0;
}

int targets_remove(struct targets *ts, const char *name)
{
    for (size_t i = 0; i < ts->n; i++) {
        struct target *t = ts->v[i];
        if (strcmp(t->rec.name, name) != 0)
            continue;
        int r = store_target_remove(ts->st, t->rec.id);
        if (r < 0 && r != -ENOENT)
            return r;
        memmove(&ts->v[i], &ts->v[i + 1], (ts->n - i - 1) * sizeof *ts->v);
        ts->n--;
        log_info("target \"%s\" removed with its history", name);
        target_free(t);
        return 0;
    }
    return -ENOENT;
}

int64_t targets_interval_ms(const struct targets *ts, const struct target *t)
{
    return t->rec.interval_ms ? t->rec.interval_ms : ts->cfg.interval_ms;
}

int64_t targets_smaps_interval_ms(const struct targets *ts, const struct target *t)
{
    return t->rec.smaps_interval_ms ? t->rec.smaps_interval_ms : ts->cfg.smaps_interval_ms;
}

/* ---- sampling ---------------------------------------------------------------------------- */

static int scan_one(void *arg, const struct proc_ident *id)
{
    struct targets *ts = arg;
    static int self_pid;
    if (!self_pid)
        self_pid = (int)getpid();
    if (id->pid == self_pid)    /* our own command line mentions the patterns we were given */
        return 0;
    for (size_t i = 0; i < ts->n; i++) {
        struct target *t = ts->v[i];
        if (t->due && t->sel && selector_matches(t->sel, id))
            proc_push(&t->found, &t->nfound, &t->found_cap, id->pid, id->start_time_ms);
    }
    return 0;
}

static bool same_procs(const struct target *t)
{
    if (t->nfound != t->nprocs)
        return false;
    for (size_t i = 0; i < t->nfound; i++)
        if (t->found[i].pid != t->procs[i].pid ||
            t->found[i].start_time_ms != t->procs[i].start_time_ms)
            return false;
    return true;
}

static int cmp_proc(const void *a, const void *b)
{
    const struct target_proc *x = a, *y = b;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

static void resolve_matches(struct targets *ts, struct target *t)
{
    if (t->nfound > 1)     /* qsort(NULL, 0, ...) is undefined */
        qsort(t->found, t->nfound, sizeof *t->found, cmp_proc);
    if (!same_procs(t)) {
        if (t->nfound == 0)
            log_info("target \"%s\": no process matches /%s/ any more; waiting", t->rec.name,
                     t->rec.pattern);
        else if (t->nfound == 1)
            log_info("target \"%s\": watching pid %d", t->rec.name, t->found[0].pid);
        else
            log_info("target \"%s\": %zu processes match; their values are summed",
                     t->rec.name, t->nfound);
        struct target_proc *tmp = t->procs;
        size_t tmpcap = t->procs_cap;
        t->procs = t->found;
        t->procs_cap = t->found_cap;
        t->nprocs = t->nfound;
        t->found = tmp;
        t->found_cap = tmpcap;
    }
    t->nfound = 0;
    if (t->nprocs == 0)
        snprintf(t->message, sizeof t->message, "no process matches; waiting for one");
    else if (t->nprocs == 1)
        t->message[0] = '\0';
    else
        snprintf(t->message, sizeof t->message,
                 "%zu processes match; their values are summed", t->nprocs);
    set_state(ts, t, t->nprocs ? TARGET_ACTIVE : TARGET_WAITING);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int cmp_sample(const void *a, const void *b)
{
    const struct proc_sample *x = a, *y = b;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Start times are boot time + ticks since boot, and the kernel derives the boot time from the
 * wall clock: after a clock step a restarted memwatchd computes the same process's start a
 * second off.  A PID reused within a second of the original's start is not a real risk. */
#define START_TIME_SLACK_MS 1000

static const struct proc_sample *find_sample(const struct targets *ts, size_t n,
                                             struct target_proc *p)
{
    struct proc_sample key = { .pid = p->pid };
    const struct proc_sample *s = n ? bsearch(&key, ts->samples, n, sizeof key, cmp_sample) : NULL;
    if (!s || llabs(s->start_time_ms - p->start_time_ms) > START_TIME_SLACK_MS)
        return NULL;
    p->start_time_ms = s->start_time_ms;
    return s;
}

static void mark_gone(struct targets *ts, struct target *t, bool pid_reused)
{
    char when[64];
    snprintf(when, sizeof when, "%s", pid_reused ? "now belongs to another process" : "has exited");
    snprintf(t->message, sizeof t->message, "pid %lld %s; its history is kept",
             (long long)t->rec.pid, when);
    log_notice("target \"%s\": pid %lld %s; marking it gone", t->rec.name,
               (long long)t->rec.pid, when);
    t->nprocs = 0;
    set_state(ts, t, TARGET_GONE);
}

static void record(struct targets *ts, struct target *t, enum metric_id m, int64_t ts_ms,
                   int64_t value)
{
    if (!t->series[m]) {
        t->series[m] = store_series_get(ts->st, t->rec.id, metric_info(m)->name);
        if (!t->series[m]) {
            log_warn("target \"%s\": cannot create series %s: %s", t->rec.name,
                     metric_info(m)->name, store_errmsg(ts->st));
            return;
        }
    }
    int r = store_append(ts->st, t->series[m], ts_ms, value);
    if (r < 0 && r != -ERANGE)
        log_debug("target \"%s\": sample of %s dropped: %s", t->rec.name, metric_info(m)->name,
                  strerror(-r));
}

/* Adds up the target's processes' samples (a value is present only if every process had
 * it: a sum over some of them would be a fake drop) and records them. */
static void sample_target(struct targets *ts, struct target *t, size_t nsamples, int64_t now_wall)
{
    int64_t sum[METRIC_COUNT] = { 0 };
    uint64_t present = CHEAP_METRICS | (t->smaps_due ? SMAPS_METRICS : 0);
    size_t nfound = 0;

    if (t->smaps_due && ts->smaps_cap < t->nprocs) {
        ts->smaps_cap = t->nprocs;
        ts->smaps = xreallocarray(ts->smaps, ts->smaps_cap, sizeof *ts->smaps);
    }
    for (size_t i = 0; i < t->nprocs; i++) {
        const struct proc_sample *s = find_sample(ts, nsamples, &t->procs[i]);
        if (!s) {
            if (t->rec.selector != SELECTOR_MATCH) {
                struct proc_sample key = { .pid = t->procs[i].pid };
                bool reused = nsamples &&
                              bsearch(&key, ts->samples, nsamples, sizeof key, cmp_sample);
                mark_gone(ts, t, reused);
                return;
            }
            continue;   /* exited between the scan and the sample: the next scan drops it */
        }
        if (t->smaps_due)
            ts->smaps[nfound] = *s;
        nfound++;
        present &= s->present | SMAPS_METRICS;
        for (int m = 0; m < METRIC_COUNT; m++)
            sum[m] += s->values[m];
    }
    if (nfound == 0)
        return;
    if (t->smaps_due) {
        if (procmem_sample_smaps(ts->pm, ts->smaps, nfound) < 0) {
            present &= ~SMAPS_METRICS;
        } else {
            sum[M_PSS] = sum[M_USS] = 0;
            for (size_t i = 0; i < nfound; i++) {
                present &= ts->smaps[i].present | CHEAP_METRICS;
                sum[M_PSS] += ts->smaps[i].values[M_PSS];
                sum[M_USS] += ts->smaps[i].values[M_USS];
            }
        }
    }
    if (t->rec.selector == SELECTOR_MATCH) {
        present |= UINT64_C(1) << M_PROCESSES;
        sum[M_PROCESSES] = (int64_t)nfound;
    }
    for (int m = 0; m < METRIC_COUNT; m++) {
        if (!(present & (UINT64_C(1) << m)))
            continue;
        record(ts, t, (enum metric_id)m, now_wall, sum[m]);
        t->latest[m] = sum[m];
    }
    /* PSS/USS are read less often: their latest values stand until the next reading. */
    uint64_t kept = t->smaps_due ? 0 : (t->latest_present & SMAPS_METRICS);
    t->latest_present = present | kept;
    t->last_sample_ms = now_wall;
}

static int64_t next_multiple(int64_t now, int64_t interval)
{
    return (now / interval + 1) * interval;
}

int64_t targets_tick(struct targets *ts, int64_t now_mono, int64_t now_wall)
{
    bool scan = false;
    size_t npids = 0;

    for (size_t i = 0; i < ts->n; i++) {
        struct target *t = ts->v[i];
        t->due = t->rec.state != TARGET_GONE && now_mono >= t->next_due_mono;
        if (!t->due)
            continue;
        t->smaps_due = now_mono >= t->next_smaps_mono;
        /* Aligned to the interval so that targets sharing one are sampled in one batch. */
        t->next_due_mono = next_multiple(now_mono, targets_interval_ms(ts, t));
        if (t->smaps_due)
            t->next_smaps_mono = next_multiple(now_mono, targets_smaps_interval_ms(ts, t));
        if (t->sel)
            scan = true;
    }
    if (scan) {
        int r = procmem_scan(ts->pm, scan_one, ts);
        if (r < 0)
            log_warn("cannot scan processes: %s", strerror(-r));
        for (size_t i = 0; i < ts->n; i++)
            if (ts->v[i]->due && ts->v[i]->sel) {
                if (r < 0)
                    ts->v[i]->nfound = 0, ts->v[i]->due = false;
                else
                    resolve_matches(ts, ts->v[i]);
            }
    }

    for (size_t i = 0; i < ts->n; i++) {
        struct target *t = ts->v[i];
        if (!t->due)
            continue;
        if (ts->pids_cap < npids + t->nprocs) {
            ts->pids_cap = (npids + t->nprocs) * 2;
            ts->pids = xreallocarray(ts->pids, ts->pids_cap, sizeof *ts->pids);
        }
        for (size_t j = 0; j < t->nprocs; j++)
            ts->pids[npids++] = t->procs[j].pid;
    }
    size_t nsamples = 0;
    if (npids > 0) {
        qsort(ts->pids, npids, sizeof *ts->pids, cmp_int);
        size_t u = 1;
        for (size_t j = 1; j < npids; j++)
            if (ts->pids[j] != ts->pids[u - 1])
                ts->pids[u++] = ts->pids[j];
        npids = u;
        if (ts->samples_cap < npids) {
            ts->samples_cap = npids * 2;
            ts->samples = xreallocarray(ts->samples, ts->samples_cap, sizeof *ts->samples);
        }
        int r = procmem_sample(ts->pm, ts->pids, npids, ts->samples, &nsamples);
        if (r < 0) {
            /* Not the processes' fault: don't mark anything gone, try again next tick. */
            log_warn("cannot sample processes: %s", strerror(-r));
            nsamples = 0;
            for (size_t i = 0; i < ts->n; i++)
                ts->v[i]->due = false;
        }
        if (nsamples > 1)
            qsort(ts->samples, nsamples, sizeof *ts->samples, cmp_sample);
    }
    for (size_t i = 0; i < ts->n; i++) {
        struct target *t = ts->v[i];
        if (t->due && t->nprocs)
            sample_target(ts, t, nsamples, now_wall);
        t->due = t->smaps_due = false;
    }

    int64_t next = now_mono + 60 * 1000;
    for (size_t i = 0; i < ts->n; i++)
        if (ts->v[i]->rec.state != TARGET_GONE && ts->v[i]->next_due_mono < next)
            next = ts->v[i]->next_due_mono;
    return next;
}

/* ---- views ------------------------------------------------------------------------------- */

const struct target_record *target_record(const struct target *t)
{
    return &t->rec;
}

const struct target_proc *target_processes(const struct target *t, size_t *n)
{
    *n = t->nprocs;
    return t->procs;
}

uint64_t target_latest(const struct target *t, const int64_t **values)
{
    *values = t->latest;
    return t->latest_present;
}

int64_t target_last_sample_ms(const struct target *t)
{
    return t->last_sample_ms;
}

const char *target_message(const struct target *t)
{
    return t->message;
}
