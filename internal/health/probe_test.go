package health

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/tcptest"
	"go.uber.org/goleak"
)

// These tests probe real loopback servers: one for each way a target can
// answer, or fail to.

// silentListener accepts connections and never answers.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// hangUpListener accepts connections and closes them at once.
func hangUpListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }
}

func TestProbeOutcomes(t *testing.T) {
	const timeout = 200 * time.Millisecond
	tests := []struct {
		name       string
		addr       func(t *testing.T) string
		expect     []StatusRange
		wantOK     bool
		wantStatus int
		wantErr    string
	}{
		{name: "200 passes", addr: func(t *testing.T) string { return serve(t, status(200)) },
			wantOK: true, wantStatus: 200},
		{name: "503 fails", addr: func(t *testing.T) string { return serve(t, status(503)) },
			wantStatus: 503, wantErr: "status 503"},
		{name: "404 fails", addr: func(t *testing.T) string { return serve(t, status(404)) },
			wantStatus: 404, wantErr: "status 404"},
		{name: "redirect is judged, not followed", addr: func(t *testing.T) string {
			return serve(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/health" {
					t.Errorf("redirect followed to %s", r.URL.Path)
					w.WriteHeader(500)
					return
				}
				http.Redirect(w, r, "/elsewhere", http.StatusFound)
			})
		}, wantOK: true, wantStatus: 302},
		{name: "status outside Expect fails", addr: func(t *testing.T) string { return serve(t, status(204)) },
			expect: []StatusRange{{Lo: 200, Hi: 200}}, wantStatus: 204, wantErr: "status 204"},
		{name: "status inside Expect passes", addr: func(t *testing.T) string { return serve(t, status(503)) },
			expect: []StatusRange{{Lo: 200, Hi: 200}, {Lo: 500, Hi: 503}}, wantOK: true, wantStatus: 503},
		{name: "large body passes without being read to the end", addr: func(t *testing.T) string {
			return serve(t, func(w http.ResponseWriter, r *http.Request) {
				chunk := make([]byte, 32<<10)
				for range 1 << 10 { // 32 MiB, far beyond what a probe reads
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			})
		}, wantOK: true, wantStatus: 200},
		{name: "listener that never answers times out", addr: silentListener,
			wantErr: "timeout after 200ms"},
		{name: "closed port is refused", addr: func(t *testing.T) string { return tcptest.ClosedAddr(t) },
			wantErr: "connect: connection refused"},
		{name: "connection closed without a response", addr: hangUpListener,
			wantErr: "connection closed before a complete response"},
		{name: "body that stalls times out", addr: func(t *testing.T) string {
			return serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte("partial"))
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			})
		}, wantStatus: 200, wantErr: "reading body: timeout after 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := tt.addr(t)
			c := New("api", Spec{}, nil, nil, nil)
			spec := Spec{Timeout: timeout, Expect: tt.expect}.withDefaults()
			start := time.Now()
			res := c.httpProbe(t.Context(), addr, spec)
			if took := time.Since(start); took > 5*timeout {
				t.Errorf("probe took %v with a %v timeout", took, timeout)
			}
			if res.ok != tt.wantOK || res.status != tt.wantStatus || res.err != tt.wantErr {
				t.Errorf("probe = {ok:%v status:%d err:%q}, want {ok:%v status:%d err:%q}",
					res.ok, res.status, res.err, tt.wantOK, tt.wantStatus, tt.wantErr)
			}
		})
	}
}

func TestProbeSendsPathHostAndUserAgent(t *testing.T) {
	type seen struct{ uri, host, ua string }
	got := make(chan seen, 2)
	addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.RequestURI, r.Host, r.UserAgent()}
	})
	c := New("api", Spec{}, nil, nil, nil)

	if res := c.httpProbe(t.Context(), addr, Spec{}.withDefaults()); !res.ok {
		t.Fatalf("probe failed: %s", res.err)
	}
	if s := <-got; s != (seen{"/health", addr, "skjold-health/1"}) {
		t.Errorf("default spec sent %+v, want /health, Host %s, skjold-health/1", s, addr)
	}

	spec := Spec{Path: "/ready?deep=1", Host: "api.internal"}.withDefaults()
	if res := c.httpProbe(t.Context(), addr, spec); !res.ok {
		t.Fatalf("probe failed: %s", res.err)
	}
	if s := <-got; s.uri != "/ready?deep=1" || s.host != "api.internal" {
		t.Errorf("spec with path and host sent %+v", s)
	}
}

