package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/skjold-dev/skjold/internal/certs"
)

// ListenerTLS makes a listener serve HTTPS (docs/tls.md).
type ListenerTLS struct {
	// Certificates to serve, each a PEM chain (leaf first) and its key;
	// the one whose names match the client's SNI name is chosen (an ECDSA
	// and an RSA certificate may share names: each client gets the best it
	// supports), the first is the default. Relative paths are taken from
	// the config file's directory. At least one is required unless ACME
	// is set.
	Certificates []*CertificateFiles `yaml:"certificates,omitempty"`
	// ACME obtains and renews certificates for the listed domains
	// automatically (Let's Encrypt or any RFC 8555 CA). Default: off.
	ACME *ACME `yaml:"acme,omitempty"`
	// MinVersion is the oldest TLS version accepted: "1.2" or "1.3".
	// Default "1.2". TLS 1.0 and 1.1 are never offered.
	MinVersion string `yaml:"min_version,omitempty"`
	// ClientCAFile, when set, requires every client to present a
	// certificate signed by one of the CAs in this PEM file (mutual TLS).
	// Default: no client certificates asked for.
	ClientCAFile string `yaml:"client_ca_file,omitempty"`
	// StrictSNI refuses handshakes for names no certificate covers (and
	// without SNI) instead of answering with the first certificate.
	// Default false.
	StrictSNI bool `yaml:"strict_sni,omitempty"`
}

// ACME configures automatic certificates.
type ACME struct {
	// Email is the ACME account's contact, where the CA sends expiry
	// warnings. Default: none (allowed, not advised).
	Email string `yaml:"email,omitempty"`
	// Domains to obtain certificates for; each must resolve to this
	// gateway for the CA's validation. Wildcards need DNS validation,
	// which Skjold does not do. Required.
	Domains []string `yaml:"domains,omitempty"`
	// Directory is the ACME server's directory URL. Default Let's
	// Encrypt's production directory.
	Directory string `yaml:"directory,omitempty"`
	// CAFile verifies the ACME server's own HTTPS certificate against the
	// CAs in this PEM file (a private ACME server). Default: the
	// system's roots.
	CAFile string `yaml:"ca_file,omitempty"`
	// Challenges the CA may validate with: http-01 (a request to port 80,
	// answered on this listener's redirect_http_from socket) and
	// tls-alpn-01 (a handshake on this listener). Default: both when
	// redirect_http_from is set, else tls-alpn-01.
	Challenges []string `yaml:"challenges,omitempty"`
	// StorageDir keeps the account key and the certificates (files 0600),
	// so a restart does not ask the CA again. Relative to the config
	// file's directory. Default /var/lib/skjold/acme.
	StorageDir string `yaml:"storage_dir,omitempty"`
}

// DefaultACMEStorageDir is ACME.StorageDir's default.
const DefaultACMEStorageDir = "/var/lib/skjold/acme"

// CertificateFiles names a certificate chain and its private key.
type CertificateFiles struct {
	// CertFile is the PEM certificate chain, leaf first. Required.
	CertFile string `yaml:"cert_file,omitempty"`
	// KeyFile is the PEM private key of the leaf. Required.
	KeyFile string `yaml:"key_file,omitempty"`
}

// UpstreamTLS makes the gateway speak HTTPS to an upstream's targets.
type UpstreamTLS struct {
	// CAFile verifies the targets' certificates against the CAs in this
	// PEM file. Default: the system's trusted roots.
	CAFile string `yaml:"ca_file,omitempty"`
	// ServerName is sent as SNI and verified against the target's
	// certificate. Default: the target address's host.
	ServerName string `yaml:"server_name,omitempty"`
	// ClientCertFile and ClientKeyFile are a certificate the gateway
	// presents to targets that ask for one (mutual TLS). Both or neither.
	ClientCertFile string `yaml:"client_cert_file,omitempty"`
	ClientKeyFile  string `yaml:"client_key_file,omitempty"`
	// InsecureSkipVerify accepts any certificate from the targets, which
	// lets anyone on the path read and change the traffic; `skjold check`
	// warns about it. Default false.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify,omitempty"`
}

// DefaultTLSMinVersion is ListenerTLS.MinVersion's default.
const DefaultTLSMinVersion = "1.2"

// tlsDefaults resolves relative file names against the config's directory
// so the gateway reads the same files wherever it was started.
func tlsDefaults(c *Config) {
	for _, l := range c.Listeners {
		if l == nil || l.TLS == nil {
			continue
		}
		if l.TLS.MinVersion == "" {
			l.TLS.MinVersion = DefaultTLSMinVersion
		}
		for _, cf := range l.TLS.Certificates {
			if cf != nil {
				cf.CertFile, cf.KeyFile = c.fileName(cf.CertFile), c.fileName(cf.KeyFile)
			}
		}
		l.TLS.ClientCAFile = c.fileName(l.TLS.ClientCAFile)
		if a := l.TLS.ACME; a != nil {
			if a.Directory == "" {
				a.Directory = certs.LetsEncrypt
			}
			if len(a.Challenges) == 0 {
				a.Challenges = []string{certs.TLSALPN01}
				if l.RedirectHTTPFrom != "" {
					a.Challenges = []string{certs.HTTP01, certs.TLSALPN01}
				}
			}
			if a.StorageDir == "" {
				a.StorageDir = DefaultACMEStorageDir
			}
			a.StorageDir = c.relative(a.StorageDir)
			a.CAFile = c.fileName(a.CAFile)
		}
	}
	for _, u := range c.Upstreams {
		if u == nil || u.TLS == nil {
			continue
		}
		u.TLS.CAFile = c.fileName(u.TLS.CAFile)
		u.TLS.ClientCertFile = c.fileName(u.TLS.ClientCertFile)
		u.TLS.ClientKeyFile = c.fileName(u.TLS.ClientKeyFile)
	}
}

