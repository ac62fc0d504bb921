package dbprov

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
)

// The tests here run against real servers: scripts/test starts a private
// MariaDB and PostgreSQL and exports their admin DSNs. Every test names
// its objects with a fresh prefix and drops them at the end, so the suite
// can run again and again against the same servers.

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testEnv is one engine's server, seen by one test.
type testEnv struct {
	t       *testing.T
	engine  Engine
	dsn     string
	prefix  string
	log     *syncBuffer
	credDir string
	// exact are names without the test's prefix (an SQL keyword, say) that
	// dropAll removes too.
	exact []string
}

// unprefixed declares a service named name exactly, for names the prefix
// would change (an SQL keyword); dropAll removes its objects too.
func (env *testEnv) unprefixed(name string, limit int) Service {
	env.exact = append(env.exact, name)
	return Service{Name: name, Schema: name, User: name, ConnectionLimit: limit}
}

// engines runs fn once per engine (or only on the ones named), in
// parallel subtests.
func engines(t *testing.T, fn func(t *testing.T, env *testEnv), only ...Engine) {
	for _, e := range []struct {
		engine Engine
		env    string
	}{{MySQL, "SKJOLD_TEST_MYSQL_DSN"}, {Postgres, "SKJOLD_TEST_PG_DSN"}} {
		if len(only) > 0 && !slices.Contains(only, e.engine) {
			continue
		}
		t.Run(string(e.engine), func(t *testing.T) {
			t.Parallel()
			dsn := os.Getenv(e.env)
			if dsn == "" {
				if os.Getenv("SKJOLD_REQUIRE_SERVICES") == "1" {
					t.Fatalf("%s is not set, and SKJOLD_REQUIRE_SERVICES=1 says the servers must be there; run scripts/test", e.env)
				}
				t.Skipf("%s is not set; scripts/test starts a server and sets it", e.env)
			}
			b := make([]byte, 3)
			_, _ = rand.Read(b)
			env := &testEnv{t: t, engine: e.engine, dsn: dsn, prefix: "t" + hex.EncodeToString(b), log: &syncBuffer{}, credDir: filepath.Join(t.TempDir(), "creds")}
			t.Cleanup(env.dropAll)
			fn(t, env)
		})
	}
}

// name prefixes a name with the test's prefix.
func (env *testEnv) name(n string) string { return env.prefix + "_" + n }

// service declares a service whose schema and user are named after it.
func (env *testEnv) service(name string, limit int) Service {
	n := env.name(name)
	return Service{Name: n, Schema: n, User: n, ConnectionLimit: limit}
}

func (env *testEnv) cluster(services ...Service) *Cluster {
	return &Cluster{Name: "test", Engine: env.engine, AdminDSN: env.dsn, UserHost: "%", Services: services}
}

