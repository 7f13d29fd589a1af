/* memlimit.c - the memory limits of a process, from /proc and the cgroup file system (see
 * memlimit.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memlimit.h"
#include "util.h"

/* The environment of a process can be as large as the kernel's ARG_MAX share (a quarter of
 * the stack limit, often 2 MiB); GOMEMLIMIT is set by whoever starts the program and sits
 * among the first entries in practice. */
#define ENV_READ_MAX (256 * 1024)

/* cgroup v1 reports "no limit" as PAGE_COUNTER_MAX pages, 2^63 rounded down to a page. */
#define V1_UNLIMITED (UINT64_C(1) << 62)

struct memlimit_reader {
    char proc[256], cgroup[256];
    char path[PATH_MAX + 1024];
    char dir[PATH_MAX];                 /* walking up the cgroup tree */
    char v1[PATH_MAX], v2[PATH_MAX];
    char buf[ENV_READ_MAX];             /* every file read goes here */
};

int memlimit_reader_new(const char *proc_root, const char *cgroup_root,
                        struct memlimit_reader **out)
{
    struct memlimit_reader *r = xcalloc(1, sizeof *r);
    int a = snprintf(r->proc, sizeof r->proc, "%s", proc_root ? proc_root : "/proc");
    int b = snprintf(r->cgroup, sizeof r->cgroup, "%s", cgroup_root ? cgroup_root : "/sys/fs/cgroup");
    if (a < 0 || (size_t)a >= sizeof r->proc || b < 0 || (size_t)b >= sizeof r->cgroup) {
        free(r);
        return -ENAMETOOLONG;
    }
    *out = r;
    return 0;
}

void memlimit_reader_free(struct memlimit_reader *r)
{
    free(r);
}

/* ---- parsers ------------------------------------------------------------------------------ */

/* Digits only, into a uint64_t: 0, -EINVAL (empty or not digits), -ERANGE. */
static int parse_digits(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Go's runtime.atoi64 as parseByteCount uses it: an optional '-', then digits (none at all
 * after the '-' reads as 0, which Go accepts); negative results are refused by the caller. */
static int go_atoi64(const char *s, size_t len, int64_t *out)
{
    bool neg = false;
    uint64_t un = 0;
    if (len == 0)
        return -EINVAL;
    if (s[0] == '-') {
        neg = true;
        s++;
        len--;
    }
    if (len > 0) {
        int rc = parse_digits(s, len, &un);
        if (rc < 0)
            return rc;
    }
    if (!neg && un > (uint64_t)INT64_MAX)
        return -ERANGE;
    if (neg && un > (uint64_t)INT64_MAX + 1)
        return -ERANGE;
    *out = neg ? (int64_t)(0 - un) : (int64_t)un;
    return 0;
}

int memlimit_parse_gomemlimit(const char *s, size_t len, uint64_t *bytes)
{
    /* runtime.readGOMEMLIMIT: unset, "" and "off" all mean the default, no limit. */
    if (len == 0 || (len == 3 && memcmp(s, "off", 3) == 0))
        return 1;
    uint64_t mult = 1;
    size_t digits = len;
    char last = s[len - 1];
    if (last < '0' || last > '9') {
        if (last != 'B' || len < 2)
            return -EINVAL;
        char c = s[len - 2];
        if (c >= '0' && c <= '9') {
            digits = len - 1;               /* "1024B" */
        } else {
            if (c != 'i' || len < 4)
                return -EINVAL;
            switch (s[len - 3]) {
            case 'K': mult = UINT64_C(1) << 10; break;
            case 'M': mult = UINT64_C(1) << 20; break;
            case 'G': mult = UINT64_C(1) << 30; break;
            case 'T': mult = UINT64_C(1) << 40; break;
            default: return -EINVAL;
            }
            digits = len - 3;
        }
    }
    int64_t n;
    int rc = go_atoi64(s, digits, &n);
    if (rc < 0)
        return rc;
    if (n < 0)
        return -EINVAL;
    uint64_t un = (uint64_t)n;
    if (un > UINT64_MAX / mult || un * mult > (uint64_t)INT64_MAX)
        return -ERANGE;
    un *= mult;
    /* math.MaxInt64 is the runtime's own "no limit". */
    if (un == (uint64_t)INT64_MAX)
        return 1;
    *bytes = un;
    return 0;
}

