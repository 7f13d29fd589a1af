#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2119,SC2317 # optional function arguments; functions run via wait_for
# go_thirdparty.sh - a real third-party Go server, Debian's caddy, watched end to end.
#
# Exercises: caddy (Debian package "caddy", 2.6.2 in bookworm) run with a JSON config confined
# to loopback and a temporary directory: its admin endpoint (127.0.0.1, a free port) serves
# expvar's /debug/vars, /debug/pprof/ and /metrics, and one static HTTP server answers on
# another loopback port.  `memwatchctl add caddy --pid PID --endpoint ADMIN_URL`; the runtime
# sources vars, heap and goroutine ok; go_heap_alloc_bytes and go_goroutines points; the
# breakdown (every part, a summary); a heap diff and a goroutine diff over the stored profiles;
# `memwatchctl show` (the Go runtime section); caddy still serving; exit 0 on SIGTERM.
# Skipped when caddy is not installed, except under CI (CI=true), where that is an error.
# shellcheck source=../lib/common.sh
. "${MEMWATCH_SRCDIR:-$(dirname "$0")/../..}/tests/lib/common.sh"

CADDY=${CADDY:-$(command -v caddy)}
if [ ! -x "$CADDY" ]; then
    [ "${CI:-}" = true ] && bail_out "caddy is not installed (Debian: apt-get install caddy)"
    skip_all "caddy is not installed (Debian: apt-get install caddy)"
fi
require jq curl "$MEMWATCHD" "$MEMWATCHCTL" "$CADDY"

plan 14

MW_CONFIG=$MW_GO_CONFIG
start_daemon

# --- caddy, loopback only, everything it writes under $MW_TMP/caddy ---------------------------
CDIR=$MW_TMP/caddy
mkdir -p "$CDIR/data" "$CDIR/config"
ADMIN='' WEB='' CADDY_PID=''
# start_caddy: one attempt on two free ports; 0 once the admin endpoint answers.
start_caddy() {
    ADMIN=$(free_port) && WEB=$(free_port) && [ "$ADMIN" != "$WEB" ] || return 1
    cat >"$CDIR/caddy.json" <<EOF
{
  "admin": {"listen": "127.0.0.1:$ADMIN", "config": {"persist": false}},
  "logging": {"logs": {"default": {"level": "WARN"}}},
  "storage": {"module": "file_system", "root": "$CDIR/data"},
  "apps": {"http": {"servers": {"test": {
    "listen": ["127.0.0.1:$WEB"],
    "routes": [{"handle": [{"handler": "static_response", "body": "hello from caddy\\n"}]}]
  }}}}
}
EOF
    # env execs caddy, so the PID is caddy's own.
    spawn caddy env HOME="$CDIR" XDG_DATA_HOME="$CDIR/data" XDG_CONFIG_HOME="$CDIR/config" \
        "$CADDY" run --config "$CDIR/caddy.json"
    CADDY_PID=$SPAWN_PID
    wait_for "caddy's admin endpoint" 10 caddy_answers
}
caddy_answers() {
    _alive "$CADDY_PID" && curl -sf --max-time 1 -o /dev/null "http://127.0.0.1:$ADMIN/config/"
}
started=
for attempt in 1 2 3; do
    if start_caddy; then
        started=1
        break
    fi
    diag "caddy attempt $attempt failed (ports $ADMIN, $WEB):" "$(tail -n 5 "$SPAWN_OUT")"
    kill "$CADDY_PID" 2>/dev/null
done
[ -n "$started" ] || bail_out "caddy did not start"
ADMIN_URL=http://127.0.0.1:$ADMIN
diag "caddy $("$CADDY" version 2>/dev/null | head -n 1), pid $CADDY_PID, admin $ADMIN_URL, web :$WEB"

serves_vars() {
    jok "$(curl -sf --max-time 2 "$ADMIN_URL/debug/vars")" '.memstats.HeapAlloc > 0'
}
ok "caddy's admin endpoint serves /debug/vars with memstats" serves_vars

ok "memwatchctl add caddy --pid PID --endpoint $ADMIN_URL" \
    ctl add caddy --pid "$CADDY_PID" --endpoint "$ADMIN_URL"
for src in vars heap goroutine; do
    if ! ok "within 10 s .runtime.sources.$src.ok is true" \
        wait_for "$src ok" 10 source_ok caddy "$src"; then
        diag "runtime: $(target_field caddy .runtime | head -c 3000)"
    fi
done

points() {  # points METRIC: at least 2 points, the newest > 0
    local n
    n=$(series_stat caddy "$1" -1m 'if length >= 2 and (last[1] > 0) then length else 0 end') &&
        [ "${n:-0}" -ge 2 ]
}
ok "go_heap_alloc_bytes has points (> 0)" wait_for "go_heap_alloc_bytes points" 10 points go_heap_alloc_bytes
ok "go_goroutines has points (> 0)" wait_for "go_goroutines points" 10 points go_goroutines

BD=
bd_ready() {
    breakdown_get caddy && BD=$HTTP_BODY && [ -n "$(part_bytes "$BD" live_heap)" ]
}
if ! ok "GET /api/v1/targets/caddy/breakdown answers 200" wait_for "a breakdown" 10 bd_ready; then
    diag "status $HTTP_STATUS: $(printf '%.2000s' "$HTTP_BODY")"
fi
diag "breakdown: $(jget "$BD" '[.parts[] | "\(.name)=\(.bytes)"] | join(" ")'), rss $(jget "$BD" .rss_bytes)" \
    "summary: $(jget "$BD" .summary)"
ok "  with all seven parts and a summary" jok "$BD" '
    ([.parts[].name] | contains(["live_heap", "heap_fragmentation", "retained_heap", "stacks",
        "runtime_metadata", "non_go", "file_backed"])) and (.summary | length > 0)'

# Some traffic for caddy between two profiles.
for _ in $(seq 20); do curl -s --max-time 2 "http://127.0.0.1:$WEB/" >/dev/null; done
sleep 4.5  # at 2 s, at least two more heap and goroutine profiles
DIFF=
diff_ready() {
    heap_diff_get caddy 'from=-1m' && DIFF=$HTTP_BODY && jok "$DIFF" '.sites | type == "array"'
}
if ! ok "GET .../caddy/heap/diff?from=-1m answers 200 with sites" wait_for "heap diff" 10 diff_ready; then
    diag "status $HTTP_STATUS: $(printf '%.1000s' "$HTTP_BODY")"
fi
GDIFF=
gdiff_ready() {
    goroutine_diff_get caddy 'from=-1m' && GDIFF=$HTTP_BODY && jok "$GDIFF" '.sites | type == "array"'
}
if ! ok "GET .../caddy/goroutines/diff?from=-1m answers 200 with sites" wait_for "goroutine diff" 10 gdiff_ready; then
    diag "status $HTTP_STATUS: $(printf '%.1000s' "$HTTP_BODY")"
fi

SHOW=$(ctl show caddy 2>&1)
show_complete() {
    grep -q "Go runtime" <<<"$SHOW" && grep -q live_heap <<<"$SHOW"
}
if ! ok "memwatchctl show caddy has the Go runtime section and a breakdown" show_complete; then
    diag "$SHOW"
fi
is "caddy still serves its site" "$(curl -s --max-time 2 "http://127.0.0.1:$WEB/")" "hello from caddy"

ok "the daemon exits 0 on SIGTERM" stop_daemon

done_testing
