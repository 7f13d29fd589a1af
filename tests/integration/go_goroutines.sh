#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2119,SC2317 # optional function arguments; functions run via wait_for
# go_goroutines.sh - leaking goroutines show in go_goroutines and in the goroutine diff.
#
# Exercises: goleaks -mode goroutineleak (50 goroutines a second block forever in
# waitForReply); goroutine profiles every 2 s; the go_goroutines series (from the goroutine
# profile's total, expvar having no goroutine count) rising by >= 200 within ~10 s; GET
# .../goroutines/diff?from=-10s (sites[0] waits in waitForReply, count_delta >= 100,
# total_delta >= 100); `memwatchctl diff NAME --since 10s --goroutines` (waitForReply printed
# first); a target with no leak (goleaks -mode idle) whose goroutine diff shows no such growth;
# exit 0 on SIGTERM.
# shellcheck source=../lib/common.sh
. "${MEMWATCH_SRCDIR:-$(dirname "$0")/../..}/tests/lib/common.sh"

require jq curl "$MEMWATCHD" "$MEMWATCHCTL" "$GOLEAKS"

plan 13

MW_CONFIG=$MW_GO_CONFIG
start_daemon

go_spawn gleak "$GOLEAKS" -mode goroutineleak -rate 50
GLEAK=$GO_PID
ok "add gleak (goleaks -mode goroutineleak, 50/s) with its endpoint" \
    ctl add gleak --pid "$GLEAK" --endpoint "$GO_URL"
go_spawn calm "$GOLEAKS" -mode idle
ok "add calm (goleaks -mode idle) with its endpoint" ctl add calm --pid "$GO_PID" --endpoint "$GO_URL"

if ! ok "within 10 s a goroutine profile is taken" \
    wait_for "goroutine ok" 10 source_ok gleak goroutine; then
    diag "runtime: $(target_field gleak .runtime | head -c 3000)"
fi
T0=$(now_s)

SPAN=
rose() {
    SPAN=$(series_stat gleak go_goroutines "$T0" 'map(.[1]) | if length > 1 then max - min else 0 end')
    fge "${SPAN:-0}" 200
}
if ! ok "go_goroutines rises by >= 200 within 12 s" wait_for "go_goroutines +200" 12 rose; then
    diag "span seen: '$SPAN'; series: $(series_get gleak go_goroutines "from=$T0" | head -c 1500)"
    diag "goleaks: $(curl -s --max-time 2 "$GO_URL/debug/vars" | jq -c .goroutines 2>&1)"
fi
# At least 10 s of profiles since the first one, for from=-10s.
END=$(fadd "$T0" 10.5)
while ! fge "$(now_s)" "$END"; do sleep 0.2; done

DIFF=
diff_ready() {
    goroutine_diff_get gleak 'from=-10s' && DIFF=$HTTP_BODY && [ "$(jget "$DIFF" '.sites | length')" -gt 0 ]
}
if ! ok "GET /api/v1/targets/gleak/goroutines/diff?from=-10s answers 200 with sites" \
    wait_for "a goroutine diff" 5 diff_ready; then
    diag "status $HTTP_STATUS: $(printf '%.2000s' "$HTTP_BODY")"
fi
diag "diff from $(jget "$DIFF" .from) to $(jget "$DIFF" .to), total_delta $(jget "$DIFF" .total_delta):" \
    "$(jget "$DIFF" '.sites[:3][] | "\(.count_delta) (now \(.count)) leaf \(.leaf.function) user \(.user.function) \(.user.file):\(.user.line)"')"
if jok "$DIFF" '.sites[0] | [.leaf.function, .user.function] | any(. != null and test("waitForReply"))'; then
    pass "sites[0] waits in waitForReply (leaf or user frame)"
else
    fail "sites[0] waits in waitForReply (leaf or user frame)"
fi
cmp_ge "sites[0].count_delta >= 100 (50 a second)" "$(jget "$DIFF" '.sites[0].count_delta')" 100
cmp_ge "total_delta >= 100" "$(jget "$DIFF" '.total_delta')" 100
ok "sites[0].user.file ends with main.go and its line > 0" \
    jok "$DIFF" '.sites[0].user | (.file | endswith("main.go")) and .line > 0'

OUT=
ctl_diff() {
    OUT=$(ctl diff gleak --since 10s --goroutines 2>&1)
}
if ! ok "memwatchctl diff gleak --since 10s --goroutines exits 0" ctl_diff; then
    diag "$OUT"
fi
FIRST=$(grep -m 1 -E '(^|[^A-Za-z0-9_/])main\.' <<<"$OUT")
case $FIRST in
*waitForReply*) pass "memwatchctl diff --goroutines prints waitForReply first" ;;
*)
    fail "memwatchctl diff --goroutines prints waitForReply first"
    diag "first line naming main.: '$FIRST'" "output:" "$OUT"
    ;;
esac

# The idle program's goroutines do not pile up.
CALM=
calm_diff() {
    goroutine_diff_get calm 'from=-10s' && CALM=$HTTP_BODY
}
if wait_for "calm's goroutine diff" 5 calm_diff; then
    ok "calm: no site grew by 10 goroutines or more" \
        jok "$CALM" '[.sites[].count_delta] | all(. < 10)'
else
    fail "calm: no site grew by 10 goroutines or more"
    diag "status $HTTP_STATUS: $(printf '%.1000s' "$HTTP_BODY")"
fi

ok "the daemon exits 0 on SIGTERM" stop_daemon

done_testing
