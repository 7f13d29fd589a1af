#!/usr/bin/env bash
# culprit.sh - check that a leak scenario's culprit is what Go's own profiles point at.
#
#	culprit.sh CORPUS SCENARIO SPEED [WARMUP_S [GAP_S [CORPUS_ARGS...]]]
#
# Starts CORPUS -scenario SCENARIO -speed SPEED (plus CORPUS_ARGS), waits WARMUP_S seconds
# (default 10), then:
#   - heap leaks: fetches /debug/pprof/heap, waits GAP_S (default 20), fetches it again, and
#     prints `go tool pprof -top -diff_base OLD NEW` (in-use bytes); PASS if the first
#     function listed (pprof sorts by |flat|) is the scenario's corpus_culprit, WEAK (exit 3)
#     if the culprit is only the one that grew most (a bigger fall of garbage elsewhere came
#     first), FAIL (exit 1) otherwise;
#   - the goroutine leak: prints the head of /debug/pprof/goroutine?debug=1; passes if the
#     biggest group of goroutines is blocked in the culprit;
#   - anything else: nothing to check (the native leak is not in Go's profiles).
# Prints "PASS|WEAK|FAIL SCENARIO ..." last; exit status 0 on PASS.  Needs curl
# and `go` (for go tool pprof).
set -euo pipefail

if [ $# -lt 3 ]; then
    echo "usage: $0 CORPUS SCENARIO SPEED [WARMUP_S [GAP_S [CORPUS_ARGS...]]]" >&2
    exit 2
fi
corpus=$1 scenario=$2 speed=$3 warmup=${4:-10} gap=${5:-20}
shift $(($# < 5 ? $# : 5))

dir=$(mktemp -d)
"$corpus" -scenario "$scenario" -speed "$speed" "$@" >"$dir/out.txt" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
trap 'exit 1' INT TERM

addr=
for _ in $(seq 100); do
    addr=$(sed -n 's/^listening on //p' "$dir/out.txt" | head -n 1)
    [ -n "$addr" ] && break
    sleep 0.1
done
[ -n "$addr" ] || { echo "no 'listening on' line: $(cat "$dir/out.txt")" >&2; exit 1; }
url=http://$addr
vars=$(curl -fsS "$url/debug/vars")
truth=$(printf '%s' "$vars" | sed -n 's/.*"corpus_truth": *"\([^"]*\)".*/\1/p')
culprit=$(printf '%s' "$vars" | sed -n 's/.*"corpus_culprit": *"\([^"]*\)".*/\1/p')
echo "# $scenario: truth $truth, culprit ${culprit:-none}, speed $speed"

sleep "$warmup"
case $truth in
leak:heap)
    curl -fsS -o "$dir/old.pb.gz" "$url/debug/pprof/heap"
    sleep "$gap"
    curl -fsS -o "$dir/new.pb.gz" "$url/debug/pprof/heap"
    go tool pprof -top -diff_base "$dir/old.pb.gz" "$dir/new.pb.gz" 2>&1 | tee "$dir/top.txt" | head -n 14
    # Rows after the header: "flat flat% sum% cum cum% FUNCTION", by |flat| (a function
    # whose in-use bytes fell, garbage caught in one profile and not the other, can come
    # first).  The first row, and the first with a positive flat delta (what grew most).
    first=$(awk '/^ *flat +flat%/ { getline; print $6; exit }' "$dir/top.txt")
    grew=$(awk '/^ *flat +flat%/ { h = 1; next } h && $1 !~ /^-/ && $1 != "0" { print $6; exit }' "$dir/top.txt")
    if [ "$first" = "$culprit" ]; then
        echo "PASS $scenario speed=$speed: the heap diff's first function is $first"
    elif [ "$grew" = "$culprit" ]; then
        echo "WEAK $scenario speed=$speed: $culprit grew most, but '$first' (a fall) comes first by |flat|"
        exit 3
    else
        echo "FAIL $scenario speed=$speed: the heap diff's first function is '$first', the one that grew most '$grew', not $culprit"
        exit 1
    fi
    ;;
leak:goroutine)
    curl -fsS "$url/debug/pprof/goroutine?debug=1" >"$dir/g.txt"
    head -n 8 "$dir/g.txt"
    # The groups come biggest first: "N @ PCS" then "#	PC	FUNCTION+OFF	FILE:LINE".
    top=$(awk '/^[0-9]+ @/ { n = $1; getline; while ($0 ~ /^#/) { f = $3; if (f !~ /^runtime\./ && f !~ /^time\./) { sub(/\+0x[0-9a-f]+$/, "", f); print n, f; exit } ; getline } }' "$dir/g.txt")
    if [ "${top#* }" = "$culprit" ]; then
        echo "PASS $scenario speed=$speed: the biggest goroutine group ($top) is blocked in $culprit"
    else
        echo "FAIL $scenario speed=$speed: the biggest goroutine group is '$top', not in $culprit"
        exit 1
    fi
    ;;
*)
    echo "PASS $scenario speed=$speed: nothing to check in Go's profiles (truth $truth)"
    ;;
esac
