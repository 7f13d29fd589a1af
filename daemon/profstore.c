/* profstore.c - Go heap and goroutine profiles in the store's SQLite file (contract in
 * profstore.h, schema in sql/003-profiles.sql).
 *
 * DESIGN
 *
 * A site (pprof.h: leaf frame + user frame) is stored once per target and kind, as a row of
 * profile_sites; a profile is one row of `profiles` whose blob lists (site id, values) for
 * every site it has.  So a minute's profile of 1000 known sites is one INSERT of about
 * 12 KB (measured in tests/unit/test_profstore.c), not 1000 rows, and the strings are not
 * repeated.  Each (target, kind) has an in-memory
 * dictionary, site key -> id, loaded from profile_sites the first time a profile of that pair
 * is added: adding a profile of known sites reads nothing from the database.  A failed add
 * may have inserted sites that its ROLLBACK took back, so the pair's dictionary is dropped
 * then and loaded again next time.
 *
 * Blob, format 1, before compression:
 *     u8 1 (the format), uvarint count,
 *     count entries in increasing site id order, each:
 *         uvarint id - previous entry's id (the id itself for the first; so never 0),
 *         PV_MAX uvarint zigzag(v[k]), k = 0..PV_MAX-1 (pprof.h's order; a goroutine
 *         profile has its count in v[0] and zeros).
 * Varints are chunk.h's (LEB128, at most 10 bytes); zigzag maps 0, -1, 1, -2 ... to 0, 1, 2,
 * 3 ...  The whole blob is then compressed with zlib's compress2 (a zlib stream: its Adler-32
 * catches most damage) and stored as such.  The row's nsites equals count.  A blob that does
 * not inflate, inflates to more than count allows, does not parse exactly to its end, has
 * ids that do not increase or a count other than nsites is corrupt: -EBADMSG.
 * Each profile is self-contained (no delta against the previous one), so thinning can delete
 * any of them.
 *
 * Thinning and retention (profstore_maintain): profiles older than full_retention are
 * thinned to the first of each thin_interval bucket (buckets aligned to multiples of the
 * interval since the epoch); none older than retention stays.  Site rows that no remaining
 * profile refers to are deleted: all of a pair's when it has no profile left, and otherwise,
 * when a pair's dictionary has grown well past its newest profile (a target whose sites
 * churn), by decoding the pair's blobs and keeping the ids they name.  Freed pages are reused
 * by new rows; store.c's hourly incremental vacuum returns the surplus to the file system.
 *
 * Bounds, against hostile targets: names are cut to what profstore_diff can return (255
 * bytes, at a UTF-8 boundary); a profile keeps at most PS_MAX_SITES sites (the first ones:
 * pprof.c sorts them largest first); a pair's dictionary holds at most PS_MAX_DICT sites,
 * sites beyond it are left out of the profiles being added (their totals still count).
 *
 * Single-threaded, like store.c.  Uses its own connection: WAL lets store.c's connection and
 * this one take turns writing (busy_timeout), and readers never wait. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <zlib.h>

#include "chunk.h"
#include "profstore.h"
#include "db.h"
#include "util.h"

#define PS_FORMAT           1
#define PS_MAX_SITES        16384
#define PS_MAX_DICT         32768
/* The longest encoded entry and blob: a varint id delta and PV_MAX varint values. */
#define PS_ENTRY_MAX        (CHUNK_VARINT_MAX * (1 + PV_MAX))
#define PS_RAW_MAX(n)       (1 + CHUNK_VARINT_MAX + (size_t)(n) * PS_ENTRY_MAX)
#define PS_NAME_MAX         (sizeof(((struct profstore_diff_site *)0)->leaf_func) - 1)
#define HOUR_MS             INT64_C(3600000)
/* Sanity range of profile times; keeps bucket arithmetic far from int64 overflow. */
#define TS_LIMIT            (INT64_C(1) << 61)
/* GC of a pair's sites runs when its dictionary exceeds GC_FACTOR x its newest profile's
 * sites + GC_SLACK, and has grown by a quarter since the last GC found it. */
#define GC_FACTOR           2
#define GC_SLACK            256

/* A site in a blob, decoded. */
struct entry {
    int64_t id;
    int64_t v[PV_MAX];
};

/* A dictionary entry: the site's key and id. */
struct site {
    struct site *next;          /* hash chain */
    uint64_t hash;
    int64_t id;
    int64_t leaf_line, user_line;
    uint16_t len[4];            /* leaf_func, leaf_file, user_func, user_file */
    char str[];                 /* the four, each followed by a NUL */
};

/* The sites of one (target, kind). */
struct dict {
    struct dict *next;
    int64_t target_id;
    enum pprof_kind kind;
    struct site **buckets;
    size_t nbuckets;            /* a power of two */
    size_t n;
};

/* What the last GC of a pair left, so it does not rescan a pair that keeps old sites. */
struct gc_memo {
    int64_t target_id;
    int kind;
    int64_t sites_after;
};

enum stmt_id {
    S_BEGIN, S_BEGIN_READ, S_COMMIT, S_ROLLBACK,
    S_SITES_LOAD, S_SITE_INSERT, S_SITE_GET,
    S_PROFILE_INSERT, S_FIRST_FROM, S_LAST_TO, S_COUNT_PAIR,
    S_PAIRS, S_EXPIRE, S_THIN, S_SITES_DEL_PAIR, S_SITES_COUNT, S_NEWEST_NSITES,
    S_SITE_IDS, S_BLOBS, S_SITE_DELETE,
    S_DEL_TARGET_PROFILES, S_DEL_TARGET_SITES,
    S_NSTMT
};

#define PROFILE_COLS "ts_ms, nsites, total0, total1, total2, total3, blob"

