#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2119,SC2317 # optional function arguments; functions run via wait_for
# crash_recovery.sh - a SIGKILLed daemon loses at most one flush interval of samples.
#
# Exercises: the INI config ([sampling] interval = 1s, [storage] flush_interval = 1s); a pid
# target sampled for ~6 s; the newest point time T the API reports; 2 s more, then SIGKILL;
# a restart on the same state dir: healthy, the target still there (same selector and pid),
# its stored points (those before the kill) reaching at least T - 2 s, none of the points up
# to T - 2 s lost, and sampling resuming after the restart.
# shellcheck source=../lib/common.sh
. "${MEMWATCH_SRCDIR:-$(dirname "$0")/../..}/tests/lib/common.sh"

require jq curl "$MEMWATCHD" "$MEMWATCHCTL" "$MEMHOG"

plan 11

MW_CONFIG='[sampling]
interval = 1s

[storage]
flush_interval = 1s'
start_daemon

memhog -mb 5
H=$MEMHOG_PID
ok "add crash --pid" ctl add crash --pid "$H"
ADDED=$SECONDS

npoints_ge() {
    fge "$(series_count crash rss_bytes)" "$1"
}
ok "it has >= 5 samples within 10 s" wait_for ">= 5 samples" 10 npoints_ge 5
while [ $((SECONDS - ADDED)) -lt 6 ]; do sleep 0.2; done

T=$(series_newest crash rss_bytes)
ok "the newest point time T is known" fge "$T" 1
T2=$(awk -v t="$T" 'BEGIN { printf "%.3f", t - 2 }')
# How many points up to T - 2 s there were: none of them may be lost.
count_upto() {
    # shellcheck disable=SC2016 # $lim is jq's
    series_jq crash rss_bytes '[.points[][0] | select(. <= ($lim | tonumber))] | length' --arg lim "$1"
}
N_OLD=$(count_upto "$T2")

sleep 2
KILL_T=$(now_s)
ok "SIGKILL the daemon" kill_daemon
diag "T = $T, killed at $KILL_T, $N_OLD points up to T - 2 s"

restart_daemon
api GET /api/v1/health
is "the restarted daemon is healthy" "$HTTP_STATUS" 200
J=$(target_get crash)
is "the target is still there, by pid" "$(jget "$J" '.selector + " " + (.pid | tostring)')" "pid $H"

LAST=$(series_newest crash rss_bytes "$KILL_T")
cmp_ge "the stored points reach at least T - 2 s" "$LAST" "$T2"
diag "newest point before the kill, after the restart: $LAST"
cmp_ge "no point up to T - 2 s was lost" "$(count_upto "$T2")" "$N_OLD"

sampled_again() {
    fge "$(series_newest crash rss_bytes)" "$KILL_T"
}
ok "sampling resumes after the restart (within 5 s)" wait_for "new points" 5 sampled_again
ok "the daemon process is alive" daemon_alive
ok "SIGTERM: the restarted daemon exits 0" stop_daemon

done_testing
