package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skjold-dev/skjold/internal/admin"
	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/gateway"
)

// A real gateway behind a real admin API: `skjold maintenance on api`
// makes the route answer 503 at once, `off` lets requests through again.
func TestMaintenanceCommandSwitchesARunningRoute(t *testing.T) {
	t.Setenv(adminTokenEnv, "")
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer be.Close()
	cfg, err := config.Parse("gw.yaml", []byte(fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0"}}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{name: api, match: {path_prefix: /}, upstream: app, maintenance: {retry_after: 30s}}]
`, strings.TrimPrefix(be.URL, "http://"))))
	if err != nil {
		t.Fatal(err)
	}
	g := gateway.New(gateway.Options{Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
	if _, err := g.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	var gwAddr string
	for _, a := range g.Addrs() {
		gwAddr = a
	}
	s, err := admin.Start(t.Context(), admin.Options{Listen: "127.0.0.1:0", Gateway: g})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	hc := &http.Client{Timeout: 5 * time.Second}
	status := func() (int, string) {
		resp, err := hc.Get("http://" + gwAddr + "/x")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	code, out, errOut := runCLI(t, "maintenance", "on", "api", "--admin", s.Addr())
	if code != 0 || out != "route api: maintenance on (was off)\n" {
		t.Fatalf("on: exit %d, %q %q", code, out, errOut)
	}
	if st, ra := status(); st != 503 || ra != "30" {
		t.Errorf("in maintenance: %d Retry-After %q, want 503 and 30", st, ra)
	}
	if code, out, _ := runCLI(t, "maintenance", "off", "api", "--admin", s.Addr()); code != 0 || !strings.Contains(out, "maintenance off (was on)") {
		t.Errorf("off: exit %d, %q", code, out)
	}
	if st, _ := status(); st != 200 {
		t.Errorf("out of maintenance: %d", st)
	}
	if code, _, errOut := runCLI(t, "maintenance", "on", "nope", "--admin", s.Addr()); code != 1 || !strings.Contains(errOut, `route "nope": no such route`) {
		t.Errorf("unknown route: exit %d, %q", code, errOut)
	}
	if code, _, _ := runCLI(t, "maintenance", "maybe", "api", "--admin", s.Addr()); code != 2 {
		t.Errorf("bad action: exit %d, want 2", code)
	}
}
