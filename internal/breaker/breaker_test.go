package breaker

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// call is one call to make against a breaker: allow it, then report o with
// elapsed. wantErr is what Allow must return.
type call struct {
	o       Outcome
	elapsed time.Duration
	wantErr error
}

func calls(n int, o Outcome, elapsed time.Duration) []call {
	cs := make([]call, n)
	for i := range cs {
		cs[i] = call{o: o, elapsed: elapsed}
	}
	return cs
}

func concat(parts ...[]call) []call {
	var all []call
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

// run makes the calls in order, failing the test on an unexpected Allow
// result.
func run(t *testing.T, b *Breaker, cs []call) {
	t.Helper()
	for i, c := range cs {
		tok, err := b.Allow()
		if !errors.Is(err, c.wantErr) || (c.wantErr == nil && err != nil) {
			t.Fatalf("call %d: Allow() error = %v, want %v (state %v)", i, err, c.wantErr, b.Snapshot().State)
		}
		if err == nil {
			b.Done(tok, c.o, c.elapsed)
		}
	}
}

// allow calls Allow and fails the test if it does not let the call through.
func allow(t *testing.T, b *Breaker) Token {
	t.Helper()
	tok, err := b.Allow()
	if err != nil {
		t.Fatalf("Allow() = %v, want a token (snapshot %+v)", err, b.Snapshot())
	}
	return tok
}

// reject calls Allow and fails the test unless it returns want.
func reject(t *testing.T, b *Breaker, want error) {
	t.Helper()
	if _, err := b.Allow(); !errors.Is(err, want) {
		t.Fatalf("Allow() error = %v, want %v (snapshot %+v)", err, want, b.Snapshot())
	}
}

func wantState(t *testing.T, b *Breaker, want State) Snapshot {
	t.Helper()
	s := b.Snapshot()
	if s.State != want {
		t.Fatalf("state = %v, want %v (snapshot %+v)", s.State, want, s)
	}
	return s
}

// openWith trips a breaker that has ConsecutiveFailures set.
func openWith(t *testing.T, b *Breaker) {
	t.Helper()
	for b.Snapshot().State == Closed {
		b.Done(allow(t, b), Failure, 0)
	}
	wantState(t, b, Open)
}

func TestStateAndOutcomeNames(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{Closed.String(), "closed"},
		{Open.String(), "open"},
		{HalfOpen.String(), "half_open"},
		{State(7).String(), "state(7)"},
		{Success.String(), "success"},
		{Failure.String(), "failure"},
		{Ignored.String(), "ignored"},
		{Outcome(9).String(), "outcome(9)"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestBreakerTriggers(t *testing.T) {
	const slow = 2 * time.Second
	tests := []struct {
		name       string
		settings   Settings
		calls      []call
		want       State
		wantReason string
	}{
		{
			name:     "consecutive failures below the limit stay closed",
			settings: Settings{OpenFor: time.Minute, ConsecutiveFailures: 5},
			calls:    calls(4, Failure, 0),
			want:     Closed,
		},
		{
			name:       "consecutive failures at the limit open",
			settings:   Settings{OpenFor: time.Minute, ConsecutiveFailures: 5},
			calls:      calls(5, Failure, 0),
			want:       Open,
			wantReason: "5 consecutive failures",
		},
		{
			name:     "a success breaks the run",
			settings: Settings{OpenFor: time.Minute, ConsecutiveFailures: 5},
			calls:    concat(calls(4, Failure, 0), calls(1, Success, 0), calls(4, Failure, 0)),
			want:     Closed,
		},
		{
			name:       "an ignored call neither counts nor breaks the run",
			settings:   Settings{OpenFor: time.Minute, ConsecutiveFailures: 3},
			calls:      concat(calls(2, Failure, 0), calls(10, Ignored, 0), calls(1, Failure, 0)),
			want:       Open,
			wantReason: "3 consecutive failures",
		},
		{
			name:     "failure ratio is gated by min requests",
			settings: Settings{OpenFor: time.Minute, FailureRatio: 0.5, Window: 10 * time.Second, MinRequests: 20},
			calls:    calls(19, Failure, 0),
			want:     Closed,
		},
		{
			name:       "failure ratio at the threshold with min requests opens",
			settings:   Settings{OpenFor: time.Minute, FailureRatio: 0.5, Window: 10 * time.Second, MinRequests: 20},
			calls:      concat(calls(10, Success, 0), calls(10, Failure, 0)),
			want:       Open,
			wantReason: "failure ratio 50% of 20 calls in 10s",
		},
		{
			name:     "failure ratio below the threshold stays closed",
			settings: Settings{OpenFor: time.Minute, FailureRatio: 0.5, Window: 10 * time.Second, MinRequests: 20},
			calls:    concat(calls(11, Success, 0), calls(9, Failure, 0)),
			want:     Closed,
		},
		{
			name:       "reaching min requests with a success can open on ratio",
			settings:   Settings{OpenFor: time.Minute, FailureRatio: 0.6, Window: 10 * time.Second, MinRequests: 40},
			calls:      concat(calls(25, Failure, 0), calls(15, Success, 0)),
			want:       Open,
			wantReason: "failure ratio 62% of 40 calls in 10s",
		},
		{
			name:     "ignored calls do not count toward min requests",
			settings: Settings{OpenFor: time.Minute, FailureRatio: 0.5, Window: 10 * time.Second, MinRequests: 4},
			calls:    concat(calls(3, Failure, 0), calls(5, Ignored, 0)),
			want:     Closed,
		},
		{
			name:     "failure ratio without a window is off",
			settings: Settings{OpenFor: time.Minute, FailureRatio: 0.5, MinRequests: 1},
			calls:    calls(50, Failure, 0),
			want:     Closed,
		},
		{
			name:       "slow successes open on slow call ratio",
			settings:   Settings{OpenFor: time.Minute, SlowCallRatio: 0.5, SlowCallDuration: time.Second, Window: 10 * time.Second, MinRequests: 4},
			calls:      concat(calls(2, Success, time.Second), calls(2, Success, slow)),
			want:       Open,
			wantReason: "slow call ratio 50% of 4 calls in 10s (slower than 1s)",
		},
		{
			name:     "a call of exactly SlowCallDuration is not slow",
			settings: Settings{OpenFor: time.Minute, SlowCallRatio: 0.5, SlowCallDuration: time.Second, Window: 10 * time.Second, MinRequests: 4},
			calls:    calls(10, Success, time.Second),
			want:     Closed,
		},
		{
			name:     "slow call ratio is gated by min requests",
			settings: Settings{OpenFor: time.Minute, SlowCallRatio: 0.5, SlowCallDuration: time.Second, Window: 10 * time.Second, MinRequests: 10},
			calls:    calls(9, Success, slow),
			want:     Closed,
		},
		{
			name:     "failures do not trip the slow call ratio",
			settings: Settings{OpenFor: time.Minute, SlowCallRatio: 0.5, SlowCallDuration: time.Second, Window: 10 * time.Second, MinRequests: 4},
			calls:    calls(10, Failure, 0),
			want:     Closed,
		},
		{
			name:     "slow calls do not trip the failure ratio",
			settings: Settings{OpenFor: time.Minute, FailureRatio: 0.5, SlowCallDuration: time.Second, Window: 10 * time.Second, MinRequests: 4},
			calls:    calls(10, Success, slow),
			want:     Closed,
		},
		{
			name:     "zero settings never open",
			settings: Settings{},
			calls:    calls(1000, Failure, time.Hour),
			want:     Closed,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := New(tc.settings)
				run(t, b, tc.calls)
				s := wantState(t, b, tc.want)
				if s.Reason != tc.wantReason {
					t.Errorf("Reason = %q, want %q", s.Reason, tc.wantReason)
				}
				if tc.want == Open {
					if s.Opens != 1 {
						t.Errorf("Opens = %d, want 1", s.Opens)
					}
					reject(t, b, ErrOpen)
				}
			})
		})
	}
}

func TestBreakerStaysOpenForExactlyOpenFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(Settings{ConsecutiveFailures: 1, OpenFor: 5 * time.Second, MaxOpenFor: time.Minute, HalfOpenProbes: 1})
		opened := time.Now()
		openWith(t, b)

		s := b.Snapshot()
		if !s.Since.Equal(opened) || !s.Until.Equal(opened.Add(5*time.Second)) {
			t.Fatalf("Since, Until = %v, %v; want %v, %v", s.Since, s.Until, opened, opened.Add(5*time.Second))
		}
		if got := b.RetryAfter(); got != 5*time.Second {
			t.Fatalf("RetryAfter() = %v, want 5s", got)
		}

		time.Sleep(5*time.Second - time.Millisecond)
		reject(t, b, ErrOpen)
		wantState(t, b, Open)
		if got := b.RetryAfter(); got != time.Millisecond {
			t.Fatalf("RetryAfter() at 4.999s = %v, want 1ms", got)
		}

		time.Sleep(time.Millisecond)
		if got := b.RetryAfter(); got != 0 {
			t.Fatalf("RetryAfter() at 5s = %v, want 0", got)
		}
		s = wantState(t, b, HalfOpen)
		if want := opened.Add(5 * time.Second); !s.Since.Equal(want) || !s.Until.IsZero() {
			t.Fatalf("half-open Since, Until = %v, %v; want %v, zero", s.Since, s.Until, want)
		}
		tok := allow(t, b)
		if !tok.Probe() {
			t.Fatal("the call after the open period is not a probe")
		}
		reject(t, b, ErrTooManyProbes)
		b.Done(tok, Success, 0)
		s = wantState(t, b, Closed)
		if s.Opens != 1 || s.ConsecutiveFailures != 0 {
			t.Fatalf("after closing: %+v, want Opens 1 and no failures", s)
		}
	})
}

