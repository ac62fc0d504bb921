package cli

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/gateway"
	"github.com/skjold-dev/skjold/internal/residency"
)

// residencyConfig is the field guide's hybrid setup with the accounts
// upstream at where, and extra appended to the residency section.
func residencyConfig(where, extra string) string {
	return `listeners:
  public:
    address: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
upstreams:
  accounts:
    targets: [{address: 127.0.0.1:9201}]
routes:
  - name: accounts
    match: {path_prefix: /api/accounts/}
    upstream: accounts
    data_classes: [personal]
residency:
  policy:
    personal:
      within: EEA
      provider_parent_not_in: [US]
      processing:
        within: EEA
    public: {}
  upstreams:
    accounts:
      location: ` + where + `
  stores:
    customers:
      kind: database
      location: {provider: hetzner, region: hel1}
      data_classes: [personal]
` + extra
}

// violatingRouteProblem is the problem (after the file name) that
// residencyConfig("{provider: aws, region: us-east-1}", "") has.
const violatingRouteProblem = `:10:5: routes[0]: route "accounts" sends "personal" data to upstream "accounts", which breaks residency.policy.personal.processing.within (line 20): US (United States, adequacy decision 2023-07-10, partial) is not in EEA`

func TestCheckRefusesRouteSendingPersonalDataOutsideThePolicy(t *testing.T) {
	path := writeFile(t, "gw.yaml", residencyConfig("{provider: aws, region: us-east-1}", ""))
	code, out, errOut := runCLI(t, "check", "-c", path)
	if code != 1 || out != "" {
		t.Errorf("exit %d, stdout %q; want 1 and nothing", code, out)
	}
	if want := path + violatingRouteProblem + "\n"; errOut != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", errOut, want)
	}
}

