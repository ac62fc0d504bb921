//go:build !unix

package upstream

import "net"

// peeker is empty where the kernel cannot be asked without waiting.
type peeker struct{ one [1]byte }

func (p *peeker) init(net.Conn)                {}
func (c *Conn) initPeek(nc net.Conn)           {}
func (p *peeker) peek() peerState              { return peerQuiet }
func (p *peeker) readNow([]byte) (int, error)  { return 0, errWouldBlock }
func (p *peeker) writeNow([]byte) (int, error) { return 0, errWouldBlock }

// peek reports only bytes already buffered on this platform (for a TLS
// connection: also those the TLS layer holds).
func (c *Conn) peek() peerState {
	if c.BR.Buffered() > 0 {
		return peerSentMore
	}
	if c.wire != nil {
		return c.wire.peek()
	}
	return peerQuiet
}
