// Package acmetest runs a real ACME server for tests: Pebble, Let's
// Encrypt's test CA, with its challenge test server answering DNS so every
// name resolves to 127.0.0.1. Both are built from the module's tool
// dependencies and listen on loopback only.
package acmetest

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/certs/certstest"
)

// Server is a running Pebble.
type Server struct {
	// Directory is the ACME directory URL.
	Directory string
	// CAFile verifies Pebble's own HTTPS certificate.
	CAFile string
	// HTTPPort and TLSPort are where Pebble's validator connects to
	// solve http-01 and tls-alpn-01 challenges (on 127.0.0.1).
	HTTPPort, TLSPort int

	t       testing.TB
	bin     string
	cfgFile string
	dns     string
	mgmt    string
	ca      *certstest.CA
	mu      sync.Mutex
	cmd     *exec.Cmd
	dnsCmd  *exec.Cmd
}

// Options tune the server.
type Options struct {
	// Validity of issued certificates. Zero: 90 days.
	Validity time.Duration
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// binaries builds pebble and pebble-challtestsrv once per test process.
func binaries(t testing.TB) string {
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "skjold-pebble-")
		if buildErr != nil {
			return
		}
		for _, p := range []string{"pebble", "pebble-challtestsrv"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(buildDir, p), "github.com/letsencrypt/pebble/v2/cmd/"+p).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("building %s: %v\n%s", p, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildDir
}

// Start runs Pebble and its DNS server until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	bin := binaries(t)
	dir := t.TempDir()
	ca := certstest.NewCA(t, "Pebble HTTPS CA")
	srvCert := ca.Issue(certstest.Options{}, "127.0.0.1", "localhost")
	s := &Server{t: t, bin: bin, CAFile: ca.File, ca: ca}
	acmePort, mgmtPort, dnsPort := FreePort(t), FreePort(t), FreePort(t)
	s.HTTPPort, s.TLSPort = FreePort(t), FreePort(t)
	s.Directory = fmt.Sprintf("https://127.0.0.1:%d/dir", acmePort)
	s.mgmt = fmt.Sprintf("https://127.0.0.1:%d", mgmtPort)
	s.dns = fmt.Sprintf("127.0.0.1:%d", dnsPort)
	validity := o.Validity
	if validity == 0 {
		validity = 90 * 24 * time.Hour
	}
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":           fmt.Sprintf("127.0.0.1:%d", acmePort),
		"managementListenAddress": fmt.Sprintf("127.0.0.1:%d", mgmtPort),
		"certificate":             srvCert.CertFile,
		"privateKey":              srvCert.KeyFile,
		"httpPort":                s.HTTPPort,
		"tlsPort":                 s.TLSPort,
		"keyAlgorithm":            "ecdsa",
		"profiles": map[string]any{"default": map[string]any{
			"description": "test", "validityPeriod": int(validity / time.Second),
		}},
	}}
	b, _ := json.Marshal(cfg)
	s.cfgFile = filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(s.cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s.dnsCmd = exec.Command(filepath.Join(bin, "pebble-challtestsrv"),
		"-dnsserver", s.dns, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
		"-management", fmt.Sprintf("127.0.0.1:%d", FreePort(t)))
	s.dnsCmd.Stdout, s.dnsCmd.Stderr = logWriter(t, "challtestsrv"), logWriter(t, "challtestsrv")
	if err := s.dnsCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.dnsCmd.Process.Kill(); s.dnsCmd.Wait() })
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Stop stops Pebble (the DNS server keeps running): a CA that is down.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.cmd = nil
	}
}

// Restart starts Pebble again (with a fresh state: a new root) and waits
// until its directory answers.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.mu.Lock()
	s.cmd = exec.Command(filepath.Join(s.bin, "pebble"), "-config", s.cfgFile, "-dnsserver", s.dns)
	s.cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	s.cmd.Stdout, s.cmd.Stderr = logWriter(s.t, "pebble"), logWriter(s.t, "pebble")
	err := s.cmd.Start()
	s.mu.Unlock()
	if err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := s.client().Get(s.Directory)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("pebble did not answer at %s: %v", s.Directory, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) client() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		Proxy: nil, TLSClientConfig: &tls.Config{RootCAs: s.ca.Pool()},
	}}
}

// RootPEM returns the root that Pebble signs certificates with (new on
// every start), for clients that verify what it issued.
func (s *Server) RootPEM() []byte {
	s.t.Helper()
	resp, err := s.client().Get(s.mgmt + "/roots/0")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		s.t.Fatalf("pebble root: %d %v", resp.StatusCode, err)
	}
	// The issuing intermediate chains to this root.
	return b
}

// FreePort returns a loopback TCP port nothing listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// logWriter sends a process's output to the test log when
// SKJOLD_TEST_LOG is set, else nowhere.
func logWriter(t testing.TB, name string) io.Writer {
	if os.Getenv("SKJOLD_TEST_LOG") == "" {
		return io.Discard
	}
	return writerFunc(func(b []byte) (int, error) {
		t.Logf("%s: %s", name, strings.TrimRight(string(b), "\n"))
		return len(b), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
