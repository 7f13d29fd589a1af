#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2119,SC2317 # optional function arguments; functions run via wait_for
# target_gone.sh - a pid target whose process exits becomes "gone" and keeps its history.
#
# Exercises: `memwatchctl add NAME --pid PID` of a process that exits by itself after 3 s
# (memhog -exit-after 3s); processes[0].start_time present and constant while it runs (the
# process identity that guards against PID reuse); state "gone" within 10 s of the exit; a
# gone target stays listed, gone, and unsampled (no new points); its history still queryable;
# the daemon healthy and alive afterwards; a new pid target for a new process works (active,
# its pid, latest.rss_bytes > 0, constant start_time).  Not covered: a real PID reuse, which
# cannot be forced quickly with pid_max in the millions.
# shellcheck source=../lib/common.sh
. "${MEMWATCH_SRCDIR:-$(dirname "$0")/../..}/tests/lib/common.sh"

require jq curl "$MEMWATCHD" "$MEMWATCHCTL" "$MEMHOG"

plan 18

MW_CONFIG='[sampling]
interval = 1s'
start_daemon

npoints_ge() {      # npoints_ge NAME N
    fge "$(series_count "$1" rss_bytes)" "$2"
}

memhog -mb 10 -exit-after 3s
G=$MEMHOG_PID
ok "memwatchctl add gonehog --pid PID (a process that exits after 3 s)" ctl add gonehog --pid "$G"
ok "it is sampled" wait_for "a sample of gonehog" 2 npoints_ge gonehog 1
J=$(target_get gonehog)
is "selector is pid" "$(jget "$J" .selector)" pid
is "processes[0].pid is the process" "$(jget "$J" '.processes[0].pid')" "$G"
ST1=$(jget "$J" '.processes[0].start_time // empty')
ok "processes[0].start_time is present" test -n "$ST1"
N0=$(series_count gonehog rss_bytes)
wait_for "another sample of gonehog" 2 npoints_ge gonehog $((N0 + 1))
is "processes[0].start_time stays the same across samples" \
    "$(target_field gonehog '.processes[0].start_time // empty')" "$ST1"

wait "$G"
is "memhog exited by itself with status 0" "$?" 0
ok "within 10 s of the exit the target is gone" \
    wait_for "gonehog to be gone" 10 target_state_is gonehog gone ||
    diag "target now: $(target_get gonehog | head -c 1500)"

api GET /api/v1/health
is "the daemon is healthy" "$HTTP_STATUS" 200
ok "the daemon process is alive" daemon_alive

N1=$(series_count gonehog rss_bytes)
cmp_ge "the gone target's history is still queryable (points)" "$N1" 1
sleep 2.5
is "after 2.5 s more it is still gone" "$(target_field gonehog .state)" gone
is "and it got no new points" "$(series_count gonehog rss_bytes)" "$N1"

memhog -mb 5
P=$MEMHOG_PID
ok "memwatchctl add newhog --pid PID (a new process)" ctl add newhog --pid "$P"
rss_positive() {
    fge "$(target_field newhog '.latest.rss_bytes // empty')" 1
}
ok "the new target is active with latest.rss_bytes > 0" \
    wait_for "newhog to be sampled" 5 rss_positive &&
    target_state_is newhog active
J=$(target_get newhog)
is "its processes[0].pid is the new process" "$(jget "$J" '.processes[0].pid')" "$P"
ST2=$(jget "$J" '.processes[0].start_time // empty')
N2=$(series_count newhog rss_bytes)
wait_for "another sample of newhog" 3 npoints_ge newhog $((N2 + 1))
ok "its start_time is present and stays the same across samples" \
    test -n "$ST2" -a "$(target_field newhog '.processes[0].start_time // empty')" = "$ST2"

ok "the daemon exits 0 on SIGTERM" stop_daemon

done_testing
