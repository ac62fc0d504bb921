package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readAllSmall reads b to io.EOF three bytes at a time, so reads that end
// inside chunk data, at its end and on chunk boundaries all happen.
func readAllSmall(t *testing.T, b *BodyReader) string {
	t.Helper()
	got, err := readSmall(b)
	if err != nil {
		t.Fatalf("reading body: %v (read %q)", err, got)
	}
	return got
}

func readSmall(b *BodyReader) (string, error) {
	var out []byte
	p := make([]byte, 3)
	for {
		n, err := b.Read(p)
		out = append(out, p[:n]...)
		if err == io.EOF {
			return string(out), nil
		}
		if err != nil {
			return string(out), err
		}
	}
}

func TestBodyReaderLengthBody(t *testing.T) {
	tests := []struct {
		name     string
		stream   string
		length   int64
		wantBody string
		wantErr  error
		wantNext string // what the connection holds after the body
	}{
		{"exact", "hello", 5, "hello", nil, ""},
		{"stops at length", "helloGET / HTTP/1.1", 5, "hello", nil, "GET / HTTP/1.1"},
		{"one byte", "xy", 1, "x", nil, "y"},
		{"short body", "hel", 5, "hel", io.ErrUnexpectedEOF, ""},
		{"empty stream", "", 5, "", io.ErrUnexpectedEOF, ""},
		{"zero length reads nothing", "NEXT", 0, "", nil, "NEXT"},
	}
	for _, tt := range tests {
		for rname, mk := range readers(tt.stream) {
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				br := bufio.NewReaderSize(mk(), 16)
				var b BodyReader
				b.Reset(br, LengthBody, tt.length)
				if b.Kind() != LengthBody {
					t.Fatalf("Kind = %v", b.Kind())
				}
				got, err := readSmall(&b)
				if err != tt.wantErr {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if got != tt.wantBody {
					t.Fatalf("body = %q, want %q", got, tt.wantBody)
				}
				if b.Done() != (tt.wantErr == nil) {
					t.Fatalf("Done = %v after err %v", b.Done(), err)
				}
				if tt.wantErr != nil {
					return
				}
				if n, err := b.Read(make([]byte, 8)); n != 0 || err != io.EOF {
					t.Fatalf("Read after the end = %d, %v", n, err)
				}
				rest, _ := io.ReadAll(br)
				if string(rest) != tt.wantNext {
					t.Fatalf("left on the connection %q, want %q", rest, tt.wantNext)
				}
			})
		}
	}
}

func TestBodyReaderLengthBodyDoneWithoutExtraRead(t *testing.T) {
	// A caller that reads exactly Content-Length bytes must find the body
	// Done without a further Read returning io.EOF.
	br := bufio.NewReader(strings.NewReader("hello"))
	var b BodyReader
	b.Reset(br, LengthBody, 5)
	if _, err := io.ReadFull(&b, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	if !b.Done() {
		t.Fatal("not Done after reading the whole body")
	}
}

func TestBodyReaderChunked(t *testing.T) {
	tests := []struct {
		name     string
		stream   string
		wantBody string
	}{
		{"two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world"},
		{"empty body", "0\r\n\r\n", ""},
		{"uppercase hex", "A\r\n0123456789\r\n0\r\n\r\n", "0123456789"},
		{"lowercase hex", "a\r\n0123456789\r\n0\r\n\r\n", "0123456789"},
		{"leading zeros", "0005\r\nhello\r\n000\r\n\r\n", "hello"},
		{"fifteen hex digits", "000000000000005\r\nhello\r\n0\r\n\r\n", "hello"},
		{"extensions", "5;name=value\r\nhello\r\n3;a;b=\"q;uoted\"\r\nabc\r\n0;last\r\n\r\n", "helloabc"},
		{"whitespace before extension", "5 ;x=1\r\nhello\r\n0\t;y\r\n\r\n", "hello"},
		{"trailing whitespace after size", "5 \r\nhello\r\n0\r\n\r\n", "hello"},
		{"trailers dropped", "5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Other: d\r\n\r\n", "hello"},
		{"trailer with empty value", "0\r\nX-Empty:\r\n\r\n", ""},
		{"binary data with crlf inside", "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n"},
		{"chunk longer than buffer", "100\r\n" + strings.Repeat("z", 256) + "\r\n0\r\n\r\n", strings.Repeat("z", 256)},
	}
	for _, tt := range tests {
		stream := tt.stream + "NEXT"
		for rname, mk := range readers(stream) {
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				// A chunk-size or trailer line must fit in the reader's
				// buffer; 64 bytes holds every line here.
				br := bufio.NewReaderSize(mk(), 64)
				var b BodyReader
				b.Reset(br, ChunkedBody, -1)
				if b.Done() {
					t.Fatal("Done before reading")
				}
				got := readAllSmall(t, &b)
				if got != tt.wantBody {
					t.Fatalf("body = %q, want %q", got, tt.wantBody)
				}
				if !b.Done() {
					t.Fatal("not Done after io.EOF")
				}
				if n, err := b.Read(make([]byte, 8)); n != 0 || err != io.EOF {
					t.Fatalf("Read after the end = %d, %v", n, err)
				}
				rest, _ := io.ReadAll(br)
				if string(rest) != "NEXT" {
					t.Fatalf("left on the connection %q, want NEXT", rest)
				}
			})
		}
	}
}

