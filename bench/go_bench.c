/* go_bench.c - what reading a Go target costs memwatchd: CPU per parse of each page the daemon
 * scrapes, and latency and CPU per scrape through the real scraper.  Prints figures, never
 * passes or fails.
 *
 * Part 1, parsers (daemon/expvar.h, promtext.h, pprof.h), CPU time of this process
 * (CLOCK_PROCESS_CPUTIME_ID) per parse, median and minimum of BATCHES batches of ~100 ms:
 *   - tests/data/expvar.json: a real Go 1.19 /debug/vars page, with expvar_parse;
 *   - tests/data/metrics.txt: a real client_golang /metrics page, with promtext_parse_go;
 *   - tests/data/heap.pb.gz: a real (small) Go heap profile, with pprof_parse;
 *   - a synthetic heap profile of a big service, built here with protobuf-c in the shape
 *     Go 1.19 writes (techref 4.1-4.2): sample types alloc_objects/count alloc_space/bytes
 *     inuse_objects/count inuse_space/bytes, period_type space/bytes, period 524288, a numeric
 *     "bytes" label per sample, 3 mappings, one Line per Location, ids dense from 1 in order
 *     of first use; --samples (1000) samples, each a stack of 10-20 frames, leaf first, ending
 *     in runtime.goexit or runtime.main, over a pool of --functions (1500) functions with Go
 *     names (std, third-party modules, the program's own packages) and 1-3 call sites each;
 *     gzip'd with zlib at level 1 (Go's gzip.BestSpeed).  Parsed both gzip'd (as served) and
 *     raw, so the cost of inflating shows.
 *   - then that profile stored --stores (60) times a minute apart with profstore_add into a
 *     fresh database (store_open, in $TMPDIR or /tmp), its values drifting between adds: CPU
 *     and wall per add (the first one inserts every site), blob and row bytes per profile,
 *     the site dictionary, and the footprint at memwatchd's profile retention.
 *
 * Part 2, the scraper (daemon/scrape.h), against a live Go program: memhog -addr 127.0.0.1:0
 * (its "listening on HOST:PORT" line gives the URL).  For /debug/vars, /debug/pprof/heap and
 * /debug/pprof/goroutine: 5 warm-up scrapes, then --scrapes (200) one after the other, each
 * scrape_submit -> poll(scrape_event_fd) -> scrape_take -> scrape_result_free.  Wall latency
 * per scrape (submit to take) as percentiles; daemon-side CPU per scrape = this process's CPU
 * time over the N scrapes / N (the scraper's worker thread, which fetches and parses, is in
 * this process); the target's CPU per scrape from /proc/PID/stat (clock ticks, so coarse).
 * Then what one Go target costs per hour at the default intervals (runtime_interval 10 s: vars
 * 360 times an hour; profile_interval 60 s: heap and goroutine 60 times each), storage not
 * included (bench/go_daemon_bench.sh measures the whole daemon).
 *
 * Usage: go_bench [--data DIR] [--memhog PATH] [--scrapes N] [--samples N] [--functions N]
 *                 [--stores N] [--write FILE]
 *   --data    directory with expvar.json, metrics.txt, heap.pb.gz (default
 *             $MEMWATCH_SRCDIR/tests/data, else next to this source file: ../tests/data)
 *   --memhog  the memhog binary (default $MEMWATCH_BUILDDIR or ".", + tests/targets/memhog/memhog);
 *             if it is missing, part 2 is skipped with a note
 *   --write   also save the synthetic profile (gzip'd) to FILE */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>
#include <zlib.h>

#include "expvar.h"
#include "gostats.h"
#include "pprof.h"
#include "profile.pb-c.h"
#include "profstore.h"
#include "promtext.h"
#include "scrape.h"
#include "store.h"
#include "util.h"

#define BATCHES 7
#define BATCH_CPU_S 0.1
#define MAX_INFLATED (16u << 20)    /* scrape.h's default max_inflated */

/* ---- clocks and small helpers ------------------------------------------------------------ */

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
static double cpu_s(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }
static double wall_s(void) { return clock_s(CLOCK_MONOTONIC); }

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)     /* splitmix64: the same profile on every run */
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static unsigned rndn(unsigned n) { return (unsigned)(rnd() % n); }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0, k;
    uint8_t *buf = xmalloc(cap);
    while ((k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap)
            buf = xreallocarray(buf, cap *= 2, 1);
    }
    fclose(f);
    *len = n;
    return buf;
}

/* ---- timing harness -------------------------------------------------------------------- */

typedef int (*op_fn)(void *arg);

struct timing {
    double cpu_med_us, cpu_min_us, wall_med_us;
    long iters;                 /* per batch */
};

/* BATCHES batches of ~BATCH_CPU_S CPU seconds each, after a calibration run. */
static int time_op(op_fn fn, void *arg, struct timing *t)
{
    long n = 0;
    double c0 = cpu_s();
    do {
        if (fn(arg) != 0)
            return -1;
        n++;
    } while (cpu_s() - c0 < 0.02);
    double per = (cpu_s() - c0) / (double)n;
    long iters = (long)(BATCH_CPU_S / per);
    if (iters < 1)
        iters = 1;
    double cpu[BATCHES], wall[BATCHES];
    for (int b = 0; b < BATCHES; b++) {
        double w0 = wall_s(), cc0 = cpu_s();
        for (long i = 0; i < iters; i++)
            if (fn(arg) != 0)
                return -1;
        cpu[b] = (cpu_s() - cc0) * 1e6 / (double)iters;
        wall[b] = (wall_s() - w0) * 1e6 / (double)iters;
    }
    qsort(cpu, BATCHES, sizeof cpu[0], cmp_double);
    qsort(wall, BATCHES, sizeof wall[0], cmp_double);
    t->cpu_med_us = cpu[BATCHES / 2];
    t->cpu_min_us = cpu[0];
    t->wall_med_us = wall[BATCHES / 2];
    t->iters = iters;
    return 0;
}

struct body { const uint8_t *p; size_t len; char err[256]; };

static int op_expvar(void *arg)
{
    struct body *b = arg;
    struct go_stats st;
    return expvar_parse((const char *)b->p, b->len, &st, b->err, sizeof b->err);
}

