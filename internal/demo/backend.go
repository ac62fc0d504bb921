package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Mode is how a Backend answers.
type Mode string

// A Backend's modes, switched with POST /_demo/<mode>.
const (
	// Healthy answers every request at once.
	Healthy Mode = "heal"
	// Stalled holds every request, /health included, until the backend is
	// healed, the client leaves or the backend is closed.
	Stalled Mode = "stall"
	// Failing answers every request, /health included, with 500.
	Failing Mode = "fail"
)

// ControlPrefix is the path prefix of a controllable Backend's control
// endpoints: POST /_demo/stall, /_demo/fail and /_demo/heal.
const ControlPrefix = "/_demo/"

// Server timeouts. There is no WriteTimeout: a stalled request is meant to
// hang for as long as the client waits; it ends when the client leaves or
// the backend closes.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 64 << 10
	closeTimeout      = 5 * time.Second
)

// BackendOptions configure a demo backend.
type BackendOptions struct {
	// Name is the service name the backend reports, such as "payments".
	// Required.
	Name string
	// Addr is the host:port to listen on; port 0 picks a free port.
	// Required.
	Addr string
	// Controls enables the /_demo/ control endpoints. Default false: every
	// path, /_demo/ ones included, is an ordinary request.
	Controls bool
	// Logger receives mode changes; nil discards them.
	Logger *slog.Logger

	// onHold, if set, is called with +1 when a request starts being held
	// and -1 when it stops, so tests can tell without polling.
	onHold func(delta int)
}

// Backend is a small HTTP service the demo puts behind the gateway: GET
// /health answers 200, every other path answers JSON naming the service,
// the instance (its port) and the path. Start it with StartBackend and stop
// it with Close.
type Backend struct {
	name     string
	instance string
	addr     string
	log      *slog.Logger

	mu     sync.Mutex
	mode   Mode
	healed chan struct{} // closed when a stall ends; nil unless stalled

	onHold func(delta int)

	srv    *http.Server
	cancel context.CancelFunc // ends every request's context
	served chan struct{}      // closed when Serve returns
	close  sync.Once
	err    error
}

// StartBackend listens on o.Addr and serves until Close. An address another
// process holds yields an error wrapping *InUseError.
func StartBackend(o BackendOptions) (*Backend, error) {
	if o.Name == "" || o.Addr == "" {
		return nil, errors.New("demo: BackendOptions.Name and Addr are required")
	}
	ln, err := listen(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("demo service %s: %w", o.Name, err)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	base, cancel := context.WithCancel(context.Background())
	b := &Backend{
		name:     o.Name,
		instance: port,
		addr:     addr,
		log:      log.With("service", o.Name, "address", addr),
		mode:     Healthy,
		onHold:   o.onHold,
		cancel:   cancel,
		served:   make(chan struct{}),
	}
	mux := http.NewServeMux()
	if o.Controls {
		for _, m := range []Mode{Healthy, Stalled, Failing} {
			mux.HandleFunc("POST "+ControlPrefix+string(m), func(w http.ResponseWriter, _ *http.Request) {
				b.SetMode(m)
				b.writeJSON(w, http.StatusOK, map[string]string{"mode": string(m)})
			})
		}
		mux.HandleFunc(ControlPrefix, func(w http.ResponseWriter, r *http.Request) {
			b.writeJSON(w, http.StatusNotFound, map[string]string{
				"error": r.Method + " " + r.URL.Path + " is not a control; use POST " +
					ControlPrefix + "stall, " + ControlPrefix + "fail or " + ControlPrefix + "heal",
			})
		})
	}
	mux.HandleFunc("/", b.serve)
	b.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(b.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	go func() {
		defer close(b.served)
		if err := b.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.log.Error("demo service stopped serving", "error", err)
		}
	}()
	return b, nil
}

// Addr is the address the backend listens on, with the real port.
func (b *Backend) Addr() string { return b.addr }

// Name is the service name the backend reports.
func (b *Backend) Name() string { return b.name }

// Mode returns how the backend answers now.
func (b *Backend) Mode() Mode {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mode
}

// SetMode switches how the backend answers. Leaving Stalled releases every
// held request, which then answers as the new mode says.
func (b *Backend) SetMode(m Mode) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if m == b.mode {
		return
	}
	if b.healed != nil {
		close(b.healed)
		b.healed = nil
	}
	if m == Stalled {
		b.healed = make(chan struct{})
	}
	b.log.Info("demo service mode changed", "from", string(b.mode), "to", string(m))
	b.mode = m
}

