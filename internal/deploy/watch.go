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

// defaultPollInterval is how often the watch reads the gateway's counters
// when Options.PollInterval is not set. With it, a release whose 5xx ratio
// crosses the limit is rolled back within 250ms (see docs/deploy.md): the
// poll is at most 50ms late, the switch back takes a few milliseconds.
const defaultPollInterval = 50 * time.Millisecond

// pollInterval is how often the watch reads the gateway's counters.
func (d *Deployer) pollInterval() time.Duration {
	if d.opts.PollInterval > 0 {
		return d.opts.PollInterval
	}
	return defaultPollInterval
}

// switchAndWatch asks the gateway to switch to next and judges the new
// release (green) from the first request it receives, while the gateway
// drains the old targets and then for the watch window, which also runs
// from that first request. Only green's requests are counted (see
// greenCounts); a 5xx ratio above the limit, once enough requests were
// seen, ends the watch at once with a reason to roll back.
func (d *Deployer) switchAndWatch(ctx context.Context, st *State, rel *Release, next []config.Target) watchResult {
	w := d.newWatch(ctx, st, rel)
	sw := d.startSwitch(ctx, next)
	defer sw.stop()
	w.sc = d.begin(rel.Number, StepSwitch, "upstream %s: %s → %s", d.opts.Config.Upstream, targetList(rel.Previous), targetList(next))
	tick := time.NewTicker(d.pollInterval())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			sw.stop()
			return w.interrupted(ctx)
		case out := <-sw.done:
			sw.done = nil // received; a nil channel never fires again
			if res, over := w.switchReturned(ctx, out); over {
				return res
			}
		case <-tick.C:
		}
		if res, over := w.poll(ctx); over {
			return res
		}
	}
}

// pendingSwitch is the gateway's switch call, running while the watch
// polls: it returns only after the drain.
type pendingSwitch struct {
	done   chan switchOutcome
	cancel context.CancelFunc
}

type switchOutcome struct {
	res gateway.SwitchResult
	err error
}

func (d *Deployer) startSwitch(ctx context.Context, next []config.Target) *pendingSwitch {
	cfg := d.opts.Config
	swCtx, cancel := context.WithCancel(ctx)
	sw := &pendingSwitch{done: make(chan switchOutcome, 1), cancel: cancel}
	go func() {
		res, err := d.opts.Gateway.Switch(swCtx, cfg.Upstream, next, cfg.Health.Deadline.D(), cfg.DrainTimeout.D())
		sw.done <- switchOutcome{res, err}
	}()
	return sw
}

// stop cancels the call (a rollback or an interrupt does not wait for the
// drain) and waits for it to return.
func (p *pendingSwitch) stop() {
	p.cancel()
	if p.done != nil {
		<-p.done
		p.done = nil
	}
}

// watch is the state of one switch-and-watch.
type watch struct {
	d     *Deployer
	st    *State
	rel   *Release
	green string
	// sc is the step under way: switch, then drain, then watch.
	sc *stepClock
	// base is the last view in which green had received no request: the
	// counters are judged from there. haveBase is false until a view was
	// read.
	base     UpstreamView
	haveBase bool
	// since is when green's first request was seen (or the switch
	// returned without traffic); zero before.
	since   time.Time
	drained bool
	// last are green's counts at the last poll; judged says whether
	// min_requests was ever reached.
	last   greenCounts
	judged bool
}

func (d *Deployer) newWatch(ctx context.Context, st *State, rel *Release) *watch {
	w := &watch{d: d, st: st, rel: rel, green: rel.Instance.Address}
	// Before the switch green has had no request: the baseline.
	if v, err := d.opts.Gateway.Upstream(ctx, d.opts.Config.Upstream); err == nil {
		w.base, w.haveBase = v, true
	}
	return w
}

// greenCounts are the requests green received since the baseline and the
// 5xx answers given on the upstream's routes since then. Before green's
// first request the baseline moves with every poll, so blue's answers
// before the switch, and blue's slow requests finishing after it, are not
// in the denominator; a 5xx blue gives while it drains is (the gateway
// counts 5xx by route, not by target).
type greenCounts struct {
	requests, errors uint64
}

func (c greenCounts) ratio() float64 {
	if c.requests == 0 {
		return 0
	}
	return float64(c.errors) / float64(c.requests)
}

// count updates the baseline from v and returns green's counts; ok is
// false while green has received no request.
func (w *watch) count(v UpstreamView) (c greenCounts, ok bool) {
	greenNow := v.TargetRequests[w.green]
	if !w.haveBase || v.Errors < w.base.Errors || greenNow < w.base.TargetRequests[w.green] {
		// The first view, or the counters went back (the gateway
		// restarted): count from here.
		w.base, w.haveBase = v, true
	}
	greenBase := w.base.TargetRequests[w.green]
	if w.since.IsZero() && greenNow == greenBase {
		w.base = v
		return greenCounts{}, false
	}
	return greenCounts{requests: greenNow - greenBase, errors: v.Errors - w.base.Errors}, true
}

