package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestUnknownKeysAreProblems(t *testing.T) {
	checkProblemCases(t, []problemCase{
		{"typo gets a suggestion", doc("upstreams:\n  fx:\n    targets:\n      - address: 127.0.0.1:9103\n    helth_check: {} #<\n"),
			"upstreams.fx.helth_check", `unknown key "helth_check"; did you mean "health_check"?`},
		{"missing underscore", doc("upstreams:\n  fx:\n    targets:\n      - address: 127.0.0.1:9103\n    healthcheck: {} #<\n"),
			"upstreams.fx.healthcheck", `did you mean "health_check"?`},
		{"key of a nested section", doc("routes:\n  - upstream: fx\n    path_prefix: /api #<\n"),
			"routes[0].path_prefix", `it belongs under "match" (match.path_prefix)`},
		{"nothing close lists the keys", doc("listeners:\n  public:\n    address: 127.0.0.1:8080\n    gzip: true #<\n"),
			"listeners.public.gzip", "expected one of address, read_header_timeout, send_timeout, idle_timeout, max_header_bytes, max_uri_bytes, tls, redirect_http_from, hsts"},
		{"top level", "listeners:\n  public:\n    address: 127.0.0.1:8080\nroute: [] #<\n",
			"route", `did you mean "routes"?`},
	})
}

func TestTypeErrorsAreProblems(t *testing.T) {
	tgt := "    targets:\n      - address: 127.0.0.1:9103\n"
	checkProblemCases(t, []problemCase{
		{"duration without unit", doc("upstreams:\n  fx:\n" + tgt + "    connect_timeout: 30 #<\n"),
			"upstreams.fx.connect_timeout", `expected a duration with a unit, got "30"; write 30s for seconds`},
		{"duration nonsense", doc("upstreams:\n  fx:\n" + tgt + "    connect_timeout: soon #<\n"),
			"upstreams.fx.connect_timeout", `expected a duration such as 2s or 150ms, got "soon"`},
		{"negative duration", doc("shutdown_grace: -5s #<\n"),
			"shutdown_grace", "must not be negative"},
		{"size nonsense", doc("routes:\n  - upstream: fx\n    max_body_bytes: lots #<\n"),
			"routes[0].max_body_bytes", `expected a size such as 64KiB or 10MiB, got "lots"`},
		{"bool", doc("routes:\n  - upstream: fx\n    strip_prefix: maybe #<\n"),
			"routes[0].strip_prefix", `expected true or false, got "maybe"`},
		{"quoted bool is a string", doc("routes:\n  - upstream: fx\n    strip_prefix: 'true' #<\n"),
			"routes[0].strip_prefix", `expected true or false, got "true"`},
		{"int", doc("upstreams:\n  fx:\n" + tgt + "    max_concurrent: many #<\n"),
			"upstreams.fx.max_concurrent", `expected a whole number, got "many"`},
		{"int from float", doc("upstreams:\n  fx:\n" + tgt + "    max_concurrent: 1.5 #<\n"),
			"upstreams.fx.max_concurrent", `expected a whole number, got "1.5"`},
		{"int too large", doc("upstreams:\n  fx:\n" + tgt + "    max_concurrent: 99999999999999999999 #<\n"),
			"upstreams.fx.max_concurrent", "expected a whole number"},
		{"float", doc("upstreams:\n  fx:\n" + tgt + "    breaker:\n      failure_ratio: half #<\n"),
			"upstreams.fx.breaker.failure_ratio", `expected a number such as 0.5, got "half"`},
		{"float not a number", doc("upstreams:\n  fx:\n" + tgt + "    breaker:\n      failure_ratio: .nan #<\n"),
			"upstreams.fx.breaker.failure_ratio", "expected a number"},
		{"list for a string", doc("routes:\n  - upstream: [fx] #<\n"),
			"routes[0].upstream", "expected a string, got a list"},
		{"scalar for a list", doc("routes:\n  - upstream: fx\n    match:\n      hosts: api.example.com #<\n"),
			"routes[0].match.hosts", `expected a list, got "api.example.com" (write [api.example.com] for a list of one)`},
		{"scalar for a section", doc("upstreams:\n  fx:\n" + tgt + "    breaker: off #<\n"),
			"upstreams.fx.breaker", "expected a mapping with keys disabled, consecutive_failures"},
		{"list for a map of names", "listeners: #<\n  - address: 127.0.0.1:8080\n",
			"listeners", "expected a mapping of names to settings, got a list"},
		{"key set twice", doc("upstreams:\n  fx:\n" + tgt + "    balance: round_robin #^\n    balance: least_request #<\n"),
			"upstreams.fx.balance", `"balance" is already set on line`},
		{"non-scalar key", doc("listeners:\n  public:\n    address: 127.0.0.1:8080\n    ? [a, b] #<\n    : x\n"),
			"listeners.public[?]", "keys must be plain names"},
	})
}

