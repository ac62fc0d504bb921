package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// markerLine returns the 1-based line of the first line of doc containing
// marker. Test documents mark the line a problem must be reported on with
// "#<", and a line the message must refer to with "#^".
func markerLine(t *testing.T, doc, marker string) int {
	t.Helper()
	for i, l := range strings.Split(doc, "\n") {
		if strings.Contains(l, marker) {
			return i + 1
		}
	}
	return 0
}

// problemsOf parses doc and returns its problems; it fails the test if doc
// parses cleanly or fails some other way.
func problemsOf(t *testing.T, doc string) []Problem {
	t.Helper()
	_, err := Parse("test.yaml", []byte(doc))
	if err == nil {
		t.Fatalf("Parse succeeded; want problems for:\n%s", doc)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Parse error is %T (%v); want *ValidationError", err, err)
	}
	return ve.Problems
}

type problemCase struct {
	name string
	doc  string
	path string
	msg  string
}

// checkProblemCases asserts that each document has exactly one problem, at
// the given path, on the line marked "#<", with a message containing msg
// (and naming the line marked "#^", if any).
func checkProblemCases(t *testing.T, cases []problemCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantLine := markerLine(t, tc.doc, "#<")
			if wantLine == 0 {
				t.Fatal("test document has no #< marker")
			}
			ps := problemsOf(t, tc.doc)
			if len(ps) != 1 {
				t.Fatalf("got %d problems, want 1:\n%s", len(ps), (&ValidationError{ps}).Error())
			}
			p := ps[0]
			if p.Path != tc.path || p.Line != wantLine || p.File != "test.yaml" {
				t.Errorf("problem at %s:%d %s, want test.yaml:%d %s\n%s", p.File, p.Line, p.Path, wantLine, tc.path, p)
			}
			if p.Column < 1 {
				t.Errorf("problem has no column: %s", p)
			}
			if !strings.Contains(p.Message, tc.msg) {
				t.Errorf("message %q does not contain %q", p.Message, tc.msg)
			}
			if other := markerLine(t, tc.doc, "#^"); other != 0 {
				if ref := fmt.Sprintf("line %d", other); !strings.Contains(p.Message, ref) {
					t.Errorf("message %q does not name %s", p.Message, ref)
				}
			}
		})
	}
}

// doc builds a valid config around the given sections; a section replaces
// the default one of the same top-level key.
func doc(sections ...string) string {
	defaults := map[string]string{
		"listeners": "listeners:\n  public:\n    address: 127.0.0.1:8080\n",
		"upstreams": "upstreams:\n  fx:\n    targets:\n      - address: 127.0.0.1:9103\n",
		"routes":    "routes:\n  - match:\n      path_prefix: /api/fx/\n    upstream: fx\n",
	}
	var b strings.Builder
	for _, s := range sections {
		key, _, _ := strings.Cut(s, ":")
		if _, ok := defaults[key]; ok {
			defaults[key] = s
		} else {
			b.WriteString(s)
		}
	}
	for _, key := range []string{"listeners", "upstreams", "routes"} {
		b.WriteString(defaults[key])
	}
	return b.String()
}

func TestValidDocumentHasNoProblems(t *testing.T) {
	for name, d := range map[string]string{
		"minimal":                     doc(),
		"admin off loopback with env": doc("admin:\n  listen: 0.0.0.0:9901\n  token_env: SKJOLD_ADMIN_TOKEN\n"),
		"admin on a unix socket":      doc("admin:\n  listen: unix:/run/skjold/admin.sock\n"),
		"listener on a free port":     doc("listeners:\n  a:\n    address: 127.0.0.1:0\n  b:\n    address: 127.0.0.1:0\n"),
		"same match on other listeners": doc(
			"listeners:\n  a:\n    address: 127.0.0.1:8080\n  b:\n    address: 127.0.0.1:8081\n",
			"routes:\n  - match: {path_prefix: /x}\n    upstream: fx\n    listeners: [a]\n  - match: {path_prefix: /x}\n    upstream: fx\n    listeners: [b]\n"),
		"same prefix, other methods": doc("routes:\n  - match: {path_prefix: /x, methods: [GET]}\n    upstream: fx\n  - match: {path_prefix: /x, methods: [POST]}\n    upstream: fx\n"),
		"wildcard and ipv6":          doc("listeners:\n  a:\n    address: '[::1]:8080'\n", "routes:\n  - match: {hosts: ['*.example.com', API.example.com]}\n    upstream: fx\n"),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse("test.yaml", []byte(d)); err != nil {
				t.Fatalf("Parse:\n%v\ndocument:\n%s", err, d)
			}
		})
	}
}

