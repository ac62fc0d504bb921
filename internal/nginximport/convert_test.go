package nginximport

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/config"
)

// mustConvert converts src, fails the test on an error, checks that the
// result loads with config.Parse and returns it with its warnings.
func mustConvert(t *testing.T, src string) (*config.Config, []Warning) {
	t.Helper()
	cfg, ws, err := Convert("nginx.conf", []byte(src), Options{AllowRerouting: true})
	if err != nil {
		t.Fatalf("Convert: %v\nwarnings: %v", err, ws)
	}
	mustLoad(t, cfg)
	return cfg, ws
}

// mustLoad fails the test unless cfg's YAML passes config.Parse, which is
// the promise every import makes.
func mustLoad(t testing.TB, cfg *config.Config) *config.Config {
	t.Helper()
	out, err := Marshal(cfg)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	loaded, err := config.Parse("imported.yaml", out)
	if err != nil {
		t.Fatalf("the import does not load: %v\n%s", err, out)
	}
	return loaded
}

// checkWarnings compares warnings with want: one substring per warning, in
// order.
func checkWarnings(t *testing.T, got []Warning, want []string) {
	t.Helper()
	var lines []string
	for _, w := range got {
		lines = append(lines, shortWarning(w))
	}
	if len(got) != len(want) {
		t.Fatalf("got %d warnings, want %d:\n%s", len(got), len(want), strings.Join(lines, "\n"))
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("warning %d = %q, want it to contain %q", i, lines[i], w)
		}
	}
}

// shortWarning formats w as "file:line: directive: message", with "note: "
// before an Info message and "ROUTING: " before a Routing one, so table
// cases name what matters without repeating every label.
func shortWarning(w Warning) string {
	label := ""
	switch w.Severity {
	case Info:
		label = "note: "
	case Routing:
		label = "ROUTING: "
	}
	return fmt.Sprintf("%s:%d: %s: %s%s", w.File, w.Line, w.Directive, label, w.Message)
}

func dur(s string) config.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return config.Duration(d)
}

func TestFieldGuideConfigImportsExactlyAndWithoutWarnings(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "fieldguide.conf"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, ws, err := Convert("fieldguide.conf", src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkWarnings(t, ws, nil)
	mustLoad(t, cfg)

	if l := cfg.Listeners["http_80"]; len(cfg.Listeners) != 1 || l == nil || l.Address != ":80" {
		t.Errorf("listeners = %v, want http_80 on :80", cfg.Listeners)
	}
	up := cfg.Upstreams["backend_service"]
	if len(cfg.Upstreams) != 1 || up == nil {
		t.Fatalf("upstreams = %v, want backend_service", cfg.Upstreams)
	}
	if len(up.Targets) != 1 || up.Targets[0].Address != "10.0.0.5:8080" {
		t.Errorf("targets = %+v, want 10.0.0.5:8080", up.Targets)
	}
	if mf := up.PassiveHealth.MaxFails; mf == nil || *mf != 3 || up.PassiveHealth.FailTimeout != dur("30s") {
		t.Errorf("passive health = %+v, want max_fails 3, fail_timeout 30s", up.PassiveHealth)
	}
	if idle := up.Keepalive.Idle; idle == nil || *idle != 32 {
		t.Errorf("keepalive idle = %v, want 32", idle)
	}
	if up.ConnectTimeout != dur("1s") {
		t.Errorf("connect_timeout = %v, want 1s", up.ConnectTimeout.D())
	}
	if len(cfg.Routes) != 1 {
		t.Fatalf("got %d routes, want 1", len(cfg.Routes))
	}
	rt := cfg.Routes[0]
	if rt.Match.PathPrefix != "/api/v1/" || rt.Upstream != "backend_service" || len(rt.Match.Hosts) != 0 || rt.StripPrefix {
		t.Errorf("route = %+v", rt)
	}
	if rt.Timeouts.Response != dur("2s") || rt.Timeouts.Send != dur("60s") || rt.Timeouts.Connect != 0 {
		t.Errorf("timeouts = %+v, want response 2s, send 60s, connect on the upstream", rt.Timeouts)
	}
	wantOn := []string{"error", "timeout", "http_500", "http_502", "http_503", "http_504"}
	if !slices.Equal(rt.Retry.On, wantOn) || rt.Retry.Tries != 1 {
		t.Errorf("retry = %+v, want on %v and tries 1 (one server)", rt.Retry, wantOn)
	}
	if rt.MaxBodyBytes == nil || *rt.MaxBodyBytes != 1<<20 {
		t.Errorf("max_body_bytes = %v, want nginx's 1MiB", rt.MaxBodyBytes)
	}
}

func TestMarshalStartsWithTheSourceComment(t *testing.T) {
	cfg, _ := mustConvert(t, "server { location / { proxy_pass http://10.0.0.1:8080; } }")
	out, err := Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "# Imported from the nginx configuration nginx.conf ") {
		t.Errorf("output starts %q", strings.SplitN(string(out), "\n", 2)[0])
	}
}

// inLocation wraps body (one line, line 9) in a location /a/ proxying to
// upstream u with two servers.
func inLocation(body string) string {
	return "upstream u {\n" + // 1
		"server 10.0.0.1:80;\n" + // 2
		"server 10.0.0.2:80;\n" + // 3
		"}\n" + // 4
		"server {\n" + // 5
		"listen 80;\n" + // 6
		"location /a/ {\n" + // 7
		"proxy_pass http://u;\n" + // 8
		body + "\n" + // 9
		"}\n" + // 10
		"}\n"
}

