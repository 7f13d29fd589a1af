# shellcheck shell=bash
# common.sh - sourced by every tests/integration/*.sh script: TAP, the daemon, clients, targets.
#
# TAP output:   plan N | ok DESC CMD... | is DESC GOT EXPECTED | isnt DESC GOT UNEXPECTED
#               pass DESC | fail DESC
#               cmp_ge DESC GOT MIN | skip DESC REASON | diag MSG... | bail_out MSG | done_testing
# Daemon:       start_daemon [ARGS...] | stop_daemon | kill_daemon | restart_daemon [ARGS...]
#               (export MEMWATCH_SERVER, MW_PORT, MW_PID, MW_STATE; MW_CONFIG = INI text for
#               --config; MW_LOG_LEVEL overrides "debug"; MW_EXIT_STATUS after stop/kill;
#               daemon_alive; daemon_sanitized (built with ASan); the log is
#               $MW_STATE/daemon.log, appended to by restarts)
# Clients:      ctl ARGS... (memwatchctl) | api METHOD PATH [BODY] (sets HTTP_STATUS, HTTP_BODY,
#               HTTP_ERROR = curl's error text; status 000 = no response; a BODY starting
#               with @ names a file, as in curl) | target_get NAME (api GET)
#               series_get NAME METRIC [QUERY] (api GET series, from=-10m unless QUERY has one)
#               target_field NAME FILTER | target_state_is NAME STATE | series_jq NAME METRIC
#               FILTER [JQ_ARGS] | series_count NAME METRIC | series_newest NAME METRIC [NOT_AFTER]
#               jget JSON FILTER (jq -r) | now_s (Unix time, fractional) | fge A B (A >= B, floats)
#               | fadd A B (A + B, floats, %.3f)
# Polling:      wait_for DESC TIMEOUT_S CMD... (0 once CMD succeeds, 1 and a diag on timeout)
# Targets:      memhog ARGS... / memhog_as NAME ARGS... start the Go target in the background
#               (NAME: run it as NAME, for selectors), setting MEMHOG_PID and
#               MEMHOG_OUT (its stdout); call them directly, not in $(...), so the process
#               stays this shell's child.  track_pid PID adds any other process to the cleanup.
#               wait_line FILE REGEX TIMEOUT_S waits for a line in a file.
# Go targets:   GOLEAKS, CGOLEAK, HOSTILE (the programs' paths) | MW_GO_CONFIG (1 s sampling,
#               [go] runtime_interval 1s, profile_interval 2s, timeout 2s: assign it to MW_CONFIG)
#               spawn NAME CMD... runs CMD in the background (output in $MW_TMP/NAME.out),
#               setting SPAWN_PID and SPAWN_OUT | go_spawn NAME CMD... also waits for its
#               "listening on HOST:PORT" line: GO_PID, GO_OUT, GO_ADDR, GO_URL (bails out if it
#               does not listen within 10 s) | listen_addr FILE | free_port (a loopback TCP port
#               nothing listens on) | proc_rss_kib PID | rss_watch PID FILE (VmRSS in KiB every
#               0.2 s to FILE, in the background: RSS_WATCH_PID)
# Go API:       source_ok NAME SOURCE | source_failed NAME SOURCE (ok false and an error) |
#               source_field NAME SOURCE FIELD | go_latest NAME METRIC | breakdown_get NAME [QUERY]
#               | heap_diff_get NAME [QUERY] | goroutine_diff_get NAME [QUERY] (status 1 unless 200;
#               the JSON in HTTP_BODY) | jok JSON FILTER (jq -e, false on empty input) |
#               part_bytes JSON PART | change_delta JSON PART | series_stat NAME
#               METRIC FROM JQ_FILTER (on .points from FROM, e.g. 'map(.[1]) | max') |
#               series_max_gap NAME METRIC FROM TO (largest gap in seconds, edges included)
#               skip_all REASON (a TAP "1..0 # SKIP", before plan)
# Cleanup:      an EXIT trap kills the daemon and every started process; temp dirs are removed
#               unless something failed, in which case the daemon log is printed as "# " lines
#               and the directories are kept (and named).
#
# MEMWATCH_BUILDDIR (memwatchd, memwatchctl, tests/targets/*/NAME) and MEMWATCH_SRCDIR
# are exported by `make check`; both default to this file's ../.. for runs by hand.