func TestListenerProblems(t *testing.T) {
	checkProblemCases(t, []problemCase{
		{"no listeners", "upstreams: #<\n  fx:\n    targets: [{address: 127.0.0.1:1}]\n",
			"listeners", "at least one listener is required"},
		{"address missing", doc("listeners:\n  public: #<\n    idle_timeout: 5s\n"),
			"listeners.public.address", "is required"},
		{"address without port", doc("listeners:\n  public:\n    address: 127.0.0.1 #<\n"),
			"listeners.public.address", `expected host:port such as 127.0.0.1:8080, got "127.0.0.1"`},
		{"port out of range", doc("listeners:\n  public:\n    address: 127.0.0.1:65536 #<\n"),
			"listeners.public.address", "must be a number 0..65535"},
		{"port not a number", doc("listeners:\n  public:\n    address: 127.0.0.1:http #<\n"),
			"listeners.public.address", `port "http"`},
		{"bad host", doc("listeners:\n  public:\n    address: 'bad_host!:8080' #<\n"),
			"listeners.public.address", "neither an IP address nor a valid host name"},
		{"two on one address", doc("listeners:\n  a:\n    address: 127.0.0.1:8080 #^\n  b:\n    address: 127.0.0.1:8080 #<\n"),
			"listeners.b.address", "clashes with listeners.a.address"},
		{"wildcard clashes with a host on the same port", doc("listeners:\n  a:\n    address: 127.0.0.1:8080 #^\n  b:\n    address: ':8080' #<\n"),
			"listeners.b.address", "two sockets cannot share an address"},
		{"name with a space", doc("listeners:\n  pub lic: #<\n    address: 127.0.0.1:8080\n"),
			`listeners["pub lic"]`, "may use only letters, digits"},
		{"explicit zero timeout", doc("listeners:\n  public:\n    address: 127.0.0.1:8080\n    read_header_timeout: 0s #<\n"),
			"listeners.public.read_header_timeout", "leave the key out for the default (10s)"},
	})
}

func TestAdminProblems(t *testing.T) {
	checkProblemCases(t, []problemCase{
		{"listen not an address", doc("admin:\n  listen: localhost #<\n"),
			"admin.listen", "expected host:port"},
		{"relative unix socket", doc("admin:\n  listen: unix:admin.sock #<\n"),
			"admin.listen", "expected unix:/absolute/path/to/socket"},
		{"non-loopback without a token", doc("admin:\n  listen: 0.0.0.0:9901 #<\n"),
			"admin.listen", "admin calls must carry a token"},
		{"all interfaces without a token", doc("admin:\n  listen: :9901 #<\n"),
			"admin.listen", "admin calls must carry a token"},
		{"two token sources", doc("admin:\n  token_env: T\n  token_file: /etc/skjold/token #<\n"),
			"admin.token_file", "set only one of token, token_file and token_env"},
		{"same address as a listener", doc("admin:\n  listen: 127.0.0.1:8080 #^\n", "listeners:\n  public:\n    address: 127.0.0.1:8080 #<\n"),
			"listeners.public.address", "clashes with admin.listen"},
		{"listener taken by the admin API later in the file", "listeners:\n  public:\n    address: 127.0.0.1:8080 #^\nadmin:\n  listen: 127.0.0.1:8080 #<\n",
			"admin.listen", "clashes with listeners.public.address"},
		{"default address taken by a listener", doc("listeners:\n  public:\n    address: 127.0.0.1:9901 #<\n"),
			"listeners.public.address", "admin.listen (by default 127.0.0.1:9901)"},
	})
}

