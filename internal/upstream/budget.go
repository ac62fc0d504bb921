package upstream

import (
	"sync"
	"sync/atomic"
	"time"
)

// budgetWindow is the span over which the retry budget compares retries
// with requests, in one-second buckets.
const budgetWindow = 10

// RetryBudget lets an upstream's retries add at most a fraction of its
// request load (plus a small floor so low traffic can still retry), so
// retries cannot turn a partial outage into a full one. It is Finagle's
// and Envoy's idea with Linkerd's numbers: 20% extra, 10 retries a second.
type RetryBudget struct {
	ratio  atomic.Uint64 // fixed point, thousandths
	minSec atomic.Int64

	mu      sync.Mutex
	buckets [budgetWindow]budgetBucket
}

type budgetBucket struct {
	sec      atomic.Int64
	requests atomic.Int64
	retries  atomic.Int64
}

func newRetryBudget() *RetryBudget { return &RetryBudget{} }

func (b *RetryBudget) configure(ratio float64, minPerSecond int) {
	b.ratio.Store(uint64(ratio * 1000))
	b.minSec.Store(int64(minPerSecond))
}

func (b *RetryBudget) bucket(now time.Time) *budgetBucket {
	sec := now.Unix()
	bk := &b.buckets[sec%budgetWindow]
	if bk.sec.Load() != sec {
		b.mu.Lock()
		if bk.sec.Load() != sec {
			bk.requests.Store(0)
			bk.retries.Store(0)
			bk.sec.Store(sec)
		}
		b.mu.Unlock()
	}
	return bk
}

// Request counts one request (not a retry).
func (b *RetryBudget) Request(now time.Time) { b.bucket(now).requests.Add(1) }

// TryRetry reports whether one more retry fits the budget, and counts it
// if so.
func (b *RetryBudget) TryRetry(now time.Time) bool {
	cur := b.bucket(now)
	if !b.Allows(now) {
		return false
	}
	cur.retries.Add(1)
	return true
}

// Allows reports whether one more retry fits the budget, without counting
// it: the proxy asks before it drops a failed answer for a retry that
// might then not be allowed.
func (b *RetryBudget) Allows(now time.Time) bool {
	sec := now.Unix()
	var reqs, retries int64
	for i := range b.buckets {
		bk := &b.buckets[i]
		if s := bk.sec.Load(); s > sec-budgetWindow && s <= sec {
			reqs += bk.requests.Load()
			retries += bk.retries.Load()
		}
	}
	allowed := reqs*int64(b.ratio.Load())/1000 + b.minSec.Load()*budgetWindow
	return retries < allowed
}
