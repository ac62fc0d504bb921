package config

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxFileBytes bounds what LoadFile reads; a gateway config is kilobytes.
const maxFileBytes = 16 << 20

// Parse decodes, defaults and validates one YAML config, then applies
// checks (the residency policy's, residency.Check, is the one the commands
// pass). name is where the bytes came from (usually a path) and appears in
// every problem. On any problem, config's own or a check's, it returns a
// *ValidationError listing all of them, each with file:line:column and key
// path. On success every defaulted field is set
// (see ApplyDefaults), Source is name and Version is the first 12 hex
// digits of the SHA-256 of data.
func Parse(name string, data []byte, checks ...Check) (*Config, error) {
	r := newReport(name)
	root, ok := parseYAML(r, data)
	if !ok {
		return nil, r.err()
	}
	// Source first: relative file names in the config are resolved
	// against its directory while defaults are applied.
	c := Config{Source: name}
	r.record("", "", position{root.Line, root.Column}, false)
	newDecoder(r).decode(root, reflect.ValueOf(&c).Elem(), "")
	applyDefaults(&c, r)
	validate(&c, r)
	c.layout = r
	runChecks(&c, r, checks)
	if len(r.problems) > 0 {
		return nil, r.err()
	}
	for i, rt := range c.Routes {
		rt.Line = r.lineOf(indexPath("routes", i))
	}
	sum := sha256.Sum256(data)
	c.Source = name
	c.Version = hex.EncodeToString(sum[:])[:12]
	return &c, nil
}

// LoadFile reads and parses the config file at path, applying checks as
// Parse does. A file that cannot be
// read is an error wrapping the fs error (errors.Is(err, fs.ErrNotExist)
// works); a file with problems yields a *ValidationError.
func LoadFile(path string, checks ...Check) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("config: %s is larger than %d MiB; is it the right file?", path, maxFileBytes>>20)
	}
	return Parse(path, data, checks...)
}

// err returns the collected problems as a *ValidationError, in file order.
func (r *report) err() error {
	sortProblems(r.problems)
	return &ValidationError{Problems: r.problems}
}

// parseYAML parses data into a node tree and returns its root value. An
// empty document, a YAML syntax error or a second document are problems.
func parseYAML(r *report, data []byte) (*yaml.Node, bool) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	err := dec.Decode(&doc)
	if errors.Is(err, io.EOF) || (err == nil && (len(doc.Content) == 0 || isNull(doc.Content[0]))) {
		r.problems = append(r.problems, Problem{
			File: r.file, Line: 1, Column: 1,
			Message: "the config is empty; it needs at least a listener (see examples/gateway.yaml)",
		})
		return nil, false
	}
	if err != nil {
		r.problems = append(r.problems, syntaxProblem(r.file, err))
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		p := Problem{File: r.file, Message: "a config file holds one YAML document; remove the second (after \"---\")"}
		if err != nil {
			p = syntaxProblem(r.file, err)
		} else {
			p.Line, p.Column = extra.Line, extra.Column
		}
		r.problems = append(r.problems, p)
		return nil, false
	}
	return doc.Content[0], true
}

// syntaxProblem turns a YAML parser error ("yaml: line 3: mapping values
// are not allowed in this context") into a Problem on that line. The
// parser does not report a column.
func syntaxProblem(file string, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	p := Problem{File: file}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, after, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				p.Line, msg = n, after
			}
		}
	}
	p.Message = "invalid YAML: " + strings.ReplaceAll(msg, "\n", " ")
	return p
}

// Source is somewhere a config can be loaded from, again on each reload:
// a file today, a key in a store such as etcd later.
type Source interface {
	// Load reads and parses the current config. Problems come back as a
	// *ValidationError.
	Load(ctx context.Context) (*Config, error)
	// String names the source in logs and messages.
	String() string
}

// FileSource loads the config from a YAML file.
type FileSource struct {
	// Path of the file. Required.
	Path string
	// Checks are applied on every Load after config's own validation, so
	// that a reload is refused for the same reasons as the first load
	// (residency.Check: a route sending data where its policy forbids).
	// Default: none.
	Checks []Check
}

var _ Source = FileSource{}

// Load reads and parses the file.
func (s FileSource) Load(ctx context.Context) (*Config, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("config: load %s: %w", s.Path, err)
	}
	return LoadFile(s.Path, s.Checks...)
}

// String returns the file's path.
func (s FileSource) String() string { return s.Path }
