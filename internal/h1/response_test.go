package h1

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func readResponse(br *bufio.Reader, r *Response) error {
	var spill []byte
	head, err := ReadHead(br, testHeadLimit, &spill)
	if err != nil {
		return err
	}
	return ParseResponse(head, r)
}

func TestParseResponseStatusLine(t *testing.T) {
	tests := []struct {
		name       string
		line       string
		wantStatus int
		wantMinor  int
		wantReason string
	}{
		{"ok", "HTTP/1.1 200 OK", 200, 1, "OK"},
		{"multi-word reason", "HTTP/1.1 404 Not Found", 404, 1, "Not Found"},
		{"no reason", "HTTP/1.1 204", 204, 1, ""},
		{"empty reason", "HTTP/1.1 204 ", 204, 1, ""},
		{"reason with obs-text and tab", "HTTP/1.1 200 D\xc3\xa9j\xc3\xa0\tvu", 200, 1, "D\xc3\xa9j\xc3\xa0\tvu"},
		{"http/1.0", "HTTP/1.0 302 Found", 302, 0, "Found"},
		{"informational", "HTTP/1.1 100 Continue", 100, 1, "Continue"},
		{"highest code", "HTTP/1.1 599 x", 599, 1, "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Response
			if err := ParseResponse([]byte(tt.line+"\r\nContent-Length: 0\r\n\r\n"), &r); err != nil {
				t.Fatalf("parse: %v", err)
			}
			if r.Status != tt.wantStatus || r.Minor != tt.wantMinor || string(r.Reason) != tt.wantReason {
				t.Fatalf("got %d 1.%d %q, want %d 1.%d %q", r.Status, r.Minor, r.Reason, tt.wantStatus, tt.wantMinor, tt.wantReason)
			}
		})
	}
}

