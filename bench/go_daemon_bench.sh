#!/usr/bin/env bash
# shellcheck disable=SC2317 # cleanup runs from a trap
# go_daemon_bench.sh BUILDDIR - what a Go target (one with a debug endpoint) costs memwatchd in
# memory, CPU and disk, against a plain pid target.  Prints figures only, never pass/fail.
#
# BENCH_TARGETS (20) memhog processes (`memhog -addr 127.0.0.1:0 -mb BENCH_MB`, 20 MiB held,
# serving /debug/vars and /debug/pprof/*) are started once and watched by two fresh memwatchd
# in turn (port 0, a new state dir, default configuration: interval 1s, [go] runtime_interval
# 10s, profile_interval 60s, flush_interval 10s):
#   plain  each memhog added as {"name":"p-I","pid":PID}: OS sampling only;
#   go     each memhog added as {"name":"g-I","pid":PID,"endpoint":"http://HOST:PORT"}:
#          the same, plus /debug/vars every 10 s and heap + goroutine profiles every 60 s.
# Both daemons also watch themselves (target "memwatchd").
#
# Ages are counted from the last POST of a run:
#   RSS     VmRSS of memwatchd (/proc/PID/status) at age SETTLE and at age SETTLE+BASE in both
#           runs; (go - plain) / N = KiB per Go target at the same age
#   CPU     memwatchd's CPU time from age SETTLE to the end of the run's window (plain: BASE s,
#           go: BENCH_SECONDS s), % of one core: the sum of /proc/PID/task/*/schedstat (ns), and
#           utime+stime of /proc/PID/stat (clock ticks) beside it
#   disk    at the start and end of the same window, from the live database (WAL: a reader
#           does not disturb the daemon) with the sqlite3 CLI, in one read transaction:
#             series    chunk bytes: sum(length(data)) of the closed chunks plus the pieces of
#                       the open 10-minute chunks in the staging rows, whose blobs are decoded
#                       (store.c's format 1) to split them by series: OS series of the watched
#                       targets, go_* series, memwatchd's own target; the staging rows' entry
#                       headers are counted apart (they go when a window's chunks are written)
#             profiles  rows and sum(length(blob)) per kind; dbstat payload of profiles and
#                       profiles_time; profile_sites (a per-target dictionary, not per day)
#             pages     (page_count - freelist_count) * page_size, also without staging's, and
#                       per b-tree sum(pgsize) / sum(payload) from dbstat
#           growth / window / N * 86400 = bytes per target per day, before retention
#   Also the steady-state profile footprint at memwatchd's retention (main.c: every profile
#   for 3 h, then one per 30 min, 30 days), from the measured bytes per profile row.
#
# Environment: BENCH_SECONDS (180, the go window), BENCH_BASE_SECONDS (60, the plain window
# and the second RSS age), BENCH_SETTLE (15), BENCH_TARGETS (20), BENCH_MB (20),
# BENCH_LOG_LEVEL (info), BENCH_TMPDIR (state dirs; default BUILDDIR).
# Takes about SETTLE*2 + BASE + BENCH_SECONDS + 15 seconds (4.6 minutes by default).
set -u

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 BUILDDIR   (the directory with memwatchd and tests/targets/memhog/memhog)" >&2
    exit 2
fi
BUILDDIR=$(cd "$1" && pwd)
MEMWATCHD=$BUILDDIR/memwatchd
MEMHOG=$BUILDDIR/tests/targets/memhog/memhog
WINDOW=${BENCH_SECONDS:-180}
BASE=${BENCH_BASE_SECONDS:-60}
SETTLE=${BENCH_SETTLE:-15}
N=${BENCH_TARGETS:-20}
MB=${BENCH_MB:-20}
LOG_LEVEL=${BENCH_LOG_LEVEL:-info}
STATE_PARENT=${BENCH_TMPDIR:-$BUILDDIR}
HZ=$(getconf CLK_TCK)
# memwatchd's profile retention (daemon/main.c, profstore.h) for the steady-state figure.
PROF_FULL_S=$((3 * 3600))
PROF_THIN_S=1800
PROF_RETENTION_S=$((30 * 86400))

for cmd in curl jq awk sqlite3; do   # Debian packages of the same names
    command -v "$cmd" >/dev/null || { echo "go_daemon_bench: needs $cmd (apt-get install $cmd)" >&2; exit 1; }
