// hostile is a misbehaving Go debug endpoint for memwatch's scraper tests: next to a few
// well-behaved pages it serves every kind of body and timing a target could throw at
// memwatchd.  Standard library only: it is built offline with Debian's golang-go.
//
//	hostile [-addr 127.0.0.1:0]
//
// Prints "listening on HOST:PORT" once the socket accepts connections, then serves until
// killed.  Every handler runs in its own goroutine (net/http serves each connection on its
// own), so a stalled endpoint never holds up the others.  Slow handlers stop as soon as the
// client goes away, so an aborted scrape leaves nothing running behind it.
//
// Well-behaved:
//
//	/ok/debug/vars              expvar's own handler (cmdline, memstats)
//	/ok/debug/pprof/heap        runtime/pprof's heap profile (gzip'd protobuf)
//	/ok/debug/pprof/goroutine   runtime/pprof's goroutine profile
//	/ok/metrics                 a Prometheus text page with client_golang's go_* names
//
// Hostile bodies (status 200 unless said otherwise):
//
//	/notjson      plain text
//	/truncjson    the first half of a real /debug/vars page
//	/wrongtypes   memstats with strings where numbers belong
//	/truncgzip    the first half of a real heap profile
//	/html         an HTML page where JSON or a protobuf is expected
//	/badproto     a gzip'd protobuf that decodes but whose indices point nowhere
//	/gzipbomb     ~3 MB of gzip that inflates to 3 GiB of zeros
//	/gzipenc      the same bomb with Content-Encoding: gzip (a client must not inflate it)
//	/huge         1 GiB, chunked, streamed
//	/hugecl       Content-Length: 1 GiB, then streams it
//	/redirect     302 to /ok/debug/vars (must not be followed)
//	/status500    500 Internal Server Error
//
// Hostile timing:
//
//	/stall        nothing for 30 s, then a valid answer
//	/trickle      headers, then one byte every 200 ms for 60 s
//	/slowheaders  accepts the request, then says nothing at all for 30 s
package main

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"expvar"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"runtime"
	"time"
)

const gib = 1 << 30

// keep holds a little live heap, so the heap profile and HeapAlloc are never empty.
var keep [][]byte

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()

	for i := 0; i < 64; i++ {
		keep = append(keep, make([]byte, 64<<10))
	}
	bomb := gzipBomb(3 * gib)

	mux := http.NewServeMux()
	mux.Handle("/ok/debug/vars", expvar.Handler())
	mux.Handle("/ok/debug/pprof/heap", pprof.Handler("heap"))
	mux.Handle("/ok/debug/pprof/goroutine", pprof.Handler("goroutine"))
	// Stands in for a newer Go's goroutineleak profile: same format, real data.
	mux.Handle("/ok/debug/pprof/goroutineleak", pprof.Handler("goroutine"))
	mux.HandleFunc("/ok/metrics", metrics)

	mux.HandleFunc("/notjson", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "this is not JSON, and not a profile either\n")
	})
	mux.HandleFunc("/truncjson", func(w http.ResponseWriter, r *http.Request) {
		page := record(expvar.Handler(), r)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(page[:len(page)/2])
	})
	mux.HandleFunc("/wrongtypes", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		io.WriteString(w, `{"cmdline": ["hostile"], "memstats": {"Alloc": "29585432", `+
			`"TotalAlloc": "lots", "Sys": null, "HeapAlloc": "29585432", "HeapSys": true, `+
			`"HeapIdle": [1], "HeapInuse": {"v": 1}, "HeapReleased": "0", "HeapObjects": "7252", `+
			`"NumGC": "4", "GCCPUFraction": "0.02", "PauseNs": "none"}}`)
	})
	mux.HandleFunc("/truncgzip", func(w http.ResponseWriter, r *http.Request) {
		prof := record(pprof.Handler("heap"), r)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(prof[:len(prof)/2])
	})
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<!DOCTYPE html>\n<html><head><title>Login</title></head>\n"+
			"<body><h1>Please sign in</h1><form method=post><input name=user></form></body></html>\n")
	})
	mux.HandleFunc("/badproto", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(gzipBytes(badProfile()))
	})
	mux.HandleFunc("/gzipbomb", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(bomb)
	})
	mux.HandleFunc("/gzipenc", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(bomb)
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		stream(w, gib) // no Content-Length: net/http sends it chunked
	})
	mux.HandleFunc("/hugecl", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(gib))
		stream(w, gib)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok/debug/vars", http.StatusFound)
	})
	mux.HandleFunc("/status500", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "internal error: the database is on fire", http.StatusInternalServerError)
	})
	mux.HandleFunc("/stall", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(30 * time.Second):
			expvar.Handler().ServeHTTP(w, r)
		case <-r.Context().Done(): // the client gave up
		}
	})
	mux.HandleFunc("/trickle", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		flush(w)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		end := time.After(60 * time.Second)
		for {
			select {
			case <-tick.C:
				if _, err := w.Write([]byte{' '}); err != nil {
					return
				}
				flush(w)
			case <-end:
				return
			case <-r.Context().Done():
				return
			}
		}
	})
	mux.HandleFunc("/slowheaders", func(w http.ResponseWriter, r *http.Request) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			http.Error(w, "cannot hijack", http.StatusInternalServerError)
			return
		}
		conn, _, err := hj.Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		// Say nothing; return early if the client hangs up (the read sees EOF).
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		io.Copy(io.Discard, conn)
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	// os.Stdout is unbuffered: the line reaches a pipe reader at once.
	fmt.Printf("listening on %s\n", ln.Addr())
	log.Fatal(http.Serve(ln, mux))
}

