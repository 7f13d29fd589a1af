#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2119 # start_daemon takes no arguments here
# corpus_detect.sh - the leak detector against the evaluation corpus (tests/corpus), shortened
# for make check: a few scenarios at speed 20 under one memwatchd, driven by
# tests/lib/corpus.sh like bench/detect.sh (which plays all 14 at speed 10).
#
# Exercises: [detect] speed = 20 (window 90 s, min_history 30 s, confirmation 15 s), Go
# scrapes every 1 s and profiles every 3 s; the leaks map-cache (1 MiB/s at speed 1, heap),
# goroutine-block (goroutine), cgo-malloc (non_go) and late-onset (heap, onset 60 s in) ->
# leaking between their onset and their cap, with the right kind; the culprit first for the
# heap and goroutine leaks (the alert's first culprit, from GET /api/v1/alerts; while that
# answers 404, the first site of the profile diff since the onset); late-onset never leaking
# before its onset; the non-leaks cache-plateau (warm-up to a plateau), burst-release (300 MiB
# every 30 s) and goroutine-churn (~500 goroutines coming and going) never leaking; the 1 MiB/s
# leak found within 3 minutes of its onset.  About 2.5 minutes.
# shellcheck source=../lib/common.sh
. "${MEMWATCH_SRCDIR:-$(dirname "$0")/../..}/tests/lib/common.sh"
# shellcheck source=../lib/corpus.sh
. "$MEMWATCH_SRCDIR/tests/lib/corpus.sh"

CORPUS=$MEMWATCH_BUILDDIR/tests/corpus/corpus
require jq curl awk "$MEMWATCHD" "$MEMWATCHCTL" "$CORPUS"

SPEED=20
DURATION=140        # of polling: late-onset is judged for 80 s after its onset
LEAKS=(map-cache goroutine-block cgo-malloc late-onset)
CALM=(cache-plateau burst-release goroutine-churn)

plan 14

MW_CONFIG=$(corpus_config "$SPEED")
MW_LOG_LEVEL=info
start_daemon

# Caps: map-cache leaks 20 MiB/s here, found after about 50 s; it stops growing at 65 s.
CORPUS_MAX_MB=1300
corpus_init "$MW_TMP/corpus" "$SPEED" "$MEMWATCH_SERVER" "$CORPUS" "$MEMWATCHCTL"
corpus_start map-cache map-cache
corpus_start goroutine-block goroutine-block
corpus_start cgo-malloc cgo-malloc -rate-mb 0.5
corpus_start late-onset late-onset -rate-mb 0.5 -onset 60s
corpus_start cache-plateau cache-plateau
corpus_start burst-release burst-release
corpus_start goroutine-churn goroutine-churn
started=1
for t in "${LEAKS[@]}" "${CALM[@]}"; do
    corpus_ready "$t" 15 && corpus_add "$t" || started=0
done
[ "$started" = 1 ] || bail_out "the corpus scenarios did not start or could not be added"
pass "${#CORPUS_NAMES[@]} corpus scenarios at speed $SPEED, added with their endpoints"

corpus_run "$DURATION" 2>"$MW_TMP/corpus-events.log"
corpus_stop_all 2>>"$MW_TMP/corpus-events.log"
REPORT=$(corpus_report)

for t in "${LEAKS[@]}"; do
    want=${C_TRUTH[$t]#leak:}
    if [ -n "${C_DET_MS[$t]:-}" ] && [ "${C_DET_KIND[$t]}" = "$want" ]; then
        pass "$t: leaking, kind $want, $(_c_s $((C_DET_MS[$t] - C_ONSET_MS[$t]))) s after its onset"
    else
        if [ -n "${C_DET_MS[$t]:-}" ]; then
            fail "$t: leaking, kind $want (got kind '${C_DET_KIND[$t]}', $(_c_s $((C_DET_MS[$t] - C_ONSET_MS[$t]))) s after its onset)"
        else
            fail "$t: leaking, kind $want (never leaking between its onset and its end)"
        fi
        diag "signals when first leaking: ${C_DET_SIGNALS[$t]:-none}"
        diag "verdict now: $(curl -s "$MEMWATCH_SERVER/api/v1/targets/$t/verdict")"
    fi
done

for t in map-cache goroutine-block late-onset; do
    if [ "${C_CUL_OK[$t]:-0}" = 1 ]; then
        pass "$t: the first culprit is ${C_CUL_FN[$t]} (from the ${C_CUL_SRC[$t]})"
    else
        fail "$t: the first culprit is ${C_CULPRIT[$t]} (got '${C_CUL_FN[$t]:-none}' from the ${C_CUL_SRC[$t]:-nothing})"
    fi
done

if [ -z "${C_FA_MS[late-onset]:-}" ]; then
    pass "late-onset: never leaking before its onset (worst: ${C_WORST[late-onset]})"
else
    fail "late-onset: never leaking before its onset (it was, $(_c_s $((C_ONSET_MS[late-onset] - C_FA_MS[late-onset]))) s before)"
fi
for t in "${CALM[@]}"; do
    if [ -z "${C_FA_MS[$t]:-}" ]; then
        pass "$t: never leaking over $DURATION s (worst: ${C_WORST[$t]})"
    else
        fail "$t: never leaking (it was at +$(_c_s $((C_FA_MS[$t] - C_START_MS[$t]))) s, kind $(_c_fa_kind "$t"))"
    fi
done

if [ -n "${C_DET_MS[map-cache]:-}" ]; then
    cmp_ge "map-cache (1 MiB/s): found within 180 s of its onset" \
        $((180 - (C_DET_MS[map-cache] - C_ONSET_MS[map-cache]) / 1000)) 0
else
    fail "map-cache (1 MiB/s): found within 180 s of its onset (never found)"
fi
cmp_ge "the scenarios' RSS stayed under the memory guard" \
    $((CORPUS_MAX_RSS_MIB - CORPUS_PEAK_RSS_KIB / 1024)) 0

diag "$REPORT"
[ "$MW_FAILED" -gt 0 ] && diag "events:" "$(cat "$MW_TMP/corpus-events.log")"
done_testing