static int op_jansson(void *arg)    /* json_loadb alone: the tree expvar_parse starts from */
{
    struct body *b = arg;
    json_error_t jerr;
    json_t *root = json_loadb((const char *)b->p, b->len, 0, &jerr);
    if (!root) {
        snprintf(b->err, sizeof b->err, "%s", jerr.text);
        return -1;
    }
    json_decref(root);
    return 0;
}

static int op_promtext(void *arg)
{
    struct body *b = arg;
    struct go_stats st;
    return promtext_parse_go((const char *)b->p, b->len, &st, b->err, sizeof b->err);
}

static int op_pprof(void *arg)
{
    struct body *b = arg;
    struct pprof_profile *p = NULL;
    int rc = pprof_parse(b->p, b->len, MAX_INFLATED, PPROF_HEAP, &p, b->err, sizeof b->err);
    pprof_free(p);
    return rc;
}

static void print_row(const char *what, size_t bytes, const struct timing *t, const char *extra)
{
    printf("  %-34s %9zu %10.1f %10.1f %10.1f %8ld  %s\n", what, bytes, t->cpu_med_us,
           t->cpu_min_us, t->wall_med_us, t->iters, extra ? extra : "");
}

/* ---- the synthetic heap profile ------------------------------------------------------------ */

/* String table with lookup (open addressing on FNV-1a). */
struct strtab {
    char **s;
    size_t n, cap;
    int64_t *slot;              /* index + 1, 0 = empty */
    size_t nslot;
};

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h;
}

static int64_t str_id(struct strtab *t, const char *s)
{
    if (!t->slot) {
        t->nslot = 1 << 14;
        t->slot = xcalloc(t->nslot, sizeof *t->slot);
    }
    size_t i = fnv(s) & (t->nslot - 1);
    while (t->slot[i]) {
        if (strcmp(t->s[t->slot[i] - 1], s) == 0)
            return t->slot[i] - 1;
        i = (i + 1) & (t->nslot - 1);
    }
    if (t->n == t->cap)
        t->s = xreallocarray(t->s, t->cap = t->cap ? t->cap * 2 : 1024, sizeof *t->s);
    t->s[t->n] = xstrdup(s);
    t->slot[i] = (int64_t)++t->n;
    return (int64_t)(t->n - 1);
}

struct gopkg {
    const char *path;           /* import path */
    const char *dir;            /* directory of its files as the toolchain records them */
};

#define GOROOT "/usr/lib/go-1.19/src/"
#define MODCACHE "/home/ci/go/pkg/mod/"
#define OWN "/build/orders/"

static const struct gopkg pkgs[] = {
    { "bytes", GOROOT "bytes" }, { "strings", GOROOT "strings" },
    { "encoding/json", GOROOT "encoding/json" }, { "net/http", GOROOT "net/http" },
    { "bufio", GOROOT "bufio" }, { "reflect", GOROOT "reflect" }, { "sync", GOROOT "sync" },
    { "fmt", GOROOT "fmt" }, { "strconv", GOROOT "strconv" },
    { "compress/flate", GOROOT "compress/flate" }, { "compress/gzip", GOROOT "compress/gzip" },
    { "io", GOROOT "io" }, { "os", GOROOT "os" }, { "context", GOROOT "context" },
    { "time", GOROOT "time" }, { "crypto/tls", GOROOT "crypto/tls" }, { "net", GOROOT "net" },
    { "regexp", GOROOT "regexp" }, { "sort", GOROOT "sort" }, { "math/big", GOROOT "math/big" },
    { "encoding/binary", GOROOT "encoding/binary" }, { "text/template", GOROOT "text/template" },
    { "database/sql", GOROOT "database/sql" }, { "net/url", GOROOT "net/url" },
    { "mime/multipart", GOROOT "mime/multipart" }, { "encoding/base64", GOROOT "encoding/base64" },
    { "google.golang.org/grpc", MODCACHE "google.golang.org/grpc@v1.56.3" },
    { "google.golang.org/grpc/internal/transport",
      MODCACHE "google.golang.org/grpc@v1.56.3/internal/transport" },
    { "google.golang.org/protobuf/internal/impl",
      MODCACHE "google.golang.org/protobuf@v1.31.0/internal/impl" },
    { "google.golang.org/protobuf/proto", MODCACHE "google.golang.org/protobuf@v1.31.0/proto" },
    { "github.com/prometheus/client_golang/prometheus",
      MODCACHE "github.com/prometheus/client_golang@v1.16.0/prometheus" },
    { "go.uber.org/zap", MODCACHE "go.uber.org/zap@v1.24.0" },
    { "go.uber.org/zap/zapcore", MODCACHE "go.uber.org/zap@v1.24.0/zapcore" },
    { "github.com/jackc/pgx/v5/pgconn", MODCACHE "github.com/jackc/pgx/v5@v5.4.3/pgconn" },
    { "github.com/jackc/pgx/v5/pgtype", MODCACHE "github.com/jackc/pgx/v5@v5.4.3/pgtype" },
    { "golang.org/x/net/http2", MODCACHE "golang.org/x/net@v0.12.0/http2" },
    { "golang.org/x/net/http2/hpack", MODCACHE "golang.org/x/net@v0.12.0/http2/hpack" },
    { "github.com/redis/go-redis/v9/internal/pool",
      MODCACHE "github.com/redis/go-redis/v9@v9.0.5/internal/pool" },
    { "github.com/go-chi/chi/v5", MODCACHE "github.com/go-chi/chi/v5@v5.0.8" },
    { "github.com/klauspost/compress/zstd", MODCACHE "github.com/klauspost/compress@v1.16.7/zstd" },
    { "main", OWN "cmd/orders" },
    { "github.com/acme/orders/internal/cache", OWN "internal/cache" },
    { "github.com/acme/orders/internal/store", OWN "internal/store" },
    { "github.com/acme/orders/internal/api", OWN "internal/api" },
    { "github.com/acme/orders/internal/billing", OWN "internal/billing" },
    { "github.com/acme/orders/internal/events", OWN "internal/events" },
    { "github.com/acme/orders/pkg/model", OWN "pkg/model" },
};
#define NPKGS (sizeof pkgs / sizeof pkgs[0])

