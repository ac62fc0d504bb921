package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with a configuration, located in its file.
type Problem struct {
	// File is the config's source name (usually its path).
	File string
	// Line and Column are 1-based; 0 when the position is unknown (a YAML
	// syntax error the parser could not place, or a config built in code).
	Line, Column int
	// Path is the key path of the offending value, for example
	// "routes[2].retry.on[1]" or "upstreams.fx.targets[0].address". Empty
	// when the problem concerns the whole file.
	Path string
	// Message says what is wrong and what is expected instead.
	Message string
}

// String formats the problem as "file:line:col: path: message", the form
// editors and CI annotate from. Unknown parts are left out.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteByte(':')
	}
	if p.Line > 0 {
		fmt.Fprintf(&b, "%d:", p.Line)
		if p.Column > 0 {
			fmt.Fprintf(&b, "%d:", p.Column)
		}
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError reports every problem found in a configuration, not just
// the first, so one edit-and-check round fixes them all. Retrieve it with
// errors.As.
type ValidationError struct {
	// Problems in file order.
	Problems []Problem
}

// Error prints one problem per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sortProblems orders problems by position so they read top to bottom;
// problems at the same position keep the order they were found in.
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
}