int memlimit_parse_cgroup_limit(const char *s, size_t len, int version, uint64_t *bytes)
{
    if (len > 0 && s[len - 1] == '\n')
        len--;
    if (version == 2 && len == 3 && memcmp(s, "max", 3) == 0)
        return 1;
    uint64_t v;
    int rc = parse_digits(s, len, &v);
    if (rc < 0)
        return rc;
    if (version == 1 && v >= V1_UNLIMITED)
        return 1;
    *bytes = v;
    return 0;
}

int memlimit_parse_meminfo(const char *s, size_t len, uint64_t *bytes)
{
    static const char key[] = "MemTotal:";
    const char *end = s + len;
    for (const char *line = s; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *eol = nl ? nl : end;
        if ((size_t)(eol - line) > sizeof key - 1 && memcmp(line, key, sizeof key - 1) == 0) {
            const char *p = line + sizeof key - 1;
            while (p < eol && *p == ' ')
                p++;
            const char *d = p;
            while (p < eol && *p >= '0' && *p <= '9')
                p++;
            uint64_t kib;
            if (parse_digits(d, (size_t)(p - d), &kib) < 0)
                return -EINVAL;
            while (p < eol && *p == ' ')
                p++;
            if (eol - p != 2 || memcmp(p, "kB", 2) != 0 || kib > UINT64_MAX / 1024)
                return -EINVAL;
            *bytes = kib * 1024;
            return 0;
        }
        line = eol + 1;
    }
    return -EINVAL;
}

int memlimit_find_env(const char *env, size_t len, const char *name, const char **value,
                      size_t *vlen)
{
    size_t nlen = strlen(name);
    for (size_t start = 0; start < len;) {
        const char *e = env + start;
        const char *nul = memchr(e, '\0', len - start);
        size_t elen = nul ? (size_t)(nul - e) : len - start;
        if (elen > nlen && memcmp(e, name, nlen) == 0 && e[nlen] == '=') {
            if (!nul)
                return -EINVAL;     /* the value may go on past what was read */
            *value = e + nlen + 1;
            *vlen = elen - nlen - 1;
            return 0;
        }
        start += elen + 1;
    }
    return -ENOENT;
}

static int copy_path(const char *p, size_t n, char *dst, size_t cap)
{
    if (n >= cap)
        return -ENAMETOOLONG;
    memcpy(dst, p, n);
    dst[n] = '\0';
    return 0;
}

/* Does the comma-separated list hold "memory"? */
static bool has_memory_controller(const char *list, size_t n)
{
    for (size_t i = 0; i < n;) {
        const char *comma = memchr(list + i, ',', n - i);
        size_t w = comma ? (size_t)(comma - (list + i)) : n - i;
        if (w == 6 && memcmp(list + i, "memory", 6) == 0)
            return true;
        i += w + 1;
    }
    return false;
}

int memlimit_parse_proc_cgroup(const char *s, size_t len, char *v2, size_t v2len, char *v1,
                               size_t v1len)
{
    const char *end = s + len;
    if (v2len)
        v2[0] = '\0';
    if (v1len)
        v1[0] = '\0';
    for (const char *line = s; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *eol = nl ? nl : end;
        /* hierarchy-ID:controller-list:cgroup-path; the path may itself hold ':' */
        const char *c1 = memchr(line, ':', (size_t)(eol - line));
        const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(eol - c1 - 1)) : NULL;
        if (c2 && c2 + 1 < eol && c2[1] == '/') {
            const char *path = c2 + 1;
            size_t plen = (size_t)(eol - path);
            int rc = 0;
            if (c1 - line == 1 && line[0] == '0' && c2 == c1 + 1)
                rc = copy_path(path, plen, v2, v2len);
            else if (has_memory_controller(c1 + 1, (size_t)(c2 - c1 - 1)))
                rc = copy_path(path, plen, v1, v1len);
            if (rc < 0)
                return rc;
        }
        line = eol + 1;
    }
    return 0;
}

/* ---- reading ------------------------------------------------------------------------------- */

/* Reads up to cap bytes of path into buf: 0 and *len (*truncated when the file may hold
 * more), or a negative errno. */
