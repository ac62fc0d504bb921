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
	"strconv"
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
	class   string
	status  int       // the upstream's status, when it answered
	sent    bool      // request bytes may have reached the upstream
	done    bool      // the response (or an error) has been written to the client
	failure bool      // counts against the target and the breakers
	err     error     // the underlying error, for the log
	end     time.Time // when the response was written, if it was
}

// Forward handles one request on route r: on return ex.Status and the other
// result fields are set and the response has been written to ex.BW and
// flushed (unless the client went away).
func (p *Proxy) Forward(ex *Exchange, r *Route) {
	u := r.Upstream
	req := &ex.Req
	ex.Upstream = u.Name
	ex.KeepAlive = req.KeepAlive
	p.requestID(ex)
	deadline := ex.Start.Add(r.Total)

	// 1. The request body: refuse what is too large, buffer what is small
	// enough to resend on a retry.
	if r.MaxBody > 0 && req.ContentLength > r.MaxBody {
		ex.KeepAlive = false // the unread body is still on the wire
		p.fail(ex, 413, ClassBodyTooLarge, "request body larger than "+strconv.FormatInt(r.MaxBody, 10)+" bytes", 0)
		return
	}
	replayable := true
	if req.HasBody() {
		if req.Expect100 {
			ex.armSend(ex.Start)
			ex.BW.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			if ex.BW.Flush() != nil {
				p.clientGone(ex)
				return
			}
		}
		kind := h1.LengthBody
		if req.Chunked {
			kind = h1.ChunkedBody
		}
		ex.body.Reset(ex.BR, kind, req.ContentLength)
		full, err := p.bufferBody(ex, r)
		if err != nil {
			ex.KeepAlive = false
			if errors.Is(err, errBodyTooLarge) {
				p.fail(ex, 413, ClassBodyTooLarge, "request body larger than "+strconv.FormatInt(r.MaxBody, 10)+" bytes", 0)
			} else if errors.Is(err, h1.ErrBadChunk) {
				p.fail(ex, 400, ClassBadRequest, "malformed chunked request body", 0)
			} else {
				p.clientGone(ex)
			}
			return
		}
		replayable = full
	}
	if !req.HasBody() || replayable {
		// The whole request is read: watch for the client leaving.
		ex.startWatch(p.watchAfter())
		defer ex.endWatch()
	}

	// 2. The route's own breaker.
	rtok, err := r.Breaker.Allow()
	if err != nil {
		p.fastFail(ex, ClassBreakerOpen, "route "+r.Name+": circuit breaker open", r.Breaker.RetryAfter())
		return
	}
	routeOutcome := breaker.Ignored
	defer func() { r.Breaker.Done(rtok, routeOutcome, ex.End.Sub(ex.Start)) }()

	// 3. Tries: each picks a healthy target it has not tried yet. The
	// clock is read when a response head arrives and when the answer has
	// been written, not around every step: now is the end of the last
	// try, at first the request's start.
	now := ex.Start
	ex.End = now
	u.Budget.Request(now)
	retryDeadline := deadline
	if r.RetryTimeout > 0 {
		retryDeadline = earliest(deadline, ex.Start.Add(r.RetryTimeout))
	}
	var tried upstream.Tried
	var last attempt
	for try := 1; ; try++ {
		utok, err := u.Breaker.Allow()
		if err != nil {
			if try == 1 {
				p.fastFail(ex, ClassBreakerOpen, "upstream "+u.Name+": circuit breaker open ("+u.Breaker.Snapshot().Reason+")", u.Breaker.RetryAfter())
				return
			}
			break
		}
		t, idx, slot, class := p.pickTarget(ex, &u, &tried, now)
		if t == nil {
			u.Breaker.Done(utok, breaker.Ignored, 0)
			if try == 1 {
				msg := "upstream " + u.Name + ": no healthy target"
				if class == ClassBulkheadFull {
					msg = "upstream " + u.Name + ": every target is at its concurrency limit"
				}
				// Retry-After: when the first ejected target comes back,
				// or a second for a full bulkhead (slots free quickly).
				after := time.Second
				if next := u.NextUp(now); !next.IsZero() && class == ClassNoTarget {
					after = next.Sub(now)
				}
				p.fastFail(ex, class, msg, after)
				return
			}
			break
		}
		tried = tried.With(idx)
		ex.Upstream = u.Name
		ex.Tries = try
		ex.Target = t.Addr

		// A retry needs a target left to try: without one, a failure
		// status the route retries on is the client's answer.
		mayRetry := try < r.Tries && now.Before(retryDeadline) && (replayable || !req.HasBody()) &&
			u.CanPick(tried, now)
		started := now
		a := p.try(ex, r, t, deadline, mayRetry, now)
		u.Release(t, slot)
		if !a.end.IsZero() {
			now = a.end
		} else {
			now = time.Now()
		}
		ex.End = now

		// Account for the try: client departures are nobody's fault.
		outcome := breaker.Success
		switch {
		case a.class == ClassClientGone, a.class == ClassBodyTooLarge:
			outcome = breaker.Ignored
		case a.failure:
			outcome = breaker.Failure
			u.ReportFailure(t, now)
		default:
			t.ReportSuccess(now.UnixNano())
		}
		u.Breaker.Done(utok, outcome, now.Sub(started))
		routeOutcome = outcome
		if a.done {
			return
		}
		last = a
		if !mayRetry || !p.retryable(ex, r, a) || !u.Budget.TryRetry(now) {
			break
		}
	}
	p.failAttempt(ex, u, last)
}