func TestUpstreamProblems(t *testing.T) {
	up := func(body string) string { return doc("upstreams:\n  fx:\n" + body) }
	target := "    targets:\n      - address: 127.0.0.1:9103\n"
	checkProblemCases(t, []problemCase{
		{"no targets", doc("upstreams:\n  fx: #<\n    balance: round_robin\n"),
			"upstreams.fx.targets", "at least one target is required"},
		{"empty target list", up("    targets: [] #<\n"),
			"upstreams.fx.targets", "at least one target is required"},
		{"target without port", up("    targets:\n      - address: fx.internal #<\n"),
			"upstreams.fx.targets[0].address", `expected host:port such as 127.0.0.1:8080, got "fx.internal"`},
		{"target port zero", up("    targets:\n      - address: 127.0.0.1:0 #<\n"),
			"upstreams.fx.targets[0].address", "must be a number 1..65535"},
		{"target without host", up("    targets:\n      - address: ':9103' #<\n"),
			"upstreams.fx.targets[0].address", "has no host"},
		{"target missing address", up("    targets:\n      - weight: 2 #<\n"),
			"upstreams.fx.targets[0].address", "is required"},
		{"weight too high", up("    targets:\n      - address: 127.0.0.1:9103\n        weight: 1001 #<\n"),
			"upstreams.fx.targets[0].weight", "must be between 1 and 1000, got 1001"},
		{"weight zero", up("    targets:\n      - address: 127.0.0.1:9103\n        weight: 0 #<\n"),
			"upstreams.fx.targets[0].weight", "0 is not allowed here"},
		{"weight negative", up("    targets:\n      - address: 127.0.0.1:9103\n        weight: -1 #<\n"),
			"upstreams.fx.targets[0].weight", "must be between 1 and 1000, got -1"},
		{"duplicate target", up("    targets:\n      - address: 127.0.0.1:9103 #^\n      - address: 127.0.0.1:9103 #<\n"),
			"upstreams.fx.targets[1].address", "is already listed as upstreams.fx.targets[0]"},
		{"only backups", up("    targets: #<\n      - address: 127.0.0.1:9103\n        backup: true\n"),
			"upstreams.fx.targets", "every target is a backup"},
		{"unknown balance", up(target + "    balance: random #<\n"),
			"upstreams.fx.balance", `expected round_robin or least_request, got "random"`},
		{"negative max_concurrent", up(target + "    max_concurrent: -1 #<\n"),
			"upstreams.fx.max_concurrent", "must be 0 (no cap) or more"},
		{"negative max_queue", up(target + "    max_concurrent: 10\n    max_queue: -1 #<\n"),
			"upstreams.fx.max_queue", "must be 0 (no waiting) or more"},
		{"queue without a cap", up(target + "    max_queue: 5 #<\n"),
			"upstreams.fx.max_queue", "has no effect without max_concurrent"},
		{"negative keepalive idle", up(target + "    keepalive:\n      idle: -1 #<\n"),
			"upstreams.fx.keepalive.idle", "must be 0 (no reuse) or more"},
		{"negative max_fails", up(target + "    passive_health:\n      max_fails: -2 #<\n"),
			"upstreams.fx.passive_health.max_fails", "must be 0 (off) or more"},
		{"retry budget ratio", up(target + "    retry_budget:\n      ratio: 11 #<\n"),
			"upstreams.fx.retry_budget.ratio", "must be between 0 and 10"},
		{"negative retry budget floor", up(target + "    retry_budget:\n      min_per_second: -1 #<\n"),
			"upstreams.fx.retry_budget.min_per_second", "must be 0 or more"},
		{"name with a dot", doc("upstreams:\n  fx:\n" + target + "  fx.v2: #<\n" + target), `upstreams["fx.v2"]`, "may use only letters"},
	})
}

func TestHealthCheckProblems(t *testing.T) {
	hc := func(body string) string {
		return doc("upstreams:\n  fx:\n    targets:\n      - address: 127.0.0.1:9103\n    health_check:\n" + body)
	}
	checkProblemCases(t, []problemCase{
		{"status out of range", hc("      expect_status: [200, 700] #<\n"),
			"upstreams.fx.health_check.expect_status[1]", "100..599"},
		{"status not a code", hc("      expect_status:\n        - 2xx #<\n"),
			"upstreams.fx.health_check.expect_status[0]", `got "2xx"`},
		{"backwards range", hc("      expect_status: ['399-200'] #<\n"),
			"upstreams.fx.health_check.expect_status[0]", "is backwards; write 200-399"},
		{"empty status list", hc("      expect_status: [] #<\n"),
			"upstreams.fx.health_check.expect_status", "an empty list is not allowed here"},
		{"rise zero", hc("      rise: 0 #<\n"),
			"upstreams.fx.health_check.rise", "leave the key out for the default (2)"},
		{"fall negative", hc("      fall: -1 #<\n"),
			"upstreams.fx.health_check.fall", "must be at least 1"},
		{"timeout not below interval", hc("      interval: 2s\n      timeout: 2s #<\n"),
			"upstreams.fx.health_check.timeout", "must be shorter than interval (2s)"},
		{"timeout above default interval", hc("      timeout: 10s #<\n"),
			"upstreams.fx.health_check.timeout", "must be shorter than interval (5s)"},
		{"path without slash", hc("      path: health #<\n"),
			"upstreams.fx.health_check.path", `must start with "/"`},
	})
}

