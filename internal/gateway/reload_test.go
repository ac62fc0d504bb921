package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/skjold-dev/skjold/internal/config"
)

// connCounter counts the distinct connections a backend has seen.
type connCounter struct {
	mu    sync.Mutex
	addrs map[string]bool
}

func (c *connCounter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		if c.addrs == nil {
			c.addrs = map[string]bool{}
		}
		c.addrs[r.RemoteAddr] = true
		c.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (c *connCounter) n() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.addrs)
}

// Under continuous load, 20 reloads alternating two valid configs and 5
// invalid ones: no request fails, invalid configs are rejected with their
// report, the version moves only on valid ones, and upstream keepalive
// pools survive.
func TestReloadUnderLoadLosesNothing(t *testing.T) {
	var conns connCounter
	be := httptest.NewServer(conns.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("slow") != "" {
			time.Sleep(30 * time.Millisecond)
		}
		io.WriteString(w, "ok")
	})))
	defer be.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "skjold.yaml")
	base := `
listeners: {public: {address: %q}}
upstreams: {app: {targets: [{address: %q}], keepalive: {idle: 64}}}
routes:
  - {match: {path_prefix: /}, upstream: app, timeouts: {response: %s}}
`
	gw := startGateway(t, fmt.Sprintf(base, "127.0.0.1:0", hostPort(be.URL), "5s"))
	// Reloads name the port the gateway got, so the listener stays.
	valid := []string{fmt.Sprintf(base, gw.addr, hostPort(be.URL), "5s"), fmt.Sprintf(base, gw.addr, hostPort(be.URL), "6s")}
	invalid := fmt.Sprintf(base, gw.addr, hostPort(be.URL), "soon")
	src := config.FileSource{Path: path}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	c := newClient()
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for ctx.Err() == nil {
				url := "http://" + gw.addr + "/x"
				if w%4 == 0 {
					url += "?slow=1"
				}
				resp, err := c.Get(url)
				if err != nil {
					failed.Add(1)
					t.Errorf("request failed: %v", err)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(b) != "ok" {
					failed.Add(1)
					t.Errorf("got %d %q", resp.StatusCode, b)
					continue
				}
				ok.Add(1)
			}
		}(w)
	}

	versions := map[string]bool{}
	last := gw.Config().Version
	rejected := 0
	for i := 0; i < 25; i++ {
		time.Sleep(10 * time.Millisecond)
		if i%5 == 4 {
			os.WriteFile(path, []byte(invalid), 0o644)
			if _, err := gw.Reload(ctx, src); err == nil {
				t.Fatalf("reload %d: invalid config accepted", i)
			} else if want := "routes[0].timeouts.response"; !contains([]string{err.Error()}, err.Error()) || !containsStr(err.Error(), want) {
				t.Errorf("rejection does not name %s: %v", want, err)
			}
			rejected++
			if v := gw.Config().Version; v != last {
				t.Fatalf("version changed on a rejected reload: %s → %s", last, v)
			}
			continue
		}
		os.WriteFile(path, []byte(valid[i%2]), 0o644)
		rep, err := gw.Reload(ctx, src)
		v := rep.Version
		if err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		versions[v] = true
		last = v
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	wg.Wait()
	if failed.Load() != 0 || ok.Load() < 100 {
		t.Fatalf("%d ok, %d failed", ok.Load(), failed.Load())
	}
	if rejected != 5 || len(versions) != 2 {
		t.Errorf("rejected %d, versions %v", rejected, versions)
	}
	if st := gw.Status(); st.Reloads != 20 {
		t.Errorf("status says %d reloads, want 20", st.Reloads)
	}
	// 8 client connections; the pool may grow to about that, but reloads
	// must not have thrown pools away and redialled.
	if n := conns.n(); n > 16 {
		t.Errorf("backend saw %d connections for 8 concurrent clients: pools were not kept across reloads", n)
	}
}

func containsStr(s, sub string) bool {
	return len(sub) == 0 || len(s) >= len(sub) && (s[:len(sub)] == sub || containsStr(s[1:], sub))
}

