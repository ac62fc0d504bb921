package nginximport

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Severity says how much a directive's translation departs from nginx.
type Severity int

// The severities, least severe first.
const (
	// Info needs no action: Skjold already behaves as the directive asks.
	Info Severity = iota
	// NoEffect marks a directive that does nothing in Skjold (process
	// settings, file-serving tuning); such warnings are folded into one
	// line by Report.
	NoEffect
	// Behaviour marks a change in how requests are handled that still
	// sends them to the same upstream: headers, timeouts, compression,
	// logging.
	Behaviour
	// Routing marks a change in who gets what: requests reaching another
	// upstream (or none) than in nginx, or passing an access, method or
	// authentication check nginx made. Convert refuses these unless
	// Options.AllowRerouting is set.
	Routing
)

// String is the label Warning.String prints.
func (s Severity) String() string {
	switch s {
	case Info:
		return "note"
	case NoEffect:
		return "no effect in Skjold"
	case Behaviour:
		return "changes behaviour"
	case Routing:
		return "changes who gets what"
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// Warning is a directive Convert could not translate faithfully, or one it
// translated in a way worth knowing about.
type Warning struct {
	// File and Line locate the directive (File is an included file's name
	// for directives read through include).
	File string
	Line int
	// Directive is the nginx directive's name.
	Directive string
	// Message says what happened to it and why.
	Message string
	// Severity ranks the departure from nginx.
	Severity Severity

	seq int // reading order, across included files
}

// String formats the warning as "file:line: directive: severity: message".
func (w Warning) String() string {
	return fmt.Sprintf("%s:%d: %s: %s: %s", w.File, w.Line, w.Directive, w.Severity, w.Message)
}

// Report formats warnings for a person: one line each in reading order,
// except that the NoEffect ones are folded into one last line naming each
// directive and where it was.
func Report(ws []Warning) []string {
	var lines, order []string
	where := map[string][]string{}
	for _, w := range ws {
		if w.Severity != NoEffect {
			lines = append(lines, w.String())
			continue
		}
		if _, ok := where[w.Directive]; !ok {
			order = append(order, w.Directive)
		}
		where[w.Directive] = append(where[w.Directive], fmt.Sprintf("%s:%d", w.File, w.Line))
	}
	if len(order) > 0 {
		parts := make([]string, len(order))
		for i, name := range order {
			parts[i] = name + " (" + strings.Join(where[name], ", ") + ")"
		}
		lines = append(lines, "no effect in Skjold, nothing to do: "+strings.Join(parts, ", "))
	}
	return lines
}

// warnAt records a warning of severity sev about d.
func (c *converter) warnAt(sev Severity, d *directive, format string, args ...any) {
	c.warnings = append(c.warnings, Warning{
		File: d.file, Line: d.line, Directive: d.name,
		Message: fmt.Sprintf(format, args...), Severity: sev, seq: d.seq,
	})
}

// warn records a Behaviour warning, the default for a directive Skjold
// does not translate.
func (c *converter) warn(d *directive, format string, args ...any) {
	c.warnAt(Behaviour, d, format, args...)
}

// note records an Info warning.
func (c *converter) note(d *directive, format string, args ...any) {
	c.warnAt(Info, d, format, args...)
}

// reroute records a Routing warning.
func (c *converter) reroute(d *directive, format string, args ...any) {
	c.warnAt(Routing, d, format, args...)
}

// sortedWarnings returns the warnings in reading order, without the
// repeats a named location shared by several try_files produces.
func (c *converter) sortedWarnings() []Warning {
	ws := slices.Clone(c.warnings)
	slices.SortStableFunc(ws, func(a, b Warning) int { return cmp.Compare(a.seq, b.seq) })
	return slices.CompactFunc(ws, func(a, b Warning) bool {
		return a.File == b.File && a.Line == b.Line && a.Directive == b.Directive && a.Message == b.Message
	})
}
