package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/certs/acmetest"
)

// acmeGateway serves HTTPS on the port Pebble validates tls-alpn-01 on and
// plain HTTP (redirect_http_from) on its http-01 port, with certificates
// for api.skjold.test from Pebble.
func acmeGateway(t *testing.T, ca *acmetest.Server, challenges string) *testGateway {
	t.Helper()
	be := echoProtoBackend(t)
	y := fmt.Sprintf(`state_dir: %s
listeners:
  public:
    address: 127.0.0.1:%d
    redirect_http_from: 127.0.0.1:%d
    tls:
      acme:
        email: ops@skjold.test
        domains: [api.skjold.test]
        directory: %s
        ca_file: %s
        challenges: %s
        storage_dir: %s
upstreams:
  app: {targets: [{address: %s}]}
routes:
  - {match: {path_prefix: /}, upstream: app}
`, t.TempDir(), ca.TLSPort, ca.HTTPPort, ca.Directory, ca.CAFile, challenges, t.TempDir(), hostPort(be.URL))
	return startGateway(t, y)
}

func TestACMECertificateIsObtainedAndServedByTheGateway(t *testing.T) {
	for _, challenges := range []string{"[http-01]", "[tls-alpn-01]"} {
		t.Run(challenges, func(t *testing.T) {
			ca := acmetest.Start(t, acmetest.Options{})
			g := acmeGateway(t, ca, challenges)
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(ca.RootPEM())
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: pool},
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(ca.TLSPort))
				},
			}}
			var body string
			waitFor(t, 60*time.Second, "HTTPS with a certificate from the CA", func() bool {
				resp, err := client.Get("https://api.skjold.test/hello")
				if err != nil {
					return false
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				body = string(b)
				return resp.StatusCode == 200
			})
			if body != "proto=https path=/hello" {
				t.Errorf("body %q", body)
			}
			var found bool
			for _, cs := range g.Status().Certificates {
				if cs.Source == "acme" && len(cs.Names) == 1 && cs.Names[0] == "api.skjold.test" && cs.Error == "" && cs.ExpiresInSeconds > 0 {
					found = true
				}
			}
			if !found {
				t.Errorf("status does not list the ACME certificate: %+v", g.Status().Certificates)
			}
			// The plain socket still redirects everything else.
			code, _ := rawRequest(t, "127.0.0.1:"+strconv.Itoa(ca.HTTPPort), "GET /x HTTP/1.1\r\nHost: api.skjold.test\r\nConnection: close\r\n\r\n")
			if code != 308 {
				t.Errorf("plain request: %d, want 308", code)
			}
		})
	}
}

func TestRefusedReloadStartsNoACMEClient(t *testing.T) {
	f := startTLSGateway(t, "")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	y := strings.Replace(f.yaml, "      certificates:", "      acme: {domains: [api.skjold.test], storage_dir: "+t.TempDir()+"}\n      certificates:", 1)
	y = strings.Replace(y, "    hsts: 365d\n", "    hsts: 365d\n    redirect_http_from: "+taken.Addr().String()+"\n", 1)
	if _, err := f.Apply(mustParse(t, y)); err == nil {
		t.Fatal("reload with a taken redirect port succeeded")
	}
	f.mu.Lock()
	n := len(f.acme)
	f.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d ACME clients run after a refused reload", n)
	}
}