func TestBodyReaderChunkedRejectsMalformedBodies(t *testing.T) {
	tests := []struct {
		name     string
		stream   string
		wantErr  error
		wantData string // data returned before the error
	}{
		{"empty size", "\r\nhello\r\n0\r\n\r\n", ErrBadChunk, ""},
		{"non-hex size", "g\r\nhello\r\n0\r\n\r\n", ErrBadChunk, ""},
		{"sixteen hex digits", "0000000000000005\r\nhello\r\n0\r\n\r\n", ErrBadChunk, ""},
		{"seventeen hex digits", "10000000000000000\r\n", ErrBadChunk, ""},
		{"size overflowing int64", "ffffffffffffffff\r\n", ErrBadChunk, ""},
		{"junk after size", "5 junk\r\nhello\r\n0\r\n\r\n", ErrBadChunk, ""},
		{"junk glued to size", "5x\r\nhello\r\n0\r\n\r\n", ErrBadChunk, ""},
		{"hex prefix", "0x5\r\nhello\r\n0\r\n\r\n", ErrBadChunk, ""},
		{"plus sign", "+5\r\nhello\r\n0\r\n\r\n", ErrBadChunk, ""},
		{"minus sign", "-5\r\nhello\r\n0\r\n\r\n", ErrBadChunk, ""},
		{"leading space", " 5\r\nhello\r\n0\r\n\r\n", ErrBadChunk, ""},
		{"bare cr in size line", "5\r;x\r\nhello\r\n0\r\n\r\n", ErrBadChunk, ""},
		{"double cr", "5\r\r\nhello\r\n0\r\n\r\n", ErrBadChunk, ""},
		{"control in extension", "5;a\x00b\r\nhello\r\n0\r\n\r\n", ErrBadChunk, ""},
		{"size line longer than buffer", "5;" + strings.Repeat("e", 64) + "\r\nhello\r\n0\r\n\r\n", ErrBadChunk, ""},
		{"data longer than size", "5\r\nhelloX\r\n0\r\n\r\n", ErrBadChunk, "hello"},
		{"cr without lf after data", "5\r\nhello\r0\r\n\r\n", ErrBadChunk, "hello"},
		{"missing crlf after data", "5\r\nhello0\r\n\r\n", ErrBadChunk, "hello"},
		{"trailers over limit", "1\r\na\r\n0\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("p", 8)+"\r\n", maxTrailerBytes/17+1) + "\r\n", ErrBadChunk, "a"},
		{"trailer line longer than buffer", "0\r\nX-Long: " + strings.Repeat("l", 64) + "\r\n\r\n", ErrBadChunk, ""},

		// A bare LF ends no line of the chunked framing (RFC 9112 section
		// 7.1, errata 7633; CVE-2025-22871).
		{"lf only size line", "5\nhello\r\n0\r\n\r\n", ErrBadChunk, ""},
		{"lf only after data", "5\r\nhello\n0\r\n\r\n", ErrBadChunk, "hello"},
		{"lf only last chunk", "5\r\nhello\r\n0\n\r\n", ErrBadChunk, "hello"},
		{"lf only trailer line", "0\r\nX-T: 1\n\r\n", ErrBadChunk, ""},
		{"lf only final line", "0\r\n\n", ErrBadChunk, ""},
		{"lf inside extension", "5;a\nb\r\nhello\r\n0\r\n\r\n", ErrBadChunk, ""},
		{"all lf", "5\nhello\n0\n\n", ErrBadChunk, ""},
		{"del in extension", "5;a\x7f\r\nhello\r\n0\r\n\r\n", ErrBadChunk, ""},
		{"trailer without colon", "0\r\nGET /smuggled HTTP/1.1\r\n\r\n", ErrBadChunk, ""},
		{"trailer with space before colon", "0\r\nX-T : 1\r\n\r\n", ErrBadChunk, ""},
		{"trailer folded", "0\r\nX-T: 1\r\n 2\r\n\r\n", ErrBadChunk, ""},
		{"trailer with control", "0\r\nX-T: \x00\r\n\r\n", ErrBadChunk, ""},
		{"bare cr in trailer", "0\r\nX-T: a\rb\r\n\r\n", ErrBadChunk, ""},
		{"bare cr as final line", "0\r\n\r\r\n\r\n", ErrBadChunk, ""},

		{"eof before size", "", io.ErrUnexpectedEOF, ""},
		{"eof in size line", "5", io.ErrUnexpectedEOF, ""},
		{"eof in data", "5\r\nhel", io.ErrUnexpectedEOF, "hel"},
		{"eof before crlf after data", "5\r\nhello", io.ErrUnexpectedEOF, "hello"},
		{"eof between cr and lf after data", "5\r\nhello\r", io.ErrUnexpectedEOF, "hello"},
		{"eof before last chunk", "5\r\nhello\r\n", io.ErrUnexpectedEOF, "hello"},
		{"eof before final crlf", "5\r\nhello\r\n0\r\n", io.ErrUnexpectedEOF, "hello"},
		{"eof in trailers", "0\r\nX-T: 1\r\n", io.ErrUnexpectedEOF, ""},
	}
	for _, tt := range tests {
		for rname, mk := range readers(tt.stream) {
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				br := bufio.NewReaderSize(mk(), 64)
				var b BodyReader
				b.Reset(br, ChunkedBody, -1)
				got, err := readSmall(&b)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v (read %q)", err, tt.wantErr, got)
				}
				if got != tt.wantData {
					t.Fatalf("data before the error = %q, want %q", got, tt.wantData)
				}
				if b.Done() {
					t.Fatal("Done after a malformed body: the connection would be reused")
				}
				// The error sticks: reading on must not resume parsing in
				// the middle of a broken body.
				if n, err2 := b.Read(make([]byte, 64)); n != 0 || !errors.Is(err2, tt.wantErr) {
					t.Fatalf("Read after error = %d, %v; want 0, %v", n, err2, tt.wantErr)
				}
				if b.Done() {
					t.Fatal("Done after reading on past an error")
				}
			})
		}
	}
}

