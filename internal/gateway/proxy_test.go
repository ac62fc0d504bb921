package gateway

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProxiesRequestsWithForwardingHeaders(t *testing.T) {
	var got *http.Request
	var gotBody string
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(r.Context())
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		w.Header().Set("X-Backend", "yes")
		w.Header().Set("Connection", "X-Secret")
		w.Header().Set("X-Secret", "hop")
		fmt.Fprintf(w, "hello %s", r.URL.Path)
	}))
	defer be.Close()
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes:
  - {match: {path_prefix: /api/v1/}, upstream: app, strip_prefix: true}
`, hostPort(be.URL)))
	c := newClient()

	req, _ := http.NewRequest("POST", "http://"+gw.addr+"/api/v1/users?x=1", strings.NewReader("payload"))
	req.Header.Set("Connection", "keep-alive, X-Drop")
	req.Header.Set("X-Drop", "must not pass")
	req.Header.Set("X-Forwarded-For", "10.9.8.7")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello /users" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Backend") != "yes" || resp.Header.Get("X-Secret") != "" {
		t.Errorf("response headers: %v", resp.Header)
	}
	if got.URL.RawQuery != "x=1" || gotBody != "payload" {
		t.Errorf("backend saw query %q body %q", got.URL.RawQuery, gotBody)
	}
	if got.Header.Get("X-Drop") != "" {
		t.Error("header named in Connection was forwarded")
	}
	if xff := got.Header.Get("X-Forwarded-For"); xff != "10.9.8.7, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q", xff)
	}
	if got.Header.Get("X-Forwarded-Proto") != "http" || got.Header.Get("X-Forwarded-Host") != gw.addr {
		t.Errorf("X-Forwarded-Proto/Host = %q %q", got.Header.Get("X-Forwarded-Proto"), got.Header.Get("X-Forwarded-Host"))
	}
	if got.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-ID generated")
	}
	if got.Host != gw.addr {
		t.Errorf("Host = %q, want the client's %q", got.Host, gw.addr)
	}

	// A client's request id is kept.
	req, _ = http.NewRequest("GET", "http://"+gw.addr+"/api/v1", nil)
	req.Header.Set("X-Request-ID", "abc-123")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	if got.Header.Get("X-Request-Id") != "abc-123" || got.URL.Path != "/" {
		t.Errorf("request id %q path %q", got.Header.Get("X-Request-Id"), got.URL.Path)
	}
}

func TestRepeatedXForwardedForLinesAreAllKept(t *testing.T) {
	var xff string
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		xff = strings.Join(r.Header.Values("X-Forwarded-For"), "|")
	}))
	defer be.Close()
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /}, upstream: app}]
`, hostPort(be.URL)))
	code, _ := rawRequest(t, gw.addr, "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2, 3.3.3.3\r\nConnection: close\r\n\r\n")
	if code != 200 || xff != "1.1.1.1, 2.2.2.2, 3.3.3.3, 127.0.0.1" {
		t.Fatalf("%d: backend saw X-Forwarded-For %q", code, xff)
	}
}
