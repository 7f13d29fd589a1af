/* promtext.h - read the Go runtime's metrics from a Prometheus text page (format 0.0.4), as
 * client_golang writes them: go_memstats_* and go_goroutines (techref 6.1 maps names).
 *
 * Lines are parsed one by one; malformed lines are skipped and counted, not fatal, as
 * long as the page carries Go memory metrics at all. */
#ifndef MEMWATCH_PROMTEXT_H
#define MEMWATCH_PROMTEXT_H

#include <stddef.h>

#include "gostats.h"

/* 0, or -EBADMSG with a reason in err ("no go_memstats_* metrics on the page").  On success
 * err is "" or counts what was skipped ("3 malformed lines skipped"). */
int promtext_parse_go(const char *body, size_t len, struct go_stats *out, char *err,
                      size_t errlen);

#endif
