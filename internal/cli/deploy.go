package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/skjold-dev/skjold/internal/deploy"
)

// Exit statuses of `skjold deploy`.
const (
	// deployExitFailed: the deploy failed or was rolled back; the previous
	// release serves.
	deployExitFailed = 1
	// deployExitBusy: another deploy of the service holds its lock.
	deployExitBusy = 3
)

// deployFlags are the flags every deploy subcommand shares.
type deployFlags struct {
	configPath, admin, tokenFile string
	jsonOut                      bool
}

func (f *deployFlags) register(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.StringVarP(&f.configPath, "config", "c", "", "config file with the services section (required)")
	pf.StringVar(&f.admin, "admin", "", "gateway admin API address (default: admin.listen from the config)")
	pf.StringVar(&f.tokenFile, "token-file", "", "file holding the admin token (default $"+adminTokenEnv+", else the config's admin section)")
	pf.BoolVar(&f.jsonOut, "json", false, "print JSON for machines: one event per line, then the result")
}

// newDeploy builds `skjold deploy`: blue/green deploys of a service, and
// its status, history and rollback subcommands.
func newDeploy(s streams) *cobra.Command {
	var (
		f   deployFlags
		req deploy.Request
	)
	cmd := &cobra.Command{
		Use:   "deploy SERVICE (--image IMAGE | --cmd 'COMMAND') -c FILE",
		Short: "Deploy a new release of a service blue/green, without failing a request",
		Long: "deploy starts the new release (green) beside the one serving (blue) on a free port of\n" +
			"the service's range, waits until it passes its health check N times in a row, switches\n" +
			"the gateway's upstream to it through the admin API, lets requests on blue finish,\n" +
			"watches green's 5xx ratio at the gateway, and stops blue. When green never becomes\n" +
			"healthy it is removed and blue never stopped serving; when green fails during the\n" +
			"watch window, traffic goes back to blue and green is stopped.\n\n" +
			"--image deploys a Docker container, --cmd a plain process (run by /bin/sh -c with\n" +
			"$PORT set). Without either, the service's image or command from the config is used.\n\n" +
			"Exit status: 0 deployed, 1 failed or rolled back (the previous release serves),\n" +
			"3 another deploy of the service is running (use --wait to wait for it).\n" +
			"See docs/deploy.md.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDeploy(cmd.Context(), s, f, args[0], func(d *deploy.Deployer) (*deploy.Release, error) {
				return d.Deploy(cmd.Context(), req)
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&req.Image, "image", "", "Docker image to deploy")
	cmd.Flags().StringVar(&req.Command, "cmd", "", "command line to deploy as a plain process")
	cmd.Flags().StringVar(&req.Version, "version", "", "name of the release (default: the image tag, or a hash of the command)")
	cmd.Flags().BoolVar(&req.Wait, "wait", false, "wait for another deploy of the service to finish instead of refusing")
	cmd.MarkFlagsMutuallyExclusive("image", "cmd")
	cmd.AddCommand(newDeployStatus(s, &f), newDeployHistory(s, &f), newDeployRollback(s, &f))
	return cmd
}

// openDeployer loads the config and builds the service's deployer.
func openDeployer(s streams, f *deployFlags, service string, progress deploy.Reporter) (*deploy.Deployer, func(), error) {
	if f.configPath == "" {
		return nil, nil, withCode(deployExitFailed, errors.New("-c/--config is required: the config file with the services section"))
	}
	cfg, err := loadConfig(f.configPath)
	if err != nil {
		return nil, nil, reportConfigError(s, err)
	}
	svc := cfg.Services[service]
	if svc == nil {
		names := make([]string, 0, len(cfg.Services))
		for n := range cfg.Services {
			names = append(names, n)
		}
		sort.Strings(names)
		have := "it defines no services"
		if len(names) > 0 {
			have = "it defines " + strings.Join(names, ", ")
		}
		return nil, nil, withCode(deployExitFailed, fmt.Errorf("service %q is not in the services section of %s; %s", service, f.configPath, have))
	}
	af := adminFlags{addr: f.admin, tokenFile: f.tokenFile, configPath: f.configPath}
	client, err := af.client()
	if err != nil {
		return nil, nil, withCode(deployExitFailed, err)
	}
	// Absolute, so that what the state records (log files) holds from
	// any working directory.
	stateDir, err := filepath.Abs(cfg.ServiceStateDir(service))
	if err != nil {
		return nil, nil, withCode(deployExitFailed, err)
	}
	dk := deploy.NewDocker()
	d, err := deploy.New(deploy.Options{
		Service:  service,
		Config:   svc,
		StateDir: stateDir,
		Dir:      cfg.ServiceDir(service),
		Gateway:  deploy.AdminGateway{Client: client},
		Drivers:  map[string]deploy.Driver{deploy.DriverDocker: dk, deploy.DriverProcess: deploy.NewProcess()},
		Progress: progress,
	})
	if err != nil {
		client.Close()
		dk.Close()
		return nil, nil, withCode(deployExitFailed, err)
	}
	return d, func() { client.Close(); dk.Close() }, nil
}

// reporter picks how progress is shown: JSON lines, a redrawn terminal
// line with a spinner, or plain lines for logs and CI.
func reporter(s streams, jsonOut bool) (deploy.Reporter, func()) {
	if jsonOut {
		return deploy.JSONReporter{W: s.out}, func() {}
	}
	if f, ok := s.out.(*os.File); ok && isTerminal(f) {
		t := deploy.NewTerminalReporter(f)
		return t, t.Close
	}
	return &deploy.PlainReporter{W: s.out}, func() {}
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// deployResult is the last JSON line of a deploy with --json.
type deployResult struct {
	Result  string          `json:"result"`
	Release *deploy.Release `json:"release,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// runDeploy runs a deploy or rollback and turns its outcome into output
// and an exit status.
func runDeploy(ctx context.Context, s streams, f deployFlags, service string, do func(*deploy.Deployer) (*deploy.Release, error)) error {
	progress, closeProgress := reporter(s, f.jsonOut)
	d, closeDeployer, err := openDeployer(s, &f, service, progress)
	if err != nil {
		closeProgress()
		return err
	}
	defer closeDeployer()
	rel, err := do(d)
	closeProgress()
	code := 0
	switch {
	case err == nil:
	case errors.Is(err, deploy.ErrLocked):
		code = deployExitBusy
	default:
		code = deployExitFailed
	}
	if f.jsonOut {
		res := deployResult{Result: "succeeded", Release: rel}
		if err != nil {
			res.Result, res.Error = "failed", err.Error()
			if rel != nil {
				res.Result = string(rel.Outcome)
			}
			if code == deployExitBusy {
				res.Result = "busy"
			}
		}
		b, _ := json.Marshal(res)
		fmt.Fprintln(s.out, string(b))
		if err != nil {
			return withCode(code, nil)
		}
		return nil
	}
	if err != nil {
		return withCode(code, err)
	}
	return nil
}
