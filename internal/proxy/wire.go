package proxy

import (
	"bufio"
	"errors"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/skjold-dev/skjold/internal/h1"
	"github.com/skjold-dev/skjold/internal/upstream"
)

var (
	errBodyTooLarge = errors.New("request body too large")
	// errClientBody: reading the request body from the client failed while
	// streaming it to the upstream.
	errClientBody = errors.New("reading the request body from the client failed")
	// errClientGone: the client watcher saw the client leave while the
	// response was being relayed.
	errClientGone = errors.New("client gone")
)

// bufferBody reads the request body into ex.bodyBuf, up to the route's
// buffer size. full reports whether the whole body fit; if not, the rest is
// streamed from ex.body during the first try (which then cannot be
// repeated).
func (p *Proxy) bufferBody(ex *Exchange, r *Route) (full bool, err error) {
	limit := r.BufferBytes
	if cl := ex.Req.ContentLength; cl >= 0 && cl < limit {
		limit = cl
	}
	b := ex.bodyBuf[:0]
	for !ex.body.Done() && int64(len(b)) < limit {
		if len(b) == cap(b) {
			b = slices.Grow(b, int(min(limit-int64(len(b)), 32<<10)))
		}
		n, err := ex.body.Read(b[len(b):int(min(int64(cap(b)), limit))])
		b = b[:len(b)+n]
		if r.MaxBody > 0 && int64(len(b)) > r.MaxBody {
			ex.bodyBuf = b
			return false, errBodyTooLarge
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			ex.bodyBuf = b
			return false, err
		}
	}
	if !ex.body.Done() {
		// A chunked body of exactly limit bytes: an empty read reaches
		// its last chunk.
		if _, err := ex.body.Read(nil); err != nil && err != io.EOF {
			ex.bodyBuf = b
			return false, err
		}
	}
	ex.bodyBuf = b
	return ex.body.Done(), nil
}

// writeRequest writes the request head and body to the upstream: the
// request line with the forwarded path, the client's end-to-end headers,
// the proxy's own, the framing (re-done: the body may have been
// buffered), then the body.
func (p *Proxy) writeRequest(ex *Exchange, r *Route, c *upstream.Conn) error {
	req := &ex.Req
	w := c.BW
	writeRequestLine(w, ex, r)
	for i := range req.Fields {
		f := &req.Fields[i]
		if skipRequestField(f.Name, req.ConnTokens) {
			continue
		}
		w.Write(f.Name)
		w.WriteString(": ")
		w.Write(f.Value)
		w.WriteString("\r\n")
	}
	writeProxyHeaders(w, ex)
	streaming := req.HasBody() && !ex.body.Done()
	writeRequestFraming(w, ex, streaming)
	if req.HasBody() {
		if err := p.writeRequestBody(ex, r, c, streaming); err != nil {
			return err
		}
	}
	if !streaming && (!c.Reused || resendable(ex, r)) {
		// The request goes out with the read of its response (one system
		// call fewer). A send that fails then fails that read, where a
		// reused connection's failure is taken for a stale connection and
		// the request resent: only for requests that may be resent.
		c.HoldNextWrite()
	}
	return w.Flush()
}

// writeRequestLine writes the method, the cleaned path (without the
// route's prefix when it strips it), the query and the Host header.
func writeRequestLine(w *bufio.Writer, ex *Exchange, r *Route) {
	req := &ex.Req
	w.Write(req.Method)
	w.WriteByte(' ')
	path := ex.Path
	if r.StripPrefix {
		path = path[ex.PrefixLen:]
		if len(path) == 0 {
			path = slash
		} else if path[0] != '/' {
			// The prefix ended at a segment boundary, so this cannot
			// happen; be safe anyway.
			w.WriteByte('/')
		}
	}
	w.Write(path)
	if len(req.Query) > 0 {
		w.WriteByte('?')
		w.Write(req.Query)
	}
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.Write(req.Host)
	w.WriteString("\r\n")
}

// writeProxyHeaders writes the headers the proxy adds: X-Forwarded-*,
// X-Request-ID, and the upgrade when the route allows it.
func writeProxyHeaders(w *bufio.Writer, ex *Exchange) {
	req := &ex.Req
	// Every X-Forwarded-For line the client sent, in order, then the
	// client's address (RFC 7239's list semantics, as nginx's
	// $proxy_add_x_forwarded_for).
	w.WriteString("X-Forwarded-For: ")
	if len(req.XFF) > 0 {
		for i := range req.Fields {
			if f := &req.Fields[i]; len(f.Name) == 15 && h1.EqualFold(f.Name, "x-forwarded-for") && len(f.Value) > 0 {
				w.Write(f.Value)
				w.WriteString(", ")
			}
		}
	}
	w.WriteString(ex.RemoteIP)
	w.WriteString("\r\nX-Forwarded-Proto: ")
	w.WriteString(ex.Proto)
	w.WriteString("\r\nX-Forwarded-Host: ")
	w.Write(req.Host)
	w.WriteString("\r\nX-Request-ID: ")
	w.Write(ex.RequestID)
	w.WriteString("\r\n")
	if ex.upgrade {
		w.WriteString("Connection: upgrade\r\nUpgrade: ")
		w.Write(upgradeHeader(req.Fields))
		w.WriteString("\r\n")
	}
}

