/* test_selector.c - unit tests for daemon/procmem.c and daemon/selector.c, on real processes.
 *
 * Exercises:
 * - procmem_sample on this process: values present and sane, RSS = anon + file + shmem, start
 *   time equal to one computed from /proc/self/stat and /proc/stat independently, RSS rising
 *   by >= 60 MiB after touching 64 MiB; n == 0; bad PIDs.
 * - exited children: a zombie and a reaped child are missing from procmem_sample, and
 *   procmem_identify says -ESRCH.
 * - procmem_sample_smaps: PSS/USS present for our own process, absent for a stale start time
 *   and (as root) for a process another UID may not read, stale bits cleared.
 * - procmem_scan: a child exec'd with a long argv[0] (comm "sleep"), one exec'd through a
 *   symlink with a long name (comm cut at 15), one renamed by prctl, one with ')', spaces and
 *   a newline in its comm; every ident well-formed; no kernel threads.
 * - the argv cache: a second scan gives the same idents; a child that rewrites its argv keeps
 *   its cached cmdline until its comm changes; a killed child disappears; stopping the walk
 *   early and re-entering from the callback.
 * - selector: name mode via comm and via exe_name when comm is cut, cmdline mode on an
 *   argument, non-matching patterns, NULL fields, and the refusals: "(", empty, too long and
 *   too much nested repetition. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "procmem.h"
#include "selector.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define ALL_CHEAP ((UINT64_C(1) << M_RSS) | (UINT64_C(1) << M_VSZ) | (UINT64_C(1) << M_RSS_ANON) | (UINT64_C(1) << M_RSS_FILE) | \
                   (UINT64_C(1) << M_RSS_SHMEM) | (UINT64_C(1) << M_SWAP) | (UINT64_C(1) << M_THREADS) | \
                   (UINT64_C(1) << M_MINFLT) | (UINT64_C(1) << M_MAJFLT))
#define SMAPS_BITS ((UINT64_C(1) << M_PSS) | (UINT64_C(1) << M_USS))
#define LONG_ARGV0 "memwatch-very-long-process-name"
#define LINK_NAME "memwatch-symlinked-sleeper"

static char **g_argv;

/* ---- helpers ----------------------------------------------------------------------------- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Start time of a process computed the way the kernel documents it, without procmem. */
static int64_t independent_start_ms(int pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    assert_non_null(p);
    unsigned long long tics = 0;
    /* state, then fields 4..21 skipped, then 22: starttime */
    assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
                            "%*d %*d %*d %*d %llu", &tics), 1);

    long long btime = 0;
    char line[256];
    f = fopen("/proc/stat", "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "btime %lld", &btime) == 1)
            break;
    fclose(f);
    assert_true(btime > 0);
    long hz = sysconf(_SC_CLK_TCK);
    return btime * 1000 + (int64_t)(tics * 1000 / (unsigned long long)hz);
}

static bool cmdline_ready(int pid)
{
    char path[64], c;
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, &c, 1);
    close(fd);
    return n == 1;
}

static void wait_comm(int pid, const char *comm)
{
    char path[64], buf[32] = "";
    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    for (int i = 0; i < 500; i++) {
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        if (!fgets(buf, sizeof buf, f))
            buf[0] = '\0';
        fclose(f);
        buf[strcspn(buf, "\n")] = '\0';
        if (strcmp(buf, comm) == 0 && cmdline_ready(pid))
            return;
        sleep_ms(10);
    }
    fail_msg("process %d is still \"%s\", not \"%s\"", pid, buf, comm);
}

/* Forks and execs path with argv; returns once the exec has happened and the new argv is in
 * place (the kernel sets comm before the new argv, so /proc/PID/cmdline is briefly empty). */
static pid_t spawn_exec(const char *path, char *const argv[])
{
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(fds[0]);
        execv(path, argv);
        int err = errno;
        (void)!write(fds[1], &err, sizeof err);
        _exit(127);
    }
    close(fds[1]);
    int err = 0;
    ssize_t n = read(fds[0], &err, sizeof err);
    close(fds[0]);
    assert_int_equal(n, 0);     /* EOF: the close-on-exec pipe went with the exec */
    for (int i = 0; i < 500 && !cmdline_ready(pid); i++)
        sleep_ms(10);
    assert_true(cmdline_ready(pid));
    return pid;
}

