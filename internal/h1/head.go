// Package h1 reads and writes HTTP/1.1 message heads and bodies on the wire,
// strictly: the framing rules of RFC 9112 (one Content-Length, never with
// Transfer-Encoding, no codings but "chunked", no bare CR, no obs-fold) are
// enforced on requests from clients and on responses from upstreams alike, so
// a message one side could read two ways never reaches the other side.
//
// Heads are parsed in place: a Request or Response refers to the bytes it
// was parsed from and is only valid until they are reused.
package h1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Errors a head parser returns. Each maps to one client-facing status; see
// Status.
var (
	// ErrHeadTooLarge: the head exceeds its limit (431 for requests).
	ErrHeadTooLarge = errors.New("message head too large")
	// ErrURITooLong: the request target exceeds its limit (414).
	ErrURITooLong = errors.New("request target too long")
	// ErrMalformed: the head does not parse (400).
	ErrMalformed = errors.New("malformed message head")
	// ErrAmbiguousLength: conflicting or combined Content-Length and
	// Transfer-Encoding, the request-smuggling shapes (400).
	ErrAmbiguousLength = errors.New("ambiguous message length")
	// ErrUnsupportedCoding: a transfer coding other than chunked (400;
	// RFC 9112 section 6.1 allows 501, but an obfuscated coding is an attack,
	// not a feature request).
	ErrUnsupportedCoding = errors.New("unsupported transfer coding")
	// ErrHost: missing, repeated or invalid Host (400).
	ErrHost = errors.New("missing, repeated or invalid Host header")
	// ErrVersion: not HTTP/1.0 or HTTP/1.1 (505).
	ErrVersion = errors.New("unsupported HTTP version")
)

// HeadError is a parse failure with the detail a log line needs.
type HeadError struct {
	Err    error // one of the sentinels above
	Detail string
}

func (e *HeadError) Error() string {
	if e.Detail == "" {
		return e.Err.Error()
	}
	return e.Err.Error() + ": " + e.Detail
}

func (e *HeadError) Unwrap() error { return e.Err }

func headErr(err error, detail string) error { return &HeadError{Err: err, Detail: detail} }

// Status is the HTTP status a client gets for a request head error.
func Status(err error) int {
	switch {
	case errors.Is(err, ErrHeadTooLarge):
		return 431
	case errors.Is(err, ErrURITooLong):
		return 414
	case errors.Is(err, ErrVersion):
		return 505
	default:
		return 400
	}
}

// Field is one header field as it appeared on the wire.
type Field struct {
	Name, Value []byte
}

