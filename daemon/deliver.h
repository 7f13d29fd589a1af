/* deliver.h - sends alert notifications to their receivers, on threads of their own.
 *
 * Receivers: the journal (a structured entry: MESSAGE is the summary, MEMWATCH_* fields
 * carry the rest), a webhook (a JSON POST: memwatch's own payload, or Alertmanager's
 * /api/v2/alerts form) and an exec hook (a command run with the alert in MEMWATCH_*
 * environment variables).  The main loop calls deliver_submit(), which copies the alert
 * into a bounded queue and returns at once: a slow, hanging or failing receiver never holds
 * up sampling, nor another receiver.  Each receiver of each notification is tried until it
 * succeeds or max_attempts is reached, with exponential backoff between attempts; every
 * attempt is logged (its receiver, outcome and the next retry).  Per receiver, the
 * notifications of one alert go out in the order they were submitted (a "resolved" never
 * overtakes its "firing"); those of different alerts do not wait for each other.
 *
 * Alertmanager forgets an alert it has not heard of for its resolve_timeout (5 minutes by
 * default) and calls it resolved.  So, with webhook_format alertmanager, every alert whose
 * last notification was "firing" is sent again each alertmanager_resend_ms until its
 * "resolved" is submitted, as Prometheus does; the callers need not do it. */
#ifndef MEMWATCH_DELIVER_H
#define MEMWATCH_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alert.h"

struct deliver;
struct mw_config;

enum deliver_format { DELIVER_MEMWATCH = 0, DELIVER_ALERTMANAGER };

/* The receivers, in the order of their statistics. */
enum deliver_receiver { DELIVER_JOURNAL = 0, DELIVER_WEBHOOK, DELIVER_EXEC, DELIVER_RECEIVERS };
const char *deliver_receiver_name(enum deliver_receiver r);    /* "journal", "webhook", "exec" */

struct deliver_config {
    bool journal;                       /* default true */
    char webhook_url[1024];             /* "" = none; http:// or https:// */
    enum deliver_format webhook_format; /* default DELIVER_MEMWATCH */
    char exec_command[1024];            /* "" = none; run with /bin/sh -c */
    int64_t timeout_ms;                 /* per attempt (webhook request, exec run); default 10 s */
    int max_attempts;                   /* per receiver and notification; default 8 */
    int64_t retry_initial_ms;           /* first backoff; default 5 s, doubling */
    int64_t retry_max_ms;               /* backoff cap; default 5 min */
    size_t queue_max;                   /* notifications waiting per receiver; default 256,
                                         * oldest dropped */
    char external_url[256];             /* base of links in payloads, e.g. the API's URL */
    int64_t alertmanager_resend_ms;     /* firing alerts re-sent to Alertmanager; default
                                         * 1 min; 0 = never (not in the config file) */
};

void deliver_config_default(struct deliver_config *cfg);
/* The [alerts] section of the daemon's configuration.  external_url, when the file leaves
 * it empty, is the API's: http://LISTEN-HOST:api_port (the port actually bound, which
 * differs from the configured one when that is 0), or the host name for a wildcard
 * listen address. */
struct deliver_config deliver_config_of(const struct mw_config *cfg, unsigned api_port);

/* Starts the delivery threads.  0, or negative errno with *err (caller frees): -EINVAL for
 * a configuration that cannot work (a webhook URL that is not http(s), zero attempts...). */
int deliver_open(const struct deliver_config *cfg, struct deliver **out, char **err);
/* Replaces the receivers and limits (a config reload); queued notifications keep going to
 * the receivers they were queued for.  A webhook URL that cannot work is logged and left
 * out.  NULL d: nothing. */
void deliver_set_config(struct deliver *d, const struct deliver_config *cfg);
/* Queues a notification of the alert's current state, firing or resolved (a pending alert
 * is no notification and is ignored).  Copies it; never blocks: a full queue drops its
 * oldest waiting notification, and says so in the log.  NULL d: nothing. */
void deliver_submit(struct deliver *d, const struct alert *a);
/* Stops the threads, giving queued notifications at most grace_ms to go out: an attempt
 * still running then is abandoned (a command killed), and what is left is logged as not
 * delivered.  Returns within about grace_ms (plus up to a second to kill a command that
 * ignores SIGTERM).  NULL: no-op. */
void deliver_close(struct deliver *d, int64_t grace_ms);

/* Counters since deliver_open, per receiver (for tests, metrics and the API). */
struct deliver_stats {
    uint64_t submitted;                 /* notifications accepted by deliver_submit */
    struct {
        uint64_t attempts;              /* attempts started, re-sends included */
        uint64_t delivered;             /* notifications the receiver accepted */
        uint64_t resent;                /* webhook: Alertmanager re-sends accepted */
        uint64_t nobody;                /* journal: no journald to send to; not retried */
        uint64_t failed;                /* given up: refused for good, or max_attempts */
        uint64_t dropped;               /* pushed out of a full queue, or left at close */
        uint64_t waiting;               /* queued or being attempted now */
    } receiver[DELIVER_RECEIVERS];
};
void deliver_get_stats(struct deliver *d, struct deliver_stats *out);

#endif
