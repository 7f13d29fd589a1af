#!/bin/bash
# run.sh SRCDIR BUILDDIR SECONDS - build and run the libFuzzer targets of the parsers of what
# Go targets send (expvar, Prometheus text, pprof), SECONDS each, two at a time.
#
# Exercises: fuzz/fuzz_expvar.c, fuzz/fuzz_promtext.c, fuzz/fuzz_pprof.c, each compiled with
# clang -fsanitize=fuzzer,address,undefined together with the module it tests.  Seeds come
# from tests/data/ (real Go output; pprof seeds both gzip'd and raw).  Everything goes to
# BUILDDIR/fuzz-out/: corpora persist in corpus-NAME, so later runs start where earlier ones
# stopped, and crashing inputs land in artifacts/ (replay one with fuzz-out/NAME FILE).  Prints one summary line per fuzzer; exits 1 if any
# fuzzer found a crash, leak, timeout or out-of-memory, 2 if it cannot build them.
#
# Needs (Debian 12): clang, libclang-rt-14-dev (libFuzzer and the sanitizer runtimes; a
# Recommends of clang-14, so missing with --no-install-recommends), pkg-config, and the -dev
# packages of jansson, protobuf-c and zlib.  BUILDDIR must hold a configured tree with
# daemon/profile.pb-c.[ch] generated ("make fuzz" sees to that).
set -u

if [ $# -ne 3 ]; then
    echo "usage: $0 SRCDIR BUILDDIR SECONDS" >&2
    exit 2
fi
src=$(cd "$1" && pwd) || exit 2
build=$(cd "$2" && pwd) || exit 2
seconds=$3
case $seconds in '' | *[!0-9]*) echo "$0: SECONDS must be a number" >&2; exit 2 ;; esac

CLANG=${CLANG:-clang}
out=$build/fuzz-out
mkdir -p "$out/artifacts" || exit 2

if ! command -v "$CLANG" >/dev/null; then
    echo "$0: $CLANG not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2
    exit 2
fi
if [ ! -f "$build/config.h" ] || [ ! -f "$build/daemon/profile.pb-c.c" ]; then
    echo "$0: $build is not a configured build tree with daemon/profile.pb-c.c (run 'make fuzz')" >&2
    exit 2
fi
# libFuzzer ships in a package of its own on Debian; say so instead of a link error.
probe=$out/probe
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' >"$probe.c"
if ! "$CLANG" -fsanitize=fuzzer,address,undefined "$probe.c" -o "$probe" 2>"$probe.log"; then
    echo "$0: $CLANG cannot link libFuzzer (Debian: apt-get install libclang-rt-14-dev):" >&2
    tail -n 3 "$probe.log" >&2
    exit 2
fi
rm -f "$probe" "$probe.c" "$probe.log"

pkgs=(jansson libprotobuf-c zlib)
if ! pkg_flags=$(pkg-config --cflags --libs "${pkgs[@]}"); then
    echo "$0: pkg-config cannot find ${pkgs[*]}" >&2
    exit 2
fi

CFLAGS_FUZZ="-g -O1 -std=gnu11 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
    -fno-sanitize-recover=undefined -I$src/common -I$src/daemon -I$build -I$build/daemon"

build_one() { # NAME SOURCES...
    local name=$1
    shift
    # shellcheck disable=SC2086 # word splitting of the flag lists is intended
    if ! "$CLANG" $CFLAGS_FUZZ "$src/fuzz/$name.c" "$@" $pkg_flags -lm -o "$out/$name" \
        2>"$out/$name.build.log"; then
        echo "$name: build failed:" >&2
        cat "$out/$name.build.log" >&2
        return 1
    fi
}

build_one fuzz_expvar "$src/common/util.c" "$src/daemon/expvar.c" || exit 2
build_one fuzz_promtext "$src/common/util.c" "$src/daemon/promtext.c" || exit 2
build_one fuzz_pprof "$src/common/util.c" "$src/daemon/pprof.c" "$build/daemon/profile.pb-c.c" ||
    exit 2

