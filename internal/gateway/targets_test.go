package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/config"
)

func blueGreenConfig(blue string) string {
	return fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /}, upstream: app, timeouts: {response: 10s}}]
`, blue)
}

// A switch sends every later request to the new targets, including the
// next request of a keepalive connection that sat idle across the switch;
// it waits for healthy targets, keeps holding across a reload of the same
// config, and reports what it did.
func TestSetTargetsSwitchesEveryLaterRequest(t *testing.T) {
	blue, green := newSwitchable(t, "blue"), newSwitchable(t, "green")
	gw := startGateway(t, blueGreenConfig(blue.addr()))
	c := newClient() // keeps its connection alive between requests
	if _, body, _ := get(t, c, "http://"+gw.addr+"/"); body != "blue ok" {
		t.Fatalf("before: %q", body)
	}
	res, err := gw.SetTargets(context.Background(), "app", TargetSwitch{
		Targets:     []config.Target{{Address: green.addr()}},
		WaitHealthy: true, HealthTimeout: 5 * time.Second, DrainTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Drained || len(res.Previous) != 1 || res.Previous[0] != blue.addr() || res.Targets[0] != green.addr() {
		t.Errorf("result %+v", res)
	}
	blueHits := blue.hits.Load()
	for i := 0; i < 5; i++ {
		if _, body, _ := get(t, c, "http://"+gw.addr+"/"); body != "green ok" {
			t.Fatalf("after the switch, request %d: %q", i, body)
		}
	}
	if blue.hits.Load() != blueHits {
		t.Error("blue got requests after the switch")
	}
	cfg, err := config.Parse("same.yaml", []byte(blueGreenConfig(blue.addr())))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gw.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if _, body, _ := get(t, c, "http://"+gw.addr+"/"); body != "green ok" {
		t.Fatalf("a reload of the same config undid the switch: %q", body)
	}
}

// The switch returns once requests on the old targets have finished, or
// when the drain timeout passes, saying which.
func TestSetTargetsDrainsOldTargets(t *testing.T) {
	for _, tc := range []struct {
		name        string
		releaseAt   time.Duration // when blue's request is let go; 0: never
		drain       time.Duration
		wantDrained bool
	}{
		{"finishes within the drain timeout", 300 * time.Millisecond, 5 * time.Second, true},
		{"outlives the drain timeout", 0, 200 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blue, green := newSwitchable(t, "blue"), newSwitchable(t, "green")
			gw := startGateway(t, blueGreenConfig(blue.addr()))
			blue.stalled.Store(true)
			done := make(chan string, 1)
			go func() {
				resp, err := newClient().Get("http://" + gw.addr + "/slow")
				if err != nil {
					done <- err.Error()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				done <- string(b)
			}()
			waitFor(t, 2*time.Second, "a request in flight on blue", func() bool { return blue.hits.Load() == 1 })
			if tc.releaseAt > 0 {
				time.AfterFunc(tc.releaseAt, func() { blue.once.Do(func() { close(blue.release) }) })
			}
			start := time.Now()
			res, err := gw.SetTargets(context.Background(), "app", TargetSwitch{
				Targets: []config.Target{{Address: green.addr()}}, DrainTimeout: tc.drain,
			})
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if res.Drained != tc.wantDrained {
				t.Fatalf("drained = %v, want %v (%+v)", res.Drained, tc.wantDrained, res)
			}
			if tc.wantDrained {
				if took < tc.releaseAt-50*time.Millisecond {
					t.Errorf("returned after %v, before blue's request ended", took)
				}
				if body := <-done; body != "blue ok" {
					t.Errorf("the in-flight request got %q", body)
				}
			} else {
				if res.Remaining != 1 || took < tc.drain {
					t.Errorf("remaining %d after %v", res.Remaining, took)
				}
				blue.once.Do(func() { close(blue.release) })
				<-done
			}
			if _, body, _ := get(t, newClient(), "http://"+gw.addr+"/"); body != "green ok" {
				t.Errorf("after the switch: %q", body)
			}
		})
	}
}

// New targets that never pass their health check are not switched to.
func TestSetTargetsRefusesUnhealthyTargets(t *testing.T) {
	blue, green := newSwitchable(t, "blue"), newSwitchable(t, "green")
	green.status.Store(503)
	gw := startGateway(t, blueGreenConfig(blue.addr()))
	_, err := gw.SetTargets(context.Background(), "app", TargetSwitch{
		Targets: []config.Target{{Address: green.addr()}}, WaitHealthy: true, HealthTimeout: 700 * time.Millisecond,
	})
	if !errors.Is(err, ErrNotHealthy) {
		t.Fatalf("err = %v, want ErrNotHealthy", err)
	}
	if _, body, _ := get(t, newClient(), "http://"+gw.addr+"/"); body != "blue ok" {
		t.Fatalf("traffic moved to an unhealthy target: %q", body)
	}
	for _, bad := range [][]config.Target{
		nil,
		{{Address: "nohost"}},
		{{Address: green.addr()}, {Address: green.addr()}},
		{{Address: green.addr(), Backup: true}},
		{{Address: green.addr(), Weight: 5000}},
	} {
		if _, err := gw.SetTargets(context.Background(), "app", TargetSwitch{Targets: bad}); err == nil {
			t.Errorf("switch to %+v accepted", bad)
		}
	}
	if _, err := gw.SetTargets(context.Background(), "nope", TargetSwitch{Targets: []config.Target{{Address: green.addr()}}}); !errors.Is(err, ErrUnknownUpstream) {
		t.Errorf("unknown upstream: %v", err)
	}
}

// withStateDir makes a test gateway save its target overrides in dir.
func withStateDir(dir string) func(*Gateway) { return func(g *Gateway) { g.stateDir = dir } }

func bodyOf(t *testing.T, gw *testGateway) string {
	t.Helper()
	_, body, _ := get(t, newClient(), "http://"+gw.addr+"/")
	return body
}

// A target override holds across a reload that changes the file's targets
// (which warns and shows in the status where the targets come from) and
// across a real restart of the gateway; dropping it puts the file's targets
// back, and that too survives a restart.
func TestTargetOverrideSurvivesRestartUntilDropped(t *testing.T) {
	blue, green, red := newSwitchable(t, "blue"), newSwitchable(t, "green"), newSwitchable(t, "red")
	dir := t.TempDir()
	gw := startGateway(t, blueGreenConfig(blue.addr()), withStateDir(dir))
	before := time.Now().UTC()
	if _, err := gw.SetTargets(context.Background(), "app", TargetSwitch{
		Targets: []config.Target{{Address: green.addr()}}, Origin: OriginDeploy, DrainTimeout: time.Second,
	}); err != nil {
		t.Fatal(err)
	}
	us := upstreamStatus(t, gw, "app")
	if us.TargetsFrom.Origin != OriginDeploy || us.TargetsFrom.Since.Before(before) ||
		len(us.FileTargets) != 1 || us.FileTargets[0].Address != blue.addr() {
		t.Errorf("status after the switch: from %+v, file targets %+v", us.TargetsFrom, us.FileTargets)
	}
	since := us.TargetsFrom.Since

	// The file now names red: the override stays, with a warning.
	rep, err := gw.Apply(mustParse(t, strings.Replace(blueGreenConfig(red.addr()), "127.0.0.1:0", gw.addr, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 1 || !containsStr(rep.Warnings[0], "upstream app") || !containsStr(rep.Warnings[0], red.addr()) {
		t.Errorf("reload warnings: %q, want one naming upstream app and the file's %s", rep.Warnings, red.addr())
	}
	if b := bodyOf(t, gw); b != "green ok" {
		t.Fatalf("after a reload that changed the file's targets: %q, want the override (green)", b)
	}

	// A real restart: a new gateway on the same state directory.
	if err := gw.stop(); err != nil {
		t.Fatal(err)
	}
	gw = startGateway(t, blueGreenConfig(red.addr()), withStateDir(dir))
	if b := bodyOf(t, gw); b != "green ok" {
		t.Fatalf("after a restart: %q, want the saved override (green)", b)
	}
	if from := upstreamStatus(t, gw, "app").TargetsFrom; from.Origin != OriginDeploy || !from.Since.Equal(since) {
		t.Errorf("after a restart the status says %+v, want deploy since %s", from, since)
	}

	res, err := gw.DropTargets(context.Background(), "app", time.Second)
	if err != nil || res.Origin != OriginFile || len(res.Targets) != 1 || res.Targets[0] != red.addr() {
		t.Fatalf("drop: %+v, %v", res, err)
	}
	if b := bodyOf(t, gw); b != "red ok" {
		t.Fatalf("after the drop: %q, want the file's target (red)", b)
	}
	if err := gw.stop(); err != nil {
		t.Fatal(err)
	}
	gw = startGateway(t, blueGreenConfig(red.addr()), withStateDir(dir))
	if b := bodyOf(t, gw); b != "red ok" {
		t.Fatalf("after a restart following the drop: %q, want red", b)
	}
	if from := upstreamStatus(t, gw, "app").TargetsFrom; from.Origin != OriginFile {
		t.Errorf("status after the drop and a restart: %+v, want file", from)
	}
}

// A switch whose override cannot be saved is refused and changes nothing:
// it would otherwise be lost on the next restart without a word.
func TestSwitchThatCannotBeSavedChangesNothing(t *testing.T) {
	blue, green := newSwitchable(t, "blue"), newSwitchable(t, "green")
	dir := filepath.Join(t.TempDir(), "state")
	gw := startGateway(t, blueGreenConfig(blue.addr()), withStateDir(dir))
	// The state directory turns into a file: nothing can be saved there.
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := gw.SetTargets(context.Background(), "app", TargetSwitch{Targets: []config.Target{{Address: green.addr()}}})
	if err == nil || !containsStr(err.Error(), "nothing was switched") {
		t.Fatalf("switch with an unwritable state directory: %v, want refused", err)
	}
	if b := bodyOf(t, gw); b != "blue ok" {
		t.Errorf("after the refused switch: %q, want blue", b)
	}
	if from := upstreamStatus(t, gw, "app").TargetsFrom; from.Origin != OriginFile {
		t.Errorf("status after the refused switch: %+v, want file", from)
	}
}

// A damaged overrides file stops the start with an error naming the file,
// rather than quietly serving targets the operator did not choose.
func TestDamagedOverrideFileIsRefusedAtStart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "targets.json")
	if err := os.WriteFile(path, []byte(`{"upstreams": {"app": {"targets": [{"address": "nohost"}]}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	g := New(Options{Logger: slog.New(slog.DiscardHandler), StateDir: dir})
	_, err := g.Apply(mustParse(t, blueGreenConfig("127.0.0.1:9")))
	if !errors.Is(err, ErrStateDamaged) || !containsStr(err.Error(), path) {
		t.Errorf("apply with a damaged override file: %v, want ErrStateDamaged naming %s", err, path)
	}
}
