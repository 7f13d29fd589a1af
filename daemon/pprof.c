/* pprof.c - Go pprof profiles (gzip'd profile.proto) to allocation and blocking sites.
 *
 * DESIGN.  A profile goes through four bounded steps:
 *   1. gunzip into a buffer that never grows past max_inflated (a zip bomb stops there);
 *      raw protobuf (no gzip magic) is taken as is;
 *   2. protobuf-c unpacks it through an allocator with a budget: the generated structs cost
 *      up to ~50 times the encoded bytes for hostile input (an empty Sample is 2 bytes on
 *      the wire, ~100 in memory), where Go's real profiles measured 9-13 times;
 *   3. every index is checked before use: string table indices, sample value counts and
 *      location/function ids (which the format only promises to be "unique nonzero", so
 *      they go through id -> index maps; Go's dense 1..N is just the fast path);
 *   4. each sample is named by its (leaf, user) frames (pprof.h), and samples with the same
 *      names are added up in a hash table keyed by deduplicated string indices, capped at
 *      PPROF_MAX_SITES distinct sites.
 * The result is one allocation: the profile, its sites and a string arena, so pprof_free
 * is free().  All work is linear in the inflated size (hashing aside). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "pprof.h"
#include "profile.pb-c.h"
#include "util.h"

typedef Perftools__Profiles__Profile Profile;
typedef Perftools__Profiles__Sample Sample;
typedef Perftools__Profiles__Location Location;
typedef Perftools__Profiles__Function Function;

/* Distinct (leaf, user) pairs kept; samples of further pairs count in total[] only.  Go caps
 * memory profile stacks at 32 frames, so real profiles have a few thousand at most. */
#define PPROF_MAX_SITES 100000
/* Decoded structures may take this many times the encoded size, plus DECODE_SLACK, and
 * never more than DECODE_MAX.  Go 1.19's profiles measured 9-13x (with protobuf-c's
 * scanning slabs at their peak), labels push that up; hostile input reaches ~50x. */
#define DECODE_FACTOR 32
#define DECODE_SLACK ((size_t)1 << 20)
#define DECODE_MAX ((size_t)256 << 20)
/* Function and file names longer than this are cut (at a UTF-8 boundary). */
#define NAME_MAX_BYTES 4096
/* String index that stands for "?": a sample with no symbolized frame. */
#define STR_UNKNOWN (-1)

static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return r;
}

/* ---- step 1: gunzip with a cap ------------------------------------------------------- */

static int gunzip(const uint8_t *in, size_t inlen, size_t max_out, uint8_t **out,
                  size_t *outlen, char *err, size_t errlen)
{
    z_stream zs;
    uint8_t *buf = NULL;
    size_t cap, used = 0;
    /* one byte more than allowed, to tell "exactly max_out" from "more" */
    size_t limit = max_out < SIZE_MAX ? max_out + 1 : max_out;
    int zr, r = 0;

    if (inlen > UINT_MAX)
        return fail(err, errlen, -EFBIG, "gzip body of %zu bytes is too large", inlen);
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) /* 16+: gzip wrapper only */
        return fail(err, errlen, -ENOMEM, "inflateInit2 failed");
    zs.next_in = (Bytef *)(uintptr_t)in; /* zlib does not write through next_in */
    zs.avail_in = (uInt)inlen;
    /* Profiles compress about 2-4x; start there and double. */
    cap = inlen < (SIZE_MAX / 8) ? inlen * 4 + 4096 : limit;
    if (cap > limit)
        cap = limit;
    buf = xmalloc(cap ? cap : 1);

    for (;;) {
        size_t room;

        if (used == cap) {
            if (cap >= limit) {
                r = fail(err, errlen, -EFBIG, "profile inflates to more than %zu bytes",
                         max_out);
                break;
            }
            cap = cap > limit / 2 ? limit : cap * 2;
            buf = xreallocarray(buf, cap, 1);
        }
        room = cap - used;
        if (room > UINT_MAX)
            room = UINT_MAX;
        zs.next_out = buf + used;
        zs.avail_out = (uInt)room;
        zr = inflate(&zs, Z_NO_FLUSH);
        used += room - zs.avail_out;
        if (zr == Z_STREAM_END) {
            if (zs.avail_in == 0)
                break;
            /* gzip allows members back to back (Go writes one); anything else is junk */
            if (zs.avail_in >= 2 && zs.next_in[0] == 0x1f && zs.next_in[1] == 0x8b &&
                inflateReset(&zs) == Z_OK)
                continue;
            r = fail(err, errlen, -EBADMSG, "%u bytes of junk after the gzip stream",
                     zs.avail_in);
            break;
        }
        if (zr == Z_OK)
            continue;
        if (zr == Z_BUF_ERROR && zs.avail_out == 0)
            continue; /* out of room: grow */
        if (zr == Z_BUF_ERROR) {
            r = fail(err, errlen, -EBADMSG, "truncated gzip stream (%zu bytes inflated)", used);
            break;
        }
        r = fail(err, errlen, -EBADMSG, "corrupt gzip stream: %s",
                 zs.msg ? zs.msg : "inflate error");
        break;
    }
    inflateEnd(&zs);
    if (r == 0 && used > max_out)
        r = fail(err, errlen, -EFBIG, "profile inflates to more than %zu bytes", max_out);
    if (r < 0) {
        free(buf);
        return r;
    }
    *out = buf;
    *outlen = used;
    return 0;
}

