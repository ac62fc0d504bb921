package cli

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/dbprov"
)

// dbCmdFlags are the flags every `skjold db` subcommand takes.
type dbCmdFlags struct {
	config  string
	cluster string
	verbose bool
}

// newDB builds `skjold db plan|apply|rotate|audit|drop`.
func newDB(s streams) *cobra.Command {
	f := &dbCmdFlags{}
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Give each service its own database and user on a shared cluster, and prove they are isolated",
		Long: "db provisions the databases section of a config: per service a schema (MySQL,\n" +
			"MariaDB) or database (PostgreSQL), a user with a generated password that may use\n" +
			"only it, and a connection limit. plan shows the SQL, apply runs it, rotate replaces\n" +
			"a password, audit proves the isolation, drop removes a service no longer configured.\n" +
			"See docs/databases.md.",
		Args: cobra.NoArgs,
	}
	cmd.PersistentFlags().StringVarP(&f.config, "config", "c", "", "config file (required)")
	cmd.PersistentFlags().StringVar(&f.cluster, "cluster", "", "act on this cluster only (default: every cluster)")
	cmd.PersistentFlags().BoolVarP(&f.verbose, "verbose", "v", false, "log every statement run to stderr (passwords are never logged)")
	_ = cmd.MarkPersistentFlagRequired("config")
	cmd.AddCommand(newDBPlan(s, f), newDBApply(s, f), newDBRotate(s, f), newDBAudit(s, f), newDBDrop(s, f))
	return cmd
}

// dbSetup loads the config and returns a Provisioner per selected cluster:
// --cluster's, the one service is on when service is set, else all. Only
// the selected clusters' admin DSNs are read.
func dbSetup(s streams, f *dbCmdFlags, service string) ([]*dbprov.Provisioner, error) {
	c, err := loadConfig(f.config)
	var ve *config.ValidationError
	if errors.As(err, &ve) {
		fmt.Fprintln(s.err, ve.Error())
		return nil, withCode(1, nil)
	}
	if err != nil {
		return nil, withCode(1, err)
	}
	if len(c.Databases.Clusters) == 0 {
		return nil, withCode(1, fmt.Errorf("%s declares no databases.clusters; see docs/databases.md", f.config))
	}
	if f.cluster != "" {
		if _, ok := c.Databases.Clusters[f.cluster]; !ok {
			return nil, withCode(1, fmt.Errorf("--cluster %s: no such cluster in %s", f.cluster, f.config))
		}
	}
	only := f.cluster
	if service != "" {
		svc, ok := c.Databases.Services[service]
		if !ok {
			return nil, withCode(1, fmt.Errorf("service %q is not in databases.services of %s", service, f.config))
		}
		if only != "" && only != svc.Cluster {
			return nil, withCode(1, fmt.Errorf("service %s is on cluster %s, not %s", service, svc.Cluster, only))
		}
		only = svc.Cluster
	}
	selected := c.Databases
	if only != "" {
		selected.Clusters = map[string]*config.DBCluster{only: c.Databases.Clusters[only]}
	}
	clusters, err := dbprov.ClustersFromConfig(&selected)
	if err != nil {
		return nil, withCode(1, err)
	}
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(s.err, &slog.HandlerOptions{Level: level}))
	var out []*dbprov.Provisioner
	for _, cl := range clusters {
		out = append(out, dbprov.New(cl, dbprov.Options{Logger: log, CredentialsDir: c.Databases.CredentialsDir}))
	}
	return out, nil
}
