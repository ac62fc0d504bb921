package health

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// These tests drive the state machine through a scripted probe inside a
// synctest bubble, so every interval and deadline is exact. The probe
// itself is tested against real servers in probe_test.go.

// script is a fake network: each address passes or fails as told, or hangs
// until its probe is cut short.
type script struct {
	mu       sync.Mutex
	pass     map[string]bool
	hang     map[string]bool
	probes   map[string]int // started
	cut      map[string]int // cut short by their context
	lastSpec Spec
}

func newScript() *script {
	return &script{pass: map[string]bool{}, hang: map[string]bool{}, probes: map[string]int{}, cut: map[string]int{}}
}

func (s *script) set(addr string, pass bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pass[addr] = pass
}

func (s *script) setHang(addr string, hang bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang[addr] = hang
}

func (s *script) count(addr string) (probes, cut int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.probes[addr], s.cut[addr]
}

func (s *script) spec() Spec {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastSpec
}

func (s *script) probe(ctx context.Context, addr string, spec Spec) result {
	s.mu.Lock()
	s.probes[addr]++
	s.lastSpec = spec
	pass, hang := s.pass[addr], s.hang[addr]
	s.mu.Unlock()
	if hang {
		<-ctx.Done()
		s.mu.Lock()
		s.cut[addr]++
		s.mu.Unlock()
		return result{err: "cut short"}
	}
	if pass {
		return result{ok: true, status: 200}
	}
	return result{status: 503, err: "status 503"}
}

// recorder collects onChange calls. It also reads the checker back from
// inside the callback, which would deadlock if the callback ran with the
// checker's lock held.
type recorder struct {
	mu     sync.Mutex
	c      *Checker
	events []string
	bad    []string
}

func (r *recorder) onChange(addr string, s State) {
	got := r.c.State(addr)
	_ = r.c.Status()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, addr+" "+s.String())
	if got != s {
		r.bad = append(r.bad, "onChange("+addr+", "+s.String()+") but State says "+got.String())
	}
}

func (r *recorder) take(t *testing.T) []string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.bad {
		t.Error(b)
	}
	ev := r.events
	r.events, r.bad = nil, nil
	return ev
}

// newScripted returns a checker whose probes follow s, without jitter.
func newScripted(t *testing.T, spec Spec, s *script) (*Checker, *recorder) {
	t.Helper()
	r := &recorder{}
	c := New("api", spec, nil, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})), r.onChange)
	r.c = c
	c.probe = s.probe
	c.jitter = func(d time.Duration) time.Duration { return d }
	return c, r
}

func TestStateMachineFollowsRiseAndFall(t *testing.T) {
	const P, F = true, false
	U, D, X := Up, Down, Unknown
	tests := []struct {
		name       string
		rise, fall int
		results    []bool
		states     []State // after each result
		events     []string
	}{
		{name: "unknown goes up only after rise passes", rise: 3, fall: 3,
			results: []bool{P, P, P, P}, states: []State{X, X, U, U}, events: []string{"a up"}},
		{name: "rise 1 goes up on the first pass", rise: 1, fall: 3,
			results: []bool{P}, states: []State{U}, events: []string{"a up"}},
		{name: "unknown goes down after fall failures", rise: 2, fall: 2,
			results: []bool{F, F, F}, states: []State{X, D, D}, events: []string{"a down"}},
		{name: "up goes down after fall failures in a row", rise: 1, fall: 3,
			results: []bool{P, F, F, F}, states: []State{U, U, U, D}, events: []string{"a up", "a down"}},
		{name: "a pass resets the failure run", rise: 1, fall: 2,
			results: []bool{P, F, P, F, P, F}, states: []State{U, U, U, U, U, U}, events: []string{"a up"}},
		{name: "down goes up after rise passes", rise: 2, fall: 1,
			results: []bool{F, P, P, F}, states: []State{D, D, U, D}, events: []string{"a down", "a up", "a down"}},
		{name: "a failure resets the pass run", rise: 2, fall: 3,
			results: []bool{F, F, F, P, F, P, P}, states: []State{X, X, D, D, D, D, U}, events: []string{"a down", "a up"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newScript()
				c, rec := newScripted(t, Spec{Interval: time.Second, Rise: tt.rise, Fall: tt.fall}, s)
				c.Start(t.Context())
				defer c.Stop()
				for i, res := range tt.results {
					s.set("a", res)
					if i == 0 {
						c.Sync([]string{"a"})
					} else {
						time.Sleep(time.Second)
					}
					synctest.Wait()
					if n, _ := s.count("a"); n != i+1 {
						t.Fatalf("after %d intervals: %d probes, want %d", i, n, i+1)
					}
					if got := c.State("a"); got != tt.states[i] {
						t.Errorf("after result %d (%v): state %v, want %v", i, res, got, tt.states[i])
					}
				}
				if got := rec.take(t); !slices.Equal(got, tt.events) {
					t.Errorf("onChange calls %q, want %q", got, tt.events)
				}
			})
		})
	}
}