/* Known allocators: the usual leaves of a Go heap profile (runtime frames already trimmed). */
static const struct { const char *name, *file; } allocators[] = {
    { "bytes.makeSlice", GOROOT "bytes/buffer.go" },
    { "bytes.(*Buffer).grow", GOROOT "bytes/buffer.go" },
    { "strings.(*Builder).grow", GOROOT "strings/builder.go" },
    { "strings.genSplit", GOROOT "strings/strings.go" },
    { "encoding/json.(*decodeState).literalStore", GOROOT "encoding/json/decode.go" },
    { "encoding/json.(*decodeState).object", GOROOT "encoding/json/decode.go" },
    { "encoding/json.Marshal", GOROOT "encoding/json/encode.go" },
    { "reflect.New", GOROOT "reflect/value.go" },
    { "reflect.MakeSlice", GOROOT "reflect/value.go" },
    { "reflect.unsafe_NewArray", GOROOT "runtime/malloc.go" },
    { "bufio.NewReaderSize", GOROOT "bufio/bufio.go" },
    { "bufio.NewWriterSize", GOROOT "bufio/bufio.go" },
    { "net/http.(*conn).readRequest", GOROOT "net/http/server.go" },
    { "net/http.Header.Clone", GOROOT "net/http/header.go" },
    { "net/textproto.(*Reader).ReadMIMEHeader", GOROOT "net/textproto/reader.go" },
    { "compress/flate.NewWriter", GOROOT "compress/flate/deflate.go" },
    { "compress/flate.(*compressor).init", GOROOT "compress/flate/deflate.go" },
    { "fmt.Sprintf", GOROOT "fmt/print.go" },
    { "regexp.compile", GOROOT "regexp/regexp.go" },
    { "context.WithCancel", GOROOT "context/context.go" },
    { "time.NewTimer", GOROOT "time/sleep.go" },
    { "sync.(*Pool).Get", GOROOT "sync/pool.go" },
    { "crypto/tls.(*Conn).readRecordOrCCS", GOROOT "crypto/tls/conn.go" },
    { "runtime.malg", GOROOT "runtime/proc.go" },
    { "runtime.allocm", GOROOT "runtime/proc.go" },
    { "google.golang.org/protobuf/internal/impl.consumeBytes",
      MODCACHE "google.golang.org/protobuf@v1.31.0/internal/impl/codec_gen.go" },
    { "google.golang.org/grpc/internal/transport.newBufWriter",
      MODCACHE "google.golang.org/grpc@v1.56.3/internal/transport/http_util.go" },
    { "golang.org/x/net/http2/hpack.(*Decoder).readString",
      MODCACHE "golang.org/x/net@v0.12.0/http2/hpack/hpack.go" },
    { "github.com/jackc/pgx/v5/pgconn.(*PgConn).receiveMessage",
      MODCACHE "github.com/jackc/pgx/v5@v5.4.3/pgconn/pgconn.go" },
    { "github.com/acme/orders/internal/cache.(*LRU).Put", OWN "internal/cache/lru.go" },
    { "github.com/acme/orders/internal/cache.newShard", OWN "internal/cache/shard.go" },
    { "github.com/acme/orders/internal/store.(*Store).loadOrders", OWN "internal/store/orders.go" },
    { "main.(*server).handleOrder", OWN "cmd/orders/server.go" },
};
#define NALLOCATORS (sizeof allocators / sizeof allocators[0])

static const char *types[] = { "Client", "Server", "conn", "Decoder", "Encoder", "Buffer", "Pool",
    "Store", "Cache", "Handler", "Reader", "Writer", "Builder", "decodeState", "Stream", "Txn",
    "Batch", "Row", "Frame", "Tx", "session", "shard", "Registry", "Codec", "loopyWriter" };
static const char *verbs[] = { "read", "write", "decode", "encode", "handle", "process", "load",
    "store", "build", "parse", "new", "grow", "append", "marshal", "unmarshal", "flush", "dial",
    "serve", "fetch", "insert", "lookup", "scan", "collect", "emit", "apply", "validate" };
static const char *nouns[] = { "Request", "Response", "Frame", "Header", "Buffer", "Entry",
    "Batch", "Row", "Message", "Conn", "Stream", "Token", "Key", "Value", "Field", "Slice", "Map",
    "Chunk", "Order", "Invoice", "Event", "Record", "Page", "Query", "" };
static const char *stems[] = { "server", "client", "conn", "decode", "encode", "buffer", "pool",
    "types", "handler", "reader", "writer", "util", "transport", "codec", "cache", "query" };

struct gofunc {
    char *name, *file;
    int64_t start_line;
    int nsites;                 /* call sites (Locations) it has: 1-3 */
    int64_t site_line[3];
    uint64_t loc_id[3];         /* 0 until used */
    uint64_t id;                /* 0 until used */
};

struct synth {
    uint8_t *gz, *raw;
    size_t gz_len, raw_len;
    size_t nsamples, nlocations, nfunctions, nstrings, nframes;
    int64_t inuse_bytes;
};

static bool name_taken(struct gofunc *f, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i].name, name) == 0)
            return true;
    return false;
}

static void make_functions(struct gofunc *f, size_t nf)
{
    size_t i = 0;
    f[i].name = xstrdup("runtime.goexit");
    f[i++].file = xstrdup(GOROOT "runtime/asm_amd64.s");
    f[i].name = xstrdup("runtime.main");
    f[i++].file = xstrdup(GOROOT "runtime/proc.go");
    for (size_t a = 0; a < NALLOCATORS && i < nf; a++, i++) {
        f[i].name = xstrdup(allocators[a].name);
        f[i].file = xstrdup(allocators[a].file);
    }
    while (i < nf) {
        const struct gopkg *p = &pkgs[rndn(NPKGS)];
        const char *verb = verbs[rndn(sizeof verbs / sizeof verbs[0])];
        const char *noun = nouns[rndn(sizeof nouns / sizeof nouns[0])];
        char fname[96], recv[48] = "", closure[16] = "";
        snprintf(fname, sizeof fname, "%s%s", verb, noun);
        if (rndn(2))
            fname[0] = (char)(fname[0] - 'a' + 'A');        /* exported */
        unsigned r = rndn(10);
        if (r < 5)
            snprintf(recv, sizeof recv, "(*%s).", types[rndn(sizeof types / sizeof types[0])]);
        else if (r < 6)
            snprintf(recv, sizeof recv, "%s.", types[rndn(sizeof types / sizeof types[0])]);
        if (rndn(8) == 0)
            snprintf(closure, sizeof closure, ".func%u", 1 + rndn(4));
        char *name = xasprintf("%s.%s%s%s", p->path, recv, fname, closure);
        if (name_taken(f, i, name)) {
            free(name);
            continue;
        }
        const char *last = strrchr(p->path, '/') ? strrchr(p->path, '/') + 1 : p->path;
        unsigned s = rndn(sizeof stems / sizeof stems[0] + 3);
        f[i].file = s < sizeof stems / sizeof stems[0] ? xasprintf("%s/%s.go", p->dir, stems[s])
                                                       : xasprintf("%s/%s.go", p->dir, last);
        f[i++].name = name;
    }
    for (i = 0; i < nf; i++) {
        f[i].start_line = 20 + rndn(1500);
        f[i].nsites = 1 + (int)rndn(3);
        for (int k = 0; k < f[i].nsites; k++)
            f[i].site_line[k] = f[i].start_line + 3 + k * 9 + rndn(8);
    }
}

