#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2119,SC2317 # optional function arguments; functions run via wait_for
# rss_growth.sh - a process's RSS growth reaches the stored series and memwatchctl.
#
# Exercises: `memwatchctl add NAME --pid PID`; 1 s sampling of a pid target whose RSS rises by
# 100 MiB (memhog idles 3 s, then allocates and touches 100 MiB); `memwatchctl --json series
# NAME rss_bytes --since 5m` (max - min >= 90 MiB within 20 s); `memwatchctl show NAME`
# (mentions the name); `memwatchctl --json show NAME` (.latest.rss_bytes >= 100 MiB, state
# active, processes[0].pid is the process).
# shellcheck source=../lib/common.sh
. "${MEMWATCH_SRCDIR:-$(dirname "$0")/../..}/tests/lib/common.sh"

require jq curl "$MEMWATCHD" "$MEMWATCHCTL" "$MEMHOG"

plan 8

MW_CONFIG='[sampling]
interval = 1s'
start_daemon

memhog -after 3s -mb 100
HOG=$MEMHOG_PID
ok "memwatchctl add hog --pid PID" ctl add hog --pid "$HOG"

ok "memhog allocated its 100 MiB" wait_line "$MEMHOG_OUT" '^ready pid=' 10

SPAN=
# The stored series spans >= 90 MiB (94371840 bytes) between its lowest and highest point.
rss_rose() {
    local j
    j=$(ctl --json series hog rss_bytes --since 5m) || return 1
    SPAN=$(jget "$j" '[.points[][1]] | if length > 1 then max - min else 0 end')
    fge "$SPAN" 94371840
}
if ! ok "within 20 s the stored rss_bytes series rises by >= 90 MiB" \
    wait_for "the rss_bytes series to span 90 MiB" 20 rss_rose; then
    diag "last span seen: '${SPAN}' bytes; series: $(ctl --json series hog rss_bytes --since 5m 2>&1 | head -c 2000)"
    diag "memhog's RSS now: $(ps -o rss= -p "$HOG") KiB"
fi

show_mentions_name() {
    ctl show hog | grep -q hog
}
ok "memwatchctl show hog mentions the name" show_mentions_name

J=$(ctl --json show hog)
cmp_ge "memwatchctl --json show hog: .latest.rss_bytes >= 100 MiB" \
    "$(jget "$J" '.latest.rss_bytes')" 104857600
is "memwatchctl --json show hog: state is active" "$(jget "$J" .state)" active
is "memwatchctl --json show hog: processes[0].pid is memhog's" "$(jget "$J" '.processes[0].pid')" "$HOG"

ok "the daemon exits 0 on SIGTERM" stop_daemon

done_testing
