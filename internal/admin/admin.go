// Package admin is Skjold's admin API: status, readiness, hot reload, target
// switches and Prometheus metrics over HTTP on a loopback address or a unix
// socket, plus the client the CLI uses to call it.
package admin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/gateway"
)

// ErrNeedsToken is returned by Start for an address other machines can
// reach when no token is set.
var ErrNeedsToken = errors.New("the admin API can be reached from other machines, so it needs a token")

// Gateway is what the admin API reads and changes; *gateway.Gateway
// satisfies it.
type Gateway interface {
	Status() gateway.Status
	Ready() bool
	SetTargets(ctx context.Context, upstream string, sw gateway.TargetSwitch) (gateway.SwitchResult, error)
	DropTargets(ctx context.Context, upstream string, drain time.Duration) (gateway.SwitchResult, error)
}

var _ Gateway = (*gateway.Gateway)(nil)

// ReloadFunc loads the config again and applies it, returning the version
// now in force and its warnings. On error the running config keeps
// serving.
type ReloadFunc func(ctx context.Context) (gateway.ReloadReport, error)

// Options configure the admin server.
type Options struct {
	// Listen is host:port or unix:/path/to/socket. Default 127.0.0.1:9901.
	// An address other machines can reach is refused unless Token is set.
	Listen string
	// Token, when not empty, must be sent as "Authorization: Bearer
	// <token>" on every call, /healthz and /metrics included. Default none.
	Token string
	// Gateway is the gateway whose state the API shows. Required.
	Gateway Gateway
	// Reload serves POST /reload; nil answers 501.
	Reload ReloadFunc
	// Gatherer serves GET /metrics; nil answers 404.
	Gatherer prometheus.Gatherer
	// Logger receives refused calls, rejected reloads and server errors;
	// nil discards them.
	Logger *slog.Logger
	// CloseTimeout is how long Close lets in-flight calls finish before it
	// cancels them and closes their connections. Default 5s.
	CloseTimeout time.Duration
}

// Server timeouts. A target switch may legitimately run for as long as its
// health and drain timeouts allow; its handler extends its own write
// deadline (see putTargets).
const (
	readHeaderTimeout   = 5 * time.Second
	readTimeout         = 30 * time.Second
	writeTimeout        = 60 * time.Second
	idleTimeout         = 60 * time.Second
	maxHeaderBytes      = 64 << 10
	defaultCloseTimeout = 5 * time.Second
)

// Server is a running admin API. Create it with Start and stop it with
// Close.
type Server struct {
	srv     *http.Server
	ln      net.Listener
	addr    string
	log     *slog.Logger
	grace   time.Duration
	cancel  context.CancelFunc // cancels every call's context
	served  chan struct{}      // closed when Serve returns
	closeMu sync.Once
	err     error
}

// Start listens on o.Listen and serves the admin API until Close. ctx
// bounds only the listen: cancelling it later leaves the API up, so that
// /status and /readyz keep answering while the gateway drains.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Gateway == nil {
		return nil, errors.New("admin: Options.Gateway is required")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	listen := o.Listen
	if listen == "" {
		listen = config.DefaultAdminListen
	}
	ln, addr, err := listenAdmin(ctx, listen, o.Token != "")
	if err != nil {
		return nil, err
	}
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Server{
		ln:     ln,
		addr:   addr,
		log:    log,
		grace:  o.CloseTimeout,
		cancel: cancel,
		served: make(chan struct{}),
	}
	if s.grace <= 0 {
		s.grace = defaultCloseTimeout
	}
	h := &handler{gw: o.Gateway, reload: o.Reload, gatherer: o.Gatherer, log: log}
	var root http.Handler = h.routes()
	if o.Token != "" {
		root = requireToken(o.Token, log, root)
	}
	s.srv = &http.Server{
		Handler:           commonHeaders(root),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin API stopped serving", "address", addr, "error", err)
		}
	}()
	log.Info("admin API listening", "address", addr, "token", o.Token != "")
	return s, nil
}

// Addr is the bound address: host:port (with the real port when Listen
// asked for port 0) or unix:/path.
func (s *Server) Addr() string { return s.addr }

// Close stops accepting calls, lets in-flight ones finish for up to
// CloseTimeout, then cancels the rest and closes their connections. A unix
// socket file is removed. Calling Close again returns the first result.
func (s *Server) Close() error {
	s.closeMu.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.grace)
		defer cancel()
		err := s.srv.Shutdown(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			s.log.Warn("admin calls still running after the close timeout; cancelling them", "timeout", s.grace)
			s.cancel()
			err = s.srv.Close()
		}
		s.cancel()
		<-s.served
		if err != nil {
			s.err = fmt.Errorf("admin API %s: close: %w", s.addr, err)
		}
	})
	return s.err
}

// listenAdmin opens the admin socket. A TCP address other machines can
// reach is refused unless hasToken: the config validator checks this too,
// but the API must not depend on every caller having validated.
func listenAdmin(ctx context.Context, listen string, hasToken bool) (net.Listener, string, error) {
	var lc net.ListenConfig
	if path, ok := strings.CutPrefix(listen, "unix:"); ok {
		if path == "" {
			return nil, "", errors.New("admin listen: unix: needs a socket path, such as unix:/run/skjold/admin.sock")
		}
		if err := removeStaleSocket(ctx, path); err != nil {
			return nil, "", err
		}
		ln, err := lc.Listen(ctx, "unix", path)
		if err != nil {
			return nil, "", fmt.Errorf("admin listen %s: %w", listen, err)
		}
		// The socket exists with the umask's mode until this chmod; put it
		// in a directory only the gateway's user can enter to close that
		// window.
		if err := os.Chmod(path, 0o600); err != nil {
			ln.Close()
			return nil, "", fmt.Errorf("admin listen %s: restricting the socket to its owner: %w", listen, err)
		}
		return ln, "unix:" + path, nil
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, "", fmt.Errorf("admin listen: expected host:port such as 127.0.0.1:9901 or unix:/path, got %q", listen)
	}
	if !hasToken && !isLoopbackHost(host) {
		return nil, "", fmt.Errorf("admin listen %s: %w: set admin.token_file or admin.token_env, or listen on 127.0.0.1 or a unix socket", listen, ErrNeedsToken)
	}
	ln, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		return nil, "", fmt.Errorf("admin listen %s: %w", listen, err)
	}
	return ln, ln.Addr().String(), nil
}

// isLoopbackHost reports whether host can only be reached from this
// machine. Any name but localhost may resolve elsewhere, so it counts as
// reachable.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// removeStaleSocket removes a socket file left by a process that died
// without closing it. A socket someone still answers on, or a path that is
// not a socket, is left alone and reported.
func removeStaleSocket(ctx context.Context, path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("admin listen unix:%s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("admin listen unix:%s: the path exists and is not a socket; refusing to replace it", path)
	}
	d := net.Dialer{Timeout: time.Second}
	if c, err := d.DialContext(ctx, "unix", path); err == nil {
		c.Close()
		return fmt.Errorf("admin listen unix:%s: another process is serving on this socket (is skjold already running?)", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("admin listen unix:%s: removing the stale socket: %w", path, err)
	}
	return nil
}
