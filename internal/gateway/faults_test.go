package gateway

import (
	"bufio"
	"encoding/json"
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

	"github.com/skjold-dev/skjold/internal/tcptest"
	"go.uber.org/goleak"
)

// upstreamStatus finds an upstream in the gateway's status.
func upstreamStatus(t *testing.T, gw *testGateway, name string) UpstreamStatus {
	t.Helper()
	for _, u := range gw.Status().Upstreams {
		if u.Name == name {
			return u
		}
	}
	t.Fatalf("no upstream %q in the status", name)
	return UpstreamStatus{}
}

// decodeError checks that body is the gateway's JSON error.
func decodeError(t *testing.T, body string) errBody {
	t.Helper()
	var eb errBody
	if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.Error == "" || eb.RequestID == "" {
		t.Fatalf("not a JSON error with error and request_id: %q (%v)", body, err)
	}
	return eb
}

// A target that refuses connections gets the client a 502 with a JSON body
// naming the upstream and the request.
func TestRefusedConnectionGets502(t *testing.T) {
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /}, upstream: app}]
`, tcptest.ClosedAddr(t)))
	code, body, h := get(t, newClient(), "http://"+gw.addr+"/x")
	if code != 502 {
		t.Fatalf("got %d %q, want 502", code, body)
	}
	eb := decodeError(t, body)
	if eb.Upstream != "app" {
		t.Errorf("upstream %q in %q", eb.Upstream, body)
	}
	if h.Get("X-Request-ID") != eb.RequestID || h.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v for body %q", h, body)
	}
	if u := upstreamStatus(t, gw, "app"); u.Failures != 1 {
		t.Errorf("target failures %d, want 1", u.Failures)
	}
}

// A target that accepts and never answers gets the client a 504 once the
// route's response timeout has passed, and no later.
func TestSilentTargetGets504WithinTheResponseTimeout(t *testing.T) {
	be := newRawBackend(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /}, upstream: app, timeouts: {response: 300ms}}]
`, be.addr()))
	start := time.Now()
	code, body, _ := get(t, newClient(), "http://"+gw.addr+"/x")
	took := time.Since(start)
	if code != 504 {
		t.Fatalf("got %d %q, want 504", code, body)
	}
	if eb := decodeError(t, body); eb.Upstream != "app" {
		t.Errorf("upstream %q", eb.Upstream)
	}
	if took < 300*time.Millisecond || took > time.Second {
		t.Errorf("504 after %v, want just after 300ms", took)
	}
}

// A target that resets the connection halfway through a response leaves
// the client with a response it can tell is incomplete, and counts as a
// failure of that target.
func TestResetMidResponseTruncatesTheClientResponse(t *testing.T) {
	half := strings.Repeat("x", 500)
	be := newRawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		_, req, err := readRequestHead(br)
		if err != nil {
			return
		}
		switch req.URL.Path {
		case "/length":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"+half)
		case "/chunked":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1f4\r\n"+half+"\r\n")
		case "/close":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"+half)
		case "/bad-chunk":
			// Not a reset but as broken: a chunk size that is not hex.
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1f4\r\n"+half+"\r\nzz\r\n")
		}
		// Let the gateway take the bytes before the reset.
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		io.Copy(io.Discard, c)
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	})
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}], passive_health: {max_fails: 0}, breaker: {disabled: true}}}
routes: [{match: {path_prefix: /}, upstream: app}]
`, be.addr()))

	for i, path := range []string{"/length", "/chunked", "/close", "/bad-chunk"} {
		t.Run(path, func(t *testing.T) {
			c, err := net.Dial("tcp", gw.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: gw.test\r\n\r\n", path)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil {
				var b []byte
				b, err = io.ReadAll(resp.Body)
				if err == nil {
					t.Fatalf("the client got a complete response: %d, %d bytes", resp.StatusCode, len(b))
				}
				if len(b) > len(half) {
					t.Errorf("the client got %d body bytes, the target sent %d", len(b), len(half))
				}
			}
			waitFor(t, time.Second, "the target's failure to be counted", func() bool {
				return upstreamStatus(t, gw, "app").Failures == uint64(i+1)
			})
		})
	}
}

// A target whose response head is malformed or framed ambiguously gets
// the client a 502; none of it is passed on.
func TestMalformedUpstreamResponsesGet502(t *testing.T) {
	responses := map[string]string{
		"/cl-te":        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"/two-lengths":  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
		"/gzip-chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		"/te-in-1.0":    "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"/obs-fold":     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: a\r\n b\r\n\r\nok",
		"/bare-cr":      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: a\rb\r\n\r\nok",
		"/status-2000":  "HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok",
		"/http2":        "HTTP/2 200\r\ncontent-length: 2\r\n\r\nok",
		"/not-http":     "hello there\r\n\r\n",
		"/huge-head":    "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("h", 70<<10) + "\r\nContent-Length: 2\r\n\r\nok",
		"/unasked-101":  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	}
	be := newRawBackend(t, scripted(func(req *http.Request, _ string) (string, bool) {
		return responses[req.URL.Path], true
	}))
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}], passive_health: {max_fails: 0}, breaker: {disabled: true}}}
routes: [{match: {path_prefix: /}, upstream: app, retry: {tries: 1}}]
`, be.addr()))
	for path := range responses {
		t.Run(path, func(t *testing.T) {
			code, body := rawRequest(t, gw.addr, "GET "+path+" HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n")
			if code != 502 {
				t.Fatalf("got %d %q, want 502", code, body)
			}
			if eb := decodeError(t, body); eb.Upstream != "app" {
				t.Errorf("error body %q", body)
			}
		})
	}
}