// ReadHead reads one message head (up to and including the empty line) from
// br. It returns a slice of br's buffer when the head fits in it, else a
// copy grown in *spill up to max bytes. Leading empty lines before a request
// are skipped (RFC 9112 section 2.2). io.EOF means the peer closed cleanly
// before sending anything.
func ReadHead(br *bufio.Reader, limit int, spill *[]byte) ([]byte, error) {
	// Skip stray CRLFs between pipelined requests.
	for {
		b, err := br.Peek(1)
		if err != nil {
			return nil, err
		}
		if b[0] != '\r' && b[0] != '\n' {
			break
		}
		br.Discard(1)
	}
	prev := 0
	for {
		n := br.Buffered()
		if n <= prev {
			n = prev + 1
		}
		if n > br.Size() {
			// The head is bigger than the reader's buffer: move to spill.
			return readSpill(br, limit, spill)
		}
		buf, err := br.Peek(n)
		if end := headEnd(buf, max(0, prev-3)); end > 0 {
			if end > limit {
				return nil, headErr(ErrHeadTooLarge, fmt.Sprintf("head is over %d bytes", limit))
			}
			br.Discard(end)
			return buf[:end], nil
		}
		if len(buf) >= limit {
			return nil, headErr(ErrHeadTooLarge, fmt.Sprintf("head is over %d bytes", limit))
		}
		if err != nil {
			if err == io.EOF {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		prev = len(buf)
	}
}

func readSpill(br *bufio.Reader, limit int, spill *[]byte) ([]byte, error) {
	b := (*spill)[:0]
	for {
		chunk, err := br.ReadSlice('\n')
		if len(b)+len(chunk) > limit {
			return nil, headErr(ErrHeadTooLarge, fmt.Sprintf("head is over %d bytes", limit))
		}
		b = append(b, chunk...)
		*spill = b
		if err == nil {
			if end := headEnd(b, max(0, len(b)-len(chunk)-3)); end > 0 {
				return b[:end], nil
			}
		}
		if len(b) >= limit {
			// Unfinished at the limit: any end makes it too large, so do
			// not wait for more bytes (the buffered path stops here too).
			return nil, headErr(ErrHeadTooLarge, fmt.Sprintf("head is over %d bytes", limit))
		}
		switch err {
		case nil, bufio.ErrBufferFull:
		case io.EOF:
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}

// headEnd returns the length of the head including its terminating empty
// line (CRLF CRLF, or LF LF, which RFC 9112 section 2.2 lets a recipient
// accept), or 0 when it is not complete. from is where to resume scanning.
func headEnd(b []byte, from int) int {
	for i := from; i < len(b); i++ {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return 0
		}
		i += j
		// b[i] == '\n'; the head ends if the line that follows is empty.
		if i+1 < len(b) && b[i+1] == '\n' {
			return i + 2
		}
		if i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n' {
			return i + 3
		}
	}
	return 0
}

// nextLine splits off one line, without its line ending. A CR anywhere but
// right before the LF is malformed (bare CR).
func nextLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return nil, nil, false
	}
	line, rest = b[:i], b[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, nil, false
	}
	return line, rest, true
}

// parseFields parses header lines, up to and including the empty line that
// ends the head, into dst. It rejects obs-fold, whitespace before the colon,
// non-token names and control bytes in values.
func parseFields(b []byte, dst []Field) ([]Field, error) {
	for {
		line, rest, ok := nextLine(b)
		if !ok {
			return dst, headErr(ErrMalformed, "bare CR or unterminated header line")
		}
		b = rest
		if len(line) == 0 {
			return dst, nil
		}
		f, err := parseFieldLine(line)
		if err != nil {
			return dst, err
		}
		dst = append(dst, f)
	}
}

// parseFieldLine parses one field line, without its line ending.
func parseFieldLine(line []byte) (Field, error) {
	if line[0] == ' ' || line[0] == '\t' {
		return Field{}, headErr(ErrMalformed, "obsolete line folding")
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return Field{}, headErr(ErrMalformed, "header line without a name")
	}
	name := line[:colon]
	if !isToken(name) {
		return Field{}, headErr(ErrMalformed, fmt.Sprintf("invalid header name %q", truncate(name)))
	}
	value := trimOWS(line[colon+1:])
	for _, c := range value {
		if c < ' ' && c != '\t' || c == 0x7f {
			return Field{}, headErr(ErrMalformed, fmt.Sprintf("control character in header %q", name))
		}
	}
	return Field{Name: name, Value: value}, nil
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func truncate(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// tokenTable marks the tchar bytes of RFC 9110 section 5.6.2.
var tokenTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenTable[c] {
			return false
		}
	}
	return true
}

// EqualFold reports whether b equals the lower-case ASCII string s, ignoring
// case in b.
func EqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// framing is what the length-related headers of a message say.
type framing struct {
	contentLength int64 // -1 when absent
	chunked       bool
	close         bool // Connection: close
	keepAlive     bool // Connection: keep-alive (matters for HTTP/1.0)
	upgrade       bool // Connection: upgrade
	connTokens    [][]byte
}

