// cgoleak leaks memory outside the Go runtime: C code mallocs and memsets -rate-mb MiB a
// second and never frees it, while the Go heap stays flat.  For memwatch's integration tests
// of the RSS breakdown (the growth must be put under non_go, not the Go heap).  Uses cgo
// (Debian's gcc); built with CGO_ENABLED=1 by the Makefile, standard library only.
//
//	cgoleak [-addr 127.0.0.1:0] [-rate-mb N] [-max-mb N] [-stats DUR]
//
// Serves expvar's /debug/vars and pprof's /debug/pprof/ on -addr, prints "listening on
// HOST:PORT", then "ready pid=PID", then leaks in 1 MiB blocks (each malloc'd and memset, so
// every page is resident), paced to -rate-mb MiB a second since the start (default 5), up to
// -max-mb (default 1024).  /debug/vars also publishes "cgoleak": {"leaked_bytes": N}.
// -stats DUR prints runtime.MemStats and VmRSS every DUR ("stats ..." lines).
package main

/*
#include <stdlib.h>
#include <string.h>

// leak_native: allocated and written, never freed.  Every block is chained from a global
// list nobody walks (a leak as real programs have them); without it the compiler may drop
// the malloc and memset of a pointer that is never used.
static void *leaked_blocks;

static int leak_native(size_t n, int fill) {
	void **p = malloc(n);
	if (p == NULL || n < sizeof *p)
		return -1;
	memset(p, fill | 1, n);
	*p = leaked_blocks;
	leaked_blocks = p;
	return 0;
}
*/
import "C"

import (
	"expvar"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" // /debug/pprof/* on the default mux
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

const mib = 1 << 20

var leaked = new(expvar.Int)

func init() {
	m := expvar.NewMap("cgoleak")
	m.Set("leaked_bytes", leaked)
}

// leakNative mallocs and touches n MiB in C, 1 MiB at a time.
//
//go:noinline
func leakNative(n int, seed int) error {
	for i := 0; i < n; i++ {
		if C.leak_native(C.size_t(mib), C.int(seed+i)) != 0 {
			return fmt.Errorf("malloc failed after %d bytes", leaked.Value())
		}
		leaked.Add(mib)
	}
	return nil
}

func rssKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			if f := strings.Fields(line); len(f) >= 2 {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				return n
			}
		}
	}
	return -1
}

func printStats(every time.Duration) {
	start := time.Now()
	for {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		fmt.Printf("stats t=%.1f rss_mib=%.1f leaked_mib=%d heap_alloc_mib=%.1f heap_sys_mib=%.1f sys_mib=%.1f\n",
			time.Since(start).Seconds(), float64(rssKiB())/1024, leaked.Value()/mib,
			float64(m.HeapAlloc)/mib, float64(m.HeapSys)/mib, float64(m.Sys)/mib)
		time.Sleep(every)
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "serve expvar and pprof on `HOST:PORT` (port 0 picks one)")
	rateMB := flag.Float64("rate-mb", 5, "MiB leaked a second")
	maxMB := flag.Int("max-mb", 1024, "stop leaking at `N` MiB")
	statsEvery := flag.Duration("stats", 0, "print runtime.MemStats and RSS every `DUR` (0: never)")
	flag.Parse()
	if flag.NArg() > 0 || *rateMB < 0 || *maxMB < 0 || *statsEvery < 0 {
		flag.Usage()
		os.Exit(2)
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cgoleak: listen %s: %v\n", *addr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr().String())
	go func() {
		if err := http.Serve(ln, nil); err != nil {
			fmt.Fprintf(os.Stderr, "cgoleak: http: %v\n", err)
			os.Exit(1)
		}
	}()
	if *statsEvery > 0 {
		go printStats(*statsEvery)
	}
	fmt.Printf("ready pid=%d\n", os.Getpid())

	// Paced against the start: a late tick catches up rather than losing megabytes.
	start := time.Now()
	done := 0
	t := time.NewTicker(100 * time.Millisecond)
	for range t.C {
		want := int(time.Since(start).Seconds() * *rateMB)
		if want > *maxMB {
			want = *maxMB
		}
		if want > done {
			if err := leakNative(want-done, done); err != nil {
				fmt.Fprintf(os.Stderr, "cgoleak: %v\n", err)
				os.Exit(1)
			}
			done = want
		}
	}
}
