// Package proxy forwards one request to an upstream and streams the answer
// back: body buffering for retries, target choice, breakers, the attempt
// itself over a pooled HTTP/1.1 connection on the calling goroutine, retries
// to another target when that is safe, and the mapping of every failure to a
// short JSON error. The whole path of a request reads top to bottom in
// Forward.
package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/skjold-dev/skjold/internal/breaker"
	"github.com/skjold-dev/skjold/internal/h1"
	"github.com/skjold-dev/skjold/internal/upstream"
)

// maxResponseHead bounds an upstream's response head.
const maxResponseHead = 64 << 10

// Proxy forwards requests. One Proxy serves every snapshot; it holds no
// per-config state.
type Proxy struct {
	// WatchAfter is how long a request may wait on its upstream before the
	// proxy starts watching the client connection for a disconnect. Zero
	// means 20ms.
	WatchAfter time.Duration
	// Tunnels tracks upgraded connections so shutdown can wait for them.
	Tunnels *sync.WaitGroup

	idPrefix [8]byte
	idSeq    atomic.Uint64
	copyBufs sync.Pool
}

// New returns a Proxy.
func New() *Proxy {
	p := &Proxy{Tunnels: &sync.WaitGroup{}}
	var b [4]byte
	rand.Read(b[:])
	hex.Encode(p.idPrefix[:], b[:])
	p.copyBufs.New = func() any { b := make([]byte, 32<<10); return &b }
	return p
}

// attempt is what one try at one target came to.
type attempt struct {
	class   Class
	status  int       // the upstream's status, when it answered
	sent    bool      // request bytes may have reached the upstream
	done    bool      // the response (or an error) has been written to the client
	untried bool      // the try never started: the request's deadline had passed
	stale   bool      // a pooled connection turned out closed before the request reached the target
	err     error     // the underlying error, for the log
	end     time.Time // when the response was written, if it was
}

var (
	errDeadlinePassed = errors.New("request deadline passed before the try")
	errUnaskedSwitch  = errors.New("101 Switching Protocols to a request that was not forwarded with that upgrade")
)

// Forward handles one request on route r: on return ex.Result is set and
// the response has been written to ex.BW and flushed (unless the client
// went away).
func (p *Proxy) Forward(ex *Exchange, r *Route) {
	ex.Upstream = r.Upstream.Name
	ex.KeepAlive = ex.Req.KeepAlive
	p.requestID(ex)
	ex.upgrade = ex.Req.Upgrade && r.allowsUpgrade(upgradeHeader(ex.Req.Fields))

	// 1. The request body: refuse what is too large, buffer what is small
	// enough to resend on a retry.
	replayable, ok := p.readBody(ex, r)
	if !ok {
		return
	}
	// 2. The whole request is read: watch for the client leaving.
	if replayable {
		ex.watch.start(&ex.ClientConn, p.watchAfter(), ex.Start)
		defer ex.watch.end()
	}
	// 3. The route's own breaker, around the tries at its upstream.
	rtok, err := r.Breaker.Allow()
	if err != nil {
		p.fastFail(ex, ClassBreakerOpen, "route "+r.Name+": circuit breaker open", r.Breaker.RetryAfter())
		return
	}
	outcome := p.tries(ex, r, replayable)
	r.Breaker.Done(rtok, outcome, ex.End.Sub(ex.Start))
}

// readBody refuses a request body over the route's limit and buffers up to
// the route's buffer size of it, so a retry can resend it. replayable is
// false when the rest must be streamed during the first try; ok is false
// when the request has been answered already (or its client left).
func (p *Proxy) readBody(ex *Exchange, r *Route) (replayable, ok bool) {
	req := &ex.Req
	if r.MaxBody > 0 && req.ContentLength > r.MaxBody {
		p.tooLarge(ex, r)
		return false, false
	}
	if !req.HasBody() {
		return true, true
	}
	if req.Expect100 {
		ex.armSend(ex.Start)
		ex.BW.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		if ex.BW.Flush() != nil {
			p.clientGone(ex)
			return false, false
		}
	}
	kind := h1.LengthBody
	if req.Chunked {
		kind = h1.ChunkedBody
	}
	ex.body.Reset(ex.BR, kind, req.ContentLength)
	full, err := p.bufferBody(ex, r)
	switch {
	case err == nil:
		return full, true
	case errors.Is(err, errBodyTooLarge):
		p.tooLarge(ex, r)
	case errors.Is(err, h1.ErrBadChunk):
		ex.KeepAlive = false
		p.fail(ex, ErrorAnswer{Status: 400, Class: ClassBadRequest, Message: "malformed chunked request body"})
	default:
		p.clientGone(ex)
	}
	return false, false
}

