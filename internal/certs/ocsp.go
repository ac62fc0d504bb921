package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"golang.org/x/crypto/ocsp"
)

// maxOCSPResponse bounds what a responder may send; real ones send a few
// hundred bytes to a few KiB.
const maxOCSPResponse = 64 << 10

// Staple fetches an OCSP response for every certificate that names a
// responder and whose staple is missing or past half its validity, and
// serves it with the certificate from the next handshake on (OCSP
// stapling, RFC 6066 section 8). A responder that fails or answers
// something unusable leaves the certificate served as it was (with its
// previous staple while that is still valid); the failures are returned
// joined. The owner calls it from its own goroutine, since it talks to
// the network.
func (s *Set) Staple(ctx context.Context, client *http.Client, now time.Time) error {
	s.mu.Lock()
	type job struct {
		e    *entry
		cert *tls.Certificate
	}
	var jobs []job
	for _, e := range s.entries {
		if e.cert.Leaf != nil && len(e.cert.Leaf.OCSPServer) > 0 && len(e.cert.Certificate) > 1 && e.stapleDue(now) {
			jobs = append(jobs, job{e, e.cert})
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, j := range jobs {
		der, next, err := fetchOCSP(ctx, client, j.cert, now)
		s.mu.Lock()
		if j.e.cert != j.cert {
			s.mu.Unlock()
			continue // replaced by a renewal meanwhile; its staple comes next time
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("OCSP for %s: %w", describe(j.cert.Leaf), err))
			if !j.e.stapleNext.After(now) {
				j.e.info.OCSPStapled = false
				c := *j.e.cert
				c.OCSPStaple = nil
				j.e.cert = &c
			}
		} else {
			c := *j.e.cert // handshakes may hold the old one: never change it in place
			c.OCSPStaple = der
			j.e.cert = &c
			j.e.stapleNext = next
			j.e.stapleFrom = now
			j.e.info.OCSPStapled = true
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.reindex()
	s.mu.Unlock()
	return errors.Join(errs...)
}

// stapleDue reports whether e needs a (new) staple: none yet, or half of
// the current one's validity has passed.
func (e *entry) stapleDue(now time.Time) bool {
	if e.cert.OCSPStaple == nil || e.stapleNext.IsZero() {
		return true
	}
	return now.After(e.stapleFrom.Add(e.stapleNext.Sub(e.stapleFrom) / 2))
}

// fetchOCSP asks the leaf's first responder about it and checks the
// answer: signed for this certificate by its issuer (or a responder the
// issuer delegated to), status good, and current.
func fetchOCSP(ctx context.Context, client *http.Client, c *tls.Certificate, now time.Time) ([]byte, time.Time, error) {
	issuer, err := x509.ParseCertificate(c.Certificate[1])
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("issuer certificate: %w", err)
	}
	req, err := ocsp.CreateRequest(c.Leaf, issuer, &ocsp.RequestOptions{Hash: 0})
	if err != nil {
		return nil, time.Time{}, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Leaf.OCSPServer[0], bytes.NewReader(req))
	if err != nil {
		return nil, time.Time{}, err
	}
	hr.Header.Set("Content-Type", "application/ocsp-request")
	resp, err := client.Do(hr)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, time.Time{}, fmt.Errorf("responder %s answered %s", c.Leaf.OCSPServer[0], resp.Status)
	}
	der, err := io.ReadAll(io.LimitReader(resp.Body, maxOCSPResponse))
	if err != nil {
		return nil, time.Time{}, err
	}
	r, err := ocsp.ParseResponseForCert(der, c.Leaf, issuer)
	if err != nil {
		return nil, time.Time{}, err
	}
	switch {
	case r.Status != ocsp.Good:
		return nil, time.Time{}, fmt.Errorf("the responder says the certificate is %s", ocspStatus(r.Status))
	case now.Before(r.ThisUpdate.Add(-5 * time.Minute)):
		return nil, time.Time{}, errors.New("the response is from the future (is the clock right?)")
	case !r.NextUpdate.IsZero() && !now.Before(r.NextUpdate):
		return nil, time.Time{}, errors.New("the response has expired")
	}
	next := r.NextUpdate
	if next.IsZero() {
		next = now.Add(time.Hour) // no next update given: ask again within the hour
	}
	return der, next, nil
}

func ocspStatus(s int) string {
	switch s {
	case ocsp.Revoked:
		return "revoked"
	case ocsp.Unknown:
		return "unknown to it"
	}
	return "in an unexpected state"
}
