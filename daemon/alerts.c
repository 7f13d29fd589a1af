/* alerts.c - the alert book (contract in alerts.h, schema in sql/004-alerts.sql).
 *
 * Active alerts (pending, firing) live in memory, one per target, sorted by target id, and
 * are written through to SQLite as they change; resolved ones are only in SQLite.  The raw
 * heap profiles kept for evidence are rows of raw_profiles, rolled per target as profiles
 * arrive.  Single-threaded (the main loop's); its own SQLite connection, like profstore.c. */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "db.h"
#include "deliver.h"
#include "gorun.h"
#include "log.h"
#include "metrics.h"
#include "profstore.h"
#include "util.h"

/* A firing alert's figures are written at least this often (and at every change of state). */
#define SAVE_INTERVAL_MS    (5 * 60 * 1000)
/* Sites of a profile diff looked at for culprits: the biggest growers come first. */
#define CULPRIT_SITES_MAX   512
/* Distinct functions grouped; more than that are the diff's noise tail. */
#define CULPRIT_GROUPS_MAX  64
/* Culprits after the first must have grown at least this share of the first's growth. */
#define CULPRIT_MIN_PERCENT 2
/* Rolling raw profiles: one kept per window/RAW_PER_WINDOW, for 1.25 windows. */
#define RAW_PER_WINDOW      8

enum {
    S_SAVE,             /* upsert one alert */
    S_ACTIVE,           /* pending and firing alerts, at start */
    S_RESOLVED,         /* resolved since ?, newest first */
    S_RESOLVED_TARGET,  /* the same for one target */
    S_MAX_ID,
    S_PURGE,            /* resolved before ? */
    S_RAW_INSERT,
    S_RAW_PRUNE,        /* a target's raw profiles older than ? */
    S_RAW_NEWEST,       /* a target's newest raw profile's time, at start */
    S_RAW_BASE,         /* the newest at or before ? */
    S_RAW_OLDEST,
    S_KEEP_PROFILE,     /* copy a raw profile to an alert */
    S_ADD_PROFILE,      /* store a profile as an alert's */
    S_PROFILE,          /* an alert's kept profile */
    S_NSTMT
};

#define ALERT_COLS                                                                          \
    "a.id, a.target_id, t.name, a.kind, a.state, a.started_ms, a.since_ms, a.fired_ms, "     \
    "a.resolved_ms, a.updated_ms, a.growth_per_hour, a.confidence, a.window_from_ms, "       \
    "a.window_to_ms, a.level, a.limit_bytes, a.limit_source, a.seconds_to_limit, a.summary, " \
    "a.culprits, (SELECT count(*) FROM alert_profiles p WHERE p.alert_id = a.id), "          \
    "(SELECT count(*) FROM alert_profiles p WHERE p.alert_id = a.id AND p.which = 0)"

