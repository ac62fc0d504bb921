// Command handshakes measures how many TLS connections per second a server
// accepts: each connection is dialled, handshaken with TLS 1.3 and X25519,
// sends one GET with Connection: close, reads the answer and is closed.
// With -resume each connection resumes the session of the one before it on
// the same worker (a session ticket), so only the first of each worker is a
// full handshake. wrk cannot do either: it keeps its connections open, and
// OpenSSL's client in wrk neither resumes nor lets one choose the key type.
//
//	handshakes -addr 127.0.0.1:8443 -c 32 -d 8s -key ecdsa
//	handshakes -addr 127.0.0.1:8443 -c 32 -d 8s -key ecdsa -resume
//
// When it ends it prints one line in the format of bench/wrk-report.lua,
// with resumed= added (how many handshakes resumed a session):
//
//	BENCH requests=N duration_us=N p50_us=N p99_us=N errors=N non2xx=N rps=N resumed=N
//
// It exits 1 when no connection succeeded.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	var cfg Config
	flag.StringVar(&cfg.Addr, "addr", "", "server host:port (required)")
	flag.StringVar(&cfg.ServerName, "sni", "bench.test", "SNI name sent in the ClientHello")
	flag.StringVar(&cfg.Path, "path", "/", "path requested on each connection")
	flag.IntVar(&cfg.Conns, "c", 32, "workers, each with one connection at a time")
	flag.DurationVar(&cfg.Duration, "d", 8*time.Second, "how long new connections are started")
	flag.BoolVar(&cfg.Resume, "resume", false, "resume each worker's previous session (session tickets)")
	key := flag.String("key", "", "the server's certificate must have this key: ecdsa or rsa (default: any)")
	flag.Parse()
	if cfg.Addr == "" {
		fmt.Fprintln(os.Stderr, "handshakes: -addr is required")
		os.Exit(2)
	}
	var err error
	if cfg.Key, err = ParseKeyType(*key); err != nil {
		fmt.Fprintln(os.Stderr, "handshakes: -key:", err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "handshakes:", err)
		os.Exit(2)
	}
	if res.FirstErr != nil {
		fmt.Printf("first error: %v\n", res.FirstErr)
	}
	fmt.Println(res.BenchLine())
	if res.Requests == 0 {
		os.Exit(1)
	}
}
