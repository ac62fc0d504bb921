package gateway

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/skjold-dev/skjold/internal/clientip"
	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/proxyproto"
)

// clientPolicy is how a listener finds the client behind a connection:
// whether connections start with a PROXY header, and whose forwarded
// header it believes.
type clientPolicy struct {
	proxyProtocol bool
	resolver      clientip.Resolver
}

// clientPolicyFor builds a listener's client policy from its validated
// config (nil: a listener a reload removed, which trusts nobody).
func clientPolicyFor(lc *config.Listener) clientPolicy {
	if lc == nil {
		return clientPolicy{}
	}
	trusted, _ := config.ParseTrustedProxies(lc.TrustedProxies) // validated already
	cp := clientPolicy{proxyProtocol: lc.ProxyProtocol, resolver: clientip.Resolver{Trusted: trusted}}
	if lc.ForwardedHeader == config.ForwardedRFC7239 {
		cp.resolver.Header = clientip.Forwarded
	}
	return cp
}

// peerAddr is a connection's remote address, parsed.
func peerAddr(nc net.Conn) netip.Addr {
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

var proxyHeaderBufs = sync.Pool{New: func() any { b := make([]byte, proxyproto.MaxV2); return &b }}

// readProxyHeader reads the PROXY header a proxy_protocol listener's
// connections start with, within the listener's read_header_timeout, and
// makes its source the connection's peer (when the listener trusts the
// sender). Bytes that arrived with the header are kept for the readers that
// follow. It returns false, having logged why, when the connection must
// close.
func (g *Gateway) readProxyHeader(c *clientConn, v *listenerView) bool {
	b := &c.bufs
	c.nc.SetReadDeadline(time.Now().Add(v.settings.readHeader))
	bp := proxyHeaderBufs.Get().(*[]byte)
	defer proxyHeaderBufs.Put(bp)
	h, rest, err := proxyproto.Read(c.nc, *bp)
	c.nc.SetReadDeadline(time.Time{})
	if err != nil {
		g.log.Debug("connection closed: no valid PROXY protocol header", "listener", v.name, "peer", b.remoteIP, "err", err)
		return false
	}
	if len(rest) > 0 {
		c.pre = append([]byte(nil), rest...)
	}
	trusted := len(v.client.resolver.Trusted) == 0 || v.client.resolver.Trusts(b.peer)
	if h.Local || !trusted {
		return true
	}
	b.peer = h.Source.Addr().Unmap()
	b.remoteIP = b.peer.String()
	return true
}

// prefixedConn is the client socket with the bytes read before the TLS
// handshake (those that came with a PROXY header) in front.
type prefixedConn struct {
	net.Conn
	pre []byte
}

func (p *prefixedConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// socket is what the TLS handshake reads: the socket, behind whatever the
// PROXY header brought with it.
func (c *clientConn) socket() net.Conn {
	if len(c.pre) == 0 {
		return c.nc
	}
	pre := c.pre
	c.pre = nil
	return &prefixedConn{Conn: c.nc, pre: pre}
}