func TestBodyReaderErrorsStickAfterResync(t *testing.T) {
	// "1\r\na" is followed by junk and then something that looks like a
	// clean end. A reader that resumed after the error would report the
	// body complete and the connection reusable.
	br := bufio.NewReaderSize(strings.NewReader("1\r\naX0\r\n\r\nGET /smuggled HTTP/1.1\r\n"), 16)
	var b BodyReader
	b.Reset(br, ChunkedBody, -1)
	if _, err := readSmall(&b); !errors.Is(err, ErrBadChunk) {
		t.Fatalf("err = %v, want ErrBadChunk", err)
	}
	for range 3 {
		if _, err := b.Read(make([]byte, 8)); err == io.EOF || err == nil {
			t.Fatalf("Read after ErrBadChunk = %v", err)
		}
	}
	if b.Done() {
		t.Fatal("Done after ErrBadChunk")
	}
}

func TestBodyReaderCloseDelimited(t *testing.T) {
	for rname, mk := range readers("everything until close") {
		t.Run(rname, func(t *testing.T) {
			var b BodyReader
			b.Reset(bufio.NewReaderSize(mk(), 16), CloseBody, -1)
			if b.Done() {
				t.Fatal("Done before reading")
			}
			if got := readAllSmall(t, &b); got != "everything until close" {
				t.Fatalf("body = %q", got)
			}
			if !b.Done() {
				t.Fatal("not Done at EOF")
			}
		})
	}
	boom := errors.New("connection reset")
	var b BodyReader
	b.Reset(bufio.NewReader(io.MultiReader(strings.NewReader("part"), iotest.ErrReader(boom))), CloseBody, -1)
	if got, err := readSmall(&b); !errors.Is(err, boom) || got != "part" {
		t.Fatalf("got %q, %v; want part, %v", got, err, boom)
	}
	if b.Done() {
		t.Fatal("Done after a read error: the body may be truncated")
	}
}

func TestBodyReaderNoBody(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("NEXT"))
	var b BodyReader
	b.Reset(br, NoBody, 0)
	if !b.Done() {
		t.Fatal("NoBody not Done")
	}
	if n, err := b.Read(make([]byte, 4)); n != 0 || err != io.EOF {
		t.Fatalf("Read = %d, %v", n, err)
	}
	if rest, _ := io.ReadAll(br); string(rest) != "NEXT" {
		t.Fatalf("NoBody consumed bytes; left %q", rest)
	}
}

