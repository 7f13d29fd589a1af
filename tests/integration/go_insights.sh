#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2119,SC2317 # optional function arguments; functions run via wait_for
# go_insights.sh - insights that are not alerts: garbage churn named by its allocating
# function, heap the runtime keeps after a burst, and silence for a program doing nothing.
#
# Exercises: [detect] speed = 20 (insight window 30 s, hold 15 s); goleaks churn at
# 64 MiB/s (plus its 16 MiB/s of live-set replacement) -> gc_churn with alloc_bytes_per_second
# >= 50 MiB/s and main.renderPage the top site; goleaks burst (300 MiB, dropped, runtime.GC())
# under GOGC=off, where Go 1.19 keeps the freed heap (measured: all 300 MiB, for good) ->
# retained_heap with retained_bytes >= 250 MiB held >= 15 s; the same burst with the default
# GOGC, where the scavenger returns it within ~2 s -> no retained_heap ever (or, should a Go
# keep it, the insight: the expectation follows what go_heap_released_bytes shows); goleaks
# idle -> no insight at any time; the insights in the target's detail JSON (Go targets only),
# GET .../insights for a target without an endpoint (empty), unknown targets (404) and other
# methods (405); memwatchctl show and memwatchctl insights (text and --json); exit 0 on
# SIGTERM.
# shellcheck source=../lib/common.sh
. "${MEMWATCH_SRCDIR:-$(dirname "$0")/../..}/tests/lib/common.sh"

require jq curl "$MEMWATCHD" "$MEMWATCHCTL" "$GOLEAKS"

plan 21

MiB=1048576
MW_CONFIG="$MW_GO_CONFIG

[detect]
speed = 20"
start_daemon

add_go churn "$GOLEAKS" -mode churn -rate-mb 64
add_go kept env GOGC=off "$GOLEAKS" -mode burst -burst-mb 300 -after 3s -hold 2s -stats 1s
KEPT_OUT=$GO_OUT
add_go burst "$GOLEAKS" -mode burst -burst-mb 300 -after 3s -hold 2s -stats 1s
BURST_OUT=$GO_OUT
add_go idle "$GOLEAKS" -mode idle
pass "four Go programs added with their endpoints"

insights() {    # insights NAME: the insights answer in INS; status 1 unless 200
    api GET "/api/v1/targets/$1/insights" && [ "$HTTP_STATUS" = 200 ] && INS=$HTTP_BODY
}
has_kind() {    # has_kind JSON KIND
    jok "$1" "any(.insights[]; .kind == \"$2\")"
}

# Watch everyone for 45 s, recording any insight the calm ones get.
declare -A EVER
START=$(date +%s)
CHURN='' KEPT=''
while [ $(($(date +%s) - START)) -lt 45 ]; do
    for t in churn kept burst idle; do
        insights "$t" || continue
        for k in $(jget "$INS" '.insights[].kind'); do
            EVER[$t]="${EVER[$t]:-} $k"
        done
        case $t in
        churn) has_kind "$INS" gc_churn && CHURN=$INS ;;
        kept) has_kind "$INS" retained_heap && KEPT=$INS ;;
        esac
    done
    sleep 1
done

# ---- churn ------------------------------------------------------------------------------------
if [ -n "$CHURN" ]; then
    pass "churn: a gc_churn insight"
else
    fail "churn: a gc_churn insight"
    diag "last answer: $INS"
fi
C=$(jget "$CHURN" '[.insights[] | select(.kind == "gc_churn")][0]')
diag "churn: $(jget "$C" .summary)"
cmp_ge "churn: alloc_bytes_per_second >= 50 MiB/s" "$(jget "$C" .figures.alloc_bytes_per_second)" \
    $((50 * MiB))
is "churn: its top allocating site is main.renderPage" "$(jget "$C" '.sites[0].function')" \
    main.renderPage
ok "churn: the site has a file, a line and a rate" \
    jok "$C" '.sites[0] | (.file | endswith("main.go")) and .line > 0 and .bytes_per_second > 0'
ok "churn: the summary names the function and suggests reuse" \
    jok "$C" '.summary | test("main.renderPage") and test("sync.Pool")'
