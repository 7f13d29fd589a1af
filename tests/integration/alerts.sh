#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317 # functions run via wait_for
# alerts.sh - an alert's whole life against a real leaking Go program, at test speed.
#
# Exercises: [detect] speed = 20; the corpus's map-cache scenario (a session map nothing
# evicts) -> an alert that fires with kind heap, its figures, the culprit
# main.(*sessionStore).put first with its file and line, a plain summary naming it; the two
# heap profiles kept at firing, downloaded, and `go tool pprof -base` naming the culprit;
# memwatchctl alerts / show; delivery to a webhook that fails twice first (retried with
# backoff, then delivered, every attempt logged) and to an exec hook (environment
# variables); a restart keeps the alert firing under the same id and notifies nobody again;
# the process exiting resolves it (notified); a calm program never fires; API errors.
# shellcheck source=../lib/common.sh
. "${MEMWATCH_SRCDIR:-$(dirname "$0")/../..}/tests/lib/common.sh"

CORPUS=$MEMWATCH_BUILDDIR/tests/corpus/corpus
RECEIVER=$MEMWATCH_BUILDDIR/tests/targets/receiver/receiver
require jq curl go "$MEMWATCHD" "$MEMWATCHCTL" "$CORPUS" "$RECEIVER" "$GOLEAKS"

plan 28

HOOKS=$MW_TMP/hooks
mkdir -p "$HOOKS"
go_spawn receiver "$RECEIVER" -fail 2 -out "$MW_TMP/webhook.jsonl"
WEBHOOK_URL=$GO_URL/hook

# watch_self = no: memwatchd's own growth (an ASan build's shadow memory, say) would raise
# alerts of its own and take the webhook's first failures.
MW_CONFIG="[daemon]
watch_self = no

$MW_GO_CONFIG

[detect]
speed = 20

[alerts]
webhook = $WEBHOOK_URL
exec = env > '$HOOKS'/\"\$MEMWATCH_ALERT_ID.\$MEMWATCH_STATE.\$\$\"
retry_initial = 1s
timeout = 5s"
start_daemon

# 0.5 MiB/s at speed 1, 10 MiB/s here: the cap (700 MiB) comes after ~70 s, past detection.
go_spawn leaky "$CORPUS" -scenario map-cache -speed 20 -rate-mb 0.5 -max-mb 700 \
    -memprofilerate 4096 -addr 127.0.0.1:0
LEAKY_PID=$GO_PID
ctl add leaky --pid "$GO_PID" --endpoint "$GO_URL" >/dev/null
go_spawn calm "$GOLEAKS" -mode idle -addr 127.0.0.1:0
ctl add calm --pid "$GO_PID" --endpoint "$GO_URL" >/dev/null

alert_of() {    # alert_of TARGET [QUERY]: the target's first alert (JSON), if any
    curl -sf "$MEMWATCH_SERVER/api/v1/targets/$1/alerts${2:-}" | jq -ce '.alerts[0] // empty'
}
firing() { [ "$(alert_of leaky | jq -r .state)" = firing ]; }
if wait_for "an alert firing for leaky" 150 firing; then
    pass "the leak's alert fires"
else
    fail "the leak's alert fires"
    diag "verdict: $(curl -s "$MEMWATCH_SERVER/api/v1/targets/leaky/verdict")"
fi
A=$(alert_of leaky)
ID=$(jget "$A" .id)
is "kind heap" "$(jget "$A" .kind)" heap
ok "started <= fired <= since" jq -e '.started <= .fired and .fired <= .since' <<<"$A"
ok "growth and confidence are figures" \
    jq -e '.growth_bytes_per_hour > 0 and .confidence > 0 and .confidence <= 1' <<<"$A"
ok "the window judged ends at the firing" jq -e '.window.from < .window.to' <<<"$A"
is "the culprit comes first" "$(jget "$A" '.culprits[0].function')" 'main.(*sessionStore).put'
ok "the culprit has its file, line and growth" \
    jq -e '(.culprits[0].file | endswith("leaks.go")) and .culprits[0].line > 0
           and .culprits[0].growth_bytes > 1048576' <<<"$A"
ok "the summary names the target and the culprit" \
    jq -e '.summary | test("^leaky is leaking Go heap: .*main\\.\\(\\*sessionStore\\)\\.put")' \
    <<<"$A"

# The evidence: both heap profiles (the second is the first taken after firing), and pprof
# reads them as a base and a profile.
has_profiles() { alert_of leaky | jq -e '.profiles.now' >/dev/null; }
wait_for "the alert's second heap profile" 15 has_profiles
curl -sf -o "$MW_TMP/base.pb.gz" "$MEMWATCH_SERVER/api/v1/alerts/$ID/profiles/base.pb.gz" &&
    curl -sf -o "$MW_TMP/now.pb.gz" "$MEMWATCH_SERVER/api/v1/alerts/$ID/profiles/now.pb.gz"
