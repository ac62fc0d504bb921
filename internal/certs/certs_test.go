package certs_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/certs"
	"github.com/skjold-dev/skjold/internal/certs/certstest"
	"golang.org/x/crypto/ocsp"
)

func TestLoadFilesRefusesWhatAServerCannotServe(t *testing.T) {
	ca := certstest.NewCA(t, "Test CA")
	other := certstest.NewCA(t, "Other CA")
	good := ca.Issue(certstest.Options{}, "api.example.com")
	otherKey := ca.Issue(certstest.Options{}, "other.example.com")
	expired := ca.Issue(certstest.Options{NotBefore: time.Now().Add(-48 * time.Hour), Lifetime: time.Hour}, "old.example.com")
	future := ca.Issue(certstest.Options{NotBefore: time.Now().Add(24 * time.Hour)}, "new.example.com")
	dir := t.TempDir()
	// The leaf followed by a CA that did not sign it.
	broken := filepath.Join(dir, "broken.pem")
	leafOnly := good.CertPEM[:len(good.CertPEM)-len(ca.CertPEM)]
	os.WriteFile(broken, append(append([]byte{}, leafOnly...), other.CertPEM...), 0o600)
	keyAsCert := filepath.Join(dir, "keyonly.pem")
	os.WriteFile(keyAsCert, good.KeyPEM, 0o600)

	for _, tc := range []struct {
		name, cert, key string
		want            error
		msg             string
	}{
		{"missing certificate", filepath.Join(dir, "nope.pem"), good.KeyFile, fs.ErrNotExist, "certificate file"},
		{"missing key", good.CertFile, filepath.Join(dir, "nope.key"), fs.ErrNotExist, "key file"},
		{"key of another certificate", good.CertFile, otherKey.KeyFile, certs.ErrKeyMismatch, "does not match"},
		{"expired", expired.CertFile, expired.KeyFile, certs.ErrExpired, "old.example.com expired on"},
		{"not valid yet", future.CertFile, future.KeyFile, certs.ErrNotYetValid, "valid from"},
		{"chain signed by someone else", broken, good.KeyFile, certs.ErrBrokenChain, "is not signed by certificate 2 (Other CA)"},
		{"no certificate block", keyAsCert, good.KeyFile, certs.ErrNoCertificate, "no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := certs.LoadFiles(tc.cert, tc.key, time.Now())
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
		})
	}

	c, info, err := certs.LoadFiles(good.CertFile, good.KeyFile, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if c.Leaf == nil || info.Issuer != "Test CA" || info.KeyType != "ECDSA P-256" ||
		len(info.Names) != 1 || info.Names[0] != "api.example.com" || info.Source != good.CertFile {
		t.Errorf("info = %+v", info)
	}
}

// serve runs a TLS server on loopback with cfg that completes handshakes
// and closes; it returns its address.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c.SetDeadline(time.Now().Add(5 * time.Second))
				c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

// handshake dials addr and returns the certificate the server chose.
func handshake(t *testing.T, addr string, cfg *tls.Config) (*tls.ConnectionState, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	st := c.ConnectionState()
	return &st, nil
}