// pickTarget chooses a target and takes a bulkhead slot on it, moving on to
// another target when one is full. A target that a reload or target switch
// retired after this request loaded its snapshot is released again and the
// pick moves to the upstream's newest snapshot: the slot is taken before the
// check, so the switch's drain either counts this request or this request
// sees the retirement, never neither.
func (p *Proxy) pickTarget(ex *Exchange, up **upstream.Upstream, tried *upstream.Tried, now time.Time) (*upstream.Target, int, upstream.Slot, string) {
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
		return t, idx, slot, ""
	}
}

// retryable reports whether a failed try may be repeated on another target.
// A request that never reached the upstream can always be retried; one that
// did only if it is idempotent (RFC 9110 section 9.2.2), carries an
// Idempotency-Key, or the route opts in.
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
// method is idempotent, it carries an Idempotency-Key, or the route opts in.
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
	u := r.Upstream
	if !now.Before(deadline) {
		return attempt{class: ClassTimeout, failure: false, err: errors.New("request deadline passed before the try")}
	}
	c, err := u.Conn(context.Background(), t, min(p.connectTimeout(r), deadline.Sub(now)), now)
	if err == nil && c.Reused && !resendable(ex, r) && !u.StillClean(c) {
		// A request that must not run twice cannot be resent when its
		// pooled connection turns out dead (see exchange), so one the
		// target closed while idle is replaced before it is used.
		c, err = u.Dial(context.Background(), t, min(p.connectTimeout(r), deadline.Sub(now)))
	}
	if err != nil {
		return attempt{class: ClassConnect, failure: r.RetryOn.Error || r.RetryOn.Timeout, err: err}
	}
	ex.setUpConn(c)
	defer ex.setUpConn(nil)
	if ex.clientGone.Load() {
		u.Done(c, false, now)
		return attempt{class: ClassClientGone}
	}

	for {
		a, stale := p.exchange(ex, r, c, deadline, mayRetry, now)
		if !stale {
			return a
		}
		// A pooled connection the target had closed while idle: the request
		// never got there, so send it again on a fresh connection; this is
		// not a failure and not a retry.
		now = time.Now()
		c, err = u.Dial(context.Background(), t, min(p.connectTimeout(r), deadline.Sub(now)))
		if err != nil {
			return attempt{class: ClassConnect, failure: r.RetryOn.Error || r.RetryOn.Timeout, err: err}
		}
		ex.setUpConn(c)
	}
}