func TestBreakerProblems(t *testing.T) {
	br := func(body string) string {
		return doc("upstreams:\n  fx:\n    targets:\n      - address: 127.0.0.1:9103\n    breaker:\n" + body)
	}
	checkProblemCases(t, []problemCase{
		{"failure ratio above one", br("      failure_ratio: 1.5 #<\n"),
			"upstreams.fx.breaker.failure_ratio", "must be between 0 and 1, got 1.5"},
		{"slow call ratio negative", br("      slow_call_ratio: -0.1 #<\n"),
			"upstreams.fx.breaker.slow_call_ratio", "must be between 0 and 1"},
		{"negative consecutive failures", br("      consecutive_failures: -1 #<\n"),
			"upstreams.fx.breaker.consecutive_failures", "must be 0 (off) or more"},
		{"half open probes zero", br("      half_open_probes: 0 #<\n"),
			"upstreams.fx.breaker.half_open_probes", "0 is not allowed here"},
		{"half open probes negative", br("      half_open_probes: -3 #<\n"),
			"upstreams.fx.breaker.half_open_probes", "must be at least 1"},
		{"min requests negative", br("      min_requests: -3 #<\n"),
			"upstreams.fx.breaker.min_requests", "must be at least 1"},
		{"max open below open", br("      open_for: 10s\n      max_open_for: 5s #<\n"),
			"upstreams.fx.breaker.max_open_for", "shorter than open_for (10s)"},
		{"max open below default open", br("      max_open_for: 1s #<\n"),
			"upstreams.fx.breaker.max_open_for", "shorter than open_for (5s)"},
		{"every trigger off", doc("upstreams:\n  fx:\n    targets:\n      - address: 127.0.0.1:9103\n    breaker: #<\n      consecutive_failures: 0\n      failure_ratio: 0\n"),
			"upstreams.fx.breaker", "can never open"},
		{"route breaker checked too", doc("routes:\n  - upstream: fx\n    breaker:\n      failure_ratio: 2 #<\n"),
			"routes[0].breaker.failure_ratio", "must be between 0 and 1"},
	})
}