func TestStatusReportsLastProbeAndCounters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScript()
		c, _ := newScripted(t, Spec{Interval: time.Second, Rise: 1, Fall: 2}, s)
		c.Start(t.Context())
		defer c.Stop()
		added := time.Now()
		s.set("b", true)
		c.Sync([]string{"b", "a"})
		synctest.Wait()
		time.Sleep(time.Second)
		synctest.Wait()
		s.set("b", false)
		time.Sleep(time.Second)
		synctest.Wait()

		got := c.Status()
		want := []TargetStatus{
			{Address: "a", State: Down, Since: added.Add(time.Second), LastCheck: added.Add(2 * time.Second),
				LastStatus: 503, LastError: "status 503", ConsecutiveFail: 3},
			{Address: "b", State: Up, Since: added, LastCheck: added.Add(2 * time.Second),
				LastStatus: 503, LastError: "status 503", ConsecutiveFail: 1},
		}
		if !slices.Equal(got, want) {
			t.Errorf("Status() =\n%+v\nwant\n%+v", got, want)
		}
		if st := c.State("nowhere"); st != Unknown {
			t.Errorf("State of an address never synced = %v, want unknown", st)
		}
	})
}

func TestSyncKeepsStateOfKeptTargetsAndStopsRemovedOnes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScript()
		c, rec := newScripted(t, Spec{Interval: 10 * time.Second, Rise: 1, Fall: 1}, s)
		c.Start(t.Context())
		defer c.Stop()
		s.set("a", true)
		s.set("b", true)
		c.Sync([]string{"a", "b"})
		synctest.Wait()
		bSince := c.Status()[1].Since
		rec.take(t)

		time.Sleep(3 * time.Second)
		s.set("c", true)
		c.Sync([]string{"b", "c", "b"})
		synctest.Wait()
		// c is probed at once, not an interval later.
		if n, _ := s.count("c"); n != 1 {
			t.Errorf("new target probed %d times right after Sync, want 1", n)
		}
		if got := rec.take(t); !slices.Equal(got, []string{"c up"}) {
			t.Errorf("onChange calls %q, want only c going up", got)
		}
		st := c.Status()
		if len(st) != 2 || st[0].Address != "b" || st[1].Address != "c" {
			t.Fatalf("Status() after Sync = %+v, want b and c", st)
		}
		if st[0].State != Up || !st[0].Since.Equal(bSince) || st[0].ConsecutivePass != 1 {
			t.Errorf("kept target b = %+v, want still up since %v with its pass count", st[0], bSince)
		}
		if got := c.State("a"); got != Unknown {
			t.Errorf("removed target state = %v, want unknown", got)
		}

		// b keeps its schedule (probe at 10s, not 3s+10s); a is never probed again.
		time.Sleep(7 * time.Second)
		synctest.Wait()
		if n, _ := s.count("b"); n != 2 {
			t.Errorf("kept target probed %d times by 10s, want 2", n)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if n, _ := s.count("a"); n != 1 {
			t.Errorf("removed target probed %d times, want 1 (only before removal)", n)
		}

		// Re-adding a target starts it afresh.
		s.set("a", false)
		c.Sync([]string{"a", "b", "c"})
		synctest.Wait()
		if st := c.Status()[0]; st.Address != "a" || st.State != Down || st.ConsecutivePass != 0 || st.ConsecutiveFail != 1 {
			t.Errorf("re-added target = %+v, want a fresh target that failed once", st)
		}
	})
}

