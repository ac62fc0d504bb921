//go:build unix

package upstream

import "syscall"

// peeker looks at a connection's receive side without consuming anything.
// It is built once per connection (the raw descriptor and the callback),
// so a peek allocates nothing.
type peeker struct {
	rc    syscall.RawConn // nil: not a socket with a descriptor
	f     func(fd uintptr) bool
	state peerState
	one   [1]byte
}

func (c *Conn) initPeek() {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	c.peeker.rc = rc
	c.peeker.f = c.peekFD
}

// peek asks the kernel, without waiting (one non-blocking MSG_PEEK),
// whether the target sent anything after the response just read: more
// bytes, its FIN or a reset. A connection with either is unusable: stray
// bytes would be read as the next request's response (another client's),
// and after a FIN the next request would be lost.
func (c *Conn) peek() peerState {
	if c.BR.Buffered() > 0 {
		return peerSentMore
	}
	if c.peeker.rc == nil {
		return peerQuiet
	}
	c.peeker.state = peerQuiet
	if err := c.peeker.rc.Read(c.peeker.f); err != nil {
		return peerGone
	}
	return c.peeker.state
}

func (c *Conn) peekFD(fd uintptr) bool {
	n, _, err := syscall.Recvfrom(int(fd), c.peeker.one[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	switch {
	case n > 0:
		c.peeker.state = peerSentMore
	case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
	default: // n == 0 without an error is the FIN; any other error a reset
		c.peeker.state = peerGone
	}
	return true // never wait for readiness
}