/* Builds the profile; 0 or -1. */
static int build_profile(size_t nsamples, size_t nf, struct synth *out)
{
    typedef Perftools__Profiles__Profile Profile;
    typedef Perftools__Profiles__ValueType ValueType;
    typedef Perftools__Profiles__Sample Sample;
    typedef Perftools__Profiles__Label Label;
    typedef Perftools__Profiles__Mapping Mapping;
    typedef Perftools__Profiles__Location Location;
    typedef Perftools__Profiles__Line Line;
    typedef Perftools__Profiles__Function Function;

    if (nf < NALLOCATORS + 50)
        nf = NALLOCATORS + 50;
    struct gofunc *f = xcalloc(nf, sizeof *f);
    make_functions(f, nf);

    struct strtab st = { 0 };
    str_id(&st, "");
    Profile prof = PERFTOOLS__PROFILES__PROFILE__INIT;

    static const char *stype[4][2] = { { "alloc_objects", "count" }, { "alloc_space", "bytes" },
                                       { "inuse_objects", "count" }, { "inuse_space", "bytes" } };
    ValueType vt[4], period_type = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
    ValueType *vtp[4];
    for (int i = 0; i < 4; i++) {
        vt[i] = (ValueType)PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
        vt[i].type = str_id(&st, stype[i][0]);
        vt[i].unit = str_id(&st, stype[i][1]);
        vtp[i] = &vt[i];
    }
    prof.n_sample_type = 4;
    prof.sample_type = vtp;

    /* Entry chains: the shared root ends of stacks (goroutine entry points, the main path). */
    enum { NCHAINS = 40, MAXCHAIN = 6 };
    size_t chain[NCHAINS][MAXCHAIN], chainlen[NCHAINS];
    for (int c = 0; c < NCHAINS; c++) {
        chainlen[c] = 3 + rndn(4);
        chain[c][0] = rndn(10) == 0 ? 1 : 0;            /* runtime.main or runtime.goexit */
        for (size_t k = 1; k < chainlen[c]; k++)
            chain[c][k] = 2 + NALLOCATORS + rndn((unsigned)(nf - 2 - NALLOCATORS));
    }

    /* Samples, leaf first.  Functions and locations get ids in order of first use, as Go's
     * profile builder hands them out. */
    Sample *samples = xcalloc(nsamples, sizeof *samples);
    Sample **samplep = xcalloc(nsamples, sizeof *samplep);
    Label *labels = xcalloc(nsamples, sizeof *labels);
    Label **labelp = xcalloc(nsamples, sizeof *labelp);
    int64_t *values = xcalloc(nsamples * 4, sizeof *values);
    uint64_t *locids = xcalloc(nsamples * 20, sizeof *locids);
    size_t maxloc = nf * 3, nloc = 0, nfun = 0;
    Location *locs = xcalloc(maxloc, sizeof *locs);
    Location **locp = xcalloc(maxloc, sizeof *locp);
    Line *lines = xcalloc(maxloc, sizeof *lines);
    Line **linep = xcalloc(maxloc, sizeof *linep);
    Function *funs = xcalloc(nf, sizeof *funs);
    Function **funp = xcalloc(nf, sizeof *funp);
    int64_t label_key = str_id(&st, "bytes");
    static const int64_t sizes[] = { 8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 160, 192, 256, 320,
        384, 512, 640, 896, 1024, 1280, 2048, 3072, 4096, 8192, 16384, 32768, 65536, 1 << 20 };
    size_t nframes = 0;
    int64_t inuse_total = 0;

    for (size_t s = 0; s < nsamples; s++) {
        size_t depth = 10 + rndn(11), c = rndn(NCHAINS);
        size_t frames[24], nfr = 0;
        /* leaf: a known allocator half of the time, else any function */
        frames[nfr++] = rndn(2) ? 2 + rndn(NALLOCATORS) : 2 + rndn((unsigned)(nf - 2));
        while (nfr < depth - chainlen[c])
            frames[nfr++] = 2 + rndn((unsigned)(nf - 2));
        for (size_t k = chainlen[c]; k-- > 0;)
            frames[nfr++] = chain[c][k];
        Sample *sm = &samples[s];
        *sm = (Sample)PERFTOOLS__PROFILES__SAMPLE__INIT;
        sm->location_id = &locids[s * 20];
        for (size_t k = 0; k < nfr && k < 20; k++) {
            struct gofunc *g = &f[frames[k]];
            int site = (int)rndn((unsigned)g->nsites);
            if (!g->id) {
                Function *fn = &funs[nfun];
                *fn = (Function)PERFTOOLS__PROFILES__FUNCTION__INIT;
                g->id = fn->id = ++nfun;
                fn->name = fn->system_name = str_id(&st, g->name);
                fn->filename = str_id(&st, g->file);
                fn->start_line = g->start_line;
                funp[nfun - 1] = fn;
            }
            if (!g->loc_id[site]) {
                Location *l = &locs[nloc];
                Line *ln = &lines[nloc];
                *l = (Location)PERFTOOLS__PROFILES__LOCATION__INIT;
                *ln = (Line)PERFTOOLS__PROFILES__LINE__INIT;
                ln->function_id = g->id;
                ln->line = g->site_line[site];
                linep[nloc] = ln;
                l->n_line = 1;
                l->line = &linep[nloc];
                l->mapping_id = 1;
                l->address = 0x401000 + (uint64_t)(g - f) * 0x240 + (uint64_t)site * 0x1c + 5;
                g->loc_id[site] = l->id = ++nloc;
                locp[nloc - 1] = l;
            }
            sm->location_id[sm->n_location_id++] = g->loc_id[site];
        }
        nframes += sm->n_location_id;
        int64_t size = sizes[rndn(sizeof sizes / sizeof sizes[0])];
        uint64_t r = rnd();
        /* unsampled estimates, heavy-tailed: a few hundred MiB in use over the profile */
        int64_t objs = 1 + (int64_t)((r % 4096) * (r % 4096) / (size > 4096 ? 1048576 : 4096));
        int64_t in = objs * (int64_t)rndn(101) / 100;
        int64_t *v = &values[s * 4];
        v[0] = objs;
        v[1] = objs * size;
        v[2] = in;
        v[3] = in * size;
        inuse_total += v[3];
        sm->n_value = 4;
        sm->value = v;
        labels[s] = (Label)PERFTOOLS__PROFILES__LABEL__INIT;
        labels[s].key = label_key;
        labels[s].num = size;
        labelp[s] = &labels[s];
        sm->n_label = 1;
        sm->label = &labelp[s];
        samplep[s] = sm;
    }
    prof.n_sample = nsamples;
    prof.sample = samplep;
    prof.n_location = nloc;
    prof.location = locp;
    prof.n_function = nfun;
    prof.function = funp;

    Mapping maps[3];
    Mapping *mapp[3];
    static const char *mapfile[3] = { "/usr/local/bin/orders", "/usr/lib/x86_64-linux-gnu/libc.so.6",
                                      "[vdso]" };
    static const uint64_t mapstart[3] = { 0x400000, 0x7f3a1c000000, 0x7ffd8e5f4000 };
    for (int i = 0; i < 3; i++) {
        maps[i] = (Mapping)PERFTOOLS__PROFILES__MAPPING__INIT;
        maps[i].id = (uint64_t)i + 1;
        maps[i].memory_start = mapstart[i];
        maps[i].memory_limit = mapstart[i] + (i == 0 ? 0x1a00000 : i == 1 ? 0x195000 : 0x2000);
        maps[i].file_offset = i == 1 ? 0x28000 : 0;
        maps[i].filename = str_id(&st, mapfile[i]);
        maps[i].build_id = i == 2 ? 0 : str_id(&st, i == 0 ? "c1a29d0e84f3b7b6d57f0a0e5c1e9b2b3f6d4a17"
                                                          : "8d2a7e4c1b0f9e6d3a5c7b9e1f2d4a6c8e0b3d5f");
        maps[i].has_functions = i == 0;
        maps[i].has_filenames = maps[i].has_line_numbers = false;
        mapp[i] = &maps[i];
    }
    prof.n_mapping = 3;
    prof.mapping = mapp;

    period_type.type = str_id(&st, "space");
    period_type.unit = str_id(&st, "bytes");
    prof.period_type = &period_type;
    prof.period = 524288;
    prof.time_nanos = (int64_t)time(NULL) * 1000000000;
    prof.n_string_table = st.n;
    prof.string_table = st.s;

    out->raw_len = perftools__profiles__profile__get_packed_size(&prof);
    out->raw = xmalloc(out->raw_len);
    perftools__profiles__profile__pack(&prof, out->raw);

    /* gzip, level 1: Go's pprof writer uses gzip.BestSpeed */
    z_stream zs = { 0 };
    int rc = deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    if (rc == Z_OK) {
        size_t cap = deflateBound(&zs, (uLong)out->raw_len);
        out->gz = xmalloc(cap);
        zs.next_in = out->raw;
        zs.avail_in = (uInt)out->raw_len;
        zs.next_out = out->gz;
        zs.avail_out = (uInt)cap;
        rc = deflate(&zs, Z_FINISH);
        out->gz_len = cap - zs.avail_out;
        deflateEnd(&zs);
    }

    out->nsamples = nsamples;
    out->nlocations = nloc;
    out->nfunctions = nfun;
    out->nstrings = st.n;
    out->nframes = nframes;
    out->inuse_bytes = inuse_total;

    for (size_t i = 0; i < nf; i++) {
        free(f[i].name);
        free(f[i].file);
    }
    for (size_t i = 0; i < st.n; i++)
        free(st.s[i]);
    free(st.s);
    free(st.slot);
    free(f);
    free(samples), free(samplep), free(labels), free(labelp), free(values), free(locids);
    free(locs), free(locp), free(lines), free(linep), free(funs), free(funp);
    return rc == Z_STREAM_END ? 0 : -1;
}

