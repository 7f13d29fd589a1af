/* expvar.h - parse a Go expvar page (/debug/vars): the "memstats" object of runtime.MemStats.
 *
 * Hostile input is expected: any byte string gives either a result or an error message,
 * never a crash, and nothing outside [body, body+len) is read. */
#ifndef MEMWATCH_EXPVAR_H
#define MEMWATCH_EXPVAR_H

#include <stddef.h>

#include "gostats.h"

/* Fills *out from body.  0, or -EBADMSG with a one-line reason in err ("not JSON: ...",
 * "no \"memstats\" object: is expvar imported?", "memstats.HeapAlloc is not a number"). */
int expvar_parse(const char *body, size_t len, struct go_stats *out, char *err, size_t errlen);

#endif