_mw_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${MEMWATCH_BUILDDIR:=$_mw_top}"
: "${MEMWATCH_SRCDIR:=$_mw_top}"
export MEMWATCH_BUILDDIR MEMWATCH_SRCDIR
unset _mw_top

MW_TEST_NUM=0
MW_FAILED=0
MW_PLANNED=
MW_BAILED=0
MW_PID=
MW_STATE=
MW_PORT=
MW_EXIT_STATUS=
MW_DAEMON_ARGS=()
MW_STATE_DIRS=()
MW_TRACKED_PIDS=()
# The TAP stream, kept for bail-outs and the cleanup, which may happen while `ok` has the
# output redirected.  The daemon and memhog get these closed (and their output sent to files)
# so that they can never hold the test driver's pipe open.
exec {MW_STDOUT}>&1 {MW_STDERR}>&2
_to_tap() {
    exec 1>&"$MW_STDOUT" 2>&"$MW_STDERR"
}
MW_TMP=$(mktemp -d "${TMPDIR:-/tmp}/memwatch-test.XXXXXX") || {
    echo "Bail out! cannot create a temporary directory"
    exit 1
}
export MW_TMP

# ---- TAP -----------------------------------------------------------------------------------
plan() {
    MW_PLANNED=$1
    echo "1..$1"
}

diag() {     # diag MSG...: every argument, and every line in it, as a "# " line
    local line
    printf '%s\n' "$@" | while IFS= read -r line; do printf '# %s\n' "$line"; done
}

_tap_result() {     # _tap_result PASSED(0/1) DESC
    MW_TEST_NUM=$((MW_TEST_NUM + 1))
    if [ "$1" = 1 ]; then
        echo "ok $MW_TEST_NUM - $2"
        return 0
    fi
    MW_FAILED=$((MW_FAILED + 1))
    echo "not ok $MW_TEST_NUM - $2"
    return 1
}

pass() { _tap_result 1 "$1"; }
fail() { _tap_result 0 "$1"; }

# ok DESC CMD...: runs CMD in this shell (so it may set variables), output captured and shown
# as diag lines only if it fails.
ok() {
    local desc=$1 out=$MW_TMP/.ok-output rc
    shift
    "$@" >"$out" 2>&1
    rc=$?
    if [ "$rc" -eq 0 ]; then
        _tap_result 1 "$desc"
    else
        _tap_result 0 "$desc"
        diag "command failed (exit $rc): $*"
        [ -s "$out" ] && diag "$(tail -n 40 "$out" | sed 's/^# //')"
        return 1
    fi
}

is() {
    if [ "$2" = "$3" ]; then
        _tap_result 1 "$1"
    else
        _tap_result 0 "$1"
        diag "     got: '$2'" "expected: '$3'"
        return 1
    fi
}

isnt() {
    if [ "$2" != "$3" ]; then
        _tap_result 1 "$1"
    else
        _tap_result 0 "$1"
        diag "     got: '$2'" "expected anything else"
        return 1
    fi
}

# fge A B: true if both are numbers (integer or fractional) and A >= B.
fge() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        num = "^-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$"
        exit !(a ~ num && b ~ num && a + 0 >= b + 0) }'
}

# fadd A B: A + B with three decimals (awk's default %.6g would print a Unix time as 1.79e+09).
fadd() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", a + b }'
}

cmp_ge() {
    if fge "$2" "$3"; then
        _tap_result 1 "$1"
    else
        _tap_result 0 "$1"
        diag "     got: '$2'" "expected: >= '$3'"
        return 1
    fi
}

skip() {
    MW_TEST_NUM=$((MW_TEST_NUM + 1))
    echo "ok $MW_TEST_NUM - $1 # SKIP ${2:-}"
}

# skip_all REASON: the whole script is skipped (instead of plan; nothing may have run yet).
skip_all() {
    _to_tap
    echo "1..0 # SKIP $*"
    exit 0
}

bail_out() {
    MW_BAILED=1
    _to_tap
    echo "Bail out! $*"
    exit 1
}

