#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317 # cleanup runs from a trap
# detect.sh BUILDDIR [SPEED [DURATION_S]] - how well memwatchd's leak detector does on the
# evaluation corpus (tests/corpus: 14 scenarios with known truth).  Prints figures, never
# pass/fail (tests/integration/corpus_detect.sh asserts on a shortened run).
#
# One memwatchd (port 0, a new state dir, tests/lib/corpus.sh's configuration: [detect]
# speed = SPEED, [go] runtime_interval 10 s / SPEED (>= 1 s), profile_interval 60 s / SPEED
# (>= 2 s), sampling every second) watches all 14 scenarios at once, each played at -speed
# SPEED with -memprofilerate 4096 (so that slow-churn's culprit stands out in the heap
# profiles), added with `memwatchctl add NAME --pid PID --endpoint URL`.  late-onset's onset
# is at 5/12 of the run.  Every second the verdict of each target and GET /api/v1/alerts are
# read, for DURATION_S seconds (default 3600 / SPEED: 6 minutes at 10, an hour of the
# story; long enough for cache-plateau's warm-up to leave the detection window and for
# several of burst-release's bursts).
#
# Memory: a 1 MiB/s leak grows for 1600 s of the story (160 s of the clock at speed 10)
# before its cap (-max-mb 1600); heap leaks run with GOMEMLIMIT = cap + 200 MiB; a leak is
# stopped once it has been detected and its culprit recorded (and its alert has fired, when
# the daemon has alerts), at its cap, or when the scenarios together pass BENCH_MAX_RSS_MIB
# (10240) of RSS; from then on it is no longer judged, so a leak not found by its cap counts
# as missed.  Expect 7-8 GiB at the peak (four heap leaks grow at once).
#
# Prints per scenario: truth, TP/FN/TN/FP, the kind of the first "leaking" verdict, the time
# from the onset ("phase leak-start") to it and to the alert's fired time (seconds, and
# minutes of the story at speed 1), the first culprit (from the alert; from the heap or
# goroutine profile diff since the onset while GET /api/v1/alerts answers 404) against
# corpus_culprit, false alarms; then the confusion matrix, kind and culprit accuracy,
# median and max time to detect, and the 1 MiB/s leaks (map-cache, slice-append) against
# the 3-minute target.
#
# Environment: BENCH_MAX_RSS_MIB (10240), BENCH_MAX_MB (the leaks' cap, MiB; 1600),
# BENCH_LOG_LEVEL (info), BENCH_TMPDIR (where the work dir goes; default $TMPDIR or /tmp),
# BENCH_KEEP=1 keeps the work dir (daemon log, verdicts.tsv, alerts.tsv, the programs'
# output).  Exit status 0 whenever it ran; 1 if it could not run, 2 on bad usage.
set -u

