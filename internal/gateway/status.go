package gateway

import (
	"sort"
	"time"

	"github.com/skjold-dev/skjold/internal/breaker"
	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/health"
	"github.com/skjold-dev/skjold/internal/upstream"
)

// Status is the gateway's state at a glance, as GET /status shows it.
type Status struct {
	ConfigVersion string           `json:"config_version"`
	ConfigSource  string           `json:"config_source"`
	LoadedAt      time.Time        `json:"loaded_at"`
	Reloads       int              `json:"reloads"`
	Ready         bool             `json:"ready"`
	Connections   int              `json:"client_connections"`
	Listeners     []ListenerStatus `json:"listeners"`
	Routes        []RouteStatus    `json:"routes"`
	Upstreams     []UpstreamStatus `json:"upstreams"`
	// Certificates served by TLS listeners, with their expiry.
	Certificates []CertificateStatus `json:"certificates,omitempty"`
}

// ListenerStatus is one bound listener.
type ListenerStatus struct {
	Name    string `json:"name"`
	Address string `json:"address"`
}

// RouteStatus is one route with its counters.
type RouteStatus struct {
	Name       string         `json:"name"`
	Upstream   string         `json:"upstream"`
	Hosts      []string       `json:"hosts,omitempty"`
	PathPrefix string         `json:"path_prefix"`
	Methods    []string       `json:"methods,omitempty"`
	Requests   uint64         `json:"requests"`
	Errors     uint64         `json:"errors"`
	Breaker    *BreakerStatus `json:"breaker,omitempty"`
}

// UpstreamStatus is one upstream with its targets.
type UpstreamStatus struct {
	Name     string         `json:"name"`
	Balance  string         `json:"balance"`
	InFlight int64          `json:"in_flight"`
	Requests uint64         `json:"requests"`
	Failures uint64         `json:"failures"`
	Breaker  *BreakerStatus `json:"breaker,omitempty"`
	// TargetsFrom says where Targets come from: the config file, or a
	// runtime override (admin or deploy) and since when.
	TargetsFrom TargetsOrigin  `json:"targets_from"`
	Targets     []TargetStatus `json:"targets"`
	// FileTargets are the config file's targets when an override replaces
	// them.
	FileTargets []config.Target `json:"file_targets,omitempty"`
}

// TargetStatus is one target: passive and active health, load, counters.
type TargetStatus struct {
	upstream.TargetStats
	HealthCheck *health.TargetStatus `json:"health_check,omitempty"`
}

// BreakerStatus is a circuit breaker's state and when it next changes.
type BreakerStatus struct {
	State               string    `json:"state"`
	Since               time.Time `json:"since"`
	Until               time.Time `json:"until,omitzero"`
	Reason              string    `json:"reason,omitempty"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	WindowCalls         int       `json:"window_calls"`
	WindowFailures      int       `json:"window_failures"`
	Opens               uint64    `json:"opens"`
}

func breakerStatus(b *breaker.Breaker) *BreakerStatus {
	if b == nil {
		return nil
	}
	s := b.Snapshot()
	return &BreakerStatus{
		State: s.State.String(), Since: s.Since, Until: s.Until, Reason: s.Reason,
		ConsecutiveFailures: s.ConsecutiveFailures, WindowCalls: s.WindowCalls,
		WindowFailures: s.WindowFailures, Opens: s.Opens,
	}
}

// Status returns the current state of every listener, route, upstream and
// target.
func (g *Gateway) Status() Status {
	s := g.snap.Load()
	if s == nil {
		return Status{}
	}
	now := time.Now()
	g.mu.Lock()
	st := Status{
		ConfigVersion: s.cfg.Version,
		ConfigSource:  s.cfg.Source,
		LoadedAt:      s.loaded,
		Reloads:       g.version - 1,
		Ready:         g.Ready(),
		Connections:   g.conns.count(),
		Certificates:  s.certificateStatus(now),
	}
	for _, l := range g.listeners {
		if v := s.listeners[l]; v != nil {
			st.Listeners = append(st.Listeners, ListenerStatus{Name: v.name, Address: l.ln.Addr().String()})
		}
	}
	checks := map[string]map[string]health.TargetStatus{}
	for name, c := range g.checkers {
		m := map[string]health.TargetStatus{}
		for _, ts := range c.Status() {
			m[ts.Address] = ts
		}
		checks[name] = m
	}
	g.mu.Unlock()
	sort.Slice(st.Listeners, func(i, j int) bool { return st.Listeners[i].Name < st.Listeners[j].Name })

	for i, r := range s.routes {
		rc := s.cfg.Routes[i]
		st.Routes = append(st.Routes, RouteStatus{
			Name: r.Name, Upstream: rc.Upstream, Hosts: rc.Match.Hosts, PathPrefix: rc.Match.PathPrefix,
			Methods: rc.Match.Methods, Requests: r.metrics.total.Load(), Errors: r.metrics.errors.Load(),
			Breaker: breakerStatus(r.Breaker),
		})
	}
	for name, u := range s.upstreams {
		us := UpstreamStatus{Name: name, Balance: u.Settings().Balance, Breaker: breakerStatus(u.Breaker), TargetsFrom: s.origins[name]}
		if us.TargetsFrom.Origin != OriginFile {
			us.FileTargets = fileTargets(s.cfg.Upstreams[name])
		}
		for _, ts := range u.Stats(now) {
			t := TargetStatus{TargetStats: ts}
			if hs, ok := checks[name][ts.Address]; ok {
				t.HealthCheck = &hs
			}
			us.InFlight += ts.InFlight
			us.Requests += ts.Requests
			us.Failures += ts.Failures
			us.Targets = append(us.Targets, t)
		}
		st.Upstreams = append(st.Upstreams, us)
	}
	sort.Slice(st.Upstreams, func(i, j int) bool { return st.Upstreams[i].Name < st.Upstreams[j].Name })
	return st
}
