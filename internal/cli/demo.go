package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/skjold-dev/skjold/internal/admin"
	"github.com/skjold-dev/skjold/internal/demo"
	"github.com/skjold-dev/skjold/internal/gateway"
)

// newDemo builds `skjold demo`: the gateway on the built-in demo config, in
// front of the built-in demo services.
func newDemo(s streams) *cobra.Command {
	var (
		listen, adminAddr string
		portsFrom         int
	)
	cmd := &cobra.Command{
		Use:   "demo [--listen ADDR] [--admin ADDR] [--ports-from PORT]",
		Short: "Run the gateway in front of built-in demo services and show what to try",
		Long: "demo starts three small services on loopback (payments twice, and fx, which\n" +
			"can be told to stall or fail) and runs the gateway in front of them on the\n" +
			"config in examples/demo.yaml. It prints what runs where and commands to try,\n" +
			"then serves until Ctrl-C. The access log goes to stdout, everything else to\n" +
			"stderr. docs/demo.md walks through it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			payments, fx, err := demo.ServiceAddrs(portsFrom)
			if err != nil {
				return withCode(2, fmt.Errorf("--ports-from: %w", err))
			}
			// Refuse bad or clashing flags before touching any port.
			if _, err := demo.Config(demo.Addrs{Listen: listen, Admin: adminAddr, Payments: payments, FX: fx}); err != nil {
				return withCode(2, err)
			}
			for _, a := range []struct{ flag, addr string }{{"--listen", listen}, {"--admin", adminAddr}} {
				if err := demo.CheckFree(a.addr); err != nil {
					return withCode(1, inUseHint(err, a.flag, 1))
				}
			}
			services, err := demo.StartServices(payments, fx, slog.New(slog.NewJSONHandler(s.err, nil)))
			if err != nil {
				return withCode(1, inUseHint(err, "--ports-from", 3))
			}
			// Deferred first, so it runs last: the services outlive the
			// gateway's graceful shutdown.
			defer services.Close()
			src := demo.Source{Addrs: services.Addrs(demo.Addrs{Listen: listen, Admin: adminAddr})}
			cfg, err := src.Load(cmd.Context())
			if err != nil {
				return withCode(1, err)
			}
			return runGateway(cmd.Context(), s, src, cfg, func(g *gateway.Gateway, adm *admin.Server) {
				demo.WriteIntro(s.err, cfg, g.Addrs()[demo.ListenerName], adm.Addr())
			})
		},
	}
	cmd.Flags().StringVar(&listen, "listen", demo.DefaultListen, "address for the gateway's client traffic")
	cmd.Flags().StringVar(&adminAddr, "admin", demo.DefaultAdmin, "address for the admin API")
	cmd.Flags().IntVar(&portsFrom, "ports-from", demo.DefaultPortsFrom,
		"first of three consecutive loopback ports for the demo services (payments, payments, fx); 0 picks free ports")
	return cmd
}

// inUseHint turns an address-in-use error into advice naming the flag
// that moves it: "127.0.0.1:8080 is in use; try --listen 127.0.0.1:8081".
// n is how many consecutive ports the flag needs.
func inUseHint(err error, flag string, n int) error {
	var iu *demo.InUseError
	if !errors.As(err, &iu) {
		return err
	}
	next := demo.NextFree(iu.Addr, n)
	if next == "" {
		return fmt.Errorf("%s; choose another with %s", iu, flag)
	}
	if n > 1 {
		_, port, _ := net.SplitHostPort(next)
		if p, _ := strconv.Atoi(port); p > 0 {
			return fmt.Errorf("%s; try %s %d", iu, flag, p)
		}
	}
	return fmt.Errorf("%s; try %s %s", iu, flag, next)
}
