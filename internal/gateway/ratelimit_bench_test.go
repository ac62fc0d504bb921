package gateway

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
)

// BenchmarkRateLimit measures BenchmarkProxyEndToEnd's request on a route
// without a rule, with a client_ip rule that never trips, and with a
// header key that takes a new value on every request (1M distinct keys
// over the run, past the 100 000-key cap: every request evicts one).
// Issue 16 asks for both rules at ≥ 0.95× the route without one.
func BenchmarkRateLimit(b *testing.B) {
	for _, bc := range []struct{ name, rule string }{
		{"no_rule", ""},
		// A bucket that fills in 100 ms: far more than the benchmark sends,
		// and room for the clock reads of concurrent requests to differ.
		{"never_trips", ", rate_limit: {rate: 1000000/s, burst: 100000}"},
		{"1M_keys", ", rate_limit: {rate: 1/h, burst: 100000, key: 'header:X-Api-Key'}"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			be := fixedBackend(b)
			addr := benchGateway(b, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
access_log: {enabled: false}
upstreams: {app: {targets: [{address: %q}], keepalive: {idle: 256}}}
routes: [{match: {path_prefix: /api/}, upstream: app%s}]
`, be.addr(), bc.rule))
			benchRequests(b, addr)
		})
	}
}

// benchRequests sends GETs over 32 keepalive connections, each with an
// X-Api-Key that counts up through a million values, rewritten in place.
func benchRequests(b *testing.B, addr string) {
	const keyDigits = 7
	tmpl := []byte("GET /api/v1/users/42?expand=orders HTTP/1.1\r\nHost: bench.example.com\r\n" +
		"User-Agent: skjold-bench\r\nAccept: application/json\r\nX-Api-Key: k0000000\r\n\r\n")
	at := bytes.Index(tmpl, []byte("k0000000")) + 1
	want := []byte("HTTP/1.1 200 ")
	var seq atomic.Uint64
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		req := bytes.Clone(tmpl)
		br := bufio.NewReaderSize(c, 4<<10)
		body := make([]byte, 64)
		var num [20]byte
		for pb.Next() {
			n := strconv.AppendUint(num[:0], seq.Add(1)%1_000_000, 10)
			copy(req[at:at+keyDigits], "0000000")
			copy(req[at+keyDigits-len(n):], n)
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