func TestParseResponseRejectsBadHeads(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		wantErr error
	}{
		{"http/2.0", "HTTP/2.0 200 OK\r\n\r\n", ErrVersion},
		{"http/1.2", "HTTP/1.2 200 OK\r\n\r\n", ErrVersion},
		{"http/2 short form", "HTTP/2 200 OK\r\n\r\n", ErrVersion},
		{"lower case protocol", "http/1.1 200 OK\r\n\r\n", ErrVersion},
		{"garbage", "RTSP/1.0 200 OK\r\n\r\n", ErrVersion},
		{"two-digit code", "HTTP/1.1 20 OK\r\n\r\n", ErrMalformed},
		{"four-digit code", "HTTP/1.1 2000 OK\r\n\r\n", ErrMalformed},
		{"code below 100", "HTTP/1.1 099 x\r\n\r\n", ErrMalformed},
		{"code 600", "HTTP/1.1 600 x\r\n\r\n", ErrMalformed},
		{"non-digit code", "HTTP/1.1 2x0 OK\r\n\r\n", ErrMalformed},
		{"signed code", "HTTP/1.1 +20 OK\r\n\r\n", ErrMalformed},
		{"two spaces before code", "HTTP/1.1  200 OK\r\n\r\n", ErrMalformed},
		{"tab after code", "HTTP/1.1 200\tOK\r\n\r\n", ErrMalformed},
		{"no code", "HTTP/1.1\r\n\r\n", ErrMalformed},
		{"nul in reason", "HTTP/1.1 200 O\x00K\r\n\r\n", ErrMalformed},
		{"escape in reason", "HTTP/1.1 200 O\x1bK\r\n\r\n", ErrMalformed},
		{"bare cr in reason", "HTTP/1.1 200 O\rK\r\n\r\n", ErrMalformed},
		{"obs-fold", "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\n\r\n", ErrMalformed},
		{"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\n", ErrMalformed},
		{"nul in value", "HTTP/1.1 200 OK\r\nX-A: \x00\r\n\r\n", ErrMalformed},
		{"content-length and chunked", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", ErrAmbiguousLength},
		{"two content-lengths", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", ErrAmbiguousLength},
		{"content-length list", "HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\n", ErrAmbiguousLength},
		{"negative content-length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", ErrAmbiguousLength},
		{"gzip chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", ErrUnsupportedCoding},
		{"identity", "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n", ErrUnsupportedCoding},
		{"repeated transfer-encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", ErrUnsupportedCoding},
		// RFC 9112 section 6.1: Transfer-Encoding in a 1.0 message means
		// the framing is faulty, in either direction.
		{"chunked in http/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", ErrAmbiguousLength},
		{"unterminated", "HTTP/1.1 200 OK", ErrMalformed},
		{"no empty line", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Response
			err := ParseResponse([]byte(tt.raw), &r)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestResponseBodyKind(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		head   bool
		want   BodyKind
		length int64
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false, LengthBody, 5},
		{"length zero", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, NoBody, 0},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, ChunkedBody, -1},
		{"close delimited 1.1", "HTTP/1.1 200 OK\r\n\r\n", false, CloseBody, -1},
		{"close delimited 1.0", "HTTP/1.0 200 OK\r\n\r\n", false, CloseBody, -1},
		{"head with length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true, NoBody, 5},
		{"head with chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, NoBody, -1},
		{"head without framing", "HTTP/1.1 200 OK\r\n\r\n", true, NoBody, -1},
		{"continue", "HTTP/1.1 100 Continue\r\n\r\n", false, NoBody, -1},
		{"switching protocols", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", false, NoBody, -1},
		{"early hints", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n", false, NoBody, -1},
		{"no content", "HTTP/1.1 204 No Content\r\n\r\n", false, NoBody, -1},
		{"no content with length", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", false, NoBody, 5},
		{"not modified with length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", false, NoBody, 5},
		{"not modified chunked", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", false, NoBody, -1},
		{"error with length", "HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\n", false, LengthBody, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Response
			if err := ParseResponse([]byte(tt.raw), &r); err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got := r.ResponseBody(tt.head); got != tt.want {
				t.Fatalf("ResponseBody(%v) = %v, want %v", tt.head, got, tt.want)
			}
			if r.ContentLength != tt.length {
				t.Fatalf("ContentLength = %d, want %d", r.ContentLength, tt.length)
			}
		})
	}
}

func TestParseResponseKeepAlive(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want bool
	}{
		{"1.1 default", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true},
		{"1.1 close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false},
		{"1.1 close in list", "HTTP/1.1 200 OK\r\nConnection: x-a, Close\r\nContent-Length: 0\r\n\r\n", false},
		{"1.0 default", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false},
		{"1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", true},
		{"1.0 keep-alive and close", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Response
			if err := ParseResponse([]byte(tt.raw), &r); err != nil {
				t.Fatalf("parse: %v", err)
			}
			if r.KeepAlive != tt.want {
				t.Fatalf("KeepAlive = %v, want %v", r.KeepAlive, tt.want)
			}
		})
	}
}

func TestParseResponseConnTokensAndReuse(t *testing.T) {
	var r Response
	if err := ParseResponse([]byte("HTTP/1.1 200 OK\r\nConnection: X-Internal, close\r\nTransfer-Encoding: chunked\r\n\r\n"), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.ConnTokens) != 2 || !listedIn([]byte("x-internal"), r.ConnTokens) {
		t.Fatalf("ConnTokens = %q", r.ConnTokens)
	}
	if err := ParseResponse([]byte("HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\n"), &r); err != nil {
		t.Fatal(err)
	}
	if r.Chunked || r.ContentLength != 3 || len(r.ConnTokens) != 0 || !r.KeepAlive || len(r.Fields) != 1 || r.Status != 404 {
		t.Fatalf("state leaked from the first response: %+v", r)
	}
}

func TestResponsesOnOneConnection(t *testing.T) {
	// An upstream connection carrying a 100 Continue, a chunked response,
	// a HEAD response with a length and no body, then a length response.
	stream := "HTTP/1.1 100 Continue\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" +
		"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
	steps := []struct {
		head     bool
		status   int
		wantBody string
	}{
		{false, 100, ""},
		{false, 200, "abcd"},
		{true, 200, ""},
		{false, 201, "ok"},
	}
	for rname, mk := range readers(stream) {
		t.Run(rname, func(t *testing.T) {
			br := bufio.NewReaderSize(mk(), 32)
			var r Response
			var b BodyReader
			for i, s := range steps {
				if err := readResponse(br, &r); err != nil {
					t.Fatalf("response %d: %v", i, err)
				}
				if r.Status != s.status {
					t.Fatalf("response %d status %d, want %d", i, r.Status, s.status)
				}
				b.Reset(br, r.ResponseBody(s.head), r.ContentLength)
				if got := readAllSmall(t, &b); got != s.wantBody {
					t.Fatalf("response %d body %q, want %q", i, got, s.wantBody)
				}
			}
			if err := readResponse(br, &r); err != io.EOF {
				t.Fatalf("after the last response: %v, want io.EOF", err)
			}
		})
	}
}

func TestParseResponseFromSpilledHead(t *testing.T) {
	raw := "HTTP/1.1 200 OK\r\nSet-Cookie: " + strings.Repeat("c", 300) + "\r\nContent-Length: 1\r\n\r\nx"
	br := bufio.NewReaderSize(strings.NewReader(raw), 64)
	var r Response
	if err := readResponse(br, &r); err != nil {
		t.Fatal(err)
	}
	if r.ContentLength != 1 || len(r.Fields[0].Value) != 300 {
		t.Fatalf("parsed %+v", r)
	}
}