/* ---- step 2: unpack within a memory budget --------------------------------------------- */

struct budget {
    size_t left;
    int refused;        /* an allocation was refused: the profile was over budget */
};

/* Each block carries its size in front, so free can give it back to the budget. */
#define BLOCK_HDR (sizeof(max_align_t))
/* Rough malloc overhead per block, charged too: tiny blocks are the expensive ones. */
#define BLOCK_OVERHEAD 16

static void *budget_alloc(void *data, size_t size)
{
    struct budget *b = data;
    size_t cost;
    unsigned char *p;

    if (size > b->left || b->left - size < BLOCK_HDR + BLOCK_OVERHEAD) {
        b->refused = 1;
        return NULL;
    }
    cost = size + BLOCK_HDR + BLOCK_OVERHEAD;
    p = malloc(size + BLOCK_HDR);
    if (!p)
        return NULL;
    memcpy(p, &size, sizeof(size));
    b->left -= cost;
    return p + BLOCK_HDR;
}

static void budget_free(void *data, void *ptr)
{
    struct budget *b = data;
    unsigned char *p = ptr;
    size_t size;

    if (!p)
        return;
    p -= BLOCK_HDR;
    memcpy(&size, p, sizeof(size));
    b->left += size + BLOCK_HDR + BLOCK_OVERHEAD;
    free(p);
}

/* Our own tables after the unpack are charged to the same budget (and never given back:
 * they all go at the end).  NULL when over budget. */
static void *budget_calloc(struct budget *b, size_t n, size_t size)
{
    if (n == 0)
        n = 1;
    if (size && n > b->left / size) {
        b->refused = 1;
        return NULL;
    }
    b->left -= n * size;
    return xcalloc(n, size);
}

/* ---- step 3: id -> index maps ---------------------------------------------------------- */

struct idmap {
    int dense;          /* ids are 1..n in order: index = id - 1 */
    size_t mask;        /* open addressing, capacity mask + 1 (a power of two) */
    uint64_t *ids;      /* 0 = empty slot (ids are nonzero) */
    size_t *idx;
};

/* Hash seed, random per thread: ids, line numbers and names come from the target, and with
 * a known hash function it could choose them to collide and make every lookup walk the
 * whole table.  Thread-local, so parsers in several threads need no lock. */
static _Thread_local uint64_t hash_seed;

static void seed_hash(void)
{
    uint64_t s = 0;

    if (hash_seed)
        return;
    if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s))
        s = (uint64_t)(uintptr_t)&s ^ ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
    hash_seed = s | 1;
}

static uint64_t mix64(uint64_t x)
{
    /* splitmix64's finalizer, over a seeded input: ids and string indices are often
     * consecutive */
    x ^= hash_seed;
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}

static size_t pow2_at_least(size_t n)
{
    size_t c = 16;

    while (c < n)
        c *= 2;
    return c;
}

