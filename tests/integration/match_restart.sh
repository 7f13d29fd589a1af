#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2119,SC2317 # optional function arguments; functions run via wait_for
# match_restart.sh - a match target follows its service across restarts and instances.
#
# Exercises: `memwatchctl add NAME --match REGEX` on a process name (memhog run through a link
# named mwtest-svc-<pid of this script>; with 5+ digits that is over comm's 15 characters, so the
# anchored pattern only matches through argv[0]'s basename); state active while an instance
# runs, waiting when none does; following a restarted instance to its new PID within 5 s at
# a 1 s interval; two instances at once: processes[] has both, latest.processes = 2 and the
# `processes` series' newest point = 2.
# shellcheck source=../lib/common.sh
. "${MEMWATCH_SRCDIR:-$(dirname "$0")/../..}/tests/lib/common.sh"

require jq curl "$MEMWATCHD" "$MEMWATCHCTL" "$MEMHOG"

plan 12

MW_CONFIG='[sampling]
interval = 1s'
start_daemon

SVC=mwtest-svc-$$
RX="^$SVC\$"

first_pid_is() {
    [ "$(target_field svc '.processes[0].pid // empty')" = "$1" ]
}
nprocs_is() {
    [ "$(target_field svc '.processes | length')" = "$1" ]
}
latest_procs_is() {
    [ "$(target_field svc '.latest.processes // empty')" = "$1" ]
}
series_last_is() {
    [ "$(series_jq svc processes '.points[-1][1] // empty')" = "$1" ]
}
explain() {
    diag "target now: $(target_get svc | head -c 1500)"
}

memhog_as "$SVC" -mb 5
A=$MEMHOG_PID
ok "memwatchctl add svc --match '$RX'" ctl add svc --match "$RX"
ok "the target finds the running instance" wait_for "svc to have pid $A" 10 first_pid_is "$A" ||
    explain
ok "its state is active" target_state_is svc active

{ kill -KILL "$A"; wait "$A"; } 2>/dev/null
ok "with no instance left the target goes waiting" \
    wait_for "svc to be waiting" 5 target_state_is svc waiting || explain

memhog_as "$SVC" -mb 5
B=$MEMHOG_PID
ok "within 5 s the target follows the new instance" \
    wait_for "svc to have pid $B" 5 first_pid_is "$B" || explain
ok "its state is active again" target_state_is svc active
ok "only the new instance is listed" nprocs_is 1

memhog_as "$SVC" -mb 5
C=$MEMHOG_PID
ok "with a second instance the target lists 2 processes" \
    wait_for "svc to have 2 processes" 5 nprocs_is 2 || explain
is "they are the two running instances" \
    "$(target_field svc '[.processes[].pid] | sort | map(tostring) | join(" ")')" \
    "$(printf '%s\n' "$B" "$C" | sort -n | tr '\n' ' ' | sed 's/ $//')"
ok "latest.processes is 2" wait_for "latest.processes = 2" 3 latest_procs_is 2 || explain
ok "the processes series' newest point is 2" wait_for "processes series = 2" 3 series_last_is 2 ||
    diag "series: $(series_get svc processes | head -c 1500)"

ok "the daemon exits 0 on SIGTERM" stop_daemon

done_testing
