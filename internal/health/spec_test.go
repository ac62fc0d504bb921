package health

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseStatusRanges(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []StatusRange
		err  string // substring; empty means success
	}{
		{name: "empty list", in: nil, want: nil},
		{name: "single code", in: []string{"200"}, want: []StatusRange{{200, 200}}},
		{name: "range", in: []string{"200-399"}, want: []StatusRange{{200, 399}}},
		{name: "several with spaces", in: []string{" 204 ", "300 - 302"}, want: []StatusRange{{204, 204}, {300, 302}}},
		{name: "range of one", in: []string{"418-418"}, want: []StatusRange{{418, 418}}},
		{name: "backwards range", in: []string{"399-200"}, err: `"399-200": range runs backwards`},
		{name: "below 100", in: []string{"099"}, err: "99 is outside 100-599"},
		{name: "above 599", in: []string{"200-600"}, err: "600 is outside 100-599"},
		{name: "not a number", in: []string{"ok"}, err: `"ok"`},
		{name: "class shorthand is not accepted", in: []string{"2xx"}, err: `"2xx"`},
		{name: "sign", in: []string{"+200"}, err: `"+200"`},
		{name: "open range", in: []string{"200-"}, err: `"200-"`},
		{name: "bad entry after a good one", in: []string{"200", ""}, err: `""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStatusRanges(tt.in)
			if tt.err != "" {
				if err == nil {
					t.Fatalf("ParseStatusRanges(%q) = %v, want error containing %q", tt.in, got, tt.err)
				}
				if !errors.Is(err, ErrBadStatusRange) {
					t.Errorf("error %v does not wrap ErrBadStatusRange", err)
				}
				if !strings.Contains(err.Error(), tt.err) {
					t.Errorf("error %q does not contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseStatusRanges(%q): %v", tt.in, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ParseStatusRanges(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzParseStatusRanges(f *testing.F) {
	for _, s := range []string{"200", "200-399", "599", "100-100", "abc", "-", "2000", "300-200", " 204 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := ParseStatusRanges([]string{s})
		if err != nil {
			if !errors.Is(err, ErrBadStatusRange) {
				t.Fatalf("error %v does not wrap ErrBadStatusRange", err)
			}
			return
		}
		if len(rs) != 1 {
			t.Fatalf("got %d ranges from one entry", len(rs))
		}
		r := rs[0]
		if r.Lo < 100 || r.Hi > 599 || r.Lo > r.Hi {
			t.Fatalf("%q parsed to invalid range %+v", s, r)
		}
		again, err := ParseStatusRanges([]string{r.String()})
		if err != nil || again[0] != r {
			t.Fatalf("%+v does not round-trip through %q: %v, %v", r, r.String(), again, err)
		}
	})
}

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
		Expect: []StatusRange{{200, 399}}, Rise: 2, Fall: 3}
	if got.Path != want.Path || got.Interval != want.Interval || got.Timeout != want.Timeout ||
		!slices.Equal(got.Expect, want.Expect) || got.Rise != want.Rise || got.Fall != want.Fall || got.Host != "" {
		t.Errorf("Spec{}.withDefaults() = %+v, want %+v", got, want)
	}
	if p := (Spec{Path: "ready"}).withDefaults().Path; p != "/ready" {
		t.Errorf("path without leading slash became %q, want /ready", p)
	}
}

func TestSpecAcceptsOnlyExpectedStatuses(t *testing.T) {
	s := Spec{Expect: []StatusRange{{200, 204}, {301, 301}}}.withDefaults()
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