/* ---- part 1b: storing the synthetic profile (profstore.h) ------------------------------- */

static double sql_double(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q;
    double v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL)
        v = sqlite3_column_double(q, 0);
    sqlite3_finalize(q);
    return v;
}

/* Stores the profile nadds times, a minute apart, into a fresh database the way memwatchd
 * does (store_open migrates, profstore_add writes), with the values drifting between adds. */
static void bench_profstore(const uint8_t *gz, size_t gzlen, int nadds)
{
    const char *tmp = getenv("TMPDIR");
    char *dir = xasprintf("%s/go_bench.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        printf("  profstore: cannot make a directory under %s\n", tmp && tmp[0] ? tmp : "/tmp");
        free(dir);
        return;
    }
    char *path = xasprintf("%s/memwatch.db", dir);
    struct store *st = NULL;
    struct profstore *ps = NULL;
    struct pprof_profile *p = NULL;
    char *err = NULL, perr[256];
    int64_t t0 = now_wall_ms() - (int64_t)nadds * 60000;
    struct store_config sc = { .path = path };
    struct target_record rec = { .selector = SELECTOR_MATCH, .created_ms = t0,
                                 .state_changed_ms = t0 };
    snprintf(rec.name, sizeof rec.name, "svc");
    snprintf(rec.pattern, sizeof rec.pattern, "^svc$");
    /* memwatchd's setting (main.c): every profile for 3 h, then one per 30 min, 30 days */
    struct profstore_config pc = { .path = path, .full_retention_ms = 3 * 3600 * 1000LL };
    double *cpu = xcalloc((size_t)nadds, sizeof *cpu), *wall = xcalloc((size_t)nadds, sizeof *wall);
    int r;
    if ((r = store_open(&sc, t0, &st, &err)) != 0 || (r = store_target_add(st, &rec)) != 0 ||
        (r = profstore_open(&pc, &ps, &err)) != 0) {
        printf("  profstore: setup failed: %s\n", err ? err : strerror(-r));
        goto out;
    }
    if (pprof_parse(gz, gzlen, MAX_INFLATED, PPROF_HEAP, &p, perr, sizeof perr) != 0) {
        printf("  profstore: %s\n", perr);
        goto out;
    }
    int i;
    for (i = 0; i < nadds; i++) {
        if (i > 0) {    /* drift: allocations only grow, in-use moves a little either way */
            for (size_t k = 0; k < p->nsites; k++) {
                int64_t *v = p->sites[k].v;
                int64_t size = v[PV_ALLOC_OBJECTS] ? v[PV_ALLOC_BYTES] / v[PV_ALLOC_OBJECTS] : 1;
                int64_t more = (int64_t)rndn(50), in = v[PV_INUSE_OBJECTS] + (int64_t)rndn(21) - 10;
                v[PV_ALLOC_OBJECTS] += more;
                v[PV_ALLOC_BYTES] += more * size;
                if (in < 0)
                    in = 0;
                if (in > v[PV_ALLOC_OBJECTS])
                    in = v[PV_ALLOC_OBJECTS];
                v[PV_INUSE_OBJECTS] = in;
                v[PV_INUSE_BYTES] = in * size;
            }
        }
        double c0 = cpu_s(), w0 = wall_s();
        r = profstore_add(ps, rec.id, PPROF_HEAP, t0 + (int64_t)i * 60000, p);
        cpu[i] = (cpu_s() - c0) * 1e6;
        wall[i] = (wall_s() - w0) * 1e6;
        if (r != 0) {
            printf("  profstore_add failed: %s\n", profstore_errmsg(ps));
            goto out;
        }
    }
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        double blob = sql_double(db, "SELECT avg(length(blob)) FROM profiles");
        double nsites = sql_double(db, "SELECT count(*) FROM profile_sites");
        double rowpl = sql_double(db, "SELECT sum(payload) FROM dbstat WHERE name IN "
                                      "('profiles', 'profiles_time')");
        double sitepl = sql_double(db, "SELECT sum(payload) FROM dbstat WHERE name IN "
                                       "('profile_sites', 'sqlite_autoindex_profile_sites_1')");
        double first_cpu = cpu[0], first_wall = wall[0];
        qsort(cpu + 1, (size_t)nadds - 1, sizeof *cpu, cmp_double);
        qsort(wall + 1, (size_t)nadds - 1, sizeof *wall, cmp_double);
        printf("  profstore_add, 1st (all %zu sites new): %8.0f us CPU, %8.0f us wall\n", p->nsites,
               first_cpu, first_wall);
        if (nadds > 1)
            printf("  profstore_add, next %d (known sites):   %8.0f us CPU, %8.0f us wall (medians)\n",
                   nadds - 1, cpu[1 + (nadds - 1) / 2], wall[1 + (nadds - 1) / 2]);
        if (rowpl > 0) {
            double row = rowpl / nadds;     /* row + index payload, blob included */
            double kept = 3 * 60 + (30 * 24 - 3) * 2;   /* 3 h of 60 s, then 1 per 30 min */
            printf("  stored: blob %.0f B a profile, %.0f B with its row and index; site dictionary "
                   "%.0f rows, %.1f KiB\n", blob, row, nsites, sitepl / 1024);
            printf("  at memwatchd's retention (%.0f heap profiles kept): %.2f MiB per target, "
                   "%.0f KiB a day of history (+ as many goroutine profiles)\n",
                   kept, (kept * row + sitepl) / 1048576, 48 * row / 1024);
        } else {
            printf("  stored: blob %.0f B a profile; site dictionary %.0f rows (no dbstat here)\n",
                   blob, nsites);
        }
    }
    sqlite3_close(db);
