package gateway

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/skjold-dev/skjold/internal/config"
)

// parkSoon makes idle connections park after 20ms instead of a second,
// and checks parked connections' idle timeouts every 20ms.
func parkSoon(g *Gateway) {
	g.idle.shrink = 20 * time.Millisecond
	g.idle.sweepEvery = 20 * time.Millisecond
}

func parkedCount(g *Gateway) int {
	p := g.idle.parker.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.parked)
}

// keepaliveConn is a keepalive client connection that writes raw bytes and
// reads responses one by one; unlike rawClient, it may be used from
// goroutines other than the test's.
type keepaliveConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func dialKeepalive(t testing.TB, addr string) *keepaliveConn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &keepaliveConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *keepaliveConn) send(s string) error {
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := io.WriteString(c.nc, s)
	return err
}

// response reads one response and returns its status and body.
func (c *keepaliveConn) response() (int, string, error) {
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b), err
}

const getRoot = "GET / HTTP/1.1\r\nHost: test\r\n\r\n"

func (c *keepaliveConn) get() (int, string, error) {
	if err := c.send(getRoot); err != nil {
		return 0, "", err
	}
	return c.response()
}

func (c *keepaliveConn) mustGet(want string) {
	c.t.Helper()
	code, body, err := c.get()
	if err != nil || code != 200 || body != want {
		c.t.Fatalf("GET /: %d %q %v, want 200 %q", code, body, err, want)
	}
}

// closedWithin reports how long the gateway took to close c (a read that
// ends in EOF or a reset), or fails after d.
func (c *keepaliveConn) closedWithin(d time.Duration) time.Duration {
	c.t.Helper()
	start := time.Now()
	c.nc.SetReadDeadline(start.Add(d))
	_, err := c.br.ReadByte()
	if err == nil {
		c.t.Fatal("the gateway sent bytes nobody asked for")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("the gateway did not close the connection within %v", d)
	}
	return time.Since(start)
}

// parkingConfig is a config with one listener (the address "127.0.0.1:0"
// by default) and one route to backend; extra adds to the listener.
func parkingConfig(backend, extra string) string {
	if !strings.Contains(extra, "address:") {
		extra = `address: "127.0.0.1:0"` + extra
	}
	return fmt.Sprintf(`
listeners: {public: {%s}}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /}, upstream: app}]
`, extra, backend)
}

// A parked connection serves its next request, whether it arrives whole,
// in pieces, or pipelined two at a time, and parks again after each.
func TestParkedConnectionServesNextRequest(t *testing.T) {
	be := newSwitchable(t, "app")
	gw := startGateway(t, parkingConfig(be.addr(), ""), parkSoon)
	tests := []struct {
		name   string
		send   []string // written with a pause between pieces
		answer int      // responses expected
	}{
		{"whole request", []string{getRoot}, 1},
		{"request in pieces", []string{"GET / HT", "TP/1.1\r\nHo", "st: test\r\n\r\n"}, 1},
		{"two pipelined requests", []string{getRoot + getRoot}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialKeepalive(t, gw.addr)
			c.mustGet("app ok")
			waitFor(t, 2*time.Second, "the connection to park", func() bool { return parkedCount(gw.Gateway) == 1 })
			for i, piece := range tt.send {
				if i > 0 {
					time.Sleep(30 * time.Millisecond)
				}
				if err := c.send(piece); err != nil {
					t.Fatal(err)
				}
			}
			for i := range tt.answer {
				if code, body, err := c.response(); err != nil || code != 200 || body != "app ok" {
					t.Fatalf("response %d: %d %q %v", i, code, body, err)
				}
			}
			waitFor(t, 2*time.Second, "the connection to park again", func() bool { return parkedCount(gw.Gateway) == 1 })
			c.mustGet("app ok")
			c.nc.Close()
			waitFor(t, 2*time.Second, "the connection to close", func() bool { return gw.conns.count() == 0 })
		})
	}
}

