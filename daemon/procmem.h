/* procmem.h - the OS view of a process's memory, through libproc2.
 *
 * Cheap items (from /proc/PID/status and stat, ~15 us a process) every sample interval;
 * PSS/USS from /proc/PID/smaps_rollup (~100-250 us a process: the kernel walks the page
 * tables) on a slower interval of their own.  A value we may not read (smaps_rollup of
 * another user's process without CAP_SYS_PTRACE: libproc2 then silently returns 0) is marked
 * absent, never reported as zero. */
#ifndef MEMWATCH_PROCMEM_H
#define MEMWATCH_PROCMEM_H

#include <stdint.h>
#include <stddef.h>

#include "metrics.h"

struct procmem;

struct proc_sample {
    int pid;
    int64_t start_time_ms;          /* process start, Unix ms: with pid, the process identity */
    uint64_t present;               /* bit (UINT64_C(1) << metric_id) set where values[metric_id] is real */
    int64_t values[METRIC_COUNT];   /* stored units: KiB for *_bytes, plain counts otherwise */
};

/* What a selector can match a process on.  Strings are valid only during the callback. */
struct proc_ident {
    int pid;
    int64_t start_time_ms;
    const char *comm;       /* kernel name, at most 15 characters */
    const char *exe_name;   /* basename of argv[0] ("" for none): long names comm cuts */
    const char *cmdline;    /* argv joined with spaces ("" for none), cut at 4 KiB; control
                               characters and invalid UTF-8 shown as '?', as ps does */
};

int procmem_open(struct procmem **out);
void procmem_close(struct procmem *pm);

/* Reads the cheap items (M_RSS, M_VSZ, M_RSS_ANON, M_RSS_FILE, M_RSS_SHMEM, M_SWAP,
 * M_THREADS, M_MINFLT, M_MAJFLT) for pids[0..n).  A PID that no longer exists is simply
 * missing from out; *nout is the number filled (out must have room for n).  0 or -errno.
 * An exited process not yet reaped (a zombie) has no memory left and counts as gone, here,
 * in procmem_scan and in procmem_identify. */
int procmem_sample(struct procmem *pm, const int *pids, size_t n,
                   struct proc_sample *out, size_t *nout);

/* Adds M_PSS and M_USS to the given samples (matched by pid and start time) where
 * smaps_rollup is readable; leaves them absent where it is not.  0 or -errno. */
int procmem_sample_smaps(struct procmem *pm, struct proc_sample *samples, size_t n);

/* Walks every userspace process (kernel threads hidden; memwatchd itself included).
 * cb returning non-zero stops the walk.  Reading argv costs a file read, so it is done
 * once per new (pid, start time) and cached.  0 or -errno. */
int procmem_scan(struct procmem *pm, int (*cb)(void *arg, const struct proc_ident *id), void *arg);

/* Identity of one PID: 0 and *start_time_ms, or -ESRCH if there is no such process. */
int procmem_identify(struct procmem *pm, int pid, int64_t *start_time_ms);

#endif
