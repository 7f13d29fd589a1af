/* detect.c - robust trend test and leak verdicts for one memory signal (see detect.h). */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "detect.h"

#define MIN_POINTS 8            /* fewer envelope points and nothing can be significant */
#define MIN_RECENT_POINTS 4     /* the recent part's slope needs a few pairs to be a median */
#define MS_PER_HOUR 3600000.0
#define MiB (1024.0 * 1024.0)
#define Z_975 1.959963984540054 /* two-sided 95 % normal quantile, for the slope interval */
#define SELECT_BINNED_MIN 1024  /* values from which selection bins first */
#define SELECT_SAMPLE 1024
#define SELECT_BINS 1024
/* A leak is confirmed only once the signal's history spans this much of the window. */
#define CONFIRM_HISTORY_PERCENT 60

/* A rise that is losing speed is a cache filling up, not a leak: growth is refused when the
 * recent slope's interval lies wholly below this share of the window's slope.  Judged on
 * the interval, not the estimate: a few noisy recent points (a Go heap sampled every 10 s
 * between collections) make the estimate wander well below a steady leak's rate, but not
 * the top of the interval.  A warm-up with a time constant of a few minutes is refused
 * from the end of warming on. */
#define DECEL_RATIO 0.5

/* Pairwise slopes of DETECT_MAX_POINTS points.  Static: about 224 KiB is too much for a
 * stack, and the daemon judges one series at a time on one thread. */
static double pair_buf[DETECT_MAX_POINTS * (DETECT_MAX_POINTS - 1) / 2];

void detect_params_default(struct detect_params *p)
{
    p->window_ms = 30 * 60 * 1000;
    p->min_history_ms = 10 * 60 * 1000;
    p->envelope_ms = 60 * 1000;
    p->alpha = 0.001;
    p->min_growth_per_hour = 4 * MiB;
    p->min_relative_growth_per_hour = 0.02;
    p->recent_fraction = 0.33;
    p->confirm_count = 3;
    p->confirm_ms = 5 * 60 * 1000;
    p->clear_count = 5;
}

static int64_t scale_ms(int64_t ms, double speed)
{
    int64_t r = (int64_t)llround((double)ms / speed);
    return r > 0 ? r : 1;
}

void detect_params_speed(struct detect_params *p, double speed)
{
    if (!(speed > 0) || !isfinite(speed))
        return;
    p->window_ms = scale_ms(p->window_ms, speed);
    p->min_history_ms = scale_ms(p->min_history_ms, speed);
    p->envelope_ms = scale_ms(p->envelope_ms, speed);
    p->confirm_ms = scale_ms(p->confirm_ms, speed);
    /* A workload run `speed` times faster grows `speed` times faster per hour of the clock;
     * the thresholds follow, or a sped-up warm-up's tail would look material for longer. */
    p->min_growth_per_hour *= speed;
    p->min_relative_growth_per_hour *= speed;
}

/* The lower envelope of the last window: the minimum of each bucket, the buckets aligned on
 * the newest sample so that the newest one is complete (a partial bucket has missed its
 * troughs and sits too high).  Each point is placed at the middle of the samples its bucket
 * holds, not at its minimum: with noise the minimum lands anywhere in the bucket, and two
 * neighbours a second apart would make wild pairwise slopes.  Times are hours since the
 * first sample judged.  Returns the number of points. */
