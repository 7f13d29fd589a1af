/* procmem_bench.c - what procmem costs per process, wall and CPU time.
 *
 * Starts N children (`sleep 600`, N = argv[1] or 200) so that there is something to measure,
 * then times over every userspace process on the machine:
 *   procmem_sample        the cheap items (stat + status), as every sample interval does;
 *   procmem_sample_smaps  PSS/USS from smaps_rollup (page-table walks);
 *   procmem_scan          cold: a fresh cache, argv read for every process;
 *                         warm: argv cached, only stat read;
 *   procmem_identify      one /proc/PID/stat read and parse.
 * CPU time is this process's (user + system): /proc reads are charged to the reader.
 * Prints figures, never pass/fail.  The children die with us (PR_SET_PDEATHSIG) even if we
 * are killed, and are killed and reaped at the end. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "procmem.h"
#include "util.h"

struct clocks {
    double wall_us, cpu_us;
};

static double now_us(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static struct clocks clocks_now(void)
{
    return (struct clocks){ now_us(CLOCK_MONOTONIC), now_us(CLOCK_PROCESS_CPUTIME_ID) };
}

static void report(const char *what, struct clocks t0, size_t calls, size_t procs_per_call)
{
    struct clocks t1 = clocks_now();
    double n = (double)calls * (double)procs_per_call;
    printf("%-34s %6zu procs x %4zu  %8.2f us/proc wall  %8.2f us/proc cpu\n", what,
           procs_per_call, calls, (t1.wall_us - t0.wall_us) / n, (t1.cpu_us - t0.cpu_us) / n);
}

struct pidlist {
    int *v;
    size_t n, cap;
};

static int collect(void *arg, const struct proc_ident *id)
{
    struct pidlist *l = arg;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->v = xreallocarray(l->v, l->cap, sizeof *l->v);
    }
    l->v[l->n++] = id->pid;
    return 0;
}

static int count_cb(void *arg, const struct proc_ident *id)
{
    (*(size_t *)arg)++;
    return 0;
}

static pid_t spawn_sleep(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        char arg0[] = "sleep", arg1[] = "600";
        char *argv[] = { arg0, arg1, NULL };
        execv("/bin/sleep", argv);
        _exit(127);
    }
    return pid;
}

static int fail(const char *what, int r)
{
    fprintf(stderr, "procmem_bench: %s: %s\n", what, strerror(-r));
    return 1;
}

static int run(size_t nchildren)
{
    struct procmem *pm = NULL;
    struct pidlist all = { 0 };
    int r;

    if ((r = procmem_open(&pm)) < 0)
        return fail("procmem_open", r);
    if ((r = procmem_scan(pm, collect, &all)) < 0)
        return fail("procmem_scan", r);
    printf("%zu userspace processes (%zu of them our `sleep 600` children)\n\n", all.n,
           nchildren);

    struct proc_sample *samples = xcalloc(all.n, sizeof *samples);
    size_t nout = 0;
    const size_t iters = 50;
    struct clocks t0 = clocks_now();
    for (size_t i = 0; i < iters; i++)
        if ((r = procmem_sample(pm, all.v, all.n, samples, &nout)) < 0)
            return fail("procmem_sample", r);
    report("procmem_sample", t0, iters, all.n);

    const size_t smaps_iters = 10;
    size_t with_pss = 0;
    t0 = clocks_now();
    for (size_t i = 0; i < smaps_iters; i++)
        if ((r = procmem_sample_smaps(pm, samples, nout)) < 0)
            return fail("procmem_sample_smaps", r);
    report("procmem_sample_smaps", t0, smaps_iters, nout);
    for (size_t i = 0; i < nout; i++)
        if (samples[i].present & (UINT64_C(1) << M_PSS))
            with_pss++;

    /* Cold: a new procmem each time, so every argv is read (procmem_open timed apart). */
    const size_t cold_iters = 10;
    double open_wall = 0;
    size_t seen = 0;
    struct clocks cold = { 0, 0 };
    for (size_t i = 0; i < cold_iters; i++) {
        struct procmem *fresh;
        double w = now_us(CLOCK_MONOTONIC);
        if ((r = procmem_open(&fresh)) < 0)
            return fail("procmem_open", r);
        open_wall += now_us(CLOCK_MONOTONIC) - w;
        struct clocks a = clocks_now();
        seen = 0;
        if ((r = procmem_scan(fresh, count_cb, &seen)) < 0)
            return fail("procmem_scan", r);
        struct clocks b = clocks_now();
        cold.wall_us += b.wall_us - a.wall_us;
        cold.cpu_us += b.cpu_us - a.cpu_us;
        procmem_close(fresh);
    }
    printf("%-34s %6zu procs x %4zu  %8.2f us/proc wall  %8.2f us/proc cpu\n",
           "procmem_scan (cold: argv read)", seen, cold_iters,
           cold.wall_us / (double)(cold_iters * seen), cold.cpu_us / (double)(cold_iters * seen));

    const size_t warm_iters = 50;
    t0 = clocks_now();
    for (size_t i = 0; i < warm_iters; i++) {
        seen = 0;
        if ((r = procmem_scan(pm, count_cb, &seen)) < 0)
            return fail("procmem_scan", r);
    }
    report("procmem_scan (warm: argv cached)", t0, warm_iters, seen);

    t0 = clocks_now();
    for (size_t i = 0; i < iters; i++)
        for (size_t j = 0; j < all.n; j++) {
            int64_t start;
            (void)procmem_identify(pm, all.v[j], &start);
        }
    report("procmem_identify", t0, iters, all.n);

    printf("\nsampled %zu of %zu (the rest exited); PSS/USS readable for %zu; "
           "procmem_open %.0f us\n", nout, all.n, with_pss, open_wall / (double)cold_iters);
    free(samples);
    free(all.v);
    procmem_close(pm);
    return 0;
}

int main(int argc, char **argv)
{
    size_t n = 200;
    if (argc > 1) {
        int64_t v;
        if (parse_int64(argv[1], 0, 10000, &v) < 0) {
            fprintf(stderr, "usage: %s [children (0-10000), default 200]\n", argv[0]);
            return 2;
        }
        n = (size_t)v;
    }
    pid_t *kids = xcalloc(n ? n : 1, sizeof *kids);
    size_t started = 0;
    for (; started < n; started++) {
        kids[started] = spawn_sleep();
        if (kids[started] < 0) {
            fprintf(stderr, "procmem_bench: fork: %s\n", strerror(errno));
            break;
        }
    }
    /* Let the execs finish, so the children are `sleep` and not copies of us. */
    struct timespec settle = { 0, 300 * 1000 * 1000 };
    nanosleep(&settle, NULL);

    int rc = started == n ? run(started) : 1;

    for (size_t i = 0; i < started; i++)
        kill(kids[i], SIGKILL);
    for (size_t i = 0; i < started; i++)
        while (waitpid(kids[i], NULL, 0) < 0 && errno == EINTR)
            ;
    free(kids);
    return rc;
}
