package h1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"testing"
	"testing/iotest"
)

// requestSeeds are heads, good and bad, that start the request fuzzer near
// the interesting edges.
var requestSeeds = []string{
	"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
	"GET / HTTP/1.0\r\n\r\n",
	"POST /p?q=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
	"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
	"GET http://example.com:80/a?b HTTP/1.1\r\nHost: x\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, X-A\r\nUpgrade: websocket\r\nExpect: 100-continue\r\n\r\n",
	"GET / HTTP/1.1\nHost: h\nX-Forwarded-For: 1.2.3.4\nX-Request-ID: r\nIdempotency-Key: k\n\n",
	"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
	"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
	"GET /\xff HTTP/1.1\r\nHost: h\r\nX: \x00\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n",
}

// FuzzParseRequest checks that no input panics the head reader or parser,
// that an accepted request has exactly one framing, that reading the head
// through a tiny buffer (the spill path) and one byte at a time gives the
// same result as reading it whole, and that net/http never frames an
// accepted request differently.
func FuzzParseRequest(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 4096
		lim := Limits{MaxURI: 512}

		var r Request
		err := ParseRequest(data, lim, &r)
		if err == nil {
			checkRequest(t, &r)
		} else {
			var he *HeadError
			if !errors.As(err, &he) {
				t.Fatalf("ParseRequest error %v is not a *HeadError", err)
			}
			if s := Status(err); s != 400 && s != 414 && s != 505 {
				t.Fatalf("ParseRequest error %v has status %d", err, s)
			}
		}

		// Through ReadHead, with the head in the buffer, spilled, and
		// arriving one byte at a time: all must agree.
		type outcome struct {
			head     string
			err      error
			parseErr error
		}
		read := func(rd io.Reader, size int) outcome {
			var spill []byte
			head, err := ReadHead(bufio.NewReaderSize(rd, size), limit, &spill)
			if err != nil {
				return outcome{err: err}
			}
			if len(head) > limit {
				t.Fatalf("ReadHead returned %d bytes, limit %d", len(head), limit)
			}
			var r Request
			perr := ParseRequest(head, lim, &r)
			if perr == nil {
				checkRequest(t, &r)
			}
			return outcome{head: string(head), parseErr: perr}
		}
		whole := read(bytes.NewReader(data), 8192)
		for name, o := range map[string]outcome{
			"spilled":  read(bytes.NewReader(data), 16),
			"one byte": read(iotest.OneByteReader(bytes.NewReader(data)), 8192),
		} {
			if o.head != whole.head || !errors.Is(o.err, sentinelOf(whole.err)) || !errors.Is(o.parseErr, sentinelOf(whole.parseErr)) {
				t.Fatalf("%s read differs from whole read:\n%s: %q %v %v\nwhole: %q %v %v",
					name, name, o.head, o.err, o.parseErr, whole.head, whole.err, whole.parseErr)
			}
		}

		if whole.err != nil || whole.parseErr != nil {
			return
		}
		// What a proxy forwards (the fields as parsed, re-serialized) must
		// read back the same way.
		var ours Request
		if err := ParseRequest([]byte(whole.head), lim, &ours); err != nil {
			t.Fatal(err)
		}
		var again Request
		out, nfields := reserialize(&ours)
		if err := ParseRequest(out, Limits{}, &again); err != nil {
			t.Fatalf("re-serialized request rejected: %v\n%q", err, out)
		}
		if again.Chunked != ours.Chunked || again.ContentLength != ours.ContentLength ||
			again.KeepAlive != ours.KeepAlive || again.Upgrade != ours.Upgrade ||
			string(again.Target) != string(ours.Target) || len(again.Fields) != nfields {
			t.Fatalf("re-serialized request reads differently:\n%+v\n%+v", ours, again)
		}
		// A second implementation must not find a different body length
		// in a request we accept: that difference is request smuggling.
		std, err := http.ReadRequest(bufio.NewReader(bytes.NewReader([]byte(whole.head))))
		if err != nil {
			return
		}
		stdChunked := len(std.TransferEncoding) > 0
		ourLength := ours.ContentLength
		if ourLength < 0 {
			ourLength = 0 // no framing headers: no body
		}
		if stdChunked != ours.Chunked || !stdChunked && std.ContentLength != ourLength {
			t.Fatalf("framing differs from net/http: ours chunked=%v length=%d, net/http chunked=%v length=%d",
				ours.Chunked, ours.ContentLength, stdChunked, std.ContentLength)
		}
	})
}

// reserialize writes r's head back out in origin-form with CRLF endings,
// as a proxy forwarding it would, and says how many fields it wrote.
func reserialize(r *Request) ([]byte, int) {
	var b []byte
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = append(b, r.Target...)
	b = append(b, " HTTP/1."...)
	b = append(b, byte('0'+r.Minor))
	b = append(b, "\r\n"...)
	hosts := 0
	for _, f := range r.Fields {
		if EqualFold(f.Name, "host") {
			hosts++
		}
		b = append(b, f.Name...)
		b = append(b, ": "...)
		b = append(b, f.Value...)
		b = append(b, "\r\n"...)
	}
	if hosts == 0 && len(r.Host) > 0 {
		// The authority of an absolute-form target becomes Host; it is
		// not counted in Fields.
		b = append(b, "Host: "...)
		b = append(b, r.Host...)
		b = append(b, "\r\n"...)
		return append(b, "\r\n"...), len(r.Fields) + 1
	}
	return append(b, "\r\n"...), len(r.Fields)
}

