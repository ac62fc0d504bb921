// Package cors answers cross-origin requests for a route (the Fetch
// standard's CORS protocol): the gateway answers preflights itself and adds
// Access-Control-* headers to the answers of allowed origins.
package cors

import (
	"bytes"
	"strconv"
	"strings"
	"time"
)

// Settings are a route's CORS policy.
type Settings struct {
	// Origins allowed, exact ("https://app.example.com") or "*" for any.
	Origins []string
	// Methods and Headers a preflight may ask for.
	Methods, Headers []string
	// Expose are response headers scripts may read.
	Expose []string
	// Credentials allows cookies and Authorization; it needs exact
	// origins (browsers refuse "*" with credentials).
	Credentials bool
	// MaxAge is how long a browser may cache a preflight; 0 sends none.
	MaxAge time.Duration
}

// Policy is a route's CORS policy with its header lines written out once,
// so answering costs no allocation.
type Policy struct {
	any       bool
	origins   [][]byte
	preflight []byte // the lines after Access-Control-Allow-Origin on a preflight answer
	actual    []byte // the lines after it on other answers
	methods   []string
	headers   []string
}

// New builds a policy.
func New(s Settings) *Policy {
	p := &Policy{methods: s.Methods, headers: s.Headers}
	for _, o := range s.Origins {
		if o == "*" {
			p.any = true
		}
		p.origins = append(p.origins, []byte(o))
	}
	var common string
	if s.Credentials {
		common += "Access-Control-Allow-Credentials: true\r\n"
	}
	// The answer depends on Origin, so caches must key on it (an allowed
	// origin is echoed, not "*", so credentials work).
	common += "Vary: Origin\r\n"
	pre := common + "Access-Control-Allow-Methods: " + strings.Join(s.Methods, ", ") + "\r\n"
	if len(s.Headers) > 0 {
		pre += "Access-Control-Allow-Headers: " + strings.Join(s.Headers, ", ") + "\r\n"
	}
	if s.MaxAge > 0 {
		pre += "Access-Control-Max-Age: " + strconv.FormatInt(int64(s.MaxAge/time.Second), 10) + "\r\n"
	}
	p.preflight = []byte(pre)
	act := common
	if len(s.Expose) > 0 {
		act += "Access-Control-Expose-Headers: " + strings.Join(s.Expose, ", ") + "\r\n"
	}
	p.actual = []byte(act)
	return p
}

// IsPreflight reports whether a request is a CORS preflight: OPTIONS with
// Origin and Access-Control-Request-Method.
func IsPreflight(method, origin, requestMethod []byte) bool {
	return string(method) == "OPTIONS" && len(origin) > 0 && len(requestMethod) > 0
}

// Allows reports whether origin may use the route.
func (p *Policy) Allows(origin []byte) bool {
	if p.any {
		return len(origin) > 0
	}
	for _, o := range p.origins {
		if bytes.Equal(o, origin) {
			return true
		}
	}
	return false
}

// AllowsPreflight reports whether a preflight from an allowed origin asks
// only for methods and headers the policy allows. Simple methods (GET,
// HEAD, POST) are always allowed, as the standard says.
func (p *Policy) AllowsPreflight(method, headers []byte) bool {
	if !simpleMethod(method) && !listedExact(p.methods, method) {
		return false
	}
	for h := range bytes.SplitSeq(headers, []byte(",")) {
		if h = bytes.TrimSpace(h); len(h) > 0 && !listedFold(p.headers, h) {
			return false
		}
	}
	return true
}

// AppendPreflight appends the header lines of the answer to an allowed
// preflight from origin.
func (p *Policy) AppendPreflight(dst, origin []byte) []byte {
	return append(appendOrigin(dst, origin), p.preflight...)
}

// AppendActual appends the header lines an allowed origin's answer
// carries.
func (p *Policy) AppendActual(dst, origin []byte) []byte {
	return append(appendOrigin(dst, origin), p.actual...)
}

func appendOrigin(dst, origin []byte) []byte {
	dst = append(dst, "Access-Control-Allow-Origin: "...)
	dst = append(dst, origin...)
	return append(dst, "\r\n"...)
}

func simpleMethod(m []byte) bool {
	s := string(m)
	return s == "GET" || s == "HEAD" || s == "POST"
}

func listedExact(list []string, v []byte) bool {
	for _, s := range list {
		if s == string(v) {
			return true
		}
	}
	return false
}

func listedFold(list []string, v []byte) bool {
	for _, s := range list {
		if bytes.EqualFold([]byte(s), v) {
			return true
		}
	}
	return false
}
