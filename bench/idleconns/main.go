// Command idleconns opens many client keepalive connections to an HTTP/1.1
// server, sends one request on each and reads its answer, then holds them
// all open and idle, so that what idle connections cost the server (its
// resident memory, its file descriptors) can be measured.
//
//	idleconns -addr 127.0.0.1:8080 -n 10000 -hold 2m
//
// It prints "ready OPEN FAILED" once every connection has been tried, then
// holds the open ones until SIGINT or SIGTERM, or until -hold has passed.
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
	flag.StringVar(&cfg.Addr, "addr", "", "server address, host:port (required)")
	flag.IntVar(&cfg.Conns, "n", 10000, "connections to open")
	flag.IntVar(&cfg.Parallel, "parallel", 64, "connections being opened at once")
	flag.StringVar(&cfg.Path, "path", "/", "path to request on each connection")
	hold := flag.Duration("hold", 2*time.Minute, "longest time to hold the connections")
	flag.Parse()
	if cfg.Addr == "" {
		fmt.Fprintln(os.Stderr, "idleconns: -addr is required")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *hold)
	defer cancel()
	err := Hold(ctx, cfg, func(r Result) {
		fmt.Printf("ready %d %d\n", r.Open, r.Failed)
		if r.FirstErr != nil {
			fmt.Printf("first error: %v\n", r.FirstErr)
		}
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "idleconns:", err)
		os.Exit(1)
	}
}
