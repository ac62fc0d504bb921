package gateway

import (
	"fmt"
	"strings"
	"time"

	"github.com/skjold-dev/skjold/internal/breaker"
	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/proxy"
	"github.com/skjold-dev/skjold/internal/route"
	"github.com/skjold-dev/skjold/internal/upstream"
)

// snapshot is one immutable, fully built config: what every request reads
// through one atomic load. A reload builds a new one beside the old; requests
// already running finish on the one they started with.
type snapshot struct {
	cfg       *config.Config
	loaded    time.Time
	routes    []*routeState
	upstreams map[string]*upstream.Upstream
	// origins says where each upstream's targets come from: the file, or a
	// runtime override (see overrides.go).
	origins map[string]TargetsOrigin
	// listeners maps each bound socket to its name, limits and routing
	// table in this config; anyView serves connections of a listener that
	// a reload has removed. A rename is part of the snapshot, so it takes
	// effect with everything else or not at all.
	listeners map[*listener]*listenerView
	anyView   *listenerView
	// routeBreakers become the gateway's once this snapshot is installed.
	routeBreakers map[string]*breaker.Breaker
}

// listenerView is a listener as one config sees it.
type listenerView struct {
	name     string
	settings listenerSettings
	table    *route.Table[*routeState]
	// tls is the listener's certificates and handshake settings; nil for
	// plain HTTP.
	tls *listenerTLS
	// redirect is set on a TLS listener's redirect_http_from socket,
	// which routes nothing and answers every request itself.
	redirect *redirectView
	// client says how the listener finds the client behind a connection.
	client clientPolicy
}

// routeState is a route with its metric handles.
type routeState struct {
	proxy.Route
	metrics *routeMetrics
	// limit is the route's rate limit; nil when it has none.
	limit *rateLimit
	// access is the route's access rules and auth; nil when it has none.
	access *routeAccess
	// direct is the route's own answer (respond, redirect); nil when it
	// forwards.
	direct *directAnswer
	// maint is the route's maintenance switch (every route has one);
	// maintBody its body_file, nil for the JSON answer.
	maint     *maintenanceSwitch
	maintBody []byte
}

// breakerUpdate is a route breaker's new settings, applied only when the
// snapshot that carries them is installed.
type breakerUpdate struct {
	b *breaker.Breaker
	s breaker.Settings
}

// build turns a validated config into a snapshot for the listeners in
// names, reusing the registry's targets, pools, breakers and budgets. It
// changes nothing that runs: what a reused breaker or bulkhead must change
// is staged, applied by commit. overrides replace the targets of the
// upstreams they name.
func (g *Gateway) build(cfg *config.Config, names map[*listener]string, overrides map[string]Override) (*snapshot, []breakerUpdate, error) {
	s := &snapshot{
		cfg:       cfg,
		loaded:    time.Now(),
		upstreams: map[string]*upstream.Upstream{},
		origins:   map[string]TargetsOrigin{},
		listeners: map[*listener]*listenerView{},
	}
	for name, uc := range cfg.Upstreams {
		targets, origin := fileTargets(uc), TargetsOrigin{Origin: OriginFile}
		if o, ok := overrides[name]; ok {
			targets, origin = o.Targets, TargetsOrigin{Origin: o.Origin, Since: o.Since}
		}
		s.upstreams[name] = g.registry.Build(name, upstreamSettings(uc), targets)
		s.origins[name] = origin
	}
	updates, err := g.buildRoutes(cfg, s)
	if err != nil {
		return nil, nil, err
	}
	for l, name := range names {
		t, err := route.New(routeEntries(cfg, s, name))
		if err != nil {
			return nil, nil, err
		}
		v := &listenerView{name: name, settings: settingsFor(cfg, name), table: t, redirect: newRedirectView(name, names),
			client: clientPolicyFor(cfg.Listeners[name])}
		if v.redirect != nil {
			// A redirect socket has the limits and the client policy of its
			// TLS listener.
			tlsName := strings.TrimSuffix(name, redirectSuffix)
			v.settings = settingsFor(cfg, tlsName)
			v.client = clientPolicyFor(cfg.Listeners[tlsName])
		}
		if lc := cfg.Listeners[name]; lc != nil && lc.TLS != nil {
			// Every certificate is read again: a reload picks up renewed
			// files, and one that no longer loads rejects the reload.
			if v.tls, err = g.newListenerTLS(name, lc, s.loaded); err != nil {
				return nil, nil, fmt.Errorf("listener %s: %w", name, err)
			}
		}
		s.listeners[l] = v
	}
	t, err := route.New(routeEntries(cfg, s, ""))
	if err != nil {
		return nil, nil, err
	}
	s.anyView = &listenerView{settings: settingsFor(cfg, ""), table: t}
	return s, updates, nil
}

// buildRoutes fills s.routes and s.routeBreakers. Route breakers live as
// long as the route's name does; a kept one's new settings are returned,
// to be applied when s is installed.
func (g *Gateway) buildRoutes(cfg *config.Config, s *snapshot) ([]breakerUpdate, error) {
	g.mu.Lock()
	running := g.routeBreakers
	g.mu.Unlock()
	var updates []breakerUpdate
	s.routeBreakers = map[string]*breaker.Breaker{}
	inForce := g.snap.Load() // installs are serialised: this is the latest
	for _, rc := range cfg.Routes {
		u := s.upstreams[rc.Upstream]
		if u == nil && rc.Respond == nil && rc.Redirect == nil {
			return nil, fmt.Errorf("route %s: unknown upstream %q", rc.Name, rc.Upstream)
		}
		rs := &routeState{Route: routeSettings(rc, u)}
		if err := buildPolicy(rs, rc, inForce); err != nil {
			return nil, fmt.Errorf("route %s: %w", rc.Name, err)
		}
		if rc.Breaker != nil && !rc.Breaker.Disabled {
			set := breakerSettings(rc.Breaker)
			b := running[rc.Name]
			if b == nil {
				b = breaker.New(set)
			} else {
				updates = append(updates, breakerUpdate{b, set})
			}
			s.routeBreakers[rc.Name] = b
			rs.Breaker = b
		}
		rs.metrics = g.metrics.forRoute(rc.Name, rc.Upstream)
		rs.limit = keptRateLimit(rc, inForce)
		s.routes = append(s.routes, rs)
	}
	return updates, nil
}