usage() {
    echo "usage: $0 BUILDDIR [SPEED [DURATION_S]]   (BUILDDIR has memwatchd, memwatchctl, tests/corpus/corpus)" >&2
    exit 2
}
if [ $# -lt 1 ] || [ $# -gt 3 ] || [ ! -d "$1" ]; then
    usage
fi
BUILDDIR=$(cd "$1" && pwd)
SPEED=${2:-10}
if ! [[ $SPEED =~ ^[1-9][0-9]*$ ]] || [ "$SPEED" -gt 1000 ]; then
    echo "detect: SPEED must be a whole number from 1 to 1000" >&2
    usage
fi
DURATION=${3:-$((3600 / SPEED))}
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || { echo "detect: DURATION_S must be a whole number of seconds" >&2; usage; }
SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
MEMWATCHD=$BUILDDIR/memwatchd
MEMWATCHCTL=$BUILDDIR/memwatchctl
CORPUS=$BUILDDIR/tests/corpus/corpus
LOG_LEVEL=${BENCH_LOG_LEVEL:-info}
HZ=$(getconf CLK_TCK)

for cmd in curl jq awk; do
    command -v "$cmd" >/dev/null || { echo "detect: needs $cmd (apt-get install $cmd)" >&2; exit 1; }
done
for f in "$MEMWATCHD" "$MEMWATCHCTL" "$CORPUS"; do
    [ -x "$f" ] || { echo "detect: no $f (make memwatchd memwatchctl tests/corpus/corpus)" >&2; exit 1; }
done

# shellcheck source=../tests/lib/corpus.sh
. "$SRCDIR/tests/lib/corpus.sh"

WORK=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/memwatch-detect.XXXXXX") || exit 1
DAEMON_PID=

cleanup() {
    local i
    corpus_stop_all 2>/dev/null
    if [ -n "$DAEMON_PID" ]; then
        kill -TERM "$DAEMON_PID" 2>/dev/null
        for ((i = 0; i < 100; i++)); do
            kill -0 "$DAEMON_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$DAEMON_PID" 2>/dev/null
        wait "$DAEMON_PID" 2>/dev/null
        DAEMON_PID=
    fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        echo "detect: kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cpu_ticks() {   # utime + stime of PID, in clock ticks
    sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'
}

# ---- the daemon ------------------------------------------------------------------------------
mkdir -p "$WORK/state"
corpus_config "$SPEED" >"$WORK/memwatchd.conf"
"$MEMWATCHD" --listen 127.0.0.1:0 --state-dir "$WORK/state" --config "$WORK/memwatchd.conf" \
    --log-level "$LOG_LEVEL" </dev/null >"$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
port=
for ((i = 0; i < 100; i++)); do
    port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$WORK/daemon.log" | tail -n 1)
    [ -n "$port" ] && break
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$port" ]; then
    echo "detect: memwatchd did not start; its log:" >&2
    sed 's/^/  /' "$WORK/daemon.log" >&2
    exit 1
fi
SERVER=http://127.0.0.1:$port

# ---- the corpus ------------------------------------------------------------------------------
SCENARIOS=(map-cache slice-append goroutine-block cgo-malloc slow-churn subslice-pin late-onset
    gc-sawtooth sync-pool cache-plateau burst-release big-buffers goroutine-churn cgo-balanced)
CORPUS_MAX_MB=${BENCH_MAX_MB:-}
CORPUS_MAX_RSS_MIB=${BENCH_MAX_RSS_MIB:-}
corpus_init "$WORK/corpus" "$SPEED" "$SERVER" "$CORPUS" "$MEMWATCHCTL" || exit 1
ONSET_S=$((DURATION * 5 / 12))
echo "detect: speed $SPEED, $DURATION s; memwatchd at $SERVER; starting ${#SCENARIOS[@]} scenarios" >&2
for s in "${SCENARIOS[@]}"; do
    if [ "$s" = late-onset ]; then
        corpus_start "$s" "$s" -onset "${ONSET_S}s"
    else
        corpus_start "$s" "$s"
    fi
done
for s in "${SCENARIOS[@]}"; do
    corpus_ready "$s" 15 || exit 1
done
for s in "${SCENARIOS[@]}"; do
    corpus_add "$s" || { echo "detect: memwatchctl add $s failed" >&2; exit 1; }
done
T_ADDED=$(_c_now_ms)
CPU0=$(cpu_ticks "$DAEMON_PID")
corpus_run "$DURATION"
CPU1=$(cpu_ticks "$DAEMON_PID")
DAEMON_HWM=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$DAEMON_PID/status" 2>/dev/null)
corpus_stop_all 2>/dev/null

# ---- the report ------------------------------------------------------------------------------
RT=$(sed -n 's/^runtime_interval = //p' "$WORK/memwatchd.conf")
PF=$(sed -n 's/^profile_interval = //p' "$WORK/memwatchd.conf")
echo
echo "memwatch leak detection on the corpus - $(date '+%F %T'), $(nproc) CPUs, $(uname -r)"
echo "  run:      speed $SPEED, $DURATION s of polling ($(_c_min1 $((DURATION * 1000))) min of the story at speed 1), every 1 s"
echo "  daemon:   memwatchd --config: [detect] speed = $SPEED (window, min_history, confirmation and"
echo "            judge interval divided by $SPEED); [go] runtime_interval = $RT, profile_interval = $PF;"
echo "            [sampling] interval = 1s; CPU $(awk -v a="${CPU0:-0}" -v b="${CPU1:-0}" -v hz="$HZ" -v d="$DURATION" \
    'BEGIN { printf "%.1f", 100 * (b - a) / hz / d }') % of a core over the run, VmHWM $(( ${DAEMON_HWM:-0} / 1024 )) MiB"
echo "  corpus:   $CORPUS -scenario NAME -speed $SPEED -memprofilerate 4096 -max-mb $CORPUS_MAX_MB"
echo "            (heap leaks with GOMEMLIMIT=$((CORPUS_MAX_MB + 200))MiB; late-onset -onset ${ONSET_S}s);"
echo "            added $(_c_s $((T_ADDED - CORPUS_T0_MS))) s after the first start; a leak is judged from its onset to its cap"
echo "            or its stop (after detection and culprit, or for memory above $CORPUS_MAX_RSS_MIB MiB)"
if [ "$CORPUS_ALERTS_STATUS" = 200 ]; then
    echo "  alerts:   GET /api/v1/alerts answered 200: culprits are the alerts' first culprits"
else
    echo "  alerts:   GET /api/v1/alerts answered ${CORPUS_ALERTS_STATUS:-nothing} (not there yet): culprits are the first"
    echo "            site of GET .../heap/diff (or goroutines/diff) from the onset, when first \"leaking\""
fi
echo "  times:    from the onset (phase leak-start) to the first \"leaking\" verdict (polled every second),"
echo "            in seconds of the clock and (in parentheses) minutes of the story at speed 1;"
echo "            \"via\": the signals that were \"leaking\" then (the kind is the verdict's)"
echo
corpus_report
exit 0
