/* test_memlimit.c - unit tests for daemon/memlimit.c.
 *
 * Exercises: the parsers on their edges (GOMEMLIMIT in Go's own syntax: suffixes, "off",
 * empty, sign, spaces, SI suffixes Go refuses, overflow, Go's "no limit" 2^63-1; memory.max
 * and v1 limit_in_bytes, v1's "unlimited" >= 2^62; MemTotal; an environment block's first
 * entry winning and a cut-off last entry; /proc/PID/cgroup lines of v2, hybrid and v1 with
 * colons in paths and paths too long); fixture trees under a mkdtemp directory as /proc and
 * /sys/fs/cgroup (v2: the smallest ancestor's limit binds and memory.current is read from it,
 * a missing memory.max is no limit, a cgroup we cannot see is unknown; v1 with "unlimited";
 * an unreadable environ is unknown); real processes (/bin/sleep spawned with GOMEMLIMIT
 * 1536MiB, "off", garbage, and without it; a PID that does not exist); and this test's own
 * cgroup checked against the files themselves, whatever this machine has. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "memlimit.h"
#include "util.h"

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

static int gml(const char *s, uint64_t *v)
{
    *v = 12345;
    return memlimit_parse_gomemlimit(s, strlen(s), v);
}

static void test_parse_gomemlimit(void **state)
{
    uint64_t v;
    assert_int_equal(gml("1536MiB", &v), 0);
    assert_true(v == 1536 * MiB);
    assert_int_equal(gml("1024", &v), 0);
    assert_true(v == 1024);
    assert_int_equal(gml("1024B", &v), 0);
    assert_true(v == 1024);
    assert_int_equal(gml("4KiB", &v), 0);
    assert_true(v == 4096);
    assert_int_equal(gml("2GiB", &v), 0);
    assert_true(v == 2 * GiB);
    assert_int_equal(gml("3TiB", &v), 0);
    assert_true(v == UINT64_C(3) << 40);
    assert_int_equal(gml("0", &v), 0);         /* a valid limit: the GC then runs all the time */
    assert_true(v == 0);
    /* none */
    assert_int_equal(gml("off", &v), 1);
    assert_int_equal(gml("", &v), 1);
    assert_int_equal(gml("9223372036854775807", &v), 1);   /* math.MaxInt64, Go's default */
    /* what Go refuses at start-up */
    assert_int_equal(gml("100MB", &v), -EINVAL);
    assert_int_equal(gml("1KB", &v), -EINVAL);
    assert_int_equal(gml("1kiB", &v), -EINVAL);
    assert_int_equal(gml("1PiB", &v), -EINVAL);
    assert_int_equal(gml("1iB", &v), -EINVAL);
    assert_int_equal(gml("KiB", &v), -EINVAL);
    assert_int_equal(gml("B", &v), -EINVAL);
    assert_int_equal(gml("-5MiB", &v), -EINVAL);
    assert_int_equal(gml("-1", &v), -EINVAL);
    assert_int_equal(gml("+5", &v), -EINVAL);
    assert_int_equal(gml(" 5MiB", &v), -EINVAL);
    assert_int_equal(gml("5MiB ", &v), -EINVAL);
    assert_int_equal(gml("5 MiB", &v), -EINVAL);
    assert_int_equal(gml("OFF", &v), -EINVAL);
    assert_int_equal(gml("1.5GiB", &v), -EINVAL);
    assert_int_equal(gml("0x10", &v), -EINVAL);
    /* Go's atoi64 reads "-0" (and a bare "-" before a unit) as 0, which is not negative. */
    assert_int_equal(gml("-0", &v), 0);
    assert_true(v == 0);
    /* overflow */
    assert_int_equal(gml("9223372036854775808", &v), -ERANGE);
    assert_int_equal(gml("99999999999999999999999", &v), -ERANGE);
    assert_int_equal(gml("8388608TiB", &v), -ERANGE);     /* 2^63 */
    assert_int_equal(gml("8388607TiB", &v), 0);
    assert_true(v == UINT64_C(8388607) << 40);
    assert_int_equal(gml("18014398509481984KiB", &v), -ERANGE);   /* 2^54 KiB = 2^64 */
    /* the length is what counts, not a NUL */
    assert_int_equal(memlimit_parse_gomemlimit("64MiBxyz", 5, &v), 0);
    assert_true(v == 64 * MiB);
}

