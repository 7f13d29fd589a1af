/* memlimit.h - what memory limit a process runs into, and where that limit comes from.
 *
 * Three limits, each reported on its own:
 *   memory.max  the cgroup's hard limit, where the kernel's OOM killer acts: the smallest
 *               numeric memory.max (cgroup v2) of the process's cgroup and of each of its
 *               ancestors, or on a v1 "memory" hierarchy the smallest memory.limit_in_bytes
 *               (values >= 2^62 mean none: v1 writes "no limit" as ~2^63 rounded to a page);
 *   GOMEMLIMIT  from the process's environment as it started: the Go runtime's *soft* limit
 *               on its own total (Sys - HeapReleased), which covers neither cgo/C memory nor
 *               the binary's pages, so it is no bound on RSS.  Near it the GC works harder
 *               instead of failing.  A limit set at run time (debug.SetMemoryLimit) is not
 *               visible from outside; Go before 1.19 ignores the variable;
 *   MemTotal    the machine's memory (/proc/meminfo).
 * The effective limit is the smaller of memory.max and MemTotal, named by its source;
 * GOMEMLIMIT is reported beside it, never folded in, because it bounds another quantity
 * (leak.c decides which limit a projection uses).
 *
 * Reads are bounded and allocation-free after memlimit_reader_new: every file goes into the
 * reader's fixed buffer (/proc/PID/environ up to 256 KiB; a larger environment whose first
 * 256 KiB lack GOMEMLIMIT leaves it unknown).  Permission denied (another user's environ
 * without CAP_SYS_PTRACE) and missing files make a value unknown, never an error.
 * Single-threaded: one reader per thread. */
#ifndef MEMWATCH_MEMLIMIT_H
#define MEMWATCH_MEMLIMIT_H

#include <stddef.h>
#include <stdint.h>

enum memlimit_state {
    MEMLIMIT_UNKNOWN = 0,   /* could not be read */
    MEMLIMIT_NONE,          /* read: no limit ("max", "off", unset) */
    MEMLIMIT_SET,           /* read: bytes */
};

struct memlimit_value {
    enum memlimit_state state;
    uint64_t bytes;         /* when MEMLIMIT_SET */
};

struct memlimit {
    struct memlimit_value cgroup;       /* memory.max (or v1 memory.limit_in_bytes) */
    struct memlimit_value gomemlimit;
    struct memlimit_value mem_total;
    int cgroup_version;                 /* 1 or 2; 0 when the process's cgroup was not found */
    char cgroup_dir[512];               /* the cgroup whose limit binds, as in /proc/PID/cgroup
                                         * ("" if none, or the path is longer than this) */
    int gogc;                           /* GOGC from the environment: the percentage, -1 for
                                         * "off"; Go's default 100 when unset, unparseable or
                                         * unreadable (debug.SetGCPercent is not visible) */
    uint64_t effective_bytes;           /* min(memory.max, MemTotal); 0 if neither is known */
    const char *effective_source;       /* "memory.max", "MemTotal", or "" */
};

struct memlimit_reader;

/* Roots for tests; NULL means "/proc" and "/sys/fs/cgroup".  0, or -ENAMETOOLONG. */
int memlimit_reader_new(const char *proc_root, const char *cgroup_root,
                        struct memlimit_reader **out);
void memlimit_reader_free(struct memlimit_reader *r);

/* Reads the limits of process pid (pid <= 0: only MemTotal, as for a target without a
 * process).  0, or -ESRCH when the process does not exist (out then holds MemTotal only). */
int memlimit_read(struct memlimit_reader *r, int pid, struct memlimit *out);
/* The binding cgroup's charge now: memory.current (v2) or memory.usage_in_bytes (v1) of
 * lim->cgroup_dir.  0, -ENODATA when lim has no cgroup limit, or a negative errno. */
int memlimit_cgroup_usage(struct memlimit_reader *r, const struct memlimit *lim, uint64_t *bytes);

/* ---- parsers, exposed for tests ------------------------------------------------------------
 * Each returns 0 with a value, 1 for "no limit", or -EINVAL (-ERANGE on overflow). */
/* A GOMEMLIMIT value with Go's own syntax (runtime.parseByteCount): digits, optionally
 * followed by B, KiB, MiB, GiB or TiB; "off" and "" mean none, and so does Go's maximum,
 * 2^63-1.  No sign, no spaces; Go refuses to start with anything else ("100MB" included). */
int memlimit_parse_gomemlimit(const char *s, size_t len, uint64_t *bytes);
/* The content of memory.max ("max" or bytes, one line) or, version 1, of
 * memory.limit_in_bytes (bytes; >= 2^62 is none). */
int memlimit_parse_cgroup_limit(const char *s, size_t len, int version, uint64_t *bytes);
/* A GOGC value as Go reads it (runtime.readGOGC): "off" -> -1, an integer -> itself (a
 * negative one -> -1, the GC being off then too), anything else -> 100. */
int memlimit_parse_gogc(const char *s, size_t len);
/* MemTotal from /proc/meminfo's text, in bytes: 0 or -EINVAL. */
int memlimit_parse_meminfo(const char *s, size_t len, uint64_t *bytes);
/* The value of name in a NUL-separated environment block (the first entry wins, as in Go's
 * getenv): 0 with *value and *vlen pointing into env, -ENOENT if absent, -EINVAL if the entry
 * is cut off at the end of the block (a truncated read). */
int memlimit_find_env(const char *env, size_t len, const char *name, const char **value,
                      size_t *vlen);
/* From /proc/PID/cgroup's text: the v2 path ("0::/path") and the v1 "memory" hierarchy's
 * path into the buffers ("" when absent).  0, or -ENAMETOOLONG if a path does not fit. */
int memlimit_parse_proc_cgroup(const char *s, size_t len, char *v2, size_t v2len, char *v1,
                               size_t v1len);

#endif
