// Command backend is the benchmark's upstream: an HTTP/1.1 server on a raw
// net.Listener that answers every request with the same fixed-size body. It
// does as little as an HTTP server can (no header maps, no per-request
// allocations, pipelined answers flushed together) so that in a proxy
// benchmark the proxy, not the backend, is what is measured.
//
//	backend -listen 127.0.0.1:8000 -body-bytes 64
//
// It prints the address it listens on, then serves until SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on, host:port")
	size := flag.Int("body-bytes", 64, "size of the response body")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *listen, *size); err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr string, size int) error {
	if size < 0 {
		return fmt.Errorf("-body-bytes %d: must be 0 or more", size)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for benchmark traffic: %w", err)
	}
	fmt.Println(ln.Addr())
	s := NewServer(size)
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	err = s.Serve(ln)
	if ctx.Err() != nil {
		return nil
	}
	return err
}