static const char *const stmt_sql[S_NSTMT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_BEGIN_READ] = "BEGIN",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SITES_LOAD] =
        "SELECT id, leaf_func, leaf_file, leaf_line, user_func, user_file, user_line"
        " FROM profile_sites WHERE target_id = ?1 AND kind = ?2",
    [S_SITE_INSERT] =
        "INSERT INTO profile_sites(target_id, kind, leaf_func, leaf_file, leaf_line,"
        " user_func, user_file, user_line) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [S_SITE_GET] =
        "SELECT target_id, kind, leaf_func, leaf_file, leaf_line, user_func, user_file,"
        " user_line FROM profile_sites WHERE id = ?1",
    [S_PROFILE_INSERT] =
        "INSERT INTO profiles(target_id, kind, ts_ms, nsites, total0, total1, total2, total3,"
        " blob) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [S_FIRST_FROM] =
        "SELECT " PROFILE_COLS " FROM profiles WHERE target_id = ?1 AND kind = ?2"
        " AND ts_ms >= ?3 ORDER BY ts_ms LIMIT 1",
    [S_LAST_TO] =
        "SELECT " PROFILE_COLS " FROM profiles WHERE target_id = ?1 AND kind = ?2"
        " AND ts_ms <= ?3 ORDER BY ts_ms DESC LIMIT 1",
    [S_COUNT_PAIR] =
        "SELECT count(*), max(ts_ms) FROM profiles WHERE target_id = ?1 AND kind = ?2",
    /* The index alone (covering); a few thousand entries a target. */
    [S_PAIRS] = "SELECT DISTINCT target_id, kind FROM profiles",
    /* Per pair, so both are ranges of profiles_time; a bare "ts_ms < ?" would scan the
     * table, blobs and all. */
    [S_EXPIRE] = "DELETE FROM profiles WHERE target_id = ?1 AND kind = ?2 AND ts_ms < ?3",
    /* All but the first of each bucket older than ?3.  The bucket is floor(ts / ?4), also
     * right for negative times. */
    [S_THIN] =
        "DELETE FROM profiles WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER"
        " (PARTITION BY ts_ms - ((ts_ms % ?4) + ?4) % ?4 ORDER BY ts_ms) AS nth"
        " FROM profiles WHERE target_id = ?1 AND kind = ?2 AND ts_ms < ?3) WHERE nth > 1)",
    [S_SITES_DEL_PAIR] = "DELETE FROM profile_sites WHERE target_id = ?1 AND kind = ?2",
    [S_SITES_COUNT] = "SELECT count(*) FROM profile_sites WHERE target_id = ?1 AND kind = ?2",
    [S_NEWEST_NSITES] =
        "SELECT nsites FROM profiles WHERE target_id = ?1 AND kind = ?2"
        " ORDER BY ts_ms DESC LIMIT 1",
    [S_SITE_IDS] =
        "SELECT id FROM profile_sites WHERE target_id = ?1 AND kind = ?2 ORDER BY id",
    [S_BLOBS] = "SELECT nsites, blob FROM profiles WHERE target_id = ?1 AND kind = ?2",
    [S_SITE_DELETE] = "DELETE FROM profile_sites WHERE id = ?1",
    [S_DEL_TARGET_PROFILES] = "DELETE FROM profiles WHERE target_id = ?1",
    [S_DEL_TARGET_SITES] = "DELETE FROM profile_sites WHERE target_id = ?1",
};

struct profstore {
    sqlite3 *db;
    sqlite3_stmt *stmt[S_NSTMT];
    int64_t full_retention_ms, thin_interval_ms, retention_ms;
    struct dict *dicts;
    struct gc_memo *memo;
    size_t nmemo;
    /* Buffers of profstore_add, reused so that a steady state does not allocate. */
    struct entry *ent;
    size_t ent_cap;
    uint8_t *raw, *z;
    size_t raw_cap, z_cap;
    char errmsg[512];
};

/* ---- helpers ------------------------------------------------------------------------------ */

static void set_err(struct profstore *ps, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_err(struct profstore *ps, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->errmsg, sizeof(ps->errmsg), fmt, ap);
    va_end(ap);
}

static int db_fail(struct profstore *ps, int rc, const char *what)
{
    set_err(ps, "%s: %s", what, sqlite3_errmsg(ps->db));
    return db_errno(ps->db, rc);
}

/* Steps a statement that returns no rows, and resets it. */
static int run(struct profstore *ps, enum stmt_id id, const char *what)
{
    sqlite3_stmt *s = ps->stmt[id];
    int rc = sqlite3_step(s);
    int r = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : db_fail(ps, rc, what);
    sqlite3_reset(s);
    return r;
}

/* Rolls back if a transaction is still open (SQLite ends some on its own after errors). */
static void tx_abort(struct profstore *ps)
{
    if (!sqlite3_get_autocommit(ps->db)) {
        sqlite3_step(ps->stmt[S_ROLLBACK]);
        sqlite3_reset(ps->stmt[S_ROLLBACK]);
    }
}

static int64_t sub_sat(int64_t a, int64_t b)
{
    int64_t r;
    return __builtin_sub_overflow(a, b, &r) ? (b > 0 ? INT64_MIN : INT64_MAX) : r;
}

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63));
}

static int64_t unzigzag(uint64_t u)
{
    return (int64_t)((u >> 1) ^ (0 - (u & 1)));
}

static bool utf8_cont(char c)
{
    return ((unsigned char)c & 0xc0) == 0x80;
}

/* The length of s[0..len) cut to at most max bytes, not inside a UTF-8 sequence. */
static size_t cut_len(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    /* s[max] is the first byte left out; if it continues a character, that character's
     * lead byte (at most 3 bytes back) goes too.  Invalid UTF-8 is simply cut at max. */
    size_t n = max;
    for (int k = 0; k < 3 && n > 0 && utf8_cont(s[n]); k++)
        n--;
    return utf8_cont(s[n]) ? max : n;
}

