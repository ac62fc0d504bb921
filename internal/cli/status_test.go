package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/admin"
	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/gateway"
	"github.com/skjold-dev/skjold/internal/tcptest"
	"github.com/skjold-dev/skjold/internal/upstream"
)

// stubGateway is the admin API's view of a gateway, with fixed answers: a
// status with an open breaker and fixed counters, which a real gateway
// cannot be made to hold still for an exact table. What a real gateway
// can show is tested on one in targets_test.go.
type stubGateway struct{ status gateway.Status }

func (g stubGateway) Status() gateway.Status { return g.status }
func (g stubGateway) Ready() bool            { return true }
func (g stubGateway) SetTargets(context.Context, string, gateway.TargetSwitch) (gateway.SwitchResult, error) {
	return gateway.SwitchResult{}, gateway.ErrUnknownUpstream
}
func (g stubGateway) DropTargets(context.Context, string, time.Duration) (gateway.SwitchResult, error) {
	return gateway.SwitchResult{}, gateway.ErrUnknownUpstream
}

func stubStatus(loaded time.Time) gateway.Status {
	return gateway.Status{
		ConfigVersion: "3f2a9c1b7d4e", ConfigSource: "gw.yaml", LoadedAt: loaded, Reloads: 1, Ready: true, Connections: 3,
		Upstreams: []gateway.UpstreamStatus{{
			Name: "fx", Balance: "round_robin",
			Breaker: &gateway.BreakerStatus{State: "open", Since: loaded, Until: loaded.Add(time.Hour), Reason: "5 consecutive failures"},
			Targets: []gateway.TargetStatus{{TargetStats: upstream.TargetStats{Address: "127.0.0.1:9103", Weight: 1, Active: "unknown", Passive: "up", Requests: 1520, Failures: 3}}},
		}},
		Routes: []gateway.RouteStatus{{Name: "fx", Upstream: "fx", PathPrefix: "/fx", Requests: 1520, Errors: 3}},
	}
}

// startAdmin runs an admin API over a stub gateway for the test.
func startAdmin(t *testing.T, listen, token string, reload admin.ReloadFunc) string {
	t.Helper()
	return startAdminWith(t, listen, token, reload, stubStatus(time.Now().Add(-time.Minute)))
}

func startAdminWith(t *testing.T, listen, token string, reload admin.ReloadFunc, st gateway.Status) string {
	t.Helper()
	s, err := admin.Start(t.Context(), admin.Options{Listen: listen, Token: token, Gateway: stubGateway{st}, Reload: reload})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.Addr()
}

func TestStatusPrintsTable(t *testing.T) {
	t.Setenv(adminTokenEnv, "")
	addr := startAdmin(t, "127.0.0.1:0", "", nil)
	code, out, errOut := runCLI(t, "status", "--admin", addr)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{
		"config 3f2a9c1b7d4e from gw.yaml, loaded ",
		"s ago), 1 reload, 3 client connections, ready\n",
		"upstream fx (round_robin): breaker open until ",
		": 5 consecutive failures\n",
		"  127.0.0.1:9103  1       up       -       0          1520      3\n",
		"fx     fx        /fx    1520      3       -\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout does not contain %q:\n%s", want, out)
		}
	}
}

func TestStatusJSONPrintsTheDocument(t *testing.T) {
	t.Setenv(adminTokenEnv, "")
	st := stubStatus(time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC))
	addr := startAdminWith(t, "127.0.0.1:0", "", nil, st)
	code, out, errOut := runCLI(t, "status", "--admin", addr, "--json")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	want, _ := json.MarshalIndent(st, "", "  ")
	if out != string(want)+"\n" {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, want)
	}
}