// fileName is relative for a file name that may be empty.
func (c *Config) fileName(p string) string {
	if p == "" {
		return ""
	}
	return c.relative(p)
}

// listenerTLS checks a listener's TLS section, loading its certificates as
// the gateway will: a certificate that cannot be served is a problem at its
// cert_file.
func (v validator) listenerTLS(p string, l *Listener) {
	if l.TLS == nil {
		if l.RedirectHTTPFrom != "" {
			v.problemf(p+".redirect_http_from", "needs a tls section on this listener: it redirects plain HTTP to it")
		}
		if l.HSTS != 0 {
			v.problemf(p+".hsts", "needs a tls section on this listener: browsers ignore Strict-Transport-Security over plain HTTP")
		}
		return
	}
	t := l.TLS
	p += ".tls"
	if len(t.Certificates) == 0 && t.ACME == nil {
		v.problemf(p+".certificates", "at least one certificate is required, such as [{cert_file: /etc/skjold/tls/api.pem, key_file: /etc/skjold/tls/api.key}], or an acme section")
	}
	if t.ACME != nil {
		v.acme(p+".acme", t.ACME, l)
	}
	now := time.Now()
	for i, cf := range t.Certificates {
		cp := indexPath(p+".certificates", i)
		if cf == nil || cf.CertFile == "" {
			v.problemf(cp+".cert_file", "is required: the PEM certificate chain, leaf first")
			continue
		}
		if cf.KeyFile == "" {
			v.problemf(cp+".key_file", "is required: the PEM private key of the certificate")
			continue
		}
		if _, _, err := certs.LoadFiles(cf.CertFile, cf.KeyFile, now); err != nil {
			v.problemf(cp+".cert_file", "%v", err)
		}
	}
	if _, err := certs.ParseVersion(t.MinVersion); err != nil {
		v.problemf(p+".min_version", "%v", err)
	}
	if t.ClientCAFile != "" {
		if _, err := certs.LoadCAs(t.ClientCAFile); err != nil {
			v.problemf(p+".client_ca_file", "%v", err)
		}
	}
}

// acme checks a listener's acme section.
func (v validator) acme(p string, a *ACME, l *Listener) {
	if len(a.Domains) == 0 {
		v.problemf(p+".domains", "at least one domain is required: the names to obtain certificates for")
	}
	for i, d := range a.Domains {
		dp := indexPath(p+".domains", i)
		switch {
		case strings.HasPrefix(d, "*."):
			v.problemf(dp, "%q: wildcard certificates need DNS validation, which Skjold does not do; list the names", d)
		case !ValidHostName(d) || net.ParseIP(d) != nil:
			v.problemf(dp, "%q is not a DNS name", d)
		}
	}
	if u, err := url.Parse(a.Directory); err != nil || u.Scheme != "https" || u.Host == "" {
		v.problemf(p+".directory", "%q is not an https:// URL of an ACME directory", a.Directory)
	}
	if a.CAFile != "" {
		if _, err := certs.LoadCAs(a.CAFile); err != nil {
			v.problemf(p+".ca_file", "%v", err)
		}
	}
	for i, c := range a.Challenges {
		cp := indexPath(p+".challenges", i)
		switch c {
		case certs.HTTP01:
			if l.RedirectHTTPFrom == "" {
				v.problemf(cp, "http-01 is answered on the listener's redirect_http_from socket (port 80 for a public CA); set it, or use tls-alpn-01 alone")
			}
		case certs.TLSALPN01:
		default:
			v.problemf(cp, "unknown challenge %q; use http-01 or tls-alpn-01", c)
		}
	}
}

// upstreamTLS checks an upstream's tls section.
func (v validator) upstreamTLS(p string, u *Upstream) {
	t := u.TLS
	if t == nil {
		return
	}
	p += ".tls"
	if t.CAFile != "" {
		if _, err := certs.LoadCAs(t.CAFile); err != nil {
			v.problemf(p+".ca_file", "%v", err)
		}
	}
	switch {
	case (t.ClientCertFile == "") != (t.ClientKeyFile == ""):
		v.problemf(p+".client_cert_file", "client_cert_file and client_key_file go together; set both or neither")
	case t.ClientCertFile != "":
		if _, _, err := certs.LoadFiles(t.ClientCertFile, t.ClientKeyFile, time.Now()); err != nil {
			v.problemf(p+".client_cert_file", "%v", err)
		}
	}
	if t.ServerName != "" && !ValidHostName(t.ServerName) {
		v.problemf(p+".server_name", "%q is not a host name", t.ServerName)
	}
	if t.InsecureSkipVerify {
		v.warnf(p+".insecure_skip_verify", "the targets' certificates are not verified: anyone on the network path can read and change this traffic; set ca_file instead")
	}
}

// warnf records something that is allowed but probably wrong; `skjold
// check` prints it, serve logs it.
func (v validator) warnf(path, format string, args ...any) {
	pos := v.r.where(path)
	v.c.Warnings = append(v.c.Warnings, Problem{File: v.r.file, Line: pos.line, Column: pos.col, Path: path, Message: fmt.Sprintf(format, args...)})
}
