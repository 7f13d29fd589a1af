#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2119,SC2317 # optional function arguments; functions run via wait_for
# daemon_restart.sh - targets and history survive a clean restart on the same state dir.
#
# Exercises: a pid target and a match target; >= 5 rss_bytes samples each; SIGTERM (exit 0,
# everything flushed); a restart on the same state dir; the targets listed again with the
# same selectors (selector, pid, match, cmdline); each series still holding at least the points
# it had before; new points after the restart; the pid target, whose process (same PID, same
# start time) still runs, active again; a second clean stop.
# shellcheck source=../lib/common.sh
. "${MEMWATCH_SRCDIR:-$(dirname "$0")/../..}/tests/lib/common.sh"

require jq curl "$MEMWATCHD" "$MEMWATCHCTL" "$MEMHOG"

plan 13

MW_CONFIG='[sampling]
interval = 1s'
start_daemon

SVC=mwtest-rs-$$
memhog -mb 5
A=$MEMHOG_PID
memhog_as "$SVC" -mb 5
ok "add ra --pid" ctl add ra --pid "$A"
ok "add rb --match" ctl add rb --match "^$SVC\$"

both_have() {
    fge "$(series_count ra rss_bytes)" "$1" && fge "$(series_count rb rss_bytes)" "$1"
}
ok "both have >= 5 rss_bytes samples within 15 s" wait_for ">= 5 samples each" 15 both_have 5

# What identifies a target: compared before and after the restart.
selectors() {
    api GET /api/v1/targets &&
        jget "$HTTP_BODY" '[if type == "array" then .[] else .targets[] end
                            | select(.name == "ra" or .name == "rb")
                            | {name, selector, pid: (if .selector == "pid" then .pid else null end),
                               match, cmdline: (.cmdline // false)}] | sort_by(.name) | tostring'
}
SEL1=$(selectors)
RA1=$(series_count ra rss_bytes)
RB1=$(series_count rb rss_bytes)

ok "SIGTERM: the daemon exits 0" stop_daemon
RESTART_T=$(now_s)
restart_daemon
api GET /api/v1/health
is "after the restart the daemon is healthy" "$HTTP_STATUS" 200

SEL2=$(selectors)
ok "both targets are listed again" test -n "$SEL2" -a "$(jget "$SEL2" length)" = 2
is "with the same selectors" "$SEL2" "$SEL1"
cmp_ge "ra still has its earlier points" "$(series_count ra rss_bytes)" "$RA1"
cmp_ge "rb still has its earlier points" "$(series_count rb rss_bytes)" "$RB1"

new_points() {
    fge "$(series_newest ra rss_bytes)" "$RESTART_T" && fge "$(series_newest rb rss_bytes)" "$RESTART_T"
}
ok "both get new points after the restart (within 5 s)" wait_for "points after the restart" 5 new_points
ok "the pid target (its process still runs) is active" \
    wait_for "ra to be active" 5 target_state_is ra active
ok "the match target is active" wait_for "rb to be active" 5 target_state_is rb active
ok "SIGTERM after the restart: exits 0 again" stop_daemon

done_testing