func TestProbeUsesTheGivenClientAndLeavesItUnchanged(t *testing.T) {
	addr := serve(t, status(200))
	var dials atomic.Int32
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, a)
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	c := New("api", Spec{}, client, nil, nil)
	if res := c.httpProbe(t.Context(), addr, Spec{}.withDefaults()); !res.ok {
		t.Fatalf("probe failed: %s", res.err)
	}
	if dials.Load() != 1 {
		t.Errorf("given client dialled %d times, want 1", dials.Load())
	}
	if client.CheckRedirect != nil {
		t.Error("New changed the caller's client")
	}
}

func TestDefaultClientIgnoresProxyAndDoesNotKeepConnections(t *testing.T) {
	c := New("api", Spec{}, nil, nil, nil)
	if c.client == http.DefaultClient {
		t.Fatal("checker uses http.DefaultClient")
	}
	tr, ok := c.client.Transport.(*http.Transport)
	if !ok || tr == http.DefaultTransport {
		t.Fatalf("checker's transport is %T %p, want a *http.Transport of its own", c.client.Transport, c.client.Transport)
	}
	if tr.Proxy != nil {
		t.Error("default transport takes a proxy (from the environment)")
	}
	if !tr.DisableKeepAlives {
		t.Error("default transport keeps connections alive")
	}
}

func TestDescribeErrCallerClientTimeout(t *testing.T) {
	addr := silentListener(t)
	c := New("api", Spec{}, &http.Client{Timeout: 50 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}, nil, nil)
	res := c.httpProbe(t.Context(), addr, Spec{Timeout: time.Minute}.withDefaults())
	if res.ok || !strings.HasPrefix(res.err, "timeout: ") || !strings.Contains(res.err, "Client.Timeout") {
		t.Errorf("probe through a client with its own timeout = %+v, want a timeout naming the client's", res)
	}
}

// TestCheckerAgainstRealServers runs the whole checker, goroutines and
// all, against real targets, and checks that Stop leaves nothing behind.
func TestCheckerAgainstRealServers(t *testing.T) {
	healthy := serve(t, status(200))
	refused := tcptest.ClosedAddr(t)
	var flaky atomic.Bool
	flapping := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if flaky.Load() {
			w.WriteHeader(503)
		}
		io.WriteString(w, "ok")
	})
	before := goleak.IgnoreCurrent()

	changes := make(chan string, 16)
	c := New("api", Spec{Interval: 20 * time.Millisecond, Timeout: time.Second, Rise: 2, Fall: 2}, nil, nil,
		func(addr string, s State) { changes <- addr + " " + s.String() })
	c.Start(t.Context())
	c.Sync([]string{healthy, refused, flapping})

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := c.WaitHealthy(ctx, []string{healthy, flapping}); err != nil {
		t.Fatalf("WaitHealthy on healthy targets: %v", err)
	}

	short, cancelShort := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancelShort()
	err := c.WaitHealthy(short, []string{healthy, refused})
	if !errors.Is(err, ErrNotHealthy) || !strings.Contains(err.Error(), refused+" down, last probe: connect: connection refused") {
		t.Errorf("WaitHealthy with a refused target: %v", err)
	}

	flaky.Store(true)
	for want := flapping + " down"; ; {
		select {
		case got := <-changes:
			if got == want {
				goto stopped
			}
		case <-ctx.Done():
			t.Fatalf("target answering 503 never went down; status %+v", c.Status())
		}
	}
stopped:
	c.Stop()
	goleak.VerifyNone(t, before)
}

// The one probe client: a redirect comes back as the response, and every
// probe opens a new connection.
func TestNewClientNeitherFollowsRedirectsNorReusesConnections(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := NewClient()
	for range 3 {
		resp, err := c.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("status %d, want the 302 itself", resp.StatusCode)
		}
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("3 probes opened %d connections, want 3", n)
	}
}
