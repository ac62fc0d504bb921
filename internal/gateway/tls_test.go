package gateway

import (
	"crypto/tls"
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
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/skjold-dev/skjold/internal/certs/certstest"
	"github.com/skjold-dev/skjold/internal/config"
)

// tlsFixture is a TLS gateway in front of a backend that echoes the
// forwarded protocol, with certificate files an operator could replace.
type tlsFixture struct {
	*testGateway
	ca       *certstest.CA
	certFile string
	keyFile  string
	yaml     string
}

func echoProtoBackend(t *testing.T) *httptest.Server {
	t.Helper()
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A backend policy of its own is replaced by the listener's.
		w.Header().Set("Strict-Transport-Security", "max-age=60")
		fmt.Fprintf(w, "proto=%s path=%s", r.Header.Get("X-Forwarded-Proto"), r.URL.Path)
	}))
	t.Cleanup(be.Close)
	return be
}

// installPair copies an issued certificate to the fixture's files the way
// a renewal tool does: new files renamed over the old.
func installPair(t *testing.T, is *certstest.Issued, certFile, keyFile string) {
	t.Helper()
	for _, f := range []struct {
		path string
		b    []byte
	}{{certFile, is.CertPEM}, {keyFile, is.KeyPEM}} {
		if err := os.WriteFile(f.path+".new", f.b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f.path+".new", f.path); err != nil {
			t.Fatal(err)
		}
	}
}

func startTLSGateway(t *testing.T, tlsExtra string) *tlsFixture {
	t.Helper()
	ca := certstest.NewCA(t, "Skjold Test CA")
	dir := t.TempDir()
	f := &tlsFixture{ca: ca, certFile: filepath.Join(dir, "api.pem"), keyFile: filepath.Join(dir, "api.key")}
	installPair(t, ca.Issue(certstest.Options{}, "api.example.com", "127.0.0.1"), f.certFile, f.keyFile)
	be := echoProtoBackend(t)
	f.yaml = fmt.Sprintf(`listeners:
  public:
    address: 127.0.0.1:0
    read_header_timeout: 300ms
    hsts: 365d
    tls:
      certificates: [{cert_file: %s, key_file: %s}]
%supstreams:
  app: {targets: [{address: %s}]}
routes:
  - {match: {path_prefix: /}, upstream: app}
`, f.certFile, f.keyFile, tlsExtra, hostPort(be.URL))
	f.testGateway = startGateway(t, f.yaml)
	return f
}

func (f *tlsFixture) client(c *tls.Config) *http.Client {
	if c == nil {
		c = &tls.Config{}
	}
	if c.RootCAs == nil {
		c.RootCAs = f.ca.Pool()
	}
	if c.ServerName == "" {
		c.ServerName = "api.example.com"
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: c, MaxIdleConnsPerHost: 16}}
}

func (f *tlsFixture) url(path string) string { return "https://" + f.addr + path }

func TestTLSListenerServesHTTPSAndTellsTheBackend(t *testing.T) {
	f := startTLSGateway(t, "")
	code, body, h := get(t, f.client(nil), f.url("/orders"))
	if code != 200 || body != "proto=https path=/orders" {
		t.Fatalf("GET over TLS: %d %q", code, body)
	}
	if got := h.Values("Strict-Transport-Security"); len(got) != 1 || got[0] != "max-age=31536000" {
		t.Errorf("Strict-Transport-Security = %q, want one max-age=31536000 (hsts: 365d)", got)
	}
	// Answers the gateway makes itself carry it too.
	if _, _, h := get(t, f.client(nil), f.url("/a/../../x")); h.Get("Strict-Transport-Security") != "max-age=31536000" {
		t.Errorf("a 400 answer lacks Strict-Transport-Security: %v", h)
	}
	// Status and metrics list the certificate with its expiry.
	st := f.Status()
	if len(st.Certificates) != 1 {
		t.Fatalf("status lists %d certificates, want 1", len(st.Certificates))
	}
	cs := st.Certificates[0]
	if cs.Listener != "public" || cs.Issuer != "Skjold Test CA" || cs.Names[0] != "api.example.com" || cs.ExpiresInSeconds < 80*24*3600 {
		t.Errorf("certificate status %+v", cs)
	}
	b, _ := json.Marshal(st)
	if !strings.Contains(string(b), `"not_after"`) {
		t.Errorf("status JSON lacks not_after: %s", b)
	}
	if n := testutil.ToFloat64(f.metrics.handshakes.WithLabelValues("public", "ok")); n < 1 {
		t.Errorf("handshakes ok = %v", n)
	}
	if n, err := testutil.GatherAndCount(f.reg, "skjold_tls_certificate_expiry_seconds"); err != nil || n != 1 {
		t.Errorf("expiry series: %d, %v", n, err)
	}
}

