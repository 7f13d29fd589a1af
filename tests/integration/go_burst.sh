#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2119,SC2317 # optional function arguments; functions run via wait_for
# go_burst.sh - a burst of allocation that is freed again is seen as such, never as a leak.
#
# Exercises: goleaks -mode burst (after 8 s, loadWholeArchive allocates and touches 300 MiB,
# holds it 4 s, drops it and runs runtime.GC(); no debug.FreeOSMemory); what Go 1.19 then does,
# measured with the program's own runtime.ReadMemStats: HeapAlloc falls to < 1 MiB at once,
# HeapIdle stays ~300 MiB, and the background scavenger returns it within ~2 s (HeapReleased
# ~300 MiB, RSS back to ~20 MiB).  Checked through memwatchd: go_heap_alloc_bytes peaked
# >= 280 MiB during the burst, go_heap_idle_bytes >= 250 MiB after it, go_heap_released_bytes
# reaching >= 250 MiB and rss_bytes falling below 100 MiB within 15 s; the breakdown (live_heap
# < 50 MiB, released_heap_bytes >= 250 MiB, neither summary calling it a leak, also over the
# range from before the burst); the heap diff over the burst (loadWholeArchive allocated
# >= 250 MiB, no site holds >= 50 MiB more); exit 0 on SIGTERM.
# shellcheck source=../lib/common.sh
. "${MEMWATCH_SRCDIR:-$(dirname "$0")/../..}/tests/lib/common.sh"

require jq curl "$MEMWATCHD" "$MEMWATCHCTL" "$GOLEAKS"

plan 17

MiB=1048576
MW_CONFIG=$MW_GO_CONFIG
start_daemon

go_spawn burst "$GOLEAKS" -mode burst -burst-mb 300 -after 8s -hold 4s -stats 1s
BURST_OUT=$GO_OUT
ok "add burst (goleaks -mode burst) with its endpoint" \
    ctl add burst --pid "$GO_PID" --endpoint "$GO_URL"
if ! ok "within 6 s vars and heap are scraped" \
    wait_for "vars and heap ok" 6 eval 'source_ok burst vars && source_ok burst heap'; then
    diag "runtime: $(target_field burst .runtime | head -c 3000)"
fi
grep -q '^burst allocated' "$BURST_OUT" && bail_out "the burst started before memwatchd had scraped once"
T_BEFORE=$(now_s)

if ! ok "goleaks prints 'burst done' (within 20 s)" wait_line "$BURST_OUT" '^burst done' 20; then
    diag "$(cat "$BURST_OUT")"
fi
T_DONE=$(now_s)

cmp_ge "go_heap_alloc_bytes peaked >= 280 MiB during the burst" \
    "$(series_stat burst go_heap_alloc_bytes "$T_BEFORE" 'map(.[1]) | max')" $((280 * MiB))
cmp_ge "rss_bytes peaked >= 280 MiB during the burst" \
    "$(series_stat burst rss_bytes "$T_BEFORE" 'map(.[1]) | max')" $((280 * MiB))

# The scavenger hands the freed spans back (measured: 1.5-2 s after the GC).
RELEASED=
returned() {
    RELEASED=$(series_stat burst go_heap_released_bytes "$T_DONE" 'map(.[1]) | last // 0')
    fge "$RELEASED" $((250 * MiB))
}
if ! ok "within 15 s go_heap_released_bytes reaches >= 250 MiB (the scavenger returned it)" \
    wait_for "released >= 250 MiB" 15 returned; then
    diag "newest go_heap_released_bytes: '$RELEASED'"
fi
sleep 2  # a couple more OS samples and scrapes with the memory returned
NEWEST_RSS=$(series_stat burst rss_bytes -3s 'map(.[1]) | last')
if [ -n "$NEWEST_RSS" ] && fge $((100 * MiB)) "$NEWEST_RSS"; then
    pass "rss_bytes is back below 100 MiB ($NEWEST_RSS)"
