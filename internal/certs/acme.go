package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"
)

// Challenge types an ACME CA may validate a domain with.
const (
	HTTP01    = "http-01"     // the CA fetches a token over plain HTTP on port 80
	TLSALPN01 = "tls-alpn-01" // the CA handshakes on port 443 with ALPN acme-tls/1
)

// LetsEncrypt is Let's Encrypt's production ACME directory.
const LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

// ACMEOptions configure automatic certificates for one listener.
type ACMEOptions struct {
	// Email is the ACME account's contact address (expiry warnings).
	Email string
	// Domains to obtain certificates for.
	Domains []string
	// Directory is the ACME server's directory URL. Zero: LetsEncrypt.
	Directory string
	// RootCAs verify the ACME server's own HTTPS certificate (a private CA
	// such as a test server). Nil: the system's roots.
	RootCAs *x509.CertPool
	// Challenges allowed, of HTTP01 and TLSALPN01. Empty: both.
	Challenges []string
	// HTTPPort and TLSPort are the ports the CA connects to for the
	// challenges: 80 and 443 in production (the zero value); a test
	// server may use others.
	HTTPPort, TLSPort int
	// Storage keeps the account and the certificates, so a restart does
	// not ask the CA again. Nil: files under StorageDir, written 0600
	// through a temporary file and a rename. Another implementation (one
	// shared by several replicas) fits here.
	Storage certmagic.Storage
	// StorageDir is the directory of the default storage.
	StorageDir string
	// RenewalWindow is the fraction of a certificate's lifetime before its
	// expiry when renewal starts: 1/3 (30 days of Let's Encrypt's 90) when
	// zero.
	RenewalWindow float64
	// RenewCheckInterval is how often certificates are checked for
	// renewal. Zero: certmagic's default (10 minutes).
	RenewCheckInterval time.Duration
	// Logger receives what the ACME client does.
	Logger *slog.Logger
}

// ACME obtains certificates from an ACME CA (RFC 8555) and renews them
// before they expire, through certmagic, which Caddy runs on. A renewal
// that fails is retried with backoff while the old certificate keeps being
// served; Status says so.
type ACME struct {
	opts   ACMEOptions
	cache  *certmagic.Cache
	cfg    *certmagic.Config
	issuer *certmagic.ACMEIssuer

	mu      sync.Mutex
	started bool
	events  map[string]*DomainStatus
}

// DomainStatus is what became of the last attempt for one domain.
type DomainStatus struct {
	Domain string `json:"domain"`
	// Obtained is when a certificate was last obtained or renewed.
	Obtained time.Time `json:"obtained,omitzero"`
	// Failed and Error are the last failure, if it came after Obtained:
	// the certificate shown (if any) is still served.
	Failed time.Time `json:"failed,omitzero"`
	Error  string    `json:"error,omitempty"`
	// Renewal is true when the last attempt was a renewal.
	Renewal bool `json:"renewal,omitempty"`
}

// NewACME checks o and prepares to manage o.Domains; nothing runs until
// Start, so a config that fails a later step leaves nothing behind.
func NewACME(o ACMEOptions) (*ACME, error) {
	if len(o.Domains) == 0 {
		return nil, errors.New("acme: no domains to obtain certificates for")
	}
	if o.Directory == "" {
		o.Directory = LetsEncrypt
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Storage == nil {
		if o.StorageDir == "" {
			return nil, errors.New("acme: a storage directory is required")
		}
		o.Storage = &certmagic.FileStorage{Path: o.StorageDir}
	}
	for _, c := range o.Challenges {
		if c != HTTP01 && c != TLSALPN01 {
			return nil, fmt.Errorf("acme: unknown challenge %q; use %s or %s", c, HTTP01, TLSALPN01)
		}
	}
	a := &ACME{opts: o, events: map[string]*DomainStatus{}}
	for _, d := range o.Domains {
		a.events[d] = &DomainStatus{Domain: d}
	}
	return a, nil
}

// StartACME is NewACME and Start.
func StartACME(ctx context.Context, o ACMEOptions) (*ACME, error) {
	a, err := NewACME(o)
	if err != nil {
		return nil, err
	}
	if err := a.Start(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// Start begins managing the domains: certificates already in storage are
// loaded at once; missing or expiring ones are obtained in the background
// (GetCertificate fails for a domain until its first certificate arrives).
// Stop ends the background work.
func (a *ACME) Start(ctx context.Context) error {
	o := a.opts
	zl := zapLogger(o.Logger)
	a.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return a.cfg, nil },
		RenewCheckInterval: o.RenewCheckInterval,
		Logger:             zl,
	})
	a.cfg = certmagic.New(a.cache, certmagic.Config{
		Storage:            o.Storage,
		RenewalWindowRatio: o.RenewalWindow,
		Logger:             zl,
		OnEvent:            a.onEvent,
	})
	iss := certmagic.ACMEIssuer{
		CA:                      o.Directory,
		Email:                   o.Email,
		Agreed:                  true,
		DisableHTTPChallenge:    len(o.Challenges) > 0 && !slices.Contains(o.Challenges, HTTP01),
		DisableTLSALPNChallenge: len(o.Challenges) > 0 && !slices.Contains(o.Challenges, TLSALPN01),
		AltHTTPPort:             o.HTTPPort,
		AltTLSALPNPort:          o.TLSPort,
		Logger:                  zl,
	}
	if o.RootCAs != nil {
		iss.TrustedRoots = o.RootCAs
	}
	a.issuer = certmagic.NewACMEIssuer(a.cfg, iss)
	a.cfg.Issuers = []certmagic.Issuer{a.issuer}
	if err := a.cfg.ManageAsync(ctx, o.Domains); err != nil {
		a.cache.Stop()
		a.cache = nil
		return fmt.Errorf("acme: %w", err)
	}
	a.mu.Lock()
	a.started = true
	a.mu.Unlock()
	return nil
}