static int cgl(const char *s, int version, uint64_t *v)
{
    *v = 12345;
    return memlimit_parse_cgroup_limit(s, strlen(s), version, v);
}

static void test_parse_gogc(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int want;
    } cases[] = {
        { "off", -1 }, { "100", 100 }, { "50", 50 }, { "0", 0 }, { "400", 400 },
        { "-1", -1 }, { "-0", 0 }, { "", 100 }, { "abc", 100 }, { "50%", 100 }, { " 50", 100 },
        { "OFF", 100 }, { "99999999999", 100 }, { "2147483647", 2147483647 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = memlimit_parse_gogc(cases[i].s, strlen(cases[i].s));
        if (got != cases[i].want)
            print_error("GOGC \"%s\": got %d, want %d\n", cases[i].s, got, cases[i].want);
        assert_int_equal(got, cases[i].want);
    }
}

static void test_parse_cgroup_limit(void **state)
{
    uint64_t v;
    assert_int_equal(cgl("max\n", 2, &v), 1);
    assert_int_equal(cgl("max", 2, &v), 1);
    assert_int_equal(cgl("1073741824\n", 2, &v), 0);
    assert_true(v == GiB);
    assert_int_equal(cgl("0\n", 2, &v), 0);
    assert_true(v == 0);
    assert_int_equal(cgl("9223372036854771712\n", 1, &v), 1);     /* v1 "unlimited" */
    assert_int_equal(cgl("4611686018427387904\n", 1, &v), 1);     /* 2^62 */
    assert_int_equal(cgl("4611686018427387903\n", 1, &v), 0);
    assert_int_equal(cgl("536870912\n", 1, &v), 0);
    assert_true(v == 512 * MiB);
    assert_int_equal(cgl("max\n", 1, &v), -EINVAL);     /* v1 has no "max" */
    assert_int_equal(cgl("", 2, &v), -EINVAL);
    assert_int_equal(cgl("\n", 2, &v), -EINVAL);
    assert_int_equal(cgl("-1\n", 2, &v), -EINVAL);
    assert_int_equal(cgl(" 12\n", 2, &v), -EINVAL);
    assert_int_equal(cgl("12 \n", 2, &v), -EINVAL);
    assert_int_equal(cgl("12\n\n", 2, &v), -EINVAL);
    assert_int_equal(cgl("maxi\n", 2, &v), -EINVAL);
    assert_int_equal(cgl("18446744073709551616\n", 2, &v), -ERANGE);
    assert_int_equal(cgl("18446744073709551615\n", 2, &v), 0);
}

static void test_parse_meminfo(void **state)
{
    static const char good[] = "MemTotal:       24683656 kB\nMemFree:         1234 kB\n";
    static const char second[] = "MemFree:  1 kB\nMemTotal: 2048 kB";
    uint64_t v;
    assert_int_equal(memlimit_parse_meminfo(good, sizeof good - 1, &v), 0);
    assert_true(v == UINT64_C(24683656) * 1024);
    assert_int_equal(memlimit_parse_meminfo(second, sizeof second - 1, &v), 0);
    assert_true(v == 2048 * 1024);
    assert_int_equal(memlimit_parse_meminfo("MemFree: 1 kB\n", 14, &v), -EINVAL);
    assert_int_equal(memlimit_parse_meminfo("MemTotal: kB\n", 13, &v), -EINVAL);
    assert_int_equal(memlimit_parse_meminfo("MemTotal: 12 MB\n", 16, &v), -EINVAL);
    assert_int_equal(memlimit_parse_meminfo("MemTotal: -12 kB\n", 17, &v), -EINVAL);
    assert_int_equal(memlimit_parse_meminfo("MemTotal: 99999999999999999999 kB\n", 34, &v),
                     -EINVAL);
    assert_int_equal(memlimit_parse_meminfo("", 0, &v), -EINVAL);
}

