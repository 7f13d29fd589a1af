/* procmem.c - the OS view of a process's memory and identity, through libproc2 (see procmem.h).
 *
 * DESIGN
 * Three pids_info handles live as long as the struct procmem, each with the fewest items that
 * do its job, because libproc2 reads a /proc file for every item group asked for:
 *   cheap - stat + status: identity, state and the status memory lines, every sample interval;
 *   smaps - smaps_rollup: PSS/USS, ~100-250 us a process (the kernel walks the page tables);
 *   scan  - stat only: PID, start, comm, state and flags of every process on the machine.
 * libproc2 owns the stacks it returns and recycles them on the next call on the same handle,
 * so every value is copied out before a function returns and no stack is kept.
 *
 * argv is not a libproc2 item here: libproc2 would re-read /proc/PID/cmdline for every process
 * on every scan.  We read it ourselves, once per new (pid, start time), into a small cache.
 *
 * Kernel facts relied on (Linux >= 4.5):
 * - A process's identity is (pid, start time); stat field 22 is the start in clock ticks since
 *   boot, and btime (/proc/stat) is the boot time in whole seconds.  btime is read once at
 *   open: the kernel recomputes it from the wall clock, so it can move by a second after a
 *   clock step, and a start time must not change under a running daemon.
 * - VmRSS = RssAnon + RssFile + RssShmem, all KiB.
 * - A zombie (state Z) has no address space left: status has no Vm* lines and stat vsize is 0.
 *   We treat it as gone.  That includes a process whose main thread alone has exited while
 *   other threads run (the leader shows as Z too); its memory cannot be read through that PID.
 * - Kernel threads carry PF_KTHREAD in stat's flags field.
 * - smaps_rollup is mode 0444, but open() makes a ptrace-read check (same UID or
 *   CAP_SYS_PTRACE; even root may be refused across user namespaces).  So access(R_OK) says
 *   yes when the read will fail (seen on 6.x kernels); only an open() tells.  When libproc2's
 *   read fails it silently gives zeros.
 *
 * Not thread-safe: one struct procmem per thread (libproc2 makes no promise either). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <linux/magic.h>        /* PROC_SUPER_MAGIC */

#include <libproc2/misc.h>
#include <libproc2/pids.h>
#include <libproc2/stat.h>

#include "log.h"
#include "procmem.h"
#include "util.h"

/* PIDS_VAL() takes 4 arguments in libproc2 4.0.2 and 3 in later releases: index directly. */
#define VAL(stack, idx, type) ((stack)->head[(idx)].result.type)

/* include/linux/sched.h; not exported to userspace headers.  Stable since 2.6.27. */
#define PF_KTHREAD 0x00200000UL

/* argv beyond this is cut: enough for any pattern worth writing, and it bounds the cache. */
#define CMDLINE_MAX 4096
/* Bounds the cache (at most CACHE_MAX * ~4 KiB, typically ~100 bytes an entry).  Processes
 * beyond it still get matched; their argv is just read on every scan. */
#define CACHE_MAX 16384
/* libproc2 escapes comm into a 64-byte buffer. */
#define COMM_CAP 64
/* procps_pids_select() refuses more PIDs than this with EINVAL (FILL_ID_MAX in 4.0.2's
 * pids.c; seen here: 255 fine, 256 NULL/EINVAL), so we select in batches. */
#define SELECT_MAX 255

enum { C_PID, C_BEGAN, C_STATE, C_RSS, C_VSZ, C_ANON, C_FILE, C_SHMEM, C_SWAP, C_NLWP,
       C_MINFLT, C_MAJFLT, C_COUNT };
static enum pids_item cheap_items[C_COUNT] = {
    [C_PID] = PIDS_ID_PID,          /* s_int */
    [C_BEGAN] = PIDS_TICS_BEGAN,    /* ull_int, stat */
    [C_STATE] = PIDS_STATE,         /* s_ch, stat */
    [C_RSS] = PIDS_VM_RSS,          /* ul_int KiB, status */
    [C_VSZ] = PIDS_VM_SIZE,
    [C_ANON] = PIDS_VM_RSS_ANON,
    [C_FILE] = PIDS_VM_RSS_FILE,
    [C_SHMEM] = PIDS_VM_RSS_SHARED,
    [C_SWAP] = PIDS_VM_SWAP,
    [C_NLWP] = PIDS_NLWP,           /* s_int */
    [C_MINFLT] = PIDS_FLT_MIN,      /* ul_int, stat */
    [C_MAJFLT] = PIDS_FLT_MAJ,
};