static size_t envelope(const int64_t *ts, const double *v, size_t n,
                       const struct detect_params *p, double *et, double *ev,
                       int64_t *from_ms, int64_t *to_ms)
{
    const int64_t last = ts[n - 1];
    const int64_t window = p->window_ms > 0 ? p->window_ms : 1;
    int64_t width = p->envelope_ms > 0 ? p->envelope_ms : 1;
    if (window / width + (window % width != 0) > DETECT_MAX_POINTS)
        width = window / DETECT_MAX_POINTS + (window % DETECT_MAX_POINTS != 0);

    /* Written so that no difference can overflow, whatever the timestamps. */
    const int64_t start = last >= INT64_MIN + window ? last - window : INT64_MIN;
    size_t i0 = n - 1;
    while (i0 > 0 && ts[i0 - 1] > start)
        i0--;

    size_t m = 0;
    int64_t cur = -1, edge = 0, first_ts = 0, last_ts = 0;
    double min = 0;
    bool have_from = false;
    for (size_t i = i0; i < n; i++) {
        if (!isfinite(v[i]) || ts[i] > last || ts[i] <= start)
            continue;
        if (cur >= 0 && ts[i] <= edge && edge - ts[i] >= width)
            continue;                           /* out of order: the contract says it isn't */
        if (!have_from) {
            *from_ms = ts[i];
            have_from = true;
        }
        if (ts[i] > edge) {                     /* a new bucket: 0 is the newest */
            if (cur >= 0 && m < DETECT_MAX_POINTS) {
                et[m] = (double)(first_ts + (last_ts - first_ts) / 2 - *from_ms) / MS_PER_HOUR;
                ev[m++] = min;
            }
            cur = (last - ts[i]) / width;
            edge = last - cur * width;
            first_ts = ts[i];
            min = v[i];
        } else if (v[i] < min) {
            min = v[i];
        }
        last_ts = ts[i];
    }
    if (cur >= 0 && m < DETECT_MAX_POINTS) {
        et[m] = (double)(first_ts + (last_ts - first_ts) / 2 - *from_ms) / MS_PER_HOUR;
        ev[m++] = min;
    }
    *to_ms = last;
    return m;
}

/* Wirth's selection (the nth_element idea): afterwards a[k] holds the value of rank k among
 * a[lo..hi], smaller ones before it and larger ones after.  Ties, common among the slopes of
 * a flat series, are split evenly between the sides, so they cost no extra passes. */
static double select_rank(double *a, long lo, long hi, long k)
{
    while (lo < hi) {
        /* Median of three: sorted and reverse-sorted runs stay linear. */
        double x0 = a[lo], x1 = a[lo + (hi - lo) / 2], x2 = a[hi];
        double x = x0 < x1 ? (x1 < x2 ? x1 : (x0 < x2 ? x2 : x0))
                           : (x0 < x2 ? x0 : (x1 < x2 ? x2 : x1));
        long i = lo, j = hi;
        do {
            while (a[i] < x)
                i++;
            while (x < a[j])
                j--;
            if (i <= j) {
                double t = a[i];
                a[i++] = a[j];
                a[j--] = t;
            }
        } while (i <= j);
        if (j < k)
            lo = i;
        if (k < i)
            hi = j;
    }
    return a[k];
}

/* The values of ranks r[0] <= r[1] <= ... (0-based) among a[0..n), one selection after the
 * other, each on what the previous one left to its right. */
static void select_plain(double *a, size_t n, const size_t *r, int nr, double *out)
{
    size_t from = 0;
    for (int i = 0; i < nr; i++) {
        out[i] = select_rank(a, (long)from, (long)n - 1, (long)r[i]);
        from = r[i];
    }
}

/* The slopes of all pairs of points, and the Mann-Kendall S (the sign of each pair's rise,
 * which is its slope's sign: times only increase), in one pass. */
static size_t pairwise_slopes(const double *t, const double *v, size_t m, double *out, long *s)
{
    size_t np = 0;
    long sum = 0;
    for (size_t i = 0; i + 1 < m; i++)
        for (size_t j = i + 1; j < m; j++) {
            double d = v[j] - v[i];
            sum += (d > 0) - (d < 0);
            out[np++] = d / (t[j] - t[i]);
        }
    *s = sum;
    return np;
}

