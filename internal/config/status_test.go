package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
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
		{name: "backwards range", in: []string{"399-200"}, err: `range "399-200" is backwards; write 200-399`},
		{name: "below 100", in: []string{"099"}, err: `got "099"`},
		{name: "above 599", in: []string{"200-600"}, err: `got "200-600"`},
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