func TestServeRefusesRouteSendingPersonalDataOutsideThePolicy(t *testing.T) {
	path := writeFile(t, "gw.yaml", residencyConfig("{provider: aws, region: us-east-1}", ""))
	// A serve that wrongly starts would run until this deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errOut strings.Builder
	code := Run(ctx, []string{"serve", "-c", path}, strings.NewReader(""), &out, &errOut)
	if ctx.Err() != nil {
		t.Fatal("serve started on a config that breaks the residency policy")
	}
	if code != 1 || !strings.Contains(errOut.String(), path+violatingRouteProblem) {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
	if strings.Contains(errOut.String(), "gateway started") {
		t.Error("serve says it started")
	}
}

func TestReloadRejectsRouteSendingPersonalDataOutsideThePolicy(t *testing.T) {
	path := writeFile(t, "gw.yaml", residencyConfig("{provider: aws, region: eu-north-1}", ""))
	src := configSource(path) // as serve loads and reloads it
	cfg, err := src.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	g := gateway.New(gateway.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if _, err := g.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(residencyConfig("{provider: aws, region: us-east-1}", "")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = g.Reload(context.Background(), src)
	var ve *config.ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), violatingRouteProblem) {
		t.Fatalf("reload: %v; want the residency problem", err)
	}
	if v := g.Config().Version; v != cfg.Version {
		t.Errorf("config version %s after a rejected reload, want %s still", v, cfg.Version)
	}
}

func TestResidencyCheckPassesTheHybridExample(t *testing.T) {
	path := filepath.Join("..", "..", "examples", "residency.yaml")
	code, out, errOut := runCLI(t, "residency", "check", "-c", path)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
	for _, want := range []string{
		"main  database (cluster main): MariaDB, a schema per service\n",
		"  primary    norsk-vps osl1 (NO; parent NO)\n",
		"  backup 1   hetzner hel1 (Helsinki, FI; parent DE)\n",
		"  holds      payment_card (database of service payments), personal (database of service accounts)\n",
		"  verdict    pass: residency.policy.payment_card, residency.policy.personal: all 3 copies pass",
		"accounts\n  runs at    aws eu-north-1 (Stockholm, SE; parent US)\n  handles    personal (route accounts, service accounts)\n  verdict    pass: residency.policy.personal.processing: SE (Sweden, EU) is in EEA\n",
		"\n4 stores and 3 upstreams checked: no violations\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestResidencyCheckFailsOnAStoreViolation(t *testing.T) {
	// The backup goes to a US-owned provider's Stockholm region.
	path := writeFile(t, "gw.yaml", residencyConfig("{provider: aws, region: eu-north-1}", `      backups:
        - {provider: aws, region: eu-north-1}
    cache:
      kind: cache
      data_classes: [personal]
`))
	code, out, _ := runCLI(t, "residency", "check", "-c", path)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		"  backup 1   aws eu-north-1 (Stockholm, SE; parent US)\n",
		"  verdict    VIOLATION: residency.policy.personal.provider_parent_not_in (backup 1): Amazon Web Services's parent company is in US (United States, adequacy decision 2023-07-10, partial), and the policy excludes US\n",
		"cache  cache\n  primary    no location is declared\n  holds      personal (declared)\n  verdict    VIOLATION: residency.policy.personal.within (primary): the country is not known (no location is declared)",
		"2 stores and 1 upstream checked: 2 violations\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestResidencyCheckJSON(t *testing.T) {
	path := writeFile(t, "gw.yaml", residencyConfig("{provider: aws, region: eu-north-1}", `    cache:
      kind: cache
      data_classes: [personal]
`))
	code, out, _ := runCLI(t, "residency", "check", "-c", path, "--json")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	var res residency.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if res.Violations != 1 || len(res.Stores) != 2 || res.Source != path || !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(res.Version) {
		t.Fatalf("got %+v", res)
	}
	cache, customers := res.Stores[0], res.Stores[1]
	if cache.Name != "cache" || cache.Verdict != residency.Violation || cache.Decision.Rule != "residency.policy.personal.within" || cache.Decision.Copy != "primary" {
		t.Errorf("cache: %+v", cache)
	}
	if customers.Verdict != residency.Pass || customers.Copies[0].Location.Country != "FI" || customers.Copies[0].Location.Parent != "DE" {
		t.Errorf("customers: %+v", customers)
	}
}

func TestResidencyCheckInvalidConfig(t *testing.T) {
	path := writeFile(t, "gw.yaml", residencyConfig("{provider: aws, region: eu-nort-1}", ""))
	code, out, errOut := runCLI(t, "residency", "check", "-c", path)
	if code != 1 || out != "" || !strings.Contains(errOut, `residency.upstreams.accounts.location.region: aws has no region "eu-nort-1" in the table; did you mean "eu-north-1"?`) {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestResidencyReportWritesHTMLAndMarkdown(t *testing.T) {
	dir := t.TempDir()
	htmlPath, mdPath := filepath.Join(dir, "r.html"), filepath.Join(dir, "r.md")
	example := filepath.Join("..", "..", "examples", "residency.yaml")
	code, out, errOut := runCLI(t, "residency", "report", "-c", example, "--html", htmlPath, "--markdown", mdPath)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if want := "wrote " + htmlPath + "\nwrote " + mdPath + "\n4 stores and 3 upstreams checked: no violations\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	cfg, err := config.LoadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := os.ReadFile(htmlPath)
	md, _ := os.ReadFile(mdPath)
	for _, want := range []string{"<!DOCTYPE html>", `<code id="version">` + cfg.Version + `</code>`, "<h3>NO (Norway, EEA)</h3>"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	for _, want := range []string{"# Data residency report", "version `" + cfg.Version + "`", "### NO (Norway, EEA)"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}

	// Without --html or --markdown the page goes to stdout.
	code, out, _ = runCLI(t, "residency", "report", "-c", example)
	if code != 0 || !strings.HasPrefix(out, "<!DOCTYPE html>") {
		t.Errorf("exit %d, stdout starts %.40q", code, out)
	}
}