// tries makes the tries at the route's upstream, each at a healthy target
// not tried yet, until one answers the client or no retry is allowed, and
// returns the last try's verdict for the route's breaker. The clock is read
// when a response head arrives and when the answer has been written, not
// around every step: now is the end of the last try, at first the
// request's start.
func (p *Proxy) tries(ex *Exchange, r *Route, replayable bool) breaker.Outcome {
	u := r.Upstream
	now := ex.Start
	ex.End = now
	u.Budget.Request(now)
	deadline := ex.Start.Add(r.Total)
	retryDeadline := deadline
	if r.RetryTimeout > 0 {
		retryDeadline = earliest(deadline, ex.Start.Add(r.RetryTimeout))
	}
	var tried upstream.Tried
	var last attempt
	outcome := breaker.Ignored
	for try := 1; ; try++ {
		utok, err := u.Breaker.Allow()
		if err != nil {
			if try == 1 {
				p.fastFail(ex, ClassBreakerOpen, "upstream "+u.Name+": circuit breaker open ("+u.Breaker.Snapshot().Reason+")", u.Breaker.RetryAfter())
				return outcome
			}
			break
		}
		t, idx, slot, class := p.pickTarget(&u, &tried, now)
		if t == nil {
			u.Breaker.Done(utok, breaker.Ignored, 0)
			if try == 1 {
				p.noTarget(ex, u, class, now)
				return outcome
			}
			break
		}
		tried = tried.With(idx)
		ex.Upstream, ex.Tries, ex.Target = u.Name, try, t.Addr

		// A retry needs a target left to try: without one, a failure
		// status the route retries on is the client's answer.
		mayRetry := try < r.Tries && now.Before(retryDeadline) && replayable && u.CanPick(tried, now)
		started := now
		a := p.try(ex, r, t, deadline, mayRetry, now)
		u.Release(t, slot)
		if now = a.end; now.IsZero() {
			now = time.Now()
		}
		ex.End = now
		outcome = account(r, u, t, a, now)
		u.Breaker.Done(utok, outcome, now.Sub(started))
		if a.done {
			return outcome
		}
		last = a
		if !mayRetry || !now.Before(retryDeadline) || !p.retryable(ex, r, a) || !u.Budget.TryRetry(now) {
			break
		}
	}
	p.failAttempt(ex, u, last)
	return outcome
}

// account feeds a try's verdict to its target's passive health and
// returns it for the breakers.
func account(r *Route, u *upstream.Upstream, t *upstream.Target, a attempt, now time.Time) breaker.Outcome {
	v := r.verdict(a)
	switch v {
	case breaker.Failure:
		u.ReportFailure(t, now)
	case breaker.Success:
		t.ReportSuccess(now.UnixNano())
	}
	return v
}

// pickTarget chooses a target and takes a bulkhead slot on it, moving on to
// another target when one is full. A target that a reload or target switch
// retired after this request loaded its snapshot is released again and the
// pick moves to the upstream's newest snapshot: the slot is taken before the
// check, so the switch's drain either counts this request or this request
// sees the retirement, never neither.
func (p *Proxy) pickTarget(up **upstream.Upstream, tried *upstream.Tried, now time.Time) (*upstream.Target, int, upstream.Slot, Class) {
	class := ClassNoTarget
	for {
		u := *up
		t, idx, err := u.Pick(*tried, now)
		if err != nil {
			return nil, -1, upstream.Slot{}, class
		}
		slot, err := u.Acquire(t, nil)
		if err != nil {
			class = ClassBulkheadFull
			*tried = tried.With(idx)
			continue
		}
		if t.Retired() {
			u.Release(t, slot)
			if nu := u.Latest(); nu != u {
				*up, *tried = nu, 0
			} else {
				*tried = tried.With(idx)
			}
			continue
		}
		return t, idx, slot, ClassNone
	}
}