func (p *Proxy) connectTimeout(r *Route) time.Duration {
	if r.Connect > 0 {
		return r.Connect
	}
	return r.Upstream.Settings().ConnectTimeout
}

// exchange sends the request on c and handles the response. stale is true
// when c was a reused connection that turned out closed before anything was
// read from it; c has then been closed.
func (p *Proxy) exchange(ex *Exchange, r *Route, c *upstream.Conn, deadline time.Time, mayRetry bool, now time.Time) (a attempt, stale bool) {
	u := r.Upstream
	req := &ex.Req
	c.ArmWrite(now.Add(r.Send), now)
	werr := p.writeRequest(ex, r, c)
	if werr != nil {
		if ex.clientGone.Load() {
			u.Done(c, false, now)
			return attempt{class: ClassClientGone}, false
		}
		if errors.Is(werr, errClientBody) {
			u.Done(c, false, now)
			return attempt{class: ClassClientGone, done: p.clientGone(ex), err: werr}, false
		}
		if errors.Is(werr, errBodyTooLarge) {
			// Found while streaming: the upstream got a head and part of a
			// body, and loses its connection; the client gets its 413.
			u.Done(c, false, now)
			ex.KeepAlive = false
			p.fail(ex, 413, ClassBodyTooLarge, "request body larger than "+strconv.FormatInt(r.MaxBody, 10)+" bytes", 0)
			return attempt{class: ClassBodyTooLarge, sent: true, done: true, err: werr}, false
		}
		reused := c.Reused
		u.Done(c, false, now)
		if reused && isStale(werr) {
			return attempt{}, true
		}
		return p.ioFailure(ex, r, werr, true), false
	}

	// The response head, skipping interim 1xx responses but 101. The
	// response timeout starts once the request is sent: a body streamed
	// from a slow client must not use it up.
	sent := now
	if req.HasBody() {
		sent = time.Now()
	}
	c.ArmRead(earliest(sent.Add(r.Response), deadline), sent)
	resp := &ex.resp
	for {
		head, err := h1.ReadHead(c.BR, maxResponseHead, &ex.spill)
		if err != nil {
			reused := c.Reused
			u.Done(c, false, now)
			if ex.clientGone.Load() {
				return attempt{class: ClassClientGone, sent: true}, false
			}
			// No response at all on a pooled connection: usually the
			// target closed it while idle and never saw the request. But
			// it may have taken the request and died, so only a request
			// that may run twice is sent again.
			if reused && isStale(err) && resendable(ex, r) {
				return attempt{}, true
			}
			return p.ioFailure(ex, r, err, true), false
		}
		if err := h1.ParseResponse(head, resp); err != nil {
			u.Done(c, false, now)
			return attempt{class: ClassBadResponse, sent: true, failure: r.RetryOn.Error, err: err}, false
		}
		if resp.Status >= 200 || resp.Status == 101 {
			break
		}
	}

	if resp.Status == 101 {
		if !req.Upgrade {
			u.Done(c, false, now)
			return attempt{class: ClassBadResponse, sent: true, failure: r.RetryOn.Error, err: errors.New("101 Switching Protocols without an upgrade request")}, false
		}
		p.tunnel(ex, c)
		return attempt{status: 101, sent: true, done: true}, false
	}

	failed := r.RetryOn.status(resp.Status)
	if failed && mayRetry && p.retryable(ex, r, attempt{class: ClassStatus, status: resp.Status, sent: true}) &&
		u.Budget.Allows(time.Now()) {
		// Try elsewhere; this response is dropped with its connection.
		u.Done(c, false, now)
		return attempt{class: ClassStatus, status: resp.Status, sent: true, failure: true}, false
	}
	a = attempt{status: resp.Status, sent: true, done: true, failure: failed}
	if failed {
		a.class = ClassStatus
	}
	reusable, cerr, uerr := p.writeResponse(ex, r, c, time.Now())
	a.end = time.Now()
	// Out of the client watcher's reach before it can go back to the
	// pool: an interrupt after that would hit the connection's next user.
	ex.setUpConn(nil)
	u.Done(c, reusable && cerr == nil && uerr == nil, a.end)
	switch {
	case cerr != nil || ex.clientGone.Load():
		ex.ErrClass = ClassClientGone
		ex.KeepAlive = false
		a.class = ClassClientGone
	case uerr != nil:
		// The head went out already: all we can do is cut the client
		// connection so it sees a truncated response, not a complete one.
		ex.ErrClass = ClassUpstreamAbort
		ex.KeepAlive = false
		a.class, a.failure, a.err = ClassUpstreamAbort, true, uerr
	default:
		ex.ErrClass = a.class
	}
	return a, false
}