static void test_find_env(void **state)
{
    static const char env[] = "PATH=/bin\0GOMEMLIMITX=1\0GOMEMLIMIT=2GiB\0GOMEMLIMIT=3GiB\0";
    const char *val;
    size_t vlen;
    assert_int_equal(memlimit_find_env(env, sizeof env - 1, "GOMEMLIMIT", &val, &vlen), 0);
    assert_int_equal(vlen, 4);
    assert_memory_equal(val, "2GiB", 4);
    assert_int_equal(memlimit_find_env(env, sizeof env - 1, "HOME", &val, &vlen), -ENOENT);
    assert_int_equal(memlimit_find_env(env, 0, "PATH", &val, &vlen), -ENOENT);
    /* an empty value */
    static const char empty[] = "GOMEMLIMIT=\0";
    assert_int_equal(memlimit_find_env(empty, sizeof empty - 1, "GOMEMLIMIT", &val, &vlen), 0);
    assert_int_equal(vlen, 0);
    /* a read that stopped inside the entry: its value may go on */
    static const char cut[] = "A=1\0GOMEMLIMIT=15";
    assert_int_equal(memlimit_find_env(cut, sizeof cut - 1, "GOMEMLIMIT", &val, &vlen), -EINVAL);
    /* a name is matched whole, not as a prefix of a longer one or of a value */
    static const char tricky[] = "X=GOMEMLIMIT=1\0GOMEMLIMIT\0";
    assert_int_equal(memlimit_find_env(tricky, sizeof tricky - 1, "GOMEMLIMIT", &val, &vlen),
                     -ENOENT);
}

static void test_parse_proc_cgroup(void **state)
{
    char v2[64], v1[64];
    static const char hybrid[] = "9:name=systemd:/\n4:memory:/process_api/384fe\n"
                                 "2:cpu,cpuacct:/x\n0::/\n";
    assert_int_equal(memlimit_parse_proc_cgroup(hybrid, sizeof hybrid - 1, v2, sizeof v2, v1,
                                                sizeof v1), 0);
    assert_string_equal(v2, "/");
    assert_string_equal(v1, "/process_api/384fe");
    static const char pure[] = "0::/system.slice/my:app.service\n";
    assert_int_equal(memlimit_parse_proc_cgroup(pure, sizeof pure - 1, v2, sizeof v2, v1,
                                                sizeof v1), 0);
    assert_string_equal(v2, "/system.slice/my:app.service");
    assert_string_equal(v1, "");
    /* memory among other controllers, no trailing newline; a "memoryx" controller is not it */
    static const char comounted[] = "5:memoryx:/no\n3:cpu,memory:/a/b";
    assert_int_equal(memlimit_parse_proc_cgroup(comounted, sizeof comounted - 1, v2, sizeof v2,
                                                v1, sizeof v1), 0);
    assert_string_equal(v1, "/a/b");
    assert_string_equal(v2, "");
    /* garbage lines are skipped */
    static const char junk[] = "hello\n::\n0:\n0::relative\n";
    assert_int_equal(memlimit_parse_proc_cgroup(junk, sizeof junk - 1, v2, sizeof v2, v1,
                                                sizeof v1), 0);
    assert_string_equal(v2, "");
    assert_string_equal(v1, "");
    char tiny[8];
    assert_int_equal(memlimit_parse_proc_cgroup(pure, sizeof pure - 1, tiny, sizeof tiny, v1,
                                                sizeof v1), -ENAMETOOLONG);
}

/* ---- fixture trees ------------------------------------------------------------------------- */

static char tmpdir[PATH_MAX];

