/* util.h - allocation policy, clocks and unit parsing shared by memwatchd and memwatchctl.
 *
 * Allocation: the x* wrappers abort on out-of-memory (there is nothing sensible a monitor can
 * do without memory) and check multiplications for overflow, so ordinary code has no
 * "malloc returned NULL" branches.  Input from outside (HTTP bodies, /proc, targets) never
 * reaches an abort: parsers return errors instead. */
#ifndef MEMWATCH_UTIL_H
#define MEMWATCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Wall-clock time in milliseconds since the Unix epoch: the timestamps we store. */
int64_t now_wall_ms(void);
/* Monotonic time in milliseconds: every timer and deadline. */
int64_t now_mono_ms(void);

/* "1500ms", "10s", "5m", "24h", "30d", or a bare number of seconds.  Returns 0 or -EINVAL. */
int parse_duration_ms(const char *s, int64_t *out_ms);
/* "65536", "64KiB", "8MiB", "1GiB" (also K/M/G and KB/MB/GB as powers of 1024).  0 or -EINVAL. */
int parse_size_bytes(const char *s, uint64_t *out);
/* Strict base-10 integer within [min, max].  0, -EINVAL or -ERANGE. */
int parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);
/* "yes/no/true/false/on/off/1/0".  0 or -EINVAL. */
int parse_bool(const char *s, bool *out);

/* Human-readable bytes, "1.5 MiB", into buf; returns buf. */
const char *format_bytes(double bytes, char *buf, size_t len);
/* Human-readable duration, "3m20s", "2h5m", into buf; returns buf. */
const char *format_duration_ms(int64_t ms, char *buf, size_t len);

/* Target names: 1-63 characters of [A-Za-z0-9_.-], not starting with '.' or '-'. */
bool target_name_valid(const char *name);

#endif