// A request sent the moment a connection parks is not lost: epoll reports
// bytes that arrived before the descriptor was added.
func TestRequestRacingThePark(t *testing.T) {
	be := newSwitchable(t, "app")
	gw := startGateway(t, parkingConfig(be.addr(), ""), func(g *Gateway) {
		g.idle.shrink = time.Millisecond
	})
	c := dialKeepalive(t, gw.addr)
	for i := range 200 {
		if code, body, err := c.get(); err != nil || code != 200 || body != "app ok" {
			t.Fatalf("request %d: %d %q %v", i, code, body, err)
		}
		time.Sleep(time.Duration(i%4) * 500 * time.Microsecond)
	}
}

// The listener's idle timeout, counted from the end of the last request,
// closes a parked connection; its goroutine-less state goes with it.
func TestParkedConnectionClosesAtIdleTimeout(t *testing.T) {
	be := newSwitchable(t, "app")
	gw := startGateway(t, parkingConfig(be.addr(), ", idle_timeout: 300ms"), parkSoon)
	c := dialKeepalive(t, gw.addr)
	c.mustGet("app ok")
	waitFor(t, time.Second, "the connection to park", func() bool { return parkedCount(gw.Gateway) == 1 })
	d := c.closedWithin(3 * time.Second)
	if d < 200*time.Millisecond || d > time.Second {
		t.Errorf("closed %v after its last request, want about the 300ms idle timeout", d)
	}
	waitFor(t, time.Second, "the connection to leave the set", func() bool { return gw.conns.count() == 0 })
	if n := parkedCount(gw.Gateway); n != 0 {
		t.Errorf("%d connections still parked", n)
	}
}

// Shutdown closes parked connections at once (they have no goroutine to
// wake), Serve returns, and nothing the parker started is left.
func TestShutdownClosesParkedConnectionsAtOnce(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "app ok")
	}))
	opts := goleak.IgnoreCurrent()
	gw := startGateway(t, parkingConfig(hostPort(be.URL), ""), parkSoon)
	var clients []*keepaliveConn
	for range 5 {
		c := dialKeepalive(t, gw.addr)
		c.mustGet("app ok")
		clients = append(clients, c)
	}
	waitFor(t, 2*time.Second, "the connections to park", func() bool { return parkedCount(gw.Gateway) == 5 })
	start := time.Now()
	if err := gw.stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("shutdown with parked connections took %v", d)
	}
	for _, c := range clients {
		c.closedWithin(time.Second)
	}
	be.Close()
	goleak.VerifyNone(t, opts)
}

// A client that closes a parked connection frees it: the close wakes the
// parker, and the connection leaves the gateway's set.
func TestClientClosingParkedConnectionFreesIt(t *testing.T) {
	be := newSwitchable(t, "app")
	gw := startGateway(t, parkingConfig(be.addr(), ""), parkSoon)
	c := dialKeepalive(t, gw.addr)
	c.mustGet("app ok")
	waitFor(t, 2*time.Second, "the connection to park", func() bool { return parkedCount(gw.Gateway) == 1 })
	c.nc.Close()
	waitFor(t, 2*time.Second, "the connection to be freed", func() bool {
		return gw.conns.count() == 0 && parkedCount(gw.Gateway) == 0
	})
}

// When many connections idle with their buffers at once (a burst), a
// newly idle one parks after the short crowd wait instead of the usual
// one.
func TestCrowdOfIdleConnectionsParksAtOnce(t *testing.T) {
	be := newSwitchable(t, "app")
	gw := startGateway(t, parkingConfig(be.addr(), ""), func(g *Gateway) {
		g.idle.shrink = time.Minute
		g.idle.maxBuf = 2
		g.idle.crowd = time.Millisecond
	})
	for range 6 {
		dialKeepalive(t, gw.addr).mustGet("app ok")
	}
	// Two wait with their buffers for a minute; the rest parked.
	waitFor(t, time.Second, "four connections to park", func() bool { return parkedCount(gw.Gateway) == 4 })
	if n := gw.idle.buffered.Load(); n != 2 {
		t.Errorf("%d connections idle with buffers, want 2", n)
	}
}

