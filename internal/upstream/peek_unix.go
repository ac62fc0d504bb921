//go:build unix

package upstream

import "syscall"

// peek asks the kernel, without waiting (one non-blocking MSG_PEEK),
// whether the target sent anything after the response just read: more
// bytes, its FIN or a reset. Nothing is consumed. A connection with
// either is unusable: stray bytes would be read as the next request's
// response (another client's), a FIN means the next request would be
// lost.
func (c *Conn) peek() peerState {
	if c.BR.Buffered() > 0 {
		return peerSentMore
	}
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return peerQuiet
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return peerGone
	}
	state := peerQuiet
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case n > 0:
			state = peerSentMore
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
		default: // n == 0 without an error is the FIN; any other error a reset
			state = peerGone
		}
		return true // never wait for readiness
	})
	if err != nil {
		return peerGone
	}
	return state
}
