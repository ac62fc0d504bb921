package doctor

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fixture copies testdata/node, a well-tuned gateway host, into a temporary
// directory and applies changes: path → content, or path → "" to delete.
// Symbolic links are copied as links, so the /sys tree resolves as sysfs
// does.
func fixture(t *testing.T, changes map[string]string) Host {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(filepath.Join("testdata", "node"))); err != nil {
		t.Fatal(err)
	}
	h := Host{Root: dst}
	for p, content := range changes {
		setFile(t, h, p, content)
	}
	return h
}

// setFile writes a file of the fixture, or deletes it when content is "".
func setFile(t *testing.T, h Host, p, content string) {
	t.Helper()
	full := h.path(p)
	if content == "" {
		if err := os.Remove(full); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return
	}
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// statWait returns a Wait that replaces /proc/stat with next, as if the
// sample interval had passed, and records the interval asked for.
func statWait(t *testing.T, h Host, next string, asked *time.Duration) func(context.Context, time.Duration) error {
	return func(ctx context.Context, d time.Duration) error {
		if asked != nil {
			*asked = d
		}
		setFile(t, h, "/proc/stat", next)
		return ctx.Err()
	}
}

// procStat is a /proc/stat with the given aggregate counters.
func procStat(user, system, idle, iowait, steal uint64) string {
	var b strings.Builder
	b.WriteString("cpu  " + u(user) + " 0 " + u(system) + " " + u(idle) + " " + u(iowait) + " 0 0 " + u(steal) + " 0 0\n")
	b.WriteString("cpu0 1 0 1 1 0 0 0 0 0 0\ncpu1 1 0 1 1 0 0 0 0 0 0\n")
	b.WriteString("intr 1\nctxt 1\nbtime 1062191376\n")
	return b.String()
}

func u(n uint64) string { return strconv.FormatUint(n, 10) }

// byName indexes results by check name.
func byName(t *testing.T, results []Result) map[string]Result {
	t.Helper()
	m := map[string]Result{}
	for _, r := range results {
		if _, dup := m[r.Check]; dup {
			t.Fatalf("two results named %s", r.Check)
		}
		m[r.Check] = r
	}
	return m
}

// runOneCheck runs the single check named name from checks.
func runNamed(t *testing.T, checks []Check, name string) Result {
	t.Helper()
	for _, c := range checks {
		if c.Name == name {
			return runOne(context.Background(), c)
		}
	}
	t.Fatalf("no check named %s", name)
	return Result{}
}
