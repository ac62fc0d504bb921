// Package nginximport converts an nginx reverse-proxy configuration into a
// Skjold configuration, reporting with file:line every directive it could
// not translate faithfully.
package nginximport

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/skjold-dev/skjold/internal/config"
	"go.yaml.in/yaml/v3"
)

// ErrInvalid is wrapped by every error about input that nginx itself would
// reject (nginx -t fails on it): syntax errors, bad values, misplaced
// directives. Such errors are *Error values carrying the file and line.
var ErrInvalid = errors.New("invalid nginx configuration")

// ErrNothingToImport is returned when the input is valid but holds no
// location that proxies to an HTTP upstream Skjold can serve, so there is no
// route to write. The warnings returned with it say what was skipped.
var ErrNothingToImport = errors.New("no location with proxy_pass that Skjold can serve")

// Error locates a problem that makes the nginx configuration invalid.
type Error struct {
	// File is the name the configuration was read from.
	File string
	// Line is the 1-based line of the offending token.
	Line int
	// Message says what is wrong.
	Message string
}

// Error formats the problem as "file:line: message".
func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Message) }

// Unwrap lets errors.Is(err, ErrInvalid) match.
func (e *Error) Unwrap() error { return ErrInvalid }

// Warning is a directive Convert could not translate faithfully, or, with
// Note set, one it translated in a way worth knowing about.
type Warning struct {
	// File and Line locate the directive.
	File string
	Line int
	// Directive is the nginx directive's name.
	Directive string
	// Message says what happened to it and why.
	Message string
	// Note marks information that needs no action: the directive's effect
	// is already how Skjold behaves.
	Note bool
}

// String formats the warning as "file:line: directive: message", with
// "note: " before the message of a note.
func (w Warning) String() string {
	if w.Note {
		return fmt.Sprintf("%s:%d: %s: note: %s", w.File, w.Line, w.Directive, w.Message)
	}
	return fmt.Sprintf("%s:%d: %s: %s", w.File, w.Line, w.Directive, w.Message)
}

// Convert translates the nginx configuration src, read from the file name,
// into a Skjold configuration. It accepts a whole nginx.conf (with an http
// block) or a snippet of http-level directives (upstream and server blocks at
// the top). include directives are reported, not followed.
//
// Where nginx's default differs from Skjold's (timeouts, retries, body size)
// the nginx value is written out explicitly, so the result behaves as the
// nginx configuration did. The warnings are in line order; they are returned
// with errors too, since they explain what was skipped.
func Convert(name string, src []byte) (*config.Config, []Warning, error) {
	c := &converter{
		file:          name,
		declared:      map[string]*upstreamDef{},
		synthesized:   map[string]*upstreamDef{},
		upstreamNames: map[string]bool{},
	}
	cfg, err := c.convert(src)
	slices.SortStableFunc(c.warnings, func(a, b Warning) int { return cmp.Compare(a.Line, b.Line) })
	if err != nil {
		return nil, c.warnings, err
	}
	cfg.Source = name
	return cfg, c.warnings, nil
}

// Marshal writes cfg as YAML, headed by a comment naming the nginx file it
// was imported from (cfg.Source).
func Marshal(cfg *config.Config) ([]byte, error) {
	var buf bytes.Buffer
	if cfg.Source != "" {
		fmt.Fprintf(&buf, "# Imported from the nginx configuration %s by \"skjold import nginx\".\n", cfg.Source)
		buf.WriteString("# nginx defaults that differ from Skjold's are written out explicitly.\n")
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(cfg); err != nil {
		return nil, fmt.Errorf("writing the imported configuration as YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("writing the imported configuration as YAML: %w", err)
	}
	return buf.Bytes(), nil
}