// scanFraming reads Content-Length, Transfer-Encoding and Connection from
// fields, rejecting every ambiguous combination.
func scanFraming(fields []Field, f *framing) error {
	f.contentLength = -1
	f.connTokens = f.connTokens[:0]
	teSeen := false
	for i := range fields {
		name, v := fields[i].Name, fields[i].Value
		switch {
		case EqualFold(name, "content-length"):
			n, err := parseContentLength(v)
			if err != nil {
				return err
			}
			if f.contentLength >= 0 && f.contentLength != n {
				return headErr(ErrAmbiguousLength, "conflicting Content-Length headers")
			}
			f.contentLength = n
		case EqualFold(name, "transfer-encoding"):
			if teSeen {
				return headErr(ErrUnsupportedCoding, "repeated Transfer-Encoding header")
			}
			teSeen = true
			if !EqualFold(v, "chunked") {
				return headErr(ErrUnsupportedCoding, fmt.Sprintf("Transfer-Encoding %q (only chunked is accepted)", truncate(v)))
			}
			f.chunked = true
		case EqualFold(name, "connection"):
			forEachToken(v, func(tok []byte) {
				switch {
				case EqualFold(tok, "close"):
					f.close = true
				case EqualFold(tok, "keep-alive"):
					f.keepAlive = true
				case EqualFold(tok, "upgrade"):
					f.upgrade = true
				}
				f.connTokens = append(f.connTokens, tok)
			})
		}
	}
	if f.chunked && f.contentLength >= 0 {
		return headErr(ErrAmbiguousLength, "both Content-Length and Transfer-Encoding")
	}
	return nil
}

// parseContentLength accepts 1*DIGIT, or a list of identical values
// ("5, 5"), which RFC 9110 section 8.6 lets a recipient collapse. Every
// element must be a number: an empty element anywhere ("5,", ",5", "5,,5")
// is rejected, since a peer that reads the list differently would frame the
// body differently.
func parseContentLength(v []byte) (int64, error) {
	n := int64(-1)
	for more := true; more; {
		part := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			part, v = v[:i], v[i+1:]
		} else {
			more = false
		}
		part = trimOWS(part)
		if len(part) == 0 {
			return 0, headErr(ErrAmbiguousLength, "empty Content-Length")
		}
		if len(part) > 18 {
			return 0, headErr(ErrAmbiguousLength, "invalid Content-Length")
		}
		var x int64
		for _, c := range part {
			if c < '0' || c > '9' {
				return 0, headErr(ErrAmbiguousLength, "invalid Content-Length")
			}
			x = x*10 + int64(c-'0')
		}
		if n >= 0 && n != x {
			return 0, headErr(ErrAmbiguousLength, "conflicting Content-Length values")
		}
		n = x
	}
	return n, nil
}

// forEachToken calls fn for each comma-separated, trimmed, non-empty element.
func forEachToken(v []byte, fn func([]byte)) {
	for len(v) > 0 {
		var part []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			part, v = v[:i], v[i+1:]
		} else {
			part, v = v, nil
		}
		if part = trimOWS(part); len(part) > 0 {
			fn(part)
		}
	}
}

// IsHopByHop reports whether a header is connection-specific (RFC 9110
// section 7.6.1) and must not be forwarded.
func IsHopByHop(name []byte) bool {
	switch len(name) {
	case 2:
		return EqualFold(name, "te")
	case 7:
		return EqualFold(name, "upgrade") || EqualFold(name, "trailer")
	case 10:
		return EqualFold(name, "connection") || EqualFold(name, "keep-alive")
	case 16:
		return EqualFold(name, "proxy-connection")
	case 17:
		return EqualFold(name, "transfer-encoding")
	case 18:
		return EqualFold(name, "proxy-authenticate")
	case 19:
		return EqualFold(name, "proxy-authorization")
	}
	return false
}

// listedIn reports whether name is one of the Connection header's tokens;
// such headers are hop-by-hop too.
func listedIn(name []byte, tokens [][]byte) bool {
	for _, t := range tokens {
		if len(t) == len(name) && bytes.EqualFold(t, name) {
			return true
		}
	}
	return false
}