/* The ul_int items of cheap_items and the metric each becomes. */
static const struct { int item; enum metric_id metric; } cheap_ul_metrics[] = {
    { C_RSS, M_RSS }, { C_VSZ, M_VSZ }, { C_ANON, M_RSS_ANON }, { C_FILE, M_RSS_FILE },
    { C_SHMEM, M_RSS_SHMEM }, { C_SWAP, M_SWAP }, { C_MINFLT, M_MINFLT }, { C_MAJFLT, M_MAJFLT },
};

enum { S_PID, S_BEGAN, S_RSS, S_SWAP, S_PSS, S_USS, S_COUNT };
static enum pids_item smaps_items[S_COUNT] = {
    [S_PID] = PIDS_ID_PID,
    [S_BEGAN] = PIDS_TICS_BEGAN,
    [S_RSS] = PIDS_SMAP_RSS,        /* ul_int KiB, smaps_rollup; only to spot a failed read */
    [S_SWAP] = PIDS_SMAP_SWAP,      /* likewise */
    [S_PSS] = PIDS_SMAP_PSS,
    [S_USS] = PIDS_SMAP_PRV_TOTAL,  /* Private_Clean + Private_Dirty */
};

enum { N_PID, N_BEGAN, N_CMD, N_STATE, N_FLAGS, N_COUNT };
static enum pids_item scan_items[N_COUNT] = {
    [N_PID] = PIDS_ID_PID,
    [N_BEGAN] = PIDS_TICS_BEGAN,
    [N_CMD] = PIDS_CMD,             /* str: comm, escaped by libproc2 (control chars -> '?') */
    [N_STATE] = PIDS_STATE,
    [N_FLAGS] = PIDS_FLAGS,         /* ul_int */
};

/* What a process's argv looked like when we read it. */
struct cmd_entry {
    int pid;
    int64_t start_time_ms;
    char comm[COMM_CAP];    /* comm at the time: an exec changes it, and then argv is re-read */
    char *cmdline;          /* owned: one allocation, "cmdline\0exe_name\0" */
    const char *exe_name;   /* points into cmdline's allocation */
};

struct procmem {
    struct pids_info *cheap, *smaps, *scan;
    int64_t btime_ms;
    long hertz;

    unsigned *pidbuf;               /* select() wants unsigned PIDs; grown, never shrunk */
    size_t pidcap;
    struct smaps_ref { int pid; size_t idx; } *refs;   /* sample_smaps: pid -> sample */
    size_t refcap;

    /* The argv cache: sorted by (pid, start), rebuilt into `next` on every scan so that
     * entries of processes that are gone fall out.  Both arrays have room for `cap`. */
    struct cmd_entry *cache, *next;
    size_t ncache, cap;
    bool cache_full_said;
    bool scanning;
    char cmdbuf[2 * CMDLINE_MAX + 2];   /* a fresh read: "cmdline\0exe_name\0" */
};

static int64_t start_ms(const struct procmem *pm, unsigned long long tics)
{
    unsigned long long hz = (unsigned long long)pm->hertz;
    /* Split so that a hostile or absurd tick count cannot overflow the multiplication. */
    unsigned long long ms = tics / hz * 1000 + tics % hz * 1000 / hz;
    if (ms > (unsigned long long)(INT64_MAX - pm->btime_ms))
        ms = (unsigned long long)(INT64_MAX - pm->btime_ms);
    return pm->btime_ms + (int64_t)ms;
}

/* errno after a libproc2 call that returned NULL, as a negative errno. */
static int proc2_error(void)
{
    return errno > 0 ? -errno : -EIO;
}

