// The scenarios that do not leak: memory that moves (saw-teeth, bursts, warm-up, pools,
// goroutine churn) without growing for good.  Their truth is "none".
package main

import (
	"bytes"
	"container/list"
	"math"
	"math/rand"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// ---- gc-sawtooth ------------------------------------------------------------------------------

// lookupTable is a constant live set, built once.
type lookupTable struct {
	rows [][]byte
}

//go:noinline
func buildLookupTable(mb int) *lookupTable {
	t := &lookupTable{}
	for i := 0; i < mb*4; i++ { // 256 KiB rows
		row := make([]byte, 256*kib)
		touch(row, byte(i))
		t.rows = append(t.rows, row)
	}
	return t
}

// parseRequest makes a request's garbage: a few buffers of mixed sizes, dropped on return.
//
//go:noinline
func parseRequest(t *lookupTable, rng *rand.Rand, size int) int {
	parts := make([][]byte, 0, 4)
	for left := size; left > 0; {
		n := 512 + rng.Intn(32*kib)
		if n > left {
			n = left
		}
		b := make([]byte, n)
		b[0], b[n-1] = 1, 2
		parts = append(parts, b)
		left -= n
	}
	row := t.rows[rng.Intn(len(t.rows))]
	return len(parts) + int(row[0])
}

func runGCSawtooth(c *config) {
	table := buildLookupTable(64) // 64 MiB live for good
	phase("steady", "live_mib=64")
	rng := c.rng(1)
	const reqSize = 64 * kib
	paced(constant(c.perSec(c.rateOr(40))*mib/reqSize), nil, func(n int) bool {
		for i := 0; i < n; i++ {
			sink.Add(int64(parseRequest(table, rng, reqSize)))
		}
		return true
	})
}

// ---- sync-pool ----------------------------------------------------------------------------------

var responsePool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// writeResponse builds a response in a pooled buffer and recycles the buffer.
//
//go:noinline
func writeResponse(rng *rand.Rand, size int) int {
	buf := responsePool.Get().(*bytes.Buffer)
	buf.Reset()
	chunk := [64]byte{'{', '"', 'k', '"', ':'}
	for buf.Len() < size {
		chunk[8] = byte(rng.Intn(256))
		buf.Write(chunk[:])
	}
	n := buf.Len() + int(buf.Bytes()[buf.Len()/2])
	responsePool.Put(buf)
	return n
}

func runSyncPool(c *config) {
	const workers = 8
	const avg = 32 * kib
	go garbage(c.perSec(2), c.rng(100), nil) // the rest of the service: the GC runs, and clears the pool
	phase("steady")
	perWorker := c.perSec(c.rateOr(32)) * mib / avg / workers
	for w := 0; w < workers; w++ {
		rng := c.rng(int64(w + 1))
		go paced(constant(perWorker), nil, func(n int) bool {
			for i := 0; i < n; i++ {
				size := 16*kib + rng.Intn(32*kib+1) // 16-48 KiB, 32 KiB on average
				sink.Add(int64(writeResponse(rng, size)))
			}
			return true
		})
	}
}

// ---- cache-plateau ------------------------------------------------------------------------------

const cacheEntrySize = 32 * kib

type cacheEntry struct {
	key uint64
	val []byte
}

// lruCache is bounded: it evicts the least recently used entries beyond capBytes.
type lruCache struct {
	mu       sync.Mutex
	capBytes int64
	size     int64
	ll       *list.List
	items    map[uint64]*list.Element
	full     sync.Once
	onFull   func()
}

func (c *lruCache) get(key uint64) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*cacheEntry).val, true
	}
	return nil, false
}

//go:noinline
func (c *lruCache) add(key uint64, val []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[key]; ok {
		return
	}
	c.items[key] = c.ll.PushFront(&cacheEntry{key: key, val: val})
	c.size += int64(len(val))
	for c.size > c.capBytes {
		c.full.Do(c.onFull)
		e := c.ll.Back()
		ent := e.Value.(*cacheEntry)
		c.ll.Remove(e)
		delete(c.items, ent.key)
		c.size -= int64(len(ent.val))
	}
}

// loadObject is a cache miss: the object is loaded from the (simulated) backend.
//
//go:noinline
func loadObject(key uint64) []byte {
	b := make([]byte, cacheEntrySize)
	touch(b, byte(key))
	return b
}

