// Package nginximport converts an nginx reverse-proxy configuration into a
// Skjold configuration, reporting with file:line every directive it could
// not translate faithfully.
package nginximport

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

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

// ErrRerouting is returned, with the warnings that explain it, when the
// translation would change who gets what: requests reaching another
// upstream than in nginx, or passing an access, method or authentication
// check nginx made, or TLS traffic left unserved. Options.AllowRerouting
// imports anyway.
var ErrRerouting = errors.New("the translation would change who gets what")

// Options tune a conversion. The zero value follows no include and refuses
// every translation that changes who gets what.
type Options struct {
	// File is the path the configuration was read from, "" for stdin. It
	// is the start of the include chain, for refusing include loops.
	File string
	// IncludeDir is the directory relative include paths are resolved
	// against: nginx's configuration prefix, the directory of the main
	// nginx.conf (nginx resolves them from there in nested includes too).
	// Default: the directory of File; "" with no File means include is
	// not followed and is reported instead.
	IncludeDir string
	// AllowRerouting imports even when a location cannot be translated and
	// its requests now go elsewhere, or a check nginx made is lost; each
	// such place is still reported with severity Routing. Default false.
	AllowRerouting bool
	// Now is the time certificates must be valid at. Default time.Now.
	Now func() time.Time
}

// Convert translates the nginx configuration src, read from the file name,
// into a Skjold configuration. It accepts a whole nginx.conf (with an http
// block) or a snippet of http-level directives (upstream and server blocks at
// the top), and follows include directives as nginx does (see Options).
//
// Where nginx's default differs from Skjold's (timeouts, retries, body size)
// the nginx value is written out explicitly, so the result behaves as the
// nginx configuration did. The warnings are in reading order; they are
// returned with errors too, since they explain what was skipped. Unless
// opts.AllowRerouting is set, a warning of severity Routing makes Convert
// fail with ErrRerouting.
func Convert(name string, src []byte, opts Options) (*config.Config, []Warning, error) {
	c := &converter{
		file:          name,
		opts:          opts,
		declared:      map[string]*upstreamDef{},
		synthesized:   map[string]*upstreamDef{},
		upstreamNames: map[string]bool{},
	}
	cfg, err := c.convert(src)
	ws := c.sortedWarnings()
	// A refusal explains more than "nothing to import" when, say, the only
	// servers are TLS ones.
	if (err == nil || errors.Is(err, ErrNothingToImport)) && !opts.AllowRerouting {
		if rerr := refusal(name, ws); rerr != nil {
			err = rerr
		}
	}
	if err != nil {
		return nil, ws, err
	}
	cfg.Source = name
	return cfg, ws, nil
}

// refusal is the ErrRerouting error naming every place whose translation
// changes who gets what, or nil when there is none.
func refusal(name string, ws []Warning) error {
	var at []string
	for _, w := range ws {
		if w.Severity == Routing {
			at = append(at, fmt.Sprintf("%s:%d %s", w.File, w.Line, w.Directive))
		}
	}
	if len(at) == 0 {
		return nil
	}
	return fmt.Errorf("%s: import refused: %w at %s (see the warnings above); translate those places by hand, or pass --allow-rerouting to import anyway",
		name, ErrRerouting, strings.Join(at, ", "))
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