int procmem_open(struct procmem **out)
{
    struct statfs sfs;
    struct stat_info *si = NULL;
    struct procmem *pm;
    int r;

    *out = NULL;
    /* Not fatal_proc_unmounted(): without /proc it prints a message and _exit()s. */
    if (statfs("/proc", &sfs) < 0)
        return -errno;
    if (sfs.f_type != PROC_SUPER_MAGIC)
        return -ENOENT;

    pm = xcalloc(1, sizeof *pm);
    pm->hertz = procps_hertz_get();
    if (pm->hertz <= 0) {
        r = -EIO;
        goto fail;
    }
    r = procps_stat_new(&si);
    if (r < 0)
        goto fail;
    struct stat_result *boot = procps_stat_get(si, STAT_SYS_TIME_OF_BOOT);
    if (!boot || boot->result.ul_int == 0 || boot->result.ul_int > INT64_MAX / 1000) {
        r = boot ? -EIO : proc2_error();
        procps_stat_unref(&si);
        goto fail;
    }
    pm->btime_ms = (int64_t)boot->result.ul_int * 1000;
    procps_stat_unref(&si);

    if ((r = procps_pids_new(&pm->cheap, cheap_items, C_COUNT)) < 0 ||
        (r = procps_pids_new(&pm->smaps, smaps_items, S_COUNT)) < 0 ||
        (r = procps_pids_new(&pm->scan, scan_items, N_COUNT)) < 0)
        goto fail;
    *out = pm;
    return 0;

fail:
    log_debug("procmem: cannot set up libproc2: %s", strerror(-r));
    procmem_close(pm);
    return r;
}

static void cache_clear(struct cmd_entry *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].cmdline);
        v[i].cmdline = NULL;
    }
}

void procmem_close(struct procmem *pm)
{
    if (!pm)
        return;
    if (pm->cheap)
        procps_pids_unref(&pm->cheap);
    if (pm->smaps)
        procps_pids_unref(&pm->smaps);
    if (pm->scan)
        procps_pids_unref(&pm->scan);
    cache_clear(pm->cache, pm->ncache);
    free(pm->cache);
    free(pm->next);
    free(pm->pidbuf);
    free(pm->refs);
    free(pm);
}

static void reserve_pids(struct procmem *pm, size_t n)
{
    if (pm->pidcap < n) {
        pm->pidcap = n < 64 ? 64 : n;
        pm->pidbuf = xreallocarray(pm->pidbuf, pm->pidcap, sizeof *pm->pidbuf);
    }
}

/* ---- cheap items ------------------------------------------------------------------------- */

int procmem_sample(struct procmem *pm, const int *pids, size_t n,
                   struct proc_sample *out, size_t *nout)
{
    if (!pm || !nout || (n && (!pids || !out)))
        return -EINVAL;
    *nout = 0;
    if (n == 0)         /* select() of no PIDs is NULL/EINVAL, not an empty result */
        return 0;
    reserve_pids(pm, n);
    for (size_t i = 0; i < n; i++) {
        if (pids[i] <= 0)
            return -EINVAL;
        pm->pidbuf[i] = (unsigned)pids[i];
    }

    /* PIDs that are gone are simply not in the result, so nothing here is positional. */
    size_t k = 0;
    for (size_t b = 0; b < n; b += SELECT_MAX) {
        int nb = (int)(n - b < SELECT_MAX ? n - b : SELECT_MAX);
        errno = 0;
        struct pids_fetch *f = procps_pids_select(pm->cheap, pm->pidbuf + b, nb,
                                                  PIDS_SELECT_PID);
        if (!f)
            return proc2_error();
        for (int i = 0; i < f->counts->total && k < n; i++) {
            const struct pids_stack *s = f->stacks[i];
            char state = VAL(s, C_STATE, s_ch);
            /* No address space: a zombie, or a process caught mid-exit (status had no Vm*
             * lines, or could not be read, and libproc2 gives 0).  Nothing real to report. */
            if (state == 'Z' || state == 'X' || VAL(s, C_VSZ, ul_int) == 0)
                continue;
            struct proc_sample *o = &out[k++];
            memset(o, 0, sizeof *o);
            o->pid = VAL(s, C_PID, s_int);
            o->start_time_ms = start_ms(pm, VAL(s, C_BEGAN, ull_int));
            for (size_t j = 0; j < sizeof cheap_ul_metrics / sizeof *cheap_ul_metrics; j++) {
                unsigned long v = VAL(s, cheap_ul_metrics[j].item, ul_int);
                o->values[cheap_ul_metrics[j].metric] = v > INT64_MAX ? INT64_MAX : (int64_t)v;
                o->present |= UINT64_C(1) << cheap_ul_metrics[j].metric;
            }
            int nlwp = VAL(s, C_NLWP, s_int);
            o->values[M_THREADS] = nlwp > 0 ? nlwp : 1;
            o->present |= UINT64_C(1) << M_THREADS;
        }
    }
    *nout = k;
    return 0;
}

