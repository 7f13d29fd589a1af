// goleaks is a Go process with one well-known memory behaviour at a time, for memwatch's
// integration tests of the Go runtime view (expvar, pprof heap and goroutine profiles, the
// RSS breakdown).  Standard library only: it is built offline with Debian's golang-go.
//
//	goleaks -mode heapleak|goroutineleak|burst|churn|idle [-addr 127.0.0.1:0]
//	        [-rate-mb N] [-rate N] [-burst-mb N] [-after DUR] [-hold DUR]
//	        [-max-mb N] [-memprofilerate N] [-stats DUR]
//
// Every mode serves expvar's /debug/vars and pprof's /debug/pprof/ on -addr and prints
// "listening on HOST:PORT" first (os.Stdout is unbuffered: each line is visible to a reader
// of a pipe or file the moment it is printed).  Then:
//
//   - heapleak: (*sessionCache).remember keeps -rate-mb MiB a second (default 2) of []byte
//     in a map that is never evicted -- the leak, capped at -max-mb.  Alongside, two
//     non-leaks a diff must not blame: renderPage makes ~16 MiB/s of short-lived garbage,
//     and (*searchIndex).rebuild replaces slots of a fixed-size 4 MiB ring.
//   - goroutineleak: -rate goroutines a second (default 50) block forever in waitForReply,
//     on a channel nobody ever writes (capped at 100000).
//   - burst: after -after (default 0), loadWholeArchive allocates -burst-mb MiB (default
//     300) in 1 MiB blocks, touches every page, prints "burst allocated MiB=N", holds it
//     -hold (default 3s, so a 1 s scraper sees the peak), drops every reference, calls
//     runtime.GC() (not debug.FreeOSMemory: returning the pages is left to the runtime's
//     scavenger) and prints "burst done", then idles.
//   - churn: renderPage makes -rate-mb MiB a second (default 16) of garbage while a fixed
//     8 MiB live set is kept: a busy process that does not leak.
//   - idle: nothing.
//
// Every mode prints "ready pid=PID" once its behaviour has started.  -memprofilerate sets
// runtime.MemProfileRate (0, the default, leaves Go's 512 KiB; tests use 4096 so a small
// leak shows in the heap profile within seconds).  -stats DUR prints runtime.MemStats and
// the process's RSS every DUR ("stats ..." lines), for measuring what the runtime really
// does.  Besides Go's own "memstats" and "cmdline", /debug/vars publishes "goroutines"
// (runtime.NumGoroutine) and "goleaks" (mode, leaked bytes, leaked goroutines, bursts).
package main

import (
	"bytes"
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
	"sync/atomic"
	"time"
)

const mib = 1 << 20

var (
	pageSize = os.Getpagesize()

	// Published on /debug/vars as "goleaks", beside Go's "memstats" and "cmdline".
	modeVar          = new(expvar.String)
	leakedBytes      = new(expvar.Int)
	leakedGoroutines = new(expvar.Int)
	churnedBytes     = new(expvar.Int)
	burstBytes       = new(expvar.Int)
)

func init() {
	m := expvar.NewMap("goleaks")
	m.Set("mode", modeVar)
	m.Set("leaked_bytes", leakedBytes)
	m.Set("leaked_goroutines", leakedGoroutines)
	m.Set("churned_bytes", churnedBytes)
	m.Set("burst_bytes", burstBytes)
	// expvar has no goroutine count of its own; this one is for people (memwatchd takes it
	// from the goroutine profile or /metrics).
	expvar.Publish("goroutines", expvar.Func(func() any { return runtime.NumGoroutine() }))
}

// touch writes one byte into every page of b, so the kernel really backs it with memory.
func touch(b []byte, seed byte) {
	for i := 0; i < len(b); i += pageSize {
		b[i] = seed | 1
	}
	if len(b) > 0 {
		b[len(b)-1] = seed | 1
	}
}

// paced calls step(n) about every 100 ms with the number of units that keeps the total at
// rate units a second since the start: a slow tick catches up instead of losing units.
func paced(rate float64, step func(n int)) {
	start := time.Now()
	done := 0
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for range t.C {
		want := int(time.Since(start).Seconds() * rate)
		if want > done {
			step(want - done)
			done = want
		}
	}
}

