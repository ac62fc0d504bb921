package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// watchedBuffer is an output stream the test reads while the command
// writes it, with a channel closed once a marker has been written.
type watchedBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker string
	seen   chan struct{}
}

func newWatchedBuffer(marker string) *watchedBuffer {
	return &watchedBuffer{marker: marker, seen: make(chan struct{})}
}

func (w *watchedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if w.marker != "" && strings.Contains(w.buf.String(), w.marker) {
		close(w.seen)
		w.marker = ""
	}
	return n, err
}

func (w *watchedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// demoRun is `skjold demo` running in the background.
type demoRun struct {
	stdout, stderr *watchedBuffer
	cancel         context.CancelFunc
	code           chan int
	// Read from the intro: where things listen and what to run.
	gateway, admin, fx          string
	paymentsURL, fxURL, fxProbe string
}

const introEnd = "Ctrl-C stops the demo."

// startDemo runs `skjold demo` with args until the test ends, and reads
// the addresses from the intro it prints.
func startDemo(t *testing.T, args ...string) *demoRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &demoRun{
		stdout: newWatchedBuffer(""),
		stderr: newWatchedBuffer(introEnd),
		cancel: cancel,
		code:   make(chan int, 1),
	}
	go func() {
		d.code <- Run(ctx, append([]string{"demo"}, args...), strings.NewReader(""), d.stdout, d.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		<-d.code
	})
	select {
	case <-d.stderr.seen:
	case code := <-d.code:
		d.code <- code
		t.Fatalf("demo exited %d before printing its intro:\n%s", code, d.stderr)
	case <-time.After(10 * time.Second):
		t.Fatalf("no intro within 10s:\n%s", d.stderr)
	}
	intro := d.stderr.String()
	find := func(re string) string {
		t.Helper()
		m := regexp.MustCompile(re).FindStringSubmatch(intro)
		if m == nil {
			t.Fatalf("the intro has nothing matching %s:\n%s", re, intro)
		}
		return m[1]
	}
	d.gateway = find(`(?m)^  gateway +http://(\S+)`)
	d.admin = find(`(?m)^  admin API +http://(\S+)`)
	d.fx = find(`(?m)^  curl -X POST (\S+)/_demo/stall$`)
	d.paymentsURL = "http://" + find(`(?m)^  for i in 1 2 3 4; do curl -s (\S+); done$`)
	d.fxURL = "http://" + find(`(?m)^  curl -s (\S+/api/fx/\S+)$`)
	d.fxProbe = find(`(?m)^  for i in \$\(seq 8\); do curl -s -o /dev/null -w '%\{http_code\} %\{time_total\}s\\n' (\S+); done$`)
	if "http://"+d.fxProbe != d.fxURL {
		t.Errorf("the intro probes %s but shows fx at %s", d.fxProbe, d.fxURL)
	}
	return d
}

type answer struct {
	status  int
	elapsed time.Duration
	body    map[string]string
	header  http.Header
}

func call(t *testing.T, c *http.Client, method, url string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, elapsed: time.Since(start), header: resp.Header}
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		t.Fatalf("%s %s: %d with a body that is not a JSON object: %q", method, url, a.status, raw)
	}
	return a
}

// upstreamStatus is the part of GET /status the story checks.
type upstreamStatus struct {
	Name    string `json:"name"`
	Breaker *struct {
		State string `json:"state"`
	} `json:"breaker"`
	Targets []struct {
		Address string `json:"address"`
		Passive string `json:"passive_health"`
	} `json:"targets"`
}