/* -EBADMSG on a zero or duplicate id, -EFBIG over budget. */
static int idmap_build(struct idmap *m, size_t n, uint64_t (*id_of)(const void *, size_t),
                       const void *arr, struct budget *b)
{
    size_t i;

    memset(m, 0, sizeof(*m));
    m->dense = 1;
    for (i = 0; i < n && m->dense; i++)
        if (id_of(arr, i) != (uint64_t)i + 1)
            m->dense = 0;
    if (m->dense)
        return 0;
    m->mask = pow2_at_least(n * 2) - 1;
    m->ids = budget_calloc(b, m->mask + 1, sizeof(*m->ids));
    m->idx = budget_calloc(b, m->mask + 1, sizeof(*m->idx));
    if (!m->ids || !m->idx)
        return -EFBIG;
    for (i = 0; i < n; i++) {
        uint64_t id = id_of(arr, i);
        size_t h;

        if (id == 0)
            return -EBADMSG;
        for (h = mix64(id) & m->mask; m->ids[h]; h = (h + 1) & m->mask)
            if (m->ids[h] == id)
                return -EBADMSG;
        m->ids[h] = id;
        m->idx[h] = i;
    }
    return 0;
}

/* Index for id, or SIZE_MAX. */
static size_t idmap_get(const struct idmap *m, size_t n, uint64_t id)
{
    size_t h;

    if (m->dense)
        return id >= 1 && id <= n ? (size_t)(id - 1) : SIZE_MAX;
    if (id == 0)
        return SIZE_MAX;
    for (h = mix64(id) & m->mask; m->ids[h]; h = (h + 1) & m->mask)
        if (m->ids[h] == id)
            return m->idx[h];
    return SIZE_MAX;
}

static void idmap_free(struct idmap *m)
{
    free(m->ids);
    free(m->idx);
}

static uint64_t location_id(const void *arr, size_t i)
{
    return ((Location *const *)arr)[i]->id;
}

static uint64_t function_id(const void *arr, size_t i)
{
    return ((Function *const *)arr)[i]->id;
}

/* ---- package classification ------------------------------------------------------------ */

/* The package path of a Go function name: everything up to the first '.' after the last
 * '/', looking only before any '[' (type arguments of generic functions hold dots and
 * slashes of their own).  Returns its length. */
static size_t package_len(const char *func)
{
    size_t end = strcspn(func, "["), i, last_slash = 0;
    const char *dot;

    for (i = 0; i < end; i++)
        if (func[i] == '/')
            last_slash = i + 1;
    dot = memchr(func + last_slash, '.', end - last_slash);
    return dot ? (size_t)(dot - func) : end;
}

static int func_is_runtime(const char *func)
{
    return package_len(func) == 7 && strncmp(func, "runtime", 7) == 0;
}

int pprof_func_is_std(const char *func)
{
    size_t plen, first;

    if (!func)
        return 0;
    /* Compiler-generated helpers (type..eq.main.T, type..hash.github.com/x/y.T) carry the
     * type's package after the prefix; they are no one's source code, so not user code. */
    if (strncmp(func, "type..", 6) == 0)
        return 1;
    plen = package_len(func);
    if ((plen == 4 && strncmp(func, "main", 4) == 0) ||
        (plen == 22 && strncmp(func, "command-line-arguments", 22) == 0))
        return 0;
    first = strcspn(func, "/");
    if (first > plen)
        first = plen;
    return memchr(func, '.', first) == NULL;
}

/* ---- step 4: sites --------------------------------------------------------------------- */

struct frame_key {
    int64_t func, file, line; /* deduplicated string indices, or STR_UNKNOWN */
};

struct site_acc {
    struct frame_key leaf, user;
    int64_t v[PV_MAX];
};

struct decoder {
    const Profile *p;
    enum pprof_kind kind;
    struct budget *budget;
    int vidx[PV_MAX];           /* sample value index for each PV_*, or -1 */
    size_t *str_canon;          /* string index -> first index with the same text */
    struct idmap locs, funcs;
    /* per function: deduplicated name and file, and its class */
    int64_t *fn_name, *fn_file;
    unsigned char *fn_runtime, *fn_std;
    /* per location, from its lines innermost first: line index + 1 of the first frame, the
     * first outside runtime and the first outside the standard library (0: none), so a
     * sample costs one step per location however many lines they hold */
    uint32_t *loc_first, *loc_nonrt, *loc_nonstd;
    /* sites: array plus an open-addressing table of indices + 1 */
    struct site_acc *sites;
    size_t nsites, sites_cap;
    size_t *table;
    size_t table_mask;
    int64_t total[PV_MAX];
};

