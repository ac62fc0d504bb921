package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// rawBackend is a loopback server that runs serve on every connection it
// accepts, for backends that must put exact bytes on the wire or
// misbehave on purpose.
type rawBackend struct {
	ln       net.Listener
	accepted atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	open     map[net.Conn]struct{}
}

func newRawBackend(t testing.TB, serve func(c net.Conn)) *rawBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &rawBackend{ln: ln, open: map[net.Conn]struct{}{}}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.accepted.Add(1)
			b.mu.Lock()
			b.open[c] = struct{}{}
			b.mu.Unlock()
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer func() {
					b.mu.Lock()
					delete(b.open, c)
					b.mu.Unlock()
					c.Close()
				}()
				serve(c)
			}()
		}
	}()
	t.Cleanup(b.close)
	return b
}

func (b *rawBackend) addr() string { return b.ln.Addr().String() }

// openConns is how many accepted connections are still being served.
func (b *rawBackend) openConns() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.open)
}

func (b *rawBackend) close() {
	b.ln.Close()
	b.mu.Lock()
	for c := range b.open {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// scripted serves HTTP/1.1 requests on a connection with whatever respond
// returns for each, closing the connection after a response when told to.
// Request bodies are read and dropped.
func scripted(respond func(req *http.Request, head string) (resp string, closeAfter bool)) func(net.Conn) {
	return func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			head, req, err := readRequestHead(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			resp, closeAfter := respond(req, head)
			if _, err := io.WriteString(c, resp); err != nil || closeAfter {
				return
			}
		}
	}
}

// readRequestHead reads one request, returning its head exactly as it was
// sent and the parsed request.
func readRequestHead(br *bufio.Reader) (string, *http.Request, error) {
	var head strings.Builder
	for {
		line, err := br.ReadString('\n')
		head.WriteString(line)
		if err != nil {
			return "", nil, err
		}
		if line == "\r\n" || line == "\n" {
			break
		}
	}
	req, err := http.ReadRequest(bufio.NewReader(io.MultiReader(strings.NewReader(head.String()), br)))
	if err != nil {
		return "", nil, err
	}
	return head.String(), req, nil
}

// clientConn is a raw client connection that sends requests and parses
// responses, for checks on the exact bytes the gateway writes.
type rawClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return &rawClient{t: t, c: c, br: bufio.NewReader(c)}
}

func (rc *rawClient) send(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatal(err)
	}
}

// rawResponse is a response head as written, and its decoded body.
type rawResponse struct {
	status int
	head   string
	header textproto.MIMEHeader
	body   string
	// chunked says the body came chunked; closeDelimited that it ran to
	// the end of the connection.
	chunked, closeDelimited bool
}

// read reads one response to a request with the given method, decoding the
// body by the framing the gateway chose.
func (rc *rawClient) read(method string) rawResponse {
	rc.t.Helper()
	tp := textproto.NewReader(rc.br)
	line, err := tp.ReadLine()
	if err != nil {
		rc.t.Fatalf("reading a status line: %v", err)
	}
	var r rawResponse
	r.head = line + "\r\n"
	if len(line) < 12 || !strings.HasPrefix(line, "HTTP/1.1 ") {
		rc.t.Fatalf("status line %q", line)
	}
	r.status, _ = strconv.Atoi(line[9:12])
	r.header, err = tp.ReadMIMEHeader()
	if err != nil {
		rc.t.Fatalf("reading headers: %v", err)
	}
	for k, vs := range r.header {
		for _, v := range vs {
			r.head += k + ": " + v + "\r\n"
		}
	}
	te, cl := r.header.Get("Transfer-Encoding"), r.header.Get("Content-Length")
	if te != "" && cl != "" {
		rc.t.Fatalf("response with both Transfer-Encoding and Content-Length:\n%s", r.head)
	}
	switch {
	case method == "HEAD" || r.status < 200 || r.status == 204 || r.status == 304:
	case te == "chunked":
		r.chunked = true
		b, err := io.ReadAll(httputilChunked(rc.br))
		if err != nil {
			rc.t.Fatalf("chunked body: %v", err)
		}
		r.body = string(b)
	case te != "":
		rc.t.Fatalf("Transfer-Encoding %q", te)
	case cl != "":
		n, _ := strconv.Atoi(cl)
		b := make([]byte, n)
		if _, err := io.ReadFull(rc.br, b); err != nil {
			rc.t.Fatalf("body of %d bytes: %v", n, err)
		}
		r.body = string(b)
	default:
		r.closeDelimited = true
		b, err := io.ReadAll(rc.br)
		if err != nil {
			rc.t.Fatalf("close-delimited body: %v", err)
		}
		r.body = string(b)
	}
	return r
}

