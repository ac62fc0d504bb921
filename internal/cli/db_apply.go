package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/skjold-dev/skjold/internal/dbprov"
)

func newDBApply(s streams, f *dbCmdFlags) *cobra.Command {
	var opts dbprov.ApplyOptions
	cmd := &cobra.Command{
		Use:   "apply --config FILE [--show-secrets] [--revoke-drift]",
		Short: "Create each service's schema, user and grants; idempotent",
		Long: "apply runs what plan shows: it creates each service's schema (or database), a user\n" +
			"with a generated password and privileges on that schema only, sets the connection\n" +
			"limit and, on PostgreSQL, revokes PUBLIC's privileges. A second run changes nothing.\n" +
			"Each new password is written once to <credentials_dir>/<service>.env (mode 0600),\n" +
			"or, with --show-secrets, printed once to stdout instead; it is never logged.\n" +
			"Objects skjold did not create are left alone: if one is in the way, apply changes\n" +
			"nothing and exits 1. --revoke-drift also revokes what plan reports as drift.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			provs, err := dbSetup(s, f, "")
			if err != nil {
				return err
			}
			for i, p := range provs {
				if i > 0 {
					fmt.Fprintln(s.out)
				}
				res, err := p.Apply(cmd.Context(), opts)
				if res != nil {
					writeApplied(s.out, res, opts)
				}
				if err != nil {
					return withCode(1, err)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&opts.ShowSecrets, "show-secrets", false, "print new passwords once to stdout instead of writing credentials files")
	cmd.Flags().BoolVar(&opts.RevokeDrift, "revoke-drift", false, "also revoke privileges that plan reports as drift")
	return cmd
}

// writeApplied prints what apply did: the plan it carried out and where
// each new password went.
func writeApplied(w io.Writer, res *dbprov.ApplyResult, opts dbprov.ApplyOptions) {
	_ = res.Plan.WriteText(w)
	for _, is := range res.Issued {
		if is.Credentials == nil {
			fmt.Fprintf(w, "  %s: credentials written to %s (mode 0600)\n", is.Service, is.Path)
			continue
		}
		writeSecret(w, is)
	}
	if opts.RevokeDrift && res.Revoked > 0 {
		fmt.Fprintf(w, "  revoked %d drift finding(s)\n", res.Revoked)
	}
}

// writeSecret prints credentials for --show-secrets, the one place a
// password is shown.
func writeSecret(w io.Writer, is dbprov.Issued) {
	fmt.Fprintf(w, "  %s: credentials (shown once, not stored anywhere):\n", is.Service)
	for _, line := range is.Credentials.Env() {
		fmt.Fprintf(w, "    %s\n", line)
	}
}
