package dbprov

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// On PostgreSQL a service gets a database of its own (the unit PostgreSQL
// checks at login) holding a schema of the same name that its role owns.
// PUBLIC loses CONNECT and TEMPORARY on the database and every privilege
// on its public schema, so no other role can log in to it or, on clusters
// created before version 15, create objects in it.

// pgMarkerPrefix starts the comment Skjold puts on the roles and databases
// it creates; the rest is the service name.
const pgMarkerPrefix = "skjold: service "

// pgEngine provisions on PostgreSQL.
type pgEngine struct {
	c       *Cluster
	log     *slog.Logger
	cfg     *pgx.ConnConfig
	admin   *pgx.Conn
	conns   map[string]*pgx.Conn // admin connections to other databases
	version string
}

var _ engine = (*pgEngine)(nil)

func openPostgres(ctx context.Context, c *Cluster, log *slog.Logger) (*pgEngine, error) {
	cfg, err := pgx.ParseConfig(c.AdminDSN)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: admin DSN is not a PostgreSQL URL or keyword/value string: %w", c.Name, err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: connect as admin: %w", c.Name, err)
	}
	e := &pgEngine{c: c, log: log, cfg: cfg, admin: admin, conns: map[string]*pgx.Conn{}}
	if err := admin.QueryRow(ctx, "SHOW server_version").Scan(&e.version); err != nil {
		e.close()
		return nil, fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	return e, nil
}

func (e *pgEngine) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, c := range e.conns {
		c.Close(ctx)
	}
	e.admin.Close(ctx)
}

func (e *pgEngine) server() string {
	v, _, _ := strings.Cut(e.version, " ")
	return "PostgreSQL " + v
}

// conn returns an admin connection to database db ("" for the admin DSN's).
func (e *pgEngine) conn(ctx context.Context, db string) (*pgx.Conn, error) {
	if db == "" || db == e.cfg.Database {
		return e.admin, nil
	}
	if c, ok := e.conns[db]; ok {
		return c, nil
	}
	cfg := e.cfg.Copy()
	cfg.Database = db
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect as admin to database %s: %w", db, err)
	}
	e.conns[db] = c
	return c, nil
}

func pgIdent(s string) string { return pgx.Identifier{s}.Sanitize() }

// pgString quotes s as a standard-conforming string literal.
func pgString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (e *pgEngine) exec(ctx context.Context, st Statement, password string) error {
	e.log.Info("run", "sql", st.String())
	q := st.SQL
	var secret string
	if st.setsPassword() {
		v, err := scramVerifier(password)
		if err != nil {
			return err
		}
		secret = v
		q = strings.ReplaceAll(q, secretMarker, pgString(secret))
	}
	c, err := e.conn(ctx, st.Database)
	if err != nil {
		return err
	}
	// Without arguments pgx sends the simple protocol, so several
	// statements in one string run in one implicit transaction.
	if _, err := c.Exec(ctx, q); err != nil {
		return statementError(st, err, password, secret)
	}
	return nil
}

func (e *pgEngine) setPassword(s Service) Statement {
	return Statement{SQL: fmt.Sprintf("ALTER ROLE %s PASSWORD %s", pgIdent(s.User), secretMarker)}
}

func (e *pgEngine) serviceDSN(s Service, password string) (Endpoint, error) {
	dsn, err := pgServiceDSN(e.c.AdminDSN, s.User, password, s.Schema)
	if err != nil {
		return Endpoint{}, err
	}
	return Endpoint{Host: e.cfg.Host, Port: strconv.Itoa(int(e.cfg.Port)), DSN: dsn}, nil
}

// pgRole is a row of pg_roles.
type pgRole struct {
	canLogin                                            bool
	connLimit                                           int
	super, createDB, createRole, replication, bypassRLS bool
	service                                             string // from the marker comment
}

// pgACL is one privilege from an aclexplode.
type pgACL struct {
	grantee, priv string
}