/* The bin of y clamped into lo..hi, and whether y was below lo or within.  The rest derives
 * from the clamps so that no branch remains: most values are outside, at random on either
 * side, and a branch here would be mispredicted half the time.  (A NaN counts as below;
 * there are none.) */
static size_t bin_of(double y, double lo, double hi, double scale, uint64_t *below,
                     uint64_t *in)
{
#ifdef __SSE2__
    /* Compilers turn the portable form into a branch that skips the arithmetic when the
     * value is above hi: the mispredicted branch all over again. */
    double c = _mm_cvtsd_f64(_mm_max_sd(_mm_set_sd(y), _mm_set_sd(lo)));
    double d = _mm_cvtsd_f64(_mm_min_sd(_mm_set_sd(c), _mm_set_sd(hi)));
#else
    double c = y > lo ? y : lo;
    double d = c < hi ? c : hi;
#endif
    *below = c != y;
    *in = d == y;
    long b = (long)((d - lo) * scale);
    return b < SELECT_BINS ? (size_t)b : SELECT_BINS - 1;
}

/* What select_plain on all the pairwise slopes would give, and their S, without the
 * mispredicted branches that make selection among 28,680 values cost hundreds of
 * microseconds.  A sample of random pairs gives bounds lo..hi that hold the wanted ranks
 * but for 3 standard errors of a sample quantile.  One pass computes every slope, counts
 * those below lo, and keeps and bins those within; a second keeps only the bins that hold
 * a wanted rank (a few values each), and the selection runs on those.  Returns -1 when the
 * sample misled us (rare): a is then garbage, and S too. */
static int select_binned(const double *t, const double *v, size_t m, const size_t *r, int nr,
                         double *a, long *s, double *out)
{
    static double sample[SELECT_SAMPLE];
    static uint32_t hist[SELECT_BINS + 8];
    uint64_t wanted[SELECT_BINS / 64] = { 0 };
    const size_t np = m * (m - 1) / 2;
    const size_t ns = np / 4 < SELECT_SAMPLE ? np / 4 : SELECT_SAMPLE;

    uint64_t x = 0x9e3779b97f4a7c15ULL;     /* fixed: the same data, the same answer */
    for (size_t k = 0; k < ns; k++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t i = (size_t)(((x >> 32) * m) >> 32);
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t j = (size_t)(((x >> 32) * (m - 1)) >> 32);
        j += j >= i;
        if (i > j) {
            size_t tmp = i;
            i = j;
            j = tmp;
        }
        sample[k] = (v[j] - v[i]) / (t[j] - t[i]);
    }
    double margin = 1.5 / sqrt((double)ns);
    long s0 = (long)floor(((double)r[0] / (double)np - margin) * (double)ns);
    long s1 = (long)ceil(((double)(r[nr - 1] + 1) / (double)np + margin) * (double)ns);
    if (s0 < 0 || s1 >= (long)ns)
        return -1;          /* ranks too near the ends for bounds to help */
    double lo = select_rank(sample, 0, (long)ns - 1, s0);
    double hi = select_rank(sample, s0, (long)ns - 1, s1);
    if (!isfinite(hi - lo))
        return -1;
    double scale = hi > lo ? SELECT_BINS / (hi - lo) : 0;  /* lo == hi: all in bin 0 */
    if (!isfinite(scale))
        scale = 0;

    /* Slopes outside lo..hi are counted in eight spare bins in turn: a single one would
     * chain every increment to the previous one through memory. */
    memset(hist, 0, sizeof hist);
    size_t under = 0, inside = 0, spare = 0;
    long sum = 0;
    for (size_t i = 0; i + 1 < m; i++)
        for (size_t j = i + 1; j < m; j++) {
            double d = v[j] - v[i];
            double y = d / (t[j] - t[i]);
            uint64_t below, in;
            size_t k = bin_of(y, lo, hi, scale, &below, &in);
            sum += (d > 0) - (d < 0);
            under += below;
            a[inside] = y;
            inside += in;
            hist[(k & -in) | ((SELECT_BINS + (spare++ & 7)) & (in - 1))]++;
        }
    *s = sum;
    if (r[0] < under || r[nr - 1] >= under + inside)
        return -1;

    /* The bin of each rank, and its rank among the values of that bin. */
    size_t bin[8], rank_in_bin[8], b = 0, below_b = under;
    for (int i = 0; i < nr; i++) {
        while (r[i] >= below_b + hist[b])
            below_b += hist[b++];
        bin[i] = b;
        rank_in_bin[i] = r[i] - below_b;
        wanted[b / 64] |= UINT64_C(1) << (b % 64);
    }
    size_t kept = 0;
    for (size_t i = 0; i < inside; i++) {
        double y = a[i];
        uint64_t below, in;
        size_t k = bin_of(y, lo, hi, scale, &below, &in);
        a[kept] = y;                    /* kept <= i: never over a value not yet read */
        kept += (wanted[k / 64] >> (k % 64)) & 1;
    }

    /* The kept values are those of the wanted bins: shift each rank by the values of the
     * wanted bins below its own. */
    size_t rk[8], before = 0;
    for (int i = 0; i < nr; i++) {
        if (i > 0 && bin[i] != bin[i - 1])
            before += hist[bin[i - 1]];
        rk[i] = before + rank_in_bin[i];
    }
    select_plain(a, kept, rk, nr, out);
    return 0;
}

