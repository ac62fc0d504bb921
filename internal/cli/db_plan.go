package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newDBPlan(s streams, f *dbCmdFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "plan --config FILE",
		Short: "Show the SQL apply would run (secrets redacted), drift and conflicts; change nothing",
		Long: "plan reads every cluster and prints, per service, the statements apply would run,\n" +
			"with passwords shown as '<redacted>'. It also reports drift (privileges someone\n" +
			"granted by hand to a service's user, with the statements that revoke them) and\n" +
			"conflicts (schemas or users that exist but were not created by skjold, which it\n" +
			"leaves alone). Exit status 0 unless a cluster cannot be read.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			provs, err := dbSetup(s, f, "")
			if err != nil {
				return err
			}
			for i, p := range provs {
				plan, err := p.Plan(cmd.Context())
				if err != nil {
					return withCode(1, err)
				}
				if i > 0 {
					fmt.Fprintln(s.out)
				}
				if err := plan.WriteText(s.out); err != nil {
					return withCode(1, err)
				}
			}
			return nil
		},
	}
}
