package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
)

// maxHead bounds a request head; a longer one closes the connection. Proxies
// send heads of a few hundred bytes.
const maxHead = 16 << 10

// Server answers every request with the same response.
type Server struct {
	keep  []byte // the response on a keepalive connection
	close []byte // the same with Connection: close
	wg    sync.WaitGroup
}

// NewServer returns a server whose responses carry a body of size bytes.
func NewServer(size int) *Server {
	body := bytes.Repeat([]byte{'x'}, size)
	if size > 0 {
		body[size-1] = '\n'
	}
	head := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(size) + "\r\n"
	return &Server{
		keep:  append([]byte(head+"\r\n"), body...),
		close: append([]byte(head+"Connection: close\r\n\r\n"), body...),
	}
}

// Serve accepts connections until ln is closed, then waits for the open
// connections to end.
func (s *Server) Serve(ln net.Listener) error {
	defer s.wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(c)
		}()
	}
}

// serveConn answers requests on one connection until the client closes it,
// asks for close, or sends something it cannot frame. Answers to pipelined
// requests are flushed together, once the reader has nothing buffered.
func (s *Server) serveConn(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 4096)
	bw := bufio.NewWriterSize(c, 4096)
	for {
		req, err := readRequest(br)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				bw.WriteString("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
				bw.Flush()
			}
			return
		}
		if !req.keepAlive {
			bw.Write(s.close)
			bw.Flush()
			return
		}
		bw.Write(s.keep)
		if br.Buffered() == 0 {
			if bw.Flush() != nil {
				return
			}
		}
	}
}

// request is what the server needs to know of a request.
type request struct {
	keepAlive bool
}

var (
	errHeadTooLong = errors.New("request head too long")
	errBadRequest  = errors.New("malformed request")
)

// readRequest reads one request head and discards its body. It returns
// io.EOF when the connection ends cleanly between requests.
func readRequest(br *bufio.Reader) (request, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return request{}, io.EOF
		}
		return request{}, fmt.Errorf("read request line: %w", errBadRequest)
	}
	line = bytes.TrimRight(line, "\r\n")
	sp := bytes.LastIndexByte(line, ' ')
	if sp < 0 {
		return request{}, errBadRequest
	}
	req := request{keepAlive: string(line[sp+1:]) == "HTTP/1.1"}
	var length int64
	n := len(line)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return request{}, fmt.Errorf("read request head: %w", errBadRequest)
		}
		if n += len(line); n > maxHead {
			return request{}, errHeadTooLong
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return request{}, errBadRequest
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("content-length")):
			length, err = strconv.ParseInt(string(value), 10, 64)
			if err != nil || length < 0 {
				return request{}, errBadRequest
			}
		case bytes.EqualFold(name, []byte("transfer-encoding")):
			// Proxies forward bodiless GETs here; chunked bodies are not
			// part of the benchmark.
			return request{}, errBadRequest
		case bytes.EqualFold(name, []byte("connection")):
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				tok = bytes.TrimSpace(tok)
				if bytes.EqualFold(tok, []byte("close")) {
					req.keepAlive = false
				} else if bytes.EqualFold(tok, []byte("keep-alive")) {
					req.keepAlive = true
				}
			}
		}
	}
	if length > 0 {
		if _, err := br.Discard(int(length)); err != nil {
			return request{}, fmt.Errorf("read request body: %w", errBadRequest)
		}
	}
	return req, nil
}
