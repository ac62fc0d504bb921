// Package demo is Skjold's built-in demonstration: small payments and fx
// services on loopback, one of which can be told to stall or fail, and the
// gateway config that fronts them, so a newcomer can watch timeouts,
// circuit breakers and health checks at work.
package demo

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/skjold-dev/skjold/internal/config"
)

// configYAML is the demo's gateway config; examples/demo.yaml is a copy.
//
//go:embed demo.yaml
var configYAML string

// ConfigName names the built-in config in messages and in /status.
const ConfigName = "demo.yaml (built in)"

// Names of the pieces of the demo config that Addrs moves.
const (
	ListenerName = "public"
	PaymentsName = "payments"
	FXName       = "fx"
)

// Defaults for Addrs, as in demo.yaml.
const (
	DefaultListen    = "127.0.0.1:8080"
	DefaultAdmin     = config.DefaultAdminListen
	DefaultPortsFrom = 9101
	// ServiceHost is where the demo services listen: loopback only.
	ServiceHost = "127.0.0.1"
)

// YAML returns the demo config as written, comments included.
func YAML() string { return configYAML }

// Addrs are where the pieces of the demo listen. Port 0 anywhere asks for a
// free port.
type Addrs struct {
	// Listen is the gateway's public listener. Default 127.0.0.1:8080.
	Listen string
	// Admin is the admin API. Default 127.0.0.1:9901.
	Admin string
	// Payments are the two payments instances. Default 127.0.0.1:9101 and
	// 127.0.0.1:9102.
	Payments [2]string
	// FX is the fx instance. Default 127.0.0.1:9103.
	FX string
}

// ServiceAddrs places the three demo services on consecutive loopback
// ports from portsFrom: payments on the first two, fx on the third. A
// portsFrom of 0 gives each a free port.
func ServiceAddrs(portsFrom int) (payments [2]string, fx string, err error) {
	if portsFrom < 0 || portsFrom > 65535-2 {
		return payments, "", fmt.Errorf("demo services need three consecutive ports from %d; choose a port from 1 to 65533, or 0 for free ports", portsFrom)
	}
	port := func(i int) string {
		if portsFrom == 0 {
			return net.JoinHostPort(ServiceHost, "0")
		}
		return net.JoinHostPort(ServiceHost, strconv.Itoa(portsFrom+i))
	}
	return [2]string{port(0), port(1)}, port(2), nil
}

// Config returns the demo config with its addresses moved to a. An empty
// field of a keeps the address demo.yaml has.
func Config(a Addrs) (*config.Config, error) {
	cfg, err := config.Parse(ConfigName, []byte(configYAML))
	if err != nil {
		return nil, fmt.Errorf("demo: the built-in config is invalid: %w", err)
	}
	set := func(dst *string, v, what string) error {
		if v == "" {
			return nil
		}
		if _, _, err := net.SplitHostPort(v); err != nil {
			return fmt.Errorf("demo: %s address %q: expected host:port: %w", what, v, err)
		}
		*dst = v
		return nil
	}
	pay, fx := cfg.Upstreams[PaymentsName], cfg.Upstreams[FXName]
	errs := []error{
		set(&cfg.Listeners[ListenerName].Address, a.Listen, "listen"),
		set(&cfg.Admin.Listen, a.Admin, "admin"),
		set(&pay.Targets[0].Address, a.Payments[0], "payments"),
		set(&pay.Targets[1].Address, a.Payments[1], "payments"),
		set(&fx.Targets[0].Address, a.FX, "fx"),
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// Parse checked the file's addresses against each other; check the
	// moved ones again.
	taken := map[string]string{}
	for _, u := range []struct{ what, addr string }{
		{"the gateway (--listen)", cfg.Listeners[ListenerName].Address},
		{"the admin API (--admin)", cfg.Admin.Listen},
		{"the first payments instance", pay.Targets[0].Address},
		{"the second payments instance", pay.Targets[1].Address},
		{"fx", fx.Targets[0].Address},
	} {
		if _, port, _ := net.SplitHostPort(u.addr); port == "0" {
			continue
		}
		if other, ok := taken[u.addr]; ok {
			return nil, fmt.Errorf("demo: %s and %s would both listen on %s; move one", other, u.what, u.addr)
		}
		taken[u.addr] = u.what
	}
	return cfg, nil
}

// Source loads the demo config with its addresses moved, again on every
// reload.
type Source struct {
	// Addrs are where the demo listens.
	Addrs Addrs
}

var _ config.Source = Source{}

// Load returns Config(s.Addrs).
func (s Source) Load(ctx context.Context) (*config.Config, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("demo: load config: %w", err)
	}
	return Config(s.Addrs)
}

// String names the built-in config.
func (s Source) String() string { return ConfigName }

// Services are the demo's backend services, running.
type Services struct {
	// Payments are the two payments instances.
	Payments [2]*Backend
	// FX is the fx instance, the one with control endpoints.
	FX *Backend
}

// StartServices starts the payments instances and fx on the given
// addresses. If one cannot listen, the ones already started are closed and
// the error wraps *InUseError when the address was taken.
func StartServices(payments [2]string, fx string, log *slog.Logger) (*Services, error) {
	s := &Services{}
	var err error
	for i, addr := range payments {
		if s.Payments[i], err = StartBackend(BackendOptions{Name: PaymentsName, Addr: addr, Logger: log}); err != nil {
			s.Close()
			return nil, err
		}
	}
	if s.FX, err = StartBackend(BackendOptions{Name: FXName, Addr: fx, Controls: true, Logger: log}); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops every service that was started; see Backend.Close.
func (s *Services) Close() error {
	var errs []error
	for _, b := range []*Backend{s.Payments[0], s.Payments[1], s.FX} {
		if b != nil {
			errs = append(errs, b.Close())
		}
	}
	return errors.Join(errs...)
}

// Addrs returns a's gateway and admin addresses with the services' real
// addresses.
func (s *Services) Addrs(a Addrs) Addrs {
	a.Payments = [2]string{s.Payments[0].Addr(), s.Payments[1].Addr()}
	a.FX = s.FX.Addr()
	return a
}
