package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/skjold-dev/skjold/internal/doctor"
)

// Environment variables the database doctors read a DSN from when no flag
// names one.
const (
	mysqlDSNEnv    = "SKJOLD_MYSQL_DSN"
	postgresDSNEnv = "SKJOLD_PG_DSN"
)

// dbFlags say which server to check and what to judge it against.
type dbFlags struct {
	reportFlags
	dsn, dsnFile, dsnEnv string
	ram                  string
	connections          int
	configPath, cluster  string
	root                 string
	timeout              time.Duration
}

func (f *dbFlags) register(cmd *cobra.Command, defaultEnv string) {
	f.reportFlags.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.dsnFile, "dsn-file", "", "file holding the admin DSN")
	fl.StringVar(&f.dsnEnv, "dsn-env", defaultEnv, "environment variable holding the admin DSN")
	fl.StringVar(&f.dsn, "dsn", "", "the admin DSN itself (prefer --dsn-file or --dsn-env: a DSN holds a password, and a command line is visible to every user of the host)")
	fl.StringVar(&f.ram, "ram", "", "the database host's RAM, such as 16G (default: this host's, when the server is on it)")
	fl.IntVar(&f.connections, "connections", 0, "the sum of the connection limits of the services that use the server")
	fl.StringVarP(&f.configPath, "config", "c", "", "take the services' connection limits (and the DSN, if none is given) from this config's databases: section")
	fl.StringVar(&f.cluster, "cluster", "", "with --config: the cluster to check (default: the only one of this engine)")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "give up on the server after this long")
	fl.StringVar(&f.root, "root", "/", "read /proc under this directory (for testing)")
	_ = fl.MarkHidden("root")
}

// resolve finds the DSN and the host facts. configDSN is the DSN from the
// config's cluster, used when no flag and no environment variable gives one.
func (f *dbFlags) resolve(cmd *cobra.Command, engine string) (dsn string, host doctor.DBHost, err error) {
	var fromConfig dbConfig
	if f.configPath != "" {
		if fromConfig, err = readDBConfig(f.configPath, f.cluster, engine); err != nil {
			return "", host, err
		}
	} else if f.cluster != "" {
		return "", host, errors.New("--cluster needs --config")
	}
	switch {
	case f.dsn != "":
		dsn = f.dsn
	case f.dsnFile != "":
		b, err := os.ReadFile(f.dsnFile)
		if err != nil {
			return "", host, fmt.Errorf("--dsn-file: %w", err)
		}
		if dsn = strings.TrimSpace(string(b)); dsn == "" {
			return "", host, fmt.Errorf("--dsn-file: %s is empty", f.dsnFile)
		}
	case os.Getenv(f.dsnEnv) != "":
		dsn = strings.TrimSpace(os.Getenv(f.dsnEnv))
	case fromConfig.dsn != nil:
		if dsn, err = fromConfig.dsn(); err != nil {
			return "", host, fmt.Errorf("%s: cluster %s: %w", f.configPath, fromConfig.cluster, err)
		}
	default:
		return "", host, fmt.Errorf("no DSN: give one with --dsn-file FILE, $%s or --config with a databases: cluster", f.dsnEnv)
	}
	if f.ram != "" {
		if host.RAM, err = doctor.ParseBytes(f.ram); err != nil {
			return "", host, fmt.Errorf("--ram: %w", err)
		}
		host.RAMFrom = "--ram"
	}
	switch {
	case cmd.Flags().Changed("connections"):
		if f.connections < 1 {
			return "", host, fmt.Errorf("--connections: expected a positive number, got %d", f.connections)
		}
		host.Connections, host.ConnectionsFrom = f.connections, "--connections"
	case fromConfig.connections > 0:
		host.Connections, host.ConnectionsFrom = fromConfig.connections, fromConfig.from
	}
	return dsn, host, nil
}

