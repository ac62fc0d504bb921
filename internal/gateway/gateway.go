// Package gateway is Skjold's server: it owns the listeners and client
// connections, reads each request, matches it to a route and hands it to the
// proxy, and swaps config snapshots atomically on reload while keeping every
// upstream's health, breaker and connection state.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skjold-dev/skjold/internal/breaker"
	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/health"
	"github.com/skjold-dev/skjold/internal/proxy"
	"github.com/skjold-dev/skjold/internal/upstream"
)

// Options configure a Gateway.
type Options struct {
	// Logger receives operational messages. Required.
	Logger *slog.Logger
	// AccessLog receives one record per request; nil disables it (the
	// config's access_log section decides whether the CLI passes one).
	AccessLog *slog.Logger
	// Registerer receives the gateway's metrics; nil means a private
	// registry.
	Registerer prometheus.Registerer
	// HealthClient is used for active health checks; nil builds one.
	HealthClient *http.Client
	// WatchAfter is passed to the proxy (see proxy.Proxy.WatchAfter).
	WatchAfter time.Duration
	// StateDir is where target overrides are saved (targets.json) so that
	// they survive a restart; the first Apply restores them. Empty keeps
	// them in memory only (tests, `skjold demo`).
	StateDir string
}

// Gateway is a running gateway. Create it with New, give it a config with
// Apply, and run it with Serve.
type Gateway struct {
	log       *slog.Logger
	accessLog *slog.Logger
	proxy     *proxy.Proxy
	registry  *upstream.Registry
	metrics   *metrics
	healthCli *http.Client
	stateDir  string

	snap atomic.Pointer[snapshot]

	// mu serialises reloads and target switches and guards what follows.
	mu            sync.Mutex
	applyMu       sync.Mutex
	listeners     map[string]*listener // by address
	checkers      map[string]*health.Checker
	routeBreakers map[string]*breaker.Breaker
	overrides     map[string]Override
	// acme holds each TLS listener's running ACME client, by listener name.
	acme map[string]*acmeManager
	// stapleKick wakes the OCSP stapler after a reload brought new
	// certificates.
	stapleKick chan struct{}
	// restored: the first Apply read the saved overrides; savedFound: a
	// saved file existed.
	restored, savedFound bool
	version              int

	conns   connSet
	idle    idleConns
	ctx     context.Context // set by Serve; owns health checkers and janitor
	closing atomic.Bool
	ready   atomic.Bool
}

// New returns a gateway with no config yet.
func New(o Options) *Gateway {
	reg := o.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	p := proxy.New()
	p.WatchAfter = o.WatchAfter
	hc := o.HealthClient
	if hc == nil {
		hc = health.NewClient()
	}
	g := &Gateway{
		log:           o.Logger,
		accessLog:     o.AccessLog,
		proxy:         p,
		registry:      upstream.NewRegistry(),
		healthCli:     hc,
		listeners:     map[string]*listener{},
		checkers:      map[string]*health.Checker{},
		routeBreakers: map[string]*breaker.Breaker{},
		overrides:     map[string]Override{},
		acme:          map[string]*acmeManager{},
		stapleKick:    make(chan struct{}, 1),
		stateDir:      o.StateDir,
	}
	g.metrics = newMetrics(reg, g)
	return g
}

// ErrRejected wraps a config that failed validation on reload; the running
// config keeps serving.
var ErrRejected = errors.New("config rejected; the running config keeps serving")

// ReloadReport says what an applied config did.
type ReloadReport struct {
	// Version is the config version now in force.
	Version string `json:"version"`
	// Warnings are things the operator should know: above all, upstreams
	// whose file targets are not in force because a runtime override is.
	Warnings []string `json:"warnings,omitempty"`
}

// Apply validates nothing (the config package did) and puts cfg in force
// through install: everything is prepared beside the running config, then
// swapped in at once; on error the running gateway is exactly as before.
// Target overrides (see overrides.go) stay on top of the file's targets;
// the first Apply restores the ones saved in the state directory.
func (g *Gateway) Apply(cfg *config.Config) (ReloadReport, error) {
	g.applyMu.Lock()
	defer g.applyMu.Unlock()
	saved, err := g.restoreOverrides()
	if err != nil {
		return ReloadReport{}, fmt.Errorf("%w: %w", ErrRejected, err)
	}
	ov, dropped := overridesFor(cfg, saved)
	first := g.snap.Load() == nil
	if _, err := g.install(change{cfg: cfg, overrides: ov, saveOverrides: dropped}); err != nil {
		return ReloadReport{}, fmt.Errorf("%w: %w", ErrRejected, err)
	}
	rep := ReloadReport{Version: cfg.Version, Warnings: ignoredFileTargets(cfg, ov)}
	for _, w := range rep.Warnings {
		g.log.Warn("runtime target override in force", "detail", w)
	}
	if !first {
		g.log.Info("config reloaded", "version", cfg.Version, "source", cfg.Source,
			"routes", len(cfg.Routes), "upstreams", len(cfg.Upstreams))
	}
	return rep, nil
}