/* A child that obeys one-byte commands on a pipe:
 *   'n' + length + name: set comm by prctl(PR_SET_NAME);
 *   'a': overwrite argv[0] in place with 'X's (what /proc/PID/cmdline shows changes).
 * It acknowledges each with one byte, and says 'r' when ready.  It is this test program
 * exec'd again with argv[0] ARGV_CHILD: under valgrind the exec runs natively, so argv[0]
 * lies where the kernel reads the cmdline from. */
#define ARGV_CHILD "memwatch-argv-child"

struct child {
    pid_t pid;
    int cmd, ack;
};

static void __attribute__((noreturn)) child_loop(int cmd, int ack)
{
    char c, name[17];
    if (write(ack, "r", 1) != 1)
        _exit(3);
    while (read(cmd, &c, 1) == 1) {
        if (c == 'n') {
            unsigned char len;
            if (read(cmd, &len, 1) != 1 || len > 16 || read(cmd, name, len) != len)
                _exit(2);
            name[len] = '\0';
            prctl(PR_SET_NAME, name);
        } else if (c == 'a') {
            memset(g_argv[0], 'X', strlen(g_argv[0]));
        }
        if (write(ack, "k", 1) != 1)
            _exit(3);
    }
    _exit(0);
}

static struct child spawn_child_args(const char *const *extra, size_t nextra)
{
    int c2p[2], p2c[2];
    char self[PATH_MAX];
    /* valgrind answers this with the client's path, not its own */
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(n > 0);
    self[n] = '\0';
    assert_int_equal(pipe(c2p), 0);
    assert_int_equal(pipe(p2c), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char cmdfd[16], ackfd[16];
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(c2p[0]);
        close(p2c[1]);
        snprintf(cmdfd, sizeof cmdfd, "%d", p2c[0]);
        snprintf(ackfd, sizeof ackfd, "%d", c2p[1]);
        char arg0[] = ARGV_CHILD, flag[] = "--argv-child";
        char *argv[16] = { arg0, flag, cmdfd, ackfd };
        for (size_t i = 0; i < nextra && i < 11; i++)
            argv[4 + i] = (char *)extra[i];
        execv(self, argv);
        _exit(127);
    }
    close(c2p[1]);
    close(p2c[0]);
    char r;
    assert_int_equal(read(c2p[0], &r, 1), 1);
    assert_int_equal(r, 'r');
    return (struct child){ pid, p2c[1], c2p[0] };
}

static struct child spawn_child(void)
{
    return spawn_child_args(NULL, 0);
}

/* basename of our own argv[0] as the kernel shows it (under valgrind, valgrind's tool). */
static const char *self_exe_name(void)
{
    static char buf[4096];
    FILE *f = fopen("/proc/self/cmdline", "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return base_name(buf);
}

static void child_do(struct child *c, const char *cmd, size_t len)
{
    char k;
    assert_int_equal(write(c->cmd, cmd, len), (ssize_t)len);
    assert_int_equal(read(c->ack, &k, 1), 1);
}

static void child_rename(struct child *c, const char *name)
{
    char buf[20];
    size_t len = strlen(name);
    assert_true(len <= 16);
    buf[0] = 'n';
    buf[1] = (char)len;
    memcpy(buf + 2, name, len);
    child_do(c, buf, len + 2);
}

static void reap(pid_t pid)
{
    int status;
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, &status, 0), pid);
}

static void child_end(struct child *c)
{
    close(c->cmd);
    close(c->ack);
    reap(c->pid);
}

/* What a scan said about one PID. */
struct seen {
    int pid;
    int count;
    int64_t start;
    char comm[64], exe[256], cmdline[4200];
};

struct watch {
    struct seen *v;
    size_t n;
    size_t total;
    bool bad;           /* an ident that is not well-formed */
    bool self_seen;
};

