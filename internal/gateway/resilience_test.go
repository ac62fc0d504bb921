package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/tcptest"
)

// stallServer answers /health and, while stalled, holds every other request
// until released or the test ends.
type switchable struct {
	srv     *httptest.Server
	stalled atomic.Bool
	status  atomic.Int32
	hits    atomic.Int64
	release chan struct{}
	once    sync.Once
}

func newSwitchable(t *testing.T, name string) *switchable {
	s := &switchable{release: make(chan struct{})}
	s.status.Store(200)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if s.stalled.Load() {
			select {
			case <-s.release:
			case <-r.Context().Done():
				return
			}
		}
		w.WriteHeader(int(s.status.Load()))
		fmt.Fprintf(w, "%s ok", name)
	}))
	t.Cleanup(func() {
		s.once.Do(func() { close(s.release) })
		s.srv.Close()
	})
	return s
}

func (s *switchable) addr() string { return hostPort(s.srv.URL) }

type errBody struct {
	Error     string `json:"error"`
	Upstream  string `json:"upstream"`
	RequestID string `json:"request_id"`
}

// The field guide's story: fx stalls; once its breaker opens, fx requests
// fail fast with 503 and payments keeps 100% success; fx recovers through
// half-open once it heals.
func TestStalledDependencyFailsFastAndOthersKeepServing(t *testing.T) {
	payments := newSwitchable(t, "payments")
	fx := newSwitchable(t, "fx")
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams:
  payments: {targets: [{address: %q}]}
  fx:
    targets: [{address: %q}]
    passive_health: {max_fails: 0}
    breaker: {consecutive_failures: 3, open_for: 300ms, half_open_probes: 1}
routes:
  - {match: {path_prefix: /payments/}, upstream: payments}
  - {match: {path_prefix: /fx/}, upstream: fx, timeouts: {response: 200ms, total: 1s}, retry: {tries: 1}}
`, payments.addr(), fx.addr()))
	c := newClient()
	fx.stalled.Store(true)

	// Three timeouts open the breaker.
	for i := 0; i < 3; i++ {
		code, body, _ := get(t, c, "http://"+gw.addr+"/fx/rate")
		if code != 504 {
			t.Fatalf("stalled try %d: %d %s", i, code, body)
		}
	}
	// Now fx fails fast, and payments is untouched.
	var wg sync.WaitGroup
	var paymentsFailed atomic.Int64
	var paymentsSlowest atomic.Int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				start := time.Now()
				resp, err := c.Get("http://" + gw.addr + "/payments/charge")
				if err != nil || resp.StatusCode != 200 {
					paymentsFailed.Add(1)
				}
				if resp != nil {
					io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				if d := time.Since(start); int64(d) > paymentsSlowest.Load() {
					paymentsSlowest.Store(int64(d))
				}
			}
		}()
	}
	fxHits := fx.hits.Load()
	for i := 0; i < 20; i++ {
		start := time.Now()
		code, body, h := get(t, c, "http://"+gw.addr+"/fx/rate")
		if code != 503 {
			t.Fatalf("open breaker answered %d %s", code, body)
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("fast failure took %v", d)
		}
		var eb errBody
		if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.Upstream != "fx" || eb.RequestID == "" || eb.Error == "" {
			t.Errorf("error body %q (%v)", body, err)
		}
		if h.Get("Retry-After") == "" {
			t.Error("no Retry-After on an open breaker")
		}
	}
	wg.Wait()
	if n := paymentsFailed.Load(); n != 0 {
		t.Errorf("%d payments requests failed while fx was down", n)
	}
	if d := time.Duration(paymentsSlowest.Load()); d > time.Second {
		t.Errorf("slowest payments request took %v", d)
	}
	if fx.hits.Load() != fxHits {
		t.Errorf("the open breaker let %d requests through to fx", fx.hits.Load()-fxHits)
	}

	// fx heals; after the open period a probe closes the breaker.
	fx.stalled.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _, _ := get(t, c, "http://"+gw.addr+"/fx/rate")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fx never recovered; last status %d", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The outcome is recorded once the response has been sent; allow the
	// gateway a moment to do so.
	waitFor(t, time.Second, "fx breaker closed after recovery", func() bool {
		for _, u := range gw.Status().Upstreams {
			if u.Name == "fx" {
				return u.Breaker.State == "closed"
			}
		}
		return false
	})
}

// nginx ignores max_fails with a single server; Skjold does not: once the
// single stalled target has failed max_fails times, requests fail fast
// until fail_timeout passes, then the healed target serves again.
func TestSingleTargetPassiveHealthFailsFast(t *testing.T) {
	be := newSwitchable(t, "one")
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams:
  one:
    targets: [{address: %q}]
    passive_health: {max_fails: 3, fail_timeout: 500ms}
    breaker: {disabled: true}
routes:
  - {match: {path_prefix: /api/v1/}, upstream: one, timeouts: {response: 150ms}, retry: {tries: 1, on: [error, timeout]}}
`, be.addr()))
	c := newClient()
	be.stalled.Store(true)
	for i := 0; i < 3; i++ {
		if code, _, _ := get(t, c, "http://"+gw.addr+"/api/v1/x"); code != 504 {
			t.Fatalf("try %d: %d", i, code)
		}
	}
	start := time.Now()
	code, body, _ := get(t, c, "http://"+gw.addr+"/api/v1/x")
	if d := time.Since(start); code != 503 || d > 50*time.Millisecond {
		t.Fatalf("after max_fails: %d in %v (%s)", code, d, body)
	}
	be.stalled.Store(false)
	time.Sleep(550 * time.Millisecond)
	if code, _, _ := get(t, c, "http://"+gw.addr+"/api/v1/x"); code != 200 {
		t.Fatalf("after fail_timeout the healed target answered %d", code)
	}
}

func TestRetriesOnAnotherTarget(t *testing.T) {
	good := newSwitchable(t, "good")
	bad := newSwitchable(t, "bad")
	bad.status.Store(502)
	// A port nothing listens on: connection refused.
	refused := tcptest.ClosedAddr(t)
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams:
  app:
    targets: [{address: %q}, {address: %q}, {address: %q}]
    passive_health: {max_fails: 0}
    breaker: {disabled: true}
routes:
  - {match: {path_prefix: /}, upstream: app, retry: {tries: 3, on: [error, timeout, http_502]}}
`, refused, bad.addr(), good.addr()))
	c := newClient()
	for i := 0; i < 9; i++ {
		code, body, _ := get(t, c, "http://"+gw.addr+"/x")
		if code != 200 || body != "good ok" {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	// POST is not retried after it was sent to the 502 target.
	var got502 bool
	for i := 0; i < 6; i++ {
		resp, err := c.Post("http://"+gw.addr+"/x", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 502 {
			got502 = true
		}
	}
	if !got502 {
		t.Error("a POST that reached a 502 target was retried")
	}
}
