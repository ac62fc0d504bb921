package gateway

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/tcptest"
)

// gatedBackend answers /app/hold only when the test opens its gate, so a
// test can keep requests in flight; every other path answers "ok" at once.
type gatedBackend struct {
	srv     *httptest.Server
	entered chan struct{} // one value per /app/hold request that arrived
	gate    chan struct{} // one value lets one held request finish
}

func newGatedBackend(t *testing.T) *gatedBackend {
	b := &gatedBackend{entered: make(chan struct{}, 16), gate: make(chan struct{})}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/app/hold" {
			b.entered <- struct{}{}
			select {
			case <-b.gate:
			case <-r.Context().Done():
			}
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *gatedBackend) addr() string { return hostPort(b.srv.URL) }

// hold starts a request to /app/hold and waits until the backend has it;
// the returned channel gets its status once the gate lets it finish.
func (b *gatedBackend) hold(t *testing.T, c *http.Client, gwAddr string) <-chan int {
	t.Helper()
	out := make(chan int, 1)
	go func() {
		resp, err := c.Get("http://" + gwAddr + "/app/hold")
		if err != nil {
			out <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out <- resp.StatusCode
	}()
	select {
	case <-b.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the held request never reached the backend")
	}
	return out
}

// reloadShape is the part of a config the install tests vary.
type reloadShape struct {
	listener      string // the name of the listener at the gateway's address
	extra         string // a second listener's address, or ""
	maxConcurrent int
	consecutive   int
	window        string
	otherUpstream bool
}

func (r reloadShape) yaml(gwAddr, app, dead string) string {
	listeners := fmt.Sprintf("%s: {address: %q}", r.listener, gwAddr)
	if r.extra != "" {
		listeners += fmt.Sprintf(", extra: {address: %q}", r.extra)
	}
	other := ""
	if r.otherUpstream {
		other = fmt.Sprintf("  other: {targets: [{address: %q}]}\n", app)
	}
	return fmt.Sprintf(`
listeners: {%s}
upstreams:
  app: {targets: [{address: %q}], max_concurrent: %d}
  dead:
    targets: [{address: %q}]
    passive_health: {max_fails: 0}
    breaker: {consecutive_failures: %d, window: %s, failure_ratio: 0}
%sroutes:
  - {name: app, match: {path_prefix: /app}, upstream: app, listeners: [%s]}
  - {name: dead, match: {path_prefix: /dead}, upstream: dead, retry: {tries: 1}}
`, listeners, app, r.maxConcurrent, dead, r.consecutive, r.window, other, r.listener)
}

func mustParse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// A reload refused because a new listener's port is taken leaves the
// running gateway exactly as it was: the bulkhead still admits one request,
// the breaker still opens at its old threshold with its rolling window
// intact, no new upstream is registered, the listener keeps its name and
// the routes bound to it keep answering. A good reload then applies all of
// it.
func TestRefusedReloadLeavesRunningGatewayAsBefore(t *testing.T) {
	be := newGatedBackend(t)
	dead := tcptest.ClosedAddr(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()

	gw := startGateway(t, fmt.Sprintf(`
listeners: {boot: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /}, upstream: app}]
`, be.addr()))
	running := reloadShape{listener: "public", maxConcurrent: 1, consecutive: 3, window: "10s"}
	if _, err := gw.Apply(mustParse(t, running.yaml(gw.addr, be.addr(), dead))); err != nil {
		t.Fatalf("first config: %v", err)
	}
	c := newClient()
	for i := 0; i < 2; i++ { // two failures: one short of the threshold
		if code, _, _ := get(t, c, "http://"+gw.addr+"/dead"); code != 502 {
			t.Fatalf("dead target: got %d, want 502", code)
		}
	}
	before := upstreamStatus(t, gw, "dead").Breaker

	refused := reloadShape{listener: "edge", extra: taken.Addr().String(), maxConcurrent: 5, consecutive: 50, window: "20s", otherUpstream: true}
	if _, err := gw.Apply(mustParse(t, refused.yaml(gw.addr, be.addr(), dead))); err == nil {
		t.Fatal("a config whose listener port is taken was applied")
	}

	if _, ok := gw.Addrs()["public"]; !ok {
		t.Errorf("listener names after the refused reload: %v, want public kept", gw.Addrs())
	}
	if code, _, _ := get(t, c, "http://"+gw.addr+"/app/x"); code != 200 {
		t.Errorf("route on the kept listener after the refused reload: got %d, want 200", code)
	}
	if gw.registry.Target("other", be.addr()) != nil {
		t.Error("the refused config's new upstream is registered")
	}
	if after := upstreamStatus(t, gw, "dead").Breaker; after.WindowCalls != before.WindowCalls || after.ConsecutiveFailures != before.ConsecutiveFailures {
		t.Errorf("breaker after the refused reload: %d calls, %d in a row; before: %d, %d",
			after.WindowCalls, after.ConsecutiveFailures, before.WindowCalls, before.ConsecutiveFailures)
	}
	// Bulkhead of 1: a second request while one is held is refused.
	held := be.hold(t, c, gw.addr)
	if code, _, _ := get(t, c, "http://"+gw.addr+"/app/x"); code != 503 {
		t.Errorf("second request with the bulkhead of 1 full: got %d, want 503", code)
	}
	be.gate <- struct{}{}
	if code := <-held; code != 200 {
		t.Errorf("held request: got %d", code)
	}
	// Threshold 3: the third failure in a row opens the breaker.
	get(t, c, "http://"+gw.addr+"/dead")
	if code, _, _ := get(t, c, "http://"+gw.addr+"/dead"); code != 503 {
		t.Errorf("after 3 failures in a row with a threshold of 3: got %d, want 503 (breaker open)", code)
	}

	// The same config without the taken port goes in whole.
	good := refused
	good.extra = ""
	if _, err := gw.Apply(mustParse(t, good.yaml(gw.addr, be.addr(), dead))); err != nil {
		t.Fatalf("good reload: %v", err)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range gw.Addrs() {
			if !yield(n) {
				return
			}
		}
	})
	if !slices.Equal(names, []string{"edge"}) {
		t.Errorf("listener names after the good reload: %v, want [edge]", names)
	}
	if gw.registry.Target("other", be.addr()) == nil {
		t.Error("the good config's new upstream is not registered")
	}
	held1, held2 := be.hold(t, c, gw.addr), be.hold(t, c, gw.addr) // bulkhead of 5 admits both
	if code, _, _ := get(t, c, "http://"+gw.addr+"/app/x"); code != 200 {
		t.Errorf("route on the renamed listener after the good reload: got %d, want 200", code)
	}
	be.gate <- struct{}{}
	be.gate <- struct{}{}
	if a, b := <-held1, <-held2; a != 200 || b != 200 {
		t.Errorf("held requests: %d, %d", a, b)
	}
	if w := upstreamStatus(t, gw, "dead").Breaker; w.WindowCalls != 0 {
		t.Errorf("breaker window after the good reload changed it: %d calls, want a fresh window", w.WindowCalls)
	}
}