/* Theil-Sen on the points (t, v)[0..m), m >= 2: the median of the pairwise slopes into
 * out[1], the slopes of ranks r_lo <= r_hi (0-based) into out[0] and out[2], and the
 * Mann-Kendall S into *s.  Uses pair_buf. */
static void theil_sen(const double *t, const double *v, size_t m, size_t r_lo, size_t r_hi,
                      long *s, double out[3])
{
    const size_t np = m * (m - 1) / 2, k = np / 2;
    const size_t lower_mid = np % 2 ? k : k - 1;
    const size_t r[4] = { r_lo < lower_mid ? r_lo : lower_mid, lower_mid, k,
                          r_hi > k ? r_hi : k };
    double val[4];

    if (np < SELECT_BINNED_MIN || select_binned(t, v, m, r, 4, pair_buf, s, val) < 0) {
        (void)pairwise_slopes(t, v, m, pair_buf, s);
        select_plain(pair_buf, np, r, 4, val);
    }
    out[0] = r_lo < lower_mid ? val[0] : r_lo == lower_mid ? val[1] : val[2];
    out[1] = val[1] / 2 + val[2] / 2;
    out[2] = r_hi > k ? val[3] : r_hi == k ? val[2] : val[1];
}

/* Sen (1968): the ~95 % interval of the slope runs from rank (N - C) / 2 to rank
 * (N + C) / 2 + 1 (1-based) among the N sorted pairwise slopes of m points, where
 * C = z * sqrt(Var S).  0-based, clamped, into *lo and *hi. */
