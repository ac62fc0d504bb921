package config

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

// Databases declares the shared database clusters and, per service, the
// database Skjold provisions on one of them (`skjold db`): a schema (MySQL,
// MariaDB) or database (PostgreSQL) and a user that may use only it.
type Databases struct {
	// Clusters are the database servers services share, keyed by name.
	Clusters map[string]*DBCluster `yaml:"clusters,omitempty"`
	// Services are the services that get a database, keyed by service
	// name.
	Services map[string]*DBService `yaml:"services,omitempty"`
	// CredentialsDir is where `skjold db apply` and `skjold db rotate`
	// write one file per service holding its user name and password
	// (mode 0600, in a directory created with mode 0700). Default
	// /var/lib/skjold/db-credentials.
	CredentialsDir string `yaml:"credentials_dir,omitempty"`
}

// DBEngine names a database server family.
type DBEngine string

// Database engines.
const (
	// EngineMySQL is MySQL or MariaDB; which one is read from the server.
	EngineMySQL DBEngine = "mysql"
	// EngineMariaDB is another name for EngineMySQL.
	EngineMariaDB DBEngine = "mariadb"
	// EnginePostgres is PostgreSQL.
	EnginePostgres DBEngine = "postgres"
)

// IsMySQL reports whether e is served by the MySQL protocol.
func (e DBEngine) IsMySQL() bool { return e == EngineMySQL || e == EngineMariaDB }

// DBCluster is one database server (or primary) that several services
// share.
type DBCluster struct {
	// Engine is mysql (also for MariaDB), mariadb or postgres. Required.
	Engine DBEngine `yaml:"engine,omitempty"`
	// AdminDSNEnv names an environment variable holding the admin DSN: a
	// go-sql-driver/mysql DSN ("admin:pw@tcp(10.0.0.5:3306)/") or a
	// PostgreSQL URL or keyword/value string. Exactly one of AdminDSNEnv
	// and AdminDSNFile is required.
	AdminDSNEnv string `yaml:"admin_dsn_env,omitempty"`
	// AdminDSNFile names a file holding the admin DSN (surrounding
	// whitespace trimmed).
	AdminDSNFile string `yaml:"admin_dsn_file,omitempty"`
	// AdminDSN is not accepted: a DSN carries the admin password, which
	// does not belong in a config file. It exists to say so.
	AdminDSN string `yaml:"admin_dsn,omitempty"`
	// UserHost is the host part of the MySQL accounts Skjold creates
	// ('payments'@'10.0.%'); MySQL and MariaDB only. Default "%".
	UserHost string `yaml:"user_host,omitempty"`
}

// DBService is the database of one service.
type DBService struct {
	// Cluster names the cluster the database lives on. Default: the only
	// cluster, when there is exactly one; required otherwise.
	Cluster string `yaml:"cluster,omitempty"`
	// Schema is the name of the service's schema (MySQL, MariaDB) or
	// database (PostgreSQL, which also gets a schema of that name inside
	// it): lower-case letters, digits and "_", starting with a letter, at
	// most 63 characters, unique on its cluster. Default: the service name
	// with "-" replaced by "_".
	Schema string `yaml:"schema,omitempty"`
	// User is the name of the service's database user. Same rules as
	// Schema; at most 32 characters on MySQL. Default: Schema.
	User string `yaml:"user,omitempty"`
	// ConnectionLimit is the most connections the user may hold at once,
	// enforced by the server (MAX_USER_CONNECTIONS, CONNECTION LIMIT).
	// 1..100000. Default 10.
	ConnectionLimit int `yaml:"connection_limit,omitempty"`
	// DataClass names the kind of data the service stores (for example
	// "personal" or "payment"), for the residency policy and the audit
	// report. Default: none.
	DataClass string `yaml:"data_class,omitempty"`
}

// Defaults of the databases section.
const (
	DefaultCredentialsDir  = "/var/lib/skjold/db-credentials"
	DefaultDBUserHost      = "%"
	DefaultConnectionLimit = 10
)

// MetaSchema is the MySQL schema where Skjold records the schemas and
// users it created, so it never touches one it did not create.
const MetaSchema = "skjold_meta"

// ResolvedAdminDSN reads the cluster's admin DSN from its environment
// variable or file. The error names the variable or file, never the DSN.
func (c *DBCluster) ResolvedAdminDSN() (string, error) {
	switch {
	case c.AdminDSNEnv != "":
		dsn := strings.TrimSpace(os.Getenv(c.AdminDSNEnv))
		if dsn == "" {
			return "", fmt.Errorf("admin_dsn_env: environment variable %s is not set or empty", c.AdminDSNEnv)
		}
		return dsn, nil
	case c.AdminDSNFile != "":
		b, err := os.ReadFile(c.AdminDSNFile)
		if err != nil {
			return "", fmt.Errorf("admin_dsn_file: %w", err)
		}
		dsn := strings.TrimSpace(string(b))
		if dsn == "" {
			return "", fmt.Errorf("admin_dsn_file: %s is empty", c.AdminDSNFile)
		}
		return dsn, nil
	}
	return "", fmt.Errorf("neither admin_dsn_env nor admin_dsn_file is set")
}