// sentinelOf maps a parse error to its sentinel, so runs that fail for the
// same reason compare equal whatever their detail text.
func sentinelOf(err error) error {
	var he *HeadError
	if errors.As(err, &he) {
		return he.Err
	}
	return err
}

// checkRequest asserts what every accepted request must satisfy.
func checkRequest(t *testing.T, r *Request) {
	t.Helper()
	if r.ContentLength < -1 {
		t.Fatalf("ContentLength = %d", r.ContentLength)
	}
	if r.Chunked && r.ContentLength >= 0 {
		t.Fatalf("both Chunked and ContentLength %d", r.ContentLength)
	}
	if r.Chunked && r.Minor != 1 {
		t.Fatal("chunked HTTP/1.0 request accepted")
	}
	if r.Minor != 0 && r.Minor != 1 {
		t.Fatalf("Minor = %d", r.Minor)
	}
	if !isToken(r.Method) {
		t.Fatalf("Method %q is not a token", r.Method)
	}
	if len(r.Target) == 0 || r.Target[0] != '/' && string(r.Target) != "*" {
		t.Fatalf("Target %q is not origin-form or *", r.Target)
	}
	for _, c := range r.Target {
		if c <= ' ' || c >= 0x7f || c == '#' {
			t.Fatalf("Target %q holds byte %#x", r.Target, c)
		}
	}
	if !validHost(r.Host) {
		t.Fatalf("Host %q accepted", r.Host)
	}
	for _, f := range r.Fields {
		if !isToken(f.Name) {
			t.Fatalf("field name %q is not a token", f.Name)
		}
		for _, c := range f.Value {
			if c < ' ' && c != '\t' || c == 0x7f {
				t.Fatalf("field %q value %q holds control %#x", f.Name, f.Value, c)
			}
		}
	}
	if r.Upgrade && r.Minor != 1 || r.Expect100 && r.Minor != 1 {
		t.Fatalf("HTTP/1.0 request with Upgrade=%v Expect100=%v", r.Upgrade, r.Expect100)
	}
}

var chunkedSeeds = []string{
	"5\r\nhello\r\n0\r\n\r\n",
	"5;a=b\r\nhello\r\n0\r\nT: v\r\n\r\n",
	"A\n0123456789\n0\n\n",
	"5\r\nhello\r\n0\r\nX: 1\r\nGET / HTTP/1.1\r\n\r\n",
	"fffffffffffffff\r\n",
	"10000000000000000\r\n",
	"5 junk\r\nhello\r\n0\r\n\r\n",
	"1\r\naX0\r\n\r\n",
	"0\r\n\r\nNEXT",
}

// FuzzChunked decodes arbitrary bytes as a chunked body and checks that
// decoding never panics, does not depend on how the bytes arrive, agrees
// with net/http's decoder whenever both accept, and that encoding arbitrary
// data with WriteChunk gives it back unchanged.
func FuzzChunked(f *testing.F) {
	for i, s := range chunkedSeeds {
		f.Add([]byte(s), uint8(i))
	}
	f.Fuzz(func(t *testing.T, data []byte, piece uint8) {
		// Decode.
		decode := func(rd io.Reader) (body []byte, left int, done bool, err error) {
			br := bufio.NewReaderSize(rd, 64)
			var b BodyReader
			b.Reset(br, ChunkedBody, -1)
			body, err = io.ReadAll(&b)
			rest, _ := io.ReadAll(br)
			return body, len(rest), b.Done(), err
		}
		body, left, done, err := decode(bytes.NewReader(data))
		if done != (err == nil) {
			t.Fatalf("Done = %v with err %v", done, err)
		}
		body1, left1, _, err1 := decode(iotest.OneByteReader(bytes.NewReader(data)))
		if !bytes.Equal(body, body1) || left != left1 || fmt.Sprint(err1) != fmt.Sprint(err) {
			t.Fatalf("one-byte reads differ: %q %d %v, whole: %q %d %v", body1, left1, err1, body, left, err)
		}
		if err != nil {
			// A broken body stays broken: reading on must neither end
			// cleanly nor mark the connection reusable.
			br := bufio.NewReaderSize(bytes.NewReader(data), 64)
			var b BodyReader
			b.Reset(br, ChunkedBody, -1)
			_, err := io.ReadAll(&b)
			for range 3 {
				if _, again := b.Read(make([]byte, 16)); again == nil || again == io.EOF || b.Done() {
					t.Fatalf("after %v, Read returned %v (Done %v)", err, again, b.Done())
				}
			}
		}
		if err == nil {
			std, stdErr := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(data)))
			if stdErr == nil && !bytes.Equal(std, body) {
				t.Fatalf("net/http decodes %q, we decode %q", std, body)
			}
		}

		// Encode data in pieces of size piece+1 (or one piece) and decode.
		var wire bytes.Buffer
		w := bufio.NewWriterSize(&wire, 32)
		size := int(piece) + 1
		if piece == 0 {
			size = len(data)
		}
		for p := data; len(p) > 0; {
			n := min(size, len(p))
			if err := WriteChunk(w, p[:n]); err != nil {
				t.Fatal(err)
			}
			p = p[n:]
		}
		if err := WriteLastChunk(w); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		got, left, done, err := decode(bytes.NewReader(wire.Bytes()))
		if err != nil || !done || left != 0 || !bytes.Equal(got, data) {
			t.Fatalf("round trip: got %q (err %v, done %v, %d bytes left), want %q", got, err, done, left, data)
		}
	})
}
