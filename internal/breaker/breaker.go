// Package breaker is the circuit breaker the proxy puts in front of each
// upstream (and, optionally, each route): it stops sending requests to a
// backend that keeps failing, so the backend can recover and clients get a
// fast 503 instead of a slow timeout.
//
// A Breaker is a three-state machine. Closed lets every call through and
// counts outcomes; any enabled trigger (failures in a row, failure ratio or
// slow-call ratio over a rolling window) opens it. Open rejects every call
// for an open period. Then it is HalfOpen: a few probe calls go through, and
// if all of them succeed the breaker closes, while a single failed probe
// opens it again for twice as long (up to a cap).
//
// There are no goroutines and no timers. The state changes lazily, when
// Allow, Snapshot or RetryAfter look at the clock, so an idle breaker costs
// nothing. Every state change starts a new generation; Allow stamps its
// Token with the current one, and Done ignores the outcome of a call that
// began in an earlier generation, so a slow request that started before the
// breaker opened cannot close it, and one that started before it closed
// cannot reopen it.
//
// The model follows sony/gobreaker v2, with the triggers, exponential
// backoff and probe accounting Skjold needs built in rather than supplied
// as callbacks.
package breaker

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Errors returned by Allow. They are sentinels and carry no detail so that
// rejecting a call does not allocate; callers that report the rejection use
// Snapshot or RetryAfter for the why and the until.
var (
	// ErrOpen means the breaker is open: the upstream failed recently and
	// is being left alone until the open period ends.
	ErrOpen = errors.New("circuit breaker is open")
	// ErrTooManyProbes means the breaker is half-open and every probe slot
	// is taken by a request still in flight.
	ErrTooManyProbes = errors.New("circuit breaker is half-open and all probe requests are in flight")
)

// Settings configures a Breaker. The zero value is safe: with every trigger
// at 0 the breaker never opens. Defaults for the configuration file are
// applied by the config package, not here.
type Settings struct {
	// ConsecutiveFailures opens the breaker after this many failures in a
	// row (Ignored outcomes neither count nor break the run). 0 disables
	// the trigger.
	ConsecutiveFailures int
	// FailureRatio opens the breaker when failures/calls in Window reaches
	// it, once Window holds at least MinRequests calls. 0 disables the
	// trigger.
	FailureRatio float64
	// SlowCallRatio opens the breaker when slow calls/calls in Window
	// reaches it, once Window holds at least MinRequests calls. 0 disables
	// the trigger.
	//
	// While it is enabled, a half-open probe that is slow counts as a
	// failed probe even if it succeeded: closing on slow probes would only
	// reopen the breaker as soon as MinRequests slow calls were seen.
	SlowCallRatio float64
	// SlowCallDuration is the line between fast and slow: a call whose
	// elapsed time is longer than this is slow, whether it succeeded or
	// failed. 0 counts no call as slow.
	SlowCallDuration time.Duration
	// Window is the length of the rolling window the ratios are measured
	// over, kept in 10 buckets: a call is forgotten between 0.9 and 1 Window
	// after it was recorded. 0 disables both ratio triggers.
	Window time.Duration
	// MinRequests is how many calls Window must hold before either ratio can
	// open the breaker, so that 1 failure out of 1 call does not. 0 means
	// one call is enough.
	MinRequests int
	// OpenFor is how long the breaker stays open the first time. 0 means
	// the very next call is already a half-open probe.
	OpenFor time.Duration
	// MaxOpenFor caps the open period, which doubles each time a half-open
	// probe fails and resets when the breaker closes. A value not above
	// OpenFor (including 0) turns the doubling off.
	MaxOpenFor time.Duration
	// HalfOpenProbes is how many probe calls may be in flight at once while
	// half-open, and how many must succeed to close the breaker. 0 means 1.
	HalfOpenProbes int
}

// probes is the effective HalfOpenProbes.
func (s *Settings) probes() int { return max(s.HalfOpenProbes, 1) }

// slowTriggerOn reports whether slow calls can open the breaker.
func (s *Settings) slowTriggerOn() bool { return s.SlowCallRatio > 0 && s.SlowCallDuration > 0 }