func runCachePlateau(c *config) {
	const capMB = 150
	entries := capMB * mib / cacheEntrySize // 4800 entries fill the cache
	keys := 2 * entries                     // uniform over twice as many keys: 50 % hits when full
	// Distinct keys seen after n requests: keys*(1-exp(-n/keys)); the cache is full when that
	// reaches entries, at n = keys*ln 2: after 10 minutes (at speed 1) at this request rate.
	reqRate := float64(keys) * math.Ln2 / c.period(10*time.Minute).Seconds()
	cache := &lruCache{capBytes: capMB * mib, ll: list.New(), items: make(map[uint64]*list.Element)}
	start := time.Now()
	cache.onFull = func() {
		phase("plateau", "after="+time.Since(start).Round(time.Second).String())
	}
	go garbage(c.perSec(8), c.rng(1), nil)
	phase("warmup", "cap_mib=150")
	rng := c.rng(2)
	paced(constant(reqRate), nil, func(n int) bool {
		for i := 0; i < n; i++ {
			key := uint64(rng.Intn(keys))
			v, ok := cache.get(key)
			if !ok {
				v = loadObject(key)
				cache.add(key, v)
			}
			sink.Add(int64(v[0]))
		}
		return true
	})
}

// ---- burst-release ---------------------------------------------------------------------------

// reportJob is a periodic batch job: it loads a big dataset, works on it, and lets it go.
type reportJob struct {
	runs int
}

// loadDataset allocates mb MiB in 1 MiB blocks and touches every page.
//
//go:noinline
func (j *reportJob) loadDataset(mb int) [][]byte {
	blocks := make([][]byte, 0, mb)
	for i := 0; i < mb; i++ {
		b := make([]byte, mib)
		touch(b, byte(i))
		blocks = append(blocks, b)
	}
	return blocks
}

func runBurstRelease(c *config) {
	const burstMB = 300
	live := buildLookupTable(16) // the service's own 16 MiB
	go garbage(c.perSec(8), c.rng(1), nil)
	phase("steady")
	job := &reportJob{}
	time.Sleep(c.period(time.Minute)) // the first run comes 1 min in, then every 10 min
	next := time.Now()
	for {
		job.runs++
		n := strconv.Itoa(job.runs)
		phase("burst-start", "n="+n, "mib="+strconv.Itoa(burstMB))
		data := job.loadDataset(burstMB)
		time.Sleep(c.period(time.Minute))
		sink.Add(int64(len(data) + len(live.rows)))
		runtime.KeepAlive(data) // the last use: the dataset is garbage from here on
		phase("burst-release", "n="+n)
		next = next.Add(c.period(10 * time.Minute))
		time.Sleep(time.Until(next))
	}
}

// ---- big-buffers ---------------------------------------------------------------------------

// frameDecoder decodes (simulated) huge frames, each into a fresh 50-100 MiB buffer.
type frameDecoder struct {
	rng *rand.Rand
}

//go:noinline
func (d *frameDecoder) decodeFrame() []byte {
	size := (50 + d.rng.Intn(51)) * mib
	frame := make([]byte, size)
	touch(frame, byte(size>>20))
	return frame
}

func runBigBuffers(c *config) {
	dec := &frameDecoder{rng: c.rng(1)}
	go garbage(c.perSec(2), c.rng(2), nil)
	phase("steady")
	// One frame every 2 s (at speed 1): decoded, held 1.5 s while "processed", dropped.
	next := time.Now()
	for {
		frame := dec.decodeFrame()
		time.Sleep(c.period(1500 * time.Millisecond))
		sink.Add(int64(frame[len(frame)/2])) // the last use: the frame is garbage from here on
		next = next.Add(c.period(2 * time.Second))
		time.Sleep(time.Until(next))
	}
}

// ---- goroutine-churn ---------------------------------------------------------------------------

// handleConnection is a short-lived connection handler: it lives for `life`, then returns.
//
//go:noinline
func handleConnection(life time.Duration, id int) {
	buf := make([]byte, 4*kib) // its read buffer
	buf[0] = byte(id)
	time.Sleep(life)
	sink.Add(int64(buf[0]))
}

func runGoroutineChurn(c *config) {
	startRate := c.rate
	if startRate == 0 {
		startRate = 250
	}
	meanLife := c.period(2 * time.Second) // population = start rate x lifetime = 500
	cycle := c.period(5 * time.Minute).Seconds()
	lam := c.perSec(startRate)
	rng := c.rng(1)
	phase("steady", "mean_goroutines="+strconv.Itoa(int(startRate*2)))
	id := 0
	last := 0.0
	start := time.Now()
	// A fine tick: the arrivals of a tick all start at once, and with 100 ms ticks the
	// population would saw-tooth by +-25 % at speed 10 (a scraper in step with the ticks
	// would see only the peaks).
	tick := time.NewTicker(10 * time.Millisecond)
	for now := range tick.C {
		// Arrivals: a Poisson process whose rate swings +-10 % over a 5 min cycle; lifetimes
		// are exponential.  The population is Poisson around 500 (+-10 %), and does not grow.
		t := now.Sub(start).Seconds()
		want := lam * (1 + 0.1*math.Sin(2*math.Pi*t/cycle)) * (t - last)
		last = t
		for n := poisson(rng, want); n > 0; n-- {
			id++
			go handleConnection(time.Duration(rng.ExpFloat64()*float64(meanLife)), id)
		}
	}
}