func TestSyncCutsShortAProbeOfARemovedTarget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScript()
		c, rec := newScripted(t, Spec{Interval: time.Second, Rise: 1, Fall: 1}, s)
		c.Start(t.Context())
		defer c.Stop()
		s.setHang("a", true)
		c.Sync([]string{"a"})
		synctest.Wait()
		c.Sync(nil)
		synctest.Wait()
		if probes, cut := s.count("a"); probes != 1 || cut != 1 {
			t.Errorf("probes=%d cut=%d, want the one probe started and cut short", probes, cut)
		}
		if got := rec.take(t); len(got) != 0 {
			t.Errorf("onChange calls %q for a removed target, want none", got)
		}
		if len(c.Status()) != 0 {
			t.Errorf("Status() = %+v after removing every target", c.Status())
		}
	})
}

func TestSyncBeforeStartProbesOnlyOnceStarted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScript()
		c, _ := newScripted(t, Spec{Interval: time.Second}, s)
		defer c.Stop()
		c.Sync([]string{"a"})
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if n, _ := s.count("a"); n != 0 {
			t.Fatalf("probed %d times before Start", n)
		}
		if st := c.Status(); len(st) != 1 || st[0].State != Unknown {
			t.Errorf("Status() before Start = %+v, want a unknown", st)
		}
		c.Start(t.Context())
		synctest.Wait()
		if n, _ := s.count("a"); n != 1 {
			t.Errorf("probed %d times right after Start, want 1", n)
		}
	})
}

func TestUpdateAppliesNewSpecAndKeepsState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScript()
		c, rec := newScripted(t, Spec{Path: "/old", Interval: 10 * time.Second, Rise: 3, Fall: 1}, s)
		c.Start(t.Context())
		defer c.Stop()
		s.set("a", true)
		s.set("b", false)
		c.Sync([]string{"a", "b"})
		synctest.Wait()
		if c.State("a") != Unknown || c.State("b") != Down {
			t.Fatalf("before Update: a %v, b %v; want unknown, down", c.State("a"), c.State("b"))
		}
		rec.take(t)

		// A shorter interval takes effect in the current wait; a lower rise
		// applies to the pass already counted plus the next one.
		c.Update(Spec{Path: "/new", Interval: time.Second, Rise: 2, Fall: 1})
		synctest.Wait()
		if n, _ := s.count("a"); n != 1 {
			t.Fatalf("Update alone triggered a probe: %d probes", n)
		}
		if c.State("b") != Down {
			t.Errorf("Update reset b to %v, want it still down", c.State("b"))
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n, _ := s.count("a"); n != 2 {
			t.Fatalf("probes by 1s after Update to a 1s interval: %d, want 2", n)
		}
		if got := s.spec().Path; got != "/new" {
			t.Errorf("probe after Update used path %q, want /new", got)
		}
		if c.State("a") != Up {
			t.Errorf("a = %v after 2 passes with rise 2, want up", c.State("a"))
		}
		if got := rec.take(t); !slices.Equal(got, []string{"a up"}) {
			t.Errorf("onChange calls %q, want only a up", got)
		}

		// A longer interval also applies to the wait under way.
		c.Update(Spec{Interval: time.Minute, Rise: 2, Fall: 1})
		time.Sleep(59 * time.Second)
		synctest.Wait()
		if n, _ := s.count("a"); n != 2 {
			t.Errorf("probes 59s into a 1m interval: %d, want still 2", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n, _ := s.count("a"); n != 3 {
			t.Errorf("probes after the 1m interval: %d, want 3", n)
		}
		if got := s.spec().Path; got != "/health" {
			t.Errorf("Update with no path probes %q, want the default /health", got)
		}
	})
}

func TestSlowProbeStartsNextOneWithoutWaitingAnotherInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScript()
		c, _ := newScripted(t, Spec{Interval: time.Second}, s)
		// The probe takes 3s, longer than the interval.
		c.probe = func(ctx context.Context, addr string, spec Spec) result {
			s.probe(ctx, addr, spec)
			time.Sleep(3 * time.Second)
			return result{ok: true, status: 200}
		}
		c.Start(t.Context())
		defer c.Stop()
		c.Sync([]string{"a"})
		time.Sleep(3*time.Second + time.Millisecond)
		synctest.Wait()
		if n, _ := s.count("a"); n != 2 {
			t.Errorf("probes started by 3s: %d, want 2 (the second right after the first ended)", n)
		}
	})
}

