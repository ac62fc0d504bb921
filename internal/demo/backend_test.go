package demo

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: a
// stalled request must end when its client leaves or its backend closes.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startBackend starts a backend on a free loopback port and closes it when
// the test ends. holds, when not nil, receives every onHold call.
func startBackend(t *testing.T, name string, controls bool, holds chan int) *Backend {
	t.Helper()
	o := BackendOptions{Name: name, Addr: "127.0.0.1:0", Controls: controls}
	if holds != nil {
		o.onHold = func(d int) { holds <- d }
	}
	b, err := StartBackend(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// client returns an HTTP client that closes its connections at the end of
// the test, so no keepalive goroutine outlives it.
func client(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

type reply struct {
	status int
	answer Answer
	raw    string
	err    error
}

func do(ctx context.Context, c *http.Client, method, url string) reply {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return reply{err: err}
	}
	resp, err := c.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, raw: string(body), err: err}
	if resp.Header.Get("Content-Type") != "application/json" {
		r.err = errors.Join(r.err, errors.New("Content-Type "+resp.Header.Get("Content-Type")))
	}
	if jerr := json.Unmarshal(body, &r.answer); jerr != nil {
		r.err = errors.Join(r.err, jerr)
	}
	return r
}

func get(t *testing.T, c *http.Client, url string) reply {
	t.Helper()
	r := do(t.Context(), c, http.MethodGet, url)
	if r.err != nil {
		t.Fatalf("GET %s: %v", url, r.err)
	}
	return r
}

func post(t *testing.T, c *http.Client, url string) reply {
	t.Helper()
	r := do(t.Context(), c, http.MethodPost, url)
	if r.err != nil {
		t.Fatalf("POST %s: %v", url, r.err)
	}
	return r
}

func TestBackendAnswersWithServiceInstanceAndPath(t *testing.T) {
	b := startBackend(t, "payments", false, nil)
	_, port, _ := net.SplitHostPort(b.Addr())
	c := client(t)
	for _, tc := range []struct {
		path   string
		status string
	}{
		{"/charge", ""},
		{"/charges/42?expand=card", ""},
		{"/health", "ok"},
	} {
		r := get(t, c, "http://"+b.Addr()+tc.path)
		path, _, _ := strings.Cut(tc.path, "?")
		want := Answer{Service: "payments", Instance: port, Path: path, Status: tc.status}
		if r.status != 200 || r.answer != want {
			t.Errorf("GET %s: %d %+v, want 200 %+v", tc.path, r.status, r.answer, want)
		}
	}
	r := get(t, c, "http://"+b.Addr()+"/charge")
	if want := `{"service":"payments","instance":"` + port + `","path":"/charge"}` + "\n"; r.raw != want {
		t.Errorf("body %q, want %q", r.raw, want)
	}
}

func TestControlEndpointsSwitchModes(t *testing.T) {
	fx := startBackend(t, "fx", true, nil)
	c := client(t)
	base := "http://" + fx.Addr()

	for _, tc := range []struct {
		control      Mode
		wantStatus   int
		wantHealth   int
		wantErrorSay string
	}{
		{Failing, 500, 500, "failing on purpose"},
		{Healthy, 200, 200, ""},
		{Failing, 500, 500, "failing on purpose"},
		{Failing, 500, 500, "failing on purpose"}, // idempotent
		{Healthy, 200, 200, ""},
	} {
		r := post(t, c, base+ControlPrefix+string(tc.control))
		if r.status != 200 || !strings.Contains(r.raw, `"mode":"`+string(tc.control)+`"`) {
			t.Fatalf("POST %s: %d %s", tc.control, r.status, r.raw)
		}
		if got := fx.Mode(); got != tc.control {
			t.Errorf("after POST %s the mode is %s", tc.control, got)
		}
		r = get(t, c, base+"/rates")
		if r.status != tc.wantStatus || !strings.Contains(r.answer.Error, tc.wantErrorSay) || r.answer.Service != "fx" {
			t.Errorf("%s: GET /rates: %d %s", tc.control, r.status, r.raw)
		}
		if r := get(t, c, base+"/health"); r.status != tc.wantHealth {
			t.Errorf("%s: GET /health: %d %s", tc.control, r.status, r.raw)
		}
	}
}

func TestControlEndpointsRefuseOtherMethodsAndNames(t *testing.T) {
	fx := startBackend(t, "fx", true, nil)
	c := client(t)
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, ControlPrefix + "stall"},
		{http.MethodPost, ControlPrefix + "explode"},
		{http.MethodPost, ControlPrefix},
	} {
		r := do(t.Context(), c, tc.method, "http://"+fx.Addr()+tc.path)
		if r.status != 404 || !strings.Contains(r.raw, "use POST /_demo/stall, /_demo/fail or /_demo/heal") {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, r.status, r.raw)
		}
	}
	if fx.Mode() != Healthy {
		t.Errorf("mode %s after refused controls", fx.Mode())
	}
}

func TestBackendWithoutControlsTreatsControlPathsAsRequests(t *testing.T) {
	p := startBackend(t, "payments", false, nil)
	c := client(t)
	r := post(t, c, "http://"+p.Addr()+ControlPrefix+"stall")
	if r.status != 200 || r.answer.Path != "/_demo/stall" {
		t.Errorf("POST /_demo/stall on payments: %d %s", r.status, r.raw)
	}
	if p.Mode() != Healthy {
		t.Errorf("payments switched to %s", p.Mode())
	}
	if r := get(t, c, "http://"+p.Addr()+"/charge"); r.status != 200 {
		t.Errorf("GET /charge: %d", r.status)
	}
}