// Close stops accepting, ends stalled requests, and waits for in-flight
// ones for up to 5s before closing their connections. Calling it again
// returns the first result.
func (b *Backend) Close() error {
	b.close.Do(func() {
		// Cancel first: stalled handlers wait on their request context, and
		// Shutdown waits for every handler to return.
		b.cancel()
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		if err := b.srv.Shutdown(ctx); err != nil {
			b.err = fmt.Errorf("demo service %s: %w", b.name, err)
			b.srv.Close()
		}
		<-b.served
	})
	return b.err
}

// serve answers an ordinary request according to the mode.
func (b *Backend) serve(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	mode, healed := b.mode, b.healed
	b.mu.Unlock()
	if mode == Stalled {
		if !b.hold(r.Context(), healed) {
			return // the client left, or the backend is closing
		}
		mode = b.Mode()
	}
	ans := Answer{Service: b.name, Instance: b.instance, Path: r.URL.Path}
	switch {
	case mode == Failing:
		ans.Error = "failing on purpose; POST " + ControlPrefix + "heal to recover"
		b.writeJSON(w, http.StatusInternalServerError, ans)
	case r.URL.Path == "/health":
		ans.Status = "ok"
		b.writeJSON(w, http.StatusOK, ans)
	default:
		b.writeJSON(w, http.StatusOK, ans)
	}
}

// hold waits until healed is closed (true) or ctx ends (false).
func (b *Backend) hold(ctx context.Context, healed <-chan struct{}) bool {
	if b.onHold != nil {
		b.onHold(1)
		defer b.onHold(-1)
	}
	select {
	case <-healed:
		return true
	case <-ctx.Done():
		return false
	}
}

// Answer is the JSON body of a Backend's answers to ordinary requests.
type Answer struct {
	// Service is the service name, such as "payments".
	Service string `json:"service"`
	// Instance is the port the answering instance listens on.
	Instance string `json:"instance"`
	// Path is the request's path, as the backend received it.
	Path string `json:"path"`
	// Status is "ok" on GET /health.
	Status string `json:"status,omitempty"`
	// Error says why a failing backend answered 500.
	Error string `json:"error,omitempty"`
}

func (b *Backend) writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// InUseError reports an address another process already listens on.
type InUseError struct {
	// Addr is the address as asked for.
	Addr string
	// Err is the error from listening.
	Err error
}

func (e *InUseError) Error() string { return e.Addr + " is in use" }

func (e *InUseError) Unwrap() error { return e.Err }

// listen listens on addr, reporting an address in use as *InUseError.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, &InUseError{Addr: addr, Err: err}
	}
	return ln, err
}

// CheckFree reports whether addr can be listened on now, as nil or an
// error wrapping *InUseError. Another process may take it a moment later;
// the caller still handles failure when it really listens.
func CheckFree(addr string) error {
	ln, err := listen(addr)
	if err != nil {
		return err
	}
	return ln.Close()
}

// NextFree returns the first address after addr's port, on addr's host,
// whose port and the n-1 ports after it are all free, searching up to 100
// ports on. It returns "" when it finds none.
func NextFree(addr string, n int) string {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 {
		return ""
	}
search:
	for start := port + 1; start <= port+100 && start+n-1 <= 65535; start++ {
		for i := range n {
			if CheckFree(net.JoinHostPort(host, strconv.Itoa(start+i))) != nil {
				continue search
			}
		}
		return net.JoinHostPort(host, strconv.Itoa(start))
	}
	return ""
}