ok "the two heap profiles download" test -s "$MW_TMP/now.pb.gz" -a -s "$MW_TMP/base.pb.gz"
TOP=$(go tool pprof -top -base "$MW_TMP/base.pb.gz" "$MW_TMP/now.pb.gz" 2>&1 |
    awk '/flat%/ { getline; print; exit }')
case $TOP in
*'main.(*sessionStore).put'*) pass "go tool pprof -base names the culprit first" ;;
*) fail "go tool pprof -base names the culprit first"; diag "pprof's first row: $TOP" ;;
esac

OUT=$(ctl alerts)
case $OUT in
*"alert $ID [firing"*'main.(*sessionStore).put'*) pass "memwatchctl alerts shows it with its culprit" ;;
*) fail "memwatchctl alerts shows it with its culprit"; diag "$OUT" ;;
esac
OUT=$(ctl show leaky)
case $OUT in
*"alert $ID [firing"*) pass "memwatchctl show lists the target's alert" ;;
*) fail "memwatchctl show lists the target's alert"; diag "$OUT" ;;
esac

# Delivery: the webhook failed twice, then took it; the hook ran once with the alert.
hook_count() { find "$HOOKS" -name "$1.$2.*" | wc -l; }
delivered() { jq -se --argjson id "$ID" --arg s "$1" \
    'map(select(.status == 200) | .body | fromjson | select(.alert.id == $id and .status == $s)) | length == 1' \
    "$MW_TMP/webhook.jsonl"; }
wait_for "the webhook to take the firing alert" 20 delivered firing
ok "webhook: delivered after two failures" \
    jq -se 'length >= 3 and .[0].status == 500 and .[1].status == 500 and .[2].status == 200
            and .[2].content_type == "application/json" and .[2].method == "POST"' \
    "$MW_TMP/webhook.jsonl"
ok "the failed attempts and the success are logged" \
    grep -Eq "webhook .*alert $ID .*failed \(attempt 1 of .*next attempt" "$MW_STATE/daemon.log"
ok "...and the delivery" grep -Eq "webhook .*alert $ID .*delivered \(attempt 3 of" "$MW_STATE/daemon.log"
wait_for "the exec hook to run" 10 eval '[ "$(hook_count "$ID" firing)" -ge 1 ]'
HOOKENV=$(cat "$HOOKS/$ID.firing."* 2>/dev/null)
case $HOOKENV in
*MEMWATCH_TARGET=leaky*MEMWATCH_KIND=heap* | *MEMWATCH_KIND=heap*MEMWATCH_TARGET=leaky*)
    pass "exec hook: the alert in its environment" ;;
*) fail "exec hook: the alert in its environment"; diag "$HOOKENV" ;;
esac

# A restart: still firing, same alert, nobody notified again.
stop_daemon
restart_daemon
sleep 8
B=$(alert_of leaky)
is "after a restart: the same alert, still firing" \
    "$(jget "$B" .id):$(jget "$B" .state):$(jget "$B" .fired)" "$ID:firing:$(jget "$A" .fired)"
is "no second exec hook run for the same firing" "$(hook_count "$ID" firing)" 1
ok "no second webhook delivery for the same firing" delivered firing

# The process exits: resolved, and said so.
kill "$LEAKY_PID"
resolved() { [ "$(alert_of leaky '?all=1' | jq -r .state)" = resolved ]; }
wait_for "the alert to resolve" 20 resolved
R=$(alert_of leaky '?all=1')
is "the exited process's alert resolves" "$(jget "$R" .id):$(jget "$R" .state)" "$ID:resolved"
ok "its summary says why" jq -e '.summary | test("the process exited")' <<<"$R"
ok "no active alert left for it" test -z "$(alert_of leaky)"
wait_for "the webhook to take the resolution" 20 delivered resolved
ok "webhook: resolved delivered" delivered resolved
wait_for "the exec hook to run again" 10 eval '[ "$(hook_count "$ID" resolved)" -ge 1 ]'
is "exec hook: run once for the resolution" "$(hook_count "$ID" resolved)" 1

CALM=$(curl -sf "$MEMWATCH_SERVER/api/v1/targets/calm/alerts?all=1")
ok "the calm program never fired" jq -e '[.alerts[] | select(.fired != null)] | length == 0' \
    <<<"$CALM"

ok "an unknown alert has no profiles (404)" \
    test "$(curl -s -o /dev/null -w '%{http_code}' "$MEMWATCH_SERVER/api/v1/alerts/999999/profiles/base.pb.gz")" = 404
ok "bad query values are refused (400)" \
    test "$(curl -s -o /dev/null -w '%{http_code}' "$MEMWATCH_SERVER/api/v1/alerts?all=perhaps")" = 400

stop_daemon
is "memwatchd exits 0 on SIGTERM" "$MW_EXIT_STATUS" 0
done_testing