// record runs a handler in memory and returns its body: the real page to cut in half.
func record(h http.Handler, r *http.Request) []byte {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Body.Bytes()
}

func flush(w http.ResponseWriter) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// stream writes n bytes from one small buffer, never holding more than 64 KiB, and stops
// when the client goes away.
func stream(w http.ResponseWriter, n int64) {
	buf := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	for n > 0 {
		chunk := buf
		if int64(len(chunk)) > n {
			chunk = chunk[:n]
		}
		if _, err := w.Write(chunk); err != nil {
			return
		}
		n -= int64(len(chunk))
	}
}

// metrics writes the Go runtime part of a client_golang page (techref 6.1 names), in
// client_golang's number format.
func metrics(w http.ResponseWriter, r *http.Request) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	put := func(name, kind, help string, v float64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %s\n", name, help, name, kind, name,
			formatFloat(v))
	}
	put("go_goroutines", "gauge", "Number of goroutines that currently exist.",
		float64(runtime.NumGoroutine()))
	put("go_memstats_alloc_bytes", "gauge", "Number of bytes allocated and still in use.",
		float64(ms.Alloc))
	put("go_memstats_alloc_bytes_total", "counter", "Total number of bytes allocated, even if freed.",
		float64(ms.TotalAlloc))
	put("go_memstats_sys_bytes", "gauge", "Number of bytes obtained from system.", float64(ms.Sys))
	put("go_memstats_mallocs_total", "counter", "Total number of mallocs.", float64(ms.Mallocs))
	put("go_memstats_frees_total", "counter", "Total number of frees.", float64(ms.Frees))
	put("go_memstats_heap_alloc_bytes", "gauge", "Number of heap bytes allocated and still in use.",
		float64(ms.HeapAlloc))
	put("go_memstats_heap_sys_bytes", "gauge", "Number of heap bytes obtained from system.",
		float64(ms.HeapSys))
	put("go_memstats_heap_idle_bytes", "gauge", "Number of heap bytes waiting to be used.",
		float64(ms.HeapIdle))
	put("go_memstats_heap_inuse_bytes", "gauge", "Number of heap bytes that are in use.",
		float64(ms.HeapInuse))
	put("go_memstats_heap_released_bytes", "gauge", "Number of heap bytes released to OS.",
		float64(ms.HeapReleased))
	put("go_memstats_heap_objects", "gauge", "Number of allocated objects.", float64(ms.HeapObjects))
	put("go_memstats_stack_inuse_bytes", "gauge", "Number of bytes in use by the stack allocator.",
		float64(ms.StackInuse))
	put("go_memstats_stack_sys_bytes", "gauge", "Number of bytes obtained from system for stack allocator.",
		float64(ms.StackSys))
	put("go_memstats_next_gc_bytes", "gauge", "Number of heap bytes when next garbage collection will take place.",
		float64(ms.NextGC))
}

// formatFloat is client_golang's writeFloat: 'g' with the shortest exact digits, so values
// of a million and more come out as 2.3584768e+07.
func formatFloat(v float64) string {
	return fmt.Sprint(v) // fmt's %v for float64 is strconv.FormatFloat(v, 'g', -1, 64)
}

