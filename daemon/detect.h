/* detect.h - is a memory signal growing, robustly, and how sure are we?
 *
 * Pure statistics on one series (no I/O, no clock): a robust trend test for memory signals
 * that move in saw-teeth (a Go heap between collections), warm up to plateaus, burst and
 * release, run periodic batch jobs, and restart.
 *
 * The series is first reduced to its lower envelope: the minimum of each bucket of
 * envelope_ms (a GC cycle's garbage is gone at its trough, so the troughs trace what is
 * live).  Buckets are aligned on the newest sample, so the newest is complete; each point
 * sits at the middle of its bucket's samples.  On the envelope points: the Theil-Sen slope
 * (median of pairwise slopes, with a confidence interval from the Mann-Kendall variance) and
 * the Mann-Kendall test for a monotonic trend (S, its variance with ties corrected, Z, two-
 * sided p).  A series is growing when all of these hold:
 *   significant  p < alpha, S > 0 and the slope's lower bound above zero; and the newer two
 *                thirds of the points significant on their own too (p < alpha, S > 0): a
 *                past climb (a warm-up, a step) keeps the whole window significant for as
 *                long as it stays in it, but not its newer part;
 *   material     the slope at least min_growth_per_hour, and at least
 *                min_relative_growth_per_hour of the level (the newest envelope point);
 *                the recent part's slope (the newest recent_fraction of the window, at
 *                least 4 points) above zero and material by the same bar;
 *   steady       the recent slope's ~95 % interval not wholly below half the window's
 *                slope: a rise that is losing speed is a cache filling up, not a leak.
 * confidence is 1 - p (the larger of the window's and its newer part's), times a smoothstep
 * on the narrowest margin among the material and steady tests (value / bar): 0 at half the
 * bar, about 0.26 right at it, 1 from twice it.
 *
 * The stateful part, struct detector, turns successive judgements into a verdict with
 * hysteresis: warming until min_history_ms of data (growing judgements meanwhile do not
 * count); suspect after one growing judgement; leaking after confirm_count consecutive ones
 * spanning at least confirm_ms, once the signal's history covers 60 % of the window (a
 * warm-up must not be the whole of what is judged); back to ok (from suspect or leaking) only after clear_count
 * consecutive non-growing judgements. */
#ifndef MEMWATCH_DETECT_H
#define MEMWATCH_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct detect_params {
    int64_t window_ms;                  /* judged on the last window_ms of data; default 30 min */
    int64_t min_history_ms;             /* warming until this much; default 10 min */
    int64_t envelope_ms;                /* lower-envelope bucket; default 60 s */
    double alpha;                       /* significance of the Mann-Kendall test; default 0.001 */
    double min_growth_per_hour;         /* absolute floor, signal units/h; default 4 MiB/h */
    double min_relative_growth_per_hour;/* fraction of the level per hour; default 0.02 */
    double recent_fraction;             /* the newest part that must grow too; default 0.33 */
    int confirm_count;                  /* growing judgements in a row to confirm; default 3 */
    int64_t confirm_ms;                 /* ...spanning at least this; default 5 min */
    int clear_count;                    /* non-growing judgements in a row to clear; default 5 */
};

/* Production defaults for byte signals (heap, RSS, non-Go memory). */
void detect_params_default(struct detect_params *p);
/* Divides every duration by `speed` (tests run workloads `speed` times faster), and
 * multiplies the per-hour thresholds by it: a workload `speed` times faster grows that much
 * faster per hour of the clock.  Ignores a speed that is not a positive number. */
void detect_params_speed(struct detect_params *p, double speed);

struct detect_trend {
    size_t n_points;                    /* envelope points judged */
    int64_t from_ms, to_ms;             /* the window actually judged */
    double level;                       /* the newest envelope value */
    double slope_per_hour;              /* Theil-Sen, signal units per hour */
    double slope_lo_per_hour, slope_hi_per_hour;    /* ~95 % interval */
    double mk_s, mk_z, p_value;         /* Mann-Kendall */
    double recent_slope_per_hour;       /* Theil-Sen over the newest recent_fraction */
    bool growing;                       /* all the conditions above */
    double confidence;                  /* 0..1: 1 - p, shrunk when barely material */
};

/* Judges points (ts_ms strictly increasing) as of the last one.  0, or -ENODATA when fewer
 * than 8 envelope points fall in the window (at alpha 0.001 growth needs about 11: the
 * newer part needs 8).  Samples that are not finite are skipped.  No allocation: envelope
 * points are capped at DETECT_MAX_POINTS (wider buckets when the window holds more), so the
 * O(m^2) pairwise slopes stay bounded; they live in a static buffer (not reentrant: the
 * daemon is single-threaded).  Costs about 10 us at 30 points, 150 us at 240 (-O2). */
#define DETECT_MAX_POINTS 240
int detect_trend(const int64_t *ts_ms, const double *values, size_t n,
                 const struct detect_params *p, struct detect_trend *out);

enum detect_state { DETECT_WARMING = 0, DETECT_OK, DETECT_SUSPECT, DETECT_LEAKING };
const char *detect_state_name(enum detect_state s);  /* "warming", "ok", "suspect", "leaking" */

struct detector {
    enum detect_state state;
    int64_t first_ms;                   /* oldest data seen (for warming); 0: none yet */
    int64_t since_ms;                   /* when the current state began */
    int64_t growing_since_ms;           /* first of the current run of growing judgements */
    int growing_run, clear_run;
    struct detect_trend last;
};

void detector_init(struct detector *d);
/* Feeds one judgement made at now_ms, with oldest_ms the oldest data of the signal (the
 * oldest seen is kept).  A NULL trend (no data) keeps the state but is not growing: it
 * breaks a run of growing judgements, and does not count towards clearing.  Returns the
 * new state. */
enum detect_state detector_update(struct detector *d, const struct detect_params *p,
                                  int64_t now_ms, int64_t oldest_ms,
                                  const struct detect_trend *trend);

#endif
