package config

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

// Respond makes the gateway answer a route's requests itself, with no
// upstream (nginx's return CODE TEXT).
type Respond struct {
	// Status of the answer, 200..599 but not 1xx. Default 200.
	Status int `yaml:"status,omitempty"`
	// Body is the answer's body. Default: empty. At most one of Body and
	// BodyFile.
	Body string `yaml:"body,omitempty"`
	// BodyFile is a file whose contents are the body, read again on every
	// reload; a relative path is taken from the config file's directory.
	BodyFile string `yaml:"body_file,omitempty"`
	// Headers are added to the answer. Content-Type defaults to
	// text/plain; charset=utf-8. Hop-by-hop headers, Host, Content-Length
	// and Transfer-Encoding are refused. Default: none.
	Headers map[string]string `yaml:"headers,omitempty"`
}

// Redirect answers a route's requests with a redirect, with no upstream
// (nginx's return 301 URL).
type Redirect struct {
	// To is the Location; $scheme, $host and $request_uri (the path and
	// query as the client sent them) are replaced with the request's, as
	// in "https://$host$request_uri". Required.
	To string `yaml:"to,omitempty"`
	// Status is 301, 302, 303, 307 or 308. Default 302.
	Status int `yaml:"status,omitempty"`
}

// Maintenance answers a route's requests with 503 while it is on. The
// admin API (PUT /routes/{name}/maintenance) and `skjold maintenance on|off
// ROUTE` switch it without a reload; a reload that leaves this section as
// it was keeps the switch where it is.
type Maintenance struct {
	// Enabled turns maintenance on when the config is loaded. Default
	// false.
	Enabled bool `yaml:"enabled,omitempty"`
	// RetryAfter is sent as Retry-After. Default: not sent.
	RetryAfter Duration `yaml:"retry_after,omitempty"`
	// BodyFile is the answer's body (its type guessed from the file's
	// extension: .html, .json, else text); a relative path is taken from
	// the config file's directory. Default: a JSON error body.
	BodyFile string `yaml:"body_file,omitempty"`
}

// Redirect statuses a route may use.
var redirectStatuses = []int{301, 302, 303, 307, 308}

// Variables a redirect target may use.
var redirectVars = []string{"$scheme", "$host", "$request_uri"}

func directDefaults(c *Config, rt *Route) {
	if r := rt.Respond; r != nil {
		if r.Status == 0 {
			r.Status = 200
		}
		r.BodyFile = c.fileName(r.BodyFile)
	}
	if r := rt.Redirect; r != nil && r.Status == 0 {
		r.Status = 302
	}
	if m := rt.Maintenance; m != nil {
		m.BodyFile = c.fileName(m.BodyFile)
	}
}

// answersItself reports whether a route needs no upstream.
func (rt *Route) answersItself() bool { return rt.Respond != nil || rt.Redirect != nil }

func (v validator) direct(p string, rt *Route) {
	if rt.Respond != nil && rt.Redirect != nil {
		v.problemf(p+".redirect", "a route either responds or redirects; remove one of respond and redirect")
	}
	if rt.answersItself() && rt.Upstream != "" {
		key := "respond"
		if rt.Respond == nil {
			key = "redirect"
		}
		v.problemf(p+".upstream", "a route with %s answers itself; remove upstream (or %s)", key, key)
	}
	if r := rt.Respond; r != nil {
		if r.Status < 200 || r.Status > 599 {
			v.problemf(p+".respond.status", "must be between 200 and 599, got %d", r.Status)
		}
		if r.Body != "" && r.BodyFile != "" {
			v.problemf(p+".respond.body_file", "set only one of body and body_file")
		}
		v.bodyFile(p+".respond.body_file", r.BodyFile)
		for _, name := range sortedKeys(r.Headers) {
			if msg := settableHeader(name); msg != "" {
				v.problemf(keyPath(p+".respond.headers", name), "%s", msg)
			} else if strings.ContainsAny(r.Headers[name], "\r\n\x00") {
				v.problemf(keyPath(p+".respond.headers", name), "a header value must not contain line breaks")
			}
		}
	}
	if r := rt.Redirect; r != nil {
		v.redirect(p+".redirect", r)
	}
	if m := rt.Maintenance; m != nil {
		if m.RetryAfter < 0 {
			v.problemf(p+".maintenance.retry_after", "must not be negative, got %s", m.RetryAfter.D())
		}
		v.bodyFile(p+".maintenance.body_file", m.BodyFile)
	}
}

func (v validator) redirect(p string, r *Redirect) {
	if r.To == "" {
		v.problemf(p+".to", "is required: where to send the client, such as https://$host$request_uri")
	} else if strings.ContainsAny(r.To, "\r\n\x00 ") {
		v.problemf(p+".to", "must not contain spaces or line breaks, got %q", r.To)
	} else if _, err := ParseRedirect(r.To); err != nil {
		v.problemf(p+".to", "%s", err.Error())
	}
	ok := false
	for _, s := range redirectStatuses {
		ok = ok || s == r.Status
	}
	if !ok {
		v.problemf(p+".status", "expected 301, 302, 303, 307 or 308, got %d", r.Status)
	}
}

func (v validator) bodyFile(p, name string) {
	if name == "" {
		return
	}
	if _, err := os.ReadFile(name); err != nil {
		v.problemf(p, "cannot be read: %s", err.Error())
	}
}

// RedirectPart is a piece of a redirect target: literal text, or one of
// the variables (Var is "$scheme", "$host" or "$request_uri").
type RedirectPart struct {
	Text, Var string
}

// ParseRedirect splits a redirect target into text and variables; an
// unknown $name is an error.
func ParseRedirect(to string) ([]RedirectPart, error) {
	var parts []RedirectPart
	for to != "" {
		i := strings.IndexByte(to, '$')
		if i < 0 {
			parts = append(parts, RedirectPart{Text: to})
			break
		}
		if i > 0 {
			parts = append(parts, RedirectPart{Text: to[:i]})
		}
		to = to[i:]
		// The name runs as far as nginx reads one, so $hostname is not
		// $host followed by "name".
		n := 1
		for n < len(to) && (to[n] == '_' || to[n] >= 'a' && to[n] <= 'z' || to[n] >= '0' && to[n] <= '9') {
			n++
		}
		found := to[:n]
		if !slices.Contains(redirectVars, found) {
			return nil, fmt.Errorf("unknown variable %s; expected %s", found, strings.Join(redirectVars, ", "))
		}
		parts = append(parts, RedirectPart{Var: found})
		to = to[len(found):]
	}
	return parts, nil
}