static int watch_cb(void *arg, const struct proc_ident *id)
{
    struct watch *w = arg;
    w->total++;
    if (id->pid <= 0 || !id->comm || !id->exe_name || !id->cmdline || id->start_time_ms <= 0 ||
        strlen(id->comm) > 63 || strlen(id->cmdline) > 4096)
        w->bad = true;
    if (id->pid == getpid())
        w->self_seen = true;
    for (size_t i = 0; i < w->n; i++) {
        struct seen *s = &w->v[i];
        if (s->pid != id->pid)
            continue;
        s->count++;
        s->start = id->start_time_ms;
        snprintf(s->comm, sizeof s->comm, "%s", id->comm);
        snprintf(s->exe, sizeof s->exe, "%s", id->exe_name);
        snprintf(s->cmdline, sizeof s->cmdline, "%s", id->cmdline);
    }
    return 0;
}

static void scan_for(struct procmem *pm, struct seen *v, size_t n)
{
    struct watch w = { v, n, 0, false, false };
    for (size_t i = 0; i < n; i++)
        v[i].count = 0;
    assert_int_equal(procmem_scan(pm, watch_cb, &w), 0);
    assert_false(w.bad);
    assert_true(w.self_seen);       /* "memwatchd itself included" */
    assert_true(w.total >= 1 + n);
}

static struct selector *compile_ok(const char *pattern, bool cmdline)
{
    struct selector *sel = NULL;
    char *err = NULL;
    int r = selector_compile(pattern, cmdline, &sel, &err);
    if (r != 0)
        fail_msg("selector_compile(\"%s\") = %d: %s", pattern, r, err ? err : "(no message)");
    assert_null(err);
    assert_non_null(sel);
    return sel;
}

static bool matches(const char *pattern, bool cmdline, const struct proc_ident *id)
{
    struct selector *sel = compile_ok(pattern, cmdline);
    bool m = selector_matches(sel, id);
    selector_free(sel);
    return m;
}

static struct proc_ident ident_of(const struct seen *s)
{
    return (struct proc_ident){ s->pid, s->start, s->comm, s->exe, s->cmdline };
}

/* ---- procmem_sample ---------------------------------------------------------------------- */

static void test_open_close(void **state)
{
    struct procmem *pm = NULL;
    (void)state;
    assert_int_equal(procmem_open(&pm), 0);
    assert_non_null(pm);
    procmem_close(pm);
    procmem_close(NULL);
}

static void test_sample_self(void **state)
{
    struct procmem *pm;
    struct proc_sample out[1];
    size_t nout = 99;
    int self = getpid();
    (void)state;

    assert_int_equal(procmem_open(&pm), 0);
    assert_int_equal(procmem_sample(pm, &self, 1, out, &nout), 0);
    assert_int_equal(nout, 1);
    const struct proc_sample *s = &out[0];
    assert_int_equal(s->pid, self);
    assert_int_equal(s->present & ALL_CHEAP, ALL_CHEAP);
    assert_int_equal(s->present & SMAPS_BITS, 0);
    assert_true(s->values[M_RSS] > 0);
    assert_true(s->values[M_VSZ] >= s->values[M_RSS]);
    assert_true(s->values[M_THREADS] >= 1);
    assert_true(s->values[M_MINFLT] > 0);
    /* The kernel's VmRSS is exactly the sum of its three parts, from one snapshot. */
    assert_int_equal(s->values[M_RSS],
                     s->values[M_RSS_ANON] + s->values[M_RSS_FILE] + s->values[M_RSS_SHMEM]);

    /* btime is whole seconds read at two moments: allow its one-second wobble. */
    int64_t expect = independent_start_ms(self);
    assert_true(llabs(s->start_time_ms - expect) <= 1000);
    int64_t age = wall_ms() - s->start_time_ms;
    assert_true(age >= -2000 && age <= 60000);

    int64_t ident;
    assert_int_equal(procmem_identify(pm, self, &ident), 0);
    assert_int_equal(ident, s->start_time_ms);

    /* 64 MiB touched must show: RSS up by at least 60 MiB (KiB units). */
    int64_t rss0 = s->values[M_RSS], anon0 = s->values[M_RSS_ANON];
    size_t big = 64u << 20;
    volatile char *mem = malloc(big);
    assert_non_null(mem);
    memset((char *)mem, 0x5a, big);
    assert_int_equal(procmem_sample(pm, &self, 1, out, &nout), 0);
    assert_int_equal(nout, 1);
    assert_true(out[0].values[M_RSS] - rss0 >= 60 * 1024);
    assert_true(out[0].values[M_RSS_ANON] - anon0 >= 60 * 1024);
    assert_int_equal(mem[big - 1], 0x5a);
    free((void *)mem);
    procmem_close(pm);
}

