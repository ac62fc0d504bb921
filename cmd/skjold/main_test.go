package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests run the real binary as a separate process, so signals and
// exit codes are the ones an operator sees.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func skjoldBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "skjold-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "skjold")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type process struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan error
	listen string
	admin  string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func writeConfig(t *testing.T, path, listen, admin, backend, responseTimeout string) {
	t.Helper()
	cfg := fmt.Sprintf(`
listeners: {public: {address: %q}}
admin: {listen: %q}
shutdown_grace: 10s
upstreams: {app: {targets: [{address: %q}]}}
routes:
  - {match: {path_prefix: /}, upstream: app, timeouts: {response: %s}}
`, listen, admin, backend, responseTimeout)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

func startServe(t *testing.T, cfgPath, listen, admin string) *process {
	t.Helper()
	p := &process{stderr: &syncBuffer{}, done: make(chan error, 1), listen: listen, admin: admin}
	p.cmd = exec.Command(skjoldBinary(t), "serve", "-c", cfgPath)
	p.cmd.Stdout = io.Discard
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("skjold serve not ready; stderr:\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *process) version(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + p.admin + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		ConfigVersion string `json:"config_version"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.ConfigVersion
}

func (p *process) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		if err == nil {
			return 0
		}
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		t.Fatal(err)
	case <-time.After(d):
		t.Fatalf("process did not exit within %v; stderr:\n%s", d, p.stderr.String())
	}
	return -1
}

func slowBackend(t *testing.T, delay time.Duration) string {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(delay)
		}
		io.WriteString(w, "ok "+r.URL.Path)
	}))
	t.Cleanup(be.Close)
	return strings.TrimPrefix(be.URL, "http://")
}

// SIGTERM while a slow request is in flight: the request completes and the
// process exits 0.
func TestServeSIGTERMFinishesInFlightRequests(t *testing.T) {
	backend := slowBackend(t, 700*time.Millisecond)
	cfg := filepath.Join(t.TempDir(), "skjold.yaml")
	listen, admin := freePort(t), freePort(t)
	writeConfig(t, cfg, listen, admin, backend, "5s")
	p := startServe(t, cfg, listen, admin)

	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + listen + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{code: resp.StatusCode, body: string(b)}
	}()
	time.Sleep(200 * time.Millisecond) // the request is now waiting on the backend
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := <-res
	if r.err != nil || r.code != 200 || r.body != "ok /slow" {
		t.Fatalf("in-flight request across SIGTERM: %+v", r)
	}
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", code, p.stderr.String())
	}
	// New connections are refused once it has gone.
	if _, err := net.DialTimeout("tcp", listen, time.Second); err == nil {
		t.Error("still accepting after shutdown")
	}
}

// SIGHUP reloads the file; an invalid file is rejected with its report and
// the running config keeps serving.
func TestServeSIGHUPReloads(t *testing.T) {
	backend := slowBackend(t, 0)
	cfg := filepath.Join(t.TempDir(), "skjold.yaml")
	listen, admin := freePort(t), freePort(t)
	writeConfig(t, cfg, listen, admin, backend, "5s")
	p := startServe(t, cfg, listen, admin)
	v1 := p.version(t)

	writeConfig(t, cfg, listen, admin, backend, "7s")
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for p.version(t) == v1 {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload; stderr:\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	v2 := p.version(t)

	os.WriteFile(cfg, []byte("listeners: {public: {address: 12}}\nroutes: nope\n"), 0o644)
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline = time.Now().Add(5 * time.Second)
	for !strings.Contains(p.stderr.String(), "config reload rejected") {
		if time.Now().After(deadline) {
			t.Fatalf("invalid config not reported; stderr:\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(p.stderr.String(), "skjold.yaml:2") {
		t.Errorf("rejection does not point at the file and line; stderr:\n%s", p.stderr.String())
	}
	if v := p.version(t); v != v2 {
		t.Errorf("version changed to %s after a rejected reload", v)
	}
	resp, err := http.Get("http://" + listen + "/x")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("not serving after a rejected reload: %v %v", resp, err)
	}
	resp.Body.Close()
}

// serve refuses an invalid config with the same report as check, exit 1.
func TestServeRefusesInvalidConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(cfg, []byte("listeners: {public: {address: \"127.0.0.1:notaport\"}}\nupstreams: {}\nroutes: []\n"), 0o644)
	var stderr bytes.Buffer
	cmd := exec.Command(skjoldBinary(t), "serve", "--config", cfg)
	cmd.Stderr = &stderr
	err := cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v; stderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "bad.yaml:1:") || !strings.Contains(stderr.String(), "listeners.public.address") {
		t.Errorf("report does not name file, line and key:\n%s", stderr.String())
	}
}