func TestBodyReaderResetReuses(t *testing.T) {
	br := bufio.NewReaderSize(strings.NewReader("3\r\nabc\r\n0\r\n\r\nxyz"), 16)
	var b BodyReader
	b.Reset(br, ChunkedBody, -1)
	if got := readAllSmall(t, &b); got != "abc" {
		t.Fatalf("first body = %q", got)
	}
	b.Reset(br, LengthBody, 3)
	if b.Done() || b.Kind() != LengthBody {
		t.Fatalf("after Reset: Done=%v Kind=%v", b.Done(), b.Kind())
	}
	if got := readAllSmall(t, &b); got != "xyz" {
		t.Fatalf("second body = %q", got)
	}
}

func TestWriteChunkRoundTrip(t *testing.T) {
	pieces := [][]byte{
		[]byte("a"),
		nil, // writes nothing, must not end the body
		[]byte("hello, world"),
		{},
		bytes.Repeat([]byte{0xff, '\r', '\n', 0}, 1000),
		bytes.Repeat([]byte("x"), 0x10000),
	}
	var wire bytes.Buffer
	w := bufio.NewWriterSize(&wire, 64)
	var want []byte
	for _, p := range pieces {
		if err := WriteChunk(w, p); err != nil {
			t.Fatalf("WriteChunk: %v", err)
		}
		want = append(want, p...)
	}
	if err := WriteLastChunk(w); err != nil {
		t.Fatalf("WriteLastChunk: %v", err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(wire.Bytes(), []byte("1\r\na\r\nc\r\nhello, world\r\nfa0\r\n")) {
		t.Fatalf("unexpected encoding: %q", wire.Bytes()[:40])
	}
	if !bytes.HasSuffix(wire.Bytes(), []byte("\r\n0\r\n\r\n")) {
		t.Fatalf("body does not end with the last chunk: %q", wire.Bytes()[wire.Len()-10:])
	}
	wire.WriteString("NEXT")
	br := bufio.NewReaderSize(&wire, 16)
	var b BodyReader
	b.Reset(br, ChunkedBody, -1)
	got, err := io.ReadAll(&b)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("decoded %d bytes (%v), want %d", len(got), err, len(want))
	}
	if !b.Done() {
		t.Fatal("not Done")
	}
	if rest, _ := io.ReadAll(br); string(rest) != "NEXT" {
		t.Fatalf("left %q", rest)
	}
}

func TestWriteChunkReportsWriteErrors(t *testing.T) {
	boom := errors.New("broken pipe")
	w := bufio.NewWriterSize(errWriter{boom}, 16)
	if err := WriteChunk(w, bytes.Repeat([]byte("x"), 64)); !errors.Is(err, boom) {
		t.Fatalf("WriteChunk err = %v, want %v", err, boom)
	}
	if err := WriteLastChunk(w); !errors.Is(err, boom) {
		t.Fatalf("WriteLastChunk err = %v, want %v", err, boom)
	}
}

type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

func TestWriteChunkEncodesSizeInLowerHex(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want string
	}{{1, "1"}, {15, "f"}, {16, "10"}, {255, "ff"}, {256, "100"}, {4096, "1000"}, {0xabcde, "abcde"}} {
		var wire bytes.Buffer
		w := bufio.NewWriter(&wire)
		if err := WriteChunk(w, make([]byte, tt.n)); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if got, _, _ := strings.Cut(wire.String(), "\r\n"); got != tt.want {
			t.Errorf("chunk of %d bytes has size line %q, want %q", tt.n, got, tt.want)
		}
		if wire.Len() != len(tt.want)+2+tt.n+2 {
			t.Errorf("chunk of %d bytes encodes to %d bytes", tt.n, wire.Len())
		}
	}
}

func TestBodyReaderPassesOnConnectionErrors(t *testing.T) {
	boom := errors.New("connection reset")
	for _, tt := range []struct {
		name, before string
		kind         BodyKind
	}{
		{"in length body", "hel", LengthBody},
		{"in chunk size line", "5", ChunkedBody},
		{"in chunk data", "5\r\nhel", ChunkedBody},
		{"before crlf after data", "5\r\nhello", ChunkedBody},
		{"between cr and lf", "5\r\nhello\r", ChunkedBody},
		{"in trailers", "0\r\nX-T", ChunkedBody},
	} {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReaderSize(io.MultiReader(strings.NewReader(tt.before), iotest.ErrReader(boom)), 64)
			var b BodyReader
			b.Reset(br, tt.kind, 5)
			if _, err := readSmall(&b); !errors.Is(err, boom) {
				t.Fatalf("err = %v, want %v", err, boom)
			}
			if b.Done() {
				t.Fatal("Done after a connection error")
			}
		})
	}
}

func TestBodyReaderZeroValueReadsNothing(t *testing.T) {
	var b BodyReader
	if n, err := b.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("Read = %d, %v; want 0, io.EOF", n, err)
	}
}