static const char *const stmt_sql[S_NSTMT] = {
    [S_SAVE] =
        "INSERT INTO alerts (id, target_id, kind, state, started_ms, since_ms, fired_ms,"
        " resolved_ms, updated_ms, growth_per_hour, confidence, window_from_ms, window_to_ms,"
        " level, limit_bytes, limit_source, seconds_to_limit, summary, culprits)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
        " ?18, ?19)"
        " ON CONFLICT (id) DO UPDATE SET kind = ?3, state = ?4, started_ms = ?5, since_ms = ?6,"
        " fired_ms = ?7, resolved_ms = ?8, updated_ms = ?9, growth_per_hour = ?10,"
        " confidence = ?11, window_from_ms = ?12, window_to_ms = ?13, level = ?14,"
        " limit_bytes = ?15, limit_source = ?16, seconds_to_limit = ?17, summary = ?18,"
        " culprits = ?19",
    [S_ACTIVE] = "SELECT " ALERT_COLS " FROM alerts a JOIN targets t ON t.id = a.target_id"
                 " WHERE a.state < 2 ORDER BY a.target_id, a.id",
    [S_RESOLVED] = "SELECT " ALERT_COLS " FROM alerts a JOIN targets t ON t.id = a.target_id"
                   " WHERE a.state = 2 AND a.since_ms >= ?1 ORDER BY a.since_ms DESC LIMIT ?2",
    [S_RESOLVED_TARGET] =
        "SELECT " ALERT_COLS " FROM alerts a JOIN targets t ON t.id = a.target_id"
        " WHERE a.target_id = ?3 AND a.state = 2 AND a.since_ms >= ?1"
        " ORDER BY a.since_ms DESC LIMIT ?2",
    [S_MAX_ID] = "SELECT coalesce(max(id), 0) FROM alerts",
    [S_PURGE] = "DELETE FROM alerts WHERE state = 2 AND since_ms < ?1",
    [S_RAW_INSERT] = "INSERT INTO raw_profiles (target_id, ts_ms, data) VALUES (?1, ?2, ?3)",
    [S_RAW_PRUNE] = "DELETE FROM raw_profiles WHERE target_id = ?1 AND ts_ms < ?2",
    [S_RAW_NEWEST] = "SELECT coalesce(max(ts_ms), 0) FROM raw_profiles WHERE target_id = ?1",
    [S_RAW_BASE] = "SELECT id, ts_ms FROM raw_profiles WHERE target_id = ?1 AND ts_ms <= ?2"
                   " ORDER BY ts_ms DESC LIMIT 1",
    [S_RAW_OLDEST] = "SELECT id, ts_ms FROM raw_profiles WHERE target_id = ?1"
                     " ORDER BY ts_ms LIMIT 1",
    [S_KEEP_PROFILE] = "INSERT OR REPLACE INTO alert_profiles (alert_id, which, ts_ms, data)"
                       " SELECT ?1, ?2, ts_ms, data FROM raw_profiles WHERE id = ?3",
    [S_ADD_PROFILE] = "INSERT OR REPLACE INTO alert_profiles (alert_id, which, ts_ms, data)"
                      " VALUES (?1, ?2, ?3, ?4)",
    [S_PROFILE] = "SELECT data, ts_ms FROM alert_profiles WHERE alert_id = ?1 AND which = ?2",
};

/* An active alert and when it was last written. */
struct active {
    struct alert a;
    int64_t saved_ms;
    int64_t culprits_ms;            /* when the culprits were last computed */
    bool awaiting_now;              /* fired with a base profile: the next one is "now" */
};

/* Per target: the rolling raw profiles. */
struct rawkeep {
    int64_t target_id;
    int64_t newest_ms;              /* of the newest row; -1: not read from the table yet */
};

struct alerts {
    sqlite3 *db;
    sqlite3_stmt *stmt[S_NSTMT];
    struct alerts_config cfg;
    struct profstore *ps;
    struct gorun *gr;
    struct deliver *dl;
    struct active **act;            /* sorted by target id */
    size_t n_act, cap_act;
    struct rawkeep *raw;            /* sorted by target id */
    size_t n_raw, cap_raw;
    int64_t next_id;
    int64_t err_logged_ms;          /* rate-limits write errors */
};

/* ---- SQLite helpers ------------------------------------------------------------------------ */

static sqlite3_stmt *stmt(struct alerts *ab, int i)
{
    sqlite3_reset(ab->stmt[i]);
    sqlite3_clear_bindings(ab->stmt[i]);
    return ab->stmt[i];
}

/* Logs a failed write, at most once a minute: a full disk would otherwise say so at every
 * judgement.  The alert stays right in memory and is written again at its next change. */
static int write_failed(struct alerts *ab, const char *what, int64_t now)
{
    int e = db_errno(ab->db, sqlite3_errcode(ab->db));
    if (now - ab->err_logged_ms > 60 * 1000) {
        log_err("alerts: cannot %s: %s", what, sqlite3_errmsg(ab->db));
        ab->err_logged_ms = now;
    }
    return e;
}

static int step_done(struct alerts *ab, sqlite3_stmt *q, const char *what, int64_t now)
{
    int rc = sqlite3_step(q);
    int r = rc == SQLITE_DONE ? 0 : write_failed(ab, what, now);
    sqlite3_reset(q);
    return r;
}

/* ---- culprits as JSON text (the column and the API share the form) ------------------------ */

static char *culprits_text(const struct alert *a)
{
    json_t *doc = alert_to_json(a);
    char *s = json_dumps(json_object_get(doc, "culprits"), JSON_COMPACT);
    json_decref(doc);
    return s ? s : xstrdup("[]");
}

