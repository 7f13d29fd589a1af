/* store_bench.c - figures for daemon/store.c: ingest rate, bytes per sample on disk, bytes
 * written to disk per sample, query latency.  Prints numbers, never passes or fails.
 *
 * Workload: --series N series (10 metrics a target) sampled every second for --hours H of
 * simulated time, on a fake clock advancing 1 s per tick, flush interval 10 s.  Gauges are
 * KiB values that stay put most seconds and move by a few pages now and then; counters
 * (faults) only grow.  Sample times carry a few ms of per-target jitter, like a real timer.
 *
 * Usage: store_bench [--hours H] [--series N] [--dir DIR] [--keep]
 * The database goes in a fresh directory under DIR (default $TMPDIR or /tmp): put it on the
 * disk you care about.  write_bytes comes from /proc/self/io: what this process sent towards
 * the block layer, WAL and checkpoints included. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "metrics.h"
#include "store.h"
#include "util.h"

#define METRICS_PER_TARGET 10

static uint64_t rng = 0x853c49e6748fea9bULL;

static uint64_t rnd(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t write_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    uint64_t v = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "write_bytes: %" SCNu64, &v) == 1)
            break;
    fclose(f);
    return v;
}

static int64_t sql_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

struct gen {
    struct store_series *s;
    int kind;           /* 0 gauge KiB, 1 small gauge (threads), 2 counter */
    int64_t value;
};

