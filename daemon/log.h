/* log.h - logging to stderr with sd-daemon "<N>" priority prefixes.
 *
 * Under systemd stderr goes to the journal, which turns the prefix into the priority
 * (SyslogLevelPrefix=yes).  In a terminal the prefix is left off and a level word is shown.
 * Library-like modules (procmem, store, chunk) don't log above debug: their callers decide
 * what is worth saying and log it once.  Callable from any thread (deliver.c's log theirs). */
#ifndef MEMWATCH_LOG_H
#define MEMWATCH_LOG_H

#include <syslog.h>   /* LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG */

void log_set_level(int level);
int log_get_level(void);
/* "error", "warning", "notice", "info", "debug" -> LOG_*; -1 if unknown. */
int log_level_from_name(const char *name);

void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)     log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)    log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
