package config

import (
	"path/filepath"
	"testing"
	"time"
)

func TestServiceDefaultsAreApplied(t *testing.T) {
	c, err := Parse("/etc/skjold/gateway.yaml", []byte(doc("services:\n  fx:\n    upstream: fx\n    state_dir: state/fx\n")))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Services["fx"]
	want := ServiceHealth{Path: "/health", Interval: Duration(time.Second), Timeout: Duration(time.Second),
		Deadline: Duration(30 * time.Second), Successes: 3}
	if s.Health != want {
		t.Errorf("health = %+v, want %+v", s.Health, want)
	}
	if s.Ports != (PortRange{20000, 20999}) || s.Host != "127.0.0.1" || s.ContainerPort != 8080 ||
		s.DrainTimeout.D() != 30*time.Second || s.StopGrace.D() != 10*time.Second || s.Watch.D() != 30*time.Second ||
		*s.MaxErrorRatio != 0.05 || s.MinRequests != 20 {
		t.Errorf("defaults not applied: %+v", s)
	}
	if got, want := c.ServiceStateDir("fx"), filepath.FromSlash("/etc/skjold/state/fx"); got != want {
		t.Errorf("state dir = %q, want %q (relative to the config file)", got, want)
	}
	if got := c.ServiceDir("fx"); got != "/etc/skjold" {
		t.Errorf("dir = %q, want the config file's directory", got)
	}
}

func TestServiceDefaultStateDirIsPerService(t *testing.T) {
	c, err := Parse("g.yaml", []byte(doc("services:\n  fx:\n    upstream: fx\n")))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ServiceStateDir("fx"); got != "/var/lib/skjold/deploy/fx" {
		t.Errorf("state dir = %q", got)
	}
}

func TestParsePortRange(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want PortRange
		ok   bool
	}{
		{"20000-20999", PortRange{20000, 20999}, true},
		{" 9000 - 9001 ", PortRange{9000, 9001}, true},
		{"9000", PortRange{9000, 9000}, true},
		{"9001-9000", PortRange{}, false},
		{"0-10", PortRange{}, false},
		{"1-70000", PortRange{}, false},
		{"a-b", PortRange{}, false},
	} {
		got, err := ParsePortRange(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParsePortRange(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestServiceProblems(t *testing.T) {
	checkProblemCases(t, []problemCase{
		{"upstream missing", doc("services:\n  fx: #<\n    ports: 9000-9001\n"),
			"services.fx.upstream", "is required"},
		{"upstream unknown", doc("services:\n  fx:\n    upstream: fz #<\n"),
			"services.fx.upstream", `did you mean "fx"?`},
		{"upstream deployed twice", doc("services:\n  a:\n    upstream: fx #^\n    state_dir: /a\n  b:\n    upstream: fx #<\n    state_dir: /b\n"),
			"services.b.upstream", "already deployed by services.a.upstream"},
		{"one port", doc("services:\n  fx:\n    upstream: fx\n    ports: 9000 #<\n"),
			"services.fx.ports", "at least two"},
		{"bad range", doc("services:\n  fx:\n    upstream: fx\n    ports: 9-3 #<\n"),
			"services.fx.ports", "LO-HI"},
		{"PORT in env", doc("services:\n  fx:\n    upstream: fx\n    env:\n      PORT: 1 #<\n"),
			`services.fx.env.PORT`, "set by skjold deploy"},
		{"timeout over interval", doc("services:\n  fx:\n    upstream: fx\n    health:\n      interval: 1s\n      timeout: 2s #<\n"),
			"services.fx.health.timeout", "longer than interval"},
		{"deadline under interval", doc("services:\n  fx:\n    upstream: fx\n    health:\n      deadline: 500ms #<\n"),
			"services.fx.health.deadline", "not even one probe"},
		{"ratio above one", doc("services:\n  fx:\n    upstream: fx\n    max_error_ratio: 1.5 #<\n"),
			"services.fx.max_error_ratio", "between 0 and 1"},
		{"zero watch", doc("services:\n  fx:\n    upstream: fx\n    watch: 0s #<\n"),
			"services.fx.watch", "not allowed"},
		{"shared state dir", doc("upstreams:\n  fx:\n    targets: [{address: 127.0.0.1:1}]\n  pay:\n    targets: [{address: 127.0.0.1:2}]\n",
			"services:\n  fx:\n    upstream: fx\n    state_dir: /s\n  pay:\n    upstream: pay\n    state_dir: /s #<\n"),
			"services.pay.state_dir", "already the state directory"},
		{"bad name", doc("services:\n  f.x: #<\n    upstream: fx\n"),
			`services["f.x"]`, "may use only"},
	})
}
