package demo

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skjold-dev/skjold/internal/config"
)

func TestExampleFileIsTheBuiltInConfig(t *testing.T) {
	path := filepath.Join("..", "..", "examples", "demo.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, []byte(YAML())) {
		t.Fatalf("%s differs from internal/demo/demo.yaml; copy one over the other", path)
	}
	if _, err := config.Parse(path, b); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// The walkthrough in docs/demo.md depends on these settings.
func TestBuiltInConfigHasTheSettingsTheStoryNeeds(t *testing.T) {
	cfg, err := Config(Addrs{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Listeners[ListenerName].Address; got != DefaultListen {
		t.Errorf("listener %s", got)
	}
	if cfg.Admin.Listen != DefaultAdmin {
		t.Errorf("admin %s", cfg.Admin.Listen)
	}
	pay, fx := cfg.Upstreams[PaymentsName], cfg.Upstreams[FXName]
	wantPay, wantFX, _ := ServiceAddrs(DefaultPortsFrom)
	if len(pay.Targets) != 2 || pay.Targets[0].Address != wantPay[0] || pay.Targets[1].Address != wantPay[1] {
		t.Errorf("payments targets %+v %+v", pay.Targets[0], pay.Targets[1])
	}
	if pay.Balance != config.LeastRequest || pay.HealthCheck == nil || pay.HealthCheck.Path != "/health" || pay.HealthCheck.Interval.D().Seconds() != 2 {
		t.Errorf("payments balance %s, health check %+v", pay.Balance, pay.HealthCheck)
	}
	if len(fx.Targets) != 1 || fx.Targets[0].Address != wantFX {
		t.Errorf("fx targets %+v", fx.Targets)
	}
	if *fx.Breaker.ConsecutiveFailures != 3 || fx.Breaker.OpenFor.D().Seconds() != 5 {
		t.Errorf("fx breaker %d failures, open %v", *fx.Breaker.ConsecutiveFailures, fx.Breaker.OpenFor)
	}
	if *fx.PassiveHealth.MaxFails != 3 || fx.PassiveHealth.FailTimeout.D().Seconds() != 10 {
		t.Errorf("fx passive health %+v", fx.PassiveHealth)
	}
	if fx.HealthCheck == nil || fx.HealthCheck.Path != "/health" {
		t.Errorf("fx health check %+v", fx.HealthCheck)
	}
	routes := map[string]*config.Route{}
	for _, r := range cfg.Routes {
		routes[r.Match.PathPrefix] = r
	}
	if r := routes["/api/payments/"]; r == nil || r.Upstream != PaymentsName || !r.StripPrefix {
		t.Errorf("payments route %+v", r)
	}
	r := routes["/api/fx/"]
	if r == nil || r.Upstream != FXName || !r.StripPrefix || r.Timeouts.Response.D().Seconds() != 1 {
		t.Fatalf("fx route %+v", r)
	}
	if r.Retry.Tries != 1 || strings.Join(r.Retry.On, ",") != "error,timeout,http_500" {
		t.Errorf("fx retry %+v", r.Retry)
	}
}

func TestConfigMovesAddresses(t *testing.T) {
	a := Addrs{
		Listen:   "127.0.0.1:18080",
		Admin:    "127.0.0.1:19901",
		Payments: [2]string{"127.0.0.1:19101", "127.0.0.1:19102"},
		FX:       "127.0.0.1:19103",
	}
	cfg, err := Config(a)
	if err != nil {
		t.Fatal(err)
	}
	got := Addrs{
		Listen: cfg.Listeners[ListenerName].Address,
		Admin:  cfg.Admin.Listen,
		Payments: [2]string{cfg.Upstreams[PaymentsName].Targets[0].Address,
			cfg.Upstreams[PaymentsName].Targets[1].Address},
		FX: cfg.Upstreams[FXName].Targets[0].Address,
	}
	if got != a {
		t.Errorf("got %+v, want %+v", got, a)
	}
	// Each call parses afresh: moving one config leaves the next alone.
	again, err := Config(Addrs{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Listeners[ListenerName].Address != DefaultListen {
		t.Errorf("a second Config kept the moved listener: %s", again.Listeners[ListenerName].Address)
	}
}

func TestConfigRefusesBadAddresses(t *testing.T) {
	for _, tc := range []struct {
		name string
		a    Addrs
		want string
	}{
		{"listen without port", Addrs{Listen: "127.0.0.1"}, `listen address "127.0.0.1": expected host:port`},
		{"admin without port", Addrs{Admin: "localhost"}, `admin address "localhost": expected host:port`},
		{"listen on admin", Addrs{Listen: "127.0.0.1:9901"}, "the gateway (--listen) and the admin API (--admin) would both listen on 127.0.0.1:9901"},
		{"listen on a service", Addrs{Listen: "127.0.0.1:9103"}, "the gateway (--listen) and fx would both listen on 127.0.0.1:9103"},
		{"services on one port", Addrs{Payments: [2]string{"127.0.0.1:9200", "127.0.0.1:9200"}}, "the first payments instance and the second payments instance would both listen on 127.0.0.1:9200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Config(tc.a)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to say %q", err, tc.want)
			}
		})
	}
}

func TestConfigAllowsPortZeroEverywhere(t *testing.T) {
	p, fx, err := ServiceAddrs(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Config(Addrs{Listen: "127.0.0.1:0", Admin: "127.0.0.1:0", Payments: p, FX: fx}); err != nil {
		t.Fatal(err)
	}
}

func TestServiceAddrs(t *testing.T) {
	for _, tc := range []struct {
		from     int
		payments [2]string
		fx       string
		err      bool
	}{
		{9101, [2]string{"127.0.0.1:9101", "127.0.0.1:9102"}, "127.0.0.1:9103", false},
		{20000, [2]string{"127.0.0.1:20000", "127.0.0.1:20001"}, "127.0.0.1:20002", false},
		{0, [2]string{"127.0.0.1:0", "127.0.0.1:0"}, "127.0.0.1:0", false},
		{65533, [2]string{"127.0.0.1:65533", "127.0.0.1:65534"}, "127.0.0.1:65535", false},
		{65534, [2]string{}, "", true},
		{-1, [2]string{}, "", true},
	} {
		p, fx, err := ServiceAddrs(tc.from)
		if (err != nil) != tc.err || p != tc.payments || fx != tc.fx {
			t.Errorf("ServiceAddrs(%d) = %v %q %v", tc.from, p, fx, err)
		}
	}
}

func TestSourceLoadsTheMovedConfigEveryTime(t *testing.T) {
	src := Source{Addrs: Addrs{Listen: "127.0.0.1:18080"}}
	var _ config.Source = src
	for range 2 {
		cfg, err := src.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Listeners[ListenerName].Address != "127.0.0.1:18080" || cfg.Source != ConfigName {
			t.Errorf("loaded %s from %s", cfg.Listeners[ListenerName].Address, cfg.Source)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := src.Load(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Load with a cancelled context: %v", err)
	}
	if src.String() != ConfigName {
		t.Errorf("String() = %q", src.String())
	}
}

func TestStartServicesReportsTakenPortAndClosesTheRest(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	// payments start, fx cannot: the payments instances must be closed
	// again (TestMain's leak check fails otherwise).
	_, err = StartServices([2]string{"127.0.0.1:0", "127.0.0.1:0"}, taken.Addr().String(), nil)
	var iu *InUseError
	if !errors.As(err, &iu) || iu.Addr != taken.Addr().String() {
		t.Fatalf("StartServices with fx's port taken: %v", err)
	}
}

func TestStartServicesRunsPaymentsTwiceAndControllableFX(t *testing.T) {
	p, fx, _ := ServiceAddrs(0)
	s, err := StartServices(p, fx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := client(t)
	seen := map[string]bool{}
	for _, b := range s.Payments {
		r := get(t, c, "http://"+b.Addr()+"/charge")
		if r.answer.Service != "payments" {
			t.Errorf("%s answered %+v", b.Addr(), r.answer)
		}
		seen[r.answer.Instance] = true
	}
	if len(seen) != 2 {
		t.Errorf("the two payments instances report instances %v", seen)
	}
	if r := post(t, c, "http://"+s.FX.Addr()+ControlPrefix+"fail"); r.status != 200 || s.FX.Mode() != Failing {
		t.Errorf("fx control: %d, mode %s", r.status, s.FX.Mode())
	}
	a := s.Addrs(Addrs{Listen: "127.0.0.1:0"})
	if a.Listen != "127.0.0.1:0" || a.Payments[0] != s.Payments[0].Addr() || a.Payments[1] != s.Payments[1].Addr() || a.FX != s.FX.Addr() {
		t.Errorf("Addrs = %+v", a)
	}
}