done_testing() {
    [ -n "$MW_PLANNED" ] || echo "1..$MW_TEST_NUM"
    if [ -n "$MW_PLANNED" ] && [ "$MW_PLANNED" != "$MW_TEST_NUM" ]; then
        diag "planned $MW_PLANNED tests but ran $MW_TEST_NUM"
        MW_FAILED=$((MW_FAILED + 1))
    fi
    if [ "$MW_FAILED" -gt 0 ]; then
        diag "$MW_FAILED of $MW_TEST_NUM tests failed"
        exit 1
    fi
    exit 0
}

# ---- small utilities -------------------------------------------------------------------------
now_s() {
    if [ -n "${EPOCHREALTIME:-}" ]; then
        echo "${EPOCHREALTIME/,/.}"
    else
        date +%s.%N
    fi
}

_now_ms() {
    local t
    t=$(now_s)
    echo $(( ${t%.*} * 1000 + 10#$(printf '%.3s' "${t#*.}000") ))
}

jget() {    # jget JSON FILTER: jq -r FILTER on JSON, nothing (and status 1) if it is not JSON
    jq -r "$2" <<<"$1" 2>/dev/null
}

# wait_for DESC TIMEOUT_S CMD...: polls CMD every MW_POLL_S (0.2) seconds.
wait_for() {
    local desc=$1 timeout=$2 deadline
    shift 2
    deadline=$(( $(_now_ms) + timeout * 1000 ))
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        if [ "$(_now_ms)" -ge "$deadline" ]; then
            diag "timed out after ${timeout}s waiting for: $desc"
            return 1
        fi
        sleep "${MW_POLL_S:-0.2}"
    done
}

# wait_line FILE REGEX TIMEOUT_S: waits until FILE has a line matching the ERE.
wait_line() {
    wait_for "'$2' in $1" "$3" grep -Eq -- "$2" "$1"
}

_alive() {  # a process that exists and is not a zombie
    local st
    [ -r "/proc/$1/stat" ] || return 1
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ -n "$st" ] && [ "$st" != Z ]
}

_wait_gone() {  # _wait_gone PID TIMEOUT_S
    wait_for "process $1 to exit" "$2" eval "! _alive $1"
}

require() {     # require PROGRAM...: bail out unless each is a runnable file or command
    local p
    for p in "$@"; do
        case $p in
        */*) [ -x "$p" ] || bail_out "missing $p (build it first: make check builds it)" ;;
        *) command -v "$p" >/dev/null 2>&1 || bail_out "missing the command '$p' (Debian: apt-get install $p)" ;;
        esac
    done
}

# ---- the daemon ------------------------------------------------------------------------------
MEMWATCHD=$MEMWATCH_BUILDDIR/memwatchd
MEMWATCHCTL=$MEMWATCH_BUILDDIR/memwatchctl
MEMHOG=$MEMWATCH_BUILDDIR/tests/targets/memhog/memhog

_mw_launch() {
    local log=$MW_STATE/daemon.log offset port i
    local -a cmd
    cmd=("$MEMWATCHD" --listen 127.0.0.1:0 --state-dir "$MW_STATE")
    [ -f "$MW_STATE/memwatchd.conf" ] && cmd+=(--config "$MW_STATE/memwatchd.conf")
    cmd+=(--log-level "${MW_LOG_LEVEL:-debug}" "${MW_DAEMON_ARGS[@]}")
    touch "$log"
    offset=$(stat -c %s "$log")
    printf '=== %s: %s\n' "$(date '+%F %T')" "${cmd[*]}" >>"$log"
    "${cmd[@]}" </dev/null >>"$log" 2>&1 {MW_STDOUT}>&- {MW_STDERR}>&- &
    MW_PID=$!
    export MW_PID MW_STATE
    for ((i = 0; i < 100; i++)); do
        port=$(tail -c +"$((offset + 1))" "$log" |
            sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' | tail -n 1)
        [ -n "$port" ] && break
        if ! _alive "$MW_PID"; then
            _to_tap
            wait "$MW_PID" 2>/dev/null
            diag "memwatchd exited with status $? before listening; its log:"
            _print_log
            MW_PID=
            bail_out "memwatchd did not start"
        fi
        sleep 0.1
    done
    if [ -z "$port" ]; then
        _to_tap
        diag "memwatchd printed no 'listening on http://127.0.0.1:PORT' within 10 s; its log:"
        _print_log
        bail_out "memwatchd did not start listening"
    fi
    MW_PORT=$port
    MEMWATCH_SERVER=http://127.0.0.1:$port
    export MW_PORT MEMWATCH_SERVER
}

# start_daemon [ARGS...]: a new state dir; MW_CONFIG (if set) becomes its config file.
start_daemon() {
    MW_STATE=$(mktemp -d "${TMPDIR:-/tmp}/memwatch-state.XXXXXX") || bail_out "mktemp failed"
    MW_STATE_DIRS+=("$MW_STATE")
    if [ -n "${MW_CONFIG:-}" ]; then
        printf '%s\n' "$MW_CONFIG" >"$MW_STATE/memwatchd.conf"
    fi
    MW_DAEMON_ARGS=("$@")
    _mw_launch
}

# restart_daemon [ARGS...]: the same state dir (and config); the port may change.
restart_daemon() {
    [ -n "$MW_STATE" ] || bail_out "restart_daemon before start_daemon"
    [ -z "$MW_PID" ] || bail_out "restart_daemon while memwatchd ($MW_PID) still runs"
    [ $# -gt 0 ] && MW_DAEMON_ARGS=("$@")
    _mw_launch
}

# stop_daemon: SIGTERM, up to 10 s; sets MW_EXIT_STATUS; 0 if it exited 0 in time.
stop_daemon() {
    local pid=$MW_PID
    [ -n "$pid" ] || { diag "stop_daemon: memwatchd is not running"; return 1; }
    kill -TERM "$pid" 2>/dev/null
    if _wait_gone "$pid" 10; then
        wait "$pid" 2>/dev/null
        MW_EXIT_STATUS=$?
    else
        diag "memwatchd did not exit within 10 s of SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        MW_EXIT_STATUS=timeout
    fi
    MW_PID=
    [ "$MW_EXIT_STATUS" = 0 ] && return 0
    diag "memwatchd exit status after SIGTERM: $MW_EXIT_STATUS"
    return 1
}

# kill_daemon: SIGKILL, like a crash or an OOM kill.
kill_daemon() {
    local pid=$MW_PID
    [ -n "$pid" ] || { diag "kill_daemon: memwatchd is not running"; return 1; }
    {   # (bash's "Killed" job notice is noise here)
        kill -KILL "$pid"
        _wait_gone "$pid" 10
        wait "$pid"
        MW_EXIT_STATUS=$?
    } 2>/dev/null
    MW_PID=
}

# daemon_sanitized: memwatchd was built with --enable-sanitizers (ASan): its RSS then includes
# ASan's shadow memory and its quarantine of freed blocks (256 MiB by default), so limits on
# the daemon's own memory must allow for that.
daemon_sanitized() {
    ldd "$MEMWATCHD" 2>/dev/null | grep -q libasan || grep -qa __asan_init "$MEMWATCHD"
}

daemon_alive() {
    [ -n "$MW_PID" ] && _alive "$MW_PID"
}

_print_log() {
    local f n=${MW_LOG_LINES:-300}
    for f in "${MW_STATE_DIRS[@]}"; do
        [ -f "$f/daemon.log" ] || continue
        diag "---- $f/daemon.log (last $n lines) ----"
        tail -n "$n" "$f/daemon.log" | sed 's/^/# /'
    done
}

# ---- clients ---------------------------------------------------------------------------------
ctl() {
    "$MEMWATCHCTL" "$@"
}

api() {
    local method=$1 path=$2 out=$MW_TMP/.api-body
    local -a args=(-sS -o "$out" -w '%{http_code}' -X "$method" --max-time 10)
    if [ $# -ge 3 ]; then
        args+=(-H 'Content-Type: application/json' --data-binary "$3")
    fi
    : >"$out"
    HTTP_STATUS=$(curl "${args[@]}" "$MEMWATCH_SERVER$path" 2>"$MW_TMP/.api-err")
    [ -n "$HTTP_STATUS" ] || HTTP_STATUS=000
    HTTP_BODY=$(cat "$out")
    # shellcheck disable=SC2034 # read by the scripts
    HTTP_ERROR=$(cat "$MW_TMP/.api-err")
    [ "$HTTP_STATUS" != 000 ]
}

target_get() {      # target_get NAME: the target's JSON on stdout; status 1 unless 200
    api GET "/api/v1/targets/$1" && [ "$HTTP_STATUS" = 200 ] && printf '%s\n' "$HTTP_BODY"
}

series_get() {      # series_get NAME METRIC [QUERY]: the series JSON; status 1 unless 200
    local q=${3:-}
    case $q in *from=*) ;; *) q="from=-10m${q:+&$q}" ;; esac
    api GET "/api/v1/targets/$1/series?metric=$2&$q" && [ "$HTTP_STATUS" = 200 ] &&
        printf '%s\n' "$HTTP_BODY"
}

target_field() {    # target_field NAME JQ_FILTER: jq -r on the target's JSON
    local j
    j=$(target_get "$1") || return 1
    jget "$j" "$2"
}

target_state_is() { # target_state_is NAME STATE
    [ "$(target_field "$1" .state)" = "$2" ]
}

# series_jq NAME METRIC JQ_FILTER [JQ_ARGS...]: jq -r on the series JSON (from=-10m), e.g.
# series_jq hog rss_bytes '.points | length'.  Status 1 if the request or jq fails.
series_jq() {
    local j name=$1 metric=$2 filter=$3
    shift 3
    j=$(series_get "$name" "$metric") || return 1
    jq -r "$@" "$filter" <<<"$j" 2>/dev/null
}

series_count() {    # series_count NAME METRIC: number of points (raw, last 10 minutes)
    series_jq "$1" "$2" '.points | length'
}

# series_newest NAME METRIC [NOT_AFTER]: the newest point's time, or of those at or before
# NOT_AFTER (Unix seconds); empty if none.
series_newest() {
    # shellcheck disable=SC2016 # $lim is jq's
    series_jq "$1" "$2" '[.points[][0] | select($lim == "" or . <= ($lim | tonumber))] | max // empty' \
        --arg lim "${3:-}"
}

# ---- target processes ------------------------------------------------------------------------
track_pid() {
    MW_TRACKED_PIDS+=("$@")
}

# memhog_as NAME ARGS...: runs memhog through a symlink called NAME, so that both comm (the
# kernel takes it from the path exec'd, cut at 15 characters) and argv[0] say NAME.  NAME ""
# runs the binary itself.
memhog_as() {
    local name=$1 bin=$MEMHOG
    shift
    if [ -n "$name" ]; then
        mkdir -p "$MW_TMP/bin"
        bin=$MW_TMP/bin/$name
        [ -e "$bin" ] || ln -s "$MEMHOG" "$bin" || bail_out "cannot link $bin to memhog"
    fi
    MW_HOG_SEQ=$(( ${MW_HOG_SEQ:-0} + 1 ))
    MEMHOG_OUT=$MW_TMP/memhog.$MW_HOG_SEQ.out
    "$bin" "$@" </dev/null >"$MEMHOG_OUT" 2>&1 {MW_STDOUT}>&- {MW_STDERR}>&- &
    MEMHOG_PID=$!
    track_pid "$MEMHOG_PID"
}

memhog() {
    memhog_as "" "$@"
}

# ---- Go targets ------------------------------------------------------------------------------
# shellcheck disable=SC2034 # read by the scripts
GOLEAKS=$MEMWATCH_BUILDDIR/tests/targets/goleaks/goleaks
# shellcheck disable=SC2034
CGOLEAK=$MEMWATCH_BUILDDIR/tests/targets/cgoleak/cgoleak
# shellcheck disable=SC2034
HOSTILE=$MEMWATCH_BUILDDIR/tests/targets/hostile/hostile

# A config for tests of the Go runtime view: everything often enough to see within seconds.
# shellcheck disable=SC2034 # read by the scripts
MW_GO_CONFIG='[sampling]
interval = 1s

[go]
runtime_interval = 1s
profile_interval = 2s
timeout = 2s'

# spawn NAME CMD...: runs CMD in the background with its output in $MW_TMP/NAME.out, setting
# SPAWN_PID and SPAWN_OUT; killed by the cleanup.  Call it directly, not in $(...).
spawn() {
    local name=$1
    shift
    SPAWN_OUT=$MW_TMP/$name.out
    "$@" </dev/null >"$SPAWN_OUT" 2>&1 {MW_STDOUT}>&- {MW_STDERR}>&- &
    SPAWN_PID=$!
    track_pid "$SPAWN_PID"
}

# listen_addr FILE: HOST:PORT from the last "listening on HOST:PORT" line of FILE.
listen_addr() {
    sed -n 's/^listening on \([^ ]*:[0-9][0-9]*\)$/\1/p' "$1" | tail -n 1
}

# go_spawn NAME CMD...: spawn, then wait up to 10 s for "listening on HOST:PORT"; sets GO_PID,
# GO_OUT, GO_ADDR (HOST:PORT) and GO_URL (http://HOST:PORT).  Bails out if it never listens.
go_spawn() {
    local name=$1
    spawn "$@"
    # shellcheck disable=SC2034 # GO_PID and GO_URL are read by the scripts
    GO_PID=$SPAWN_PID
    GO_OUT=$SPAWN_OUT
    if ! wait_line "$GO_OUT" '^listening on ' 10 >/dev/null; then
        diag "$name ($*) did not print 'listening on HOST:PORT' within 10 s; its output:"
        diag "$(tail -n 20 "$GO_OUT")"
        bail_out "$name did not start"
    fi
    GO_ADDR=$(listen_addr "$GO_OUT")
    # shellcheck disable=SC2034
    GO_URL=http://$GO_ADDR
}

# add_go NAME CMD...: go_spawn, then add the program as target NAME with its endpoint.
add_go() {
    local name=$1
    shift
    go_spawn "$name" "$@"
    ctl add "$name" --pid "$GO_PID" --endpoint "$GO_URL" >/dev/null
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now (nor in IPv6), from
# 20000-32767, below the kernel's usual ephemeral range; nothing stops another process from
# taking it later, so users retry or use it for "connection refused".
free_port() {
    local port hex i
    for ((i = 0; i < 100; i++)); do
        port=$((20000 + RANDOM % 12768))
        hex=$(printf '%04X' "$port")
        if ! awk -v h=":$hex" 'NR > 1 && substr($2, length($2) - 4) == h { f = 1 } END { exit !f }' \
            /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

proc_rss_kib() {    # proc_rss_kib PID: VmRSS in KiB, empty if the process is gone
    awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null
}

# rss_watch PID FILE: appends PID's VmRSS (KiB) to FILE every 0.2 s until PID exits or the
# cleanup kills the watcher (RSS_WATCH_PID).
rss_watch() {
    local pid=$1 file=$2
    (
        while [ -r "/proc/$pid/status" ]; do
            proc_rss_kib "$pid"
            sleep 0.2
        done
    ) </dev/null >>"$file" 2>/dev/null {MW_STDOUT}>&- {MW_STDERR}>&- &
    RSS_WATCH_PID=$!
    track_pid "$RSS_WATCH_PID"
}

# ---- the Go runtime view in the API ----------------------------------------------------------
source_field() {    # source_field NAME SOURCE FIELD: .runtime.sources.SOURCE.FIELD (jq -r)
    target_field "$1" ".runtime.sources.\"$2\".\"$3\""
}

source_ok() {       # source_ok NAME SOURCE: the source's last scrape succeeded
    [ "$(target_field "$1" ".runtime.sources.\"$2\".ok")" = true ]
}

source_failed() {   # source_failed NAME SOURCE: ok is false and there is an error text
    local j
    j=$(target_get "$1") || return 1
    # shellcheck disable=SC2016 # $s is jq's
    jok "$j" '.runtime.sources[$s] | .ok == false and
        ((.error // "") | type == "string" and length > 0)' --arg s "$2"
}

# go_latest NAME METRIC: the latest value of a go_* metric in the target's JSON: under
# .runtime.latest (the brief) or .latest (beside the OS values); empty if in neither.
go_latest() {
    target_field "$1" "(.runtime.latest.\"$2\" // .latest.\"$2\") // empty"
}

# breakdown_get NAME [QUERY] | heap_diff_get NAME [QUERY] | goroutine_diff_get NAME [QUERY]:
# GET the breakdown or a diff; status 0 if it answered 200.  The JSON is in HTTP_BODY (and
# HTTP_STATUS is set): call them directly, not in $(...).
breakdown_get() {
    api GET "/api/v1/targets/$1/breakdown${2:+?$2}" && [ "$HTTP_STATUS" = 200 ]
}

heap_diff_get() {
    api GET "/api/v1/targets/$1/heap/diff${2:+?$2}" && [ "$HTTP_STATUS" = 200 ]
}

goroutine_diff_get() {
    api GET "/api/v1/targets/$1/goroutines/diff${2:+?$2}" && [ "$HTTP_STATUS" = 200 ]
}

# jok JSON FILTER [JQ_ARGS...]: jq -e FILTER on JSON; false if JSON is empty or not JSON (plain
# jq -e exits 0 on empty input).
jok() {
    local j=$1 f=$2
    shift 2
    [ -n "$j" ] && jq -e "$@" "$f" <<<"$j" >/dev/null 2>&1
}

part_bytes() {      # part_bytes BREAKDOWN_JSON PART: that part's bytes (empty if no such part)
    # shellcheck disable=SC2016 # $p is jq's
    jq -r --arg p "$2" '[.parts[]? | select(.name == $p) | .bytes][0] // empty' <<<"$1" 2>/dev/null
}

change_delta() {    # change_delta BREAKDOWN_JSON PART: .change's delta_bytes for PART
    # shellcheck disable=SC2016 # $p is jq's
    jq -r --arg p "$2" '[.change.parts[]? | select(.name == $p) |
        (.delta_bytes // (.to_bytes - .from_bytes))][0] // empty' <<<"$1" 2>/dev/null
}

# series_stat NAME METRIC FROM FILTER: jq -r FILTER on the points ([[t, v], ...]) from FROM
# (Unix seconds or -DUR) to now, e.g. series_stat hog go_heap_alloc_bytes -1m 'map(.[1]) | max'.
series_stat() {
    local j
    j=$(series_get "$1" "$2" "from=$3") || return 1
    jq -r ".points | $4" <<<"$j" 2>/dev/null
}

# series_max_gap NAME METRIC FROM TO: the largest gap in seconds between consecutive points
# within [FROM, TO] (Unix seconds), counting FROM to the first point and the last to TO;
# TO - FROM if there is no point.
series_max_gap() {
    local j
    j=$(series_get "$1" "$2" "from=$3&to=$4") || return 1
    jq -r --argjson a "$3" --argjson b "$4" \
        '[$a] + [.points[][0] | select(. >= $a and . <= $b)] + [$b] |
         [range(1; length) as $i | .[$i] - .[$i - 1]] | max' <<<"$j" 2>/dev/null
}

# ---- cleanup ---------------------------------------------------------------------------------

_mw_cleanup() {
    local rc=$? p failed=0
    trap - EXIT
    _to_tap
    exec 2>/dev/null    # no "Killed" job notices; everything below reports on stdout
    if [ "$rc" -ne 0 ] || [ "$MW_FAILED" -gt 0 ] || [ "$MW_BAILED" = 1 ]; then
        failed=1
    fi
    if [ -n "$MW_PID" ]; then
        kill -TERM "$MW_PID" 2>/dev/null
        _wait_gone "$MW_PID" 5 >/dev/null || kill -KILL "$MW_PID" 2>/dev/null
    fi
    # Tracked processes, and any other background job of ours (one started just before a
    # signal arrived may not be tracked yet).
    for p in "${MW_TRACKED_PIDS[@]}" $(jobs -p); do
        [ "$p" = "$MW_PID" ] || kill -KILL "$p"
    done
    for p in "${MW_TRACKED_PIDS[@]}" $(jobs -p); do
        wait "$p"
    done
    if [ "$failed" = 1 ] && { [ ${#MW_STATE_DIRS[@]} -gt 0 ] || [ -n "$(ls -A "$MW_TMP")" ]; }; then
        _print_log
        diag "kept for inspection: $MW_TMP ${MW_STATE_DIRS[*]}"
    else
        rm -rf "$MW_TMP" "${MW_STATE_DIRS[@]}"
    fi
    exit "$rc"
}
trap _mw_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
