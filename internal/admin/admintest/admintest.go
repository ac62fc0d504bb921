// Package admintest runs a real gateway with its admin API on loopback, for
// the tests of what talks to the admin API (the admin package itself, the
// CLI, deploys), as net/http/httptest runs a real HTTP server.
package admintest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skjold-dev/skjold/internal/admin"
	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/gateway"
)

// Gateway is a running gateway and its admin API, stopped when the test
// ends.
type Gateway struct {
	*gateway.Gateway
	// Admin is the admin API server; Admin.Addr() is where it listens.
	Admin *admin.Server
	// ConfigPath is the config file; Rewrite replaces it, and POST /reload
	// reads it again.
	ConfigPath string
	// StateDir is where the gateway saves its target overrides.
	StateDir string
	// Registry holds the gateway's metrics, served on /metrics.
	Registry *prometheus.Registry

	tb     testing.TB
	cancel context.CancelFunc
	served chan error
}

// Start writes configYAML to a file and runs a gateway on it that saves its
// overrides in stateDir (a new temporary directory when empty), with its
// admin API on a free loopback port, as `skjold serve` wires them: POST
// /reload reads the file again, /metrics serves the gateway's registry.
func Start(tb testing.TB, configYAML, stateDir string) *Gateway {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "skjold.yaml")
	if err := os.WriteFile(path, []byte(configYAML), 0o600); err != nil {
		tb.Fatal(err)
	}
	if stateDir == "" {
		stateDir = tb.TempDir()
	}
	return start(tb, path, stateDir)
}

func start(tb testing.TB, path, stateDir string) *Gateway {
	tb.Helper()
	cfg, err := config.LoadFile(path)
	if err != nil {
		tb.Fatalf("admintest: %v", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	g := gateway.New(gateway.Options{Logger: log, Registerer: reg, StateDir: stateDir})
	if _, err := g.Apply(cfg); err != nil {
		tb.Fatalf("admintest: applying %s: %v", path, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tg := &Gateway{Gateway: g, ConfigPath: path, StateDir: stateDir, Registry: reg, tb: tb,
		cancel: cancel, served: make(chan error, 1)}
	go func() { tg.served <- g.Serve(ctx) }()
	src := config.FileSource{Path: path}
	adm, err := admin.Start(context.Background(), admin.Options{
		Listen:   "127.0.0.1:0",
		Gateway:  g,
		Reload:   func(ctx context.Context) (gateway.ReloadReport, error) { return g.Reload(ctx, src) },
		Gatherer: reg,
		Logger:   log,
	})
	if err != nil {
		cancel()
		<-tg.served
		tb.Fatalf("admintest: admin API: %v", err)
	}
	tg.Admin = adm
	tb.Cleanup(tg.Stop)
	return tg
}

// URL is the http:// base URL of the named listener.
func (g *Gateway) URL(listener string) string {
	addr := g.Addrs()[listener]
	if addr == "" {
		g.tb.Fatalf("admintest: the gateway has no listener %q", listener)
	}
	return "http://" + addr
}

// Rewrite replaces the config file; the running gateway reads it on the
// next reload.
func (g *Gateway) Rewrite(configYAML string) {
	g.tb.Helper()
	if err := os.WriteFile(g.ConfigPath, []byte(configYAML), 0o600); err != nil {
		g.tb.Fatal(err)
	}
}

// Stop shuts the admin API and the gateway down and waits for both. It is
// safe to call more than once.
func (g *Gateway) Stop() {
	if g.cancel == nil {
		return
	}
	g.Admin.Close()
	g.cancel()
	g.cancel = nil
	select {
	case err := <-g.served:
		if err != nil {
			g.tb.Errorf("admintest: gateway stopped with %v", err)
		}
	case <-time.After(10 * time.Second):
		g.tb.Error("admintest: the gateway did not stop within 10s")
	}
}

// Restart stops the gateway and starts a new one, as a restarted process
// would: the same config file and state directory, new ports.
func (g *Gateway) Restart() *Gateway {
	g.tb.Helper()
	g.Stop()
	return start(g.tb, g.ConfigPath, g.StateDir)
}
