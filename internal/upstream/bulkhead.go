package upstream

import (
	"errors"
	"sync/atomic"
	"time"
)

// ErrBulkheadFull is returned when a target is at its concurrency limit and
// its wait queue is full or the wait timed out.
var ErrBulkheadFull = errors.New("target at its concurrency limit")

// bulkhead caps the requests in flight to one target, with a bounded queue
// of waiters, so one slow target cannot absorb every goroutine.
type bulkhead struct {
	slots    chan struct{}
	maxQueue int64
	wait     time.Duration
	queued   atomic.Int64
}

func newBulkhead(max, maxQueue int, wait time.Duration) *bulkhead {
	if max <= 0 {
		return nil
	}
	return &bulkhead{slots: make(chan struct{}, max), maxQueue: int64(maxQueue), wait: wait}
}

// acquire takes a slot, waiting up to the queue timeout (or until done is
// closed) if the queue has room.
func (b *bulkhead) acquire(done <-chan struct{}) error {
	select {
	case b.slots <- struct{}{}:
		return nil
	default:
	}
	if b.maxQueue <= 0 {
		return ErrBulkheadFull
	}
	if b.queued.Add(1) > b.maxQueue {
		b.queued.Add(-1)
		return ErrBulkheadFull
	}
	defer b.queued.Add(-1)
	timer := time.NewTimer(b.wait)
	defer timer.Stop()
	select {
	case b.slots <- struct{}{}:
		return nil
	case <-timer.C:
		return ErrBulkheadFull
	case <-done:
		return ErrBulkheadFull
	}
}

func (b *bulkhead) release() { <-b.slots }

// sameAs reports whether b already has these settings (nil means none).
func (b *bulkhead) sameAs(max, maxQueue int, wait time.Duration) bool {
	if b == nil {
		return max <= 0
	}
	return cap(b.slots) == max && b.maxQueue == int64(maxQueue) && b.wait == wait
}
