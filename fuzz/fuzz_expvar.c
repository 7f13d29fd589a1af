/* fuzz_expvar.c - libFuzzer target for expvar_parse (daemon/expvar.c).
 *
 * The input is the HTTP body as memwatchd would hand it over: not NUL-terminated, in a
 * block of exactly its size, so ASan sees any read past len.  Built and run by fuzz/run.sh. */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "expvar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct go_stats st;
    char err[256];
    int r = expvar_parse((const char *)data, size, &st, err, sizeof(err));

    /* the contract: 0, or -EBADMSG with a message and nothing present */
    if (r != 0 && (r != -EBADMSG || st.present != 0 || err[0] == '\0'))
        __builtin_trap();
    if (r == 0 && !(st.present & (UINT64_C(1) << M_GO_HEAP_ALLOC)))
        __builtin_trap();
    /* a tiny error buffer must be enough too */
    (void)expvar_parse((const char *)data, size, &st, err, 1);
    return 0;
}