static void copy_str(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

static void culprits_parse(struct alert *a, const char *text)
{
    json_t *arr = json_loads(text ? text : "[]", 0, NULL);
    a->n_culprits = 0;
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        if (a->n_culprits == ALERT_MAX_CULPRITS)
            break;
        struct alert_culprit *c = &a->culprits[a->n_culprits++];
        memset(c, 0, sizeof *c);
        copy_str(c->function, sizeof c->function, json_string_value(json_object_get(o, "function")));
        copy_str(c->file, sizeof c->file, json_string_value(json_object_get(o, "file")));
        c->line = json_integer_value(json_object_get(o, "line"));
        copy_str(c->leaf_function, sizeof c->leaf_function,
                 json_string_value(json_object_get(o, "leaf_function")));
        copy_str(c->leaf_file, sizeof c->leaf_file,
                 json_string_value(json_object_get(o, "leaf_file")));
        c->leaf_line = json_integer_value(json_object_get(o, "leaf_line"));
        c->growth_bytes = json_integer_value(json_object_get(o, "growth_bytes"));
        json_t *n = json_object_get(o, "growth_objects");
        c->growth_count = json_integer_value(n ? n : json_object_get(o, "growth_goroutines"));
    }
    json_decref(arr);
}

static void row_to_alert(sqlite3_stmt *q, struct alert *a)
{
    memset(a, 0, sizeof *a);
    a->id = sqlite3_column_int64(q, 0);
    a->target_id = sqlite3_column_int64(q, 1);
    copy_str(a->target, sizeof a->target, (const char *)sqlite3_column_text(q, 2));
    copy_str(a->kind, sizeof a->kind, (const char *)sqlite3_column_text(q, 3));
    int st = sqlite3_column_int(q, 4);
    a->state = st == 1 ? ALERT_FIRING : st == 2 ? ALERT_RESOLVED : ALERT_PENDING;
    a->started_ms = sqlite3_column_int64(q, 5);
    a->since_ms = sqlite3_column_int64(q, 6);
    a->fired_ms = sqlite3_column_int64(q, 7);
    a->resolved_ms = sqlite3_column_int64(q, 8);
    a->updated_ms = sqlite3_column_int64(q, 9);
    a->growth_per_hour = sqlite3_column_double(q, 10);
    a->confidence = sqlite3_column_double(q, 11);
    a->window_from_ms = sqlite3_column_int64(q, 12);
    a->window_to_ms = sqlite3_column_int64(q, 13);
    a->level = sqlite3_column_double(q, 14);
    a->limit_bytes = sqlite3_column_double(q, 15);
    copy_str(a->limit_source, sizeof a->limit_source, (const char *)sqlite3_column_text(q, 16));
    a->seconds_to_limit = sqlite3_column_double(q, 17);
    copy_str(a->summary, sizeof a->summary, (const char *)sqlite3_column_text(q, 18));
    culprits_parse(a, (const char *)sqlite3_column_text(q, 19));
    a->n_profiles = sqlite3_column_int(q, 20) >= 2 ? 2 : 0;
}

/* A firing alert that has its base profile but not yet its "now" (a restart came between). */
static bool row_awaits_now(sqlite3_stmt *q)
{
    return sqlite3_column_int(q, 4) == ALERT_FIRING && sqlite3_column_int(q, 20) == 1 &&
           sqlite3_column_int(q, 21) == 1;
}

static int save(struct alerts *ab, struct active *ac, int64_t now)
{
    const struct alert *a = &ac->a;
    char *culprits = culprits_text(a);
    sqlite3_stmt *q = stmt(ab, S_SAVE);
    sqlite3_bind_int64(q, 1, a->id);
    sqlite3_bind_int64(q, 2, a->target_id);
    sqlite3_bind_text(q, 3, a->kind, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 4, (int)a->state);
    sqlite3_bind_int64(q, 5, a->started_ms);
    sqlite3_bind_int64(q, 6, a->since_ms);
    sqlite3_bind_int64(q, 7, a->fired_ms);
    sqlite3_bind_int64(q, 8, a->resolved_ms);
    sqlite3_bind_int64(q, 9, a->updated_ms);
    sqlite3_bind_double(q, 10, a->growth_per_hour);
    sqlite3_bind_double(q, 11, a->confidence);
    sqlite3_bind_int64(q, 12, a->window_from_ms);
    sqlite3_bind_int64(q, 13, a->window_to_ms);
    sqlite3_bind_double(q, 14, a->level);
    sqlite3_bind_double(q, 15, a->limit_bytes);
    sqlite3_bind_text(q, 16, a->limit_source, -1, SQLITE_STATIC);
    sqlite3_bind_double(q, 17, a->seconds_to_limit);
    sqlite3_bind_text(q, 18, a->summary, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 19, culprits, -1, SQLITE_STATIC);
    int r = step_done(ab, q, "save an alert", now);
    sqlite3_clear_bindings(q);
    free(culprits);
    if (r == 0)
        ac->saved_ms = now;
    return r;
}