static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;

    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static uint64_t hash_bytes(const char *s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325) ^ hash_seed; /* FNV-1a, seeded */

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(0x100000001b3);
    return mix64(h);
}

/* Same text, same index: Go writes each string once, but nothing forces other writers to.
 * -EFBIG over budget. */
static int canon_strings(struct decoder *d)
{
    const Profile *p = d->p;
    size_t n = p->n_string_table, mask = pow2_at_least(n * 2) - 1, i, h;
    size_t *slots = budget_calloc(d->budget, mask + 1, sizeof(*slots)); /* index + 1 */

    d->str_canon = budget_calloc(d->budget, n, sizeof(*d->str_canon));
    if (!slots || !d->str_canon) {
        free(slots);
        return -EFBIG;
    }
    for (i = 0; i < n; i++) {
        const char *s = p->string_table[i] ? p->string_table[i] : "";

        for (h = hash_bytes(s) & mask; slots[h]; h = (h + 1) & mask) {
            const char *t = p->string_table[slots[h] - 1];
            if (strcmp(t ? t : "", s) == 0)
                break;
        }
        if (!slots[h])
            slots[h] = i + 1;
        d->str_canon[i] = slots[h] - 1;
    }
    free(slots);
    return 0;
}

static const char *str_at(const Profile *p, int64_t i)
{
    return i >= 0 && (uint64_t)i < p->n_string_table && p->string_table[i] ? p->string_table[i]
                                                                              : NULL;
}

static const char *str_or_q(const char *s)
{
    return s ? s : "?";
}

static int find_sample_types(struct decoder *d, char *err, size_t errlen)
{
    static const char *const heap_types[PV_MAX] = {
        [PV_ALLOC_OBJECTS] = "alloc_objects",
        [PV_ALLOC_BYTES] = "alloc_space",
        [PV_INUSE_OBJECTS] = "inuse_objects",
        [PV_INUSE_BYTES] = "inuse_space",
    };
    const Profile *p = d->p;
    size_t i;
    int k;

    for (k = 0; k < PV_MAX; k++)
        d->vidx[k] = -1;
    if (p->n_sample_type == 0 || p->n_sample_type > 64)
        return fail(err, errlen, -EBADMSG, "%zu sample types", p->n_sample_type);
    for (i = 0; i < p->n_sample_type; i++) {
        const char *type, *unit;

        if (!p->sample_type[i])
            return fail(err, errlen, -EBADMSG, "sample type %zu missing", i);
        type = str_at(p, p->sample_type[i]->type);
        unit = str_at(p, p->sample_type[i]->unit);
        if (!type || !unit)
            return fail(err, errlen, -EBADMSG, "sample type %zu: string index out of range", i);
        if (d->kind == PPROF_HEAP) {
            for (k = 0; k < PV_MAX; k++)
                if (d->vidx[k] < 0 && strcmp(type, heap_types[k]) == 0)
                    d->vidx[k] = (int)i;
        } else if (p->n_sample_type == 1 &&
                   (strcmp(type, "goroutine") == 0 || strcmp(unit, "count") == 0)) {
            d->vidx[PV_COUNT] = 0;
        }
    }
    if (d->kind == PPROF_GOROUTINE && d->vidx[PV_COUNT] < 0)
        return fail(err, errlen, -EBADMSG, "not a goroutine profile: %zu sample types, first %s",
                    p->n_sample_type, str_or_q(str_at(p, p->sample_type[0]->type)));
    if (d->kind == PPROF_HEAP)
        for (k = 0; k < PV_MAX; k++)
            if (d->vidx[k] < 0)
                return fail(err, errlen, -EBADMSG, "not a heap profile: no sample type %s",
                            heap_types[k]);
    return 0;
}