// A target slower than usual but within the response timeout is waited for.
func TestSlowTargetWithinTheTimeoutAnswers(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "late but fine")
	}))
	defer be.Close()
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /}, upstream: app, timeouts: {response: 1s}}]
`, hostPort(be.URL)))
	code, body, _ := get(t, newClient(), "http://"+gw.addr+"/x")
	if code != 200 || body != "late but fine" {
		t.Fatalf("got %d %q", code, body)
	}
	if u := upstreamStatus(t, gw, "app"); u.Failures != 0 {
		t.Errorf("a slow success counted as %d failures", u.Failures)
	}
}

// The response timeout runs from the end of the request: a body that the
// client takes longer than the timeout to send, streamed to the target as it
// comes, does not make the target's prompt answer a 504.
func TestSlowUploadDoesNotUseUpTheResponseTimeout(t *testing.T) {
	be := hashingBackend(t)
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /}, upstream: app, timeouts: {response: 300ms}, retry: {buffer_bytes: 1KiB}}]
`, hostPort(be.URL)))
	rc := dialRaw(t, gw.addr)
	rc.send("PUT /upload HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n")
	chunk := strings.Repeat("u", 1024)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; i < 5; i++ {
		rc.send(fmt.Sprintf("%x\r\n%s\r\n", len(chunk), chunk))
		<-tick.C
	}
	rc.send("0\r\n\r\n")
	r := rc.read("PUT")
	if r.status != 200 || !strings.HasPrefix(r.body, "5120 ") {
		t.Fatalf("slow upload: %d %q", r.status, r.body)
	}
}