// gzipBomb returns a valid gzip file of n (a multiple of 16 MiB) zero bytes.  Compressing
// 3 GiB would take seconds; instead one 16 MiB segment is compressed and repeated.  After a
// flush the deflate stream is byte-aligned and its 32 KiB window holds only zeros, so every
// further segment of zeros compresses to the same bytes (checked below).  Deflate cannot do
// better than ~1032:1, so 3 GiB costs ~3 MB: under the scraper's body cap (8 MiB), which is
// the point: the bomb has to reach the gunzip step to test its cap.
func gzipBomb(n int64) []byte {
	const seg = 16 << 20
	zeros := make([]byte, seg)
	var z bytes.Buffer
	fw, _ := flate.NewWriter(&z, flate.BestCompression)
	cut := func() []byte {
		start := z.Len()
		fw.Write(zeros)
		fw.Flush()
		return append([]byte(nil), z.Bytes()[start:]...)
	}
	first, again, check := cut(), cut(), cut()
	if !bytes.Equal(again, check) {
		log.Fatal("gzip bomb: deflate segments differ; cannot repeat them")
	}

	var out bytes.Buffer
	out.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}) // gzip header, no name, OS unknown
	out.Write(first)
	for i := int64(1); i < n/seg; i++ {
		out.Write(again)
	}
	out.Write([]byte{0x03, 0x00}) // a final, empty fixed-Huffman block
	crc := uint32(0)
	for i := int64(0); i < n/seg; i++ {
		crc = crc32.Update(crc, crc32.IEEETable, zeros)
	}
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], crc)
	binary.LittleEndian.PutUint32(trailer[4:], uint32(n)) // ISIZE is the size mod 2^32
	out.Write(trailer[:])
	return out.Bytes()
}

func gzipBytes(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

// Protobuf wire format, by hand (profile.proto field numbers, techref 4.1): a field is a
// varint key (field<<3 | wire type) then a varint (type 0) or a length and bytes (type 2).
type pb []byte

func (m pb) varint(v uint64) pb {
	for v >= 0x80 {
		m = append(m, byte(v)|0x80)
		v >>= 7
	}
	return append(m, byte(v))
}

// int appends an int64/uint64 field; negative numbers take 10 bytes, as in protobuf.
func (m pb) int(field int, v int64) pb { return m.varint(uint64(field)<<3 | 0).varint(uint64(v)) }

func (m pb) bytes(field int, data []byte) pb {
	return append(m.varint(uint64(field)<<3|2).varint(uint64(len(data))), data...)
}

func (m pb) msg(field int, sub pb) pb { return m.bytes(field, sub) }

// badProfile is a heap-shaped Profile that decodes as protobuf but links to nothing that
// exists: string indices past the end of the table and negative, a sample naming a missing
// location, a location naming a missing function, a sample with the wrong number of values.
func badProfile() []byte {
	valueType := func(typ, unit int64) pb { return pb{}.int(1, typ).int(2, unit) }
	sample := func(loc int64, values ...int64) pb {
		s := pb{}.int(1, loc)
		for _, v := range values {
			s = s.int(2, v)
		}
		return s
	}
	location := func(id, function, line int64) pb {
		return pb{}.int(1, id).msg(4, pb{}.int(1, function).int(2, line))
	}

	var p pb
	p = p.msg(1, valueType(1, 2)).msg(1, valueType(3, 2))     // alloc_objects/count, ok
	p = p.msg(1, valueType(4000, 5)).msg(1, valueType(-7, 1)) // past the table, negative
	p = p.msg(2, sample(99, 1, 4096, 1, 4096))                // location 99: no such thing
	p = p.msg(2, sample(2, 1, 2, 3, 4, 5, 6, 7, 8, 9))        // 9 values for 4 types
	p = p.msg(2, sample(-5, -1, -1, -1, -1))                  // id 2^64-5
	p = p.msg(4, location(1, 77, 12))                         // function 77: no such thing
	p = p.msg(4, location(2, 1, -3))
	p = p.msg(5, pb{}.int(1, 1).int(2, 12345).int(3, -1).int(4, 1<<31)) // names nowhere
	for _, s := range []string{"", "alloc_objects", "count", "inuse_space", "bytes"} {
		p = p.bytes(6, []byte(s))
	}
	p = p.msg(11, valueType(999, 998)) // period_type past the table
	p = p.int(12, 524288)
	return p
}
