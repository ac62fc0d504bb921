package admin_test

// These tests run the admin API on a real gateway (admintest), with real
// backends, as `skjold serve` wires them. The tests in admin_test.go use a
// fake gateway only for what a real one cannot be made to do on demand: a
// switch that blocks until the test lets it go (Close's grace), a status
// with every field filled (open breakers, ejected targets), readiness
// flipped at will.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skjold-dev/skjold/internal/admin"
	"github.com/skjold-dev/skjold/internal/admin/admintest"
	"github.com/skjold-dev/skjold/internal/gateway"
	"github.com/skjold-dev/skjold/internal/tcptest"
)

// backend answers every request with its name, and /health with ok.
func backend(t *testing.T, name string) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name)
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// gatewayYAML is a gateway with one upstream "app" on target, one route
// to it, and extra appended (more routes).
func gatewayYAML(target, extra string) string {
	return fmt.Sprintf(`listeners: {public: {address: 127.0.0.1:0}}
access_log: {enabled: false}
upstreams:
  app:
    targets: [{address: %s}]
routes:
  - name: app
    match: {path_prefix: /}
    upstream: app
%s`, target, extra)
}

// get sends a GET through the gateway and returns the body, failing the
// test on anything but a 200.
func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// adminCall makes one call to the admin API and decodes a JSON answer
// into out (when not nil).
func adminCall(t *testing.T, g *admintest.Gateway, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+g.Admin.Addr()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d, body %q is not the JSON expected: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

func status(t *testing.T, g *admintest.Gateway) gateway.Status {
	t.Helper()
	var st gateway.Status
	if code := adminCall(t, g, "GET", "/status", "", &st); code != 200 {
		t.Fatalf("GET /status: %d", code)
	}
	return st
}

func upstreamOf(t *testing.T, st gateway.Status, name string) gateway.UpstreamStatus {
	t.Helper()
	for _, u := range st.Upstreams {
		if u.Name == name {
			return u
		}
	}
	t.Fatalf("no upstream %s in /status: %+v", name, st.Upstreams)
	return gateway.UpstreamStatus{}
}

func addresses(u gateway.UpstreamStatus) []string {
	var out []string
	for _, t := range u.Targets {
		out = append(out, t.Address)
	}
	return out
}

func TestStatusOfARealGatewayCountsTheRequestsItServed(t *testing.T) {
	blue := backend(t, "blue")
	g := admintest.Start(t, gatewayYAML(blue, ""), "")
	for range 3 {
		if got := get(t, g.URL("public")+"/x"); got != "blue" {
			t.Fatalf("answer %q, want blue", got)
		}
	}
	st := status(t, g)
	if st.ConfigSource != g.ConfigPath || st.ConfigVersion == "" || !st.Ready {
		t.Errorf("config %q from %q, ready %v", st.ConfigVersion, st.ConfigSource, st.Ready)
	}
	if len(st.Listeners) != 1 || "http://"+st.Listeners[0].Address != g.URL("public") {
		t.Errorf("listeners %+v", st.Listeners)
	}
	if len(st.Routes) != 1 || st.Routes[0].Requests != 3 || st.Routes[0].Errors != 0 {
		t.Errorf("routes %+v; want app with 3 requests, 0 errors", st.Routes)
	}
	u := upstreamOf(t, st, "app")
	if u.TargetsFrom.Origin != gateway.OriginFile || len(u.Targets) != 1 || u.Targets[0].Address != blue || u.Targets[0].Requests != 3 {
		t.Errorf("upstream app %+v; want %s from the file with 3 requests", u, blue)
	}
}

func TestReloadOfARealGatewayAppliesAGoodFileAndRefusesABadOneNamingTheLine(t *testing.T) {
	blue := backend(t, "blue")
	g := admintest.Start(t, gatewayYAML(blue, ""), "")
	before := status(t, g).ConfigVersion

	// A good file: a second route appears.
	g.Rewrite(gatewayYAML(blue, "  - name: api\n    match: {path_prefix: /api}\n    upstream: app\n"))
	var applied admin.ReloadResult
	if code := adminCall(t, g, "POST", "/reload", "", &applied); code != 200 || applied.Result != admin.ReloadApplied {
		t.Fatalf("good reload: %d %+v", code, applied)
	}
	st := status(t, g)
	if applied.Version == before || st.ConfigVersion != applied.Version || st.Reloads != 1 || len(st.Routes) != 2 {
		t.Errorf("after the good reload: version %s (was %s, answered %s), %d reloads, %d routes", st.ConfigVersion, before, applied.Version, st.Reloads, len(st.Routes))
	}

	// A bad file: the route names an upstream that does not exist.
	g.Rewrite(gatewayYAML(blue, "  - name: api\n    match: {path_prefix: /api}\n    upstream: nowhere\n"))
	var refused admin.ReloadResult
	code := adminCall(t, g, "POST", "/reload", "", &refused)
	if code != http.StatusUnprocessableEntity || refused.Result != admin.ReloadRejected {
		t.Fatalf("bad reload: %d %+v; want 422 rejected with the report", code, refused)
	}
	// Line 12, column 15: the value of the second route's upstream.
	if want := g.ConfigPath + ":12:15: routes[1].upstream"; !strings.Contains(refused.Error, want) || !strings.Contains(refused.Error, "nowhere") {
		t.Errorf("report %q does not say %q and name the unknown upstream", refused.Error, want)
	}
	after := status(t, g)
	if after.ConfigVersion != applied.Version || after.Reloads != 1 || len(after.Routes) != 2 {
		t.Errorf("the refused reload changed the gateway: version %s (want %s), %d reloads, %d routes", after.ConfigVersion, applied.Version, after.Reloads, len(after.Routes))
	}
	if got := get(t, g.URL("public")+"/api/x"); got != "blue" {
		t.Errorf("after the refused reload /api answers %q", got)
	}
}

// TestTargetOverrideOfARealGatewayIsSavedShownRestoredAndDropped switches
// the upstream with PUT, checks that traffic moved, that /status says
// where the targets come from, that the override is in the state file and
// survives a restart, and that DELETE puts the file's targets back, also
// across a restart.
func TestTargetOverrideOfARealGatewayIsSavedShownRestoredAndDropped(t *testing.T) {
	blue, green := backend(t, "blue"), backend(t, "green")
	g := admintest.Start(t, gatewayYAML(blue, ""), "")

	var res gateway.SwitchResult
	body := fmt.Sprintf(`{"targets":[{"address":%q}],"wait_healthy":true,"health_timeout":"5s","drain_timeout":"1s"}`, green)
	if code := adminCall(t, g, "PUT", "/upstreams/app/targets", body, &res); code != 200 {
		t.Fatalf("PUT targets: %d %+v", code, res)
	}
	if res.Origin != gateway.OriginAdmin || strings.Join(res.Targets, ",") != green || strings.Join(res.Previous, ",") != blue || !res.Drained {
		t.Errorf("switch result %+v", res)
	}
	if got := get(t, g.URL("public")+"/"); got != "green" {
		t.Errorf("after the switch the gateway answers from %q", got)
	}
	u := upstreamOf(t, status(t, g), "app")
	if u.TargetsFrom.Origin != gateway.OriginAdmin || u.TargetsFrom.Since.IsZero() ||
		strings.Join(addresses(u), ",") != green || len(u.FileTargets) != 1 || u.FileTargets[0].Address != blue {
		t.Errorf("/status after the switch: %+v; want green from an admin override, blue as the file's", u)
	}
	saved, err := os.ReadFile(filepath.Join(g.StateDir, "targets.json"))
	if err != nil || !strings.Contains(string(saved), green) {
		t.Fatalf("state file: %q, %v; want the override to green saved", saved, err)
	}

	g = g.Restart()
	if got := get(t, g.URL("public")+"/"); got != "green" {
		t.Errorf("after a restart the gateway answers from %q; want the saved override", got)
	}
	if u := upstreamOf(t, status(t, g), "app"); u.TargetsFrom.Origin != gateway.OriginAdmin {
		t.Errorf("after a restart the targets come from %q", u.TargetsFrom.Origin)
	}

	res = gateway.SwitchResult{}
	if code := adminCall(t, g, "DELETE", "/upstreams/app/targets?drain_timeout=1s", "", &res); code != 200 {
		t.Fatalf("DELETE targets: %d %+v", code, res)
	}
	if res.Origin != gateway.OriginFile || strings.Join(res.Targets, ",") != blue {
		t.Errorf("drop result %+v", res)
	}
	if got := get(t, g.URL("public")+"/"); got != "blue" {
		t.Errorf("after the drop the gateway answers from %q", got)
	}
	if u := upstreamOf(t, status(t, g), "app"); u.TargetsFrom.Origin != gateway.OriginFile || u.FileTargets != nil {
		t.Errorf("/status after the drop: %+v", u)
	}
	g = g.Restart()
	if got := get(t, g.URL("public")+"/"); got != "blue" {
		t.Errorf("after the drop and a restart the gateway answers from %q", got)
	}
}

func TestTargetSwitchOfARealGatewayIsRefusedAndChangesNothing(t *testing.T) {
	blue := backend(t, "blue")
	g := admintest.Start(t, gatewayYAML(blue, ""), "")
	for _, tc := range []struct {
		name, path, body string
		want             int
		says             string
	}{
		{"target never healthy", "/upstreams/app/targets",
			fmt.Sprintf(`{"targets":[{"address":%q}],"wait_healthy":true,"health_timeout":"300ms"}`, tcptest.ClosedAddr(t)),
			http.StatusConflict, "not healthy"},
		{"unknown upstream", "/upstreams/nope/targets", fmt.Sprintf(`{"targets":[{"address":%q}]}`, blue),
			http.StatusNotFound, "nope"},
		{"target without a port", "/upstreams/app/targets", `{"targets":[{"address":"127.0.0.1"}]}`,
			http.StatusBadRequest, "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e struct {
				Error string `json:"error"`
			}
			if code := adminCall(t, g, "PUT", tc.path, tc.body, &e); code != tc.want || !strings.Contains(e.Error, tc.says) {
				t.Errorf("answer %d %q; want %d naming %q", code, e.Error, tc.want, tc.says)
			}
			u := upstreamOf(t, status(t, g), "app")
			if u.TargetsFrom.Origin != gateway.OriginFile || strings.Join(addresses(u), ",") != blue {
				t.Errorf("the refused switch changed the upstream: %+v", u)
			}
			if _, err := os.Stat(filepath.Join(g.StateDir, "targets.json")); err == nil {
				b, _ := os.ReadFile(filepath.Join(g.StateDir, "targets.json"))
				if strings.Contains(string(b), `"app"`) {
					t.Errorf("the refused switch was saved: %s", b)
				}
			}
			if got := get(t, g.URL("public")+"/"); got != "blue" {
				t.Errorf("the gateway answers from %q", got)
			}
		})
	}
}

func TestMetricsOfARealGatewayCountRequestsByRouteAndCode(t *testing.T) {
	blue := backend(t, "blue")
	g := admintest.Start(t, gatewayYAML(blue, ""), "")
	for range 4 {
		get(t, g.URL("public")+"/")
	}
	resp, err := http.Get("http://" + g.Admin.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	want := `skjold_requests_total{code="200",route="app",upstream="app"} 4`
	if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
		t.Errorf("/metrics: %d; want a line %q in:\n%s", resp.StatusCode, want, b)
	}
}
