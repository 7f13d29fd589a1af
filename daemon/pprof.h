/* pprof.h - decode a Go pprof profile (gzip'd profile.proto, as /debug/pprof/heap and
 * /debug/pprof/goroutine serve it) into allocation or blocking sites.
 *
 * A site is where memory was allocated (heap) or where goroutines wait (goroutine), named
 * twice:
 *   leaf - the innermost frame outside package runtime (Go already trims leading runtime.*
 *          frames from heap profiles; goroutine stacks start in runtime.gopark);
 *   user - the innermost frame outside the runtime and the standard library (a package path
 *          whose first element has no dot, other than main), i.e. the program's own code
 *          that led there: for bytes.makeSlice it is the caller that grew the buffer.
 * When the whole stack is runtime/standard library, user = leaf; when it is all runtime,
 * leaf is its innermost frame; a sample with no symbolized frame is named "?" (func and
 * file "?", line 0).  Compiler-generated functions (type..eq.*, type..hash.*) count as
 * standard library.  Samples with the same (leaf, user) pair are added up; past 100000
 * distinct pairs, further pairs only count in total[].
 *
 * Names are copied as valid UTF-8 without control characters (other bytes become '?') and
 * cut at 4096 bytes, so they can go to JSON, SQLite and terminals as they are.
 *
 * Hostile input: gzip bombs stop at max_inflated; decoding may use at most 32 times the
 * inflated size (+1 MiB, 256 MiB at most); indices out of range, unknown, zero or duplicate
 * ids, missing tables and wrong sample-value counts are errors, never crashes. */
#ifndef MEMWATCH_PPROF_H
#define MEMWATCH_PPROF_H

#include <stddef.h>
#include <stdint.h>

enum pprof_kind { PPROF_HEAP = 0, PPROF_GOROUTINE = 1 };

/* Heap sample values, in Go's order; goroutine profiles have one value, PV_COUNT = 0. */
enum { PV_ALLOC_OBJECTS = 0, PV_ALLOC_BYTES = 1, PV_INUSE_OBJECTS = 2, PV_INUSE_BYTES = 3,
       PV_COUNT = 0, PV_MAX = 4 };

struct pprof_frame {
    const char *func;               /* "main.leakyCache", "bytes.makeSlice" */
    const char *file;               /* as recorded by the Go toolchain */
    int64_t line;
};

struct pprof_site {
    struct pprof_frame leaf, user;
    int64_t v[PV_MAX];              /* heap: PV_*; goroutine: v[PV_COUNT] */
};

struct pprof_profile {
    enum pprof_kind kind;
    int64_t time_ns;                /* Profile.time_nanos */
    size_t nsites;
    struct pprof_site *sites;       /* sorted by v[PV_INUSE_BYTES] (heap) or count, largest first;
                                       ties by alloc bytes (heap), then leaf and user names */
    int64_t total[PV_MAX];          /* over all samples */
    /* strings point into memory owned by the profile: one block, with the sites */
};

/* Gunzips (if gzip'd; raw protobuf is accepted too) and decodes body.  0 and *out (free with
 * pprof_free), or -EBADMSG / -EFBIG (inflated size over max_inflated, or decoded structures
 * over their budget) with a reason in err; -EINVAL for an unknown kind.  Thread-safe. */
int pprof_parse(const uint8_t *body, size_t len, size_t max_inflated, enum pprof_kind kind,
                struct pprof_profile **out, char *err, size_t errlen);
void pprof_free(struct pprof_profile *p);

/* True if func is in the Go runtime or standard library by the rule above. */
int pprof_func_is_std(const char *func);

#endif
