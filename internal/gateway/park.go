package gateway

import (
	"sync/atomic"
	"time"
)

// Defaults of idleConns' knobs.
const (
	// defaultShrinkAfter is how long a keepalive connection waits for its
	// next request with its buffers and its goroutine: long enough that a
	// busy connection never gives them back, short enough that ten
	// thousand idle ones do not keep them.
	defaultShrinkAfter = time.Second
	// defaultMaxBuffered is how many connections may wait with their
	// buffers for the full defaultShrinkAfter; beyond it, a newly idle
	// connection waits only defaultCrowdWait. The memory a burst of new
	// connections takes stays with the process after they have gone idle
	// (the runtime returns freed pages to the OS slowly, and the pool
	// keeps the released buffers until two collections have run), so the
	// number holding buffers and goroutines at once must stay small: a
	// connection idle with its buffers costs about 17 KiB.
	defaultMaxBuffered = 128
	// defaultCrowdWait is how long a connection waits with its buffers
	// when more than defaultMaxBuffered do: long enough that a busy
	// keepalive connection (the next request within a few milliseconds,
	// even with hundreds of clients on two saturated cores) keeps them,
	// short enough that a burst of ten thousand connections does not hold
	// thousands of buffers at once. Measured with 256 busy connections:
	// parking at once instead cost 2.5 µs of CPU per request.
	defaultCrowdWait = 10 * time.Millisecond
	// defaultSweepEvery is how often parked connections' idle timeouts
	// are checked: a parked connection closes within this long after its
	// timeout.
	defaultSweepEvery = time.Second
)

// idleConns is how the gateway keeps idle keepalive connections cheap:
// after a while (a short while, in a crowd) an idle connection gives its
// buffers back and parks (see parker) without a goroutine. The zero value
// uses the defaults above; tests shorten them.
type idleConns struct {
	shrink     time.Duration // zero: defaultShrinkAfter
	maxBuf     int64         // zero: defaultMaxBuffered
	crowd      time.Duration // zero: defaultCrowdWait
	sweepEvery time.Duration // zero: defaultSweepEvery

	buffered atomic.Int64 // connections waiting for a request with their buffers
	// parker is set by Serve while connections may already be served
	// (and read by tests); nil: park nothing, idle goroutines wait instead.
	parker atomic.Pointer[parker]
}

func (i *idleConns) shrinkAfter() time.Duration {
	if i.shrink > 0 {
		return i.shrink
	}
	return defaultShrinkAfter
}

func (i *idleConns) maxBuffered() int64 {
	if i.maxBuf > 0 {
		return i.maxBuf
	}
	return defaultMaxBuffered
}

func (i *idleConns) crowdWait() time.Duration {
	if i.crowd > 0 {
		return i.crowd
	}
	return defaultCrowdWait
}

func (i *idleConns) sweep() time.Duration {
	if i.sweepEvery > 0 {
		return i.sweepEvery
	}
	return defaultSweepEvery
}

// startParking opens the parker for Serve. Without one (a platform that
// has none, or no descriptor left for it) idle connections wait in their
// goroutines as they always could.
func (g *Gateway) startParking() {
	p, err := newParker(g.log, g.idle.sweep(),
		func(c *clientConn) { go g.resumeConn(c) },
		g.closeConn)
	if err != nil {
		g.log.Warn("idle connections will each keep a goroutine: parking unavailable", "err", err)
		return
	}
	g.idle.parker.Store(p)
}

// closeParked closes every parked connection and makes the parker refuse
// new ones: shutdown calls it once closing is set, since a parked
// connection has no goroutine a wake-up could reach.
func (g *Gateway) closeParked() {
	for _, c := range g.idle.parker.Load().closeAll() {
		g.closeConn(c)
	}
}
