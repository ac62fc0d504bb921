package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/skjold-dev/skjold/internal/admin"
	"github.com/skjold-dev/skjold/internal/admin/admintest"
	"github.com/skjold-dev/skjold/internal/config"
)

// namedBackend answers every request with its name.
func namedBackend(t *testing.T, name string) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func answerFrom(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestStatusAndTargetsResetOnARealGateway switches a real gateway's
// upstream through the admin API, checks that `skjold status` shows the
// override and how to drop it, drops it with `skjold targets reset`, and
// checks that traffic and `skjold status` are back on the file's targets;
// a second reset, and a reset of an unknown upstream, say what happened.
func TestStatusAndTargetsResetOnARealGateway(t *testing.T) {
	t.Setenv(adminTokenEnv, "")
	blue, green := namedBackend(t, "blue"), namedBackend(t, "green")
	g := admintest.Start(t, fmt.Sprintf(`listeners: {public: {address: 127.0.0.1:0}}
access_log: {enabled: false}
upstreams:
  app:
    targets: [{address: %s}]
routes:
  - name: app
    match: {path_prefix: /}
    upstream: app
`, blue), "")
	c := admin.NewClient(g.Admin.Addr(), "")
	t.Cleanup(c.Close)
	if _, err := c.SetTargets(t.Context(), "app", admin.TargetsRequest{Targets: []config.Target{{Address: green}}}); err != nil {
		t.Fatal(err)
	}
	if got := answerFrom(t, g.URL("public")); got != "green" {
		t.Fatalf("after the switch the gateway answers from %q", got)
	}

	code, out, errOut := runCLI(t, "status", "--admin", g.Admin.Addr())
	if code != 0 || errOut != "" {
		t.Fatalf("status: exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{
		"from " + g.ConfigPath + ", loaded ",
		"upstream app (round_robin)",
		"targets from an admin override since ",
		"(the file's " + blue + " not in force; `skjold targets reset app` drops it)",
		"  " + green + "  1 ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status does not say %q:\n%s", want, out)
		}
	}

	code, out, errOut = runCLI(t, "targets", "reset", "app", "--admin", g.Admin.Addr(), "--drain", "1s")
	if code != 0 || errOut != "" || out != fmt.Sprintf("upstream app: targets from the config file: [%s] (were [%s])\n", blue, green) {
		t.Fatalf("targets reset: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if got := answerFrom(t, g.URL("public")); got != "blue" {
		t.Errorf("after the reset the gateway answers from %q", got)
	}
	_, out, _ = runCLI(t, "status", "--admin", g.Admin.Addr())
	if !strings.Contains(out, "targets from the config file\n") || !strings.Contains(out, "  "+blue+"  1 ") {
		t.Errorf("status after the reset:\n%s", out)
	}

	// Nothing to drop: the file's targets stay.
	code, out, _ = runCLI(t, "targets", "reset", "app", "--admin", g.Admin.Addr(), "--drain", "1s")
	if code != 0 || !strings.Contains(out, "targets from the config file: ["+blue+"]") {
		t.Errorf("second reset: exit %d, stdout %q", code, out)
	}
	code, _, errOut = runCLI(t, "targets", "reset", "nope", "--admin", g.Admin.Addr())
	if code != 1 || !strings.Contains(errOut, "404") || !strings.Contains(errOut, `"nope"`) {
		t.Errorf("reset of an unknown upstream: exit %d, stderr %q", code, errOut)
	}
}