static int read_file(const char *path, char *buf, size_t cap, size_t *len, bool *truncated)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    size_t n = 0;
    while (n < cap) {
        ssize_t k = read(fd, buf + n, cap - n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            int err = -errno;
            close(fd);
            return err;
        }
        if (k == 0)
            break;
        n += (size_t)k;
    }
    close(fd);
    *len = n;
    if (truncated)
        *truncated = n == cap;
    return 0;
}

static int build(struct memlimit_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int build(struct memlimit_reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->path, sizeof r->path, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= sizeof r->path ? -ENAMETOOLONG : 0;
}

/* Where the v2 hierarchy is mounted: the cgroup root itself on a pure v2 system, its
 * "unified" directory on a hybrid one (v1 controllers beside a v2 tree). */
static const char *v2_mount(struct memlimit_reader *r, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/cgroup.controllers", r->cgroup);
    if (access(buf, F_OK) == 0)
        snprintf(buf, cap, "%s", r->cgroup);
    else
        snprintf(buf, cap, "%s/unified", r->cgroup);
    return buf;
}

static const char *limit_file(int version)
{
    return version == 1 ? "memory.limit_in_bytes" : "memory.max";
}

static const char *usage_file(int version)
{
    return version == 1 ? "memory.usage_in_bytes" : "memory.current";
}

/* The smallest limit on the way from the process's cgroup up to the root. */
static void read_cgroup_limit(struct memlimit_reader *r, int version, const char *cgpath,
                              struct memlimit *out)
{
    char base[sizeof r->cgroup + 32];
    if (version == 1)
        snprintf(base, sizeof base, "%s/memory", r->cgroup);
    else
        v2_mount(r, base, sizeof base);
    /* If we cannot see the process's own cgroup (another mount namespace, a cgroup removed
     * meanwhile), an ancestor's "no limit" would say more than we know. */
    if (build(r, "%s%s", base, strcmp(cgpath, "/") == 0 ? "" : cgpath) < 0 ||
        access(r->path, F_OK) != 0)
        return;
    snprintf(r->dir, sizeof r->dir, "%s", cgpath);
    bool found = false, bad = false;
    uint64_t best = 0;
    for (;;) {
        size_t dlen = strlen(r->dir);
        bool root = dlen <= 1;
        size_t len;
        uint64_t v;
        int rc = build(r, "%s%s/%s", base, root ? "" : r->dir, limit_file(version));
        if (rc == 0)
            rc = read_file(r->path, r->buf, 64, &len, NULL);
        if (rc == 0) {
            rc = memlimit_parse_cgroup_limit(r->buf, len, version, &v);
            if (rc == 0 && (!found || v < best)) {
                found = true;
                best = v;
                if (copy_path(r->dir, dlen, out->cgroup_dir, sizeof out->cgroup_dir) < 0)
                    out->cgroup_dir[0] = '\0';
            }
            bad = bad || rc < 0;
        } else if (rc != -ENOENT) {
            /* v2 has no memory.max where the controller is not enabled, nor at the root:
             * absent is normal, unreadable is not. */
            bad = true;
        }
        if (root)
            break;
        char *slash = strrchr(r->dir, '/');
        if (slash == r->dir)
            slash[1] = '\0';        /* "/a" -> "/" */
        else
            *slash = '\0';
    }
    out->cgroup_version = version;
    if (found) {
        out->cgroup.state = MEMLIMIT_SET;
        out->cgroup.bytes = best;
    } else if (!bad) {
        out->cgroup.state = MEMLIMIT_NONE;
    }
}

static void read_gomemlimit(struct memlimit_reader *r, int pid, struct memlimit *out)
{
    size_t len;
    bool truncated;
    const char *v;
    size_t vlen;
    uint64_t bytes;
    /* EACCES: another user's process without CAP_SYS_PTRACE; unknown, not an error. */
    if (build(r, "%s/%d/environ", r->proc, pid) < 0 ||
        read_file(r->path, r->buf, sizeof r->buf, &len, &truncated) < 0)
        return;
    if (memlimit_find_env(r->buf, len, "GOGC", &v, &vlen) == 0)
        out->gogc = memlimit_parse_gogc(v, vlen);
    int rc = memlimit_find_env(r->buf, len, "GOMEMLIMIT", &v, &vlen);
    if (rc == -ENOENT) {
        if (!truncated)
            out->gomemlimit.state = MEMLIMIT_NONE;
        return;
    }
    if (rc < 0)
        return;
    /* A value Go cannot parse would have stopped a Go 1.19+ program at start-up: whatever
     * runs is not honouring it, so leave it unknown. */
    rc = memlimit_parse_gomemlimit(v, vlen, &bytes);
    if (rc == 0) {
        out->gomemlimit.state = MEMLIMIT_SET;
        out->gomemlimit.bytes = bytes;
    } else if (rc == 1) {
        out->gomemlimit.state = MEMLIMIT_NONE;
    }
}

int memlimit_parse_gogc(const char *s, size_t len)
{
    if (len == 3 && memcmp(s, "off", 3) == 0)
        return -1;
    size_t i = 0;
    bool neg = len > 0 && s[0] == '-';
    if (neg)
        i = 1;
    if (i == len)
        return 100;
    long v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 100;
        v = v * 10 + (s[i] - '0');
        if (v > INT32_MAX)
            return 100;     /* Go's atoi32 refuses it: the default applies */
    }
    return neg && v > 0 ? -1 : (int)v;
}

