package proxy

import (
	"bufio"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skjold-dev/skjold/internal/deadline"
	"github.com/skjold-dev/skjold/internal/h1"
	"github.com/skjold-dev/skjold/internal/upstream"
)

// Error classes, as the access log and metrics name them.
const (
	ClassNone          = ""
	ClassConnect       = "connect"      // could not connect to any target
	ClassReset         = "reset"        // connection broke before a response
	ClassTimeout       = "timeout"      // no response in time
	ClassBadResponse   = "bad_response" // the upstream's response did not parse
	ClassStatus        = "status"       // the upstream answered with a failure status
	ClassBreakerOpen   = "breaker_open"
	ClassNoTarget      = "no_healthy_target"
	ClassBulkheadFull  = "bulkhead_full"
	ClassClientGone    = "client_gone"
	ClassBodyTooLarge  = "body_too_large"
	ClassBadRequest    = "bad_request"
	ClassUpstreamAbort = "upstream_abort" // the response broke after it started
)

// Exchange is one request on one client connection, and what became of it.
// The server owns it and reuses it for every request on the connection.
type Exchange struct {
	// Set by the server before Forward.
	Req       h1.Request
	Path      []byte // the cleaned path that was matched
	PrefixLen int    // bytes of Path the route's prefix covered
	Client    net.Conn
	CR        *ClientReader // what BR reads Client through
	BR        *bufio.Reader
	BW        *bufio.Writer
	RemoteIP  string
	Proto     string // "http" or "https"
	Start     time.Time
	// End is set by Forward: when the answer was written, give or take
	// the clock reads it saves (the access log's duration ends here).
	End time.Time
	// SendTimeout bounds each write to the client (0: 60s).
	SendTimeout time.Duration

	// Results, for the access log and metrics.
	Status     int
	BytesOut   int64
	Upstream   string
	Target     string
	Tries      int
	ErrClass   string
	RequestID  []byte
	KeepAlive  bool // the client connection may carry another request
	Upgraded   bool // the connection became a tunnel and is now closed
	FastFailed bool // answered without touching an upstream (breaker, no target, bulkhead)

	idBuf    [40]byte
	num      [20]byte      // formats numbers for the wire; a local array escapes into the bufio.Writer
	body     h1.BodyReader // the request body
	respBody h1.BodyReader // the response body
	bodyBuf  []byte
	spill    []byte
	resp     h1.Response

	// Client-gone detection: after the request has been read, a watcher
	// (started lazily by a timer, so fast requests never pay for it) reads
	// the client connection; EOF there means the client left, and the
	// upstream operation in progress is interrupted through its deadline.
	watchTimer *time.Timer
	watchDone  chan struct{}
	watching   atomic.Bool
	stopWatch  atomic.Bool
	clientGone atomic.Bool
	wd         deadline.Lazy // the client write deadline armed
	upMu       sync.Mutex
	upConn     *upstream.Conn
}

// Reset prepares ex for the next request on its connection.
func (ex *Exchange) Reset() {
	ex.Status, ex.BytesOut, ex.Tries = 0, 0, 0
	ex.End = time.Time{}
	ex.Upstream, ex.Target, ex.ErrClass = "", "", ClassNone
	ex.RequestID = nil
	ex.KeepAlive, ex.Upgraded, ex.FastFailed = false, false, false
	ex.clientGone.Store(false)
	ex.Path, ex.PrefixLen = nil, 0
	ex.body = h1.BodyReader{}
	if cap(ex.bodyBuf) > 64<<10 {
		ex.bodyBuf = nil // do not pin a large buffer to an idle connection
	}
}

// armSend gives the next write to the client SendTimeout to complete, so a
// client that stops reading cannot hold its upstream connection forever.
func (ex *Exchange) armSend(now time.Time) {
	d := ex.SendTimeout
	if d <= 0 {
		d = 60 * time.Second
	}
	ex.ArmWrite(now.Add(d), now)
}

// ArmWrite makes writes to the client fail after t, re-arming the
// connection's timer only when t moved by more than deadline.MaxSlack.
func (ex *Exchange) ArmWrite(t, now time.Time) {
	if ex.wd.Due(t, now) {
		ex.Client.SetWriteDeadline(t)
	}
}

// BodyConsumed reports whether the request body has been read to its end,
// so the connection is positioned at the next request.
func (ex *Exchange) BodyConsumed() bool { return !ex.Req.HasBody() || ex.body.Done() }

// setUpConn publishes the upstream connection in use so the client-gone
// watcher can interrupt it.
func (ex *Exchange) setUpConn(c *upstream.Conn) {
	ex.upMu.Lock()
	ex.upConn = c
	ex.upMu.Unlock()
}

// ClientGone reports whether the watcher saw the client leave.
func (ex *Exchange) ClientGone() bool { return ex.clientGone.Load() }

// startWatch arms the lazy client watcher.
func (ex *Exchange) startWatch(after time.Duration) {
	if ex.watchTimer == nil {
		ex.watchDone = make(chan struct{}, 1)
		ex.watchTimer = time.AfterFunc(time.Hour, ex.watch)
		ex.watchTimer.Stop()
	}
	// The request has been read in full, so the read deadline that bounded
	// its head and body has done its job; left in place it would end the
	// watch as a departure and cut a response still streaming. Only the
	// watcher's read arms it, if the watcher runs at all.
	ex.CR.ReadBy(time.Time{}, ex.Start)
	ex.stopWatch.Store(false)
	ex.watching.Store(true)
	ex.watchTimer.Reset(after)
}

// endWatch disarms the watcher, waiting for it if it already runs.
func (ex *Exchange) endWatch() {
	if !ex.watching.Swap(false) {
		return
	}
	if ex.watchTimer.Stop() {
		return
	}
	// The watcher is running (or about to): wake its read and wait.
	ex.stopWatch.Store(true)
	ex.Client.SetReadDeadline(time.Now())
	<-ex.watchDone
	ex.CR.Forget() // the next read re-arms what it needs
}

func (ex *Exchange) watch() {
	// Arm the watch's read deadline (none) before looking at stopWatch:
	// endWatch sets stopWatch, then wakes the read with a deadline of now,
	// so either this sees stopWatch or the wake-up lands after this arm.
	// Arming inside the read instead could overwrite the wake-up and
	// leave endWatch waiting for a read that never ends.
	ex.CR.ArmBy(time.Time{}, time.Time{})
	if ex.stopWatch.Load() {
		ex.watchDone <- struct{}{}
		return
	}
	_, err := ex.BR.Peek(1)
	if err != nil && !ex.stopWatch.Load() {
		ex.clientGone.Store(true)
		ex.upMu.Lock()
		if ex.upConn != nil {
			ex.upConn.Interrupt()
		}
		ex.upMu.Unlock()
	}
	ex.watchDone <- struct{}{}
}

// Close releases the exchange's timer. The server calls it when the
// connection ends.
func (ex *Exchange) Close() {
	ex.endWatch()
	if ex.watchTimer != nil {
		ex.watchTimer.Stop()
	}
}
