/* leak.c - per-target verdicts from the stored series (see leak.h). */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leak.h"
#include "log.h"
#include "memlimit.h"
#include "metrics.h"
#include "store.h"
#include "targets.h"
#include "util.h"

static const struct {
    const char *name;
    enum metric_id metric;
} signals[LEAK_KIND_COUNT] = {
    [LEAK_HEAP] = { "heap", M_GO_HEAP_ALLOC },     /* or NextGC: see judge_signal */
    [LEAK_GOROUTINE] = { "goroutine", M_GO_GOROUTINES },
    [LEAK_NON_GO] = { "non_go", M_GO_NON_GO },
    [LEAK_RSS] = { "rss", M_RSS },
};

struct leaktarget {
    int64_t id;
    int64_t next_due;                       /* monotonic */
    struct detector det[LEAK_KIND_COUNT];
    struct leak_verdict verdict;
    struct memlimit lim;                    /* of the process below */
    int64_t lim_read_mono;                  /* 0: never read */
    int lim_pid;
    int64_t lim_start_ms;
};

struct leakwatch {
    struct store *st;
    struct leakwatch_config cfg;
    struct leaktarget **v;                  /* sorted by id */
    size_t n, cap;
    int64_t *ts_buf;                        /* one window of points, reused */
    double *val_buf;
    size_t buf_len, buf_cap;
    struct memlimit_reader *mlr;
    leakwatch_observer_fn observer;
    void *observer_arg;
};

void leakwatch_set_observer(struct leakwatch *lw, leakwatch_observer_fn fn, void *arg)
{
    lw->observer = fn;
    lw->observer_arg = arg;
}

const char *leak_kind_name(enum leak_kind k)
{
    return (unsigned)k < LEAK_KIND_COUNT ? signals[k].name : "?";
}

void leakwatch_config_default(struct leakwatch_config *cfg)
{
    detect_params_default(&cfg->bytes);
    cfg->counts = cfg->bytes;
    /* Goroutines are counted, not weighed: 50 more an hour is material. */
    cfg->counts.min_growth_per_hour = 50;
    cfg->judge_interval_ms = 30 * 1000;
    /* Limits change rarely (a unit's MemoryMax edited, a container resized); re-reading them
     * costs a few small files and the environment, well under a millisecond. */
    cfg->limit_refresh_ms = 5 * 60 * 1000;
    cfg->speed = 1;
}

void leakwatch_target_params(const struct leakwatch_config *cfg, const struct target_record *rec,
                             enum leak_kind k, struct detect_params *out)
{
    *out = k == LEAK_GOROUTINE ? cfg->counts : cfg->bytes;
    if (rec && rec->detect_window_ms > 0) {
        out->window_ms = rec->detect_window_ms;
        /* A window shorter than the warm-up would judge nothing until the warm-up ends. */
        if (out->min_history_ms > out->window_ms)
            out->min_history_ms = out->window_ms;
    }
    if (rec && k == LEAK_GOROUTINE && rec->detect_min_goroutine_growth > 0)
        out->min_growth_per_hour = rec->detect_min_goroutine_growth;
    if (rec && k != LEAK_GOROUTINE && rec->detect_min_growth > 0)
        out->min_growth_per_hour = rec->detect_min_growth;
    if (rec && k != LEAK_GOROUTINE && rec->detect_min_relative_growth > 0)
        out->min_relative_growth_per_hour = rec->detect_min_relative_growth;
    if (cfg->speed > 1)
        detect_params_speed(out, cfg->speed);
}

const struct leakwatch_config *leakwatch_get_config(const struct leakwatch *lw)
{
    return &lw->cfg;
}

void leakwatch_set_config(struct leakwatch *lw, const struct leakwatch_config *cfg)
{
    lw->cfg = *cfg;
    if (cfg->speed > 1) {
        lw->cfg.judge_interval_ms = (int64_t)((double)cfg->judge_interval_ms / cfg->speed);
        if (lw->cfg.judge_interval_ms < 1000)
            lw->cfg.judge_interval_ms = 1000;
        lw->cfg.limit_refresh_ms = (int64_t)((double)cfg->limit_refresh_ms / cfg->speed);
    } else {
        lw->cfg.speed = 1;
    }
}