// pgObjectACL is a privilege on an object inside a database.
type pgObjectACL struct {
	kind   string // schema, table, default
	schema string
	name   string // table name; object type for default privileges
	owner  string
	pgACL
}

type pgDatabase struct {
	owner     string
	service   string // from the marker comment
	allowConn bool
	template  bool
	acl       []pgACL
	// inside is read for the databases of configured services only.
	inside []pgObjectACL
}

type pgState struct {
	roles       map[string]pgRole
	memberOf    map[string][]string // role → roles it is a member of
	databases   map[string]*pgDatabase
	roleSetting map[[2]string][]string // (role, database) → setconfig
}

func pgService(comment string) string {
	s, ok := strings.CutPrefix(comment, pgMarkerPrefix)
	if !ok {
		return ""
	}
	return s
}

func (e *pgEngine) readState(ctx context.Context, insideAll bool) (*pgState, error) {
	st := &pgState{roles: map[string]pgRole{}, memberOf: map[string][]string{}, databases: map[string]*pgDatabase{}, roleSetting: map[[2]string][]string{}}
	rows, err := e.admin.Query(ctx, `SELECT rolname, rolcanlogin, rolconnlimit, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls,
		coalesce(shobj_description(oid, 'pg_authid'), '') FROM pg_roles`)
	if err != nil {
		return nil, fmt.Errorf("read pg_roles: %w", err)
	}
	var name, comment string
	var r pgRole
	_, err = pgx.ForEachRow(rows, []any{&name, &r.canLogin, &r.connLimit, &r.super, &r.createDB, &r.createRole, &r.replication, &r.bypassRLS, &comment}, func() error {
		r.service = pgService(comment)
		st.roles[name] = r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read pg_roles: %w", err)
	}
	rows, err = e.admin.Query(ctx, `SELECT m.rolname, r.rolname FROM pg_auth_members am
		JOIN pg_roles m ON m.oid = am.member JOIN pg_roles r ON r.oid = am.roleid ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("read pg_auth_members: %w", err)
	}
	var member, role string
	_, err = pgx.ForEachRow(rows, []any{&member, &role}, func() error {
		st.memberOf[member] = append(st.memberOf[member], role)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read pg_auth_members: %w", err)
	}
	rows, err = e.admin.Query(ctx, `SELECT d.datname, pg_get_userbyid(d.datdba), coalesce(shobj_description(d.oid, 'pg_database'), ''),
		d.datallowconn, d.datistemplate,
		CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END, a.privilege_type
		FROM pg_database d CROSS JOIN LATERAL aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
		ORDER BY 1, 6, 7`)
	if err != nil {
		return nil, fmt.Errorf("read pg_database: %w", err)
	}
	var db, owner string
	var allow, template bool
	var acl pgACL
	_, err = pgx.ForEachRow(rows, []any{&db, &owner, &comment, &allow, &template, &acl.grantee, &acl.priv}, func() error {
		d := st.databases[db]
		if d == nil {
			d = &pgDatabase{owner: owner, service: pgService(comment), allowConn: allow, template: template}
			st.databases[db] = d
		}
		d.acl = append(d.acl, acl)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read pg_database: %w", err)
	}
	rows, err = e.admin.Query(ctx, `SELECT r.rolname, d.datname, s.setconfig FROM pg_db_role_setting s
		JOIN pg_roles r ON r.oid = s.setrole JOIN pg_database d ON d.oid = s.setdatabase`)
	if err != nil {
		return nil, fmt.Errorf("read pg_db_role_setting: %w", err)
	}
	var setconfig []string
	_, err = pgx.ForEachRow(rows, []any{&role, &db, &setconfig}, func() error {
		st.roleSetting[[2]string{role, db}] = slices.Clone(setconfig)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read pg_db_role_setting: %w", err)
	}

	for _, dbName := range sortedKeys(st.databases) {
		d := st.databases[dbName]
		configured := slices.ContainsFunc(e.c.Services, func(s Service) bool { return s.Schema == dbName })
		// Template databases are not read: while anyone is connected to
		// one, CREATE DATABASE from it fails.
		if !configured && !(insideAll && d.allowConn && !d.template) {
			continue
		}
		if configured && d.service == "" {
			continue // not Skjold's: left alone, not even read
		}
		if d.inside, err = e.readInside(ctx, dbName); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// readInside reads the privileges on schemas, tables and default
// privileges in database db.
func (e *pgEngine) readInside(ctx context.Context, db string) ([]pgObjectACL, error) {
	c, err := e.conn(ctx, db)
	if err != nil {
		return nil, err
	}
	const grantee = `CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END`
	rows, err := c.Query(ctx, `
		SELECT 'schema', n.nspname, '', pg_get_userbyid(n.nspowner), `+grantee+`, a.privilege_type
		FROM pg_namespace n CROSS JOIN LATERAL aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
		WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
		UNION ALL
		SELECT 'table', n.nspname, c.relname, pg_get_userbyid(c.relowner), `+grantee+`, a.privilege_type
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace CROSS JOIN LATERAL aclexplode(c.relacl) a
		WHERE c.relacl IS NOT NULL AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
		  AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
		UNION ALL
		SELECT 'default', coalesce(n.nspname, ''), d.defaclobjtype::text, pg_get_userbyid(d.defaclrole), `+grantee+`, a.privilege_type
		FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace CROSS JOIN LATERAL aclexplode(d.defaclacl) a
		ORDER BY 1, 2, 3, 5, 6`)
	if err != nil {
		return nil, fmt.Errorf("read privileges in database %s: %w", db, err)
	}
	var out []pgObjectACL
	var o pgObjectACL
	_, err = pgx.ForEachRow(rows, []any{&o.kind, &o.schema, &o.name, &o.owner, &o.grantee, &o.priv}, func() error {
		out = append(out, o)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read privileges in database %s: %w", db, err)
	}
	return out, nil
}

func (e *pgEngine) plan(ctx context.Context) (*Plan, error) {
	st, err := e.readState(ctx, false)
	if err != nil {
		return nil, err
	}
	return e.planFrom(st), nil
}

func (e *pgEngine) marker(s Service) string { return pgString(pgMarkerPrefix + s.Name) }

func (e *pgEngine) planFrom(st *pgState) *Plan {
	plan := &Plan{}
	configured := map[string]bool{}
	for _, s := range e.c.Services {
		configured[s.Name] = true
		role, db := pgIdent(s.User), pgIdent(s.Schema)

		var conflicts []Conflict
		r, roleExists := st.roles[s.User]
		switch {
		case roleExists && r.service == "":
			conflicts = append(conflicts, Conflict{s.Name, fmt.Sprintf("role %s exists and was not created by skjold", s.User),
				"give the service another user name, or adopt the role (docs/databases.md, \"Adopting existing objects\")"})
		case roleExists && r.service != s.Name:
			conflicts = append(conflicts, Conflict{s.Name, fmt.Sprintf("role %s was created by skjold for service %s", s.User, r.service),
				fmt.Sprintf("give the service another user name, or if the service was renamed: COMMENT ON ROLE %s IS %s", role, e.marker(s))})
		}
		d, dbExists := st.databases[s.Schema]
		switch {
		case dbExists && d.service == "":
			conflicts = append(conflicts, Conflict{s.Name, fmt.Sprintf("database %s exists and was not created by skjold", s.Schema),
				"give the service another schema name, or adopt the database (docs/databases.md, \"Adopting existing objects\")"})
		case dbExists && d.service != s.Name:
			conflicts = append(conflicts, Conflict{s.Name, fmt.Sprintf("database %s was created by skjold for service %s", s.Schema, d.service),
				fmt.Sprintf("give the service another schema name, or if the service was renamed: COMMENT ON DATABASE %s IS %s", db, e.marker(s))})
		}
		if len(conflicts) > 0 {
			plan.Conflicts = append(plan.Conflicts, conflicts...)
			continue
		}

		var changes []Change
		if !roleExists {
			changes = append(changes, Change{Service: s.Name, CreatesUser: true,
				What: fmt.Sprintf("create role %s with a new password, at most %d connections", s.User, s.ConnectionLimit),
				Statements: []Statement{{SQL: fmt.Sprintf("CREATE ROLE %s WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT %d PASSWORD %s; COMMENT ON ROLE %s IS %s",
					role, s.ConnectionLimit, secretMarker, role, e.marker(s))}}})
		} else {
			if r.connLimit != s.ConnectionLimit {
				changes = append(changes, Change{Service: s.Name, What: fmt.Sprintf("connection limit %d → %d", r.connLimit, s.ConnectionLimit),
					Statements: []Statement{{SQL: fmt.Sprintf("ALTER ROLE %s CONNECTION LIMIT %d", role, s.ConnectionLimit)}}})
			}
			if !r.canLogin {
				changes = append(changes, Change{Service: s.Name, What: "let role " + s.User + " log in again",
					Statements: []Statement{{SQL: fmt.Sprintf("ALTER ROLE %s LOGIN", role)}}})
			}
		}

		if !dbExists {
			changes = append(changes, Change{Service: s.Name, What: fmt.Sprintf("create database %s that only %s may connect to, with schema %s owned by %s", s.Schema, s.User, s.Schema, s.User),
				Statements: []Statement{
					{SQL: "CREATE DATABASE " + db},
					{SQL: fmt.Sprintf("COMMENT ON DATABASE %s IS %s", db, e.marker(s))},
					{SQL: fmt.Sprintf("REVOKE ALL ON DATABASE %s FROM PUBLIC", db)},
					{SQL: fmt.Sprintf("GRANT CONNECT, TEMPORARY ON DATABASE %s TO %s", db, role)},
					{SQL: "REVOKE ALL ON SCHEMA public FROM PUBLIC", Database: s.Schema},
					{SQL: fmt.Sprintf("CREATE SCHEMA %s AUTHORIZATION %s", db, role), Database: s.Schema},
					{SQL: fmt.Sprintf("ALTER ROLE %s IN DATABASE %s SET search_path TO %s", role, db, db)},
				}})
		} else {
			changes = append(changes, e.databaseChanges(st, s, d)...)
		}
		if len(changes) == 0 {
			plan.UpToDate = append(plan.UpToDate, s.Name)
		}
		plan.Changes = append(plan.Changes, changes...)
		if roleExists {
			plan.Drift = append(plan.Drift, e.drift(st, s)...)
		}
		if dbExists {
			plan.Drift = append(plan.Drift, e.publicDrift(s, d)...)
		}
	}

	currentRole, currentDB := map[string]bool{}, map[string]bool{}
	for _, s := range e.c.Services {
		currentRole[s.User], currentDB[s.Schema] = true, true
	}
	var gone []string
	note := func(kind, name, svc string, current bool) {
		switch {
		case svc == "" || current:
		case !configured[svc]:
			gone = append(gone, fmt.Sprintf("%s %s was created by skjold for service %s, which is no longer configured; skjold leaves it in place (`skjold db drop %s` removes it)", kind, name, svc, svc))
		default:
			gone = append(gone, fmt.Sprintf("%s %s was created by skjold for service %s, which now uses another; skjold leaves it in place, with its privileges (drop it by hand)", kind, name, svc))
		}
	}
	for _, name := range sortedKeys(st.roles) {
		note("role", name, st.roles[name].service, currentRole[name])
	}
	for _, name := range sortedKeys(st.databases) {
		note("database", name, st.databases[name].service, currentDB[name])
	}
	plan.Notes = append(plan.Notes, gone...)
	return plan
}

// databaseChanges brings an existing service database back to what apply
// creates.
func (e *pgEngine) databaseChanges(st *pgState, s Service, d *pgDatabase) []Change {
	role, db := pgIdent(s.User), pgIdent(s.Schema)
	var out []Change
	var public []string
	own := map[string]bool{}
	for _, a := range d.acl {
		switch a.grantee {
		case "PUBLIC":
			public = append(public, a.priv)
		case s.User:
			own[a.priv] = true
		}
	}
	if len(public) > 0 {
		out = append(out, Change{Service: s.Name, What: fmt.Sprintf("revoke PUBLIC's %s on database %s", strings.Join(public, ", "), s.Schema),
			Statements: []Statement{{SQL: fmt.Sprintf("REVOKE ALL ON DATABASE %s FROM PUBLIC", db)}}})
	}
	if !own["CONNECT"] || !own["TEMPORARY"] {
		out = append(out, Change{Service: s.Name, What: fmt.Sprintf("let %s connect to database %s", s.User, s.Schema),
			Statements: []Statement{{SQL: fmt.Sprintf("GRANT CONNECT, TEMPORARY ON DATABASE %s TO %s", db, role)}}})
	}
	var schemaOwner string
	var publicSchemaPrivs []string
	hasPublicSchema := false
	for _, o := range d.inside {
		if o.kind != "schema" {
			continue
		}
		if o.schema == s.Schema {
			schemaOwner = o.owner
		}
		if o.schema == "public" {
			hasPublicSchema = true
			if o.grantee == "PUBLIC" {
				publicSchemaPrivs = append(publicSchemaPrivs, o.priv)
			}
		}
	}
	if hasPublicSchema && len(publicSchemaPrivs) > 0 {
		out = append(out, Change{Service: s.Name, What: fmt.Sprintf("revoke PUBLIC's %s on schema public in database %s", strings.Join(publicSchemaPrivs, ", "), s.Schema),
			Statements: []Statement{{SQL: "REVOKE ALL ON SCHEMA public FROM PUBLIC", Database: s.Schema}}})
	}
	switch schemaOwner {
	case "":
		out = append(out, Change{Service: s.Name, What: fmt.Sprintf("create schema %s owned by %s", s.Schema, s.User),
			Statements: []Statement{{SQL: fmt.Sprintf("CREATE SCHEMA %s AUTHORIZATION %s", db, role), Database: s.Schema}}})
	case s.User:
	default:
		out = append(out, Change{Service: s.Name, What: fmt.Sprintf("give schema %s back to %s (owned by %s)", s.Schema, s.User, schemaOwner),
			Statements: []Statement{{SQL: fmt.Sprintf("ALTER SCHEMA %s OWNER TO %s", db, role), Database: s.Schema}}})
	}
	if path := pgSearchPath(st.roleSetting[[2]string{s.User, s.Schema}]); !slices.Equal(path, []string{s.Schema}) {
		out = append(out, Change{Service: s.Name, What: fmt.Sprintf("set %s's search_path in database %s to %s", s.User, s.Schema, s.Schema),
			Statements: []Statement{{SQL: fmt.Sprintf("ALTER ROLE %s IN DATABASE %s SET search_path TO %s", role, db, db)}}})
	}
	return out
}

// pgSearchPath returns the schemas of the search_path in a role's
// setconfig, unquoted. PostgreSQL stores the list as it would print it,
// quoting only the names that need it (a keyword such as "select", a
// capital letter), so the stored text cannot be compared with a name.
func pgSearchPath(setconfig []string) []string {
	for _, kv := range setconfig {
		v, ok := strings.CutPrefix(kv, "search_path=")
		if !ok {
			continue
		}
		var out []string
		for v != "" {
			var name string
			name, v = pgListItem(strings.TrimLeft(v, " "))
			out = append(out, name)
		}
		return out
	}
	return nil
}

// pgListItem splits the first item off a comma-separated list of
// identifiers, each plain or double-quoted with "" for a quote.
func pgListItem(v string) (item, rest string) {
	if !strings.HasPrefix(v, `"`) {
		item, rest, _ = strings.Cut(v, ",")
		return strings.TrimSpace(item), rest
	}
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		switch {
		case v[i] == '"' && i+1 < len(v) && v[i+1] == '"':
			b.WriteByte('"')
			i++
		case v[i] == '"':
			_, rest, _ = strings.Cut(v[i+1:], ",")
			return b.String(), rest
		default:
			b.WriteByte(v[i])
		}
	}
	return b.String(), ""
}