func TestBreakerHalfOpenSinceIsWhenOpenEnded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(Settings{ConsecutiveFailures: 1, OpenFor: 5 * time.Second})
		openWith(t, b)
		ended := time.Now().Add(5 * time.Second)
		// Nobody looks until well after the open period.
		time.Sleep(time.Minute)
		if s := wantState(t, b, HalfOpen); !s.Since.Equal(ended) {
			t.Fatalf("Since = %v, want %v, when the open period ended", s.Since, ended)
		}
	})
}

func TestBreakerOpenRejectsWithoutSideEffects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(Settings{ConsecutiveFailures: 2, FailureRatio: 0.5, Window: 10 * time.Second, OpenFor: time.Second})
		openWith(t, b)
		before := b.Snapshot()
		for range 100 {
			reject(t, b, ErrOpen)
		}
		if after := b.Snapshot(); after != before {
			t.Fatalf("rejected calls changed the breaker:\nbefore %+v\nafter  %+v", before, after)
		}
	})
}

func TestBreakerWindowForgetsOldFailures(t *testing.T) {
	tests := []struct {
		name          string
		after         time.Duration // from the failures to the successes
		wantState     State
		wantCalls     int
		wantFailures  int
		wantSlowCalls int
	}{
		// At 9.999s the failures' bucket is still inside the window: five
		// successes make 10 calls at 50% failures and open.
		{"failures inside the window count", 10*time.Second - time.Millisecond, Open, 10, 5, 5},
		// At 10s the window has rolled past them.
		{"failures a window ago are forgotten", 10 * time.Second, Closed, 5, 0, 0},
		{"failures long ago are forgotten", time.Hour, Closed, 5, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := New(Settings{FailureRatio: 0.5, SlowCallDuration: time.Second, Window: 10 * time.Second, MinRequests: 10, OpenFor: time.Minute})
				run(t, b, calls(5, Failure, 2*time.Second))
				time.Sleep(tc.after)
				run(t, b, calls(5, Success, 0))
				s := wantState(t, b, tc.wantState)
				if s.WindowCalls != tc.wantCalls || s.WindowFailures != tc.wantFailures || s.WindowSlow != tc.wantSlowCalls {
					t.Fatalf("window calls/failures/slow = %d/%d/%d, want %d/%d/%d",
						s.WindowCalls, s.WindowFailures, s.WindowSlow, tc.wantCalls, tc.wantFailures, tc.wantSlowCalls)
				}
			})
		})
	}
}

func TestBreakerWindowRollsBucketByBucket(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(Settings{FailureRatio: 0.9, Window: 10 * time.Second, MinRequests: 1000})
		// One failure at the start of each of the first five seconds.
		for range 5 {
			run(t, b, calls(1, Failure, 0))
			time.Sleep(time.Second)
		}
		time.Sleep(4*time.Second + 999*time.Millisecond) // 9.999s
		if got := b.Snapshot().WindowFailures; got != 5 {
			t.Fatalf("at 9.999s WindowFailures = %d, want 5", got)
		}
		for want := 4; want >= 0; want-- {
			time.Sleep(time.Millisecond)
			if got := b.Snapshot().WindowFailures; got != want {
				t.Fatalf("at %v WindowFailures = %d, want %d", 10*time.Second+time.Duration(4-want)*time.Second, got, want)
			}
			time.Sleep(time.Second - time.Millisecond)
		}
	})
}