// poll reads the gateway's counters and judges green; over is true when
// the watch has ended, with its result.
func (w *watch) poll(ctx context.Context) (res watchResult, over bool) {
	v, err := w.d.opts.Gateway.Upstream(ctx, w.d.opts.Config.Upstream)
	if err != nil {
		w.sc.progress("cannot read the gateway's counters: %v", err)
		return watchResult{}, false
	}
	c, ok := w.count(v)
	if !ok {
		return watchResult{}, false
	}
	if w.since.IsZero() {
		w.firstRequest()
	}
	w.last = c
	if reason := w.judge(c); reason != "" {
		w.sc.fail("%s", reason)
		return watchResult{switched: true, rollback: reason}, true
	}
	return w.progress(c)
}

// firstRequest ends the switch step: green has traffic. The blue targets
// drain from now on.
func (w *watch) firstRequest() {
	cfg := w.d.opts.Config
	w.since = time.Now()
	w.sc.done("traffic on %s", w.green)
	w.reached(StepDrain)
	w.sc = w.d.begin(w.rel.Number, StepDrain, "requests on %s finish (up to %s)", targetList(w.rel.Previous), cfg.DrainTimeout.D())
}

// reached records the step in the state, so that `deploy status` after a
// crash names the step the deploy died in. A failed write is reported and
// the deploy goes on: the step is only informative.
func (w *watch) reached(step Step) {
	w.rel.Step = step
	if err := w.d.save(w.st, nil); err != nil {
		w.sc.progress("recording step %s: %v", step, err)
	}
}

// judge returns why green must be rolled back, or "".
func (w *watch) judge(c greenCounts) string {
	cfg := w.d.opts.Config
	if c.requests < uint64(cfg.MinRequests) {
		return ""
	}
	w.judged = true
	if c.ratio() <= *cfg.MaxErrorRatio {
		return ""
	}
	return fmt.Sprintf("the new release answered %d of %d requests with 5xx (%.1f%%) in %s after its first request; the limit is %.1f%%",
		c.errors, c.requests, 100*c.ratio(), roundDur(time.Since(w.since)), 100**cfg.MaxErrorRatio)
}

// left is how much of the watch window remains.
func (w *watch) left() time.Duration {
	return max(time.Until(w.since.Add(w.d.opts.Config.Watch.D())), 0)
}

// progress reports green's counts; the watch is over, green passed, when
// the drain has ended and the window has run out.
func (w *watch) progress(c greenCounts) (watchResult, bool) {
	if !w.drained {
		return watchResult{}, false
	}
	left := w.left()
	if left > 0 {
		w.sc.progress("%d requests, %d 5xx (%.1f%%), %s left", c.requests, c.errors, 100*c.ratio(), roundDur(left))
		return watchResult{}, false
	}
	note := ""
	if !w.judged {
		note = fmt.Sprintf(" (fewer than %d requests: error ratio not judged)", w.d.opts.Config.MinRequests)
	}
	w.sc.done("%d requests, %d 5xx (%.1f%%)%s", c.requests, c.errors, 100*c.ratio(), note)
	return watchResult{switched: true}, true
}

// switchReturned handles the end of the switch call: refused (nothing
// switched), broken after the switch (roll back), or done with the drain,
// which starts the rest of the watch window.
func (w *watch) switchReturned(ctx context.Context, out switchOutcome) (watchResult, bool) {
	if out.err != nil {
		if w.since.IsZero() && !w.d.serving(w.green) {
			w.sc.fail("%v", out.err)
			return watchResult{err: out.err}, true
		}
		return watchResult{switched: true, rollback: "lost the admin API during the switch: " + out.err.Error()}, true
	}
	if w.since.IsZero() {
		// No request reached green yet: the window runs from the switch.
		w.firstRequest()
	}
	w.drained = true
	w.sc.done("%s", drainNote(out.res.Drained, out.res.Remaining, "the old release")[2:])
	w.reached(StepWatch)
	cfg := w.d.opts.Config
	w.sc = w.d.begin(w.rel.Number, StepWatch, "watching %s for %s after its first request (rolls back above %.1f%% 5xx)",
		w.green, cfg.Watch.D(), 100**cfg.MaxErrorRatio)
	return watchResult{}, false
}

// interrupted ends the watch on ^C or SIGTERM: whatever was switched is
// undone.
func (w *watch) interrupted(ctx context.Context) watchResult {
	cause := context.Cause(ctx)
	return watchResult{switched: !w.since.IsZero() || w.d.serving(w.green), err: cause,
		rollback: "interrupted: " + cause.Error()}
}

// serving reports whether the gateway routes to addr now.
func (d *Deployer) serving(addr string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := d.opts.Gateway.Upstream(ctx, d.opts.Config.Upstream)
	return err == nil && slices.ContainsFunc(v.Targets, func(t config.Target) bool { return t.Address == addr })
}
