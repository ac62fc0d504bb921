package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// counterSum adds up the samples of a counter family whose labels include
// every pair in want.
func counterSum(t *testing.T, gw *testGateway, family string, want map[string]string) float64 {
	t.Helper()
	mfs, err := gw.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabels(m, want) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, lp := range m.GetLabel() {
		if v, ok := want[lp.GetName()]; ok && v == lp.GetValue() {
			n++
		}
	}
	return n == len(want)
}

// A backend that sends bytes it should not (a body on a HEAD answer or on
// a 204 or 304, or more than its Content-Length) must not leave them for
// the next request on its connection: here the stray bytes are a whole
// response, the one an attacker would plant, and the next client must get
// its own answer, not that one. The discarded connection is counted.
func TestBackendBytesBeyondItsResponseNeverReachTheNextClient(t *testing.T) {
	planted := func(path string) string {
		body := "response for " + path
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}
	tests := []struct {
		name, method string
		answer       func(path string) string
		wantStatus   int
	}{
		{"body on a HEAD answer", "HEAD", func(p string) string {
			return "HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n" + planted(p)
		}, 200},
		{"body on a 204", "GET", func(p string) string {
			return "HTTP/1.1 204 No Content\r\n\r\n" + planted(p)
		}, 204},
		{"body on a 304", "GET", func(p string) string {
			return "HTTP/1.1 304 Not Modified\r\nETag: \"v\"\r\n\r\n" + planted(p)
		}, 304},
		{"more than Content-Length", "GET", func(p string) string {
			return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + planted(p)
		}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := newRawBackend(t, scripted(func(req *http.Request, _ string) (string, bool) {
				if strings.HasPrefix(req.URL.Path, "/alice") {
					return tt.answer(req.URL.Path), false
				}
				return planted(req.URL.Path), false
			}))
			gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}], keepalive: {idle: 1}}}
routes: [{match: {path_prefix: /}, upstream: app, timeouts: {response: 2s}}]
`, be.addr()))

			alice := dialRaw(t, gw.addr)
			alice.send(tt.method + " /alice HTTP/1.1\r\nHost: gw.test\r\n\r\n")
			if r := alice.read(tt.method); r.status != tt.wantStatus {
				t.Fatalf("alice: %d, want %d:\n%s", r.status, tt.wantStatus, r.head)
			}
			// The stray bytes may trail the answer by a moment.
			time.Sleep(20 * time.Millisecond)
			for i := range 3 {
				bob := dialRaw(t, gw.addr)
				bob.send("GET /bob HTTP/1.1\r\nHost: gw.test\r\n\r\n")
				if r := bob.read("GET"); r.status != 200 || r.body != "response for /bob" {
					t.Fatalf("bob's request %d got %d %q, want his own response", i, r.status, r.body)
				}
			}
			if n := counterSum(t, gw, "skjold_upstream_connections_discarded_total",
				map[string]string{"upstream": "app", "reason": "unread_bytes"}); n != 1 {
				t.Errorf("skjold_upstream_connections_discarded_total{reason=unread_bytes} = %v, want 1", n)
			}
		})
	}
}

// Stray bytes that arrive after the answer was relayed, while the
// connection idles in the pool, are caught before the connection is used
// again.
func TestBytesArrivingWhileTheConnectionIdlesNeverReachTheNextClient(t *testing.T) {
	be := newRawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			_, req, err := readRequestHead(br)
			if err != nil {
				return
			}
			if req.URL.Path != "/alice" {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\nresponse for /bob")
				continue
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n")
			time.Sleep(10 * time.Millisecond) // the gateway has pooled the connection by now
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 19\r\n\r\nresponse for /alice")
		}
	})
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}], keepalive: {idle: 1}}}
routes: [{match: {path_prefix: /}, upstream: app}]
`, be.addr()))
	alice := dialRaw(t, gw.addr)
	alice.send("HEAD /alice HTTP/1.1\r\nHost: gw.test\r\n\r\n")
	if r := alice.read("HEAD"); r.status != 200 {
		t.Fatalf("alice: %d", r.status)
	}
	time.Sleep(40 * time.Millisecond)
	bob := dialRaw(t, gw.addr)
	bob.send("GET /bob HTTP/1.1\r\nHost: gw.test\r\n\r\n")
	if r := bob.read("GET"); r.status != 200 || r.body != "response for /bob" {
		t.Fatalf("bob got %d %q, want his own response", r.status, r.body)
	}
	if n := counterSum(t, gw, "skjold_upstream_connections_discarded_total",
		map[string]string{"upstream": "app", "reason": "unread_bytes"}); n != 1 {
		t.Errorf("discarded for unread bytes: %v, want 1", n)
	}
}

// A backend that behaves gets its connection reused, and nothing is
// counted as discarded.
func TestCleanResponsesKeepTheirConnection(t *testing.T) {
	be := newRawBackend(t, scripted(func(req *http.Request, _ string) (string, bool) {
		if req.Method == "HEAD" {
			return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false
	}))
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}], keepalive: {idle: 1}}}
routes: [{match: {path_prefix: /}, upstream: app}]
`, be.addr()))
	// One keepalive client: each request ends, its upstream connection
	// back in the pool, before the next begins.
	rc := dialRaw(t, gw.addr)
	for _, m := range []string{"HEAD", "GET", "HEAD", "GET"} {
		rc.send(m + " / HTTP/1.1\r\nHost: gw.test\r\n\r\n")
		if r := rc.read(m); r.status != 200 {
			t.Fatalf("%s: %d", m, r.status)
		}
	}
	if n := be.accepted.Load(); n != 1 {
		t.Errorf("the gateway opened %d upstream connections, want 1", n)
	}
	if n := counterSum(t, gw, "skjold_upstream_connections_discarded_total", map[string]string{"upstream": "app"}); n != 0 {
		t.Errorf("discarded connections = %v, want 0", n)
	}
}
