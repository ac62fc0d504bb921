package gateway

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/skjold-dev/skjold/internal/certs/certstest"
)

func TestTLSListenerStaplesTheOCSPAnswerOfACertificateThatNamesAResponder(t *testing.T) {
	ca := certstest.NewCA(t, "Skjold Test CA")
	responder := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := ocsp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		now := time.Now()
		der, _ := ocsp.CreateResponse(ca.Cert, ca.Cert, ocsp.Response{Status: ocsp.Good, SerialNumber: req.SerialNumber,
			ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour)}, ca.Key)
		w.Write(der)
	}))
	defer responder.Close()
	is := ca.Issue(certstest.Options{OCSPServer: responder.URL}, "api.example.com")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "api.pem"), filepath.Join(dir, "api.key")
	installPair(t, is, certFile, keyFile)
	be := echoProtoBackend(t)
	g := startGateway(t, fmt.Sprintf(`listeners:
  public:
    address: 127.0.0.1:0
    tls: {certificates: [{cert_file: %s, key_file: %s}]}
upstreams:
  app: {targets: [{address: %s}]}
routes:
  - {match: {path_prefix: /}, upstream: app}
`, certFile, keyFile, hostPort(be.URL)))
	waitFor(t, 10*time.Second, "a stapled OCSP response", func() bool {
		c, err := tls.Dial("tcp", g.addr, &tls.Config{ServerName: "api.example.com", RootCAs: ca.Pool()})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		der := c.ConnectionState().OCSPResponse
		if der == nil {
			return false
		}
		r, err := ocsp.ParseResponseForCert(der, is.TLS.Leaf, ca.Cert)
		return err == nil && r.Status == ocsp.Good
	})
	if cs := g.Status().Certificates; len(cs) != 1 || !cs[0].OCSPStapled {
		t.Errorf("status does not say the certificate is stapled: %+v", cs)
	}
}
