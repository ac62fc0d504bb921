package h1

import (
	"bytes"
	"fmt"
)

// Request is a parsed request head. Its byte slices point into the buffer
// it was parsed from.
type Request struct {
	Method []byte
	// Target is the request-target as sent (origin-form after absolute-form
	// has been reduced to its path and query).
	Target []byte
	// Path and Query split Target at the first '?'; Query excludes the '?'.
	Path, Query []byte
	// Minor is the HTTP/1.x minor version (0 or 1).
	Minor int
	// Host is the Host header's value (or the authority of an
	// absolute-form target).
	Host   []byte
	Fields []Field
	// ContentLength is -1 when the request has no Content-Length.
	ContentLength int64
	Chunked       bool
	// KeepAlive is whether the connection may carry another request.
	KeepAlive bool
	// Upgrade is set when the client asks to switch protocols
	// (Connection: upgrade and an Upgrade header).
	Upgrade bool
	// Expect100 is set for "Expect: 100-continue".
	Expect100 bool
	// ConnTokens are the header names the Connection header lists.
	ConnTokens [][]byte
	// IdempotencyKey is set when the request carries an Idempotency-Key.
	IdempotencyKey bool
	// RequestID is the X-Request-ID value, if sent.
	RequestID []byte
	// XFF is the incoming X-Forwarded-For value, if any. When the header
	// is repeated this is the last line only (the entries nearest to us);
	// the earlier lines are still in Fields.
	XFF []byte

	fr framing
}

// HasBody reports whether a body follows the head.
func (r *Request) HasBody() bool { return r.Chunked || r.ContentLength > 0 }

// Reset clears r for reuse, keeping its slices' capacity.
func (r *Request) Reset() {
	fields, tokens := r.Fields[:0], r.fr.connTokens[:0]
	*r = Request{Fields: fields}
	r.fr.connTokens = tokens
}

// Limits bound a request head.
type Limits struct {
	MaxURI int
}

