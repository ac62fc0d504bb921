package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skjold-dev/skjold/internal/deadline"
	"github.com/skjold-dev/skjold/internal/sockio"
)

// Conn is a connection to a target, with its buffers. It is used by one
// request at a time and goes back to its target's pool after a clean
// response.
type Conn struct {
	net.Conn
	BR *bufio.Reader
	BW *bufio.Writer
	// Reused is true when the connection came from the idle pool (so a
	// failure before any response byte may just mean the target closed it
	// while it was idle).
	Reused   bool
	target   *Target
	idleFrom time.Time
	requests int
	rd, wd   deadline.Lazy
	io       *sockio.Conn
	// interrupted is set by Interrupt, from another goroutine: the
	// deadlines Lazy remembers are no longer the connection's, and it
	// must not be reused.
	interrupted atomic.Bool
	peeker      peeker // looks for bytes or a FIN from the target (see peek)
	// wire is the TCP connection under Conn when Conn is TLS; nil for
	// plain connections. tlsFrom is the upstream TLS it was made with: a
	// pooled connection is reused only by an upstream with the same.
	wire    *wire
	tlsFrom *TLS
}

// ArmRead gives the next reads until t, re-arming the connection's timer
// only when t moved by more than deadline.MaxSlack (see package deadline).
func (c *Conn) ArmRead(t, now time.Time) {
	if c.rd.Due(t, now) {
		c.Conn.SetReadDeadline(t)
	}
}

// ArmWrite is ArmRead for writes.
func (c *Conn) ArmWrite(t, now time.Time) {
	if c.wd.Due(t, now) {
		c.Conn.SetWriteDeadline(t)
	}
}

// HoldNextWrite makes the next flush of BW wait for the next read of BR,
// which sends it and then waits for the answer without a read that cannot
// succeed yet (see sockio.Conn.HoldNextWrite): for the last flush of a
// request, right before its response is read. A failure to send then
// surfaces from the read, as a *net.OpError whose Op is "write".
func (c *Conn) HoldNextWrite() {
	if c.io != nil {
		c.io.HoldNextWrite()
	}
}

// Interrupt makes the connection's blocked and future reads and writes
// fail at once, from any goroutine; the connection is then never reused.
func (c *Conn) Interrupt() {
	c.interrupted.Store(true)
	c.Conn.SetDeadline(time.Now())
}

// peerState is what a look at a connection's receive side found.
type peerState uint8

const (
	peerQuiet    peerState = iota // nothing: the connection may be reused
	peerSentMore                  // bytes beyond the response just read
	peerGone                      // the target's FIN, or a reset
)

// DiscardReason says why a connection that looked reusable was closed
// instead of pooled.
type DiscardReason uint8

// Discard reasons.
const (
	// DiscardUnreadBytes: the target sent more than its response (a body
	// on a HEAD answer or a 204/304, bytes past Content-Length). Reused,
	// the connection would hand those bytes to the next request, which may
	// be another client's, as its response.
	DiscardUnreadBytes DiscardReason = iota
	// DiscardPeerClosed: the target had closed the connection.
	DiscardPeerClosed
	// DiscardReasonCount is the number of reasons (for ranging over them).
	DiscardReasonCount
)

// String is the reason as metrics label it.
func (r DiscardReason) String() string {
	switch r {
	case DiscardUnreadBytes:
		return "unread_bytes"
	case DiscardPeerClosed:
		return "peer_closed"
	}
	return "unknown"
}

// clean reports whether nothing has arrived on c since its last response:
// nothing buffered and, when the kernel can be asked, nothing received (one
// non-blocking peek). A connection that fails the check is counted against
// its target under the reason found.
func (c *Conn) clean() bool {
	return c.count(c.peek())
}

// nothingBuffered is clean without the system call: what Done can check
// for free.
func (c *Conn) nothingBuffered() bool {
	if c.BR.Buffered() > 0 {
		return c.count(peerSentMore)
	}
	return true
}

// count records a state other than peerQuiet as a discard, and reports
// whether the state was quiet.
func (c *Conn) count(s peerState) bool {
	switch s {
	case peerSentMore:
		c.target.discarded[DiscardUnreadBytes].Add(1)
	case peerGone:
		c.target.discarded[DiscardPeerClosed].Add(1)
	default:
		return true
	}
	return false
}

