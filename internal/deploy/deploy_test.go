package deploy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// deployUnderLoad deploys v1, then v2 while the gateway takes at least 200
// requests a second (one in ten slow) and a WebSocket stays open, and
// checks that no request failed, that v2 answers everything afterwards,
// and that the WebSocket was closed cleanly by v1 when it stopped at the
// end of the watch window, not cut at the switch.
func deployUnderLoad(t *testing.T, env *testEnv, d *Deployer, ev *events, v1, v2 Request) {
	ctx := context.Background()
	r1, err := d.Deploy(ctx, v1)
	if err != nil {
		t.Fatalf("first deploy: %v", err)
	}
	allFrom(t, env.url, 20, "v1")

	l := startLoad(t, env.url, 250)
	l.waitSent(t, 100)
	ws := watchWS(t, env.wsURL)
	begin := time.Now()
	r2, err := d.Deploy(ctx, v2)
	took := time.Since(begin)
	time.Sleep(200 * time.Millisecond) // load after the deploy, too
	res := l.stop()
	if err != nil {
		t.Fatalf("deploy of v2: %v", err)
	}
	t.Logf("%s deploy v1 → v2 took %s: %d requests sent (%d slow) at %.0f/s, %d failed; answers by version %v",
		r2.Driver, took.Round(time.Millisecond), res.sent, res.slow, res.rate(), res.failed, res.versions)
	if res.failed != 0 {
		t.Errorf("%d of %d requests failed during the deploy:\n%s", res.failed, res.sent, strings.Join(res.failures, "\n"))
	}
	if res.rate() < 200 {
		t.Errorf("load ran at %.0f requests/s; the test needs at least 200", res.rate())
	}
	if res.versions["v1"] == 0 || res.versions["v2"] == 0 {
		t.Errorf("answers by version %v; want both v1 (before the switch) and v2", res.versions)
	}
	if r2.Outcome != Succeeded || r1.Number != 1 || r2.Number != 2 {
		t.Errorf("releases %d %s, %d %s", r1.Number, r1.Outcome, r2.Number, r2.Outcome)
	}
	allFrom(t, env.url, 200, "v2")

	// The WebSocket stayed on v1 through the switch and drain, and was
	// closed by v1 itself (going away) when v1 was stopped.
	select {
	case <-ws.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the WebSocket to v1 is still open after v1 was stopped")
	}
	stopEv, ok := ev.first(0, StepStop, StatusBegin, "stopping release 1")
	if !ok {
		t.Fatalf("no event for stopping release 1: %+v", ev.ev)
	}
	ws.mu.Lock()
	if ws.status != websocket.StatusGoingAway {
		t.Errorf("WebSocket ended with %v (%v); want a close with 1001 going away from v1", ws.status, ws.err)
	}
	if ws.closedAt.Before(stopEv.Time) {
		t.Errorf("WebSocket closed at %s, before v1 was stopped at %s", ws.closedAt.Format("15:04:05.000"), stopEv.Time.Format("15:04:05.000"))
	}
	if ws.replies["v1"] < 5 || ws.replies["v2"] != 0 {
		t.Errorf("WebSocket replies by version %v; want several from v1 only", ws.replies)
	}
	ws.mu.Unlock()
	ws2 := watchWS(t, env.wsURL)
	time.Sleep(150 * time.Millisecond)
	ws2.mu.Lock()
	if ws2.replies["v2"] == 0 {
		t.Errorf("a new WebSocket got replies %v; want v2", ws2.replies)
	}
	ws2.mu.Unlock()

	// v1 is gone, and the ledger has both releases.
	if exited, _, err := d.opts.Drivers[r1.Driver].Exited(ctx, r1.Instance); err != nil || !exited {
		t.Errorf("release 1's instance (%s) still runs: %v", r1.Instance, err)
	}
	hist, err := d.History()
	if err != nil || len(hist) != 2 || hist[0].Outcome != Succeeded || hist[1].Outcome != Succeeded {
		t.Errorf("history %+v, %v", hist, err)
	}
	st, _ := d.store.Load()
	if st.Current == nil || st.Current.Number != 2 || st.InProgress != nil || len(st.Retiring) != 0 {
		t.Errorf("state after the deploy: %+v", st)
	}
}

