// Package route matches requests to routes: host (exact, then wildcard, then
// any), then the longest path prefix on segment boundaries, then method.
// Matching costs a few map lookups per path segment, whatever the number of
// routes, and allocates nothing.
package route

import (
	"fmt"
	"strings"
)

// Entry is one route as the table sees it.
type Entry[T any] struct {
	// Hosts the route answers for: exact names or "*.suffix" wildcards,
	// lower-case, without port. Empty means any host.
	Hosts []string
	// Prefix is the path prefix, e.g. "/api/v1/" or "/api/v1" (the same
	// thing: both match "/api/v1" and "/api/v1/..." but not "/api/v1evil").
	Prefix string
	// Methods the route accepts; empty means any.
	Methods []string
	// Value is what a match returns.
	Value T
}

// Match is the result of a successful lookup.
type Match[T any] struct {
	Value T
	// PrefixLen is how many bytes of the cleaned path the prefix covered
	// (without its trailing slash), for prefix stripping.
	PrefixLen int
}

type candidate[T any] struct {
	methods []string
	value   T
	order   int
}

// group holds the routes of one host key, by normalised prefix.
type group[T any] struct {
	byPrefix map[string][]candidate[T]
}

// Table is an immutable routing table, safe for concurrent use.
type Table[T any] struct {
	exact    map[string]*group[T]
	wildcard map[string]*group[T] // key: ".example.com"
	any      *group[T]
	hasWild  bool
}

// New builds a table. Routes listed earlier win among equally specific ones.
func New[T any](entries []Entry[T]) (*Table[T], error) {
	t := &Table[T]{exact: map[string]*group[T]{}, wildcard: map[string]*group[T]{}}
	for i, e := range entries {
		if !strings.HasPrefix(e.Prefix, "/") {
			return nil, fmt.Errorf("route %d: prefix %q must start with /", i, e.Prefix)
		}
		key := strings.TrimSuffix(e.Prefix, "/")
		c := candidate[T]{methods: e.Methods, value: e.Value, order: i}
		add := func(g *group[T]) {
			g.byPrefix[key] = append(g.byPrefix[key], c)
		}
		if len(e.Hosts) == 0 {
			if t.any == nil {
				t.any = newGroup[T]()
			}
			add(t.any)
			continue
		}
		for _, h := range e.Hosts {
			h = strings.ToLower(h)
			m, k := t.exact, h
			if strings.HasPrefix(h, "*.") {
				m, k = t.wildcard, h[1:]
				t.hasWild = true
			}
			g := m[k]
			if g == nil {
				g = newGroup[T]()
				m[k] = g
			}
			add(g)
		}
	}
	return t, nil
}

func newGroup[T any]() *group[T] { return &group[T]{byPrefix: map[string][]candidate[T]{}} }

// Lookup finds the route for a request. host is the Host header (any case,
// with or without port); path must already be cleaned (see CleanPath).
func (t *Table[T]) Lookup(host, path, method []byte) (Match[T], bool) {
	var buf [256]byte
	h := normalizeHost(host, buf[:0])
	if len(h) > 0 {
		if g := t.exact[string(h)]; g != nil {
			if m, ok := g.lookup(path, method); ok {
				return m, true
			}
		}
		if t.hasWild {
			// Try ".b.example.com", then ".example.com", then ".com".
			for i := 0; i < len(h); i++ {
				if h[i] != '.' {
					continue
				}
				if g := t.wildcard[string(h[i:])]; g != nil {
					if m, ok := g.lookup(path, method); ok {
						return m, true
					}
				}
			}
		}
	}
	if t.any != nil {
		return t.any.lookup(path, method)
	}
	return Match[T]{}, false
}

func (g *group[T]) lookup(path, method []byte) (Match[T], bool) {
	p := path
	if n := len(p); n > 0 && p[n-1] == '/' {
		p = p[:n-1]
	}
	for {
		if cs, ok := g.byPrefix[string(p)]; ok {
			for i := range cs {
				if methodOK(cs[i].methods, method) {
					return Match[T]{Value: cs[i].value, PrefixLen: len(p)}, true
				}
			}
		}
		if len(p) == 0 {
			return Match[T]{}, false
		}
		// Cut the last segment: "/a/b/c" → "/a/b" → "/a" → "".
		i := len(p) - 1
		for i >= 0 && p[i] != '/' {
			i--
		}
		if i < 0 {
			return Match[T]{}, false
		}
		p = p[:i]
	}
}

func methodOK(methods []string, m []byte) bool {
	if len(methods) == 0 {
		return true
	}
	for _, x := range methods {
		if x == string(m) {
			return true
		}
	}
	return false
}

// normalizeHost lower-cases host and strips its port and a trailing dot,
// using buf when it must change bytes.
func normalizeHost(host []byte, buf []byte) []byte {
	h := host
	if len(h) > 0 && h[0] == '[' {
		if i := indexByte(h, ']'); i > 0 {
			h = h[:i+1]
		}
	} else if i := indexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	if n := len(h); n > 0 && h[n-1] == '.' {
		h = h[:n-1]
	}
	for _, c := range h {
		if 'A' <= c && c <= 'Z' {
			if len(h) > cap(buf) {
				return []byte(strings.ToLower(string(h)))
			}
			buf = buf[:len(h)]
			for i, c := range h {
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				buf[i] = c
			}
			return buf
		}
	}
	return h
}

func indexByte(b []byte, c byte) int {
	for i := range b {
		if b[i] == c {
			return i
		}
	}
	return -1
}