func (env *testEnv) provisioner(c *Cluster) *Provisioner {
	log := slog.New(slog.NewTextHandler(env.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return New(c, Options{Logger: log, CredentialsDir: env.credDir})
}

func (env *testEnv) ctx() context.Context {
	ctx, cancel := context.WithTimeout(env.t.Context(), 2*time.Minute)
	env.t.Cleanup(cancel)
	return ctx
}

// admin runs statements as the admin, in database db on PostgreSQL ("" is
// the admin DSN's).
func (env *testEnv) admin(db string, stmts ...string) {
	env.t.Helper()
	ctx := context.Background()
	switch env.engine {
	case MySQL:
		conn := env.mysqlAs(env.t, "", "")
		defer conn.Close()
		for _, s := range stmts {
			if _, err := conn.ExecContext(ctx, s); err != nil {
				env.t.Fatalf("%s: %v", s, err)
			}
		}
	case Postgres:
		conn, err := env.pgAs("", "", db)
		if err != nil {
			env.t.Fatal(err)
		}
		defer conn.Close(ctx)
		for _, s := range stmts {
			if _, err := conn.Exec(ctx, s); err != nil {
				env.t.Fatalf("%s: %v", s, err)
			}
		}
	}
}

// mysqlAs opens a pool as user (the admin when user is empty).
func (env *testEnv) mysqlAs(t *testing.T, user, password string) *sql.DB {
	t.Helper()
	cfg, err := mysql.ParseDSN(env.dsn)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		cfg.User, cfg.Passwd = user, password
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sql.OpenDB(conn)
}

// pgAs connects as user to db (the admin and its database when empty).
func (env *testEnv) pgAs(user, password, db string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(env.dsn)
	if err != nil {
		return nil, err
	}
	if user != "" {
		cfg.User, cfg.Password = user, password
	}
	if db != "" {
		cfg.Database = db
	}
	return pgx.ConnectConfig(context.Background(), cfg)
}

// dropAll removes every schema, database, user and role the test made.
func (env *testEnv) dropAll() {
	env.drop(env.prefix + "%")
	for _, name := range env.exact {
		env.drop(name)
	}
}

// drop removes every schema, database, user and role whose name is LIKE
// like.
func (env *testEnv) drop(like string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	switch env.engine {
	case MySQL:
		db := env.mysqlAs(env.t, "", "")
		defer db.Close()
		var drops []string
		collect := func(q, format string) {
			rows, err := db.QueryContext(ctx, q, like)
			if err != nil {
				env.t.Errorf("cleanup: %s: %v", q, err)
				return
			}
			defer rows.Close()
			for rows.Next() {
				var a, b string
				if err := rows.Scan(&a, &b); err != nil {
					env.t.Errorf("cleanup: %v", err)
					return
				}
				drops = append(drops, fmt.Sprintf(format, mysqlIdent(a), mysqlString(a), mysqlString(b)))
			}
		}
		collect("SELECT SCHEMA_NAME, '' FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?", "DROP DATABASE %[1]s")
		collect("SELECT User, Host FROM mysql.user WHERE User LIKE ?", "DROP USER %[2]s@%[3]s")
		drops = append(drops, fmt.Sprintf("DELETE FROM skjold_meta.managed WHERE name LIKE %s", mysqlString(like)))
		for _, d := range drops {
			if _, err := db.ExecContext(ctx, d); err != nil && !strings.Contains(d, "skjold_meta") {
				env.t.Errorf("cleanup: %s: %v", d, err)
			}
		}
	case Postgres:
		conn, err := env.pgAs("", "", "")
		if err != nil {
			env.t.Errorf("cleanup: %v", err)
			return
		}
		defer conn.Close(ctx)
		for _, q := range []string{
			"SELECT 'DROP DATABASE ' || quote_ident(datname) || ' WITH (FORCE)' FROM pg_database WHERE datname LIKE $1",
			"SELECT 'DROP ROLE ' || quote_ident(rolname) FROM pg_roles WHERE rolname LIKE $1",
		} {
			rows, err := conn.Query(ctx, q, like)
			if err != nil {
				env.t.Errorf("cleanup: %v", err)
				return
			}
			drops, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				env.t.Errorf("cleanup: %v", err)
				return
			}
			for _, d := range drops {
				if _, err := conn.Exec(ctx, d); err != nil {
					env.t.Errorf("cleanup: %s: %v", d, err)
				}
			}
		}
	}
}

// password returns the password in a service's credentials file.
func (env *testEnv) password(service string) string {
	env.t.Helper()
	c, err := ReadCredentials(filepath.Join(env.credDir, service+".env"))
	if err != nil {
		env.t.Fatal(err)
	}
	return c.Secret()
}

// login reports whether user can log in with password (to its own
// database on PostgreSQL).
func (env *testEnv) login(s Service, password string) error {
	switch env.engine {
	case MySQL:
		db := env.mysqlAs(env.t, s.User, password)
		defer db.Close()
		return db.PingContext(context.Background())
	default:
		c, err := env.pgAs(s.User, password, s.Schema)
		if err != nil {
			return err
		}
		return c.Close(context.Background())
	}
}

func mustApply(t *testing.T, p *Provisioner, ctx context.Context) *ApplyResult {
	t.Helper()
	res, err := p.Apply(ctx, ApplyOptions{})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return res
}

func mustAudit(t *testing.T, p *Provisioner, ctx context.Context) *AuditReport {
	t.Helper()
	r, err := p.Audit(ctx)
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	return r
}

// reportText renders r, for failure messages.
func reportText(r *AuditReport) string {
	var b strings.Builder
	_ = r.WriteText(&b)
	return b.String()
}

func planText(p *Plan) string {
	var b strings.Builder
	_ = p.WriteText(&b)
	return b.String()
}

// userExists reports whether s's user exists on the server.
func (env *testEnv) userExists(s Service) bool {
	env.t.Helper()
	var n int
	switch env.engine {
	case MySQL:
		db := env.mysqlAs(env.t, "", "")
		defer db.Close()
		if err := db.QueryRow("SELECT COUNT(*) FROM mysql.user WHERE User = ?", s.User).Scan(&n); err != nil {
			env.t.Fatal(err)
		}
	case Postgres:
		c, err := env.pgAs("", "", "")
		if err != nil {
			env.t.Fatal(err)
		}
		defer c.Close(context.Background())
		if err := c.QueryRow(context.Background(), "SELECT COUNT(*) FROM pg_roles WHERE rolname = $1", s.User).Scan(&n); err != nil {
			env.t.Fatal(err)
		}
	}
	return n > 0
}

// asService runs statements as s in its own schema.
func (env *testEnv) asService(s Service, stmts ...string) {
	env.t.Helper()
	pw := env.password(s.Name)
	ctx := context.Background()
	switch env.engine {
	case MySQL:
		db := env.mysqlAs(env.t, s.User, pw)
		defer db.Close()
		conn, err := db.Conn(ctx)
		if err != nil {
			env.t.Fatal(err)
		}
		defer conn.Close()
		for _, q := range append([]string{"USE " + mysqlIdent(s.Schema)}, stmts...) {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				env.t.Fatalf("as %s: %s: %v", s.User, q, err)
			}
		}
	case Postgres:
		c, err := env.pgAs(s.User, pw, s.Schema)
		if err != nil {
			env.t.Fatal(err)
		}
		defer c.Close(ctx)
		for _, q := range stmts {
			if _, err := c.Exec(ctx, q); err != nil {
				env.t.Fatalf("as %s: %s: %v", s.User, q, err)
			}
		}
	}
}