// closed reports whether the gateway closed the connection (after any
// response already read).
func (rc *rawClient) closed() bool {
	rc.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := rc.br.ReadByte()
	return err != nil && !isTimeoutErr(err)
}

// httputilChunked decodes a chunked body strictly (CRLF everywhere, no
// trailers expected).
func httputilChunked(br *bufio.Reader) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			if !strings.HasSuffix(line, "\r\n") {
				pw.CloseWithError(fmt.Errorf("chunk size line %q", line))
				return
			}
			size, err := strconv.ParseInt(strings.TrimSuffix(line, "\r\n"), 16, 64)
			if err != nil {
				pw.CloseWithError(fmt.Errorf("chunk size line %q", line))
				return
			}
			if size == 0 {
				if end, _ := br.ReadString('\n'); end != "\r\n" {
					pw.CloseWithError(fmt.Errorf("trailer %q after the last chunk", end))
					return
				}
				pw.Close()
				return
			}
			if _, err := io.CopyN(pw, br, size); err != nil {
				pw.CloseWithError(err)
				return
			}
			if crlf, _ := br.ReadString('\n'); crlf != "\r\n" {
				pw.CloseWithError(fmt.Errorf("chunk data not followed by CRLF: %q", crlf))
				return
			}
		}
	}()
	return pr
}

