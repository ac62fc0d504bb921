package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// ErrNotHealthy is returned by WaitHealthy when some targets did not come
// up in time.
var ErrNotHealthy = errors.New("targets not healthy")

// ErrStopped is returned by WaitHealthy when the checker stops while it
// waits: no further probe can change the answer.
var ErrStopped = errors.New("health checker stopped")

// Checker probes the targets of one upstream, each in its own goroutine,
// and keeps their states. All methods are safe for concurrent use.
type Checker struct {
	name     string
	client   *http.Client
	logger   *slog.Logger
	onChange func(addr string, s State)

	// probe and jitter are fields so that the package's tests can drive
	// the state machine without a network and with exact timing.
	probe  func(ctx context.Context, addr string, spec Spec) result
	jitter func(time.Duration) time.Duration

	wg sync.WaitGroup // every goroutine the checker started

	mu      sync.Mutex
	spec    Spec
	targets map[string]*target
	// changed is closed, and replaced, whenever a target changes state or
	// the checker stops; WaitHealthy sleeps on it.
	changed chan struct{}
	runCtx  context.Context // nil until Start
	cancel  context.CancelFunc
	stopped bool
}

// target is one probed address. Its status is guarded by Checker.mu.
type target struct {
	status  TargetStatus
	kick    chan struct{} // told about a new Spec while waiting
	cancel  context.CancelFunc
	removed bool // Sync dropped it: late results are discarded
}

// result is the outcome of one probe.
type result struct {
	ok     bool
	status int    // HTTP status, 0 if none
	err    string // why it failed, for the on-call engineer
}

// New returns a Checker for the upstream called name. It probes nothing
// until Start and Sync. client is used for every probe; nil means
// NewClient's. Redirects are never followed,
// whatever client's CheckRedirect says. logger may be nil (no logs).
// onChange, if not nil, is called from a probe goroutine, without any
// lock held, after each state change; it must not call Stop.
func New(name string, spec Spec, client *http.Client, logger *slog.Logger, onChange func(addr string, s State)) *Checker {
	if client == nil {
		client = NewClient()
	} else {
		// A copy, so the caller's client keeps its own redirect policy.
		cl := *client
		client = &cl
	}
	client.CheckRedirect = noRedirect
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if onChange == nil {
		onChange = func(string, State) {}
	}
	c := &Checker{
		name:     name,
		client:   client,
		logger:   logger.With("upstream", name),
		onChange: onChange,
		jitter:   spread,
		spec:     spec.withDefaults(),
		targets:  make(map[string]*target),
		changed:  make(chan struct{}),
	}
	c.probe = c.httpProbe
	return c
}

// spread returns d moved by a random amount of up to ±10%, so that probes
// of targets added together drift apart instead of firing in step.
func spread(d time.Duration) time.Duration {
	tenth := d / 10
	return d - tenth + rand.N(2*tenth+1)
}

// Start begins probing the targets given to Sync (before or after Start)
// and returns at once. Probing goes on until ctx is cancelled or Stop is
// called. Start after the first call, or after Stop, does nothing.
func (c *Checker) Start(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runCtx != nil || c.stopped {
		return
	}
	c.runCtx, c.cancel = context.WithCancel(ctx)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		<-c.runCtx.Done()
		c.mu.Lock()
		defer c.mu.Unlock()
		c.stopped = true
		c.broadcastLocked()
	}()
	for _, t := range c.targets {
		c.launchLocked(t)
	}
}

// Stop stops every probe and waits for the probe goroutines to return.
// Results of probes cut short are discarded. It is safe to call more than
// once, and without Start.
func (c *Checker) Stop() {
	c.mu.Lock()
	if !c.stopped {
		c.stopped = true
		if c.cancel != nil {
			c.cancel()
		}
		c.broadcastLocked()
	}
	c.mu.Unlock()
	c.wg.Wait()
}

// Sync makes addrs the set of probed targets. New addresses start Unknown
// and are probed at once; addresses no longer listed stop being probed and
// are forgotten (a probe of one already under way is cut short and its
// result dropped); the others keep their state and their schedule.
func (c *Checker) Sync(addrs []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	keep := make(map[string]bool, len(addrs))
	now := time.Now()
	for _, a := range addrs {
		keep[a] = true
		if _, ok := c.targets[a]; ok {
			continue
		}
		t := &target{
			status: TargetStatus{Address: a, State: Unknown, Since: now},
			kick:   make(chan struct{}, 1),
		}
		c.targets[a] = t
		c.launchLocked(t)
	}
	for a, t := range c.targets {
		if keep[a] {
			continue
		}
		t.removed = true
		if t.cancel != nil {
			t.cancel()
		}
		delete(c.targets, a)
	}
}

// Update replaces the Spec, for a reload. Targets keep their states and
// counters; the new thresholds apply from the next result and the new
// interval from the current wait.
func (c *Checker) Update(spec Spec) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.spec = spec.withDefaults()
	for _, t := range c.targets {
		select {
		case t.kick <- struct{}{}:
		default: // already told
		}
	}
}

// State returns addr's state; Unknown for an address not being probed.
func (c *Checker) State(addr string) State {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.targets[addr]; ok {
		return t.status.State
	}
	return Unknown
}

// Status returns a snapshot of every probed target, sorted by address.
func (c *Checker) Status() []TargetStatus {
	c.mu.Lock()
	out := make([]TargetStatus, 0, len(c.targets))
	for _, t := range c.targets {
		out = append(out, t.status)
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b TargetStatus) int { return strings.Compare(a.Address, b.Address) })
	return out
}