func TestBreakerBackoffDoublesAndCaps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(Settings{ConsecutiveFailures: 1, OpenFor: time.Second, MaxOpenFor: 5 * time.Second, HalfOpenProbes: 1})
		openWith(t, b)
		for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
			s := wantState(t, b, Open)
			if got := s.Until.Sub(s.Since); got != want {
				t.Fatalf("open period %d = %v, want %v", i+1, got, want)
			}
			if s.Opens != uint64(i+1) {
				t.Fatalf("Opens = %d, want %d", s.Opens, i+1)
			}
			time.Sleep(b.RetryAfter())
			b.Done(allow(t, b), Failure, 0)
		}
		s := wantState(t, b, Open)
		if want := "half-open probe failed (first opened on 1 consecutive failures)"; s.Reason != want {
			t.Fatalf("Reason = %q, want %q", s.Reason, want)
		}

		// A successful probe closes and resets the backoff.
		time.Sleep(b.RetryAfter())
		b.Done(allow(t, b), Success, 0)
		wantState(t, b, Closed)
		openWith(t, b)
		if s := b.Snapshot(); s.Until.Sub(s.Since) != time.Second {
			t.Fatalf("open period after closing = %v, want 1s", s.Until.Sub(s.Since))
		}
	})
}

func TestOpenPeriod(t *testing.T) {
	tests := []struct {
		name  string
		s     Settings
		level int
		want  time.Duration
	}{
		{"first opening", Settings{OpenFor: time.Second, MaxOpenFor: time.Minute}, 0, time.Second},
		{"doubled", Settings{OpenFor: time.Second, MaxOpenFor: time.Minute}, 3, 8 * time.Second},
		{"capped", Settings{OpenFor: time.Second, MaxOpenFor: time.Minute}, 6, time.Minute},
		{"no overflow at the largest level", Settings{OpenFor: time.Second, MaxOpenFor: time.Minute}, maxLevel, time.Minute},
		{"cap not above OpenFor turns doubling off", Settings{OpenFor: time.Second}, 5, time.Second},
		{"zero OpenFor stays zero", Settings{MaxOpenFor: time.Minute}, maxLevel, 0},
		{"negative OpenFor is zero", Settings{OpenFor: -time.Second}, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.openPeriod(tc.level); got != tc.want {
				t.Fatalf("openPeriod(%d) = %v, want %v", tc.level, got, tc.want)
			}
		})
	}
}

func TestBreakerZeroOpenForProbesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(Settings{ConsecutiveFailures: 1})
		b.Done(allow(t, b), Failure, 0)
		if tok := allow(t, b); !tok.Probe() {
			t.Fatal("with OpenFor 0 the next call is not a probe")
		}
		reject(t, b, ErrTooManyProbes) // HalfOpenProbes 0 means 1
	})
}

func TestBreakerHalfOpenProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(Settings{ConsecutiveFailures: 1, FailureRatio: 0.5, Window: 10 * time.Second, OpenFor: time.Second, MaxOpenFor: time.Minute, HalfOpenProbes: 3})
		openWith(t, b)
		time.Sleep(time.Second)

		p1, p2, p3 := allow(t, b), allow(t, b), allow(t, b)
		reject(t, b, ErrTooManyProbes)
		if got := b.Snapshot().ProbesInFlight; got != 3 {
			t.Fatalf("ProbesInFlight = %d, want 3", got)
		}

		// An ignored probe frees its slot without counting.
		b.Done(p1, Ignored, 0)
		p4 := allow(t, b)
		reject(t, b, ErrTooManyProbes)

		// Successes also free slots, but the breaker stays half-open until
		// HalfOpenProbes of them have succeeded.
		b.Done(p2, Success, 0)
		b.Done(p3, Success, 0)
		wantState(t, b, HalfOpen)
		p5 := allow(t, b)
		b.Done(p4, Success, 0)
		s := wantState(t, b, Closed)
		if s.WindowCalls != 0 || s.WindowFailures != 0 || s.ConsecutiveFailures != 0 {
			t.Fatalf("closing left counts behind: %+v", s)
		}
		if s.ProbesInFlight != 1 {
			t.Fatalf("ProbesInFlight = %d, want 1 (p5)", s.ProbesInFlight)
		}
		// p5 belongs to the half-open period: its late failure does not
		// reopen the closed breaker, but it does give its slot back.
		b.Done(p5, Failure, 0)
		s = wantState(t, b, Closed)
		if s.ProbesInFlight != 0 || s.ConsecutiveFailures != 0 {
			t.Fatalf("late probe counted: %+v", s)
		}
	})
}