func TestProcessDeployUnderLoadFailsNoRequest(t *testing.T) {
	env := startEnv(t, "")
	d, ev := env.deployer(t, processDrivers())
	stopAll(t, d)
	deployUnderLoad(t, env, d, ev,
		Request{Command: appCmd(t, "v1"), Version: "v1"},
		Request{Command: appCmd(t, "v2"), Version: "v2"})
}

func TestGreenThatNeverGetsHealthyFailsAndBlueServesEveryRequest(t *testing.T) {
	for _, tc := range []struct {
		name, mode string
		want       []string
		within     time.Duration
	}{
		{"health answers 503", "unhealthy", []string{
			"did not pass 3 times in a row within",
			`last probe: 503 Service Unavailable, body: "warming up: database not reachable"`,
			"health: db connect failed",
		}, 10 * time.Second},
		{"process exits at once", "crash", []string{
			"exited with status 1",
			"fatal: cannot read /etc/app/config.yaml",
		}, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := startEnv(t, "")
			d, _ := env.deployer(t, processDrivers())
			stopAll(t, d)
			ctx := context.Background()
			if _, err := d.Deploy(ctx, Request{Command: appCmd(t, "v1")}); err != nil {
				t.Fatal(err)
			}
			l := startLoad(t, env.url, 250)
			l.waitSent(t, 50)
			begin := time.Now()
			rel, err := d.Deploy(ctx, Request{Command: appCmd(t, "v2", "MODE="+tc.mode)})
			took := time.Since(begin)
			res := l.stop()
			t.Logf("failed deploy took %s; %d requests sent at %.0f/s, %d failed, by version %v; error:\n%v",
				took.Round(time.Millisecond), res.sent, res.rate(), res.failed, res.versions, err)
			var he *HealthError
			if !errors.Is(err, ErrNotHealthy) || !errors.As(err, &he) {
				t.Fatalf("deploy error %v; want a *HealthError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q", w)
				}
			}
			if took > tc.within {
				t.Errorf("the deploy took %s to give up; want under %s", took, tc.within)
			}
			if res.failed != 0 || res.versions["v2"] != 0 {
				t.Errorf("%d requests failed, answers %v; v1 must have served every request:\n%s", res.failed, res.versions, strings.Join(res.failures, "\n"))
			}
			if exited, _, _ := d.opts.Drivers[DriverProcess].Exited(ctx, rel.Instance); !exited {
				t.Errorf("the failed instance %s still runs", rel.Instance)
			}
			if len(groupMembers(rel.Instance.PID)) != 0 {
				t.Errorf("processes of the failed instance's group remain")
			}
			st, _ := d.store.Load()
			if st.Current == nil || st.Current.Number != 1 || st.InProgress != nil {
				t.Errorf("state: %+v; want release 1 current and nothing in progress", st)
			}
			if rel.Outcome != Failed || !strings.Contains(rel.Reason, "never became healthy") {
				t.Errorf("release recorded as %s: %s", rel.Outcome, rel.Reason)
			}
			allFrom(t, env.url, 20, "v1")
		})
	}
}