/* A name as stored: NULL as "", at most PS_NAME_MAX bytes. */
static size_t name_len(const char *s)
{
    return s ? cut_len(s, strnlen(s, PS_NAME_MAX + 1), PS_NAME_MAX) : 0;
}

/* Copies src[0..len) into dst[cap], cut safely, NUL-terminated. */
static void copy_name(char *dst, size_t cap, const unsigned char *src, size_t len)
{
    size_t n = src ? cut_len((const char *)src, len, cap - 1) : 0;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

/* ---- the site dictionaries ---------------------------------------------------------------- */

struct key {
    const char *s[4];
    size_t len[4];
    int64_t leaf_line, user_line;
    uint64_t hash;
};

static void key_hash(struct key *k)
{
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < 4; i++) {
        for (size_t j = 0; j < k->len[i]; j++)
            h = (h ^ (unsigned char)k->s[i][j]) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;          /* no byte of a name: a separator */
    }
    h ^= (uint64_t)k->leaf_line * 0x9e3779b97f4a7c15ULL;
    h = (h ^ (h >> 31)) * 0xbf58476d1ce4e5b9ULL;
    h ^= (uint64_t)k->user_line * 0x94d049bb133111ebULL;
    k->hash = h ^ (h >> 29);
}

static void key_from_frames(struct key *k, const struct pprof_site *s)
{
    const char *in[4] = { s->leaf.func, s->leaf.file, s->user.func, s->user.file };
    for (int i = 0; i < 4; i++) {
        k->s[i] = in[i] ? in[i] : "";
        k->len[i] = name_len(in[i]);
    }
    k->leaf_line = s->leaf.line;
    k->user_line = s->user.line;
    key_hash(k);
}

static bool key_equal(const struct key *k, const struct site *e)
{
    if (e->hash != k->hash || e->leaf_line != k->leaf_line || e->user_line != k->user_line)
        return false;
    const char *p = e->str;
    for (int i = 0; i < 4; i++) {
        if (e->len[i] != k->len[i] || memcmp(p, k->s[i], k->len[i]) != 0)
            return false;
        p += e->len[i] + 1;
    }
    return true;
}

static struct dict *dict_find(struct profstore *ps, int64_t target_id, enum pprof_kind kind)
{
    for (struct dict *d = ps->dicts; d; d = d->next)
        if (d->target_id == target_id && d->kind == kind)
            return d;
    return NULL;
}

