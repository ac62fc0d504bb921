package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/certs/certstest"
)

func tlsListener(body string) string {
	return "listeners:\n  public:\n    address: 127.0.0.1:8443\n" + body
}

func TestTLSProblemsNameTheFileLineAndReason(t *testing.T) {
	ca := certstest.NewCA(t, "Test CA")
	good := ca.Issue(certstest.Options{}, "api.example.com")
	other := ca.Issue(certstest.Options{}, "other.example.com")
	expired := ca.Issue(certstest.Options{NotBefore: time.Now().Add(-48 * time.Hour), Lifetime: time.Hour}, "old.example.com")
	pair := func(cert, key string) string {
		return fmt.Sprintf("    tls:\n      certificates:\n        - cert_file: %s #<\n          key_file: %s\n", cert, key)
	}
	checkProblemCases(t, []problemCase{
		{"missing certificate file", doc(tlsListener(pair("/nonexistent/api.pem", good.KeyFile))),
			"listeners.public.tls.certificates[0].cert_file", "no such file or directory"},
		{"key of another certificate", doc(tlsListener(pair(good.CertFile, other.KeyFile))),
			"listeners.public.tls.certificates[0].cert_file", "private key does not match the certificate"},
		{"expired certificate", doc(tlsListener(pair(expired.CertFile, expired.KeyFile))),
			"listeners.public.tls.certificates[0].cert_file", "old.example.com expired on"},
		{"no certificates", doc(tlsListener("    tls:\n      min_version: \"1.3\"\n      certificates: [] #<\n")),
			"listeners.public.tls.certificates", "at least one certificate is required"},
		{"missing key file key", doc(tlsListener("    tls:\n      certificates:\n        - cert_file: " + good.CertFile + " #<\n")),
			"listeners.public.tls.certificates[0].key_file", "is required"},
		{"TLS 1.1", doc(tlsListener(strings.Replace(pair(good.CertFile, good.KeyFile), " #<", "", 1) + "      min_version: \"1.1\" #<\n")),
			"listeners.public.tls.min_version", "deprecated (RFC 8996)"},
		{"unreadable client CA file", doc(tlsListener(strings.Replace(pair(good.CertFile, good.KeyFile), " #<", "", 1) + "      client_ca_file: " + good.KeyFile + " #<\n")),
			"listeners.public.tls.client_ca_file", "no PEM certificate"},
		{"redirect without tls", doc(tlsListener("    redirect_http_from: 127.0.0.1:8081 #<\n")),
			"listeners.public.redirect_http_from", "needs a tls section"},
		{"hsts without tls", doc(tlsListener("    hsts: 365d #<\n")),
			"listeners.public.hsts", "needs a tls section"},
		{"redirect port clashes with a listener", doc("listeners:\n  public:\n    address: 127.0.0.1:8080\n  secure:\n    address: 127.0.0.1:8443\n" +
			strings.Replace(pair(good.CertFile, good.KeyFile), " #<", "", 1) + "    redirect_http_from: 127.0.0.1:8080 #<\n"),
			"listeners.secure.redirect_http_from", "clashes with listeners.public.address"},
		{"upstream client certificate without its key", doc("upstreams:\n  fx:\n    targets: [{address: 127.0.0.1:9103}]\n    tls:\n      client_cert_file: " + good.CertFile + " #<\n"),
			"upstreams.fx.tls.client_cert_file", "set both or neither"},
		{"upstream CA file missing", doc("upstreams:\n  fx:\n    targets: [{address: 127.0.0.1:9103}]\n    tls:\n      ca_file: /nonexistent/ca.pem #<\n"),
			"upstreams.fx.tls.ca_file", "no such file"},
	})
}

func TestTLSFilesAreTakenFromTheConfigDirectory(t *testing.T) {
	ca := certstest.NewCA(t, "Test CA")
	good := ca.Issue(certstest.Options{}, "api.example.com")
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "tls"), 0o700)
	for src, dst := range map[string]string{good.CertFile: "tls/api.pem", good.KeyFile: "tls/api.key", ca.File: "tls/ca.pem"} {
		b, _ := os.ReadFile(src)
		os.WriteFile(filepath.Join(dir, dst), b, 0o600)
	}
	cfgPath := filepath.Join(dir, "skjold.yaml")
	os.WriteFile(cfgPath, []byte(doc(tlsListener("    hsts: 365d\n    tls:\n      certificates: [{cert_file: tls/api.pem, key_file: tls/api.key}]\n      client_ca_file: tls/ca.pem\n"),
		"upstreams:\n  fx:\n    targets: [{address: 127.0.0.1:9103}]\n    tls: {ca_file: tls/ca.pem, insecure_skip_verify: true}\n")), 0o600)
	c, err := LoadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	l := c.Listeners["public"]
	if got := l.TLS.Certificates[0].CertFile; got != filepath.Join(dir, "tls/api.pem") {
		t.Errorf("cert_file resolved to %s", got)
	}
	if got := l.TLS.ClientCAFile; got != filepath.Join(dir, "tls/ca.pem") {
		t.Errorf("client_ca_file resolved to %s", got)
	}
	if l.TLS.MinVersion != "1.2" || l.HSTS.D() != 365*24*time.Hour {
		t.Errorf("min_version %q, hsts %s", l.TLS.MinVersion, l.HSTS.D())
	}
	if len(c.Warnings) != 1 || c.Warnings[0].Path != "upstreams.fx.tls.insecure_skip_verify" || c.Warnings[0].Line == 0 {
		t.Errorf("warnings %v, want one for insecure_skip_verify with its line", c.Warnings)
	}
}