/* ---- opening ------------------------------------------------------------------------------- */

static size_t act_lower_bound(const struct alerts *ab, int64_t target_id)
{
    size_t lo = 0, hi = ab->n_act;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ab->act[mid]->a.target_id < target_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct active *act_find(const struct alerts *ab, int64_t target_id)
{
    size_t i = act_lower_bound(ab, target_id);
    return i < ab->n_act && ab->act[i]->a.target_id == target_id ? ab->act[i] : NULL;
}

static struct active *act_insert(struct alerts *ab, int64_t target_id)
{
    size_t i = act_lower_bound(ab, target_id);
    if (ab->n_act == ab->cap_act) {
        ab->cap_act = ab->cap_act ? ab->cap_act * 2 : 8;
        ab->act = xreallocarray(ab->act, ab->cap_act, sizeof *ab->act);
    }
    memmove(&ab->act[i + 1], &ab->act[i], (ab->n_act - i) * sizeof *ab->act);
    struct active *ac = xcalloc(1, sizeof *ac);
    ac->a.target_id = target_id;
    ab->act[i] = ac;
    ab->n_act++;
    return ac;
}

static void act_remove(struct alerts *ab, int64_t target_id)
{
    size_t i = act_lower_bound(ab, target_id);
    if (i < ab->n_act && ab->act[i]->a.target_id == target_id) {
        free(ab->act[i]);
        memmove(&ab->act[i], &ab->act[i + 1], (ab->n_act - i - 1) * sizeof *ab->act);
        ab->n_act--;
    }
}

int alerts_open(const struct alerts_config *cfg, struct profstore *ps, struct gorun *gr,
                struct deliver *dl, struct alerts **out, char **err)
{
    struct alerts *ab = xcalloc(1, sizeof *ab);
    char msg[256] = "";
    int r;
    *out = NULL;
    ab->cfg = *cfg;
    ab->cfg.path = NULL;    /* not kept */
    if (ab->cfg.culprit_refresh_ms <= 0)
        ab->cfg.culprit_refresh_ms = 10 * 60 * 1000;
    if (ab->cfg.history_ms <= 0)
        ab->cfg.history_ms = 30LL * 24 * 3600 * 1000;
    if (ab->cfg.window_ms <= 0)
        ab->cfg.window_ms = 30 * 60 * 1000;
    ab->ps = ps;
    ab->gr = gr;
    ab->dl = dl;
    if ((r = db_open(cfg->path, false, &ab->db, msg, sizeof msg)) < 0)
        goto fail;
    for (int i = 0; i < S_NSTMT; i++) {
        int rc = sqlite3_prepare_v3(ab->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                    &ab->stmt[i], NULL);
        if (rc != SQLITE_OK) {
            snprintf(msg, sizeof msg, "preparing statements: %s", sqlite3_errmsg(ab->db));
            r = db_errno(ab->db, rc);
            goto fail;
        }
    }
    sqlite3_stmt *q = stmt(ab, S_MAX_ID);
    if (sqlite3_step(q) == SQLITE_ROW)
        ab->next_id = sqlite3_column_int64(q, 0) + 1;
    sqlite3_reset(q);
    q = stmt(ab, S_ACTIVE);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct alert a;
        row_to_alert(q, &a);
        if (act_find(ab, a.target_id))
            continue;   /* cannot happen unless edited by hand: keep the first */
        struct active *ac = act_insert(ab, a.target_id);
        ac->a = a;
        ac->saved_ms = a.updated_ms;
        ac->culprits_ms = a.updated_ms;
        ac->awaiting_now = row_awaits_now(q);
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        snprintf(msg, sizeof msg, "loading alerts: %s", sqlite3_errmsg(ab->db));
        r = db_errno(ab->db, rc);
        goto fail;
    }
    if (ab->n_act)
        log_info("alerts: %zu pending or firing alerts carried over", ab->n_act);
    *out = ab;
    return 0;
fail:
    if (err)
        *err = xasprintf("%s: %s", cfg->path ? cfg->path : "(null)", msg);
    alerts_close(ab);
    return r < 0 ? r : -EIO;
}