// pool is a target's stack of idle connections: last in, first out, so the
// warmest connection is reused and the coldest ones age out.
type pool struct {
	mu   sync.Mutex
	idle []*Conn
}

func (p *pool) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// get pops the most recently used idle connection if it is younger than
// maxAge. If it is not, every idle connection is older still: all of them
// are closed.
func (p *pool) get(now time.Time, maxAge time.Duration) *Conn {
	p.mu.Lock()
	n := len(p.idle)
	if n == 0 {
		p.mu.Unlock()
		return nil
	}
	if c := p.idle[n-1]; now.Sub(c.idleFrom) < maxAge {
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		c.Reused = true
		return c
	}
	stale := append([]*Conn(nil), p.idle...)
	clear(p.idle)
	p.idle = p.idle[:0]
	p.mu.Unlock()
	for _, c := range stale {
		c.close()
	}
	return nil
}

// put keeps c for reuse if there is room, else closes it.
func (p *pool) put(c *Conn, now time.Time, maxIdle int) {
	c.idleFrom = now
	p.mu.Lock()
	if len(p.idle) < maxIdle {
		p.idle = append(p.idle, c)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	c.close()
}

// closeOlder closes idle connections idle for maxAge or longer (or all
// of them when maxAge is 0).
func (p *pool) closeOlder(now time.Time, maxAge time.Duration) {
	p.mu.Lock()
	var stale []*Conn
	keep := p.idle[:0]
	for _, c := range p.idle {
		if maxAge == 0 || now.Sub(c.idleFrom) >= maxAge {
			stale = append(stale, c)
		} else {
			keep = append(keep, c)
		}
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	p.mu.Unlock()
	for _, c := range stale {
		c.close()
	}
}

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 8<<10) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 8<<10) }}
)

// dial connects to the target within d.Timeout, which for a TLS upstream
// (tc not nil) bounds the TCP connect and the handshake together: a
// target that accepts and then stalls its handshake is a connect timeout
// like one that never accepts.
func (t *Target) dial(ctx context.Context, d *net.Dialer, tc *TLS) (*Conn, error) {
	var deadline time.Time
	if tc != nil && d.Timeout > 0 {
		deadline = time.Now().Add(d.Timeout)
	}
	nc, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, err
	}
	if tc != nil {
		return t.handshake(ctx, nc, tc, deadline)
	}
	sc := sockio.New(nc)
	c := t.newConn(nc, sc)
	c.io = sc
	c.initPeek(nc)
	return c, nil
}

// handshake makes nc a TLS connection, by deadline. A connection that
// fails it is closed; the error is a *HandshakeError.
func (t *Target) handshake(ctx context.Context, nc net.Conn, tc *TLS, deadline time.Time) (*Conn, error) {
	w := newWire(nc)
	w.tls = tls.Client(w, tc.forTarget(t.Addr))
	nc.SetDeadline(deadline)
	if err := w.tls.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, &HandshakeError{Addr: t.Addr, Err: err}
	}
	nc.SetDeadline(time.Time{})
	// No HoldNextWrite over TLS (c.io stays nil): crypto/tls may write an
	// alert or a key update of its own between the held write and the
	// read that would send it, and they would go out first.
	c := t.newConn(w.tls, w.tls)
	c.wire, c.tlsFrom = w, tc
	return c, nil
}

// newConn wraps nc, read and written through rw, with pooled buffers.
func (t *Target) newConn(nc net.Conn, rw io.ReadWriter) *Conn {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(rw)
	bw := writerPool.Get().(*bufio.Writer)
	bw.Reset(rw)
	return &Conn{Conn: nc, BR: br, BW: bw, target: t}
}

// close closes the connection and recycles its buffers.
func (c *Conn) close() {
	if c.wire != nil {
		c.wire.close()
	} else {
		c.Conn.Close()
	}
	if c.BR != nil {
		c.BR.Reset(nil)
		readerPool.Put(c.BR)
		c.BW.Reset(nil)
		writerPool.Put(c.BW)
		c.BR, c.BW = nil, nil
	}
}

// Target is the target the connection belongs to.
func (c *Conn) Target() *Target { return c.target }