// buildPolicy gives rs its access rules, direct answer and maintenance
// switch, reading their files again.
func buildPolicy(rs *routeState, rc *config.Route, running *snapshot) (err error) {
	if rs.access, err = buildAccess(rc, running); err != nil {
		return err
	}
	if rs.direct, err = buildDirect(rc); err != nil {
		return err
	}
	rs.maint = keptMaintenance(rc, running)
	rs.maintBody, err = maintenanceBody(rc)
	return err
}

// routeEntries lists the routes a listener serves: those bound to it and
// those bound to none. The empty name stands for a listener a reload
// removed, which serves only the routes bound to none.
func routeEntries(cfg *config.Config, s *snapshot, listener string) []route.Entry[*routeState] {
	var es []route.Entry[*routeState]
	for i, rc := range cfg.Routes {
		if len(rc.Listeners) > 0 && (listener == "" || !contains(rc.Listeners, listener)) {
			continue
		}
		es = append(es, route.Entry[*routeState]{
			Hosts:   rc.Match.Hosts,
			Prefix:  rc.Match.PathPrefix,
			Methods: rc.Match.Methods,
			Value:   s.routes[i],
		})
	}
	return es
}

// view returns how this snapshot serves connections accepted on l.
func (s *snapshot) view(l *listener) *listenerView {
	if v := s.listeners[l]; v != nil {
		return v
	}
	return s.anyView
}

func (s *snapshot) upstreamList() []*upstream.Upstream {
	out := make([]*upstream.Upstream, 0, len(s.upstreams))
	for _, u := range s.upstreams {
		out = append(out, u)
	}
	return out
}

// fileTargets are an upstream's targets as its config file lists them.
func fileTargets(uc *config.Upstream) []config.Target {
	out := make([]config.Target, len(uc.Targets))
	for i, t := range uc.Targets {
		out[i] = *t
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func upstreamSettings(uc *config.Upstream) upstream.Settings {
	return upstream.Settings{
		Balance:            string(uc.Balance),
		ConnectTimeout:     uc.ConnectTimeout.D(),
		MaxIdle:            *uc.Keepalive.Idle,
		IdleTimeout:        uc.Keepalive.IdleTimeout.D(),
		MaxRequestsPerConn: uc.Keepalive.MaxRequests,
		MaxConcurrent:      uc.MaxConcurrent,
		MaxQueue:           uc.MaxQueue,
		QueueTimeout:       uc.QueueTimeout.D(),
		MaxFails:           *uc.PassiveHealth.MaxFails,
		FailTimeout:        uc.PassiveHealth.FailTimeout.D(),
		BreakerDisabled:    uc.Breaker.Disabled,
		Breaker:            breakerSettings(&uc.Breaker),
		RetryBudgetRatio:   *uc.RetryBudget.Ratio,
		RetryBudgetMin:     *uc.RetryBudget.MinPerSecond,
	}
}

func breakerSettings(b *config.Breaker) breaker.Settings {
	s := breaker.Settings{
		SlowCallRatio:    b.SlowCallRatio,
		SlowCallDuration: b.SlowCallDuration.D(),
		Window:           b.Window.D(),
		MinRequests:      b.MinRequests,
		OpenFor:          b.OpenFor.D(),
		MaxOpenFor:       b.MaxOpenFor.D(),
		HalfOpenProbes:   b.HalfOpenProbes,
	}
	if b.ConsecutiveFailures != nil {
		s.ConsecutiveFailures = *b.ConsecutiveFailures
	}
	if b.FailureRatio != nil {
		s.FailureRatio = *b.FailureRatio
	}
	return s
}

func routeSettings(rc *config.Route, u *upstream.Upstream) proxy.Route {
	r := proxy.Route{
		Name:          rc.Name,
		Upstream:      u,
		StripPrefix:   rc.StripPrefix,
		Connect:       rc.Timeouts.Connect.D(),
		Response:      rc.Timeouts.Response.D(),
		Send:          rc.Timeouts.Send.D(),
		Total:         rc.Timeouts.Total.D(),
		Tries:         rc.Retry.Tries,
		RetryTimeout:  rc.Retry.Timeout.D(),
		NonIdempotent: rc.Retry.NonIdempotent,
		BufferBytes:   int64(*rc.Retry.BufferBytes),
		MaxBody:       int64(*rc.MaxBodyBytes),
		Upgrades:      rc.Upgrades,
	}
	for _, on := range rc.Retry.On {
		switch on = strings.ToLower(on); {
		case on == "error":
			r.RetryOn.Error = true
		case on == "timeout":
			r.RetryOn.Timeout = true
		case strings.HasPrefix(on, "http_"):
			var code int
			fmt.Sscanf(on[5:], "%d", &code)
			r.RetryOn.Statuses |= proxy.StatusBit(code)
		}
	}
	return r
}