void alerts_close(struct alerts *ab)
{
    if (!ab)
        return;
    for (int i = 0; i < S_NSTMT; i++)
        sqlite3_finalize(ab->stmt[i]);
    sqlite3_close(ab->db);
    for (size_t i = 0; i < ab->n_act; i++)
        free(ab->act[i]);
    free(ab->act);
    free(ab->raw);
    free(ab);
}

void alerts_set_deliver(struct alerts *ab, struct deliver *dl)
{
    ab->dl = dl;
}

void alerts_set_window(struct alerts *ab, int64_t window_ms)
{
    if (window_ms > 0)
        ab->cfg.window_ms = window_ms;
}

/* ---- culprits ------------------------------------------------------------------------------ */

struct group {
    const struct profstore_diff_site *top;  /* its biggest contributor */
    int64_t bytes, count;
};

static int group_cmp(const void *x, const void *y)
{
    const struct group *a = x, *b = y;
    int64_t ka = a->bytes ? a->bytes : a->count, kb = b->bytes ? b->bytes : b->count;
    return ka < kb ? 1 : ka > kb ? -1 : 0;
}

/* Stack memory of one goroutine, from the target's latest runtime figures (8 KiB if none). */
static double stack_per_goroutine(struct alerts *ab, int64_t target_id)
{
    const struct go_stats *s = ab->gr ? gorun_latest(ab->gr, target_id, NULL) : NULL;
    uint64_t need = (UINT64_C(1) << M_GO_STACK_INUSE) | (UINT64_C(1) << M_GO_GOROUTINES);
    if (s && (s->present & need) == need && s->v[M_GO_GOROUTINES] > 0)
        return (double)s->v[M_GO_STACK_INUSE] / (double)s->v[M_GO_GOROUTINES];
    return 8192;
}

/* Names the culprits from the profiles of [from, to]: the sites that grew, grouped by the
 * program's own function (several allocation sites in one function, a map's buckets and
 * its values say, are one culprit). */
static void find_culprits(struct alerts *ab, struct alert *a, int64_t from, int64_t to)
{
    bool gr = strcmp(a->kind, "goroutine") == 0;
    if (!ab->ps || (!gr && strcmp(a->kind, "heap") != 0))
        return;     /* non_go, rss: not in Go's profiles; keep what there is (none) */
    struct profstore_diff *d = NULL;
    int r = profstore_diff(ab->ps, a->target_id, gr ? PPROF_GOROUTINE : PPROF_HEAP, from, to,
                           CULPRIT_SITES_MAX, &d);
    if (r < 0) {
        if (r != -ENOENT)
            log_warn("alert %lld: cannot compare profiles: %s", (long long)a->id,
                     profstore_errmsg(ab->ps));
        return;
    }
    struct group g[CULPRIT_GROUPS_MAX];
    size_t ng = 0;
    int idx_bytes = PV_INUSE_BYTES, idx_count = gr ? PV_COUNT : PV_INUSE_OBJECTS;
    double per_goroutine = gr ? stack_per_goroutine(ab, a->target_id) : 0;
    for (size_t i = 0; i < d->nsites; i++) {
        const struct profstore_diff_site *s = &d->sites[i];
        int64_t bytes = gr ? (int64_t)(s->delta[PV_COUNT] * per_goroutine) : s->delta[idx_bytes];
        int64_t count = s->delta[idx_count];
        if ((gr ? count : bytes) <= 0)
            continue;
        size_t j = 0;
        while (j < ng && strcmp(g[j].top->user_func, s->user_func) != 0)
            j++;
        if (j == ng) {
            if (ng == CULPRIT_GROUPS_MAX)
                continue;
            g[ng++] = (struct group){ .top = s };
        }
        g[j].bytes += bytes;
        g[j].count += count;
    }
    qsort(g, ng, sizeof *g, group_cmp);
    a->n_culprits = 0;
    for (size_t j = 0; j < ng && j < ALERT_MAX_CULPRITS; j++) {
        /* Past the leak itself come the sites that merely had garbage or a few new objects
         * caught live in the newer profile: sampling noise, not culprits. */
        int64_t top = gr ? g[0].count : g[0].bytes, this = gr ? g[j].count : g[j].bytes;
        if (j > 0 && this * (100 / CULPRIT_MIN_PERCENT) < top)
            break;
        struct alert_culprit *c = &a->culprits[a->n_culprits++];
        const struct profstore_diff_site *s = g[j].top;
        memset(c, 0, sizeof *c);
        copy_str(c->function, sizeof c->function, s->user_func);
        copy_str(c->file, sizeof c->file, s->user_file);
        c->line = s->user_line;
        if (strcmp(s->leaf_func, s->user_func) != 0 || s->leaf_line != s->user_line) {
            copy_str(c->leaf_function, sizeof c->leaf_function, s->leaf_func);
            copy_str(c->leaf_file, sizeof c->leaf_file, s->leaf_file);
            c->leaf_line = s->leaf_line;
        }
        c->growth_bytes = g[j].bytes;
        c->growth_count = g[j].count;
    }
    profstore_diff_free(d);
}