func TestBreakerAnyFailedProbeReopens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(Settings{ConsecutiveFailures: 1, OpenFor: time.Second, MaxOpenFor: time.Minute, HalfOpenProbes: 3})
		openWith(t, b)
		time.Sleep(time.Second)
		p1, p2, p3 := allow(t, b), allow(t, b), allow(t, b)
		b.Done(p1, Success, 0)
		b.Done(p2, Success, 0)
		b.Done(p3, Failure, 0)
		s := wantState(t, b, Open)
		if got := s.Until.Sub(s.Since); got != 2*time.Second {
			t.Fatalf("reopened for %v, want 2s", got)
		}
	})
}

func TestBreakerSlowProbeFailsOnlyWithSlowTrigger(t *testing.T) {
	tests := []struct {
		name     string
		settings Settings
		want     State
	}{
		{"slow trigger on", Settings{ConsecutiveFailures: 1, SlowCallRatio: 0.5, SlowCallDuration: time.Second, Window: 10 * time.Second, OpenFor: time.Second}, Open},
		{"slow trigger off", Settings{ConsecutiveFailures: 1, SlowCallDuration: time.Second, Window: 10 * time.Second, OpenFor: time.Second}, Closed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := New(tc.settings)
				openWith(t, b)
				time.Sleep(time.Second)
				b.Done(allow(t, b), Success, 2*time.Second)
				wantState(t, b, tc.want)
			})
		})
	}
}

func TestBreakerIgnoresStaleGenerations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(Settings{ConsecutiveFailures: 3, OpenFor: time.Second, MaxOpenFor: time.Minute, HalfOpenProbes: 2})

		// Calls that started while closed report after the breaker opened:
		// their outcomes are dropped.
		early := []Token{allow(t, b), allow(t, b), allow(t, b)}
		openWith(t, b)
		before := b.Snapshot()
		for _, tok := range early {
			b.Done(tok, Success, 0)
		}
		if after := b.Snapshot(); after != before {
			t.Fatalf("stale successes changed an open breaker:\nbefore %+v\nafter  %+v", before, after)
		}

		// A probe from a failed half-open period still holds its slot in the
		// next one, and gives it back when it ends, without counting.
		time.Sleep(time.Second)
		a, stale := allow(t, b), allow(t, b)
		b.Done(a, Failure, 0)
		wantState(t, b, Open)
		time.Sleep(2 * time.Second)
		c := allow(t, b)
		reject(t, b, ErrTooManyProbes)
		if got := b.Snapshot().ProbesInFlight; got != 2 {
			t.Fatalf("ProbesInFlight = %d, want 2 (stale + c)", got)
		}
		b.Done(stale, Success, 0)
		d := allow(t, b)
		b.Done(c, Success, 0)
		wantState(t, b, HalfOpen) // stale's success did not count
		b.Done(d, Success, 0)
		wantState(t, b, Closed)

		// A closed-generation call from before the close is dropped too.
		old := allow(t, b)
		b.Done(allow(t, b), Failure, 0)
		b.Done(allow(t, b), Failure, 0)
		openWith(t, b) // third failure opens
		time.Sleep(time.Second)
		b.Done(allow(t, b), Success, 0)
		b.Done(allow(t, b), Success, 0)
		wantState(t, b, Closed)
		b.Done(old, Failure, 0)
		if s := b.Snapshot(); s.ConsecutiveFailures != 0 {
			t.Fatalf("stale failure counted: %+v", s)
		}

		// The zero Token is never current.
		b.Done(Token{}, Failure, 0)
		b.Done(Token{}, Failure, 0)
		b.Done(Token{}, Failure, 0)
		wantState(t, b, Closed)
	})
}

func TestBreakerIgnoredAndUnknownOutcomesDoNotCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(Settings{ConsecutiveFailures: 1, FailureRatio: 0.1, Window: 10 * time.Second})
		for _, o := range []Outcome{Ignored, Outcome(42), Outcome(-1)} {
			b.Done(allow(t, b), o, time.Hour)
		}
		s := wantState(t, b, Closed)
		if s.WindowCalls != 0 || s.ConsecutiveFailures != 0 {
			t.Fatalf("ignored outcomes counted: %+v", s)
		}
	})
}