// restoreOverrides returns the overrides in force, reading the saved ones
// on the first call. Callers hold g.applyMu.
func (g *Gateway) restoreOverrides() (map[string]Override, error) {
	if g.restored {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.overrides, nil
	}
	ov, found, err := loadOverrides(g.stateDir)
	if err != nil {
		return nil, err
	}
	g.restored, g.savedFound = true, found
	for name, o := range ov {
		g.log.Info("upstream targets restored from the saved override", "upstream", name,
			"origin", o.Origin, "since", o.Since, "targets", addrList(o.Targets))
	}
	return ov, nil
}

// SavedOverrides reports whether the first Apply found a saved overrides
// file (even an empty one): when it did not, the CLI may restore targets
// from older records (a deploy's state).
func (g *Gateway) SavedOverrides() bool {
	g.applyMu.Lock()
	defer g.applyMu.Unlock()
	return g.savedFound
}

// Reload loads a config from src and applies it, counting the result.
func (g *Gateway) Reload(ctx context.Context, src config.Source) (ReloadReport, error) {
	cfg, err := src.Load(ctx)
	var rep ReloadReport
	if err == nil {
		rep, err = g.Apply(cfg)
	}
	if err != nil {
		g.metrics.reloads.WithLabelValues("rejected").Inc()
		return ReloadReport{}, err
	}
	g.metrics.reloads.WithLabelValues("applied").Inc()
	return rep, nil
}

// syncHealth starts, updates or stops the active health checkers so they
// match cfg, keeping the state of every target that is still probed.
func (g *Gateway) syncHealth(cfg *config.Config, s *snapshot) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for name, uc := range cfg.Upstreams {
		u := s.upstreams[name]
		if uc.HealthCheck == nil {
			if c := g.checkers[name]; c != nil {
				c.Stop()
				delete(g.checkers, name)
				for _, t := range u.Targets() {
					t.ResetActive()
				}
			}
			continue
		}
		spec := healthSpec(uc.HealthCheck)
		c := g.checkers[name]
		if c == nil {
			name := name
			c = health.New(name, spec, g.healthCli, g.log, func(addr string, st health.State) {
				g.onHealth(name, addr, st)
			})
			g.checkers[name] = c
			if g.ctx != nil {
				c.Start(g.ctx)
			}
		} else {
			c.Update(spec)
		}
		addrs := make([]string, 0, len(u.Targets()))
		for _, t := range u.Targets() {
			addrs = append(addrs, t.Addr)
		}
		c.Sync(addrs)
	}
	for name, c := range g.checkers {
		if _, ok := cfg.Upstreams[name]; !ok {
			c.Stop()
			delete(g.checkers, name)
		}
	}
}

func (g *Gateway) onHealth(upstreamName, addr string, st health.State) {
	t := g.registry.Target(upstreamName, addr)
	if t == nil {
		return
	}
	switch st {
	case health.Up:
		t.SetActive(true)
		g.log.Info("target passed its health check", "upstream", upstreamName, "target", addr)
	case health.Down:
		t.SetActive(false)
		g.log.Warn("target failed its health check", "upstream", upstreamName, "target", addr)
	}
}

func healthSpec(h *config.HealthCheck) health.Spec {
	ranges, _ := config.ParseStatusRanges(h.ExpectStatus)
	return health.Spec{
		Path:     h.Path,
		Interval: h.Interval.D(),
		Timeout:  h.Timeout.D(),
		Expect:   ranges,
		Rise:     h.Rise,
		Fall:     h.Fall,
		Host:     h.Host,
	}
}

// Ready reports whether a config is loaded and its listeners are up.
func (g *Gateway) Ready() bool { return g.ready.Load() && !g.closing.Load() }

// Config returns the config in force.
func (g *Gateway) Config() *config.Config {
	if s := g.snap.Load(); s != nil {
		return s.cfg
	}
	return nil
}