func TestSetChoosesCertificateBySNIAndKeyTypeTheClientSupports(t *testing.T) {
	ca := certstest.NewCA(t, "Test CA")
	apiEC := ca.Issue(certstest.Options{Key: certstest.ECDSA}, "api.example.com")
	apiRSA := ca.Issue(certstest.Options{Key: certstest.RSA}, "api.example.com")
	wild := ca.Issue(certstest.Options{}, "*.apps.example.com")
	set, err := certs.NewSet([]certs.FilePair{
		{CertFile: apiEC.CertFile, KeyFile: apiEC.KeyFile},
		{CertFile: apiRSA.CertFile, KeyFile: apiRSA.KeyFile},
		{CertFile: wild.CertFile, KeyFile: wild.KeyFile},
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, certs.ServerConfig(set, certs.ServerOptions{}))

	rsaOnly := []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
	for _, tc := range []struct {
		name, sni string
		suites    []uint16
		maxVer    uint16
		wantName  string
		wantKey   string
	}{
		{"exact name, modern client", "api.example.com", nil, 0, "api.example.com", "ECDSA"},
		{"exact name, RSA-only TLS 1.2 client", "api.example.com", rsaOnly, tls.VersionTLS12, "api.example.com", "RSA"},
		{"wildcard", "shop.apps.example.com", nil, 0, "*.apps.example.com", "ECDSA"},
		{"name in capitals", "API.Example.COM", nil, 0, "api.example.com", "ECDSA"},
		{"unknown name gets the default", "nobody.example.org", nil, 0, "api.example.com", "ECDSA"},
		{"wildcard covers one level only", "a.b.apps.example.com", nil, 0, "api.example.com", "ECDSA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := handshake(t, addr, &tls.Config{ServerName: tc.sni, InsecureSkipVerify: true, CipherSuites: tc.suites, MaxVersion: tc.maxVer})
			if err != nil {
				t.Fatal(err)
			}
			leaf := st.PeerCertificates[0]
			if got := certs.Names(leaf)[0]; got != tc.wantName {
				t.Errorf("served %s, want %s", got, tc.wantName)
			}
			if got := leaf.PublicKeyAlgorithm.String(); got != tc.wantKey {
				t.Errorf("key %s, want %s", got, tc.wantKey)
			}
		})
	}
}

