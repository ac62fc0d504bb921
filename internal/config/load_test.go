package config

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestEveryExampleParses(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no examples found")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := LoadFile(f); err != nil {
				t.Errorf("%v", err)
			}
		})
	}
}

func TestGatewayExampleSaysWhatItsCommentsSay(t *testing.T) {
	c, err := LoadFile(filepath.Join("..", "..", "examples", "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Listeners["public"].Address; got != "127.0.0.1:8080" {
		t.Errorf("public listener on %s", got)
	}
	pay, fx := c.Upstreams["payments"], c.Upstreams["fx"]
	if pay == nil || fx == nil {
		t.Fatalf("upstreams %v, want payments and fx", sortedKeys(c.Upstreams))
	}
	if len(pay.Targets) != 2 || pay.Balance != LeastRequest || pay.HealthCheck == nil || pay.HealthCheck.Path != "/health" {
		t.Errorf("payments: %d targets, balance %s, health check %+v", len(pay.Targets), pay.Balance, pay.HealthCheck)
	}
	if fx.Targets[0].Address != "127.0.0.1:9103" || fx.ConnectTimeout.D() >= DefaultConnectTimeout {
		t.Errorf("fx: target %s, connect timeout %s; want tight", fx.Targets[0].Address, fx.ConnectTimeout.D())
	}
	prefixes := map[string]bool{}
	for _, r := range c.Routes {
		if !r.StripPrefix {
			t.Errorf("route %s does not strip its prefix", r.Name)
		}
		prefixes[r.Match.PathPrefix] = true
	}
	if !prefixes["/api/payments/"] || !prefixes["/api/fx/"] {
		t.Errorf("route prefixes %v", prefixes)
	}
}

func TestParseSetsSourceVersionAndRouteLines(t *testing.T) {
	src := []byte(doc("routes:\n  - upstream: fx\n    match: {path_prefix: /a}\n\n  - match: {path_prefix: /b}\n    upstream: fx\n"))
	c, err := Parse("gw.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(src)
	if c.Source != "gw.yaml" || c.Version != hex.EncodeToString(sum[:])[:12] {
		t.Errorf("Source %q Version %q", c.Source, c.Version)
	}
	if a, b := markerLine(t, string(src), "- upstream: fx"), markerLine(t, string(src), "- match: {path_prefix: /b}"); c.Routes[0].Line != a || c.Routes[1].Line != b {
		t.Errorf("route lines %d, %d; want %d, %d", c.Routes[0].Line, c.Routes[1].Line, a, b)
	}
	if c.Routes[0].Name != "/a" || c.Routes[1].Name != "/b" {
		t.Errorf("derived names %q, %q", c.Routes[0].Name, c.Routes[1].Name)
	}
}

func TestDerivedRouteNamesAreUnique(t *testing.T) {
	c, err := Parse("t.yaml", []byte(doc("routes:\n"+
		"  - {upstream: fx, match: {path_prefix: /a, methods: [GET]}}\n"+
		"  - {upstream: fx, match: {path_prefix: /a, methods: [POST]}}\n"+
		"  - {upstream: fx, match: {path_prefix: /a, hosts: [API.example.com, '*.example.com']}}\n"+
		"  - {upstream: fx, match: {path_prefix: /b}}\n"+
		"  - {upstream: fx, name: /c, match: {path_prefix: /x}}\n"+
		"  - {upstream: fx, match: {path_prefix: /c}}\n")))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range c.Routes {
		names = append(names, r.Name)
	}
	want := []string{"/a", "/a POST", "api.example.com,*.example.com/a", "/b", "/c", "/c #2"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("names %q, want %q", names, want)
	}
}

func TestHostsAreLowerCased(t *testing.T) {
	c, err := Parse("t.yaml", []byte(doc("routes:\n  - {upstream: fx, match: {hosts: [API.Example.COM, '*.EXAMPLE.org']}}\n")))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Routes[0].Match.Hosts; !reflect.DeepEqual(got, []string{"api.example.com", "*.example.org"}) {
		t.Errorf("hosts %q", got)
	}
}

// TestEveryDefaultIsApplied walks a parsed minimal config: no pointer with a
// default may be nil, and no duration or size with a default may be zero.
func TestEveryDefaultIsApplied(t *testing.T) {
	c, err := Parse("t.yaml", []byte(doc(
		"upstreams:\n  fx:\n    targets: [{address: 127.0.0.1:9103}]\n    health_check: {}\n",
		"routes:\n  - upstream: fx\n    breaker: {}\n    rate_limit: {rate: 10/s}\n"+
			"    forward_auth: {url: 'http://127.0.0.1:4181/auth'}\n    cors: {allow_origins: ['*']}\n    maintenance: {}\n")))
	if err != nil {
		t.Fatal(err)
	}
	// Fields whose default is the zero value, or that are optional sections.
	zeroOK := map[string]bool{
		"Retry.Timeout": true, "Breaker.SlowCallRatio": true, "Listener.HSTS": true,
		"Maintenance.RetryAfter": true, "CORS.MaxAge": true,
	}
	// Optional sections, nil when the file leaves them out.
	optional := []string{".TLS", ".BasicAuth", ".Respond", ".Redirect"}
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() {
				for _, o := range optional {
					if strings.HasSuffix(path, o) {
						return
					}
				}
				t.Errorf("%s is nil after Parse", path)
				return
			}
			walk(v.Elem(), path)
		case reflect.Struct:
			for i := range v.NumField() {
				f := v.Type().Field(i)
				if !f.IsExported() {
					continue // bookkeeping such as Config.layout, not schema
				}
				fv := v.Field(i)
				name := v.Type().Name() + "." + f.Name
				switch fv.Interface().(type) {
				case Duration, ByteSize:
					if fv.IsZero() && !zeroOK[name] {
						t.Errorf("%s.%s (%s) is zero after Parse", path, f.Name, name)
					}
					continue
				}
				walk(fv, path+"."+f.Name)
			}
		case reflect.Map:
			for _, k := range v.MapKeys() {
				walk(v.MapIndex(k), path+"["+k.String()+"]")
			}
		case reflect.Slice:
			for i := range v.Len() {
				walk(v.Index(i), path+"["+string(rune('0'+i))+"]")
			}
		}
	}
	walk(reflect.ValueOf(c), "Config")

	u, r := c.Upstreams["fx"], c.Routes[0]
	for _, check := range []struct {
		name      string
		got, want any
	}{
		{"admin.listen", c.Admin.Listen, DefaultAdminListen},
		{"access_log.enabled", *c.AccessLog.Enabled, true},
		{"access_log.path", c.AccessLog.Path, "stdout"},
		{"shutdown_grace", c.ShutdownGrace.D(), DefaultShutdownGrace},
		{"max_header_bytes", int64(c.Listeners["public"].MaxHeaderBytes), int64(DefaultMaxHeaderBytes)},
		{"balance", u.Balance, RoundRobin},
		{"weight", u.Targets[0].Weight, 1},
		{"keepalive.idle", *u.Keepalive.Idle, DefaultKeepaliveIdle},
		{"max_fails", *u.PassiveHealth.MaxFails, DefaultMaxFails},
		{"health_check.path", u.HealthCheck.Path, DefaultHealthPath},
		{"health_check.expect_status", u.HealthCheck.ExpectStatus, []string{"200-399"}},
		{"health_check.rise", u.HealthCheck.Rise, DefaultHealthRise},
		{"breaker.consecutive_failures", *u.Breaker.ConsecutiveFailures, DefaultConsecutiveFailures},
		{"breaker.failure_ratio", *u.Breaker.FailureRatio, DefaultFailureRatio},
		{"breaker.half_open_probes", u.Breaker.HalfOpenProbes, DefaultHalfOpenProbes},
		{"retry_budget.ratio", *u.RetryBudget.Ratio, DefaultRetryBudgetRatio},
		{"retry_budget.min_per_second", *u.RetryBudget.MinPerSecond, DefaultRetryBudgetMin},
		{"route.match.path_prefix", r.Match.PathPrefix, "/"},
		{"route.name", r.Name, "/"},
		{"route.timeouts.connect", r.Timeouts.Connect.D(), DefaultConnectTimeout},
		{"route.timeouts.total", r.Timeouts.Total.D(), DefaultTotalTimeout},
		{"route.retry.tries", r.Retry.Tries, DefaultTries},
		{"route.retry.on", r.Retry.On, []string{RetryOnError, RetryOnTimeout}},
		{"route.retry.buffer_bytes", int64(*r.Retry.BufferBytes), int64(DefaultRetryBufferBytes)},
		{"route.max_body_bytes", int64(*r.MaxBodyBytes), int64(DefaultMaxBodyBytes)},
		{"route.breaker.open_for", r.Breaker.OpenFor.D(), DefaultOpenFor},
		{"route.upgrades", r.Upgrades, []string{UpgradeWebSocket}},
	} {
		if !reflect.DeepEqual(check.got, check.want) {
			t.Errorf("%s = %v, want %v", check.name, check.got, check.want)
		}
	}
}

