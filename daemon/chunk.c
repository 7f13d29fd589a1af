/* chunk.c - the sample codec (format in chunk.h). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "util.h"

/* Signed <-> unsigned through zigzag, so small negative deltas stay small. */
static inline uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t unzigzag(uint64_t u)
{
    return (int64_t)((u >> 1) ^ (0 - (u & 1)));
}

/* Differences and sums wrap modulo 2^64 on purpose: INT64_MAX - INT64_MIN must round-trip,
 * and signed overflow would be undefined behaviour. */
static inline int64_t wsub(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a - (uint64_t)b);
}

static inline int64_t wadd(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

static inline uint8_t *put_varint(uint8_t *p, uint64_t u)
{
    while (u >= 0x80) {
        *p++ = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    *p++ = (uint8_t)u;
    return p;
}

/* Reads a varint from [*pp, end); 0 or -EBADMSG.  A 10th byte may carry only bit 63. */
static inline int get_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    const uint8_t *p = *pp;
    uint64_t u = 0;

    for (unsigned shift = 0; shift < 7 * CHUNK_VARINT_MAX; shift += 7) {
        if (p == end)
            return -EBADMSG;
        uint8_t b = *p++;
        if (shift == 63 && b > 1)
            return -EBADMSG;
        u |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *pp = p;
            *out = u;
            return 0;
        }
    }
    return -EBADMSG;
}

uint8_t *chunk_put_uvarint(uint8_t *p, uint64_t u)
{
    return put_varint(p, u);
}

int chunk_get_uvarint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    return get_varint(p, end, out);
}

void chunk_enc_init(struct chunk_enc *e, int64_t start_ms, unsigned nvals)
{
    memset(e, 0, sizeof(*e));
    e->nvals = nvals;
    chunk_enc_reset(e, start_ms);
}

void chunk_enc_reset(struct chunk_enc *e, int64_t start_ms)
{
    e->len = 0;
    e->start_ms = start_ms;
    e->count = 0;
    e->last_ts = start_ms;
    e->last_delta = 0;
    memset(e->last_vals, 0, sizeof(e->last_vals));
}

void chunk_enc_free(struct chunk_enc *e)
{
    free(e->buf);
    e->buf = NULL;
    e->len = e->cap = 0;
}

void chunk_enc_append(struct chunk_enc *e, int64_t ts_ms, const int64_t *vals)
{
    size_t need = (size_t)CHUNK_VARINT_MAX * (1 + e->nvals);

    if (e->cap - e->len < need) {
        size_t cap = e->cap ? e->cap : 256;
        while (cap - e->len < need)
            cap *= 2;
        e->buf = xreallocarray(e->buf, cap, 1);
        e->cap = cap;
    }

    int64_t delta = wsub(ts_ms, e->last_ts);
    uint8_t *p = e->buf + e->len;
    /* Point 0 codes its offset from the window start and point 1 a plain delta: last_delta
     * stays 0 until point 1 sets it, so one formula covers all three cases. */
    p = put_varint(p, zigzag(wsub(delta, e->last_delta)));
    if (e->count > 0)
        e->last_delta = delta;
    e->last_ts = ts_ms;
    for (unsigned k = 0; k < e->nvals; k++) {
        p = put_varint(p, zigzag(wsub(vals[k], e->last_vals[k])));
        e->last_vals[k] = vals[k];
    }
    e->len = (size_t)(p - e->buf);
    e->count++;
}

int chunk_enc_load(struct chunk_enc *e, int64_t start_ms, unsigned nvals, const uint8_t *data,
                   size_t len)
{
    struct chunk_dec d;
    int64_t ts, vals[CHUNK_MAX_VALS];
    int r;

    e->nvals = nvals;
    chunk_enc_reset(e, start_ms);
    chunk_dec_init(&d, start_ms, nvals, data, len);
    while ((r = chunk_dec_next(&d, &ts, vals)) > 0)
        ;
    /* The decoder's state after the last good point is exactly the encoder's. */
    size_t good = chunk_dec_offset(&d);
    if (good > 0) {
        if (e->cap < good) {
            free(e->buf);
            e->cap = good < 256 ? 256 : good;
            e->buf = xmalloc(e->cap);
        }
        memcpy(e->buf, data, good);
        e->len = good;
        e->count = d.count;
        e->last_ts = d.ts;
        e->last_delta = d.delta;
        memcpy(e->last_vals, d.vals, sizeof(e->last_vals));
    }
    return r < 0 ? r : 0;
}

void chunk_dec_init(struct chunk_dec *d, int64_t start_ms, unsigned nvals, const uint8_t *data,
                    size_t len)
{
    memset(d, 0, sizeof(*d));
    d->base = d->p = data;
    d->end = data ? data + len : data;
    d->nvals = nvals > CHUNK_MAX_VALS ? CHUNK_MAX_VALS : nvals;
    d->ts = start_ms;
}

int chunk_dec_next(struct chunk_dec *d, int64_t *ts_ms, int64_t *vals)
{
    const uint8_t *p = d->p;
    uint64_t u;

    if (d->error)
        return d->error;
    if (p == d->end)
        return 0;
    /* Decode into locals and commit only a whole point, so the state (and the offset) after
     * an error is that of the last good point. */
    if (get_varint(&p, d->end, &u) < 0)
        goto bad;
    int64_t delta = wadd(d->delta, unzigzag(u));
    int64_t ts = wadd(d->ts, delta);
    if (d->count > 0 && ts <= d->ts)
        goto bad;
    int64_t v[CHUNK_MAX_VALS];
    for (unsigned k = 0; k < d->nvals; k++) {
        if (get_varint(&p, d->end, &u) < 0)
            goto bad;
        v[k] = wadd(d->vals[k], unzigzag(u));
    }
    if (d->count > 0)
        d->delta = delta;
    d->ts = ts;
    memcpy(d->vals, v, d->nvals * sizeof(v[0]));
    d->count++;
    d->p = p;
    *ts_ms = ts;
    memcpy(vals, v, d->nvals * sizeof(v[0]));
    return 1;

bad:
    d->error = -EBADMSG;
    return d->error;
}

size_t chunk_dec_offset(const struct chunk_dec *d)
{
    return (size_t)(d->p - d->base);
}
