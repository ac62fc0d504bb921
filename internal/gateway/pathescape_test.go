package gateway

import (
	"fmt"
	"strings"
	"testing"
)

// Paths that a common backend would read as leaving the route's prefix, or
// that smuggle bytes no path name needs, are answered 400 by the gateway and
// never reach the backend: Tomcat and Spring read "..;" as "..", a NUL ends a
// C string early, an encoded CR LF splits a header or a log line, and an
// overlong UTF-8 "." or "/" slips past a decoder that checks after decoding.
func TestEscapingPathsAreRefusedBeforeTheBackend(t *testing.T) {
	be := newRecordingBackend(t)
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes:
  - {match: {path_prefix: /api/v1/}, upstream: app}
`, be.addr()))

	tests := []struct{ name, path, why string }{
		{"dot-dot with an empty parameter", "/api/v1/..;/admin", "parameter"},
		{"dot-dot with a parameter", "/api/v1/..;jsessionid=1/admin", "parameter"},
		{"dot with a parameter", "/api/v1/.;/x", "parameter"},
		{"encoded dot-dot with a parameter", "/api/v1/%2e%2e;/admin", "parameter"},
		{"dot-dot with an encoded semicolon", "/api/v1/..%3B/admin", "parameter"},
		{"encoded dot-dot with an encoded semicolon", "/api/v1/%2E%2e%3b/admin", "parameter"},
		{"encoded NUL", "/api/v1/x%00.json", "control"},
		{"encoded CR LF", "/api/v1/x%0d%0aSet-Cookie:%20a=b", "control"},
		{"encoded LF", "/api/v1/x%0A", "control"},
		{"encoded DEL", "/api/v1/x%7f", "control"},
		{"overlong dot-dot", "/api/v1/%c0%ae%c0%ae/admin", "overlong"},
		{"upper-case overlong dot-dot", "/api/v1/%C0%AE%C0%AE/admin", "overlong"},
		{"overlong slash", "/api/v1/..%c0%afadmin", "overlong"},
		{"three-byte overlong dot", "/api/v1/%e0%80%ae%e0%80%ae/admin", "overlong"},
		{"four-byte overlong dot", "/api/v1/%f0%80%80%ae/admin", "overlong"},
		{"IIS %u escape", "/api/v1/%u002e%u002e/admin", "percent"},
		{"truncated escape", "/api/v1/x%2", "percent"},
		{"escape that is not hex", "/api/v1/x%zz", "percent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := rawRequest(t, gw.addr, "GET "+tt.path+" HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n")
			if code != 400 {
				t.Errorf("status %d, want 400 (body %q)", code, body)
			}
			if !strings.Contains(body, `"error"`) || !strings.Contains(body, tt.why) {
				t.Errorf("answer does not say why (%q): %q", tt.why, body)
			}
		})
	}
	if n := be.hits.Load(); n != 0 {
		uri, _, _ := be.last()
		t.Fatalf("%d escaping paths reached the backend (last %q)", n, uri)
	}
}

// What the path rules must not refuse: path parameters on ordinary
// segments, valid UTF-8, legacy single-byte escapes and encoded spaces reach
// the backend byte for byte.
func TestOrdinaryEscapesAndParametersAreForwardedUnchanged(t *testing.T) {
	be := newRecordingBackend(t)
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes:
  - {match: {path_prefix: /api/v1/}, upstream: app}
`, be.addr()))
	for _, path := range []string{
		"/api/v1/a;v=2/b",
		"/api/v1/caf%C3%A9",
		"/api/v1/%e9t%e9",
		"/api/v1/x%20y",
		"/api/v1/..a;b/c",
		"/api/v1/%3bx",
		"/api/v1/100%25",
	} {
		code, body := rawRequest(t, gw.addr, "GET "+path+" HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n")
		uri, _, _ := be.last()
		if code != 200 || uri != path {
			t.Errorf("%s: %d %q, backend saw %q", path, code, body, uri)
		}
	}
}
