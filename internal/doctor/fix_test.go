package doctor

import (
	"context"
	"crypto/sha256"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// defaultKernel are a stock Debian 12 kernel's values of the settings.
var defaultKernel = map[string]string{
	"/proc/sys/net/ipv4/tcp_tw_reuse":        "2\n",
	"/proc/sys/net/ipv4/ip_local_port_range": "32768\t60999\n",
	"/proc/sys/net/core/somaxconn":           "4096\n",
	"/proc/sys/net/ipv4/tcp_max_syn_backlog": "1024\n",
	"/proc/sys/net/core/rmem_max":            "212992\n",
	"/proc/sys/net/core/wmem_max":            "212992\n",
}

func with(base map[string]string, more map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

// treeHashes hashes every regular file under root, by path.
func treeHashes(t *testing.T, root string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out["/"+rel] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

const wantDropIn = dropInHeader + `net.ipv4.tcp_tw_reuse = 1
net.ipv4.ip_local_port_range = 10240 65535
net.ipv4.tcp_max_syn_backlog = 4096
net.core.rmem_max = 16777216
net.core.wmem_max = 16777216
`

func TestFixWritesOnlyTheDropInAndAppliesIt(t *testing.T) {
	h := fixture(t, defaultKernel)
	plan, err := PlanFix(h)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Old != "" || plan.New != wantDropIn {
		t.Fatalf("plan: old %q, new:\n%s\nwant:\n%s", plan.Old, plan.New, wantDropIn)
	}
	wantChanges := []SysctlChange{
		{"net.ipv4.tcp_tw_reuse", "2", "1"},
		{"net.ipv4.ip_local_port_range", "32768 60999", "10240 65535"},
		{"net.ipv4.tcp_max_syn_backlog", "1024", "4096"},
		{"net.core.rmem_max", "212992", "16777216"},
		{"net.core.wmem_max", "212992", "16777216"},
	}
	if len(plan.Changes) != len(wantChanges) {
		t.Fatalf("changes %v, want %v", plan.Changes, wantChanges)
	}
	for i, c := range wantChanges {
		if plan.Changes[i] != c {
			t.Errorf("change %d: %v, want %v", i, plan.Changes[i], c)
		}
	}
	diff := plan.Diff()
	if !strings.HasPrefix(diff, "--- /dev/null\n+++ /etc/sysctl.d/60-skjold.conf\n@@ -0,0 +1,9 @@\n+# Kernel settings") ||
		!strings.Contains(diff, "\n+net.ipv4.ip_local_port_range = 10240 65535\n") {
		t.Errorf("diff:\n%s", diff)
	}

	before := treeHashes(t, h.Root)
	wrote, applied, err := ApplyFix(h, plan)
	if err != nil || !wrote || applied != 5 {
		t.Fatalf("ApplyFix: wrote %v, applied %d, %v", wrote, applied, err)
	}
	after := treeHashes(t, h.Root)
	changed := map[string]bool{DropInPath: true}
	for _, c := range plan.Changes {
		changed[sysctlPath(c.Key)] = true
	}
	for p, sum := range after {
		if prev, ok := before[p]; (ok && prev != sum || !ok) && !changed[p] {
			t.Errorf("--fix touched %s", p)
		}
	}
	for p := range changed {
		if before[p] == after[p] {
			t.Errorf("%s did not change", p)
		}
	}
	if b, _ := os.ReadFile(h.path(DropInPath)); string(b) != wantDropIn {
		t.Errorf("drop-in:\n%s", b)
	}
	if fi, err := os.Stat(h.path(DropInPath)); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("drop-in mode: %v %v", fi.Mode(), err)
	}
	if leftovers, _ := filepath.Glob(h.path("/etc/sysctl.d/.*")); len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	for _, s := range kernelSettings() {
		if r := runOne(context.Background(), kernelCheck(h, s)); r.Status != OK {
			t.Errorf("after --fix %s is %s %q", s.key, r.Status, r.Found)
		}
	}

	again, err := PlanFix(h)
	if err != nil || !again.Empty() {
		t.Errorf("a second --fix would change %+v (%v); it must be idempotent", again, err)
	}
}

func TestFixKeepsItsOwnSettingsWhenTheyAreMet(t *testing.T) {
	h := fixture(t, map[string]string{DropInPath: "# old\nnet.core.somaxconn = 4096\n"})
	plan, err := PlanFix(h)
	if err != nil {
		t.Fatal(err)
	}
	if plan.New != dropInHeader+"net.core.somaxconn = 4096\n" || len(plan.Changes) != 0 {
		t.Errorf("plan %+v: a setting the drop-in holds stays in it", plan)
	}
	if !strings.Contains(plan.Diff(), "-# old\n") || !strings.Contains(plan.Diff(), " net.core.somaxconn = 4096\n") {
		t.Errorf("diff:\n%s", plan.Diff())
	}
}

func TestFixNamesLaterFilesThatOverrideIt(t *testing.T) {
	h := fixture(t, with(defaultKernel, map[string]string{
		"/etc/sysctl.conf":                 "net.core.rmem_max = 212992\n",
		"/etc/sysctl.d/10-early.conf":      "net.core.wmem_max = 1\n",
		"/etc/sysctl.d/70-tuning.conf":     "net.ipv4.tcp_tw_reuse = 0\nnet.core.somaxconn = 1\n",
		"/usr/lib/sysctl.d/80-vendor.conf": "net.ipv4.tcp_tw_reuse = 1\n",
	}))
	plan, err := PlanFix(h)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/etc/sysctl.d/70-tuning.conf:1 sets net.ipv4.tcp_tw_reuse = 0",
		// /etc/sysctl.conf is read twice, through the 99-sysctl.conf link.
		"/etc/sysctl.d/99-sysctl.conf:1 sets net.core.rmem_max = 212992",
		"/etc/sysctl.conf:1 sets net.core.rmem_max = 212992",
	}
	if strings.Join(plan.Overrides, "\n") != strings.Join(want, "\n") {
		t.Errorf("overrides:\n%s\nwant:\n%s", strings.Join(plan.Overrides, "\n"), strings.Join(want, "\n"))
	}
}

func TestFixReportsWhatTheKernelRefused(t *testing.T) {
	h := fixture(t, defaultKernel)
	plan, err := PlanFix(h)
	if err != nil {
		t.Fatal(err)
	}
	// A directory where the setting's file should be: writing it fails, as
	// a read-only /proc/sys in a container does.
	p := h.path("/proc/sys/net/core/rmem_max")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	wrote, applied, err := ApplyFix(h, plan)
	if !wrote || applied != 4 || err == nil || !strings.Contains(err.Error(), "setting net.core.rmem_max = 16777216 in the running kernel") ||
		!strings.Contains(err.Error(), "applies at boot") {
		t.Errorf("wrote %v, applied %d, err %v", wrote, applied, err)
	}
}

func TestFixWithNothingToDo(t *testing.T) {
	h := fixture(t, nil)
	plan, err := PlanFix(h)
	if err != nil || !plan.Empty() || plan.New != "" {
		t.Fatalf("plan %+v, %v", plan, err)
	}
	wrote, applied, err := ApplyFix(h, plan)
	if wrote || applied != 0 || err != nil {
		t.Errorf("wrote %v, applied %d, %v", wrote, applied, err)
	}
	if _, err := os.Stat(h.path(DropInPath)); !os.IsNotExist(err) {
		t.Errorf("a drop-in was written with nothing in it: %v", err)
	}
}

func TestUnifiedDiff(t *testing.T) {
	got := unifiedDiff("a", "b", "x\ny\nz\n", "x\nY\nz\nw\n")
	want := "--- a\n+++ b\n@@ -1,3 +1,4 @@\n x\n-y\n+Y\n z\n+w\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if unifiedDiff("a", "b", "same\n", "same\n") != "" {
		t.Error("equal texts have no diff")
	}
}
