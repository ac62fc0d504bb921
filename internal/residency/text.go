package residency

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// WriteText writes the result for a terminal: per store where each copy
// is, what it holds and the verdict with the rule that decided it; then the
// same for upstreams; then a summary line.
func WriteText(w io.Writer, r *Result) error {
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "Data residency of %s (config version %s)\n", r.Source, r.Version)
	if len(r.Stores) > 0 {
		fmt.Fprintf(b, "\nSTORES\n")
	}
	for _, s := range r.Stores {
		head := s.Name + "  " + s.Kind
		if s.Cluster != "" {
			head += " (cluster " + s.Cluster + ")"
		}
		if s.Description != "" {
			head += ": " + s.Description
		}
		fmt.Fprintf(b, "\n%s\n", head)
		for _, c := range s.Copies {
			fmt.Fprintf(b, "  %-10s %s\n", c.Name(), c.Location)
		}
		fmt.Fprintf(b, "  %-10s %s\n", "holds", classList(s.Classes))
		writeVerdict(b, s.Verdict, s.Decision, s.Findings)
	}
	if len(r.Upstreams) > 0 {
		fmt.Fprintf(b, "\nUPSTREAMS (processing)\n")
	}
	for _, u := range r.Upstreams {
		fmt.Fprintf(b, "\n%s\n", u.Name)
		fmt.Fprintf(b, "  %-10s %s\n", "runs at", u.Location)
		fmt.Fprintf(b, "  %-10s %s\n", "handles", classList(u.Classes))
		writeVerdict(b, u.Verdict, u.Decision, u.Findings)
	}
	fmt.Fprintf(b, "\n%s\n", r.Summary())
	return b.Flush()
}

// Summary is one line: "4 stores and 3 upstreams checked: 1 violation".
func (r *Result) Summary() string {
	v := "no violations"
	switch r.Violations {
	case 0:
	case 1:
		v = "1 violation"
	default:
		v = fmt.Sprintf("%d violations", r.Violations)
	}
	return fmt.Sprintf("%s and %s checked: %s", plural(len(r.Stores), "store"), plural(len(r.Upstreams), "upstream"), v)
}

func writeVerdict(b *bufio.Writer, v Verdict, d Finding, fs []Finding) {
	if v == Pass {
		fmt.Fprintf(b, "  %-10s pass: %s: %s\n", "verdict", d.Rule, d.Reason)
		return
	}
	fmt.Fprintf(b, "  %-10s VIOLATION: %s\n", "verdict", findingLine(d))
	for _, f := range fs {
		if !f.OK && f != d {
			fmt.Fprintf(b, "  %-10s %s\n", "also", findingLine(f))
		}
	}
}

// findingLine is "residency.policy.personal.within (backup 1): CH
// (Switzerland, ...) is not in EEA".
func findingLine(f Finding) string {
	where := ""
	if f.Copy != "" && f.Copy != "all" {
		where = " (" + f.Copy + ")"
	}
	return fmt.Sprintf("%s%s: %s", f.Rule, where, f.Reason)
}

// classList is "payment_card (database of service payments), personal
// (declared, service accounts)", or "nothing declared".
func classList(cs []Class) string {
	if len(cs) == 0 {
		return "no declared data class"
	}
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%s (%s)", c.Name, strings.Join(c.From, ", "))
	}
	return strings.Join(parts, ", ")
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