// 503s from one target are retried on the other, so the client sees only
// successes; when no retry is possible, the target's own answer passes.
func TestRetryOnStatusToAnotherTarget(t *testing.T) {
	bad := newSwitchable(t, "bad")
	bad.status.Store(503)
	good := newSwitchable(t, "good")
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams:
  pair:
    targets: [{address: %q}, {address: %q}]
    passive_health: {max_fails: 0}
    breaker: {disabled: true}
  single:
    targets: [{address: %q}]
    passive_health: {max_fails: 0}
    breaker: {disabled: true}
routes:
  - {match: {path_prefix: /pair/}, upstream: pair, retry: {tries: 2, on: [http_503]}}
  - {match: {path_prefix: /single/}, upstream: single, retry: {tries: 2, on: [http_503]}}
`, bad.addr(), good.addr(), bad.addr()))
	c := newClient()
	for i := 0; i < 10; i++ {
		if code, body, _ := get(t, c, "http://"+gw.addr+"/pair/x"); code != 200 || body != "good ok" {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	if bad.hits.Load() == 0 {
		t.Fatal("round-robin never chose the failing target, so nothing was retried")
	}
	if good.hits.Load() != 10 {
		t.Errorf("good target answered %d of 10", good.hits.Load())
	}

	// With nowhere else to go, the client gets the target's 503 itself,
	// not a gateway-made error.
	code, body, _ := get(t, c, "http://"+gw.addr+"/single/x")
	if code != 503 || body != "bad ok" {
		t.Errorf("single failing target: %d %q, want its own 503", code, body)
	}
}

// A retry budget of zero allows no retries at all, and the client then
// gets the upstream's own answer.
func TestZeroRetryBudgetStopsRetries(t *testing.T) {
	bad := newSwitchable(t, "bad")
	bad.status.Store(503)
	good := newSwitchable(t, "good")
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams:
  app:
    targets: [{address: %q}, {address: %q}]
    passive_health: {max_fails: 0}
    breaker: {disabled: true}
    retry_budget: {ratio: 0.0, min_per_second: 0}
routes: [{match: {path_prefix: /}, upstream: app, retry: {tries: 3, on: [http_503, error]}}]
`, bad.addr(), good.addr()))
	c := newClient()
	var ok, unavailable int
	for i := 0; i < 10; i++ {
		code, body, _ := get(t, c, "http://"+gw.addr+"/x")
		switch {
		case code == 200 && body == "good ok":
			ok++
		case code == 503 && body == "bad ok":
			unavailable++
		default:
			t.Errorf("request %d: %d %q", i, code, body)
		}
	}
	if hits := bad.hits.Load() + good.hits.Load(); hits != 10 {
		t.Errorf("10 requests made %d upstream calls; the budget allows no retries", hits)
	}
	if ok != 5 || unavailable != 5 {
		t.Errorf("%d successes and %d 503s, want 5 and 5 (round-robin, no retries)", ok, unavailable)
	}
}

// With max_concurrent 2 and no queue, of five concurrent requests two are
// served and three are turned away at once with 503 and Retry-After.
func TestBulkheadRejectsRequestsOverTheLimit(t *testing.T) {
	release := make(chan struct{})
	var inside atomic.Int64
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inside.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "served")
	}))
	defer be.Close()
	var once sync.Once
	defer once.Do(func() { close(release) })
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}], max_concurrent: 2, max_queue: 0}}
routes: [{match: {path_prefix: /}, upstream: app}]
`, hostPort(be.URL)))

	type result struct {
		code int
		body string
		h    http.Header
	}
	results := make(chan result, 5)
	c := newClient()
	for i := 0; i < 5; i++ {
		go func() {
			resp, err := c.Get("http://" + gw.addr + "/x")
			if err != nil {
				results <- result{code: -1, body: err.Error()}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- result{resp.StatusCode, string(b), resp.Header}
		}()
	}
	// The three over the limit are answered while the two inside are still
	// held by the backend.
	for i := 0; i < 3; i++ {
		select {
		case r := <-results:
			if r.code != 503 {
				t.Fatalf("answer %d while two requests were held: %d %q", i, r.code, r.body)
			}
			if r.h.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After: %v", r.h)
			}
			if eb := decodeError(t, r.body); !strings.Contains(eb.Error, "concurrency limit") || eb.Upstream != "app" {
				t.Errorf("error body %q", r.body)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("requests over the limit were not turned away")
		}
	}
	// The two that hold the slots reach the backend (they may still be on
	// their way).
	waitFor(t, 2*time.Second, "two requests at the backend", func() bool { return inside.Load() == 2 })
	once.Do(func() { close(release) })
	for i := 0; i < 2; i++ {
		if r := <-results; r.code != 200 || r.body != "served" {
			t.Errorf("held request: %d %q", r.code, r.body)
		}
	}
	if n := inside.Load(); n != 2 {
		t.Errorf("%d requests reached the backend, want 2", n)
	}
	if u := upstreamStatus(t, gw, "app"); u.Failures != 0 || u.Targets[0].Passive != "up" {
		t.Errorf("bulkhead rejections counted against the target: %+v", u.Targets[0])
	}
}

// A client that leaves while its request waits on a stalled target gets
// the upstream request cancelled promptly, and its departure counts against
// neither the target nor the breaker.
func TestClientDisconnectCancelsTheUpstreamRequest(t *testing.T) {
	arrived := make(chan struct{}, 1)
	cancelled := make(chan struct{}, 1)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			io.WriteString(w, "ok")
			return
		}
		// The server notices a closed connection only once the body is read.
		io.ReadAll(r.Body)
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
			cancelled <- struct{}{}
		case <-time.After(10 * time.Second):
		}
	}))
	defer be.Close()
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams:
  app:
    targets: [{address: %q}]
    passive_health: {max_fails: 1}
    breaker: {consecutive_failures: 1}
routes: [{match: {path_prefix: /}, upstream: app, timeouts: {response: 5s}}]
`, hostPort(be.URL)))

	for _, req := range []string{
		"GET /stall HTTP/1.1\r\nHost: gw.test\r\n\r\n",
		"POST /stall HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 4\r\n\r\nbody",
	} {
		c, err := net.Dial("tcp", gw.addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, req)
		select {
		case <-arrived:
		case <-time.After(2 * time.Second):
			t.Fatal("request never reached the backend")
		}
		left := time.Now()
		c.Close()
		select {
		case <-cancelled:
			if d := time.Since(left); d > 500*time.Millisecond {
				t.Errorf("backend saw the cancellation %v after the client left", d)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("the backend request was not cancelled after the client left")
		}
	}
	waitFor(t, time.Second, "requests to end", func() bool { return upstreamStatus(t, gw, "app").InFlight == 0 })
	u := upstreamStatus(t, gw, "app")
	if u.Failures != 0 || u.Targets[0].Passive != "up" || u.Targets[0].Fails != 0 {
		t.Errorf("client departures counted against the target: %+v", u.Targets[0])
	}
	if b := u.Breaker; b.State != "closed" || b.ConsecutiveFailures != 0 || b.WindowFailures != 0 {
		t.Errorf("client departures counted against the breaker: %+v", b)
	}
	if code, body, _ := get(t, newClient(), "http://"+gw.addr+"/ok"); code != 200 {
		t.Errorf("after the departures: %d %q", code, body)
	}
}

