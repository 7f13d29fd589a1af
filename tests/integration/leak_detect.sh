#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317 # functions run via wait_for
# leak_detect.sh - leak verdicts at test speed: each leak found with the right kind, no false
# alarm on programs that merely churn, burst or idle.
#
# Exercises: [detect] speed = 20 (window 90 s, history 30 s, judged every 1.5 s); goleaks
# heapleak (2 MiB/s into a never-evicted cache) -> leaking, kind heap; goleaks goroutineleak
# (50 goroutines/s blocked forever) -> leaking, kind goroutine; cgoleak (C malloc 2 MiB/s) ->
# leaking, kind non_go; goleaks churn (garbage at a flat live heap), burst (300 MiB held and
# dropped) and idle -> never leaking over the same time; the verdict's fields (growth,
# confidence, window, projection to the limit) and GET .../verdict; exit 0 on SIGTERM.
# shellcheck source=../lib/common.sh
. "${MEMWATCH_SRCDIR:-$(dirname "$0")/../..}/tests/lib/common.sh"

require jq curl "$MEMWATCHD" "$MEMWATCHCTL" "$GOLEAKS" "$CGOLEAK"

plan 12

MW_CONFIG="$MW_GO_CONFIG

[detect]
speed = 20"
start_daemon

add_go heapleak "$GOLEAKS" -mode heapleak -addr 127.0.0.1:0
add_go goleak "$GOLEAKS" -mode goroutineleak -addr 127.0.0.1:0
add_go cgo "$CGOLEAK" -rate-mb 2 -addr 127.0.0.1:0
add_go churn "$GOLEAKS" -mode churn -addr 127.0.0.1:0
add_go burst "$GOLEAKS" -mode burst -addr 127.0.0.1:0
add_go idle "$GOLEAKS" -mode idle -addr 127.0.0.1:0
pass "six Go programs added with their endpoints"

LEAKS=(heapleak goleak cgo)
CALM=(churn burst idle)
declare -A FOUND_AT KIND WORST
START=$(date +%s)
# Poll every verdict for up to 110 s: the leaks must be found, the calm ones never leak.
while :; do
    NOW=$(date +%s)
    for t in "${LEAKS[@]}" "${CALM[@]}"; do
        V=$(curl -s "$MEMWATCH_SERVER/api/v1/targets/$t/verdict")
        S=$(jget "$V" .state)
        [ "$S" = leaking ] && [ -z "${FOUND_AT[$t]:-}" ] && {
            FOUND_AT[$t]=$((NOW - START))
            KIND[$t]=$(jget "$V" .kind)
        }
        case "${WORST[$t]:-}:$S" in
        *:leaking | warming:* | ok:suspect | :*) WORST[$t]=$S ;;
        esac
    done
    done_all=1
    for t in "${LEAKS[@]}"; do [ -n "${FOUND_AT[$t]:-}" ] || done_all=0; done
    [ $((NOW - START)) -ge 110 ] && break
    # Keep watching the calm ones for at least 100 s even when the leaks are found.
    [ "$done_all" = 1 ] && [ $((NOW - START)) -ge 100 ] && break
    sleep 2
done

expect_kind() {     # expect_kind TARGET KIND
    if [ -n "${FOUND_AT[$1]:-}" ] && [ "${KIND[$1]}" = "$2" ]; then
        pass "$1: leaking, kind $2, found after ${FOUND_AT[$1]} s"
    else
        fail "$1: leaking, kind $2 (found at '${FOUND_AT[$1]:-never}', kind '${KIND[$1]:-}')"
        diag "verdict: $(curl -s "$MEMWATCH_SERVER/api/v1/targets/$1/verdict")"
    fi
}
expect_kind heapleak heap
expect_kind goleak goroutine
expect_kind cgo non_go
for t in "${CALM[@]}"; do
    if [ "${WORST[$t]:-}" != leaking ]; then
        pass "$t: never leaking over $(($(date +%s) - START)) s (worst: ${WORST[$t]:-none})"
    else
        fail "$t: never leaking (it was)"
        diag "verdict: $(curl -s "$MEMWATCH_SERVER/api/v1/targets/$t/verdict")"
    fi
done

V=$(curl -s "$MEMWATCH_SERVER/api/v1/targets/heapleak/verdict")
ok "the heap verdict's growth is positive" jok "$V" '.growth_per_hour > 0'
ok "its confidence is at least 0.9" jok "$V" '.confidence >= 0.9'
ok "it names its window and projects the time to the memory limit" \
    jok "$V" '(.window.from < .window.to) and (.seconds_to_limit | type == "number") and .limit_bytes > 0'
ok "the target JSON carries the verdict too" jok "$(target_get heapleak)" '.verdict.state == "leaking"'
stop_daemon
is "the daemon exits 0 on SIGTERM" "$MW_EXIT_STATUS" 0

done_testing
