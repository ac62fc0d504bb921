package upstream

import (
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/breaker"
	"github.com/skjold-dev/skjold/internal/config"
)

func build(t *testing.T, s Settings, targets ...config.Target) *Upstream {
	t.Helper()
	s.BreakerDisabled = true
	r := NewRegistry()
	u := r.Build("app", s, targets)
	r.Commit([]*Upstream{u})
	return u
}

func TestRoundRobinFollowsWeightsSmoothly(t *testing.T) {
	u := build(t, Settings{Balance: RoundRobin}, config.Target{Address: "a:1", Weight: 5}, config.Target{Address: "b:1", Weight: 1}, config.Target{Address: "c:1", Weight: 1})
	now := time.Now()
	counts := map[string]int{}
	var seq string
	for i := 0; i < 7; i++ {
		tg, _, err := u.Pick(0, now)
		if err != nil {
			t.Fatal(err)
		}
		counts[tg.Addr]++
		seq += tg.Addr[:1]
	}
	if counts["a:1"] != 5 || counts["b:1"] != 1 || counts["c:1"] != 1 {
		t.Errorf("counts %v", counts)
	}
	// nginx's smooth weighted round-robin spreads the heavy target out.
	if seq != "aabacaa" {
		t.Errorf("sequence %s, want aabacaa", seq)
	}
}

func TestLeastRequestPrefersTheLessLoaded(t *testing.T) {
	u := build(t, Settings{Balance: LeastRequest}, config.Target{Address: "busy:1"}, config.Target{Address: "idle:1"})
	busy := u.Targets()[0]
	for i := 0; i < 10; i++ {
		if _, err := u.Acquire(busy, nil); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	for i := 0; i < 50; i++ {
		tg, _, _ := u.Pick(0, now)
		if tg.Addr != "idle:1" {
			t.Fatalf("pick %d went to the busy target", i)
		}
	}
}

func TestBackupsServeOnlyWhenNoPrimaryCan(t *testing.T) {
	u := build(t, Settings{Balance: RoundRobin, MaxFails: 1, FailTimeout: time.Minute},
		config.Target{Address: "p:1"}, config.Target{Address: "b:1", Backup: true})
	now := time.Now()
	if tg, _, _ := u.Pick(0, now); tg.Addr != "p:1" {
		t.Fatalf("picked %s with the primary healthy", tg.Addr)
	}
	u.ReportFailure(u.Targets()[0], now)
	if tg, _, _ := u.Pick(0, now); tg.Addr != "b:1" {
		t.Fatalf("picked %s with the primary ejected", tg.Addr)
	}
	u.ReportFailure(u.Targets()[1], now)
	if _, _, err := u.Pick(0, now); err != ErrNoHealthyTarget {
		t.Fatalf("every target ejected: err %v", err)
	}
	if next := u.NextUp(now); !next.Equal(now.Add(time.Minute)) {
		t.Errorf("NextUp %v, want %v", next, now.Add(time.Minute))
	}
}

func TestPickSkipsTriedAndActivelyDownTargets(t *testing.T) {
	u := build(t, Settings{Balance: RoundRobin}, config.Target{Address: "a:1"}, config.Target{Address: "b:1"}, config.Target{Address: "c:1"})
	now := time.Now()
	u.Targets()[2].SetActive(false)
	var tried Tried
	seen := map[string]bool{}
	for i := 0; i < 2; i++ {
		tg, idx, err := u.Pick(tried, now)
		if err != nil {
			t.Fatal(err)
		}
		seen[tg.Addr] = true
		tried = tried.With(idx)
	}
	if !seen["a:1"] || !seen["b:1"] {
		t.Errorf("seen %v", seen)
	}
	if _, _, err := u.Pick(tried, now); err != ErrNoHealthyTarget {
		t.Errorf("third pick: %v (c is down, a and b tried)", err)
	}
}

// nginx semantics: max_fails failures whose first is at most fail_timeout
// old eject the target for fail_timeout; a failure right after it comes
// back ejects it again; a success clears the count.
func TestPassiveHealth(t *testing.T) {
	const ft = 10 * time.Second
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name     string
		fails    []time.Duration // failure times after t0
		success  time.Duration   // a success at this offset, if > 0
		at       time.Duration
		wantDown bool
	}{
		{"below max_fails", []time.Duration{0, time.Second}, 0, 2 * time.Second, false},
		{"max_fails within the window", []time.Duration{0, time.Second, 2 * time.Second}, 0, 3 * time.Second, true},
		{"down for fail_timeout", []time.Duration{0, time.Second, 2 * time.Second}, 0, 2*time.Second + ft - time.Millisecond, true},
		{"back after fail_timeout", []time.Duration{0, time.Second, 2 * time.Second}, 0, 2*time.Second + ft, false},
		{"failures spread wider than the window", []time.Duration{0, 6 * time.Second, 12 * time.Second}, 0, 13 * time.Second, false},
		{"one failure after coming back ejects again", []time.Duration{0, time.Second, 2 * time.Second, 13 * time.Second}, 0, 14 * time.Second, true},
		{"a success clears the count", []time.Duration{0, time.Second}, 1500 * time.Millisecond, 3 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTarget("a:1")
			for i, f := range tt.fails {
				if tt.success > 0 && i == 2 {
					tg.ReportSuccess(t0.Add(tt.success).UnixNano())
				}
				tg.ReportFailure(t0.Add(f), 3, ft)
			}
			if got := tg.passivelyDown(t0.Add(tt.at).UnixNano()); got != tt.wantDown {
				t.Errorf("down = %v, want %v", got, tt.wantDown)
			}
		})
	}
}