// Connection-specific headers are dropped in both directions, as are the
// headers the Connection header names; end-to-end headers pass.
func TestHopByHopHeadersAreStrippedBothWays(t *testing.T) {
	heads := make(chan string, 1)
	be := newRawBackend(t, scripted(func(req *http.Request, head string) (string, bool) {
		heads <- head
		return "HTTP/1.1 200 OK\r\n" +
			"Content-Length: 2\r\n" +
			"Connection: keep-alive, x-RESP-listed\r\n" +
			"Keep-Alive: timeout=5\r\n" +
			"Proxy-Authenticate: Basic realm=x\r\n" +
			"Proxy-Connection: keep-alive\r\n" +
			"Trailer: X-T\r\n" +
			"Upgrade: h2c\r\n" +
			"X-Resp-Listed: secret\r\n" +
			"X-End-To-End: kept\r\n" +
			"\r\nok", false
	}))
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /}, upstream: app}]
`, be.addr()))

	rc := dialRaw(t, gw.addr)
	rc.send("GET /hop HTTP/1.1\r\n" +
		"Host: gw.test\r\n" +
		"Connection: keep-alive, X-Conn-Listed, te\r\n" +
		"Keep-Alive: timeout=5\r\n" +
		"TE: trailers\r\n" +
		"Trailer: X-T\r\n" +
		"Upgrade: h2c\r\n" +
		"Proxy-Connection: keep-alive\r\n" +
		"Proxy-Authorization: Basic eHl6\r\n" +
		"x-conn-LISTED: secret\r\n" +
		"X-End-To-End: kept\r\n" +
		"\r\n")
	resp := rc.read("GET")
	if resp.status != 200 || resp.body != "ok" {
		t.Fatalf("got %d %q", resp.status, resp.body)
	}
	hop := []string{"Connection", "Keep-Alive", "Te", "Trailer", "Upgrade", "Proxy-Connection",
		"Proxy-Authorization", "Proxy-Authenticate", "X-Conn-Listed", "X-Resp-Listed"}

	var sent textproto.MIMEHeader
	select {
	case head := <-heads:
		var err error
		sent, err = textproto.NewReader(bufio.NewReader(strings.NewReader(head[strings.Index(head, "\r\n")+2:]))).ReadMIMEHeader()
		if err != nil {
			t.Fatalf("backend saw %q: %v", head, err)
		}
	default:
		t.Fatal("the request did not reach the backend")
	}
	for _, h := range hop {
		if v := sent.Values(h); len(v) > 0 {
			t.Errorf("upstream request carried %s: %q", h, v)
		}
		if v := resp.header.Values(h); len(v) > 0 {
			t.Errorf("client response carried %s: %q", h, v)
		}
	}
	if sent.Get("X-End-To-End") != "kept" || resp.header.Get("X-End-To-End") != "kept" {
		t.Errorf("end-to-end header lost: upstream %q, client %q", sent.Get("X-End-To-End"), resp.header.Get("X-End-To-End"))
	}
	// The client connection stays usable: the upstream's Connection header
	// is not the client's.
	rc.send("GET /again HTTP/1.1\r\nHost: gw.test\r\n\r\n")
	if r := rc.read("GET"); r.status != 200 || r.body != "ok" {
		t.Fatalf("second request: %d %q", r.status, r.body)
	}
}

// hashingBackend answers with the SHA-256 of the request body and how the
// body was framed on the way in.
func hashingBackend(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("X-Framing", fmt.Sprintf("te=%s cl=%d", strings.Join(r.TransferEncoding, ","), r.ContentLength))
		fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Request bodies arrive intact: small ones are buffered (and sent with a
// Content-Length), large ones streamed with their own framing.
func TestRequestBodiesAreForwardedIntact(t *testing.T) {
	be := hashingBackend(t)
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /}, upstream: app, retry: {buffer_bytes: 64KiB}}]
`, hostPort(be.URL)))
	c := newClient()

	// onlyReader hides the length of a body, so the client sends it chunked.
	type onlyReader struct{ io.Reader }
	tests := []struct {
		name        string
		size        int
		chunked     bool
		wantFraming string
	}{
		{"small chunked body is buffered", 1000, true, "te= cl=1000"},
		{"empty chunked body", 0, true, "te= cl=0"},
		{"chunked body of exactly the buffer size", 64 << 10, true, "te= cl=65536"},
		{"chunked body one byte over the buffer is streamed", 64<<10 + 1, true, "te=chunked cl=-1"},
		{"1 MiB chunked body is streamed", 1 << 20, true, "te=chunked cl=-1"},
		{"1 MiB body with a length is streamed", 1 << 20, false, "te= cl=1048576"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := make([]byte, tt.size)
			rand.Read(body)
			sum := sha256.Sum256(body)
			var rd io.Reader = bytes.NewReader(body)
			if tt.chunked {
				rd = onlyReader{rd}
			}
			req, _ := http.NewRequest("PUT", "http://"+gw.addr+"/upload", rd)
			if tt.chunked {
				req.ContentLength = -1
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := fmt.Sprintf("%d %s", tt.size, hex.EncodeToString(sum[:]))
			if resp.StatusCode != 200 || string(got) != want {
				t.Fatalf("got %d %q, want %q", resp.StatusCode, got, want)
			}
			if f := resp.Header.Get("X-Framing"); f != tt.wantFraming {
				t.Errorf("upstream framing %q, want %q", f, tt.wantFraming)
			}
		})
	}
}