int memlimit_read(struct memlimit_reader *r, int pid, struct memlimit *out)
{
    memset(out, 0, sizeof *out);
    out->effective_source = "";
    out->gogc = 100;
    size_t len;
    uint64_t v;
    if (build(r, "%s/meminfo", r->proc) == 0 &&
        read_file(r->path, r->buf, sizeof r->buf, &len, NULL) == 0 &&
        memlimit_parse_meminfo(r->buf, len, &v) == 0 && v > 0) {
        out->mem_total.state = MEMLIMIT_SET;
        out->mem_total.bytes = v;
    }
    int ret = 0;
    if (pid > 0) {
        int rc = build(r, "%s/%d/cgroup", r->proc, pid);
        if (rc == 0)
            rc = read_file(r->path, r->buf, sizeof r->buf - 1, &len, NULL);
        if (rc == -ENOENT || rc == -ESRCH) {
            ret = -ESRCH;
        } else if (rc == 0 && memlimit_parse_proc_cgroup(r->buf, len, r->v2, sizeof r->v2,
                                                         r->v1, sizeof r->v1) == 0) {
            /* On a hybrid system the memory controller is either on its v1 hierarchy or
             * on the v2 tree; a "memory" line says it is v1. */
            if (r->v1[0])
                read_cgroup_limit(r, 1, r->v1, out);
            else if (r->v2[0])
                read_cgroup_limit(r, 2, r->v2, out);
        }
        if (ret == 0)
            read_gomemlimit(r, pid, out);
    }
    if (out->cgroup.state == MEMLIMIT_SET &&
        (out->mem_total.state != MEMLIMIT_SET || out->cgroup.bytes < out->mem_total.bytes)) {
        out->effective_bytes = out->cgroup.bytes;
        out->effective_source = "memory.max";
    } else if (out->mem_total.state == MEMLIMIT_SET) {
        out->effective_bytes = out->mem_total.bytes;
        out->effective_source = "MemTotal";
    }
    return ret;
}

int memlimit_cgroup_usage(struct memlimit_reader *r, const struct memlimit *lim, uint64_t *bytes)
{
    if (lim->cgroup.state != MEMLIMIT_SET || !lim->cgroup_dir[0] || !lim->cgroup_version)
        return -ENODATA;
    char base[sizeof r->cgroup + 32];
    if (lim->cgroup_version == 1)
        snprintf(base, sizeof base, "%s/memory", r->cgroup);
    else
        v2_mount(r, base, sizeof base);
    bool root = strcmp(lim->cgroup_dir, "/") == 0;
    int rc = build(r, "%s%s/%s", base, root ? "" : lim->cgroup_dir, usage_file(lim->cgroup_version));
    size_t len;
    if (rc == 0)
        rc = read_file(r->path, r->buf, 64, &len, NULL);
    if (rc < 0)
        return rc;
    if (len > 0 && r->buf[len - 1] == '\n')
        len--;
    return parse_digits(r->buf, len, bytes);
}
