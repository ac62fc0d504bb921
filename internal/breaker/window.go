package breaker

import "time"

// numBuckets is how many slices a rolling window is cut into. Ten keeps the
// window's edge accurate to a tenth of its length while the bookkeeping stays
// a fixed-size array that never allocates.
const numBuckets = 10

// bucket counts the outcomes recorded during one slice of the window.
type bucket struct {
	calls, failures, slow int
}

// window is a rolling count of calls, failures and slow calls over the last
// numBuckets slices of width each. Times are the Breaker's clock readings:
// durations since the Breaker was made. It rolls forward lazily: advance drops
// the slices that have fallen out of the window since the last look, so a
// window that nobody touches costs nothing.
type window struct {
	size  time.Duration // as configured; 0 disables the window
	width time.Duration // size / numBuckets, at least 1ns
	start time.Duration // slice 0 starts here
	head  int64         // index of the newest slice, counted from start

	buckets               [numBuckets]bucket // slice i lives in buckets[i%numBuckets]
	calls, failures, slow int                // sums over buckets
}

// reset empties the window and makes it size long, starting at now.
func (w *window) reset(size, now time.Duration) {
	*w = window{start: now}
	if size > 0 {
		w.size = size
		w.width = max(size/numBuckets, 1)
	}
}

// advance rolls the window forward to now, forgetting the slices that are
// now older than the window. A now before the newest slice (two goroutines
// read the clock, the later one takes the lock first) changes nothing.
func (w *window) advance(now time.Duration) {
	if w.width == 0 {
		return
	}
	idx := int64((now - w.start) / w.width)
	if idx <= w.head {
		return
	}
	// Only the slices between the old head and the new one are stale; if
	// more than a whole window has passed, that is all of them.
	stale := min(idx-w.head, numBuckets)
	for i := int64(1); i <= stale; i++ {
		b := &w.buckets[(w.head+i)%numBuckets]
		w.calls -= b.calls
		w.failures -= b.failures
		w.slow -= b.slow
		*b = bucket{}
	}
	w.head = idx
}

// record counts one call in the slice that holds now.
func (w *window) record(now time.Duration, failed, slow bool) {
	if w.width == 0 {
		return
	}
	w.advance(now)
	b := &w.buckets[w.head%numBuckets]
	b.calls++
	w.calls++
	if failed {
		b.failures++
		w.failures++
	}
	if slow {
		b.slow++
		w.slow++
	}
}