func TestTLSClientsThatNeverFinishTheHandshakeAreClosed(t *testing.T) {
	f := startTLSGateway(t, "")
	// A ClientHello cut short: the first bytes of a real one.
	var hello []byte
	{
		a, b := net.Pipe()
		go func() {
			tls.Client(a, &tls.Config{ServerName: "api.example.com"}).Handshake()
		}()
		buf := make([]byte, 4096)
		b.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _ := b.Read(buf)
		hello = buf[:n/2]
		a.Close()
		b.Close()
	}
	for _, tc := range []struct {
		name, send string
	}{
		{"silent client", ""},
		{"truncated ClientHello", string(hello)},
		{"plain HTTP", "GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", f.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, tc.send)
			// The gateway closes within read_header_timeout (300ms); allow
			// a wide margin on a loaded machine, but far less than the
			// idle timeout a stuck handshake would otherwise hold.
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, err := io.ReadAll(c)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("connection still open 5s after read_header_timeout")
			}
			if strings.Contains(string(got), "HTTP/1.1 200") {
				t.Fatalf("a plain request on the TLS port was answered: %q", got)
			}
		})
	}
	waitFor(t, 5*time.Second, "no client connection left", func() bool { return f.conns.count() == 0 })
	if n := testutil.ToFloat64(f.metrics.handshakes.WithLabelValues("public", "timeout")); n < 2 {
		t.Errorf("handshakes timeout = %v, want the silent and the truncated client", n)
	}
	if n := testutil.ToFloat64(f.metrics.handshakes.WithLabelValues("public", "error")); n < 1 {
		t.Errorf("handshakes error = %v, want the plain HTTP client", n)
	}
}

func TestTLSCertificateRenewedOnDiskIsServedWithoutDroppingARequest(t *testing.T) {
	f := startTLSGateway(t, "")
	renewed := f.ca.Issue(certstest.Options{}, "api.example.com", "127.0.0.1")
	serial := func() string {
		c, err := tls.Dial("tcp", f.addr, &tls.Config{ServerName: "api.example.com", RootCAs: f.ca.Pool()})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()

	// Load: keepalive clients and clients opening a connection per request.
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := f.client(nil)
			if i%2 == 1 {
				cl.Transport.(*http.Transport).DisableKeepAlives = true
			}
			for n := 0; n < 2000; n++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := cl.Get(f.url("/load"))
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	waitFor(t, 5*time.Second, "load running", func() bool { return ok.Load() > 20 })
	installPair(t, renewed, f.certFile, f.keyFile)
	f.refreshCertificates(time.Now())
	waitFor(t, 5*time.Second, "requests after the rotation", func() bool { return ok.Load() > 200 })
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed across the rotation", failed.Load(), failed.Load()+ok.Load())
	}
	if after := serial(); after == before || after != renewed.TLS.Leaf.SerialNumber.String() {
		t.Fatalf("serving serial %s after the renewal (before %s, want %s)", after, before, renewed.TLS.Leaf.SerialNumber)
	}
}

