package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/certs/certstest"
)

// tlsServer is an HTTPS server on loopback serving one certificate and
// counting the connections it accepted.
func tlsServer(t *testing.T, key certstest.KeyType, status int) (addr string, conns *atomic.Int64) {
	t.Helper()
	ca := certstest.NewCA(t, "bench CA")
	cert := ca.Issue(certstest.Options{Key: key}, "bench.test")
	conns = new(atomic.Int64)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		io.WriteString(w, "hello")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), conns
}

func TestRunMakesOneFullHandshakePerRequestWithTheRequestedKey(t *testing.T) {
	for _, tc := range []struct {
		name   string
		server certstest.KeyType
		want   KeyType
	}{
		{"ecdsa", certstest.ECDSA, ECDSA},
		{"rsa", certstest.RSA, RSA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, conns := tlsServer(t, tc.server, http.StatusOK)
			res, err := Run(context.Background(), Config{Addr: addr, ServerName: "bench.test", Conns: 4, Duration: 300 * time.Millisecond, Key: tc.want})
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests == 0 || res.Errors != 0 || res.Non2xx != 0 {
				t.Fatalf("got %+v, want requests and no errors", res)
			}
			if res.Resumed != 0 {
				t.Errorf("%d of %d handshakes resumed without -resume", res.Resumed, res.Requests)
			}
			// Every request came on a connection of its own.
			if got := conns.Load(); got != int64(res.Requests) {
				t.Errorf("server accepted %d connections for %d requests", got, res.Requests)
			}
			if res.P50 <= 0 || res.P99 < res.P50 {
				t.Errorf("latencies p50 %v, p99 %v", res.P50, res.P99)
			}
		})
	}
}

func TestRunResumesEachWorkersSessionWithTickets(t *testing.T) {
	addr, _ := tlsServer(t, certstest.ECDSA, http.StatusOK)
	const workers = 4
	res, err := Run(context.Background(), Config{Addr: addr, ServerName: "bench.test", Conns: workers, Duration: 300 * time.Millisecond, Key: ECDSA, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Requests <= workers {
		t.Fatalf("got %+v, want more requests than workers and no errors", res)
	}
	// Only each worker's first handshake is a full one.
	if want := res.Requests - workers; res.Resumed < want {
		t.Errorf("%d of %d handshakes resumed, want at least %d", res.Resumed, res.Requests, want)
	}
}

func TestRunCountsACertificateOfTheWrongKeyAsAnError(t *testing.T) {
	addr, _ := tlsServer(t, certstest.RSA, http.StatusOK)
	res, err := Run(context.Background(), Config{Addr: addr, ServerName: "bench.test", Conns: 2, Duration: 100 * time.Millisecond, Key: ECDSA})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 0 || res.Errors == 0 {
		t.Fatalf("got %+v, want every connection to fail", res)
	}
	if res.FirstErr == nil || !strings.Contains(res.FirstErr.Error(), "RSA certificate") {
		t.Errorf("first error %v, want it to name the RSA certificate", res.FirstErr)
	}
}

func TestRunCountsErrorStatusesAsNon2xx(t *testing.T) {
	addr, _ := tlsServer(t, certstest.ECDSA, http.StatusServiceUnavailable)
	res, err := Run(context.Background(), Config{Addr: addr, ServerName: "bench.test", Conns: 2, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Non2xx != res.Requests || res.Errors != 0 {
		t.Errorf("got %+v, want every answer counted as non2xx", res)
	}
}

// A server that closes every connection at once and one that accepts and
// never answers: both are errors, and the run still ends on time.
func TestRunEndsOnTimeWhenTheServerMisbehaves(t *testing.T) {
	for _, tc := range []struct {
		name  string
		serve func(net.Conn)
	}{
		{"closes at once", func(c net.Conn) { c.Close() }},
		{"never answers", func(c net.Conn) { io.Copy(io.Discard, c); c.Close() }},
		{"speaks plain HTTP", func(c net.Conn) {
			fmt.Fprint(c, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
			c.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go tc.serve(c)
				}
			}()
			start := time.Now()
			res, err := Run(context.Background(), Config{Addr: ln.Addr().String(), Conns: 2, Duration: 100 * time.Millisecond, Timeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("run took %v, want about its duration plus one connection timeout", took)
			}
			if res.Requests != 0 || res.Errors == 0 || res.FirstErr == nil {
				t.Errorf("got %+v, want only errors", res)
			}
		})
	}
}

func TestRunRefusesNoWorkersOrNoDuration(t *testing.T) {
	for _, cfg := range []Config{{Addr: "127.0.0.1:1", Conns: 0, Duration: time.Second}, {Addr: "127.0.0.1:1", Conns: 1}} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("Run(%+v) returned no error", cfg)
		}
	}
}

func TestPercentileIsTheNearestRank(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		out := make([]time.Duration, len(n))
		for i, x := range n {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		sorted []time.Duration
		p      int
		want   time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{ms(hundred...), 50, 50 * time.Millisecond},
		{ms(hundred...), 99, 99 * time.Millisecond},
	} {
		if got := percentile(tc.sorted, tc.p); got != tc.want {
			t.Errorf("percentile(%d values, %d) = %v, want %v", len(tc.sorted), tc.p, got, tc.want)
		}
	}
}

func TestBenchLineHasWrkReportsFields(t *testing.T) {
	r := Result{Requests: 2000, Resumed: 1990, Errors: 1, Non2xx: 3, Elapsed: 2 * time.Second, P50: 1500 * time.Microsecond, P99: 4 * time.Millisecond}
	want := "BENCH requests=2000 duration_us=2000000 p50_us=1500 p99_us=4000 errors=1 non2xx=3 rps=1000 resumed=1990"
	if got := r.BenchLine(); got != want {
		t.Errorf("BenchLine() = %q, want %q", got, want)
	}
}

func TestParseKeyTypeRefusesUnknownKeys(t *testing.T) {
	if _, err := ParseKeyType("dsa"); err == nil {
		t.Error("ParseKeyType(dsa) returned no error")
	}
	for s, want := range map[string]KeyType{"": AnyKey, "ecdsa": ECDSA, "rsa": RSA} {
		if got, err := ParseKeyType(s); err != nil || got != want {
			t.Errorf("ParseKeyType(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
}
