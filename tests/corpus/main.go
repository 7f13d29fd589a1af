// corpus is memwatch's evaluation corpus for the leak detector: one Go program that plays one
// memory story at a time, whose truth is known (is it a leak, of what kind, since when, and
// which function is to blame).  Standard library only (cgo for the two native scenarios): it is
// built offline with Debian's golang-go.  README.md (next to this file) has the table of
// scenarios, their rates and culprits, and how an evaluator reads the truth.
//
//	corpus -scenario NAME [-addr 127.0.0.1:0] [-speed F] [-rate-mb F] [-rate N] [-onset DUR]
//	       [-seed N] [-max-mb N] [-max-goroutines N] [-memprofilerate N] [-stats DUR]
//	corpus -list
//
// Every scenario serves expvar's /debug/vars and pprof's /debug/pprof/ on -addr and prints, in
// this order (os.Stdout is unbuffered: each line is visible to a reader the moment it is
// printed):
//
//	listening on HOST:PORT
//	ready pid=PID scenario=NAME truth=TRUTH speed=F
//	phase NAME t=UNIX_MS [key=value...]      (at every phase change, the first one at once)
//
// A leak's true onset is its "phase leak-start t=UNIX_MS" line (also /debug/vars
// "corpus_onset_ms"); a capped leak stops growing at "phase cap-reached t=UNIX_MS".
//
// -speed F plays the story F times faster: every rate is multiplied by F and every period
// (hold times, lifetimes, intervals, the warm-up of a cache) divided by F, while levels (a
// cache's cap, a burst's size, a goroutine population) stay the same; a 30-minute story plays
// in 3 minutes at -speed 10.  -onset is wall-clock time (not divided by F); its default is
// 10m/F.
//
// /debug/vars publishes, beside Go's "memstats" and "cmdline":
//
//	corpus_scenario      the scenario's name
//	corpus_truth         "leak:heap", "leak:goroutine", "leak:non_go" or "none"
//	corpus_culprit       the function to blame ("main.(*sessionStore).put"), "" for none
//	corpus_phase         the name of the last "phase" line
//	corpus_onset_ms      Unix ms of "phase leak-start" (0 before it, and for non-leaks)
//	corpus_speed         -speed
//	corpus_leaked_bytes  bytes the leak has kept so far (heap or native)
//	corpus_leaked_goroutines  goroutines the leak has blocked so far
//	corpus_native_bytes  bytes currently malloc'd by C (cgo scenarios)
//	goroutines           runtime.NumGoroutine()
package main

import (
	"expvar"
	"flag"
	"fmt"
	"math"
	"math/rand"
	"net"
	"net/http"
	_ "net/http/pprof" // /debug/pprof/* on the default mux
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	kib = 1 << 10
	mib = 1 << 20
)

// scenario is one story: its truth and culprit are what the detector is judged against.
type scenario struct {
	truth   string // "leak:heap", "leak:goroutine", "leak:non_go" or "none"
	culprit string // the function to blame, as pprof names it; "" for non-leaks
	about   string // one line for -list
	run     func(c *config)
}