// waitHold receives the next onHold call, or fails the test.
func waitHold(t *testing.T, holds chan int, want int) {
	t.Helper()
	select {
	case d := <-holds:
		if d != want {
			t.Fatalf("onHold(%d), want onHold(%d)", d, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no onHold(%d) within 5s", want)
	}
}

func TestStalledBackendHoldsRequestsUntilHealed(t *testing.T) {
	for _, path := range []string{"/rates", "/health"} {
		t.Run(path, func(t *testing.T) {
			holds := make(chan int, 4)
			fx := startBackend(t, "fx", true, holds)
			c := client(t)
			post(t, c, "http://"+fx.Addr()+ControlPrefix+"stall")

			done := make(chan reply, 1)
			go func() { done <- do(context.Background(), c, http.MethodGet, "http://"+fx.Addr()+path) }()
			waitHold(t, holds, +1)
			select {
			case r := <-done:
				t.Fatalf("stalled request answered: %d %s %v", r.status, r.raw, r.err)
			default:
			}
			// Control endpoints are not stalled.
			post(t, c, "http://"+fx.Addr()+ControlPrefix+"heal")
			r := <-done
			if r.err != nil || r.status != 200 || r.answer.Path != path {
				t.Fatalf("after heal: %d %s %v", r.status, r.raw, r.err)
			}
			waitHold(t, holds, -1)
		})
	}
}

func TestStalledRequestsAnswerAsTheNextModeSays(t *testing.T) {
	holds := make(chan int, 4)
	fx := startBackend(t, "fx", true, holds)
	c := client(t)
	fx.SetMode(Stalled)
	done := make(chan reply, 1)
	go func() { done <- do(context.Background(), c, http.MethodGet, "http://"+fx.Addr()+"/rates") }()
	waitHold(t, holds, +1)
	fx.SetMode(Failing)
	if r := <-done; r.status != 500 {
		t.Fatalf("stalled then failing: %d %s %v", r.status, r.raw, r.err)
	}
	waitHold(t, holds, -1)
}

func TestStalledRequestEndsWhenClientLeaves(t *testing.T) {
	holds := make(chan int, 4)
	fx := startBackend(t, "fx", true, holds)
	c := client(t)
	fx.SetMode(Stalled)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan reply, 1)
	go func() { done <- do(ctx, c, http.MethodGet, "http://"+fx.Addr()+"/rates") }()
	waitHold(t, holds, +1)
	cancel()
	if r := <-done; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled client got %d %v", r.status, r.err)
	}
	// The handler notices the closed connection and stops holding, while
	// the backend stays stalled.
	waitHold(t, holds, -1)
	if fx.Mode() != Stalled {
		t.Errorf("mode %s", fx.Mode())
	}
}

func TestCloseEndsStalledRequests(t *testing.T) {
	holds := make(chan int, 4)
	fx, err := StartBackend(BackendOptions{Name: "fx", Addr: "127.0.0.1:0", Controls: true,
		onHold: func(d int) { holds <- d }})
	if err != nil {
		t.Fatal(err)
	}
	c := client(t)
	fx.SetMode(Stalled)
	done := make(chan reply, 1)
	go func() { done <- do(context.Background(), c, http.MethodGet, "http://"+fx.Addr()+"/rates") }()
	waitHold(t, holds, +1)

	start := time.Now()
	if err := fx.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Close must not wait out its 5s grace for a request that would never
	// finish on its own.
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	waitHold(t, holds, -1)
	if r := <-done; r.err == nil {
		t.Errorf("the held request was answered %d after Close", r.status)
	}
	if err := fx.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := net.Dial("tcp", fx.Addr()); err == nil {
		t.Error("the backend still accepts connections after Close")
	}
}

func TestStartBackendReportsAddressInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()

	_, err = StartBackend(BackendOptions{Name: "payments", Addr: addr})
	var iu *InUseError
	if !errors.As(err, &iu) || iu.Addr != addr {
		t.Fatalf("StartBackend on a taken address: %v", err)
	}
	if want := "demo service payments: " + addr + " is in use"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if err := CheckFree(addr); !errors.As(err, &iu) {
		t.Errorf("CheckFree(%s) = %v", addr, err)
	}
}

func TestStartBackendRequiresNameAndAddr(t *testing.T) {
	for _, o := range []BackendOptions{{Addr: "127.0.0.1:0"}, {Name: "fx"}} {
		if b, err := StartBackend(o); err == nil {
			b.Close()
			t.Errorf("StartBackend(%+v) succeeded", o)
		}
	}
}

func TestNextFreeSkipsTakenPorts(t *testing.T) {
	// Hold two consecutive ports, then ask for the port before them: the
	// answer must lie beyond both.
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	var base int
	for try := 0; try < 20 && base == 0; try++ {
		l1, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l1.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+1)))
		if err != nil {
			l1.Close()
			continue
		}
		held = append(held, l1, l2)
		base = p
	}
	if base == 0 {
		t.Fatal("could not hold two consecutive ports")
	}
	got := NextFree(net.JoinHostPort("127.0.0.1", strconv.Itoa(base-1)), 1)
	_, port, _ := net.SplitHostPort(got)
	if p := atoi(port); p < base+2 {
		t.Errorf("NextFree from %d with %d and %d taken = %q", base-1, base, base+1, got)
	}
	// n=3 from base: the run must not include either held port.
	got = NextFree(net.JoinHostPort("127.0.0.1", strconv.Itoa(base)), 3)
	_, port, _ = net.SplitHostPort(got)
	if p := atoi(port); p < base+2 {
		t.Errorf("NextFree(3) from %d = %q", base, got)
	}
	for _, bad := range []string{"nonsense", "127.0.0.1:http", "127.0.0.1:0"} {
		if got := NextFree(bad, 1); got != "" {
			t.Errorf("NextFree(%q) = %q, want empty", bad, got)
		}
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