static void dict_free(struct dict *d)
{
    for (size_t i = 0; i < d->nbuckets; i++) {
        for (struct site *e = d->buckets[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(d->buckets);
    free(d);
}

/* Forgets the dictionaries of a target (kind < 0: both kinds). */
static void dict_drop(struct profstore *ps, int64_t target_id, int kind)
{
    for (struct dict **pp = &ps->dicts; *pp;) {
        struct dict *d = *pp;
        if (d->target_id == target_id && (kind < 0 || (int)d->kind == kind)) {
            *pp = d->next;
            dict_free(d);
        } else {
            pp = &d->next;
        }
    }
}

static struct site *site_lookup(const struct dict *d, const struct key *k)
{
    for (struct site *e = d->buckets[k->hash & (d->nbuckets - 1)]; e; e = e->next)
        if (key_equal(k, e))
            return e;
    return NULL;
}

static void site_add(struct dict *d, const struct key *k, int64_t id)
{
    if (d->n + 1 > d->nbuckets) {
        size_t n = d->nbuckets * 2;
        struct site **b = xcalloc(n, sizeof(*b));
        for (size_t i = 0; i < d->nbuckets; i++) {
            for (struct site *e = d->buckets[i], *next; e; e = next) {
                next = e->next;
                e->next = b[e->hash & (n - 1)];
                b[e->hash & (n - 1)] = e;
            }
        }
        free(d->buckets);
        d->buckets = b;
        d->nbuckets = n;
    }
    size_t total = 4;
    for (int i = 0; i < 4; i++)
        total += k->len[i];
    struct site *e = xmalloc(sizeof(*e) + total);
    e->hash = k->hash;
    e->id = id;
    e->leaf_line = k->leaf_line;
    e->user_line = k->user_line;
    char *p = e->str;
    for (int i = 0; i < 4; i++) {
        e->len[i] = (uint16_t)k->len[i];
        memcpy(p, k->s[i], k->len[i]);
        p[k->len[i]] = '\0';
        p += k->len[i] + 1;
    }
    size_t h = k->hash & (d->nbuckets - 1);
    e->next = d->buckets[h];
    d->buckets[h] = e;
    d->n++;
}

/* The pair's dictionary, loaded from profile_sites if it is not in memory.  Inside the
 * caller's transaction. */
static int dict_get(struct profstore *ps, int64_t target_id, enum pprof_kind kind,
                    struct dict **out)
{
    struct dict *d = dict_find(ps, target_id, kind);
    if (d) {
        *out = d;
        return 0;
    }
    d = xcalloc(1, sizeof(*d));
    d->target_id = target_id;
    d->kind = kind;
    d->nbuckets = 64;
    d->buckets = xcalloc(d->nbuckets, sizeof(*d->buckets));

    sqlite3_stmt *q = ps->stmt[S_SITES_LOAD];
    int rc;
    sqlite3_bind_int64(q, 1, target_id);
    sqlite3_bind_int(q, 2, (int)kind);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        static const int col[4] = { 1, 2, 4, 5 };
        struct key k;
        for (int i = 0; i < 4; i++) {
            const unsigned char *t = sqlite3_column_text(q, col[i]);
            size_t n = (size_t)sqlite3_column_bytes(q, col[i]);
            k.s[i] = t ? (const char *)t : "";
            k.len[i] = t ? cut_len(k.s[i], strnlen(k.s[i], n), PS_NAME_MAX) : 0;
        }
        k.leaf_line = sqlite3_column_int64(q, 3);
        k.user_line = sqlite3_column_int64(q, 6);
        key_hash(&k);
        if (!site_lookup(d, &k))
            site_add(d, &k, sqlite3_column_int64(q, 0));
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        dict_free(d);
        return db_fail(ps, rc, "loading profile sites");
    }
    d->next = ps->dicts;
    ps->dicts = d;
    *out = d;
    return 0;
}

/* ---- blobs -------------------------------------------------------------------------------- */

static int entry_cmp_id(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

/* Encodes ent[0..n) (ids strictly increasing) into ps->raw; returns the length. */
static size_t blob_encode(struct profstore *ps, const struct entry *ent, size_t n)
{
    size_t need = PS_RAW_MAX(n);
    if (ps->raw_cap < need) {
        free(ps->raw);
        ps->raw = xmalloc(need);
        ps->raw_cap = need;
    }
    uint8_t *p = ps->raw;
    *p++ = PS_FORMAT;
    p = chunk_put_uvarint(p, n);
    int64_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        p = chunk_put_uvarint(p, (uint64_t)ent[i].id - (uint64_t)prev);
        prev = ent[i].id;
        for (int k = 0; k < PV_MAX; k++)
            p = chunk_put_uvarint(p, zigzag(ent[i].v[k]));
    }
    return (size_t)(p - ps->raw);
}

/* Decodes a stored blob of nsites sites into *out (malloc'd; *n entries, ids increasing).
 * 0 or -EBADMSG; never reads outside the blob. */
static int blob_decode(const uint8_t *z, size_t zlen, int64_t nsites, struct entry **out,
                       size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!z || nsites < 0 || nsites > PS_MAX_SITES)
        return -EBADMSG;

    size_t cap = PS_RAW_MAX(nsites);
    uint8_t *raw = xmalloc(cap);
    uLongf rawlen = cap;
    uLong srclen = zlen;
    int zr = uncompress2(raw, &rawlen, z, &srclen);
    if (zr != Z_OK || srclen != zlen) {     /* damaged, too long for nsites, or trailing bytes */
        free(raw);
        return -EBADMSG;
    }

    const uint8_t *p = raw, *end = raw + rawlen;
    uint64_t count, u;
    struct entry *ent = NULL;
    int r = -EBADMSG;
    if (p == end || *p++ != PS_FORMAT || chunk_get_uvarint(&p, end, &count) < 0
        || count != (uint64_t)nsites)
        goto out;
    ent = xcalloc(count ? count : 1, sizeof(*ent));
    uint64_t id = 0;
    for (size_t i = 0; i < count; i++) {
        if (chunk_get_uvarint(&p, end, &u) < 0 || u == 0 || u > (uint64_t)INT64_MAX - id)
            goto out;
        id += u;
        ent[i].id = (int64_t)id;
        for (int k = 0; k < PV_MAX; k++) {
            if (chunk_get_uvarint(&p, end, &u) < 0)
                goto out;
            ent[i].v[k] = unzigzag(u);
        }
    }
    if (p != end)
        goto out;
    *out = ent;
    *n = count;
    ent = NULL;
    r = 0;
out:
    free(ent);
    free(raw);
    return r;
}

/* ---- open and close ----------------------------------------------------------------------- */

static void profstore_free(struct profstore *ps)
{
    if (!ps)
        return;
    for (int i = 0; i < S_NSTMT; i++)
        sqlite3_finalize(ps->stmt[i]);
    if (ps->db)
        sqlite3_close(ps->db);
    while (ps->dicts) {
        struct dict *d = ps->dicts;
        ps->dicts = d->next;
        dict_free(d);
    }
    free(ps->memo);
    free(ps->ent);
    free(ps->raw);
    free(ps->z);
    free(ps);
}

int profstore_open(const struct profstore_config *cfg, struct profstore **out, char **err)
{
    struct profstore *ps = xcalloc(1, sizeof(*ps));
    int rc, r;

    *out = NULL;
    if (err)
        *err = NULL;
    ps->full_retention_ms = cfg->full_retention_ms > 0 ? cfg->full_retention_ms : 6 * HOUR_MS;
    ps->thin_interval_ms = cfg->thin_interval_ms > 0 ? cfg->thin_interval_ms : HOUR_MS / 2;
    ps->retention_ms = cfg->retention_ms > 0 ? cfg->retention_ms : 30 * 24 * HOUR_MS;
    if (!cfg->path || !*cfg->path) {
        set_err(ps, "no database path");
        r = -EINVAL;
        goto fail;
    }
    /* No CREATE: the file is store.c's, created and migrated by store_open. */
    /* Foreign keys (db.h) also refuse profiles of unknown targets. */
    if ((r = db_open(cfg->path, false, &ps->db, ps->errmsg, sizeof(ps->errmsg))) < 0)
        goto fail;
    for (int i = 0; i < S_NSTMT; i++) {
        rc = sqlite3_prepare_v3(ps->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                &ps->stmt[i], NULL);
        if (rc != SQLITE_OK) {      /* "no such table": not migrated by store_open */
            r = db_fail(ps, rc, "preparing statements");
            goto fail;
        }
    }
    *out = ps;
    return 0;

fail:
    if (err)
        *err = xasprintf("%s: %s", cfg->path ? cfg->path : "(null)", ps->errmsg);
    profstore_free(ps);
    return r;
}

void profstore_close(struct profstore *ps)
{
    profstore_free(ps);
}

const char *profstore_errmsg(const struct profstore *ps)
{
    return ps ? ps->errmsg : "no profile store";
}

/* ---- adding ------------------------------------------------------------------------------- */

/* Inserts a site row for k; *id is its new id. */
static int site_insert(struct profstore *ps, int64_t target_id, enum pprof_kind kind,
                       const struct key *k, int64_t *id)
{
    sqlite3_stmt *q = ps->stmt[S_SITE_INSERT];
    sqlite3_bind_int64(q, 1, target_id);
    sqlite3_bind_int(q, 2, (int)kind);
    sqlite3_bind_text(q, 3, k->s[0], (int)k->len[0], SQLITE_STATIC);
    sqlite3_bind_text(q, 4, k->s[1], (int)k->len[1], SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, k->leaf_line);
    sqlite3_bind_text(q, 6, k->s[2], (int)k->len[2], SQLITE_STATIC);
    sqlite3_bind_text(q, 7, k->s[3], (int)k->len[3], SQLITE_STATIC);
    sqlite3_bind_int64(q, 8, k->user_line);
    int rc = sqlite3_step(q);
    int r = rc == SQLITE_DONE ? 0 : db_fail(ps, rc, "adding a profile site");
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);      /* the strings are the caller's */
    if (r == 0)
        *id = sqlite3_last_insert_rowid(ps->db);
    return r;
}

