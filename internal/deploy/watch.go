package deploy

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/gateway"
)

// watchResult is how the switch and the watch window went.
type watchResult struct {
	// switched is true once the gateway sent traffic to the new release.
	switched bool
	// err is why the switch did not happen.
	err error
	// rollback, when not empty, is why traffic must go back.
	rollback string
}

// pollInterval is how often the watch reads the gateway's counters.
func (d *Deployer) pollInterval() time.Duration {
	if d.opts.PollInterval > 0 {
		return d.opts.PollInterval
	}
	return min(max(d.opts.Config.Watch.D()/20, 100*time.Millisecond), time.Second)
}

// switchAndWatch asks the gateway to switch to next and, while the gateway
// drains the old targets, starts watching the new release: the window runs
// from the moment the switch is seen, and ends when both it and the drain
// are over. A ratio of 5xx answers above the threshold, once enough
// requests were seen, ends it early with a reason to roll back.
func (d *Deployer) switchAndWatch(ctx context.Context, rel *Release, next []config.Target) watchResult {
	cfg := d.opts.Config
	gw := d.opts.Gateway
	green := rel.Instance.Address

	type switched struct {
		res gateway.SwitchResult
		err error
	}
	swCtx, swCancel := context.WithCancel(ctx)
	defer swCancel()
	swDone := make(chan switched, 1)
	sc := d.begin(rel.Number, StepSwitch, "upstream %s: %s → %s", cfg.Upstream, targetList(rel.Previous), targetList(next))
	go func() {
		res, err := gw.Switch(swCtx, cfg.Upstream, next, cfg.Health.Deadline.D(), cfg.DrainTimeout.D())
		swDone <- switched{res, err}
	}()
	// waitSwitch collects the switch call after it was cancelled.
	waitSwitch := func() {
		swCancel()
		if swDone != nil {
			<-swDone
			swDone = nil
		}
	}

	var (
		base       *UpstreamView
		switchedAt time.Time
		drainDone  bool
		drainSC    *stepClock
		watchSC    *stepClock
		judged     bool
	)
	seen := func(v UpstreamView) {
		b := v
		base = &b
		switchedAt = time.Now()
		sc.done("traffic on %s", green)
		drainSC = d.begin(rel.Number, StepDrain, "requests on %s finish (up to %s)", targetList(rel.Previous), cfg.DrainTimeout.D())
	}
	tick := time.NewTicker(d.pollInterval())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			waitSwitch()
			return watchResult{switched: base != nil || d.serving(green), err: context.Cause(ctx),
				rollback: "interrupted: " + context.Cause(ctx).Error()}
		case out := <-swDone:
			swDone = nil // received; never again
			if out.err != nil {
				// Refused (not healthy at the gateway, bad request), or
				// the call broke after the switch: ask the gateway.
				if base == nil && !d.serving(green) {
					sc.fail("%v", out.err)
					return watchResult{err: out.err}
				}
				return watchResult{switched: true, rollback: "lost the admin API during the switch: " + out.err.Error()}
			}
			if base == nil {
				v, err := gw.Upstream(ctx, cfg.Upstream)
				if err != nil {
					v = UpstreamView{}
				}
				seen(v)
			}
			drainDone = true
			drainSC.done("%s", drainNote(out.res.Drained, out.res.Remaining, "the old release")[2:])
			watchSC = d.begin(rel.Number, StepWatch, "watching %s for %s (rolls back above %.1f%% 5xx)", green, cfg.Watch.D(), 100**cfg.MaxErrorRatio)
		case <-tick.C:
		}

		v, err := gw.Upstream(ctx, cfg.Upstream)
		if err != nil {
			if watchSC != nil {
				watchSC.progress("cannot read the gateway's counters: %v", err)
			}
			continue
		}
		if base == nil {
			if slices.ContainsFunc(v.Targets, func(t config.Target) bool { return t.Address == green }) {
				seen(v)
			}
			continue
		}
		if v.Requests < base.Requests || v.Errors < base.Errors {
			// The counters went back: the gateway restarted. Start over.
			b := v
			base = &b
		}
		reqs, errs := v.Requests-base.Requests, v.Errors-base.Errors
		ratio := 0.0
		if reqs > 0 {
			ratio = float64(errs) / float64(reqs)
		}
		left := max(time.Until(switchedAt.Add(cfg.Watch.D())), 0)
		if reqs >= uint64(cfg.MinRequests) {
			judged = true
			if ratio > *cfg.MaxErrorRatio {
				reason := fmt.Sprintf("the new release answered %d of %d requests with 5xx (%.1f%%) in %s after the switch; the limit is %.1f%%",
					errs, reqs, 100*ratio, roundDur(time.Since(switchedAt)), 100**cfg.MaxErrorRatio)
				if watchSC != nil {
					watchSC.fail("%s", reason)
				} else {
					drainSC.fail("%s", reason)
				}
				waitSwitch()
				return watchResult{switched: true, rollback: reason}
			}
		}
		if watchSC != nil {
			watchSC.progress("%d requests, %d 5xx (%.1f%%), %s left", reqs, errs, 100*ratio, roundDur(left))
		}
		if drainDone && left == 0 {
			note := ""
			if !judged {
				note = fmt.Sprintf(" (fewer than %d requests: error ratio not judged)", cfg.MinRequests)
			}
			watchSC.done("%d requests, %d 5xx (%.1f%%)%s", reqs, errs, 100*ratio, note)
			return watchResult{switched: true}
		}
	}
}

// serving reports whether the gateway routes to addr now.
func (d *Deployer) serving(addr string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := d.opts.Gateway.Upstream(ctx, d.opts.Config.Upstream)
	return err == nil && slices.ContainsFunc(v.Targets, func(t config.Target) bool { return t.Address == addr })
}