/* ---- evidence: raw heap profiles ------------------------------------------------------------ */

static struct rawkeep *raw_get(struct alerts *ab, int64_t target_id)
{
    size_t lo = 0, hi = ab->n_raw;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ab->raw[mid].target_id < target_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < ab->n_raw && ab->raw[lo].target_id == target_id)
        return &ab->raw[lo];
    if (ab->n_raw == ab->cap_raw) {
        ab->cap_raw = ab->cap_raw ? ab->cap_raw * 2 : 16;
        ab->raw = xreallocarray(ab->raw, ab->cap_raw, sizeof *ab->raw);
    }
    memmove(&ab->raw[lo + 1], &ab->raw[lo], (ab->n_raw - lo) * sizeof *ab->raw);
    ab->n_raw++;
    ab->raw[lo] = (struct rawkeep){ .target_id = target_id, .newest_ms = -1 };
    return &ab->raw[lo];
}

/* Stores a profile as one of an alert's two (which: 0 base, 1 now). */
static int add_alert_profile(struct alerts *ab, int64_t alert_id, int which, int64_t ts_ms,
                             const uint8_t *raw, size_t len)
{
    sqlite3_stmt *q = stmt(ab, S_ADD_PROFILE);
    sqlite3_bind_int64(q, 1, alert_id);
    sqlite3_bind_int(q, 2, which);
    sqlite3_bind_int64(q, 3, ts_ms);
    sqlite3_bind_blob(q, 4, raw, (int)len, SQLITE_STATIC);
    int r = step_done(ab, q, "keep an alert's heap profile", ts_ms);
    sqlite3_clear_bindings(q);
    return r;
}

void alerts_note_heap_profile(struct alerts *ab, int64_t target_id, int64_t ts_ms,
                              const uint8_t *raw, size_t len)
{
    if (!ab || !raw || len == 0 || len > INT32_MAX)
        return;
    /* A firing alert waiting for its "now" profile takes this one. */
    struct active *ac = act_find(ab, target_id);
    if (ac && ac->awaiting_now && ts_ms >= ac->a.fired_ms &&
        add_alert_profile(ab, ac->a.id, 1, ts_ms, raw, len) == 0) {
        ac->awaiting_now = false;
        ac->a.n_profiles = 2;
    }
    struct rawkeep *rk = raw_get(ab, target_id);
    int64_t spacing = ab->cfg.window_ms / RAW_PER_WINDOW;
    sqlite3_stmt *q;
    if (rk->newest_ms < 0) {
        q = stmt(ab, S_RAW_NEWEST);     /* a restart: carry on from what is stored */
        sqlite3_bind_int64(q, 1, target_id);
        rk->newest_ms = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
        sqlite3_reset(q);
    }
    if (ts_ms - rk->newest_ms < spacing)
        return;     /* only one every window/8 is written: the disk sees little of them */
    q = stmt(ab, S_RAW_INSERT);
    sqlite3_bind_int64(q, 1, target_id);
    sqlite3_bind_int64(q, 2, ts_ms);
    sqlite3_bind_blob(q, 3, raw, (int)len, SQLITE_STATIC);
    int r = step_done(ab, q, "keep a raw heap profile", ts_ms);
    sqlite3_clear_bindings(q);
    if (r < 0)
        return;
    rk->newest_ms = ts_ms;
    /* Anything older than the window (and a bit) can no longer be a window's start. */
    q = stmt(ab, S_RAW_PRUNE);
    sqlite3_bind_int64(q, 1, target_id);
    sqlite3_bind_int64(q, 2, ts_ms - ab->cfg.window_ms - ab->cfg.window_ms / 4 - spacing);
    step_done(ab, q, "prune raw profiles", ts_ms);
}