func TestBreakerUpdateKeepsState(t *testing.T) {
	t.Run("open stays open until the same moment and reopens with the new settings", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := New(Settings{ConsecutiveFailures: 1, OpenFor: 5 * time.Second, MaxOpenFor: time.Minute})
			openWith(t, b)
			before := b.Snapshot()
			b.Update(Settings{ConsecutiveFailures: 1, OpenFor: 2 * time.Second, MaxOpenFor: 3 * time.Second, HalfOpenProbes: 1})
			if after := b.Snapshot(); after != before {
				t.Fatalf("Update changed an open breaker:\nbefore %+v\nafter  %+v", before, after)
			}
			time.Sleep(5*time.Second - time.Nanosecond)
			reject(t, b, ErrOpen)
			time.Sleep(time.Nanosecond)
			b.Done(allow(t, b), Failure, 0)
			// Level 1 under the new settings: 2s doubled, capped at 3s.
			if s := wantState(t, b, Open); s.Until.Sub(s.Since) != 3*time.Second {
				t.Fatalf("reopened for %v, want 3s", s.Until.Sub(s.Since))
			}
		})
	})
	t.Run("closed keeps its counts and calls in flight", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := New(Settings{ConsecutiveFailures: 10, FailureRatio: 0.9, Window: 10 * time.Second, MinRequests: 100, OpenFor: time.Second})
			inflight := allow(t, b)
			run(t, b, calls(3, Failure, 0))
			b.Update(Settings{ConsecutiveFailures: 4, FailureRatio: 0.9, Window: 10 * time.Second, MinRequests: 100, OpenFor: time.Second})
			s := wantState(t, b, Closed)
			if s.ConsecutiveFailures != 3 || s.WindowCalls != 3 || s.WindowFailures != 3 {
				t.Fatalf("Update lost counts: %+v", s)
			}
			b.Done(inflight, Failure, 0)
			if s := wantState(t, b, Open); s.Reason != "4 consecutive failures" {
				t.Fatalf("Reason = %q", s.Reason)
			}
		})
	})
	t.Run("a new window starts empty", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := New(Settings{FailureRatio: 0.9, Window: 10 * time.Second, MinRequests: 100})
			run(t, b, calls(3, Failure, 0))
			b.Update(Settings{FailureRatio: 0.9, Window: 20 * time.Second, MinRequests: 100})
			if s := b.Snapshot(); s.WindowCalls != 0 {
				t.Fatalf("WindowCalls = %d after a new Window, want 0", s.WindowCalls)
			}
			run(t, b, calls(1, Failure, 0))
			time.Sleep(19*time.Second + 999*time.Millisecond)
			if s := b.Snapshot(); s.WindowCalls != 1 {
				t.Fatalf("WindowCalls = %d at 19.999s of a 20s window, want 1", s.WindowCalls)
			}
		})
	})
	t.Run("fewer probes close a half-open breaker that has enough", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := Settings{ConsecutiveFailures: 1, OpenFor: time.Second, HalfOpenProbes: 3}
			b := New(s)
			openWith(t, b)
			time.Sleep(time.Second)
			b.Done(allow(t, b), Success, 0)
			b.Done(allow(t, b), Success, 0)
			wantState(t, b, HalfOpen)
			s.HalfOpenProbes = 2
			b.Update(s)
			wantState(t, b, Closed)
		})
	})
}

func TestNilBreakerAllowsEverything(t *testing.T) {
	var b *Breaker
	for range 10 {
		tok, err := b.Allow()
		if err != nil {
			t.Fatalf("nil Breaker: Allow() = %v", err)
		}
		b.Done(tok, Failure, time.Hour)
	}
	b.Update(Settings{ConsecutiveFailures: 1})
	if s := b.Snapshot(); s.State != Closed {
		t.Fatalf("nil Breaker: state %v", s.State)
	}
	if got := b.RetryAfter(); got != 0 {
		t.Fatalf("nil Breaker: RetryAfter() = %v", got)
	}
}