func TestRouteConnectTimeoutDefaultsToItsUpstreams(t *testing.T) {
	c, err := Parse("t.yaml", []byte(doc("upstreams:\n  fx:\n    targets: [{address: 127.0.0.1:9103}]\n    connect_timeout: 250ms\n")))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Routes[0].Timeouts.Connect.D(); got != 250*time.Millisecond {
		t.Errorf("route connect timeout %s, want the upstream's 250ms", got)
	}
}

func TestExplicitZeroKeepsItsMeaningWhereZeroIsAllowed(t *testing.T) {
	c, err := Parse("t.yaml", []byte(doc(
		"access_log:\n  enabled: false\n",
		"upstreams:\n  fx:\n    targets: [{address: 127.0.0.1:9103}]\n    keepalive: {idle: 0}\n    passive_health: {max_fails: 0}\n",
		"routes:\n  - upstream: fx\n    max_body_bytes: 0\n")))
	if err != nil {
		t.Fatal(err)
	}
	u := c.Upstreams["fx"]
	if *c.AccessLog.Enabled || *u.Keepalive.Idle != 0 || *u.PassiveHealth.MaxFails != 0 || *c.Routes[0].MaxBodyBytes != 0 {
		t.Errorf("explicit zeros replaced by defaults: enabled %v idle %d max_fails %d max_body_bytes %d",
			*c.AccessLog.Enabled, *u.Keepalive.Idle, *u.PassiveHealth.MaxFails, *c.Routes[0].MaxBodyBytes)
	}
}