// retryable reports whether a failed try may be repeated on another target:
// the route retries on this outcome (retry.on), and the request never
// reached the upstream, or it may run twice (see resendable). Whether the
// outcome counts as a failure is verdict's business, not this.
func (p *Proxy) retryable(ex *Exchange, r *Route, a attempt) bool {
	switch a.class {
	case ClassConnect:
		return r.RetryOn.Error || r.RetryOn.Timeout
	case ClassReset, ClassBadResponse:
		if !r.RetryOn.Error {
			return false
		}
	case ClassTimeout:
		if !r.RetryOn.Timeout {
			return false
		}
	case ClassStatus:
		if !r.RetryOn.status(a.status) {
			return false
		}
	default:
		return false
	}
	return !a.sent || resendable(ex, r)
}

// resendable reports whether the request may reach an upstream twice: its
// method is idempotent (RFC 9110 section 9.2.2), it carries an
// Idempotency-Key, or the route opts in.
func resendable(ex *Exchange, r *Route) bool {
	if r.NonIdempotent || ex.Req.IdempotencyKey {
		return true
	}
	switch string(ex.Req.Method) {
	case "GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE":
		return true
	}
	return false
}

// try makes one attempt at target t. When the upstream answers, the
// response is streamed to the client (unless it is a failure status and
// mayRetry allows trying elsewhere) and done is set.
func (p *Proxy) try(ex *Exchange, r *Route, t *upstream.Target, deadline time.Time, mayRetry bool, now time.Time) attempt {
	if !now.Before(deadline) {
		return attempt{class: ClassTimeout, untried: true, err: errDeadlinePassed}
	}
	c, err := p.connect(r, t, deadline, now)
	if err != nil {
		return attempt{class: ClassConnect, err: err}
	}
	ex.watch.setUpstream(c)
	defer ex.watch.setUpstream(nil)
	for {
		if ex.ClientGone() {
			r.Upstream.Done(c, false, now)
			return attempt{class: ClassClientGone}
		}
		a := p.exchange(ex, r, c, deadline, mayRetry, now)
		if !a.stale {
			return a
		}
		// A pooled connection the target had closed while idle: the request
		// never got there, so send it again on a fresh connection; this is
		// not a failure and not a retry.
		now = time.Now()
		c, err = r.Upstream.Dial(context.Background(), t, min(p.connectTimeout(r), deadline.Sub(now)))
		if err != nil {
			return attempt{class: ClassConnect, err: err}
		}
		ex.watch.setUpstream(c)
	}
}

// connect takes a pooled connection to t (one the target has not closed
// or sent anything on while it idled: see upstream.Upstream.Conn), or dials
// one.
func (p *Proxy) connect(r *Route, t *upstream.Target, deadline, now time.Time) (*upstream.Conn, error) {
	return r.Upstream.Conn(context.Background(), t, min(p.connectTimeout(r), deadline.Sub(now)), now)
}

func (p *Proxy) connectTimeout(r *Route) time.Duration {
	if r.Connect > 0 {
		return r.Connect
	}
	return r.Upstream.Settings().ConnectTimeout
}

// exchange sends the request on c and handles the response. A stale
// attempt means c was a pooled connection that turned out closed before
// the request can have reached the target; c has then been closed.
func (p *Proxy) exchange(ex *Exchange, r *Route, c *upstream.Conn, deadline time.Time, mayRetry bool, now time.Time) attempt {
	if a, ok := p.sendRequest(ex, r, c, now); !ok {
		return a
	}
	if a, ok := p.readResponseHead(ex, r, c, deadline, now); !ok {
		return a
	}
	status := ex.resp.Status
	if status == 101 {
		return p.switchProtocols(ex, r, c, now)
	}
	if r.RetryOn.status(status) && mayRetry && p.retryable(ex, r, attempt{class: ClassStatus, status: status, sent: true}) &&
		r.Upstream.Budget.Allows(time.Now()) {
		// Try elsewhere; this response is dropped with its connection.
		r.Upstream.Done(c, false, now)
		return attempt{class: ClassStatus, status: status, sent: true}
	}
	return p.relayResponse(ex, r, c)
}

