#!/usr/bin/env bash
# daemon_bench.sh BUILDDIR - what memwatchd costs per watched process.  Prints figures only,
# never pass/fail.
#
# For each N in BENCH_COUNTS (default "100 1000"): a fresh memwatchd (port 0, a new state dir,
# default configuration), N idle processes (`sleep 3600`), each added as a pid target through
# the REST API; BENCH_SETTLE (10) seconds to settle; then over BENCH_SECONDS (60) seconds:
#   CPU    utime+stime of memwatchd (/proc/PID/stat): % of one core, and µs per target-sample
#   RSS    VmRSS and VmHWM of memwatchd (/proc/PID/status) at the end
#   disk   write_bytes (/proc/PID/io: bytes sent to the block layer) per target-sample; also
#          wchar (bytes passed to write(2) and friends, logs and sockets included)
# A target-sample is one sampling of one target; their number is (N + 1, memwatchd's own
# target) times the points one of the idle targets got in the window.
#
# Environment: BENCH_SECONDS, BENCH_SETTLE, BENCH_COUNTS, BENCH_LOG_LEVEL (info),
# BENCH_CONFIG (INI text for --config, none by default), BENCH_TMPDIR (where the state dirs
# go; default BUILDDIR, which should be a real disk: on tmpfs write_bytes is always 0).
set -u

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 BUILDDIR   (the directory with memwatchd)" >&2
    exit 2
fi
BUILDDIR=$(cd "$1" && pwd)
MEMWATCHD=$BUILDDIR/memwatchd
MEASURE=${BENCH_SECONDS:-60}
SETTLE=${BENCH_SETTLE:-10}
COUNTS=${BENCH_COUNTS:-100 1000}
LOG_LEVEL=${BENCH_LOG_LEVEL:-info}
STATE_PARENT=${BENCH_TMPDIR:-$BUILDDIR}
HZ=$(getconf CLK_TCK)

for cmd in curl jq awk; do
    command -v "$cmd" >/dev/null || { echo "daemon_bench: needs $cmd" >&2; exit 1; }
done
[ -x "$MEMWATCHD" ] || { echo "daemon_bench: no $MEMWATCHD (run make first)" >&2; exit 1; }

DAEMON_PID=
STATE=
IDLE_PIDS=()
ROWS=()
NOTES=()

