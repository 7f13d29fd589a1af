#!/usr/bin/env bash
# measure.sh - play one corpus scenario and measure its memory slopes from outside.
#
#	measure.sh CORPUS SCENARIO SPEED SECONDS [CORPUS_ARGS...]
#
# Starts CORPUS -scenario SCENARIO -speed SPEED (plus CORPUS_ARGS), samples every second
# VmRSS (ps -o rss), and from /debug/vars memstats.HeapAlloc, memstats.HeapInuse,
# memstats.NextGC, goroutines, corpus_leaked_bytes and corpus_native_bytes, for SECONDS,
# skipping the first 5 s.  Prints one line: least-squares slopes over all samples, in MiB/s
# (goroutines: a second), of
#   rss         VmRSS
#   heap_alloc  HeapAlloc (live heap plus the garbage not yet collected: a saw-tooth whose
#               height grows with the live heap, so its slope exceeds the live heap's)
#   heap_env    HeapAlloc's lower envelope (the minimum of each 10 s bucket)
#   heap_live   NextGC/2: with GOGC=100 the goal is twice the heap marked live by the last
#               GC, so this is the live heap as of the last GC (noisy below 4 MiB, the
#               minimum goal)
#   leaked      corpus_leaked_bytes (what the program says it leaked)
#   native      corpus_native_bytes (C memory held)
#   goroutines  runtime.NumGoroutine()
# then min and max of RSS and HeapAlloc, and the mean goroutine count.  The samples stay in $MEASURE_DIR (default: a temp directory,
# removed) as samples.tsv; the program's output as out.txt.  Needs curl, jq, ps and bc.
set -euo pipefail

if [ $# -lt 4 ]; then
    echo "usage: $0 CORPUS SCENARIO SPEED SECONDS [CORPUS_ARGS...]" >&2
    exit 2
fi
corpus=$1 scenario=$2 speed=$3 seconds=$4
shift 4

dir=${MEASURE_DIR:-}
if [ -z "$dir" ]; then
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
fi
mkdir -p "$dir"
"$corpus" -scenario "$scenario" -speed "$speed" "$@" >"$dir/out.txt" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; [ -n "${MEASURE_DIR:-}" ] || rm -rf "$dir"' EXIT
trap 'exit 1' INT TERM

addr=
for _ in $(seq 100); do
    addr=$(sed -n 's/^listening on //p' "$dir/out.txt" | head -n 1)
    [ -n "$addr" ] && break
    sleep 0.1
done
[ -n "$addr" ] || { echo "no 'listening on' line: $(cat "$dir/out.txt")" >&2; exit 1; }

: >"$dir/samples.tsv"
start=$(date +%s.%N)
sleep 5
end=$(echo "$start + 5 + $seconds" | bc)
while [ "$(echo "$(date +%s.%N) < $end" | bc)" = 1 ]; do
    t=$(echo "$(date +%s.%N) - $start" | bc)
    rss=$(ps -o rss= -p "$pid" | tr -d ' ')
    vars=$(curl -fsS --max-time 2 "http://$addr/debug/vars" | jq -r '[.memstats.HeapAlloc, .memstats.HeapInuse,
        .goroutines, .corpus_leaked_bytes, .corpus_native_bytes, .memstats.NextGC] | @tsv') || vars=
    [ -n "$vars" ] && [ -n "$rss" ] && printf '%s\t%s\t%s\n' "$t" "$rss" "$vars" >>"$dir/samples.tsv"
    sleep 1
done

awk -F'\t' -v scenario="$scenario" -v speed="$speed" '
function slope(col,   i, mx, my, sxx, sxy) {
    mx = 0; my = 0
    for (i = 1; i <= n; i++) { mx += t[i]; my += v[col, i] }
    mx /= n; my /= n; sxx = 0; sxy = 0
    for (i = 1; i <= n; i++) { sxx += (t[i] - mx)^2; sxy += (t[i] - mx) * (v[col, i] - my) }
    return sxx > 0 ? sxy / sxx : 0
}
{
    n++; t[n] = $1
    v["rss", n] = $2 / 1024             # KiB -> MiB
    v["heap", n] = $3 / 1048576
    v["gor", n] = $5
    v["native", n] = $7 / 1048576
    v["leaked", n] = $6 / 1048576
    v["live", n] = $8 / 2 / 1048576
    b = int($1 / 10)
    if (!(b in emin) || v["heap", n] < emin[b]) { emin[b] = v["heap", n]; etime[b] = $1 }
    if (n == 1 || v["rss", n] < rmin) rmin = v["rss", n]
    if (n == 1 || v["rss", n] > rmax) rmax = v["rss", n]
    if (n == 1 || v["heap", n] < hmin) hmin = v["heap", n]
    if (n == 1 || v["heap", n] > hmax) hmax = v["heap", n]
    gsum += $5
}
END {
    if (n < 3) { print scenario " speed=" speed ": too few samples (" n ")"; exit 1 }
    # The envelope: one point per 10 s bucket (its minimum).
    m = 0; for (b in emin) { m++; et[m] = etime[b]; ev[m] = emin[b] }
    mx = 0; my = 0; for (i = 1; i <= m; i++) { mx += et[i]; my += ev[i] }; mx /= m; my /= m
    sxx = 0; sxy = 0; for (i = 1; i <= m; i++) { sxx += (et[i] - mx)^2; sxy += (et[i] - mx) * (ev[i] - my) }
    env = sxx > 0 ? sxy / sxx : 0
    printf "%-16s speed=%-3s n=%-3d rss=%+.3f heap_alloc=%+.3f heap_env=%+.3f heap_live=%+.3f leaked=%+.3f native=%+.3f MiB/s goroutines=%+.2f/s | rss %.0f-%.0f heap_alloc %.0f-%.0f MiB goroutines_mean=%.0f\n",
        scenario, speed, n, slope("rss"), slope("heap"), env, slope("live"), slope("leaked"),
        slope("native"), slope("gor"), rmin, rmax, hmin, hmax, gsum / n
}' "$dir/samples.tsv"