// adminCount counts the rows of table in schema (the database of that
// name on PostgreSQL) as the admin.
func (env *testEnv) adminCount(schema, table string) int {
	env.t.Helper()
	var n int
	switch env.engine {
	case MySQL:
		db := env.mysqlAs(env.t, "", "")
		defer db.Close()
		if err := db.QueryRow(fmt.Sprintf("SELECT COUNT(*) FROM %s.%s", mysqlIdent(schema), mysqlIdent(table))).Scan(&n); err != nil {
			env.t.Fatal(err)
		}
	case Postgres:
		c, err := env.pgAs("", "", schema)
		if err != nil {
			env.t.Fatal(err)
		}
		defer c.Close(context.Background())
		if err := c.QueryRow(context.Background(), fmt.Sprintf("SELECT COUNT(*) FROM %s.%s", pgIdent(schema), pgIdent(table))).Scan(&n); err != nil {
			env.t.Fatal(err)
		}
	}
	return n
}

// schemaExists reports whether the schema (the database on PostgreSQL)
// exists.
func (env *testEnv) schemaExists(name string) bool {
	env.t.Helper()
	var n int
	switch env.engine {
	case MySQL:
		db := env.mysqlAs(env.t, "", "")
		defer db.Close()
		if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name).Scan(&n); err != nil {
			env.t.Fatal(err)
		}
	case Postgres:
		c, err := env.pgAs("", "", "")
		if err != nil {
			env.t.Fatal(err)
		}
		defer c.Close(context.Background())
		if err := c.QueryRow(context.Background(), "SELECT COUNT(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
			env.t.Fatal(err)
		}
	}
	return n > 0
}