// ParseRequest parses a request head (as returned by ReadHead) into r.
func ParseRequest(head []byte, lim Limits, r *Request) error {
	r.Reset()
	line, rest, ok := nextLine(head)
	if !ok {
		return headErr(ErrMalformed, "bad request line")
	}
	// request-line = method SP request-target SP HTTP-version
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return headErr(ErrMalformed, "bad request line")
	}
	r.Method = line[:sp1]
	if !isToken(r.Method) {
		return headErr(ErrMalformed, "bad method")
	}
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp2 <= sp1 {
		return headErr(ErrMalformed, "bad request line")
	}
	target, version := line[sp1+1:sp2], line[sp2+1:]
	switch {
	case string(version) == "HTTP/1.1":
		r.Minor = 1
	case string(version) == "HTTP/1.0":
		r.Minor = 0
	case len(version) == 8 && bytes.HasPrefix(version, []byte("HTTP/")) && version[6] == '.' &&
		isDigit(version[5]) && isDigit(version[7]):
		// A well-formed version we do not speak (505); anything else
		// after "HTTP/" is garbage (400).
		return headErr(ErrVersion, string(version))
	default:
		return headErr(ErrMalformed, "bad HTTP version")
	}
	if lim.MaxURI > 0 && len(target) > lim.MaxURI {
		return headErr(ErrURITooLong, fmt.Sprintf("request target is %d bytes, limit %d", len(target), lim.MaxURI))
	}
	for _, c := range target {
		// Only visible ASCII: no spaces, controls or raw UTF-8.
		if c <= ' ' || c >= 0x7f {
			return headErr(ErrMalformed, "invalid byte in request target")
		}
	}
	// A fragment is never sent (RFC 9112 section 3.2); checking the whole
	// target covers the query and absolute-form too.
	if bytes.IndexByte(target, '#') >= 0 {
		return headErr(ErrMalformed, "fragment in request target")
	}
	var authority []byte
	switch {
	case len(target) > 0 && target[0] == '/':
	case len(target) > 7 && (EqualFold(target[:7], "http://") || len(target) > 8 && EqualFold(target[:8], "https://")):
		// absolute-form: the authority replaces Host (RFC 9112 section 3.2.2).
		t := target[7:]
		if target[4] != ':' {
			t = target[8:]
		}
		slash := bytes.IndexAny(t, "/?")
		if slash < 0 {
			authority, target = t, []byte("/")
		} else {
			authority, target = t[:slash], t[slash:]
			if target[0] == '?' {
				return headErr(ErrMalformed, "absolute-form target without a path")
			}
		}
	case string(target) == "*" && string(r.Method) == "OPTIONS":
	default:
		return headErr(ErrMalformed, "request target must be a path or an absolute URI")
	}
	r.Target = target
	if q := bytes.IndexByte(target, '?'); q >= 0 {
		r.Path, r.Query = target[:q], target[q+1:]
	} else {
		r.Path = target
	}

	var err error
	if r.Fields, err = parseFields(rest, r.Fields); err != nil {
		return err
	}
	if err := scanFraming(r.Fields, &r.fr); err != nil {
		return err
	}
	if r.fr.chunked && r.Minor == 0 {
		// RFC 9112 section 6.1: a 1.0 message with Transfer-Encoding
		// cannot be framed reliably.
		return headErr(ErrAmbiguousLength, "Transfer-Encoding in an HTTP/1.0 request")
	}
	r.ContentLength, r.Chunked, r.ConnTokens = r.fr.contentLength, r.fr.chunked, r.fr.connTokens
	if r.Minor == 1 {
		r.KeepAlive = !r.fr.close
	} else {
		r.KeepAlive = r.fr.keepAlive && !r.fr.close
	}

	hosts := 0
	var upgradeHdr bool
	for i := range r.Fields {
		f := &r.Fields[i]
		switch len(f.Name) {
		case 4:
			if EqualFold(f.Name, "host") {
				hosts++
				r.Host = f.Value
			}
		case 6:
			if EqualFold(f.Name, "expect") {
				if !EqualFold(f.Value, "100-continue") {
					return headErr(ErrMalformed, "unsupported Expect")
				}
				// RFC 9110 section 10.1.1: a 1.0 client cannot take a
				// 100 response, so its expectation is ignored.
				r.Expect100 = r.Minor == 1
			}
		case 7:
			if EqualFold(f.Name, "upgrade") {
				upgradeHdr = true
			}
		case 12:
			if EqualFold(f.Name, "x-request-id") {
				r.RequestID = f.Value
			}
		case 15:
			if EqualFold(f.Name, "x-forwarded-for") {
				r.XFF = f.Value
			} else if EqualFold(f.Name, "idempotency-key") {
				r.IdempotencyKey = true
			}
		}
	}
	if hosts > 1 {
		return headErr(ErrHost, "repeated Host header")
	}
	if hosts == 0 && r.Minor == 1 && authority == nil {
		return headErr(ErrHost, "missing Host header")
	}
	// The Host header must be valid even when an absolute-form target
	// overrides it (RFC 9112 section 3.2: 400 for an invalid Host value).
	if !validHost(r.Host) {
		return headErr(ErrHost, "invalid Host header")
	}
	if authority != nil {
		// RFC 9110 section 4.2.1: an http(s) URI with an empty host is
		// invalid and must be rejected.
		if len(authority) == 0 || !validHost(authority) {
			return headErr(ErrHost, "invalid authority in request target")
		}
		r.Host = authority
	}
	// RFC 9110 section 7.8: Upgrade in an HTTP/1.0 request is ignored.
	r.Upgrade = r.fr.upgrade && upgradeHdr && r.Minor == 1
	return nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// validHost accepts reg-name, IPv4 and bracketed IPv6 with an optional
// port; no userinfo, no spaces.
func validHost(h []byte) bool {
	for _, c := range h {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_':
		default:
			return false
		}
	}
	return true
}