// localRAM fills in this host's RAM when the server runs on it and --ram
// was not given.
func (f *dbFlags) localRAM(host *doctor.DBHost, local bool) {
	if host.RAM > 0 || !local {
		return
	}
	if n, err := (doctor.Host{Root: f.root}).MemTotal(); err == nil {
		host.RAM, host.RAMFrom = n, "MemTotal of this host"
	}
}

func newDoctorMySQL(s streams) *cobra.Command {
	var f dbFlags
	cmd := &cobra.Command{
		Use:   "mysql [--dsn-file F | --dsn-env VAR] [--ram 16G] [--connections N | -c FILE]",
		Short: "Check a MariaDB or MySQL server's settings against the host and the services on it",
		Long: "doctor mysql reads SHOW GLOBAL VARIABLES and STATUS from a live MariaDB or MySQL\n" +
			"server and checks the buffer pool's size (against RAM and the InnoDB data) and\n" +
			"instances, innodb_flush_log_at_trx_commit, sync_binlog, max_connections against\n" +
			"the services' connection limits, the slow query log and long_query_time, and\n" +
			"a peak memory estimate. It ends with a my.cnf snippet for the gaps.\n\n" +
			"The DSN (go-sql-driver/mysql format, user:password@tcp(host:3306)/) is read\n" +
			"from --dsn-file, else $" + mysqlDSNEnv + " (or the variable --dsn-env names), else\n" +
			"the cluster of --config. RAM is this host's when the server is on it (a socket\n" +
			"or loopback address); give --ram for a remote one.\n\n" + doctorExitHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dsn, host, err := f.resolve(cmd, "mysql")
			if err != nil {
				return withCode(2, err)
			}
			db, where, local, err := doctor.OpenMySQL(dsn)
			if err != nil {
				return withCode(2, err)
			}
			defer db.Close()
			f.localRAM(&host, local)
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			srv, err := doctor.ReadMySQL(ctx, db)
			if err != nil {
				return withCode(2, fmt.Errorf("reading settings from MySQL at %s: %w", where, err))
			}
			return f.print(s, doctor.CheckMySQL(srv, host))
		},
	}
	f.register(cmd, mysqlDSNEnv)
	return cmd
}

func newDoctorPostgres(s streams) *cobra.Command {
	var f dbFlags
	cmd := &cobra.Command{
		Use:   "postgres [--dsn-file F | --dsn-env VAR] [--ram 16G] [--connections N | -c FILE]",
		Short: "Check a PostgreSQL server's settings against the host and the services on it",
		Long: "doctor postgres reads pg_settings from a live PostgreSQL server and checks\n" +
			"shared_buffers (against RAM and the data), max_connections against the services'\n" +
			"connection limits, fsync, synchronous_commit, log_min_duration_statement and a\n" +
			"peak memory estimate. It ends with a postgresql.conf snippet for the gaps.\n\n" +
			"The DSN (postgres://user:password@host:5432/db) is read from --dsn-file, else\n" +
			"$" + postgresDSNEnv + " (or the variable --dsn-env names), else the cluster of\n" +
			"--config.\n\n" + doctorExitHelp,
		Aliases: []string{"pg", "postgresql"},
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dsn, host, err := f.resolve(cmd, "postgres")
			if err != nil {
				return withCode(2, err)
			}
			cfg, where, local, err := doctor.ParsePostgresDSN(dsn)
			if err != nil {
				return withCode(2, err)
			}
			f.localRAM(&host, local)
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			conn, err := pgx.ConnectConfig(ctx, cfg)
			if err != nil {
				return withCode(2, fmt.Errorf("connecting to PostgreSQL at %s: %w", where, err))
			}
			defer conn.Close(context.WithoutCancel(ctx))
			srv, err := doctor.ReadPostgres(ctx, conn)
			if err != nil {
				return withCode(2, fmt.Errorf("reading settings from PostgreSQL at %s: %w", where, err))
			}
			return f.print(s, doctor.CheckPostgres(srv, host))
		},
	}
	f.register(cmd, postgresDSNEnv)
	return cmd
}