static int count_cb(void *arg, const struct store_point *p)
{
    (void)p;
    (*(size_t *)arg)++;
    return 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs a query `iters` times; prints the median and worst latency and the points. */
static void time_query(struct store *st, struct store_series *s, const char *what,
                       int64_t from, int64_t to, int64_t step, int iters)
{
    double *lat = xcalloc((size_t)iters, sizeof(double));
    size_t n = 0;
    int64_t res = 0;
    for (int i = 0; i < iters; i++) {
        n = 0;
        double t = wall_s();
        int r = store_query(st, s, from, to, step, count_cb, &n, &res);
        lat[i] = (wall_s() - t) * 1000;
        if (r < 0) {
            printf("  %s: error %d: %s\n", what, r, store_errmsg(st));
            free(lat);
            return;
        }
    }
    qsort(lat, (size_t)iters, sizeof(double), cmp_d);
    printf("  %-44s %6zu points (resolution %" PRId64 " ms)  median %.3f ms  max %.3f ms\n",
           what, n, res, lat[iters / 2], lat[iters - 1]);
    free(lat);
}

static void usage(void)
{
    fprintf(stderr, "usage: store_bench [--hours H] [--series N] [--dir DIR] [--keep]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    double hours = 36;
    long nseries = 1000;
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    int keep = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--hours") == 0 && i + 1 < argc)
            hours = atof(argv[++i]);
        else if (strcmp(argv[i], "--series") == 0 && i + 1 < argc)
            nseries = atol(argv[++i]);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--keep") == 0)
            keep = 1;
        else
            usage();
    }
    if (hours <= 0 || nseries <= 0)
        usage();

    printf("$");
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\n");

    char *tmpl = xasprintf("%s/store_bench.XXXXXX", dir);
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        return 1;
    }
    char *path = xasprintf("%s/memwatch.db", tmpl);
    int64_t ticks = (int64_t)(hours * 3600);
    int64_t t0 = INT64_C(1700000123000);     /* not aligned to anything */
    long ntargets = (nseries + METRICS_PER_TARGET - 1) / METRICS_PER_TARGET;

    printf("workload: %ld series (%ld targets x %d metrics), %.1f h at 1 s = %" PRId64
           " samples; flush every 10 s; db %s\n",
           nseries, ntargets, METRICS_PER_TARGET, hours, ticks * nseries, path);

    uint64_t wb0 = write_bytes();
    struct store_config cfg = { .path = path, .flush_interval_ms = 10000 };
    struct store *st;
    char *err;
    int r = store_open(&cfg, t0, &st, &err);
    if (r < 0) {
        fprintf(stderr, "store_open: %s\n", err);
        return 1;
    }

    struct gen *g = xcalloc((size_t)nseries, sizeof(*g));
    for (long i = 0; i < nseries; i++) {
        long tgt = i / METRICS_PER_TARGET;
        int m = (int)(i % METRICS_PER_TARGET);
        if (m == 0) {
            struct target_record rec;
            memset(&rec, 0, sizeof(rec));
            snprintf(rec.name, sizeof(rec.name), "target%ld", tgt);
            rec.selector = SELECTOR_MATCH;
            snprintf(rec.pattern, sizeof(rec.pattern), "^app%ld$", tgt);
            rec.created_ms = rec.state_changed_ms = t0;
            if (store_target_add(st, &rec) < 0) {
                fprintf(stderr, "target: %s\n", store_errmsg(st));
                return 1;
            }
            g[i].value = rec.id;        /* remembered below */
        }
        int64_t tid = g[i - m].value;
        g[i].s = store_series_get(st, tid, metric_info((enum metric_id)m)->name);
        if (!g[i].s) {
            fprintf(stderr, "series: %s\n", store_errmsg(st));
            return 1;
        }
    }
    for (long i = 0; i < nseries; i++) {
        int m = (int)(i % METRICS_PER_TARGET);
        g[i].kind = m == M_THREADS ? 1 : (m == M_MINFLT || m == M_MAJFLT) ? 2 : 0;
        g[i].value = g[i].kind == 1 ? 8 + (int64_t)(rnd() % 20)
                   : g[i].kind == 2 ? (int64_t)(rnd() % 100000)
                   : 20000 + (int64_t)(rnd() % 2000000) / 4 * 4;
    }
    int64_t *jitter = xcalloc((size_t)ntargets, sizeof(int64_t));

    /* ---- ingest ---- */
    double c0 = cpu_s(), w0 = wall_s();
    double tick_cpu = 0;
    uint64_t errors = 0, wb_q = 0;
    int64_t k_q = ticks - ticks / 4;      /* the last quarter: the steady state */
    int64_t now = t0;
    for (int64_t k = 0; k < ticks; k++) {
        now = t0 + k * 1000;
        if (k == k_q)
            wb_q = write_bytes();
        for (long tg = 0; tg < ntargets; tg++)
            jitter[tg] = (int64_t)(rnd() % 8);
        for (long i = 0; i < nseries; i++) {
            struct gen *x = &g[i];
            uint64_t u = rnd();
            switch (x->kind) {
            case 0:     /* a few pages now and then */
                if (u % 100 < 8)
                    x->value += 4 * ((int64_t)((u >> 8) % 17) - 8);
                if (x->value < 4)
                    x->value = 4;
                break;
            case 1:
                if (u % 1000 == 0)
                    x->value += (u >> 10) % 2 ? 1 : -1;
                break;
            case 2:
                if (u % 100 < 30)
                    x->value += (int64_t)((u >> 8) % 64);
                break;
            }
            if (store_append(st, x->s, now + jitter[i / METRICS_PER_TARGET], x->value) < 0)
                errors++;
        }
        double tc = cpu_s();
        if (store_tick(st, now + 20) < 0)
            errors++;
        tick_cpu += cpu_s() - tc;
    }
    double ingest_cpu = cpu_s() - c0, ingest_wall = wall_s() - w0;
    uint64_t samples = (uint64_t)ticks * (uint64_t)nseries;

    /* Close every raw window: the data is then in closed chunks. */
    now += 11 * 60000;
    if (store_flush(st, now) < 0)
        errors++;

    struct store_stats stats;
    store_get_stats(st, &stats);

    sqlite3 *db;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    sqlite3_busy_timeout(db, 5000);
    (void)sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    uint64_t wb1 = write_bytes();
    uint64_t samples_q = (uint64_t)(ticks - k_q) * (uint64_t)nseries;

    int64_t page_size = sql_int(db, "PRAGMA page_size");
    int64_t pages = sql_int(db, "PRAGMA page_count");
    int64_t free_pages = sql_int(db, "PRAGMA freelist_count");
    int64_t raw_blob = sql_int(db, "SELECT total(length(data)) FROM chunks"
                                   " WHERE resolution_ms = 0");
    int64_t raw_n = sql_int(db, "SELECT total(count) FROM chunks WHERE resolution_ms = 0");
    int64_t roll_blob = sql_int(db, "SELECT total(length(data)) FROM chunks"
                                    " WHERE resolution_ms = 60000");
    int64_t roll_n = sql_int(db, "SELECT count(*) FROM chunks WHERE resolution_ms = 60000");
    int64_t staging = sql_int(db, "SELECT total(length(data)) FROM staging");
    struct stat sb;
    int64_t file_size = stat(path, &sb) == 0 ? (int64_t)sb.st_size : -1;

    printf("\ningest (store_append + store_tick, fake clock):\n");
    printf("  %" PRIu64 " samples in %.2f s CPU (%.2f s wall): %.2f M samples/s CPU, "
           "%.0f ns/sample; store_tick %.1f%% of CPU\n",
           samples, ingest_cpu, ingest_wall, (double)samples / ingest_cpu / 1e6,
           ingest_cpu * 1e9 / (double)samples, 100 * tick_cpu / ingest_cpu);
    printf("  flushes %" PRIu64 ", flush errors %" PRIu64 ", dropped %" PRIu64
           ", other errors %" PRIu64 ", store memory %.1f MiB\n",
           stats.flushes, stats.flush_errors, stats.samples_dropped, errors,
           (double)stats.memory_bytes / 1048576);

    printf("\non disk, after the last raw windows closed (%" PRId64 "-byte pages):\n", page_size);
    double stored = (double)(raw_n > 0 ? raw_n : 1);   /* retention may have removed some */
    printf("  file %.1f MiB / %" PRId64 " raw samples stored = %.3f bytes/sample (in-use pages:"
           " %.3f bytes/sample; %" PRId64 " free pages)\n",
           (double)file_size / 1048576, raw_n, (double)file_size / stored,
           (double)((pages - free_pages) * page_size) / stored, free_pages);
    printf("  raw chunk payload %.3f bytes/sample (%" PRId64 " samples in chunks); "
           "rollups %.1f KiB in %" PRId64 " chunks; staging %" PRId64 " bytes\n",
           (double)raw_blob / (double)(raw_n > 0 ? raw_n : 1), raw_n,
           (double)roll_blob / 1024, roll_n, staging);

    printf("\nwritten to disk (/proc/self/io write_bytes, open to final checkpoint):\n");
    printf("  %.1f MiB = %.2f bytes/sample (%.1f KiB per 10 s flush of %ld samples)\n",
           (double)(wb1 - wb0) / 1048576, (double)(wb1 - wb0) / (double)samples,
           (double)(wb1 - wb0) / 1024 / ((double)ticks / 10), nseries * 10);
    printf("  last quarter of the run (steady state): %.2f bytes/sample\n",
           (double)(wb1 - wb_q) / (double)samples_q);
    sqlite3_close(db);

    printf("\nqueries (one series, warm cache):\n");
    struct store_series *qs = g[0].s;
    time_query(st, qs, "one day, step 87 s", now - 86400000, now, 87000, 50);
    time_query(st, qs, "last hour, raw", now - 3600000, now, 0, 50);
    time_query(st, qs, "last 6 h, step 60 s (raw)", now - 6 * 3600000, now, 60000, 20);

    double tc = wall_s();
    store_close(st, now);
    double close_ms = (wall_s() - tc) * 1000;
    tc = wall_s();
    r = store_open(&cfg, now + 1000, &st, &err);
    double open_ms = (wall_s() - tc) * 1000;
    if (r < 0) {
        fprintf(stderr, "store_open: %s\n", err);
        return 1;
    }
    printf("\nclose %.1f ms; reopen (recovery + rollup replay) %.1f ms\n", close_ms, open_ms);
    qs = store_series_find(st, 1, metric_info(0)->name);
    if (qs)
        time_query(st, qs, "after reopen: one day, step 87 s", now - 86400000, now, 87000, 50);
    store_close(st, now + 2000);

    if (!keep) {
        char *p;
        const char *sfx[] = { "", "-wal", "-shm" };
        for (int i = 0; i < 3; i++) {
            p = xasprintf("%s%s", path, sfx[i]);
            unlink(p);
            free(p);
        }
        rmdir(tmpl);
    } else {
        printf("kept %s\n", path);
    }
    free(jitter);
    free(g);
    free(path);
    free(tmpl);
    return 0;
}