// Nothing the gateway started outlives it: after a stop, no goroutine of
// its connections, tunnels, health checks or janitor is left.
func TestNoGoroutinesLeakAfterStop(t *testing.T) {
	opts := goleak.IgnoreCurrent()
	stall := make(chan struct{})
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/stall":
			select {
			case <-stall:
			case <-r.Context().Done():
			}
		case "/stream":
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}
		io.WriteString(w, "ok")
	}))
	silent := newRawBackend(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
shutdown_grace: 200ms
upstreams:
  app:
    targets: [{address: %q}]
    health_check: {interval: 50ms, timeout: 40ms, path: /health}
  silent: {targets: [{address: %q}]}
routes:
  - {match: {path_prefix: /silent/}, upstream: silent, timeouts: {response: 50ms}}
  - {match: {path_prefix: /}, upstream: app}
`, hostPort(be.URL), silent.addr()))
	c := newClient()
	for i := 0; i < 5; i++ {
		get(t, c, "http://"+gw.addr+"/x")
	}
	get(t, c, "http://"+gw.addr+"/silent/x")
	// A client that leaves mid-request, and a stream still open at stop.
	gone, _ := net.Dial("tcp", gw.addr)
	io.WriteString(gone, "GET /stall HTTP/1.1\r\nHost: gw.test\r\n\r\n")
	gone.Close()
	resp, err := c.Get("http://" + gw.addr + "/stream")
	if err != nil {
		t.Fatal(err)
	}

	if err := gw.stop(); err != nil {
		t.Fatal(err)
	}
	// Shutdown ended the stream after the grace period.
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("the stream cut at shutdown ended like a complete response")
	}
	resp.Body.Close()
	close(stall)
	c.CloseIdleConnections()
	be.Close()
	silent.close()
	goleak.VerifyNone(t, opts)
}

// Active health checks take a target whose /health fails out of rotation
// and put it back once it passes again.
func TestActiveHealthCheckTakesTargetsOutAndBack(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	var flakyHits atomic.Int64
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			if !healthy.Load() {
				w.WriteHeader(503)
			}
			return
		}
		flakyHits.Add(1)
		io.WriteString(w, "flaky")
	}))
	defer flaky.Close()
	steady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "steady")
	}))
	defer steady.Close()
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams:
  app:
    targets: [{address: %q}, {address: %q}]
    health_check: {interval: 100ms, timeout: 50ms, rise: 1, fall: 1}
routes: [{match: {path_prefix: /}, upstream: app}]
`, hostPort(flaky.URL), hostPort(steady.URL)))
	c := newClient()
	active := func(want string) func() bool {
		return func() bool {
			for _, ts := range upstreamStatus(t, gw, "app").Targets {
				if ts.Address == hostPort(flaky.URL) {
					return ts.Active == want
				}
			}
			return false
		}
	}
	spread := func() (flakyN, steadyN int) {
		for i := 0; i < 10; i++ {
			code, body, _ := get(t, c, "http://"+gw.addr+"/x")
			switch {
			case code == 200 && body == "flaky":
				flakyN++
			case code == 200 && body == "steady":
				steadyN++
			default:
				t.Fatalf("request %d: %d %q", i, code, body)
			}
		}
		return
	}

	waitFor(t, 2*time.Second, "the flaky target to pass its check", active("up"))
	if f, s := spread(); f == 0 || s == 0 {
		t.Fatalf("both healthy: flaky %d, steady %d", f, s)
	}

	healthy.Store(false)
	waitFor(t, 2*time.Second, "the flaky target to fail its check", active("down"))
	before := flakyHits.Load()
	if f, s := spread(); f != 0 || s != 10 {
		t.Errorf("flaky target down: flaky %d, steady %d", f, s)
	}
	if flakyHits.Load() != before {
		t.Error("a target that failed its health check still got requests")
	}

	healthy.Store(true)
	waitFor(t, 2*time.Second, "the flaky target to pass its check again", active("up"))
	if f, s := spread(); f == 0 || s == 0 {
		t.Errorf("flaky target back: flaky %d, steady %d", f, s)
	}
}

