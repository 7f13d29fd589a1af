#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2119,SC2317 # optional function arguments; functions run via wait_for
# api_errors.sh - memwatchd refuses bad requests cleanly and survives bad clients.
#
# Exercises: GET /api/v1/health; POST /api/v1/targets with malformed JSON, a non-object,
# missing/empty/invalid/too long names, wrong types, pid and match together, an invalid regex,
# a pid that does not exist, a body over 64 KiB (413) and a duplicate name (409, also against
# the built-in "memwatchd" target); GET/DELETE of an unknown target (404); series with an
# unknown metric, without a metric, of an unknown target, with a bad `from`; PUT on the
# collection (405, with an Allow header); an unknown path (404); that none of the refused
# requests created anything; every error is a {"error": "..."} JSON body; memwatchctl's exit
# codes (1 daemon error, 2 usage, 3 not reachable); raw TCP clients sending garbage, nothing,
# or half a request; and that the daemon is still alive and healthy afterwards and exits 0 on
# SIGTERM.
# shellcheck source=../lib/common.sh
. "${MEMWATCH_SRCDIR:-$(dirname "$0")/../..}/tests/lib/common.sh"

require curl jq "$MEMWATCHD" "$MEMWATCHCTL"

plan 41

start_daemon

T=/api/v1/targets

# expect_error DESC STATUS METHOD PATH [BODY]: one TAP line, passing if the status is STATUS
# and the body is a JSON object with a string "error".
expect_error() {
    local desc=$1 want=$2 err
    shift 2
    api "$@"
    err=$(jget "$HTTP_BODY" 'if type == "object" and (.error | type) == "string" then .error else empty end')
    if [ "$HTTP_STATUS" = "$want" ] && [ -n "$err" ]; then
        pass "$desc"
    else
        fail "$desc"
        diag "request: $1 $2${3:+ body: $(printf '%.200s' "$3")}" \
            "got status $HTTP_STATUS, expected $want with a {\"error\": \"...\"} body" \
            "body: $(printf '%.300s' "$HTTP_BODY")"
        [ -z "$HTTP_ERROR" ] || diag "curl: $HTTP_ERROR"
        if [ "$HTTP_STATUS" = 000 ] && [ "$want" = 413 ]; then
            diag "no response: a daemon that closes with the refused body unread makes the" \
                "kernel send a RST that can destroy its 413; drain the body or half-close first"
        fi
    fi
}

# --- health ---------------------------------------------------------------------------------
api GET /api/v1/health
is "health answers 200" "$HTTP_STATUS" 200
ok "health body is JSON" jq -e . <<<"$HTTP_BODY"

# --- POST /targets: bad bodies --------------------------------------------------------------
expect_error "malformed JSON -> 400" 400 POST $T '{"name": "x", "pid": '
expect_error "empty body -> 400" 400 POST $T ''
expect_error "non-object JSON ([1,2]) -> 400" 400 POST $T '[1,2]'
expect_error "missing name -> 400" 400 POST $T "{\"pid\": $$}"
expect_error "empty name -> 400" 400 POST $T "{\"name\": \"\", \"pid\": $$}"
expect_error "invalid name ../x -> 400" 400 POST $T "{\"name\": \"../x\", \"pid\": $$}"
expect_error "invalid name with a slash -> 400" 400 POST $T "{\"name\": \"a/b\", \"pid\": $$}"
long=$(printf 'n%.0s' $(seq 1 100))
expect_error "100-character name -> 400" 400 POST $T "{\"name\": \"$long\", \"pid\": $$}"
expect_error "neither pid nor match -> 400" 400 POST $T '{"name": "x"}'
expect_error "both pid and match -> 400" 400 POST $T "{\"name\": \"x\", \"pid\": $$, \"match\": \"^x\$\"}"
expect_error "invalid regex ( -> 400" 400 POST $T '{"name": "x", "match": "("}'
expect_error "wrong type (pid \"abc\") -> 400" 400 POST $T '{"name": "x", "pid": "abc"}'
expect_error "wrong type (name 42) -> 400" 400 POST $T "{\"name\": 42, \"pid\": $$}"
expect_error "negative pid -> 400" 400 POST $T '{"name": "x", "pid": -5}'

# A PID that surely names no process: a child of ours, already reaped.
true &
dead=$!
wait "$dead"
if kill -0 "$dead" 2>/dev/null; then
    dead=$(( $(cat /proc/sys/kernel/pid_max) - 1 ))
    kill -0 "$dead" 2>/dev/null && dead=4194303