// Response bodies are re-framed for the client: chunked and
// close-delimited bodies go to an HTTP/1.1 client chunked (keeping its
// connection open) and to an HTTP/1.0 client delimited by the close.
func TestResponseBodiesAreReframedForTheClient(t *testing.T) {
	upstreamResponses := map[string]struct {
		resp       string
		closeAfter bool
	}{
		"chunked": {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Kind: chunked\r\n\r\n" +
			"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n", false},
		"close":  {"HTTP/1.1 200 OK\r\nConnection: close\r\nX-Kind: close\r\n\r\nhello, world", true},
		"http10": {"HTTP/1.0 200 OK\r\nX-Kind: http10\r\n\r\nhello, world", true},
		"length": {"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX-Kind: length\r\n\r\nhello, world", false},
		"early-hints": {"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n" +
			"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX-Kind: early-hints\r\n\r\nhello, world", false},
	}
	be := newRawBackend(t, scripted(func(req *http.Request, _ string) (string, bool) {
		r := upstreamResponses[strings.TrimPrefix(req.URL.Path, "/")]
		return r.resp, r.closeAfter
	}))
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /}, upstream: app}]
`, be.addr()))

	tests := []struct {
		kind, version string
		keepAlive     bool // an HTTP/1.0 client asking for keep-alive
		wantChunked   bool
		wantLength    bool
		wantClose     bool
	}{
		{kind: "chunked", version: "1.1", wantChunked: true},
		{kind: "close", version: "1.1", wantChunked: true},
		{kind: "http10", version: "1.1", wantChunked: true},
		{kind: "length", version: "1.1", wantLength: true},
		{kind: "early-hints", version: "1.1", wantLength: true},
		{kind: "chunked", version: "1.0", wantClose: true},
		{kind: "chunked", version: "1.0", keepAlive: true, wantClose: true},
		{kind: "close", version: "1.0", wantClose: true},
		{kind: "http10", version: "1.0", wantClose: true},
		{kind: "length", version: "1.0", wantLength: true, wantClose: true},
		{kind: "length", version: "1.0", keepAlive: true, wantLength: true},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s to HTTP/%s", tt.kind, tt.version)
		if tt.keepAlive {
			name += " keep-alive"
		}
		t.Run(name, func(t *testing.T) {
			rc := dialRaw(t, gw.addr)
			req := "GET /" + tt.kind + " HTTP/" + tt.version + "\r\nHost: gw.test\r\n"
			if tt.keepAlive {
				req += "Connection: keep-alive\r\n"
			}
			rc.send(req + "\r\n")
			r := rc.read("GET")
			if r.status != 200 || r.body != "hello, world" || r.header.Get("X-Kind") != tt.kind {
				t.Fatalf("got %d %q:\n%s", r.status, r.body, r.head)
			}
			if r.chunked != tt.wantChunked || (r.header.Get("Content-Length") != "") != tt.wantLength {
				t.Errorf("framing: chunked %v, length %q:\n%s", r.chunked, r.header.Get("Content-Length"), r.head)
			}
			if tt.wantClose {
				if r.header.Get("Connection") != "close" {
					t.Errorf("no Connection: close:\n%s", r.head)
				}
				if !r.closeDelimited && !rc.closed() {
					t.Error("connection left open")
				}
				return
			}
			if tt.version == "1.0" && r.header.Get("Connection") != "keep-alive" {
				t.Errorf("HTTP/1.0 keep-alive answer without Connection: keep-alive:\n%s", r.head)
			}
			// The connection carries another request.
			rc.send(req + "\r\n")
			if r := rc.read("GET"); r.body != "hello, world" {
				t.Errorf("second response %d %q", r.status, r.body)
			}
		})
	}
}

// Responses without a body (HEAD, 204, 304) keep the headers that describe
// the body they do not carry, and leave both connections at the next
// message.
func TestBodilessResponses(t *testing.T) {
	be := newRawBackend(t, scripted(func(req *http.Request, _ string) (string, bool) {
		switch req.URL.Path {
		case "/head-length":
			return "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", false
		case "/head-chunked":
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false
		case "/204":
			return "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n", false
		case "/304":
			return "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 99\r\n\r\n", false
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext", false
	}))
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /}, upstream: app, timeouts: {response: 2s}}]
`, be.addr()))

	tests := []struct {
		method, path string
		status       int
		wantLength   string
	}{
		{"HEAD", "/head-length", 200, "1234"},
		{"HEAD", "/head-chunked", 200, ""},
		{"GET", "/204", 204, ""},
		{"GET", "/304", 304, "99"},
	}
	rc := dialRaw(t, gw.addr)
	for _, tt := range tests {
		start := time.Now()
		rc.send(tt.method + " " + tt.path + " HTTP/1.1\r\nHost: gw.test\r\n\r\n")
		r := rc.read(tt.method)
		if r.status != tt.status || r.header.Get("Content-Length") != tt.wantLength || r.chunked {
			t.Errorf("%s %s: %d, Content-Length %q:\n%s", tt.method, tt.path, r.status, r.header.Get("Content-Length"), r.head)
		}
		if r.header.Get("Transfer-Encoding") != "" {
			t.Errorf("%s %s: Transfer-Encoding on a bodiless response", tt.method, tt.path)
		}
		// If the gateway waited for a body, the next answer would be late
		// or wrong.
		rc.send("GET /next HTTP/1.1\r\nHost: gw.test\r\n\r\n")
		if r := rc.read("GET"); r.status != 200 || r.body != "next" {
			t.Fatalf("after %s %s: %d %q", tt.method, tt.path, r.status, r.body)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s %s took %v", tt.method, tt.path, d)
		}
	}
	if n := be.accepted.Load(); n != 1 {
		t.Errorf("the gateway opened %d upstream connections for one keepalive client, want 1", n)
	}
}

