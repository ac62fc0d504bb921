package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newDBAudit(s streams, f *dbCmdFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "audit --config FILE",
		Short: "Prove every service is confined to its own schema; exit 1 on any leak",
		Long: "audit logs in as every service (with the password in its credentials file) and, for\n" +
			"every service's schema, tries to read, write and create, expecting success in its\n" +
			"own and denial in every other. It also lists privileges granted by hand, accounts\n" +
			"with global privileges and grants to PUBLIC, and prints an access matrix.\n" +
			"Exit status: 0 when isolation is proved, 1 on any leak, 2 when no leak was found\n" +
			"but something could not be proved (a service it could not log in as, say).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			provs, err := dbSetup(s, f, "")
			if err != nil {
				return err
			}
			leaks, incomplete := 0, 0
			for i, p := range provs {
				if i > 0 {
					fmt.Fprintln(s.out)
				}
				r, err := p.Audit(cmd.Context())
				if err != nil {
					return withCode(2, err)
				}
				if err := r.WriteText(s.out); err != nil {
					return withCode(2, err)
				}
				leaks += len(r.Leaks())
				incomplete += len(r.Incomplete())
			}
			switch {
			case leaks > 0:
				return withCode(1, nil)
			case incomplete > 0:
				return withCode(2, nil)
			}
			return nil
		},
	}
}
