package cli

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skjold-dev/skjold/internal/dbprov"
)

// dbDropFlags are the flags of `skjold db drop`.
type dbDropFlags struct {
	keepData, dropData, yes bool
}

func newDBDrop(s streams, f *dbCmdFlags) *cobra.Command {
	var df dbDropFlags
	cmd := &cobra.Command{
		Use:   "drop SERVICE --config FILE (--keep-data | --drop-data) [--yes]",
		Short: "Remove the user (and, if asked, the data) skjold created for a service no longer in the config",
		Long: "drop removes what apply created for a service that is no longer in databases.services.\n" +
			"It shows the plan first and runs it only when you type the service's name (or pass\n" +
			"--yes). The user goes in every case: on PostgreSQL its objects are reassigned to the\n" +
			"admin and its privileges dropped (REASSIGN OWNED, DROP OWNED), so DROP ROLE cannot fail\n" +
			"with \"objects depend on it\"; on MySQL and MariaDB DROP USER revokes its privileges.\n" +
			"--keep-data keeps the schema or database, reachable by the admin only; --drop-data\n" +
			"drops it with everything in it. One of the two is required. See docs/databases.md.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if df.keepData == df.dropData {
				return withCode(1, errors.New("say what happens to the data: --keep-data or --drop-data"))
			}
			service := args[0]
			p, plan, err := planDrop(cmd, s, f, service, dbprov.DropOptions{KeepData: df.keepData})
			if err != nil {
				return err
			}
			_ = plan.WriteText(s.out)
			if !df.yes && !confirmName(s, service) {
				return withCode(1, errors.New("nothing changed: type the service's name to confirm, or pass --yes"))
			}
			if err := p.Drop(cmd.Context(), service, plan); err != nil {
				return withCode(1, err)
			}
			fmt.Fprintf(s.out, "%s: dropped\n", service)
			return nil
		},
	}
	cmd.Flags().BoolVar(&df.keepData, "keep-data", false, "keep the service's schema or database and its data, reachable by the admin only")
	cmd.Flags().BoolVar(&df.dropData, "drop-data", false, "drop the service's schema or database with all its data")
	cmd.Flags().BoolVar(&df.yes, "yes", false, "do not ask for the service's name before dropping")
	return cmd
}

// planDrop finds the one cluster that holds objects skjold created for
// service and plans their removal there.
func planDrop(cmd *cobra.Command, s streams, f *dbCmdFlags, service string, opts dbprov.DropOptions) (*dbprov.Provisioner, *dbprov.Plan, error) {
	provs, err := dbSetup(s, f, "")
	if err != nil {
		return nil, nil, err
	}
	var found []*dbprov.Provisioner
	var plans []*dbprov.Plan
	var on []string
	for _, p := range provs {
		plan, err := p.PlanDrop(cmd.Context(), service, opts)
		if errors.Is(err, dbprov.ErrNothingToDrop) {
			continue
		}
		if err != nil {
			return nil, nil, withCode(1, err)
		}
		found, plans, on = append(found, p), append(plans, plan), append(on, plan.Cluster)
	}
	switch len(found) {
	case 0:
		return nil, nil, withCode(1, fmt.Errorf("service %s: %w on any cluster of %s", service, dbprov.ErrNothingToDrop, f.config))
	case 1:
		return found[0], plans[0], nil
	}
	return nil, nil, withCode(1, fmt.Errorf("service %s has objects on clusters %s; choose one with --cluster", service, strings.Join(on, ", ")))
}

// confirmName asks for the service's name and reports whether it was typed.
func confirmName(s streams, service string) bool {
	fmt.Fprintf(s.out, "\nType the service's name (%s) to run these statements: ", service)
	answer, _ := bufio.NewReader(s.in).ReadString('\n')
	fmt.Fprintln(s.out)
	return strings.TrimSpace(answer) == service
}
