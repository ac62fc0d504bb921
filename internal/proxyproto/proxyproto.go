// Package proxyproto reads the PROXY protocol header (versions 1 and 2, as
// HAProxy specifies them) that a TCP load balancer sends at the start of a
// connection to name the client it is passing on. It is hand-written
// because the gateway reads its sockets itself: Read consumes the header
// and hands back whatever of the request arrived with it, so no byte is
// lost between the header and the HTTP (or TLS) reader that follows.
package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
)

// Header is what a PROXY header says about the connection.
type Header struct {
	// Source and Dest are the client's and the load balancer's addresses
	// as the load balancer saw them. Both are zero when Local is set.
	Source, Dest netip.AddrPort
	// Local: the header names no client (v1 UNKNOWN, a v2 LOCAL command
	// such as a health check, or an address family other than TCP over
	// IPv4/IPv6); the socket's own addresses stand.
	Local bool
	// Version is 1 or 2.
	Version int
}

var (
	// ErrNoHeader: the connection does not start with a PROXY header.
	ErrNoHeader = errors.New("PROXY protocol: the connection does not start with a PROXY header")
	// ErrMalformed: a PROXY header that does not parse.
	ErrMalformed = errors.New("PROXY protocol: malformed header")
	// errIncomplete: the bytes so far are the start of a header.
	errIncomplete = errors.New("PROXY protocol: incomplete header")
)

const (
	// maxV1 is the longest v1 line, CRLF included (the specification's
	// 107 bytes).
	maxV1 = 107
	// MaxV2 bounds a v2 header with its TLVs; the specification allows
	// 64 KiB of TLVs, which no load balancer in front of a gateway sends.
	MaxV2 = 16 + 2048
)

var sigV2 = []byte("\r\n\r\n\x00\r\nQUIT\n")

// Parse parses the header at the start of b and returns it with its
// length in bytes. errIncomplete means b is a prefix of a header.
func Parse(b []byte) (Header, int, error) {
	switch {
	case len(b) >= 6 && string(b[:6]) == "PROXY ":
		return parseV1(b)
	case len(b) < 6 && bytes.HasPrefix([]byte("PROXY "), b):
		return Header{}, 0, errIncomplete
	case len(b) >= len(sigV2) && bytes.Equal(b[:len(sigV2)], sigV2):
		return parseV2(b)
	case len(b) < len(sigV2) && bytes.HasPrefix(sigV2, b):
		return Header{}, 0, errIncomplete
	}
	return Header{}, 0, ErrNoHeader
}

func parseV1(b []byte) (Header, int, error) {
	end := bytes.Index(b[:min(len(b), maxV1)], []byte("\r\n"))
	if end < 0 {
		if len(b) >= maxV1 {
			return Header{}, 0, fmt.Errorf("%w: v1 line longer than %d bytes", ErrMalformed, maxV1)
		}
		return Header{}, 0, errIncomplete
	}
	line, n := b[6:end], end+2
	if bytes.IndexByte(line, '\n') >= 0 || bytes.IndexByte(line, '\r') >= 0 {
		return Header{}, 0, fmt.Errorf("%w: stray CR or LF in the v1 line", ErrMalformed)
	}
	if bytes.HasPrefix(line, []byte("UNKNOWN")) {
		return Header{Local: true, Version: 1}, n, nil
	}
	f := bytes.Split(line, []byte(" "))
	if len(f) != 5 || (string(f[0]) != "TCP4" && string(f[0]) != "TCP6") {
		return Header{}, 0, fmt.Errorf("%w: expected \"PROXY TCP4|TCP6 src dst sport dport\", got %q", ErrMalformed, b[:end])
	}
	src, err1 := netip.ParseAddr(string(f[1]))
	dst, err2 := netip.ParseAddr(string(f[2]))
	sp, ok1 := port(f[3])
	dp, ok2 := port(f[4])
	v4 := string(f[0]) == "TCP4"
	if err1 != nil || err2 != nil || !ok1 || !ok2 || src.Is4() != v4 || dst.Is4() != v4 || src.Zone() != "" || dst.Zone() != "" {
		return Header{}, 0, fmt.Errorf("%w: bad address or port in %q", ErrMalformed, b[:end])
	}
	return Header{Source: netip.AddrPortFrom(src, sp), Dest: netip.AddrPortFrom(dst, dp), Version: 1}, n, nil
}

// port parses a v1 port: 1 to 5 digits, no sign, no leading zero.
func port(b []byte) (uint16, bool) {
	if len(b) == 0 || len(b) > 5 || (b[0] == '0' && len(b) > 1) {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(string(b), 10, 16)
	return uint16(n), err == nil
}

func parseV2(b []byte) (Header, int, error) {
	if len(b) < 16 {
		return Header{}, 0, errIncomplete
	}
	verCmd, fam := b[12], b[13]
	if verCmd>>4 != 2 {
		return Header{}, 0, fmt.Errorf("%w: v2 signature with version %d", ErrMalformed, verCmd>>4)
	}
	size := int(binary.BigEndian.Uint16(b[14:16]))
	n := 16 + size
	if n > MaxV2 {
		return Header{}, 0, fmt.Errorf("%w: v2 header of %d bytes, more than the %d accepted", ErrMalformed, n, MaxV2)
	}
	if len(b) < n {
		return Header{}, 0, errIncomplete
	}
	body := b[16:n]
	h := Header{Version: 2}
	switch verCmd & 0xf {
	case 0: // LOCAL: the balancer's own connection (a health check)
		h.Local = true
		return h, n, nil
	case 1: // PROXY
	default:
		return Header{}, 0, fmt.Errorf("%w: v2 command %d", ErrMalformed, verCmd&0xf)
	}
	switch fam {
	case 0x11: // TCP over IPv4
		if len(body) < 12 {
			return Header{}, 0, fmt.Errorf("%w: v2 IPv4 addresses need 12 bytes, got %d", ErrMalformed, len(body))
		}
		h.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[0:4])), binary.BigEndian.Uint16(body[8:10]))
		h.Dest = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[4:8])), binary.BigEndian.Uint16(body[10:12]))
	case 0x21: // TCP over IPv6
		if len(body) < 36 {
			return Header{}, 0, fmt.Errorf("%w: v2 IPv6 addresses need 36 bytes, got %d", ErrMalformed, len(body))
		}
		h.Source = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[0:16])), binary.BigEndian.Uint16(body[32:34]))
		h.Dest = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[16:32])), binary.BigEndian.Uint16(body[34:36]))
	default:
		// UNSPEC, UDP, unix sockets: nothing a client address can come
		// from; the specification says to keep the socket's.
		h.Local = true
	}
	return h, n, nil
}

// Read reads a PROXY header from r into buf (which must hold MaxV2 bytes)
// and returns it with the bytes read past it: the start of what the
// connection carries next, for the caller to read before r. A connection
// that starts otherwise gets ErrNoHeader, one that ends first
// io.ErrUnexpectedEOF; r's deadline bounds the wait.
func Read(r io.Reader, buf []byte) (h Header, rest []byte, err error) {
	got := 0
	for {
		n, rerr := r.Read(buf[got:])
		got += n
		h, size, perr := Parse(buf[:got])
		switch {
		case perr == nil:
			return h, buf[size:got], nil
		case !errors.Is(perr, errIncomplete):
			return Header{}, nil, perr
		case rerr == io.EOF:
			return Header{}, nil, io.ErrUnexpectedEOF
		case rerr != nil:
			return Header{}, nil, rerr
		case got == len(buf):
			return Header{}, nil, fmt.Errorf("%w: no complete header in %d bytes", ErrMalformed, got)
		}
	}
}
