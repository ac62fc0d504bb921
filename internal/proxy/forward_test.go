package proxy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/h1"
	"github.com/skjold-dev/skjold/internal/tcptest"
	"github.com/skjold-dev/skjold/internal/upstream"
)

// backend is a raw loopback server that runs serve on every connection.
type backend struct {
	addr     string
	accepted atomic.Int32
	requests atomic.Int32 // requests read by the helpers below
}

func newBackend(t *testing.T, serve func(b *backend, c net.Conn)) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.accepted.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(b, c)
			}()
		}
	}()
	return b
}

// answering serves requests with answer's response for each, until answer
// returns "" (then the connection is left as the callback left it).
func answering(answer func(req *http.Request, c net.Conn) string) func(*backend, net.Conn) {
	return func(b *backend, c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			b.requests.Add(1)
			resp := answer(req, c)
			if resp == "" {
				return
			}
			if _, err := io.WriteString(c, resp); err != nil {
				return
			}
		}
	}
}

func ok(body string) string {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

// reset closes c with an RST instead of a FIN.
func reset(c net.Conn) {
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// testRoute is a route to an upstream of addrs with short timeouts, one
// failure ejecting a target, and no breakers (so every try is made).
func testRoute(t *testing.T, on RetryOn, addrs ...string) *Route {
	t.Helper()
	var members []config.Target
	for _, a := range addrs {
		members = append(members, config.Target{Address: a, Weight: 1})
	}
	reg := upstream.NewRegistry()
	u := reg.Build("app", upstream.Settings{
		Balance: upstream.RoundRobin, ConnectTimeout: time.Second, MaxIdle: 4, IdleTimeout: time.Minute,
		MaxFails: 1, FailTimeout: time.Minute, BreakerDisabled: true, RetryBudgetRatio: 1, RetryBudgetMin: 100,
	}, members)
	reg.Commit([]*upstream.Upstream{u})
	return &Route{
		Name: "test", Upstream: u, Response: 300 * time.Millisecond, Send: time.Second, Total: 5 * time.Second,
		Tries: 2, RetryOn: on, BufferBytes: 64 << 10, Upgrades: []string{"websocket"},
	}
}

// exchange is one client connection to a Proxy, on real sockets.
type exchangeConn struct {
	t      *testing.T
	p      *Proxy
	ex     *Exchange
	client net.Conn
	cbr    *bufio.Reader
	head   []byte
}

func dial(t *testing.T) *exchangeConn {
	t.Helper()
	client, server := tcptest.Pair(t)
	cr := &ClientReader{Conn: server}
	ex := &Exchange{ClientConn: ClientConn{Client: server, CR: cr, BR: bufio.NewReader(cr), BW: bufio.NewWriter(cr.Writer())}}
	ex.RemoteIP, ex.Proto = "127.0.0.1", "http"
	t.Cleanup(ex.Close)
	p := New()
	p.WatchAfter = 5 * time.Millisecond
	client.SetDeadline(time.Now().Add(10 * time.Second))
	return &exchangeConn{t: t, p: p, ex: ex, client: client, cbr: bufio.NewReader(client)}
}

// forward sends raw as the client, reads and parses its head as the
// server does, and forwards it on r.
func (ec *exchangeConn) forward(r *Route, raw string) *Exchange {
	ec.t.Helper()
	if _, err := io.WriteString(ec.client, raw); err != nil {
		ec.t.Fatal(err)
	}
	return ec.forwardSent(r)
}

func (ec *exchangeConn) forwardSent(r *Route) *Exchange {
	ec.t.Helper()
	ex := ec.ex
	ex.Reset()
	ex.Start = time.Now()
	ex.CR.ReadBy(ex.Start.Add(5*time.Second), ex.Start)
	var spill []byte
	head, err := h1.ReadHead(ex.BR, 64<<10, &spill)
	if err != nil {
		ec.t.Fatal(err)
	}
	ec.head = append(ec.head[:0], head...)
	if err := h1.ParseRequest(ec.head, h1.Limits{MaxURI: 8 << 10}, &ex.Req); err != nil {
		ec.t.Fatal(err)
	}
	ex.Path = ex.Req.Path
	ec.p.Forward(ex, r)
	if !ex.KeepAlive {
		ex.Client.Close() // as the server does: the end of a close-delimited answer
	}
	return ex
}

// response reads the client's response.
func (ec *exchangeConn) response(method string) (*http.Response, string) {
	ec.t.Helper()
	resp, err := http.ReadResponse(ec.cbr, &http.Request{Method: method})
	if err != nil {
		ec.t.Fatalf("reading the response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		ec.t.Fatalf("reading the response body: %v", err)
	}
	return resp, string(b)
}

func failures(r *Route, i int) uint64 {
	return r.Upstream.Stats(time.Now())[i].Failures
}

// TestFailureVerdictDoesNotDependOnTheRetryPolicy is the failure model as
// a matrix: for each outcome of a first try and each retry policy, whether
// the try counts against its target and whether the request is retried on
// the second target. Errors and timeouts always count; a status counts
// when it is listed; what is retried follows retry.on alone.
func TestFailureVerdictDoesNotDependOnTheRetryPolicy(t *testing.T) {
	outcomes := []struct {
		name  string
		first func(t *testing.T) string // the first target's address
	}{
		{"connect refused", closedAddr},
		{"reset before a response", func(t *testing.T) string {
			return newBackend(t, answering(func(_ *http.Request, c net.Conn) string { reset(c); return "" })).addr
		}},
		{"response timeout", func(t *testing.T) string {
			return newBackend(t, answering(func(_ *http.Request, c net.Conn) string {
				time.Sleep(time.Second)
				return ""
			})).addr
		}},
		{"invalid response", func(t *testing.T) string {
			return newBackend(t, answering(func(*http.Request, net.Conn) string { return "HTTP/1.1 2OO OK\r\n\r\n" })).addr
		}},
		{"status 503", func(t *testing.T) string {
			return newBackend(t, answering(func(*http.Request, net.Conn) string {
				return "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"
			})).addr
		}},
		{"status 404", func(t *testing.T) string {
			return newBackend(t, answering(func(*http.Request, net.Conn) string {
				return "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnone"
			})).addr
		}},
	}
	errs := RetryOn{Error: true, Timeout: true}
	only503 := RetryOn{Statuses: StatusBit(503)}
	all := RetryOn{Error: true, Timeout: true, Statuses: StatusBit(503)}
	policies := []struct {
		name string
		on   RetryOn
	}{{"[error, timeout]", errs}, {"[http_503]", only503}, {"[error, timeout, http_503]", all}, {"[]", RetryOn{}}}

	// want[outcome][policy] = {counted, retried}
	type verdict struct{ counted, retried bool }
	want := map[string][]verdict{
		"connect refused":         {{true, true}, {true, false}, {true, true}, {true, false}},
		"reset before a response": {{true, true}, {true, false}, {true, true}, {true, false}},
		"response timeout":        {{true, true}, {true, false}, {true, true}, {true, false}},
		"invalid response":        {{true, true}, {true, false}, {true, true}, {true, false}},
		"status 503":              {{false, false}, {true, true}, {true, true}, {false, false}},
		"status 404":              {{false, false}, {false, false}, {false, false}, {false, false}},
	}
	for _, o := range outcomes {
		for pi, pol := range policies {
			t.Run(o.name+" "+pol.name, func(t *testing.T) {
				t.Parallel()
				second := newBackend(t, answering(func(*http.Request, net.Conn) string { return ok("second") }))
				r := testRoute(t, pol.on, o.first(t), second.addr)
				ec := dial(t)
				ex := ec.forward(r, "GET /x HTTP/1.1\r\nHost: test\r\n\r\n")
				resp, body := ec.response("GET")
				w := want[o.name][pi]
				if counted := failures(r, 0) > 0; counted != w.counted {
					t.Errorf("counted as a failure = %v, want %v (class %s, status %d)", counted, w.counted, ex.ErrClass, ex.Status)
				}
				if retried := ex.Tries == 2; retried != w.retried {
					t.Errorf("retried = %v (tries %d), want %v", retried, ex.Tries, w.retried)
				}
				if w.retried && (resp.StatusCode != 200 || body != "second") {
					t.Errorf("retried request answered %d %q, want the second target's", resp.StatusCode, body)
				}
				if failures(r, 1) != 0 {
					t.Errorf("the second target, which answered 200, has %d failures", failures(r, 1))
				}
			})
		}
	}
}

// The status the client sees for each failure of the last try.
func TestLastFailureMapsToItsStatus(t *testing.T) {
	tests := []struct {
		name   string
		addr   func(t *testing.T) string
		status int
		class  Class
	}{
		{"connect refused", closedAddr, 502, ClassConnect},
		{"reset", func(t *testing.T) string {
			return newBackend(t, answering(func(_ *http.Request, c net.Conn) string { reset(c); return "" })).addr
		}, 502, ClassReset},
		{"timeout", func(t *testing.T) string {
			return newBackend(t, answering(func(*http.Request, net.Conn) string { time.Sleep(time.Second); return "" })).addr
		}, 504, ClassTimeout},
		{"invalid response", func(t *testing.T) string {
			return newBackend(t, answering(func(*http.Request, net.Conn) string { return "nonsense\r\n\r\n" })).addr
		}, 502, ClassBadResponse},
		{"failure status passed through", func(t *testing.T) string {
			return newBackend(t, answering(func(*http.Request, net.Conn) string {
				return "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"
			})).addr
		}, 503, ClassStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := testRoute(t, RetryOn{Error: true, Timeout: true, Statuses: StatusBit(503)}, tt.addr(t))
			ec := dial(t)
			start := time.Now()
			ex := ec.forward(r, "GET /x HTTP/1.1\r\nHost: test\r\n\r\n")
			resp, body := ec.response("GET")
			if resp.StatusCode != tt.status || ex.Status != tt.status || ex.ErrClass != tt.class {
				t.Fatalf("answer %d (recorded %d, class %s), want %d, class %s", resp.StatusCode, ex.Status, ex.ErrClass, tt.status, tt.class)
			}
			if tt.class != ClassStatus {
				var eb errorBody
				if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.RequestID == "" || eb.Upstream != "app" ||
					resp.Header.Get("X-Request-ID") != eb.RequestID {
					t.Errorf("error body %q, X-Request-ID %q: want JSON naming the upstream and the request", body, resp.Header.Get("X-Request-ID"))
				}
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// A client that leaves while its request waits is logged as 499 and never
// counted against the target.
func TestClientLeavingIsNeverCountedAgainstTheTarget(t *testing.T) {
	released := make(chan struct{})
	be := newBackend(t, answering(func(*http.Request, net.Conn) string {
		<-released
		return ok("late")
	}))
	defer close(released)
	r := testRoute(t, RetryOn{Error: true, Timeout: true}, be.addr)
	r.Response = 5 * time.Second
	ec := dial(t)
	io.WriteString(ec.client, "GET /x HTTP/1.1\r\nHost: test\r\n\r\n")
	go func() {
		time.Sleep(50 * time.Millisecond)
		ec.client.Close()
	}()
	start := time.Now()
	ex := ec.forwardSent(r)
	if ex.Status != 499 || ex.ErrClass != ClassClientGone || ex.KeepAlive {
		t.Fatalf("status %d, class %s, keepalive %v; want 499, client_gone, closed", ex.Status, ex.ErrClass, ex.KeepAlive)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the departure was noticed after %v", d)
	}
	if n := failures(r, 0); n != 0 {
		t.Errorf("the target has %d failures for a client that left", n)
	}
	if st := r.Upstream.Stats(time.Now())[0]; st.Passive != "up" {
		t.Errorf("the target is %s", st.Passive)
	}
}

// A request that was sent and may not run twice is not retried after the
// target broke; an Idempotency-Key or an idempotent method makes it
// retryable.
func TestRetriesOnlyWhenTheRequestMayRunTwice(t *testing.T) {
	tests := []struct {
		name, req string
		retried   bool
	}{
		{"POST", "POST /x HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\n\r\nhi", false},
		{"POST with Idempotency-Key", "POST /x HTTP/1.1\r\nHost: test\r\nIdempotency-Key: k1\r\nContent-Length: 2\r\n\r\nhi", true},
		{"PUT", "PUT /x HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\n\r\nhi", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			first := newBackend(t, answering(func(_ *http.Request, c net.Conn) string { reset(c); return "" }))
			second := newBackend(t, answering(func(*http.Request, net.Conn) string { return ok("second") }))
			r := testRoute(t, RetryOn{Error: true, Timeout: true}, first.addr, second.addr)
			ec := dial(t)
			ex := ec.forward(r, tt.req)
			resp, _ := ec.response("POST")
			if got := second.requests.Load() == 1; got != tt.retried {
				t.Fatalf("the second target got the request: %v, want %v (answer %d, tries %d)", got, tt.retried, resp.StatusCode, ex.Tries)
			}
			if !tt.retried && resp.StatusCode != 502 {
				t.Errorf("answer %d, want 502", resp.StatusCode)
			}
			if first.requests.Load() != 1 {
				t.Errorf("the first target got %d requests, want 1", first.requests.Load())
			}
		})
	}
}

// A pooled connection the target closed while idle: a request that may
// run twice is resent on a fresh connection after the write or read
// fails; one that may not is never sent on it (the connection is checked
// first). Neither is a failure nor a retry.
func TestConnectionClosedWhileIdleIsReplacedWithoutAFailure(t *testing.T) {
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			be := newBackend(t, func(b *backend, c net.Conn) {
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				b.requests.Add(1)
				io.WriteString(c, ok("one"))
				// Close once the proxy has pooled the connection.
				time.Sleep(30 * time.Millisecond)
			})
			r := testRoute(t, RetryOn{Error: true, Timeout: true}, be.addr)
			ec := dial(t)
			req := method + " /x HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n"
			ec.forward(r, req)
			if resp, body := ec.response(method); resp.StatusCode != 200 || body != "one" {
				t.Fatalf("first request: %d %q", resp.StatusCode, body)
			}
			time.Sleep(100 * time.Millisecond) // the target's FIN arrives
			ex := ec.forward(r, req)
			if resp, body := ec.response(method); resp.StatusCode != 200 || body != "one" {
				t.Fatalf("second request: %d %q (class %s)", resp.StatusCode, body, ex.ErrClass)
			}
			if ex.Tries != 1 || failures(r, 0) != 0 {
				t.Errorf("tries %d, failures %d; want 1 and 0", ex.Tries, failures(r, 0))
			}
			if n := be.accepted.Load(); n != 2 {
				t.Errorf("%d connections accepted, want 2", n)
			}
			if n := be.requests.Load(); n != 2 {
				t.Errorf("the target read %d requests, want 2 (none lost, none doubled)", n)
			}
		})
	}
}

// Bodies over the route's limit get 413 and never reach a target, whether
// the limit shows in Content-Length or only while a chunked body is read.
func TestBodiesOverTheLimitGet413(t *testing.T) {
	tests := []struct{ name, req string }{
		{"Content-Length", "POST /x HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\n\r\nhello world"},
		{"chunked", "POST /x HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := newBackend(t, answering(func(*http.Request, net.Conn) string { return ok("x") }))
			r := testRoute(t, RetryOn{Error: true}, be.addr)
			r.MaxBody = 8
			ec := dial(t)
			ex := ec.forward(r, tt.req)
			resp, _ := ec.response("POST")
			if resp.StatusCode != 413 || ex.ErrClass != ClassBodyTooLarge || ex.KeepAlive {
				t.Fatalf("answer %d, class %s, keepalive %v; want 413, body_too_large, closed", resp.StatusCode, ex.ErrClass, ex.KeepAlive)
			}
			if be.accepted.Load() != 0 {
				t.Errorf("the target was contacted")
			}
		})
	}
}

// The response's framing is the proxy's own: a close-delimited body goes
// to an HTTP/1.1 client chunked, and a body a chunked upstream sent to an
// HTTP/1.0 client is delimited by the close.
func TestResponseFramingIsRedoneForTheClient(t *testing.T) {
	tests := []struct {
		name, upstream, proto string
		chunked, closes       bool
	}{
		{"close-delimited to HTTP/1.1", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", "HTTP/1.1", true, false},
		{"chunked to HTTP/1.0", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nuntil\r\n8\r\n the end\r\n0\r\n\r\n", "HTTP/1.0", false, true},
		{"length to HTTP/1.1", "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nuntil the end", "HTTP/1.1", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := newBackend(t, answering(func(_ *http.Request, c net.Conn) string {
				io.WriteString(c, tt.upstream)
				c.(*net.TCPConn).CloseWrite() // ends a close-delimited body
				return ""
			}))
			r := testRoute(t, RetryOn{Error: true}, be.addr)
			ec := dial(t)
			ex := ec.forward(r, "GET /x "+tt.proto+"\r\nHost: test\r\nConnection: keep-alive\r\n\r\n")
			resp, body := ec.response("GET")
			if body != "until the end" {
				t.Fatalf("body %q", body)
			}
			if chunked := len(resp.TransferEncoding) > 0; chunked != tt.chunked {
				t.Errorf("chunked = %v, want %v", chunked, tt.chunked)
			}
			if ex.KeepAlive == tt.closes {
				t.Errorf("client keepalive = %v, want %v", ex.KeepAlive, !tt.closes)
			}
		})
	}
}

// Which Upgrade values a route that allows WebSocket forwards.
func TestAllowsUpgradeListsOnlyAllowedProtocols(t *testing.T) {
	ws := &Route{Upgrades: []string{"websocket"}}
	none := &Route{}
	tests := []struct {
		value string
		route *Route
		want  bool
	}{
		{"websocket", ws, true},
		{"WebSocket", ws, true},
		{"websocket/13", ws, true},
		{"h2c", ws, false},
		{"websocket, h2c", ws, false},
		{"h2c,websocket", ws, false},
		{"", ws, false},
		{" , ", ws, false},
		{"websocket", none, false},
	}
	for _, tt := range tests {
		if got := tt.route.allowsUpgrade([]byte(tt.value)); got != tt.want {
			t.Errorf("allowsUpgrade(%q) with %v = %v, want %v", tt.value, tt.route.Upgrades, got, tt.want)
		}
	}
}

// A disallowed upgrade goes out as a plain request; an allowed one keeps
// its Upgrade and Connection: upgrade.
func TestOnlyAllowedUpgradesReachTheBackend(t *testing.T) {
	tests := []struct {
		upgrade string
		passed  bool
	}{{"websocket", true}, {"h2c", false}}
	for _, tt := range tests {
		t.Run(tt.upgrade, func(t *testing.T) {
			heads := make(chan http.Header, 1)
			be := newBackend(t, answering(func(req *http.Request, _ net.Conn) string {
				heads <- req.Header
				return ok("plain")
			}))
			r := testRoute(t, RetryOn{Error: true}, be.addr)
			ec := dial(t)
			ec.forward(r, "GET /x HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: "+tt.upgrade+"\r\n\r\n")
			ec.response("GET")
			h := <-heads
			gotUpgrade := h.Get("Upgrade") == tt.upgrade && strings.EqualFold(h.Get("Connection"), "upgrade")
			if gotUpgrade != tt.passed || !tt.passed && (h.Get("Upgrade") != "" || h.Get("Connection") != "") {
				t.Errorf("backend saw Upgrade %q, Connection %q; want the upgrade passed = %v", h.Get("Upgrade"), h.Get("Connection"), tt.passed)
			}
		})
	}
}

// A backend that switches protocols on a request that did not ask for it
// gets a 502 and counts as a failure, never a tunnel.
func TestSwitchNobodyAskedForIsABadResponse(t *testing.T) {
	be := newBackend(t, answering(func(*http.Request, net.Conn) string {
		return "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"
	}))
	r := testRoute(t, RetryOn{}, be.addr)
	ec := dial(t)
	ex := ec.forward(r, "GET /x HTTP/1.1\r\nHost: test\r\n\r\n")
	resp, _ := ec.response("GET")
	if resp.StatusCode != 502 || ex.Upgraded || ex.ErrClass != ClassBadResponse {
		t.Fatalf("answer %d, upgraded %v, class %s; want 502, no tunnel, bad_response", resp.StatusCode, ex.Upgraded, ex.ErrClass)
	}
	if failures(r, 0) != 1 {
		t.Errorf("failures %d, want 1", failures(r, 0))
	}
}

// Every class has its own name in logs and metrics.
func TestClassNamesAreDistinct(t *testing.T) {
	seen := map[string]Class{}
	for c := ClassNone; c <= ClassNoRoute; c++ {
		name := c.String()
		if name == "unknown" || (c != ClassNone && name == "") {
			t.Errorf("class %d has no name", c)
		}
		if prev, dup := seen[name]; dup {
			t.Errorf("classes %d and %d are both %q", prev, c, name)
		}
		seen[name] = c
	}
}

// A body too large to buffer is streamed to the first target and cannot be
// resent: when that target breaks, the client gets a 502 and no other
// target sees a partial copy.
func TestStreamedBodyIsNeverRetried(t *testing.T) {
	first := newBackend(t, answering(func(_ *http.Request, c net.Conn) string { reset(c); return "" }))
	second := newBackend(t, answering(func(*http.Request, net.Conn) string { return ok("second") }))
	r := testRoute(t, RetryOn{Error: true, Timeout: true}, first.addr, second.addr)
	r.BufferBytes = 4
	ec := dial(t)
	ex := ec.forward(r, "PUT /x HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\n\r\nhello world")
	resp, _ := ec.response("PUT")
	if resp.StatusCode != 502 || ex.Tries != 1 || second.accepted.Load() != 0 {
		t.Fatalf("answer %d after %d tries, second target contacted %d times; want 502, 1, 0", resp.StatusCode, ex.Tries, second.accepted.Load())
	}
}

// When every target answers a failure status the route retries on, the
// last answer is passed through as the upstream sent it, and every try
// counts against its target.
func TestLastFailureStatusIsPassedThrough(t *testing.T) {
	busy := func() *backend {
		return newBackend(t, answering(func(*http.Request, net.Conn) string {
			return "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nbusy"
		}))
	}
	r := testRoute(t, RetryOn{Statuses: StatusBit(503)}, busy().addr, busy().addr)
	ec := dial(t)
	ex := ec.forward(r, "GET /x HTTP/1.1\r\nHost: test\r\n\r\n")
	resp, body := ec.response("GET")
	if resp.StatusCode != 503 || body != "busy" || resp.Header.Get("Retry-After") != "7" || ex.Tries != 2 {
		t.Fatalf("answer %d %q Retry-After %q after %d tries; want the second target's 503 as sent", resp.StatusCode, body, resp.Header.Get("Retry-After"), ex.Tries)
	}
	if failures(r, 0) != 1 || failures(r, 1) != 1 {
		t.Errorf("failures %d and %d, want 1 each", failures(r, 0), failures(r, 1))
	}
}

// The route's total deadline bounds the tries together: two silent
// targets give one 504 within it, not two response timeouts.
func TestTotalDeadlineBoundsEveryTry(t *testing.T) {
	silent := func() *backend {
		return newBackend(t, answering(func(*http.Request, net.Conn) string { time.Sleep(2 * time.Second); return "" }))
	}
	r := testRoute(t, RetryOn{Error: true, Timeout: true}, silent().addr, silent().addr)
	r.Response, r.Total = 400*time.Millisecond, 600*time.Millisecond
	ec := dial(t)
	start := time.Now()
	ex := ec.forward(r, "GET /x HTTP/1.1\r\nHost: test\r\n\r\n")
	resp, _ := ec.response("GET")
	d := time.Since(start)
	if resp.StatusCode != 504 || ex.ErrClass != ClassTimeout {
		t.Fatalf("answer %d, class %s; want 504, timeout", resp.StatusCode, ex.ErrClass)
	}
	if d < 550*time.Millisecond || d > 1200*time.Millisecond {
		t.Errorf("answered after %v, want about the 600ms total", d)
	}
}

// The proxy's own headers: the client's X-Forwarded-For lines then its
// address, and the request id the answer carries.
func TestForwardedHeadersAndRequestID(t *testing.T) {
	heads := make(chan http.Header, 1)
	be := newBackend(t, answering(func(req *http.Request, _ net.Conn) string {
		heads <- req.Header
		return ok("x")
	}))
	r := testRoute(t, RetryOn{Error: true}, be.addr)
	ec := dial(t)
	ec.forward(r, "GET /x HTTP/1.1\r\nHost: test\r\nX-Forwarded-For: 203.0.113.1\r\nX-Forwarded-For: 203.0.113.2\r\nX-Request-ID: bad id\r\n\r\n")
	ec.response("GET")
	h := <-heads
	if got := h.Get("X-Forwarded-For"); got != "203.0.113.1, 203.0.113.2, 127.0.0.1" {
		t.Errorf("X-Forwarded-For %q", got)
	}
	if id := h.Get("X-Request-ID"); id == "" || id == "bad id" || strings.ContainsAny(id, " ") {
		t.Errorf("X-Request-ID %q: want one made up in place of the client's unusable one", id)
	}
}

// An allowed upgrade becomes a tunnel carrying bytes both ways until one
// side closes.
func TestAllowedUpgradeTunnelsBytesBothWays(t *testing.T) {
	be := newBackend(t, func(b *backend, c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		buf := make([]byte, 4)
		if _, err := io.ReadFull(br, buf); err != nil {
			return
		}
		c.Write(append([]byte("echo "), buf...))
	})
	r := testRoute(t, RetryOn{Error: true}, be.addr)
	ec := dial(t)
	io.WriteString(ec.client, "GET /ws HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	done := make(chan *Exchange, 1)
	go func() { done <- ec.forwardSent(r) }()
	resp, err := http.ReadResponse(ec.cbr, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("switch: %v %v", resp, err)
	}
	io.WriteString(ec.client, "ping")
	buf := make([]byte, 9)
	if _, err := io.ReadFull(ec.cbr, buf); err != nil || string(buf) != "echo ping" {
		t.Fatalf("through the tunnel: %q, %v", buf, err)
	}
	ec.client.Close()
	select {
	case ex := <-done:
		if !ex.Upgraded || ex.Status != 101 {
			t.Errorf("upgraded %v, status %d", ex.Upgraded, ex.Status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the tunnel did not end after both sides closed")
	}
	if failures(r, 0) != 0 {
		t.Errorf("a tunnel counted as a failure")
	}
}

// A client whose chunked body is malformed gets a 400, a client that
// leaves in the middle of a streamed body is logged as gone; neither
// counts against the target.
func TestMisbehavingClientBodies(t *testing.T) {
	tests := []struct {
		name, req string
		status    int
		class     Class
		buffer    int64
	}{
		{"malformed chunk", "POST /x HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400, ClassBadRequest, 64 << 10},
		{"gone mid-body", "POST /x HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\nonly part of it", 499, ClassClientGone, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := newBackend(t, answering(func(*http.Request, net.Conn) string { return ok("x") }))
			r := testRoute(t, RetryOn{Error: true}, be.addr)
			r.BufferBytes = tt.buffer
			ec := dial(t)
			io.WriteString(ec.client, tt.req)
			ec.client.(*net.TCPConn).CloseWrite()
			ex := ec.forwardSent(r)
			if ex.Status != tt.status || ex.ErrClass != tt.class || ex.KeepAlive {
				t.Fatalf("status %d, class %s, keepalive %v; want %d, %s, closed", ex.Status, ex.ErrClass, ex.KeepAlive, tt.status, tt.class)
			}
			if failures(r, 0) != 0 {
				t.Errorf("the target has %d failures for the client's doing", failures(r, 0))
			}
		})
	}
}

// FuzzAllowsUpgrade: whatever the Upgrade value, a route that allows
// only websocket lets it through only when every protocol it lists is
// websocket.
func FuzzAllowsUpgrade(f *testing.F) {
	for _, s := range []string{"websocket", "h2c", "websocket, h2c", "WebSocket/13", " ,websocket", "websocket\x00", ""} {
		f.Add(s)
	}
	r := &Route{Upgrades: []string{"websocket"}}
	f.Fuzz(func(t *testing.T, v string) {
		if !r.allowsUpgrade([]byte(v)) {
			return
		}
		listed := 0
		for item := range strings.SplitSeq(v, ",") {
			name, _, _ := strings.Cut(item, "/")
			name = strings.Trim(name, " \t")
			if name == "" {
				continue
			}
			listed++
			if !strings.EqualFold(name, "websocket") {
				t.Fatalf("allowsUpgrade(%q) let %q through", v, name)
			}
		}
		if listed == 0 {
			t.Fatalf("allowsUpgrade(%q) with no protocol listed", v)
		}
	})
}