out:
    pprof_free(p);
    profstore_close(ps);
    store_close(st, now_wall_ms());
    free(err);
    free(cpu);
    free(wall);
    static const char *const suffix[] = { "", "-wal", "-shm", "-journal" };
    for (size_t k = 0; k < 4; k++) {
        char *f = xasprintf("%s%s", path, suffix[k]);
        unlink(f);
        free(f);
    }
    rmdir(dir);
    free(path);
    free(dir);
}

/* ---- part 2: scraping a live memhog ------------------------------------------------------ */

static pid_t hog_pid = -1;
static int hog_out = -1;        /* kept open: a Go program dies of SIGPIPE on stdout */

static void stop_hog(void)
{
    if (hog_pid > 0) {
        kill(hog_pid, SIGTERM);
        for (int i = 0; i < 50; i++) {
            if (waitpid(hog_pid, NULL, WNOHANG) == hog_pid) {
                hog_pid = -1;
                break;
            }
            usleep(20000);
        }
        if (hog_pid > 0) {
            kill(hog_pid, SIGKILL);
            waitpid(hog_pid, NULL, 0);
        }
        hog_pid = -1;
    }
    if (hog_out >= 0)
        close(hog_out);
    hog_out = -1;
}

static void on_signal(int sig)
{
    if (hog_pid > 0)
        kill(hog_pid, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Starts memhog -addr 127.0.0.1:0; fills base ("http://HOST:PORT").  0 or -1. */
static int start_hog(const char *path, char *base, size_t baselen)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    hog_pid = fork();
    if (hog_pid < 0)
        return -1;
    if (hog_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);       /* never outlive a crashed bench */
        dup2(fds[1], STDOUT_FILENO);
        execl(path, path, "-addr", "127.0.0.1:0", (char *)NULL);
        fprintf(stderr, "go_bench: cannot run %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    hog_out = fds[0];
    char line[256];
    size_t n = 0;
    int64_t deadline = now_mono_ms() + 10000;
    while (!memchr(line, '\n', n) && n < sizeof line - 1) {
        struct pollfd p = { .fd = hog_out, .events = POLLIN };
        int64_t left = deadline - now_mono_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t k = read(hog_out, line + n, sizeof line - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    line[n] = '\0';
    char hostport[100];
    if (sscanf(line, "listening on %99s", hostport) != 1) {
        fprintf(stderr, "go_bench: %s did not say where it listens (got \"%s\")\n", path, line);
        return -1;
    }
    snprintf(base, baselen, "http://%s", hostport);
    return 0;
}

static long proc_ticks(pid_t pid)   /* utime + stime, clock ticks */
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut, stt;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stt) != 2)
        return -1;
    return (long)(ut + stt);
}

struct scrape_fig {
    bool done;
    int errors;
    char first_error[256];
    size_t body_bytes, nsites;
    double p50_ms, p90_ms, p99_ms, max_ms, mean_ms;
    double cpu_us;              /* this process, per scrape */
    double target_cpu_ms;       /* memhog, per scrape */
};

/* One scrape, start to result; latency in ms, or -1 if it never came back. */
static double scrape_once(struct scraper *sc, const struct scrape_request *req,
                          struct scrape_fig *fig)
{
    double t0 = wall_s();
    if (scrape_submit(sc, req) != 0)
        return -1;
    struct scrape_result *r = NULL;
    while (!r) {
        struct pollfd p = { .fd = scrape_event_fd(sc), .events = POLLIN };
        if (poll(&p, 1, 10000) <= 0)
            return -1;
        r = scrape_take(sc);
    }
    double ms = (wall_s() - t0) * 1e3;
    fig->body_bytes = r->body_bytes;
    fig->nsites = r->profile ? r->profile->nsites : 0;
    if (r->error) {
        if (!fig->errors++)
            snprintf(fig->first_error, sizeof fig->first_error, "%s", r->message);
    }
    scrape_result_free(r);
    return ms;
}

static void scrape_bench(struct scraper *sc, const char *base, enum scrape_kind kind,
                         const char *path, int n, struct scrape_fig *fig)
{
    struct scrape_request req = { .target_id = 1, .kind = kind };
    snprintf(req.url, sizeof req.url, "%s%s", base, path);
    memset(fig, 0, sizeof *fig);
    for (int i = 0; i < 5; i++)
        if (scrape_once(sc, &req, fig) < 0)
            return;
    fig->errors = 0;
    double *lat = xcalloc((size_t)n, sizeof *lat), sum = 0;
    long t0 = proc_ticks(hog_pid);
    double c0 = cpu_s();
    for (int i = 0; i < n; i++) {
        if ((lat[i] = scrape_once(sc, &req, fig)) < 0) {
            free(lat);
            return;
        }
        sum += lat[i];
    }
    double cpu = cpu_s() - c0;
    long t1 = proc_ticks(hog_pid);
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    fig->p50_ms = lat[n / 2];
    fig->p90_ms = lat[n * 9 / 10];
    fig->p99_ms = lat[n * 99 / 100 < n ? n * 99 / 100 : n - 1];
    fig->max_ms = lat[n - 1];
    fig->mean_ms = sum / n;
    fig->cpu_us = cpu * 1e6 / n;
    fig->target_cpu_ms = t0 >= 0 && t1 >= 0
        ? (double)(t1 - t0) * 1e3 / (double)sysconf(_SC_CLK_TCK) / n : -1;
    fig->done = true;
    free(lat);
}

/* ---- main ---------------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr, "usage: go_bench [--data DIR] [--memhog PATH] [--scrapes N] [--samples N] "
                    "[--functions N] [--stores N] [--write FILE]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *data = NULL, *memhog = NULL, *write_to = NULL;
    int nscrapes = 200, nstores = 60;
    long nsamples = 1000, nfunctions = 1500;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strcmp(argv[i], "--memhog") == 0 && i + 1 < argc)
            memhog = argv[++i];
        else if (strcmp(argv[i], "--scrapes") == 0 && i + 1 < argc)
            nscrapes = atoi(argv[++i]);
        else if (strcmp(argv[i], "--samples") == 0 && i + 1 < argc)
            nsamples = atol(argv[++i]);
        else if (strcmp(argv[i], "--functions") == 0 && i + 1 < argc)
            nfunctions = atol(argv[++i]);
        else if (strcmp(argv[i], "--stores") == 0 && i + 1 < argc)
            nstores = atoi(argv[++i]);
        else if (strcmp(argv[i], "--write") == 0 && i + 1 < argc)
            write_to = argv[++i];
        else
            usage();
    }
    if (nscrapes < 1 || nsamples < 1 || nfunctions < 1 || nstores < 1)
        usage();

    char *data_dir, *hog_path;
    const char *env;
    if (data)
        data_dir = xstrdup(data);
    else if ((env = getenv("MEMWATCH_SRCDIR")) && env[0])
        data_dir = xasprintf("%s/tests/data", env);
    else {
        const char *slash = strrchr(__FILE__, '/');
        data_dir = slash ? xasprintf("%.*s/../tests/data", (int)(slash - __FILE__), __FILE__)
                         : xstrdup("../tests/data");
    }
    if (memhog)
        hog_path = xstrdup(memhog);
    else {
        env = getenv("MEMWATCH_BUILDDIR");
        hog_path = xasprintf("%s/tests/targets/memhog/memhog", env && env[0] ? env : ".");
    }

    struct utsname un;
    uname(&un);
    printf("memwatch Go scraping benchmark - %ld CPUs, %s %s\n", sysconf(_SC_NPROCESSORS_ONLN),
           un.sysname, un.release);
    printf("CPU = CLOCK_PROCESS_CPUTIME_ID per parse, median and minimum of %d batches of ~%.0f ms "
           "(wall: median)\n\n", BATCHES, BATCH_CPU_S * 1e3);

    /* ---- part 1 ---- */
    printf("1. Parsers, one call each\n");
    printf("  %-34s %9s %10s %10s %10s %8s  %s\n", "input", "bytes", "CPU us", "min us",
           "wall us", "iters", "result");
    struct timing t;
    char extra[320];
    static const struct { const char *file, *label; op_fn fn; } real[] = {
        { "expvar.json", "expvar_parse  expvar.json", op_expvar },
        { "expvar.json", "  of which json_loadb (jansson)", op_jansson },
        { "metrics.txt", "promtext_parse_go  metrics.txt", op_promtext },
        { "heap.pb.gz", "pprof_parse  heap.pb.gz (real)", op_pprof },
    };
    for (size_t i = 0; i < sizeof real / sizeof real[0]; i++) {
        char *path = xasprintf("%s/%s", data_dir, real[i].file);
        struct body b = { 0 };
        uint8_t *buf = read_file(path, &b.len);
        if (!buf) {
            printf("  %-34s missing: %s: %s\n", real[i].label, path, strerror(errno));
            free(path);
            continue;
        }
        b.p = buf;
        if (time_op(real[i].fn, &b, &t) != 0) {
            printf("  %-34s parse failed: %s\n", real[i].label, b.err);
        } else {
            extra[0] = '\0';
            if (real[i].fn == op_pprof) {
                struct pprof_profile *p = NULL;
                if (pprof_parse(b.p, b.len, MAX_INFLATED, PPROF_HEAP, &p, b.err, sizeof b.err) == 0)
                    snprintf(extra, sizeof extra, "%zu sites", p->nsites);
                pprof_free(p);
            } else if (b.err[0]) {
                snprintf(extra, sizeof extra, "(%s)", b.err);
            }
            print_row(real[i].label, b.len, &t, extra);
        }
        free(buf);
        free(path);
    }

    struct synth sy = { 0 };
    double g0 = cpu_s();
    int brc = build_profile((size_t)nsamples, (size_t)nfunctions, &sy);
    double build_ms = (cpu_s() - g0) * 1e3;
    if (brc != 0) {
        printf("  synthetic heap profile: gzip failed\n");
    } else {
        if (write_to) {
            FILE *f = fopen(write_to, "wb");
            if (!f || fwrite(sy.gz, 1, sy.gz_len, f) != sy.gz_len || fclose(f) != 0)
                fprintf(stderr, "go_bench: cannot write %s\n", write_to);
        }
        struct body gz = { .p = sy.gz, .len = sy.gz_len }, raw = { .p = sy.raw, .len = sy.raw_len };
        struct pprof_profile *p = NULL;
        char err[256];
        if (pprof_parse(sy.gz, sy.gz_len, MAX_INFLATED, PPROF_HEAP, &p, err, sizeof err) != 0) {
            printf("  synthetic heap profile: pprof_parse refused it: %s\n", err);
        } else {
            snprintf(extra, sizeof extra, "%zu sites, inuse total %s", p->nsites,
                     p->total[PV_INUSE_BYTES] == sy.inuse_bytes ? "matches" : "DIFFERS");
            pprof_free(p);
            if (time_op(op_pprof, &gz, &t) == 0)
                print_row("pprof_parse  synthetic heap, gzip", sy.gz_len, &t, extra);
            if (time_op(op_pprof, &raw, &t) == 0)
                print_row("pprof_parse  synthetic heap, raw", sy.raw_len, &t, "(no inflate)");
        }
        printf("  synthetic heap profile: %zu samples, %zu frames (%.1f a stack), %zu locations, "
               "%zu functions, %zu strings;\n    raw %zu B (%.1f KiB), gzip -1 %zu B (%.1f KiB, %.0f%%); "
               "built in %.1f ms\n",
               sy.nsamples, sy.nframes, (double)sy.nframes / (double)sy.nsamples, sy.nlocations,
               sy.nfunctions, sy.nstrings, sy.raw_len, sy.raw_len / 1024.0, sy.gz_len,
               sy.gz_len / 1024.0, 100.0 * (double)sy.gz_len / (double)sy.raw_len, build_ms);
        printf("\n  Storing it (profstore.h, a fresh database in $TMPDIR, %d adds a minute apart):\n",
               nstores);
        bench_profstore(sy.gz, sy.gz_len, nstores);
    }
    free(sy.gz);
    free(sy.raw);

    /* ---- part 2 ---- */
    printf("\n2. Scrape + parse through the scraper (scrape.h), one at a time, N = %d each\n",
           nscrapes);
    if (access(hog_path, X_OK) != 0) {
        printf("  skipped: no %s (make tests/targets/memhog/memhog)\n", hog_path);
        free(data_dir);
        free(hog_path);
        return 0;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    char base[128];
    struct scraper *sc = NULL;
    if (start_hog(hog_path, base, sizeof base) != 0) {
        printf("  skipped: memhog did not start\n");
        stop_hog();
        free(data_dir);
        free(hog_path);
        return 0;
    }
    int rc = scrape_start(NULL, &sc);
    if (rc != 0) {
        printf("  skipped: scrape_start: %s\n", strerror(-rc));
        stop_hog();
        return 0;
    }
    printf("  target: %s -addr 127.0.0.1:0 (pid %d) at %s; default limits\n", hog_path,
           (int)hog_pid, base);
    printf("  %-24s %8s %6s %8s %8s %8s %8s %9s %11s %7s\n", "page", "body B", "sites", "p50 ms",
           "p90 ms", "p99 ms", "max ms", "CPU us", "target ms", "errors");
    static const struct { enum scrape_kind kind; const char *path; } pages[] = {
        { SCRAPE_VARS, "/debug/vars" },
        { SCRAPE_HEAP, "/debug/pprof/heap" },
        { SCRAPE_GOROUTINE, "/debug/pprof/goroutine" },
    };
    struct scrape_fig figs[3];
    for (size_t i = 0; i < 3; i++) {
        scrape_bench(sc, base, pages[i].kind, pages[i].path, nscrapes, &figs[i]);
        struct scrape_fig *fg = &figs[i];
        if (!fg->done) {
            printf("  %-24s a scrape never came back\n", pages[i].path);
            continue;
        }
        printf("  %-24s %8zu %6zu %8.2f %8.2f %8.2f %8.2f %9.1f %11.2f %7d\n", pages[i].path,
               fg->body_bytes, fg->nsites, fg->p50_ms, fg->p90_ms, fg->p99_ms, fg->max_ms,
               fg->cpu_us, fg->target_cpu_ms, fg->errors);
        if (fg->errors)
            printf("    first error: %s\n", fg->first_error);
    }
    scrape_stop(sc);
    stop_hog();
    printf("  CPU us: this process (scraper thread + the loop here) per scrape; target ms: "
           "memhog's utime+stime per scrape (%ld Hz ticks)\n", sysconf(_SC_CLK_TCK));
    if (figs[0].done && figs[1].done && figs[2].done) {
        double per_h = 360 * figs[0].cpu_us + 60 * figs[1].cpu_us + 60 * figs[2].cpu_us;
        double tgt_h = 360 * figs[0].target_cpu_ms + 60 * figs[1].target_cpu_ms +
                       60 * figs[2].target_cpu_ms;
        printf("\n  One Go target at the defaults (vars every 10 s, heap + goroutine every 60 s):\n");
        printf("    scraping+parsing in memwatchd: %.1f ms CPU an hour = %.5f%% of a core "
               "(storage not included)\n", per_h / 1e3, per_h / 3.6e9 * 100);
        printf("    in the target (memhog, a small heap): %.0f ms CPU an hour = %.4f%% of a core\n",
               tgt_h, tgt_h / 3.6e6 * 100);
    }
    free(data_dir);
    free(hog_path);
    return 0;
}
