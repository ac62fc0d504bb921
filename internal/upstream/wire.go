package upstream

import (
	"crypto/tls"
	"io"
	"net"

	"github.com/skjold-dev/skjold/internal/sockio"
)

// wire is the TCP connection under a TLS connection to a target. Reads
// and writes go through sockio (no scheduler hand-off, as on plain
// connections), and it follows the TLS record framing of what it reads,
// so that the reuse check can tell whether the TLS layer holds part of a
// record it has not decrypted yet (see peek).
type wire struct {
	net.Conn // the TCP connection: deadlines, addresses, Close
	io       *sockio.Conn
	tls      *tls.Conn // the TLS connection over this wire
	peeker   peeker
	frame    recordFrame
	// now makes reads and writes return errWouldBlock instead of waiting:
	// for peek, and for the close_notify alert on close. Set and cleared
	// by the connection's owner, never while another goroutine uses it.
	now bool
}

var _ net.Conn = (*wire)(nil)

func newWire(nc net.Conn) *wire {
	w := &wire{Conn: nc, io: sockio.New(nc)}
	w.peeker.init(nc)
	return w
}

// Read reads what the target sent, following its record framing.
func (w *wire) Read(p []byte) (int, error) {
	var n int
	var err error
	if w.now {
		if n, err = w.peeker.readNow(p); err == nil && n == 0 && len(p) > 0 {
			err = io.EOF
		}
	} else {
		n, err = w.io.Read(p)
	}
	w.frame.advance(p[:n])
	return n, err
}

// Write writes all of p (in now mode: what the socket takes at once).
func (w *wire) Write(p []byte) (int, error) {
	if !w.now {
		return w.io.Write(p)
	}
	n := 0
	for n < len(p) {
		k, err := w.peeker.writeNow(p[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// peek is Conn.peek for a TLS connection. Looking at the socket alone is
// not enough: the TLS layer reads ahead, so bytes the target sent past
// its response may sit decrypted in the TLS connection, or as part of a
// record in its raw input, where neither the socket nor BR shows them. So
// the TLS connection itself is read, without waiting: plaintext means the
// target sent more; close_notify or a FIN that it closed. When the read
// would wait, the TLS layer has processed every complete record it had
// (a session ticket that arrived late is handled and harmless); if the
// bytes read so far end inside a record, the rest of it is still to come
// and belongs to no request: the connection is not reusable either.
func (w *wire) peek() peerState {
	w.now = true
	n, err := w.tls.Read(w.peeker.one[:])
	w.now = false
	switch {
	case n > 0:
		return peerSentMore
	case err == errWouldBlock:
		if w.frame.midRecord() {
			return peerSentMore
		}
		return peerQuiet
	}
	return peerGone // close_notify, a FIN, a reset or an alert
}

// close closes the TLS connection, sending close_notify only if the
// socket takes it at once: a target that stopped reading must not hold
// the closing goroutine (crypto/tls would wait up to 5s).
func (w *wire) close() {
	w.now = true
	w.tls.Close()
}

// errWouldBlock is what a read or write in now mode returns when it would
// have to wait. crypto/tls keeps a connection usable after a read error
// only when the error is a net.Error that is Temporary (and asserts the
// type directly, without errors.As), hence a type of its own.
var errWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "upstream: operation would block" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// recordFrame follows the TLS record framing of a byte stream (RFC 8446
// §5.1, the same in TLS 1.2: a 5-byte header whose last two bytes are the
// length of the body that follows), to tell whether the bytes seen so far
// end on a record boundary. It costs a few instructions per record.
type recordFrame struct {
	left  int  // body bytes of the current record still to come
	hdr   int  // header bytes seen of the next record, 0..4
	lenHi byte // the high byte of the next record's length
}

func (f *recordFrame) advance(b []byte) {
	for len(b) > 0 {
		if f.left > 0 {
			k := min(f.left, len(b))
			f.left -= k
			b = b[k:]
			continue
		}
		c := b[0]
		b = b[1:]
		switch f.hdr {
		case 3:
			f.lenHi = c
			f.hdr++
		case 4:
			f.left = int(f.lenHi)<<8 | int(c)
			f.hdr = 0
		default:
			f.hdr++
		}
	}
}

// midRecord reports whether the stream ends inside a record.
func (f *recordFrame) midRecord() bool { return f.left > 0 || f.hdr > 0 }
