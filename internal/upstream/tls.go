package upstream

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/skjold-dev/skjold/internal/certs"
	"github.com/skjold-dev/skjold/internal/config"
)

// TLS is how an upstream's connections are made TLS: a client
// configuration built from its tls section (TLS 1.2 or later, the
// targets' certificates verified against ca_file or the system's roots,
// SNI from server_name or the target's host, a client certificate for
// targets that ask for one), shared by its keepalive pools and its health
// checks. It is immutable.
type TLS struct {
	config *tls.Config
	roots  *x509.CertPool // nil: the system's
	client *tls.Certificate
	info   TLSInfo
}

// TLSInfo is what status pages show about an upstream's TLS.
type TLSInfo struct {
	// ServerName is sent as SNI and verified; empty: each target's host.
	ServerName string `json:"server_name,omitempty"`
	// CAFile verifies the targets; empty: the system's roots.
	CAFile string `json:"ca_file,omitempty"`
	// ClientCertificate is presented to targets that ask for one.
	ClientCertificate *certs.Info `json:"client_certificate,omitempty"`
	// InsecureSkipVerify: the targets' certificates are not verified.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
}

// NewTLS reads the files c names (a reload calls it again, so renewed
// files are picked up) and builds the client configuration. Errors name
// the setting and the file.
func NewTLS(c *config.UpstreamTLS, now time.Time) (*TLS, error) {
	t := &TLS{info: TLSInfo{ServerName: c.ServerName, CAFile: c.CAFile, InsecureSkipVerify: c.InsecureSkipVerify}}
	if c.CAFile != "" {
		pool, err := certs.LoadCAs(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		t.roots = pool
	}
	if c.ClientCertFile != "" {
		cert, info, err := certs.LoadFiles(c.ClientCertFile, c.ClientKeyFile, now)
		if err != nil {
			return nil, fmt.Errorf("tls.client_cert_file: %w", err)
		}
		t.client, t.info.ClientCertificate = cert, &info
	}
	t.config = &tls.Config{
		MinVersion:         tls.VersionTLS12,
		RootCAs:            t.roots,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify,
		// Resumed handshakes when a pool has to dial again.
		ClientSessionCache: tls.NewLRUClientSessionCache(0),
	}
	if t.client != nil {
		// Always present the certificate, as nginx's
		// proxy_ssl_certificate does: crypto/tls would otherwise send it
		// only when the target's list of acceptable CAs names its issuer,
		// and many servers send no list or an incomplete one.
		cert := t.client
		t.config.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return t, nil
}

// Config is the client configuration, for clients other than the pools
// (health checks). Callers must not change it.
func (t *TLS) Config() *tls.Config {
	if t == nil {
		return nil
	}
	return t.config
}

// Info describes t for status pages; nil for plain HTTP.
func (t *TLS) Info() *TLSInfo {
	if t == nil {
		return nil
	}
	i := t.info
	return &i
}

// same reports whether t and o would make the same connections: the same
// roots, name, verification and client certificate (a certificate's key
// is its own, so comparing certificates compares the keys too).
func (t *TLS) same(o *TLS) bool {
	switch {
	case t == o:
		return true
	case t == nil || o == nil:
		return false
	case t.info.ServerName != o.info.ServerName || t.info.InsecureSkipVerify != o.info.InsecureSkipVerify:
		return false
	case (t.roots == nil) != (o.roots == nil) || t.roots != nil && !t.roots.Equal(o.roots):
		return false
	case (t.client == nil) != (o.client == nil):
		return false
	}
	if t.client != nil {
		a, b := t.client.Certificate, o.client.Certificate
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if !bytes.Equal(a[i], b[i]) {
				return false
			}
		}
	}
	return true
}

// forTarget is the configuration for a handshake with addr: without a
// server_name, the target's own host is its SNI name and the name its
// certificate must carry (an IP address is verified against the
// certificate's IP SANs and sent without SNI, as RFC 6066 §3 asks). A
// copy per dial is cheap beside the handshake it is for.
func (t *TLS) forTarget(addr string) *tls.Config {
	if t.config.ServerName != "" {
		return t.config
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	c := t.config.Clone()
	c.ServerName = host
	return c
}

// HandshakeError is a TLS handshake with a target that failed: its
// certificate did not verify, it refused ours, it does not speak TLS, or
// the handshake broke off or timed out. It is a connect failure.
type HandshakeError struct {
	Addr string
	Err  error
}

func (e *HandshakeError) Error() string { return "TLS handshake with " + e.Addr + ": " + e.Err.Error() }

func (e *HandshakeError) Unwrap() error { return e.Err }

// TLSReason says in a few words why a TLS connection to a target failed,
// for the answer a client gets ("TLS handshake failed: certificate signed
// by unknown authority"); "" when err is no TLS failure. It covers a
// failed handshake, and an alert the target sends after one, which is how
// a TLS 1.3 server refuses a client certificate (or its absence): the
// client learns of it on its first read.
func TLSReason(err error) string {
	var he *HandshakeError
	if errors.As(err, &he) {
		return "TLS handshake failed: " + tlsCause(he.Err)
	}
	if alert, ok := remoteAlert(err); ok {
		return "the target ended TLS with an alert: " + alert
	}
	return ""
}

func tlsCause(err error) string {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		header   tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &unknown):
		return strings.TrimPrefix(unknown.Error(), "x509: ")
	case errors.As(err, &hostname):
		return strings.TrimPrefix(hostname.Error(), "x509: ")
	case errors.As(err, &invalid):
		return strings.TrimPrefix(invalid.Error(), "x509: ")
	case errors.As(err, &header):
		return "the target does not speak TLS (is it plain HTTP?)"
	}
	if alert, ok := remoteAlert(err); ok {
		return "the target refused it: " + alert
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	return strings.TrimPrefix(err.Error(), "tls: ")
}

// remoteAlert finds an alert the peer sent: crypto/tls reports one as a
// *net.OpError whose Op is "remote error".
func remoteAlert(err error) (string, bool) {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" && op.Err != nil {
		return strings.TrimPrefix(op.Err.Error(), "tls: "), true
	}
	return "", false
}
