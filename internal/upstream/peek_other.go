//go:build !unix

package upstream

// PeerClosed cannot ask the kernel on this platform and reports false.
func (c *Conn) PeerClosed() bool { return c.BR.Buffered() > 0 }