// pgAllData are predefined roles whose members reach every database's
// data, through SQL or through the server's files.
var pgAllData = []string{
	"pg_read_all_data", "pg_write_all_data", "pg_read_server_files", "pg_write_server_files", "pg_execute_server_program",
}

// pgGlobalRoles are predefined roles that reach beyond one database.
var pgGlobalRoles = []string{
	"pg_read_all_data", "pg_write_all_data", "pg_read_server_files", "pg_write_server_files",
	"pg_execute_server_program", "pg_signal_backend",
}

func (e *pgEngine) serviceOfDatabase(db string) string {
	for _, s := range e.c.Services {
		if s.Schema == db {
			return s.Name
		}
	}
	return ""
}

func (e *pgEngine) othersThan(name string) []string {
	var out []string
	for _, s := range e.c.Services {
		if s.Name != name {
			out = append(out, s.Name)
		}
	}
	return out
}

// drift lists what s's role can do beyond its own database.
func (e *pgEngine) drift(st *pgState, s Service) []Drift {
	role := pgIdent(s.User)
	r := st.roles[s.User]
	var out []Drift
	var attrs, revoke []string
	reachesAll := false
	for _, a := range []struct {
		on       bool
		name     string
		reachAll bool
	}{
		{r.super, "SUPERUSER", true}, {r.createRole, "CREATEROLE", true}, {r.bypassRLS, "BYPASSRLS", false},
		{r.replication, "REPLICATION", true}, {r.createDB, "CREATEDB", false},
	} {
		if a.on {
			attrs = append(attrs, a.name)
			revoke = append(revoke, "NO"+a.name)
			reachesAll = reachesAll || a.reachAll
		}
	}
	if len(attrs) > 0 {
		d := Drift{Service: s.Name, What: fmt.Sprintf("role %s has %s", s.User, strings.Join(attrs, ", ")),
			Revoke: []Statement{{SQL: fmt.Sprintf("ALTER ROLE %s %s", role, strings.Join(revoke, " "))}}}
		if reachesAll {
			d.Reaches = e.othersThan(s.Name)
		}
		out = append(out, d)
	}
	for _, m := range st.memberOf[s.User] {
		d := Drift{Service: s.Name, What: fmt.Sprintf("role %s is a member of role %s and has its privileges", s.User, m),
			Revoke: []Statement{{SQL: fmt.Sprintf("REVOKE %s FROM %s", pgIdent(m), role)}}}
		switch other := st.roles[m].service; {
		case slices.Contains(pgAllData, m) || st.roles[m].super:
			d.Reaches = e.othersThan(s.Name)
		case other != "" && other != s.Name:
			d.Reaches = []string{other}
		}
		out = append(out, d)
	}
	for _, name := range sortedKeys(st.databases) {
		if name == s.Schema {
			continue
		}
		db := st.databases[name]
		var privs []string
		for _, a := range db.acl {
			if a.grantee == s.User && db.owner != s.User {
				privs = append(privs, a.priv)
			}
		}
		if len(privs) > 0 {
			d := Drift{Service: s.Name, What: fmt.Sprintf("role %s has %s on database %s", s.User, strings.Join(privs, ", "), name),
				Revoke: []Statement{{SQL: fmt.Sprintf("REVOKE ALL ON DATABASE %s FROM %s", pgIdent(name), role)}}}
			if other := e.serviceOfDatabase(name); other != "" {
				d.Reaches = []string{other}
			}
			out = append(out, d)
		}
		out = append(out, e.insideDrift(s, name, db)...)
	}
	return out
}