// A breaker that is open before a reload is still open after it.
func TestReloadKeepsBreakerAndPassiveState(t *testing.T) {
	be := newSwitchable(t, "fx")
	be.status.Store(503)
	yaml := func(timeout string) string {
		return fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams:
  fx:
    targets: [{address: %q}]
    passive_health: {max_fails: 0}
    breaker: {consecutive_failures: 2, open_for: 1m}
routes:
  - {match: {path_prefix: /}, upstream: fx, retry: {tries: 1, on: [http_503]}, timeouts: {response: %s}}
`, be.addr(), timeout)
	}
	gw := startGateway(t, yaml("2s"))
	c := newClient()
	for i := 0; i < 2; i++ {
		get(t, c, "http://"+gw.addr+"/")
	}
	if code, _, _ := get(t, c, "http://"+gw.addr+"/"); code != 503 || be.hits.Load() != 2 {
		t.Fatalf("breaker did not open: %d, %d hits", code, be.hits.Load())
	}
	cfg, err := config.Parse("reload.yaml", []byte(yaml("3s")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gw.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	be.status.Store(200)
	code, body, _ := get(t, c, "http://"+gw.addr+"/")
	if code != 503 || be.hits.Load() != 2 {
		t.Fatalf("after reload: %d %s, backend hits %d (breaker state lost)", code, body, be.hits.Load())
	}
	for _, u := range gw.Status().Upstreams {
		if u.Breaker.State != "open" {
			t.Errorf("breaker %s after reload", u.Breaker.State)
		}
	}
}

// A listener added by a reload starts serving; the one that stays is never
// closed; a removed one stops accepting.
func TestReloadChangesListenersWithoutClosingKeptOnes(t *testing.T) {
	be := newSwitchable(t, "app")
	cfgText := func(listeners string) string {
		return fmt.Sprintf(`
listeners: {%s}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /}, upstream: app}]
`, listeners, be.addr())
	}
	gw := startGateway(t, cfgText(`a: {address: "127.0.0.1:0"}`))
	aAddr := gw.Addrs()["a"]
	c := newClient()
	// Keep a connection open on a across the reload.
	if code, _, _ := get(t, c, "http://"+aAddr+"/"); code != 200 {
		t.Fatal(code)
	}
	cfg, err := config.Parse("r.yaml", []byte(cfgText(fmt.Sprintf(`a: {address: %q}, b: {address: "127.0.0.1:0"}`, aAddr))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gw.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	bAddr := gw.Addrs()["b"]
	if bAddr == "" || bAddr == aAddr {
		t.Fatalf("listener b not opened: %v", gw.Addrs())
	}
	for _, a := range []string{aAddr, bAddr} {
		if code, _, _ := get(t, c, "http://"+a+"/"); code != 200 {
			t.Fatalf("%s: %d", a, code)
		}
	}
	cfg, _ = config.Parse("r.yaml", []byte(cfgText(fmt.Sprintf(`b: {address: %q}`, bAddr))))
	if _, err := gw.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "listener a to close", func() bool {
		_, err := (&http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}).Get("http://" + aAddr + "/")
		return err != nil
	})
	if code, _, _ := get(t, c, "http://"+bAddr+"/"); code != 200 {
		t.Fatalf("b after removing a: %d", code)
	}
}

// Graceful shutdown: a slow request in flight completes; idle keepalive
// connections are closed at once; Serve returns nil.
func TestShutdownLetsInFlightRequestsFinish(t *testing.T) {
	var slowSeen atomic.Bool
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			slowSeen.Store(true)
		}
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "done")
	}))
	defer be.Close()
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
shutdown_grace: 5s
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /}, upstream: app}]
`, hostPort(be.URL)))
	idle := newClient()
	if code, _, _ := get(t, idle, "http://"+gw.addr+"/"); code != 200 {
		t.Fatal(code)
	}
	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := newClient().Get("http://" + gw.addr + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{code: resp.StatusCode, body: string(b)}
	}()
	waitFor(t, 2*time.Second, "the slow request to reach the backend", slowSeen.Load)
	start := time.Now()
	if err := gw.stop(); err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	r := <-res
	if r.err != nil || r.code != 200 || r.body != "done" {
		t.Fatalf("in-flight request: %+v", r)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v", d)
	}
}

// A WebSocket opened before a reload still echoes after it.
func TestReloadDoesNotCutWebSockets(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	}))
	defer be.Close()
	yaml := func(resp string) string {
		return fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {ws: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /}, upstream: ws, timeouts: {response: %s}}]
`, hostPort(be.URL), resp)
	}
	gw := startGateway(t, yaml("5s"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+gw.addr+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	echo := func(msg string) {
		t.Helper()
		if err := conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatalf("write %q: %v", msg, err)
		}
		_, got, err := conn.Read(ctx)
		if err != nil || string(got) != msg {
			t.Fatalf("echo %q: got %q, %v", msg, got, err)
		}
	}
	echo("before")
	for i := 0; i < 3; i++ {
		cfg, err := config.Parse("r.yaml", []byte(yaml(fmt.Sprintf("%ds", 6+i))))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := gw.Apply(cfg); err != nil {
			t.Fatal(err)
		}
		echo(fmt.Sprintf("after reload %d", i))
	}
	conn.Close(websocket.StatusNormalClosure, "")
}