int profstore_add(struct profstore *ps, int64_t target_id, enum pprof_kind kind, int64_t ts_ms,
                  const struct pprof_profile *p)
{
    struct dict *d = NULL;
    size_t m = 0;
    int r;

    if (!p || (kind != PPROF_HEAP && kind != PPROF_GOROUTINE) || p->kind != kind
        || (p->nsites && !p->sites) || target_id <= 0 || ts_ms < 0 || ts_ms >= TS_LIMIT) {
        set_err(ps, "invalid profile");
        return -EINVAL;
    }
    size_t n = p->nsites < PS_MAX_SITES ? p->nsites : PS_MAX_SITES;
    if (ps->ent_cap < n) {
        free(ps->ent);
        ps->ent = xcalloc(n, sizeof(*ps->ent));
        ps->ent_cap = n;
    }

    if ((r = run(ps, S_BEGIN, "begin")) < 0)
        return r;
    if ((r = dict_get(ps, target_id, kind, &d)) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        const struct pprof_site *s = &p->sites[i];
        struct key k;
        key_from_frames(&k, s);
        struct site *e = site_lookup(d, &k);
        int64_t id = 0;
        if (e) {
            id = e->id;
        } else {
            if (d->n >= PS_MAX_DICT)
                continue;                       /* bounded: left out, see DESIGN */
            if ((r = site_insert(ps, target_id, kind, &k, &id)) < 0)
                goto fail;
            site_add(d, &k, id);
        }
        ps->ent[m].id = id;
        memcpy(ps->ent[m].v, s->v, sizeof(s->v));
        m++;
    }

    /* By id, merging sites whose names became equal when cut (their values add up). */
    if (m > 1)
        qsort(ps->ent, m, sizeof(*ps->ent), entry_cmp_id);
    size_t u = 0;
    for (size_t i = 0; i < m; i++) {
        if (u > 0 && ps->ent[u - 1].id == ps->ent[i].id) {
            for (int k = 0; k < PV_MAX; k++)
                ps->ent[u - 1].v[k] = (int64_t)((uint64_t)ps->ent[u - 1].v[k]
                                                + (uint64_t)ps->ent[i].v[k]);
        } else {
            ps->ent[u++] = ps->ent[i];
        }
    }

    size_t rawlen = blob_encode(ps, ps->ent, u);
    uLongf zlen = compressBound(rawlen);
    if (ps->z_cap < zlen) {
        free(ps->z);
        ps->z = xmalloc(zlen);
        ps->z_cap = zlen;
    }
    if (compress2(ps->z, &zlen, ps->raw, rawlen, Z_BEST_COMPRESSION) != Z_OK) {
        set_err(ps, "compressing a profile");
        r = -ENOMEM;
        goto fail;
    }

    sqlite3_stmt *q = ps->stmt[S_PROFILE_INSERT];
    sqlite3_bind_int64(q, 1, target_id);
    sqlite3_bind_int(q, 2, (int)kind);
    sqlite3_bind_int64(q, 3, ts_ms);
    sqlite3_bind_int64(q, 4, (int64_t)u);
    for (int k = 0; k < PV_MAX; k++)
        sqlite3_bind_int64(q, 5 + k, p->total[k]);
    sqlite3_bind_blob(q, 9, ps->z, (int)zlen, SQLITE_STATIC);
    r = run(ps, S_PROFILE_INSERT, "adding a profile");
    sqlite3_clear_bindings(q);      /* ps->z may move before the next add */
    if (r < 0) {
        if (r == -EEXIST)
            set_err(ps, "a profile at %lld is stored already", (long long)ts_ms);
        goto fail;
    }
    if ((r = run(ps, S_COMMIT, "commit")) < 0)
        goto fail;
    return 0;

fail:
    tx_abort(ps);
    /* Sites inserted in the transaction are gone again, and so must their ids be; a site
     * INSERT refused means the dictionary missed a row.  Whatever failed, the dictionary is
     * loaded again by the next add (one SELECT). */
    dict_drop(ps, target_id, (int)kind);
    return r;
}

/* ---- maintenance -------------------------------------------------------------------------- */

struct pair {
    int64_t target_id;
    int kind;
    int64_t newest_nsites;      /* sites in its newest profile; -1: no profile left */
};

static struct gc_memo *memo_find(struct profstore *ps, int64_t target_id, int kind)
{
    for (size_t i = 0; i < ps->nmemo; i++)
        if (ps->memo[i].target_id == target_id && ps->memo[i].kind == kind)
            return &ps->memo[i];
    return NULL;
}

