//go:build unix

package upstream

import (
	"net"
	"syscall"
)

// peeker looks at a connection's receive side without waiting, and for a
// TLS connection also reads and writes without waiting (see wire). It is
// built once per connection (the raw descriptor and the callbacks), so a
// peek allocates nothing.
type peeker struct {
	rc    syscall.RawConn // nil: not a socket with a descriptor
	f     func(fd uintptr)
	state peerState
	one   [1]byte

	// The pending non-blocking read or write of readNow and writeNow.
	buf    []byte
	n      int
	errno  syscall.Errno
	readF  func(fd uintptr)
	writeF func(fd uintptr)
}

// init finds nc's descriptor; without one, peeks report only what is
// buffered and readNow and writeNow are not available.
func (p *peeker) init(nc net.Conn) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	p.rc = rc
	p.f = p.peekFD
	p.readF = p.readFD
	p.writeF = p.writeFD
}

func (c *Conn) initPeek(nc net.Conn) { c.peeker.init(nc) }

// peek asks the kernel, without waiting (one non-blocking MSG_PEEK),
// whether the target sent anything after the response just read: more
// bytes, its FIN or a reset. A connection with either is unusable: stray
// bytes would be read as the next request's response (another client's),
// and after a FIN the next request would be lost.
func (c *Conn) peek() peerState {
	if c.BR.Buffered() > 0 {
		return peerSentMore
	}
	if c.wire != nil {
		return c.wire.peek()
	}
	return c.peeker.peek()
}

// peek is Conn.peek on the socket itself. It goes through Control, not
// Read: RawConn.Read fails at once when the read deadline has passed, and
// a pooled connection still carries the deadline of its last response,
// which says nothing about the target.
func (p *peeker) peek() peerState {
	if p.rc == nil {
		return peerQuiet
	}
	p.state = peerQuiet
	if err := p.rc.Control(p.f); err != nil {
		return peerGone
	}
	return p.state
}

func (p *peeker) peekFD(fd uintptr) {
	n, _, err := syscall.Recvfrom(int(fd), p.one[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	switch {
	case n > 0:
		p.state = peerSentMore
	case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
	default: // n == 0 without an error is the FIN; any other error a reset
		p.state = peerGone
	}
}

// readNow reads what the socket holds into b without waiting: errWouldBlock
// when it holds nothing, 0 and no error at the target's FIN.
func (p *peeker) readNow(b []byte) (int, error) {
	return p.now(b, p.readF, "read")
}

// writeNow writes what the socket takes of b without waiting:
// errWouldBlock when its send buffer is full.
func (p *peeker) writeNow(b []byte) (int, error) {
	return p.now(b, p.writeF, "write")
}

func (p *peeker) now(b []byte, f func(fd uintptr), op string) (int, error) {
	if p.rc == nil || len(b) == 0 {
		return 0, errWouldBlock
	}
	p.buf, p.n, p.errno = b, 0, 0
	err := p.rc.Control(f)
	p.buf = nil
	switch {
	case err != nil:
		return 0, err
	case p.errno == syscall.EAGAIN || p.errno == syscall.EWOULDBLOCK:
		return 0, errWouldBlock
	case p.errno != 0:
		return 0, &net.OpError{Op: op, Net: "tcp", Err: p.errno}
	}
	return p.n, nil
}

func (p *peeker) readFD(fd uintptr) {
	p.n, p.errno = recvNow(int(fd), p.buf)
}

// writeFD sends without MSG_NOSIGNAL, which not every unix has: the
// runtime ignores SIGPIPE for sockets, so a reset peer gives EPIPE.
func (p *peeker) writeFD(fd uintptr) {
	for {
		n, err := syscall.SendmsgN(int(fd), p.buf, nil, nil, syscall.MSG_DONTWAIT)
		if err == syscall.EINTR {
			continue
		}
		p.n, p.errno = max(n, 0), errnoOf(err)
		return
	}
}

func recvNow(fd int, b []byte) (int, syscall.Errno) {
	for {
		n, _, err := syscall.Recvfrom(fd, b, syscall.MSG_DONTWAIT)
		if err == syscall.EINTR {
			continue
		}
		return max(n, 0), errnoOf(err)
	}
}

func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	if e, ok := err.(syscall.Errno); ok {
		return e
	}
	return syscall.EIO
}