func TestEmptyUpgradesAllowsNoneAndNamesAreLowerCased(t *testing.T) {
	c, err := Parse("t.yaml", []byte(doc(
		"routes:\n  - upstream: fx\n    match: {path_prefix: /a}\n    upgrades: []\n"+
			"  - upstream: fx\n    match: {path_prefix: /b}\n    upgrades: [WebSocket, h2c]\n")))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Routes[0].Upgrades; len(got) != 0 {
		t.Errorf("upgrades: [] gave %v, want none", got)
	}
	if got := c.Routes[1].Upgrades; !reflect.DeepEqual(got, []string{"websocket", "h2c"}) {
		t.Errorf("upgrades = %v, want [websocket h2c]", got)
	}
}

func TestApplyDefaultsOnACodeBuiltConfig(t *testing.T) {
	c := &Config{
		Listeners: map[string]*Listener{"public": {Address: "127.0.0.1:8080"}},
		Upstreams: map[string]*Upstream{"fx": {Targets: []*Target{{Address: "127.0.0.1:9103"}}}},
		Routes:    []*Route{{Upstream: "fx"}},
	}
	ApplyDefaults(c)
	first := *c.Routes[0]
	ApplyDefaults(c)
	if c.Routes[0].Name != first.Name || c.Routes[0].Name != "/" {
		t.Errorf("name %q then %q; want / both times", first.Name, c.Routes[0].Name)
	}
	if c.Upstreams["fx"].Breaker.ConsecutiveFailures == nil || c.Routes[0].Retry.Tries != DefaultTries {
		t.Error("defaults not applied")
	}
}

