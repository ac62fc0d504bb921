//go:build !unix

package upstream

// peeker is empty where the kernel cannot be asked without waiting.
type peeker struct{}

func (c *Conn) initPeek() {}

// peek reports only bytes already buffered on this platform.
func (c *Conn) peek() peerState {
	if c.BR.Buffered() > 0 {
		return peerSentMore
	}
	return peerQuiet
}
