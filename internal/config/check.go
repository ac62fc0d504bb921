package config

// Check is a rule that a package other than config applies to a decoded,
// defaulted config: the residency policy (residency.Check) is one. config
// itself knows the schema and its references; rules that need knowledge
// config does not have (where a provider's region is, which countries an
// area holds) live with that knowledge and are handed to Parse, LoadFile or
// FileSource, so config need not import them (issue 13).
//
// A Check returns each problem with Path and Message set; Parse places it
// in the file (File, Line, Column), drops it when an earlier problem at or
// above its path already covers it, and reports it with config's own
// problems, in file order. During the check, c.Position and c.Given answer
// for the file being parsed.
type Check func(c *Config) []Problem

// runChecks applies checks to c and records what they find in r.
func runChecks(c *Config, r *report, checks []Check) {
	for _, check := range checks {
		for _, p := range check(c) {
			r.problemf(p.Path, "%s", p.Message)
		}
	}
}

// Position returns the line and column where the value at key path
// ("routes[2].upstream") starts in the file c was parsed from, or where its
// nearest ancestor in the file starts; 0, 0 for a config built in code.
func (c *Config) Position(path string) (line, col int) {
	if c.layout == nil {
		return 0, 0
	}
	p := c.layout.where(path)
	return p.line, p.col
}

// Given reports whether the file c was parsed from set path to a non-null
// value, so that a rule can tell a value written from one filled in by a
// default. It is false for every path of a config built in code.
func (c *Config) Given(path string) bool {
	return c.layout.isGiven(path)
}

// KeyPath is the key path of key under parent, as problems name it:
// "upstreams.fx", or `upstreams["my pool"]` for a key that is not a plain
// name. Checks build their problems' paths with it and IndexPath.
func KeyPath(parent, key string) string { return keyPath(parent, key) }

// IndexPath is the key path of item i of the list at parent: "routes[2]".
func IndexPath(parent string, i int) string { return indexPath(parent, i) }

// Closest returns the candidate nearest to s by edit distance, when it is
// near enough to be a plausible typo: the "did you mean" of config's own
// problems, for checks that suggest corrections the same way.
func Closest(s string, candidates []string) (string, bool) { return closest(s, candidates) }