static void put(const char *rel, const char *content, size_t len)
{
    char path[PATH_MAX + 256], dir[PATH_MAX + 256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, rel);
    /* mkdir -p of the parent */
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + strlen(tmpdir) + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        (void)mkdir(dir, 0755);
        *p = '/';
    }
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void puts_(const char *rel, const char *content)
{
    put(rel, content, strlen(content));
}

static void mkdirs(const char *rel)
{
    char dummy[PATH_MAX + 16];
    snprintf(dummy, sizeof dummy, "%s/.keep", rel);
    puts_(dummy, "");
}

static int setup_tree(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/memlimit-test.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(tmpdir));
    puts_("proc/meminfo", "MemTotal:        8388608 kB\nMemFree:  1 kB\n");
    return 0;
}

static int teardown_tree(void **state)
{
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static struct memlimit_reader *tree_reader(void)
{
    char proc[PATH_MAX + 16], cg[PATH_MAX + 16];
    snprintf(proc, sizeof proc, "%s/proc", tmpdir);
    snprintf(cg, sizeof cg, "%s/cg", tmpdir);
    struct memlimit_reader *r;
    assert_int_equal(memlimit_reader_new(proc, cg, &r), 0);
    return r;
}

static void test_tree_v2(void **state)
{
    puts_("proc/100/cgroup", "0::/a/b/c\n");
    static const char env[] = "HOME=/root\0GOMEMLIMIT=768MiB\0";
    put("proc/100/environ", env, sizeof env - 1);
    puts_("cg/cgroup.controllers", "cpu memory\n");
    puts_("cg/a/memory.max", "4294967296\n");
    puts_("cg/a/b/memory.max", "2147483648\n");
    puts_("cg/a/b/memory.current", "1000000\n");
    puts_("cg/a/b/c/memory.max", "max\n");
    struct memlimit_reader *r = tree_reader();
    struct memlimit m;
    assert_int_equal(memlimit_read(r, 100, &m), 0);
    assert_int_equal(m.cgroup.state, MEMLIMIT_SET);
    assert_true(m.cgroup.bytes == 2 * GiB);
    assert_int_equal(m.cgroup_version, 2);
    assert_string_equal(m.cgroup_dir, "/a/b");
    assert_int_equal(m.mem_total.state, MEMLIMIT_SET);
    assert_true(m.mem_total.bytes == 8 * GiB);
    assert_int_equal(m.gomemlimit.state, MEMLIMIT_SET);
    assert_true(m.gomemlimit.bytes == 768 * MiB);
    assert_true(m.effective_bytes == 2 * GiB);
    assert_string_equal(m.effective_source, "memory.max");
    uint64_t usage;
    assert_int_equal(memlimit_cgroup_usage(r, &m, &usage), 0);
    assert_true(usage == 1000000);

    /* A limit above MemTotal does not bind; the controller off below /a (no memory.max in
     * b and c) is no limit there. */
    puts_("proc/101/cgroup", "0::/x/y\n");
    puts_("proc/101/environ", "");
    puts_("cg/x/memory.max", "17179869184\n");
    mkdirs("cg/x/y");
    assert_int_equal(memlimit_read(r, 101, &m), 0);
    assert_int_equal(m.cgroup.state, MEMLIMIT_SET);
    assert_true(m.cgroup.bytes == 16 * GiB);
    assert_int_equal(m.gomemlimit.state, MEMLIMIT_NONE);
    assert_true(m.effective_bytes == 8 * GiB);
    assert_string_equal(m.effective_source, "MemTotal");

    /* All "max": none.  The root cgroup itself: none (it has no memory.max). */
    puts_("proc/102/cgroup", "0::/a/b/c\n");
    puts_("cg/a/memory.max", "max\n");
    puts_("cg/a/b/memory.max", "max\n");
    assert_int_equal(memlimit_read(r, 102, &m), 0);
    assert_int_equal(m.cgroup.state, MEMLIMIT_NONE);
    assert_string_equal(m.effective_source, "MemTotal");
    assert_int_equal(memlimit_cgroup_usage(r, &m, &usage), -ENODATA);
    puts_("proc/103/cgroup", "0::/\n");
    assert_int_equal(memlimit_read(r, 103, &m), 0);
    assert_int_equal(m.cgroup.state, MEMLIMIT_NONE);
    /* gone */
    assert_int_equal(memlimit_read(r, 104, &m), -ESRCH);
    assert_int_equal(m.mem_total.state, MEMLIMIT_SET);
    assert_int_equal(m.cgroup.state, MEMLIMIT_UNKNOWN);
    assert_int_equal(m.gomemlimit.state, MEMLIMIT_UNKNOWN);
    /* A cgroup we cannot see (removed, another namespace): unknown, not "none". */
    puts_("proc/105/cgroup", "0::/elsewhere/z\n");
    assert_int_equal(memlimit_read(r, 105, &m), 0);
    assert_int_equal(m.cgroup.state, MEMLIMIT_UNKNOWN);
    /* A garbled memory.max: unknown unless another level gives a number. */
    puts_("proc/106/cgroup", "0::/g\n");
    puts_("cg/g/memory.max", "lots\n");
    assert_int_equal(memlimit_read(r, 106, &m), 0);
    assert_int_equal(m.cgroup.state, MEMLIMIT_UNKNOWN);
    /* An environ we may not read (a directory here, as a stand-in for EACCES, which root
     * would not get): GOMEMLIMIT unknown, the rest read. */
    puts_("proc/107/cgroup", "0::/a/b/c\n");
    mkdirs("proc/107/environ");
    assert_int_equal(memlimit_read(r, 107, &m), 0);
    assert_int_equal(m.gomemlimit.state, MEMLIMIT_UNKNOWN);
    assert_int_equal(m.cgroup.state, MEMLIMIT_NONE);
    /* Only the machine */
    assert_int_equal(memlimit_read(r, 0, &m), 0);
    assert_true(m.effective_bytes == 8 * GiB);
    memlimit_reader_free(r);
}

static void test_tree_v1_and_big_environ(void **state)
{
    puts_("proc/200/cgroup", "4:memory:/svc/job\n0::/\n");
    puts_("cg/memory/memory.limit_in_bytes", "9223372036854771712\n");
    puts_("cg/memory/svc/memory.limit_in_bytes", "1073741824\n");
    puts_("cg/memory/svc/memory.usage_in_bytes", "4096\n");
    puts_("cg/memory/svc/job/memory.limit_in_bytes", "9223372036854771712\n");
    /* An environment larger than what is read, GOMEMLIMIT beyond it: unknown. */
    size_t big = 300 * 1024;
    char *env = xmalloc(big + 64);
    memset(env, 'x', big);
    memcpy(env, "FILLER=", 7);
    env[big - 1] = '\0';
    memcpy(env + big, "GOMEMLIMIT=1GiB", 16);
    put("proc/200/environ", env, big + 16);
    struct memlimit_reader *r = tree_reader();
    struct memlimit m;
    assert_int_equal(memlimit_read(r, 200, &m), 0);
    assert_int_equal(m.cgroup_version, 1);
    assert_int_equal(m.cgroup.state, MEMLIMIT_SET);
    assert_true(m.cgroup.bytes == GiB);
    assert_string_equal(m.cgroup_dir, "/svc");
    assert_string_equal(m.effective_source, "memory.max");
    assert_int_equal(m.gomemlimit.state, MEMLIMIT_UNKNOWN);
    uint64_t usage;
    assert_int_equal(memlimit_cgroup_usage(r, &m, &usage), 0);
    assert_true(usage == 4096);
    /* The same variable early in a big environment is found. */
    memcpy(env, "GOMEMLIMIT=1GiB", 16);
    put("proc/200/environ", env, big + 16);
    assert_int_equal(memlimit_read(r, 200, &m), 0);
    assert_int_equal(m.gomemlimit.state, MEMLIMIT_SET);
    assert_true(m.gomemlimit.bytes == GiB);
    free(env);
    memlimit_reader_free(r);
}

/* ---- real processes ----------------------------------------------------------------------- */

static pid_t spawn_sleep_gogc(const char *gomemlimit, const char *gogc)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char var[128], var2[128], path_env[] = "PATH=/usr/bin:/bin", name[] = "sleep";
        char secs[] = "30";
        char *envp[4] = { path_env, NULL, NULL, NULL };
        int n = 1;
        if (gomemlimit) {
            snprintf(var, sizeof var, "GOMEMLIMIT=%s", gomemlimit);
            envp[n++] = var;
        }
        if (gogc) {
            snprintf(var2, sizeof var2, "GOGC=%s", gogc);
            envp[n++] = var2;
        }
        char *argv[] = { name, secs, NULL };
        execve("/bin/sleep", argv, envp);
        _exit(127);
    }
    /* Wait until the exec has happened: environ then shows the new environment. */
    char path[64], exe[PATH_MAX];
    snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
    for (int i = 0; i < 500; i++) {
        ssize_t n = readlink(path, exe, sizeof exe - 1);
        if (n > 0) {
            exe[n] = '\0';
            if (strstr(exe, "sleep"))
                break;
        }
        usleep(10000);
    }
    return pid;
}