/* The first column of the first row of statement id for the pair, or dflt if none. */
static int64_t pair_int(struct profstore *ps, enum stmt_id id, const struct pair *pr,
                        int64_t dflt, int *r)
{
    sqlite3_stmt *q = ps->stmt[id];
    sqlite3_bind_int64(q, 1, pr->target_id);
    sqlite3_bind_int(q, 2, pr->kind);
    int rc = sqlite3_step(q);
    int64_t v = dflt;
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    else if (rc != SQLITE_DONE)
        *r = db_fail(ps, rc, "reading profiles");
    sqlite3_reset(q);
    return v;
}

static int id_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Deletes the pair's sites that none of its profiles names, if its dictionary has grown
 * well past what its newest profile uses.  A corrupt blob stops the GC (its sites are not
 * known): nothing is deleted then. */
static int gc_sites(struct profstore *ps, const struct pair *pr, struct gc_memo *memo)
{
    int r = 0;
    int64_t nsites = pair_int(ps, S_SITES_COUNT, pr, 0, &r);
    if (r < 0)
        return r;
    memo->sites_after = nsites < memo->sites_after ? nsites : memo->sites_after;
    if (nsites <= GC_FACTOR * pr->newest_nsites + GC_SLACK
        || nsites <= memo->sites_after + memo->sites_after / 4)
        return 0;

    size_t n = 0, cap = (size_t)nsites + 1;
    int64_t *ids = xcalloc(cap, sizeof(*ids));
    uint8_t *used = NULL;
    sqlite3_stmt *q = ps->stmt[S_SITE_IDS];
    int rc;
    sqlite3_bind_int64(q, 1, pr->target_id);
    sqlite3_bind_int(q, 2, pr->kind);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW && n < cap)
        ids[n++] = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        r = db_fail(ps, rc, "reading profile sites");
        goto out;
    }
    used = xcalloc(n ? n : 1, 1);

    q = ps->stmt[S_BLOBS];
    sqlite3_bind_int64(q, 1, pr->target_id);
    sqlite3_bind_int(q, 2, pr->kind);
    bool corrupt = false;
    while (!corrupt && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct entry *ent;
        size_t ne;
        const uint8_t *blob = sqlite3_column_blob(q, 1);
        size_t len = (size_t)sqlite3_column_bytes(q, 1);
        if (blob_decode(blob, len, sqlite3_column_int64(q, 0), &ent, &ne) < 0) {
            corrupt = true;
            break;
        }
        for (size_t i = 0; i < ne; i++) {
            int64_t *hit = n ? bsearch(&ent[i].id, ids, n, sizeof(*ids), id_cmp) : NULL;
            if (hit)
                used[hit - ids] = 1;
        }
        free(ent);
    }
    sqlite3_reset(q);
    if (!corrupt && rc != SQLITE_DONE) {
        r = db_fail(ps, rc, "reading profiles");
        goto out;
    }
    if (corrupt)
        goto out;               /* the memo stays: the next maintain tries again */
    size_t kept = n;
    for (size_t i = 0; i < n; i++) {
        if (used[i])
            continue;
        sqlite3_bind_int64(ps->stmt[S_SITE_DELETE], 1, ids[i]);
        if ((r = run(ps, S_SITE_DELETE, "deleting a profile site")) < 0)
            goto out;
        kept--;
    }
    memo->sites_after = (int64_t)kept;
    if (kept != n)
        dict_drop(ps, pr->target_id, pr->kind);
out:
    free(used);
    free(ids);
    return r;
}

int profstore_maintain(struct profstore *ps, int64_t now_ms)
{
    struct pair *pairs = NULL;
    size_t npairs = 0, cap = 0;
    struct gc_memo *memo = NULL;
    int rc, r;

    int64_t expire_before = sub_sat(now_ms, ps->retention_ms);
    int64_t thin_before = sub_sat(now_ms, ps->full_retention_ms);

    if ((r = run(ps, S_BEGIN, "begin")) < 0)
        return r;
    sqlite3_stmt *q = ps->stmt[S_PAIRS];
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (npairs == cap) {
            cap = cap ? cap * 2 : 16;
            pairs = xreallocarray(pairs, cap, sizeof(*pairs));
        }
        pairs[npairs].target_id = sqlite3_column_int64(q, 0);
        pairs[npairs].kind = sqlite3_column_int(q, 1);
        npairs++;
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        r = db_fail(ps, rc, "listing profiles");
        goto fail;
    }

    /* Thinning first: then what stays depends only on the profiles ever added and now, not
     * on when maintain ran before (expiring first would let a bucket whose first profile
     * just expired keep its second). */
    for (size_t i = 0; i < npairs; i++) {
        struct pair *pr = &pairs[i];
        q = ps->stmt[S_THIN];
        sqlite3_bind_int64(q, 1, pr->target_id);
        sqlite3_bind_int(q, 2, pr->kind);
        sqlite3_bind_int64(q, 3, thin_before);
        sqlite3_bind_int64(q, 4, ps->thin_interval_ms);
        if ((r = run(ps, S_THIN, "thinning profiles")) < 0)
            goto fail;
        q = ps->stmt[S_EXPIRE];
        sqlite3_bind_int64(q, 1, pr->target_id);
        sqlite3_bind_int(q, 2, pr->kind);
        sqlite3_bind_int64(q, 3, expire_before);
        if ((r = run(ps, S_EXPIRE, "expiring profiles")) < 0)
            goto fail;
        /* A pair without profiles now has no use for its sites.  (Sites only ever come with
         * a profile, in one transaction, so these are all the pairs that can have some.) */
        pr->newest_nsites = pair_int(ps, S_NEWEST_NSITES, pr, -1, &r);
        if (r < 0)
            goto fail;
        if (pr->newest_nsites < 0) {
            q = ps->stmt[S_SITES_DEL_PAIR];
            sqlite3_bind_int64(q, 1, pr->target_id);
            sqlite3_bind_int(q, 2, pr->kind);
            if ((r = run(ps, S_SITES_DEL_PAIR, "deleting unused profile sites")) < 0)
                goto fail;
        }
    }

    /* The pairs left keep their GC memos; the others' go. */
    memo = xcalloc(npairs ? npairs : 1, sizeof(*memo));
    size_t nmemo = 0;
    for (size_t i = 0; i < npairs; i++) {
        if (pairs[i].newest_nsites < 0)
            continue;
        struct gc_memo *old = memo_find(ps, pairs[i].target_id, pairs[i].kind);
        memo[nmemo] = old ? *old : (struct gc_memo){ pairs[i].target_id, pairs[i].kind, 0 };
        if ((r = gc_sites(ps, &pairs[i], &memo[nmemo++])) < 0)
            goto fail;
    }
    if ((r = run(ps, S_COMMIT, "commit")) < 0)
        goto fail;

    free(ps->memo);
    ps->memo = memo;
    ps->nmemo = nmemo;
    /* Dictionaries of pairs with no profile (left): their sites are gone. */
    for (struct dict **pp = &ps->dicts; *pp;) {
        struct dict *d = *pp;
        bool live = false;
        for (size_t i = 0; i < npairs && !live; i++)
            live = pairs[i].target_id == d->target_id && pairs[i].kind == (int)d->kind
                   && pairs[i].newest_nsites >= 0;
        if (live) {
            pp = &d->next;
        } else {
            *pp = d->next;
            dict_free(d);
        }
    }
    free(pairs);
    return 0;