// Stopping while clients keep opening connections is orderly: every
// connection accepted before the stop is tracked and waited for, and none
// is served after it.
func TestStopWhileConnectionsArrive(t *testing.T) {
	be := newRecordingBackend(t)
	for round := 0; round < 50; round++ {
		gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
shutdown_grace: 1s
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /}, upstream: app}]
`, be.addr()))
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					c, err := net.Dial("tcp", gw.addr)
					if err != nil {
						continue
					}
					c.SetDeadline(time.Now().Add(2 * time.Second))
					io.WriteString(c, "GET /x HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n")
					io.Copy(io.Discard, c)
					c.Close()
				}
			}()
		}
		waitFor(t, 2*time.Second, "traffic", func() bool { return be.hits.Load() > int64(round*10) })
		if err := gw.stop(); err != nil {
			t.Fatal(err)
		}
		close(stop)
		wg.Wait()
		if n := gw.conns.count(); n != 0 {
			t.Fatalf("round %d: %d connections still tracked after the stop", round, n)
		}
	}
}

// A stopped gateway leaves no connection open to its targets: the pooled
// keepalive connections are closed with it.
func TestStopClosesPooledUpstreamConnections(t *testing.T) {
	var open atomic.Int64
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	be.Config.ConnState = func(c net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	be.Start()
	defer be.Close()
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /}, upstream: app}]
`, hostPort(be.URL)))
	c := newClient()
	for i := 0; i < 3; i++ {
		if code, _, _ := get(t, c, "http://"+gw.addr+"/x"); code != 200 {
			t.Fatalf("request %d: %d", i, code)
		}
	}
	// The connection returns to the pool just after the client has its
	// answer.
	waitFor(t, time.Second, "one pooled upstream connection", func() bool {
		return upstreamStatus(t, gw, "app").Targets[0].IdleConns == 1
	})
	if err := gw.stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "the pooled upstream connection to close", func() bool { return open.Load() == 0 })
}

