// The leaking scenarios of the Go heap and of goroutines (the native leak is in cgo.go).
// Every culprit is //go:noinline and allocates what leaks itself, so a heap profile names it
// as the allocation site (Go's heap profile drops the runtime frames above the caller of
// make, append or a map assignment).
package main

import (
	"math/rand"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ---- map-cache: (*sessionStore).put ------------------------------------------------------

const sessionStateSize = 16 * kib

type session struct {
	id      string
	user    int
	created int64
	state   []byte
}

// sessionStore keeps every session ever created: nothing evicts them.
type sessionStore struct {
	mu   sync.Mutex
	byID map[string]*session
}

// put creates and stores a session: the leak.  The 16 KiB state, the id, the *session and
// the map's growth are all allocated here.
//
//go:noinline
func (s *sessionStore) put(user int, seq uint64) *session {
	state := make([]byte, sessionStateSize)
	touch(state, byte(user))
	sess := &session{
		id:      "sess-" + strconv.FormatUint(seq, 36) + "-" + strconv.Itoa(user),
		user:    user,
		created: time.Now().UnixNano(),
		state:   state,
	}
	s.mu.Lock()
	s.byID[sess.id] = sess
	s.mu.Unlock()
	return sess
}

func (s *sessionStore) get(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byID[id]
}

// handleLogin is one login request: a session is created, and a few of the older ones are
// looked up (the store is used, not just filled).
func handleLogin(s *sessionStore, rng *rand.Rand, seq uint64) {
	sess := s.put(rng.Intn(100000), seq)
	if seq > 0 {
		old := rng.Uint64() % seq
		if x := s.get("sess-" + strconv.FormatUint(old, 36)); x != nil {
			sink.Add(int64(len(x.state)))
		}
	}
	sink.Add(int64(len(sess.id)))
}

// sessions is the service's session store.  Every leak's holder is a package variable, so
// what has leaked stays reachable after the leak stops growing at -max-mb.
var sessions = &sessionStore{byID: make(map[string]*session)}

func runMapCache(c *config) {
	store := sessions
	budget := &leakBudget{max: c.maxBytes}
	go garbage(c.perSec(4), c.rng(1), nil) // the rest of the service: 4 MiB/s of garbage
	phase("leak-start")
	rng := c.rng(2)
	var seq uint64
	paced(constant(c.perSec(c.rateOr(1))*mib/sessionStateSize), nil, func(n int) bool {
		for i := 0; i < n; i++ {
			if !budget.take(sessionStateSize) {
				return false
			}
			handleLogin(store, rng, seq)
			seq++
		}
		return true
	})
}

// ---- slice-append: (*eventLog).record --------------------------------------------------------

const eventDetailSize = 4 * kib

type event struct {
	at     int64
	kind   uint16
	actor  uint32
	detail []byte
}

// eventLog is an audit log kept in memory "until it is shipped" -- and it never is.
type eventLog struct {
	mu     sync.Mutex
	events []event
}

var auditLog eventLog

// record appends an event to the global log: the leak.  The 4 KiB detail and the slice's
// growth are both allocated here.
//
//go:noinline
func (l *eventLog) record(kind uint16, actor uint32) {
	detail := make([]byte, eventDetailSize)
	touch(detail, byte(actor))
	l.mu.Lock()
	l.events = append(l.events, event{at: time.Now().UnixNano(), kind: kind, actor: actor, detail: detail})
	l.mu.Unlock()
}

func runSliceAppend(c *config) {
	budget := &leakBudget{max: c.maxBytes}
	go garbage(c.perSec(4), c.rng(1), nil)
	phase("leak-start")
	rng := c.rng(2)
	paced(constant(c.perSec(c.rateOr(1))*mib/eventDetailSize), nil, func(n int) bool {
		for i := 0; i < n; i++ {
			if !budget.take(eventDetailSize) {
				return false
			}
			auditLog.record(uint16(rng.Intn(16)), rng.Uint32())
		}
		return true
	})
}

// ---- goroutine-block: awaitResponse ------------------------------------------------------------

type response struct {
	status int
	body   []byte
}

type pendingCall struct {
	id    uint64
	reply chan response
}

// awaitResponse waits for a call's reply.  Most calls are answered within 20-100 ms; the
// ones the backend drops are never answered, and their channel is never closed: the goroutine
// blocks here forever.
//
//go:noinline
func awaitResponse(call *pendingCall) {
	r := <-call.reply
	sink.Add(int64(r.status + len(r.body)))
}

// rpcClient starts a goroutine per call to wait for its reply.
type rpcClient struct {
	next atomic.Uint64
}

//go:noinline
func (cl *rpcClient) call() *pendingCall {
	p := &pendingCall{id: cl.next.Add(1), reply: make(chan response, 0)}
	go awaitResponse(p)
	return p
}

func runGoroutineBlock(c *config) {
	leakRate := c.rate
	if leakRate == 0 {
		leakRate = 20
	}
	const answeredRate = 80 // healthy calls a second at speed 1, answered and gone
	go garbage(c.perSec(2), c.rng(1), nil)
	cl := &rpcClient{}
	rng := c.rng(2)
	// The healthy calls: answered after 20-100 ms (at speed 1).
	go paced(constant(c.perSec(answeredRate)), nil, func(n int) bool {
		for i := 0; i < n; i++ {
			p := cl.call()
			delay := c.period(time.Duration(20+rng.Intn(81)) * time.Millisecond)
			body := make([]byte, 512)
			time.AfterFunc(delay, func() { p.reply <- response{status: 200, body: body} })
		}
		return true
	})
	phase("leak-start")
	var once sync.Once
	paced(constant(c.perSec(leakRate)), nil, func(n int) bool {
		for i := 0; i < n; i++ {
			if leakedGoroutines.Value() >= c.maxGoroutines {
				once.Do(func() { phase("cap-reached", "leaked_goroutines="+strconv.FormatInt(leakedGoroutines.Value(), 10)) })
				return false
			}
			cl.call() // dropped by the backend: nobody will ever answer or close it
			leakedGoroutines.Add(1)
		}
		return true
	})
}

// ---- slow-churn: (*metricsRegistry).register ------------------------------------------------

const metricBuckets = 1024 // 8 KiB of uint64 per metric

type metric struct {
	name    string
	count   uint64
	buckets []uint64
}

// metricsRegistry registers a metric per distinct name.  A request id that slipped into the
// names makes ~8 new ones a second, and metrics are never unregistered.
type metricsRegistry struct {
	mu     sync.Mutex
	byName map[string]*metric
}

// lookup returns the metric for name, registering it if new.
func (r *metricsRegistry) lookup(route string, id uint64, perRequest bool) *metric {
	name := route
	if perRequest {
		name = route + "{req=" + strconv.FormatUint(id, 10) + "}"
	}
	r.mu.Lock()
	m := r.byName[name]
	r.mu.Unlock()
	if m == nil {
		m = r.register(name)
	}
	return m
}

// register creates and keeps a metric: the slow leak.  Its 8 KiB of buckets, the *metric
// and the map's growth are allocated here.
//
//go:noinline
func (r *metricsRegistry) register(name string) *metric {
	m := &metric{name: name, buckets: make([]uint64, metricBuckets)}
	for i := range m.buckets {
		m.buckets[i] = uint64(i)
	}
	r.mu.Lock()
	if old := r.byName[name]; old != nil {
		m = old
	} else {
		r.byName[name] = m
	}
	r.mu.Unlock()
	return m
}

var registry = &metricsRegistry{byName: make(map[string]*metric)}

func runSlowChurn(c *config) {
	const metricSize = metricBuckets * 8
	reg := registry
	budget := &leakBudget{max: c.maxBytes}
	routes := []string{"/api/v1/users", "/api/v1/orders", "/api/v1/items", "/healthz", "/metrics"}
	for _, r := range routes {
		reg.lookup(r, 0, false)
	}
	table := buildLookupTable(32)           // the service's own 32 MiB, live for good
	go garbage(c.perSec(30), c.rng(1), nil) // the heavy churn the leak hides under
	phase("leak-start")
	rng := c.rng(2)
	var id uint64
	// ~200 requests a second observe a route's metric; one in 25 takes the buggy path that
	// names the metric after the request: 8 new metrics (64 KiB) a second at the default rate.
	leakPerSec := c.perSec(c.rateOr(64.0/1024)) * mib / metricSize
	paced(constant(leakPerSec*25), nil, func(n int) bool {
		for i := 0; i < n; i++ {
			id++
			perRequest := id%25 == 0
			if perRequest && !budget.take(metricSize) {
				perRequest = false
			}
			m := reg.lookup(routes[rng.Intn(len(routes))], id, perRequest)
			m.count++
			m.buckets[rng.Intn(metricBuckets)] += uint64(table.rows[rng.Intn(len(table.rows))][0])
		}
		return true
	})
}

// ---- subslice-pin: extractHeader pins what (*packetReader).readPacket allocates ----------------

const (
	packetSize = 1 * mib
	headerSize = 1 * kib
)

// packetReader reads packets from a (simulated) connection into a fresh buffer each.
type packetReader struct {
	rng *rand.Rand
	seq uint64
}

// readPacket allocates a 1 MiB buffer and fills it.  This is the allocation site the heap
// profile shows growing: the pinned buffers were allocated here.
//
//go:noinline
func (r *packetReader) readPacket() []byte {
	buf := make([]byte, packetSize)
	r.seq++
	var w uint64 = r.rng.Uint64() | 1
	for i := 0; i+8 <= len(buf); i += 512 { // a "read": every page written
		w = w*6364136223846793005 + 1442695040888963407
		buf[i], buf[i+1], buf[i+2], buf[i+3] = byte(w), byte(w>>8), byte(w>>16), byte(w>>24)
	}
	return buf
}

// extractHeader returns the packet's 1 KiB header -- as a sub-slice of the packet, not a
// copy: the bug.  Whoever keeps the header keeps the whole 1 MiB packet alive.
//
//go:noinline
func extractHeader(pkt []byte) []byte {
	return pkt[:headerSize]
}

// headerIndex keeps every header seen (1 KiB each: harmless, were they copies).
type headerIndex struct {
	mu      sync.Mutex
	headers [][]byte
}

func (x *headerIndex) add(h []byte) {
	x.mu.Lock()
	x.headers = append(x.headers, h)
	x.mu.Unlock()
}

// decodeBody is the packet's processing: garbage.
//
//go:noinline
func decodeBody(pkt []byte) int {
	out := make([]byte, len(pkt)/8)
	for i := range out {
		out[i] = pkt[i*8]
	}
	return int(out[len(out)/2])
}

var packetHeaders = &headerIndex{}

func runSubslicePin(c *config) {
	budget := &leakBudget{max: c.maxBytes}
	go garbage(c.perSec(2), c.rng(1), nil)
	idx := packetHeaders
	rd := &packetReader{rng: c.rng(2)}
	phase("leak-start")
	paced(constant(c.perSec(c.rateOr(1))*mib/packetSize), nil, func(n int) bool {
		for i := 0; i < n; i++ {
			if !budget.take(packetSize) {
				return false
			}
			pkt := rd.readPacket()
			sink.Add(int64(decodeBody(pkt)))
			idx.add(extractHeader(pkt))
		}
		return true
	})
}

// ---- late-onset: (*requestJournal).append ------------------------------------------------------

const journalEntrySize = 8 * kib

type journalEntry struct {
	at   time.Time
	req  uint64
	body []byte
}

// requestJournal keeps the requests of the last `retention`; a trimmer drops older ones --
// until, at the onset, the trimmer stops (as if a config reload had left retention unset).
type requestJournal struct {
	mu        sync.Mutex
	entries   []journalEntry
	retention time.Duration
}

// append journals a request: the allocation site of the journal's entries, which leak once
// nothing trims them.
//
//go:noinline
func (j *requestJournal) append(req uint64) {
	body := make([]byte, journalEntrySize)
	touch(body, byte(req))
	j.mu.Lock()
	j.entries = append(j.entries, journalEntry{at: time.Now(), req: req, body: body})
	j.mu.Unlock()
}

// trim drops the entries older than the retention (moving the rest down, so the backing
// array does not grow).
func (j *requestJournal) trim(now time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	k := 0
	for k < len(j.entries) && now.Sub(j.entries[k].at) > j.retention {
		k++
	}
	if k == 0 {
		return
	}
	n := copy(j.entries, j.entries[k:])
	for i := n; i < len(j.entries); i++ {
		j.entries[i] = journalEntry{}
	}
	j.entries = j.entries[:n]
}

var journal = &requestJournal{}

func runLateOnset(c *config) {
	rate := c.perSec(c.rateOr(1)) * mib / journalEntrySize // entries a second
	j := journal
	j.retention = c.period(16 * time.Second) // ~16 MiB kept before the onset
	go garbage(c.perSec(16), c.rng(1), nil)
	phase("steady", "onset_in="+c.onset.String())
	leaking := make(chan struct{})
	budget := &leakBudget{max: c.maxBytes}
	go func() {
		tick := time.NewTicker(c.period(time.Second))
		defer tick.Stop()
		for {
			select {
			case <-leaking:
				return
			case now := <-tick.C:
				j.trim(now)
			}
		}
	}()
	time.AfterFunc(c.onset, func() {
		close(leaking) // the trimmer is gone: every entry from now on stays
		phase("leak-start")
	})
	var req uint64
	paced(constant(rate), nil, func(n int) bool {
		for i := 0; i < n; i++ {
			select {
			case <-leaking:
				if !budget.take(journalEntrySize) {
					continue // full: the journal drops new entries, and stays as it is
				}
			default:
			}
			j.append(req)
			req++
		}
		return true
	})
}
