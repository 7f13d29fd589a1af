// gen writes the fixtures of tests/unit/test_parsers.c: real Go 1.19 output, so the parsers
// are tested against what the runtime really writes rather than what we think it writes.
// Standard library only.  Regenerate (from the source tree, offline) with
//
//	cd tests/data/gen && GOCACHE=/tmp/gocache GOFLAGS=-mod=mod GOPROXY=off \
//	    go build -trimpath -o /tmp/memwatch-gen . && /tmp/memwatch-gen ..
//
// then update the numbers test_parsers.c expects from expvar.json (the test says which).
// -trimpath keeps file names stable ("memwatch/tests/data/gen/main.go") wherever the tree is.
//
// It writes, into the directory given as its argument:
//
//	expvar_fresh.json  /debug/vars before any GC: NumGC 0, GCCPUFraction written as integer 0
//	expvar.json        /debug/vars after the allocations below and a few GCs
//	metrics.txt        the same MemStats snapshot as expvar.json, in the Prometheus text format
//	                   exactly as client_golang writes it (HELP/TYPE lines, families sorted by
//	                   name, strconv.FormatFloat(v, 'g', -1, 64): 2.3584768e+07), followed by
//	                   runtime/metrics names (go_memory_classes_*) and application metrics with
//	                   labels, escapes, NaN, +Inf and timestamps
//	heap.pb.gz         /debug/pprof/heap after runtime.GC(), MemProfileRate 4096
//	goroutine.pb.gz    /debug/pprof/goroutine with goroutines parked in known functions
//
// What the heap holds, and the test checks:
//   - leakyCache keeps 16 MiB of []byte: the top inuse_space site, leaf = user = main.leakyCache;
//   - growBuffers grows bytes.Buffers to 1 MiB each: leaf bytes.makeSlice, user main.growBuffers;
//   - fillRecords calls newRecord, which the compiler inlines: the location's line[0] is
//     main.newRecord, line[1] main.fillRecords.
//
// The goroutine profile holds 25 goroutines in blockForever (<-chan), 7 in waitForGroup
// (sync.WaitGroup.Wait: leaf sync.runtime_Semacquire, user main.waitForGroup) and 3 in
// sleeper (time.Sleep).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"expvar"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

var (
	cache   [][]byte
	buffers []*bytes.Buffer
	records []*record
	sink    []byte
)

type record struct {
	id      int
	payload [56]byte
}

//go:noinline
func leakyCache() {
	for i := 0; i < 64; i++ {
		cache = append(cache, make([]byte, 256<<10))
	}
}

//go:noinline
func growBuffers() {
	chunk := strings.Repeat("x", 4096)
	for i := 0; i < 4; i++ {
		var b bytes.Buffer
		for b.Len() < 1<<20 {
			b.WriteString(chunk)
		}
		buffers = append(buffers, &b)
	}
}

// newRecord is small enough to be inlined into fillRecords.
func newRecord(i int) *record { return &record{id: i} }

//go:noinline
func fillRecords() {
	for i := 0; i < 20000; i++ {
		records = append(records, newRecord(i))
	}
}

//go:noinline
func garbage() {
	for i := 0; i < 200; i++ {
		sink = make([]byte, 64<<10)
	}
}

//go:noinline
func blockForever(ch chan struct{}) { <-ch }

//go:noinline
func waitForGroup(wg *sync.WaitGroup) { wg.Wait() }

//go:noinline
func sleeper() { time.Sleep(time.Hour) }

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func expvarPage() []byte {
	rec := httptest.NewRecorder()
	expvar.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/vars", nil))
	return rec.Body.Bytes()
}