// Server-sent events reach the client one by one while the upstream holds
// the stream open, and the head reaches it before any event.
func TestServerSentEventsStream(t *testing.T) {
	step := make(chan struct{})
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		for _, ev := range []string{"id: 1\ndata: one\n\n", "id: 2\ndata: two\n\n"} {
			select {
			case <-step:
			case <-r.Context().Done():
				return
			}
			fmt.Fprint(w, ev)
			w.(http.Flusher).Flush()
		}
	}))
	defer be.Close()
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /}, upstream: app}]
`, hostPort(be.URL)))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+gw.addr+"/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	// The upstream sends each event only after the client has what came
	// before it: a gateway that held the head or buffered the stream would
	// never deliver it.
	resp, err := newClient().Do(req)
	if err != nil {
		t.Fatalf("no response head while the stream waits for its first event: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("got %d %v", resp.StatusCode, resp.Header)
	}
	br := bufio.NewReader(resp.Body)
	readEvent := func() string {
		var ev []string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("reading an event: %v (so far %q)", err, ev)
			}
			if line == "\n" {
				return strings.Join(ev, "|")
			}
			ev = append(ev, strings.TrimSuffix(line, "\n"))
		}
	}
	step <- struct{}{}
	if ev := readEvent(); ev != "id: 1|data: one" {
		t.Fatalf("first event %q", ev)
	}
	step <- struct{}{}
	if ev := readEvent(); ev != "id: 2|data: two" {
		t.Fatalf("second event %q", ev)
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("after the stream: %q, %v", rest, err)
	}
}

// A WebSocket connection works through the gateway: the upgrade is passed
// on and messages flow both ways until the client closes.
func TestWebSocketThroughTheGateway(t *testing.T) {
	closed := make(chan websocket.StatusCode, 1)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				closed <- websocket.CloseStatus(err)
				return
			}
			if err := c.Write(r.Context(), typ, append([]byte("echo "+r.URL.Path+": "), msg...)); err != nil {
				return
			}
		}
	}))
	defer be.Close()
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /ws/}, upstream: app, strip_prefix: true, timeouts: {response: 500ms}}]
`, hostPort(be.URL)))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws://"+gw.addr+"/ws/chat", nil)
	if err != nil {
		t.Fatalf("dial through the gateway: %v", err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake status %d", resp.StatusCode)
	}
	big := make([]byte, 200<<10)
	rand.Read(big)
	msgs := []struct {
		typ  websocket.MessageType
		data []byte
	}{
		{websocket.MessageText, []byte("hello")},
		{websocket.MessageText, []byte("second")},
		{websocket.MessageBinary, []byte{0, 1, 2, 255}},
		{websocket.MessageBinary, big},
		{websocket.MessageText, []byte("last")},
	}
	for i, m := range msgs {
		if i == 2 {
			// Longer than the route's response timeout: a tunnel is not
			// bound by it.
			time.Sleep(600 * time.Millisecond)
		}
		if err := c.Write(ctx, m.typ, m.data); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		want := append([]byte("echo /chat: "), m.data...)
		if typ != m.typ || !bytes.Equal(got, want) {
			t.Fatalf("message %d: type %v, %d bytes; want %v, %d bytes", i, typ, len(got), m.typ, len(want))
		}
	}
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("close: %v", err)
	}
	select {
	case code := <-closed:
		if code != websocket.StatusNormalClosure {
			t.Errorf("backend saw close status %v", code)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the backend never saw the close")
	}
	// The tunnel ends with the connection: shutdown does not wait for it.
	start := time.Now()
	if err := gw.stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown after a closed WebSocket took %v", d)
	}
}

// Sequential requests reuse pooled upstream connections; with the pool
// disabled every request opens its own.
func TestUpstreamConnectionsAreReused(t *testing.T) {
	for _, tt := range []struct {
		name      string
		keepalive string
		maxConns  int
		minConns  int
	}{
		{"pooled", "{}", 2, 1},
		{"pool disabled", "{idle: 0}", 30, 30},
		{"max_requests per connection", "{max_requests: 10}", 3, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			ports := map[string]int{}
			be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				ports[r.RemoteAddr]++
				mu.Unlock()
				io.WriteString(w, "ok")
			}))
			defer be.Close()
			gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}], keepalive: %s}}
