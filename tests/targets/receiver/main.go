// receiver is a webhook receiver for memwatch's alert delivery tests: it records every
// request it is sent and can be told to fail or stall first.
//
//	receiver [-addr 127.0.0.1:0] [-fail N] [-status CODE] [-stall DUR] -out FILE
//
// It prints "listening on HOST:PORT", then appends one line to FILE per request: a JSON
// object {"n": N, "method", "path", "content_type", "status", "body"} where body is the
// request body as a string.  The first -fail requests are answered with -status (default
// 500) after sleeping -stall; the rest with 200.  Standard library only.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen on `HOST:PORT`")
	fail := flag.Int("fail", 0, "answer the first `N` requests with -status")
	status := flag.Int("status", http.StatusInternalServerError, "the failing requests' HTTP `CODE`")
	stall := flag.Duration("stall", 0, "sleep this long before answering a failing request")
	out := flag.String("out", "", "append one JSON line per request to `FILE`")
	flag.Parse()
	if *out == "" {
		log.Fatal("receiver: -out FILE is required")
	}
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	var mu sync.Mutex
	n := 0
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		mu.Lock()
		n++
		seq := n
		mu.Unlock()
		code := http.StatusOK
		if seq <= *fail {
			code = *status
			time.Sleep(*stall)
		}
		line, _ := json.Marshal(map[string]any{
			"n": seq, "method": r.Method, "path": r.URL.Path,
			"content_type": r.Header.Get("Content-Type"), "status": code, "body": string(body),
		})
		mu.Lock()
		f.Write(append(line, '\n'))
		mu.Unlock()
		w.WriteHeader(code)
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	log.Fatal(http.Serve(ln, nil))
}
