package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runCLI runs the command line and returns its exit status and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Run(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheckValidConfigPrintsSummary(t *testing.T) {
	path := writeFile(t, "gw.yaml", `listeners:
  public:
    address: 127.0.0.1:8080
upstreams:
  fx:
    targets: [{address: 127.0.0.1:9103}]
  payments:
    targets: [{address: 127.0.0.1:9101}]
routes:
  - {upstream: fx, match: {path_prefix: /fx}}
  - {upstream: payments, match: {path_prefix: /payments}}
`)
	for _, flag := range []string{"--config", "-c"} {
		code, out, errOut := runCLI(t, "check", flag, path)
		if code != 0 || errOut != "" {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		want := regexp.MustCompile(`^` + regexp.QuoteMeta(path) + `: ok \(1 listener, 2 upstreams, 2 routes, version [0-9a-f]{12}\)\n$`)
		if !want.MatchString(out) {
			t.Errorf("stdout %q does not match %s", out, want)
		}
	}
}

func TestCheckExampleConfig(t *testing.T) {
	path := filepath.Join("..", "..", "examples", "gateway.yaml")
	code, out, errOut := runCLI(t, "check", "-c", path)
	if code != 0 || !strings.HasPrefix(out, path+": ok (1 listener, 2 upstreams, 2 routes, version ") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestCheckPrintsEveryProblemAndExits1(t *testing.T) {
	path := writeFile(t, "bad.yaml", `listeners:
  public:
    address: 127.0.0.1
upstreams:
  fx:
    targets: []
routes:
  - upstream: fxx
`)
	code, out, errOut := runCLI(t, "check", "-c", path)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if out != "" {
		t.Errorf("stdout %q, want nothing", out)
	}
	want := path + `:3:14: listeners.public.address: expected host:port such as 127.0.0.1:8080, got "127.0.0.1"
` + path + `:6:5: upstreams.fx.targets: at least one target is required, such as targets: [{address: 127.0.0.1:9101}]
` + path + `:8:15: routes[0].upstream: upstream "fxx" is not defined; did you mean "fx"? (defined upstreams: fx)
`
	if errOut != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", errOut, want)
	}
}

func TestCheckMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	code, out, errOut := runCLI(t, "check", "-c", path)
	if code != 1 || out != "" || !strings.Contains(errOut, "nope.yaml: no such file or directory") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestCheckRequiresConfigFlag(t *testing.T) {
	code, _, errOut := runCLI(t, "check")
	if code != 1 || !strings.Contains(errOut, `"config" not set`) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}