static void test_sample_args(void **state)
{
    struct procmem *pm;
    struct proc_sample out[2];
    size_t nout = 99;
    int bad[] = { getpid(), 0 };
    (void)state;

    assert_int_equal(procmem_open(&pm), 0);
    assert_int_equal(procmem_sample(pm, NULL, 0, NULL, &nout), 0);     /* select() would fail */
    assert_int_equal(nout, 0);
    assert_int_equal(procmem_sample(pm, bad, 2, out, &nout), -EINVAL);
    assert_int_equal(procmem_sample_smaps(pm, NULL, 0), 0);
    int64_t t;
    assert_int_equal(procmem_identify(pm, 0, &t), -ESRCH);
    assert_int_equal(procmem_identify(pm, -5, &t), -ESRCH);
    assert_int_equal(procmem_identify(pm, INT_MAX, &t), -ESRCH);
    procmem_close(pm);
}

static void test_exited_child(void **state)
{
    struct procmem *pm;
    struct proc_sample out[2];
    size_t nout;
    int64_t t;
    (void)state;

    assert_int_equal(procmem_open(&pm), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    /* Exited but not reaped: a zombie, with no memory left to read. */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
    int pids[] = { pid, getpid() };
    assert_int_equal(procmem_sample(pm, pids, 2, out, &nout), 0);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].pid, getpid());
    assert_int_equal(procmem_identify(pm, pid, &t), -ESRCH);

    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(procmem_sample(pm, pids, 2, out, &nout), 0);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].pid, getpid());
    assert_int_equal(procmem_sample(pm, pids, 1, out, &nout), 0);
    assert_int_equal(nout, 0);
    assert_int_equal(procmem_identify(pm, pid, &t), -ESRCH);
    procmem_close(pm);
}

/* More PIDs than one libproc2 select takes (255): the batches must add up. */
static void test_sample_many(void **state)
{
    enum { KIDS = 300, GHOSTS = 300 };
    struct procmem *pm;
    static int pids[KIDS + GHOSTS + 1];
    static struct proc_sample out[KIDS + GHOSTS + 1];
    size_t nout, n = 0;
    long pid_max = 0;
    (void)state;

    FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%ld", &pid_max), 1);
    fclose(f);
    for (int i = 0; i < KIDS; i++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            char arg0[] = "sleep", arg1[] = "600";
            char *argv[] = { arg0, arg1, NULL };
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            execv("/bin/sleep", argv);
            _exit(127);
        }
        pids[n++] = pid;
        if (i == KIDS / 2)      /* PIDs above pid_max cannot exist */
            for (int g = 1; g <= GHOSTS; g++)
                pids[n++] = (int)pid_max + g;
    }
    pids[n++] = getpid();
    /* Not in the middle of an exec, where smaps_rollup may briefly read empty. */
    for (size_t i = 0; i < n; i++)
        if (pids[i] <= pid_max && pids[i] != getpid())
            wait_comm(pids[i], "sleep");

    assert_int_equal(procmem_open(&pm), 0);
    assert_int_equal(procmem_sample(pm, pids, n, out, &nout), 0);
    assert_int_equal(nout, KIDS + 1);
    for (size_t i = 0; i < nout; i++) {
        assert_true(out[i].pid <= pid_max);
        assert_int_equal(out[i].present & ALL_CHEAP, ALL_CHEAP);
    }
    assert_int_equal(out[nout - 1].pid, getpid());
    assert_int_equal(procmem_sample_smaps(pm, out, nout), 0);
    for (size_t i = 0; i < nout; i++)
        assert_int_equal(out[i].present & SMAPS_BITS, SMAPS_BITS);

    for (size_t i = 0; i < n; i++)
        if (pids[i] <= pid_max && pids[i] != getpid())
            reap(pids[i]);
    procmem_close(pm);
}