ok "churn: the GC's share of the CPU is a figure" \
    jok "$C" '(.figures.gc_cpu_fraction // .figures.gc_cpu_fraction_since_start) | . >= 0 and . < 1'

# ---- bursts -----------------------------------------------------------------------------------
K=$(jget "$KEPT" '[.insights[] | select(.kind == "retained_heap")][0]')
if [ -n "$KEPT" ]; then
    pass "kept (GOGC=off): a retained_heap insight"
else
    fail "kept (GOGC=off): a retained_heap insight"
    diag "goleaks' statistics:" "$(tail -n 5 "$KEPT_OUT")"
fi
diag "kept: $(jget "$K" .summary)"
cmp_ge "kept: retained_bytes >= 250 MiB" "$(jget "$K" .figures.retained_bytes)" $((250 * MiB))
cmp_ge "kept: held for at least the hold (15 s at speed 20)" "$(jget "$K" .figures.retained_seconds)" 15
ok "kept: the summary says it is no leak, and what gives it back" \
    jok "$K" '.summary | test("not a leak") and test("FreeOSMemory") and test("GOMEMLIMIT")'

# What the runtime did with the default burst decides what the insight must say.
IDLE_NOW=$(go_latest burst go_heap_idle_bytes)
RELEASED_NOW=$(go_latest burst go_heap_released_bytes)
RETAINED=$(awk -v i="$IDLE_NOW" -v r="$RELEASED_NOW" 'BEGIN { printf "%.0f", i - r }')
diag "burst (default GOGC): idle $IDLE_NOW, released $RELEASED_NOW: retained $RETAINED" \
    "insights seen:${EVER[burst]:- none}"
grep -q '^burst done' "$BURST_OUT" || diag "goleaks never finished its burst: $(tail -n 3 "$BURST_OUT")"
if fge $((64 * MiB)) "$RETAINED"; then
    if [[ "${EVER[burst]:-}" != *retained_heap* ]]; then
        pass "burst: the runtime returned the memory, and no retained_heap insight came"
    else
        fail "burst: the runtime returned the memory, and no retained_heap insight came"
    fi
else
    insights burst
    if has_kind "$INS" retained_heap; then
        pass "burst: the runtime kept the memory, and the insight says so"
    else
        fail "burst: the runtime kept the memory, and the insight says so"
    fi
fi

# ---- idle ---------------------------------------------------------------------------------------
is "idle: no insight at any time in 45 s" "${EVER[idle]:-}" ""

# ---- the detail JSON, other targets, errors -------------------------------------------------------
ok "the target's detail JSON carries its insights" \
    jok "$(target_get churn)" 'any(.insights[]; .kind == "gc_churn")'
# shellcheck disable=SC2016 # eval'd
ok "a target without an endpoint has none in its JSON, and an empty list at .../insights" \
    eval 'jok "$(target_get memwatchd)" "has(\"insights\") | not" && insights memwatchd &&
          jok "$INS" ".insights == [] and .target == \"memwatchd\" and .window.from < .window.to"'
api GET /api/v1/targets/nosuch/insights
is "an unknown target: 404" "$HTTP_STATUS" 404
api POST /api/v1/targets/churn/insights '{}'
is "POST: 405" "$HTTP_STATUS" 405

# ---- memwatchctl --------------------------------------------------------------------------------
OUT=$(ctl show churn)
# shellcheck disable=SC2016 # eval'd
ok "memwatchctl show prints the insights with the site" \
    eval 'grep -q "^Insights" <<<"$OUT" && grep -q "gc_churn" <<<"$OUT" &&
          grep -Eq "MiB/s +main\.renderPage" <<<"$OUT"' || diag "$OUT"
OUT=$(ctl insights idle)
ok "memwatchctl insights idle says there is none" grep -q "none" <<<"$OUT" || diag "$OUT"
# shellcheck disable=SC2016 # eval'd
ok "memwatchctl --json insights is the daemon's JSON" \
    eval 'jok "$(ctl --json insights kept)" "any(.insights[]; .kind == \"retained_heap\")"'

stop_daemon
is "the daemon exits 0 on SIGTERM" "$MW_EXIT_STATUS" 0

done_testing
