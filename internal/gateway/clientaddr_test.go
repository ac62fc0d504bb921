package gateway

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// logBuffer collects access log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// clients returns the "client" field of every access log line so far.
func (l *logBuffer) clients(t *testing.T) []string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		if line == "" {
			continue
		}
		var rec struct{ Client string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("access log line %q: %v", line, err)
		}
		out = append(out, rec.Client)
	}
	return out
}

func withAccessLog(l *logBuffer) func(*Gateway) {
	return func(g *Gateway) { g.accessLog = slog.New(slog.NewJSONHandler(l, nil)) }
}

// xffBackend answers with the X-Forwarded-For it was sent.
func xffBackend(t *testing.T) string {
	be := newRawBackend(t, scripted(func(r *http.Request, _ string) (string, bool) {
		v := r.Header.Get("X-Forwarded-For")
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(v), v), false
	}))
	return be.addr()
}

func clientAddrConfig(backend, listenerExtra string) string {
	return fmt.Sprintf(`
listeners:
  public:
    address: "127.0.0.1:0"
    read_header_timeout: 300ms
%supstreams: {app: {targets: [{address: %q}]}}
routes:
  - {match: {path_prefix: /}, upstream: app, rate_limit: {rate: 1/m, burst: 1}}
`, listenerExtra, backend)
}

// One resolved client address: the rate limit counts it, the access log
// names it; and only a trusted peer's header is believed.
func TestTrustedProxyNamesTheClientForRateLimitsAndLogs(t *testing.T) {
	for _, tc := range []struct {
		name, listener string
		want           []int
		logged         []string
	}{
		{"trusted loopback, x-forwarded-for", "    trusted_proxies: [127.0.0.0/8]\n",
			[]int{200, 200, 429}, []string{"203.0.113.1", "203.0.113.2", "203.0.113.1"}},
		{"trusted loopback, forwarded", "    trusted_proxies: [127.0.0.1]\n    forwarded_header: forwarded\n",
			[]int{200, 200, 429}, []string{"203.0.113.1", "203.0.113.2", "203.0.113.1"}},
		{"loopback not trusted", "    trusted_proxies: [10.0.0.0/8]\n",
			[]int{200, 429, 429}, []string{"127.0.0.1", "127.0.0.1", "127.0.0.1"}},
		{"nobody trusted", "",
			[]int{200, 429, 429}, []string{"127.0.0.1", "127.0.0.1", "127.0.0.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs logBuffer
			gw := startGateway(t, clientAddrConfig(xffBackend(t), tc.listener), withAccessLog(&logs))
			rc := dialRaw(t, gw.addr)
			for i, client := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.1"} {
				h := "X-Forwarded-For: 198.51.100.99, " + client + "\r\nForwarded: for=198.51.100.99, for=\"" + client + ":4711\"\r\n"
				if r := getWith(rc, "/x", h); r.status != tc.want[i] {
					t.Errorf("request %d as %s: status %d, want %d", i, client, r.status, tc.want[i])
				}
			}
			waitFor(t, 2*time.Second, "the access log lines", func() bool { return len(logs.clients(t)) == 3 })
			if got := logs.clients(t); strings.Join(got, " ") != strings.Join(tc.logged, " ") {
				t.Errorf("access log clients %q, want %q", got, tc.logged)
			}
		})
	}
}

func proxyV2(src string, port uint16) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c")
	b = append(b, net.ParseIP(src).To4()...)
	b = append(b, 127, 0, 0, 1)
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(b, port), 8080)
}

