/* fuzz_pprof.c - libFuzzer target for pprof_parse (daemon/pprof.c).
 *
 * Each input is parsed as a heap and as a goroutine profile, gzip'd or raw as it comes
 * (run.sh seeds both forms: raw protobuf lets mutations reach the decoder instead of dying
 * on the gzip CRC).  The inflate cap is small to keep executions fast; the result is walked
 * so ASan checks every string and site it points to.  Built and run by fuzz/run.sh. */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pprof.h"

#define FUZZ_MAX_INFLATED (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const struct pprof_profile *p)
{
    volatile size_t n = 0;
    size_t i;

    for (i = 0; i < p->nsites; i++) {
        const struct pprof_site *s = &p->sites[i];

        n += strlen(s->leaf.func) + strlen(s->leaf.file) + strlen(s->user.func) +
             strlen(s->user.file);
        /* sorted, largest first */
        if (i > 0 && p->kind == PPROF_HEAP &&
            p->sites[i - 1].v[PV_INUSE_BYTES] < s->v[PV_INUSE_BYTES])
            __builtin_trap();
        if (i > 0 && p->kind == PPROF_GOROUTINE && p->sites[i - 1].v[PV_COUNT] < s->v[PV_COUNT])
            __builtin_trap();
    }
    (void)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum pprof_kind kinds[] = { PPROF_HEAP, PPROF_GOROUTINE };
    struct pprof_profile *p;
    char err[256];
    size_t k;

    for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        int r = pprof_parse(data, size, FUZZ_MAX_INFLATED, kinds[k], &p, err, sizeof(err));

        if (r == 0) {
            if (!p || p->kind != kinds[k])
                __builtin_trap();
            walk(p);
            pprof_free(p);
        } else if ((r != -EBADMSG && r != -EFBIG) || p != NULL || err[0] == '\0') {
            __builtin_trap();
        }
    }
    return 0;
}
