package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
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
