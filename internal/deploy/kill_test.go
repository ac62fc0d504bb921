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
// in the middle (waiting for health, or after the switch during the
// watch window) and checks that the lock is free at once, that the next
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
		{"during the watch window, after the switch",
			func(t *testing.T) string { return appCmd(t, "v2") },
			func(env *testEnv, st State) bool {
				if st.InProgress == nil || st.InProgress.Instance == nil {
					return false
				}
				v, err := AdminGateway{Client: env.client}.Upstream(context.Background(), "app")
				return err == nil && slices.ContainsFunc(v.Targets, func(t config.Target) bool { return t.Address == st.InProgress.Instance.Address })
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
