package h1

import (
	"bytes"
	"fmt"
)

// Response is a parsed response head. Its byte slices point into the buffer
// it was parsed from.
type Response struct {
	Status int
	Minor  int
	Reason []byte
	Fields []Field
	// ContentLength is -1 when absent.
	ContentLength int64
	Chunked       bool
	// KeepAlive is whether the upstream lets the connection be reused.
	KeepAlive  bool
	ConnTokens [][]byte

	fr framing
}

// Reset clears r for reuse, keeping its slices' capacity.
func (r *Response) Reset() {
	fields, tokens := r.Fields[:0], r.fr.connTokens[:0]
	*r = Response{Fields: fields}
	r.fr.connTokens = tokens
}

// ParseResponse parses a response head into r, with the same strictness as
// requests: an upstream that frames ambiguously is treated as broken.
func ParseResponse(head []byte, r *Response) error {
	r.Reset()
	line, rest, ok := nextLine(head)
	if !ok || len(line) < 12 {
		return headErr(ErrMalformed, "bad status line")
	}
	switch {
	case bytes.HasPrefix(line, []byte("HTTP/1.1 ")):
		r.Minor = 1
	case bytes.HasPrefix(line, []byte("HTTP/1.0 ")):
		r.Minor = 0
	default:
		return headErr(ErrVersion, fmt.Sprintf("status line %q", truncate(line)))
	}
	code := line[9:12]
	if code[0] < '1' || code[0] > '5' || code[1] < '0' || code[1] > '9' || code[2] < '0' || code[2] > '9' {
		return headErr(ErrMalformed, "bad status code")
	}
	r.Status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	if len(line) > 12 {
		if line[12] != ' ' {
			return headErr(ErrMalformed, "bad status line")
		}
		r.Reason = line[13:]
		// reason-phrase = *( HTAB / SP / VCHAR / obs-text ): it may be
		// relayed to the client, so no controls.
		for _, c := range r.Reason {
			if c < ' ' && c != '\t' || c == 0x7f {
				return headErr(ErrMalformed, "control character in reason phrase")
			}
		}
	}
	var err error
	if r.Fields, err = parseFields(rest, r.Fields); err != nil {
		return err
	}
	if err := scanFraming(r.Fields, &r.fr); err != nil {
		return err
	}
	if r.fr.chunked && r.Minor == 0 {
		// RFC 9112 section 6.1: Transfer-Encoding in a 1.0 message means
		// its framing is faulty, from an upstream as from a client.
		return headErr(ErrAmbiguousLength, "Transfer-Encoding in an HTTP/1.0 response")
	}
	r.ContentLength, r.Chunked, r.ConnTokens = r.fr.contentLength, r.fr.chunked, r.fr.connTokens
	if r.Minor == 1 {
		r.KeepAlive = !r.fr.close
	} else {
		r.KeepAlive = r.fr.keepAlive && !r.fr.close
	}
	return nil
}

// BodyKind is how a message body is delimited.
type BodyKind uint8

// Body kinds.
const (
	NoBody      BodyKind = iota // no body at all
	LengthBody                  // Content-Length bytes
	ChunkedBody                 // chunked transfer coding
	CloseBody                   // until the connection closes
)

// ResponseBody says how the body of r is delimited, for a request with the
// given method (RFC 9112 section 6.3).
func (r *Response) ResponseBody(head bool) BodyKind {
	switch {
	case head, r.Status < 200, r.Status == 204, r.Status == 304:
		return NoBody
	case r.Chunked:
		return ChunkedBody
	case r.ContentLength >= 0:
		if r.ContentLength == 0 {
			return NoBody
		}
		return LengthBody
	default:
		return CloseBody
	}
}
