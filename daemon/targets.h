/* targets.h - the watched targets at run time, and the sampling schedule.
 *
 * A target is a name and one selector: a PID (with the process's start time, so a reused PID
 * is never mistaken for it), a regex over process names (which follows restarts and may
 * match several processes: their values are summed), or memwatchd itself.  Definitions are
 * persisted in the store; the process list, latest values and status live here.
 *
 * targets_tick() samples every target that is due in one batch: one libproc2 select for all
 * PIDs, one process scan if any `match` target is due, and smaps_rollup only for targets
 * whose slower PSS interval has come round.  No thread per process, no allocation per sample
 * in steady state (scratch arrays grow to the largest batch and are reused). */
#ifndef MEMWATCH_TARGETS_H
#define MEMWATCH_TARGETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "store.h"

struct targets;
struct target;
struct procmem;

struct target_proc {
    int pid;
    int64_t start_time_ms;
};

struct targets_config {
    int64_t interval_ms;            /* default sample interval */
    int64_t smaps_interval_ms;      /* default PSS/USS interval */
};

/* Loads the stored targets.  0 or negative errno (with *err). */
int targets_open(struct store *st, struct procmem *pm, const struct targets_config *cfg,
                 struct targets **out, char **err);
void targets_close(struct targets *ts);
/* New defaults after a config reload (targets without their own intervals follow). */
void targets_set_config(struct targets *ts, const struct targets_config *cfg);

/* Makes sure a target named "memwatchd" watches this very process. */
void targets_ensure_self(struct targets *ts);

/* Adds a target from a record with name, selector, pid or pattern (+ match_cmdline) and
 * optional intervals filled in.  Checks it: the name's form, the PID exists (its start time
 * is recorded), the regex compiles.  0, or -EINVAL / -ESRCH / -EEXIST with *err saying why
 * in words fit for an API client. */
int targets_add(struct targets *ts, const struct target_record *def, char **err);
/* Removes the target and its history.  0 or -ENOENT. */
int targets_remove(struct targets *ts, const char *name);

struct target *targets_find(struct targets *ts, const char *name);
struct target *targets_find_id(struct targets *ts, int64_t id);
size_t targets_count(const struct targets *ts);
/* The i-th target in creation order, for listings. */
struct target *targets_at(struct targets *ts, size_t i);

/* Samples whatever is due at now_mono_ms (stamped now_wall_ms).  Returns the monotonic time
 * of the next due sample. */
int64_t targets_tick(struct targets *ts, int64_t now_mono_ms, int64_t now_wall_ms);

/* ---- read-only views of one target, for the API -------------------------------------- */
const struct target_record *target_record(const struct target *t);
const struct target_proc *target_processes(const struct target *t, size_t *n);
/* Latest values (stored units), a bit per metric present; last sample time (0: none yet). */
uint64_t target_latest(const struct target *t, const int64_t **values);
int64_t target_last_sample_ms(const struct target *t);
/* Effective intervals: the target's own, else the configured defaults. */
int64_t targets_interval_ms(const struct targets *ts, const struct target *t);
int64_t targets_smaps_interval_ms(const struct targets *ts, const struct target *t);
/* Plain-words status ("3 processes match; their values are summed"), or "". */
const char *target_message(const struct target *t);

#endif
