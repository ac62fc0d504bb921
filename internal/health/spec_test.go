package health

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{Unknown: "unknown", Up: "up", Down: "down", State(7): "state(7)"} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", int(s), got, want)
		}
	}
}

func TestZeroSpecTakesConfigDefaults(t *testing.T) {
	got := Spec{}.withDefaults()
	want := Spec{Path: "/health", Interval: 5 * time.Second, Timeout: time.Second,
		Expect: []StatusRange{{Lo: 200, Hi: 399}}, Rise: 2, Fall: 3}
	if got.Path != want.Path || got.Interval != want.Interval || got.Timeout != want.Timeout ||
		!slices.Equal(got.Expect, want.Expect) || got.Rise != want.Rise || got.Fall != want.Fall || got.Host != "" {
		t.Errorf("Spec{}.withDefaults() = %+v, want %+v", got, want)
	}
	if p := (Spec{Path: "ready"}).withDefaults().Path; p != "/ready" {
		t.Errorf("path without leading slash became %q, want /ready", p)
	}
}

func TestSpecAcceptsOnlyExpectedStatuses(t *testing.T) {
	s := Spec{Expect: []StatusRange{{Lo: 200, Hi: 204}, {Lo: 301, Hi: 301}}}.withDefaults()
	for status, want := range map[int]bool{199: false, 200: true, 204: true, 205: false, 301: true, 302: false, 503: false} {
		if got := s.accepts(status); got != want {
			t.Errorf("accepts(%d) = %v, want %v", status, got, want)
		}
	}
	def := Spec{}.withDefaults()
	for status, want := range map[int]bool{199: false, 200: true, 302: true, 399: true, 400: false, 503: false} {
		if got := def.accepts(status); got != want {
			t.Errorf("default spec accepts(%d) = %v, want %v", status, got, want)
		}
	}
}

func TestSpreadStaysWithinTenPercentAndVaries(t *testing.T) {
	d := 5 * time.Second
	seen := map[time.Duration]bool{}
	for range 1000 {
		got := spread(d)
		if got < d-d/10 || got > d+d/10 {
			t.Fatalf("spread(%v) = %v, outside ±10%%", d, got)
		}
		seen[got] = true
	}
	if len(seen) < 100 {
		t.Errorf("spread(%v) gave only %d distinct values in 1000 calls", d, len(seen))
	}
	if got := spread(1); got < 0 || got > 1 {
		t.Errorf("spread(1ns) = %v", got)
	}
}

func TestStateJSONRoundTrip(t *testing.T) {
	for _, s := range []State{Unknown, Up, Down} {
		b, err := json.Marshal(TargetStatus{Address: "a:1", State: s})
		if err != nil {
			t.Fatal(err)
		}
		var back TargetStatus
		if err := json.Unmarshal(b, &back); err != nil || back.State != s {
			t.Errorf("%s: %s → %v, %v", s, b, back.State, err)
		}
		if !strings.Contains(string(b), `"state":"`+s.String()+`"`) {
			t.Errorf("JSON %s does not name the state", b)
		}
	}
}