// TestBreakerConcurrentAllowDone hammers one breaker from many goroutines
// with real time and a short open period, so it cycles through every state
// while the race detector watches. It checks the invariants that must hold
// under any interleaving: never more probes in flight than HalfOpenProbes,
// and every slot given back once all calls have ended.
func TestBreakerConcurrentAllowDone(t *testing.T) {
	const probes = 3
	b := New(Settings{
		ConsecutiveFailures: 3,
		FailureRatio:        0.5,
		SlowCallRatio:       0.5,
		SlowCallDuration:    time.Millisecond,
		Window:              50 * time.Millisecond,
		MinRequests:         10,
		OpenFor:             100 * time.Microsecond,
		MaxOpenFor:          time.Millisecond,
		HalfOpenProbes:      probes,
	})
	var (
		inflight, maxInflight atomic.Int64
		allowed, rejected     atomic.Int64
		wg                    sync.WaitGroup
	)
	for g := range 32 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range 2000 {
				tok, err := b.Allow()
				if err != nil {
					if !errors.Is(err, ErrOpen) && !errors.Is(err, ErrTooManyProbes) {
						t.Errorf("Allow() = %v", err)
					}
					rejected.Add(1)
					continue
				}
				allowed.Add(1)
				if tok.Probe() {
					// Counted after Allow and uncounted before Done, so it
					// can only be lower than the breaker's own count.
					n := inflight.Add(1)
					for {
						m := maxInflight.Load()
						if n <= m || maxInflight.CompareAndSwap(m, n) {
							break
						}
					}
					inflight.Add(-1)
				}
				o := Outcome(rng.IntN(3))
				b.Done(tok, o, time.Duration(rng.IntN(2))*2*time.Millisecond)
				if i%100 == 0 {
					_ = b.Snapshot()
					_ = b.RetryAfter()
				}
			}
		})
	}
	wg.Wait()
	if m := maxInflight.Load(); m > probes {
		t.Errorf("%d probes in flight at once, want at most %d", m, probes)
	}
	s := b.Snapshot()
	if s.ProbesInFlight != 0 {
		t.Errorf("ProbesInFlight = %d after every call ended, want 0", s.ProbesInFlight)
	}
	if s.Opens == 0 || allowed.Load() == 0 || rejected.Load() == 0 {
		t.Errorf("the run did not exercise the breaker: %d opens, %d allowed, %d rejected", s.Opens, allowed.Load(), rejected.Load())
	}
}

func TestAllowDoneDoNotAllocate(t *testing.T) {
	b := New(Settings{ConsecutiveFailures: 5, FailureRatio: 0.5, SlowCallRatio: 0.5, SlowCallDuration: time.Second, Window: 10 * time.Second, MinRequests: 20, OpenFor: time.Second, MaxOpenFor: time.Minute, HalfOpenProbes: 3})
	allocs := testing.AllocsPerRun(1000, func() {
		tok, err := b.Allow()
		if err != nil {
			panic(err)
		}
		b.Done(tok, Success, time.Millisecond)
	})
	if allocs != 0 {
		t.Fatalf("Allow+Done allocate %v times per call, want 0", allocs)
	}
}

func BenchmarkAllowDone(b *testing.B) {
	br := New(Settings{ConsecutiveFailures: 5, FailureRatio: 0.5, SlowCallRatio: 0.5, SlowCallDuration: time.Second, Window: 10 * time.Second, MinRequests: 20, OpenFor: time.Second, MaxOpenFor: time.Minute, HalfOpenProbes: 3})
	b.ReportAllocs()
	for b.Loop() {
		tok, err := br.Allow()
		if err != nil {
			b.Fatal(err)
		}
		br.Done(tok, Success, time.Millisecond)
	}
}

func BenchmarkAllowDoneParallel(b *testing.B) {
	br := New(Settings{ConsecutiveFailures: 5, FailureRatio: 0.5, SlowCallRatio: 0.5, SlowCallDuration: time.Second, Window: 10 * time.Second, MinRequests: 20, OpenFor: time.Second, MaxOpenFor: time.Minute, HalfOpenProbes: 3})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tok, err := br.Allow()
			if err != nil {
				b.Error(err)
				return
			}
			br.Done(tok, Success, time.Millisecond)
		}
	})
}

func BenchmarkAllowOpen(b *testing.B) {
	br := New(Settings{ConsecutiveFailures: 1, OpenFor: time.Hour})
	tok, _ := br.Allow()
	br.Done(tok, Failure, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.Allow(); err != ErrOpen {
			b.Fatal(err)
		}
	}
}