static void reap(pid_t pid)
{
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
}

static pid_t spawn_sleep(const char *gomemlimit)
{
    return spawn_sleep_gogc(gomemlimit, NULL);
}

static void test_real_processes(void **state)
{
    struct memlimit_reader *r;
    assert_int_equal(memlimit_reader_new(NULL, NULL, &r), 0);
    struct memlimit m;
    pid_t pid = spawn_sleep("1536MiB");
    assert_int_equal(memlimit_read(r, (int)pid, &m), 0);
    assert_int_equal(m.gomemlimit.state, MEMLIMIT_SET);
    assert_true(m.gomemlimit.bytes == 1536 * MiB);
    reap(pid);

    pid = spawn_sleep("off");
    assert_int_equal(memlimit_read(r, (int)pid, &m), 0);
    assert_int_equal(m.gomemlimit.state, MEMLIMIT_NONE);
    reap(pid);

    pid = spawn_sleep("12XB");
    assert_int_equal(memlimit_read(r, (int)pid, &m), 0);
    assert_int_equal(m.gomemlimit.state, MEMLIMIT_UNKNOWN);
    reap(pid);

    pid = spawn_sleep(NULL);
    assert_int_equal(memlimit_read(r, (int)pid, &m), 0);
    assert_int_equal(m.gomemlimit.state, MEMLIMIT_NONE);
    assert_int_equal(m.gogc, 100);      /* unset: Go's default */
    reap(pid);

    pid = spawn_sleep_gogc("1GiB", "off");
    assert_int_equal(memlimit_read(r, (int)pid, &m), 0);
    assert_int_equal(m.gogc, -1);
    assert_int_equal(m.gomemlimit.state, MEMLIMIT_SET);
    reap(pid);
    pid = spawn_sleep_gogc(NULL, "250");
    assert_int_equal(memlimit_read(r, (int)pid, &m), 0);
    assert_int_equal(m.gogc, 250);
    reap(pid);

    /* The process is gone now (reaped): its PID is free. */
    assert_int_equal(memlimit_read(r, (int)pid, &m), -ESRCH);
    assert_int_equal(m.mem_total.state, MEMLIMIT_SET);
    memlimit_reader_free(r);
}

