#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317
# config_check.sh - the configuration from a user's side.
#
# Exercises: --help and --version; --check-config on the shipped memwatchd.conf.example (it must
# stay loadable) and on the built-in defaults; a typo in a config file stops memwatchd at start
# with a non-zero exit and FILE:LINE in the message; a bad --listen is refused; SIGHUP with a
# broken file keeps the daemon running on its old configuration, and SIGHUP with a good file
# applies it (the log says so); two daemons on one state directory are refused.
# shellcheck source=../lib/common.sh
. "${MEMWATCH_SRCDIR:-$(dirname "$0")/../..}/tests/lib/common.sh"

require jq curl "$MEMWATCHD" "$MEMWATCHCTL"

plan 12

ok "--help prints usage" bash -c '"$0" --help | grep -q "^Usage: memwatchd"' "$MEMWATCHD"
ok "--version prints the version" bash -c '"$0" --version | grep -Eq "^memwatchd [0-9]+\.[0-9]+"' "$MEMWATCHD"
ok "the shipped memwatchd.conf.example loads" \
    "$MEMWATCHD" --check-config --config "$MEMWATCH_SRCDIR/memwatchd.conf.example"
ok "the built-in defaults print as a config that loads again" bash -c \
    '"$0" --check-config --config /dev/null > "$1/defaults.conf" 2>/dev/null &&
     "$0" --check-config --config "$1/defaults.conf"' "$MEMWATCHD" "$MW_TMP"

printf '[sampling]\ninterval = 1s\nintreval = 5s\n' >"$MW_TMP/typo.conf"
out=$("$MEMWATCHD" --config "$MW_TMP/typo.conf" --state-dir "$MW_TMP/s1" --listen 127.0.0.1:0 2>&1)
rc=$?
isnt "a config with a typo stops memwatchd (non-zero exit)" "$rc" 0
ok "the error names the file and line" grep -q "typo.conf:3: unknown key \"intreval\"" <<<"$out"

out=$("$MEMWATCHD" --listen 0.0.0.0 --state-dir "$MW_TMP/s2" 2>&1)
isnt "--listen without a port is refused" "$?" 0

MW_CONFIG='[sampling]
interval = 1s'
start_daemon
printf '[sampling]\ninterval = soon\n' >"$MW_STATE/memwatchd.conf"
kill -HUP "$MW_PID"
ok "SIGHUP with a broken file: the log says the old configuration stays" \
    wait_for "reload error in the log" 5 grep -q "keeping the running configuration" "$MW_STATE/daemon.log"
ok "the daemon still answers" ctl health
printf '[sampling]\ninterval = 2s\n[daemon]\nlog_level = debug\n' >"$MW_STATE/memwatchd.conf"
kill -HUP "$MW_PID"
ok "SIGHUP with a good file applies it" \
    wait_for "reload in the log" 5 grep -q "configuration reloaded" "$MW_STATE/daemon.log"
interval_is_2() { [ "$(target_field memwatchd .interval_seconds)" = 2 ]; }
ok "memwatchd's own target now samples every 2 s" wait_for "interval 2" 5 interval_is_2

out=$("$MEMWATCHD" --state-dir "$MW_STATE" --listen 127.0.0.1:0 2>&1)
ok "a second memwatchd on the same state directory is refused" \
    grep -q "another memwatchd is using it" <<<"$out"

done_testing