// insideDrift lists privileges granted to s's role inside another
// service's database.
func (e *pgEngine) insideDrift(s Service, dbName string, db *pgDatabase) []Drift {
	other := e.serviceOfDatabase(dbName)
	type key struct{ kind, schema, name, owner string }
	privs := map[key][]string{}
	var keys []key
	for _, o := range db.inside {
		if o.grantee != s.User || o.owner == s.User {
			continue
		}
		k := key{o.kind, o.schema, o.name, o.owner}
		if _, ok := privs[k]; !ok {
			keys = append(keys, k)
		}
		privs[k] = append(privs[k], o.priv)
	}
	var out []Drift
	for _, k := range keys {
		d := Drift{Service: s.Name}
		list := strings.Join(privs[k], ", ")
		switch k.kind {
		case "schema":
			d.What = fmt.Sprintf("role %s has %s on schema %s in database %s", s.User, list, k.schema, dbName)
			d.Revoke = []Statement{{SQL: fmt.Sprintf("REVOKE ALL ON SCHEMA %s FROM %s", pgIdent(k.schema), pgIdent(s.User)), Database: dbName}}
		case "table":
			obj := pgIdent(k.schema) + "." + pgIdent(k.name)
			d.What = fmt.Sprintf("role %s has %s on %s in database %s", s.User, list, obj, dbName)
			d.Revoke = []Statement{{SQL: fmt.Sprintf("REVOKE ALL ON %s FROM %s", obj, pgIdent(s.User)), Database: dbName}}
		case "default":
			in := ""
			if k.schema != "" {
				in = " IN SCHEMA " + pgIdent(k.schema)
			}
			objType := map[string]string{"r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES", "n": "SCHEMAS"}[k.name]
			d.What = fmt.Sprintf("role %s gets %s on future %s of role %s%s in database %s (default privileges)", s.User, list, strings.ToLower(objType), k.owner, in, dbName)
			d.Revoke = []Statement{{SQL: fmt.Sprintf("ALTER DEFAULT PRIVILEGES FOR ROLE %s%s REVOKE ALL ON %s FROM %s", pgIdent(k.owner), in, objType, pgIdent(s.User)), Database: dbName}}
		}
		if other != "" {
			d.Reaches = []string{other}
		}
		out = append(out, d)
	}
	return out
}