fail:
    tx_abort(ps);
    /* Whatever was rolled back, the dictionaries are reloaded from what is on disk. */
    while (ps->dicts) {
        struct dict *d = ps->dicts;
        ps->dicts = d->next;
        dict_free(d);
    }
    free(memo);
    free(pairs);
    return r;
}

int profstore_remove_target(struct profstore *ps, int64_t target_id)
{
    int r;

    if ((r = run(ps, S_BEGIN, "begin")) < 0)
        return r;
    sqlite3_bind_int64(ps->stmt[S_DEL_TARGET_PROFILES], 1, target_id);
    if ((r = run(ps, S_DEL_TARGET_PROFILES, "deleting a target's profiles")) < 0)
        goto fail;
    sqlite3_bind_int64(ps->stmt[S_DEL_TARGET_SITES], 1, target_id);
    if ((r = run(ps, S_DEL_TARGET_SITES, "deleting a target's profile sites")) < 0)
        goto fail;
    if ((r = run(ps, S_COMMIT, "commit")) < 0)
        goto fail;
    dict_drop(ps, target_id, -1);
    for (size_t i = 0; i < ps->nmemo;) {
        if (ps->memo[i].target_id == target_id)
            ps->memo[i] = ps->memo[--ps->nmemo];
        else
            i++;
    }
    return 0;

fail:
    tx_abort(ps);
    return r;
}

/* ---- reading ------------------------------------------------------------------------------ */

int profstore_count(struct profstore *ps, int64_t target_id, enum pprof_kind kind, size_t *n,
                    int64_t *newest_ms)
{
    sqlite3_stmt *q = ps->stmt[S_COUNT_PAIR];
    sqlite3_bind_int64(q, 1, target_id);
    sqlite3_bind_int(q, 2, (int)kind);
    int rc = sqlite3_step(q);
    int r = 0;
    if (rc == SQLITE_ROW) {
        if (n)
            *n = (size_t)sqlite3_column_int64(q, 0);
        if (newest_ms)
            *newest_ms = sqlite3_column_int64(q, 1);    /* NULL reads as 0 */
    } else {
        r = db_fail(ps, rc, "counting profiles");
    }
    sqlite3_reset(q);
    return r;
}

/* One profile as selected for a diff. */
struct side {
    int64_t ts_ms;
    int64_t total[PV_MAX];
    struct entry *ent;
    size_t n;
};

/* Runs S_FIRST_FROM or S_LAST_TO and decodes the profile found.  -ENOENT if none. */
static int load_side(struct profstore *ps, enum stmt_id id, int64_t target_id,
                     enum pprof_kind kind, int64_t ts, struct side *out)
{
    sqlite3_stmt *q = ps->stmt[id];
    int r;
    sqlite3_bind_int64(q, 1, target_id);
    sqlite3_bind_int(q, 2, (int)kind);
    sqlite3_bind_int64(q, 3, ts);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        out->ts_ms = sqlite3_column_int64(q, 0);
        for (int k = 0; k < PV_MAX; k++)
            out->total[k] = sqlite3_column_int64(q, 2 + k);
        const uint8_t *blob = sqlite3_column_blob(q, 6);
        size_t len = (size_t)sqlite3_column_bytes(q, 6);
        r = blob_decode(blob, len, sqlite3_column_int64(q, 1), &out->ent, &out->n);
        if (r < 0)
            set_err(ps, "the profile of target %lld at %lld is corrupt", (long long)target_id,
                    (long long)out->ts_ms);
    } else if (rc == SQLITE_DONE) {
        r = -ENOENT;
    } else {
        r = db_fail(ps, rc, "reading a profile");
    }
    sqlite3_reset(q);
    return r;
}

/* A site of the diff before names are attached. */
struct drow {
    int64_t id;
    int64_t from[PV_MAX], to[PV_MAX], delta[PV_MAX];
};

