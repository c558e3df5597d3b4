// SPDX-License-Identifier: MIT
// The Go net/http counterpart of examples/http_server.c, for comparing
// requests per second in the same guest (tests/user/net_http.c drives
// either): GET / says hello, GET /sum/N returns 1 + ... + N, anything
// else 404; SIGINT or SIGTERM shuts it down gracefully and it prints
// "shut down gracefully after N requests".
//
//	go build -o go_http_server .   (Go 1.23, the standard library only)
//	go_http_server [-p port]
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	port := flag.Int("p", 8080, "port")
	readTimeout := flag.Int("r", 5, "read timeout, seconds")
	flag.Parse()
	var requests atomic.Int64
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "text/plain")
		if r.Method != http.MethodGet {
			w.Header().Set("Connection", "close")
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return
		}
		if r.URL.Path == "/" {
			fmt.Fprint(w, "hello\n")
			return
		}
		if s, ok := strings.CutPrefix(r.URL.Path, "/sum/"); ok {
			if n, err := strconv.ParseUint(s, 10, 64); err == nil && n <= 1000000 {
				var sum uint64
				for i := uint64(1); i <= n; i++ {
					sum += i
				}
				fmt.Fprintf(w, "%d\n", sum)
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "not found\n")
	})
	srv := &http.Server{
		Addr:         fmt.Sprintf("127.0.0.1:%d", *port),
		Handler:      handler,
		ReadTimeout:  time.Duration(*readTimeout) * time.Second,
		WriteTimeout: 5 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go_http_server:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", srv.Addr)
	go srv.Serve(ln)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		fmt.Printf("shutdown cut short after %d requests\n", requests.Load())
		os.Exit(1)
	}
	fmt.Printf("shut down gracefully after %d requests\n", requests.Load())
}