func TestStatusOverUnixSocket(t *testing.T) {
	t.Setenv(adminTokenEnv, "")
	dir, err := os.MkdirTemp("", "skj")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	addr := startAdmin(t, "unix:"+filepath.Join(dir, "admin.sock"), "", nil)
	if code, out, errOut := runCLI(t, "status", "--admin", addr); code != 0 || !strings.HasPrefix(out, "config 3f2a9c1b7d4e") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestStatusFindsTokenInFlagEnvOrConfig(t *testing.T) {
	const token = "c0rrect-horse"
	addr := startAdmin(t, "127.0.0.1:0", token, nil)
	tokenFile := writeFile(t, "token", token+"\n")
	// The rest of this config is invalid; only its admin section is read.
	cfgWithFile := writeFile(t, "gw.yaml", "admin:\n  listen: "+addr+"\n  token_file: "+tokenFile+"\nroutes: nonsense\n")
	cfgWithEnv := writeFile(t, "gw.yaml", "admin:\n  listen: "+addr+"\n  token_env: SKJOLD_TEST_ADMIN_TOKEN\n")
	cases := []struct {
		name string
		env  string
		args []string
	}{
		{"--token-file", "", []string{"--admin", addr, "--token-file", tokenFile}},
		{"environment", token, []string{"--admin", addr}},
		{"config token_file", "", []string{"-c", cfgWithFile}},
		{"config token_env", "", []string{"--config", cfgWithEnv}},
		{"--admin beats the config", "", []string{"--admin", addr, "-c", writeFile(t, "other.yaml", "admin:\n  listen: 127.0.0.1:1\n  token: "+token+"\n")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(adminTokenEnv, tc.env)
			t.Setenv("SKJOLD_TEST_ADMIN_TOKEN", token)
			code, out, errOut := runCLI(t, append([]string{"status"}, tc.args...)...)
			if code != 0 || !strings.HasPrefix(out, "config 3f2a9c1b7d4e") {
				t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
			}
		})
	}
}

func TestStatusWithoutTokenExplainsHowToGiveOne(t *testing.T) {
	t.Setenv(adminTokenEnv, "")
	addr := startAdmin(t, "127.0.0.1:0", "c0rrect-horse", nil)
	code, out, errOut := runCLI(t, "status", "--admin", addr)
	if code != 1 || out != "" {
		t.Errorf("exit %d, stdout %q; want 1 and nothing", code, out)
	}
	for _, want := range []string{"401 Unauthorized", "--token-file", adminTokenEnv} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q does not mention %q", errOut, want)
		}
	}
}

func TestStatusReportsUnreachableAdmin(t *testing.T) {
	t.Setenv(adminTokenEnv, "")
	addr := tcptest.ClosedAddr(t)
	code, _, errOut := runCLI(t, "status", "--admin", addr)
	if code != 1 || !strings.Contains(errOut, "admin API "+addr) || !strings.Contains(errOut, "is skjold serve running") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestStatusReportsMissingConfigAndTokenFile(t *testing.T) {
	t.Setenv(adminTokenEnv, "")
	missing := filepath.Join(t.TempDir(), "missing")
	for _, args := range [][]string{{"-c", missing}, {"--token-file", missing}, {"--token-file", writeFile(t, "empty", "\n")}} {
		if code, _, errOut := runCLI(t, append([]string{"status"}, args...)...); code != 1 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q; want 1 with a reason", args, code, errOut)
		}
	}
}

func TestReloadPrintsVersion(t *testing.T) {
	t.Setenv(adminTokenEnv, "")
	addr := startAdmin(t, "127.0.0.1:0", "", func(context.Context) (gateway.ReloadReport, error) {
		return gateway.ReloadReport{Version: "9c0ffee12345"}, nil
	})
	code, out, errOut := runCLI(t, "reload", "--admin", addr)
	if code != 0 || out != "reloaded: version 9c0ffee12345\n" || errOut != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestReloadRejectedPrintsReportAndExits1(t *testing.T) {
	t.Setenv(adminTokenEnv, "")
	ve := &config.ValidationError{Problems: []config.Problem{
		{File: "gw.yaml", Line: 4, Column: 7, Path: "upstreams.fx.targets[0].address", Message: "expected host:port"},
		{File: "gw.yaml", Line: 9, Column: 3, Path: "routes[0].upstream", Message: `unknown upstream "fxx"`},
	}}
	addr := startAdmin(t, "127.0.0.1:0", "", func(context.Context) (gateway.ReloadReport, error) { return gateway.ReloadReport{}, ve })
	cfg := writeFile(t, "gw.yaml", "admin:\n  listen: "+addr+"\n")
	code, out, errOut := runCLI(t, "reload", "-c", cfg)
	want := "reload rejected; the running config keeps serving:\n" +
		"gw.yaml:4:7: upstreams.fx.targets[0].address: expected host:port\n" +
		"gw.yaml:9:3: routes[0].upstream: unknown upstream \"fxx\"\n"
	if code != 1 || out != "" || errOut != want {
		t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 1 and stderr:\n%s", code, out, errOut, want)
	}
}

func TestReloadWithoutReloadSupportFails(t *testing.T) {
	t.Setenv(adminTokenEnv, "")
	addr := startAdmin(t, "127.0.0.1:0", "", nil)
	code, _, errOut := runCLI(t, "reload", "--admin", addr)
	if code != 1 || !strings.Contains(errOut, "501 Not Implemented") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}