static int check_tables(struct decoder *d, char *err, size_t errlen)
{
    const Profile *p = d->p;
    size_t nf = p->n_function, i, j;
    int r;

    if (p->n_string_table == 0)
        return fail(err, errlen, -EBADMSG, "no string table");
    if ((r = idmap_build(&d->locs, p->n_location, location_id, p->location, d->budget)) < 0)
        return fail(err, errlen, r, r == -EFBIG ? "location table over budget"
                                                : "zero or duplicate location id");
    if ((r = idmap_build(&d->funcs, nf, function_id, p->function, d->budget)) < 0)
        return fail(err, errlen, r, r == -EFBIG ? "function table over budget"
                                                : "zero or duplicate function id");

    d->fn_name = budget_calloc(d->budget, nf, sizeof(*d->fn_name));
    d->fn_file = budget_calloc(d->budget, nf, sizeof(*d->fn_file));
    d->fn_runtime = budget_calloc(d->budget, nf, 1);
    d->fn_std = budget_calloc(d->budget, nf, 1);
    d->loc_first = budget_calloc(d->budget, p->n_location, sizeof(*d->loc_first));
    d->loc_nonrt = budget_calloc(d->budget, p->n_location, sizeof(*d->loc_nonrt));
    d->loc_nonstd = budget_calloc(d->budget, p->n_location, sizeof(*d->loc_nonstd));
    if (!d->fn_name || !d->fn_file || !d->fn_runtime || !d->fn_std || !d->loc_first ||
        !d->loc_nonrt || !d->loc_nonstd)
        return fail(err, errlen, -EFBIG, "profile tables over budget");
    for (i = 0; i < nf; i++) {
        const Function *f = p->function[i];
        const char *name = str_at(p, f->name);

        if (!name || !str_at(p, f->filename))
            return fail(err, errlen, -EBADMSG,
                        "function id %" PRIu64 ": string index out of range", f->id);
        d->fn_name[i] = (int64_t)d->str_canon[f->name];
        d->fn_file[i] = (int64_t)d->str_canon[f->filename];
        d->fn_runtime[i] = (unsigned char)func_is_runtime(name);
        d->fn_std[i] = (unsigned char)pprof_func_is_std(name);
    }
    for (i = 0; i < p->n_location; i++) {
        const Location *l = p->location[i];

        /* lines cost far more than 1 byte of budget each, so j + 1 fits */
        if (l->n_line >= UINT32_MAX)
            return fail(err, errlen, -EFBIG, "location with %zu lines", l->n_line);
        for (j = 0; j < l->n_line; j++) {
            size_t fi = l->line[j] ? idmap_get(&d->funcs, nf, l->line[j]->function_id)
                                   : SIZE_MAX;

            if (fi == SIZE_MAX)
                return fail(err, errlen, -EBADMSG,
                            "location id %" PRIu64 ": unknown function id", l->id);
            if (!d->loc_first[i])
                d->loc_first[i] = (uint32_t)j + 1;
            if (!d->loc_nonrt[i] && !d->fn_runtime[fi])
                d->loc_nonrt[i] = (uint32_t)j + 1;
            if (!d->loc_nonstd[i] && !d->fn_std[fi])
                d->loc_nonstd[i] = (uint32_t)j + 1;
        }
    }
    return 0;
}

static uint64_t key_hash(const struct site_acc *k)
{
    uint64_t h = 0;

    h = mix64(h ^ (uint64_t)k->leaf.func);
    h = mix64(h ^ (uint64_t)k->leaf.file);
    h = mix64(h ^ (uint64_t)k->leaf.line);
    h = mix64(h ^ (uint64_t)k->user.func);
    h = mix64(h ^ (uint64_t)k->user.file);
    h = mix64(h ^ (uint64_t)k->user.line);
    return h;
}

static int key_eq(const struct site_acc *a, const struct site_acc *b)
{
    return a->leaf.func == b->leaf.func && a->leaf.file == b->leaf.file &&
           a->leaf.line == b->leaf.line && a->user.func == b->user.func &&
           a->user.file == b->user.file && a->user.line == b->user.line;
}

static void table_grow(struct decoder *d)
{
    size_t cap = (d->table_mask + 1) * 2, i, h;

    free(d->table);
    d->table = xcalloc(cap, sizeof(*d->table));
    d->table_mask = cap - 1;
    for (i = 0; i < d->nsites; i++) {
        for (h = key_hash(&d->sites[i]) & d->table_mask; d->table[h]; h = (h + 1) & d->table_mask)
            ;
        d->table[h] = i + 1;
    }
}