/* ---- smaps_rollup ------------------------------------------------------------------------ */

static void test_smaps_self(void **state)
{
    struct procmem *pm;
    struct proc_sample s[3];
    size_t nout;
    int self = getpid();
    (void)state;

    assert_int_equal(procmem_open(&pm), 0);
    assert_int_equal(procmem_sample(pm, &self, 1, s, &nout), 0);
    assert_int_equal(nout, 1);
    s[1] = s[0];
    s[1].start_time_ms += 10;   /* the same PID, another process: must not get values */
    s[2] = s[0];
    s[2].pid = INT_MAX;         /* no such process */
    s[2].present |= SMAPS_BITS; /* stale bits from an earlier reading must go */
    assert_int_equal(procmem_sample_smaps(pm, s, 3), 0);

    assert_int_equal(s[0].present & SMAPS_BITS, SMAPS_BITS);
    assert_int_equal(s[0].present & ALL_CHEAP, ALL_CHEAP);
    assert_true(s[0].values[M_PSS] > 0);
    assert_true(s[0].values[M_USS] > 0);
    assert_true(s[0].values[M_USS] <= s[0].values[M_PSS]);
    assert_true(s[0].values[M_PSS] <= s[0].values[M_RSS] + 4096);   /* read moments apart */
    assert_int_equal(s[1].present & SMAPS_BITS, 0);
    assert_int_equal(s[2].present & SMAPS_BITS, 0);
    assert_int_equal(s[2].values[M_PSS], 0);
    procmem_close(pm);
}

/* As root: a child that drops to nobody may read our status but not our smaps_rollup (the
 * kernel's ptrace check), although access(R_OK) would say it may. */
static void test_smaps_refused(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    pid_t parent = getpid();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct procmem *pm;
        struct proc_sample s[1];
        size_t nout;
        int target = parent;
        if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
            setresuid(65534, 65534, 65534) < 0)
            _exit(10);
        if (procmem_open(&pm) < 0)
            _exit(11);
        if (procmem_sample(pm, &target, 1, s, &nout) < 0 || nout != 1)
            _exit(12);
        if ((s[0].present & ALL_CHEAP) != ALL_CHEAP)
            _exit(13);
        if (procmem_sample_smaps(pm, s, 1) < 0)
            _exit(14);
        if (s[0].present & SMAPS_BITS)
            _exit(15);          /* a refused read reported as values */
        procmem_close(pm);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- scanning and names ------------------------------------------------------------------ */

static void test_scan_long_argv0(void **state)
{
    struct procmem *pm;
    (void)state;

    assert_int_equal(procmem_open(&pm), 0);
    char arg0[] = LONG_ARGV0, arg1[] = "600";
    char *argv[] = { arg0, arg1, NULL };
    pid_t pid = spawn_exec("/bin/sleep", argv);
    struct seen s = { .pid = pid };
    scan_for(pm, &s, 1);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.comm, "sleep");          /* comm comes from the file, not argv[0] */
    assert_string_equal(s.exe, LONG_ARGV0);
    assert_string_equal(s.cmdline, LONG_ARGV0 " 600");
    int64_t t;
    assert_int_equal(procmem_identify(pm, pid, &t), 0);
    assert_int_equal(t, s.start);

    struct proc_ident id = ident_of(&s);
    assert_true(matches("^" LONG_ARGV0 "$", false, &id));      /* via exe_name */
    assert_true(matches("long-process", false, &id));
    assert_true(matches("^sleep$", false, &id));                /* via comm */
    assert_false(matches("^600$", false, &id));                 /* name mode ignores args */
    assert_true(matches("name 600$", true, &id));               /* cmdline mode sees them */
    assert_true(matches("[[:space:]]600", true, &id));
    assert_false(matches("^sleep", true, &id));
    assert_false(matches("^nothing-like-this$", false, &id));
    assert_false(matches("nothing-like-this", true, &id));

    reap(pid);
    procmem_close(pm);
}