/* ---- smaps_rollup ------------------------------------------------------------------------ */

/* Whether we may read /proc/PID/smaps_rollup.  access() is no good here (see the top). */
static bool smaps_readable(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    (void)close(fd);
    return true;
}

static int cmp_ref(const void *a, const void *b)
{
    const struct smaps_ref *x = a, *y = b;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Puts one smaps_rollup result into every sample of that process. */
static void apply_smaps(struct procmem *pm, const struct pids_stack *s,
                        struct proc_sample *samples, size_t nref)
{
    /* A failed read (refused after all, or the process exited in between) comes back as
     * zeros.  A live process always has some pages resident or swapped. */
    if (VAL(s, S_RSS, ul_int) == 0 && VAL(s, S_SWAP, ul_int) == 0)
        return;
    struct smaps_ref key = { .pid = VAL(s, S_PID, s_int) };
    struct smaps_ref *r = bsearch(&key, pm->refs, nref, sizeof *pm->refs, cmp_ref);
    if (!r)
        return;
    while (r > pm->refs && r[-1].pid == key.pid)
        r--;
    int64_t start = start_ms(pm, VAL(s, S_BEGAN, ull_int));
    unsigned long pss = VAL(s, S_PSS, ul_int), uss = VAL(s, S_USS, ul_int);
    for (; r < pm->refs + nref && r->pid == key.pid; r++) {
        struct proc_sample *o = &samples[r->idx];
        if (o->start_time_ms != start)      /* the PID was reused in between */
            continue;
        o->values[M_PSS] = pss > INT64_MAX ? INT64_MAX : (int64_t)pss;
        o->values[M_USS] = uss > INT64_MAX ? INT64_MAX : (int64_t)uss;
        o->present |= (UINT64_C(1) << M_PSS) | (UINT64_C(1) << M_USS);
    }
}

int procmem_sample_smaps(struct procmem *pm, struct proc_sample *samples, size_t n)
{
    const uint64_t bits = (UINT64_C(1) << M_PSS) | (UINT64_C(1) << M_USS);

    if (!pm || (n && !samples))
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        samples[i].present &= ~bits;
        samples[i].values[M_PSS] = samples[i].values[M_USS] = 0;
    }
    if (n == 0)
        return 0;

    if (pm->refcap < n) {
        pm->refcap = n < 64 ? 64 : n;
        pm->refs = xreallocarray(pm->refs, pm->refcap, sizeof *pm->refs);
    }
    size_t nref = 0;
    for (size_t i = 0; i < n; i++)
        if (samples[i].pid > 0)
            pm->refs[nref++] = (struct smaps_ref){ samples[i].pid, i };
    if (nref > 1)     /* qsort(NULL, 0, ...) is undefined */
        qsort(pm->refs, nref, sizeof *pm->refs, cmp_ref);

    /* Select each readable PID once; the refs lead back to every sample of it. */
    reserve_pids(pm, nref);
    size_t npids = 0;
    for (size_t i = 0; i < nref; i++) {
        if (i > 0 && pm->refs[i].pid == pm->refs[i - 1].pid)
            continue;
        if (smaps_readable(pm->refs[i].pid))
            pm->pidbuf[npids++] = (unsigned)pm->refs[i].pid;
    }
    if (npids == 0)
        return 0;

    for (size_t b = 0; b < npids; b += SELECT_MAX) {
        int nb = (int)(npids - b < SELECT_MAX ? npids - b : SELECT_MAX);
        errno = 0;
        struct pids_fetch *f = procps_pids_select(pm->smaps, pm->pidbuf + b, nb,
                                                  PIDS_SELECT_PID);
        if (!f)
            return proc2_error();
        for (int i = 0; i < f->counts->total; i++)
            apply_smaps(pm, f->stacks[i], samples, nref);
    }
    return 0;
}

/* ---- identity ---------------------------------------------------------------------------- */