/* Adds v to the site of key; beyond PPROF_MAX_SITES new sites are dropped. */
static void add_site(struct decoder *d, const struct site_acc *key, const int64_t *v)
{
    struct site_acc *s;
    size_t h;
    int k;

    for (h = key_hash(key) & d->table_mask; d->table[h]; h = (h + 1) & d->table_mask)
        if (key_eq(&d->sites[d->table[h] - 1], key))
            break;
    if (d->table[h]) {
        s = &d->sites[d->table[h] - 1];
    } else {
        if (d->nsites >= PPROF_MAX_SITES)
            return;
        if (d->nsites == d->sites_cap) {
            d->sites_cap = d->sites_cap ? d->sites_cap * 2 : 64;
            d->sites = xreallocarray(d->sites, d->sites_cap, sizeof(*d->sites));
        }
        s = &d->sites[d->nsites++];
        *s = *key;
        memset(s->v, 0, sizeof(s->v));
        d->table[h] = d->nsites;
        if (d->nsites * 2 > d->table_mask + 1)
            table_grow(d);
    }
    for (k = 0; k < PV_MAX; k++)
        s->v[k] = sat_add(s->v[k], v[k]);
}

/* The frame of line j1 - 1 of location li. */
static struct frame_key frame_at(const struct decoder *d, size_t li, uint32_t j1)
{
    const Perftools__Profiles__Line *ln = d->p->location[li]->line[j1 - 1];
    size_t fi = idmap_get(&d->funcs, d->p->n_function, ln->function_id);
    struct frame_key f = { d->fn_name[fi], d->fn_file[fi], ln->line };

    return f;
}

static int add_sample(struct decoder *d, size_t si, char *err, size_t errlen)
{
    const Profile *p = d->p;
    const Sample *s = p->sample[si];
    struct site_acc key = { { 0, 0, 0 }, { 0, 0, 0 }, { 0 } };
    int64_t v[PV_MAX] = { 0 };
    int have_leaf = 0, have_user = 0, k;
    size_t i;

    if (!s || s->n_value != p->n_sample_type)
        return fail(err, errlen, -EBADMSG, "sample %zu has %zu values for %zu sample types", si,
                    s ? s->n_value : 0, p->n_sample_type);
    for (k = 0; k < PV_MAX; k++)
        if (d->vidx[k] >= 0)
            v[k] = s->value[d->vidx[k]];

    /* Leaf to root, and in each location from the innermost inlined function out (the
     * per-location summaries of check_tables hold the first frame of each class). */
    key.leaf.func = key.leaf.file = STR_UNKNOWN;
    key.leaf.line = 0;
    key.user = key.leaf;
    for (i = 0; i < s->n_location_id; i++) {
        size_t li = idmap_get(&d->locs, p->n_location, s->location_id[i]);

        if (li == SIZE_MAX)
            return fail(err, errlen, -EBADMSG, "sample %zu: unknown location id %" PRIu64, si,
                        s->location_id[i]);
        if (have_user || !d->loc_first[li])
            continue; /* no lines: an unsymbolized frame */
        /* an all-runtime stack is named by its innermost frame */
        if (key.leaf.func == STR_UNKNOWN)
            key.leaf = frame_at(d, li, d->loc_first[li]);
        if (!have_leaf && d->loc_nonrt[li]) {
            key.leaf = frame_at(d, li, d->loc_nonrt[li]);
            have_leaf = 1;
        }
        if (d->loc_nonstd[li]) {
            key.user = frame_at(d, li, d->loc_nonstd[li]);
            have_user = 1;
        }
    }
    if (!have_user)
        key.user = key.leaf;
    for (k = 0; k < PV_MAX; k++)
        d->total[k] = sat_add(d->total[k], v[k]);
    add_site(d, &key, v);
    return 0;
}

/* ---- output ---------------------------------------------------------------------------- */

/* Copies at most NAME_MAX_BYTES of src as valid UTF-8 without control characters (they
 * end up in JSON, SQLite and terminals); bad bytes become '?'.  Returns bytes written,
 * without the NUL it appends. */
