package gateway

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recordingBackend counts the requests that reach it and keeps the
// request-target and body of the last one.
type recordingBackend struct {
	srv  *httptest.Server
	hits atomic.Int64

	mu      sync.Mutex
	lastURI string
	lastErr error
	lastLen int
}

func newRecordingBackend(t *testing.T) *recordingBackend {
	t.Helper()
	b := &recordingBackend{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		body, err := io.ReadAll(r.Body)
		b.mu.Lock()
		b.lastURI, b.lastErr, b.lastLen = r.RequestURI, err, len(body)
		b.mu.Unlock()
		fmt.Fprintf(w, "saw %s", r.RequestURI)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *recordingBackend) addr() string { return hostPort(b.srv.URL) }

func (b *recordingBackend) last() (uri string, bodyLen int, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lastURI, b.lastLen, b.lastErr
}

// Requests whose framing, head or path is malformed or hostile are answered
// by the gateway itself and never reach the backend.
func TestMalformedRequestsNeverReachTheBackend(t *testing.T) {
	be := newRecordingBackend(t)
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0", max_uri_bytes: 64, max_header_bytes: 2KiB}}
upstreams: {app: {targets: [{address: %q}]}}
routes:
  - {match: {path_prefix: /api/v1/}, upstream: app}
`, be.addr()))

	const host = "Host: gw.test\r\n"
	tests := []struct {
		name string
		req  string
		want int
	}{
		{"content-length with transfer-encoding",
			"POST /api/v1/x HTTP/1.1\r\n" + host + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"transfer-encoding before content-length",
			"POST /api/v1/x HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400},
		{"two different content-lengths",
			"POST /api/v1/x HTTP/1.1\r\n" + host + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400},
		{"content-length list that disagrees",
			"POST /api/v1/x HTTP/1.1\r\n" + host + "Content-Length: 5, 6\r\n\r\nhello!", 400},
		{"signed content-length",
			"POST /api/v1/x HTTP/1.1\r\n" + host + "Content-Length: +5\r\n\r\nhello", 400},
		{"chunked followed by identity",
			"POST /api/v1/x HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400},
		{"identity followed by chunked",
			"POST /api/v1/x HTTP/1.1\r\n" + host + "Transfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n", 400},
		{"xchunked",
			"POST /api/v1/x HTTP/1.1\r\n" + host + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400},
		{"space before the colon",
			"POST /api/v1/x HTTP/1.1\r\n" + host + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400},
		{"repeated transfer-encoding",
			"POST /api/v1/x HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"transfer-encoding in HTTP/1.0",
			"POST /api/v1/x HTTP/1.0\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"vertical tab in transfer-encoding",
			"POST /api/v1/x HTTP/1.1\r\n" + host + "Transfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n", 400},
		{"missing host in HTTP/1.1",
			"GET /api/v1/x HTTP/1.1\r\n\r\n", 400},
		{"two hosts",
			"GET /api/v1/x HTTP/1.1\r\n" + host + "Host: other.test\r\n\r\n", 400},
		{"host with userinfo",
			"GET /api/v1/x HTTP/1.1\r\nHost: user@gw.test\r\n\r\n", 400},
		{"oversized header",
			"GET /api/v1/x HTTP/1.1\r\n" + host + "X-Big: " + strings.Repeat("a", 4<<10) + "\r\n\r\n", 431},
		{"oversized request target",
			"GET /api/v1/" + strings.Repeat("a", 100) + " HTTP/1.1\r\n" + host + "\r\n", 414},
		{"bare CR in a header value",
			"GET /api/v1/x HTTP/1.1\r\n" + host + "X-A: a\rb\r\n\r\n", 400},
		{"bare CR ending a header line",
			"GET /api/v1/x HTTP/1.1\r\n" + host + "X-A: a\r\r\n\r\n", 400},
		{"bare CR in the request line",
			"GET /api/v1/x\rHTTP/1.1\r\n" + host + "\r\n", 400},
		{"obs-fold",
			"GET /api/v1/x HTTP/1.1\r\n" + host + "X-A: a\r\n b\r\n\r\n", 400},
		{"obs-fold with a tab",
			"GET /api/v1/x HTTP/1.1\r\n" + host + "X-A: a\r\n\tb\r\n\r\n", 400},
		{"HTTP/2.0 request line",
			"GET /api/v1/x HTTP/2.0\r\n" + host + "\r\n", 505},
		{"garbage version",
			"GET /api/v1/x HTTP/1.1x\r\n" + host + "\r\n", 400},
		{"dot-segments climbing above the root",
			"GET /api/v1/../../../etc/passwd HTTP/1.1\r\n" + host + "\r\n", 400},
		{"dot-segments leaving the route's prefix",
			"GET /api/v1/../../etc/passwd HTTP/1.1\r\n" + host + "\r\n", 404},
		{"encoded dot-segments leaving the route's prefix",
			"GET /api/v1/%2e%2e/admin HTTP/1.1\r\n" + host + "\r\n", 404},
		{"upper-case encoded dot-segments leaving the route's prefix",
			"GET /api/v1/%2E%2E/%2e%2E/admin HTTP/1.1\r\n" + host + "\r\n", 404},
		{"encoded dot-segments climbing above the root",
			"GET /api/v1/%2e%2e/%2e%2e/%2e%2e/etc HTTP/1.1\r\n" + host + "\r\n", 400},
		{"dots with an encoded slash",
			"GET /api/v1/..%2fadmin HTTP/1.1\r\n" + host + "\r\n", 400},
		{"dots with a backslash",
			"GET /api/v1/..\\admin HTTP/1.1\r\n" + host + "\r\n", 400},
		{"absolute-form target leaving the prefix",
			"GET http://gw.test/api/v1/../admin HTTP/1.1\r\n" + host + "\r\n", 404},
		{"prefix without a segment boundary",
			"GET /api/v1evil HTTP/1.1\r\n" + host + "\r\n", 404},
		{"parent of the prefix",
			"GET /api HTTP/1.1\r\n" + host + "\r\n", 404},
		{"fragment in the target",
			"GET /api/v1/x#frag HTTP/1.1\r\n" + host + "\r\n", 400},
		{"space in the target",
			"GET /api/v1/a b HTTP/1.1\r\n" + host + "\r\n", 400},
		{"unsupported expectation",
			"GET /api/v1/x HTTP/1.1\r\n" + host + "Expect: 200-ok\r\n\r\n", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := rawRequest(t, gw.addr, tt.req)
			if code != tt.want {
				t.Errorf("status %d, want %d (body %q)", code, tt.want, body)
			}
			if !strings.Contains(body, `"error"`) {
				t.Errorf("answer is not a JSON error: %q", body)
			}
		})
	}
	if n := be.hits.Load(); n != 0 {
		uri, _, _ := be.last()
		t.Fatalf("%d malformed requests reached the backend (last %q)", n, uri)
	}

	// The same gateway still forwards a well-formed request.
	code, body := rawRequest(t, gw.addr, "GET /api/v1/ok HTTP/1.1\r\n"+host+"Connection: close\r\n\r\n")
	if code != 200 || body != "saw /api/v1/ok" {
		t.Fatalf("well-formed request: %d %q", code, body)
	}
}

// A path with dot-segments that stays inside the route's prefix is
// forwarded in its cleaned form, so the backend never sees a path that could
// be resolved to somewhere outside the prefix.
func TestDotSegmentsAreForwardedCleaned(t *testing.T) {
	be := newRecordingBackend(t)
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes:
  - {match: {path_prefix: /api/v1/}, upstream: app}
`, be.addr()))
	tests := []struct{ target, want string }{
		{"/api/v1/x/%2e%2e/admin", "/api/v1/admin"},
		{"/api/v1/x/%2E%2e/admin?q=%2e%2e", "/api/v1/admin?q=%2e%2e"},
		{"/api/v1/a/b/../../c", "/api/v1/c"},
		{"/api/v1/./c", "/api/v1/c"},
		{"/api//v1//c", "/api/v1/c"},
		{"/api/v1/x/..", "/api/v1/"},
		{"/api/v1/%2fkeys", "/api/v1/%2fkeys"},
	}
	for _, tt := range tests {
		code, body := rawRequest(t, gw.addr, "GET "+tt.target+" HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n")
		uri, _, _ := be.last()
		if code != 200 || uri != tt.want {
			t.Errorf("%s: %d %q, backend saw %q; want %q", tt.target, code, body, uri, tt.want)
		}
		if !strings.HasPrefix(uri, "/api/v1/") {
			t.Errorf("%s reached the backend as %q, outside /api/v1/", tt.target, uri)
		}
	}
}

