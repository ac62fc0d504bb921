package gateway

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDirectResponsesNeedNoUpstream(t *testing.T) {
	body := filepath.Join(t.TempDir(), "robots.txt")
	os.WriteFile(body, []byte("User-agent: *\nDisallow: /\n"), 0o600)
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
routes:
  - {name: health, match: {path_prefix: /healthz}, respond: {status: 200, body: "ok\n", headers: {Content-Type: application/json, Cache-Control: no-store}}}
  - {name: robots, match: {path_prefix: /robots.txt}, respond: {body_file: %q}}
  - {name: gone, match: {path_prefix: /old/}, respond: {status: 410}}
  - {name: tls, match: {path_prefix: /}, redirect: {to: "https://$host:8443$request_uri", status: 308}}
  - {name: docs, match: {path_prefix: /docs/}, redirect: {to: "$scheme://docs.example.com$request_uri"}}
`, body))
	rc := dialRaw(t, gw.addr)
	for _, tc := range []struct {
		path                        string
		status                      int
		body, contentType, location string
	}{
		{"/healthz", 200, "ok\n", "application/json", ""},
		{"/robots.txt", 200, "User-agent: *\nDisallow: /\n", "text/plain; charset=utf-8", ""},
		{"/old/page", 410, "", "text/plain; charset=utf-8", ""},
		{"/a/b?q=1&r=%20", 308, "", "", "https://t:8443/a/b?q=1&r=%20"},
		{"/docs/x?y", 302, "", "", "http://docs.example.com/docs/x?y"},
	} {
		r := getWith(rc, tc.path, "")
		if r.status != tc.status || r.body != tc.body || r.header.Get("Location") != tc.location ||
			(tc.contentType != "" && r.header.Get("Content-Type") != tc.contentType) || r.header.Get("X-Request-Id") == "" {
			t.Errorf("%s: %d %q\n%s", tc.path, r.status, r.body, r.head)
		}
	}
	if r := getWith(rc, "/healthz", ""); r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("respond headers missing:\n%s", r.head)
	}
	// HEAD gets the head alone; the connection carries on.
	rc.send("HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
	if r := rc.read("HEAD"); r.status != 200 || r.header.Get("Content-Length") != "3" {
		t.Errorf("HEAD: %d\n%s", r.status, r.head)
	}
	// A request with a body is answered and the connection closed, since
	// its body is never read.
	rc.send("POST /old/x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
	if r := rc.read("POST"); r.status != 410 || !strings.Contains(r.head, "Connection: close") {
		t.Errorf("POST: %d\n%s", r.status, r.head)
	}
	if !rc.closed() {
		t.Error("connection with an unread body left open")
	}
}

func TestMaintenanceSwitchesWithoutReloadAndSurvivesAnUnchangedReload(t *testing.T) {
	be := newHeaderBackend(t)
	page := filepath.Join(t.TempDir(), "maint.html")
	os.WriteFile(page, []byte("<h1>back soon</h1>"), 0o600)
	cfg := func(extra string) string {
		return fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes:
  - {name: api, match: {path_prefix: /api/}, upstream: app, maintenance: {body_file: %q%s}}
  - {name: web, match: {path_prefix: /web/}, upstream: app}
`, be.srv.Listener.Addr().String(), page, extra)
	}
	gw := startGateway(t, cfg(", retry_after: 2m"))
	rc := dialRaw(t, gw.addr)
	if r := getWith(rc, "/api/x", ""); r.status != 200 {
		t.Fatalf("before maintenance: %d", r.status)
	}
	if _, err := gw.SetMaintenance("api", true); err != nil {
		t.Fatal(err)
	}
	r := getWith(rc, "/api/x", "")
	if r.status != 503 || r.body != "<h1>back soon</h1>" || r.header.Get("Content-Type") != "text/html; charset=utf-8" || r.header.Get("Retry-After") != "120" {
		t.Errorf("in maintenance: %d %q\n%s", r.status, r.body, r.head)
	}
	// A route without a section answers JSON.
	gw.SetMaintenance("web", true)
	if r := getWith(rc, "/web/x", ""); r.status != 503 || !strings.Contains(decodeError(t, r.body).Error, "web is in maintenance") {
		t.Errorf("web in maintenance: %d %q", r.status, r.body)
	}
	hits := be.hits.Load()
	// An unchanged reload keeps both switches on.
	applyYAML(t, gw, cfg(", retry_after: 2m"))
	if r := getWith(rc, "/api/x", ""); r.status != 503 {
		t.Errorf("after an unchanged reload: %d, want 503", r.status)
	}
	if r := getWith(rc, "/web/x", ""); r.status != 503 {
		t.Errorf("web after an unchanged reload: %d, want 503", r.status)
	}
	if be.hits.Load() != hits {
		t.Error("a request in maintenance reached the backend")
	}
	// A reload that changes the section starts the switch at enabled.
	applyYAML(t, gw, cfg(", enabled: false, retry_after: 1m"))
	if r := getWith(rc, "/api/x", ""); r.status != 200 {
		t.Errorf("after a reload that changed maintenance: %d, want 200", r.status)
	}
	if was, err := gw.SetMaintenance("web", false); err != nil || !was {
		t.Errorf("switching web off: was %v, %v", was, err)
	}
	if r := getWith(rc, "/web/x", ""); r.status != 200 {
		t.Errorf("web switched off: %d", r.status)
	}
	if _, err := gw.SetMaintenance("nope", true); err == nil || !strings.Contains(err.Error(), `route "nope": no such route`) {
		t.Errorf("unknown route: %v", err)
	}
}
