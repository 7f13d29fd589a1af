#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2119,SC2317 # optional function arguments; functions run via wait_for
# go_heap_diff.sh - the heap diff names the code that leaks, not the code that makes garbage.
#
# Exercises: goleaks -mode heapleak -memprofilerate 4096 ((*sessionCache).remember keeps 2 MiB
# a second; renderPage makes 16 MiB/s of garbage and (*searchIndex).rebuild churns a fixed
# 4 MiB); heap profiles every 2 s; GET .../heap/diff?from=-20s (sites[0] is the leak: user
# frame function, file ending in main.go, line > 0, inuse_bytes_delta > 0 and >= 16 MiB; its
# allocation rate; renderPage's allocation rate shows its churn); `memwatchctl diff NAME
# --since 20s` (the leak's function printed first); the errors: an unknown target (404) and a
# target with a single profile (409 or 404, "not enough profiles"); exit 0 on SIGTERM.
# shellcheck source=../lib/common.sh
. "${MEMWATCH_SRCDIR:-$(dirname "$0")/../..}/tests/lib/common.sh"

require jq curl "$MEMWATCHD" "$MEMWATCHCTL" "$GOLEAKS"

plan 19

MiB=1048576
MW_CONFIG=$MW_GO_CONFIG
start_daemon

go_spawn leaky "$GOLEAKS" -mode heapleak -memprofilerate 4096 -stats 5s
LEAKY=$GO_PID
LEAKY_OUT=$GO_OUT
wait_line "$LEAKY_OUT" '^ready pid=' 10 || bail_out "goleaks did not start: $(cat "$LEAKY_OUT")"
ok "add leaky (goleaks -mode heapleak) with its endpoint" \
    ctl add leaky --pid "$LEAKY" --endpoint "$GO_URL"
if ! ok "within 10 s a heap profile is taken (.runtime.sources.heap.ok)" \
    wait_for "heap ok" 10 source_ok leaky heap; then
    diag "runtime: $(target_field leaky .runtime | head -c 3000)"
fi

# Twenty seconds of profiles, every 2 s: ~40 MiB leaked meanwhile.
sleep 21

DIFF=
diff_ready() {
    heap_diff_get leaky 'from=-20s&limit=1000' && DIFF=$HTTP_BODY && [ "$(jget "$DIFF" '.sites | length')" -gt 0 ]
}
if ! ok "GET /api/v1/targets/leaky/heap/diff?from=-20s answers 200 with sites" \
    wait_for "a heap diff" 5 diff_ready; then
    diag "status $HTTP_STATUS: $(printf '%.2000s' "$HTTP_BODY")"
fi
diag "diff from $(jget "$DIFF" .from) to $(jget "$DIFF" .to), total in-use delta" \
    "$(jget "$DIFF" .total_inuse_bytes_delta); top sites:" \
    "$(jget "$DIFF" '.sites[:5][] | "\(.inuse_bytes_delta) \(.user.function) \(.user.file):\(.user.line) (leaf \(.leaf.function)) alloc \(.alloc_rate_bytes_per_second)/s"')"

FUNC=$(jget "$DIFF" '.sites[0].user.function')
case $FUNC in
*sessionCache*remember*) pass "sites[0].user.function is the leak's ($FUNC)" ;;
*) fail "sites[0].user.function is the leak's ((*sessionCache).remember), got '$FUNC'" ;;
esac
FILE=$(jget "$DIFF" '.sites[0].user.file')
case $FILE in
*main.go) pass "sites[0].user.file ends with main.go ($FILE)" ;;
*) fail "sites[0].user.file ends with main.go, got '$FILE'" ;;
esac
ok "sites[0].user.line > 0" jok "$DIFF" '.sites[0].user.line | type == "number" and . > 0'
ok "sites[0].inuse_bytes_delta > 0" jok "$DIFF" '.sites[0].inuse_bytes_delta > 0'
# 2 MiB/s for the 16-20 s between the two profiles compared; each profile is as of the last
# GC, which the garbage makes frequent (several a second).
cmp_ge "sites[0].inuse_bytes_delta >= 16 MiB" "$(jget "$DIFF" '.sites[0].inuse_bytes_delta')" $((16 * MiB))
ok "the leak's leaf frame is the same function (make([]byte) is trimmed by Go)" \
    jok "$DIFF" '.sites[0].leaf.function | test("sessionCache.*remember")'
cmp_ge "the leak's allocation rate is >= 1 MiB/s" \
    "$(jget "$DIFF" '.sites[0].alloc_rate_bytes_per_second')" "$MiB"
# The garbage: in the diff (limit=1000), far down by in-use bytes but with the higher rate.
CHURN=$(jget "$DIFF" '[.sites[] | select(.user.function | test("renderPage")) |
    .alloc_rate_bytes_per_second] | add // 0')
cmp_ge "renderPage's sites allocate >= 4 MiB/s (its churn, 16 MiB/s)" "$CHURN" $((4 * MiB))
# shellcheck disable=SC2016 # $leak is jq's
ok "no renderPage site grew in use by more than the leak" \
    jok "$DIFF" '(.sites[0].inuse_bytes_delta) as $leak |
        all(.sites[] | select(.user.function | test("renderPage")); .inuse_bytes_delta < $leak)'

# --- memwatchctl diff ---------------------------------------------------------------------------
OUT=
ctl_diff() {
    OUT=$(ctl diff leaky --since 20s 2>&1)
}
if ! ok "memwatchctl diff leaky --since 20s exits 0" ctl_diff; then
    diag "$OUT"
fi
# The first line naming a function of package main is the leak's row.
FIRST=$(grep -m 1 -E '(^|[^A-Za-z0-9_/])main\.' <<<"$OUT")
case $FIRST in
*sessionCache*remember*) pass "memwatchctl diff prints (*sessionCache).remember first" ;;
*)
    fail "memwatchctl diff prints (*sessionCache).remember first"
    diag "first line naming main.: '$FIRST'" "output:" "$OUT"
    ;;
esac

# --- errors -------------------------------------------------------------------------------------
api GET "/api/v1/targets/nosuch/heap/diff?from=-1m"
is "heap diff of an unknown target: 404" "$HTTP_STATUS" 404
ok "  with an {\"error\"} body" jok "$HTTP_BODY" '.error | type == "string"'

# A target with one profile so far (the next is an hour away).
go_spawn early "$GOLEAKS" -mode idle
ok "add early with --profile-interval 1h" \
    ctl add early --pid "$GO_PID" --endpoint "$GO_URL" --profile-interval 1h
wait_for "early's first heap profile" 10 source_ok early heap
api GET "/api/v1/targets/early/heap/diff?from=-1h"
if { [ "$HTTP_STATUS" = 409 ] || [ "$HTTP_STATUS" = 404 ]; } &&
    jok "$HTTP_BODY" '.error | test("not enough profiles|profiles yet"; "i")'; then
    pass "a diff with one profile: 409/404 \"not enough profiles yet\""
else
    fail "a diff with one profile: 409/404 \"not enough profiles yet\""
    diag "status $HTTP_STATUS: $(printf '%.500s' "$HTTP_BODY")"
fi

ok "the daemon exits 0 on SIGTERM" stop_daemon

if [ "$MW_FAILED" -gt 0 ]; then
    diag "goleaks' own statistics:" "$(tail -n 8 "$LEAKY_OUT")"
fi

done_testing