// A client that sends its head a byte at a time is cut off after
// read_header_timeout, and a client on another connection is served
// normally meanwhile.
func TestSlowHeadIsCutWhileOthersAreServed(t *testing.T) {
	be := newRecordingBackend(t)
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0", read_header_timeout: 300ms}}
upstreams: {app: {targets: [{address: %q}]}}
routes:
  - {match: {path_prefix: /}, upstream: app}
`, be.addr()))

	slow, err := net.Dial("tcp", gw.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	type result struct {
		sent    int
		elapsed time.Duration
		answer  string
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		head := "GET /slow HTTP/1.1\r\nHost: gw.test\r\nX-Padding: " + strings.Repeat("p", 40) + "\r\n\r\n"
		sent := 0
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for ; sent < len(head); sent++ {
			if _, err := slow.Write([]byte{head[sent]}); err != nil {
				break
			}
			<-tick.C
			// Stop trickling once the gateway has answered or closed.
			slow.SetReadDeadline(time.Now().Add(time.Millisecond))
			var one [1]byte
			if n, err := slow.Read(one[:]); n > 0 || err != nil && !isTimeoutErr(err) {
				slow.SetReadDeadline(time.Now().Add(2 * time.Second))
				rest, _ := io.ReadAll(slow)
				done <- result{sent, time.Since(start), string(one[:n]) + string(rest)}
				return
			}
		}
		done <- result{sent, time.Since(start), "whole head sent"}
	}()

	// Meanwhile, a normal client is served promptly, several times.
	c := newClient()
	for i := 0; i < 5; i++ {
		t0 := time.Now()
		code, body, _ := get(t, c, "http://"+gw.addr+"/fast")
		if code != 200 || body != "saw /fast" {
			t.Fatalf("fast client: %d %q", code, body)
		}
		if d := time.Since(t0); d > 200*time.Millisecond {
			t.Errorf("fast client took %v beside a slow one", d)
		}
	}

	r := <-done
	if r.answer == "whole head sent" {
		t.Fatalf("the gateway waited for the whole trickled head (%d bytes over %v)", r.sent, r.elapsed)
	}
	if r.elapsed > time.Second {
		t.Errorf("slow client cut after %v, want about 300ms", r.elapsed)
	}
	if r.answer != "" && !strings.HasPrefix(r.answer, "HTTP/1.1 408 ") {
		t.Errorf("slow client got %q, want 408 or a close", r.answer)
	}
	if uri, _, _ := be.last(); uri == "/slow" {
		t.Error("the trickled request reached the backend")
	}
}

func isTimeoutErr(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// Bodies over max_body_bytes get 413, whether the length is announced or
// found out while reading a chunked body.
func TestOversizedBodyGets413(t *testing.T) {
	be := newRecordingBackend(t)
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes:
  - {match: {path_prefix: /buffered/}, upstream: app, max_body_bytes: 1KiB}
  - {match: {path_prefix: /streamed/}, upstream: app, max_body_bytes: 4KiB, retry: {buffer_bytes: 1KiB}}
`, be.addr()))
	chunked := func(n, chunk int) string {
		var b strings.Builder
		for n > 0 {
			c := min(n, chunk)
			fmt.Fprintf(&b, "%x\r\n%s\r\n", c, strings.Repeat("b", c))
			n -= c
		}
		b.WriteString("0\r\n\r\n")
		return b.String()
	}
	const head = " HTTP/1.1\r\nHost: gw.test\r\n"
	tests := []struct {
		name       string
		req        string
		mayForward bool // the head may reach the backend before the limit is found
	}{
		{"content-length over the limit",
			"POST /buffered/x" + head + "Content-Length: 2048\r\n\r\n" + strings.Repeat("b", 2048), false},
		{"content-length over the limit with expect 100-continue",
			"POST /buffered/x" + head + "Content-Length: 2048\r\nExpect: 100-continue\r\n\r\n", false},
		{"chunked body over the limit",
			"POST /buffered/x" + head + "Transfer-Encoding: chunked\r\n\r\n" + chunked(2048, 512), false},
		{"chunked body over the limit in one chunk",
			"POST /buffered/x" + head + "Transfer-Encoding: chunked\r\n\r\n" + chunked(2048, 2048), false},
		{"streamed chunked body over the limit",
			"POST /streamed/x" + head + "Transfer-Encoding: chunked\r\n\r\n" + chunked(8192, 512), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := be.hits.Load()
			code, body := rawRequest(t, gw.addr, tt.req)
			if code != 413 || !strings.Contains(body, `"error"`) {
				t.Errorf("status %d %q, want 413 with a JSON error", code, body)
			}
			if !tt.mayForward && be.hits.Load() != before {
				t.Error("the oversized request reached the backend")
			}
			if tt.mayForward && be.hits.Load() != before {
				// The head went ahead of the body: the backend must not
				// see a complete request.
				waitFor(t, time.Second, "backend to finish reading", func() bool {
					_, _, err := be.last()
					return err != nil
				})
			}
		})
	}

	// Bodies within the limit pass, announced or chunked.
	for _, req := range []string{
		"POST /buffered/x" + head + "Connection: close\r\nContent-Length: 1024\r\n\r\n" + strings.Repeat("b", 1024),
		"POST /streamed/x" + head + "Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(4096, 1000),
	} {
		if code, body := rawRequest(t, gw.addr, req); code != 200 {
			t.Errorf("body within the limit: %d %q", code, body)
		}
	}
}