// A client that leaves in the middle of a stream gets the upstream stream
// closed promptly, without the target being blamed.
func TestClientLeavingMidStreamClosesTheUpstream(t *testing.T) {
	cancelled := make(chan struct{}, 1)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			cancelled <- struct{}{}
		case <-time.After(5 * time.Second):
		}
	}))
	defer be.Close()
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}], breaker: {consecutive_failures: 1}}}
routes: [{match: {path_prefix: /}, upstream: app}]
`, hostPort(be.URL)))
	rc := dialRaw(t, gw.addr)
	rc.send("GET /events HTTP/1.1\r\nHost: gw.test\r\n\r\n")
	line, err := rc.br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 200 ") {
		t.Fatalf("status line %q: %v", line, err)
	}
	for !strings.Contains(line, "data: first") {
		if line, err = rc.br.ReadString('\n'); err != nil {
			t.Fatalf("waiting for the first event: %v", err)
		}
	}
	left := time.Now()
	rc.c.Close()
	select {
	case <-cancelled:
		if d := time.Since(left); d > 500*time.Millisecond {
			t.Errorf("upstream stream closed %v after the client left", d)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the upstream stream outlived its client")
	}
	waitFor(t, time.Second, "the request to end", func() bool { return upstreamStatus(t, gw, "app").InFlight == 0 })
	if u := upstreamStatus(t, gw, "app"); u.Failures != 0 || u.Breaker.State != "closed" {
		t.Errorf("the departure counted against the target: failures %d, breaker %s", u.Failures, u.Breaker.State)
	}
}

// A pooled connection that the target closed while it sat idle is not a
// failure: the request goes out again on a fresh connection.
func TestConnectionClosedWhileIdleIsRedialed(t *testing.T) {
	var served atomic.Int64
	be := newRawBackend(t, func(c net.Conn) {
		_, _, err := readRequestHead(bufio.NewReader(c))
		if err != nil {
			return
		}
		served.Add(1)
		// Keep-alive by the look of it, then closed at once, as a target
		// with a short idle timeout does.
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}], breaker: {consecutive_failures: 1}}}
routes: [{match: {path_prefix: /}, upstream: app, retry: {tries: 1}}]
`, be.addr()))
	c := newClient()
	for i := 0; i < 10; i++ {
		// Let the target's close reach the gateway's side of the pooled
		// connection, so the next request finds it dead.
		waitFor(t, time.Second, "the target to close its connections", func() bool {
			return be.accepted.Load() == served.Load() && be.openConns() == 0
		})
		// POSTs too: one must not go out on a connection that may be dead.
		method := "GET"
		if i%2 == 1 {
			method = "POST"
		}
		req, _ := http.NewRequest(method, "http://"+gw.addr+"/x", strings.NewReader("body"))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("request %d (%s): %d %q", i, method, resp.StatusCode, body)
		}
	}
	if n := served.Load(); n != 10 {
		t.Errorf("the target served %d requests for 10", n)
	}
	if u := upstreamStatus(t, gw, "app"); u.Failures != 0 || u.Breaker.State != "closed" {
		t.Errorf("stale connections counted as failures: %d, breaker %s", u.Failures, u.Breaker.State)
	}
}

// A target that takes a request on a pooled connection and closes it
// without answering may have acted on it: a request that must not run twice
// is then answered 502 and never sent again, one that may is resent.
func TestRequestTakenByADyingConnectionIsResentOnlyIfIdempotent(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	be := newRawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for n := 1; ; n++ {
			_, req, err := readRequestHead(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			mu.Lock()
			seen[req.Method+" "+req.URL.Path]++
			mu.Unlock()
			if n > 1 {
				return // took the second request on this connection, then died
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}], passive_health: {max_fails: 0}, breaker: {disabled: true}}}
routes: [{match: {path_prefix: /}, upstream: app, retry: {tries: 1}}]
`, be.addr()))
	tests := []struct {
		method, path, key string
		want              int // status
		times             int // how often the target saw it
	}{
		{"POST", "/pay", "", 502, 1},
		{"PATCH", "/account", "", 502, 1},
		{"POST", "/pay-keyed", "k-1", 200, 2},
		{"GET", "/read", "", 200, 2},
		{"PUT", "/put", "", 200, 2},
	}
	for _, tt := range tests {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			// One request to put a connection in the pool, then the one
			// under test rides it.
			rc := dialRaw(t, gw.addr)
			rc.send("GET /warm HTTP/1.1\r\nHost: gw.test\r\n\r\n")
			if r := rc.read("GET"); r.status != 200 {
				t.Fatalf("warm-up: %d", r.status)
			}
			// Every pooled connection has served one request, so the target
			// dies with the next one, whichever it is.
			waitFor(t, 2*time.Second, "a pooled connection", func() bool {
				return upstreamStatus(t, gw, "app").Targets[0].IdleConns >= 1
			})
			req := tt.method + " " + tt.path + " HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 4\r\n"
			if tt.key != "" {
				req += "Idempotency-Key: " + tt.key + "\r\n"
			}
			rc.send(req + "\r\nbody")
			if r := rc.read(tt.method); r.status != tt.want {
				t.Errorf("got %d %q, want %d", r.status, r.body, tt.want)
			}
			mu.Lock()
			n := seen[tt.method+" "+tt.path]
			mu.Unlock()
			if n != tt.times {
				t.Errorf("the target saw the request %d times, want %d", n, tt.times)
			}
		})
	}
}