// A busy connection (its requests within the crowd wait of each other)
// keeps its buffers and goroutine in a crowd: parking it between requests
// would cost it a re-armed deadline and a resumption now and then.
func TestBusyConnectionInACrowdDoesNotPark(t *testing.T) {
	be := newSwitchable(t, "app")
	gw := startGateway(t, parkingConfig(be.addr(), ""), func(g *Gateway) {
		g.idle.shrink = time.Minute
		g.idle.maxBuf = 1
		g.idle.crowd = 300 * time.Millisecond
	})
	for range 3 {
		dialKeepalive(t, gw.addr).mustGet("app ok")
	}
	// One waits with its buffers; two parked after the crowd wait.
	waitFor(t, 2*time.Second, "two connections to park", func() bool { return parkedCount(gw.Gateway) == 2 })

	busy := dialKeepalive(t, gw.addr)
	busy.mustGet("app ok")
	busy.mustGet("app ok") // within the crowd wait of the first: busy
	time.Sleep(600 * time.Millisecond)
	if n := parkedCount(gw.Gateway); n != 2 {
		t.Errorf("%d connections parked, want 2: the busy connection parked in the crowd", n)
	}
	if n := gw.idle.buffered.Load(); n != 1 {
		t.Errorf("%d connections counted idle with buffers, want 1 (a busy one is not counted)", n)
	}
	busy.mustGet("app ok")

	// A connection whose requests come further apart than the crowd wait
	// is not busy: it parks like the others.
	slow := dialKeepalive(t, gw.addr)
	slow.mustGet("app ok")
	time.Sleep(400 * time.Millisecond) // parked by now
	slow.mustGet("app ok")
	waitFor(t, 2*time.Second, "the slow connection to park again", func() bool { return parkedCount(gw.Gateway) == 3 })
}

// Hundreds of parked connections resume at the same time, each with its
// own next request (the parker must never mix them up), and park again.
func TestManyParkedConnectionsResumeConcurrently(t *testing.T) {
	const n = 500
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Query().Get("c"))
	}))
	t.Cleanup(be.Close)
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}], keepalive: {idle: 64}}}
routes: [{match: {path_prefix: /}, upstream: app}]
`, hostPort(be.URL)), func(g *Gateway) {
		parkSoon(g)
		g.idle.maxBuf = 16
		// The tests' client watcher starts after 5ms, which under -race
		// many of these requests outlast: the watcher is started and woken
		// again by the hundred, and each woken watcher must give its
		// connection back so it can park.
	})
	clients := make([]*keepaliveConn, n)
	for i := range clients {
		clients[i] = dialKeepalive(t, gw.addr)
	}
	round := func(r int) {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i, c := range clients {
			wg.Go(func() {
				want := fmt.Sprintf("%d-%d", r, i)
				if err := c.send("GET /?c=" + want + " HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
					errs <- err
					return
				}
				code, body, err := c.response()
				if err != nil || code != 200 || body != want {
					errs <- fmt.Errorf("connection %d: %d %q %v, want %q", i, code, body, err, want)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	for r := range 3 {
		round(r)
		waitFor(t, 5*time.Second, "every connection to park", func() bool { return parkedCount(gw.Gateway) == n })
	}
	if c := gw.conns.count(); c != n {
		t.Fatalf("%d client connections, want the %d keepalive ones", c, n)
	}
}

// A connection parked across a reload serves its next request with the
// config in force when that request arrives.
func TestParkedConnectionUsesConfigOfItsNextRequest(t *testing.T) {
	a, b := newSwitchable(t, "a"), newSwitchable(t, "b")
	gw := startGateway(t, parkingConfig(a.addr(), ""), parkSoon)
	c := dialKeepalive(t, gw.addr)
	c.mustGet("a ok")
	waitFor(t, 2*time.Second, "the connection to park", func() bool { return parkedCount(gw.Gateway) == 1 })
	cfg, err := config.Parse("reload.yaml", []byte(parkingConfig(b.addr(), fmt.Sprintf("address: %q", gw.addr))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gw.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	c.mustGet("b ok")
	if n := gw.conns.count(); n != 1 {
		t.Fatalf("%d client connections, want the parked one reused", n)
	}
}