// isSlow reports whether a call that took elapsed is slow.
func (s *Settings) isSlow(elapsed time.Duration) bool {
	return s.SlowCallDuration > 0 && elapsed > s.SlowCallDuration
}

// openPeriod is how long the breaker stays open after level consecutive
// failed half-open probes: OpenFor doubled level times, capped at MaxOpenFor.
func (s *Settings) openPeriod(level int) time.Duration {
	d := max(s.OpenFor, 0)
	if s.MaxOpenFor <= d {
		return d
	}
	for range level {
		if d == 0 {
			return 0
		}
		d *= 2
		if d >= s.MaxOpenFor {
			return s.MaxOpenFor
		}
	}
	return d
}

// maxLevel bounds the backoff exponent; 2^62 of anything is past any cap.
const maxLevel = 62

// State is where a Breaker is in its cycle.
type State int

// The states of a Breaker.
const (
	// Closed lets every call through and counts the outcomes.
	Closed State = iota
	// Open rejects every call with ErrOpen until its open period ends.
	Open
	// HalfOpen lets a few probe calls through to test the upstream.
	HalfOpen
)

// String returns "closed", "open" or "half_open", the names used in metrics
// labels and the admin API.
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half_open"
	default:
		return "state(" + strconv.Itoa(int(s)) + ")"
	}
}

// Outcome is what became of an allowed call, as reported to Done.
type Outcome int

// The outcomes of a call.
const (
	// Success is a call the upstream answered well.
	Success Outcome = iota
	// Failure is a call the upstream is to blame for: a refused or reset
	// connection, a timeout, a 5xx the proxy counts as a failure.
	Failure
	// Ignored is a call that says nothing about the upstream, such as one
	// the client cancelled. It counts as neither success nor failure; if it
	// was a half-open probe, it frees its slot for another probe.
	Ignored
)

// String returns "success", "failure" or "ignored".
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case Ignored:
		return "ignored"
	default:
		return "outcome(" + strconv.Itoa(int(o)) + ")"
	}
}

// Token is an allowed call's ticket, returned by Allow and handed back to
// Done exactly once. It is a small value, so passing it around does not
// allocate. The zero Token is never current: Done ignores it.
type Token struct {
	gen   uint64
	probe bool
}

// Probe reports whether the call is a half-open probe.
func (t Token) Probe() bool { return t.probe }

// Snapshot is a Breaker's state at one instant, for the admin API, metrics
// and error messages.
type Snapshot struct {
	// State is the current state.
	State State
	// Since is when the breaker entered State. For HalfOpen it is the
	// moment the open period ended, even if nobody looked until later.
	Since time.Time
	// Until is when the open period ends; zero unless State is Open.
	Until time.Time
	// ConsecutiveFailures is the current run of failures while closed.
	ConsecutiveFailures int
	// WindowCalls, WindowFailures and WindowSlow are the counts in the
	// rolling window. They are kept while open and half-open, to show what
	// opened the breaker, and cleared when it closes.
	WindowCalls, WindowFailures, WindowSlow int
	// ProbesInFlight is how many probe calls have not reported back yet,
	// including probes of an earlier half-open period.
	ProbesInFlight int
	// Opens counts how many times the breaker has opened since it was made.
	Opens uint64
	// Reason says why the breaker last opened, e.g. "5 consecutive
	// failures" or "failure ratio 62% of 40 calls in 10s"; empty if it
	// never has.
	Reason string
}

// Breaker is a circuit breaker. It is safe for concurrent use; Allow and
// Done hold its lock for a few dozen instructions and do not allocate.
// A nil *Breaker is a breaker that is switched off: it allows everything.
type Breaker struct {
	// origin is the zero of the breaker's clock. Readings are
	// time.Since(origin): only the monotonic clock is read, which costs
	// about half of time.Now and ignores wall-clock steps. Set once in New.
	origin time.Time

	mu sync.Mutex
	s  Settings

	state State
	gen   uint64        // bumped on every state change; 0 is never used
	since time.Duration // when state was entered
	until time.Duration // when Open ends; meaningless in other states

	level       int    // failed half-open periods in a row, for the backoff
	opens       uint64 // times opened, ever
	reason      string // why it last opened
	firstReason string // why it opened from Closed, kept across reopens

	consecutive int    // failures in a row while closed
	win         window // rolling counts while closed

	probes  int // probe calls in flight, across generations
	probeOK int // probes that succeeded in this half-open period
}

