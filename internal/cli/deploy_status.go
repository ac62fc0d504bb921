package cli

import (
	"encoding/json"
	"time"

	"github.com/spf13/cobra"

	"github.com/skjold-dev/skjold/internal/deploy"
)

// newDeployStatus builds `skjold deploy status SERVICE`.
func newDeployStatus(s streams, f *deployFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status SERVICE -c FILE",
		Short: "Show what release of a service runs now, what the gateway routes to, and the last releases",
		Long: "status reads the service's state directory (it does not take the deploy lock), asks the\n" +
			"driver whether the current release's container or process runs, and asks the gateway's\n" +
			"admin API which targets the upstream has. A deploy under way is shown with its pid.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, closeDeployer, err := openDeployer(s, f, args[0], nil)
			if err != nil {
				return err
			}
			defer closeDeployer()
			rep, err := d.Status(cmd.Context())
			if err != nil {
				return withCode(deployExitFailed, err)
			}
			if f.jsonOut {
				return writeJSONTo(s, rep)
			}
			return deploy.WriteReport(s.out, rep, time.Now())
		},
	}
}

// newDeployHistory builds `skjold deploy history SERVICE`.
func newDeployHistory(s streams, f *deployFlags) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "history SERVICE -c FILE",
		Short: "Show the release ledger of a service: version, image or command, who, when, outcome, duration",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, closeDeployer, err := openDeployer(s, f, args[0], nil)
			if err != nil {
				return err
			}
			defer closeDeployer()
			rs, err := d.History()
			if err != nil {
				return withCode(deployExitFailed, err)
			}
			if limit > 0 && len(rs) > limit {
				rs = rs[:limit]
			}
			if f.jsonOut {
				if rs == nil {
					rs = []*deploy.Release{}
				}
				return writeJSONTo(s, rs)
			}
			return deploy.WriteHistory(s.out, rs, time.Now())
		},
	}
	cmd.Flags().IntVarP(&limit, "limit", "n", 20, "show the last N releases (0: all)")
	return cmd
}

// newDeployRollback builds `skjold deploy rollback SERVICE`.
func newDeployRollback(s streams, f *deployFlags) *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "rollback SERVICE -c FILE",
		Short: "Deploy the previous successful release of a service again, blue/green",
		Long: "rollback finds the latest successful release that runs a different image or command\n" +
			"than the current one and deploys it again with every step of a deploy (health check,\n" +
			"switch, drain, watch), so a rollback fails no request either. The ledger records it as\n" +
			"a new release that names the one it rolled back to.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDeploy(cmd.Context(), s, *f, args[0], func(d *deploy.Deployer) (*deploy.Release, error) {
				return d.Rollback(cmd.Context(), wait)
			})
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for another deploy of the service to finish instead of refusing")
	return cmd
}

func writeJSONTo(s streams, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = s.out.Write(append(b, '\n'))
	return err
}
