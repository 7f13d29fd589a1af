/* chunk.h - the sample codec: a window of (timestamp, values) points as compact bytes.
 *
 * Format (byte-aligned, no header; the window start and the number of values per point are
 * kept outside, in the chunk's row):
 *   every point = ts_field, then nvals value fields;
 *   ts_field    = zigzag varint of:  point 0: ts - window_start
 *                                    point 1: ts - ts[0]                (the plain delta)
 *                                    point i: (ts - ts[i-1]) - (ts[i-1] - ts[i-2])
 *   value field = zigzag varint of value[k] - the previous point's value[k] (0 before point 0).
 * Varints are LEB128, low group first, at most 10 bytes.  All arithmetic wraps modulo 2^64,
 * so every int64 round-trips.  Timestamps strictly increase within a chunk.
 *
 * Why this shape: a point only ever appends bytes, so the bytes added since some offset (a
 * suffix) can be written to disk on their own and concatenated back later; and 1 s samples of
 * a value that rarely changes cost 2 bytes a point (a 0 delta-of-delta, a 0 delta). */
#ifndef MEMWATCH_CHUNK_H
#define MEMWATCH_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#define CHUNK_MAX_VALS 4    /* raw points carry 1 value; rollups 4 (min, avg, max, count) */
#define CHUNK_VARINT_MAX 10 /* bytes in the longest varint (64 bits, 7 per byte) */

/* An open chunk being appended to.  The buffer is owned by the encoder and survives
 * chunk_enc_reset, so one encoder reused across windows stops allocating once warm. */
struct chunk_enc {
    uint8_t *buf;
    size_t len, cap;
    int64_t start_ms; /* window start: the base of the first timestamp */
    unsigned nvals;
    uint32_t count; /* points encoded */
    int64_t last_ts, last_delta;
    int64_t last_vals[CHUNK_MAX_VALS];
};

/* Starts an empty chunk; allocates nothing yet.  nvals is 1..CHUNK_MAX_VALS. */
void chunk_enc_init(struct chunk_enc *e, int64_t start_ms, unsigned nvals);
/* Empties the chunk for a new window, keeping the buffer. */
void chunk_enc_reset(struct chunk_enc *e, int64_t start_ms);
/* Frees the buffer; the encoder may be initialised again.  Accepts a zeroed encoder. */
void chunk_enc_free(struct chunk_enc *e);
/* Appends a point (vals has nvals entries).  The caller keeps timestamps increasing. */
void chunk_enc_append(struct chunk_enc *e, int64_t ts_ms, const int64_t *vals);
/* Replaces the chunk with data[0..len) (a chunk read back from disk) and restores the state
 * after its last point, so appending continues it.  On corrupt or truncated input keeps the
 * valid points before the damage and returns -EBADMSG; otherwise 0. */
int chunk_enc_load(struct chunk_enc *e, int64_t start_ms, unsigned nvals, const uint8_t *data,
                   size_t len);

/* Walks the points of encoded bytes it does not own (they must outlive the decoder). */
struct chunk_dec {
    const uint8_t *p, *end, *base;
    unsigned nvals;
    int error;      /* sticky -EBADMSG */
    uint32_t count; /* points decoded so far */
    int64_t ts, delta;
    int64_t vals[CHUNK_MAX_VALS];
};

void chunk_dec_init(struct chunk_dec *d, int64_t start_ms, unsigned nvals, const uint8_t *data,
                    size_t len);
/* Decodes the next point into *ts_ms and vals[0..nvals).  Returns 1 for a point, 0 at the
 * clean end of the bytes, -EBADMSG on a truncated or overlong varint or a timestamp that does
 * not increase; after an error it keeps returning -EBADMSG.  Reads only inside the bytes. */
int chunk_dec_next(struct chunk_dec *d, int64_t *ts_ms, int64_t *vals);
/* Bytes consumed by the points decoded so far (the valid prefix after an error). */
size_t chunk_dec_offset(const struct chunk_dec *d);

/* The varints of the format, for other byte formats built around chunks (store.c's staging
 * rows).  chunk_put_uvarint writes at most CHUNK_VARINT_MAX bytes and returns the end;
 * chunk_get_uvarint reads one from [*p, end), advancing *p: 0 or -EBADMSG. */
uint8_t *chunk_put_uvarint(uint8_t *p, uint64_t u);
int chunk_get_uvarint(const uint8_t **p, const uint8_t *end, uint64_t *out);

#endif
