package deploy

import (
	"strings"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/config"
)

// TestStatusAndHistoryCountDeployedAgoTheSameWay: a release whose deploy
// started 70s ago and finished 10s ago was deployed 10s ago in both views.
func TestStatusAndHistoryCountDeployedAgoTheSameWay(t *testing.T) {
	now := time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC)
	r := &Release{Number: 3, Version: "v3", Driver: DriverProcess, Command: "exec ./app", By: "ops@host",
		Instance: &Instance{Driver: DriverProcess, PID: 42, Address: "127.0.0.1:20003"},
		Started:  now.Add(-70 * time.Second), Finished: now.Add(-10 * time.Second), Seconds: 60, Outcome: Succeeded}
	var status, history strings.Builder
	if err := WriteReport(&status, Report{Service: "app", Current: r}, now); err != nil {
		t.Fatal(err)
	}
	if err := WriteHistory(&history, []*Release{r}, now); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(status.String(), "deployed 10s ago by ops@host") {
		t.Errorf("status:\n%s\nwant deployed 10s ago", status.String())
	}
	if !strings.Contains(history.String(), "  succeeded  10s ago  1m0s ") {
		t.Errorf("history:\n%s\nwant WHEN 10s ago", history.String())
	}
}

func TestStatusSaysWhetherTheDeployInProgressRunsOrWasAbandoned(t *testing.T) {
	now := time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC)
	blue := &Release{Number: 1, Version: "v1", Driver: DriverProcess, Instance: &Instance{Driver: DriverProcess, PID: 41, Address: "127.0.0.1:20001"},
		Started: now.Add(-time.Hour), Finished: now.Add(-time.Hour), Outcome: Succeeded}
	green := &Release{Number: 2, Version: "v2", Driver: DriverProcess, Instance: &Instance{Driver: DriverProcess, PID: 43, Address: "127.0.0.1:20002"},
		Previous: []config.Target{{Address: "127.0.0.1:20001"}}, By: "ops@host", PID: 900, Step: StepDrain,
		Started: now.Add(-5 * time.Second), Outcome: InProgress}
	for _, tc := range []struct {
		name       string
		inProgress bool
		abandoned  bool
		lock       *Holder
		routes     string
		want       []string
		not        []string
	}{
		{"live, before the switch", true, false, &Holder{PID: 900}, "127.0.0.1:20001",
			[]string{"deploying: release 2 (v2), step drain, started 5s ago by ops@host (pid 900)"},
			[]string{"abandoned", "WARNING"}},
		{"live, after the switch", true, false, &Holder{PID: 900}, "127.0.0.1:20002",
			[]string{"deploying: release 2", "routes to release 2 (127.0.0.1:20002), which is being deployed"},
			[]string{"abandoned", "WARNING"}},
		{"abandoned after the switch", true, true, nil, "127.0.0.1:20002",
			[]string{"abandoned: release 2 (v2) abandoned by pid 900 at step drain, started 5s ago by ops@host; the next deploy or `rollback` cleans up",
				"routes to abandoned release 2 (127.0.0.1:20002), not the current release (127.0.0.1:20001); the next deploy or `rollback` switches back to 127.0.0.1:20001"},
			[]string{"deploying:", "WARNING"}},
		{"nothing in progress, gateway elsewhere", false, false, nil, "127.0.0.1:20009",
			[]string{"WARNING: the gateway does not route to the current release (127.0.0.1:20001)"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := Report{Service: "app", Upstream: "app", Current: blue, Abandoned: tc.abandoned, Lock: tc.lock,
				Targets: []config.Target{{Address: tc.routes}}}
			if tc.inProgress {
				rep.InProgress = green
			}
			var b strings.Builder
			if err := WriteReport(&b, rep, now); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("report does not say %q:\n%s", w, b.String())
				}
			}
			for _, n := range tc.not {
				if strings.Contains(b.String(), n) {
					t.Errorf("report says %q:\n%s", n, b.String())
				}
			}
		})
	}
}
