package config

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/skjold-dev/skjold/internal/access"
)

// AccessRule is one entry of a route's access list: exactly one of Allow
// and Deny, each a list of CIDRs, addresses or "all".
type AccessRule struct {
	// Allow lets the clients in these CIDRs through. Default: none.
	Allow []string `yaml:"allow,omitempty"`
	// Deny refuses the clients in these CIDRs with 403. Default: none.
	Deny []string `yaml:"deny,omitempty"`
}

// ParseAccessEntry reads an allow/deny entry: a CIDR, an address or
// "all".
func ParseAccessEntry(s string) ([]netip.Prefix, error) {
	if s == "all" {
		return []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}, nil
	}
	p, err := parseTrusted(s)
	if err != nil {
		return nil, fmt.Errorf("%w, or all", err)
	}
	return []netip.Prefix{p}, nil
}

// BasicAuth asks for a user and password from an htpasswd file.
type BasicAuth struct {
	// Realm is named in the WWW-Authenticate challenge. Default the
	// route's name.
	Realm string `yaml:"realm,omitempty"`
	// HtpasswdFile is the file of users ("user:hash" lines, as
	// `htpasswd -B` writes them); only bcrypt hashes are accepted. It is
	// read again on every reload. A relative path is taken from the config
	// file's directory. Required.
	HtpasswdFile string `yaml:"htpasswd_file,omitempty"`
}

// ForwardAuth asks an auth service about every request before it is
// forwarded (nginx's auth_request, Traefik's ForwardAuth).
type ForwardAuth struct {
	// URL is the auth service's endpoint, http:// or https://; it gets a
	// GET with the client's headers and X-Forwarded-Method, -Uri, -Host,
	// -Proto and -For. Required.
	URL string `yaml:"url,omitempty"`
	// Timeout bounds the sub-request; past it the request is refused with
	// 503. Default 1s.
	Timeout Duration `yaml:"timeout,omitempty"`
	// CopyHeaders are the auth service's answer headers a 2xx copies to
	// the upstream request (X-User, say); the client's own values of them
	// are always dropped, so a client cannot name itself. Hop-by-hop
	// headers, Host, Content-Length and Transfer-Encoding are refused.
	// Default: none.
	CopyHeaders []string `yaml:"copy_headers,omitempty"`
	// Breaker is the auth service's circuit breaker; open, it refuses
	// requests with 503 at once. Always on, with the upstream breaker's
	// defaults.
	Breaker Breaker `yaml:"breaker,omitempty"`
}

// CORS is a route's cross-origin policy; the gateway answers preflights.
type CORS struct {
	// AllowOrigins are the origins allowed ("https://app.example.com"),
	// or ["*"] for any. Required.
	AllowOrigins []string `yaml:"allow_origins,omitempty"`
	// AllowMethods a preflight may ask for. Default [GET, HEAD, POST].
	AllowMethods []string `yaml:"allow_methods,omitempty"`
	// AllowHeaders a preflight may ask for. Default: none.
	AllowHeaders []string `yaml:"allow_headers,omitempty"`
	// ExposeHeaders are response headers scripts may read. Default: none.
	ExposeHeaders []string `yaml:"expose_headers,omitempty"`
	// AllowCredentials lets requests carry cookies and Authorization; it
	// needs exact origins. Default false.
	AllowCredentials bool `yaml:"allow_credentials,omitempty"`
	// MaxAge is how long a browser may cache a preflight answer. Default:
	// not sent (the browser's 5s).
	MaxAge Duration `yaml:"max_age,omitempty"`
}

// DefaultForwardAuthTimeout bounds a forward-auth sub-request.
const DefaultForwardAuthTimeout = DefaultHealthTimeout

func accessDefaults(f filler, c *Config, p string, rt *Route) {
	if ba := rt.BasicAuth; ba != nil {
		if ba.Realm == "" {
			ba.Realm = rt.Name
		}
		ba.HtpasswdFile = c.fileName(ba.HtpasswdFile)
	}
	if fa := rt.ForwardAuth; fa != nil {
		f.duration(p+".forward_auth.timeout", &fa.Timeout, DefaultForwardAuthTimeout)
		breakerDefaults(f, p+".forward_auth.breaker", &fa.Breaker)
		for i, h := range fa.CopyHeaders {
			fa.CopyHeaders[i] = http.CanonicalHeaderKey(h)
		}
	}
	if co := rt.CORS; co != nil {
		f.list(p+".cors.allow_methods", &co.AllowMethods, "GET", "HEAD", "POST")
	}
}