// publicDrift lists grants to PUBLIC inside s's database beyond those
// apply revokes itself (on the database and its public schema).
func (e *pgEngine) publicDrift(s Service, d *pgDatabase) []Drift {
	var out []Drift
	for _, o := range d.inside {
		if o.grantee != "PUBLIC" || (o.kind == "schema" && o.schema == "public") {
			continue
		}
		var what string
		var revoke Statement
		switch o.kind {
		case "schema":
			what = fmt.Sprintf("PUBLIC has %s on schema %s in database %s", o.priv, o.schema, s.Schema)
			revoke = Statement{SQL: fmt.Sprintf("REVOKE %s ON SCHEMA %s FROM PUBLIC", o.priv, pgIdent(o.schema)), Database: s.Schema}
		case "table":
			obj := pgIdent(o.schema) + "." + pgIdent(o.name)
			what = fmt.Sprintf("PUBLIC has %s on %s in database %s", o.priv, obj, s.Schema)
			revoke = Statement{SQL: fmt.Sprintf("REVOKE %s ON %s FROM PUBLIC", o.priv, obj), Database: s.Schema}
		default:
			continue
		}
		out = append(out, Drift{Service: s.Name, What: what, Revoke: []Statement{revoke}, public: true})
	}
	return out
}

func (e *pgEngine) userState(ctx context.Context, s Service) (exists, managed bool, err error) {
	var comment string
	err = e.admin.QueryRow(ctx, "SELECT coalesce(shobj_description(oid, 'pg_authid'), '') FROM pg_roles WHERE rolname = $1", s.User).Scan(&comment)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("read pg_roles: %w", err)
	}
	return true, pgService(comment) == s.Name, nil
}

// pgDenied reports whether err is the server refusing a privilege
// (SQLSTATE 42501), at login or on a statement.
func pgDenied(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42501"
}
