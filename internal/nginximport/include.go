package nginximport

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Bounds on what include may pull in. Real configurations include a few
// dozen small files; the bounds keep a glob over a wrong directory, or a
// file included from many places, from reading without limit.
const (
	maxIncludedFiles = 1000
	maxIncludedBytes = 16 << 20
)

// reader parses a configuration and the files its include directives name.
type reader struct {
	// dir is the directory relative include paths are resolved against:
	// nginx's configuration prefix, the directory of the main nginx.conf.
	// Empty means include is not followed (see Options.IncludeDir).
	dir string
	// stack holds the files being read, outermost first, to refuse loops.
	stack []string
	files int
	bytes int
	seq   int
}

// include reads the files an include directive names, as nginx does: a
// relative path is relative to r.dir; a path with *, ? or [ is a glob whose
// matches are read in name order, and which may match nothing; a plain path
// must exist. It returns the included directives in place of d. Without a
// directory to resolve against, d is returned unchanged and reported by the
// converter.
func (r *reader) include(d *directive, depth int) ([]*directive, error) {
	if len(d.args) != 1 {
		return nil, &Error{File: d.file, Line: d.line, Message: `invalid number of arguments in "include" directive`}
	}
	if r.dir == "" {
		return []*directive{d}, nil
	}
	pattern := d.args[0]
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(r.dir, pattern)
	}
	var names []string
	if strings.ContainsAny(pattern, "*?[") {
		m, err := filepath.Glob(pattern)
		if err != nil {
			return nil, &Error{File: d.file, Line: d.line, Message: fmt.Sprintf("include %s: %v", d.args[0], err)}
		}
		names = m
	} else {
		names = []string{pattern}
	}
	var out []*directive
	for _, name := range names {
		ds, err := r.includeFile(d, name, depth)
		if err != nil {
			return nil, err
		}
		out = append(out, ds...)
	}
	return out, nil
}

// includeFile parses one included file.
func (r *reader) includeFile(d *directive, name string, depth int) ([]*directive, error) {
	fail := func(format string, args ...any) error {
		return &Error{File: d.file, Line: d.line, Message: "include " + d.args[0] + ": " + fmt.Sprintf(format, args...)}
	}
	abs, err := filepath.Abs(name)
	if err != nil {
		return nil, fail("%v", err)
	}
	for i, f := range r.stack {
		if f == abs {
			chain := append(append([]string(nil), r.stack[i:]...), abs)
			return nil, fail("include loop: %s", strings.Join(chain, " includes "))
		}
	}
	if r.files++; r.files > maxIncludedFiles {
		return nil, fail("more than %d included files", maxIncludedFiles)
	}
	src, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fail("%s does not exist", name)
	}
	if err != nil {
		return nil, fail("%v", err)
	}
	if r.bytes += len(src); r.bytes > maxIncludedBytes {
		return nil, fail("the included files hold more than %d MiB", maxIncludedBytes>>20)
	}
	r.stack = append(r.stack, abs)
	defer func() { r.stack = r.stack[:len(r.stack)-1] }()
	l := newLexer(r.display(name), src)
	ds, closed, err := r.parseBlock(l, depth, d.raw)
	if err != nil {
		return nil, err
	}
	if closed {
		return nil, l.errorf(l.line, `unexpected "}"`)
	}
	return ds, nil
}

// display names an included file in messages: relative to the include
// directory when it is inside it, as the include directive spelled it.
func (r *reader) display(name string) string {
	if rel, err := filepath.Rel(r.dir, name); err == nil && filepath.IsLocal(rel) {
		return rel
	}
	return name
}