// fxStatus asks the running demo for its state with `skjold status --json`,
// as the intro suggests, and returns the fx upstream.
func fxStatus(t *testing.T, admin string) upstreamStatus {
	t.Helper()
	code, out, errOut := runCLI(t, "status", "--admin", admin, "--json")
	if code != 0 {
		t.Fatalf("skjold status: exit %d: %s", code, errOut)
	}
	var st struct {
		Upstreams []upstreamStatus `json:"upstreams"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("skjold status --json: %v: %s", err, out)
	}
	for _, u := range st.Upstreams {
		if u.Name == "fx" {
			return u
		}
	}
	t.Fatalf("no fx upstream in %s", out)
	return upstreamStatus{}
}

// The story docs/demo.md tells: payments is served by two instances; fx
// stalls, times out three times and then fails fast behind its breaker
// while payments carries on; fx heals and comes back; Ctrl-C ends it all
// with exit status 0. It runs on the real timings of the built-in config
// (1s timeouts, 10s passive ejection), so it takes about 15s.
func TestDemoTellsTheStalledDependencyStory(t *testing.T) {
	t.Parallel()
	d := startDemo(t, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--ports-from", "0")
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	instances := map[string]bool{}
	for i := 0; i < 20 && len(instances) < 2; i++ {
		a := call(t, c, "GET", d.paymentsURL)
		if a.status != 200 || a.body["service"] != "payments" || a.body["path"] != "/charge" {
			t.Fatalf("payments: %d %v", a.status, a.body)
		}
		instances[a.body["instance"]] = true
	}
	if len(instances) != 2 {
		t.Errorf("20 payments requests all went to %v", instances)
	}
	if a := call(t, c, "GET", d.fxURL); a.status != 200 || a.body["service"] != "fx" || a.body["path"] != "/rates" {
		t.Fatalf("fx before the stall: %d %v", a.status, a.body)
	}

	if a := call(t, c, "POST", "http://"+d.fx+"/_demo/stall"); a.status != 200 || a.body["mode"] != "stall" {
		t.Fatalf("stall: %d %v", a.status, a.body)
	}
	// consecutive_failures is 3: three 504s, each after the 1s response
	// timeout, then the breaker answers at once.
	for i := 1; i <= 3; i++ {
		a := call(t, c, "GET", d.fxURL)
		if a.status != 504 || a.elapsed < 900*time.Millisecond || a.elapsed > 3*time.Second {
			t.Fatalf("stalled fx, request %d: %d after %v, want 504 after about 1s (%v)", i, a.status, a.elapsed, a.body)
		}
	}
	for i := 0; i < 5; i++ {
		a := call(t, c, "GET", d.fxURL)
		if a.status != 503 || a.elapsed > 200*time.Millisecond {
			t.Fatalf("fx with its breaker open: %d after %v, want a fast 503 (%v)", a.status, a.elapsed, a.body)
		}
		if !strings.Contains(a.body["error"], "circuit breaker open") || a.header.Get("Retry-After") == "" {
			t.Errorf("fast 503: %v, Retry-After %q", a.body, a.header.Get("Retry-After"))
		}
	}
	if a := call(t, c, "GET", d.paymentsURL); a.status != 200 || a.elapsed > 500*time.Millisecond {
		t.Errorf("payments while fx is down: %d after %v", a.status, a.elapsed)
	}
	if u := fxStatus(t, d.admin); u.Breaker == nil || u.Breaker.State != "open" || len(u.Targets) != 1 || u.Targets[0].Passive != "down" {
		t.Errorf("skjold status while fx stalls: %+v", u)
	}
	if code, out, errOut := runCLI(t, "status", "--admin", d.admin); code != 0 || !strings.Contains(out, "upstream fx") || !strings.Contains(out, "breaker open") {
		t.Errorf("skjold status while fx stalls: exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}

	if a := call(t, c, "POST", "http://"+d.fx+"/_demo/heal"); a.status != 200 || a.body["mode"] != "heal" {
		t.Fatalf("heal: %d %v", a.status, a.body)
	}
	// Recovery waits for passive health's 10s fail_timeout and the
	// breaker's half-open probe; poll as the intro's loop does.
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		a := call(t, c, "GET", d.fxURL)
		if a.status == 200 {
			if a.body["service"] != "fx" {
				t.Errorf("recovered fx answered %v", a.body)
			}
			break
		}
		if a.status != 503 || a.elapsed > 200*time.Millisecond {
			t.Fatalf("while fx recovers: %d after %v (%v), want fast 503s until it is back", a.status, a.elapsed, a.body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("fx did not recover within 20s of healing; last answer %d %v", a.status, a.body)
		}
		<-tick.C
	}

	d.cancel()
	select {
	case code := <-d.code:
		d.code <- code
		if code != 0 {
			t.Errorf("exit status %d after Ctrl-C; stderr:\n%s", code, d.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the demo did not stop within 10s of its context ending")
	}
	for _, addr := range []string{d.gateway, d.admin, d.fx} {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after the demo stopped", addr)
		}
	}
	access := d.stdout.String()
	for _, want := range []string{`"status":504`, `"status":503`, `"route":"fx"`, `"route":"payments"`} {
		if !strings.Contains(access, want) {
			t.Errorf("the access log on stdout has no %s", want)
		}
	}
	if strings.Contains(access, introEnd) {
		t.Error("the intro went to stdout, into the access log")
	}
}

func TestDemoSuggestsAFreeAddressWhenOneIsTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	port := taken.Addr().(*net.TCPAddr).Port

	for _, tc := range []struct {
		name string
		args []string
		want *regexp.Regexp
	}{
		{"listen", []string{"--listen", addr, "--admin", "127.0.0.1:0", "--ports-from", "0"},
			regexp.MustCompile(`^skjold: ` + regexp.QuoteMeta(addr) + ` is in use; try --listen 127\.0\.0\.1:(\d+)\n$`)},
		{"admin", []string{"--listen", "127.0.0.1:0", "--admin", addr, "--ports-from", "0"},
			regexp.MustCompile(`^skjold: ` + regexp.QuoteMeta(addr) + ` is in use; try --admin 127\.0\.0\.1:(\d+)\n$`)},
		{"services", []string{"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--ports-from", strconv.Itoa(port)},
			regexp.MustCompile(`^skjold: ` + regexp.QuoteMeta(addr) + ` is in use; try --ports-from (\d+)\n$`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, append([]string{"demo"}, tc.args...)...)
			m := tc.want.FindStringSubmatch(errOut)
			if code != 1 || out != "" || m == nil {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 and stderr matching %s", code, out, errOut, tc.want)
			}
			if p, _ := strconv.Atoi(m[1]); p <= port {
				t.Errorf("suggested port %d is not after the taken %d", p, port)
			}
		})
	}
}

func TestDemoRefusesBadFlagsBeforeListening(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ports-from", "65534"}, "--ports-from: demo services need three consecutive ports from 65534"},
		{[]string{"--ports-from", "-1"}, "--ports-from: demo services need three consecutive ports from -1"},
		{[]string{"--listen", "8080"}, `listen address "8080": expected host:port`},
		{[]string{"--admin", "localhost"}, `admin address "localhost": expected host:port`},
		{[]string{"--listen", "127.0.0.1:7000", "--admin", "127.0.0.1:7000"}, "the gateway (--listen) and the admin API (--admin) would both listen on 127.0.0.1:7000"},
		{[]string{"--listen", "127.0.0.1:7001", "--ports-from", "7000"}, "the gateway (--listen) and the second payments instance would both listen on 127.0.0.1:7001"},
	} {
		code, out, errOut := runCLI(t, append([]string{"demo"}, tc.args...)...)
		if code != 2 || out != "" || !strings.HasPrefix(errOut, "skjold: ") || !strings.Contains(errOut, tc.want) {
			t.Errorf("demo %v: exit %d, stderr %q; want exit 2 saying %q", tc.args, code, errOut, tc.want)
		}
	}
}
