package deploy

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/config"
)

// skjoldBinary builds cmd/skjold once per test binary.
var skjoldBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "skjold-deploy-bin-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "skjold")
	if b, err := exec.Command("go", "build", "-o", out, "../../cmd/skjold").CombinedOutput(); err != nil {
		return "", fmt.Errorf("building skjold: %w\n%s", err, b)
	}
	return out, nil
})

// TestKilledDeployIsCleanedUpByTheNext kills `skjold deploy` with SIGKILL
// in the middle (waiting for health, or after the switch during the drain
// or the watch window), checks that `skjold deploy status` calls it
// abandoned at the step it reached, and that the lock is free at once, that the next
// deploy removes the leftover instance (switching traffic back first when
// the gateway already routed to it) and succeeds, and that the gateway
// failed no request meanwhile.
func TestKilledDeployIsCleanedUpByTheNext(t *testing.T) {
	bin, err := skjoldBinary()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(bin)) })
	for _, tc := range []struct {
		name string
		// green is the command the killed deploy runs; killWhen says when
		// to kill it.
		green    func(t *testing.T) string
		killWhen func(env *testEnv, st State) bool
	}{
		{"while waiting for health",
			func(t *testing.T) string { return appCmd(t, "v2", "STARTUP_DELAY=30s") },
			func(_ *testEnv, st State) bool {
				return st.InProgress != nil && st.InProgress.Instance != nil && st.InProgress.Step == StepHealth
			}},
		{"during the drain, after the switch",
			func(t *testing.T) string { return appCmd(t, "v2") },
			func(env *testEnv, st State) bool {
				return st.InProgress != nil && st.InProgress.Step == StepDrain && routesTo(env, st.InProgress)
			}},
		{"during the watch window",
			func(t *testing.T) string { return appCmd(t, "v2") },
			func(env *testEnv, st State) bool {
				return st.InProgress != nil && st.InProgress.Step == StepWatch && routesTo(env, st.InProgress)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := startEnv(t, "")
			d, _ := env.deployer(t, processDrivers())
			stopAll(t, d)
			ctx := context.Background()
			if _, err := d.Deploy(ctx, Request{Command: appCmd(t, "v1"), Version: "v1"}); err != nil {
				t.Fatal(err)
			}
			l := startLoad(t, env.url, 200)

			cmd := exec.Command(bin, "deploy", "app", "-c", env.path, "--cmd", tc.green(t), "--version", "v2")
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(15 * time.Second)
			var st State
			for {
				st, _ = d.store.Load()
				if tc.killWhen(env, st) {
					break
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("the deploy never reached the point to kill it; state %+v; output:\n%s", st, out.String())
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			left := st.InProgress
			t.Logf("killed pid %d at step %s; its green is %s", cmd.Process.Pid, left.Step, left.Instance)
			if len(groupMembers(left.Instance.PID)) == 0 {
				t.Fatalf("the killed deploy's green is not running; nothing to clean up")
			}
			checkAbandonedStatus(t, bin, env, cmd.Process.Pid, left)

			// The lock died with its holder: the next deploy does not wait.
			begin := time.Now()
			rel, err := d.Deploy(ctx, Request{Command: appCmd(t, "v3"), Version: "v3"})
			took := time.Since(begin)
			res := l.stop()
			t.Logf("next deploy took %s; %d requests at %.0f/s, %d failed, by version %v",
				took.Round(time.Millisecond), res.sent, res.rate(), res.failed, res.versions)
			if err != nil {
				t.Fatalf("the deploy after the kill: %v", err)
			}
			if rel.Number != 3 || rel.Outcome != Succeeded {
				t.Errorf("release %d %s", rel.Number, rel.Outcome)
			}
			if n := len(groupMembers(left.Instance.PID)); n != 0 {
				t.Errorf("%d processes of the killed deploy's green are still running", n)
			}
			if res.failed != 0 {
				t.Errorf("%d requests failed:\n%s", res.failed, strings.Join(res.failures, "\n"))
			}
			hist, _ := d.History()
			if len(hist) != 3 || hist[1].Number != 2 || hist[1].Outcome != Abandoned ||
				!strings.Contains(hist[1].Reason, fmt.Sprintf("pid %d", cmd.Process.Pid)) {
				t.Errorf("ledger entry of the killed deploy: %+v", hist[1])
			}
			allFrom(t, env.url, 20, "v3")
			// v1 was stopped by the successful deploy.
			v1 := hist[2]
			if len(groupMembers(v1.Instance.PID)) != 0 {
				t.Errorf("release 1 still runs")
			}
		})
	}
}

// routesTo reports whether the gateway routes to r's instance.
func routesTo(env *testEnv, r *Release) bool {
	if r.Instance == nil {
		return false
	}
	v, err := AdminGateway{Client: env.client}.Upstream(context.Background(), "app")
	return err == nil && slices.ContainsFunc(v.Targets, func(t config.Target) bool { return t.Address == r.Instance.Address })
}

// checkAbandonedStatus runs `skjold deploy status` after the deploy pid was
// killed at left.Step: it must say the deploy was abandoned, by whom, at
// which step, and who cleans up, and must not take the gateway's routing
// to the abandoned release for a gateway restart.
func checkAbandonedStatus(t *testing.T, bin string, env *testEnv, pid int, left *Release) {
	t.Helper()
	out, err := exec.Command(bin, "deploy", "status", "app", "-c", env.path).CombinedOutput()
	if err != nil {
		t.Fatalf("deploy status: %v\n%s", err, out)
	}
	want := fmt.Sprintf("release %d (v2) abandoned by pid %d at step %s, started ", left.Number, pid, left.Step)
	if !strings.Contains(string(out), want) || !strings.Contains(string(out), "the next deploy or `rollback` cleans up") {
		t.Errorf("deploy status does not say %q and who cleans up:\n%s", want, out)
	}
	if strings.Contains(string(out), "deploying:") || strings.Contains(string(out), "restarted without restoring") {
		t.Errorf("deploy status shows the dead deploy as live or warns of a restart:\n%s", out)
	}
	if left.Step != StepHealth && !strings.Contains(string(out), fmt.Sprintf("routes to abandoned release %d", left.Number)) {
		t.Errorf("deploy status does not say the gateway routes to the abandoned release:\n%s", out)
	}
}