// New returns a closed Breaker with settings s. It reads the clock with
// time.Now, so tests run it inside a testing/synctest bubble.
func New(s Settings) *Breaker {
	b := &Breaker{origin: time.Now(), s: s, state: Closed, gen: 1}
	b.win.reset(s.Window, 0)
	return b
}

// now reads the breaker's clock.
func (b *Breaker) now() time.Duration { return time.Since(b.origin) }

// at turns a clock reading into a wall-clock time for reporting, without
// the monotonic reading that would clutter its printed form.
func (b *Breaker) at(d time.Duration) time.Time { return b.origin.Add(d).Round(0) }

// Allow asks whether a call may go to the upstream. If so it returns the
// call's Token, which must be handed to Done when the call ends, whatever
// the outcome: a half-open probe that is never reported holds its probe slot
// for good. If not, it returns ErrOpen or ErrTooManyProbes and the call must
// not be made; a rejected call changes nothing and needs no Done.
func (b *Breaker) Allow() (Token, error) {
	if b == nil {
		return Token{}, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case Closed:
		return Token{gen: b.gen}, nil
	case Open:
		// The clock is read only here: a closed breaker does not need it.
		if !b.openEnded(b.now()) {
			return Token{}, ErrOpen
		}
	}
	if b.probes >= b.s.probes() {
		return Token{}, ErrTooManyProbes
	}
	b.probes++
	return Token{gen: b.gen, probe: true}, nil
}

// Done reports how a call allowed with t ended and how long it took. An
// outcome from an earlier generation (the breaker changed state after
// Allow) is ignored, except that a probe still gives back its slot.
func (b *Breaker) Done(t Token, o Outcome, elapsed time.Duration) {
	if b == nil || t.gen == 0 {
		return
	}
	// Read the clock before taking the lock to keep the critical section
	// short; the window tolerates a reading a little older than its newest.
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.probe && b.probes > 0 {
		b.probes--
	}
	if t.gen != b.gen || (o != Success && o != Failure) {
		return
	}
	failed := o == Failure
	switch b.state {
	case Closed:
		b.record(now, failed, b.s.isSlow(elapsed))
	case HalfOpen:
		if failed || (b.s.slowTriggerOn() && b.s.isSlow(elapsed)) {
			b.reopen(now)
			return
		}
		b.probeOK++
		if b.probeOK >= b.s.probes() {
			b.close(now)
		}
	}
	// Open issues no tokens, so no current-generation Done arrives there.
}

// Update replaces the settings and keeps the state: an open breaker stays
// open until the same moment (the new OpenFor applies to the next opening),
// counts and the backoff level are kept, and calls in flight still count.
// Triggers are checked against the new settings at the next outcome. Two
// changes take effect at once: a new Window starts empty, since the old
// buckets have the wrong width, and a half-open breaker that already has as
// many successful probes as the new HalfOpenProbes closes.
func (b *Breaker) Update(s Settings) {
	if b == nil {
		return
	}
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.s.Window
	b.s = s
	if s.Window != old {
		b.win.reset(s.Window, now)
	}
	if b.state == HalfOpen && b.probeOK >= s.probes() {
		b.close(now)
	}
}

// Snapshot returns the breaker's state now.
func (b *Breaker) Snapshot() Snapshot {
	if b == nil {
		return Snapshot{State: Closed}
	}
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == Open {
		b.openEnded(now)
	}
	b.win.advance(now)
	var until time.Time
	if b.state == Open {
		until = b.at(b.until)
	}
	return Snapshot{
		State:               b.state,
		Since:               b.at(b.since),
		Until:               until,
		ConsecutiveFailures: b.consecutive,
		WindowCalls:         b.win.calls,
		WindowFailures:      b.win.failures,
		WindowSlow:          b.win.slow,
		ProbesInFlight:      b.probes,
		Opens:               b.opens,
		Reason:              b.reason,
	}
}