routes: [{match: {path_prefix: /}, upstream: app}]
`, hostPort(be.URL), tt.keepalive))
			c := newClient()
			for i := 0; i < 30; i++ {
				if code, body, _ := get(t, c, "http://"+gw.addr+"/x"); code != 200 || body != "ok" {
					t.Fatalf("request %d: %d %q", i, code, body)
				}
			}
			mu.Lock()
			n := len(ports)
			mu.Unlock()
			if n < tt.minConns || n > tt.maxConns {
				t.Errorf("30 sequential requests came from %d upstream connections, want %d..%d", n, tt.minConns, tt.maxConns)
			}
		})
	}
}

// Requests pipelined on one connection are answered in order, bodies and
// gateway-made answers included.
func TestPipelinedRequestsAreAnsweredInOrder(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/api/slow" {
			// Answering later than the next request arrives must not let
			// that one overtake it.
			time.Sleep(50 * time.Millisecond)
		}
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
	}))
	defer be.Close()
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /api/}, upstream: app}]
`, hostPort(be.URL)))

	const h = " HTTP/1.1\r\nHost: gw.test\r\n"
	rc := dialRaw(t, gw.addr)
	rc.send("GET /api/slow" + h + "\r\n" +
		"POST /api/2" + h + "Content-Length: 5\r\n\r\nhello" +
		"GET /nowhere" + h + "\r\n" +
		"POST /api/4" + h + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
		"\r\n" + // a stray empty line between requests is allowed
		"GET /api/5" + h + "Connection: close\r\n\r\n")
	want := []struct {
		status int
		body   string
	}{
		{200, "GET /api/slow "},
		{200, "POST /api/2 hello"},
		{404, ""},
		{200, "POST /api/4 abc"},
		{200, "GET /api/5 "},
	}
	for i, w := range want {
		r := rc.read("GET")
		if r.status != w.status || w.body != "" && r.body != w.body {
			t.Fatalf("response %d: %d %q, want %d %q", i, r.status, r.body, w.status, w.body)
		}
	}
	if !rc.closed() {
		t.Error("connection open after Connection: close")
	}
}

// Expect: 100-continue gets an interim 100 before the body is sent, and
// the final answer after; the expectation is not passed upstream.
func TestExpectContinue(t *testing.T) {
	var sawExpect atomic.Bool
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Expect") != "" {
			sawExpect.Store(true)
		}
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "got %s", b)
	}))
	defer be.Close()
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /}, upstream: app, max_body_bytes: 1KiB}]
`, hostPort(be.URL)))

	rc := dialRaw(t, gw.addr)
	rc.send("POST /e HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	if r := rc.read("POST"); r.status != 100 {
		t.Fatalf("interim answer %d, want 100", r.status)
	}
	rc.send("hello")
	if r := rc.read("POST"); r.status != 200 || r.body != "got hello" {
		t.Fatalf("final answer %d %q", r.status, r.body)
	}
	if sawExpect.Load() {
		t.Error("Expect was forwarded upstream")
	}

	// A body the route would refuse gets its 413 at once, without a 100.
	rc.send("POST /e HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 4096\r\nExpect: 100-continue\r\n\r\n")
	if r := rc.read("POST"); r.status != 413 {
		t.Fatalf("oversized body with Expect: %d, want 413", r.status)
	}

	// An HTTP/1.0 client cannot take a 100; its body follows the head.
	rc = dialRaw(t, gw.addr)
	rc.send("POST /e HTTP/1.0\r\nHost: gw.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello")
	if r := rc.read("POST"); r.status != 200 || r.body != "got hello" {
		t.Fatalf("HTTP/1.0 with Expect: %d %q", r.status, r.body)
	}
}

// The total timeout bounds a request until its response head is sent; a
// stream that goes on longer than that is not cut.
func TestStreamOutlivesTheTotalTimeout(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 1; i <= 8; i++ {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			}
		}
	}))
	defer be.Close()
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /}, upstream: app, timeouts: {response: 300ms, total: 400ms}}]
`, hostPort(be.URL)))
	start := time.Now()
	code, body, _ := get(t, newClient(), "http://"+gw.addr+"/events")
	var want strings.Builder
	for i := 1; i <= 8; i++ {
		fmt.Fprintf(&want, "data: %d\n\n", i)
	}
	if code != 200 || body != want.String() {
		t.Fatalf("after %v: %d %q, want all eight events", time.Since(start), code, body)
	}
}
