// Package clientip resolves the address of the client behind a request:
// the peer of the connection, or, when that peer is a trusted proxy, the
// address the proxy names in X-Forwarded-For or Forwarded (RFC 7239),
// walked from the nearest hop back for as long as each hop is trusted
// (nginx's real_ip_recursive). One resolved address serves rate-limit
// keys, access rules and logs.
package clientip

import (
	"net/netip"

	"github.com/skjold-dev/skjold/internal/h1"
)

// Header names the field trusted proxies write the client chain in.
type Header uint8

// The headers a Resolver can read.
const (
	XForwardedFor Header = iota // X-Forwarded-For: client, proxy1, proxy2
	Forwarded                   // Forwarded: for=client, for=proxy1 (RFC 7239)
)

// maxHops is how many of the nearest hops are kept; a chain longer than
// that resolves to its 16th hop from the right at most.
const maxHops = 16

// Resolver resolves client addresses for one listener. Its zero value
// trusts nobody: the peer is the client.
type Resolver struct {
	// Trusted are the proxies whose client header is believed.
	Trusted []netip.Prefix
	// Header is the one header read; proxies that pass the other one
	// through unchanged would otherwise let a client name itself.
	Header Header
}

// Trusts reports whether a is one of the trusted proxies.
func (r *Resolver) Trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Resolve returns the client address of a request from peer with header
// fields fields: the peer itself unless it is trusted; else the hops of
// the header from the right, as long as the hop before was trusted. A hop
// that is not an address (unknown, an obfuscated name, garbage) ends the
// walk at the trusted hop after it, which cannot be spoofed.
func (r *Resolver) Resolve(peer netip.Addr, fields []h1.Field) netip.Addr {
	peer = peer.Unmap()
	if len(r.Trusted) == 0 || !r.Trusts(peer) {
		return peer
	}
	var hops chain
	for i := range fields {
		f := &fields[i]
		switch {
		case r.Header == XForwardedFor && len(f.Name) == 15 && h1.EqualFold(f.Name, "x-forwarded-for"):
			hops.addList(f.Value)
		case r.Header == Forwarded && len(f.Name) == 9 && h1.EqualFold(f.Name, "forwarded"):
			hops.addForwarded(f.Value)
		}
	}
	addr := peer
	for i := hops.n - 1; i >= max(0, hops.n-maxHops); i-- {
		hop := hops.at(i)
		if !hop.IsValid() {
			break
		}
		addr = hop
		if !r.Trusts(addr) {
			break
		}
	}
	return addr
}

// chain keeps the last maxHops hops of a header, in order; an invalid
// address stands for a hop that is not one.
type chain struct {
	ring [maxHops]netip.Addr
	n    int
}

func (c *chain) add(a netip.Addr) {
	c.ring[c.n%maxHops] = a
	c.n++
}

func (c *chain) at(i int) netip.Addr { return c.ring[i%maxHops] }

// addList adds the comma-separated hops of an X-Forwarded-For line.
func (c *chain) addList(v []byte) {
	for len(v) > 0 {
		item := v
		rest := []byte(nil)
		for i, b := range v {
			if b == ',' {
				item, rest = v[:i], v[i+1:]
				break
			}
		}
		if item = trim(item); len(item) > 0 {
			c.add(ParseHop(item))
		}
		v = rest
	}
}

// addForwarded adds the for= parameter of each element of a Forwarded
// line (RFC 7239 section 4); an element without one is a hop that is not
// an address.
func (c *chain) addForwarded(v []byte) {
	for len(v) > 0 {
		var elem []byte
		elem, v = nextElement(v)
		found := netip.Addr{}
		for len(elem) > 0 {
			var pair []byte
			pair, elem = cut(elem, ';')
			pair = trim(pair)
			if len(pair) > 4 && h1.EqualFold(pair[:4], "for=") {
				val := pair[4:]
				if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
					val = val[1 : len(val)-1]
				}
				found = ParseHop(val)
			}
		}
		c.add(found)
	}
}

// nextElement splits off the first comma-separated element of a
// Forwarded value, honouring quoted strings (which may hold commas).
func nextElement(v []byte) (elem, rest []byte) {
	quoted := false
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			quoted = !quoted
		case '\\':
			if quoted {
				i++
			}
		case ',':
			if !quoted {
				return v[:i], v[i+1:]
			}
		}
	}
	return v, nil
}

func cut(v []byte, sep byte) (before, after []byte) {
	for i, b := range v {
		if b == sep {
			return v[:i], v[i+1:]
		}
	}
	return v, nil
}

func trim(v []byte) []byte {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}

// ParseHop parses one hop: an IPv4 address, optionally with ":port", or
// an IPv6 address, bare or as "[addr]" with an optional ":port". It
// returns the invalid Addr for anything else (RFC 7239's "unknown" and
// obfuscated "_names" included). IPv4, the common case, allocates nothing.
func ParseHop(b []byte) netip.Addr {
	if a, ok := parseV4(b); ok {
		return a
	}
	if len(b) > 0 && b[0] == '[' {
		end := -1
		for i, c := range b {
			if c == ']' {
				end = i
				break
			}
		}
		if end < 0 || (end+1 < len(b) && !validPort(b[end+1:])) {
			return netip.Addr{}
		}
		b = b[1:end]
	}
	if len(b) == 0 || len(b) > 45 {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(string(b))
	if err != nil || a.Zone() != "" || !a.Is6() {
		return netip.Addr{}
	}
	return a.Unmap()
}

// parseV4 reads "a.b.c.d" or "a.b.c.d:port".
func parseV4(b []byte) (netip.Addr, bool) {
	var ip [4]byte
	part, val, digits := 0, 0, 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= '0' && c <= '9':
			if digits > 0 && val == 0 {
				return netip.Addr{}, false // leading zero: ambiguous (octal to some parsers)
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return netip.Addr{}, false
			}
		case c == '.' && digits > 0 && part < 3:
			ip[part] = byte(val)
			part, val, digits = part+1, 0, 0
		case c == ':' && digits > 0 && part == 3:
			if !validPort(b[i:]) {
				return netip.Addr{}, false
			}
			b = b[:i]
		default:
			return netip.Addr{}, false
		}
	}
	if part != 3 || digits == 0 {
		return netip.Addr{}, false
	}
	ip[3] = byte(val)
	return netip.AddrFrom4(ip), true
}

// validPort accepts ":" followed by 1 to 5 digits.
func validPort(b []byte) bool {
	if len(b) < 2 || len(b) > 6 || b[0] != ':' {
		return false
	}
	for _, c := range b[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
