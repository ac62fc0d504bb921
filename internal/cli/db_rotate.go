package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/skjold-dev/skjold/internal/dbprov"
)

func newDBRotate(s streams, f *dbCmdFlags) *cobra.Command {
	var opts dbprov.RotateOptions
	cmd := &cobra.Command{
		Use:   "rotate SERVICE --config FILE [--show-secrets]",
		Short: "Give a service's database user a new password and replace its credentials file",
		Long: "rotate sets a new generated password for the service's user and atomically replaces\n" +
			"its credentials file (or prints the new credentials once with --show-secrets).\n" +
			"Connections opened with the old password stay open; new connections need the new\n" +
			"one, so a service that reads its credentials file when it connects keeps working.\n" +
			"See docs/databases.md for the trade-offs.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			service := args[0]
			provs, err := dbSetup(s, f, service)
			if err != nil {
				return err
			}
			is, err := provs[0].Rotate(cmd.Context(), service, opts)
			if err != nil {
				return withCode(1, err)
			}
			if is.Credentials != nil {
				writeSecret(s.out, *is)
			} else {
				fmt.Fprintf(s.out, "%s: new password written to %s (mode 0600)\n", service, is.Path)
			}
			fmt.Fprintf(s.out, "%s: connections opened with the old password stay open until they close; new connections need the new one\n", service)
			return nil
		},
	}
	cmd.Flags().BoolVar(&opts.ShowSecrets, "show-secrets", false, "print the new password once to stdout instead of writing the credentials file")
	return cmd
}
