// memhog is a controllable memory-hungry process for memwatch's integration tests and
// benchmarks.  Standard library only: it is built offline with Debian's golang-go.
//
//	memhog [-addr 127.0.0.1:0] [-after DUR] [-mb N] [-step-mb N -every DUR] [-hold=false]
//	       [-exit-after DUR]
//
// Timeline: start (HTTP server first, if -addr) -> wait -after -> allocate and touch -mb MiB
// -> print "ready pid=PID" -> every -every allocate -step-mb MiB more (a leak) -> exit after
// -exit-after (counted from process start), or run until killed.  SIGUSR1 allocates another
// -mb MiB at any time.  Every allocation prints "allocated TOTAL MiB", TOTAL being the sum
// of everything allocated so far.  os.Stdout is unbuffered in Go, so each line is written
// (and visible to a reader of a pipe or file) the moment it is printed.
package main

import (
	"expvar"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" // /debug/pprof/* on the default mux, served only with -addr
	"os"
	"os/signal"
	"syscall"
	"time"
)

const mib = 1 << 20

var (
	// held keeps every block alive (with -hold) so the garbage collector cannot free it and
	// RSS only ever grows.
	held           [][]byte
	totalMiB       int64
	allocatedMiB   = expvar.NewInt("memhog_allocated_mib") // also published on /debug/vars
	heldBlocks     = expvar.NewInt("memhog_held_blocks")
	pageSize       = os.Getpagesize()
	holdReferences = true
)

// allocate makes an n MiB block and writes one byte into every page, so the kernel really
// backs it with memory (a fresh block from the OS is all zero pages that cost no RSS until
// they are written).  It prints the total even for n = 0, so a test can always wait for the
// line that follows a SIGUSR1.
func allocate(n int) {
	if n > 0 {
		b := make([]byte, n*mib)
		for i := 0; i < len(b); i += pageSize {
			b[i] = byte(i/pageSize) | 1
		}
		if holdReferences {
			held = append(held, b)
			heldBlocks.Set(int64(len(held)))
		}
		totalMiB += int64(n)
		allocatedMiB.Set(totalMiB)
	}
	fmt.Printf("allocated %d MiB\n", totalMiB)
}

// serve starts the optional HTTP server (expvar's /debug/vars and pprof's /debug/pprof/ on
// the default mux) and prints the address it really got, which matters with port 0.
func serve(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("listening on %s\n", ln.Addr().String())
	go func() {
		if err := http.Serve(ln, nil); err != nil {
			fmt.Fprintf(os.Stderr, "memhog: http: %v\n", err)
		}
	}()
	return nil
}

func main() {
	addr := flag.String("addr", "", "serve expvar and pprof over HTTP on `HOST:PORT` (port 0 picks one)")
	mb := flag.Int("mb", 0, "allocate and touch `N` MiB at start, and again on every SIGUSR1")
	after := flag.Duration("after", 0, "wait `DUR` before the start allocation")
	stepMB := flag.Int("step-mb", 0, "grow by `N` MiB every -every (a leak)")
	every := flag.Duration("every", time.Second, "interval `DUR` of the -step-mb growth")
	hold := flag.Bool("hold", true, "keep references to every block (false: blocks become garbage)")
	exitAfter := flag.Duration("exit-after", 0, "exit by itself `DUR` after starting (0: never)")
	flag.Parse()
	if flag.NArg() > 0 || *mb < 0 || *stepMB < 0 || *after < 0 || *exitAfter < 0 ||
		(*stepMB > 0 && *every <= 0) {
		flag.Usage()
		os.Exit(2)
	}
	holdReferences = *hold

	// Before anything slow: SIGUSR1's default action would kill us.
	usr1 := make(chan os.Signal, 4)
	signal.Notify(usr1, syscall.SIGUSR1)

	var exitC <-chan time.Time
	if *exitAfter > 0 {
		exitC = time.After(*exitAfter)
	}
	if *addr != "" {
		if err := serve(*addr); err != nil {
			fmt.Fprintf(os.Stderr, "memhog: listen %s: %v\n", *addr, err)
			os.Exit(1)
		}
	}

	startC := time.After(*after)
	var stepC <-chan time.Time
	for {
		select {
		case <-startC:
			startC = nil
			allocate(*mb)
			fmt.Printf("ready pid=%d\n", os.Getpid())
			if *stepMB > 0 {
				stepC = time.NewTicker(*every).C
			}
		case <-stepC:
			allocate(*stepMB)
		case <-usr1:
			allocate(*mb)
		case <-exitC:
			os.Exit(0)
		}
	}
}
