#!/bin/sh
# quickstart.sh - set up memwatch on a fresh Debian 12 machine and run it, or run its tests.
#
#   ./quickstart.sh run [memwatchd options]   install what is missing, build, run memwatchd
#                                             in the foreground on its built-in defaults
#   ./quickstart.sh test                      install what is missing, build, run `make check`
#
# Installing packages needs root (or sudo).  Builds go to ./build so the source tree stays
# clean.  Set CONFIGURE_FLAGS to pass extra ./configure options (e.g. --enable-sanitizers).
set -eu

PACKAGES="build-essential autoconf automake libtool pkg-config
  libproc2-dev libmicrohttpd-dev libsqlite3-dev libsystemd-dev libcurl4-openssl-dev
  libjansson-dev libprotobuf-c-dev protobuf-c-compiler zlib1g-dev libcmocka-dev
  golang-go jq curl procps caddy"

here=$(cd "$(dirname "$0")" && pwd)
mode=${1:-}
[ $# -gt 0 ] && shift

install_packages() {
    missing=""
    for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "quickstart: installing:$missing"
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
}

build() {
    cd "$here"
    [ -x configure ] || autoreconf -fi
    mkdir -p build
    cd build
    [ -f Makefile ] || ../configure ${CONFIGURE_FLAGS:-}
    make -j"$(nproc)"
}

case "$mode" in
run)
    install_packages
    build
    echo "quickstart: starting memwatchd; open http://127.0.0.1:7464/api/v1/targets or run"
    echo "quickstart: ./build/memwatchctl list   (Ctrl-C stops it)"
    exec ./memwatchd "$@"
    ;;
test)
    install_packages
    build
    status=0
    make -j"$(nproc)" check || status=$?
    # One line that CI and people can read: TAP results counted over every test program.
    pass=$(grep -h '^:test-result: \(PASS\|XFAIL\)' $(find tests -name '*.trs') 2>/dev/null | wc -l)
    fail=$(grep -h '^:test-result: \(FAIL\|XPASS\|ERROR\)' $(find tests -name '*.trs') 2>/dev/null | wc -l)
    skip=$(grep -h '^:test-result: SKIP' $(find tests -name '*.trs') 2>/dev/null | wc -l)
    if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
    echo "$pass passed, $fail failed, $skip skipped"
    exit "$status"
    ;;
*)
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
