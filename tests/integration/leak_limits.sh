#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2119,SC2317 # optional function arguments; functions run via wait_for
# leak_limits.sh - the limit a verdict projects onto, and where it comes from.
#
# Exercises: [detect] speed = 20; a Go heap leak started with GOMEMLIMIT=512MiB (goleaks
# heapleak, 4 MiB/s) -> limit_source "GOMEMLIMIT", limit_bytes 512 MiB, limits.GOMEMLIMIT,
# limits.MemTotal as /proc/meminfo says, a time to the limit below what the same growth would
# take to fill the machine; a Go program without GOMEMLIMIT -> the machine's own limit
# (memory.max if its cgroup has one below MemTotal, else MemTotal), GOMEMLIMIT null; a
# process without an endpoint started with GOMEMLIMIT (memhog) -> GOMEMLIMIT reported but
# never projected onto (its RSS is not what GOMEMLIMIT bounds); the daemon's log line naming
# the limits; memwatchctl show's verdict line; exit 0 on SIGTERM.
# shellcheck source=../lib/common.sh
. "${MEMWATCH_SRCDIR:-$(dirname "$0")/../..}/tests/lib/common.sh"

require jq curl "$MEMWATCHD" "$MEMWATCHCTL" "$GOLEAKS" "$MEMHOG"

plan 13

MiB=1048576
MEMTOTAL=$(awk '$1 == "MemTotal:" { printf "%.0f\n", $2 * 1024 }' /proc/meminfo)
MW_CONFIG="$MW_GO_CONFIG

[detect]
speed = 20"
start_daemon

go_spawn leak env GOMEMLIMIT=512MiB "$GOLEAKS" -mode heapleak -rate-mb 4 -max-mb 400
ctl add leak --pid "$GO_PID" --endpoint "$GO_URL" >/dev/null
go_spawn plain "$GOLEAKS" -mode idle
ctl add plain --pid "$GO_PID" --endpoint "$GO_URL" >/dev/null
spawn hog env GOMEMLIMIT=256MiB "$MEMHOG" -mb 20
wait_line "$SPAWN_OUT" '^ready pid=' 10 >/dev/null
ctl add hog --pid "$SPAWN_PID" >/dev/null
pass "three targets added"

verdict() {     # verdict NAME: the verdict JSON in V; status 1 while it is warming
    V=$(curl -s "$MEMWATCH_SERVER/api/v1/targets/$1/verdict")
    jok "$V" '.state != "warming" and has("limits")'
}
# Warming lasts min_history (30 s at speed 20); the leak must also be judged growing.
leak_projected() {
    verdict leak && jok "$V" '.kind == "heap" and (.seconds_to_limit | type == "number")'
}
ok "leak: judged, a heap verdict with a projection (within 60 s)" \
    wait_for "leak's verdict" 60 leak_projected || diag "verdict: $V"
diag "leak: $V"
is "leak: limit_source is GOMEMLIMIT" "$(jget "$V" .limit_source)" GOMEMLIMIT
is "leak: limit_bytes and limits.GOMEMLIMIT are 512 MiB" \
    "$(jget "$V" '"\(.limit_bytes) \(.limits.GOMEMLIMIT)"')" "$((512 * MiB)) $((512 * MiB))"
is "leak: limits.MemTotal is /proc/meminfo's" "$(jget "$V" .limits.MemTotal)" "$MEMTOTAL"
# At +G bytes/h from the Go total, GOMEMLIMIT comes before the machine's memory does.
ok "leak: the time to the limit is that of 512 MiB, not of the machine" \
    jok "$V" '.seconds_to_limit < (512 * 1048576) / (.growth_per_hour / 3600)'

ok "plain: judged (within 30 s)" wait_for "plain's verdict" 30 verdict plain || diag "verdict: $V"
diag "plain: $V"
# shellcheck disable=SC2016 # $mt is jq's
ok "plain: the machine's limit, no GOMEMLIMIT" \
    jok "$V" '((.limit_source == "MemTotal" and .limit_bytes == $mt) or
        (.limit_source == "memory.max" and .limit_bytes == .limits["memory.max"] and
         .limit_bytes < $mt)) and .limits.GOMEMLIMIT == null' --argjson mt "$MEMTOTAL"

ok "hog: judged (within 30 s)" wait_for "hog's verdict" 30 verdict hog || diag "verdict: $V"
diag "hog: $V"
ok "hog: GOMEMLIMIT is reported, RSS is projected onto the machine's limit" \
    jok "$V" '.kind == "rss" and .limits.GOMEMLIMIT == 268435456 and .limit_source != "GOMEMLIMIT"'

OUT=$(ctl show leak)
ok "memwatchctl show: the verdict line names the limit and its source" \
    grep -q "^verdict: .*limit 512 MiB (GOMEMLIMIT)" <<<"$OUT" || diag "$OUT"
ok "the daemon logged the leak's limits" \
    grep -q 'target "leak": memory limit .*GOMEMLIMIT 512 MiB' "$MW_STATE/daemon.log"

stop_daemon
is "the daemon exits 0 on SIGTERM" "$MW_EXIT_STATUS" 0

done_testing