func TestGreenThatFailsRequestsIsRolledBackWithinTheWatchWindow(t *testing.T) {
	env := startEnv(t, "")
	d, ev := env.deployer(t, processDrivers())
	stopAll(t, d)
	ctx := context.Background()
	if _, err := d.Deploy(ctx, Request{Command: appCmd(t, "v1")}); err != nil {
		t.Fatal(err)
	}
	l := startLoad(t, env.url, 250)
	l.waitSent(t, 50)
	rel, err := d.Deploy(ctx, Request{Command: appCmd(t, "v2", "MODE=failing")})
	res := l.stop()
	t.Logf("%d requests sent at %.0f/s, %d failed (answered by the failing release), by version %v; error: %v",
		res.sent, res.rate(), res.failed, res.versions, err)
	if !errors.Is(err, ErrRolledBack) || !strings.Contains(err.Error(), "answered") || !strings.Contains(err.Error(), "with 5xx") {
		t.Fatalf("deploy error %v; want ErrRolledBack naming the 5xx ratio", err)
	}
	sw, ok1 := ev.first(rel.Number, StepSwitch, StatusDone, "")
	rb, ok2 := ev.first(rel.Number, StepRollback, StatusBegin, "")
	if !ok1 || !ok2 {
		t.Fatalf("events: switch %v, rollback %v", ok1, ok2)
	}
	if in := rb.Time.Sub(sw.Time); in > d.opts.Config.Watch.D() {
		t.Errorf("rollback began %s after the switch; want within the %s watch window", in, d.opts.Config.Watch.D())
	}
	if rel.Outcome != RolledBack {
		t.Errorf("outcome %s", rel.Outcome)
	}
	if exited, _, _ := d.opts.Drivers[DriverProcess].Exited(ctx, rel.Instance); !exited {
		t.Errorf("the rolled-back instance %s still runs", rel.Instance)
	}
	st, _ := d.store.Load()
	if st.Current == nil || st.Current.Number != 1 || st.InProgress != nil {
		t.Errorf("state: %+v; want release 1 current", st)
	}
	allFrom(t, env.url, 50, "v1")
}

func TestSecondDeployIsRefusedNamingTheFirstOrWaitsForIt(t *testing.T) {
	env := startEnv(t, "")
	d1, _ := env.deployer(t, processDrivers())
	d2, _ := env.deployer(t, processDrivers())
	stopAll(t, d1)
	ctx := context.Background()
	first := make(chan error, 1)
	go func() {
		// Slow to become healthy, so that it holds the lock a while.
		_, err := d1.Deploy(ctx, Request{Command: appCmd(t, "v1", "STARTUP_DELAY=1s"), Version: "v1"})
		first <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if st, _ := d1.store.Load(); st.InProgress != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first deploy never started")
		}
		time.Sleep(10 * time.Millisecond)
	}

	_, err := d2.Deploy(ctx, Request{Command: appCmd(t, "v2")})
	var le *LockedError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &le) {
		t.Fatalf("second deploy: %v; want ErrLocked", err)
	}
	for _, w := range []string{"another deploy of this service is running", "pid ", "deploy v1", "test@host", "since ", "--wait"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("refusal %q does not say %q", err, w)
		}
	}

	rel, err := d2.Deploy(ctx, Request{Command: appCmd(t, "v2"), Version: "v2", Wait: true})
	if err != nil {
		t.Fatalf("second deploy with wait: %v", err)
	}
	select {
	case err := <-first:
		if err != nil {
			t.Fatalf("first deploy: %v", err)
		}
	default:
		t.Fatal("the waiting deploy finished before the one holding the lock")
	}
	if rel.Number != 2 {
		t.Errorf("waiting deploy got release %d, want 2", rel.Number)
	}
	allFrom(t, env.url, 10, "v2")
}

func TestManualRollbackRedeploysThePreviousRelease(t *testing.T) {
	env := startEnv(t, "")
	d, _ := env.deployer(t, processDrivers())
	stopAll(t, d)
	ctx := context.Background()
	if _, err := d.Rollback(ctx, false); !errors.Is(err, ErrNothingToRollBack) {
		t.Fatalf("rollback before any deploy: %v", err)
	}
	for _, v := range []string{"v1", "v2"} {
		if _, err := d.Deploy(ctx, Request{Command: appCmd(t, v), Version: v}); err != nil {
			t.Fatal(err)
		}
	}
	rel, err := d.Rollback(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Number != 3 || rel.RollbackOf != 1 || rel.Version != "v1" || rel.Outcome != Succeeded {
		t.Errorf("rollback release %+v", rel)
	}
	allFrom(t, env.url, 10, "v1")
}