func TestRouteProblems(t *testing.T) {
	route := func(body string) string { return doc("routes:\n  - upstream: fx\n" + body) }
	checkProblemCases(t, []problemCase{
		{"upstream missing", doc("routes:\n  - match: #<\n      path_prefix: /x\n"),
			"routes[0].upstream", "is required: the upstream to forward to; (defined upstreams: fx)"},
		{"upstream unknown", doc("routes:\n  - upstream: fxx #<\n"),
			"routes[0].upstream", `upstream "fxx" is not defined; did you mean "fx"? (defined upstreams: fx)`},
		{"prefix without slash", route("    match:\n      path_prefix: api #<\n"),
			"routes[0].match.path_prefix", `must start with "/"`},
		{"prefix with dot dot", route("    match:\n      path_prefix: /api/../admin #<\n"),
			"routes[0].match.path_prefix", `must not contain ".."`},
		{"prefix with double slash", route("    match:\n      path_prefix: /api//x #<\n"),
			"routes[0].match.path_prefix", `must not contain "//"`},
		{"prefix with escape", route("    match:\n      path_prefix: /api%2fx #<\n"),
			"routes[0].match.path_prefix", `must not contain "%"`},
		{"prefix with query", route("    match:\n      path_prefix: /api?x=1 #<\n"),
			"routes[0].match.path_prefix", `must not contain "?"`},
		{"prefix with fragment", route("    match:\n      path_prefix: '/api#x' #<\n"),
			"routes[0].match.path_prefix", `must not contain "#"`},
		{"prefix with space", route("    match:\n      path_prefix: '/api x' #<\n"),
			"routes[0].match.path_prefix", "must not contain spaces"},
		{"host invalid", route("    match:\n      hosts: [api.example.com, 'bad host'] #<\n"),
			"routes[0].match.hosts[1]", "expected a host name"},
		{"host bare star", route("    match:\n      hosts:\n        - '*' #<\n"),
			"routes[0].match.hosts[0]", "leave hosts out to match any host"},
		{"host star inside", route("    match:\n      hosts:\n        - 'api.*.com' #<\n"),
			"routes[0].match.hosts[0]", "a wildcard may only be the whole first label"},
		{"host with port", route("    match:\n      hosts:\n        - api.example.com:8443 #<\n"),
			"routes[0].match.hosts[0]", `matched without the port; write "api.example.com"`},
		{"method lower case", route("    match:\n      methods: [GET, post] #<\n"),
			"routes[0].match.methods[1]", `upper case; write "POST"`},
		{"method not a token", route("    match:\n      methods:\n        - 'GET /' #<\n"),
			"routes[0].match.methods[0]", "expected an HTTP method"},
		{"retry condition unknown", route("    retry:\n      on:\n        - error\n        - http_5xx #<\n"),
			"routes[0].retry.on[1]", `unknown retry condition "http_5xx"`},
		{"retry tries zero", route("    retry:\n      tries: 0 #<\n"),
			"routes[0].retry.tries", "0 is not allowed here"},
		{"retry tries too many", route("    retry:\n      tries: 11 #<\n"),
			"routes[0].retry.tries", "must be between 1 (no retries) and 10, got 11"},
		{"empty retry list", route("    retry:\n      on: [] #<\n"),
			"routes[0].retry.on", "an empty list is not allowed here"},
		{"response longer than total", route("    timeouts:\n      response: 90s #<\n"),
			"routes[0].timeouts.response", "1m30s is longer than timeouts.total (1m0s)"},
		{"response longer than explicit total", route("    timeouts:\n      response: 5s #<\n      total: 2s\n"),
			"routes[0].timeouts.response", "longer than timeouts.total (2s)"},
		{"listener unknown", route("    listeners: [publc] #<\n"),
			"routes[0].listeners[0]", `listener "publc" is not defined; did you mean "public"?`},
		{"upgrade not a protocol name", route("    upgrades:\n      - websocket\n      - 'h2c, websocket' #<\n"),
			"routes[0].upgrades[1]", `expected a protocol name as the Upgrade header gives it, such as websocket, got "h2c, websocket"`},
		{"empty upgrade", route("    upgrades: [''] #<\n"),
			"routes[0].upgrades[0]", `expected a protocol name`},
		{"empty data class", route("    data_classes: [''] #<\n"),
			"routes[0].data_classes[0]", "must not be empty"},
		{"identical routes", doc("routes:\n  - upstream: fx #^\n    match: {path_prefix: /x, hosts: [a.example.com, b.example.com]}\n  - upstream: fx #<\n    match: {path_prefix: /x, hosts: [B.example.com, a.example.com]}\n"),
			"routes[1]", "matches exactly the requests routes[0]"},
		{"identical but for a trailing slash", doc("routes:\n  - upstream: fx #^\n    match: {path_prefix: /x/}\n  - upstream: fx #<\n    match: {path_prefix: /x}\n"),
			"routes[1]", "so it would never be used"},
		{"identical default prefix", doc("routes:\n  - upstream: fx #^\n  - upstream: fx #<\n    match: {path_prefix: /}\n"),
			"routes[1]", "matches exactly the requests routes[0]"},
		{"duplicate name", doc("routes:\n  - name: fx #^\n    upstream: fx\n    match: {path_prefix: /a}\n  - name: fx #<\n    upstream: fx\n    match: {path_prefix: /b}\n"),
			"routes[1].name", `route name "fx" is already used by routes[0]`},
		{"empty name", route("    name: '' #<\n"),
			"routes[0].name", `"" is not allowed here`},
		{"explicit zero connect timeout", route("    timeouts:\n      connect: 0s #<\n"),
			"routes[0].timeouts.connect", "0s is not allowed here; leave the key out for the default (1s)"},
	})
}
