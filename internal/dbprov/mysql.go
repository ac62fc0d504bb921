package dbprov

import (
	"context"
	"crypto/sha1"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/skjold-dev/skjold/internal/config"
)

// mysqlServicePrivileges is what a service's user gets on its own schema:
// everything an application and its migrations need, and nothing that
// reaches beyond the schema (no GRANT OPTION, no global privileges).
var mysqlServicePrivileges = []string{
	"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "INDEX", "ALTER", "REFERENCES",
	"CREATE TEMPORARY TABLES", "LOCK TABLES", "EXECUTE", "CREATE VIEW", "SHOW VIEW",
	"CREATE ROUTINE", "ALTER ROUTINE", "TRIGGER", "EVENT",
}

// mysqlEngine provisions on MySQL and MariaDB.
type mysqlEngine struct {
	c       *Cluster
	log     *slog.Logger
	cfg     *mysql.Config
	db      *sql.DB
	version string
	mariadb bool
	// wildcards is whether "_" and "%" in a schema-level grant are
	// patterns; MySQL with partial_revokes on takes them literally.
	wildcards bool
}

var _ engine = (*mysqlEngine)(nil)

func openMySQL(ctx context.Context, c *Cluster, log *slog.Logger) (*mysqlEngine, error) {
	cfg, err := mysql.ParseDSN(c.AdminDSN)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: admin DSN is not a go-sql-driver/mysql DSN: %w", c.Name, err)
	}
	conn, err := mysql.NewConnector(withTimeout(cfg))
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	db := sql.OpenDB(conn)
	// One connection: statements run in order, and the admin holds no more
	// of the server's connections than it needs.
	db.SetMaxOpenConns(1)
	e := &mysqlEngine{c: c, log: log, cfg: cfg, db: db, wildcards: true}
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&e.version); err != nil {
		db.Close()
		return nil, fmt.Errorf("cluster %s: connect as admin to %s: %w", c.Name, cfg.Addr, err)
	}
	e.mariadb = strings.Contains(strings.ToLower(e.version), "mariadb")
	if !e.mariadb {
		var on sql.NullInt64
		// MySQL 8.0.16+: with partial_revokes, grant patterns are literal.
		if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.partial_revokes").Scan(&on); err == nil && on.Int64 == 1 {
			e.wildcards = false
		}
	}
	return e, nil
}

func (e *mysqlEngine) close() { e.db.Close() }

// withTimeout returns a copy of cfg that gives up connecting after 10s
// unless the DSN says otherwise.
func withTimeout(cfg *mysql.Config) *mysql.Config {
	cfg = cfg.Clone()
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	return cfg
}

func (e *mysqlEngine) server() string {
	v, _, _ := strings.Cut(e.version, "-")
	if e.mariadb {
		return "MariaDB " + v
	}
	return "MySQL " + v
}

// account is a MySQL account, 'user'@'host'.
type account struct{ user, host string }

func (a account) String() string { return mysqlString(a.user) + "@" + mysqlString(a.host) }

func (e *mysqlEngine) account(s Service) account { return account{s.User, e.c.UserHost} }

