package config

import (
	"context"
	"errors"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseLeavesTheResidencyPolicyToItsCheck: config decodes the
// residency section and checks its shape; whether a route may send a
// class of data to where an upstream runs is internal/residency's rule.
func TestParseLeavesTheResidencyPolicyToItsCheck(t *testing.T) {
	c, err := Parse("t.yaml", []byte(residencyDoc(`residency:
  policy:
    personal: {within: EEA}
    public: {}
  upstreams:
    accounts:
      location: {provider: aws, region: us-east-1}
`)))
	if err != nil {
		t.Fatalf("Parse refused a config over its residency policy, which is residency's to judge:\n%v", err)
	}
	if got := c.Residency.Upstreams["accounts"].Location.Region; got != "us-east-1" {
		t.Errorf("decoded region %q, want us-east-1", got)
	}
}

// TestConfigDoesNotImportResidency keeps the seam: residency imports
// config, so config must not import residency or its table.
func TestConfigDoesNotImportResidency(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if strings.Contains(imp.Path.Value, "/internal/residency") {
				t.Errorf("%s imports %s; residency rules belong in internal/residency, handed to Parse as a Check", name, imp.Path.Value)
			}
		}
	}
}

// TestChecksProblemsArePlacedInTheFile: a check names a key path; Parse
// gives the problem its file, line and column, reports it with config's
// own problems in file order, and drops one under a value config already
// refused.
func TestChecksProblemsArePlacedInTheFile(t *testing.T) {
	doc := "listeners:\n  public:\n    address: 127.0.0.1:8080\n" +
		"upstreams:\n  fx:\n    targets: [{address: 127.0.0.1:9103}]\n    max_concurrent: many\n" +
		"routes:\n  - match: {path_prefix: /fx/}\n    upstream: fx\n"
	var sawLine, sawCol int
	var given, defaulted bool
	check := func(c *Config) []Problem {
		sawLine, sawCol = c.Position("routes[0].upstream")
		given, defaulted = c.Given("routes[0].upstream"), c.Given("shutdown_grace")
		return []Problem{
			{Path: "routes[0].upstream", Message: "fx is not allowed here"},
			{Path: "upstreams.fx.max_concurrent", Message: "covered by config's own problem"},
			{Message: "about the whole file"},
		}
	}
	_, err := Parse("t.yaml", []byte(doc), check)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Parse: %v; want a *ValidationError", err)
	}
	if sawLine != 10 || sawCol != 15 || !given || defaulted {
		t.Errorf("during the check Position = %d:%d, Given = %v/%v; want 10:15, true for a written value, false for a default", sawLine, sawCol, given, defaulted)
	}
	var got []string
	for _, p := range ve.Problems {
		got = append(got, p.String())
	}
	want := []string{
		"t.yaml:1:1: about the whole file",
		`t.yaml:7:21: upstreams.fx.max_concurrent: expected a whole number, got "many"`,
		"t.yaml:10:15: routes[0].upstream: fx is not allowed here",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestFileSourceAppliesItsChecksOnEveryLoad: what a reload loads is
// refused for the same reasons as the first load.
func TestFileSourceAppliesItsChecksOnEveryLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(path, []byte(doc()), 0o600); err != nil {
		t.Fatal(err)
	}
	refuse := false
	src := FileSource{Path: path, Checks: []Check{func(*Config) []Problem {
		if refuse {
			return []Problem{{Path: "routes[0]", Message: "refused by the check"}}
		}
		return nil
	}}}
	if _, err := src.Load(context.Background()); err != nil {
		t.Fatalf("first load: %v", err)
	}
	refuse = true
	_, err := src.Load(context.Background())
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 1 || !strings.Contains(ve.Problems[0].String(), ":9:5: routes[0]: refused by the check") {
		t.Fatalf("second load: %v; want the check's problem at routes[0]", err)
	}
}
