package doctor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/skjold-dev/skjold/internal/atomicfile"
)

// DropInPath is the only file `skjold doctor --fix` writes.
const DropInPath = "/etc/sysctl.d/60-skjold.conf"

const dropInHeader = `# Kernel settings for a gateway host carrying chatty microservice traffic.
# Written by skjold doctor --fix, which rewrites this whole file: change a
# value elsewhere, in a file that sorts after this one, to override it.
# Each setting and its reasoning: docs/doctor.md.
`

// SysctlChange is one kernel setting the fix changes in the running kernel.
type SysctlChange struct {
	Key, From, To string
}

// FixPlan is what `skjold doctor --fix` would do.
type FixPlan struct {
	// Path is the drop-in on the host (DropInPath).
	Path string
	// Old and New are the drop-in's contents before and after; Old is empty
	// when the file does not exist.
	Old, New string
	// Changes are the live values that differ from New.
	Changes []SysctlChange
	// Overrides name later sysctl files that set a key of the drop-in to
	// another value; they win at boot, and the fix does not edit them.
	Overrides []string
}

// Empty reports whether there is nothing to write and nothing to apply.
func (p FixPlan) Empty() bool { return p.Old == p.New && len(p.Changes) == 0 }

// Diff is a unified diff of the drop-in, old to new.
func (p FixPlan) Diff() string {
	from := p.Path
	if p.Old == "" {
		from = "/dev/null"
	}
	return unifiedDiff(from, p.Path, p.Old, p.New)
}

// PlanFix works out the drop-in: every kernel setting the doctor does not
// rate ok, plus those the drop-in already holds, at the value --fix writes.
func PlanFix(h Host) (FixPlan, error) {
	p := FixPlan{Path: DropInPath}
	old, err := h.readFile(DropInPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return p, fmt.Errorf("reading %s: %w", DropInPath, err)
	}
	p.Old = string(old)
	ours := map[string]bool{}
	for _, a := range parseSysctlConf(DropInPath, p.Old) {
		ours[a.key] = true
	}
	var body strings.Builder
	for _, s := range kernelSettings() {
		v, err := h.Sysctl(s.key)
		if err != nil {
			if ours[s.key] {
				return p, fmt.Errorf("reading %s: %w", s.key, err)
			}
			continue // a setting this kernel does not have is not ours to write
		}
		st, _ := s.judge(h, v)
		if st == OK && !ours[s.key] {
			continue
		}
		fmt.Fprintf(&body, "%s = %s\n", s.key, s.fix)
		if v != s.fix {
			p.Changes = append(p.Changes, SysctlChange{Key: s.key, From: v, To: s.fix})
		}
	}
	if body.Len() > 0 {
		p.New = dropInHeader + body.String()
	}
	// Files that sort after ours win at boot; say so instead of editing them.
	after := false
	want := map[string]string{}
	for _, a := range parseSysctlConf(DropInPath, p.New) {
		want[a.key] = a.value
	}
	for _, f := range h.sysctlFiles() {
		if f == DropInPath {
			after = true
			continue
		}
		if !after && !(filepath.Base(f) > filepath.Base(DropInPath)) && f != "/etc/sysctl.conf" {
			continue
		}
		b, err := h.readFile(f)
		if err != nil {
			continue
		}
		for _, a := range parseSysctlConf(f, string(b)) {
			if v, ok := want[a.key]; ok && v != a.value {
				p.Overrides = append(p.Overrides, a.String())
			}
		}
	}
	return p, nil
}

// ApplyFix writes the drop-in atomically and sets its values in the running
// kernel through /proc/sys, reading each back. It writes no other file. It
// returns whether it wrote the drop-in and how many settings it applied;
// when the drop-in cannot be written, it applies nothing.
func ApplyFix(h Host, p FixPlan) (wrote bool, applied int, err error) {
	if p.New != p.Old {
		err := os.MkdirAll(filepath.Dir(h.path(p.Path)), 0o755)
		if err == nil {
			err = atomicfile.WriteFile(h.path(p.Path), []byte(p.New), 0o644)
		}
		if err != nil {
			if errors.Is(err, os.ErrPermission) {
				return false, 0, fmt.Errorf("writing %s: %w (--fix needs root)", p.Path, err)
			}
			return false, 0, fmt.Errorf("writing %s: %w", p.Path, err)
		}
		wrote = true
	}
	var errs []error
	for _, c := range p.Changes {
		path := h.path(sysctlPath(c.Key))
		if err := os.WriteFile(path, []byte(c.To+"\n"), 0); err != nil {
			errs = append(errs, fmt.Errorf("setting %s = %s in the running kernel: %w (%s is written and applies at boot)", c.Key, c.To, err, p.Path))
			continue
		}
		got, err := h.Sysctl(c.Key)
		if err != nil {
			errs = append(errs, fmt.Errorf("reading %s back: %w", c.Key, err))
		} else if got != c.To {
			errs = append(errs, fmt.Errorf("%s reads %q after writing %q: the kernel adjusted or refused it", c.Key, got, c.To))
		} else {
			applied++
		}
	}
	return wrote, applied, errors.Join(errs...)
}

// unifiedDiff is a unified diff of two small texts with all lines as
// context, in one hunk: the drop-in is a dozen lines.
func unifiedDiff(fromName, toName, a, b string) string {
	if a == b {
		return ""
	}
	al, bl := splitLines(a), splitLines(b)
	// Longest common subsequence, by dynamic programming.
	lcs := make([][]int, len(al)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(bl)+1)
	}
	for i := len(al) - 1; i >= 0; i-- {
		for j := len(bl) - 1; j >= 0; j-- {
			if al[i] == bl[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", fromName, toName)
	fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(len(al)), hunkRange(len(bl)))
	i, j := 0, 0
	for i < len(al) || j < len(bl) {
		switch {
		case i < len(al) && j < len(bl) && al[i] == bl[j]:
			out.WriteString(" " + al[i] + "\n")
			i++
			j++
		case i < len(al) && (j == len(bl) || lcs[i+1][j] >= lcs[i][j+1]):
			out.WriteString("-" + al[i] + "\n")
			i++
		default:
			out.WriteString("+" + bl[j] + "\n")
			j++
		}
	}
	return out.String()
}

func hunkRange(n int) string {
	if n == 0 {
		return "0,0"
	}
	return fmt.Sprintf("1,%d", n)
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}
