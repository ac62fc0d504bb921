package gateway

import (
	"fmt"
	"testing"
	"time"
)

// A keepalive connection idle long enough to give its buffers back still
// serves its next request, and shutdown still closes it at once.
func TestIdleConnectionGivesBuffersBackAndServesOn(t *testing.T) {
	be := newSwitchable(t, "app")
	const shrink = 50 * time.Millisecond
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /}, upstream: app}]
`, be.addr()), func(g *Gateway) { g.idle.shrink = shrink })
	c := newClient()
	for i := 0; i < 2; i++ {
		if code, body, _ := get(t, c, "http://"+gw.addr+"/"); code != 200 || body != "app ok" {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
		time.Sleep(shrink + 100*time.Millisecond)
	}
	if n := gw.conns.count(); n != 1 {
		t.Fatalf("%d client connections, want the one keepalive connection reused", n)
	}
	start := time.Now()
	if err := gw.stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("shutdown with an idle, shrunk connection took %v", d)
	}
}
