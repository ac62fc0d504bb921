package deploy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/skjold-dev/skjold/internal/admin"
	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/gateway"
)

// appBinary builds the test service (testdata/app) once per test binary.
var appBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "skjold-deploy-app-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "app")
	cmd := exec.Command("go", "build", "-o", out, "./testdata/app")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the test app: %w\n%s", err, b)
	}
	return out, nil
})

func testApp(t *testing.T) string {
	t.Helper()
	p, err := appBinary()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMain(m *testing.M) {
	code := m.Run()
	if p, err := appBinary(); err == nil {
		os.RemoveAll(filepath.Dir(p))
	}
	os.Exit(code)
}

// portBase hands each test its own port range, below the kernel's
// ephemeral range so that client sockets never take them.
var portBase atomic.Int32

func portRange() string {
	lo := 21000 + int(os.Getpid()%100)*40 + int(portBase.Add(1)%4)*10
	return fmt.Sprintf("%d-%d", lo, lo+9)
}

// testEnv is a gateway with its admin API, on loopback, in this process.
type testEnv struct {
	url, wsURL string
	adminAddr  string
	gw         *gateway.Gateway
	client     *admin.Client
	cfg        *config.Config
	stateDir   string
	path       string // the config file, for the skjold binary
}

// serviceYAML is the services section the tests use; %s are the port
// range and the state directory. The windows are short so that a deploy
// takes seconds.
const serviceYAML = `services:
  app:
    upstream: app
    ports: %s
    state_dir: %s
    health:
      interval: 100ms
      timeout: 100ms
      deadline: 5s
      successes: 3
    drain_timeout: 1s
    stop_grace: 3s
    watch: 1500ms
    min_requests: 20
`

// startEnv starts a gateway whose upstream "app" points at nothing yet
// and returns it with the config of a service deploying it. extra is
// appended to the services.app section (indented by four spaces).
func startEnv(t *testing.T, extra string) *testEnv {
	t.Helper()
	stateDir := t.TempDir()
	base := `listeners: {public: {address: 127.0.0.1:0}}
admin: {listen: 127.0.0.1:0}
access_log: {enabled: false}
upstreams:
  app:
    targets: [{address: 127.0.0.1:1}]
routes:
  - match: {path_prefix: /}
    upstream: app
`
	cfg, err := config.Parse("gw.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("SKJOLD_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	opts := gateway.Options{Logger: logger}
	if p := os.Getenv("SKJOLD_TEST_ACCESS_LOG"); p != "" {
		f, _ := os.Create(p)
		opts.AccessLog = slog.New(slog.NewJSONHandler(f, nil))
	}
	g := gateway.New(opts)
	if _, err := g.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- g.Serve(ctx) }()
	adm, err := admin.Start(context.Background(), admin.Options{Listen: "127.0.0.1:0", Gateway: g, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		adm.Close()
		cancel()
		select {
		case <-served:
		case <-time.After(10 * time.Second):
			t.Error("gateway did not stop")
		}
	})
	addr := g.Addrs()["public"]
	full := strings.Replace(base, "127.0.0.1:0}}\nadmin: {listen: 127.0.0.1:0}", "127.0.0.1:0}}\nadmin: {listen: "+adm.Addr()+"}", 1) +
		fmt.Sprintf(serviceYAML, portRange(), stateDir) + indent(extra)
	path := filepath.Join(t.TempDir(), "skjold.yaml")
	if err := os.WriteFile(path, []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}
	dcfg, err := config.LoadFile(path)
	if err != nil {
		t.Fatalf("service config: %v\n%s", err, full)
	}
	c := admin.NewClient(adm.Addr(), "")
	t.Cleanup(c.Close)
	return &testEnv{url: "http://" + addr, wsURL: "ws://" + addr + "/ws", adminAddr: adm.Addr(), gw: g,
		client: c, cfg: dcfg, stateDir: stateDir, path: path}
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "    " + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// events records a deploy's progress.
type events struct {
	t  *testing.T
	mu sync.Mutex
	ev []Event
}

func (e *events) Report(ev Event) {
	e.mu.Lock()
	e.ev = append(e.ev, ev)
	e.mu.Unlock()
	if os.Getenv("SKJOLD_TEST_LOG") != "" {
		e.t.Logf("%s %-8s %-8s %s", ev.Time.Format("15:04:05.000"), ev.Step, ev.Status, ev.Message)
	}
}

// first returns the first event of release (any, when 0) and step with
// status whose message contains sub.
func (e *events) first(release int, step Step, status, sub string) (Event, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.ev {
		if (release == 0 || ev.Release == release) && ev.Step == step && ev.Status == status && strings.Contains(ev.Message, sub) {
			return ev, true
		}
	}
	return Event{}, false
}

func (env *testEnv) deployer(t *testing.T, drivers map[string]Driver) (*Deployer, *events) {
	t.Helper()
	ev := &events{t: t}
	d, err := New(Options{
		Service: "app", Config: env.cfg.Services["app"], StateDir: env.cfg.ServiceStateDir("app"),
		Gateway: AdminGateway{Client: env.client}, Drivers: drivers, Progress: ev, Who: "test@host",
	})
	if err != nil {
		t.Fatal(err)
	}
	return d, ev
}

// processDrivers are the drivers of a test that deploys processes.
func processDrivers() map[string]Driver {
	return map[string]Driver{DriverProcess: NewProcess()}
}

// appCmd is the command line that runs the test app as version v.
func appCmd(t *testing.T, v string, env ...string) string {
	return strings.Join(append(append([]string{"VERSION=" + v}, env...), "exec", testApp(t)), " ")
}

// stopAll stops whatever instances the state still records, so that no
// test leaves a process or container behind.
func stopAll(t *testing.T, d *Deployer) {
	t.Helper()
	t.Cleanup(func() {
		st, _ := d.store.Load()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, r := range append([]*Release{st.Current, st.InProgress}, st.Retiring...) {
			if r != nil && r.Instance != nil {
				if drv := d.opts.Drivers[r.Instance.Driver]; drv != nil {
					_ = drv.Stop(ctx, r.Instance, time.Second)
				}
			}
		}
		d.removeStrays(ctx, &State{})
	})
}

// getVersion asks the gateway once and returns the answering version.
func getVersion(c *http.Client, url string) (string, int, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode, err
}

func newHTTPClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 128}}
}

