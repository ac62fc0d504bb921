package h1

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"testing/iotest"
)

// Limits used by the tests unless a case says otherwise.
const (
	testHeadLimit = 8 << 10
	testMaxURI    = 1 << 10
)

// readers returns the ways a test feeds a message to a parser: all at once,
// and one byte per Read so every split point of the head is exercised.
func readers(raw string) map[string]func() io.Reader {
	return map[string]func() io.Reader{
		"whole":   func() io.Reader { return strings.NewReader(raw) },
		"onebyte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(raw)) },
	}
}

// readRequest reads and parses one request head from br.
func readRequest(br *bufio.Reader, r *Request) error {
	var spill []byte
	head, err := ReadHead(br, testHeadLimit, &spill)
	if err != nil {
		return err
	}
	return ParseRequest(head, Limits{MaxURI: testMaxURI}, r)
}

func TestReadHeadReturnsExactlyOneHead(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		wantHead string
	}{
		{"crlf", "GET / HTTP/1.1\r\nHost: a\r\n\r\nNEXT", "GET / HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"lf only", "GET / HTTP/1.1\nHost: a\n\nNEXT", "GET / HTTP/1.1\nHost: a\n\n"},
		{"lf then crlf terminator", "GET / HTTP/1.1\nHost: a\n\r\nNEXT", "GET / HTTP/1.1\nHost: a\n\r\n"},
		{"no fields", "GET / HTTP/1.0\r\n\r\nNEXT", "GET / HTTP/1.0\r\n\r\n"},
		{"leading crlfs skipped", "\r\n\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\nNEXT", "GET / HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"body bytes stay buffered", "POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody", "POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\n"},
	}
	for _, tt := range tests {
		for rname, mk := range readers(tt.raw) {
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				br := bufio.NewReaderSize(mk(), 64)
				var spill []byte
				head, err := ReadHead(br, testHeadLimit, &spill)
				if err != nil {
					t.Fatalf("ReadHead: %v", err)
				}
				if string(head) != tt.wantHead {
					t.Fatalf("head = %q, want %q", head, tt.wantHead)
				}
				rest, _ := io.ReadAll(br)
				if want := tt.raw[strings.Index(tt.raw, tt.wantHead)+len(tt.wantHead):]; string(rest) != want {
					t.Fatalf("left in reader = %q, want %q", rest, want)
				}
			})
		}
	}
}

func TestReadHeadSpillsHeadsLargerThanTheBuffer(t *testing.T) {
	// A 16-byte-buffer reader forces every head below through the spill path;
	// the long header line is longer than the buffer itself.
	raw := "GET /" + strings.Repeat("p", 40) + " HTTP/1.1\r\nHost: example.com\r\nX-Long: " +
		strings.Repeat("v", 100) + "\r\nA: b\r\n\r\nNEXT"
	want := raw[:len(raw)-len("NEXT")]
	for rname, mk := range readers(raw) {
		t.Run(rname, func(t *testing.T) {
			br := bufio.NewReaderSize(mk(), 16)
			var spill []byte
			head, err := ReadHead(br, 1024, &spill)
			if err != nil {
				t.Fatalf("ReadHead: %v", err)
			}
			if string(head) != want {
				t.Fatalf("head = %q, want %q", head, want)
			}
			var r Request
			if err := ParseRequest(head, Limits{MaxURI: testMaxURI}, &r); err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			if got := string(r.Host); got != "example.com" {
				t.Errorf("Host = %q", got)
			}
			if len(r.Fields) != 3 {
				t.Errorf("got %d fields, want 3", len(r.Fields))
			}
			rest, _ := io.ReadAll(br)
			if string(rest) != "NEXT" {
				t.Fatalf("left in reader = %q, want NEXT", rest)
			}
		})
	}
}

func TestReadHeadReusesSpillBuffer(t *testing.T) {
	raw := "GET / HTTP/1.1\r\nX-Long: " + strings.Repeat("v", 100) + "\r\n\r\n"
	br := bufio.NewReaderSize(strings.NewReader(raw+raw), 16)
	spill := make([]byte, 0, 512)
	for i := range 2 {
		head, err := ReadHead(br, 1024, &spill)
		if err != nil {
			t.Fatalf("head %d: %v", i, err)
		}
		if string(head) != raw {
			t.Fatalf("head %d = %q", i, head)
		}
		if &head[0] != &spill[:1][0] {
			t.Fatalf("head %d does not live in the caller's spill buffer", i)
		}
	}
}