fi
expect_error "pid of no process -> 400" 400 POST $T "{\"name\": \"x\", \"pid\": $dead}"

# Over 64 KiB: a valid-looking object whose pattern alone is 70 KiB.
{
    printf '{"name": "big", "match": "'
    head -c $((70 * 1024)) /dev/zero | tr '\0' a
    printf '"}'
} >"$MW_TMP/big.json"
expect_error "body over 64 KiB -> 413" 413 POST $T "@$MW_TMP/big.json"

# --- duplicates -----------------------------------------------------------------------------
api POST $T '{"name": "dup", "match": "^mwtest-no-such-process$"}'
is "a valid match target is created (201)" "$HTTP_STATUS" 201
expect_error "the same name again -> 409" 409 POST $T '{"name": "dup", "match": "^other$"}'
expect_error "the built-in name memwatchd -> 409" 409 POST $T "{\"name\": \"memwatchd\", \"pid\": $$}"

# --- unknown targets, bad series queries ------------------------------------------------------
expect_error "GET unknown target -> 404" 404 GET $T/no-such-target
expect_error "DELETE unknown target -> 404" 404 DELETE $T/no-such-target
expect_error "series with an unknown metric -> 400" 400 GET "$T/memwatchd/series?metric=no_such_metric"
expect_error "series without a metric -> 400" 400 GET "$T/memwatchd/series"
expect_error "series of an unknown target -> 404" 404 GET "$T/no-such-target/series?metric=rss_bytes"
expect_error "series with a bad from -> 400" 400 GET "$T/memwatchd/series?metric=rss_bytes&from=yesterday"
expect_error "PUT on the target collection -> 405" 405 PUT $T '{"name": "x", "pid": 1}'
allow_names_get_post() {
    curl -s -o /dev/null -D - -X PUT --max-time 10 "$MEMWATCH_SERVER$T" |
        tr -d '\r' | grep -i '^allow:' | grep -w GET | grep -qw POST
}
ok "the 405 has an Allow header naming GET and POST" allow_names_get_post
expect_error "unknown API path -> 404" 404 GET /api/v1/no-such-thing

# --- nothing refused left anything behind -----------------------------------------------------
api GET $T
is "the target list holds exactly memwatchd and dup" \
    "$(jget "$HTTP_BODY" '[if type == "array" then .[] else .targets[] end | .name] | sort | join(",")')" \
    "dup,memwatchd"
api DELETE $T/dup
ok "DELETE of an existing target succeeds (2xx, was $HTTP_STATUS)" test "${HTTP_STATUS:0:1}" = 2
expect_error "and then it is gone (404)" 404 GET $T/dup

# --- memwatchctl exit codes -------------------------------------------------------------------
ctl show no-such-target >/dev/null 2>&1
is "memwatchctl: a daemon error exits 1" "$?" 1
ctl no-such-command >/dev/null 2>&1
is "memwatchctl: a usage error exits 2" "$?" 2
ctl --server http://127.0.0.1:1 health >/dev/null 2>&1
is "memwatchctl: an unreachable daemon exits 3" "$?" 3

# --- raw TCP clients --------------------------------------------------------------------------
# Garbage bytes (a TLS ClientHello start, a NUL, binary) then EOF.
raw_garbage() {
    local fd
    exec {fd}<>"/dev/tcp/127.0.0.1/$MW_PORT" || return 1
    printf '\026\003\001\000\245\001\000\000\241\003\003\000\377\376garbage\r\n\r\n' >&"$fd"
    timeout 3 cat <&"$fd" >/dev/null 2>&1
    exec {fd}>&-
    return 0
}
raw_garbage
api GET /api/v1/health
is "healthy after a client sent garbage bytes" "$HTTP_STATUS" 200

# A client that connects and sends nothing, and one that sends half a request: while both stay
# connected, others are still served.
if exec {idle_fd}<>"/dev/tcp/127.0.0.1/$MW_PORT" {half_fd}<>"/dev/tcp/127.0.0.1/$MW_PORT"; then
    printf 'GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n' >&"$half_fd"
    api GET /api/v1/health
    is "healthy while one client sends nothing and another half a request" "$HTTP_STATUS" 200
    exec {idle_fd}>&- {half_fd}>&-
else
    fail "healthy while one client sends nothing and another half a request"
    diag "could not connect to 127.0.0.1:$MW_PORT"
fi
api GET /api/v1/health
is "healthy after those clients hung up" "$HTTP_STATUS" 200

ok "the daemon process is still alive" daemon_alive
ok "SIGTERM: the daemon exits 0" stop_daemon

done_testing