// allFrom sends n requests and fails the test unless every one is a 200
// from version want.
func allFrom(t *testing.T, url string, n int, want string) {
	t.Helper()
	c := newHTTPClient()
	defer c.CloseIdleConnections()
	for i := range n {
		v, code, err := getVersion(c, url)
		if err != nil || code != 200 || v != want {
			t.Fatalf("request %d after the deploy: %q %d %v; want 200 from %s", i, v, code, err, want)
		}
	}
}

// load sends requests at a steady rate until stopped; one in ten is slow.
type load struct {
	url     string
	rate    int
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started time.Time

	sent, failed, slow atomic.Int64
	mu                 sync.Mutex
	versions           map[string]int
	failures           []string
	answers            []loadAnswer
}

// loadAnswer is one answer the load received: when its request was sent,
// when the answer came, from which version, with which status.
type loadAnswer struct {
	sent, at time.Time
	version  string
	code     int
}

type loadResult struct {
	sent, failed, slow int64
	took               time.Duration
	versions           map[string]int
	failures           []string
	// answers are in the order they were received.
	answers []loadAnswer
}

// from returns the answers of version v, in the order they were received.
func (r loadResult) from(v string) []loadAnswer {
	var out []loadAnswer
	for _, a := range r.answers {
		if a.version == v {
			out = append(out, a)
		}
	}
	return out
}

func (r loadResult) rate() float64 { return float64(r.sent) / r.took.Seconds() }

func startLoad(t *testing.T, url string, rate int) *load {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{url: url, rate: rate, cancel: cancel, started: time.Now(), versions: map[string]int{}}
	tokens := make(chan int64, rate)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer close(tokens)
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		var n int64
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				n++
				select {
				case tokens <- n:
				default: // every worker busy: the rate falls, and the test sees it
				}
			}
		}
	}()
	for range 48 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			// One connection per worker, as a client process has: the
			// gateway reads its config snapshot when a connection turns
			// idle, so a connection left idle across a switch and the
			// stop of the old target afterwards would send its next
			// request to a stopped target (reported to the gateway's
			// owners); a shared LIFO pool leaves some connections idle
			// for seconds.
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 1}}
			defer c.CloseIdleConnections()
			for n := range tokens {
				u := l.url + "/"
				if n%10 == 0 {
					u = l.url + "/?slow_ms=300"
					l.slow.Add(1)
				}
				l.sent.Add(1)
				sent := time.Now()
				v, code, err := getVersion(c, u)
				l.mu.Lock()
				if err == nil {
					// A failing release answers "VERSION: internal error".
					ver, _, _ := strings.Cut(strings.TrimSpace(v), ":")
					l.answers = append(l.answers, loadAnswer{sent: sent, at: time.Now(), version: ver, code: code})
				}
				if err != nil || code != 200 {
					l.failed.Add(1)
					if len(l.failures) < 10 {
						l.failures = append(l.failures, fmt.Sprintf("%s %s: %d %q %v", time.Now().Format("15:04:05.000"), u, code, v, err))
					}
				} else {
					l.versions[v]++
				}
				l.mu.Unlock()
			}
		}()
	}
	t.Cleanup(func() { l.stop() })
	return l
}

// waitSent blocks until the load has sent n requests.
func (l *load) waitSent(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.sent.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("load sent only %d requests in 10s", l.sent.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (l *load) stop() loadResult {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return loadResult{sent: l.sent.Load(), failed: l.failed.Load(), slow: l.slow.Load(),
		took: time.Since(l.started), versions: l.versions, failures: l.failures, answers: l.answers}
}

// wsWatch holds a WebSocket open through the gateway, echoing every 50ms.
type wsWatch struct {
	done     chan struct{}
	mu       sync.Mutex
	replies  map[string]int
	status   websocket.StatusCode
	err      error
	closedAt time.Time
}

func watchWS(t *testing.T, url string) *wsWatch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("websocket through the gateway: %v", err)
	}
	w := &wsWatch{done: make(chan struct{}), replies: map[string]int{}}
	go func() {
		defer close(w.done)
		defer c.CloseNow()
		for i := 0; ; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := c.Write(ctx, websocket.MessageText, []byte(fmt.Sprint(i)))
			var msg []byte
			if err == nil {
				_, msg, err = c.Read(ctx)
			}
			cancel()
			w.mu.Lock()
			if err != nil {
				w.status, w.err, w.closedAt = websocket.CloseStatus(err), err, time.Now()
				w.mu.Unlock()
				return
			}
			v, _, _ := strings.Cut(string(msg), ":")
			w.replies[v]++
			w.mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	}()
	t.Cleanup(func() {
		c.CloseNow()
		<-w.done
	})
	return w
}

// requireServices skips a test that needs a real service, unless the
// environment says every such test must run.
func requireServices(t *testing.T, what string, err error) {
	t.Helper()
	if os.Getenv("SKJOLD_REQUIRE_SERVICES") == "1" {
		t.Fatalf("%s is required (SKJOLD_REQUIRE_SERVICES=1): %v", what, err)
	}
	t.Skipf("%s not available: %v", what, err)
}