func TestLocationDirectives(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, c *config.Config, rt *config.Route)
		warn  []string
	}{
		{
			name: "nginx defaults are written out",
			check: func(t *testing.T, c *config.Config, rt *config.Route) {
				if c.Upstreams["u"].ConnectTimeout != dur("60s") {
					t.Errorf("connect = %v, want 60s", c.Upstreams["u"].ConnectTimeout.D())
				}
				if rt.Timeouts.Response != dur("60s") || rt.Timeouts.Send != dur("60s") {
					t.Errorf("timeouts = %+v, want 60s each", rt.Timeouts)
				}
				if rt.Timeouts.Total != dur("4m") {
					t.Errorf("total = %v, want 2 tries × (60s + 60s) = 4m", rt.Timeouts.Total.D())
				}
				if !slices.Equal(rt.Retry.On, []string{"error", "timeout"}) || rt.Retry.Tries != 2 {
					t.Errorf("retry = %+v, want on [error timeout], tries = 2 servers", rt.Retry)
				}
				if *rt.MaxBodyBytes != 1<<20 {
					t.Errorf("max_body_bytes = %v, want 1MiB", *rt.MaxBodyBytes)
				}
			},
		},
		{
			name: "proxy_read_timeout is the response timeout",
			body: "proxy_read_timeout 5s;",
			check: func(t *testing.T, c *config.Config, rt *config.Route) {
				if rt.Timeouts.Response != dur("5s") {
					t.Errorf("response = %v", rt.Timeouts.Response.D())
				}
			},
		},
		{
			name: "a bare number is seconds",
			body: "proxy_send_timeout 7;",
			check: func(t *testing.T, c *config.Config, rt *config.Route) {
				if rt.Timeouts.Send != dur("7s") {
					t.Errorf("send = %v", rt.Timeouts.Send.D())
				}
			},
		},
		{
			name: "proxy_connect_timeout goes to the upstream when its routes agree",
			body: "proxy_connect_timeout 500ms;",
			check: func(t *testing.T, c *config.Config, rt *config.Route) {
				if c.Upstreams["u"].ConnectTimeout != dur("500ms") || rt.Timeouts.Connect != 0 {
					t.Errorf("upstream connect = %v, route connect = %v", c.Upstreams["u"].ConnectTimeout.D(), rt.Timeouts.Connect.D())
				}
			},
		},
		{
			name: "proxy_next_upstream lists the retry conditions",
			body: "proxy_next_upstream error http_429 http_503;",
			check: func(t *testing.T, c *config.Config, rt *config.Route) {
				if !slices.Equal(rt.Retry.On, []string{"error", "http_429", "http_503"}) {
					t.Errorf("on = %v", rt.Retry.On)
				}
			},
		},
		{
			name: "proxy_next_upstream off is one try",
			body: "proxy_next_upstream off;",
			check: func(t *testing.T, c *config.Config, rt *config.Route) {
				if rt.Retry.Tries != 1 || rt.Retry.On != nil {
					t.Errorf("retry = %+v, want tries 1", rt.Retry)
				}
			},
		},
		{
			name: "non_idempotent allows retrying POST",
			body: "proxy_next_upstream error non_idempotent;",
			check: func(t *testing.T, c *config.Config, rt *config.Route) {
				if !rt.Retry.NonIdempotent || !slices.Equal(rt.Retry.On, []string{"error"}) {
					t.Errorf("retry = %+v", rt.Retry)
				}
			},
		},
		{
			name: "conditions Skjold lacks are warned about",
			body: "proxy_next_upstream error http_404 invalid_header;",
			warn: []string{"nginx.conf:9: proxy_next_upstream: http_404, invalid_header: not translated"},
			check: func(t *testing.T, c *config.Config, rt *config.Route) {
				if !slices.Equal(rt.Retry.On, []string{"error"}) {
					t.Errorf("on = %v", rt.Retry.On)
				}
			},
		},
		{
			name: "proxy_next_upstream_tries caps the tries",
			body: "proxy_next_upstream_tries 1;",
			check: func(t *testing.T, c *config.Config, rt *config.Route) {
				if rt.Retry.Tries != 1 {
					t.Errorf("tries = %d", rt.Retry.Tries)
				}
			},
		},
		{
			name: "nginx never tries more servers than the upstream has",
			body: "proxy_next_upstream_tries 5;",
			check: func(t *testing.T, c *config.Config, rt *config.Route) {
				if rt.Retry.Tries != 2 {
					t.Errorf("tries = %d, want 2", rt.Retry.Tries)
				}
			},
		},
		{
			name: "proxy_next_upstream_tries 0 is every server",
			body: "proxy_next_upstream_tries 0;",
			check: func(t *testing.T, c *config.Config, rt *config.Route) {
				if rt.Retry.Tries != 2 {
					t.Errorf("tries = %d, want 2", rt.Retry.Tries)
				}
			},
		},
		{
			name: "proxy_next_upstream_timeout is the retry timeout",
			body: "proxy_next_upstream_timeout 3s;",
			check: func(t *testing.T, c *config.Config, rt *config.Route) {
				if rt.Retry.Timeout != dur("3s") {
					t.Errorf("retry timeout = %v", rt.Retry.Timeout.D())
				}
			},
		},
		{
			name: "client_max_body_size is max_body_bytes",
			body: "client_max_body_size 20m;",
			check: func(t *testing.T, c *config.Config, rt *config.Route) {
				if *rt.MaxBodyBytes != 20<<20 {
					t.Errorf("max_body_bytes = %v", *rt.MaxBodyBytes)
				}
			},
		},
		{
			name: "client_max_body_size 0 is no limit",
			body: "client_max_body_size 0;",
			check: func(t *testing.T, c *config.Config, rt *config.Route) {
				if *rt.MaxBodyBytes != 0 {
					t.Errorf("max_body_bytes = %v", *rt.MaxBodyBytes)
				}
			},
		},
		{
			name: "a long read timeout raises the total deadline",
			body: "proxy_read_timeout 10m; proxy_connect_timeout 5s;",
			check: func(t *testing.T, c *config.Config, rt *config.Route) {
				if rt.Timeouts.Total != dur("20m10s") {
					t.Errorf("total = %v, want 2 × (5s + 10m)", rt.Timeouts.Total.D())
				}
			},
		},
		{
			name: "short timeouts keep Skjold's total",
			body: "proxy_read_timeout 5s; proxy_connect_timeout 1s;",
			check: func(t *testing.T, c *config.Config, rt *config.Route) {
				if rt.Timeouts.Total != 0 {
					t.Errorf("total = %v, want the default", rt.Timeouts.Total.D())
				}
			},
		},
		{name: "HTTP/1.1 and an empty Connection are accepted silently", body: `proxy_http_version 1.1; proxy_set_header Connection "";`},
		{name: "HTTP/1.0 is warned about", body: "proxy_http_version 1.0;", warn: []string{"nginx.conf:9: proxy_http_version: not translated"}},
		{
			name: "headers Skjold sends anyway are notes",
			body: "proxy_set_header Host $host; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto $scheme; proxy_set_header Upgrade $http_upgrade;",
			warn: []string{"proxy_set_header: note: Host $host", "proxy_set_header: note: X-Forwarded-For", "proxy_set_header: note: X-Forwarded-Proto", "proxy_set_header: note: Upgrade"},
		},
		{
			name: "X-Real-IP is not sent by Skjold",
			body: "proxy_set_header X-Real-IP $remote_addr;",
			warn: []string{"nginx.conf:9: proxy_set_header: X-Real-IP $remote_addr: not translated"},
		},
		{name: "other headers are warned about", body: "proxy_set_header X-Team payments;", warn: []string{`nginx.conf:9: proxy_set_header: X-Team "payments": not translated`}},
		{name: "gzip is warned about", body: "gzip on;", warn: []string{"nginx.conf:9: gzip: not translated (Skjold does not compress)"}},
		{name: "include is not followed", body: "include proxy_params;", warn: []string{"nginx.conf:9: include: ROUTING: proxy_params: not followed"}},
		{name: "an if that answers is a lost check on the route", body: "if ($bad) { return 403; }", warn: []string{`nginx.conf:9: if: ROUTING: nginx handles requests where if ($bad) holds itself (return 403); Skjold cannot yet, so requests for /a/ reach route "/a/" → upstream u without it`}},
		{name: "an if that only sets headers changes behaviour", body: "if ($bad) { add_header X-A b; }", warn: []string{"nginx.conf:9: if: if ($bad): block not translated"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ws := mustConvert(t, inLocation(tt.body))
			checkWarnings(t, ws, tt.warn)
			if len(c.Routes) != 1 {
				t.Fatalf("got %d routes, want 1", len(c.Routes))
			}
			if tt.check != nil {
				tt.check(t, c, c.Routes[0])
			}
		})
	}
}