func databasesDefaults(f filler, d *Databases) {
	f.str("databases.credentials_dir", &d.CredentialsDir, DefaultCredentialsDir)
	for _, name := range sortedKeys(d.Clusters) {
		c := d.Clusters[name]
		if c == nil {
			c = &DBCluster{}
			d.Clusters[name] = c
		}
		if c.Engine.IsMySQL() {
			f.str(keyPath("databases.clusters", name)+".user_host", &c.UserHost, DefaultDBUserHost)
		}
	}
	for _, name := range sortedKeys(d.Services) {
		s := d.Services[name]
		if s == nil {
			s = &DBService{}
			d.Services[name] = s
		}
		p := keyPath("databases.services", name)
		if s.Cluster == "" && len(d.Clusters) == 1 && !f.explicitZero(p+".cluster", `""`, "the only cluster") {
			s.Cluster = sortedKeys(d.Clusters)[0]
		}
		f.str(p+".schema", &s.Schema, strings.ReplaceAll(name, "-", "_"))
		f.str(p+".user", &s.User, s.Schema)
		f.int(p+".connection_limit", &s.ConnectionLimit, DefaultConnectionLimit)
	}
}

// reservedDBNames are schemas, databases and users that belong to the
// server or to Skjold; a service may not be given one.
var reservedDBNames = []string{
	"information_schema", "mysql", "performance_schema", "sys", MetaSchema,
	"postgres", "template0", "template1", "public", "root", "admin",
}

func (v validator) databases() {
	d := &v.c.Databases
	for _, name := range sortedKeys(d.Clusters) {
		p := keyPath("databases.clusters", name)
		v.name(p, "cluster", name)
		c := d.Clusters[name]
		switch c.Engine {
		case EngineMySQL, EngineMariaDB, EnginePostgres:
		case "":
			v.problemf(p+".engine", "is required: mysql (also for MariaDB) or postgres")
		default:
			v.problemf(p+".engine", "expected mysql, mariadb or postgres, got %q", c.Engine)
		}
		if c.AdminDSN != "" {
			v.problemf(p+".admin_dsn", "an admin DSN holds a password, so it is never written in the config; put it in an environment variable (admin_dsn_env) or a file (admin_dsn_file)")
		}
		switch {
		case c.AdminDSNEnv != "" && c.AdminDSNFile != "":
			v.problemf(p+".admin_dsn_file", "set only one of admin_dsn_env and admin_dsn_file")
		case c.AdminDSNEnv == "" && c.AdminDSNFile == "" && c.AdminDSN == "":
			v.problemf(p, "needs admin_dsn_env or admin_dsn_file: where to read the admin DSN from")
		}
		if c.UserHost != "" {
			if !c.Engine.IsMySQL() {
				v.problemf(p+".user_host", "applies to MySQL and MariaDB accounts only; PostgreSQL roles have no host part (use pg_hba.conf)")
			} else if strings.ContainsAny(c.UserHost, "'\"`\\ @") || strings.ContainsFunc(c.UserHost, isControl) {
				v.problemf(p+".user_host", "expected a host, address or pattern such as %% or 10.0.%%, got %q", c.UserHost)
			}
		}
	}

	type owner struct{ service, path string }
	schemas := map[string]owner{}
	users := map[string]owner{}
	for _, name := range sortedKeys(d.Services) {
		p := keyPath("databases.services", name)
		v.name(p, "service", name)
		s := d.Services[name]
		c, ok := d.Clusters[s.Cluster]
		switch {
		case s.Cluster == "":
			v.problemf(p+".cluster", "is required when more than one cluster is defined; %s", defined("clusters", "", sortedKeys(d.Clusters)))
		case !ok:
			v.problemf(p+".cluster", "cluster %q is not defined; %s", s.Cluster, defined("clusters", s.Cluster, sortedKeys(d.Clusters)))
		}
		userMax := 63
		if ok && c.Engine.IsMySQL() {
			// MySQL allows 32 characters in a user name.
			userMax = 32
		}
		v.dbIdent(p+".schema", "schema", s.Schema, 63)
		if s.User != s.Schema || v.r.isGiven(p+".user") {
			// A user named after its schema shares the schema's problems.
			v.dbIdent(p+".user", "user", s.User, userMax)
		} else if len(s.User) > userMax {
			v.problemf(p+".user", "user name %q (the schema name) is %d characters long; the most is %d: set user", s.User, len(s.User), userMax)
		}
		if s.ConnectionLimit < 1 || s.ConnectionLimit > 100000 {
			v.problemf(p+".connection_limit", "must be between 1 and 100000, got %d", s.ConnectionLimit)
		}
		if strings.ContainsFunc(s.DataClass, isControl) {
			v.problemf(p+".data_class", "must not contain control characters")
		}
		if s.Cluster == "" {
			continue
		}
		for _, k := range []struct {
			seen       map[string]owner
			kind, path string
			val        string
		}{{schemas, "schema", p + ".schema", s.Schema}, {users, "user", p + ".user", s.User}} {
			key := s.Cluster + "\x00" + k.val
			if prev, dup := k.seen[key]; dup {
				v.problemf(k.path, "%s %q on cluster %q is already service %s's (line %d); each service needs its own", k.kind, k.val, s.Cluster, prev.service, v.r.lineOf(prev.path))
			} else {
				k.seen[key] = owner{name, k.path}
			}
		}
	}
}

// dbIdent checks a schema or user name. The rules are stricter than SQL's
// so that a name needs no quoting anywhere it is written (shell, DSN, URL)
// and means the same on every engine.
func (v validator) dbIdent(p, kind, s string, max int) {
	if s == "" {
		v.problemf(p, "must not be empty")
		return
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') || i == 0 && !(c >= 'a' && c <= 'z') {
			v.problemf(p, "%s name %q must start with a lower-case letter and use only lower-case letters, digits and \"_\"", kind, s)
			return
		}
	}
	if len(s) > max {
		v.problemf(p, "%s name %q is %d characters long; the most is %d", kind, s, len(s), max)
	}
	if slices.Contains(reservedDBNames, s) || strings.HasPrefix(s, "pg_") {
		v.problemf(p, "%q belongs to the database server or to skjold; choose another %s name", s, kind)
	}
}