else
    fail "rss_bytes is back below 100 MiB (got '$NEWEST_RSS')"
fi
# HeapIdle keeps the spans (HeapSys never shrinks); only HeapReleased says they left RSS.
cmp_ge "go_heap_idle_bytes after the burst is >= 250 MiB" \
    "$(series_stat burst go_heap_idle_bytes "$T_DONE" 'map(.[1]) | last')" $((250 * MiB))

# calls_it_leak TEXT: mentions a leak, other than to say it is not one.
calls_it_leak() {
    grep -qi leak <<<"$1" && ! grep -Eqi "not[^.;]*leak" <<<"$1"
}

BD=
bd_ready() {
    breakdown_get burst && BD=$HTTP_BODY && [ -n "$(part_bytes "$BD" live_heap)" ]
}
if ! ok "GET /api/v1/targets/burst/breakdown answers 200" wait_for "a breakdown" 5 bd_ready; then
    diag "status $HTTP_STATUS: $(printf '%.2000s' "$HTTP_BODY")"
fi
diag "parts: $(jget "$BD" '[.parts[] | "\(.name)=\(.bytes)"] | join(" ")')" \
    "released_heap_bytes: $(jget "$BD" .released_heap_bytes)" "summary: $(jget "$BD" .summary)"
LIVE=$(part_bytes "$BD" live_heap)
if [ -n "$LIVE" ] && fge $((50 * MiB)) "$LIVE"; then
    pass "live_heap after the burst is < 50 MiB ($LIVE)"
else
    fail "live_heap after the burst is < 50 MiB (got '$LIVE')"
fi
cmp_ge "released_heap_bytes >= 250 MiB" "$(jget "$BD" .released_heap_bytes)" $((250 * MiB))
SUMMARY=$(jget "$BD" .summary)
if [ -n "$SUMMARY" ] && ! calls_it_leak "$SUMMARY"; then
    pass "the summary does not call it a leak"
else
    fail "the summary does not call it a leak: '$SUMMARY'"
fi

BDC=
bdc_ready() {
    breakdown_get burst "from=$T_BEFORE" && BDC=$HTTP_BODY && jok "$BDC" '.change.summary | type == "string"'
}
if ! ok "the breakdown over the burst (from before it) has a change" \
    wait_for "a breakdown with change" 5 bdc_ready; then
    diag "status $HTTP_STATUS: $(printf '%.2000s' "$HTTP_BODY")"
fi
CSUM=$(jget "$BDC" .change.summary)
diag "change summary: $CSUM"
if [ -n "$CSUM" ] && ! calls_it_leak "$CSUM"; then
    pass "the change summary does not call it a leak"
else
    fail "the change summary does not call it a leak: '$CSUM'"
fi

heap_diff_get burst "from=$T_BEFORE&limit=1000" || diag "heap diff: status $HTTP_STATUS: $(printf '%.500s' "$HTTP_BODY")"
DIFF=$HTTP_BODY
diag "heap diff: $(jget "$DIFF" '.sites[:3][] | "\(.inuse_bytes_delta) in use, \(.alloc_bytes_delta) allocated: \(.user.function)"')"
cmp_ge "the heap diff: loadWholeArchive allocated >= 250 MiB" \
    "$(jget "$DIFF" '[.sites[] | select(.user.function | test("loadWholeArchive")) | .alloc_bytes_delta] | add // 0')" \
    $((250 * MiB))
ok "the heap diff: no site holds >= 50 MiB more than before the burst" \
    jok "$DIFF" '[.sites[].inuse_bytes_delta] | all(. < 50 * 1048576)'

ok "the daemon exits 0 on SIGTERM" stop_daemon

if [ "$MW_FAILED" -gt 0 ]; then
    diag "goleaks' own statistics:" "$(cat "$BURST_OUT")"
fi

done_testing