func TestUpstreamDirectives(t *testing.T) {
	tests := []struct {
		name  string
		block string // the upstream block's body
		check func(t *testing.T, u *config.Upstream, rt *config.Route)
		warn  []string
	}{
		{
			name:  "server parameters become target fields",
			block: "server 10.0.0.1:80 weight=5; server b.internal backup;",
			check: func(t *testing.T, u *config.Upstream, rt *config.Route) {
				want := []config.Target{{Address: "10.0.0.1:80", Weight: 5}, {Address: "b.internal:80", Backup: true}}
				if len(u.Targets) != 2 || *u.Targets[0] != want[0] || *u.Targets[1] != want[1] {
					t.Errorf("targets = %+v %+v, want %+v", *u.Targets[0], *u.Targets[1], want)
				}
				if rt.Retry.Tries != 2 {
					t.Errorf("tries = %d, want 2 (backups count)", rt.Retry.Tries)
				}
			},
		},
		{
			name:  "nginx's passive health defaults are explicit",
			block: "server 10.0.0.1:80; server 10.0.0.2:80;",
			check: func(t *testing.T, u *config.Upstream, rt *config.Route) {
				if *u.PassiveHealth.MaxFails != 1 || u.PassiveHealth.FailTimeout != dur("10s") {
					t.Errorf("passive health = %d %v", *u.PassiveHealth.MaxFails, u.PassiveHealth.FailTimeout.D())
				}
			},
		},
		{
			name:  "a lone server is never ejected, as in nginx",
			block: "server 10.0.0.1:80;",
			check: func(t *testing.T, u *config.Upstream, rt *config.Route) {
				if *u.PassiveHealth.MaxFails != 0 {
					t.Errorf("max_fails = %d, want 0", *u.PassiveHealth.MaxFails)
				}
			},
		},
		{
			name:  "differing passive health takes the strictest",
			block: "server 10.0.0.1:80 max_fails=5 fail_timeout=5s; server 10.0.0.2:80 max_fails=2 fail_timeout=20s; server 10.0.0.3:80 max_fails=0;",
			warn:  []string{"nginx.conf:1: upstream: servers differ in max_fails/fail_timeout; Skjold applies one setting per upstream, using the strictest: max_fails=2 fail_timeout=20s"},
			check: func(t *testing.T, u *config.Upstream, rt *config.Route) {
				if *u.PassiveHealth.MaxFails != 2 || u.PassiveHealth.FailTimeout != dur("20s") {
					t.Errorf("passive health = %d %v", *u.PassiveHealth.MaxFails, u.PassiveHealth.FailTimeout.D())
				}
			},
		},
		{
			name:  "max_conns is the per-target cap",
			block: "server 10.0.0.1:80 max_conns=100;",
			check: func(t *testing.T, u *config.Upstream, rt *config.Route) {
				if u.MaxConcurrent != 100 {
					t.Errorf("max_concurrent = %d", u.MaxConcurrent)
				}
			},
		},
		{
			name:  "keepalive settings",
			block: "server 10.0.0.1:80; keepalive 8; keepalive_timeout 90s; keepalive_requests 500;",
			check: func(t *testing.T, u *config.Upstream, rt *config.Route) {
				k := u.Keepalive
				if *k.Idle != 8 || k.IdleTimeout != dur("90s") || k.MaxRequests != 500 {
					t.Errorf("keepalive = %d %v %d", *k.Idle, k.IdleTimeout.D(), k.MaxRequests)
				}
			},
		},
		{
			name:  "least_conn is least_request",
			block: "least_conn; server 10.0.0.1:80;",
			check: func(t *testing.T, u *config.Upstream, rt *config.Route) {
				if u.Balance != config.LeastRequest {
					t.Errorf("balance = %q", u.Balance)
				}
			},
		},
		{
			name:  "random two is least_request",
			block: "random two least_conn; server 10.0.0.1:80;",
			check: func(t *testing.T, u *config.Upstream, rt *config.Route) {
				if u.Balance != config.LeastRequest {
					t.Errorf("balance = %q", u.Balance)
				}
			},
		},
		{
			name:  "hash is warned about and round-robin kept",
			block: "hash $request_uri consistent; server 10.0.0.1:80;",
			warn:  []string{"nginx.conf:1: hash: not translated (Skjold has no session affinity"},
			check: func(t *testing.T, u *config.Upstream, rt *config.Route) {
				if u.Balance != "" {
					t.Errorf("balance = %q", u.Balance)
				}
			},
		},
		{
			name:  "zone is a note",
			block: "zone u 64k; server 10.0.0.1:80;",
			warn:  []string{"zone: note: not needed"},
		},
		{
			name:  "down servers are skipped",
			block: "server 10.0.0.1:80; server 10.0.0.2:80 down;",
			warn:  []string{"nginx.conf:1: server: note: 10.0.0.2:80 is marked down; server not imported"},
			check: func(t *testing.T, u *config.Upstream, rt *config.Route) {
				if len(u.Targets) != 1 || rt.Retry.Tries != 1 {
					t.Errorf("targets = %d, tries = %d, want 1 and 1", len(u.Targets), rt.Retry.Tries)
				}
			},
		},
		{
			name:  "backups take over when every primary is down",
			block: "server 10.0.0.1:80 down; server 10.0.0.2:80 backup;",
			warn:  []string{"no primary server is left", "is marked down"},
			check: func(t *testing.T, u *config.Upstream, rt *config.Route) {
				if len(u.Targets) != 1 || u.Targets[0].Backup {
					t.Errorf("targets = %+v, want one primary", u.Targets[0])
				}
			},
		},
		{
			name:  "a repeated server is merged with its weights added",
			block: "server 10.0.0.1:80; server 10.0.0.1:80 weight=2;",
			warn:  []string{"listed more than once"},
			check: func(t *testing.T, u *config.Upstream, rt *config.Route) {
				if len(u.Targets) != 1 || u.Targets[0].Weight != 3 {
					t.Errorf("targets = %+v, want one with weight 3", u.Targets[0])
				}
			},
		},
		{
			name:  "weights above Skjold's maximum are capped",
			block: "server 10.0.0.1:80 weight=5000;",
			warn:  []string{"weight=5000 is above Skjold's maximum"},
			check: func(t *testing.T, u *config.Upstream, rt *config.Route) {
				if u.Targets[0].Weight != 1000 {
					t.Errorf("weight = %d", u.Targets[0].Weight)
				}
			},
		},
		{
			name:  "unknown server parameters are warned about",
			block: "server 10.0.0.1:80 slow_start=30s;",
			warn:  []string{`parameter "slow_start=30s" not translated`},
		},
		{
			name:  "tries are capped at Skjold's maximum",
			block: "server a1:80; server a2:80; server a3:80; server a4:80; server a5:80; server a6:80; server a7:80; server a8:80; server a9:80; server a10:80; server a11:80; server a12:80;",
			warn:  []string{"nginx.conf:3: location: nginx would try each of the 12 servers"},
			check: func(t *testing.T, u *config.Upstream, rt *config.Route) {
				if rt.Retry.Tries != 10 {
					t.Errorf("tries = %d", rt.Retry.Tries)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "upstream u { " + tt.block + " }\nserver { listen 80;\nlocation / { proxy_pass http://u; }\n}\n"
			c, ws := mustConvert(t, src)
			checkWarnings(t, ws, tt.warn)
			if tt.check != nil {
				tt.check(t, c.Upstreams["u"], c.Routes[0])
			}
		})
	}
}

func TestServersAndLocations(t *testing.T) {
	tests := []struct {
		name  string
		conf  string
		check func(t *testing.T, c *config.Config)
		warn  []string
	}{
		{
			name: "an http block and main-context directives",
			conf: "worker_processes 2;\nevents { worker_connections 10; }\nhttp {\nproxy_read_timeout 3s;\nserver { listen 8080; location / { proxy_pass http://10.0.0.1:9000; } }\n}\n",
			warn: []string{"nginx.conf:1: worker_processes: not translated", "nginx.conf:2: events: block not translated"},
			check: func(t *testing.T, c *config.Config) {
				if c.Listeners["http_8080"].Address != ":8080" {
					t.Errorf("listeners = %v", c.Listeners)
				}
				if c.Routes[0].Timeouts.Response != dur("3s") {
					t.Errorf("http-level proxy_read_timeout not inherited: %v", c.Routes[0].Timeouts.Response.D())
				}
			},
		},
		{
			name: "proxy_pass to an address makes an upstream named after it",
			conf: "server { listen 80; location / { proxy_pass http://10.0.0.9:8080; } location /b/ { proxy_pass http://10.0.0.9:8080; } }",
			check: func(t *testing.T, c *config.Config) {
				u := c.Upstreams["10_0_0_9_8080"]
				if len(c.Upstreams) != 1 || u == nil || u.Targets[0].Address != "10.0.0.9:8080" {
					t.Errorf("upstreams = %v", c.Upstreams)
				}
				if c.Routes[0].Upstream != "10_0_0_9_8080" || c.Routes[1].Upstream != "10_0_0_9_8080" {
					t.Errorf("routes go to %q and %q", c.Routes[0].Upstream, c.Routes[1].Upstream)
				}
			},
		},
		{
			name: "a host without a port is port 80",
			conf: "server { location / { proxy_pass http://backend.internal; } }",
			warn: []string{"server: note: no listen directive"},
			check: func(t *testing.T, c *config.Config) {
				if c.Upstreams["backend_internal_80"].Targets[0].Address != "backend.internal:80" {
					t.Errorf("upstreams = %v", c.Upstreams)
				}
			},
		},
		{
			name: "an upstream named with dots gets a Skjold name",
			conf: "upstream api.internal { server 10.0.0.1:80; }\nserver { listen 80; location / { proxy_pass http://API.internal; } }",
			warn: []string{`nginx.conf:1: upstream: note: upstream "api.internal" is named "api_internal"`},
			check: func(t *testing.T, c *config.Config) {
				if c.Routes[0].Upstream != "api_internal" {
					t.Errorf("route upstream = %q", c.Routes[0].Upstream)
				}
			},
		},
		{
			name: "proxy_pass with URI / strips the prefix",
			conf: "server { listen 80; location /api/ { proxy_pass http://10.0.0.1:80/; } }",
			check: func(t *testing.T, c *config.Config) {
				if !c.Routes[0].StripPrefix {
					t.Error("strip_prefix = false")
				}
			},
		},
		{
			name: "proxy_pass with the location's own prefix changes nothing",
			conf: "server { listen 80; location /api/ { proxy_pass http://10.0.0.1:80/api/; } }",
			check: func(t *testing.T, c *config.Config) {
				if c.Routes[0].StripPrefix {
					t.Error("strip_prefix = true")
				}
			},
		},
		{
			name: "proxy_pass with another URI is warned about",
			conf: "server { listen 80; location /api/ {\nproxy_pass http://10.0.0.1:80/v2/; } }",
			warn: []string{"nginx.conf:2: proxy_pass: ROUTING: http://10.0.0.1:80/v2/: replacing the location prefix /api/ with /v2/ is not supported"},
		},
		{
			name: "https upstreams become TLS upstreams; variables are skipped",
			conf: "server { listen 80;\nlocation /a/ { proxy_pass https://10.0.0.1; }\nlocation /b/ { proxy_pass http://$backend; }\nlocation / { proxy_pass http://10.0.0.1:80; } }",
			warn: []string{"nginx.conf:2: proxy_pass: nginx does not verify the upstream's certificate", "nginx.conf:3: location: ROUTING: /b/: proxy_pass http://$backend: variables"},
			check: func(t *testing.T, c *config.Config) {
				if u := c.Upstreams["10_0_0_1_443"]; u == nil || u.TLS == nil || !u.TLS.InsecureSkipVerify || u.Targets[0].Address != "10.0.0.1:443" {
					t.Errorf("upstreams = %+v", c.Upstreams)
				}
			},
		},
		{
			name: "exact, regex and named locations are skipped; ^~ is a prefix",
			conf: "server { listen 80;\nlocation = /x { proxy_pass http://10.0.0.1:80; }\nlocation ~* \\.php$ { proxy_pass http://10.0.0.1:80; }\nlocation @fallback { proxy_pass http://10.0.0.1:80; }\nlocation ^~ /static/ { proxy_pass http://10.0.0.1:80; } }",
			warn: []string{
				"nginx.conf:2: location: = /x: exact-match locations are not supported yet; not imported, and no imported route matches these requests, so Skjold answers them 404",
				`nginx.conf:3: location: ROUTING: ~* \.php$: regular-expression locations are not supported yet; not imported, so requests matching ~* \.php$ will match route "/static/" → upstream 10_0_0_1_80`,
			},
			check: func(t *testing.T, c *config.Config) {
				if len(c.Routes) != 1 || c.Routes[0].Match.PathPrefix != "/static/" {
					t.Errorf("routes = %+v", c.Routes)
				}
			},
		},
		{
			name: "a location without proxy_pass is skipped",
			conf: "server { listen 80;\nlocation /static/ { root /srv; }\nlocation / { proxy_pass http://10.0.0.1:80; } }",
			warn: []string{`nginx.conf:2: location: ROUTING: /static/: no proxy_pass, so nginx answers these requests itself (files, another protocol, or an error); not imported, so requests for /static/ will match route "/" → upstream 10_0_0_1_80`, "nginx.conf:2: root: not translated (Skjold does not serve files)"},
		},
		{
			name: "settings inherit from server to location to nested location",
			conf: "server { listen 80; proxy_read_timeout 3s; client_max_body_size 5m;\nlocation /a/ { proxy_pass http://10.0.0.1:80; proxy_read_timeout 4s;\nlocation /a/b/ { proxy_pass http://10.0.0.1:80; } }\nlocation / { proxy_pass http://10.0.0.1:80; } }",
			check: func(t *testing.T, c *config.Config) {
				got := map[string]config.Duration{}
				for _, rt := range c.Routes {
					got[rt.Match.PathPrefix] = rt.Timeouts.Response
					if *rt.MaxBodyBytes != 5<<20 {
						t.Errorf("%s: max_body_bytes = %v", rt.Match.PathPrefix, *rt.MaxBodyBytes)
					}
				}
				if got["/a/"] != dur("4s") || got["/a/b/"] != dur("4s") || got["/"] != dur("3s") {
					t.Errorf("response timeouts = %v", got)
				}
			},
		},
		{
			name: "routes of one upstream with different connect timeouts keep their own",
			conf: "server { listen 80;\nlocation /a/ { proxy_pass http://10.0.0.1:80; proxy_connect_timeout 2s; }\nlocation / { proxy_pass http://10.0.0.1:80; } }",
			check: func(t *testing.T, c *config.Config) {
				if c.Upstreams["10_0_0_1_80"].ConnectTimeout != 0 {
					t.Errorf("upstream connect = %v, want unset", c.Upstreams["10_0_0_1_80"].ConnectTimeout.D())
				}
				if c.Routes[0].Timeouts.Connect != dur("2s") || c.Routes[1].Timeouts.Connect != dur("60s") {
					t.Errorf("route connects = %v, %v", c.Routes[0].Timeouts.Connect.D(), c.Routes[1].Timeouts.Connect.D())
				}
			},
		},
		{
			name: "/api and /api/ are one prefix in Skjold",
			conf: "server { listen 80;\nlocation /api { proxy_pass http://10.0.0.1:80; }\nlocation /api/ { proxy_pass http://10.0.0.2:80; } }",
			warn: []string{"nginx.conf:3: location: ROUTING: /api/ matches the same requests as the location on line 2"},
			check: func(t *testing.T, c *config.Config) {
				if len(c.Routes) != 1 {
					t.Errorf("got %d routes", len(c.Routes))
				}
			},
		},
		{
			name: "server_name becomes hosts",
			conf: "server { listen 80;\nserver_name Example.com *.example.org .x.net ~^re$;\nlocation / { proxy_pass http://10.0.0.1:80; } }",
			warn: []string{
				"nginx.conf:2: server_name: ROUTING: ~^re$: regular-expression names are not supported",
				"nginx.conf:2: server_name: this is the default server for :80",
			},
			check: func(t *testing.T, c *config.Config) {
				want := []string{"example.com", "*.example.org", "x.net", "*.x.net"}
				if !slices.Equal(c.Routes[0].Match.Hosts, want) {
					t.Errorf("hosts = %v, want %v", c.Routes[0].Match.Hosts, want)
				}
			},
		},
		{
			name: "server_name _ is any host",
			conf: "server { listen 80; server_name _; location / { proxy_pass http://10.0.0.1:80; } }",
			check: func(t *testing.T, c *config.Config) {
				if c.Routes[0].Match.Hosts != nil {
					t.Errorf("hosts = %v", c.Routes[0].Match.Hosts)
				}
			},
		},
		{
			name: "servers on one port are told apart by host, not listener",
			conf: "server { listen 80; location / { proxy_pass http://10.0.0.1:80; } }\nserver { listen 80; server_name b.example.com; location / { proxy_pass http://10.0.0.2:80; } }",
			check: func(t *testing.T, c *config.Config) {
				if len(c.Listeners) != 1 || c.Routes[0].Listeners != nil || c.Routes[1].Listeners != nil {
					t.Errorf("listeners = %v; route listeners %v %v", c.Listeners, c.Routes[0].Listeners, c.Routes[1].Listeners)
				}
				if !slices.Equal(c.Routes[1].Match.Hosts, []string{"b.example.com"}) {
					t.Errorf("hosts = %v", c.Routes[1].Match.Hosts)
				}
			},
		},
		{
			name: "servers on different ports restrict their routes",
			conf: "server { listen 80; location / { proxy_pass http://10.0.0.1:80; } }\nserver { listen 127.0.0.1:8080; location / { proxy_pass http://10.0.0.2:80; } }",
			check: func(t *testing.T, c *config.Config) {
				if c.Listeners["http_127_0_0_1_8080"].Address != "127.0.0.1:8080" {
					t.Errorf("listeners = %v", c.Listeners)
				}
				if !slices.Equal(c.Routes[0].Listeners, []string{"http_80"}) || !slices.Equal(c.Routes[1].Listeners, []string{"http_127_0_0_1_8080"}) {
					t.Errorf("route listeners = %v, %v", c.Routes[0].Listeners, c.Routes[1].Listeners)
				}
			},
		},
		{
			name: "IPv4 and IPv6 wildcards share one listener",
			conf: "server { listen 80 default_server; listen [::]:80 default_server; location / { proxy_pass http://10.0.0.1:80; } }",
			check: func(t *testing.T, c *config.Config) {
				if len(c.Listeners) != 1 || c.Listeners["http_80"].Address != ":80" {
					t.Errorf("listeners = %v", c.Listeners)
				}
			},
		},
		{
			name: "a server whose TLS cannot be translated keeps its plain listener",
			conf: "server {\nlisten 80;\nlisten 443 ssl;\nssl_certificate $ssl_server_name.pem;\nssl_certificate_key $ssl_server_name.key;\nlocation / { proxy_pass http://10.0.0.1:80; } }",
			warn: []string{"nginx.conf:4: ssl_certificate: ROUTING: $ssl_server_name.pem: certificates chosen by variables are not supported; this server's TLS listeners are not imported"},
			check: func(t *testing.T, c *config.Config) {
				if len(c.Listeners) != 1 || c.Listeners["http_80"] == nil {
					t.Errorf("listeners = %v", c.Listeners)
				}
			},
		},
		{
			name: "a server left without listeners is not imported",
			conf: "server {\nlisten 443 ssl;\nssl_certificate $ssl_server_name.pem;\nssl_certificate_key $ssl_server_name.key;\nlocation / { proxy_pass http://10.0.0.1:80; } }\nserver { listen 80; location / { proxy_pass http://10.0.0.2:80; } }",
			warn: []string{"nginx.conf:1: server: no listener Skjold can serve", "nginx.conf:3: ssl_certificate: ROUTING: $ssl_server_name.pem: certificates chosen by variables"},
			check: func(t *testing.T, c *config.Config) {
				if len(c.Routes) != 1 || c.Routes[0].Upstream != "10_0_0_2_80" {
					t.Errorf("routes = %+v", c.Routes)
				}
			},
		},
		{
			name: "a specific address on a wildcard's port is folded into it",
			conf: "server { listen 80; location / { proxy_pass http://10.0.0.1:80; } }\nserver { listen 127.0.0.1:80; server_name b; location / { proxy_pass http://10.0.0.2:80; } }",
			warn: []string{"nginx.conf:2: listen: ROUTING: 127.0.0.1:80 shares port 80 with a wildcard listen"},
			check: func(t *testing.T, c *config.Config) {
				if len(c.Listeners) != 1 {
					t.Errorf("listeners = %v", c.Listeners)
				}
			},
		},
		{
			name: "the admin API moves off a port nginx listened on",
			conf: "server {\nlisten 9901;\nlocation / { proxy_pass http://10.0.0.1:80; } }",
			warn: []string{"nginx.conf:2: listen: Skjold's admin API listens on 127.0.0.1:9901 by default; moved to 127.0.0.1:9902"},
		},
		{
			name: "listener timeouts come from the server",
			conf: "keepalive_timeout 30s;\nserver { listen 80; client_header_timeout 5s; location / { proxy_pass http://10.0.0.1:80; } }",
			check: func(t *testing.T, c *config.Config) {
				l := c.Listeners["http_80"]
				if l.IdleTimeout != dur("30s") || l.ReadHeaderTimeout != dur("5s") {
					t.Errorf("listener = %+v", l)
				}
			},
		},
		{
			name: "access_log",
			conf: "access_log /var/log/skjold.log combined;\nserver { listen 80; location / { proxy_pass http://10.0.0.1:80; } }",
			warn: []string{"nginx.conf:1: access_log: note: log format combined not translated"},
			check: func(t *testing.T, c *config.Config) {
				if c.AccessLog.Path != "/var/log/skjold.log" {
					t.Errorf("access_log = %+v", c.AccessLog)
				}
			},
		},
		{
			name: "quoted arguments, escapes and ${var} are tokens",
			conf: "server { listen \"80\"; location '/a b/' { proxy_pass http://10.0.0.1:80; }\nlocation / { proxy_pass \"http://10.0.0.1:80\"; proxy_set_header X-A \"${x}\\\"q\"; } } # trailing",
			warn: []string{"location: ROUTING: /a b/: Skjold needs a plain path prefix", `proxy_set_header: X-A "${x}\"q"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ws := mustConvert(t, tt.conf)
			checkWarnings(t, ws, tt.warn)
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestInvalidConfigsFailWithTheirLine(t *testing.T) {
	tests := []struct {
		name string
		conf string
		line int
		msg  string
	}{
		{"missing semicolon", "server {\nlisten 80\n}\n", 3, `"listen" is missing its ";"`},
		{"unclosed block", "server {\nlisten 80;\n", 3, `expecting "}" to close "server" from line 1`},
		{"stray brace", "server { listen 80; }\n}\n", 2, `unexpected "}"`},
		{"unterminated quote", "server {\nlisten \"80;\n}\n", 2, "unterminated"},
		{"text after a quote", "server { listen \"80\"x; }", 1, "after a quoted string"},
		{"empty directive", "server { ; }", 1, `unexpected ";"`},
		{"bad time", "server { listen 80;\nproxy_read_timeout 5q; }", 2, `invalid time "5q"`},
		{"bad size", "client_max_body_size lots;", 1, `invalid size "lots"`},
		{"duplicate directive", "server { listen 80;\nproxy_read_timeout 5s;\nproxy_read_timeout 6s; }", 3, "is duplicate"},
		{"proxy_pass outside a location", "server {\nproxy_pass http://a; }", 2, "not allowed here"},
		{"location outside a server", "location / { }", 1, "not allowed here"},
		{"unknown location modifier", "server {\nlocation ! /x { } }", 2, "invalid location modifier"},
		{"bad port", "server {\nlisten 70000; }", 2, "invalid port"},
		{"bad upstream address", "upstream u {\nserver a:b; }", 2, "invalid port"},
		{"bad proxy_pass scheme", "server { location / {\nproxy_pass ftp://a; } }", 2, "invalid URL prefix"},
		{"bad next_upstream value", "proxy_next_upstream sometimes;", 1, `invalid value "sometimes"`},
		{"only backups", "upstream u {\nserver a:80 backup; }", 1, "every server"},
		{"nested location outside its parent", "server { location /a/ {\nlocation /b/ { } } }", 2, "outside location"},
		{"too deep", strings.Repeat("a {", 100) + strings.Repeat("}", 100), 1, "nested more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Convert("nginx.conf", []byte(tt.conf), Options{})
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want an *Error wrapping ErrInvalid", err)
			}
			if e.File != "nginx.conf" || e.Line != tt.line || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("err = %q, want line %d and %q", err, tt.line, tt.msg)
			}
		})
	}
}

func TestNothingToImport(t *testing.T) {
	for _, conf := range []string{
		"",
		"# only a comment\n",
		"server { listen 80; location / { root /srv; } }",
		"server { listen 443 ssl; ssl_certificate $ssl_server_name.pem; ssl_certificate_key $ssl_server_name.key; location / { proxy_pass http://10.0.0.1:80; } }",
		"upstream u { server 10.0.0.1 down; }\nserver { location / { proxy_pass http://u; } }",
	} {
		_, ws, err := Convert("nginx.conf", []byte(conf), Options{AllowRerouting: true})
		if !errors.Is(err, ErrNothingToImport) {
			t.Errorf("%q: err = %v, want ErrNothingToImport", conf, err)
		}
		if conf != "" && !strings.HasPrefix(conf, "#") && len(ws) == 0 {
			t.Errorf("%q: no warnings say what was skipped", conf)
		}
	}
}

func TestWarningsAreInLineOrder(t *testing.T) {
	_, ws := mustConvert(t, "server {\nlisten 80;\nlocation / { proxy_pass http://10.0.0.1:80;\ngzip on; }\n}\nupstream u { server 10.0.0.1:80;\nip_hash; }\n")
	if len(ws) != 2 || ws[0].Line != 4 || ws[1].Line != 7 {
		t.Errorf("warnings = %v, want gzip at 4 then ip_hash at 7", ws)
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30", 30 * time.Second, true},
		{"500ms", 500 * time.Millisecond, true},
		{"2s", 2 * time.Second, true},
		{"1m30s", 90 * time.Second, true},
		{"1h 30m", 90 * time.Minute, true},
		{"2d", 48 * time.Hour, true},
		{"1w", 7 * 24 * time.Hour, true},
		{"0", 0, true},
		{"", 0, false},
		{"s", 0, false},
		{"5q", 0, false},
		{"30s1m", 0, false}, // units largest first
		{"1s1s", 0, false},
		{"-1s", 0, false},
		{"99999999999999999999", 0, false},
		{"1000y", 0, false},
	}
	for _, tt := range tests {
		got, err := parseTime(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseTime(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1024", 1024, true},
		{"8k", 8 << 10, true},
		{"8K", 8 << 10, true},
		{"10m", 10 << 20, true},
		{"1g", 1 << 30, true},
		{"0", 0, true},
		{"", 0, false},
		{"m", 0, false},
		{"10mb", 0, false},
		{"1.5m", 0, false},
		{"99999999999g", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzConvert(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.conf"))
	corpus, _ := filepath.Glob(filepath.Join(corpusDir, "*.conf"))
	seeds = append(seeds, corpus...)
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(inLocation("proxy_next_upstream error timeout http_500 non_idempotent; proxy_next_upstream_tries 0;")))
	f.Add([]byte("server { listen [::1]:8080; server_name .a.b; location ^~ /x/ { proxy_pass http://[::1]:9/; } }"))
	f.Add([]byte("upstream u { server a backup; server b down; least_conn; }\nserver { location / { proxy_pass http://u/; } }"))
	f.Add([]byte("http { server { listen 80; location /a { proxy_pass 'http://x:1'; location /a/b { proxy_pass http://x:1; } } } }"))
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, ws, err := Convert("fuzz.conf", src, Options{})
		for _, w := range ws {
			if w.File == "" || w.Line < 1 || w.Directive == "" || w.Message == "" {
				t.Fatalf("malformed warning %#v", w)
			}
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrNothingToImport) && !errors.Is(err, ErrRerouting) {
				t.Fatalf("error %v is neither ErrInvalid, ErrNothingToImport nor ErrRerouting", err)
			}
			return
		}
		mustLoad(t, cfg)
	})
}
