package certs_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/certs"
	"github.com/skjold-dev/skjold/internal/certs/acmetest"
)

// acmeSite is what a gateway does for ACME: an HTTPS server that serves
// the managed certificates (and answers tls-alpn-01), and a plain HTTP
// server that answers http-01, on the ports the CA validates.
func acmeSite(t *testing.T, a *certs.ACME, ca *acmetest.Server) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:"+strconv.Itoa(ca.TLSPort), &tls.Config{
		GetCertificate: a.GetCertificate,
		NextProtos:     []string{"http/1.1", "acme-tls/1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }), ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	pl, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(ca.HTTPPort))
	if err != nil {
		t.Fatal(err)
	}
	ps := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.HandleHTTPChallenge(w, r) {
			http.NotFound(w, r)
		}
	})}
	go ps.Serve(pl)
	t.Cleanup(func() { ps.Close() })
}

func startACME(t *testing.T, ca *acmetest.Server, dir string, o certs.ACMEOptions) *certs.ACME {
	t.Helper()
	roots, err := certs.LoadCAs(ca.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	o.Email, o.Directory, o.RootCAs = "ops@skjold.test", ca.Directory, roots
	o.HTTPPort, o.TLSPort, o.StorageDir = ca.HTTPPort, ca.TLSPort, dir
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
		if os.Getenv("SKJOLD_TEST_LOG") != "" {
			o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
		}
	}
	a, err := certs.StartACME(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	return a
}

// served returns the certificate a client verifying against root gets
// for name from the site.
func served(t *testing.T, port int, name string, root []byte) (*x509.Certificate, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(root)
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", "127.0.0.1:"+strconv.Itoa(port), &tls.Config{ServerName: name, RootCAs: pool})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestACMEObtainsACertificateWithEachChallengeAndServesIt(t *testing.T) {
	for _, challenge := range []string{certs.HTTP01, certs.TLSALPN01} {
		t.Run(challenge, func(t *testing.T) {
			ca := acmetest.Start(t, acmetest.Options{})
			dir := t.TempDir()
			a := startACME(t, ca, dir, certs.ACMEOptions{Domains: []string{"api.skjold.test"}, Challenges: []string{challenge}})
			acmeSite(t, a, ca)
			root := ca.RootPEM()
			var leaf *x509.Certificate
			waitUntil(t, 60*time.Second, "a certificate from the CA", func() bool {
				var err error
				leaf, err = served(t, ca.TLSPort, "api.skjold.test", root)
				return err == nil
			})
			if got := certs.Names(leaf); len(got) != 1 || got[0] != "api.skjold.test" {
				t.Errorf("served a certificate for %v", got)
			}
			st := a.Status()
			if len(st) != 1 || st[0].Obtained.IsZero() || st[0].Error != "" {
				t.Errorf("status %+v", st)
			}
			infos := a.Infos(time.Now())
			if len(infos) != 1 || infos[0].Source != "acme" || infos[0].NotAfter.IsZero() {
				t.Errorf("infos %+v", infos)
			}
			// Account and certificate are kept with 0600 files.
			var files int
			filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() || strings.HasSuffix(p, ".lock") {
					return err
				}
				files++
				if fi, _ := d.Info(); fi.Mode().Perm()&0o077 != 0 {
					t.Errorf("%s has mode %v; secrets must be 0600", p, fi.Mode().Perm())
				}
				return nil
			})
			if files < 3 {
				t.Errorf("storage holds %d files, want the account key, certificate and key", files)
			}
		})
	}
}

func TestACMERenewsBeforeExpiryAndKeepsServingWhileTheCAIsDown(t *testing.T) {
	ca := acmetest.Start(t, acmetest.Options{Validity: 20 * time.Second})
	a := startACME(t, ca, t.TempDir(), certs.ACMEOptions{
		Domains:            []string{"short.skjold.test"},
		Challenges:         []string{certs.HTTP01},
		RenewalWindow:      0.75, // renew after 5 of the 20 seconds
		RenewCheckInterval: time.Second,
	})
	acmeSite(t, a, ca)
	root := ca.RootPEM()
	var first *x509.Certificate
	waitUntil(t, 60*time.Second, "the first certificate", func() bool {
		var err error
		first, err = served(t, ca.TLSPort, "short.skjold.test", root)
		return err == nil
	})
	waitUntil(t, 60*time.Second, "a renewed certificate", func() bool {
		c, err := served(t, ca.TLSPort, "short.skjold.test", root)
		return err == nil && c.SerialNumber.Cmp(first.SerialNumber) != 0
	})
	if st := a.Status(); !st[0].Renewal || st[0].Error != "" {
		t.Errorf("status after the renewal: %+v", st[0])
	}

	// The CA goes away: the next renewal fails, the certificate in hand is
	// still served, and the status says why.
	ca.Stop()
	current, err := served(t, ca.TLSPort, "short.skjold.test", root)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 60*time.Second, "a failed renewal", func() bool { return a.Status()[0].Error != "" })
	after, err := served(t, ca.TLSPort, "short.skjold.test", root)
	if err != nil {
		t.Fatalf("handshake while the CA is down: %v", err)
	}
	if after.SerialNumber.Cmp(current.SerialNumber) != 0 {
		t.Errorf("serial changed while the CA was down")
	}
	if info := a.Infos(time.Now())[0]; info.Error == "" {
		t.Errorf("infos do not report the failed renewal: %+v", info)
	}
}
