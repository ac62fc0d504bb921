package proxy

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/skjold-dev/skjold/internal/upstream"
)

// clientWatch notices a client that leaves while its request waits on the
// upstream. After the request has been read, a watcher (started lazily by
// a timer, so fast requests never pay for it) reads the client connection;
// EOF there means the client left, and the upstream operation in progress
// is interrupted through its deadline.
type clientWatch struct {
	conn     *ClientConn
	timer    *time.Timer
	done     chan struct{}
	watching atomic.Bool
	stop     atomic.Bool
	gone     atomic.Bool
	mu       sync.Mutex
	up       *upstream.Conn // the upstream connection to interrupt
}

// start arms the watcher to begin after the given wait.
func (w *clientWatch) start(c *ClientConn, after time.Duration, now time.Time) {
	if w.timer == nil {
		w.done = make(chan struct{}, 1)
		w.timer = time.AfterFunc(time.Hour, w.run)
		w.timer.Stop()
	}
	w.conn = c
	// The request has been read in full, so the read deadline that bounded
	// its head and body has done its job; left in place it would end the
	// watch as a departure and cut a response still streaming. Only the
	// watcher's read arms it, if the watcher runs at all.
	c.CR.ReadBy(time.Time{}, now)
	w.stop.Store(false)
	w.watching.Store(true)
	w.timer.Reset(after)
}

// end disarms the watcher, waiting for it if it already runs.
func (w *clientWatch) end() {
	if !w.watching.Swap(false) {
		return
	}
	if w.timer.Stop() {
		return
	}
	// The watcher is running (or about to): wake its read and wait.
	w.stop.Store(true)
	w.conn.Client.SetReadDeadline(time.Now())
	<-w.done
	w.conn.CR.Forget() // the next read re-arms what it needs
}

func (w *clientWatch) run() {
	// Arm the watch's read deadline (none) before looking at stop: end
	// sets stop, then wakes the read with a deadline of now, so either
	// this sees stop or the wake-up lands after this arm. Arming inside
	// the read instead could overwrite the wake-up and leave end waiting
	// for a read that never ends.
	w.conn.CR.ArmBy(time.Time{}, time.Time{})
	if w.stop.Load() {
		w.done <- struct{}{}
		return
	}
	_, err := w.conn.BR.Peek(1)
	if err != nil && !w.stop.Load() {
		w.gone.Store(true)
		w.mu.Lock()
		if w.up != nil {
			w.up.Interrupt()
		}
		w.mu.Unlock()
	}
	w.done <- struct{}{}
}

// setUpstream publishes the upstream connection in use so the watcher can
// interrupt it (nil: none; a connection must be withdrawn before it goes
// back to the pool, or an interrupt would hit its next user).
func (w *clientWatch) setUpstream(c *upstream.Conn) {
	w.mu.Lock()
	w.up = c
	w.mu.Unlock()
}

func (w *clientWatch) close() {
	w.end()
	if w.timer != nil {
		w.timer.Stop()
	}
}
