package ratelimit

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// The benchmarks below compare this package's GCRA with
// golang.org/x/time/rate, the other candidate issue 16 named, on the
// work a gateway does per request: find the key's bucket, take a token.
// x/time/rate needs a *rate.Limiter per key (its own mutex, floats and
// reservations), so it is measured both alone on one key and behind the
// same kind of sharded index the GCRA uses. docs/performance.md keeps
// the figures.

func BenchmarkDecisionOneKey(b *testing.B) {
	b.Run("gcra", func(b *testing.B) {
		l := New(Rule{Interval: time.Nanosecond, Burst: 1 << 20, MaxKeys: 1})
		h := l.HashString("k")
		now := time.Now()
		b.ReportAllocs()
		for b.Loop() {
			l.Take(h, now)
		}
	})
	b.Run("x_time_rate", func(b *testing.B) {
		l := rate.NewLimiter(rate.Every(time.Nanosecond), 1<<20)
		now := time.Now()
		b.ReportAllocs()
		for b.Loop() {
			l.AllowN(now, 1)
		}
	})
}

// xShards is a sharded map of x/time/rate limiters, the least a gateway
// would need to use x/time/rate per key (unbounded: it never evicts).
type xShards struct {
	shards [64]struct {
		mu sync.Mutex
		m  map[uint64]*rate.Limiter
	}
}

func (x *xShards) allow(h uint64, now time.Time) bool {
	s := &x.shards[(h>>32)&63]
	s.mu.Lock()
	l := s.m[h]
	if l == nil {
		if s.m == nil {
			s.m = map[uint64]*rate.Limiter{}
		}
		l = rate.NewLimiter(rate.Every(time.Millisecond), 100)
		s.m[h] = l
	}
	s.mu.Unlock()
	return l.AllowN(now, 1)
}

// BenchmarkDecisionManyKeys spreads takes over 100 000 keys from every
// core, as a busy route with many clients does.
func BenchmarkDecisionManyKeys(b *testing.B) {
	const keys = 100_000
	b.Run("gcra", func(b *testing.B) {
		l := New(Rule{Interval: time.Millisecond, Burst: 100, MaxKeys: keys})
		var seq atomic.Uint64
		now := time.Now()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := seq.Add(1) << 40
			for pb.Next() {
				i++
				l.Take((i%keys)*0x9e3779b97f4a7c15, now)
			}
		})
	})
	b.Run("x_time_rate", func(b *testing.B) {
		var x xShards
		var seq atomic.Uint64
		now := time.Now()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := seq.Add(1) << 40
			for pb.Next() {
				i++
				x.allow((i%keys)*0x9e3779b97f4a7c15, now)
			}
		})
	})
}

// BenchmarkDecisionNewKeys gives every take a key never seen before, at
// the key cap: the GCRA evicts, x/time/rate allocates a limiter.
func BenchmarkDecisionNewKeys(b *testing.B) {
	b.Run("gcra", func(b *testing.B) {
		l := New(Rule{Interval: time.Millisecond, Burst: 100, MaxKeys: 100_000})
		now := time.Now()
		b.ReportAllocs()
		i := uint64(0)
		for b.Loop() {
			i++
			l.Take(i*0x9e3779b97f4a7c15, now)
		}
	})
	b.Run("x_time_rate", func(b *testing.B) {
		var x xShards
		now := time.Now()
		b.ReportAllocs()
		i := uint64(0)
		for b.Loop() {
			i++
			x.allow(i*0x9e3779b97f4a7c15, now)
		}
	})
}
