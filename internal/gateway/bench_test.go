package gateway

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skjold-dev/skjold/internal/config"
)

// fixedBackend answers every request with the same 64-byte body, parsing
// no more of the request than it must, so a benchmark measures the gateway
// rather than the backend.
func fixedBackend(tb testing.TB) *rawBackend {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 64\r\n\r\n" + strings.Repeat("b", 64))
	return newRawBackend(tb, func(c net.Conn) {
		br := bufio.NewReaderSize(c, 4<<10)
		for {
			if err := skipHead(br); err != nil {
				return
			}
			if _, err := c.Write(resp); err != nil {
				return
			}
		}
	})
}

// skipHead reads up to and including the empty line that ends a head.
func skipHead(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			return nil
		}
	}
}

// benchGateway runs a gateway for a benchmark until it ends.
func benchGateway(b *testing.B, yaml string) string {
	b.Helper()
	cfg, err := config.Parse("bench.yaml", []byte(yaml))
	if err != nil {
		b.Fatal(err)
	}
	g := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: prometheus.NewRegistry()})
	if _, err := g.Apply(cfg); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx) }()
	b.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			b.Error("gateway did not stop")
		}
	})
	for _, a := range g.Addrs() {
		return a
	}
	b.Fatal("no listener")
	return ""
}

// BenchmarkProxyEndToEnd measures one proxied GET over loopback: keepalive
// connections on both sides, a 64-byte answer. Client and backend are raw
// sockets that allocate nothing per request, so allocs/op are the
// gateway's.
func BenchmarkProxyEndToEnd(b *testing.B) {
	be := fixedBackend(b)
	addr := benchGateway(b, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}], keepalive: {idle: 256}}}
routes: [{match: {path_prefix: /api/}, upstream: app}]
`, be.addr()))
	req := []byte("GET /api/v1/users/42?expand=orders HTTP/1.1\r\nHost: bench.example.com\r\n" +
		"User-Agent: skjold-bench\r\nAccept: application/json\r\nX-Request-ID: bench-1\r\n\r\n")
	want := []byte("HTTP/1.1 200 ")
	b.ReportAllocs()
	// Sixteen connections per core keep the gateway busy rather than
	// waiting on loopback round trips.
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReaderSize(c, 4<<10)
		body := make([]byte, 64)
		for pb.Next() {
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			status, err := br.Peek(len(want))
			if err != nil || !bytes.Equal(status, want) {
				b.Errorf("status line %q: %v", status, err)
				return
			}
			if err := skipHead(br); err != nil {
				b.Error(err)
				return
			}
			if _, err := io.ReadFull(br, body); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
