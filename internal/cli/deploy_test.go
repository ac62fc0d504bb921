package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/deploy"
)

// deployConfig writes a config with service fx whose state lives in a
// temporary directory, and returns its path and that directory.
func deployConfig(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	state := filepath.Join(dir, "state", "fx")
	cfg := `listeners: {public: {address: 127.0.0.1:0}}
admin: {listen: 127.0.0.1:1}
upstreams:
  fx: {targets: [{address: 127.0.0.1:9101}]}
routes:
  - {match: {path_prefix: /}, upstream: fx}
services:
  fx:
    upstream: fx
    state_dir: state/fx
`
	path := filepath.Join(dir, "skjold.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, state
}

func TestDeployRefusesUnknownServiceAndBothSources(t *testing.T) {
	path, _ := deployConfig(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"deploy", "fz", "-c", path, "--cmd", "true"}, `service "fz" is not in the services section`},
		{[]string{"deploy", "fx", "-c", path, "--cmd", "true", "--image", "fx:1"}, "none of the others can be"},
		{[]string{"deploy", "fx", "--cmd", "true"}, "-c/--config is required"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestDeployBusyExitsThreeNamingTheHolder(t *testing.T) {
	path, state := deployConfig(t)
	if err := os.MkdirAll(state, 0o750); err != nil {
		t.Fatal(err)
	}
	l, err := deploy.AcquireLock(context.Background(), state, "fx",
		deploy.Holder{PID: os.Getpid(), By: "ana@node1", Started: time.Now(), Doing: "deploy v9"}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	code, _, stderr := runCLI(t, "deploy", "fx", "-c", path, "--cmd", "true")
	if code != deployExitBusy || !strings.Contains(stderr, "deploy v9") || !strings.Contains(stderr, "ana@node1") {
		t.Errorf("exit %d, stderr %q; want %d naming the holder", code, stderr, deployExitBusy)
	}
	code, stdout, _ := runCLI(t, "deploy", "fx", "-c", path, "--cmd", "true", "--json")
	if code != deployExitBusy || !strings.Contains(stdout, `"result":"busy"`) {
		t.Errorf("--json: exit %d, stdout %q", code, stdout)
	}
}

func TestDeployStatusAndHistoryReadTheStateDirectory(t *testing.T) {
	path, state := deployConfig(t)
	s, err := deploy.OpenStore(state)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	r1 := &deploy.Release{Number: 1, Version: "v1", Driver: "process", Command: "./fx", By: "ana@node1",
		Started: now.Add(-time.Hour), Finished: now.Add(-time.Hour + 5*time.Second), Seconds: 5, Outcome: deploy.Succeeded}
	r2 := &deploy.Release{Number: 2, Version: "v2", Driver: "docker", Image: "fx:2", By: "bo@node1",
		Started: now.Add(-time.Minute), Finished: now.Add(-time.Minute + 40*time.Second), Seconds: 40, Outcome: deploy.Succeeded,
		Instance: &deploy.Instance{Driver: "docker", Address: "127.0.0.1:20001", ContainerName: "skjold-fx-abc-r2"}}
	r3 := &deploy.Release{Number: 3, Version: "v3", Driver: "docker", Image: "fx:3", By: "bo@node1",
		Started: now, Finished: now.Add(3 * time.Second), Seconds: 3, Outcome: deploy.RolledBack,
		Reason: "deploy rolled back: the new release answered 40 of 41 requests with 5xx"}
	for _, r := range []*deploy.Release{r1, r2, r3} {
		if err := s.Record("fx", r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Save(deploy.State{Service: "fx", Upstream: "fx", Current: r2, LastRelease: 3}); err != nil {
		t.Fatal(err)
	}

	code, out, stderr := runCLI(t, "deploy", "status", "fx", "-c", path)
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"release 2 (v2) docker, container skjold-fx-abc-r2 on 127.0.0.1:20001", "fx:2",
		"gateway:  cannot read", "rolled_back", "answered 40 of 41"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = runCLI(t, "deploy", "history", "fx", "-c", path, "--json")
	var rs []deploy.Release
	if code != 0 || json.Unmarshal([]byte(out), &rs) != nil || len(rs) != 3 || rs[0].Number != 3 || rs[2].By != "ana@node1" {
		t.Fatalf("history --json: exit %d, %s", code, out)
	}
	code, out, _ = runCLI(t, "deploy", "history", "fx", "-c", path, "-n", "1")
	if code != 0 || !strings.Contains(out, "rolled_back") || strings.Contains(out, "ana@node1") {
		t.Errorf("history -n 1: exit %d:\n%s", code, out)
	}
}
