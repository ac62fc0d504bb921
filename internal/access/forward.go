package access

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/skjold-dev/skjold/internal/breaker"
)

// ErrAuthUnavailable is wrapped by every forward-auth error that means the
// auth service could not give a verdict: it is down, too slow, answering
// 5xx, or its breaker is open. The request is refused (fail closed).
var ErrAuthUnavailable = errors.New("auth service unavailable")

// maxAuthBody bounds the body of an auth service's refusal that is passed
// to the client.
const maxAuthBody = 64 << 10

// ForwardAuthSettings configure a ForwardAuth.
type ForwardAuthSettings struct {
	// URL is the auth service's endpoint, http:// or https://.
	URL string
	// Timeout bounds the whole sub-request, connect to the end of the
	// answer's body.
	Timeout time.Duration
	// CopyHeaders are the answer headers a 2xx verdict copies to the
	// upstream request (X-User, say), in canonical form.
	CopyHeaders []string
	// Breaker guards the auth service: open, it refuses at once.
	Breaker breaker.Settings
}

// ForwardAuth asks an auth service whether a request may pass.
type ForwardAuth struct {
	s       ForwardAuthSettings
	client  *http.Client
	breaker *breaker.Breaker
}

// NewForwardAuth builds a forward auth with its own connection pool and
// breaker. Close it when no snapshot uses it any more.
func NewForwardAuth(s ForwardAuthSettings) *ForwardAuth {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: s.Timeout}).DialContext,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       60 * time.Second,
		ResponseHeaderTimeout: s.Timeout,
		DisableCompression:    true,
		Proxy:                 nil, // never an environment proxy
	}
	return &ForwardAuth{
		s: s,
		client: &http.Client{Transport: tr, Timeout: s.Timeout,
			// A redirect is the service's verdict for the client (a
			// login page), not something to follow.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		breaker: breaker.New(s.Breaker),
	}
}

// Close closes the idle connections to the auth service.
func (f *ForwardAuth) Close() { f.client.CloseIdleConnections() }

// Breaker is the auth service's breaker, for status and metrics.
func (f *ForwardAuth) Breaker() *breaker.Breaker { return f.breaker }

// Request is what the auth service is told about the request it judges.
type Request struct {
	Method, URI, Host, Proto, ClientAddr string
	// Header holds the client's end-to-end headers (Authorization and
	// Cookie above all); the X-Forwarded-* fields are set from the
	// fields above.
	Header http.Header
}

// Verdict is the auth service's answer.
type Verdict struct {
	// Allowed is set for a 2xx answer; Copy then holds the CopyHeaders
	// the answer carried.
	Allowed bool
	Copy    http.Header
	// Status, Header and Body are a refusal (3xx or 4xx) to pass to the
	// client as the service gave it.
	Status int
	Header http.Header
	Body   []byte
}

// Check sends r to the auth service under the configured timeout. An
// error wraps ErrAuthUnavailable; the caller refuses the request.
func (f *ForwardAuth) Check(ctx context.Context, r Request) (Verdict, error) {
	tok, err := f.breaker.Allow()
	if err != nil {
		return Verdict{}, fmt.Errorf("%w: %s: breaker open, retry in %s", ErrAuthUnavailable, f.s.URL, f.breaker.RetryAfter().Round(time.Millisecond))
	}
	start := time.Now()
	v, err := f.ask(ctx, r)
	outcome := breaker.Success
	if err != nil {
		outcome = breaker.Failure
		if ctx.Err() != nil && !errors.Is(err, context.DeadlineExceeded) {
			outcome = breaker.Ignored // the caller gave up, not the service
		}
	}
	f.breaker.Done(tok, outcome, time.Since(start))
	return v, err
}

func (f *ForwardAuth) ask(ctx context.Context, r Request) (Verdict, error) {
	ctx, cancel := context.WithTimeout(ctx, f.s.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.s.URL, nil)
	if err != nil {
		return Verdict{}, fmt.Errorf("%w: %s: %w", ErrAuthUnavailable, f.s.URL, err)
	}
	req.Header = r.Header
	req.Header.Set("X-Forwarded-Method", r.Method)
	req.Header.Set("X-Forwarded-Uri", r.URI)
	req.Header.Set("X-Forwarded-Host", r.Host)
	req.Header.Set("X-Forwarded-Proto", r.Proto)
	req.Header.Set("X-Forwarded-For", r.ClientAddr)
	resp, err := f.client.Do(req)
	if err != nil {
		return Verdict{}, fmt.Errorf("%w: %s: %w", ErrAuthUnavailable, f.s.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAuthBody))
	if err != nil {
		return Verdict{}, fmt.Errorf("%w: %s: reading the answer: %w", ErrAuthUnavailable, f.s.URL, err)
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		v := Verdict{Allowed: true, Copy: http.Header{}}
		for _, h := range f.s.CopyHeaders {
			if vs := resp.Header.Values(h); len(vs) > 0 {
				v.Copy[h] = vs
			}
		}
		return v, nil
	case resp.StatusCode >= 300 && resp.StatusCode < 500:
		return Verdict{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
	}
	return Verdict{}, fmt.Errorf("%w: %s answered %d", ErrAuthUnavailable, f.s.URL, resp.StatusCode)
}
