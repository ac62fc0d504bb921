package gateway

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/skjold-dev/skjold/internal/config"
)

// headerBackend answers with the X-User it was sent, and counts requests.
type headerBackend struct {
	srv  *httptest.Server
	hits atomic.Int64
}

func newHeaderBackend(t *testing.T) *headerBackend {
	b := &headerBackend{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		fmt.Fprintf(w, "user=%s", strings.Join(r.Header.Values("X-User"), ","))
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func policyConfig(backend, rule string) string {
	return fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes:
  - name: api
    match: {path_prefix: /api/}
    upstream: app
%s
`, backend, rule)
}

// Allow/deny rules decide in the order written: the loopback client is
// denied by a rule before the one that would allow it, allowed when the
// order is the other way round.
func TestAccessRulesFirstMatchDecides(t *testing.T) {
	be := newHeaderBackend(t)
	for _, tc := range []struct {
		name, rules string
		want        int
	}{
		{"deny before allow", "    access:\n      - deny: [127.0.0.1]\n      - allow: [127.0.0.0/8]\n", 403},
		{"allow before deny", "    access:\n      - allow: [127.0.0.0/8]\n      - deny: [all]\n", 200},
		{"no rule holds the client", "    access:\n      - deny: [10.0.0.0/8]\n", 200},
		{"deny all", "    access:\n      - allow: [10.0.0.0/8]\n      - deny: [all]\n", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := be.hits.Load()
			gw := startGateway(t, policyConfig(be.srv.Listener.Addr().String(), tc.rules))
			rc := dialRaw(t, gw.addr)
			r := getWith(rc, "/api/x", "")
			if r.status != tc.want {
				t.Fatalf("status %d, want %d\n%s", r.status, tc.want, r.head)
			}
			if tc.want == 403 {
				if e := decodeError(t, r.body); !strings.Contains(e.Error, "access denied") || e.RequestID == "" {
					t.Errorf("403 body %q", r.body)
				}
				if be.hits.Load() != before {
					t.Error("a denied request reached the backend")
				}
			}
		})
	}
}

func htpasswdFile(t *testing.T, user, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "users.htpasswd")
	if err := os.WriteFile(p, []byte(user+":"+string(h)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func basic(user, pw string) string {
	return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw)) + "\r\n"
}

func TestBasicAuthAsksForUsersAndRereadsTheFileOnReload(t *testing.T) {
	be := newHeaderBackend(t)
	file := htpasswdFile(t, "alice", "secret")
	cfg := policyConfig(be.srv.Listener.Addr().String(), "    basic_auth: {htpasswd_file: "+file+", realm: Staff}\n")
	gw := startGateway(t, cfg)
	rc := dialRaw(t, gw.addr)
	for _, tc := range []struct {
		name, header string
		want         int
	}{
		{"no credentials", "", 401},
		{"wrong password", basic("alice", "nope"), 401},
		{"unknown user", basic("mallory", "secret"), 401},
		{"bearer", "Authorization: Bearer secret\r\n", 401},
		{"right password", basic("alice", "secret"), 200},
	} {
		r := getWith(rc, "/api/x", tc.header)
		if r.status != tc.want {
			t.Fatalf("%s: status %d, want %d", tc.name, r.status, tc.want)
		}
		if tc.want == 401 && r.header.Get("WWW-Authenticate") != `Basic realm="Staff", charset="UTF-8"` {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, r.header.Get("WWW-Authenticate"))
		}
	}
	if be.hits.Load() != 1 {
		t.Errorf("backend saw %d requests, want the 1 with credentials", be.hits.Load())
	}
	// The file changes: a reload reads it again.
	h, _ := bcrypt.GenerateFromPassword([]byte("new"), bcrypt.MinCost)
	os.WriteFile(file, []byte("bob:"+string(h)+"\n"), 0o600)
	applyYAML(t, gw, cfg)
	if r := getWith(rc, "/api/x", basic("alice", "secret")); r.status != 401 {
		t.Errorf("alice after she left the file: %d, want 401", r.status)
	}
	if r := getWith(rc, "/api/x", basic("bob", "new")); r.status != 200 {
		t.Errorf("bob after the reload: %d, want 200", r.status)
	}
	// A file that no longer loads rejects the reload; the running rules stay.
	os.WriteFile(file, []byte("bob:$apr1$x$y\n"), 0o600)
	if _, err := parseAndApply(gw, cfg); err == nil || !strings.Contains(err.Error(), ":1: user \"bob\": not a bcrypt hash") {
		t.Errorf("reload with an MD5 entry: %v", err)
	}
	if r := getWith(rc, "/api/x", basic("bob", "new")); r.status != 200 {
		t.Errorf("bob after a rejected reload: %d, want 200", r.status)
	}
}

// authService answers by the request's path what the test asks of it.
func authService(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("Authorization") {
		case "Bearer good":
			w.Header().Set("X-User", "alice")
		case "Bearer fail":
			w.WriteHeader(500)
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="sso"`)
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(401)
			fmt.Fprint(w, "who are you?")
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func forwardAuthRule(url string) string {
	return "    forward_auth:\n      url: " + url + "\n      timeout: 300ms\n      copy_headers: [X-User]\n" +
		"      breaker: {consecutive_failures: 2, open_for: 1m, max_open_for: 1m}\n"
}

func TestForwardAuthCopiesHeadersAndPassesRefusals(t *testing.T) {
	be := newHeaderBackend(t)
	auth := authService(t)
	gw := startGateway(t, policyConfig(be.srv.Listener.Addr().String(), forwardAuthRule(auth.URL+"/check")))
	rc := dialRaw(t, gw.addr)

	// The client's own X-User is dropped: only the service's reaches the upstream.
	r := getWith(rc, "/api/x", "Authorization: Bearer good\r\nX-User: root\r\n")
	if r.status != 200 || r.body != "user=alice" {
		t.Errorf("allowed: %d %q, want 200 user=alice", r.status, r.body)
	}
	r = getWith(rc, "/api/x", "Authorization: Bearer bad\r\nX-User: root\r\n")
	if r.status != 401 || r.body != "who are you?" || r.header.Get("WWW-Authenticate") != `Bearer realm="sso"` || r.header.Get("X-Request-Id") == "" {
		t.Errorf("refused: %d %q\n%s", r.status, r.body, r.head)
	}
	if be.hits.Load() != 1 {
		t.Errorf("backend saw %d requests, want 1", be.hits.Load())
	}
}

// An auth service that stalls or fails gives 503 within its timeout, never
// lets the request through, and its breaker opens; after it recovers and
// a reload, the breaker state is kept for the unchanged rule.
func TestForwardAuthFailsClosed(t *testing.T) {
	be := newHeaderBackend(t)
	stall, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stall.Close() })
	go func() {
		for {
			c, err := stall.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() }) // read nothing, answer nothing
		}
	}()
	auth := authService(t)
	for _, tc := range []struct{ name, url, header string }{
		{"stalls", "http://" + stall.Addr().String() + "/check", "Authorization: Bearer good\r\n"},
		{"answers 500", auth.URL, "Authorization: Bearer fail\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := startGateway(t, policyConfig(be.srv.Listener.Addr().String(), forwardAuthRule(tc.url)))
			rc := dialRaw(t, gw.addr)
			for i := range 3 {
				start := time.Now()
				r := getWith(rc, "/api/x", tc.header)
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("request %d answered after %s, past the 300ms timeout", i, d)
				}
				if r.status != 503 {
					t.Fatalf("request %d: status %d, want 503\n%s", i, r.status, r.head)
				}
				if e := decodeError(t, r.body); !strings.Contains(e.Error, "auth service unavailable") {
					t.Errorf("request %d: %q", i, r.body)
				}
				if i == 2 && (!strings.Contains(r.body, "breaker open") || r.header.Get("Retry-After") == "") {
					t.Errorf("third request: want the open breaker with Retry-After: %s\n%s", r.body, r.head)
				}
			}
			if be.hits.Load() != 0 {
				t.Errorf("backend saw %d requests; forward auth must fail closed", be.hits.Load())
			}
		})
	}
}