func TestReadHeadEnforcesLimit(t *testing.T) {
	field := "X-Pad: " + strings.Repeat("x", 90) + "\r\n"
	head := "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat(field, 20) + "\r\n" // 2,000-odd bytes
	tests := []struct {
		name    string
		bufSize int
		limit   int
		wantErr error
	}{
		{"in buffer under limit", 4096, 4096, nil},
		{"in buffer over limit", 4096, 1000, ErrHeadTooLarge},
		{"in buffer limit is exact size", 4096, len(head), nil},
		{"in buffer one byte over limit", 4096, len(head) - 1, ErrHeadTooLarge},
		{"spilled under limit", 256, 4096, nil},
		{"spilled over limit", 256, 1000, ErrHeadTooLarge},
		{"spilled limit is exact size", 256, len(head), nil},
		{"spilled one byte over limit", 256, len(head) - 1, ErrHeadTooLarge},
	}
	for _, tt := range tests {
		for rname, mk := range readers(head + "NEXT") {
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				br := bufio.NewReaderSize(mk(), tt.bufSize)
				var spill []byte
				got, err := ReadHead(br, tt.limit, &spill)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if tt.wantErr != nil {
					if s := Status(err); s != 431 {
						t.Fatalf("Status = %d, want 431", s)
					}
					return
				}
				if string(got) != head {
					t.Fatalf("head differs: got %d bytes, want %d", len(got), len(head))
				}
			})
		}
	}
}

func TestReadHeadRejectsEndlessHeadWithoutNewlines(t *testing.T) {
	// No newline ever: the limit must still stop the read.
	raw := "GET /" + strings.Repeat("a", 10000)
	for _, size := range []int{64, 4096} {
		br := bufio.NewReaderSize(strings.NewReader(raw), size)
		var spill []byte
		_, err := ReadHead(br, 2048, &spill)
		if !errors.Is(err, ErrHeadTooLarge) {
			t.Fatalf("buffer %d: err = %v, want ErrHeadTooLarge", size, err)
		}
		if cap(spill) > 4096 {
			t.Fatalf("buffer %d: spill grew to %d bytes for a 2048-byte limit", size, cap(spill))
		}
	}
}

func TestReadHeadStopsAtTheLimitWithoutWaiting(t *testing.T) {
	// Exactly limit bytes and no end: whatever comes next, the head is too
	// large, so ReadHead must say so rather than wait and then report EOF.
	for _, raw := range []string{
		strings.Repeat("a", 512),
		"GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 512-21) + "\r\n",
	} {
		for _, size := range []int{16, 64, 1024} {
			br := bufio.NewReaderSize(strings.NewReader(raw), size)
			var spill []byte
			if _, err := ReadHead(br, len(raw), &spill); !errors.Is(err, ErrHeadTooLarge) {
				t.Errorf("buffer %d, %q...: err = %v, want ErrHeadTooLarge", size, raw[:20], err)
			}
		}
	}
}

func TestReadHeadReportsHowTheStreamEnded(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		wantErr error
	}{
		{"closed before anything", "", io.EOF},
		{"closed after empty lines", "\r\n\r\n", io.EOF},
		{"closed mid request line", "GET / HT", io.ErrUnexpectedEOF},
		{"closed mid head", "GET / HTTP/1.1\r\nHost: a\r\n", io.ErrUnexpectedEOF},
		{"closed mid long head", "GET / HTTP/1.1\r\nX: " + strings.Repeat("y", 200) + "\r\n", io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		for rname, mk := range readers(tt.raw) {
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				br := bufio.NewReaderSize(mk(), 64)
				var spill []byte
				_, err := ReadHead(br, testHeadLimit, &spill)
				if err != tt.wantErr {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			})
		}
	}
}

func TestReadHeadPassesOnReadErrors(t *testing.T) {
	boom := errors.New("connection reset")
	for _, size := range []int{16, 4096} {
		r := io.MultiReader(strings.NewReader("GET / HTTP/1.1\r\nHost: "+strings.Repeat("a", 20)), iotest.ErrReader(boom))
		br := bufio.NewReaderSize(r, size)
		var spill []byte
		if _, err := ReadHead(br, testHeadLimit, &spill); !errors.Is(err, boom) {
			t.Fatalf("buffer %d: err = %v, want %v", size, err, boom)
		}
	}
}