// Stop ends renewals and releases the storage locks it holds. It is safe
// to call on an ACME that never started.
func (a *ACME) Stop() {
	a.mu.Lock()
	started := a.started
	a.started = false
	a.mu.Unlock()
	if started {
		a.cache.Stop()
	}
}

// Domains lists the managed domains.
func (a *ACME) Domains() []string { return slices.Clone(a.opts.Domains) }

// GetCertificate serves a managed domain's certificate, and answers
// tls-alpn-01 challenge handshakes.
func (a *ACME) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if !a.running() {
		return nil, errors.New("acme: not started")
	}
	return a.cfg.GetCertificate(hello)
}

func (a *ACME) running() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.started
}

// Challenge reports whether the CA may validate with challenge c.
func (a *ACME) Challenge(c string) bool {
	return len(a.opts.Challenges) == 0 || slices.Contains(a.opts.Challenges, c)
}

// Manages reports whether name is one of the managed domains.
func (a *ACME) Manages(name string) bool { return slices.Contains(a.opts.Domains, name) }

// HandleHTTPChallenge answers the CA's http-01 request for a token, if r
// is one; it reports whether it did.
func (a *ACME) HandleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool {
	return a.running() && a.issuer.HandleHTTPChallenge(w, r)
}

// Status is each managed domain's last attempt.
func (a *ACME) Status() []DomainStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]DomainStatus, 0, len(a.opts.Domains))
	for _, d := range a.opts.Domains {
		out = append(out, *a.events[d])
	}
	return out
}

// Infos describes the certificates served now, one per domain that has
// one, with the domain's last failure as Error.
func (a *ACME) Infos(now time.Time) []Info {
	st := a.Status()
	running := a.running()
	var out []Info
	for _, ds := range st {
		var certs []certmagic.Certificate
		if running {
			certs = a.cache.AllMatchingCertificates(ds.Domain)
		}
		if len(certs) == 0 || certs[0].Leaf == nil {
			out = append(out, Info{Names: []string{ds.Domain}, Source: "acme", Error: orPending(ds.Error)})
			continue
		}
		info := infoOf(certs[0].Leaf, now)
		info.Source = "acme"
		info.Loaded = ds.Obtained
		if ds.Failed.After(ds.Obtained) {
			info.Error = ds.Error
		}
		out = append(out, info)
	}
	return out
}

func orPending(err string) string {
	if err == "" {
		return "no certificate obtained yet"
	}
	return err
}

func (a *ACME) onEvent(_ context.Context, event string, data map[string]any) error {
	name, _ := data["identifier"].(string)
	a.mu.Lock()
	defer a.mu.Unlock()
	ds := a.events[name]
	if ds == nil {
		return nil
	}
	renewal, _ := data["renewal"].(bool)
	switch event {
	case "cert_obtained":
		ds.Obtained, ds.Renewal = time.Now(), renewal
	case "cert_failed":
		ds.Failed, ds.Renewal = time.Now(), renewal
		if err, ok := data["error"].(error); ok {
			ds.Error = describeACMEError(err)
		}
		a.opts.Logger.Error("ACME could not obtain a certificate; the current one (if any) is still served",
			"domain", name, "renewal", renewal, "err", ds.Error)
	}
	return nil
}

func describeACMEError(err error) string {
	var p acme.Problem
	if errors.As(err, &p) {
		return p.Error()
	}
	return err.Error()
}