cleanup() {
    local p
    if [ -n "$DAEMON_PID" ]; then
        kill -TERM "$DAEMON_PID" 2>/dev/null
        for ((p = 0; p < 100; p++)); do
            kill -0 "$DAEMON_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$DAEMON_PID" 2>/dev/null
        wait "$DAEMON_PID" 2>/dev/null
        DAEMON_PID=
    fi
    if [ ${#IDLE_PIDS[@]} -gt 0 ]; then
        kill -KILL "${IDLE_PIDS[@]}" 2>/dev/null
        wait "${IDLE_PIDS[@]}" 2>/dev/null
        IDLE_PIDS=()
    fi
    [ -n "$STATE" ] && rm -rf "$STATE"
    STATE=
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cpu_ticks() {   # utime + stime of PID, in clock ticks (fields 14 and 15 of /proc/PID/stat)
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
io_field() {    # io_field PID NAME: a line of /proc/PID/io
    awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/io"
}
status_kib() {  # status_kib PID NAME: VmRSS, VmHWM... in KiB
    awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}
now_s() {
    date +%s.%N
}

# Room for N more processes under RLIMIT_NPROC (which counts threads; root is exempt).
proc_room() {
    local limit used
    limit=$(ulimit -u)
    if [ "$limit" = unlimited ] || [ "$(id -u)" = 0 ]; then
        echo 1000000
        return
    fi
    used=$(ps -L -u "$(id -u)" -o lwp= | wc -l)
    echo $((limit - used - 50))
}

start_daemon() {
    local i port
    STATE=$(mktemp -d "$STATE_PARENT/memwatch-bench.XXXXXX") || exit 1
    DAEMON_CMD=("$MEMWATCHD" --listen 127.0.0.1:0 --state-dir "$STATE" --log-level "$LOG_LEVEL")
    if [ -n "${BENCH_CONFIG:-}" ]; then
        printf '%s\n' "$BENCH_CONFIG" >"$STATE/memwatchd.conf"
        DAEMON_CMD+=(--config "$STATE/memwatchd.conf")
    fi
    "${DAEMON_CMD[@]}" </dev/null >"$STATE/daemon.log" 2>&1 &
    DAEMON_PID=$!
    for ((i = 0; i < 100; i++)); do
        port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$STATE/daemon.log" | tail -n 1)
        [ -n "$port" ] && break
        kill -0 "$DAEMON_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        echo "daemon_bench: memwatchd did not start; its log:" >&2
        sed 's/^/  /' "$STATE/daemon.log" >&2
        exit 1
    fi
    SERVER=http://127.0.0.1:$port
}

run_one() {
    local n=$1 i pid code failed=0 t_add0 t_add1 interval
    local t0 t1 cpu0 cpu1 wb0 wb1 wc0 wc1 points elapsed rss hwm db

    if [ "$(proc_room)" -lt "$n" ]; then
        NOTES+=("N=$n skipped: ulimit -u ($(ulimit -u)) leaves no room for $n more processes")
        return
    fi
    start_daemon
    for ((i = 1; i <= n; i++)); do
        sleep 3600 >/dev/null 2>&1 &
        IDLE_PIDS+=($!)
    done
    t_add0=$(now_s)
    for ((i = 1; i <= n; i++)); do
        pid=${IDLE_PIDS[i - 1]}
        code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
            --data-binary "{\"name\":\"idle-$i\",\"pid\":$pid}" "$SERVER/api/v1/targets")
        [ "$code" = 201 ] || failed=$((failed + 1))
    done
    t_add1=$(now_s)
    [ "$failed" -eq 0 ] || NOTES+=("N=$n: $failed of $n POST /api/v1/targets did not answer 201")
    interval=$(curl -s "$SERVER/api/v1/targets/idle-1" | jq -r '.interval_seconds // empty')

    sleep "$SETTLE"
    t0=$(now_s)
    cpu0=$(cpu_ticks "$DAEMON_PID")
    wb0=$(io_field "$DAEMON_PID" write_bytes)
    wc0=$(io_field "$DAEMON_PID" wchar)
    sleep "$MEASURE"
    t1=$(now_s)
    cpu1=$(cpu_ticks "$DAEMON_PID")
    wb1=$(io_field "$DAEMON_PID" write_bytes)
    wc1=$(io_field "$DAEMON_PID" wchar)
    rss=$(status_kib "$DAEMON_PID" VmRSS)
    hwm=$(status_kib "$DAEMON_PID" VmHWM)
    elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    # Points one idle target got in the window (the query is relative to now, just after t1).
    points=$(curl -s "$SERVER/api/v1/targets/idle-1/series?metric=rss_bytes&from=-$((MEASURE))s" |
        jq -r '.points | length' 2>/dev/null)
    if ! [ "${points:-0}" -gt 0 ] 2>/dev/null; then
        points=$(awk -v e="$elapsed" -v i="${interval:-1}" 'BEGIN { printf "%d", e / i }')
        NOTES+=("N=$n: the series query failed; samples estimated from the interval (${interval:-1} s assumed)")
    fi
    db=$(du -sk "$STATE" | awk '{ print $1 }')

    ROWS+=("$(awk -v n="$n" -v hz="$HZ" -v c0="$cpu0" -v c1="$cpu1" -v e="$elapsed" -v p="$points" \
        -v wb="$((wb1 - wb0))" -v wc="$((wc1 - wc0))" -v rss="$rss" -v hwm="$hwm" -v db="$db" \
        -v ta0="$t_add0" -v ta1="$t_add1" -v iv="${interval:-?}" 'BEGIN {
            cpu = (c1 - c0) / hz; ts = (n + 1) * p
            printf "%7d %8s %8d %9.2f %12.1f %9.1f %9.1f %13.1f %14.1f %10.1f %9.0f\n",
                n, iv, ts, 100 * cpu / e, ts ? cpu * 1e6 / ts : 0, rss / 1024, hwm / 1024,
                ts ? wb / ts : 0, ts ? wc / ts : 0, db / 1024, n / (ta1 - ta0) }')")
    cleanup
}

FSTYPE=$(stat -f -c %T "$STATE_PARENT")
for n in $COUNTS; do
    echo "daemon_bench: N=$n: starting (settle ${SETTLE} s, measure ${MEASURE} s)" >&2
    run_one "$n"
done

echo
echo "memwatchd daemon benchmark - $(date '+%F %T'), $(nproc) CPUs, $(uname -r)"
echo "  daemon:   $MEMWATCHD --listen 127.0.0.1:0 --state-dir DIR --log-level $LOG_LEVEL${BENCH_CONFIG:+ --config F}"
[ -n "${BENCH_CONFIG:-}" ] && echo "  config:   $(printf '%s' "$BENCH_CONFIG" | tr '\n' ' ')"
echo "  state:    DIR under $STATE_PARENT ($FSTYPE)"
echo "  targets:  N x 'sleep 3600 &', each added with"
echo "            curl -s -X POST -H 'Content-Type: application/json' --data-binary '{\"name\":\"idle-I\",\"pid\":PID}' \$SERVER/api/v1/targets"
echo "  window:   ${SETTLE} s settling, then ${MEASURE} s measured"
echo "  CPU:      utime+stime, /proc/PID/stat; RSS: VmRSS/VmHWM, /proc/PID/status at the end;"
echo "            disk: write_bytes, /proc/PID/io; wchar: all write(2) bytes (logs, sockets too)"
echo "  samples:  (N + 1) x points of target idle-1 in the window (memwatchd watches itself too)"
echo
printf '%7s %8s %8s %9s %12s %9s %9s %13s %14s %10s %9s\n' \
    targets interval samples 'cpu %' 'us/sample' 'RSS MiB' 'HWM MiB' 'disk B/sample' 'wchar B/sample' 'dir MiB' 'adds/s'
for row in "${ROWS[@]}"; do
    printf '%s\n' "$row"
done
for note in "${NOTES[@]}"; do
    echo "note: $note"
done
[ "$FSTYPE" = tmpfs ] && echo "note: the state dir is on tmpfs: write_bytes does not count there (set BENCH_TMPDIR)"
exit 0
