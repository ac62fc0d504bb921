//go:build !unix

package upstream

func (c *Conn) peek() peerState {
	if c.BR.Buffered() > 0 {
		return peerSentMore
	}
	return peerQuiet
}