func TestFileWithFiveMistakesReportsAllFive(t *testing.T) {
	const src = `listeners:
  public:
    address: 127.0.0.1:8080
upstreams:
  fx:
    targets:
      - address: 127.0.0.1:9103
        weight: 5000
    connect_timeout: fast
    helth_check:
      path: /health
routes:
  - match:
      path_prefix: /api/fx/
    upstream: fx
    retry:
      on: [error, timeot]
  - match:
      path_prefix: /api/pay/
    upstream: payments
`
	_, err := Parse("gw.yaml", []byte(src))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want a *ValidationError", err)
	}
	want := []string{
		`gw.yaml:8:17: upstreams.fx.targets[0].weight: must be between 1 and 1000, got 5000`,
		`gw.yaml:9:22: upstreams.fx.connect_timeout: expected a duration such as 2s or 150ms, got "fast"`,
		`gw.yaml:10:5: upstreams.fx.helth_check: unknown key "helth_check"; did you mean "health_check"?`,
		`gw.yaml:17:19: routes[0].retry.on[1]: unknown retry condition "timeot"; did you mean "timeout"? expected one of error, timeout, http_500, http_502, http_503, http_504, http_429`,
		`gw.yaml:20:15: routes[1].upstream: upstream "payments" is not defined; (defined upstreams: fx)`,
	}
	if got := strings.Split(ve.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("Error() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(ve.Problems) != 5 {
		t.Errorf("%d problems, want 5", len(ve.Problems))
	}
}

func TestEmptyConfigIsAClearError(t *testing.T) {
	for name, src := range map[string]string{
		"no bytes":      "",
		"only comments": "# nothing here yet\n",
		"null":          "~\n",
	} {
		t.Run(name, func(t *testing.T) {
			ps := problemsOf(t, src)
			if len(ps) != 1 || !strings.Contains(ps[0].Message, "the config is empty") || ps[0].Line != 1 {
				t.Errorf("got %v", ps)
			}
		})
	}
}

func TestYAMLSyntaxErrorIsAProblemOnItsLine(t *testing.T) {
	ps := problemsOf(t, "listeners:\n  public:\n    address: [127.0.0.1:8080\n")
	if len(ps) != 1 || ps[0].Line == 0 || !strings.HasPrefix(ps[0].Message, "invalid YAML: ") {
		t.Errorf("got %v", ps)
	}
	ps = problemsOf(t, "listeners:\n  public:\n    address: x\n    idle_timeout: 5s: 6s\n")
	if len(ps) != 1 || ps[0].Line != 4 {
		t.Errorf("got %v, want one problem on line 4", ps)
	}
}

func TestSecondDocumentIsAProblem(t *testing.T) {
	ps := problemsOf(t, doc()+"---\nlisteners: {}\n")
	if len(ps) != 1 || !strings.Contains(ps[0].Message, "one YAML document") {
		t.Errorf("got %v", ps)
	}
}

func TestTopLevelExtensionKeysAreIgnored(t *testing.T) {
	if _, err := Parse("t.yaml", []byte("x-notes: {anything: [goes]}\n"+doc())); err != nil {
		t.Fatal(err)
	}
}

func TestLoadFileMissingWrapsNotExist(t *testing.T) {
	_, err := LoadFile(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("error %q does not name the file", err)
	}
}

func TestFileSourceLoadsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(path, []byte(doc()), 0o600); err != nil {
		t.Fatal(err)
	}
	var src Source = FileSource{Path: path}
	c, err := src.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != path || src.String() != path {
		t.Errorf("Source %q, String %q; want %q", c.Source, src.String(), path)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := src.Load(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Load with a cancelled context: %v", err)
	}
}

func TestProblemFormat(t *testing.T) {
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{"gw.yaml", 3, 7, "routes[0].upstream", "is required"}, "gw.yaml:3:7: routes[0].upstream: is required"},
		{Problem{"gw.yaml", 3, 0, "", "invalid YAML: x"}, "gw.yaml:3: invalid YAML: x"},
		{Problem{"gw.yaml", 0, 0, "", "bad"}, "gw.yaml: bad"},
		{Problem{"", 0, 0, "a.b", "bad"}, "a.b: bad"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

func TestStatusRanges(t *testing.T) {
	got, err := ParseStatusRanges([]string{"200", "300-399"})
	if err != nil || !reflect.DeepEqual(got, []StatusRange{{200, 200}, {300, 399}}) {
		t.Fatalf("ParseStatusRanges() = %v, %v", got, err)
	}
	if got[0].Contains(201) || !got[1].Contains(302) {
		t.Error("Contains is wrong")
	}
}