// ioFailure classifies a failed write or read on an upstream connection.
func (p *Proxy) ioFailure(ex *Exchange, r *Route, err error, sent bool) attempt {
	if isTimeout(err) {
		return attempt{class: ClassTimeout, sent: sent, failure: r.RetryOn.Timeout || r.RetryOn.Error, err: err}
	}
	return attempt{class: ClassReset, sent: sent, failure: r.RetryOn.Error || r.RetryOn.Timeout, err: err}
}

// failAttempt answers the client after the last try failed.
func (p *Proxy) failAttempt(ex *Exchange, u *upstream.Upstream, a attempt) {
	switch a.class {
	case ClassClientGone:
		p.clientGone(ex)
	case ClassTimeout:
		p.fail(ex, 504, a.class, "upstream "+u.Name+": timed out", 0)
	case ClassConnect:
		if isTimeout(a.err) {
			p.fail(ex, 504, ClassTimeout, "upstream "+u.Name+": connect timed out", 0)
			return
		}
		p.fail(ex, 502, a.class, "upstream "+u.Name+": connection failed", 0)
	case ClassStatus:
		p.fail(ex, 502, a.class, "upstream "+u.Name+": answered "+strconv.Itoa(a.status), 0)
	case ClassBadResponse:
		p.fail(ex, 502, a.class, "upstream "+u.Name+": invalid response", 0)
	case ClassBreakerOpen:
		p.fastFail(ex, a.class, "upstream "+u.Name+": circuit breaker open", u.Breaker.RetryAfter())
	default:
		p.fail(ex, 502, ClassReset, "upstream "+u.Name+": connection reset before a response", 0)
	}
}

// fastFail answers 503 without touching an upstream.
func (p *Proxy) fastFail(ex *Exchange, class, msg string, retryAfter time.Duration) {
	ex.FastFailed = true
	p.fail(ex, 503, class, msg, retryAfter)
}

// clientGone records that the client left; nothing can be sent. It
// returns true so callers can mark the attempt done.
func (p *Proxy) clientGone(ex *Exchange) bool {
	ex.Status, ex.ErrClass, ex.KeepAlive = 499, ClassClientGone, false
	return true
}

func (p *Proxy) watchAfter() time.Duration {
	if p.WatchAfter > 0 {
		return p.WatchAfter
	}
	return 20 * time.Millisecond
}

// requestID keeps a sane X-Request-ID from the client or makes one.
func (p *Proxy) requestID(ex *Exchange) {
	if id := ex.Req.RequestID; len(id) > 0 && len(id) <= 128 && isToken(id) {
		ex.RequestID = id
		return
	}
	b := append(ex.idBuf[:0], p.idPrefix[:]...)
	b = append(b, '-')
	b = strconv.AppendUint(b, p.idSeq.Add(1), 16)
	ex.RequestID = b
}

func isToken(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
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
