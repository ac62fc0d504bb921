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
	// tables maps a listener name to its routing table; anyTable serves
	// connections of a listener that a reload has removed.
	tables   map[string]*route.Table[*routeState]
	anyTable *route.Table[*routeState]
	// routeBreakers become the gateway's once this snapshot is swapped in.
	routeBreakers map[string]*breaker.Breaker
}

// routeState is a route with its metric handles.
type routeState struct {
	proxy.Route
	metrics *routeMetrics
}

// build turns a validated config into a snapshot, reusing the registry's
// targets, pools, breakers and budgets. overrides replace the targets of
// the upstreams they name (set through the admin API).
func (g *Gateway) build(cfg *config.Config, overrides map[string][]upstream.Member) (*snapshot, error) {
	s := &snapshot{
		cfg:       cfg,
		loaded:    time.Now(),
		upstreams: map[string]*upstream.Upstream{},
		tables:    map[string]*route.Table[*routeState]{},
	}
	for name, uc := range cfg.Upstreams {
		members := overrides[name]
		if members == nil {
			for _, t := range uc.Targets {
				members = append(members, upstream.Member{Addr: t.Address, Weight: t.Weight, Backup: t.Backup})
			}
		}
		s.upstreams[name] = g.registry.Build(name, upstreamSettings(uc), members)
	}
	routeBreakers := map[string]*breaker.Breaker{}
	g.mu.Lock()
	for _, rc := range cfg.Routes {
		u := s.upstreams[rc.Upstream]
		if u == nil {
			g.mu.Unlock()
			return nil, fmt.Errorf("route %s: unknown upstream %q", rc.Name, rc.Upstream)
		}
		rs := &routeState{Route: routeSettings(rc, u)}
		if rc.Breaker != nil && !rc.Breaker.Disabled {
			// Route breakers live as long as the route's name does.
			b := g.routeBreakers[rc.Name]
			if b == nil {
				b = breaker.New(breakerSettings(rc.Breaker))
			} else {
				b.Update(breakerSettings(rc.Breaker))
			}
			routeBreakers[rc.Name] = b
			rs.Breaker = b
		}
		rs.metrics = g.metrics.forRoute(rc.Name, rc.Upstream)
		s.routes = append(s.routes, rs)
	}
	s.routeBreakers = routeBreakers
	g.mu.Unlock()

	entries := func(listener string) []route.Entry[*routeState] {
		var es []route.Entry[*routeState]
		for i, rc := range cfg.Routes {
			if listener != "" && len(rc.Listeners) > 0 && !contains(rc.Listeners, listener) {
				continue
			}
			if listener == "" && len(rc.Listeners) > 0 {
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
	var err error
	for name := range cfg.Listeners {
		if s.tables[name], err = route.New(entries(name)); err != nil {
			return nil, err
		}
	}
	if s.anyTable, err = route.New(entries("")); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *snapshot) table(listener string) *route.Table[*routeState] {
	if t := s.tables[listener]; t != nil {
		return t
	}
	return s.anyTable
}

func (s *snapshot) upstreamList() []*upstream.Upstream {
	out := make([]*upstream.Upstream, 0, len(s.upstreams))
	for _, u := range s.upstreams {
		out = append(out, u)
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
