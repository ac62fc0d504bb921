package cli

import "github.com/spf13/cobra"

// subcommands lists the constructors of every subcommand, in the order
// `skjold --help` shows them. Each lives in its own file.
var subcommands = []func(streams) *cobra.Command{
	newServe,
	newDemo,
	newCheck,
	newImport,
	newStatus,
	newReload,
	newMaintenance,
	newTargets,
	newDeploy,
	newDoctor,
	newResidency,
	newDB,
}