func TestNullMeansDefault(t *testing.T) {
	c, err := Parse("test.yaml", []byte(doc("upstreams:\n  fx:\n    targets:\n      - address: 127.0.0.1:9103\n    connect_timeout:\n    keepalive:\n      idle: ~\n")))
	if err != nil {
		t.Fatal(err)
	}
	u := c.Upstreams["fx"]
	if u.ConnectTimeout.D() != DefaultConnectTimeout || *u.Keepalive.Idle != DefaultKeepaliveIdle {
		t.Errorf("connect_timeout %s, keepalive.idle %d; want the defaults", u.ConnectTimeout.D(), *u.Keepalive.Idle)
	}
}

func TestAnchorsAndMergeKeysShareSettings(t *testing.T) {
	const src = `x-breaker: &strict
  consecutive_failures: 2
  open_for: 10s
  max_open_for: 20s
listeners:
  public:
    address: 127.0.0.1:8080
upstreams:
  a:
    targets: [{address: 127.0.0.1:9101}]
    breaker: *strict
  b:
    targets: [{address: 127.0.0.1:9102}]
    breaker:
      <<: *strict
      consecutive_failures: 7
routes:
  - upstream: a
`
	c, err := Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Upstreams["a"].Breaker, c.Upstreams["b"].Breaker
	if *a.ConsecutiveFailures != 2 || a.OpenFor.D().String() != "10s" {
		t.Errorf("alias: consecutive_failures %d open_for %s, want 2 and 10s", *a.ConsecutiveFailures, a.OpenFor.D())
	}
	if *b.ConsecutiveFailures != 7 || b.MaxOpenFor.D().String() != "20s" {
		t.Errorf("merge: consecutive_failures %d max_open_for %s, want 7 (own key wins) and 20s (merged)", *b.ConsecutiveFailures, b.MaxOpenFor.D())
	}
	if a.ConsecutiveFailures == b.ConsecutiveFailures {
		t.Error("two upstreams share one *int; an edit to one would change the other")
	}
}

func TestAliasThatContainsItselfIsAProblem(t *testing.T) {
	ps := problemsOf(t, "listeners:\n  public: &l\n    address: 127.0.0.1:8080\n    <<: *l\n")
	if !strings.Contains(ps[0].Message, "refers to a value that contains it") {
		t.Errorf("got %v", ps)
	}
}

func TestAliasBombIsRefused(t *testing.T) {
	// Each level merges the previous one ten times: 10^9 keys if expanded.
	var b strings.Builder
	b.WriteString("x-0: &m0 {listen: 127.0.0.1:9901}\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "x-%d: &m%d {<<: [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*m%d", i-1)
		}
		b.WriteString("]}\n")
	}
	b.WriteString("listeners:\n  public:\n    address: 127.0.0.1:8080\nadmin: *m9\n")
	ps := problemsOf(t, b.String())
	if len(ps) != 1 || !strings.Contains(ps[0].Message, "expands to more than") || ps[0].Path != "admin" {
		t.Errorf("got %v, want one expansion problem at admin", ps)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"kitten", "sitting", 3}, {"timeot", "timeout", 1},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestSyntacticParent(t *testing.T) {
	for path, want := range map[string]string{
		"routes[2].retry.on[1]":    "routes[2].retry.on",
		"routes[2].retry":          "routes[2]",
		"routes[2]":                "routes",
		"routes":                   "",
		`upstreams["a.b"]`:         "upstreams",
		`upstreams["a.b"].breaker`: `upstreams["a.b"]`,
	} {
		if got, ok := syntacticParent(path); !ok || got != want {
			t.Errorf("syntacticParent(%q) = %q, %v; want %q", path, got, ok, want)
		}
	}
}