// writeRequestFraming ends the head with the body's framing: the length
// of a buffered body, chunked for a chunked body still streaming, the
// client's length for a length body still streaming.
func writeRequestFraming(w *bufio.Writer, ex *Exchange, streaming bool) {
	req := &ex.Req
	switch {
	case streaming && req.Chunked:
		w.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	case req.HasBody() && !streaming:
		w.WriteString("Content-Length: ")
		w.Write(strconv.AppendInt(ex.num[:0], int64(len(ex.bodyBuf)), 10))
		w.WriteString("\r\n\r\n")
	case req.ContentLength >= 0:
		w.WriteString("Content-Length: ")
		w.Write(strconv.AppendInt(ex.num[:0], req.ContentLength, 10))
		w.WriteString("\r\n\r\n")
	default:
		w.WriteString("\r\n")
	}
}

// writeRequestBody writes the buffered part of the body, then streams the
// rest from the client.
func (p *Proxy) writeRequestBody(ex *Exchange, r *Route, c *upstream.Conn, streaming bool) error {
	chunked := streaming && ex.Req.Chunked
	if chunked {
		if err := h1.WriteChunk(c.BW, ex.bodyBuf); err != nil {
			return err
		}
	} else if _, err := c.BW.Write(ex.bodyBuf); err != nil {
		return err
	}
	if streaming {
		return p.streamBody(ex, r, c, chunked)
	}
	return nil
}

var slash = []byte("/")

// streamBody copies the rest of a large request body to the upstream.
func (p *Proxy) streamBody(ex *Exchange, r *Route, c *upstream.Conn, chunked bool) error {
	bp := p.copyBufs.Get().(*[]byte)
	defer p.copyBufs.Put(bp)
	buf := *bp
	total := int64(len(ex.bodyBuf))
	for {
		n, err := ex.body.Read(buf)
		total += int64(n)
		if r.MaxBody > 0 && total > r.MaxBody {
			return errBodyTooLarge
		}
		if n > 0 {
			now := time.Now()
			c.ArmWrite(now.Add(r.Send), now)
			var werr error
			if chunked {
				werr = h1.WriteChunk(c.BW, buf[:n])
			} else {
				_, werr = c.BW.Write(buf[:n])
			}
			if werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return errClientBody
		}
	}
	if chunked {
		return h1.WriteLastChunk(c.BW)
	}
	return nil
}

// skipRequestField reports whether a client header is not forwarded as is:
// hop-by-hop headers, those the Connection header names, and the ones the
// proxy writes itself.
func skipRequestField(name []byte, connTokens [][]byte) bool {
	if h1.IsHopByHop(name) {
		return true
	}
	switch len(name) {
	case 4:
		if h1.EqualFold(name, "host") {
			return true
		}
	case 6:
		if h1.EqualFold(name, "expect") {
			return true
		}
	case 12:
		if h1.EqualFold(name, "x-request-id") {
			return true
		}
	case 14:
		if h1.EqualFold(name, "content-length") {
			return true
		}
	case 15:
		if h1.EqualFold(name, "x-forwarded-for") {
			return true
		}
	case 16:
		if h1.EqualFold(name, "x-forwarded-host") {
			return true
		}
	case 17:
		if h1.EqualFold(name, "x-forwarded-proto") {
			return true
		}
	}
	return listed(name, connTokens)
}

func listed(name []byte, tokens [][]byte) bool {
	for _, t := range tokens {
		if len(t) == len(name) && h1.EqualFold(name, lower(t)) {
			return true
		}
	}
	return false
}

// lower returns t if it is lower-case ASCII already, else a lower-case copy
// (rare: Connection tokens are nearly always lower-case).
func lower(t []byte) string {
	for _, c := range t {
		if 'A' <= c && c <= 'Z' {
			b := make([]byte, len(t))
			for i, c := range t {
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				b[i] = c
			}
			return string(b)
		}
	}
	return string(t)
}