// ---- heapleak --------------------------------------------------------------------------------

const leakBlock = 32 << 10 // the leak is made of 32 KiB objects

// sessionCache is the leak: sessions are remembered and never forgotten.
type sessionCache struct {
	sessions map[int][]byte
	next     int
	limit    int64
}

// remember stores a session's state for good.  This is the allocation site the heap diff
// must name.
//
//go:noinline
func (c *sessionCache) remember(id int) {
	if int64(len(c.sessions))*leakBlock >= c.limit {
		return
	}
	b := make([]byte, leakBlock)
	touch(b, byte(id))
	c.sessions[id] = b
	leakedBytes.Add(leakBlock)
}

// searchIndex is a fixed-size live set whose slots are replaced all the time: in-use bytes
// that move around but do not grow.
type searchIndex struct {
	slots [16][]byte
	next  int
}

//go:noinline
func (x *searchIndex) rebuild() {
	b := make([]byte, 256<<10)
	touch(b, byte(x.next))
	x.slots[x.next%len(x.slots)] = b
	x.next++
}

// sink keeps results alive so the compiler cannot drop the work.
var sink atomic.Int64

// renderPage makes garbage: a buffer that is built, used and dropped.
//
//go:noinline
func renderPage(n int) int {
	const row = "<tr><td>row</td><td>value</td></tr>\n"
	var buf bytes.Buffer
	buf.Grow(n)
	for buf.Len()+len(row) <= n { // within the capacity: one n-byte allocation a call
		buf.WriteString(row)
	}
	churnedBytes.Add(int64(buf.Cap()))
	return bytes.Count(buf.Bytes()[:4096], []byte{'\n'})
}

func heapleak(rateMB float64, limitMB int) {
	cache := &sessionCache{sessions: make(map[int][]byte), limit: int64(limitMB) * mib}
	idx := &searchIndex{}
	go paced(rateMB*mib/leakBlock, func(n int) {
		for i := 0; i < n; i++ {
			cache.remember(cache.next)
			cache.next++
		}
	})
	go paced(10, func(n int) { // 10 slot replacements (2.5 MiB) a second
		for i := 0; i < n; i++ {
			idx.rebuild()
		}
	})
	go paced(64, func(n int) { // 64 pages of 256 KiB: 16 MiB/s of garbage
		for i := 0; i < n; i++ {
			sink.Add(int64(renderPage(256 << 10)))
		}
	})
}

// ---- goroutineleak ---------------------------------------------------------------------------

type reply struct{ body []byte }

// waitForReply blocks until a reply arrives -- and none ever does: the goroutine leaks.
//
//go:noinline
func waitForReply(ch <-chan reply) {
	r := <-ch
	sink.Add(int64(len(r.body)))
}

// pending keeps every channel reachable, as a forgotten request table would.
var pending []chan reply

func goroutineleak(rate float64) {
	go paced(rate, func(n int) {
		for i := 0; i < n && len(pending) < 100000; i++ {
			ch := make(chan reply)
			pending = append(pending, ch)
			go waitForReply(ch)
			leakedGoroutines.Add(1)
		}
	})
}

// ---- burst -----------------------------------------------------------------------------------

// loadWholeArchive is the burst: a big working set, all touched, held briefly.
//
//go:noinline
func loadWholeArchive(totalMB int) [][]byte {
	blocks := make([][]byte, 0, totalMB)
	for i := 0; i < totalMB; i++ {
		b := make([]byte, mib)
		touch(b, byte(i))
		blocks = append(blocks, b)
	}
	burstBytes.Set(int64(totalMB) * mib)
	return blocks
}

func burst(totalMB int, after, hold time.Duration) {
	time.Sleep(after)
	blocks := loadWholeArchive(totalMB)
	fmt.Printf("burst allocated MiB=%d\n", len(blocks))
	time.Sleep(hold)
	// The last use of blocks: from here on nothing references the burst.
	runtime.KeepAlive(blocks)
	burstBytes.Set(0)
	runtime.GC()
	fmt.Println("burst done")
}

// ---- churn -----------------------------------------------------------------------------------