// sendRequest writes the request to c; ok is false when that failed, and
// the attempt says how.
func (p *Proxy) sendRequest(ex *Exchange, r *Route, c *upstream.Conn, now time.Time) (a attempt, ok bool) {
	c.ArmWrite(now.Add(r.Send), now)
	err := p.writeRequest(ex, r, c)
	if err == nil {
		return attempt{}, true
	}
	reused := c.Reused
	r.Upstream.Done(c, false, now)
	switch {
	case ex.ClientGone():
		return attempt{class: ClassClientGone}, false
	case errors.Is(err, errClientBody):
		return attempt{class: ClassClientGone, done: p.clientGone(ex), err: err}, false
	case errors.Is(err, errBodyTooLarge):
		// Found while streaming: the upstream got a head and part of a
		// body, and loses its connection; the client gets its 413.
		p.tooLarge(ex, r)
		return attempt{class: ClassBodyTooLarge, sent: true, done: true, err: err}, false
	case reused && isStale(err):
		return attempt{stale: true}, false
	}
	return ioFailure(err), false
}

// readResponseHead reads the response head into ex.resp, skipping interim
// 1xx responses but 101; ok is false when there is none, and the attempt
// says why. The response timeout starts once the request is sent: a body
// streamed from a slow client must not use it up.
func (p *Proxy) readResponseHead(ex *Exchange, r *Route, c *upstream.Conn, deadline, now time.Time) (a attempt, ok bool) {
	sent := now
	if ex.Req.HasBody() {
		sent = time.Now()
	}
	c.ArmRead(earliest(sent.Add(r.Response), deadline), sent)
	for {
		head, err := h1.ReadHead(c.BR, maxResponseHead, &ex.spill)
		if err != nil {
			reused := c.Reused
			r.Upstream.Done(c, false, now)
			if ex.ClientGone() {
				return attempt{class: ClassClientGone, sent: true}, false
			}
			// No response at all on a pooled connection: usually the
			// target closed it while idle and never saw the request. But
			// it may have taken the request and died, so only a request
			// that may run twice is sent again.
			if reused && isStale(err) && resendable(ex, r) {
				return attempt{stale: true}, false
			}
			return ioFailure(err), false
		}
		if err := h1.ParseResponse(head, &ex.resp); err != nil {
			r.Upstream.Done(c, false, now)
			return attempt{class: ClassBadResponse, sent: true, err: err}, false
		}
		if ex.resp.Status >= 200 || ex.resp.Status == 101 {
			return attempt{}, true
		}
	}
}

// switchProtocols turns a 101 into a tunnel when the request asked for an
// upgrade its route allows and the upstream switched to one of those.
// Anything else is a bad response: a backend that switches protocols
// unasked would let the client talk to it past routing.
func (p *Proxy) switchProtocols(ex *Exchange, r *Route, c *upstream.Conn, now time.Time) attempt {
	if !ex.upgrade || !r.allowsUpgrade(upgradeHeader(ex.resp.Fields)) {
		r.Upstream.Done(c, false, now)
		return attempt{class: ClassBadResponse, sent: true, err: errUnaskedSwitch}
	}
	p.tunnel(ex, c)
	return attempt{status: 101, sent: true, done: true}
}

// relayResponse streams the upstream's answer to the client, then gives c
// back to the pool if it is positioned at its next response.
func (p *Proxy) relayResponse(ex *Exchange, r *Route, c *upstream.Conn) attempt {
	a := attempt{status: ex.resp.Status, sent: true, done: true}
	if r.RetryOn.status(a.status) {
		a.class = ClassStatus
	}
	reusable, cerr, uerr := p.writeResponse(ex, r, c, time.Now())
	a.end = time.Now()
	// Out of the client watcher's reach before it can go back to the
	// pool: an interrupt after that would hit the connection's next user.
	ex.watch.setUpstream(nil)
	r.Upstream.Done(c, reusable && cerr == nil && uerr == nil, a.end)
	switch {
	case cerr != nil || ex.ClientGone():
		ex.KeepAlive = false
		a.class = ClassClientGone
	case uerr != nil:
		// The head went out already: all we can do is cut the client
		// connection so it sees a truncated response, not a complete one.
		ex.KeepAlive = false
		a.class, a.err = ClassUpstreamAbort, uerr
	}
	ex.ErrClass = a.class
	return a
}

// ioFailure classifies a failed write or read on an upstream connection
// after the request may have reached it.
func ioFailure(err error) attempt {
	if isTimeout(err) {
		return attempt{class: ClassTimeout, sent: true, err: err}
	}
	return attempt{class: ClassReset, sent: true, err: err}
}

func (p *Proxy) watchAfter() time.Duration {
	if p.WatchAfter > 0 {
		return p.WatchAfter
	}
	return 20 * time.Millisecond
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// isStale reports whether err is what a write to, or first read from, a
// connection the peer already closed looks like.
func isStale(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