static void test_scan_symlink(void **state)
{
    struct procmem *pm;
    char dir[] = "/tmp/memwatch-test-XXXXXX", link[256];
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(link, sizeof link, "%s/%s", dir, LINK_NAME);
    assert_int_equal(symlink("/bin/sleep", link), 0);
    assert_int_equal(procmem_open(&pm), 0);
    char arg1[] = "600";
    char *argv[] = { link, arg1, NULL };
    pid_t pid = spawn_exec(link, argv);
    struct seen s = { .pid = pid };
    scan_for(pm, &s, 1);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.comm, "memwatch-symlin");    /* the link's name, cut at 15 */
    assert_string_equal(s.exe, LINK_NAME);

    struct proc_ident id = ident_of(&s);
    assert_true(matches("^" LINK_NAME "$", false, &id));
    struct proc_ident comm_only = id;
    comm_only.exe_name = "";
    assert_false(matches("^" LINK_NAME "$", false, &comm_only));  /* comm alone is too short */
    assert_true(matches("^memwatch-symlin$", false, &comm_only));

    reap(pid);
    procmem_close(pm);
    unlink(link);
    rmdir(dir);
}

static void test_scan_prctl_and_odd_names(void **state)
{
    struct procmem *pm;
    (void)state;

    assert_int_equal(procmem_open(&pm), 0);
    struct child a = spawn_child(), b = spawn_child();
    child_rename(&a, "mw-prctl-child");
    child_rename(&b, "x) y (z\n) 1 2");     /* what a naive stat parser trips over */
    struct seen s[2] = { { .pid = a.pid }, { .pid = b.pid } };
    scan_for(pm, s, 2);
    assert_int_equal(s[0].count, 1);
    assert_int_equal(s[1].count, 1);
    assert_string_equal(s[0].comm, "mw-prctl-child");
    assert_string_equal(s[0].exe, ARGV_CHILD);
    assert_int_not_equal(strchr(s[1].comm, ')'), NULL);
    assert_null(strchr(s[1].comm, '\n'));                 /* libproc2 escapes it */

    struct proc_ident id = ident_of(&s[0]);
    assert_true(matches("^mw-prctl-child$", false, &id));
    assert_false(matches("^mw-prctl-child$", true, &id));

    for (int i = 0; i < 2; i++) {
        int64_t t;
        assert_int_equal(procmem_identify(pm, s[i].pid, &t), 0);
        assert_int_equal(t, s[i].start);
        struct proc_sample out[1];
        size_t nout;
        assert_int_equal(procmem_sample(pm, &s[i].pid, 1, out, &nout), 0);
        assert_int_equal(nout, 1);
        assert_int_equal(out[0].start_time_ms, s[i].start);
    }
    child_end(&a);
    child_end(&b);
    procmem_close(pm);
}

/* What argv may hold is anything but NUL; what we hand out is printable UTF-8. */
static void test_scan_sanitized(void **state)
{
    static const char *const args[] = {
        "tab\there", "bad\xff" "byte", "caf\xc3\xa9", "c1\xc2\x9b" "x", "nl\nx",
        "cut\xe2\x82", "/usr/lib/x", "",
    };
    struct procmem *pm;
    (void)state;

    assert_int_equal(procmem_open(&pm), 0);
    struct child c = spawn_child_args(args, N_ELEMS(args));
    struct seen s = { .pid = c.pid };
    scan_for(pm, &s, 1);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.exe, ARGV_CHILD);
    const char *tail = strstr(s.cmdline, " tab");
    assert_non_null(tail);
    /* trailing NULs (the empty last argument's) are dropped, not turned into spaces */
    assert_string_equal(tail, " tab?here bad?byte caf\xc3\xa9 c1??x nl?x cut?? /usr/lib/x");
    child_end(&c);
    procmem_close(pm);
}