func TestRetryBudgetCapsRetries(t *testing.T) {
	b := newRetryBudget()
	b.configure(0.2, 0)
	now := time.Unix(5000, 0)
	for i := 0; i < 100; i++ {
		b.Request(now)
	}
	allowed := 0
	for i := 0; i < 100; i++ {
		if b.TryRetry(now) {
			allowed++
		}
	}
	if allowed != 20 {
		t.Errorf("%d retries allowed for 100 requests at 20%%", allowed)
	}
	// Ten seconds later the window has rolled over.
	if b.TryRetry(now.Add(11 * time.Second)) {
		t.Error("a retry allowed with no requests in the window and no floor")
	}
	b.configure(0.2, 1)
	if !b.TryRetry(now.Add(11 * time.Second)) {
		t.Error("the per-second floor did not allow a retry")
	}
}

func TestBulkheadQueuesThenRefuses(t *testing.T) {
	u := build(t, Settings{MaxConcurrent: 1, MaxQueue: 1, QueueTimeout: 50 * time.Millisecond}, config.Target{Address: "a:1"})
	tg := u.Targets()[0]
	slot, err := u.Acquire(tg, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := u.Acquire(tg, nil); err != ErrBulkheadFull || time.Since(start) < 40*time.Millisecond {
		t.Fatalf("queued acquire: %v after %v", err, time.Since(start))
	}
	done := make(chan error, 1)
	go func() {
		s, err := u.Acquire(tg, nil)
		if err == nil {
			u.Release(tg, s)
		}
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	u.Release(tg, slot)
	if err := <-done; err != nil {
		t.Errorf("a waiter did not get the freed slot: %v", err)
	}
}

// A reload keeps targets (and their state) by address, and a request that
// holds the old snapshot finds the new one.
func TestRegistryKeepsStateAndLinksSnapshots(t *testing.T) {
	r := NewRegistry()
	s := Settings{BreakerDisabled: true, MaxFails: 1, FailTimeout: time.Minute}
	old := r.Build("app", s, []config.Target{{Address: "a:1"}, {Address: "b:1"}})
	r.Commit([]*Upstream{old})
	old.ReportFailure(old.Targets()[0], time.Now())
	next := r.Build("app", s, []config.Target{{Address: "a:1"}, {Address: "c:1"}})
	r.Commit([]*Upstream{next})
	if next.Targets()[0] != old.Targets()[0] {
		t.Fatal("target a:1 was not kept")
	}
	if !next.Targets()[0].passivelyDown(time.Now().UnixNano()) {
		t.Error("passive health of a:1 lost")
	}
	if !old.Targets()[1].Retired() || next.Targets()[0].Retired() {
		t.Error("b:1 should be retired and a:1 not")
	}
	if old.Latest() != next {
		t.Error("the old snapshot does not lead to the new one")
	}
}

// Build prepares a snapshot without changing the running one: until Commit,
// the running snapshot keeps its bulkhead, its breaker settings and its
// rolling window, and a new target is not registered. Commit applies all of
// it.
func TestBuildChangesNothingUntilCommit(t *testing.T) {
	r := NewRegistry()
	oldSet := Settings{MaxConcurrent: 1, Breaker: breaker.Settings{ConsecutiveFailures: 3, Window: 10 * time.Second, OpenFor: time.Minute}}
	running := r.Build("app", oldSet, []config.Target{{Address: "a:1"}})
	r.Commit([]*Upstream{running})
	for range 2 {
		tok, err := running.Breaker.Allow()
		if err != nil {
			t.Fatal(err)
		}
		running.Breaker.Done(tok, breaker.Failure, time.Millisecond)
	}

	newSet := Settings{MaxConcurrent: 5, Breaker: breaker.Settings{ConsecutiveFailures: 50, Window: 20 * time.Second, OpenFor: time.Minute}}
	next := r.Build("app", newSet, []config.Target{{Address: "a:1"}, {Address: "b:1"}})
	r.Build("other", newSet, []config.Target{{Address: "c:1"}})

	a := running.Targets()[0]
	if got := cap(a.bulk.Load().slots); got != 1 {
		t.Errorf("bulkhead of the running target before Commit: %d slots, want 1", got)
	}
	if snap := running.Breaker.Snapshot(); snap.WindowCalls != 2 {
		t.Errorf("breaker window before Commit: %d calls, want 2", snap.WindowCalls)
	}
	if r.Target("app", "b:1") != nil || r.Target("other", "c:1") != nil {
		t.Error("targets of a snapshot not committed are registered")
	}
	tok, _ := running.Breaker.Allow()
	running.Breaker.Done(tok, breaker.Failure, time.Millisecond)
	if st := running.Breaker.Snapshot().State; st != breaker.Open {
		t.Errorf("third failure with a threshold of 3 before Commit: breaker %s, want open", st)
	}

	r.Commit([]*Upstream{next})
	if got := cap(a.bulk.Load().slots); got != 5 {
		t.Errorf("bulkhead after Commit: %d slots, want 5", got)
	}
	if r.Target("app", "b:1") == nil {
		t.Error("new target not registered after Commit")
	}
	if running.Latest() != next {
		t.Error("the running snapshot does not lead to the committed one")
	}
}
