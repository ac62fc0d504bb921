package ratelimit

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func TestTakeAllowsTheBurstThenRefusesUntilATokenReturns(t *testing.T) {
	l := New(Rule{Interval: 100 * time.Millisecond, Burst: 3, MaxKeys: 10})
	k := l.HashString("10.0.0.1")
	for i, want := range []int{2, 1, 0} {
		d := l.Take(k, t0)
		if !d.Allowed || d.Remaining != want {
			t.Fatalf("take %d: %+v, want allowed with %d remaining", i, d, want)
		}
	}
	d := l.Take(k, t0)
	if d.Allowed || d.RetryAfter != 100*time.Millisecond || d.Remaining != 0 || d.Reset != 300*time.Millisecond {
		t.Fatalf("fourth take: %+v, want refused, retry after 100ms, full again in 300ms", d)
	}
	if d := l.Take(k, t0.Add(99*time.Millisecond)); d.Allowed {
		t.Fatalf("a token came back early: %+v", d)
	}
	if d := l.Take(k, t0.Add(100*time.Millisecond)); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after one interval: %+v, want one allowed", d)
	}
	if d := l.Take(k, t0.Add(time.Hour)); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("after an hour: %+v, want a full bucket", d)
	}
	if st := l.Stats(); st.Limited != 2 || st.Keys != 1 {
		t.Errorf("stats %+v, want 2 limited, 1 key", st)
	}
}

func TestTakeKeepsEachKeysBucketApart(t *testing.T) {
	l := New(Rule{Interval: time.Second, Burst: 1, MaxKeys: 10})
	a, b := l.HashString("a"), l.HashString("b")
	if !l.Take(a, t0).Allowed || l.Take(a, t0).Allowed {
		t.Fatal("key a: want one allowed, then refused")
	}
	if !l.Take(b, t0).Allowed {
		t.Fatal("key b was refused for key a's requests")
	}
}

func TestLimiterEvictsTheLeastRecentKeyAndCountsIt(t *testing.T) {
	l := New(Rule{Interval: time.Minute, Burst: 1, MaxKeys: 2})
	a, b, c := l.HashString("a"), l.HashString("b"), l.HashString("c")
	l.Take(a, t0)
	l.Take(b, t0)
	l.Take(a, t0) // a is now the most recent
	l.Take(c, t0) // evicts b
	st := l.Stats()
	if st.Keys != 2 || st.Evictions != 1 {
		t.Fatalf("stats %+v, want 2 keys and 1 eviction", st)
	}
	if l.Take(a, t0).Allowed {
		t.Error("a was evicted instead of b: its empty bucket is full again")
	}
	if !l.Take(b, t0).Allowed {
		t.Error("b was kept: its bucket should have been forgotten")
	}
}

func TestLimiterHoldsNoMoreThanMaxKeys(t *testing.T) {
	for _, maxKeys := range []int{1, 1000, 5000, 100_000} {
		l := New(Rule{Interval: time.Second, Burst: 1, MaxKeys: maxKeys})
		for i := range 3 * maxKeys {
			l.Take(uint64(i)*0x9e3779b97f4a7c15, t0)
		}
		st := l.Stats()
		if st.Keys > maxKeys+len(l.shards) || st.Keys < maxKeys*9/10 {
			t.Errorf("max_keys %d: holds %d keys", maxKeys, st.Keys)
		}
		if want := uint64(3*maxKeys - st.Keys); st.Evictions != want {
			t.Errorf("max_keys %d: %d evictions, want %d", maxKeys, st.Evictions, want)
		}
	}
}

// TestRateIsWithinFivePercentOverTenSecondsWithAThousandKeys counts what
// passes, on a simulated clock: 1,000 keys each offering 5× the rate for
// 10 s get the rate over 10 s plus one burst, within 5 % of the rate.
func TestRateIsWithinFivePercentOverTenSecondsWithAThousandKeys(t *testing.T) {
	const (
		keys    = 1000
		rate    = 20 // per second
		burst   = 10
		offered = 5 * rate
		seconds = 10
	)
	l := New(Rule{Interval: time.Second / rate, Burst: burst, MaxKeys: 100_000})
	allowed := make([]int, keys)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for k := w; k < keys; k += 4 {
				h := l.HashString("client-" + strconv.Itoa(k))
				for i := range offered * seconds {
					now := t0.Add(time.Duration(i) * time.Second / offered)
					if l.Take(h, now).Allowed {
						allowed[k]++
					}
				}
			}
		})
	}
	wg.Wait()
	want := float64(rate*seconds + burst)
	for k, n := range allowed {
		if d := float64(n) - want; d > 0.05*rate*seconds || d < -0.05*rate*seconds {
			t.Fatalf("key %d: %d passed in %ds, want %.0f ± 5%% of %d", k, n, seconds, want, rate*seconds)
		}
	}
}

func TestConcurrentTakesNeverPassMoreThanTheBurst(t *testing.T) {
	l := New(Rule{Interval: time.Hour, Burst: 50, MaxKeys: 10})
	h := l.HashString("shared")
	var passed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if l.Take(h, t0).Allowed {
					passed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if passed.Load() != 50 {
		t.Fatalf("%d passed, want exactly the burst of 50", passed.Load())
	}
}

func TestTakeAllocatesNothingOnceFull(t *testing.T) {
	l := New(Rule{Interval: time.Millisecond, Burst: 10, MaxKeys: 4096})
	for i := range 8192 {
		l.Take(uint64(i)*0x9e3779b97f4a7c15, t0)
	}
	i := uint64(0)
	if n := testing.AllocsPerRun(10_000, func() {
		i++
		l.Take(i*0x9e3779b97f4a7c15+7, t0) // a new key every time: evicts one
	}); n != 0 {
		t.Errorf("Take with eviction allocates %.1f times", n)
	}
	k := l.HashString("kept")
	if n := testing.AllocsPerRun(10_000, func() { l.Take(k, t0) }); n != 0 {
		t.Errorf("Take of a known key allocates %.1f times", n)
	}
}