/* The raw row chosen by statement i for the target: its id, or 0. */
static int64_t raw_pick(struct alerts *ab, int i, int64_t target_id, int64_t ts, int64_t *when)
{
    sqlite3_stmt *q = stmt(ab, i);
    sqlite3_bind_int64(q, 1, target_id);
    if (i == S_RAW_BASE)
        sqlite3_bind_int64(q, 2, ts);
    int64_t id = 0;
    if (sqlite3_step(q) == SQLITE_ROW) {
        id = sqlite3_column_int64(q, 0);
        *when = sqlite3_column_int64(q, 1);
    }
    sqlite3_reset(q);
    return id;
}

/* Copies the window's first raw profile to the alert; the next profile the target serves
 * will be its "now" (alerts_note_heap_profile): one at most a profile interval away. */
static void keep_evidence(struct alerts *ab, struct active *ac, int64_t now)
{
    struct alert *a = &ac->a;
    int64_t base_ts = 0;
    int64_t base = raw_pick(ab, S_RAW_BASE, a->target_id, a->window_from_ms, &base_ts);
    if (!base)
        base = raw_pick(ab, S_RAW_OLDEST, a->target_id, 0, &base_ts);
    if (!base)
        return;     /* no heap profiles: no endpoint, or not served */
    sqlite3_stmt *q = stmt(ab, S_KEEP_PROFILE);
    sqlite3_bind_int64(q, 1, a->id);
    sqlite3_bind_int(q, 2, 0);
    sqlite3_bind_int64(q, 3, base);
    if (step_done(ab, q, "keep an alert's heap profile", now) == 0)
        ac->awaiting_now = true;
}

int alerts_profile(struct alerts *ab, int64_t alert_id, int which, uint8_t **data, size_t *len,
                   int64_t *ts_ms)
{
    sqlite3_stmt *q = stmt(ab, S_PROFILE);
    sqlite3_bind_int64(q, 1, alert_id);
    sqlite3_bind_int(q, 2, which);
    int rc = sqlite3_step(q), r = -ENOENT;
    if (rc == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(q, 0);
        *data = xmalloc(n ? n : 1);
        if (n)
            memcpy(*data, sqlite3_column_blob(q, 0), n);
        *len = n;
        if (ts_ms)
            *ts_ms = sqlite3_column_int64(q, 1);
        r = 0;
    } else if (rc != SQLITE_DONE) {
        r = db_errno(ab->db, rc);
    }
    sqlite3_reset(q);
    return r;
}

/* ---- the lifecycle ------------------------------------------------------------------------- */

static void take_figures(struct alert *a, const struct leak_verdict *v, int64_t now)
{
    a->growth_per_hour = v->trend.slope_per_hour;
    a->confidence = v->trend.confidence;
    a->window_from_ms = v->trend.from_ms;
    a->window_to_ms = v->trend.to_ms;
    a->level = v->trend.level;
    a->limit_bytes = v->limit_bytes;
    copy_str(a->limit_source, sizeof a->limit_source, v->limit_source);
    a->seconds_to_limit = v->seconds_to_limit;
    a->updated_ms = now;
}

static void set_state(struct alert *a, enum alert_state s, int64_t now)
{
    a->state = s;
    a->since_ms = now;
    if (s == ALERT_FIRING)
        a->fired_ms = now;
    if (s == ALERT_RESOLVED)
        a->resolved_ms = now;
}

static void announce(struct alerts *ab, const struct alert *a)
{
    if (a->state == ALERT_FIRING)
        log_warn("alert %lld firing: %s", (long long)a->id, a->summary);
    else
        log_notice("alert %lld %s: %s", (long long)a->id, alert_state_name(a->state), a->summary);
    if (a->fired_ms)    /* pending alerts that came to nothing are not news */
        deliver_submit(ab->dl, a);
}

static void resolve(struct alerts *ab, struct active *ac, const char *why, int64_t now)
{
    struct alert *a = &ac->a;
    bool fired = a->state == ALERT_FIRING;
    set_state(a, ALERT_RESOLVED, now);
    if (!fired)
        a->fired_ms = 0;
    a->updated_ms = now;
    copy_str(a->reason, sizeof a->reason, why);
    alert_summarize(a);
    save(ab, ac, now);
    if (fired)
        announce(ab, a);
    else
        log_info("alert %lld (pending) cleared: %s", (long long)a->id, a->summary);
    act_remove(ab, a->target_id);
}

