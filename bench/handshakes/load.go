package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// DefaultTimeout bounds one connection from dial to the end of its answer
// unless Config.Timeout says otherwise.
const DefaultTimeout = 5 * time.Second

// KeyType is the key of the certificate a server must present.
type KeyType int

// Key types; AnyKey accepts whatever the server presents.
const (
	AnyKey KeyType = iota
	ECDSA
	RSA
)

// ParseKeyType reads "ecdsa", "rsa" or "" (any).
func ParseKeyType(s string) (KeyType, error) {
	switch s {
	case "":
		return AnyKey, nil
	case "ecdsa":
		return ECDSA, nil
	case "rsa":
		return RSA, nil
	}
	return AnyKey, fmt.Errorf("unknown key type %q: want ecdsa or rsa", s)
}

func (k KeyType) String() string {
	switch k {
	case ECDSA:
		return "ECDSA"
	case RSA:
		return "RSA"
	}
	return "any"
}

// Config says what to measure.
type Config struct {
	Addr       string        // server host:port
	ServerName string        // SNI name
	Path       string        // path requested; "/" when empty
	Conns      int           // workers, each with one connection at a time; at least 1
	Duration   time.Duration // how long new connections are started
	Resume     bool          // resume each worker's previous session
	Key        KeyType       // the key the server's certificate must have
	// Timeout bounds each connection from dial to the end of its answer,
	// so a server that stops answering ends the run at most this long
	// after Duration. Zero means DefaultTimeout.
	Timeout time.Duration
}

// Result is what a run measured.
type Result struct {
	Requests int           // connections that completed a handshake and an answer
	Resumed  int           // of those, the handshakes that resumed a session
	Errors   int           // connections that failed: dial, handshake, wrong key, no answer
	Non2xx   int           // of Requests, answers with a status of 400 or more (as wrk counts them)
	Elapsed  time.Duration // from the first dial to the end of the last connection
	P50, P99 time.Duration // time from dial to the answer's end
	FirstErr error         // why the first failed connection failed
}

// BenchLine is the result in the format of bench/wrk-report.lua, with
// resumed= added.
func (r Result) BenchLine() string {
	rps := 0.0
	if r.Elapsed > 0 {
		rps = float64(r.Requests) / r.Elapsed.Seconds()
	}
	return fmt.Sprintf("BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d non2xx=%d rps=%.0f resumed=%d",
		r.Requests, r.Elapsed.Microseconds(), r.P50.Microseconds(), r.P99.Microseconds(), r.Errors, r.Non2xx, rps, r.Resumed)
}

// worker is one worker's tally, merged when the run ends.
type worker struct {
	lat      []time.Duration
	resumed  int
	errors   int
	non2xx   int
	firstErr error
}

// Run starts connections from cfg.Conns workers until cfg.Duration has
// passed or ctx ends, and waits for those in flight.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Conns < 1 || cfg.Duration <= 0 {
		return Result{}, fmt.Errorf("want at least 1 worker and a positive duration, got %d and %v", cfg.Conns, cfg.Duration)
	}
	path := cfg.Path
	if path == "" {
		path = "/"
	}
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: " + cfg.ServerName + "\r\nUser-Agent: handshakes\r\nConnection: close\r\n\r\n")
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()

	workers := make([]worker, cfg.Conns)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range workers {
		tc := clientConfig(cfg)
		w := &workers[i]
		wg.Go(func() {
			for ctx.Err() == nil {
				w.record(connect(ctx, cfg.Addr, tc, req, timeout))
			}
		})
	}
	wg.Wait()
	return merge(workers, time.Since(start)), nil
}

// clientConfig is one worker's TLS config: TLS 1.3 and X25519 only, so
// every server does the same key exchange (Go would offer the larger
// X25519MLKEM768 first, which the OpenSSL 3.0 servers do not know), and a
// session cache of its own when resuming. The chain is not verified: the
// client's CPU is shared with the server, and verification would only slow
// every server alike; the key type is checked, which is cheap.
func clientConfig(cfg Config) *tls.Config {
	tc := &tls.Config{
		ServerName:         cfg.ServerName,
		MinVersion:         tls.VersionTLS13,
		MaxVersion:         tls.VersionTLS13,
		CurvePreferences:   []tls.CurveID{tls.X25519},
		NextProtos:         []string{"http/1.1"},
		InsecureSkipVerify: true,
		VerifyConnection:   checkKey(cfg.Key),
	}
	if cfg.Resume {
		tc.ClientSessionCache = tls.NewLRUClientSessionCache(1)
	}
	return tc
}

func checkKey(want KeyType) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if want == AnyKey || cs.DidResume {
			return nil
		}
		if len(cs.PeerCertificates) == 0 {
			return errors.New("server presented no certificate")
		}
		var got KeyType
		switch cs.PeerCertificates[0].PublicKey.(type) {
		case *ecdsa.PublicKey:
			got = ECDSA
		case *rsa.PublicKey:
			got = RSA
		}
		if got != want {
			return fmt.Errorf("server presented a %s certificate (%s), want %s", got, cs.PeerCertificates[0].Subject, want)
		}
		return nil
	}
}

// outcome is one connection's.
type outcome struct {
	took    time.Duration
	resumed bool
	status  int
	err     error
}

func (w *worker) record(o outcome) {
	switch {
	case o.err != nil:
		w.errors++
		if w.firstErr == nil {
			w.firstErr = o.err
		}
	default:
		w.lat = append(w.lat, o.took)
		if o.status >= 400 {
			w.non2xx++
		}
		if o.resumed {
			w.resumed++
		}
	}
}

// connect makes one connection: dial, handshake, one request, its answer
// read to the end, close.
func connect(ctx context.Context, addr string, tc *tls.Config, req []byte, timeout time.Duration) outcome {
	start := time.Now()
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(context.WithoutCancel(ctx), "tcp", addr)
	if err != nil {
		return outcome{err: fmt.Errorf("dial %s: %w", addr, err)}
	}
	defer nc.Close()
	nc.SetDeadline(start.Add(timeout))
	c := tls.Client(nc, tc)
	if err := c.Handshake(); err != nil {
		return outcome{err: fmt.Errorf("TLS handshake with %s: %w", addr, err)}
	}
	if _, err := c.Write(req); err != nil {
		return outcome{err: fmt.Errorf("send request to %s: %w", addr, err)}
	}
	// Reading the answer also reads the session tickets a TLS 1.3 server
	// sends after the handshake, which the next connection resumes.
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return outcome{err: fmt.Errorf("read answer from %s: %w", addr, err)}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return outcome{err: fmt.Errorf("read answer body from %s: %w", addr, err)}
	}
	return outcome{took: time.Since(start), resumed: c.ConnectionState().DidResume, status: resp.StatusCode}
}

func merge(workers []worker, elapsed time.Duration) Result {
	r := Result{Elapsed: elapsed}
	var lat []time.Duration
	for _, w := range workers {
		lat = append(lat, w.lat...)
		r.Resumed += w.resumed
		r.Errors += w.errors
		r.Non2xx += w.non2xx
		if r.FirstErr == nil {
			r.FirstErr = w.firstErr
		}
	}
	r.Requests = len(lat)
	slices.Sort(lat)
	r.P50, r.P99 = percentile(lat, 50), percentile(lat, 99)
	return r
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100 // ceil(n·p/100), 1-based
	return sorted[max(i, 1)-1]
}
