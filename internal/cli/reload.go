package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/skjold-dev/skjold/internal/admin"
)

// newReload builds `skjold reload`: ask a running gateway to load its
// config again.
func newReload(s streams) *cobra.Command {
	var af adminFlags
	cmd := &cobra.Command{
		Use:   "reload [--admin ADDR | -c FILE] [--token-file F]",
		Short: "Make a running gateway load its config again, without dropping a connection",
		Long: "reload calls POST /reload on a running gateway's admin API. The gateway reads\n" +
			"its config file again, validates it and swaps it in; health, breaker and\n" +
			"connection state carry over. On success it prints the new version and exits 0.\n" +
			"A config with problems is rejected: the running config keeps serving, every\n" +
			"problem is printed to stderr one per line, and the exit status is 1.\n\n" + adminFlagsHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := af.client()
			if err != nil {
				return withCode(1, err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), af.timeout)
			defer cancel()
			res, err := c.Reload(ctx)
			if err != nil {
				return withCode(1, explainAdminError(err))
			}
			if res.Result != admin.ReloadApplied {
				fmt.Fprintln(s.err, "reload rejected; the running config keeps serving:")
				fmt.Fprintln(s.err, res.Error)
				return withCode(1, nil)
			}
			fmt.Fprintf(s.out, "reloaded: version %s\n", res.Version)
			for _, w := range res.Warnings {
				fmt.Fprintln(s.err, "warning:", w)
			}
			return nil
		},
	}
	af.register(cmd)
	return cmd
}