/* The files as this machine has them, read plainly, against what memlimit says. */
static void test_own_cgroup(void **state)
{
    struct memlimit_reader *r;
    assert_int_equal(memlimit_reader_new(NULL, NULL, &r), 0);
    struct memlimit m;
    assert_int_equal(memlimit_read(r, (int)getpid(), &m), 0);

    /* MemTotal */
    FILE *f = fopen("/proc/meminfo", "re");
    assert_non_null(f);
    unsigned long long kib = 0;
    char line[256];
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemTotal: %llu kB", &kib) == 1)
            break;
    fclose(f);
    assert_true(kib > 0);
    assert_int_equal(m.mem_total.state, MEMLIMIT_SET);
    assert_true(m.mem_total.bytes == kib * 1024);
    assert_true(m.effective_bytes > 0 && m.effective_bytes <= m.mem_total.bytes);

    /* This test's own environment has no GOMEMLIMIT unless the caller set one. */
    const char *own = getenv("GOMEMLIMIT");
    if (!own || !*own || strcmp(own, "off") == 0)
        assert_int_equal(m.gomemlimit.state, MEMLIMIT_NONE);

    print_message("# own cgroup: v%d, limit %s %llu (dir \"%s\"), effective %llu (%s)\n",
                  m.cgroup_version,
                  m.cgroup.state == MEMLIMIT_SET ? "set" :
                  m.cgroup.state == MEMLIMIT_NONE ? "none" : "unknown",
                  (unsigned long long)m.cgroup.bytes, m.cgroup_dir,
                  (unsigned long long)m.effective_bytes, m.effective_source);
    if (m.cgroup.state == MEMLIMIT_SET) {
        /* The binding cgroup's own file says exactly that number... */
        char path[PATH_MAX + 128], buf[64];
        const char *base = m.cgroup_version == 1 ? "/sys/fs/cgroup/memory" :
                           access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ?
                           "/sys/fs/cgroup" : "/sys/fs/cgroup/unified";
        snprintf(path, sizeof path, "%s%s/%s", base,
                 strcmp(m.cgroup_dir, "/") == 0 ? "" : m.cgroup_dir,
                 m.cgroup_version == 1 ? "memory.limit_in_bytes" : "memory.max");
        f = fopen(path, "re");
        assert_non_null(f);
        assert_non_null(fgets(buf, sizeof buf, f));
        fclose(f);
        assert_true(strtoull(buf, NULL, 10) == m.cgroup.bytes);
        /* ...and its charge can be read. */
        uint64_t usage;
        assert_int_equal(memlimit_cgroup_usage(r, &m, &usage), 0);
        assert_true(usage > 0);
    } else if (m.cgroup.state == MEMLIMIT_NONE) {
        /* The process's own cgroup file, if it has one, says "no limit". */
        f = fopen("/proc/self/cgroup", "re");
        assert_non_null(f);
        char v1[PATH_MAX] = "", v2[PATH_MAX] = "", text[8192];
        size_t n = fread(text, 1, sizeof text, f);
        fclose(f);
        assert_int_equal(memlimit_parse_proc_cgroup(text, n, v2, sizeof v2, v1, sizeof v1), 0);
        char path[PATH_MAX * 2 + 64], buf[64];
        if (v1[0])
            snprintf(path, sizeof path, "/sys/fs/cgroup/memory%s/memory.limit_in_bytes",
                     strcmp(v1, "/") == 0 ? "" : v1);
        else
            snprintf(path, sizeof path, "%s%s/memory.max",
                     access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ?
                     "/sys/fs/cgroup" : "/sys/fs/cgroup/unified",
                     strcmp(v2, "/") == 0 ? "" : v2);
        f = fopen(path, "re");
        if (f) {
            assert_non_null(fgets(buf, sizeof buf, f));
            fclose(f);
            if (v1[0])
                assert_true(strtoull(buf, NULL, 10) >= (UINT64_C(1) << 62));
            else
                assert_string_equal(buf, "max\n");
        }
        assert_string_equal(m.effective_source, "MemTotal");
    }
    memlimit_reader_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_gomemlimit),
        cmocka_unit_test(test_parse_gogc),
        cmocka_unit_test(test_parse_cgroup_limit),
        cmocka_unit_test(test_parse_meminfo),
        cmocka_unit_test(test_find_env),
        cmocka_unit_test(test_parse_proc_cgroup),
        cmocka_unit_test_setup_teardown(test_tree_v2, setup_tree, teardown_tree),
        cmocka_unit_test_setup_teardown(test_tree_v1_and_big_environ, setup_tree, teardown_tree),
        cmocka_unit_test(test_real_processes),
        cmocka_unit_test(test_own_cgroup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