func TestWaitHealthyReturnsOnceEveryTargetIsUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScript()
		c, _ := newScripted(t, Spec{Interval: time.Second, Rise: 2}, s)
		c.Start(t.Context())
		defer c.Stop()
		s.set("a", true)
		s.set("b", true)
		start := time.Now()
		c.Sync([]string{"a", "b"})
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		if err := c.WaitHealthy(ctx, []string{"a", "b"}); err != nil {
			t.Fatalf("WaitHealthy: %v", err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Errorf("WaitHealthy returned after %v, want 1s (the second pass)", waited)
		}
		// Already up: returns without waiting.
		if err := c.WaitHealthy(ctx, []string{"b"}); err != nil || time.Since(start) != time.Second {
			t.Errorf("WaitHealthy on an up target: %v after %v", err, time.Since(start))
		}
		if err := c.WaitHealthy(ctx, nil); err != nil {
			t.Errorf("WaitHealthy(nil) = %v", err)
		}
	})
}

func TestWaitHealthyTimeoutNamesEveryTargetNotUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScript()
		c, _ := newScripted(t, Spec{Interval: time.Second, Rise: 3, Fall: 2}, s)
		c.Start(t.Context())
		defer c.Stop()
		s.set("up", true)
		s.set("rising", true)
		s.setHang("hung", true)
		c.Sync([]string{"up", "down", "hung"})
		time.Sleep(time.Second)
		c.Sync([]string{"up", "down", "hung", "rising"})
		ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
		defer cancel()
		err := c.WaitHealthy(ctx, []string{"up", "down", "hung", "rising", "never-synced"})
		if c.State("up") != Up {
			t.Fatalf("target up is %v, test premise broken", c.State("up"))
		}
		if !errors.Is(err, ErrNotHealthy) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want ErrNotHealthy and context.DeadlineExceeded", err)
		}
		want := "upstream api: targets not healthy (4 of 5): " +
			"down down, last probe: status 503 (3 failures in a row); " +
			"hung unknown, no probe finished yet; " +
			"rising unknown, last probe: status 200 (2 of 3 passes needed); " +
			"never-synced not probed: context deadline exceeded"
		if err.Error() != want {
			t.Errorf("err =\n%s\nwant\n%s", err, want)
		}
	})
}

func TestWaitHealthyGivesUpWhenCheckerStops(t *testing.T) {
	for _, how := range []string{"Stop", "Start context cancelled"} {
		t.Run(how, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newScript()
				c, _ := newScripted(t, Spec{Interval: time.Second}, s)
				runCtx, stopRun := context.WithCancel(t.Context())
				c.Start(runCtx)
				defer c.Stop()
				c.Sync([]string{"a"})
				go func() {
					time.Sleep(3 * time.Second)
					if how == "Stop" {
						c.Stop()
					} else {
						stopRun()
					}
				}()
				err := c.WaitHealthy(t.Context(), []string{"a"})
				if !errors.Is(err, ErrStopped) || !errors.Is(err, ErrNotHealthy) {
					t.Fatalf("err = %v, want ErrStopped and ErrNotHealthy", err)
				}
				synctest.Wait()
				n, _ := s.count("a")
				time.Sleep(time.Minute)
				synctest.Wait()
				if m, _ := s.count("a"); m != n {
					t.Errorf("probes went on after the checker stopped: %d then %d", n, m)
				}
				// Stopped for good: neither Start nor Sync probe again.
				c.Start(t.Context())
				c.Sync([]string{"a", "b"})
				synctest.Wait()
				if m, _ := s.count("b"); m != 0 {
					t.Errorf("target added after stop was probed %d times", m)
				}
				stopRun()
			})
		})
	}
}

func TestStopCutsShortProbesAndWaitsForThem(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScript()
		c, rec := newScripted(t, Spec{Interval: time.Second, Rise: 1, Fall: 1}, s)
		c.Start(t.Context())
		s.setHang("a", true)
		s.set("b", true)
		c.Sync([]string{"a", "b"})
		synctest.Wait()
		rec.take(t)
		c.Stop()
		// Stop has waited: the hanging probe has already returned.
		if _, cut := s.count("a"); cut != 1 {
			t.Errorf("hanging probe cut %d times by the time Stop returned, want 1", cut)
		}
		if got := rec.take(t); len(got) != 0 {
			t.Errorf("onChange calls %q caused by Stop, want none", got)
		}
		c.Stop() // a second Stop is harmless
	})
}