double leakwatch_speed(const struct leakwatch *lw)
{
    return lw->cfg.speed;
}

int leakwatch_open(struct store *st, const struct leakwatch_config *cfg, struct leakwatch **out)
{
    struct memlimit_reader *mlr;
    int rc = memlimit_reader_new(NULL, NULL, &mlr);
    if (rc < 0)
        return rc;
    struct leakwatch *lw = xcalloc(1, sizeof *lw);
    lw->st = st;
    leakwatch_set_config(lw, cfg);
    lw->mlr = mlr;
    *out = lw;
    return 0;
}

void leakwatch_close(struct leakwatch *lw)
{
    if (!lw)
        return;
    for (size_t i = 0; i < lw->n; i++)
        free(lw->v[i]);
    free(lw->v);
    free(lw->ts_buf);
    free(lw->val_buf);
    memlimit_reader_free(lw->mlr);
    free(lw);
}

static size_t lower_bound(const struct leakwatch *lw, int64_t id)
{
    size_t lo = 0, hi = lw->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (lw->v[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct leaktarget *find(const struct leakwatch *lw, int64_t id)
{
    size_t i = lower_bound(lw, id);
    return i < lw->n && lw->v[i]->id == id ? lw->v[i] : NULL;
}

static struct leaktarget *find_or_add(struct leakwatch *lw, int64_t id)
{
    size_t i = lower_bound(lw, id);
    if (i < lw->n && lw->v[i]->id == id)
        return lw->v[i];
    if (lw->n == lw->cap) {
        lw->cap = lw->cap ? lw->cap * 2 : 16;
        lw->v = xreallocarray(lw->v, lw->cap, sizeof *lw->v);
    }
    memmove(&lw->v[i + 1], &lw->v[i], (lw->n - i) * sizeof *lw->v);
    struct leaktarget *lt = xcalloc(1, sizeof *lt);
    lt->id = id;
    for (int k = 0; k < LEAK_KIND_COUNT; k++)
        detector_init(&lt->det[k]);
    lt->verdict.seconds_to_limit = -1;
    lw->v[i] = lt;
    lw->n++;
    return lt;
}

void leakwatch_forget(struct leakwatch *lw, int64_t target_id)
{
    size_t i = lower_bound(lw, target_id);
    if (i < lw->n && lw->v[i]->id == target_id) {
        free(lw->v[i]);
        memmove(&lw->v[i], &lw->v[i + 1], (lw->n - i - 1) * sizeof *lw->v);
        lw->n--;
    }
}

static int collect(void *arg, const struct store_point *p)
{
    struct leakwatch *lw = arg;
    if (lw->buf_len == lw->buf_cap) {
        lw->buf_cap = lw->buf_cap ? lw->buf_cap * 2 : 2048;
        lw->ts_buf = xreallocarray(lw->ts_buf, lw->buf_cap, sizeof *lw->ts_buf);
        lw->val_buf = xreallocarray(lw->val_buf, lw->buf_cap, sizeof *lw->val_buf);
    }
    lw->ts_buf[lw->buf_len] = p->ts_ms;
    lw->val_buf[lw->buf_len++] = p->avg;
    return 0;
}

/* Judges one signal of one target; NULL trend when there is nothing to judge. */
static void judge_signal(struct leakwatch *lw, struct leaktarget *lt,
                         const struct target_record *rec, enum leak_kind k, int64_t now_wall)
{
    struct detect_params params;
    const struct detect_params *p = &params;
    leakwatch_target_params(&lw->cfg, rec, k, &params);
    const struct metric_info *mi = metric_info(signals[k].metric);
    struct store_series *s = store_series_find(lw->st, lt->id, mi->name);
    double scale = mi->scale;
    /* The live heap, from the GC's own figure: the heap goal (NextGC) is set at the end of
     * each collection to live x (1 + GOGC/100), so it steps with what the last GC found
     * live, never with the garbage since.  HeapAlloc's troughs trace the same only while GC
     * cycles are shorter than an envelope bucket: a heap that grows lengthens its cycles,
     * and a heavy churn makes the troughs random points on the saw-tooth.  With GOGC off
     * the goal means nothing, and HeapAlloc's envelope is all there is. */
    if (k == LEAK_HEAP && lt->lim.gogc >= 0) {
        const struct metric_info *ng = metric_info(M_GO_NEXT_GC);
        struct store_series *gs = store_series_find(lw->st, lt->id, ng->name);
        if (gs) {
            s = gs;
            scale = ng->scale * 100.0 / (100.0 + lt->lim.gogc);
        }
    }
    if (!s)
        return;     /* the target has no such signal (no endpoint, say): leave it out */
    struct detect_trend trend;
    const struct detect_trend *tp = NULL;
    int64_t oldest = now_wall;
    lw->buf_len = 0;
    if (store_query(lw->st, s, now_wall - p->window_ms, now_wall, 0, collect, lw, NULL) == 0 &&
        lw->buf_len > 0) {
        for (size_t i = 0; i < lw->buf_len; i++)
            lw->val_buf[i] *= scale;
        oldest = lw->ts_buf[0];
        if (detect_trend(lw->ts_buf, lw->val_buf, lw->buf_len, p, &trend) == 0)
            tp = &trend;
    }
    /* Warming counts from the first data of the signal, not of the window. */
    if (lt->det[k].first_ms && lt->det[k].first_ms < oldest)
        oldest = lt->det[k].first_ms;
    detector_update(&lt->det[k], p, now_wall, oldest, tp);
}

static int rank(enum detect_state s)
{
    return s == DETECT_LEAKING ? 3 : s == DETECT_SUSPECT ? 2 : s == DETECT_OK ? 1 : 0;
}

static const char *state_word(const struct memlimit_value *v)
{
    return v->state == MEMLIMIT_NONE ? "none" : "unknown";
}

/* Reads the target's limits when its process changed, or every limit_refresh_ms; says so
 * in the log when they change. */
static void refresh_limits(struct leakwatch *lw, struct leaktarget *lt, const struct target *t,
                           int64_t now_mono)
{
    size_t n;
    const struct target_proc *p = target_processes(t, &n);
    int pid = n > 0 ? p[0].pid : 0;
    int64_t start = n > 0 ? p[0].start_time_ms : 0;
    if (lt->lim_read_mono && pid == lt->lim_pid && start == lt->lim_start_ms &&
        now_mono - lt->lim_read_mono < lw->cfg.limit_refresh_ms)
        return;
    struct memlimit m;
    if (memlimit_read(lw->mlr, pid, &m) == -ESRCH && lt->lim_read_mono)
        return;     /* gone since the last sample: the next one says what runs now */
    const struct memlimit *o = &lt->lim;
    if (!lt->lim_read_mono || m.effective_bytes != o->effective_bytes ||
        strcmp(m.effective_source, o->effective_source) != 0 ||
        m.gomemlimit.state != o->gomemlimit.state || m.gomemlimit.bytes != o->gomemlimit.bytes) {
        char eff[32], gml[48];
        if (m.gomemlimit.state == MEMLIMIT_SET)
            format_bytes((double)m.gomemlimit.bytes, gml, sizeof gml);
        else
            snprintf(gml, sizeof gml, "%s", state_word(&m.gomemlimit));
        log_info("target \"%s\": memory limit %s (%s), GOMEMLIMIT %s",
                 target_record(t)->name,
                 m.effective_bytes ? format_bytes((double)m.effective_bytes, eff, sizeof eff)
                                   : "unknown",
                 m.effective_source[0] ? m.effective_source : "no source", gml);
    }
    lt->lim = m;
    lt->lim_pid = pid;
    lt->lim_start_ms = start;
    lt->lim_read_mono = now_mono;
}

static int keep_last(void *arg, const struct store_point *p)
{
    *(double *)arg = p->avg;
    return 0;
}

/* The newest stored value of a metric in API units, within the detection window: 0 or
 * -ENODATA. */
static int newest_value(struct leakwatch *lw, int64_t target_id, enum metric_id m,
                        int64_t now_wall, double *out)
{
    const struct metric_info *mi = metric_info(m);
    struct store_series *s = store_series_find(lw->st, target_id, mi->name);
    double v = NAN;
    int64_t window = (int64_t)((double)lw->cfg.bytes.window_ms / lw->cfg.speed);
    if (!s || store_query(lw->st, s, now_wall - window, now_wall, 0, keep_last, &v, NULL) < 0 ||
        isnan(v))
        return -ENODATA;
    *out = v * mi->scale;
    return 0;
}

/* Where the named signal's growth leads, and when (see leak.h). */
static void project(struct leakwatch *lw, struct leaktarget *lt, const struct target *t,
                    struct leak_verdict *v, int64_t now_wall)
{
    const struct memlimit *ml = &lt->lim;
    v->memory_max_bytes = ml->cgroup.state == MEMLIMIT_SET ? (double)ml->cgroup.bytes : 0;
    v->gomemlimit_bytes = ml->gomemlimit.state == MEMLIMIT_SET ? (double)ml->gomemlimit.bytes : 0;
    v->mem_total_bytes = ml->mem_total.state == MEMLIMIT_SET ? (double)ml->mem_total.bytes : 0;
    v->limit_bytes = 0;
    v->limit_source[0] = '\0';
    v->seconds_to_limit = -1;
    if (v->kind == LEAK_GOROUTINE)
        return;     /* counted, not weighed: its memory shows in the other signals */
    double limit = (double)ml->effective_bytes, level = -1, sys, released;
    const char *source = ml->effective_source ? ml->effective_source : "";
    size_t nproc;
    (void)target_processes(t, &nproc);
    if (v->kind == LEAK_HEAP && nproc == 1 && ml->gomemlimit.state == MEMLIMIT_SET &&
        (limit <= 0 || (double)ml->gomemlimit.bytes < limit) &&
        newest_value(lw, lt->id, M_GO_SYS, now_wall, &sys) == 0 &&
        newest_value(lw, lt->id, M_GO_HEAP_RELEASED, now_wall, &released) == 0) {
        limit = (double)ml->gomemlimit.bytes;
        source = "GOMEMLIMIT";
        level = sys - released;
    } else if (strcmp(source, "memory.max") == 0) {
        uint64_t cur;
        if (memlimit_cgroup_usage(lw->mlr, ml, &cur) == 0)
            level = (double)cur;
    }
    const int64_t *values;
    uint64_t present = target_latest(t, &values);
    if (level < 0 && ((present >> M_RSS) & 1))
        level = (double)values[M_RSS] * metric_info(M_RSS)->scale;
    if (!(limit > 0))
        return;
    v->limit_bytes = limit;
    snprintf(v->limit_source, sizeof v->limit_source, "%s", source);
    if (level >= 0 && v->trend.slope_per_hour > 0) {
        v->seconds_to_limit = (limit - level) / (v->trend.slope_per_hour / 3600.0);
        if (v->seconds_to_limit < 0)
            v->seconds_to_limit = 0;
    }
}

static void decide(struct leakwatch *lw, struct leaktarget *lt, const struct target *t,
                   int64_t now_wall)
{
    /* Ties go to the earlier kind here.  Goroutines first: leaked goroutines keep what
     * they reference, so a goroutine leak grows the heap too, and the heap is then the
     * symptom; a Go signal before RSS, since it names the leak better. */
    static const enum leak_kind preference[LEAK_KIND_COUNT] = { LEAK_GOROUTINE, LEAK_HEAP,
                                                                 LEAK_NON_GO, LEAK_RSS };
    int best = -1;
    for (int k = 0; k < LEAK_KIND_COUNT; k++) {
        lt->verdict.signal_state[k] = lt->det[k].state;
        lt->verdict.signal_seen[k] = lt->det[k].first_ms != 0;
    }
    for (int i = 0; i < LEAK_KIND_COUNT; i++) {
        int k = (int)preference[i];
        if (!lt->verdict.signal_seen[k])
            continue;   /* never had data */
        if (best < 0 || rank(lt->det[k].state) > rank(lt->det[best].state))
            best = k;
    }
    /* Nothing growing: the verdict speaks of the heap if it can (its kind then only says
     * which signal the figures are of, and a goroutine count has no memory limit). */
    if (best >= 0 && rank(lt->det[best].state) <= rank(DETECT_OK))
        for (int k = LEAK_KIND_COUNT - 1; k >= 0; k--)
            if (lt->verdict.signal_seen[k] && lt->det[k].state == lt->det[best].state)
                best = k;
    struct leak_verdict *v = &lt->verdict;
    enum detect_state old = v->state;
    if (best < 0) {
        v->state = DETECT_WARMING;
        return;
    }
    v->state = lt->det[best].state;
    /* RSS confirms sooner (sampled every second, Go figures every 10 s), but a Go signal that
     * is already suspect names the kind: RSS grows because that does. */
    int named = best;
    if (best == LEAK_RSS)
        for (int i = 0; i < LEAK_RSS; i++) {
            int k = (int)preference[i];
            if (lt->verdict.signal_seen[k] && rank(lt->det[k].state) >= rank(DETECT_SUSPECT) &&
                (named == LEAK_RSS || rank(lt->det[k].state) > rank(lt->det[named].state)))
                named = k;
        }
    /* Leaked goroutines hold stacks and what they reference: the heap (and RSS) grow with
     * them, and the heap's goal, scraped more often than goroutine profiles, may confirm
     * first.  Growing goroutines are then the leak and the heap its symptom. */
    if ((named == LEAK_HEAP || named == LEAK_RSS) && lt->verdict.signal_seen[LEAK_GOROUTINE] &&
        rank(lt->det[LEAK_GOROUTINE].state) >= rank(DETECT_SUSPECT))
        named = LEAK_GOROUTINE;
    best = named;
    v->kind = (enum leak_kind)best;
    v->since_ms = lt->det[best].since_ms;
    v->trend = lt->det[best].last;
    project(lw, lt, t, v, now_wall);
    if (v->state != old && (v->state == DETECT_LEAKING || old == DETECT_LEAKING)) {
        char rate[48];
        if (best == LEAK_GOROUTINE)
            snprintf(rate, sizeof rate, "%+.0f goroutines", v->trend.slope_per_hour);
        else
            snprintf(rate, sizeof rate, "%s%s", v->trend.slope_per_hour < 0 ? "-" : "+",
                     format_bytes(fabs(v->trend.slope_per_hour), (char[32]){ 0 }, 32));
        log_notice("target \"%s\": %s (%s, %s an hour)", target_record(t)->name,
                   detect_state_name(v->state), leak_kind_name(v->kind), rate);
    }
}

int64_t leakwatch_tick(struct leakwatch *lw, struct targets *ts, int64_t now_mono, int64_t now_wall)
{
    int64_t next = now_mono + lw->cfg.judge_interval_ms;
    for (size_t i = 0; i < targets_count(ts); i++) {
        struct target *t = targets_at(ts, i);
        const struct target_record *rec = target_record(t);
        struct leaktarget *lt = find_or_add(lw, rec->id);
        if (now_mono < lt->next_due) {
            if (lt->next_due < next)
                next = lt->next_due;
            continue;
        }
        lt->next_due = now_mono + lw->cfg.judge_interval_ms;
        if (rec->state == TARGET_GONE) {
            if (lw->observer)
                lw->observer(lw->observer_arg, t, NULL, now_wall);
            continue;
        }
        refresh_limits(lw, lt, t, now_mono);    /* first: the heap signal needs GOGC */
        for (int k = 0; k < LEAK_KIND_COUNT; k++)
            judge_signal(lw, lt, rec, (enum leak_kind)k, now_wall);
        decide(lw, lt, t, now_wall);
        if (lw->observer)
            lw->observer(lw->observer_arg, t, &lt->verdict, now_wall);
    }
    return next;
}

void leakwatch_verdict(const struct leakwatch *lw, int64_t target_id, struct leak_verdict *out)
{
    const struct leaktarget *lt = find(lw, target_id);
    if (lt) {
        *out = lt->verdict;
        return;
    }
    memset(out, 0, sizeof *out);
    out->state = DETECT_WARMING;
    out->seconds_to_limit = -1;
}
