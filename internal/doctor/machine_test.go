package doctor

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNodeChecksOnThisMachine runs every node check against the running
// machine and compares what they report with what the kernel says.
func TestNodeChecksOnThisMachine(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Fatalf("the node doctor needs Linux's /proc: %v", err)
	}
	res := Run(context.Background(), NodeChecks(NodeOptions{Sample: 300 * time.Millisecond}))
	m := byName(t, res)
	if len(m) != 14 {
		t.Errorf("%d checks ran, want 14", len(m))
	}
	for _, r := range res {
		if r.Status < OK || r.Status > Fail || r.Found == "" || r.Expected == "" || r.Why == "" {
			t.Errorf("%s: incomplete result %+v", r.Check, r)
		}
		t.Logf("%-30s %-4s %s", r.Check, r.Status, r.Found)
	}
	for _, s := range kernelSettings() {
		b, err := os.ReadFile(sysctlPath(s.key))
		r := m[s.key]
		if err != nil {
			if r.Status != Skip {
				t.Errorf("%s: unreadable here (%v) but reported %s", s.key, err, r.Status)
			}
			continue
		}
		first := strings.Fields(string(b))[0]
		if !strings.HasPrefix(r.Found, first) {
			t.Errorf("%s: the kernel says %q, the check found %q", s.key, b, r.Found)
		}
	}
	for _, name := range []string{"cpu.steal", "cpu.iowait"} {
		if r := m[name]; r.Status == Skip || !strings.Contains(r.Found, "over 300ms") {
			t.Errorf("%s did not sample /proc/stat: %s %q", name, r.Status, r.Found)
		}
	}
	if r := m["nofile.user"]; strings.Contains(r.Found, "inherited") {
		var lim syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.Found, "hard "+strconv.FormatUint(lim.Max, 10)) && lim.Max != ^uint64(0) {
			t.Errorf("nofile.user found %q; getrlimit says hard %d", r.Found, lim.Max)
		}
	}
	if r := m["ports.ephemeral"]; r.Status == Skip {
		t.Errorf("ports.ephemeral could not read this machine's sockets: %q", r.Found)
	}
	if r := m["storage"]; !strings.Contains(r.Found, "/var/log") {
		t.Errorf("storage did not look at /var/log: %q", r.Found)
	}
}
