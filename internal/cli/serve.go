package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/skjold-dev/skjold/internal/admin"
	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/deploy"
	"github.com/skjold-dev/skjold/internal/gateway"
)

// newServe builds `skjold serve`: run the gateway on a config file.
func newServe(s streams) *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run the gateway",
		Long: "serve runs the gateway on a config file. It refuses to start on an invalid config,\n" +
			"printing every problem. SIGHUP (or `skjold reload`, or POST /reload on the admin API)\n" +
			"reloads the file without dropping a request; SIGTERM or SIGINT shuts down gracefully.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src := configSource(path)
			cfg, err := src.Load(cmd.Context())
			if err != nil {
				return reportConfigError(s, err)
			}
			return runGateway(cmd.Context(), s, src, cfg, nil)
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "config file (required)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// reportConfigError prints a config's problems and returns exit status 1.
func reportConfigError(s streams, err error) error {
	var ve *config.ValidationError
	if errors.As(err, &ve) {
		fmt.Fprintln(s.err, ve.Error())
		return withCode(1, nil)
	}
	return withCode(1, err)
}

// runGateway runs a gateway with its admin API until ctx ends. started, if
// not nil, is called once the gateway listens.
func runGateway(ctx context.Context, s streams, src config.Source, cfg *config.Config, started func(*gateway.Gateway, *admin.Server)) error {
	logger := slog.New(slog.NewJSONHandler(s.err, nil))
	accessLog, closeLog, err := openAccessLog(cfg, s)
	if err != nil {
		return withCode(1, err)
	}
	defer closeLog()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	g := gateway.New(gateway.Options{Logger: logger, AccessLog: accessLog, Registerer: reg, StateDir: cfg.GatewayStateDir()})
	if _, err := g.Apply(cfg); err != nil {
		return withCode(1, err)
	}
	// The gateway restores its saved target overrides itself. A state
	// directory without that file is a first start (or one from before the
	// gateway saved them): services deployed with `skjold deploy` go on
	// serving the release the last deploy switched to, as their deploy
	// state records it; the switch saves it from then on.
	if !g.SavedOverrides() {
		if err := deploy.RestoreTargets(ctx, cfg, g, logger); err != nil {
			logger.Warn("some deployed services keep their config targets", "err", err)
		}
	}
	reload := func(ctx context.Context) (gateway.ReloadReport, error) {
		rep, err := g.Reload(ctx, src)
		if err != nil {
			logger.Error("config reload rejected", "source", src.String(), "err", err)
		}
		return rep, err
	}
	token, err := cfg.Admin.ResolvedToken()
	if err != nil {
		return withCode(1, err)
	}
	adm, err := admin.Start(ctx, admin.Options{
		Listen:   cfg.Admin.Listen,
		Token:    token,
		Gateway:  g,
		Reload:   reload,
		Gatherer: reg,
		Logger:   logger,
	})
	if err != nil {
		return withCode(1, fmt.Errorf("admin API: %w", err))
	}
	defer adm.Close()

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload(ctx)
			}
		}
	}()

	logger.Info("skjold gateway started", "config", src.String(), "version", cfg.Version,
		"listeners", g.Addrs(), "admin", adm.Addr())
	if started != nil {
		started(g, adm)
	}
	if err := g.Serve(ctx); err != nil {
		return withCode(1, err)
	}
	return nil
}

// openAccessLog returns the access logger the config asks for (nil when
// disabled) and a function that closes its file.
func openAccessLog(cfg *config.Config, s streams) (*slog.Logger, func(), error) {
	if cfg.AccessLog.Enabled != nil && !*cfg.AccessLog.Enabled {
		return nil, func() {}, nil
	}
	var w io.Writer
	closeFn := func() {}
	switch cfg.AccessLog.Path {
	case "", "stdout":
		w = s.out
	case "stderr":
		w = s.err
	default:
		f, err := os.OpenFile(cfg.AccessLog.Path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("access log: %w", err)
		}
		w, closeFn = f, func() { f.Close() }
	}
	return slog.New(slog.NewJSONHandler(w, nil)), closeFn, nil
}