// writeResponse streams the upstream's response to the client. reusable
// says whether the upstream connection is positioned at its next response.
// cerr is a client write failure, uerr an upstream read failure.
func (p *Proxy) writeResponse(ex *Exchange, r *Route, c *upstream.Conn, now time.Time) (reusable bool, cerr, uerr error) {
	resp := &ex.resp
	kind := resp.ResponseBody(string(ex.Req.Method) == "HEAD")
	ex.Status = resp.Status
	ex.armSend(now)
	chunkOut, err := writeResponseHead(ex, kind)
	if err != nil {
		return false, err, nil
	}
	if kind == h1.NoBody {
		return resp.KeepAlive, ex.BW.Flush(), nil
	}
	if cerr, uerr = p.copyResponseBody(ex, r, c, kind, chunkOut); cerr != nil || uerr != nil {
		return false, cerr, uerr
	}
	if chunkOut {
		h1.WriteLastChunk(ex.BW)
	}
	return resp.KeepAlive && kind != h1.CloseBody, ex.BW.Flush(), nil
}

// writeResponseHead writes the status line and the upstream's end-to-end
// headers, with the framing re-done for the client: chunkOut says the body
// goes out chunked (an HTTP/1.1 client, an upstream that gave no length).
func writeResponseHead(ex *Exchange, kind h1.BodyKind) (chunkOut bool, err error) {
	resp, req, w := &ex.resp, &ex.Req, ex.BW
	w.WriteString("HTTP/1.1 ")
	w.Write(strconv.AppendInt(ex.num[:0], int64(resp.Status), 10))
	w.WriteByte(' ')
	w.Write(resp.Reason)
	w.WriteString("\r\n")
	for i := range resp.Fields {
		f := &resp.Fields[i]
		if h1.IsHopByHop(f.Name) || h1.EqualFold(f.Name, "content-length") || listed(f.Name, resp.ConnTokens) {
			continue
		}
		if len(ex.HSTS) > 0 && len(f.Name) == 25 && h1.EqualFold(f.Name, "strict-transport-security") {
			continue // the listener's policy replaces the backend's
		}
		w.Write(f.Name)
		w.WriteString(": ")
		w.Write(f.Value)
		w.WriteString("\r\n")
	}
	w.Write(ex.AnswerHeaders)
	writeHSTS(ex)
	switch kind {
	case h1.NoBody:
		if resp.ContentLength >= 0 && resp.Status >= 200 && resp.Status != 204 {
			// HEAD and 304 answers keep the length they describe.
			w.WriteString("Content-Length: ")
			w.Write(strconv.AppendInt(ex.num[:0], resp.ContentLength, 10))
			w.WriteString("\r\n")
		}
	case h1.LengthBody:
		w.WriteString("Content-Length: ")
		w.Write(strconv.AppendInt(ex.num[:0], resp.ContentLength, 10))
		w.WriteString("\r\n")
	default:
		if req.Minor == 1 {
			chunkOut = true
			w.WriteString("Transfer-Encoding: chunked\r\n")
		} else {
			// An HTTP/1.0 client learns the end of the body from the close.
			ex.KeepAlive = false
		}
	}
	switch {
	case !ex.KeepAlive:
		w.WriteString("Connection: close\r\n")
	case req.Minor == 0:
		w.WriteString("Connection: keep-alive\r\n")
	}
	_, err = w.WriteString("\r\n")
	return chunkOut, err
}

// copyResponseBody copies the response body to the client. Each read of
// the upstream gets the route's response timeout, each write to the client
// its send timeout; what is buffered goes to the client whenever the
// upstream has nothing more yet, and streams (chunked or close-delimited:
// server-sent events) are flushed as they come.
func (p *Proxy) copyResponseBody(ex *Exchange, r *Route, c *upstream.Conn, kind h1.BodyKind, chunkOut bool) (cerr, uerr error) {
	w := ex.BW
	ex.respBody.Reset(c.BR, kind, ex.resp.ContentLength)
	bp := p.copyBufs.Get().(*[]byte)
	defer p.copyBufs.Put(bp)
	buf := *bp
	for first := true; ; first = false {
		if !first {
			now := time.Now()
			c.ArmRead(now.Add(r.Response), now)
			ex.armSend(now)
		}
		if c.BR.Buffered() == 0 && w.Buffered() > 0 {
			// Nothing more from the upstream yet: give the client what it
			// has (at first the head) instead of holding it while we wait;
			// a stream that opens with headers alone must reach the client.
			if err := w.Flush(); err != nil {
				return err, nil
			}
		}
		n, err := ex.respBody.Read(buf)
		if n > 0 {
			ex.BytesOut += int64(n)
			var werr error
			if chunkOut {
				werr = h1.WriteChunk(w, buf[:n])
			} else {
				_, werr = w.Write(buf[:n])
			}
			if werr == nil && kind != h1.LengthBody {
				werr = w.Flush()
			}
			if werr != nil {
				return werr, nil
			}
		}
		switch {
		case err == io.EOF:
			return nil, nil
		case err != nil && ex.ClientGone():
			return errClientGone, nil
		case err != nil:
			return nil, err
		}
	}
}