func TestTLSReloadWithABadCertificateKeepsServingTheOldOne(t *testing.T) {
	f := startTLSGateway(t, "")
	before := f.Status().Certificates[0].NotAfter
	other := f.ca.Issue(certstest.Options{}, "other.example.com")
	// The key file now holds a key that is not the certificate's.
	if err := os.WriteFile(f.keyFile, other.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Parse("test.yaml", []byte(f.yaml))
	if err == nil || !strings.Contains(err.Error(), "does not match") || !strings.Contains(err.Error(), "cert_file") {
		t.Fatalf("config with a mismatched key: %v", err)
	}
	// Even a config that passed validation before the files changed is
	// refused at apply time, whole.
	cfg := mustParseBefore(t, f)
	if _, err := f.Apply(cfg); err == nil {
		t.Fatal("Apply with a mismatched key succeeded")
	}
	code, _, _ := get(t, f.client(nil), f.url("/still"))
	if code != 200 {
		t.Fatalf("GET after the refused reload: %d", code)
	}
	if got := f.Status().Certificates[0].NotAfter; !got.Equal(before) {
		t.Errorf("certificate changed after a refused reload")
	}
}

// mustParseBefore parses the fixture's config with validation of the
// certificate files skipped by pointing them at a good pair first, then
// swaps the names back: a config validated before its files went bad.
func mustParseBefore(t *testing.T, f *tlsFixture) *config.Config {
	t.Helper()
	good := f.ca.Issue(certstest.Options{}, "api.example.com")
	y := strings.NewReplacer(f.certFile, good.CertFile, f.keyFile, good.KeyFile).Replace(f.yaml)
	cfg, err := config.Parse("test.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listeners["public"].TLS.Certificates[0].CertFile = f.certFile
	cfg.Listeners["public"].TLS.Certificates[0].KeyFile = f.keyFile
	return cfg
}

func TestTLSSessionsResumeAcrossAReload(t *testing.T) {
	f := startTLSGateway(t, "")
	cache := tls.NewLRUClientSessionCache(8)
	dial := func() bool {
		c, err := tls.Dial("tcp", f.addr, &tls.Config{ServerName: "api.example.com", RootCAs: f.ca.Pool(), ClientSessionCache: cache})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// TLS 1.3 tickets arrive after the handshake: read a response.
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n")
		io.ReadAll(c)
		return c.ConnectionState().DidResume
	}
	if dial() {
		t.Fatal("first connection resumed")
	}
	if !dial() {
		t.Fatal("second connection did not resume")
	}
	// The same socket (a config naming port 0 would bind a new one).
	y := strings.Replace(f.yaml, "127.0.0.1:0", f.addr, 1) + "shutdown_grace: 5s\n"
	cfg, err := config.Parse("test.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if !dial() {
		t.Fatal("connection after a reload did not resume")
	}
}

func TestTLSMutualAuthAcceptsOnlyClientsOfTheCA(t *testing.T) {
	clients := certstest.NewCA(t, "Client CA")
	strangers := certstest.NewCA(t, "Stranger CA")
	f := startTLSGateway(t, "      client_ca_file: "+clients.File+"\n")
	good := clients.Issue(certstest.Options{Client: true}, "billing")
	bad := strangers.Issue(certstest.Options{Client: true}, "billing")
	try := func(c *tls.Certificate) error {
		cfg := &tls.Config{}
		if c != nil {
			cfg.Certificates = []tls.Certificate{*c}
		}
		resp, err := f.client(cfg).Get(f.url("/m"))
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	if err := try(&good.TLS); err != nil {
		t.Errorf("client certificate of the CA refused: %v", err)
	}
	if err := try(&bad.TLS); err == nil {
		t.Error("client certificate of another CA accepted")
	}
	if err := try(nil); err == nil {
		t.Error("client without a certificate accepted")
	}
}

// TestTLSAgainstRealClients drives the listener with curl and openssl
// s_client, as an operator checking a new setup would.
func TestTLSAgainstRealClients(t *testing.T) {
	for _, tool := range []string{"curl", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed; the test script installs it", tool)
		}
	}
	f := startTLSGateway(t, "")
	_, port, _ := net.SplitHostPort(f.addr)
	out, err := exec.Command("curl", "-sS", "--max-time", "5", "--cacert", f.ca.File, "-D", "-",
		"--resolve", "api.example.com:"+port+":127.0.0.1", "https://api.example.com:"+port+"/curl").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "proto=https path=/curl") {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		flag string
		ok   bool
	}{{"-tls1_3", true}, {"-tls1_2", true}, {"-tls1_1", false}, {"-tls1", false}} {
		cmd := exec.Command("openssl", "s_client", "-connect", f.addr, "-servername", "api.example.com", tc.flag, "-CAfile", f.ca.File, "-verify_return_error")
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		if got := err == nil && strings.Contains(string(out), "Verify return code: 0"); got != tc.ok {
			t.Errorf("openssl s_client %s: handshake ok = %v, want %v\n%s", tc.flag, got, tc.ok, out)
		}
	}
}
