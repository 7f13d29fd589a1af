/* log.c - stderr logging with sd-daemon priority prefixes.
 *
 * Safe from any thread: the level is atomic, the prefix decision is made once, and each
 * message is one fprintf() of a whole line, which stdio's stream lock keeps from being
 * interleaved with another thread's. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static atomic_int max_level = LOG_INFO;
static int use_prefix;
static pthread_once_t prefix_once = PTHREAD_ONCE_INIT;

static const struct {
    const char *name;
    int level;
} level_names[] = {
    { "error", LOG_ERR }, { "warning", LOG_WARNING }, { "notice", LOG_NOTICE },
    { "info", LOG_INFO }, { "debug", LOG_DEBUG },
};

void log_set_level(int level)
{
    atomic_store_explicit(&max_level, level, memory_order_relaxed);
}

int log_get_level(void)
{
    return atomic_load_explicit(&max_level, memory_order_relaxed);
}

int log_level_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++)
        if (strcasecmp(name, level_names[i].name) == 0)
            return level_names[i].level;
    return -1;
}

/* The journal understands "<N>" prefixes; a person at a terminal reads words better.
 * $JOURNAL_STREAM names the stream systemd connected us to (sd-daemon(3)); if stderr is that
 * stream, or is not a terminal at all, use the prefixes. */
static int decide_prefix(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    struct stat st;
    if (js && fstat(STDERR_FILENO, &st) == 0) {
        unsigned long long dev, ino;
        if (sscanf(js, "%llu:%llu", &dev, &ino) == 2 && dev == (unsigned long long)st.st_dev &&
            ino == (unsigned long long)st.st_ino)
            return 1;
    }
    return !isatty(STDERR_FILENO);
}

static void decide_prefix_once(void)
{
    use_prefix = decide_prefix();
}

void log_msg(int priority, const char *fmt, ...)
{
    if (priority > log_get_level())
        return;
    int saved_errno = errno;
    pthread_once(&prefix_once, decide_prefix_once);

    char line[2048];
    int off;
    if (use_prefix)
        off = snprintf(line, sizeof line, "<%d>", priority);
    else {
        static const char *const words[] = { "emerg", "alert", "crit", "error", "warning",
                                             "notice", "info", "debug" };
        off = snprintf(line, sizeof line, "memwatchd: %s: ", words[priority & 7]);
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + off, sizeof line - (size_t)off, fmt, ap);
    va_end(ap);
    /* One line per message: a newline inside would start an unprefixed journal entry. */
    for (char *p = line + off; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fprintf(stderr, "%s\n", line);
    errno = saved_errno;
}