// WaitHealthy returns nil once every address in addrs is Up, that is, has
// passed Rise probes in a row since Sync added it (an address already Up
// counts at once). When ctx ends first it returns an error wrapping
// ErrNotHealthy and ctx's cause that names every address not up with its
// state and last probe result; if the checker stops first, the error wraps
// ErrStopped instead of the cause. Addresses must have been given to Sync.
func (c *Checker) WaitHealthy(ctx context.Context, addrs []string) error {
	for {
		c.mu.Lock()
		ps := c.notUpLocked(addrs)
		changed, stopped := c.changed, c.stopped
		rise := c.spec.Rise
		c.mu.Unlock()
		if len(ps) == 0 {
			return nil
		}
		if stopped {
			return c.notHealthyError(ps, rise, len(addrs), ErrStopped)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			// Look once more: the last probe may have landed as ctx ended.
			c.mu.Lock()
			ps = c.notUpLocked(addrs)
			rise = c.spec.Rise
			c.mu.Unlock()
			if len(ps) == 0 {
				return nil
			}
			return c.notHealthyError(ps, rise, len(addrs), context.Cause(ctx))
		}
	}
}

// pending is a target WaitHealthy is still waiting for.
type pending struct {
	status TargetStatus
	probed bool // false: the address was never given to Sync
}

// notUpLocked returns the addrs that are not Up.
func (c *Checker) notUpLocked(addrs []string) []pending {
	var out []pending
	for _, a := range addrs {
		t, ok := c.targets[a]
		switch {
		case !ok:
			out = append(out, pending{status: TargetStatus{Address: a}})
		case t.status.State != Up:
			out = append(out, pending{status: t.status, probed: true})
		}
	}
	return out
}

func (c *Checker) notHealthyError(ps []pending, rise, total int, cause error) error {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = describe(p, rise)
	}
	return fmt.Errorf("upstream %s: %w (%d of %d): %s: %w",
		c.name, ErrNotHealthy, len(ps), total, strings.Join(parts, "; "), cause)
}

// describe says in a few words why st is not up, e.g.
// "10.0.0.7:8080 down, last probe: status 503 (3 failures in a row)".
func describe(p pending, rise int) string {
	st := p.status
	switch {
	case !p.probed:
		return st.Address + " not probed"
	case st.LastCheck.IsZero():
		return st.Address + " " + st.State.String() + ", no probe finished yet"
	case st.LastError != "":
		return fmt.Sprintf("%s %s, last probe: %s (%d %s in a row)",
			st.Address, st.State, st.LastError, st.ConsecutiveFail, plural(st.ConsecutiveFail, "failure", "failures"))
	default:
		return fmt.Sprintf("%s %s, last probe: status %d (%d of %d passes needed)",
			st.Address, st.State, st.LastStatus, st.ConsecutivePass, rise)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// broadcastLocked wakes every WaitHealthy.
func (c *Checker) broadcastLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// launchLocked starts t's probe goroutine if the checker is running.
func (c *Checker) launchLocked(t *target) {
	if c.runCtx == nil || c.stopped {
		return
	}
	ctx, cancel := context.WithCancel(c.runCtx)
	t.cancel = cancel
	c.wg.Add(1)
	go c.run(ctx, t)
}

// run probes t until ctx ends: first at once, then every Interval
// (spread), measured from the start of one probe to the start of the next.
func (c *Checker) run(ctx context.Context, t *target) {
	defer c.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	addr := t.status.Address // immutable
	for {
		c.mu.Lock()
		spec := c.spec
		c.mu.Unlock()
		start := time.Now()
		res := c.probe(ctx, addr, spec)
		if ctx.Err() != nil {
			return // cut short by Sync or Stop: not the target's fault
		}
		c.record(t, res)
		if !c.wait(ctx, t, timer, start) {
			return
		}
	}
}

// wait sleeps until the next probe of t is due, re-reading the interval
// when Update kicks it. It returns false if ctx ended.
func (c *Checker) wait(ctx context.Context, t *target, timer *time.Timer, start time.Time) bool {
	for {
		c.mu.Lock()
		interval := c.spec.Interval
		c.mu.Unlock()
		d := time.Until(start.Add(c.jitter(interval)))
		if d <= 0 {
			return true
		}
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		case <-t.kick:
			timer.Stop()
		}
	}
}

// record applies one probe result to t's state machine.
func (c *Checker) record(t *target, res result) {
	now := time.Now()
	c.mu.Lock()
	if t.removed || c.stopped {
		c.mu.Unlock()
		return
	}
	st := &t.status
	st.LastCheck, st.LastStatus, st.LastError = now, res.status, res.err
	old := st.State
	if res.ok {
		st.ConsecutivePass++
		st.ConsecutiveFail = 0
		if old != Up && st.ConsecutivePass >= c.spec.Rise {
			st.State = Up
		}
	} else {
		st.ConsecutiveFail++
		st.ConsecutivePass = 0
		if old != Down && st.ConsecutiveFail >= c.spec.Fall {
			st.State = Down
		}
	}
	changed := st.State != old
	if changed {
		st.Since = now
		c.broadcastLocked()
	}
	snap := *st
	c.mu.Unlock()

	if !res.ok {
		c.logger.Debug("health probe failed", "target", snap.Address, "error", res.err,
			"failures_in_a_row", snap.ConsecutiveFail)
	}
	if !changed {
		return
	}
	if snap.State == Down {
		c.logger.Warn("target down", "target", snap.Address, "from", old.String(),
			"last_error", snap.LastError, "failures_in_a_row", snap.ConsecutiveFail)
	} else {
		c.logger.Info("target up", "target", snap.Address, "from", old.String(),
			"last_status", snap.LastStatus, "passes_in_a_row", snap.ConsecutivePass)
	}
	c.onChange(snap.Address, snap.State)
}