func churn(rateMB float64) {
	live := make([][]byte, 32) // 32 x 256 KiB = 8 MiB kept, slots replaced
	for i := range live {
		live[i] = make([]byte, 256<<10)
		touch(live[i], byte(i))
	}
	next := 0
	go paced(rateMB*4, func(n int) { // 256 KiB units
		for i := 0; i < n; i++ {
			sink.Add(int64(renderPage(256 << 10)))
			if i%4 == 0 {
				b := make([]byte, 256<<10)
				touch(b, byte(next))
				live[next%len(live)] = b
				next++
			}
		}
	})
}

// ---- common ----------------------------------------------------------------------------------

func rssKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
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
		fmt.Printf("stats t=%.1f rss_mib=%.1f heap_alloc_mib=%.1f heap_inuse_mib=%.1f "+
			"heap_idle_mib=%.1f heap_released_mib=%.1f heap_sys_mib=%.1f stack_inuse_mib=%.1f "+
			"sys_mib=%.1f next_gc_mib=%.1f num_gc=%d goroutines=%d\n",
			time.Since(start).Seconds(), float64(rssKiB())/1024,
			float64(m.HeapAlloc)/mib, float64(m.HeapInuse)/mib, float64(m.HeapIdle)/mib,
			float64(m.HeapReleased)/mib, float64(m.HeapSys)/mib, float64(m.StackInuse)/mib,
			float64(m.Sys)/mib, float64(m.NextGC)/mib, m.NumGC, runtime.NumGoroutine())
		time.Sleep(every)
	}
}

func serve(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("listening on %s\n", ln.Addr().String())
	go func() {
		if err := http.Serve(ln, nil); err != nil {
			fmt.Fprintf(os.Stderr, "goleaks: http: %v\n", err)
			os.Exit(1)
		}
	}()
	return nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "serve expvar and pprof on `HOST:PORT` (port 0 picks one)")
	mode := flag.String("mode", "idle", "`MODE`: heapleak, goroutineleak, burst, churn or idle")
	rateMB := flag.Float64("rate-mb", 0, "heapleak: MiB leaked a second (default 2); churn: MiB of garbage a second (default 16)")
	rate := flag.Float64("rate", 50, "goroutineleak: goroutines leaked a second")
	burstMB := flag.Int("burst-mb", 300, "burst: MiB allocated, touched and dropped")
	after := flag.Duration("after", 0, "burst: wait `DUR` before the burst")
	hold := flag.Duration("hold", 3*time.Second, "burst: keep the burst `DUR` before dropping it")
	maxMB := flag.Int("max-mb", 1024, "heapleak: stop leaking at `N` MiB")
	memProfileRate := flag.Int("memprofilerate", 0, "set runtime.MemProfileRate to `N` bytes (0: Go's default)")
	statsEvery := flag.Duration("stats", 0, "print runtime.MemStats and RSS every `DUR` (0: never)")
	flag.Parse()
	if *memProfileRate > 0 {
		runtime.MemProfileRate = *memProfileRate
	}
	if flag.NArg() > 0 || *rateMB < 0 || *rate < 0 || *burstMB < 0 || *after < 0 || *hold < 0 ||
		*maxMB < 0 || *memProfileRate < 0 || *statsEvery < 0 {
		flag.Usage()
		os.Exit(2)
	}
	switch *mode {
	case "heapleak", "goroutineleak", "burst", "churn", "idle":
	default:
		fmt.Fprintf(os.Stderr, "goleaks: unknown -mode %q (heapleak, goroutineleak, burst, churn or idle)\n", *mode)
		os.Exit(2)
	}
	modeVar.Set(*mode)

	if err := serve(*addr); err != nil {
		fmt.Fprintf(os.Stderr, "goleaks: listen %s: %v\n", *addr, err)
		os.Exit(1)
	}
	if *statsEvery > 0 {
		go printStats(*statsEvery)
	}
	switch *mode {
	case "heapleak":
		if *rateMB == 0 {
			*rateMB = 2
		}
		heapleak(*rateMB, *maxMB)
	case "goroutineleak":
		goroutineleak(*rate)
	case "burst":
		go burst(*burstMB, *after, *hold)
	case "churn":
		if *rateMB == 0 {
			*rateMB = 16
		}
		churn(*rateMB)
	}
	fmt.Printf("ready pid=%d\n", os.Getpid())
	select {}
}
