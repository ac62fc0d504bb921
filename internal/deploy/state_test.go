package deploy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/gateway"
)

func TestStoreKeepsStateAndLedger(t *testing.T) {
	s, err := OpenStore(filepath.Join(t.TempDir(), "fx"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Load()
	if err != nil || st.Current != nil {
		t.Fatalf("empty state: %+v, %v", st, err)
	}
	r := &Release{Number: 1, Version: "v1", Outcome: InProgress}
	if err := s.Record("fx", r); err != nil {
		t.Fatal(err)
	}
	r.Outcome = Succeeded
	if err := s.Record("fx", r); err != nil {
		t.Fatal(err)
	}
	if err := s.Record("fx", &Release{Number: 2, Version: "v2", Outcome: Failed}); err != nil {
		t.Fatal(err)
	}
	l, err := s.Ledger()
	if err != nil || len(l) != 2 || l[0].Outcome != Succeeded || l[1].Number != 2 {
		t.Fatalf("ledger %+v, %v; want release 1 updated in place, then 2", l, err)
	}
	if err := s.Save(State{Service: "fx", Current: r, LastRelease: 2}); err != nil {
		t.Fatal(err)
	}
	st, err = s.Load()
	if err != nil || st.Current.Version != "v1" || st.LastRelease != 2 || st.Updated.IsZero() {
		t.Fatalf("state %+v, %v", st, err)
	}
}

func TestDamagedStateFileIsReportedNotIgnored(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir(), "state.json"), []byte(`{"current": {`), 0o640); err != nil {
		t.Fatal(err)
	}
	_, err = s.Load()
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "state.json") {
		t.Fatalf("Load: %v; want ErrDamaged naming the file", err)
	}
}

func TestLockRefusesASecondHolderAndNamesTheFirst(t *testing.T) {
	dir := t.TempDir()
	started := time.Now().Add(-90 * time.Second)
	l1, err := AcquireLock(context.Background(), dir, "fx", Holder{PID: 4242, By: "ana@node1", Started: started, Doing: "deploy v7"}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = AcquireLock(context.Background(), dir, "fx", Holder{PID: 1}, false, nil)
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v", err)
	}
	for _, want := range []string{"pid 4242", "deploy v7", "ana@node1", started.Local().Format("15:04:05"), "1m30s ago", "--wait"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}

	// A waiting taker gets the lock once it is released.
	got := make(chan error, 1)
	waiting := make(chan Holder, 1)
	go func() {
		l2, err := AcquireLock(context.Background(), dir, "fx", Holder{PID: 2}, true, func(h Holder) { waiting <- h })
		if err == nil {
			err = l2.Release()
		}
		got <- err
	}()
	if h := <-waiting; h.PID != 4242 {
		t.Errorf("the waiter was told the holder is %+v", h)
	}
	if err := l1.Release(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("waiting taker: %v", err)
	}

	// A waiter gives up when its context ends.
	l3, _ := AcquireLock(context.Background(), dir, "fx", Holder{PID: 3}, false, nil)
	defer l3.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if _, err := AcquireLock(ctx, dir, "fx", Holder{PID: 4}, true, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiter with an ended context: %v", err)
	}
}

func TestDefaultVersionComesFromTheImageTagOrTheCommand(t *testing.T) {
	for _, tc := range []struct {
		req  Request
		want string
	}{
		{Request{Image: "registry.example.com:5000/fx:1.4.2"}, "1.4.2"},
		{Request{Image: "registry.example.com:5000/fx"}, "latest"},
		{Request{Image: "fx@sha256:0123456789abcdef0123456789"}, "sha256:0123456789ab"},
		{Request{Command: "./fx --port $PORT"}, "cmd-"},
	} {
		if got := defaultVersion(tc.req); !strings.HasPrefix(got, tc.want) {
			t.Errorf("defaultVersion(%+v) = %q, want %q", tc.req, got, tc.want)
		}
	}
}

// recordingSetter records target switches.
type recordingSetter struct {
	calls map[string][]config.Target
}

func (r *recordingSetter) SetTargets(_ context.Context, name string, sw gateway.TargetSwitch) (gateway.SwitchResult, error) {
	r.calls[name] = sw.Targets
	return gateway.SwitchResult{}, nil
}

func TestRestoreTargetsPointsUpstreamsAtTheCurrentRelease(t *testing.T) {
	dir := t.TempDir()
	yaml := `listeners: {public: {address: 127.0.0.1:0}}
upstreams:
  fx: {targets: [{address: 127.0.0.1:9101}, {address: 127.0.0.1:9199, backup: true}]}
  pay: {targets: [{address: 127.0.0.1:9102}]}
services:
  fx: {upstream: fx, state_dir: ` + filepath.Join(dir, "fx") + `}
  pay: {upstream: pay, state_dir: ` + filepath.Join(dir, "pay") + `}
`
	cfg, err := config.Parse("g.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := OpenStore(filepath.Join(dir, "fx"))
	if err := s.Save(State{Current: &Release{Number: 4, Instance: &Instance{Address: "127.0.0.1:20004"}}}); err != nil {
		t.Fatal(err)
	}
	rec := &recordingSetter{calls: map[string][]config.Target{}}
	if err := RestoreTargets(context.Background(), cfg, rec, nil); err != nil {
		t.Fatal(err)
	}
	want := []config.Target{{Address: "127.0.0.1:20004", Weight: 1}, {Address: "127.0.0.1:9199", Weight: 1, Backup: true}}
	if got := rec.calls["fx"]; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("fx restored to %+v, want %+v", got, want)
	}
	if _, ok := rec.calls["pay"]; ok {
		t.Error("pay was never deployed but its targets were replaced")
	}
}