static size_t copy_name(char *dst, const char *src)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t n = 0;

    while (*s) {
        size_t len = 1, k;
        uint32_t cp;

        if (*s < 0x80) {
            len = 1;
        } else if ((*s & 0xe0) == 0xc0) {
            len = 2;
        } else if ((*s & 0xf0) == 0xe0) {
            len = 3;
        } else if ((*s & 0xf8) == 0xf0) {
            len = 4;
        } else {
            len = 0;
        }
        for (k = 1; k < len; k++)
            if ((s[k] & 0xc0) != 0x80)
                len = 0;
        if (len > 1) {
            /* overlong forms, surrogates and code points beyond U+10FFFF are invalid */
            cp = len == 2 ? (uint32_t)(s[0] & 0x1f) : len == 3 ? (uint32_t)(s[0] & 0x0f)
                                                                : (uint32_t)(s[0] & 0x07);
            for (k = 1; k < len; k++)
                cp = (cp << 6) | (s[k] & 0x3f);
            if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
                (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
                len = 0;
        }
        if (n + (len ? len : 1) > NAME_MAX_BYTES)
            break;
        if (len == 0 || (len == 1 && (*s < 0x20 || *s == 0x7f))) {
            dst[n++] = '?';
            s++;
            continue;
        }
        memcpy(dst + n, s, len);
        n += len;
        s += len;
    }
    dst[n] = '\0';
    return n;
}

static int frame_cmp(const struct pprof_frame *a, const struct pprof_frame *b)
{
    int c = strcmp(a->func, b->func);

    if (c == 0)
        c = strcmp(a->file, b->file);
    if (c == 0)
        c = (a->line > b->line) - (a->line < b->line);
    return c;
}

static int site_cmp_heap(const void *x, const void *y)
{
    const struct pprof_site *a = x, *b = y;
    int c = (b->v[PV_INUSE_BYTES] > a->v[PV_INUSE_BYTES]) -
            (b->v[PV_INUSE_BYTES] < a->v[PV_INUSE_BYTES]);

    if (c == 0)
        c = (b->v[PV_ALLOC_BYTES] > a->v[PV_ALLOC_BYTES]) -
            (b->v[PV_ALLOC_BYTES] < a->v[PV_ALLOC_BYTES]);
    if (c == 0)
        c = frame_cmp(&a->leaf, &b->leaf);
    if (c == 0)
        c = frame_cmp(&a->user, &b->user);
    return c;
}

static int site_cmp_count(const void *x, const void *y)
{
    const struct pprof_site *a = x, *b = y;
    int c = (b->v[PV_COUNT] > a->v[PV_COUNT]) - (b->v[PV_COUNT] < a->v[PV_COUNT]);

    if (c == 0)
        c = frame_cmp(&a->leaf, &b->leaf);
    if (c == 0)
        c = frame_cmp(&a->user, &b->user);
    return c;
}

static struct pprof_profile *build_result(struct decoder *d)
{
    const Profile *p = d->p;
    size_t n = p->n_string_table, i, arena_len = 2, head;
    size_t *off = xmalloc((n ? n : 1) * sizeof(*off));
    struct pprof_profile *out;
    char *arena;

    /* arena offsets of the strings the sites use; offset 0 is "?" */
    for (i = 0; i < n; i++)
        off[i] = SIZE_MAX;
    for (i = 0; i < d->nsites; i++) {
        const int64_t refs[4] = { d->sites[i].leaf.func, d->sites[i].leaf.file,
                                  d->sites[i].user.func, d->sites[i].user.file };
        int k;

        for (k = 0; k < 4; k++) {
            size_t len;

            if (refs[k] == STR_UNKNOWN || off[refs[k]] != SIZE_MAX)
                continue;
            len = strlen(p->string_table[refs[k]]);
            off[refs[k]] = arena_len;
            arena_len += (len < NAME_MAX_BYTES ? len : NAME_MAX_BYTES) + 1;
        }
    }
    head = sizeof(*out) + d->nsites * sizeof(*out->sites);
    out = xmalloc(head + arena_len);
    memset(out, 0, sizeof(*out));
    out->kind = d->kind;
    out->time_ns = p->time_nanos;
    out->nsites = d->nsites;
    out->sites = d->nsites ? (struct pprof_site *)(out + 1) : NULL;
    memcpy(out->total, d->total, sizeof(out->total));
    arena = (char *)out + head;
    memcpy(arena, "?", 2);
    for (i = 0; i < n; i++)
        if (off[i] != SIZE_MAX)
            copy_name(arena + off[i], p->string_table[i]);
    for (i = 0; i < d->nsites; i++) {
        struct pprof_site *s = &out->sites[i];
        const struct site_acc *a = &d->sites[i];

#define ARENA_STR(idx) (arena + ((idx) == STR_UNKNOWN ? 0 : off[(idx)]))
        s->leaf.func = ARENA_STR(a->leaf.func);
        s->leaf.file = ARENA_STR(a->leaf.file);
        s->leaf.line = a->leaf.line;
        s->user.func = ARENA_STR(a->user.func);
        s->user.file = ARENA_STR(a->user.file);
        s->user.line = a->user.line;
#undef ARENA_STR
        memcpy(s->v, a->v, sizeof(s->v));
    }
    free(off);
    if (out->nsites > 1)
        qsort(out->sites, out->nsites, sizeof(*out->sites),
              d->kind == PPROF_HEAP ? site_cmp_heap : site_cmp_count);
    return out;
}