// grantPattern is the schema name as written in a GRANT: with "_" and "%"
// escaped, because there they are wildcards — a grant on my_db.* would
// also open myxdb.
func (e *mysqlEngine) grantPattern(schema string) string {
	if !e.wildcards {
		return schema
	}
	return strings.NewReplacer(`\`, `\\`, `_`, `\_`, `%`, `\%`).Replace(schema)
}

// patternMatches reports whether a schema-level grant on pattern applies
// to schema, as the server decides it.
func (e *mysqlEngine) patternMatches(pattern, schema string) bool {
	if !e.wildcards {
		return pattern == schema
	}
	return likeMatch(pattern, schema)
}

// likeMatch matches s against a LIKE pattern with "\" as the escape.
func likeMatch(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '%':
			for i := 0; i <= len(s); i++ {
				if likeMatch(p[1:], s[i:]) {
					return true
				}
			}
			return false
		case '_':
			if s == "" {
				return false
			}
			p, s = p[1:], s[1:]
			continue
		case '\\':
			if len(p) > 1 {
				p = p[1:]
			}
		}
		if s == "" || s[0] != p[0] {
			return false
		}
		p, s = p[1:], s[1:]
	}
	return s == ""
}

func mysqlIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// mysqlString quotes s as a string literal. Values quoted here never hold
// a backslash (names and hosts are validated, secrets are hex or
// alphanumeric), so the result means the same with NO_BACKSLASH_ESCAPES.
func mysqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// nativeHash is the mysql_native_password hash of pw, what MariaDB
// stores. Sending it instead of the password keeps the password itself out
// of the server's general and slow query logs.
func nativeHash(pw string) string {
	h1 := sha1.Sum([]byte(pw))
	h2 := sha1.Sum(h1[:])
	return "*" + strings.ToUpper(hex.EncodeToString(h2[:]))
}

// identifiedBy is the clause that sets a password. MariaDB gets the hash;
// MySQL 8 has no hashed form for its default plugin, and itself rewrites
// the password out of its logs.
func (e *mysqlEngine) identifiedBy() string {
	if e.mariadb {
		return "IDENTIFIED BY PASSWORD " + secretMarker
	}
	return "IDENTIFIED BY " + secretMarker
}

func (e *mysqlEngine) exec(ctx context.Context, st Statement, password string) error {
	e.log.Info("run", "sql", st.String())
	q := st.SQL
	var secret string
	if st.setsPassword() {
		secret = password
		if e.mariadb {
			secret = nativeHash(password)
		}
		q = strings.ReplaceAll(q, secretMarker, mysqlString(secret))
	}
	if _, err := e.db.ExecContext(ctx, q); err != nil {
		return statementError(st, err, password, secret)
	}
	return nil
}

// statementError says which statement failed. When the statement carried
// a secret, the driver's error is not wrapped: its text can quote the
// statement, secret included, so only a redacted copy of it is kept.
func statementError(st Statement, err error, secrets ...string) error {
	if !st.setsPassword() {
		return fmt.Errorf("%s: %w", st, err)
	}
	msg := err.Error()
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "<redacted>")
		}
	}
	return fmt.Errorf("%s: %s", st, msg)
}

func (e *mysqlEngine) setPassword(s Service) Statement {
	return Statement{SQL: fmt.Sprintf("ALTER USER %s %s", e.account(s), e.identifiedBy())}
}

func (e *mysqlEngine) serviceDSN(s Service, password string) (Endpoint, error) {
	cfg := e.cfg.Clone()
	cfg.User, cfg.Passwd, cfg.DBName = s.User, password, s.Schema
	ep := Endpoint{Host: cfg.Addr, DSN: cfg.FormatDSN()}
	if cfg.Net == "tcp" {
		if h, p, err := net.SplitHostPort(cfg.Addr); err == nil {
			ep.Host, ep.Port = h, p
		}
	}
	return ep, nil
}

// mysqlState is what plan and audit read from the server.
type mysqlState struct {
	metaExists bool
	// managed maps "schema\x00name" and "user\x00name\x00host" to the
	// service Skjold created the object for.
	managed map[string]string
	schemas map[string]bool
	users   map[account]int // → max_user_connections
	grants  []mysqlGrant
}

func managedSchemaKey(schema string) string { return "schema\x00" + schema }
func managedUserKey(a account) string       { return "user\x00" + a.user + "\x00" + a.host }

// mysqlGrant is one privilege row of information_schema or mysql.*.
type mysqlGrant struct {
	grantee   account
	public    bool
	level     string // global, schema, table, column, routine, role
	schema    string // the pattern for schema level, a name otherwise
	object    string // table, routine or role name
	column    string
	routine   string // PROCEDURE or FUNCTION
	priv      string
	grantable bool
}

var granteeRE = regexp.MustCompile(`^'((?:[^']|'')*)'@'((?:[^']|'')*)'$`)

func parseGrantee(s string) (account, bool) {
	m := granteeRE.FindStringSubmatch(s)
	if m == nil {
		return account{}, false
	}
	return account{strings.ReplaceAll(m[1], "''", "'"), strings.ReplaceAll(m[2], "''", "'")}, true
}

func (e *mysqlEngine) readState(ctx context.Context) (*mysqlState, error) {
	st := &mysqlState{managed: map[string]string{}, schemas: map[string]bool{}, users: map[account]int{}}
	var n int
	if err := e.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'managed'", config.MetaSchema).Scan(&n); err != nil {
		return nil, fmt.Errorf("read information_schema.TABLES: %w", err)
	}
	st.metaExists = n > 0
	if st.metaExists {
		err := e.each(ctx, "SELECT kind, name, host, service FROM "+mysqlIdent(config.MetaSchema)+".`managed`", func(r *sql.Rows) error {
			var kind, name, host, service string
			if err := r.Scan(&kind, &name, &host, &service); err != nil {
				return err
			}
			if kind == "schema" {
				st.managed[managedSchemaKey(name)] = service
			} else {
				st.managed[managedUserKey(account{name, host})] = service
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	err := e.each(ctx, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA", func(r *sql.Rows) error {
		var s string
		err := r.Scan(&s)
		st.schemas[s] = true
		return err
	})
	if err != nil {
		return nil, err
	}
	err = e.each(ctx, "SELECT User, Host, max_user_connections FROM mysql.user", func(r *sql.Rows) error {
		var a account
		var limit int
		err := r.Scan(&a.user, &a.host, &limit)
		st.users[a] = limit
		return err
	})
	if err != nil {
		return nil, err
	}
	addGrant := func(grantee string, g mysqlGrant) {
		if a, ok := parseGrantee(grantee); ok {
			g.grantee = a
			g.public = a.user == "PUBLIC" && a.host == ""
			st.grants = append(st.grants, g)
		}
	}
	err = e.each(ctx, "SELECT GRANTEE, PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE <> 'USAGE'", func(r *sql.Rows) error {
		var grantee, priv, grantable string
		err := r.Scan(&grantee, &priv, &grantable)
		addGrant(grantee, mysqlGrant{level: "global", priv: priv, grantable: grantable == "YES"})
		return err
	})
	if err != nil {
		return nil, err
	}
	err = e.each(ctx, "SELECT GRANTEE, TABLE_SCHEMA, PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.SCHEMA_PRIVILEGES", func(r *sql.Rows) error {
		var grantee, schema, priv, grantable string
		err := r.Scan(&grantee, &schema, &priv, &grantable)
		addGrant(grantee, mysqlGrant{level: "schema", schema: schema, priv: priv, grantable: grantable == "YES"})
		return err
	})
	if err != nil {
		return nil, err
	}
	err = e.each(ctx, "SELECT GRANTEE, TABLE_SCHEMA, TABLE_NAME, PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES", func(r *sql.Rows) error {
		var grantee, schema, table, priv string
		err := r.Scan(&grantee, &schema, &table, &priv)
		addGrant(grantee, mysqlGrant{level: "table", schema: schema, object: table, priv: priv})
		return err
	})
	if err != nil {
		return nil, err
	}
	err = e.each(ctx, "SELECT GRANTEE, TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, PRIVILEGE_TYPE FROM information_schema.COLUMN_PRIVILEGES", func(r *sql.Rows) error {
		var grantee, schema, table, column, priv string
		err := r.Scan(&grantee, &schema, &table, &column, &priv)
		addGrant(grantee, mysqlGrant{level: "column", schema: schema, object: table, column: column, priv: priv})
		return err
	})
	if err != nil {
		return nil, err
	}
	err = e.each(ctx, "SELECT User, Host, Db, Routine_name, Routine_type, Proc_priv FROM mysql.procs_priv", func(r *sql.Rows) error {
		var a account
		var db, name, typ, privs string
		if err := r.Scan(&a.user, &a.host, &db, &name, &typ, &privs); err != nil {
			return err
		}
		for _, p := range strings.Split(privs, ",") {
			if p != "" {
				st.grants = append(st.grants, mysqlGrant{grantee: a, level: "routine", schema: db, object: name, routine: typ, priv: strings.ToUpper(p)})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	roles := "SELECT User, Host, Role FROM mysql.roles_mapping"
	if !e.mariadb {
		roles = "SELECT TO_USER, TO_HOST, FROM_USER FROM mysql.role_edges"
	}
	err = e.each(ctx, roles, func(r *sql.Rows) error {
		var a account
		var role string
		err := r.Scan(&a.user, &a.host, &role)
		st.grants = append(st.grants, mysqlGrant{grantee: a, level: "role", object: role})
		return err
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// each runs a query and calls fn for every row.
func (e *mysqlEngine) each(ctx context.Context, q string, fn func(*sql.Rows) error, args ...any) error {
	rows, err := e.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", q, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", q, err)
	}
	return nil
}

func (e *mysqlEngine) metaInsert(kind, name, host, service string) Statement {
	return Statement{SQL: fmt.Sprintf("INSERT INTO %s.`managed` (kind, name, host, service) VALUES (%s, %s, %s, %s)",
		mysqlIdent(config.MetaSchema), mysqlString(kind), mysqlString(name), mysqlString(host), mysqlString(service))}
}

func (e *mysqlEngine) plan(ctx context.Context) (*Plan, error) {
	st, err := e.readState(ctx)
	if err != nil {
		return nil, err
	}
	return e.planFrom(st), nil
}

func (e *mysqlEngine) planFrom(st *mysqlState) *Plan {
	plan := &Plan{}
	configured := map[string]bool{}
	for _, s := range e.c.Services {
		configured[s.Name] = true
		acct := e.account(s)
		pattern := e.grantPattern(s.Schema)

		// Objects in the way stop everything for this service.
		var conflicts []Conflict
		owner, schemaManaged := st.managed[managedSchemaKey(s.Schema)]
		if st.schemas[s.Schema] && !schemaManaged {
			conflicts = append(conflicts, Conflict{s.Name, fmt.Sprintf("schema %s exists and was not created by skjold", s.Schema),
				"give the service another schema name, or adopt the schema (docs/databases.md, \"Adopting existing objects\")"})
		} else if schemaManaged && owner != s.Name {
			conflicts = append(conflicts, Conflict{s.Name, fmt.Sprintf("schema %s was created by skjold for service %s", s.Schema, owner),
				"give the service another schema name, or update skjold_meta.managed if the service was renamed"})
		}
		_, userExists := st.users[acct]
		uowner, userManaged := st.managed[managedUserKey(acct)]
		if userExists && !userManaged {
			conflicts = append(conflicts, Conflict{s.Name, fmt.Sprintf("user %s exists and was not created by skjold", acct),
				"give the service another user name, or adopt the user (docs/databases.md, \"Adopting existing objects\")"})
		} else if userManaged && uowner != s.Name {
			conflicts = append(conflicts, Conflict{s.Name, fmt.Sprintf("user %s was created by skjold for service %s", acct, uowner),
				"give the service another user name, or update skjold_meta.managed if the service was renamed"})
		}
		if len(conflicts) > 0 {
			plan.Conflicts = append(plan.Conflicts, conflicts...)
			continue
		}

		var changes []Change
		if !st.schemas[s.Schema] {
			c := Change{Service: s.Name, What: "create schema " + s.Schema}
			if !schemaManaged {
				c.Statements = append(c.Statements, e.metaInsert("schema", s.Schema, "", s.Name))
			}
			c.Statements = append(c.Statements, Statement{SQL: "CREATE DATABASE " + mysqlIdent(s.Schema)})
			changes = append(changes, c)
		}
		have := map[string]bool{}
		if !userExists {
			c := Change{Service: s.Name, CreatesUser: true,
				What: fmt.Sprintf("create user %s with a new password, at most %d connections", acct, s.ConnectionLimit)}
			if !userManaged {
				c.Statements = append(c.Statements, e.metaInsert("user", acct.user, acct.host, s.Name))
			}
			c.Statements = append(c.Statements, Statement{SQL: fmt.Sprintf("CREATE USER %s %s WITH MAX_USER_CONNECTIONS %d", acct, e.identifiedBy(), s.ConnectionLimit)})
			changes = append(changes, c)
		} else {
			if limit := st.users[acct]; limit != s.ConnectionLimit {
				changes = append(changes, Change{Service: s.Name,
					What:       fmt.Sprintf("connection limit %d → %d", limit, s.ConnectionLimit),
					Statements: []Statement{{SQL: fmt.Sprintf("ALTER USER %s WITH MAX_USER_CONNECTIONS %d", acct, s.ConnectionLimit)}}})
			}
			for _, g := range st.grants {
				if g.grantee == acct && g.level == "schema" && g.schema == pattern {
					have[g.priv] = true
				}
			}
		}
		var missing []string
		for _, p := range mysqlServicePrivileges {
			if !have[p] {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 {
			what := "grant privileges on schema " + s.Schema
			if len(have) > 0 {
				what = "grant missing privileges on schema " + s.Schema + ": " + strings.Join(missing, ", ")
			}
			changes = append(changes, Change{Service: s.Name, What: what,
				Statements: []Statement{{SQL: fmt.Sprintf("GRANT %s ON %s.* TO %s", strings.Join(missing, ", "), mysqlIdent(pattern), acct)}}})
		}
		if len(changes) == 0 {
			plan.UpToDate = append(plan.UpToDate, s.Name)
		}
		plan.Changes = append(plan.Changes, changes...)
		if userExists {
			plan.Drift = append(plan.Drift, e.drift(st, s)...)
		}
	}
	if len(plan.Changes) > 0 && !st.metaExists {
		plan.Changes = slices.Insert(plan.Changes, 0, Change{
			What: "create " + config.MetaSchema + ", where skjold records the schemas and users it created",
			Statements: []Statement{
				{SQL: "CREATE DATABASE IF NOT EXISTS " + mysqlIdent(config.MetaSchema)},
				{SQL: "CREATE TABLE IF NOT EXISTS " + mysqlIdent(config.MetaSchema) + ".`managed` (" +
					"kind VARCHAR(16) NOT NULL, name VARCHAR(80) NOT NULL, host VARCHAR(255) NOT NULL DEFAULT '', " +
					"service VARCHAR(255) NOT NULL, created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, " +
					"PRIMARY KEY (kind, name, host))"},
			},
		})
	}
	current := map[string]bool{}
	for _, s := range e.c.Services {
		current[managedSchemaKey(s.Schema)] = true
		current[managedUserKey(e.account(s))] = true
	}
	var gone []string
	for key, service := range st.managed {
		kind, rest, _ := strings.Cut(key, "\x00")
		name := strings.ReplaceAll(rest, "\x00", "@")
		switch {
		case !configured[service]:
			gone = append(gone, fmt.Sprintf("%s %s was created by skjold for service %s, which is no longer configured; skjold leaves it in place (`skjold db drop %s` removes it)", kind, name, service, service))
		case !current[key]:
			// Renamed in the config (another schema, user or user_host):
			// the old object keeps its privileges until dropped.
			gone = append(gone, fmt.Sprintf("%s %s was created by skjold for service %s, which now uses another; skjold leaves it in place, with its privileges (drop it by hand)", kind, name, service))
		}
	}
	slices.Sort(gone)
	plan.Notes = append(plan.Notes, gone...)
	return plan
}

// grantKey groups privilege rows that one REVOKE takes back.
type grantKey struct {
	level, schema, object, column, routine string
}

// drift lists the privileges of s's user beyond its own schema's.
func (e *mysqlEngine) drift(st *mysqlState, s Service) []Drift {
	acct := e.account(s)
	pattern := e.grantPattern(s.Schema)
	byKey := map[grantKey][]string{}
	grantOption := map[grantKey]bool{}
	var keys []grantKey
	touch := func(k grantKey) {
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
			byKey[k] = nil
		}
	}
	add := func(k grantKey, priv string) {
		touch(k)
		if !slices.Contains(byKey[k], priv) {
			byKey[k] = append(byKey[k], priv)
		}
	}
	for _, g := range st.grants {
		if g.grantee != acct {
			continue
		}
		k := grantKey{g.level, g.schema, g.object, g.column, g.routine}
		switch g.level {
		case "schema":
			if g.schema == pattern {
				if !slices.Contains(mysqlServicePrivileges, g.priv) {
					add(k, g.priv)
				}
				if g.grantable {
					grantOption[k] = true
					touch(k)
				}
				continue
			}
		case "table", "column", "routine":
			if g.schema == s.Schema {
				continue // inside its own schema: harmless
			}
		}
		if g.grantable {
			grantOption[k] = true
		}
		add(k, g.priv)
	}
	var out []Drift
	for _, k := range keys {
		privs := byKey[k]
		if grantOption[k] && !slices.Contains(privs, "GRANT OPTION") {
			privs = append(privs, "GRANT OPTION") // last, as REVOKE lists it
		}
		d := Drift{Service: s.Name}
		list := strings.Join(privs, ", ")
		switch k.level {
		case "global":
			d.What = fmt.Sprintf("%s has global privileges: %s ON *.*", acct, list)
			d.Revoke = []Statement{{SQL: fmt.Sprintf("REVOKE %s ON *.* FROM %s", list, acct)}}
			for _, o := range e.c.Services {
				if o.Name != s.Name {
					d.Reaches = append(d.Reaches, o.Name)
				}
			}
		case "schema":
			d.What = fmt.Sprintf("%s has %s ON %s.*", acct, list, mysqlIdent(k.schema))
			if k.schema == s.Schema && e.wildcards && strings.ContainsAny(k.schema, "_%") {
				d.What += fmt.Sprintf(" — unescaped, so \"_\" and \"%%\" in it are wildcards (skjold grants on %s)", mysqlIdent(pattern))
			}
			d.Revoke = []Statement{{SQL: fmt.Sprintf("REVOKE %s ON %s.* FROM %s", list, mysqlIdent(k.schema), acct)}}
			for _, o := range e.c.Services {
				if o.Name != s.Name && e.patternMatches(k.schema, o.Schema) {
					d.Reaches = append(d.Reaches, o.Name)
				}
			}
		case "table":
			obj := mysqlIdent(k.schema) + "." + mysqlIdent(k.object)
			d.What = fmt.Sprintf("%s has %s ON %s", acct, list, obj)
			d.Revoke = []Statement{{SQL: fmt.Sprintf("REVOKE %s ON %s FROM %s", list, obj, acct)}}
			d.Reaches = e.servicesWithSchema(k.schema, s.Name)
		case "column":
			obj := mysqlIdent(k.schema) + "." + mysqlIdent(k.object)
			var cols []string
			for _, p := range privs {
				cols = append(cols, fmt.Sprintf("%s (%s)", p, mysqlIdent(k.column)))
			}
			d.What = fmt.Sprintf("%s has %s ON %s", acct, strings.Join(cols, ", "), obj)
			d.Revoke = []Statement{{SQL: fmt.Sprintf("REVOKE %s ON %s FROM %s", strings.Join(cols, ", "), obj, acct)}}
			d.Reaches = e.servicesWithSchema(k.schema, s.Name)
		case "routine":
			obj := fmt.Sprintf("%s %s.%s", k.routine, mysqlIdent(k.schema), mysqlIdent(k.object))
			d.What = fmt.Sprintf("%s has %s ON %s", acct, list, obj)
			d.Revoke = []Statement{{SQL: fmt.Sprintf("REVOKE %s ON %s FROM %s", list, obj, acct)}}
			d.Reaches = e.servicesWithSchema(k.schema, s.Name)
		case "role":
			d.What = fmt.Sprintf("%s is granted role %s, whose privileges it can take on", acct, mysqlIdent(k.object))
			d.Revoke = []Statement{{SQL: fmt.Sprintf("REVOKE %s FROM %s", mysqlIdent(k.object), acct)}}
		}
		out = append(out, d)
	}
	return out
}

func (e *mysqlEngine) servicesWithSchema(schema, except string) []string {
	var out []string
	for _, o := range e.c.Services {
		if o.Name != except && o.Schema == schema {
			out = append(out, o.Name)
		}
	}
	return out
}

func (e *mysqlEngine) userState(ctx context.Context, s Service) (exists, managed bool, err error) {
	st, err := e.readState(ctx)
	if err != nil {
		return false, false, err
	}
	acct := e.account(s)
	_, exists = st.users[acct]
	owner, ok := st.managed[managedUserKey(acct)]
	return exists, ok && owner == s.Name, nil
}

// mysqlDenied reports whether err is the server refusing a privilege.
func mysqlDenied(err error) bool {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	switch me.Number {
	case 1044, // ER_DBACCESS_DENIED_ERROR
		1142, // ER_TABLEACCESS_DENIED_ERROR
		1143, // ER_COLUMNACCESS_DENIED_ERROR
		1227, // ER_SPECIFIC_ACCESS_DENIED_ERROR
		1370: // ER_PROCACCESS_DENIED_ERROR
		return true
	}
	return false
}