func TestCORSPreflightIsAnsweredByTheGateway(t *testing.T) {
	be := newHeaderBackend(t)
	gw := startGateway(t, policyConfig(be.srv.Listener.Addr().String(),
		"    cors: {allow_origins: [https://app.example.com], allow_methods: [PUT], allow_headers: [X-Api-Key], max_age: 10m}\n"+
			"    basic_auth: {htpasswd_file: "+htpasswdFile(t, "alice", "pw")+"}\n"))
	rc := dialRaw(t, gw.addr)
	pre := func(origin, method, headers string) rawResponse {
		rc.send("OPTIONS /api/x HTTP/1.1\r\nHost: t\r\nOrigin: " + origin + "\r\nAccess-Control-Request-Method: " + method +
			"\r\nAccess-Control-Request-Headers: " + headers + "\r\n\r\n")
		return rc.read("OPTIONS")
	}
	// A preflight carries no credentials: it is answered before basic auth.
	r := pre("https://app.example.com", "PUT", "x-api-key")
	if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		r.header.Get("Access-Control-Allow-Methods") != "PUT" || r.header.Get("Access-Control-Max-Age") != "600" || r.header.Get("Vary") != "Origin" {
		t.Errorf("allowed preflight: %d\n%s", r.status, r.head)
	}
	for _, bad := range [][3]string{{"https://evil.example.com", "PUT", "x-api-key"}, {"https://app.example.com", "DELETE", ""}, {"https://app.example.com", "PUT", "x-other"}} {
		if r := pre(bad[0], bad[1], bad[2]); r.status != 403 || r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight %v: %d\n%s", bad, r.status, r.head)
		}
	}
	r = getWith(rc, "/api/x", "Origin: https://app.example.com\r\n"+basic("alice", "pw"))
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("actual request: %d\n%s", r.status, r.head)
	}
	r = getWith(rc, "/api/x", "Origin: https://evil.example.com\r\n"+basic("alice", "pw"))
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin got CORS headers: %d\n%s", r.status, r.head)
	}
	if be.hits.Load() != 2 {
		t.Errorf("backend saw %d requests, want the 2 actual ones", be.hits.Load())
	}
}

// parseAndApply reloads gw with yaml, as a reload does: parse, then apply.
func parseAndApply(gw *testGateway, yaml string) (ReloadReport, error) {
	cfg, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		return ReloadReport{}, err
	}
	return gw.Apply(cfg)
}

func applyYAML(t *testing.T, gw *testGateway, yaml string) {
	t.Helper()
	if _, err := parseAndApply(gw, yaml); err != nil {
		t.Fatalf("reload: %v", err)
	}
}