func TestReadHeadOverNetPipeWithTinyWrites(t *testing.T) {
	raw := "POST /upload?x=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nX-Pad: " +
		strings.Repeat("z", 300) + "\r\n\r\nhello"
	client, server := net.Pipe()
	defer server.Close()
	go func() {
		defer client.Close()
		for i := 0; i < len(raw); i += 3 {
			if _, err := client.Write([]byte(raw[i:min(i+3, len(raw))])); err != nil {
				return
			}
		}
	}()
	br := bufio.NewReaderSize(server, 128)
	var r Request
	if err := readRequest(br, &r); err != nil {
		t.Fatalf("readRequest: %v", err)
	}
	if r.ContentLength != 5 || string(r.Path) != "/upload" || string(r.Query) != "x=1" {
		t.Fatalf("parsed %+v", r)
	}
	var body BodyReader
	body.Reset(br, LengthBody, r.ContentLength)
	got, err := io.ReadAll(&body)
	if err != nil || string(got) != "hello" {
		t.Fatalf("body = %q, %v", got, err)
	}
}

func TestHeadErrorNamesTheSentinelAndDetail(t *testing.T) {
	err := headErr(ErrHost, "repeated Host header")
	if got, want := err.Error(), "missing, repeated or invalid Host header: repeated Host header"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got := (&HeadError{Err: ErrMalformed}).Error(); got != ErrMalformed.Error() {
		t.Errorf("Error() without detail = %q", got)
	}
	var he *HeadError
	if !errors.As(err, &he) || he.Detail != "repeated Host header" {
		t.Errorf("errors.As did not find the detail: %v", err)
	}
}

func TestStatusMapsSentinels(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{headErr(ErrHeadTooLarge, ""), 431},
		{headErr(ErrURITooLong, ""), 414},
		{headErr(ErrVersion, ""), 505},
		{headErr(ErrMalformed, ""), 400},
		{headErr(ErrAmbiguousLength, ""), 400},
		{headErr(ErrUnsupportedCoding, ""), 400},
		{headErr(ErrHost, ""), 400},
		{io.ErrUnexpectedEOF, 400},
	}
	for _, tt := range tests {
		if got := Status(tt.err); got != tt.want {
			t.Errorf("Status(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func TestIsHopByHopKnowsEveryConnectionHeader(t *testing.T) {
	hop := []string{
		"Connection", "connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
		"Transfer-Encoding", "Upgrade", "Proxy-Authenticate", "Proxy-Authorization",
	}
	for _, h := range hop {
		if !IsHopByHop([]byte(h)) {
			t.Errorf("IsHopByHop(%q) = false", h)
		}
	}
	for _, h := range []string{"Host", "Content-Length", "Trailers", "Tea", "Authorization", "X-Connection", ""} {
		if IsHopByHop([]byte(h)) {
			t.Errorf("IsHopByHop(%q) = true", h)
		}
	}
}

func TestListedInMatchesConnectionTokensCaselessly(t *testing.T) {
	tokens := [][]byte{[]byte("X-Secret"), []byte("keep-alive")}
	if !listedIn([]byte("x-secret"), tokens) || !listedIn([]byte("Keep-Alive"), tokens) {
		t.Error("listed names not found")
	}
	if listedIn([]byte("X-Secre"), tokens) || listedIn([]byte("Host"), tokens) {
		t.Error("unlisted names found")
	}
}

func TestEqualFoldFoldsOnlyTheWireSide(t *testing.T) {
	tests := []struct {
		b, s string
		want bool
	}{
		{"Content-Length", "content-length", true},
		{"CONTENT-LENGTH", "content-length", true},
		{"content-length", "content-length", true},
		{"content-lengt", "content-length", false},
		{"content-lengthx", "content-length", false},
		{"", "", true},
		{"Content_Length", "content-length", false},
		{"\xc3\xa9", "\xc3\xa9", true},
		// 'K' + 32 = 'k', but the Kelvin sign must not fold to it.
		{"\xe2\x84\xaa", "k", false},
	}
	for _, tt := range tests {
		if got := EqualFold([]byte(tt.b), tt.s); got != tt.want {
			t.Errorf("EqualFold(%q, %q) = %v", tt.b, tt.s, got)
		}
	}
}
