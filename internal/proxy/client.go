package proxy

import (
	"io"
	"net"
	"time"

	"github.com/skjold-dev/skjold/internal/deadline"
	"github.com/skjold-dev/skjold/internal/sockio"
)

// ClientReader is what an exchange's bufio.Reader reads the client
// connection through. It arms the read deadline only when a read has to go
// to the socket, and then lazily (package deadline): a request whose head
// arrived with its first bytes never arms its header and body deadlines,
// and a busy keepalive connection re-arms its idle deadline a few times a
// second, not once per request. It also replays the byte an idle
// connection was woken by (ReadAhead).
//
// One goroutine reads at a time: the connection's, or the client watcher
// while the connection's goroutine waits on the upstream.
type ClientReader struct {
	Conn    net.Conn
	want    time.Time // the deadline reads are due by
	wantNow time.Time // when want was asked for, to size the slack
	rd      deadline.Lazy
	io      *sockio.Conn // made on first use
	one     [1]byte
	has     bool
	// pre holds bytes read from Conn before the reader took it over
	// (those that came with a PROXY protocol header); Read returns them
	// first.
	pre []byte
}

// Prepend makes the next reads return b before anything from Conn.
func (r *ClientReader) Prepend(b []byte) { r.pre = b }

// ReadBy asks that reads from now on end by t (the zero time: no
// deadline). Nothing is armed until a read has to wait for the network.
func (r *ClientReader) ReadBy(t, now time.Time) { r.want, r.wantNow = t, now }

// ArmBy is ReadBy, armed at once: for a read deadline that another
// goroutine's wake-up (SetReadDeadline(time.Now())) must not be lost
// behind, the caller arms first and checks for the wake-up after.
func (r *ClientReader) ArmBy(t, now time.Time) {
	r.ReadBy(t, now)
	if r.rd.Due(t, now) {
		r.Conn.SetReadDeadline(t)
	}
}

// Forget is for a read deadline set on Conn directly: the next read arms
// what is wanted.
func (r *ClientReader) Forget() { r.rd.Forget() }

// Read replays the read-ahead byte, if any, else reads the connection with
// the wanted deadline armed.
func (r *ClientReader) Read(b []byte) (int, error) {
	if r.has && len(b) > 0 {
		r.has = false
		b[0] = r.one[0]
		return 1, nil
	}
	if len(r.pre) > 0 {
		n := copy(b, r.pre)
		r.pre = r.pre[n:]
		return n, nil
	}
	if r.rd.Due(r.want, r.wantNow) {
		r.Conn.SetReadDeadline(r.want)
	}
	return r.sock().Read(b)
}

// Writer is what the exchange's bufio.Writer writes the client through.
func (r *ClientReader) Writer() io.Writer { return r.sock() }

func (r *ClientReader) sock() *sockio.Conn {
	if r.io == nil {
		r.io = sockio.New(r.Conn)
	}
	return r.io
}

// ReadAhead blocks until the client sends a byte, which the next Read
// returns first: an idle connection waits here without a read buffer.
func (r *ClientReader) ReadAhead() error {
	n, err := r.Read(r.one[:])
	if n == 1 {
		r.has = true
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}
