package config

import (
	"fmt"
	"strconv"
)

// position is where a value (or, for a mapping or list, its key) starts.
type position struct {
	line, col int
}

// report collects the problems of one config file and remembers where each
// key path sits in the file, so that decoding, defaulting and validation can
// all name a line and column. A nil *report is valid and records nothing:
// that is how a config built in code is defaulted.
type report struct {
	file     string
	problems []Problem
	// pos maps a key path to its position; parent maps a key path to the
	// path it sits under, so a missing key is reported at its parent.
	pos    map[string]position
	parent map[string]string
	// given holds the paths that have a non-null value in the file.
	given map[string]bool
	// bad holds the paths whose value could not be decoded or was refused;
	// problems at or below them are not reported again, so one mistake
	// reads as one problem instead of a cascade.
	bad map[string]bool
}

func newReport(file string) *report {
	return &report{
		file:   file,
		pos:    map[string]position{},
		parent: map[string]string{},
		given:  map[string]bool{},
		bad:    map[string]bool{},
	}
}

// record notes where path is and which path it belongs to.
func (r *report) record(path, parent string, p position, null bool) {
	r.pos[path] = p
	if path != "" {
		r.parent[path] = parent
	}
	if !null {
		r.given[path] = true
	}
}

// isGiven reports whether the file set path to a non-null value.
func (r *report) isGiven(path string) bool {
	return r != nil && r.given[path]
}

// where returns the position of path, or of its nearest ancestor that is in
// the file (a missing key is reported where its parent is).
func (r *report) where(path string) position {
	for {
		if p, ok := r.pos[path]; ok {
			return p
		}
		up, ok := r.parent[path]
		if !ok {
			// A path never seen in the file: walk up syntactically.
			up, ok = syntacticParent(path)
			if !ok {
				return position{}
			}
		}
		path = up
	}
}

// suppressed reports whether path or one of its ancestors already has a
// problem that makes further complaints about it noise.
func (r *report) suppressed(path string) bool {
	for {
		if r.bad[path] {
			return true
		}
		up, ok := r.parent[path]
		if !ok {
			if up, ok = syntacticParent(path); !ok {
				return false
			}
		}
		path = up
	}
}

// problemf records a problem at path unless an earlier one covers it.
func (r *report) problemf(path, format string, args ...any) {
	if r == nil || r.suppressed(path) {
		return
	}
	p := r.where(path)
	r.problems = append(r.problems, Problem{
		File: r.file, Line: p.line, Column: p.col, Path: path,
		Message: fmt.Sprintf(format, args...),
	})
}

// failf records a problem at path and marks the value there as bad.
func (r *report) failf(path, format string, args ...any) {
	if r == nil {
		return
	}
	r.problemf(path, format, args...)
	r.bad[path] = true
}

// lineOf returns the line path is on, 0 if unknown.
func (r *report) lineOf(path string) int {
	if r == nil {
		return 0
	}
	return r.where(path).line
}

// keyPath is the path of key under parent: "upstreams.fx". A key that is
// not a plain name is quoted: `upstreams["my pool"]`.
func keyPath(parent, key string) string {
	if !isPlainKey(key) {
		return parent + "[" + strconv.Quote(key) + "]"
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// indexPath is the path of item i of the list at parent: "routes[2]".
func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

func isPlainKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// syntacticParent strips the last element from a path built by keyPath and
// indexPath. It is used for paths that never appeared in the file.
func syntacticParent(path string) (string, bool) {
	if path == "" {
		return "", false
	}
	if path[len(path)-1] == ']' {
		// Either [N] or ["quoted"]; find the bracket that opens it.
		if len(path) >= 2 && path[len(path)-2] == '"' {
			for i := len(path) - 3; i >= 1; i-- {
				if path[i] == '"' && path[i-1] == '[' {
					if _, err := strconv.Unquote(path[i : len(path)-1]); err == nil {
						return path[:i-1], true
					}
				}
			}
			return "", true
		}
		for i := len(path) - 1; i >= 0; i-- {
			if path[i] == '[' {
				return path[:i], true
			}
		}
		return "", true
	}
	for i := len(path) - 1; i >= 0; i-- {
		switch path[i] {
		case '.':
			return path[:i], true
		case ']':
			return path[:i+1], true
		}
	}
	return "", true
}