/* Reads a small /proc file with one read(): these files are generated whole on the first
 * read, so a second one could see a newer state.  Returns the length or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n;
    do
        n = read(fd, buf, size);
    while (n < 0 && errno == EINTR);
    int err = errno;
    (void)close(fd);
    return n < 0 ? -err : n;
}

int procmem_identify(struct procmem *pm, int pid, int64_t *start_time_ms)
{
    char path[64], buf[2048];

    if (!pm || !start_time_ms)
        return -EINVAL;
    if (pid <= 0)
        return -ESRCH;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    ssize_t n = read_small(path, buf, sizeof buf - 1);
    if (n == -ENOENT || n == -ESRCH || n == 0)      /* 0: it died between open and read */
        return -ESRCH;
    if (n < 0)
        return (int)n;
    buf[n] = '\0';

    /* "pid (comm) state ppid ...": comm may hold spaces, ')' and newlines, so the fields
     * start after the last ')'.  Field 3 is the state, field 22 the start in clock ticks. */
    const char *p = memrchr(buf, ')', (size_t)n);
    if (!p)
        return -EIO;
    p++;
    char state = 0;
    unsigned long long tics = 0;
    for (int field = 3; field <= 22; field++) {
        if (*p != ' ')
            return -EIO;
        const char *tok = ++p;
        while (*p && *p != ' ' && *p != '\n')
            p++;
        if (p == tok)
            return -EIO;
        if (field == 3) {
            state = *tok;
        } else if (field == 22) {
            char *end;
            if (*tok < '0' || *tok > '9')
                return -EIO;
            errno = 0;
            tics = strtoull(tok, &end, 10);
            if (errno || end != p)
                return -EIO;
        }
    }
    if (state == 'Z' || state == 'X')   /* exited, not yet reaped: gone, as procmem_sample says */
        return -ESRCH;
    *start_time_ms = start_ms(pm, tics);
    return 0;
}