var scenarios = map[string]scenario{
	// leaks.go
	"map-cache":       {"leak:heap", "main.(*sessionStore).put", "sessions put in a map that is never evicted, 1 MiB/s", runMapCache},
	"slice-append":    {"leak:heap", "main.(*eventLog).record", "audit events appended to a global slice forever, 1 MiB/s", runSliceAppend},
	"goroutine-block": {"leak:goroutine", "main.awaitResponse", "20 goroutines/s block forever in awaitResponse on a channel nobody answers or closes", runGoroutineBlock},
	"slow-churn":      {"leak:heap", "main.(*metricsRegistry).register", "64 KiB/s of metrics registered forever under 30 MiB/s of garbage", runSlowChurn},
	"subslice-pin":    {"leak:heap", "main.(*packetReader).readPacket", "a 1 KiB header sub-slice kept of every 1 MiB packet pins the packet, 1 MiB/s", runSubslicePin},
	"late-onset":      {"leak:heap", "main.(*requestJournal).append", "a journal trimmed to 16 MiB until -onset, then never trimmed: 1 MiB/s", runLateOnset},
	// cgo.go
	"cgo-malloc": {"leak:non_go", "main.(*nativeBuffer).grow", "C malloc + memset never freed, 1 MiB/s", runCgoMalloc},
	// nonleaks.go
	"gc-sawtooth":     {"none", "", "40 MiB/s of garbage over a constant 64 MiB live heap", runGCSawtooth},
	"sync-pool":       {"none", "", "32 MiB/s of responses built in sync.Pool buffers", runSyncPool},
	"cache-plateau":   {"none", "", "an LRU cache warming up to its 150 MiB cap in ~10 min, then steady", runCachePlateau},
	"burst-release":   {"none", "", "every 10 min: 300 MiB loaded, held 1 min, dropped", runBurstRelease},
	"big-buffers":     {"none", "", "50-100 MiB frames decoded, held 1.5 s and dropped, one every 2 s", runBigBuffers},
	"goroutine-churn": {"none", "", "goroutines come and go around a mean of 500 (+-10 % over 5 min, Poisson jitter)", runGoroutineChurn},
	"cgo-balanced":    {"none", "", "C malloc/free of 256 KiB-1.75 MiB blocks around a constant ~50 MiB", runCgoBalanced},
}

// config is the parsed command line, shared by the scenarios.
type config struct {
	name          string
	speed         float64
	rateMB        float64 // 0: the scenario's default
	rate          float64 // 0: the scenario's default
	onset         time.Duration
	seed          int64
	maxBytes      int64
	maxGoroutines int64
}

// rateOr is the scenario's headline rate in MiB/s at speed 1: -rate-mb, else def.
func (c *config) rateOr(def float64) float64 {
	if c.rateMB > 0 {
		return c.rateMB
	}
	return def
}

// perSec scales a rate at speed 1 to the wall clock.
func (c *config) perSec(r float64) float64 { return r * c.speed }

// period scales a duration at speed 1 to the wall clock.
func (c *config) period(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.speed)
}

// rng is a new generator for one goroutine, derived from -seed and a stream number.
func (c *config) rng(stream int64) *rand.Rand {
	return rand.New(rand.NewSource(c.seed*7919 + stream))
}

var (
	scenarioVar      = new(expvar.String)
	truthVar         = new(expvar.String)
	culpritVar       = new(expvar.String)
	phaseVar         = new(expvar.String)
	onsetVar         = new(expvar.Int)
	speedVar         = new(expvar.Float)
	leakedBytes      = new(expvar.Int)
	leakedGoroutines = new(expvar.Int)
	nativeBytes      = new(expvar.Int)
)

func init() {
	expvar.Publish("corpus_scenario", scenarioVar)
	expvar.Publish("corpus_truth", truthVar)
	expvar.Publish("corpus_culprit", culpritVar)
	expvar.Publish("corpus_phase", phaseVar)
	expvar.Publish("corpus_onset_ms", onsetVar)
	expvar.Publish("corpus_speed", speedVar)
	expvar.Publish("corpus_leaked_bytes", leakedBytes)
	expvar.Publish("corpus_leaked_goroutines", leakedGoroutines)
	expvar.Publish("corpus_native_bytes", nativeBytes)
	expvar.Publish("goroutines", expvar.Func(func() any { return runtime.NumGoroutine() }))
}

// ---- phases ------------------------------------------------------------------------------

var outMu sync.Mutex

// say prints one line to stdout, whole.
func say(format string, args ...any) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Printf(format+"\n", args...)
}

// phase announces a phase change: "phase NAME t=UNIX_MS [extra]", and corpus_phase.
// "leak-start" also sets corpus_onset_ms.
func phase(name string, extra ...string) {
	ms := time.Now().UnixMilli()
	if name == "leak-start" {
		onsetVar.Set(ms)
	}
	phaseVar.Set(name)
	line := fmt.Sprintf("phase %s t=%d", name, ms)
	if len(extra) > 0 {
		line += " " + strings.Join(extra, " ")
	}
	say("%s", line)
}

