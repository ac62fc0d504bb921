package h1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrBadChunk is a malformed chunked body.
var ErrBadChunk = errors.New("malformed chunked body")

// maxTrailerBytes bounds the trailer section of a chunked body; trailers
// are read and dropped.
const maxTrailerBytes = 8 << 10

// BodyReader reads one message body from a connection's buffered reader.
// The zero value reads nothing; Reset prepares it for a body. It is reused
// across messages on one connection, so reading allocates nothing.
type BodyReader struct {
	br        *bufio.Reader
	kind      BodyKind
	remaining int64 // bytes left in the body (LengthBody) or chunk (ChunkedBody)
	inChunk   bool
	done      bool
	err       error // sticky: a broken body stays broken
}

// Reset prepares b to read a body of the given kind from br. length is the
// Content-Length for LengthBody.
func (b *BodyReader) Reset(br *bufio.Reader, kind BodyKind, length int64) {
	*b = BodyReader{br: br, kind: kind, remaining: length}
	if kind == NoBody || kind == LengthBody && length <= 0 {
		b.done = true
	}
}

// Done reports whether the body has been read to its end, so the connection
// is positioned at the next message.
func (b *BodyReader) Done() bool { return b.done }

// Kind is the kind of body being read.
func (b *BodyReader) Kind() BodyKind { return b.kind }

// Read reads body bytes; io.EOF marks the end of the body. A connection that
// ends early gives io.ErrUnexpectedEOF. After any other error every later
// Read returns it again and Done stays false: parsing never resumes in the
// middle of a broken body, where bytes after the damage could pass for a
// clean end and leave the connection looking reusable.
func (b *BodyReader) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

func (b *BodyReader) read(p []byte) (int, error) {
	switch b.kind {
	case LengthBody:
		if int64(len(p)) > b.remaining {
			p = p[:b.remaining]
		}
		n, err := b.br.Read(p)
		b.remaining -= int64(n)
		if b.remaining == 0 {
			b.done = true
			return n, nil
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return n, err
	case ChunkedBody:
		return b.readChunked(p)
	case CloseBody:
		n, err := b.br.Read(p)
		if err == io.EOF {
			b.done = true
		}
		return n, err
	}
	return 0, io.EOF
}

func (b *BodyReader) readChunked(p []byte) (int, error) {
	if !b.inChunk {
		size, err := b.readChunkSize()
		if err != nil {
			return 0, err
		}
		if size == 0 {
			if err := b.readTrailers(); err != nil {
				return 0, err
			}
			b.done = true
			return 0, io.EOF
		}
		b.remaining, b.inChunk = size, true
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.br.Read(p)
	b.remaining -= int64(n)
	if b.remaining == 0 {
		b.inChunk = false
		if err := b.readCRLF(); err != nil {
			return n, err
		}
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// badChunk is ErrBadChunk with what was wrong, for the log line.
func badChunk(detail string) error { return fmt.Errorf("%w: %s", ErrBadChunk, detail) }

// readLine reads one line of the chunked framing (a chunk-size line or a
// trailer line) without its CRLF. Unlike in a head, a bare LF does not end
// a line here: RFC 9112 section 7.1 requires CRLF and errata 7633 declined
// to relax it, and a parser that accepts LF where another sees part of a
// chunk extension can be made to split one body into two requests
// (CVE-2025-22871). A line must also fit in the reader's buffer.
func (b *BodyReader) readLine() ([]byte, error) {
	line, err := b.br.ReadSlice('\n')
	if err != nil {
		switch err {
		case io.EOF:
			return nil, io.ErrUnexpectedEOF
		case bufio.ErrBufferFull:
			return nil, badChunk("line too long")
		}
		return nil, err
	}
	n := len(line)
	if n < 2 || line[n-2] != '\r' {
		return nil, badChunk("line ends in a bare LF")
	}
	line = line[:n-2]
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, badChunk("bare CR")
	}
	return line, nil
}

// readChunkSize reads "HEX [;ext] CRLF".
func (b *BodyReader) readChunkSize() (int64, error) {
	line, err := b.readLine()
	if err != nil {
		return 0, err
	}
	var size int64
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			goto ext
		}
		if i >= 15 {
			return 0, badChunk("chunk size over 15 hex digits")
		}
		size = size<<4 | int64(d)
	}
ext:
	if i == 0 {
		return 0, badChunk("chunk size is not hex")
	}
	// Only chunk extensions (";...", after optional whitespace) may follow.
	rest := trimOWS(line[i:])
	if len(rest) > 0 && rest[0] != ';' {
		return 0, badChunk("junk after chunk size")
	}
	for _, c := range rest {
		if c < ' ' && c != '\t' || c == 0x7f {
			return 0, badChunk("control character in chunk extension")
		}
	}
	return size, nil
}

// readCRLF reads the CRLF that ends chunk data.
func (b *BodyReader) readCRLF() error {
	c, err := b.br.ReadByte()
	if err == nil {
		if c != '\r' {
			return badChunk("chunk data longer than its size")
		}
		c, err = b.br.ReadByte()
	}
	if err != nil {
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	if c != '\n' {
		return badChunk("no CRLF after chunk data")
	}
	return nil
}

// readTrailers reads the trailer section up to the empty line that ends the
// body. Trailer fields are dropped, but they must be well-formed field
// lines: a line one peer takes for a trailer and another for a request is
// a way to smuggle one.
func (b *BodyReader) readTrailers() error {
	total := 0
	for {
		line, err := b.readLine()
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
		if total += len(line) + 2; total > maxTrailerBytes {
			return badChunk(fmt.Sprintf("trailers over %d bytes", maxTrailerBytes))
		}
		if _, err := parseFieldLine(line); err != nil {
			return badChunk("malformed trailer field")
		}
	}
}

// WriteChunk writes p as one chunk. An empty p writes nothing (an empty
// chunk would end the body).
func WriteChunk(w *bufio.Writer, p []byte) error {
	if len(p) == 0 {
		return nil
	}
	// Write the size digit by digit: a scratch array passed to w.Write
	// escapes (Write may hand it to the underlying writer), which cost an
	// allocation per chunk.
	n := len(p)
	shift := 0
	for n>>(shift+4) > 0 {
		shift += 4
	}
	for ; shift >= 0; shift -= 4 {
		w.WriteByte("0123456789abcdef"[n>>shift&0xf])
	}
	w.WriteString("\r\n")
	w.Write(p)
	_, err := w.WriteString("\r\n")
	return err
}

// WriteLastChunk ends a chunked body (no trailers).
func WriteLastChunk(w *bufio.Writer) error {
	_, err := w.WriteString("0\r\n\r\n")
	return err
}