static void decoder_free(struct decoder *d)
{
    free(d->str_canon);
    idmap_free(&d->locs);
    idmap_free(&d->funcs);
    free(d->fn_name);
    free(d->fn_file);
    free(d->fn_runtime);
    free(d->fn_std);
    free(d->loc_first);
    free(d->loc_nonrt);
    free(d->loc_nonstd);
    free(d->sites);
    free(d->table);
}

int pprof_parse(const uint8_t *body, size_t len, size_t max_inflated, enum pprof_kind kind,
                struct pprof_profile **out, char *err, size_t errlen)
{
    uint8_t *inflated = NULL;
    const uint8_t *raw = body;
    size_t rawlen = len, i;
    struct budget budget;
    ProtobufCAllocator alloc = { budget_alloc, budget_free, &budget };
    Profile *p = NULL;
    struct decoder d;
    int r;

    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    memset(&d, 0, sizeof(d));
    if (kind != PPROF_HEAP && kind != PPROF_GOROUTINE)
        return fail(err, errlen, -EINVAL, "unknown profile kind %d", (int)kind);
    if (!body || len == 0)
        return fail(err, errlen, -EBADMSG, "empty body");
    if (len >= 2 && body[0] == 0x1f && body[1] == 0x8b) {
        r = gunzip(body, len, max_inflated, &inflated, &rawlen, err, errlen);
        if (r < 0)
            return r;
        raw = inflated;
    } else if (len > max_inflated) {
        return fail(err, errlen, -EFBIG, "profile of %zu bytes is over %zu", len, max_inflated);
    }
    if (rawlen == 0) {
        r = fail(err, errlen, -EBADMSG, "empty profile");
        goto out;
    }

    budget.refused = 0;
    budget.left = rawlen < (DECODE_MAX - DECODE_SLACK) / DECODE_FACTOR
                      ? rawlen * DECODE_FACTOR + DECODE_SLACK
                      : DECODE_MAX;
    p = perftools__profiles__profile__unpack(&alloc, rawlen, raw);
    if (!p && budget.refused) {
        r = fail(err, errlen, -EFBIG, "profile of %zu bytes decodes to more than %zu bytes",
                 rawlen, budget.left);
        goto out;
    }
    if (!p) {
        r = fail(err, errlen, -EBADMSG, "not a protobuf profile (HTML? wrong endpoint?)");
        goto out;
    }
    free(inflated);
    inflated = NULL;

    seed_hash();
    d.p = p;
    d.kind = kind;
    d.budget = &budget;
    if ((r = find_sample_types(&d, err, errlen)) < 0)
        goto out;
    if ((r = canon_strings(&d)) < 0) {
        r = fail(err, errlen, r, "string table over budget");
        goto out;
    }
    if ((r = check_tables(&d, err, errlen)) < 0)
        goto out;
    d.table_mask = 63;
    d.table = xcalloc(d.table_mask + 1, sizeof(*d.table));
    for (i = 0; i < p->n_sample; i++)
        if ((r = add_sample(&d, i, err, errlen)) < 0)
            goto out;
    *out = build_result(&d);
    r = 0;
out:
    decoder_free(&d);
    if (p)
        perftools__profiles__profile__free_unpacked(p, &alloc);
    free(inflated);
    return r;
}

void pprof_free(struct pprof_profile *p)
{
    free(p);
}