func TestStrictSetRefusesUnknownNames(t *testing.T) {
	ca := certstest.NewCA(t, "Test CA")
	api := ca.Issue(certstest.Options{}, "api.example.com")
	set, err := certs.NewSet([]certs.FilePair{{CertFile: api.CertFile, KeyFile: api.KeyFile}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	set.Strict = true
	addr := serve(t, certs.ServerConfig(set, certs.ServerOptions{}))
	if _, err := handshake(t, addr, &tls.Config{ServerName: "other.example.com", InsecureSkipVerify: true}); err == nil {
		t.Fatal("handshake for an unknown name succeeded on a strict set")
	}
	if _, err := handshake(t, addr, &tls.Config{ServerName: "api.example.com", RootCAs: ca.Pool()}); err != nil {
		t.Fatalf("handshake for a known name: %v", err)
	}
}

func TestServerConfigRefusesOldProtocolsAndNonAEADCiphers(t *testing.T) {
	ca := certstest.NewCA(t, "Test CA")
	api := ca.Issue(certstest.Options{Key: certstest.RSA}, "api.example.com")
	set, _ := certs.NewSet([]certs.FilePair{{CertFile: api.CertFile, KeyFile: api.KeyFile}}, time.Now())
	addr := serve(t, certs.ServerConfig(set, certs.ServerOptions{}))
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
	}{
		{"TLS 1.1", &tls.Config{MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10}},
		{"TLS 1.0", &tls.Config{MaxVersion: tls.VersionTLS10, MinVersion: tls.VersionTLS10}},
		{"CBC cipher", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.InsecureSkipVerify = true
			if _, err := handshake(t, addr, tc.cfg); err == nil {
				t.Fatal("handshake succeeded")
			}
		})
	}
	st, err := handshake(t, addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != tls.VersionTLS12 || st.CipherSuite != tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 {
		t.Errorf("TLS 1.2 handshake chose %s", tls.CipherSuiteName(st.CipherSuite))
	}
	for _, v := range []string{"1.0", "1.1", "1.4", ""} {
		if _, err := certs.ParseVersion(v); err == nil {
			t.Errorf("ParseVersion(%q) succeeded", v)
		}
	}
}

func TestRefreshPicksUpARenewedCertificateAndKeepsServingOnABadOne(t *testing.T) {
	ca := certstest.NewCA(t, "Test CA")
	first := ca.Issue(certstest.Options{}, "api.example.com")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "api.pem"), filepath.Join(dir, "api.key")
	install := func(certPEM, keyPEM []byte) {
		// As certbot's deploy hooks do: new files renamed into place.
		for _, f := range []struct {
			path string
			b    []byte
		}{{certFile, certPEM}, {keyFile, keyPEM}} {
			os.WriteFile(f.path+".new", f.b, 0o600)
			if err := os.Rename(f.path+".new", f.path); err != nil {
				t.Fatal(err)
			}
		}
	}
	install(first.CertPEM, first.KeyPEM)
	set, err := certs.NewSet([]certs.FilePair{{CertFile: certFile, KeyFile: keyFile}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, certs.ServerConfig(set, certs.ServerOptions{}))
	serial := func() string {
		st, err := handshake(t, addr, &tls.Config{ServerName: "api.example.com", RootCAs: ca.Pool()})
		if err != nil {
			t.Fatal(err)
		}
		return st.PeerCertificates[0].SerialNumber.String()
	}
	if n, err := set.Refresh(time.Now()); n != 0 || err != nil {
		t.Fatalf("Refresh without a change replaced %d, %v", n, err)
	}
	before := serial()

	second := ca.Issue(certstest.Options{}, "api.example.com")
	install(second.CertPEM, second.KeyPEM)
	if n, err := set.Refresh(time.Now()); n != 1 || err != nil {
		t.Fatalf("Refresh after a renewal replaced %d, %v", n, err)
	}
	renewed := serial()
	if renewed == before || renewed != second.TLS.Leaf.SerialNumber.String() {
		t.Fatalf("served serial %s after renewal; before %s, want %s", renewed, before, second.TLS.Leaf.SerialNumber)
	}

	// A broken renewal (a key that is not the certificate's) is reported
	// once and the renewed certificate keeps being served.
	third := ca.Issue(certstest.Options{}, "api.example.com")
	install(third.CertPEM, first.KeyPEM)
	n, err := set.Refresh(time.Now())
	if n != 0 || !errors.Is(err, certs.ErrKeyMismatch) || !strings.Contains(err.Error(), "still serving") {
		t.Fatalf("Refresh of a mismatched pair: %d, %v", n, err)
	}
	if got := serial(); got != renewed {
		t.Fatalf("served %s after a bad renewal, want the previous %s", got, renewed)
	}
	if info := set.Infos()[0]; !strings.Contains(info.Error, "does not match") {
		t.Errorf("Info.Error = %q", info.Error)
	}
	if n, err := set.Refresh(time.Now()); n != 0 || err != nil {
		t.Fatalf("second Refresh of the same bad files: %d, %v (want it reported once)", n, err)
	}
	// Fixed: picked up, error cleared.
	install(third.CertPEM, third.KeyPEM)
	if n, err := set.Refresh(time.Now()); n != 1 || err != nil {
		t.Fatalf("Refresh after the fix: %d, %v", n, err)
	}
	if info := set.Infos()[0]; info.Error != "" {
		t.Errorf("Info.Error after the fix = %q", info.Error)
	}
	if got := serial(); got != third.TLS.Leaf.SerialNumber.String() {
		t.Fatalf("served %s after the fix", got)
	}
}

func TestMutualTLSRequiresAClientCertificateFromTheCA(t *testing.T) {
	ca := certstest.NewCA(t, "Server CA")
	clients := certstest.NewCA(t, "Client CA")
	strangers := certstest.NewCA(t, "Stranger CA")
	api := ca.Issue(certstest.Options{}, "api.example.com")
	set, _ := certs.NewSet([]certs.FilePair{{CertFile: api.CertFile, KeyFile: api.KeyFile}}, time.Now())
	pool, err := certs.LoadCAs(clients.File)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, certs.ServerConfig(set, certs.ServerOptions{ClientCAs: pool}))
	good := clients.Issue(certstest.Options{Client: true}, "billing")
	bad := strangers.Issue(certstest.Options{Client: true}, "billing")
	try := func(c *tls.Certificate) error {
		cfg := &tls.Config{ServerName: "api.example.com", RootCAs: ca.Pool()}
		if c != nil {
			cfg.Certificates = []tls.Certificate{*c}
		}
		conn, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			return err
		}
		defer conn.Close()
		// TLS 1.3 reports a refused client certificate on the first read.
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		if err != nil && strings.Contains(err.Error(), "EOF") {
			return nil // the test server closes after the handshake
		}
		return err
	}
	if err := try(&good.TLS); err != nil {
		t.Errorf("client certificate from the CA refused: %v", err)
	}
	if err := try(&bad.TLS); err == nil {
		t.Error("client certificate from another CA accepted")
	}
	if err := try(nil); err == nil {
		t.Error("client without a certificate accepted")
	}
}

