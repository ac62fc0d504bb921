package gateway

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/skjold-dev/skjold/internal/certs"
	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/proxy"
)

// acmeManager is one listener's ACME client. It outlives reloads that keep
// the listener's acme section (and the ports the CA validates on) as they
// were; a reload that changes them gets a new one, started only when the
// reload is committed.
type acmeManager struct {
	key string
	a   *certs.ACME
}

// acmeFor returns the running ACME client of listener name when its
// settings are unchanged, else a new one that commit will start. It starts
// nothing and stops nothing.
func (g *Gateway) acmeFor(name string, lc *config.Listener) (*acmeManager, error) {
	ac := lc.TLS.ACME
	tlsPort, httpPort := portOf(lc.Address), 0
	if lc.RedirectHTTPFrom != "" {
		httpPort = portOf(lc.RedirectHTTPFrom)
	}
	key := fmt.Sprintf("%q|%q|%q|%q|%q|%q|%d|%d", ac.Email, ac.Domains, ac.Directory, ac.CAFile, ac.Challenges, ac.StorageDir, tlsPort, httpPort)
	g.mu.Lock()
	m := g.acme[name]
	g.mu.Unlock()
	if m != nil && m.key == key {
		return m, nil
	}
	o := certs.ACMEOptions{
		Email: ac.Email, Domains: ac.Domains, Directory: ac.Directory, Challenges: ac.Challenges,
		StorageDir: ac.StorageDir, Logger: g.log.With("listener", name),
		// The ports the CA connects to are the ones this gateway listens
		// on, so certmagic never binds a socket of its own for them.
		HTTPPort: httpPort, TLSPort: tlsPort,
	}
	if ac.CAFile != "" {
		pool, err := certs.LoadCAs(ac.CAFile)
		if err != nil {
			return nil, fmt.Errorf("acme.ca_file: %w", err)
		}
		o.RootCAs = pool
	}
	a, err := certs.NewACME(o)
	if err != nil {
		return nil, err
	}
	return &acmeManager{key: key, a: a}, nil
}

// commitACME starts the ACME clients s brings and stops those it dropped.
// It runs when s is committed, so a refused reload never starts one.
func (g *Gateway) commitACME(s *snapshot) {
	next := map[string]*acmeManager{}
	for _, v := range s.listeners {
		if v.tls != nil && v.tls.acme != nil {
			next[v.name] = v.tls.acme
		}
	}
	g.mu.Lock()
	prev := g.acme
	g.acme = next
	g.mu.Unlock()
	for name, m := range next {
		if prev[name] == m {
			continue
		}
		if err := m.a.Start(context.Background()); err != nil {
			g.log.Error("ACME client did not start; the listener serves its files' certificates only", "listener", name, "err", err)
		}
	}
	for name, m := range prev {
		if next[name] != m {
			m.a.Stop()
		}
	}
}

// stopACME stops every ACME client (on shutdown).
func (g *Gateway) stopACME() {
	g.mu.Lock()
	ms := g.acme
	g.acme = map[string]*acmeManager{}
	g.mu.Unlock()
	for _, m := range ms {
		m.a.Stop()
	}
}

func portOf(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// acmeChallengePrefix is where http-01 challenges are fetched (RFC 8555
// section 8.3).
const acmeChallengePrefix = "/.well-known/acme-challenge/"

// answerACMEChallenge answers an http-01 challenge request on a redirect
// socket when one of the snapshot's ACME clients has the token; it reports
// whether it did. Challenges are rare, so this path may allocate.
func (g *Gateway) answerACMEChallenge(ex *proxy.Exchange, s *snapshot) bool {
	if !bytes.HasPrefix(ex.Req.Path, []byte(acmeChallengePrefix)) || string(ex.Req.Method) != "GET" {
		return false
	}
	r := &http.Request{Method: "GET", Host: string(ex.Req.Host), URL: &url.URL{Path: string(ex.Req.Path)}, Header: http.Header{}}
	for _, v := range s.listeners {
		if v.tls == nil || v.tls.acme == nil {
			continue
		}
		w := &challengeWriter{h: http.Header{}}
		if v.tls.acme.a.HandleHTTPChallenge(w, r) {
			writeChallengeAnswer(ex, w)
			return true
		}
	}
	return false
}

// challengeWriter collects certmagic's challenge answer.
type challengeWriter struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (w *challengeWriter) Header() http.Header         { return w.h }
func (w *challengeWriter) Write(b []byte) (int, error) { return w.body.Write(b) }
func (w *challengeWriter) WriteHeader(code int)        { w.status = code }

func writeChallengeAnswer(ex *proxy.Exchange, w *challengeWriter) {
	status := w.status
	if status == 0 {
		status = 200
	}
	ct := w.h.Get("Content-Type")
	if ct == "" || strings.ContainsAny(ct, "\r\n") {
		ct = "text/plain"
	}
	ex.Status = status
	bw := ex.BW
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n", status, http.StatusText(status), ct, w.body.Len())
	if !ex.KeepAlive {
		bw.WriteString("Connection: close\r\n")
	}
	bw.WriteString("\r\n")
	bw.Write(w.body.Bytes())
	bw.Flush()
}