static void sen_ranks(size_t m, double var, size_t *lo, size_t *hi)
{
    double np = (double)(m * (m - 1) / 2);
    double c = Z_975 * sqrt(var > 0 ? var : 0);
    double r_lo = round((np - c) / 2) - 1;
    double r_hi = round((np + c) / 2 + 1) - 1;
    *lo = r_lo < 0 ? 0 : r_lo > np - 1 ? (size_t)np - 1 : (size_t)r_lo;
    *hi = r_hi < 0 ? 0 : r_hi > np - 1 ? (size_t)np - 1 : (size_t)r_hi;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The Mann-Kendall S: rises minus falls among all pairs. */
static long mann_kendall_s(const double *v, size_t m)
{
    long sum = 0;
    for (size_t i = 0; i + 1 < m; i++)
        for (size_t j = i + 1; j < m; j++)
            sum += (v[j] > v[i]) - (v[j] < v[i]);
    return sum;
}

/* Z with the continuity correction: S moves in steps of 2. */
static double mk_z(long s, double var)
{
    if (!(var > 0) || s == 0)
        return 0;
    return ((double)s - (s > 0 ? 1 : -1)) / sqrt(var);
}

/* The variance of the Mann-Kendall S under no trend, corrected for tied values. */
static double mann_kendall_var(const double *v, size_t m)
{
    double sorted[DETECT_MAX_POINTS];
    memcpy(sorted, v, m * sizeof *v);
    qsort(sorted, m, sizeof *sorted, cmp_double);
    double ties = 0;
    for (size_t i = 0; i < m;) {
        size_t j = i + 1;
        while (j < m && sorted[j] == sorted[i])
            j++;
        double t = (double)(j - i);
        ties += t * (t - 1) * (2 * t + 5);
        i = j;
    }
    double dm = (double)m;
    return (dm * (dm - 1) * (2 * dm + 5) - ties) / 18;
}

/* 0 below half the threshold, 1 from twice it, smooth (smoothstep) in between. */
static double ramp(double margin)
{
    double x = (margin - 0.5) / 1.5;
    if (!(x > 0))
        return 0;
    if (x >= 1)
        return 1;
    return x * x * (3 - 2 * x);
}

int detect_trend(const int64_t *ts_ms, const double *values, size_t n,
                 const struct detect_params *p, struct detect_trend *out)
{
    double et[DETECT_MAX_POINTS], ev[DETECT_MAX_POINTS];

    memset(out, 0, sizeof *out);
    out->p_value = 1;
    if (n == 0)
        return -ENODATA;
    size_t m = envelope(ts_ms, values, n, p, et, ev, &out->from_ms, &out->to_ms);
    out->n_points = m;
    if (m < MIN_POINTS)
        return -ENODATA;
    out->level = ev[m - 1];

    /* The whole window: Mann-Kendall, and Theil-Sen with its interval. */
    double var = mann_kendall_var(ev, m);
    size_t r_lo, r_hi;
    sen_ranks(m, var, &r_lo, &r_hi);
    double ts3[3];
    long s;
    theil_sen(et, ev, m, r_lo, r_hi, &s, ts3);
    out->slope_lo_per_hour = ts3[0];
    out->slope_per_hour = ts3[1];
    out->slope_hi_per_hour = ts3[2];
    out->mk_s = (double)s;
    out->mk_z = mk_z(s, var);
    out->p_value = erfc(fabs(out->mk_z) / M_SQRT2);

    /* The newer two thirds: still significantly growing on their own.  A warm-up's climb,
     * or any past step, makes the whole window significant for as long as it stays in it;
     * it does not make its newer part so. */
    size_t n0 = m - (m * 2 + 2) / 3;
    long newer_s = mann_kendall_s(ev + n0, m - n0);
    double newer_z = mk_z(newer_s, mann_kendall_var(ev + n0, m - n0));
    double newer_p = erfc(fabs(newer_z) / M_SQRT2);

    /* The recent part: the newest recent_fraction of the judged time, at least a few
     * points: its slope, and the interval of that slope. */
    double span = et[m - 1];
    double cut = span - (p->recent_fraction > 0 ? p->recent_fraction : 0) * span;
    size_t r0 = m;
    while (r0 > 0 && et[r0 - 1] >= cut)
        r0--;
    if (m - r0 < MIN_RECENT_POINTS)
        r0 = m - MIN_RECENT_POINTS;
    sen_ranks(m - r0, mann_kendall_var(ev + r0, m - r0), &r_lo, &r_hi);
    long recent_s;
    theil_sen(et + r0, ev + r0, m - r0, r_lo, r_hi, &recent_s, ts3);
    out->recent_slope_per_hour = ts3[1];
    double recent_hi = ts3[2];

    double floor = p->min_growth_per_hour;
    double rel = p->min_relative_growth_per_hour * fabs(out->level);
    double thr = rel > floor ? rel : floor;
    double slope = out->slope_per_hour, recent = out->recent_slope_per_hour;
    bool significant = s > 0 && out->p_value < p->alpha && out->slope_lo_per_hour > 0 &&
                       newer_s > 0 && newer_p < p->alpha;
    bool material = slope > 0 && slope >= thr && recent > 0 && recent >= thr;
    bool steady = recent_hi >= DECEL_RATIO * slope;
    out->growing = significant && material && steady;

    /* Confidence: 1 - p (the larger of the window's and its newer part's), times a smooth
     * ramp on the narrowest margin among the materiality tests (slope and recent slope
     * against the threshold, the top of the recent slope's interval against its share of
     * the window's slope): 0 at half the bar, 1 from twice it, about 0.26 right at it. */
    if (s > 0 && newer_s > 0 && slope > 0 && recent > 0) {
        double margin = recent_hi / (DECEL_RATIO * slope);
        if (thr > 0) {
            margin = fmin(margin, slope / thr);
            margin = fmin(margin, recent / thr);
        }
        out->confidence = (1 - fmax(out->p_value, newer_p)) * ramp(margin);
    }
    return 0;
}

const char *detect_state_name(enum detect_state s)
{
    switch (s) {
    case DETECT_WARMING:
        return "warming";
    case DETECT_OK:
        return "ok";
    case DETECT_SUSPECT:
        return "suspect";
    case DETECT_LEAKING:
        return "leaking";
    }
    return "?";
}

void detector_init(struct detector *d)
{
    memset(d, 0, sizeof *d);
    d->state = DETECT_WARMING;
}

static void enter(struct detector *d, enum detect_state s, int64_t now_ms)
{
    if (d->state != s) {
        d->state = s;
        d->since_ms = now_ms;
    }
}

enum detect_state detector_update(struct detector *d, const struct detect_params *p,
                                  int64_t now_ms, int64_t oldest_ms,
                                  const struct detect_trend *trend)
{
    /* first_ms 0 means "no data yet" (callers test it to know a signal was ever seen). */
    if (oldest_ms > 0 && (d->first_ms == 0 || oldest_ms < d->first_ms))
        d->first_ms = oldest_ms;
    if (d->since_ms == 0)
        d->since_ms = now_ms;
    if (!trend) {
        d->growing_run = 0;     /* no data is no evidence either way: the state stands */
        return d->state;
    }
    d->last = *trend;

    /* Runs do not count while warming: a start-up's climb would otherwise be confirmed as
     * a leak the moment warming ends. */
    if (d->state == DETECT_WARMING) {
        if (d->first_ms == 0 || now_ms - d->first_ms < p->min_history_ms)
            return d->state;
        enter(d, DETECT_OK, now_ms);
    }

    if (trend->growing) {
        if (d->growing_run == 0)
            d->growing_since_ms = now_ms;
        d->growing_run++;
        d->clear_run = 0;
        if (d->state == DETECT_OK)
            enter(d, DETECT_SUSPECT, now_ms);
        /* Nor is a leak confirmed before the signal's history fills most of the window: a
         * warm-up that is the whole of what is judged looks like steady growth (a cache
         * that fills over ten minutes, judged at minute eleven). */
        if (d->state == DETECT_SUSPECT && d->growing_run >= p->confirm_count &&
            now_ms - d->growing_since_ms >= p->confirm_ms &&
            now_ms - d->first_ms >= p->window_ms * CONFIRM_HISTORY_PERCENT / 100)
            enter(d, DETECT_LEAKING, now_ms);
    } else {
        d->growing_run = 0;
        d->clear_run++;
        if (d->state != DETECT_OK && d->clear_run >= p->clear_count)
            enter(d, DETECT_OK, now_ms);
    }
    return d->state;
}
