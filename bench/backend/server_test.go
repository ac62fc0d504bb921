package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// startServer serves on a loopback port until the test ends.
func startServer(t *testing.T, size int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(size)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(ln)
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// answer is one response as the client saw it.
type answer struct {
	status int
	body   int
}

// exchange writes raw to a new connection, reads want responses, then
// reports whether the server closed the connection. A connection the server
// keeps open is seen as silence for closeWait.
func exchange(t *testing.T, addr, raw string, want int, closeWait time.Duration) ([]answer, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var got []answer
	for len(got) < want {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", len(got)+1, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("response %d body: %v", len(got)+1, err)
		}
		got = append(got, answer{resp.StatusCode, len(body)})
	}
	c.SetReadDeadline(time.Now().Add(closeWait))
	_, err = br.ReadByte()
	if errors.Is(err, io.EOF) {
		return got, true
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("after the responses: want EOF or silence, got %v", err)
	}
	return got, false
}

func TestBackendAnswersEveryRequestWithTheFixedBody(t *testing.T) {
	addr := startServer(t, 64)
	tests := []struct {
		name       string
		raw        string
		responses  int
		wantClosed bool
	}{
		{"keeps an HTTP/1.1 connection open", "GET / HTTP/1.1\r\nHost: b\r\n\r\n", 1, false},
		{"answers pipelined requests in order", "GET /a HTTP/1.1\r\nHost: b\r\n\r\nGET /b HTTP/1.1\r\nHost: b\r\n\r\n", 2, false},
		{"discards a request body", "POST / HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: b\r\n\r\n", 2, false},
		{"closes when asked", "GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n", 1, true},
		{"closes an HTTP/1.0 connection", "GET / HTTP/1.0\r\n\r\n", 1, true},
		{"keeps an HTTP/1.0 keep-alive connection open", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, closed := exchange(t, addr, tt.raw, tt.responses, 100*time.Millisecond)
			for i, a := range got {
				if a.status != 200 || a.body != 64 {
					t.Errorf("response %d: status %d with a %d-byte body; want 200 with 64 bytes", i+1, a.status, a.body)
				}
			}
			if closed != tt.wantClosed {
				t.Errorf("connection closed = %v, want %v", closed, tt.wantClosed)
			}
		})
	}
}

func TestBackendRejectsChunkedBodiesAndCloses(t *testing.T) {
	addr := startServer(t, 64)
	got, closed := exchange(t, addr, "POST / HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 1, time.Second)
	if got[0].status != 400 || !closed {
		t.Errorf("chunked request: status %d, closed %v; want 400 and closed", got[0].status, closed)
	}
}
