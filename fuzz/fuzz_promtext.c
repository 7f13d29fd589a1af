/* fuzz_promtext.c - libFuzzer target for promtext_parse_go (daemon/promtext.c).
 *
 * The input is the page as memwatchd would hand it over: not NUL-terminated, in a block of
 * exactly its size, so ASan sees any read past len.  Built and run by fuzz/run.sh. */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "promtext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct go_stats st;
    char err[256];
    int r = promtext_parse_go((const char *)data, size, &st, err, sizeof(err));
    size_t i;

    if (r != 0 && (r != -EBADMSG || st.present != 0 || err[0] == '\0'))
        __builtin_trap();
    /* stored values are never negative: NaN, Inf and negatives are left out */
    for (i = 0; i < METRIC_COUNT; i++)
        if ((st.present & (UINT64_C(1) << i)) && st.v[i] < 0)
            __builtin_trap();
    (void)promtext_parse_go((const char *)data, size, &st, NULL, 0);
    return 0;
}