func TestProxyProtocolHeaderNamesThePeer(t *testing.T) {
	backend := xffBackend(t)
	for _, tc := range []struct {
		name, listener, header string
		wantXFF, wantLogged    string
	}{
		{"v1", "", "PROXY TCP4 203.0.113.7 127.0.0.1 50000 8080\r\n", "203.0.113.7", "203.0.113.7"},
		{"v2", "", string(proxyV2("203.0.113.8", 50001)), "203.0.113.8", "203.0.113.8"},
		{"v1 unknown keeps the socket's", "", "PROXY UNKNOWN\r\n", "127.0.0.1", "127.0.0.1"},
		{"sender not trusted", "    trusted_proxies: [10.0.0.0/8]\n", "PROXY TCP4 203.0.113.7 127.0.0.1 50000 8080\r\n", "127.0.0.1", "127.0.0.1"},
		// The balancer is trusted, and so is the proxy it names, whose
		// X-Forwarded-For then names the client.
		{"then a trusted forwarded header", "    trusted_proxies: [127.0.0.1, 203.0.113.0/24]\n",
			"PROXY TCP4 203.0.113.7 127.0.0.1 50000 8080\r\n", "203.0.113.7", "198.51.100.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs logBuffer
			gw := startGateway(t, clientAddrConfig(backend, "    proxy_protocol: true\n"+tc.listener), withAccessLog(&logs))
			rc := dialRaw(t, gw.addr)
			// The header and the request in one segment: the request
			// bytes read with the header must not be lost.
			rc.send(tc.header + "GET /x HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 198.51.100.5\r\n\r\n")
			r := rc.read("GET")
			if want := "198.51.100.5, " + tc.wantXFF; r.status != 200 || r.body != want {
				t.Errorf("status %d, backend saw X-Forwarded-For %q, want %q", r.status, r.body, want)
			}
			waitFor(t, 2*time.Second, "the access log line", func() bool { return len(logs.clients(t)) > 0 })
			if got := logs.clients(t); len(got) != 1 || got[0] != tc.wantLogged {
				t.Errorf("access log clients %q, want [%s]", got, tc.wantLogged)
			}
		})
	}
}

// Connections that do not start with a valid header in time are closed
// without an answer; the listener goes on serving the next one.
func TestProxyProtocolListenerClosesConnectionsWithoutAHeader(t *testing.T) {
	gw := startGateway(t, clientAddrConfig(xffBackend(t), "    proxy_protocol: true\n"))
	for _, tc := range []struct{ name, send string }{
		{"plain HTTP", "GET /x HTTP/1.1\r\nHost: t\r\n\r\n"},
		{"malformed v1", "PROXY TCP4 203.0.113.7 nonsense\r\nGET /x HTTP/1.1\r\nHost: t\r\n\r\n"},
		{"stalls mid-header", "PROXY TCP4 203.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, gw.addr)
			start := time.Now()
			rc.send(tc.send)
			if !rc.closed() {
				t.Fatal("connection left open")
			}
			if d := time.Since(start); d > 1500*time.Millisecond {
				t.Errorf("closed after %v; the read_header_timeout is 300ms", d)
			}
		})
	}
	rc := dialRaw(t, gw.addr)
	rc.send("PROXY TCP4 203.0.113.7 127.0.0.1 50000 8080\r\nGET /x HTTP/1.1\r\nHost: t\r\n\r\n")
	if r := rc.read("GET"); r.status != 200 {
		t.Errorf("a good connection after the bad ones: status %d", r.status)
	}
}

// proxyFirstConn sends a PROXY header in the same write as the first TLS
// record, so the handshake's first bytes arrive with the header.
type proxyFirstConn struct {
	net.Conn
	header []byte
}

func (c *proxyFirstConn) Write(b []byte) (int, error) {
	if c.header != nil {
		h := c.header
		c.header = nil
		if _, err := c.Conn.Write(append(h, b...)); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// The TLS handshake reads what came with the PROXY header first.
func TestProxyProtocolBeforeTLS(t *testing.T) {
	f := startTLSGateway(t, "    proxy_protocol: true\n")
	nc, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	tc := tls.Client(&proxyFirstConn{Conn: nc, header: []byte("PROXY TCP4 203.0.113.9 127.0.0.1 50000 443\r\n")},
		&tls.Config{ServerName: "api.example.com", RootCAs: f.ca.Pool()})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake after a PROXY header: %v", err)
	}
	rc := &rawClient{t: t, c: tc, br: bufio.NewReader(tc)}
	rc.send("GET /x HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
	if r := rc.read("GET"); r.status != 200 || r.body != "proto=https path=/x" {
		t.Fatalf("status %d body %q", r.status, r.body)
	}
}