done
[ -x "$MEMWATCHD" ] || { echo "go_daemon_bench: no $MEMWATCHD (run make first)" >&2; exit 1; }
[ -x "$MEMHOG" ] || { echo "go_daemon_bench: no $MEMHOG (make tests/targets/memhog/memhog)" >&2; exit 1; }
[ "$BASE" -le "$WINDOW" ] || { echo "go_daemon_bench: BENCH_BASE_SECONDS must be <= BENCH_SECONDS" >&2; exit 2; }

WORK=$(mktemp -d "$STATE_PARENT/memwatch-gobench.XXXXXX") || exit 1
DAEMON_PID=
HOG_PIDS=()
HOG_ADDRS=()
NOTES=()
declare -A R    # R[MODE.KEY]: the figures of a run (MODE plain or go)

stop_daemon() {
    local i
    [ -n "$DAEMON_PID" ] || return 0
    kill -TERM "$DAEMON_PID" 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        kill -0 "$DAEMON_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$DAEMON_PID" 2>/dev/null
    wait "$DAEMON_PID" 2>/dev/null
    DAEMON_PID=
}
cleanup() {
    stop_daemon
    if [ ${#HOG_PIDS[@]} -gt 0 ]; then
        kill -KILL "${HOG_PIDS[@]}" 2>/dev/null
        wait "${HOG_PIDS[@]}" 2>/dev/null
        HOG_PIDS=()
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cpu_ticks() {   # utime + stime of PID, in clock ticks (fields 14 and 15 of /proc/PID/stat)
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
cpu_ns() {      # CPU time of PID's live threads in ns (/proc/PID/task/*/schedstat, field 1)
    cat "/proc/$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { if (NR) printf "%d\n", s }'
}
status_kib() {  # status_kib PID NAME: VmRSS, VmHWM... in KiB
    awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}
now_s() {
    date +%s.%N
}
sleep_until() { # sleep_until T0 AGE: until AGE seconds after T0
    local left
    left=$(awk -v t0="$1" -v a="$2" -v now="$(now_s)" 'BEGIN { d = t0 + a - now; printf "%.3f", (d > 0 ? d : 0) }')
    sleep "$left"
}
sql() {         # sql DB QUERY: one value, or empty
    sqlite3 -batch -noheader -cmd '.timeout 5000' "$1" "$2" 2>/dev/null
}

# db_snapshot DB: one line of "key=value" figures, all from one read transaction.
# Series bytes are counted as chunk bytes: closed raw chunks (rows of chunks) plus the pieces of
# the open ones in the staging rows (store.c's format 1: u8 1, then entries of uvarint
# series_id, uvarint zigzag start delta, uvarint offset, uvarint len, len bytes), decoded here
# and split by class: "os" (a watched target's OS series), "go" (go_*), "self" (memwatchd's
# own target); stg_meta is the staging rows' entry headers (gone once a window closes).
db_snapshot() {
    local db=$1
    sqlite3 -batch -noheader -separator '|' -cmd '.timeout 5000' "$db" "
        BEGIN;
        SELECT 'K', 'page_size', page_size FROM pragma_page_size;
        SELECT 'K', 'pages', page_count FROM pragma_page_count;
        SELECT 'K', 'free', freelist_count FROM pragma_freelist_count;
        SELECT 'K', 'chunk_bytes', coalesce(sum(length(data)), 0) FROM chunks;
        SELECT 'K', 'chunk_rows', count(*) FROM chunks;
        SELECT 'K', 'staging_bytes', coalesce(sum(length(data)), 0) FROM staging;
        SELECT 'K', 'series', count(*) FROM series;
        SELECT 'K', 'go_series', count(*) FROM series WHERE metric LIKE 'go\_%' ESCAPE '\';
        SELECT 'K', 'heap_rows', count(*) FROM profiles WHERE kind = 0;
        SELECT 'K', 'heap_blob', coalesce(sum(length(blob)), 0) FROM profiles WHERE kind = 0;
        SELECT 'K', 'gor_rows', count(*) FROM profiles WHERE kind = 1;
        SELECT 'K', 'gor_blob', coalesce(sum(length(blob)), 0) FROM profiles WHERE kind = 1;
        SELECT 'K', 'sites', count(*) FROM profile_sites;
        SELECT 'K', 'pg_' || name, sum(pgsize) FROM dbstat GROUP BY name;
        SELECT 'K', 'pl_' || name, sum(payload) FROM dbstat GROUP BY name;
        SELECT 'S', s.id, t.name, s.metric FROM series s JOIN targets t ON t.id = s.target_id;
        SELECT 'C', series_id, resolution_ms, sum(length(data)) FROM chunks GROUP BY series_id, resolution_ms;
        SELECT 'T', hex(data) FROM staging;
        COMMIT;
    " 2>/dev/null | awk -F'|' '
        function uv(   v, m, c) {
            v = 0; m = 1
            do { c = H[substr(h, 2 * pos - 1, 2)]; pos++; v += (c % 128) * m; m *= 128 } while (c >= 128 && pos <= n)
            return v
        }
        BEGIN { for (i = 0; i < 256; i++) H[sprintf("%02X", i)] = i }
        $1 == "K" { printf "%s=%s ", $2, $3; next }
        $1 == "S" { cls[$2] = $3 == "memwatchd" ? "self" : ($4 ~ /^go_/ ? "go" : "os"); next }
        $1 == "C" { if ($3 == 0) ser[cls[$2]] += $4; else rollup += $4; next }
        $1 == "T" {
            h = $2; n = length(h) / 2; pos = 2
            if (H[substr(h, 1, 2)] != 1) { badstg++; next }
            while (pos <= n) {
                id = uv(); uv(); uv(); len = uv()
                ser[cls[id]] += len; payload += len; pos += len
            }
            meta += n - payload; payload = 0
        }
        END {
            printf "ser_os=%d ser_go=%d ser_self=%d ser_other=%d stg_meta=%d rollup_bytes=%d bad_staging=%d\n",
                ser["os"], ser["go"], ser["self"], ser[""], meta, rollup, badstg
        }'
}
field() {       # field SNAPSHOT KEY
    local kv
    for kv in $1; do
        [ "${kv%%=*}" = "$2" ] && { echo "${kv#*=}"; return; }
    done
    echo 0
}
dir_bytes() {   # memwatch.db + memwatch.db-wal, bytes
    local s=0 f
    for f in "$1"/memwatch.db "$1"/memwatch.db-wal; do
        [ -f "$f" ] && s=$((s + $(stat -c %s "$f")))
    done
    echo "$s"
}

start_hogs() {
    local i j addr
    for ((i = 1; i <= N; i++)); do
        "$MEMHOG" -addr 127.0.0.1:0 -mb "$MB" </dev/null >"$WORK/hog-$i.out" 2>&1 &
        HOG_PIDS+=($!)
    done
    for ((i = 1; i <= N; i++)); do
        addr=
        for ((j = 0; j < 200; j++)); do
            if grep -q '^ready pid=' "$WORK/hog-$i.out" 2>/dev/null; then
                addr=$(sed -n 's/^listening on \(.*\)$/\1/p' "$WORK/hog-$i.out" | head -n 1)
                break
            fi
            sleep 0.1
        done
        if [ -z "$addr" ]; then
            echo "go_daemon_bench: memhog $i did not start; its output:" >&2
            sed 's/^/  /' "$WORK/hog-$i.out" >&2
            exit 1
        fi
        HOG_ADDRS+=("$addr")
    done
}

start_daemon() {  # start_daemon STATE
    local i port state=$1
    mkdir -p "$state"
    "$MEMWATCHD" --listen 127.0.0.1:0 --state-dir "$state" --log-level "$LOG_LEVEL" \
        </dev/null >"$state/daemon.log" 2>&1 &
    DAEMON_PID=$!
    port=
    for ((i = 0; i < 100; i++)); do
        port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$state/daemon.log" | tail -n 1)
        [ -n "$port" ] && break
        kill -0 "$DAEMON_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        echo "go_daemon_bench: memwatchd did not start; its log:" >&2
        sed 's/^/  /' "$state/daemon.log" >&2
        exit 1
    fi
    SERVER=http://127.0.0.1:$port
}

# run MODE WINDOW: fills R[MODE.*] (MODE plain | go)
run() {
    local mode=$1 window=$2 state=$WORK/$1 i body code failed=0 t0 c0 c1 n0 n1 e0 e1 ok
    start_daemon "$state"
    for ((i = 1; i <= N; i++)); do
        if [ "$mode" = go ]; then
            body="{\"name\":\"g-$i\",\"pid\":${HOG_PIDS[i - 1]},\"endpoint\":\"http://${HOG_ADDRS[i - 1]}\"}"
        else
            body="{\"name\":\"p-$i\",\"pid\":${HOG_PIDS[i - 1]}}"
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
            --data-binary "$body" "$SERVER/api/v1/targets")
        [ "$code" = 201 ] || failed=$((failed + 1))
    done
    t0=$(now_s)
    [ "$failed" -eq 0 ] || NOTES+=("$mode: $failed of $N POST /api/v1/targets did not answer 201")

    sleep_until "$t0" "$SETTLE"
    e0=$(now_s)
    c0=$(cpu_ticks "$DAEMON_PID")
    n0=$(cpu_ns "$DAEMON_PID")
    R[$mode.rss1]=$(status_kib "$DAEMON_PID" VmRSS)
    R[$mode.s0]=$(db_snapshot "$state/memwatch.db")
    sleep_until "$t0" $((SETTLE + BASE))
    R[$mode.rss2]=$(status_kib "$DAEMON_PID" VmRSS)
    sleep_until "$t0" $((SETTLE + window))
    e1=$(now_s)
    c1=$(cpu_ticks "$DAEMON_PID")
    n1=$(cpu_ns "$DAEMON_PID")
    R[$mode.s1]=$(db_snapshot "$state/memwatch.db")
    R[$mode.rss3]=$(status_kib "$DAEMON_PID" VmRSS)
    R[$mode.hwm]=$(status_kib "$DAEMON_PID" VmHWM)
    R[$mode.threads]=$(status_kib "$DAEMON_PID" Threads)
    R[$mode.files]=$(dir_bytes "$state")
    R[$mode.E]=$(awk -v a="$e0" -v b="$e1" 'BEGIN { printf "%.3f", b - a }')
    R[$mode.ticks_cpu]=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN { printf "%.3f", (b - a) / hz }')
    # schedstat has ns resolution but forgets threads that exit; memwatchd's (main loop and
    # scraper) live as long as it does.  Ticks count everything, to 1/HZ s.
    if [ -n "$n0" ] && [ -n "$n1" ]; then
        R[$mode.cpu]=$(awk -v a="$n0" -v b="$n1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
    else
        R[$mode.cpu]=${R[$mode.ticks_cpu]}
    fi
    if [ "$mode" = go ]; then
        # Did the scrapes work?  Count targets whose vars, heap and goroutine sources are ok.
        ok=0
        for ((i = 1; i <= N; i++)); do
            if curl -s "$SERVER/api/v1/targets/g-$i" | jq -e \
                '.runtime.sources.vars.ok and .runtime.sources.heap.ok and .runtime.sources.goroutine.ok' \
                >/dev/null 2>&1; then
                ok=$((ok + 1))
            fi
        done
        [ "$ok" -eq "$N" ] || NOTES+=("go: only $ok of $N targets had vars, heap and goroutine ok at the end")
    fi
    if grep -qiE 'warn|error|crit' "$state/daemon.log"; then
        NOTES+=("$mode: the daemon log has warnings: $(grep -iE 'warn|error|crit' "$state/daemon.log" | head -n 3 | tr '\n' '|')")
    fi
    stop_daemon
}

echo "go_daemon_bench: starting $N memhog -mb $MB" >&2
start_hogs
echo "go_daemon_bench: plain run: settle ${SETTLE} s, window ${BASE} s" >&2
run plain "$BASE"
echo "go_daemon_bench: go run: settle ${SETTLE} s, window ${WINDOW} s" >&2
run go "$WINDOW"
FSTYPE=$(stat -f -c %T "$STATE_PARENT")

# ---- report -------------------------------------------------------------------------------
d() {           # d MODE KEY: growth of KEY over the mode's window
    echo $(( $(field "${R[$1.s1]}" "$2") - $(field "${R[$1.s0]}" "$2") ))
}
v1() {          # v1 MODE KEY: value at the end of the window
    field "${R[$1.s1]}" "$2"
}
perday() {      # perday BYTES SECONDS [TARGETS]: per target per day
    awk -v b="$1" -v s="$2" -v n="${3:-$N}" 'BEGIN { printf "%.0f", (s > 0 ? b / s / n * 86400 : 0) }'
}
kib() {
    awk -v b="$1" 'BEGIN { printf "%.1f", b / 1024 }'
}
mib() {
    awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'
}
row() {         # row LABEL PLAIN_BYTES GO_BYTES [TARGETS]: growth and per target per day
    local p=$2 g=$3 n=${4:-$N} pd=- gd=-
    [ "$p" = - ] || [ "$n" = - ] || pd=$(perday "$p" "$plain_E" "$n")
    [ "$g" = - ] || [ "$n" = - ] || gd=$(perday "$g" "$go_E" "$n")
    printf '  %-44s %10s %10s %13s %13s\n' "$1" "$p" "$g" "$pd" "$gd"
}

plain_E=${R[plain.E]} go_E=${R[go.E]}
heap_rows=$(d go heap_rows) heap_blob=$(d go heap_blob)
gor_rows=$(d go gor_rows) gor_blob=$(d go gor_blob)
prof_rows=$((heap_rows + gor_rows))
prof_pl=$(( $(d go pl_profiles) + $(d go pl_profiles_time) ))
site_pg=$(( $(v1 go pg_profile_sites) + $(v1 go pg_sqlite_autoindex_profile_sites_1) ))
site_pl=$(( $(v1 go pl_profile_sites) + $(v1 go pl_sqlite_autoindex_profile_sites_1) ))
for m in plain go; do
    R[$m.pages]=$(( ($(d "$m" pages) - $(d "$m" free)) * $(v1 "$m" page_size) ))
    R[$m.pages_nostg]=$(( R[$m.pages] - $(d "$m" pg_staging) ))
done

echo
echo "memwatchd with Go targets - $(date '+%F %T'), $(nproc) CPUs, $(uname -r)"
echo "  daemon:   $MEMWATCHD --listen 127.0.0.1:0 --state-dir DIR --log-level $LOG_LEVEL"
echo "            (no config file: interval 1s, flush 10s, [go] runtime_interval 10s, profile_interval 60s)"
echo "  targets:  $N x memhog -addr 127.0.0.1:0 -mb $MB, added as plain pid targets ('plain' run) or with"
echo "            curl -s -X POST -d '{\"name\":\"g-I\",\"pid\":PID,\"endpoint\":\"http://127.0.0.1:PORT\"}' \$SERVER/api/v1/targets ('go' run)"
echo "  state:    under $STATE_PARENT ($FSTYPE); ages count from the last POST of a run"
echo "  windows:  from age ${SETTLE} s: plain ${plain_E} s, go ${go_E} s"
echo
echo "Memory: VmRSS of memwatchd, KiB"
printf '  %-24s %10s %10s %12s\n' "" plain go "go-plain /N"
for a in 1 2; do
    p=${R[plain.rss$a]} g=${R[go.rss$a]}
    age=$([ "$a" = 1 ] && echo "$SETTLE" || echo $((SETTLE + BASE)))
    printf '  %-24s %10d %10d %12.1f\n' "at age ${age} s" "$p" "$g" "$(awk -v p="$p" -v g="$g" -v n="$N" 'BEGIN { print (g - p) / n }')"
done
printf '  %-24s %10d %10d\n' "at the end of the window" "${R[plain.rss3]}" "${R[go.rss3]}"
printf '  %-24s %10d %10d\n' "VmHWM at the end" "${R[plain.hwm]}" "${R[go.hwm]}"
printf '  %-24s %10d %10d\n' "threads" "${R[plain.threads]}" "${R[go.threads]}"
echo
echo "CPU of memwatchd over the window (sum of /proc/PID/task/*/schedstat; in brackets utime+stime, $HZ Hz ticks)"
awk -v pc="${R[plain.cpu]}" -v pe="$plain_E" -v gc="${R[go.cpu]}" -v ge="$go_E" -v n="$N" \
    -v pt="${R[plain.ticks_cpu]}" -v gt="${R[go.ticks_cpu]}" 'BEGIN {
    pp = 100 * pc / pe; gp = 100 * gc / ge
    printf "  plain: %7.3f s [%.2f] in %6.1f s = %6.3f %% of a core\n", pc, pt, pe, pp
    printf "  go:    %7.3f s [%.2f] in %6.1f s = %6.3f %% of a core for %d Go targets (%.4f %% each)\n", gc, gt, ge, gp, n, gp / n
    printf "  go - plain: %.3f %% of a core = %.1f ms CPU per Go target per minute\n",
        gp - pp, (gp - pp) / 100 * 60000 / n }'
echo
echo "Disk: growth over the window, bytes; per day = growth / window x 86400 (/ $N for 'per target')"
echo "  series bytes are chunk data (closed raw chunks + the open chunks' pieces in staging rows)"
printf '  %-44s %10s %10s %13s %13s\n' "" "plain" "go" "plain /tgt/d" "go /tgt/d"
row "OS series of the watched targets" "$(d plain ser_os)" "$(d go ser_os)"
row "go_* series" - "$(d go ser_go)"
row "memwatchd's own target (per day)" "$(d plain ser_self)" "$(d go ser_self)" 1
row "staging entry headers (gone at window close)" "$(d plain stg_meta)" "$(d go stg_meta)" -
row "heap profiles: blobs ($heap_rows rows)" - "$heap_blob"
row "goroutine profiles: blobs ($gor_rows rows)" - "$gor_blob"
row "profile rows with blobs + index (dbstat)" - "$prof_pl"
row "database pages in use (page_size $(v1 go page_size))" "${R[plain.pages]}" "${R[go.pages]}"
row "  the same without staging's pages" "${R[plain.pages_nostg]}" "${R[go.pages_nostg]}"
awk -v pos="$(d plain ser_os)" -v pe="$plain_E" -v gos="$(d go ser_os)" -v gg="$(d go ser_go)" -v ge="$go_E" \
    -v pl="$prof_pl" -v n="$N" 'BEGIN {
    os = gos / ge / n * 86400; go = gg / ge / n * 86400; prof = pl / ge / n * 86400
    printf "  => one Go target: %.0f KiB/day of OS series + %.0f KiB/day of go_* series + %.0f KiB/day of profiles\n",
        os / 1024, go / 1024, prof / 1024
    printf "     = %.2f MiB/day before retention (a plain target: %.0f KiB/day of OS series)\n",
        (os + go + prof) / 1048576, pos / pe / n * 86400 / 1024 }'
echo "  at the end of the go run: series $(v1 go series) (go_*: $(v1 go go_series)), closed chunks $(v1 go chunk_rows)," \
    "profile sites $(v1 go sites) ($(kib "$site_pl") KiB payload, $(kib "$site_pg") KiB of pages;"
echo "    a dictionary per target that grows with new sites only); memwatch.db + -wal:" \
    "plain $(mib "${R[plain.files]}") MiB, go $(mib "${R[go.files]}") MiB"
echo "  b-trees at the end of the go run (dbstat: KiB of pages / KiB of payload):"
for kv in ${R[go.s1]}; do
    case ${kv%%=*} in
        pg_*) k=${kv%%=*}; k=${k#pg_}
              printf '    %-38s %8s %8s\n' "$k" "$(kib "${kv#*=}")" "$(kib "$(v1 go "pl_$k")")" ;;
    esac
done
awk -v hb="$heap_blob" -v gb="$gor_blob" -v pl="$prof_pl" -v rows="$prof_rows" -v hr="$heap_rows" -v gr="$gor_rows" \
    -v full="$PROF_FULL_S" -v thin="$PROF_THIN_S" -v ret="$PROF_RETENTION_S" -v iv=60 'BEGIN {
    if (rows == 0) { print "  no profile was stored in the window (make BENCH_SECONDS longer)"; exit }
    ovh = (pl - hb - gb) / rows                     # row + index bytes a profile, blob aside
    h = (hr ? hb / hr : 0) + ovh; g = (gr ? gb / gr : 0) + ovh
    kept = full / iv + (ret - full) / thin          # profiles of one kind kept at steady state
    printf "  a profile row: heap %.0f B (blob %.0f), goroutine %.0f B (blob %.0f), row and index included\n",
        h, h - ovh, g, g - ovh
    printf "  at memwatchd'"'"'s retention (every profile for %d h, then one per %d min, for %d days: %d kept per kind)\n",
        full / 3600, thin / 60, ret / 86400, kept
    printf "    profiles take %.2f MiB per target at steady state, %.0f KiB more per day of history\n",
        kept * (h + g) / 1048576, 86400 / thin * (h + g) / 1024 }'
echo "  memhog's profiles are small (tens of sites); bench/go_bench prices a 1000-sample heap profile"
echo "  not measured: 1-minute rollups (written per 6-hour window; none in a run this short)"
[ "$(v1 go bad_staging)" = 0 ] || NOTES+=("$(v1 go bad_staging) staging rows in an unknown format were not counted")
for note in "${NOTES[@]}"; do
    echo "note: $note"
done
[ "$FSTYPE" = tmpfs ] && echo "note: state on tmpfs"
exit 0
