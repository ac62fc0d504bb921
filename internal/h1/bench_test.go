package h1

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
)

// typicalGET is a browser-like GET with eight header fields.
const typicalGET = "GET /api/v1/orders/12345?expand=items&limit=20 HTTP/1.1\r\n" +
	"Host: shop.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: application/json, text/plain, */*\r\n" +
	"Accept-Language: en-GB,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Connection: keep-alive\r\n" +
	"Cookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\n" +
	"X-Request-ID: 7f9c2ba4-e88f-11ee-a506-0242ac120002\r\n" +
	"\r\n"

func TestParseRequestDoesNotAllocateWhenReused(t *testing.T) {
	head := []byte(typicalGET)
	var r Request
	if err := ParseRequest(head, Limits{MaxURI: 8192}, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Fields) != 8 || string(r.RequestID) != "7f9c2ba4-e88f-11ee-a506-0242ac120002" || !r.KeepAlive {
		t.Fatalf("parsed %+v", r)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := ParseRequest(head, Limits{MaxURI: 8192}, &r); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("ParseRequest allocates %.1f times per request with a reused Request", allocs)
	}
}

func TestReadHeadAndBodyDoNotAllocate(t *testing.T) {
	msg := "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"10;ext\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\n"
	src := &repeatReader{data: []byte(msg)}
	br := bufio.NewReaderSize(src, 4096)
	var spill []byte
	var r Request
	var b BodyReader
	buf := make([]byte, 64)
	allocs := testing.AllocsPerRun(100, func() {
		head, err := ReadHead(br, 8192, &spill)
		if err != nil {
			t.Fatal(err)
		}
		if err := ParseRequest(head, Limits{}, &r); err != nil {
			t.Fatal(err)
		}
		b.Reset(br, ChunkedBody, -1)
		for {
			_, err := b.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("reading a chunked request allocates %.1f times", allocs)
	}
}

func TestWriteChunkDoesNotAllocate(t *testing.T) {
	w := bufio.NewWriterSize(io.Discard, 4096)
	p := bytes.Repeat([]byte("x"), 1000)
	allocs := testing.AllocsPerRun(100, func() {
		WriteChunk(w, p)
		WriteLastChunk(w)
	})
	if allocs != 0 {
		t.Fatalf("WriteChunk allocates %.1f times per chunk", allocs)
	}
}

// repeatReader returns data over and over, like a client pipelining the
// same request forever.
type repeatReader struct {
	data []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.data[r.off:])
		n += c
		r.off = (r.off + c) % len(r.data)
	}
	return n, nil
}

func BenchmarkParseRequest(b *testing.B) {
	head := []byte(typicalGET)
	var r Request
	b.ReportAllocs()
	b.SetBytes(int64(len(head)))
	for b.Loop() {
		if err := ParseRequest(head, Limits{MaxURI: 8192}, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadHead(b *testing.B) {
	for _, bc := range []struct {
		name string
		size int
	}{{"buffered", 4096}, {"spilled", 128}} {
		b.Run(bc.name, func(b *testing.B) {
			br := bufio.NewReaderSize(&repeatReader{data: []byte(typicalGET)}, bc.size)
			spill := make([]byte, 0, 1024)
			b.ReportAllocs()
			b.SetBytes(int64(len(typicalGET)))
			for b.Loop() {
				if _, err := ReadHead(br, 8192, &spill); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkChunkedRead(b *testing.B) {
	// A 64 KiB body in 4 KiB chunks, read through a 4 KiB bufio.Reader with
	// a 32 KiB copy buffer, as a proxy would.
	var wire bytes.Buffer
	w := bufio.NewWriter(&wire)
	chunk := []byte(strings.Repeat("0123456789abcdef", 256))
	for range 16 {
		WriteChunk(w, chunk)
	}
	WriteLastChunk(w)
	w.Flush()
	encoded := wire.Bytes()
	src := bytes.NewReader(encoded)
	br := bufio.NewReaderSize(src, 4096)
	buf := make([]byte, 32<<10)
	var body BodyReader
	rd := io.Reader(onlyReader{&body})
	b.ReportAllocs()
	b.SetBytes(16 * int64(len(chunk)))
	for b.Loop() {
		src.Reset(encoded)
		br.Reset(src)
		body.Reset(br, ChunkedBody, -1)
		if _, err := io.CopyBuffer(io.Discard, rd, buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteChunk(b *testing.B) {
	w := bufio.NewWriterSize(io.Discard, 32<<10)
	p := bytes.Repeat([]byte("x"), 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if err := WriteChunk(w, p); err != nil {
			b.Fatal(err)
		}
	}
}

// onlyReader hides any WriterTo so io.CopyBuffer uses the given buffer.
type onlyReader struct{ io.Reader }
