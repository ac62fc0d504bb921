package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/health"
	"github.com/skjold-dev/skjold/internal/upstream"
)

// Errors of a target switch.
var (
	// ErrUnknownUpstream: the config has no upstream of that name.
	ErrUnknownUpstream = errors.New("unknown upstream")
	// ErrNotHealthy: the new targets did not pass their health check in
	// time; nothing was switched.
	ErrNotHealthy = errors.New("new targets not healthy")
)

// TargetSwitch replaces an upstream's targets (blue → green).
type TargetSwitch struct {
	Targets []upstream.Member
	// WaitHealthy delays the switch until every new target has passed its
	// health check (the upstream's, or GET /health when it has none).
	WaitHealthy bool
	// HealthTimeout bounds that wait. Zero means 30s.
	HealthTimeout time.Duration
	// DrainTimeout bounds the wait for requests still running on the old
	// targets after the switch. Zero means 30s.
	DrainTimeout time.Duration
}

// SwitchResult says what a target switch did.
type SwitchResult struct {
	Upstream string   `json:"upstream"`
	Previous []string `json:"previous"`
	Targets  []string `json:"targets"`
	// Drained is false when requests were still running on the old targets
	// when the drain timeout passed; Remaining says how many.
	Drained   bool          `json:"drained"`
	Remaining int64         `json:"remaining_in_flight"`
	Took      time.Duration `json:"took_ns"`
}

// SetTargets switches an upstream to new targets atomically: requests that
// started before the switch finish on the old targets, every request after
// it goes to the new ones. The replacement holds across reloads of the same
// config until the next switch or restart.
func (g *Gateway) SetTargets(ctx context.Context, name string, sw TargetSwitch) (SwitchResult, error) {
	start := time.Now()
	res := SwitchResult{Upstream: name}
	if err := checkMembers(sw.Targets); err != nil {
		return res, err
	}
	s := g.snap.Load()
	if s == nil || s.upstreams[name] == nil {
		return res, fmt.Errorf("%w %q", ErrUnknownUpstream, name)
	}
	if sw.WaitHealthy {
		if err := g.waitHealthy(ctx, name, s.cfg.Upstreams[name], sw); err != nil {
			return res, err
		}
	}

	g.applyMu.Lock()
	s = g.snap.Load()
	old := s.upstreams[name]
	if old == nil {
		g.applyMu.Unlock()
		return res, fmt.Errorf("%w %q", ErrUnknownUpstream, name)
	}
	g.mu.Lock()
	overrides := make(map[string][]upstream.Member, len(g.overrides)+1)
	for k, v := range g.overrides {
		overrides[k] = v
	}
	overrides[name] = slices.Clone(sw.Targets)
	g.mu.Unlock()
	next, err := g.build(s.cfg, overrides)
	if err != nil {
		g.applyMu.Unlock()
		return res, err
	}
	next.loaded = s.loaded // the config itself did not change
	g.syncHealth(s.cfg, next)
	g.snap.Store(next)
	g.mu.Lock()
	g.overrides = overrides
	g.routeBreakers = next.routeBreakers
	g.mu.Unlock()
	g.registry.Retain(next.upstreamList())
	g.applyMu.Unlock()

	// Drain: wait for requests on targets that left.
	keep := map[string]bool{}
	for _, m := range sw.Targets {
		keep[m.Addr] = true
		res.Targets = append(res.Targets, m.Addr)
	}
	var leaving []*upstream.Target
	for _, t := range old.Targets() {
		res.Previous = append(res.Previous, t.Addr)
		if !keep[t.Addr] {
			leaving = append(leaving, t)
		}
	}
	g.log.Info("upstream targets switched", "upstream", name, "previous", res.Previous, "targets", res.Targets)
	drain := sw.DrainTimeout
	if drain <= 0 {
		drain = 30 * time.Second
	}
	deadline := time.Now().Add(drain)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		var n int64
		for _, t := range leaving {
			n += t.InFlight()
		}
		res.Remaining = n
		if n == 0 {
			res.Drained = true
			break
		}
		if time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			res.Took = time.Since(start)
			return res, nil
		case <-tick.C:
		}
	}
	res.Took = time.Since(start)
	return res, nil
}

// waitHealthy probes the new targets until each passes its health check.
func (g *Gateway) waitHealthy(ctx context.Context, name string, uc *config.Upstream, sw TargetSwitch) error {
	spec := health.Spec{Path: config.DefaultHealthPath, Interval: 500 * time.Millisecond, Timeout: config.DefaultHealthTimeout, Rise: 1, Fall: 1}
	if uc != nil && uc.HealthCheck != nil {
		spec = healthSpec(uc.HealthCheck)
	}
	timeout := sw.HealthTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := health.New(name, spec, g.healthCli, g.log, nil)
	addrs := make([]string, 0, len(sw.Targets))
	for _, m := range sw.Targets {
		addrs = append(addrs, m.Addr)
	}
	c.Sync(addrs)
	c.Start(ctx)
	defer c.Stop()
	if err := c.WaitHealthy(ctx, addrs); err != nil {
		return fmt.Errorf("upstream %s: %w within %s; nothing was switched: %w", name, ErrNotHealthy, timeout, err)
	}
	return nil
}

// checkMembers applies the config's rules for targets to a switch.
func checkMembers(ms []upstream.Member) error {
	if len(ms) == 0 {
		return errors.New("a target switch needs at least one target")
	}
	seen := map[string]bool{}
	primary := false
	for _, m := range ms {
		if err := config.ValidTargetAddress(m.Addr); err != nil {
			return fmt.Errorf("target %q: %w", m.Addr, err)
		}
		if m.Weight < 0 || m.Weight > 1000 {
			return fmt.Errorf("target %q: weight %d must be 1..1000", m.Addr, m.Weight)
		}
		if seen[m.Addr] {
			return fmt.Errorf("target %q is listed twice", m.Addr)
		}
		seen[m.Addr] = true
		primary = primary || !m.Backup
	}
	if !primary {
		return errors.New("every target is a backup; at least one must not be")
	}
	return nil
}