// RetryAfter returns how long until the breaker lets probes through: the
// rest of the open period, or 0 if it is not open. It suits a Retry-After
// header on the 503 a rejected call gets.
func (b *Breaker) RetryAfter() time.Duration {
	if b == nil {
		return 0
	}
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != Open || b.openEnded(now) {
		return 0
	}
	return b.until - now
}

// openEnded moves an open breaker whose open period is over to HalfOpen and
// reports whether it did. The caller holds b.mu and has checked b.state is
// Open.
func (b *Breaker) openEnded(now time.Duration) bool {
	if now < b.until {
		return false
	}
	b.state = HalfOpen
	b.gen++
	b.since = b.until
	b.probeOK = 0
	return true
}

// record counts a closed-state outcome and opens the breaker if a trigger
// fires. The caller holds b.mu.
func (b *Breaker) record(now time.Duration, failed, slow bool) {
	if failed {
		b.consecutive++
	} else {
		b.consecutive = 0
	}
	b.win.record(now, failed, slow)
	if t := b.tripped(); t != notTripped {
		// Closed always has level 0: close resets it.
		b.firstReason = b.describe(t)
		b.open(now, b.firstReason)
	}
}

// trigger names the rule that opened the breaker.
type trigger int

const (
	notTripped trigger = iota
	byConsecutive
	byFailureRatio
	bySlowRatio
)

// tripped returns the first enabled trigger that fires, or notTripped. It
// only compares numbers; the text is built by describe once it opens.
func (b *Breaker) tripped() trigger {
	s := &b.s
	if s.ConsecutiveFailures > 0 && b.consecutive >= s.ConsecutiveFailures {
		return byConsecutive
	}
	calls := b.win.calls
	if b.win.size == 0 || calls == 0 || calls < s.MinRequests {
		return notTripped
	}
	if s.FailureRatio > 0 && float64(b.win.failures)/float64(calls) >= s.FailureRatio {
		return byFailureRatio
	}
	if s.slowTriggerOn() && float64(b.win.slow)/float64(calls) >= s.SlowCallRatio {
		return bySlowRatio
	}
	return notTripped
}

// describe says why trigger t fired, for the person on call.
func (b *Breaker) describe(t trigger) string {
	calls := b.win.calls
	switch t {
	case byConsecutive:
		return fmt.Sprintf("%d consecutive failures", b.consecutive)
	case byFailureRatio:
		return fmt.Sprintf("failure ratio %d%% of %d calls in %s",
			b.win.failures*100/calls, calls, b.win.size)
	case bySlowRatio:
		return fmt.Sprintf("slow call ratio %d%% of %d calls in %s (slower than %s)",
			b.win.slow*100/calls, calls, b.win.size, b.s.SlowCallDuration)
	}
	return ""
}

// reopen opens a half-open breaker again after a failed probe, for twice
// as long as last time. The caller holds b.mu.
func (b *Breaker) reopen(now time.Duration) {
	if b.level < maxLevel {
		b.level++
	}
	why := "half-open probe failed"
	if b.firstReason != "" {
		why += " (first opened on " + b.firstReason + ")"
	}
	b.open(now, why)
}

// open moves the breaker to Open for the period its backoff level calls
// for. The caller holds b.mu.
func (b *Breaker) open(now time.Duration, why string) {
	b.state = Open
	b.gen++
	b.since = now
	b.until = now + b.s.openPeriod(b.level)
	b.opens++
	b.reason = why
}

// close moves the breaker to Closed with clean counts and backoff. The
// caller holds b.mu.
func (b *Breaker) close(now time.Duration) {
	b.state = Closed
	b.gen++
	b.since = now
	b.level = 0
	b.consecutive = 0
	b.probeOK = 0
	b.win.reset(b.s.Window, now)
}
