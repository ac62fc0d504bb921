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

// newDB builds `skjold db plan|apply|rotate|audit`.
func newDB(s streams) *cobra.Command {
	f := &dbCmdFlags{}
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Give each service its own database and user on a shared cluster, and prove they are isolated",
		Long: "db provisions the databases section of a config: per service a schema (MySQL,\n" +
			"MariaDB) or database (PostgreSQL), a user with a generated password that may use\n" +
			"only it, and a connection limit. plan shows the SQL, apply runs it, rotate replaces\n" +
			"a password, audit proves the isolation. See docs/databases.md.",
		Args: cobra.NoArgs,
	}
	cmd.PersistentFlags().StringVarP(&f.config, "config", "c", "", "config file (required)")
	cmd.PersistentFlags().StringVar(&f.cluster, "cluster", "", "act on this cluster only (default: every cluster)")
	cmd.PersistentFlags().BoolVarP(&f.verbose, "verbose", "v", false, "log every statement run to stderr (passwords are never logged)")
	_ = cmd.MarkPersistentFlagRequired("config")
	cmd.AddCommand(newDBPlan(s, f), newDBApply(s, f), newDBRotate(s, f), newDBAudit(s, f))
	return cmd
}

// dbSetup loads the config and returns a Provisioner per selected cluster.
func dbSetup(s streams, f *dbCmdFlags) ([]*dbprov.Provisioner, error) {
	c, err := config.LoadFile(f.config)
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
	clusters, err := dbprov.ClustersFromConfig(&c.Databases)
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
		if f.cluster != "" && cl.Name != f.cluster {
			continue
		}
		out = append(out, dbprov.New(cl, dbprov.Options{Logger: log, CredentialsDir: c.Databases.CredentialsDir}))
	}
	return out, nil
}