// promFloat is client_golang's writeFloat: specials spelled the Prometheus way, the rest
// with strconv.FormatFloat(f, 'g', -1, 64).
func promFloat(f float64) string {
	switch {
	case f != f:
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

type family struct {
	name, help, typ string
	lines           []string // without the name
}

// metricsPage renders ms the way client_golang's Go collector (v1.12+, Go >= 1.17 build, so
// no go_memstats_gc_cpu_fraction) and process collector do, then adds runtime/metrics names
// and an application's own metrics.
func metricsPage(ms *runtime.MemStats, gc *debug.GCStats) []byte {
	g := func(name, help string, v float64) family {
		return family{name, help, "gauge", []string{" " + promFloat(v)}}
	}
	c := func(name, help string, v float64) family {
		return family{name, help, "counter", []string{" " + promFloat(v)}}
	}
	q := []string{}
	for i, qq := range []string{"0", "0.25", "0.5", "0.75", "1"} {
		q = append(q, fmt.Sprintf("{quantile=%q} %s", qq, promFloat(gc.PauseQuantiles[i].Seconds())))
	}
	q = append(q, " "+promFloat(gc.PauseTotal.Seconds()), " "+strconv.FormatInt(gc.NumGC, 10))
	fams := []family{
		{"go_gc_duration_seconds", "A summary of the pause duration of garbage collection cycles.", "summary", q},
		g("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine())),
		{"go_info", "Information about the Go environment.", "gauge", []string{`{version="` + runtime.Version() + `"} 1`}},
		g("go_memstats_alloc_bytes", "Number of bytes allocated and still in use.", float64(ms.Alloc)),
		c("go_memstats_alloc_bytes_total", "Total number of bytes allocated, even if freed.", float64(ms.TotalAlloc)),
		g("go_memstats_buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table.", float64(ms.BuckHashSys)),
		c("go_memstats_frees_total", "Total number of frees.", float64(ms.Frees)),
		g("go_memstats_gc_sys_bytes", "Number of bytes used for garbage collection system metadata.", float64(ms.GCSys)),
		g("go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and still in use.", float64(ms.HeapAlloc)),
		g("go_memstats_heap_idle_bytes", "Number of heap bytes waiting to be used.", float64(ms.HeapIdle)),
		g("go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use.", float64(ms.HeapInuse)),
		g("go_memstats_heap_objects", "Number of allocated objects.", float64(ms.HeapObjects)),
		g("go_memstats_heap_released_bytes", "Number of heap bytes released to OS.", float64(ms.HeapReleased)),
		g("go_memstats_heap_sys_bytes", "Number of heap bytes obtained from system.", float64(ms.HeapSys)),
		g("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", float64(ms.LastGC)/1e9),
		c("go_memstats_lookups_total", "Total number of pointer lookups.", float64(ms.Lookups)),
		c("go_memstats_mallocs_total", "Total number of mallocs.", float64(ms.Mallocs)),
		g("go_memstats_mcache_inuse_bytes", "Number of bytes in use by mcache structures.", float64(ms.MCacheInuse)),
		g("go_memstats_mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system.", float64(ms.MCacheSys)),
		g("go_memstats_mspan_inuse_bytes", "Number of bytes in use by mspan structures.", float64(ms.MSpanInuse)),
		g("go_memstats_mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system.", float64(ms.MSpanSys)),
		g("go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place.", float64(ms.NextGC)),
		g("go_memstats_other_sys_bytes", "Number of bytes used for other system allocations.", float64(ms.OtherSys)),
		g("go_memstats_stack_inuse_bytes", "Number of bytes in use by the stack allocator.", float64(ms.StackInuse)),
		g("go_memstats_stack_sys_bytes", "Number of bytes obtained from system for stack allocator.", float64(ms.StackSys)),
		g("go_memstats_sys_bytes", "Number of bytes obtained from system.", float64(ms.Sys)),
		g("go_threads", "Number of OS threads created.", 7),
		c("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", 0.07),
		g("process_max_fds", "Maximum number of open file descriptors.", 1048576),
		g("process_open_fds", "Number of open file descriptors.", 9),
		g("process_resident_memory_bytes", "Resident memory size in bytes.", 4.1226240e+07),
		g("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", 1.70060832012e+09),
		g("process_virtual_memory_bytes", "Virtual memory size in bytes.", 1.162568e+09),
		g("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", 1.8446744073709552e+19),
	}
	sort.Slice(fams, func(i, j int) bool { return fams[i].name < fams[j].name })
	var b bytes.Buffer
	for _, f := range fams {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.typ)
		for _, l := range f.lines {
			name := f.name
			if f.typ == "summary" && !strings.HasPrefix(l, "{") {
				if strings.Contains(l, ".") || strings.Contains(l, "e") {
					name += "_sum"
				} else {
					name += "_count"
				}
			}
			b.WriteString(name + l + "\n")
		}
	}

	// Newer client_golang can expose runtime/metrics too, named go_<path with / and : as _>.
	for _, m := range []struct{ rm, name, help string }{
		{"/memory/classes/heap/objects:bytes", "go_memory_classes_heap_objects_bytes", "Memory occupied by live objects and dead objects that have not yet been marked free by the garbage collector."},
		{"/memory/classes/heap/released:bytes", "go_memory_classes_heap_released_bytes", "Memory that is completely free and has been returned to the underlying system."},
		{"/memory/classes/total:bytes", "go_memory_classes_total_bytes", "All memory mapped by the Go runtime into the current process as read-write."},
		{"/gc/heap/goal:bytes", "go_gc_heap_goal_bytes", "Heap size target for the end of the GC cycle."},
		{"/sched/goroutines:goroutines", "go_sched_goroutines_goroutines", "Count of live goroutines."},
	} {
		s := []metrics.Sample{{Name: m.rm}}
		metrics.Read(s)
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n%s %s\n", m.name, m.help, m.name, m.name,
			promFloat(float64(s[0].Value.Uint64())))
	}

	// An application's own metrics: labels with escapes, a histogram with le="+Inf", NaN
	// quantiles of an empty summary, a timestamp, a -Inf gauge and an untyped sample.
	b.WriteString(`# HELP http_request_duration_seconds A histogram of latencies for requests.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{handler="/api/v1/items",method="GET",le="0.005"} 2
http_request_duration_seconds_bucket{handler="/api/v1/items",method="GET",le="0.01"} 7
http_request_duration_seconds_bucket{handler="/api/v1/items",method="GET",le="+Inf"} 12
http_request_duration_seconds_sum{handler="/api/v1/items",method="GET"} 0.0731
http_request_duration_seconds_count{handler="/api/v1/items",method="GET"} 12
# HELP rpc_duration_seconds RPC latency; no calls yet.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{service="billing",quantile="0.5"} NaN
rpc_duration_seconds{service="billing",quantile="0.99"} NaN
rpc_duration_seconds_sum{service="billing"} 0
rpc_duration_seconds_count{service="billing"} 0
# HELP app_build_info Build information; the path has a quote " a backslash \\ and a\nnewline.
# TYPE app_build_info gauge
app_build_info{path="C:\\go \"src\"\n{x}",version="1.2.3"} 1
# HELP app_temperature_celsius Lowest temperature seen.
# TYPE app_temperature_celsius gauge
app_temperature_celsius -Inf
app_queue_length 3.5e+01 1700608320123
`)
	return b.Bytes()
}

func writeProfile(dir, name, file string) {
	f, err := os.Create(filepath.Join(dir, file))
	must(err)
	w := bufio.NewWriter(f)
	must(pprof.Lookup(name).WriteTo(w, 0))
	must(w.Flush())
	must(f.Close())
}

func main() {
	runtime.MemProfileRate = 4096
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gen OUTDIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	expvar.NewInt("requests").Add(42)
	expvar.NewString("mode").Set(`fixture "gen"`)

	fresh := expvarPage()
	var probe struct{ Memstats runtime.MemStats }
	must(json.Unmarshal(fresh, &probe))
	if probe.Memstats.NumGC != 0 {
		fmt.Fprintln(os.Stderr, "gen: a GC ran before the fresh snapshot; run again")
		os.Exit(1)
	}
	must(os.WriteFile(filepath.Join(dir, "expvar_fresh.json"), fresh, 0o644))

	leakyCache()
	growBuffers()
	fillRecords()
	garbage()
	runtime.GC()
	writeProfile(dir, "heap", "heap.pb.gz")

	var wg sync.WaitGroup
	wg.Add(1)
	ch := make(chan struct{})
	for i := 0; i < 25; i++ {
		go blockForever(ch)
	}
	for i := 0; i < 7; i++ {
		go waitForGroup(&wg)
	}
	for i := 0; i < 3; i++ {
		go sleeper()
	}
	time.Sleep(200 * time.Millisecond) // let every goroutine park
	writeProfile(dir, "goroutine", "goroutine.pb.gz")

	page := expvarPage()
	must(os.WriteFile(filepath.Join(dir, "expvar.json"), page, 0o644))
	var snap struct{ Memstats runtime.MemStats }
	must(json.Unmarshal(page, &snap))
	var gc debug.GCStats
	gc.PauseQuantiles = make([]time.Duration, 5)
	debug.ReadGCStats(&gc)
	must(os.WriteFile(filepath.Join(dir, "metrics.txt"), metricsPage(&snap.Memstats, &gc), 0o644))

	ms := &snap.Memstats
	fmt.Printf("HeapAlloc=%d NumGC=%d last pause=%d GCCPUFraction=%v goroutines=%d\n",
		ms.HeapAlloc, ms.NumGC, ms.PauseNs[(ms.NumGC+255)%256], ms.GCCPUFraction, runtime.NumGoroutine())
	runtime.KeepAlive(cache)
	runtime.KeepAlive(buffers)
	runtime.KeepAlive(records)
	close(ch)
	wg.Done()
}