/* ---- scanning ---------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (at most `left` bytes), or 0 if there is none. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf;     /* bounds of the second byte */

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;          /* overlong */
        else if (c == 0xed)
            hi = 0x9f;          /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;          /* overlong */
        else if (c == 0xf4)
            hi = 0x8f;          /* above U+10FFFF */
    } else
        return 0;
    if (left < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

/* Makes raw argv bytes printable UTF-8 in place and keeps NULs, one byte for one byte:
 * control characters and bytes of invalid UTF-8 become '?', as ps shows them. */
static void sanitize(char *buf, size_t n)
{
    unsigned char *s = (unsigned char *)buf;
    for (size_t i = 0; i < n;) {
        if (s[i] == 0) {
            i++;
        } else if (s[i] < 0x20 || s[i] == 0x7f) {
            s[i++] = '?';
        } else {
            size_t len = utf8_len(s + i, n - i);
            if (len == 2 && s[i] == 0xc2 && s[i + 1] < 0xa0) {
                s[i++] = '?';   /* a C1 control (U+0080-U+009F): terminals act on those too */
                s[i++] = '?';
            } else if (len == 0) {
                s[i++] = '?';
            } else {
                i += len;
            }
        }
    }
}

/* Reads /proc/PID/cmdline into pm->cmdbuf as "cmdline\0exe_name\0" (both "" if it is empty
 * or cannot be read) and returns the length of the whole, including both NULs. */
static size_t read_cmdline(struct procmem *pm, int pid)
{
    char path[64];
    char *buf = pm->cmdbuf;     /* room for both: exe_name is never longer than the cmdline */

    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    ssize_t r = read_small(path, buf, CMDLINE_MAX);
    size_t n = r > 0 ? (size_t)r : 0;
    while (n > 0 && buf[n - 1] == '\0')
        n--;
    sanitize(buf, n);

    /* exe_name: basename of argv[0], the bytes up to the first NUL. */
    const char *argv0_end = memchr(buf, '\0', n);
    size_t argv0_len = argv0_end ? (size_t)(argv0_end - buf) : n;
    const char *slash = memrchr(buf, '/', argv0_len);
    const char *exe = slash ? slash + 1 : buf;
    size_t exe_len = argv0_len - (size_t)(exe - buf);
    memmove(buf + n + 1, exe, exe_len);     /* regions never overlap: exe lies before n */
    buf[n + 1 + exe_len] = '\0';

    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    buf[n] = '\0';
    return n + 1 + exe_len + 1;
}

static int cmp_entry_key(int pid_a, int64_t start_a, int pid_b, int64_t start_b)
{
    if (pid_a != pid_b)
        return pid_a < pid_b ? -1 : 1;
    return (start_a > start_b) - (start_a < start_b);
}

static int cmp_entry(const void *a, const void *b)
{
    const struct cmd_entry *x = a, *y = b;
    return cmp_entry_key(x->pid, x->start_time_ms, y->pid, y->start_time_ms);
}

static struct cmd_entry *cache_find(struct procmem *pm, int pid, int64_t start)
{
    size_t lo = 0, hi = pm->ncache;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        struct cmd_entry *e = &pm->cache[mid];
        int c = cmp_entry_key(e->pid, e->start_time_ms, pid, start);
        if (c == 0)
            return e;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int procmem_scan(struct procmem *pm, int (*cb)(void *arg, const struct proc_ident *id), void *arg)
{
    if (!pm || !cb)
        return -EINVAL;
    if (pm->scanning)       /* the callback must not scan: the stacks it sees would be recycled */
        return -EBUSY;

    errno = 0;
    struct pids_fetch *f = procps_pids_reap(pm->scan, PIDS_FETCH_TASKS_ONLY);
    if (!f)
        return proc2_error();
    size_t total = f->counts->total > 0 ? (size_t)f->counts->total : 0;
    size_t want = total < CACHE_MAX ? total : CACHE_MAX;
    if (pm->cap < want) {
        pm->cap = want;
        pm->cache = xreallocarray(pm->cache, pm->cap, sizeof *pm->cache);
        pm->next = xreallocarray(pm->next, pm->cap, sizeof *pm->next);
    }

    pm->scanning = true;
    size_t nnext = 0;
    bool sorted = true, stop = false;
    for (size_t i = 0; i < total; i++) {
        const struct pids_stack *s = f->stacks[i];
        char state = VAL(s, N_STATE, s_ch);
        if ((VAL(s, N_FLAGS, ul_int) & PF_KTHREAD) || state == 'Z' || state == 'X')
            continue;
        struct proc_ident id = {
            .pid = VAL(s, N_PID, s_int),
            .start_time_ms = start_ms(pm, VAL(s, N_BEGAN, ull_int)),
            .comm = VAL(s, N_CMD, str) ? VAL(s, N_CMD, str) : "",
        };

        struct cmd_entry *e = cache_find(pm, id.pid, id.start_time_ms);
        if (e && (!e->cmdline || strncmp(e->comm, id.comm, COMM_CAP - 1) != 0))
            e = NULL;       /* already moved (a duplicate), or exec'd since: read argv again */
        if (e) {
            id.cmdline = e->cmdline;
            id.exe_name = e->exe_name;
            /* Full only past CACHE_MAX processes: then the entry stays behind, still valid
             * for the callback, and is freed with the rest after the walk. */
            if (nnext < pm->cap) {
                pm->next[nnext++] = *e;
                e->cmdline = NULL;  /* moved: `next` owns it now */
            }
        } else if (stop) {
            continue;       /* a new process after the callback said stop: not worth a read */
        } else {
            size_t len = read_cmdline(pm, id.pid);
            id.cmdline = pm->cmdbuf;
            id.exe_name = pm->cmdbuf + strlen(pm->cmdbuf) + 1;
            /* An empty argv is not cached: a process caught in exec, after comm is set but
             * before the new argv is, reads empty for a moment. */
            if (id.cmdline[0] != '\0' && nnext < pm->cap) {
                struct cmd_entry *d = &pm->next[nnext++];
                d->pid = id.pid;
                d->start_time_ms = id.start_time_ms;
                snprintf(d->comm, sizeof d->comm, "%s", id.comm);
                d->cmdline = xmalloc(len);
                memcpy(d->cmdline, pm->cmdbuf, len);
                d->exe_name = d->cmdline + (id.exe_name - pm->cmdbuf);
            } else if (id.cmdline[0] != '\0' && !pm->cache_full_said) {
                log_debug("procmem: more than %d processes; argv of the rest is read every scan",
                          CACHE_MAX);
                pm->cache_full_said = true;
            }
        }
        if (nnext >= 2 && cmp_entry(&pm->next[nnext - 2], &pm->next[nnext - 1]) >= 0)
            sorted = false;
        if (!stop && cb(arg, &id) != 0)
            stop = true;
    }
    pm->scanning = false;

    cache_clear(pm->cache, pm->ncache);     /* what was not moved belongs to processes gone */
    struct cmd_entry *t = pm->cache;
    pm->cache = pm->next;
    pm->next = t;
    pm->ncache = nnext;
    if (!sorted && pm->ncache > 1)
        qsort(pm->cache, pm->ncache, sizeof *pm->cache, cmp_entry);
    return 0;
}
