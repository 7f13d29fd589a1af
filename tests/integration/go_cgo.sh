#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2119,SC2317 # optional function arguments; functions run via wait_for
# go_cgo.sh - memory that C code leaks is put outside the Go runtime, not on the Go heap.
#
# Exercises: cgoleak -rate-mb 5 (C malloc + memset, never freed; Go heap flat); the RSS
# breakdown now (dominant non_go, a summary saying non-Go / outside the Go runtime) and over
# the last 15 s (GET .../breakdown?from=-15s: .change has non_go growing by >= 40 MiB while
# live_heap moved by < 10 MiB, and a change summary); `memwatchctl breakdown NAME --since 15s`;
# the go_heap_alloc_bytes series staying flat while rss_bytes grows; exit 0 on SIGTERM.
# shellcheck source=../lib/common.sh
. "${MEMWATCH_SRCDIR:-$(dirname "$0")/../..}/tests/lib/common.sh"

require jq curl "$MEMWATCHD" "$MEMWATCHCTL" "$CGOLEAK"

plan 14

MiB=1048576
MW_CONFIG=$MW_GO_CONFIG
start_daemon

go_spawn cgo "$CGOLEAK" -rate-mb 5 -stats 5s
CGO_OUT=$GO_OUT
ok "add cgo (cgoleak, 5 MiB/s of C malloc) with its endpoint" \
    ctl add cgo --pid "$GO_PID" --endpoint "$GO_URL"
if ! ok "within 10 s vars is scraped" wait_for "vars ok" 10 source_ok cgo vars; then
    diag "runtime: $(target_field cgo .runtime | head -c 3000)"
fi
# 15 s of both views from here on (plus a margin, so that from=-15s falls after the first
# scrape and the first OS sample).
sleep 17

BD=
bd_ready() {
    breakdown_get cgo 'from=-15s' && BD=$HTTP_BODY && jok "$BD" '.change.parts | length > 0'
}
if ! ok "GET /api/v1/targets/cgo/breakdown?from=-15s answers 200 with .change" \
    wait_for "a breakdown with change" 5 bd_ready; then
    diag "status $HTTP_STATUS: $(printf '%.2000s' "$HTTP_BODY")"
fi
diag "parts: $(jget "$BD" '[.parts[] | "\(.name)=\(.bytes)"] | join(" ")')" \
    "change: $(jget "$BD" '[.change.parts[] | "\(.name):\(.delta_bytes // (.to_bytes - .from_bytes))"] | join(" ")')" \
    "summary: $(jget "$BD" .summary)" "change summary: $(jget "$BD" .change.summary)"

# 75 MiB leaked in the 15 s; the runtime's ~10 MiB of metadata reservations can hide the first
# of it (non_go is RssAnon minus the Go parts, and 0 while those exceed RssAnon).
cmp_ge "non_go grew by >= 40 MiB over the range" "$(change_delta "$BD" non_go)" $((40 * MiB))
LIVE_D=$(change_delta "$BD" live_heap)
if [ -n "$LIVE_D" ] && fge "$LIVE_D" $((-10 * MiB)) && ! fge "$LIVE_D" $((10 * MiB)); then
    pass "live_heap changed by < 10 MiB (${LIVE_D} bytes)"
else
    fail "live_heap changed by < 10 MiB (got '${LIVE_D}')"
fi
is "the dominant part is non_go" "$(jget "$BD" .dominant)" non_go
cmp_ge "non_go now holds >= 50 MiB" "$(part_bytes "$BD" non_go)" $((50 * MiB))
SUMMARIES="$(jget "$BD" .summary) $(jget "$BD" .change.summary)"
if grep -Eqi 'non-Go|outside' <<<"$SUMMARIES"; then
    pass "the summary says the memory is non-Go / outside the Go runtime"
else
    fail "the summary says the memory is non-Go / outside the Go runtime"
    diag "summaries: $SUMMARIES"
fi
ok "the change summary is a non-empty string" \
    jok "$BD" '.change.summary | type == "string" and length > 0'
ok "the change covers about 15 s" \
    jok "$BD" '(.change.to - .change.from) >= 13 and (.change.to - .change.from) <= 17'

# The two series, side by side.
RSS_SPAN=$(series_stat cgo rss_bytes -15s 'map(.[1]) | max - min')
HEAP_SPAN=$(series_stat cgo go_heap_alloc_bytes -15s 'map(.[1]) | max - min')
cmp_ge "rss_bytes rose by >= 50 MiB in 15 s" "$RSS_SPAN" $((50 * MiB))
if [ -n "$HEAP_SPAN" ] && fge $((10 * MiB)) "$HEAP_SPAN"; then
    pass "go_heap_alloc_bytes stayed within 10 MiB (span $HEAP_SPAN)"
else
    fail "go_heap_alloc_bytes stayed within 10 MiB (span '$HEAP_SPAN')"
fi

OUT=
ctl_bd() {
    OUT=$(ctl breakdown cgo --since 15s 2>&1) && grep -q non_go <<<"$OUT"
}
if ! ok "memwatchctl breakdown cgo --since 15s lists non_go" ctl_bd; then
    diag "$OUT"
fi

ok "the daemon exits 0 on SIGTERM" stop_daemon

if [ "$MW_FAILED" -gt 0 ]; then
    diag "cgoleak's own statistics:" "$(tail -n 5 "$CGO_OUT")"
fi

done_testing