// leakBudget caps a leak at -max-mb: take(n) says whether n more bytes may be leaked, counts
// them in corpus_leaked_bytes if so, and announces "phase cap-reached" once when not.
type leakBudget struct {
	max  int64
	once sync.Once
}

func (b *leakBudget) take(n int64) bool {
	if leakedBytes.Value()+n > b.max {
		b.once.Do(func() {
			phase("cap-reached", fmt.Sprintf("leaked_bytes=%d", leakedBytes.Value()))
		})
		return false
	}
	leakedBytes.Add(n)
	return true
}

// ---- pacing --------------------------------------------------------------------------------

// paced calls step(n) about every 100 ms with the number of units that keeps the total at
// rate(t) units a second since the start (rate is evaluated at each tick and integrated, so
// it may vary): a slow tick catches up instead of losing units.  It returns when step
// returns false or stop is closed.
func paced(rate func(elapsed time.Duration) float64, stop <-chan struct{}, step func(n int) bool) {
	start := time.Now()
	last := start
	want := 0.0
	done := 0
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			want += rate(now.Sub(start)) * now.Sub(last).Seconds()
			last = now
			if n := int(want) - done; n > 0 {
				done += n
				if !step(n) {
					return
				}
			}
		}
	}
}

// constant is a rate function for paced.
func constant(r float64) func(time.Duration) float64 {
	return func(time.Duration) float64 { return r }
}

// ---- helpers shared by the scenarios -------------------------------------------------------

var pageSize = os.Getpagesize()

// touch writes into every page of b, so the kernel really backs it with memory.
func touch(b []byte, seed byte) {
	for i := 0; i < len(b); i += pageSize {
		b[i] = seed | 1
	}
	if len(b) > 0 {
		b[len(b)-1] = seed | 1
	}
}

// sink keeps results alive so the compiler cannot drop the work.
var sink atomic.Int64

// renderResponse is a request's garbage: a buffer of n bytes, written (one byte a cache
// line, so it costs little CPU but is real memory traffic), read back and dropped.
//
//go:noinline
func renderResponse(n int, seed byte) int {
	b := make([]byte, n)
	for i := 0; i < n; i += 64 {
		b[i] = seed + byte(i)
	}
	s := 0
	for i := 0; i < n; i += 4096 {
		s += int(b[i])
	}
	return s
}

// garbage makes mbPerSec MiB a second (wall clock) of short-lived garbage, in objects of
// 1-63 KiB (32 KiB on average), via renderResponse.  Runs until stop is closed (nil: never).
func garbage(mbPerSec float64, rng *rand.Rand, stop <-chan struct{}) {
	const avg = 32 * kib
	paced(constant(mbPerSec*mib/avg), stop, func(n int) bool {
		for i := 0; i < n; i++ {
			size := kib + rng.Intn(62*kib+1) // 1-63 KiB, mean 32 KiB
			sink.Add(int64(renderResponse(size, byte(i))))
		}
		return true
	})
}

// poisson draws a Poisson-distributed count of mean m (Knuth below 30, normal above).
func poisson(rng *rand.Rand, m float64) int {
	if m <= 0 {
		return 0
	}
	if m >= 30 {
		n := int(math.Round(m + math.Sqrt(m)*rng.NormFloat64()))
		if n < 0 {
			n = 0
		}
		return n
	}
	l, k, p := math.Exp(-m), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// ---- common ----------------------------------------------------------------------------------

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
		say("stats t=%.1f rss_mib=%.1f heap_alloc_mib=%.1f heap_inuse_mib=%.1f heap_idle_mib=%.1f "+
			"heap_released_mib=%.1f stack_inuse_mib=%.1f sys_mib=%.1f num_gc=%d goroutines=%d "+
			"leaked_mib=%.2f leaked_goroutines=%d native_mib=%.1f",
			time.Since(start).Seconds(), float64(rssKiB())/1024, float64(m.HeapAlloc)/mib,
			float64(m.HeapInuse)/mib, float64(m.HeapIdle)/mib, float64(m.HeapReleased)/mib,
			float64(m.StackInuse)/mib, float64(m.Sys)/mib, m.NumGC, runtime.NumGoroutine(),
			float64(leakedBytes.Value())/mib, leakedGoroutines.Value(), float64(nativeBytes.Value())/mib)
		time.Sleep(every)
	}
}

