package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that no input makes Parse panic, and that what it
// returns is consistent: a config that is safe to use, or problems that
// each name the file and say something.
func FuzzParse(f *testing.F) {
	examples, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	for _, e := range examples {
		if b, err := os.ReadFile(e); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"",
		doc(),
		doc("admin:\n  listen: 0.0.0.0:9901\n"),
		"listeners: &l\n  public:\n    <<: *l\n",
		"x-a: &a {open_for: 1s}\n" + doc("upstreams:\n  fx:\n    targets: [{address: 127.0.0.1:1}]\n    breaker: {<<: [*a, *a]}\n"),
		"routes:\n  - match: {hosts: ['*.A.b'], methods: [get]}\n    retry: {on: [x], tries: 99}\n",
		"upstreams: {fx: {targets: [{address: ':0', weight: -1}], health_check: {expect_status: ['599-100']}}}\n",
		"? [a]\n: b\n",
		"a: !!binary aGVsbG8=\n",
		"listeners: {public: {address: 127.0.0.1:8080, max_header_bytes: 99999999999999999999GiB}}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err == nil {
			if c == nil || len(c.Listeners) == 0 || len(c.Version) != 12 {
				t.Fatalf("Parse succeeded with an unusable config: %+v", c)
			}
			for _, r := range c.Routes {
				if c.Upstreams[r.Upstream] == nil || r.Line < 1 || r.Name == "" {
					t.Fatalf("route %+v is not usable", r)
				}
			}
			return
		}
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) == 0 {
			t.Fatalf("Parse error %T %v: want a *ValidationError with problems", err, err)
		}
		for _, p := range ve.Problems {
			// One problem per line of Error(), whatever the input.
			if p.File != "fuzz.yaml" || p.Message == "" || p.Line < 0 || p.Column < 0 ||
				strings.Contains(p.Message, "\n") || strings.Contains(p.Path, "\n") {
				t.Fatalf("malformed problem %#v", p)
			}
		}
	})
}
