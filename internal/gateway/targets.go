package gateway

import (
	"context"
	"errors"
	"fmt"
	"maps"
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
	// Targets must pass config.CheckTargets; a weight of 0 counts as 1.
	Targets []config.Target
	// Origin records who switched: OriginAdmin (the default) or
	// OriginDeploy.
	Origin Origin
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
	// Origin is where the targets now in force come from.
	Origin Origin `json:"origin"`
	// Drained is false when requests were still running on the old targets
	// when the drain timeout passed; Remaining says how many.
	Drained   bool          `json:"drained"`
	Remaining int64         `json:"remaining_in_flight"`
	Took      time.Duration `json:"took_ns"`
}

// SetTargets switches an upstream to new targets atomically: requests that
// started before the switch finish on the old targets, every request after
// it goes to the new ones. The override is saved in the state directory
// first, and holds across reloads and restarts until DropTargets or the
// next switch (see overrides.go).
func (g *Gateway) SetTargets(ctx context.Context, name string, sw TargetSwitch) (SwitchResult, error) {
	start := time.Now()
	sw.Targets = config.WithDefaultWeights(sw.Targets)
	if err := config.CheckTargets(sw.Targets); err != nil {
		return SwitchResult{Upstream: name}, fmt.Errorf("upstream %s: nothing was switched: %w", name, err)
	}
	s := g.snap.Load()
	if s == nil || s.upstreams[name] == nil {
		return SwitchResult{Upstream: name}, fmt.Errorf("%w %q", ErrUnknownUpstream, name)
	}
	if sw.WaitHealthy {
		if err := g.waitHealthy(ctx, name, s.cfg.Upstreams[name], sw); err != nil {
			return SwitchResult{Upstream: name}, err
		}
	}
	origin := sw.Origin
	if origin == "" {
		origin = OriginAdmin
	}
	o := Override{Targets: sw.Targets, Origin: origin, Since: time.Now().UTC()}
	return g.replaceTargets(ctx, name, &o, sw.DrainTimeout, start)
}

// DropTargets drops an upstream's target override: the config file's
// targets are in force again, saved so across restarts, and requests on the
// override's targets drain as after a switch. Without an override it
// changes nothing.
func (g *Gateway) DropTargets(ctx context.Context, name string, drain time.Duration) (SwitchResult, error) {
	return g.replaceTargets(ctx, name, nil, drain, time.Now())
}

// replaceTargets installs the running config with the upstream's override
// set to o (nil drops it), then waits for requests on targets that left.
func (g *Gateway) replaceTargets(ctx context.Context, name string, o *Override, drain time.Duration, start time.Time) (SwitchResult, error) {
	res := SwitchResult{Upstream: name}
	g.applyMu.Lock()
	s := g.snap.Load()
	old := s.upstreams[name]
	if old == nil {
		g.applyMu.Unlock()
		return res, fmt.Errorf("%w %q", ErrUnknownUpstream, name)
	}
	g.mu.Lock()
	ov := maps.Clone(g.overrides)
	g.mu.Unlock()
	if o != nil {
		ov[name] = *o
	} else {
		delete(ov, name)
	}
	next, err := g.install(change{cfg: s.cfg, overrides: ov, saveOverrides: true, loaded: s.loaded})
	g.applyMu.Unlock()
	if err != nil {
		return res, fmt.Errorf("upstream %s: nothing was switched: %w", name, err)
	}
	res.Origin = next.origins[name].Origin
	for _, t := range next.upstreams[name].Targets() {
		res.Targets = append(res.Targets, t.Addr)
	}
	leaving := leavingTargets(old, next.upstreams[name], &res)
	g.log.Info("upstream targets switched", "upstream", name, "origin", res.Origin, "previous", res.Previous, "targets", res.Targets)
	g.drain(ctx, leaving, drain, &res)
	res.Took = time.Since(start)
	return res, nil
}

// leavingTargets lists old's targets that next does not have, and fills
// res.Previous.
func leavingTargets(old, next *upstream.Upstream, res *SwitchResult) []*upstream.Target {
	keep := map[*upstream.Target]bool{}
	for _, t := range next.Targets() {
		keep[t] = true
	}
	var leaving []*upstream.Target
	for _, t := range old.Targets() {
		res.Previous = append(res.Previous, t.Addr)
		if !keep[t] {
			leaving = append(leaving, t)
		}
	}
	return leaving
}

// drain waits until no request runs on leaving, for up to timeout (30s
// when zero) or until ctx ends, and records what is left in res.
func (g *Gateway) drain(ctx context.Context, leaving []*upstream.Target, timeout time.Duration, res *SwitchResult) {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		res.Remaining = 0
		for _, t := range leaving {
			res.Remaining += t.InFlight()
		}
		if res.Remaining == 0 {
			res.Drained = true
			return
		}
		if time.Now().After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
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
		addrs = append(addrs, m.Address)
	}
	c.Sync(addrs)
	c.Start(ctx)
	defer c.Stop()
	if err := c.WaitHealthy(ctx, addrs); err != nil {
		return fmt.Errorf("upstream %s: %w within %s; nothing was switched: %w", name, ErrNotHealthy, timeout, err)
	}
	return nil
}
