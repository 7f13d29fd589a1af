/* deliver.h - sends alert notifications to their receivers, on a thread of its own.
 *
 * Receivers: the journal (a structured entry: MESSAGE is the summary, MEMWATCH_* fields
 * carry the rest), a webhook (a JSON POST: memwatch's own payload, or Alertmanager's
 * /api/v2/alerts form) and an exec hook (a command run with the alert in MEMWATCH_*
 * environment variables).  The main loop calls deliver_submit(), which copies the alert
 * into a bounded queue and returns at once: a slow, hanging or failing receiver never holds
 * up sampling.  Each receiver of each notification is tried until it succeeds or
 * max_attempts is reached, with exponential backoff between attempts; every attempt is
 * logged (its receiver, outcome and the next retry). */
#ifndef MEMWATCH_DELIVER_H
#define MEMWATCH_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alert.h"

struct deliver;

enum deliver_format { DELIVER_MEMWATCH = 0, DELIVER_ALERTMANAGER };

struct deliver_config {
    bool journal;                       /* default true */
    char webhook_url[1024];             /* "" = none; http:// or https:// */
    enum deliver_format webhook_format; /* default DELIVER_MEMWATCH */
    char exec_command[1024];            /* "" = none; run with /bin/sh -c */
    int64_t timeout_ms;                 /* per attempt (webhook request, exec run); default 10 s */
    int max_attempts;                   /* per receiver and notification; default 8 */
    int64_t retry_initial_ms;           /* first backoff; default 5 s, doubling */
    int64_t retry_max_ms;               /* backoff cap; default 5 min */
    size_t queue_max;                   /* notifications waiting; default 256, oldest dropped */
    char external_url[256];             /* base of links in payloads, e.g. the API's URL */
};

void deliver_config_default(struct deliver_config *cfg);
/* Starts the delivery thread.  0, or negative errno with *err. */
int deliver_open(const struct deliver_config *cfg, struct deliver **out, char **err);
/* Replaces the receivers and limits (a config reload); queued notifications keep going to
 * the receivers they were queued for. */
void deliver_set_config(struct deliver *d, const struct deliver_config *cfg);
/* Queues a notification of the alert's current state (firing or resolved).  Copies it;
 * never blocks.  NULL d: nothing. */
void deliver_submit(struct deliver *d, const struct alert *a);
/* Stops the thread, giving queued notifications at most grace_ms to go out.  NULL: no-op. */
void deliver_close(struct deliver *d, int64_t grace_ms);

#endif
