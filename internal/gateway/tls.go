package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skjold-dev/skjold/internal/certs"
	"github.com/skjold-dev/skjold/internal/config"
)

// certRefreshEvery is how often certificate files are checked for a
// renewal on disk (a stat of each file; they are re-read only when they
// changed).
const certRefreshEvery = 5 * time.Second

// listenerTLS is one TLS listener's certificates and handshake settings
// in a snapshot. A reload builds new ones (re-reading every file); the
// listener's stable base config hands each handshake the one in force, so
// session tickets stay valid across reloads.
type listenerTLS struct {
	set  *certs.Set
	conf *tls.Config
	// hsts is the Strict-Transport-Security value, "" when not sent.
	hsts string
	// acme obtains and renews the listener's certificates; nil without
	// an acme section.
	acme *acmeManager
}

func (g *Gateway) newListenerTLS(name string, lc *config.Listener, now time.Time) (*listenerTLS, error) {
	t := lc.TLS
	pairs := make([]certs.FilePair, len(t.Certificates))
	for i, c := range t.Certificates {
		pairs[i] = certs.FilePair{CertFile: c.CertFile, KeyFile: c.KeyFile}
	}
	set, err := certs.NewSet(pairs, now)
	if err != nil {
		return nil, err
	}
	set.Strict = t.StrictSNI
	min, err := certs.ParseVersion(t.MinVersion)
	if err != nil {
		return nil, err
	}
	o := certs.ServerOptions{MinVersion: min}
	if t.ClientCAFile != "" {
		if o.ClientCAs, err = certs.LoadCAs(t.ClientCAFile); err != nil {
			return nil, fmt.Errorf("client_ca_file: %w", err)
		}
	}
	var acme *acmeManager
	if t.ACME != nil {
		if acme, err = g.acmeFor(name, lc); err != nil {
			return nil, err
		}
		o.ACME = acme.a
	}
	lt := &listenerTLS{set: set, conf: certs.ServerConfig(set, o), acme: acme}
	if d := lc.HSTS.D(); d > 0 {
		lt.hsts = "max-age=" + strconv.FormatInt(int64(d/time.Second), 10)
	}
	return lt, nil
}

// baseTLS is a listener's stable TLS config: it lives as long as the
// socket, and each handshake gets the current snapshot's settings for the
// listener's current name. Go rotates its session ticket keys daily and
// keeps them a week; because they belong to this config, resumption
// survives reloads.
func (g *Gateway) baseTLS(l *listener) *tls.Config {
	return &tls.Config{
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			if s := g.snap.Load(); s != nil {
				if lt := s.view(l).tls; lt != nil {
					return lt.conf, nil
				}
			}
			return nil, errors.New("listener no longer serves TLS")
		},
	}
}

// handshake runs the TLS handshake of a new connection on a TLS listener,
// bounded by the listener's read_header_timeout: a client that sends plain
// HTTP, a truncated ClientHello or nothing at all is closed by then. It
// returns the TLS connection to serve, or nil when the handshake failed.
func (g *Gateway) handshake(c *clientConn, name string, timeout time.Duration) *tls.Conn {
	tc := tls.Server(c.socket(), c.l.tlsBase)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := tc.HandshakeContext(ctx)
	if err == nil {
		g.metrics.handshakes.WithLabelValues(name, "ok").Inc()
		return tc
	}
	result := "error"
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		result = "timeout"
	}
	g.metrics.handshakes.WithLabelValues(name, result).Inc()
	g.log.Debug("TLS handshake failed", "listener", name, "client", c.nc.RemoteAddr().String(), "err", err)
	return nil
}

// refreshCertificates re-reads certificate files that changed on disk.
// The janitor calls it; a file that no longer loads is logged once and the
// certificate already served stays.
func (g *Gateway) refreshCertificates(now time.Time) {
	s := g.snap.Load()
	if s == nil {
		return
	}
	for _, v := range s.listeners {
		if v.tls == nil {
			continue
		}
		name, lt := v.name, v.tls
		n, err := lt.set.Refresh(now)
		if n > 0 {
			g.log.Info("certificate files changed: reloaded", "listener", name, "certificates", n)
		}
		if err != nil {
			g.metrics.certReloadErrors.WithLabelValues(name).Inc()
			g.log.Error("certificate files changed but cannot be served", "listener", name, "err", err)
		}
	}
}

// CertificateStatus is one served certificate, as /status shows it.
type CertificateStatus struct {
	Listener string `json:"listener"`
	certs.Info
	ExpiresInSeconds int64 `json:"expires_in_seconds"`
}

func (s *snapshot) certificateStatus(now time.Time) []CertificateStatus {
	var out []CertificateStatus
	for _, v := range s.listeners {
		if v.tls == nil {
			continue
		}
		infos := v.tls.set.Infos()
		if v.tls.acme != nil {
			infos = append(infos, v.tls.acme.a.Infos(now)...)
		}
		for _, info := range infos {
			cs := CertificateStatus{Listener: v.name, Info: info}
			if !info.NotAfter.IsZero() {
				cs.ExpiresInSeconds = int64(info.ExpiresIn(now) / time.Second)
			}
			out = append(out, cs)
		}
	}
	slices.SortStableFunc(out, func(a, b CertificateStatus) int { return strings.Compare(a.Listener, b.Listener) })
	return out
}

var certExpiryDesc = prometheus.NewDesc("skjold_tls_certificate_expiry_seconds",
	"Seconds until the certificate served expires (negative once it has), by listener, first name and source.",
	[]string{"listener", "name", "source"}, nil)

func (s *snapshot) collectCertificates(ch chan<- prometheus.Metric, now time.Time) {
	for _, cs := range s.certificateStatus(now) {
		if cs.NotAfter.IsZero() {
			continue // an ACME domain with no certificate yet
		}
		first := ""
		if len(cs.Names) > 0 {
			first = cs.Names[0]
		}
		ch <- prometheus.MustNewConstMetric(certExpiryDesc, prometheus.GaugeValue, cs.NotAfter.Sub(now).Seconds(), cs.Listener, first, cs.Source)
	}
}

// stapleEvery is how often the stapler looks for OCSP staples that are
// missing or past half their validity (it fetches only those).
const stapleEvery = time.Minute

// stapler keeps OCSP staples fresh for certificates from files that name a
// responder (ACME certificates are stapled by certmagic). It runs until
// ctx ends, at once after a reload and then every stapleEvery.
func (g *Gateway) stapler(ctx context.Context, done chan struct{}) {
	defer close(done)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	t := time.NewTicker(stapleEvery)
	defer t.Stop()
	for {
		if s := g.snap.Load(); s != nil {
			for _, v := range s.listeners {
				if v.tls == nil {
					continue
				}
				if err := v.tls.set.Staple(ctx, client, time.Now()); err != nil && ctx.Err() == nil {
					g.log.Warn("OCSP staple not refreshed; handshakes go on without a fresh one", "listener", v.name, "err", err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-g.stapleKick:
		}
	}
}