static void test_scan_no_kernel_threads(void **state)
{
    struct procmem *pm;
    char buf[64] = "";
    (void)state;

    /* kthreadd is PID 2 where kernel threads are visible at all (not in every container). */
    FILE *f = fopen("/proc/2/stat", "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f))
            buf[0] = '\0';
        fclose(f);
    }
    assert_int_equal(procmem_open(&pm), 0);
    struct seen s = { .pid = 2 };
    scan_for(pm, &s, 1);
    if (strstr(buf, "(kthreadd)"))
        assert_int_equal(s.count, 0);
    procmem_close(pm);
}

/* ---- the argv cache ---------------------------------------------------------------------- */

static void test_scan_cache(void **state)
{
    struct procmem *pm;
    (void)state;

    assert_int_equal(procmem_open(&pm), 0);
    char arg0[] = LONG_ARGV0, arg1[] = "600";
    char *argv[] = { arg0, arg1, NULL };
    pid_t sleeper = spawn_exec("/bin/sleep", argv);
    struct child c = spawn_child();
    struct seen s1[2] = { { .pid = sleeper }, { .pid = c.pid } }, s2[2];
    memcpy(s2, s1, sizeof s1);

    scan_for(pm, s1, 2);
    scan_for(pm, s2, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(s1[i].count, 1);
        assert_int_equal(s2[i].count, 1);
        assert_int_equal(s1[i].start, s2[i].start);
        assert_string_equal(s1[i].comm, s2[i].comm);
        assert_string_equal(s1[i].exe, s2[i].exe);
        assert_string_equal(s1[i].cmdline, s2[i].cmdline);
    }

    /* The child rewrites its argv in place: the kernel shows it, a scan does not, because
     * argv is read once per process... */
    char *orig = strdup(s1[1].cmdline);
    child_do(&c, "a", 1);
    scan_for(pm, s2, 2);
    assert_string_equal(s2[1].cmdline, orig);
    /* ...until its comm changes, as it does on exec: then argv is read again. */
    child_rename(&c, "mw-renamed");
    scan_for(pm, s2, 2);
    assert_string_equal(s2[1].comm, "mw-renamed");
    assert_string_not_equal(s2[1].cmdline, orig);
    assert_non_null(strstr(s2[1].cmdline, "XXXX"));
    free(orig);

    /* A killed process is gone from the next scan. */
    reap(sleeper);
    scan_for(pm, s2, 2);
    assert_int_equal(s2[0].count, 0);
    assert_int_equal(s2[1].count, 1);
    child_end(&c);
    scan_for(pm, s2, 2);
    assert_int_equal(s2[1].count, 0);
    procmem_close(pm);
}

struct stopper {
    int calls;
    struct procmem *pm;
    int inner_scan, inner_sample;
};

static int stop_cb(void *arg, const struct proc_ident *id)
{
    struct stopper *st = arg;
    st->calls++;
    return 1;
}

static int nested_scan(void *arg, const struct proc_ident *id)
{
    return 0;
}

static int reenter_cb(void *arg, const struct proc_ident *id)
{
    struct stopper *st = arg;
    struct proc_sample out[1];
    size_t nout;
    st->calls++;
    st->inner_scan = procmem_scan(st->pm, nested_scan, NULL);
    st->inner_sample = procmem_sample(st->pm, &id->pid, 1, out, &nout);
    return 1;
}

