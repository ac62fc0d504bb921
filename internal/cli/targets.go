package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

// newTargets builds `skjold targets`: manage an upstream's runtime target
// override.
func newTargets(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "targets",
		Short: "Manage the runtime target overrides of a running gateway",
		Long: "A target switch (PUT /upstreams/NAME/targets on the admin API, or a deploy)\n" +
			"overrides the targets the config file lists for that upstream, across reloads\n" +
			"and restarts. `skjold status` shows where each upstream's targets come from.",
	}
	cmd.AddCommand(newTargetsReset(s))
	return cmd
}

// newTargetsReset builds `skjold targets reset UPSTREAM`.
func newTargetsReset(s streams) *cobra.Command {
	var (
		af    adminFlags
		drain time.Duration
	)
	cmd := &cobra.Command{
		Use:   "reset UPSTREAM [--admin ADDR | -c FILE] [--token-file F] [--drain 30s]",
		Short: "Drop an upstream's target override: the config file's targets serve again",
		Long: "reset calls DELETE /upstreams/UPSTREAM/targets on a running gateway's admin API:\n" +
			"the override is dropped (and the drop saved, so it holds across restarts), the\n" +
			"config file's targets take the traffic, and requests still running on the\n" +
			"override's targets may finish for up to --drain.\n\n" + adminFlagsHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := af.client()
			if err != nil {
				return withCode(1, err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), af.timeout+drain)
			defer cancel()
			res, err := c.DropTargets(ctx, args[0], drain)
			if err != nil {
				return withCode(1, explainAdminError(err))
			}
			fmt.Fprintf(s.out, "upstream %s: targets from the config file: %v (were %v)\n", res.Upstream, res.Targets, res.Previous)
			if !res.Drained {
				fmt.Fprintf(s.out, "%d requests were still running on the old targets after %s\n", res.Remaining, drain)
			}
			return nil
		},
	}
	af.register(cmd)
	cmd.Flags().DurationVar(&drain, "drain", 30*time.Second, "how long requests on the override's targets may take to finish")
	return cmd
}
