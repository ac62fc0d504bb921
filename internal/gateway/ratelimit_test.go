package gateway

import (
	"fmt"
	"strings"
	"testing"

	"github.com/skjold-dev/skjold/internal/config"
)

func rateLimitConfig(backend, rateLimit string) string {
	return fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes:
  - {name: api, match: {path_prefix: /api/}, upstream: app, rate_limit: %s}
  - {name: open, match: {path_prefix: /open/}, upstream: app}
`, backend, rateLimit)
}

func getWith(rc *rawClient, path, header string) rawResponse {
	rc.send("GET " + path + " HTTP/1.1\r\nHost: t\r\n" + header + "\r\n")
	return rc.read("GET")
}

func TestRateLimitAnswers429WithRetryAfterPastTheBurst(t *testing.T) {
	be := newRecordingBackend(t)
	gw := startGateway(t, rateLimitConfig(be.addr(), "{rate: 1/m, burst: 3}"))
	rc := dialRaw(t, gw.addr)
	for i, remaining := range []string{"2", "1", "0"} {
		r := getWith(rc, "/api/x", "")
		if r.status != 200 {
			t.Fatalf("request %d: status %d, want 200", i, r.status)
		}
		// The bucket fills in 3 min: the policy says 3 per 180 s.
		if p := r.header.Get("RateLimit-Policy"); p != `"client_ip";q=3;w=180` {
			t.Errorf("request %d: RateLimit-Policy %q", i, p)
		}
		if rl := r.header.Get("RateLimit"); !strings.HasPrefix(rl, `"client_ip";r=`+remaining+";t=") {
			t.Errorf("request %d: RateLimit %q, want r=%s", i, rl, remaining)
		}
	}
	r := getWith(rc, "/api/x", "")
	if r.status != 429 || r.header.Get("Retry-After") != "60" {
		t.Fatalf("fourth request: status %d Retry-After %q, want 429 and 60\n%s", r.status, r.header.Get("Retry-After"), r.head)
	}
	if rl := r.header.Get("RateLimit"); rl != `"client_ip";r=0;t=180` {
		t.Errorf("429's RateLimit %q", rl)
	}
	if e := decodeError(t, r.body); !strings.Contains(e.Error, "rate limit exceeded") || e.RequestID == "" {
		t.Errorf("429 body %q", r.body)
	}
	if got := be.hits.Load(); got != 3 {
		t.Errorf("backend saw %d requests, want the 3 the limit let through", got)
	}
	// The connection carries on, and a route without a limit is not
	// counted against the client.
	if r := getWith(rc, "/open/x", ""); r.status != 200 || r.header.Get("RateLimit") != "" {
		t.Errorf("unlimited route: status %d, RateLimit %q", r.status, r.header.Get("RateLimit"))
	}
	if n := counterSum(t, gw, "skjold_ratelimit_limited_total", map[string]string{"route": "api"}); n != 1 {
		t.Errorf("skjold_ratelimit_limited_total = %v, want 1", n)
	}
	if n := counterSum(t, gw, "skjold_requests_total", map[string]string{"route": "api", "code": "429"}); n != 1 {
		t.Errorf("requests_total{code=429} = %v, want 1", n)
	}
}

func TestRateLimitCountsEachKeyApart(t *testing.T) {
	be := newRecordingBackend(t)
	for _, tc := range []struct {
		name, rule string
		headers    []string // one request with each, in order
		want       []int
	}{
		{"header key", "{rate: 1/m, burst: 1, key: 'header:X-Api-Key'}",
			[]string{"X-Api-Key: a\r\n", "x-api-key: b\r\n", "X-API-KEY: a\r\n", "", ""},
			[]int{200, 200, 429, 200, 429}}, // no header: counted by the client address
		{"route key", "{rate: 1/m, burst: 2, key: route}",
			[]string{"X-Api-Key: a\r\n", "X-Api-Key: b\r\n", "X-Api-Key: c\r\n"},
			[]int{200, 200, 429}},
		{"client_ip key", "{rate: 1/m, burst: 1}",
			[]string{"X-Api-Key: a\r\n", "X-Api-Key: b\r\n"},
			[]int{200, 429}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := startGateway(t, rateLimitConfig(be.addr(), tc.rule))
			rc := dialRaw(t, gw.addr)
			for i, h := range tc.headers {
				if r := getWith(rc, "/api/x", h); r.status != tc.want[i] {
					t.Errorf("request %d (%q): status %d, want %d", i, h, r.status, tc.want[i])
				}
			}
		})
	}
}

// A refused request with a body the gateway did not read cannot leave the
// connection positioned at the next request: it is closed.
func TestRateLimitedRequestWithABodyClosesTheConnection(t *testing.T) {
	be := newRecordingBackend(t)
	gw := startGateway(t, rateLimitConfig(be.addr(), "{rate: 1/m, burst: 1}"))
	rc := dialRaw(t, gw.addr)
	getWith(rc, "/api/x", "")
	rc.send("POST /api/x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
	r := rc.read("POST")
	if r.status != 429 || r.header.Get("Connection") != "close" {
		t.Fatalf("status %d, Connection %q; want 429 and close", r.status, r.header.Get("Connection"))
	}
	if !rc.closed() {
		t.Error("connection left open with an unread body on it")
	}
	if be.hits.Load() != 1 {
		t.Errorf("backend saw %d requests, want 1", be.hits.Load())
	}
}

// A reload that keeps a route's rule keeps every client's bucket; one that
// changes the rule starts the buckets afresh.
func TestRateLimitStateSurvivesAReloadThatKeepsTheRule(t *testing.T) {
	be := newRecordingBackend(t)
	gw := startGateway(t, rateLimitConfig(be.addr(), "{rate: 1/m, burst: 1}"))
	rc := dialRaw(t, gw.addr)
	if r := getWith(rc, "/api/x", ""); r.status != 200 {
		t.Fatalf("first request: %d", r.status)
	}
	apply := func(text string) {
		t.Helper()
		cfg, err := config.Parse("reload.yaml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		// Keep the listener on the port it got.
		cfg.Listeners["public"].Address = gw.addr
		if _, err := gw.Apply(cfg); err != nil {
			t.Fatal(err)
		}
	}
	// Same rule, something else changed.
	apply(strings.Replace(rateLimitConfig(be.addr(), "{rate: 1/m, burst: 1}"), "name: open", "name: opened", 1))
	if r := getWith(rc, "/api/x", ""); r.status != 429 {
		t.Fatalf("after a reload that kept the rule: status %d, want 429 (the bucket kept)", r.status)
	}
	apply(rateLimitConfig(be.addr(), "{rate: 2/m, burst: 1}"))
	if r := getWith(rc, "/api/x", ""); r.status != 200 {
		t.Fatalf("after a reload that changed the rule: status %d, want 200 (a new bucket)", r.status)
	}
}

func TestRateLimitEvictionsAreCounted(t *testing.T) {
	be := newRecordingBackend(t)
	gw := startGateway(t, rateLimitConfig(be.addr(), "{rate: 1/m, burst: 1, key: 'header:X-Api-Key', max_keys: 2}"))
	rc := dialRaw(t, gw.addr)
	for _, k := range []string{"a", "b", "c", "d", "a"} {
		if r := getWith(rc, "/api/x", "X-Api-Key: "+k+"\r\n"); r.status != 200 {
			t.Errorf("key %s: status %d, want 200 (a was forgotten, so its bucket is full again)", k, r.status)
		}
	}
	if n := counterSum(t, gw, "skjold_ratelimit_evictions_total", map[string]string{"route": "api"}); n != 3 {
		t.Errorf("skjold_ratelimit_evictions_total = %v, want 3", n)
	}
}