func (v validator) access(p string, rt *Route) {
	for i, r := range rt.Access {
		rp := indexPath(p+".access", i)
		if r == nil || (len(r.Allow) == 0) == (len(r.Deny) == 0) {
			v.problemf(rp, "each entry is either allow or deny, such as {allow: [10.0.0.0/8]} or {deny: [all]}")
			continue
		}
		key, list := "allow", r.Allow
		if len(r.Deny) > 0 {
			key, list = "deny", r.Deny
		}
		for j, s := range list {
			if _, err := ParseAccessEntry(s); err != nil {
				v.problemf(indexPath(rp+"."+key, j), "%s", err.Error())
			}
		}
	}
	if ba := rt.BasicAuth; ba != nil {
		v.basicAuth(p+".basic_auth", ba)
	}
	if fa := rt.ForwardAuth; fa != nil {
		v.forwardAuth(p+".forward_auth", fa)
	}
	if co := rt.CORS; co != nil {
		v.cors(p+".cors", co)
	}
}

func (v validator) basicAuth(p string, ba *BasicAuth) {
	if ba.HtpasswdFile == "" {
		v.problemf(p+".htpasswd_file", "is required: a file of user:bcrypt-hash lines, as htpasswd -B writes them")
		return
	}
	if strings.ContainsAny(ba.Realm, "\"\\\r\n") {
		v.problemf(p+".realm", "must not contain quotes, backslashes or line breaks, got %q", ba.Realm)
	}
	// Read as the gateway will, so a file it cannot use rejects the
	// config with the file's own line.
	h, err := access.LoadHtpasswd(ba.HtpasswdFile)
	var fe *access.FileError
	switch {
	case errors.As(err, &fe) && fe.Line > 0:
		v.problemf(p+".htpasswd_file", "%s", err.Error())
	case err != nil:
		v.problemf(p+".htpasswd_file", "cannot be read: %s", err.Error())
	case h.Users() == 0:
		v.problemf(p+".htpasswd_file", "%s lists no users, so nobody could use the route", ba.HtpasswdFile)
	}
}

func (v validator) forwardAuth(p string, fa *ForwardAuth) {
	u, err := url.Parse(fa.URL)
	switch {
	case fa.URL == "":
		v.problemf(p+".url", "is required: the auth service's endpoint, such as http://127.0.0.1:4181/auth")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		v.problemf(p+".url", "expected an http:// or https:// URL such as http://127.0.0.1:4181/auth, got %q", fa.URL)
	}
	for i, h := range fa.CopyHeaders {
		if msg := settableHeader(h); msg != "" {
			v.problemf(indexPath(p+".copy_headers", i), "%s", msg)
		}
	}
	v.breaker(p+".breaker", &fa.Breaker)
}

// settableHeader says what is wrong with a header the gateway would set on
// a request or answer, or "": a hop-by-hop header or one that frames the
// message would let a rule break the framing.
func settableHeader(h string) string {
	if h == "" || strings.ContainsFunc(h, func(r rune) bool { return !isTokenChar(r) }) {
		return fmt.Sprintf("expected a header name such as X-User, got %q", h)
	}
	switch strings.ToLower(h) {
	case "host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer",
		"upgrade", "proxy-connection", "proxy-authenticate", "proxy-authorization":
		return fmt.Sprintf("%s cannot be set: it is hop-by-hop or frames the message", h)
	}
	return ""
}

func (v validator) cors(p string, co *CORS) {
	if len(co.AllowOrigins) == 0 {
		v.problemf(p+".allow_origins", "is required: the origins allowed, such as [https://app.example.com], or [\"*\"]")
	}
	for i, o := range co.AllowOrigins {
		op := indexPath(p+".allow_origins", i)
		if o == "*" {
			if co.AllowCredentials {
				v.problemf(op, "\"*\" cannot be used with allow_credentials: browsers refuse it; list the origins")
			}
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" {
			v.problemf(op, "expected an origin such as https://app.example.com (scheme and host, no path), got %q", o)
		}
	}
	for i, m := range co.AllowMethods {
		v.method(indexPath(p+".allow_methods", i), m)
	}
	for _, key := range []struct {
		name string
		list []string
	}{{"allow_headers", co.AllowHeaders}, {"expose_headers", co.ExposeHeaders}} {
		for i, h := range key.list {
			if h == "" || strings.ContainsFunc(h, func(r rune) bool { return !isTokenChar(r) }) {
				v.problemf(indexPath(p+"."+key.name, i), "expected a header name such as Content-Type, got %q", h)
			}
		}
	}
}
