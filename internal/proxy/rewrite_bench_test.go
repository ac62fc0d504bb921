package proxy

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/skjold-dev/skjold/internal/h1"
	"github.com/skjold-dev/skjold/internal/upstream"
)

// BenchmarkHeaderRewrite measures writing a browser-like request to the
// upstream: hop-by-hop headers dropped, the prefix stripped, the
// X-Forwarded-* and X-Request-ID headers added.
func BenchmarkHeaderRewrite(b *testing.B) {
	head := "GET /api/v1/orders/42?expand=items HTTP/1.1\r\n" +
		"Host: shop.example.com\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
		"Accept: application/json\r\n" +
		"Accept-Language: en-GB,en;q=0.5\r\n" +
		"Accept-Encoding: gzip, deflate, br\r\n" +
		"Connection: keep-alive\r\n" +
		"Keep-Alive: timeout=5\r\n" +
		"X-Forwarded-For: 203.0.113.7\r\n" +
		"Cookie: session=0123456789abcdef\r\n\r\n"
	var ex Exchange
	if err := h1.ParseRequest([]byte(head), h1.Limits{MaxURI: 8 << 10}, &ex.Req); err != nil {
		b.Fatal(err)
	}
	ex.Path, ex.PrefixLen = ex.Req.Path, len("/api")
	ex.RemoteIP, ex.Proto = "198.51.100.23", "http"
	ex.RequestID = []byte("4bf92f3577b34da6a3ce929d0e0e4736")
	r := &Route{StripPrefix: true}
	var out bytes.Buffer
	c := &upstream.Conn{BW: bufio.NewWriterSize(&out, 8<<10)}
	p := New()

	if err := p.writeRequest(&ex, r, c); err != nil {
		b.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"GET /v1/orders/42?expand=items HTTP/1.1\r\nHost: shop.example.com\r\n",
		"X-Forwarded-For: 203.0.113.7, 198.51.100.23\r\n",
		"X-Forwarded-Proto: http\r\nX-Forwarded-Host: shop.example.com\r\nX-Request-ID: 4bf92f3577b34da6a3ce929d0e0e4736\r\n",
	} {
		if !strings.Contains(got, want) {
			b.Fatalf("rewritten head lacks %q:\n%s", want, got)
		}
	}
	for _, gone := range []string{"Connection:", "Keep-Alive:"} {
		if strings.Contains(got, gone) {
			b.Fatalf("rewritten head kept the hop-by-hop %q:\n%s", gone, got)
		}
	}

	b.ReportAllocs()
	b.SetBytes(int64(out.Len()))
	for b.Loop() {
		out.Reset()
		p.writeRequest(&ex, r, c)
	}
}