void alerts_update(struct alerts *ab, int64_t target_id, const char *target_name,
                   const struct leak_verdict *v, int64_t now)
{
    if (!ab)
        return;
    struct active *ac = act_find(ab, target_id);
    if (!v) {
        if (ac)
            resolve(ab, ac, "the process exited", now);
        return;
    }
    if (!ac) {
        if (v->state != DETECT_SUSPECT && v->state != DETECT_LEAKING)
            return;
        ac = act_insert(ab, target_id);
        struct alert *a = &ac->a;
        a->id = ab->next_id++;
        copy_str(a->target, sizeof a->target, target_name);
        copy_str(a->kind, sizeof a->kind, leak_kind_name(v->kind));
        a->started_ms = v->since_ms > 0 && v->since_ms <= now ? v->since_ms : now;
        set_state(a, ALERT_PENDING, now);
        take_figures(a, v, now);
        alert_summarize(a);
        save(ab, ac, now);
        log_info("alert %lld pending: %s", (long long)a->id, a->summary);
    }
    struct alert *a = &ac->a;
    switch (v->state) {
    case DETECT_WARMING:
        return;     /* after a restart: hold whatever state it had */
    case DETECT_OK:
        resolve(ab, ac, NULL, now);
        return;
    case DETECT_SUSPECT:
    case DETECT_LEAKING:
        break;
    }
    const char *kind = leak_kind_name(v->kind);
    bool kind_changed = strcmp(a->kind, kind) != 0;
    if (kind_changed) {
        log_info("alert %lld: the leak is %s rather than %s", (long long)a->id, kind, a->kind);
        copy_str(a->kind, sizeof a->kind, kind);
        a->n_culprits = 0;
    }
    take_figures(a, v, now);
    bool fire = v->state == DETECT_LEAKING && a->state == ALERT_PENDING;
    if (fire || (a->state == ALERT_FIRING &&
                 (kind_changed || now - ac->culprits_ms >= ab->cfg.culprit_refresh_ms))) {
        find_culprits(ab, a, a->window_from_ms, now);
        ac->culprits_ms = now;
    }
    if (fire) {
        set_state(a, ALERT_FIRING, now);
        keep_evidence(ab, ac, now);
    }
    alert_summarize(a);
    if (fire || kind_changed || now - ac->saved_ms >= SAVE_INTERVAL_MS)
        save(ab, ac, now);
    if (fire)
        announce(ab, a);
}

void alerts_forget_target(struct alerts *ab, int64_t target_id)
{
    if (!ab)
        return;
    act_remove(ab, target_id);
    size_t lo = 0;
    while (lo < ab->n_raw && ab->raw[lo].target_id != target_id)
        lo++;
    if (lo < ab->n_raw) {
        memmove(&ab->raw[lo], &ab->raw[lo + 1], (ab->n_raw - lo - 1) * sizeof *ab->raw);
        ab->n_raw--;
    }
}

void alerts_maintain(struct alerts *ab, int64_t now)
{
    if (!ab)
        return;
    sqlite3_stmt *q = stmt(ab, S_PURGE);
    sqlite3_bind_int64(q, 1, now - ab->cfg.history_ms);
    step_done(ab, q, "delete old alerts", now);
}

int alerts_foreach(struct alerts *ab, int64_t target_id, bool include_resolved,
                   size_t max_resolved, void (*fn)(void *arg, const struct alert *a), void *arg)
{
    for (size_t i = 0; i < ab->n_act; i++)
        if (target_id <= 0 || ab->act[i]->a.target_id == target_id)
            fn(arg, &ab->act[i]->a);
    if (!include_resolved)
        return 0;
    sqlite3_stmt *q = stmt(ab, target_id > 0 ? S_RESOLVED_TARGET : S_RESOLVED);
    sqlite3_bind_int64(q, 1, now_wall_ms() - ab->cfg.history_ms);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)(max_resolved ? max_resolved : 100));
    if (target_id > 0)
        sqlite3_bind_int64(q, 3, target_id);
    int rc;
    struct alert *a = xmalloc(sizeof *a);   /* ~5 KB: not on the stack */
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        row_to_alert(q, a);
        fn(arg, a);
    }
    free(a);
    int r = rc == SQLITE_DONE ? 0 : db_errno(ab->db, rc);
    sqlite3_reset(q);
    return r;
}
