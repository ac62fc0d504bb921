package gateway

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/skjold-dev/skjold/internal/tcptest"
)

// Connect errors count against a target even when the route retries only
// on a status: passive health ejects it, as nginx always counts errors.
func TestRefusedConnectionsCountWhenTheRouteRetriesOnlyOnAStatus(t *testing.T) {
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams:
  app:
    targets: [{address: %q}]
    passive_health: {max_fails: 3, fail_timeout: 30s}
    breaker: {consecutive_failures: 5, open_for: 30s}
routes: [{match: {path_prefix: /}, upstream: app, retry: {on: [http_503]}}]
`, tcptest.ClosedAddr(t)))
	c := newClient()
	statuses := map[int]int{}
	for range 8 {
		status, _, _ := get(t, c, "http://"+gw.addr+"/")
		statuses[status]++
	}
	us := upstreamStatus(t, gw, "app")
	if tg := us.Targets[0]; tg.Passive != "down" || tg.Failures < 3 {
		t.Errorf("target after refused connections: passive %s, %d failures; want down after 3", tg.Passive, tg.Failures)
	}
	if statuses[502] == 0 || statuses[503] == 0 {
		t.Errorf("answers %v: want 502 while connecting failed, then 503 once the target was out", statuses)
	}
}

// With passive health off, the breaker still learns of refused
// connections on a route that retries only on a status: it opens, and the
// requests after that fail fast.
func TestRefusedConnectionsOpenTheBreakerWhenTheRouteRetriesOnlyOnAStatus(t *testing.T) {
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams:
  app:
    targets: [{address: %q}]
    passive_health: {max_fails: 0}
    breaker: {consecutive_failures: 3, open_for: 30s}
routes: [{match: {path_prefix: /}, upstream: app, retry: {on: [http_503]}}]
`, tcptest.ClosedAddr(t)))
	c := newClient()
	var statuses []int
	for range 6 {
		status, _, _ := get(t, c, "http://"+gw.addr+"/")
		statuses = append(statuses, status)
	}
	want := []int{502, 502, 502, 503, 503, 503}
	if fmt.Sprint(statuses) != fmt.Sprint(want) {
		t.Errorf("answers %v, want %v: the breaker opens after 3 refused connections", statuses, want)
	}
	if b := upstreamStatus(t, gw, "app").Breaker; b == nil || b.State != "open" {
		t.Errorf("breaker %+v, want open", b)
	}
}

// Unmatched requests get a request id like every other answer.
func TestUnmatchedRequestCarriesARequestID(t *testing.T) {
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /api/}, upstream: app}]
`, tcptest.ClosedAddr(t)))
	for _, tt := range []struct{ name, extra, want string }{
		{"made up", "", ""},
		{"the client's", "X-Request-ID: abc-123\r\n", "abc-123"},
	} {
		rc := dialRaw(t, gw.addr)
		rc.send("GET /elsewhere HTTP/1.1\r\nHost: gw.test\r\n" + tt.extra + "\r\n")
		r := rc.read("GET")
		eb := decodeError(t, r.body)
		if r.status != 404 || r.header.Get("X-Request-ID") != eb.RequestID {
			t.Fatalf("%s: %d, X-Request-ID %q, body id %q", tt.name, r.status, r.header.Get("X-Request-ID"), eb.RequestID)
		}
		if tt.want != "" && eb.RequestID != tt.want {
			t.Errorf("%s: request id %q, want %q", tt.name, eb.RequestID, tt.want)
		}
	}
	// A head that does not parse gets one too.
	rc := dialRaw(t, gw.addr)
	rc.send("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
	r := rc.read("GET")
	if eb := decodeError(t, r.body); r.status != 400 || r.header.Get("X-Request-ID") != eb.RequestID {
		t.Fatalf("bad head: %d, X-Request-ID %q, body id %q", r.status, r.header.Get("X-Request-ID"), eb.RequestID)
	}
}

// A HEAD request no route matches gets its 404 without a body, so the
// next answer on the connection is read as what it is.
func TestUnmatchedHeadRequestGetsNoBody(t *testing.T) {
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /api/}, upstream: app}]
`, tcptest.ClosedAddr(t)))
	rc := dialRaw(t, gw.addr)
	rc.send("HEAD /elsewhere HTTP/1.1\r\nHost: gw.test\r\n\r\n")
	if r := rc.read("HEAD"); r.status != 404 || r.header.Get("X-Request-ID") == "" {
		t.Fatalf("HEAD: %d, X-Request-ID %q", r.status, r.header.Get("X-Request-ID"))
	}
	rc.send("GET /elsewhere HTTP/1.1\r\nHost: gw.test\r\n\r\n")
	if r := rc.read("GET"); r.status != 404 {
		t.Fatalf("GET after the HEAD: %d", r.status)
	}
}

// Upgrade: h2c is not one the route allows: the request is forwarded as a
// plain one, without Upgrade or Connection: upgrade, and a backend that
// switches protocols anyway gives a 502, never a tunnel.
func TestDisallowedUpgradeIsForwardedAsAPlainRequest(t *testing.T) {
	heads := make(chan string, 4)
	be := newRawBackend(t, scripted(func(req *http.Request, head string) (string, bool) {
		heads <- head
		if req.URL.Path == "/switch" {
			return "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n", true
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain", false
	}))
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /}, upstream: app, retry: {tries: 1}}]
`, be.addr()))
	upgrade := "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"

	rc := dialRaw(t, gw.addr)
	rc.send("GET /plain HTTP/1.1\r\nHost: gw.test\r\n" + upgrade + "\r\n")
	if r := rc.read("GET"); r.status != 200 || r.body != "plain" {
		t.Fatalf("h2c upgrade request: %d %q, want the plain answer", r.status, r.body)
	}
	head := strings.ToLower(<-heads)
	if strings.Contains(head, "upgrade") || strings.Contains(head, "http2-settings") {
		t.Errorf("the backend saw the upgrade:\n%s", head)
	}

	rc = dialRaw(t, gw.addr)
	rc.send("GET /switch HTTP/1.1\r\nHost: gw.test\r\n" + upgrade + "\r\n")
	if r := rc.read("GET"); r.status != 502 {
		t.Fatalf("a 101 to a request forwarded without its upgrade: %d, want 502", r.status)
	}
	<-heads
}

// A route can refuse every upgrade, WebSocket included.
func TestRouteWithoutUpgradesForwardsWebSocketRequestsPlainly(t *testing.T) {
	heads := make(chan string, 1)
	be := newRawBackend(t, scripted(func(req *http.Request, head string) (string, bool) {
		heads <- head
		return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain", false
	}))
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /}, upstream: app, upgrades: []}]
`, be.addr()))
	rc := dialRaw(t, gw.addr)
	rc.send("GET /ws HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	if r := rc.read("GET"); r.status != 200 {
		t.Fatalf("%d", r.status)
	}
	if head := strings.ToLower(<-heads); strings.Contains(head, "upgrade") {
		t.Errorf("the backend saw the upgrade:\n%s", head)
	}
}