static void test_scan_stop_and_reentry(void **state)
{
    struct procmem *pm;
    (void)state;

    assert_int_equal(procmem_open(&pm), 0);
    struct stopper st = { 0, pm, 0, 0 };
    assert_int_equal(procmem_scan(pm, stop_cb, &st), 0);
    assert_int_equal(st.calls, 1);
    /* Stopping early must not have lost the cache of everything after the stop. */
    struct seen s = { .pid = getpid() };
    scan_for(pm, &s, 1);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.exe, self_exe_name());

    st.calls = 0;
    assert_int_equal(procmem_scan(pm, reenter_cb, &st), 0);
    assert_int_equal(st.calls, 1);
    assert_int_equal(st.inner_scan, -EBUSY);
    assert_int_equal(st.inner_sample, 0);
    assert_int_equal(procmem_scan(pm, NULL, NULL), -EINVAL);
    procmem_close(pm);
}

/* ---- selector ---------------------------------------------------------------------------- */

static void expect_refused(const char *pattern, const char *needle)
{
    struct selector *sel = (struct selector *)&sel;     /* must be reset to NULL */
    char *err = NULL;
    assert_int_equal(selector_compile(pattern, false, &sel, &err), -EINVAL);
    assert_null(sel);
    assert_non_null(err);
    assert_true(strlen(err) > 0);
    if (needle && !strstr(err, needle))
        fail_msg("message for \"%s\" is \"%s\"", pattern, err);
    free(err);
}

static void test_selector_errors(void **state)
{
    char long_pattern[300];
    (void)state;

    expect_refused("(", "(");           /* glibc: "Unmatched ( or \(" */
    expect_refused("*a", NULL);
    expect_refused("", "empty");
    memset(long_pattern, 'a', 256);
    long_pattern[256] = '\0';
    expect_refused(long_pattern, "255");
    long_pattern[255] = '\0';
    selector_free(compile_ok(long_pattern, false));
    expect_refused("(a{1,255}){1,255}b", "repeats");
    expect_refused("((a{4}){4}){100}", "repeats");
    selector_free(compile_ok("a{1,255}b", false));
    expect_refused("(a{,255}){,255}b", "repeats");
    selector_free(compile_ok("(foo|bar){2}[]{}]{3}x", false));
    expect_refused("x{", NULL);     /* glibc: "Unmatched \\{" */

    /* errmsg may be NULL when the caller does not want the text. */
    struct selector *sel;
    assert_int_equal(selector_compile("(", true, &sel, NULL), -EINVAL);
    assert_null(sel);
    selector_free(NULL);
}

static void test_selector_odd_idents(void **state)
{
    (void)state;
    struct selector *name = compile_ok("^go", false), *cmd = compile_ok("-addr", true);
    struct proc_ident empty = { 1, 1, NULL, NULL, NULL };
    assert_false(selector_matches(name, &empty));
    assert_false(selector_matches(cmd, &empty));
    assert_false(selector_matches(name, NULL));
    assert_false(selector_matches(NULL, &empty));
    struct proc_ident go = { 1, 1, "gotarget", "", "./gotarget -addr :6060" };
    assert_true(selector_matches(name, &go));
    assert_true(selector_matches(cmd, &go));
    struct proc_ident nl = { 1, 1, "x", "y", "a\nb -addr" };
    assert_true(selector_matches(cmd, &nl));
    selector_free(name);
    selector_free(cmd);
}

int main(int argc, char **argv)
{
    g_argv = argv;
    if (argc >= 4 && strcmp(argv[1], "--argv-child") == 0)
        child_loop(atoi(argv[2]), atoi(argv[3]));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_close),
        cmocka_unit_test(test_sample_self),
        cmocka_unit_test(test_sample_args),
        cmocka_unit_test(test_exited_child),
        cmocka_unit_test(test_sample_many),
        cmocka_unit_test(test_smaps_self),
        cmocka_unit_test(test_smaps_refused),
        cmocka_unit_test(test_scan_long_argv0),
        cmocka_unit_test(test_scan_symlink),
        cmocka_unit_test(test_scan_prctl_and_odd_names),
        cmocka_unit_test(test_scan_sanitized),
        cmocka_unit_test(test_scan_no_kernel_threads),
        cmocka_unit_test(test_scan_cache),
        cmocka_unit_test(test_scan_stop_and_reentry),
        cmocka_unit_test(test_selector_errors),
        cmocka_unit_test(test_selector_odd_idents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
