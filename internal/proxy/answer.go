package proxy

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/skjold-dev/skjold/internal/upstream"
)

// ErrorAnswer is a response Skjold makes itself instead of an upstream's:
// a status with a short JSON body saying why.
type ErrorAnswer struct {
	Status  int
	Class   Class
	Message string
	// RetryAfter, when positive, is sent as Retry-After (rounded up to
	// whole seconds).
	RetryAfter time.Duration
}

// errorBody is the JSON every error answer carries.
type errorBody struct {
	Error     string `json:"error"`
	Upstream  string `json:"upstream,omitempty"`
	RequestID string `json:"request_id"`
}

// Answer writes a as the answer to ex's request and records it in ex's
// result. The request gets an id first if it has none yet (a request
// refused before it reached a route), so every answer carries one. The
// caller arms the client write deadline.
func (p *Proxy) Answer(ex *Exchange, a ErrorAnswer) error {
	if ex.RequestID == nil {
		p.requestID(ex)
	}
	body, _ := json.Marshal(errorBody{Error: a.Message, Upstream: ex.Upstream, RequestID: string(ex.RequestID)})
	body = append(body, '\n')
	var head []byte
	if a.RetryAfter > 0 {
		head = append(head, "Retry-After: "...)
		head = strconv.AppendInt(head, int64((a.RetryAfter+time.Second-1)/time.Second), 10)
		head = append(head, "\r\n"...)
	}
	return p.Respond(ex, Response{Status: a.Status, Class: a.Class, ContentType: "application/json", Header: head, Body: body})
}

// Response is an answer the gateway makes itself with a body of its own:
// a direct response, a redirect, an auth service's refusal.
type Response struct {
	Status int
	Class  Class
	// ContentType is sent unless empty.
	ContentType string
	// Header holds further header lines, each ending in CRLF; it must not
	// frame the message (no Content-Length or Transfer-Encoding).
	Header []byte
	Body   []byte
}

// Respond writes r as the answer to ex's request, with its length, the
// request id, ex.AnswerHeaders and the listener's HSTS, and records it in
// ex's result. The caller arms the client write deadline.
func (p *Proxy) Respond(ex *Exchange, r Response) error {
	if ex.RequestID == nil {
		p.requestID(ex)
	}
	ex.Status, ex.ErrClass = r.Status, r.Class
	w := ex.BW
	w.WriteString("HTTP/1.1 ")
	w.Write(strconv.AppendInt(ex.num[:0], int64(r.Status), 10))
	w.WriteByte(' ')
	w.WriteString(statusText(r.Status))
	if r.ContentType != "" {
		w.WriteString("\r\nContent-Type: ")
		w.WriteString(r.ContentType)
	}
	w.WriteString("\r\nContent-Length: ")
	w.Write(strconv.AppendInt(ex.num[:0], int64(len(r.Body)), 10))
	w.WriteString("\r\nX-Request-ID: ")
	w.Write(ex.RequestID)
	w.WriteString("\r\n")
	w.Write(r.Header)
	w.Write(ex.AnswerHeaders)
	writeHSTS(ex)
	if !ex.KeepAlive {
		w.WriteString("Connection: close\r\n")
	}
	w.WriteString("\r\n")
	if string(ex.Req.Method) != "HEAD" {
		w.Write(r.Body)
	}
	return w.Flush()
}

// fail answers with a under the client's send timeout.
func (p *Proxy) fail(ex *Exchange, a ErrorAnswer) {
	ex.armSend(time.Now())
	p.Answer(ex, a)
}

// fastFail answers 503 without touching an upstream.
func (p *Proxy) fastFail(ex *Exchange, class Class, msg string, retryAfter time.Duration) {
	ex.FastFailed = true
	p.fail(ex, ErrorAnswer{Status: 503, Class: class, Message: msg, RetryAfter: retryAfter})
}

// tooLarge answers 413 for a request body over the route's limit.
func (p *Proxy) tooLarge(ex *Exchange, r *Route) {
	ex.KeepAlive = false // the unread body is still on the wire
	p.fail(ex, ErrorAnswer{Status: 413, Class: ClassBodyTooLarge,
		Message: "request body larger than " + strconv.FormatInt(r.MaxBody, 10) + " bytes"})
}

// noTarget answers a request for which no target could be picked.
func (p *Proxy) noTarget(ex *Exchange, u *upstream.Upstream, class Class, now time.Time) {
	msg := "upstream " + u.Name + ": no healthy target"
	if class == ClassBulkheadFull {
		msg = "upstream " + u.Name + ": every target is at its concurrency limit"
	}
	// Retry-After: when the first ejected target comes back, or a second
	// for a full bulkhead (slots free quickly).
	after := time.Second
	if next := u.NextUp(now); !next.IsZero() && class == ClassNoTarget {
		after = next.Sub(now)
	}
	p.fastFail(ex, class, msg, after)
}

// failAttempt answers the client after the last try failed: the one place
// that maps a failure to the status the client sees.
func (p *Proxy) failAttempt(ex *Exchange, u *upstream.Upstream, a attempt) {
	status, class, msg := 502, a.class, "upstream "+u.Name+": "
	switch a.class {
	case ClassClientGone:
		p.clientGone(ex)
		return
	case ClassTimeout:
		status, msg = 504, msg+"timed out"
	case ClassConnect:
		if isTimeout(a.err) {
			status, class, msg = 504, ClassTimeout, msg+"connect timed out"
		} else {
			msg += "connection failed"
		}
	case ClassStatus:
		msg += "answered " + strconv.Itoa(a.status)
	case ClassBadResponse:
		msg += "invalid response"
	default:
		class, msg = ClassReset, msg+"connection reset before a response"
	}
	p.fail(ex, ErrorAnswer{Status: status, Class: class, Message: msg})
}

// clientGone records that the client left; nothing can be sent. It
// returns true so callers can mark the attempt done.
func (p *Proxy) clientGone(ex *Exchange) bool {
	ex.Status, ex.ErrClass, ex.KeepAlive = 499, ClassClientGone, false
	return true
}

// requestID keeps a sane X-Request-ID from the client or makes one.
func (p *Proxy) requestID(ex *Exchange) {
	if id := ex.Req.RequestID; len(id) > 0 && len(id) <= 128 && isToken(id) {
		ex.RequestID = id
		return
	}
	b := append(ex.idBuf[:0], p.idPrefix[:]...)
	b = append(b, '-')
	b = strconv.AppendUint(b, p.idSeq.Add(1), 16)
	ex.RequestID = b
}

func isToken(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func statusText(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 413:
		return "Content Too Large"
	case 414:
		return "URI Too Long"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	case 505:
		return "HTTP Version Not Supported"
	}
	// Direct responses and auth refusals may use any status.
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "Error"
}
