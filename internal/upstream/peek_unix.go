//go:build unix

package upstream

import "syscall"

// PeerClosed reports whether the target closed c, or sent bytes nobody
// asked for, while it sat idle in the pool. It asks the kernel without
// waiting (one non-blocking peek), so it is meant for requests that must
// not be sent on a connection that may be dead: those cannot be resent
// when the connection turns out closed, since the target may have taken
// them before it closed.
func (c *Conn) PeerClosed() bool {
	if c.BR.Buffered() > 0 {
		return true
	}
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	closed := false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// n > 0: unsolicited bytes; n == 0 without an error: the peer's
		// FIN; an error other than EAGAIN: a reset. All make c unusable.
		closed = n > 0 || err == nil || err != syscall.EAGAIN && err != syscall.EWOULDBLOCK
		return true // never wait for readiness
	})
	return closed || err != nil
}
