package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

// newMaintenance builds `skjold maintenance on|off ROUTE`: switch a
// route's maintenance answer on a running gateway, without a reload.
func newMaintenance(s streams) *cobra.Command {
	var af adminFlags
	cmd := &cobra.Command{
		Use:   "maintenance on|off ROUTE [--admin ADDR | -c FILE] [--token-file F]",
		Short: "Put a route into maintenance (503) or take it out, without a reload",
		Long: "maintenance calls PUT /routes/{ROUTE}/maintenance on a running gateway's admin API.\n" +
			"While on, every request of the route is answered 503 by the gateway (with the\n" +
			"route's maintenance body and Retry-After, if it has them) and none reaches its\n" +
			"upstream. A reload that leaves the route's maintenance section as it was keeps\n" +
			"the switch; a restart starts from the config's enabled.\n\n" + adminFlagsHelp,
		Args:      cobra.ExactArgs(2),
		ValidArgs: []string{"on", "off"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != "on" && args[0] != "off" {
				return withCode(2, fmt.Errorf("expected on or off, got %q", args[0]))
			}
			c, err := af.client()
			if err != nil {
				return withCode(1, err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), af.timeout)
			defer cancel()
			res, err := c.SetMaintenance(ctx, args[1], args[0] == "on")
			if err != nil {
				return withCode(1, explainAdminError(err))
			}
			state := map[bool]string{true: "on", false: "off"}
			fmt.Fprintf(s.out, "route %s: maintenance %s (was %s)\n", res.Route, state[res.Enabled], state[res.Was])
			return nil
		},
	}
	af.register(cmd)
	return cmd
}
