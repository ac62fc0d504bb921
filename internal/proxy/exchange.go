package proxy

import (
	"bufio"
	"net"
	"net/netip"
	"time"

	"github.com/skjold-dev/skjold/internal/deadline"
	"github.com/skjold-dev/skjold/internal/h1"
)

// Exchange is one request on one client connection, and what became of it.
// The server owns it and reuses it for every request on the connection:
// it sets ClientConn once per connection and Incoming for each request;
// Forward fills in Result.
type Exchange struct {
	ClientConn
	Incoming
	Result

	// upgrade: the request asks for a protocol switch its route allows,
	// so Upgrade goes to the upstream and a 101 becomes a tunnel.
	upgrade bool

	// Scratch space reused across requests, so forwarding allocates
	// nothing per request.
	idBuf    [40]byte
	num      [20]byte      // formats numbers for the wire; a local array escapes into the bufio.Writer
	body     h1.BodyReader // the request body
	respBody h1.BodyReader // the response body
	bodyBuf  []byte
	spill    []byte
	resp     h1.Response

	watch clientWatch
	wd    deadline.Lazy // the client write deadline armed
}

// ClientConn is the client connection an exchange answers on.
type ClientConn struct {
	Client net.Conn
	CR     *ClientReader // what BR reads Client through
	BR     *bufio.Reader
	BW     *bufio.Writer
	// HSTS, when set, is the Strict-Transport-Security value every answer
	// on this connection carries ("max-age=31536000"), in place of any
	// the backend sent.
	HSTS string
}

// writeHSTS writes the connection's Strict-Transport-Security line.
func writeHSTS(ex *Exchange) {
	if ex.HSTS != "" {
		ex.BW.WriteString("Strict-Transport-Security: ")
		ex.BW.WriteString(ex.HSTS)
		ex.BW.WriteString("\r\n")
	}
}

// Incoming is the request side of an exchange, set by the server before
// Forward.
type Incoming struct {
	Req       h1.Request
	Path      []byte // the cleaned path that was matched
	PrefixLen int    // bytes of Path the route's prefix covered
	// RemoteIP is the connection's peer (the PROXY header's source on a
	// proxy_protocol listener), as X-Forwarded-For's last hop; Peer is the
	// same address, parsed.
	RemoteIP string
	Peer     netip.Addr
	// ClientAddr is the request's resolved client address: Peer, or the
	// client a trusted proxy names (package clientip). Reset sets it to
	// Peer; rate limits, access rules and the access log read it.
	ClientAddr netip.Addr
	Proto      string // "http" or "https"
	Start      time.Time
	// SendTimeout bounds each write to the client (0: 60s).
	SendTimeout time.Duration
	// AnswerHeaders are header lines, each ending in CRLF, that the
	// answer to this request carries whoever makes it (the upstream or
	// the proxy): the gateway's policy puts its RateLimit fields here.
	// Reset empties it, keeping its capacity.
	AnswerHeaders []byte
}

// Result is what became of a request, for the access log and metrics.
type Result struct {
	Status   int
	BytesOut int64
	Upstream string
	Target   string
	Tries    int
	ErrClass Class
	// RequestID is the X-Request-ID the request was forwarded and answered
	// with: the client's when it sent a sane one, else one made up.
	RequestID  []byte
	KeepAlive  bool // the client connection may carry another request
	Upgraded   bool // the connection became a tunnel and is now closed
	FastFailed bool // answered without touching an upstream (breaker, no target, bulkhead)
	// End is when the answer was written, give or take the clock reads
	// it saves (the access log's duration ends here).
	End time.Time
}

// Reset prepares ex for the next request on its connection.
func (ex *Exchange) Reset() {
	ex.Result = Result{}
	ex.upgrade = false
	ex.watch.gone.Store(false)
	ex.Path, ex.PrefixLen = nil, 0
	ex.ClientAddr = ex.Peer
	ex.AnswerHeaders = ex.AnswerHeaders[:0]
	// A head that cannot be read or parsed must not be answered or logged
	// as the previous request: with its method (HEAD: no body), its path
	// or its X-Request-ID.
	ex.Req.Reset()
	ex.body = h1.BodyReader{}
	if cap(ex.bodyBuf) > 64<<10 {
		ex.bodyBuf = nil // do not pin a large buffer to an idle connection
	}
}

// ClientString is the resolved client address for logs; it allocates
// only when a trusted proxy named a client other than the peer.
func (in *Incoming) ClientString() string {
	if in.ClientAddr == in.Peer || !in.ClientAddr.IsValid() {
		return in.RemoteIP
	}
	return in.ClientAddr.String()
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

// ClientGone reports whether the watcher saw the client leave.
func (ex *Exchange) ClientGone() bool { return ex.watch.gone.Load() }

// Close releases the exchange's timer. The server calls it when the
// connection ends.
func (ex *Exchange) Close() { ex.watch.close() }