// ocspResponder answers OCSP requests for ca's certificates with status
// (ocsp.Good, ocsp.Revoked), counting the requests.
func ocspResponder(t *testing.T, ca *certstest.CA, status *atomic.Int32, calls *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		req, err := ocsp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		now := time.Now()
		der, err := ocsp.CreateResponse(ca.Cert, ca.Cert, ocsp.Response{
			Status: int(status.Load()), SerialNumber: req.SerialNumber,
			ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour), RevokedAt: now.Add(-time.Hour),
		}, ca.Key)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Write(der)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestStapleServesTheResponderAnswerAndKeepsItWhileTheResponderFails(t *testing.T) {
	ca := certstest.NewCA(t, "Test CA")
	var status, calls atomic.Int32
	status.Store(ocsp.Good)
	resp := ocspResponder(t, ca, &status, &calls)
	withOCSP := ca.Issue(certstest.Options{OCSPServer: resp.URL}, "api.example.com")
	plain := ca.Issue(certstest.Options{}, "plain.example.com")
	set, err := certs.NewSet([]certs.FilePair{
		{CertFile: withOCSP.CertFile, KeyFile: withOCSP.KeyFile},
		{CertFile: plain.CertFile, KeyFile: plain.KeyFile},
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, certs.ServerConfig(set, certs.ServerOptions{}))
	staple := func(name string) []byte {
		st, err := handshake(t, addr, &tls.Config{ServerName: name, RootCAs: ca.Pool()})
		if err != nil {
			t.Fatal(err)
		}
		return st.OCSPResponse
	}
	if staple("api.example.com") != nil {
		t.Fatal("a staple before Staple ran")
	}
	client := &http.Client{Timeout: 2 * time.Second}
	if err := set.Staple(context.Background(), client, time.Now()); err != nil {
		t.Fatal(err)
	}
	got := staple("api.example.com")
	r, err := ocsp.ParseResponseForCert(got, withOCSP.TLS.Leaf, ca.Cert)
	if err != nil || r.Status != ocsp.Good {
		t.Fatalf("stapled response %v, %v", r, err)
	}
	if staple("plain.example.com") != nil {
		t.Error("a certificate without a responder got a staple")
	}
	if !set.Infos()[0].OCSPStapled || set.Infos()[1].OCSPStapled {
		t.Errorf("infos: %+v", set.Infos())
	}
	// Fresh staple: no new request until half its validity passed.
	n := calls.Load()
	set.Staple(context.Background(), client, time.Now())
	if calls.Load() != n {
		t.Error("a fresh staple was fetched again")
	}
	// The responder goes away: the staple in hand is kept while valid.
	resp.Close()
	if err := set.Staple(context.Background(), client, time.Now().Add(40*time.Minute)); err == nil {
		t.Error("Staple with the responder down reported no error")
	}
	if staple("api.example.com") == nil {
		t.Error("the still-valid staple was dropped when the responder failed")
	}
	// Past its next update the stale staple is dropped, not served.
	set.Staple(context.Background(), client, time.Now().Add(2*time.Hour))
	if staple("api.example.com") != nil {
		t.Error("an expired staple is still served")
	}
}

func TestStapleRefusesARevokedAnswer(t *testing.T) {
	ca := certstest.NewCA(t, "Test CA")
	var status, calls atomic.Int32
	status.Store(ocsp.Revoked)
	resp := ocspResponder(t, ca, &status, &calls)
	c := ca.Issue(certstest.Options{OCSPServer: resp.URL}, "api.example.com")
	set, _ := certs.NewSet([]certs.FilePair{{CertFile: c.CertFile, KeyFile: c.KeyFile}}, time.Now())
	err := set.Staple(context.Background(), &http.Client{Timeout: 2 * time.Second}, time.Now())
	if err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("Staple of a revoked certificate: %v", err)
	}
	if set.Infos()[0].OCSPStapled {
		t.Error("a revoked answer was stapled")
	}
}