func serve(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	say("listening on %s", ln.Addr().String())
	go func() {
		if err := http.Serve(ln, nil); err != nil {
			fmt.Fprintf(os.Stderr, "corpus: http: %v\n", err)
			os.Exit(1)
		}
	}()
	return nil
}

func names() []string {
	var ns []string
	for n := range scenarios {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

func main() {
	name := flag.String("scenario", "", "the `NAME` of the scenario to play (-list shows them)")
	list := flag.Bool("list", false, "print the scenarios (name, truth, culprit, story) and exit")
	addr := flag.String("addr", "127.0.0.1:0", "serve expvar and pprof on `HOST:PORT` (port 0 picks one)")
	speed := flag.Float64("speed", 1, "play the story `F` times faster (rates times F, periods divided by F)")
	rateMB := flag.Float64("rate-mb", 0, "the scenario's headline rate in MiB/s at speed 1 (0: its default; see README.md)")
	rate := flag.Float64("rate", 0, "goroutine-block: goroutines leaked a second (default 20); goroutine-churn: goroutines started a second (default 250), at speed 1")
	onset := flag.Duration("onset", 0, "late-onset: wall-clock `DUR` before the leak starts (default 10m divided by -speed)")
	seed := flag.Int64("seed", 1, "seed of every random choice")
	maxMB := flag.Int64("max-mb", 2048, "heap and native leaks stop growing at `N` MiB leaked")
	maxGoroutines := flag.Int64("max-goroutines", 100000, "goroutine-block stops leaking at `N` goroutines")
	memProfileRate := flag.Int("memprofilerate", 0, "set runtime.MemProfileRate to `N` bytes (0: Go's default, 512 KiB)")
	statsEvery := flag.Duration("stats", 0, "print runtime.MemStats and RSS every `DUR` (0: never)")
	flag.Parse()

	if *list {
		for _, n := range names() {
			s := scenarios[n]
			culprit := s.culprit
			if culprit == "" {
				culprit = "-"
			}
			fmt.Printf("%-16s %-15s %-34s %s\n", n, s.truth, culprit, s.about)
		}
		return
	}
	s, ok := scenarios[*name]
	if !ok {
		fmt.Fprintf(os.Stderr, "corpus: unknown -scenario %q; one of: %s\n", *name, strings.Join(names(), ", "))
		os.Exit(2)
	}
	if flag.NArg() > 0 || !(*speed > 0) || math.IsInf(*speed, 0) || *rateMB < 0 || *rate < 0 ||
		*onset < 0 || *maxMB < 0 || *maxGoroutines < 0 || *memProfileRate < 0 || *statsEvery < 0 {
		flag.Usage()
		os.Exit(2)
	}
	if *memProfileRate > 0 {
		runtime.MemProfileRate = *memProfileRate
	}
	c := &config{
		name: *name, speed: *speed, rateMB: *rateMB, rate: *rate, onset: *onset, seed: *seed,
		maxBytes: *maxMB * mib, maxGoroutines: *maxGoroutines,
	}
	if c.onset == 0 {
		c.onset = c.period(10 * time.Minute)
	}
	scenarioVar.Set(c.name)
	truthVar.Set(s.truth)
	culpritVar.Set(s.culprit)
	speedVar.Set(c.speed)

	if err := serve(*addr); err != nil {
		fmt.Fprintf(os.Stderr, "corpus: listen %s: %v\n", *addr, err)
		os.Exit(1)
	}
	if *statsEvery > 0 {
		go printStats(*statsEvery)
	}
	say("ready pid=%d scenario=%s truth=%s speed=%g", os.Getpid(), c.name, s.truth, c.speed)
	go s.run(c)
	select {}
}