/* By delta[k] descending, then the later value descending, then by site id. */
static int drow_cmp(const struct drow *x, const struct drow *y, int k)
{
    if (x->delta[k] != y->delta[k])
        return x->delta[k] > y->delta[k] ? -1 : 1;
    if (x->to[k] != y->to[k])
        return x->to[k] > y->to[k] ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static int drow_cmp_heap(const void *a, const void *b)
{
    return drow_cmp(a, b, PV_INUSE_BYTES);
}

static int drow_cmp_goroutine(const void *a, const void *b)
{
    return drow_cmp(a, b, PV_COUNT);
}

/* Fills in the names of site id, which must belong to the pair. */
static int site_names(struct profstore *ps, int64_t target_id, enum pprof_kind kind, int64_t id,
                      struct profstore_diff_site *ds)
{
    sqlite3_stmt *q = ps->stmt[S_SITE_GET];
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q), r = 0;
    if (rc == SQLITE_ROW && sqlite3_column_int64(q, 0) == target_id
        && sqlite3_column_int(q, 1) == (int)kind) {
        copy_name(ds->leaf_func, sizeof(ds->leaf_func), sqlite3_column_text(q, 2),
                  (size_t)sqlite3_column_bytes(q, 2));
        copy_name(ds->leaf_file, sizeof(ds->leaf_file), sqlite3_column_text(q, 3),
                  (size_t)sqlite3_column_bytes(q, 3));
        ds->leaf_line = sqlite3_column_int64(q, 4);
        copy_name(ds->user_func, sizeof(ds->user_func), sqlite3_column_text(q, 5),
                  (size_t)sqlite3_column_bytes(q, 5));
        copy_name(ds->user_file, sizeof(ds->user_file), sqlite3_column_text(q, 6),
                  (size_t)sqlite3_column_bytes(q, 6));
        ds->user_line = sqlite3_column_int64(q, 7);
    } else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        set_err(ps, "a profile of target %lld names an unknown site %lld",
                (long long)target_id, (long long)id);
        r = -EBADMSG;
    } else {
        r = db_fail(ps, rc, "reading a profile site");
    }
    sqlite3_reset(q);
    return r;
}

int profstore_diff(struct profstore *ps, int64_t target_id, enum pprof_kind kind, int64_t from_ms,
                   int64_t to_ms, size_t limit, struct profstore_diff **out)
{
    struct side a = { 0 }, b = { 0 };
    struct drow *rows = NULL;
    struct profstore_diff *d = NULL;
    int r;

    *out = NULL;
    if (kind != PPROF_HEAP && kind != PPROF_GOROUTINE) {
        set_err(ps, "invalid profile kind");
        return -EINVAL;
    }
    /* A read transaction: both profiles and their sites from one snapshot. */
    if ((r = run(ps, S_BEGIN_READ, "begin")) < 0)
        return r;
    if ((r = load_side(ps, S_FIRST_FROM, target_id, kind, from_ms, &a)) < 0
        || (r = load_side(ps, S_LAST_TO, target_id, kind, to_ms, &b)) < 0)
        goto done;
    if (a.ts_ms >= b.ts_ms) {       /* the same profile, or none inside [from, to] */
        r = -ENOENT;
        goto done;
    }

    /* Join by site id: both lists are sorted by it. */
    size_t n = 0, i = 0, j = 0;
    rows = xcalloc(a.n + b.n ? a.n + b.n : 1, sizeof(*rows));
    while (i < a.n || j < b.n) {
        struct drow *w = &rows[n++];
        if (j == b.n || (i < a.n && a.ent[i].id < b.ent[j].id)) {
            w->id = a.ent[i].id;
            memcpy(w->from, a.ent[i++].v, sizeof(w->from));
        } else if (i == a.n || b.ent[j].id < a.ent[i].id) {
            w->id = b.ent[j].id;
            memcpy(w->to, b.ent[j++].v, sizeof(w->to));
        } else {
            w->id = a.ent[i].id;
            memcpy(w->from, a.ent[i++].v, sizeof(w->from));
            memcpy(w->to, b.ent[j++].v, sizeof(w->to));
        }
        for (int k = 0; k < PV_MAX; k++)
            w->delta[k] = (int64_t)((uint64_t)w->to[k] - (uint64_t)w->from[k]);
    }
    if (n > 1)
        qsort(rows, n, sizeof(*rows), kind == PPROF_HEAP ? drow_cmp_heap : drow_cmp_goroutine);
    if (limit > 0 && n > limit)
        n = limit;

    d = xcalloc(1, sizeof(*d));
    d->kind = kind;
    d->from_ms = a.ts_ms;
    d->to_ms = b.ts_ms;
    memcpy(d->total_from, a.total, sizeof(d->total_from));
    memcpy(d->total_to, b.total, sizeof(d->total_to));
    d->sites = n ? xcalloc(n, sizeof(*d->sites)) : NULL;
    d->nsites = n;
    for (size_t k = 0; k < n; k++) {
        struct profstore_diff_site *ds = &d->sites[k];
        if ((r = site_names(ps, target_id, kind, rows[k].id, ds)) < 0)
            goto done;
        memcpy(ds->from, rows[k].from, sizeof(ds->from));
        memcpy(ds->to, rows[k].to, sizeof(ds->to));
        memcpy(ds->delta, rows[k].delta, sizeof(ds->delta));
    }
    *out = d;
    d = NULL;
    r = 0;

done:
    if (!sqlite3_get_autocommit(ps->db)) {
        int r2 = run(ps, S_COMMIT, "ending a read");
        if (r2 < 0) {
            tx_abort(ps);
            if (r == 0) {
                profstore_diff_free(*out);
                *out = NULL;
                r = r2;
            }
        }
    }
    profstore_diff_free(d);
    free(rows);
    free(a.ent);
    free(b.ent);
    return r;
}

void profstore_diff_free(struct profstore_diff *d)
{
    if (!d)
        return;
    free(d->sites);
    free(d);
}