# Seeds: the real Go output of tests/data, plus a few shapes worth starting from.
data=$src/tests/data
seed() { # NAME -> directory of seeds
    local d=$out/seeds-$1
    rm -rf "$d" && mkdir -p "$d"
    echo "$d"
}
s=$(seed fuzz_expvar)
cp "$data/expvar.json" "$data/expvar_fresh.json" "$s/"
printf '{"memstats": {"HeapAlloc": 1, "NumGC": 1, "PauseNs": [5], "GCCPUFraction": 0}}' >"$s/min.json"
printf '{"big": 18446744073709551615, "memstats": {"HeapAlloc": 1.0}}' >"$s/big.json"
s=$(seed fuzz_promtext)
cp "$data/metrics.txt" "$s/"
printf 'go_memstats_heap_alloc_bytes{a="b\\"c"} 2.3584768e+07 1700000000000\r\ngo_goroutines NaN\n' >"$s/min.txt"
s=$(seed fuzz_pprof)
cp "$data/heap.pb.gz" "$data/goroutine.pb.gz" "$s/"
gzip -dc "$data/heap.pb.gz" >"$s/heap.pb"
gzip -dc "$data/goroutine.pb.gz" >"$s/goroutine.pb"

# Dictionaries: names the parsers look for, so mutations find them.
cat >"$out/fuzz_expvar.dict" <<'EOF'
"\"memstats\""
"\"HeapAlloc\""
"\"HeapInuse\""
"\"Sys\""
"\"NumGC\""
"\"PauseNs\""
"\"GCCPUFraction\""
"18446744073709551615"
"9223372036854775808"
"1e-07"
"{"
"}"
"["
"]"
"null"
"\\u0000"
EOF
cat >"$out/fuzz_promtext.dict" <<'EOF'
"go_memstats_alloc_bytes"
"go_memstats_heap_alloc_bytes"
"go_memstats_sys_bytes"
"go_memstats_gc_cpu_fraction"
"go_memory_classes_heap_objects_bytes"
"go_gc_duration_seconds_count"
"go_goroutines"
"# HELP "
"# TYPE "
"{le=\"+Inf\"}"
"\\\""
"\\\\"
"NaN"
"+Inf"
"-Inf"
"e+07"
"\x0d\x0a"
EOF
cat >"$out/fuzz_pprof.dict" <<'EOF'
"\x1f\x8b\x08\x00"
"inuse_space"
"inuse_objects"
"alloc_space"
"alloc_objects"
"goroutine"
"count"
"runtime.gopark"
"main.main"
"bytes.makeSlice"
EOF

run_one() { # NAME
    local name=$1 corpus=$out/corpus-$1 log=$out/$1.log
    mkdir -p "$corpus"
    # -timeout: an input that takes 10 s is a denial of service; -rss_limit_mb: so is one
    # that needs a GiB (inputs are at most -max_len bytes, and pprof inflates to 1 MiB).
    "$out/$name" "$corpus" "$out/seeds-$name" -dict="$out/$name.dict" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$out/artifacts/$name-" >"$log" 2>&1
}

status=0
pids=()
names=(fuzz_expvar fuzz_promtext fuzz_pprof)
for name in "${names[@]}"; do
    # two at a time: one per CPU of a small CI machine
    if [ ${#pids[@]} -ge 2 ]; then
        wait "${pids[0]}"
        pids=("${pids[@]:1}")
    fi
    run_one "$name" &
    pids+=($!)
done
wait

for name in "${names[@]}"; do
    log=$out/$name.log
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
    if grep -qE '^==[0-9]+==ERROR|^SUMMARY: |deadly signal|ALARM: working on the last Unit|out-of-memory|runtime error:' "$log"; then
        crash=$(grep -E '^SUMMARY: |ALARM|out-of-memory|runtime error:' "$log" | head -n 1)
        art=$(sed -n 's/.*Test unit written to \(.*\)/\1/p' "$log" | tail -n 1)
        echo "$name: FAILED after ${execs:-?} execs: ${crash:-crash} (input: ${art:-see $log})"
        status=1
    elif [ -z "$execs" ]; then
        echo "$name: FAILED: did not run (see $log)"
        status=1
    else
        echo "$name: ok, $execs execs in ${seconds}s, cov $cov, ft $ft, corpus $corp, 0 crashes"
    fi
done
exit $status
