package cli

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/skjold-dev/skjold/internal/dbprov"
)

// dbTestServer returns the admin DSN of a real server that scripts/test
// started, failing when SKJOLD_REQUIRE_SERVICES=1 says it must be there.
func dbTestServer(t *testing.T, env string) string {
	t.Helper()
	dsn := os.Getenv(env)
	if dsn == "" {
		if os.Getenv("SKJOLD_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%s is not set, and SKJOLD_REQUIRE_SERVICES=1 says the server must be there; run scripts/test", env)
		}
		t.Skipf("%s is not set; scripts/test starts a server and sets it", env)
	}
	return dsn
}

// dbTestConfig writes a config with one cluster of engine on the server
// in dsnEnv and two services named with a fresh prefix; it returns the
// config path, the credentials directory and the services' names.
func dbTestConfig(t *testing.T, engine, dsnEnv string) (path, creds string, names []string) {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	prefix := "c" + hex.EncodeToString(b)
	names = []string{prefix + "_shop", prefix + "_billing"}
	dir := t.TempDir()
	creds = filepath.Join(dir, "creds")
	path = writeFile(t, "skjold.yaml", fmt.Sprintf(`listeners:
  public:
    address: 127.0.0.1:8080
databases:
  credentials_dir: %s
  clusters:
    main:
      engine: %s
      admin_dsn_env: %s
  services:
    %s: {connection_limit: 4, data_class: orders}
    %s: {connection_limit: 4, data_class: payment}
`, creds, engine, dsnEnv, names[0], names[1]))
	t.Cleanup(func() { dropPrefixed(t, engine, os.Getenv(dsnEnv), prefix) })
	return path, creds, names
}

// dropPrefixed removes what a test created on the server.
func dropPrefixed(t *testing.T, engine, dsn, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stmts []string
	switch engine {
	case "mysql":
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Error(err)
			return
		}
		conn, _ := mysql.NewConnector(cfg)
		db := sql.OpenDB(conn)
		defer db.Close()
		for _, q := range []string{
			"SELECT CONCAT('DROP DATABASE `', SCHEMA_NAME, '`') FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?",
			"SELECT CONCAT('DROP USER ''', User, '''@''', Host, '''') FROM mysql.user WHERE User LIKE ?",
		} {
			rows, err := db.QueryContext(ctx, q, prefix+"%")
			if err != nil {
				t.Error(err)
				return
			}
			for rows.Next() {
				var s string
				_ = rows.Scan(&s)
				stmts = append(stmts, s)
			}
			rows.Close()
		}
		stmts = append(stmts, "DELETE FROM skjold_meta.managed WHERE name LIKE '"+prefix+"%'")
		for _, s := range stmts {
			if _, err := db.ExecContext(ctx, s); err != nil {
				t.Errorf("cleanup: %s: %v", s, err)
			}
		}
	case "postgres":
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(ctx)
		for _, q := range []string{
			"SELECT 'DROP DATABASE ' || quote_ident(datname) || ' WITH (FORCE)' FROM pg_database WHERE datname LIKE $1",
			"SELECT 'DROP ROLE ' || quote_ident(rolname) FROM pg_roles WHERE rolname LIKE $1",
		} {
			rows, _ := conn.Query(ctx, q, prefix+"%")
			drops, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Error(err)
				return
			}
			for _, d := range drops {
				if _, err := conn.Exec(ctx, d); err != nil {
					t.Errorf("cleanup: %s: %v", d, err)
				}
			}
		}
	}
}

// grantByHand lets names[0] read names[1]'s data, the way a tired person
// might.
func grantByHand(t *testing.T, engine, dsn string, names []string) {
	ctx := context.Background()
	switch engine {
	case "mysql":
		cfg, _ := mysql.ParseDSN(dsn)
		conn, _ := mysql.NewConnector(cfg)
		db := sql.OpenDB(conn)
		defer db.Close()
		if _, err := db.ExecContext(ctx, fmt.Sprintf("GRANT SELECT ON `%s`.* TO '%s'@'%%'", names[1], names[0])); err != nil {
			t.Fatal(err)
		}
	case "postgres":
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, fmt.Sprintf(`GRANT CONNECT ON DATABASE "%s" TO "%s"`, names[1], names[0])); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDBFlowEndToEnd(t *testing.T) {
	for _, e := range []struct{ engine, env string }{{"mysql", "SKJOLD_TEST_MYSQL_DSN"}, {"postgres", "SKJOLD_TEST_PG_DSN"}} {
		t.Run(e.engine, func(t *testing.T) {
			t.Parallel()
			dsn := dbTestServer(t, e.env)
			cfg, creds, names := dbTestConfig(t, e.engine, e.env)
			var all strings.Builder // every byte the commands print
			run := func(wantCode int, args ...string) string {
				t.Helper()
				code, out, errOut := runCLI(t, append(args, "-c", cfg, "-v")...)
				all.WriteString(out + errOut)
				if code != wantCode {
					t.Fatalf("skjold %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, out, errOut)
				}
				return out
			}

			out := run(0, "db", "plan")
			if !strings.Contains(out, "'<redacted>'") || !strings.Contains(out, names[0]) {
				t.Fatalf("plan does not show the statements with the password redacted:\n%s", out)
			}
			out = run(0, "db", "apply")
			for _, n := range names {
				if !strings.Contains(out, filepath.Join(creds, n+".env")) {
					t.Errorf("apply does not say where %s's credentials went:\n%s", n, out)
				}
			}
			var secrets []string
			for _, n := range names {
				c, err := dbprov.ReadCredentials(filepath.Join(creds, n+".env"))
				if err != nil {
					t.Fatal(err)
				}
				secrets = append(secrets, c.Secret())
			}
			if out = run(0, "db", "plan"); strings.Count(out, "up to date") != 2 || !strings.Contains(out, "0 changes") {
				t.Fatalf("plan after apply:\n%s", out)
			}
			if out = run(0, "db", "audit"); !strings.Contains(out, "PASS") {
				t.Fatalf("audit after apply:\n%s", out)
			}
			out = run(0, "db", "rotate", names[0])
			if !strings.Contains(out, "new password written to") {
				t.Errorf("rotate output:\n%s", out)
			}
			c, err := dbprov.ReadCredentials(filepath.Join(creds, names[0]+".env"))
			if err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, c.Secret())

			grantByHand(t, e.engine, dsn, names)
			out = run(1, "db", "audit")
			if !strings.Contains(out, "LEAK: "+names[0]) || !strings.Contains(out, "FAIL") {
				t.Fatalf("audit after a grant by hand does not name the leak:\n%s", out)
			}
			if out = run(0, "db", "plan"); !strings.Contains(out, "drift") || !strings.Contains(out, "REVOKE") {
				t.Errorf("plan does not report the grant as drift:\n%s", out)
			}
			run(0, "db", "apply", "--revoke-drift")
			run(0, "db", "audit")

			for _, s := range secrets {
				if strings.Contains(all.String(), s) {
					t.Fatalf("a password appears in the commands' output:\n%s", strings.ReplaceAll(all.String(), s, ">>>HERE<<<"))
				}
			}
		})
	}
}

func TestDBApplyShowSecretsPrintsOnceAndWritesNothing(t *testing.T) {
	dbTestServer(t, "SKJOLD_TEST_PG_DSN")
	cfg, creds, names := dbTestConfig(t, "postgres", "SKJOLD_TEST_PG_DSN")
	code, out, errOut := runCLI(t, "db", "apply", "--show-secrets", "-c", cfg)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if n := strings.Count(out, "DB_PASSWORD="); n != 2 {
		t.Fatalf("output shows %d passwords, want one per service:\n%s", n, out)
	}
	if _, err := os.Stat(creds); !os.IsNotExist(err) {
		t.Errorf("--show-secrets created %s: %v", creds, err)
	}
	// The audit needs the files, so it cannot prove anything: exit 2.
	if code, out, _ := runCLI(t, "db", "audit", "-c", cfg); code != 2 || !strings.Contains(out, "INCOMPLETE") || !strings.Contains(out, names[0]) {
		t.Errorf("audit without credentials files: exit %d, want 2\n%s", code, out)
	}
}

func TestDBRejectsInlineDSNAndUnknownService(t *testing.T) {
	cfg := writeFile(t, "skjold.yaml", `listeners:
  public:
    address: 127.0.0.1:8080
databases:
  clusters:
    main:
      engine: postgres
      admin_dsn: postgres://postgres:hunter2@db/postgres
`)
	code, out, errOut := runCLI(t, "db", "plan", "-c", cfg)
	if code != 1 || !strings.Contains(errOut, "admin_dsn: an admin DSN holds a password") {
		t.Errorf("inline DSN: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "hunter2") {
		t.Errorf("the refused DSN's password is echoed:\n%s%s", out, errOut)
	}

	cfg = writeFile(t, "skjold2.yaml", `listeners:
  public:
    address: 127.0.0.1:8080
databases:
  clusters:
    main:
      engine: postgres
      admin_dsn_env: SKJOLD_TEST_UNSET_DSN_FOR_CLI
`)
	t.Setenv("SKJOLD_TEST_UNSET_DSN_FOR_CLI", "")
	code, _, errOut = runCLI(t, "db", "plan", "-c", cfg)
	if code != 1 || !strings.Contains(errOut, "SKJOLD_TEST_UNSET_DSN_FOR_CLI is not set") {
		t.Errorf("plan with an unset DSN variable: exit %d\n%s", code, errOut)
	}
	code, _, errOut = runCLI(t, "db", "rotate", "nope", "-c", cfg)
	if code != 1 || !strings.Contains(errOut, `service "nope" is not in databases.services`) {
		t.Errorf("rotate of an unknown service: exit %d\n%s", code, errOut)
	}
}

// `skjold db drop` shows its plan and changes nothing until the service's
// name is typed (or --yes), refuses a service still configured and a drop
// that does not say what happens to the data, and removes the user while
// keeping the data, then the data.
func TestDBDropAsksForTheNameThenDrops(t *testing.T) {
	for _, e := range []struct{ engine, env string }{{"mysql", "SKJOLD_TEST_MYSQL_DSN"}, {"postgres", "SKJOLD_TEST_PG_DSN"}} {
		t.Run(e.engine, func(t *testing.T) {
			t.Parallel()
			dbTestServer(t, e.env)
			cfg, creds, names := dbTestConfig(t, e.engine, e.env)
			gone := names[0]
			run := func(stdin string, wantCode int, args ...string) string {
				t.Helper()
				code, out, errOut := runDoctor(t, stdin, append(args, "-c", cfg)...)
				if code != wantCode {
					t.Fatalf("skjold %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, out, errOut)
				}
				return out + errOut
			}
			run("", 0, "db", "apply")
			if out := run("", 1, "db", "drop", gone, "--keep-data", "--yes"); !strings.Contains(out, "still in databases.services") {
				t.Fatalf("drop of a configured service:\n%s", out)
			}

			// The service leaves the config.
			data, err := os.ReadFile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var kept []string
			for _, l := range strings.Split(string(data), "\n") {
				if !strings.Contains(l, gone+":") {
					kept = append(kept, l)
				}
			}
			if err := os.WriteFile(cfg, []byte(strings.Join(kept, "\n")), 0o600); err != nil {
				t.Fatal(err)
			}
			if out := run("", 0, "db", "plan"); !strings.Contains(out, "skjold db drop "+gone) {
				t.Errorf("plan does not point at db drop for the removed service:\n%s", out)
			}
			if out := run(gone+"\n", 1, "db", "drop", gone); !strings.Contains(out, "--keep-data or --drop-data") {
				t.Fatalf("drop without a data choice:\n%s", out)
			}
			for _, stdin := range []string{"", "y\n", names[1] + "\n"} {
				out := run(stdin, 1, "db", "drop", gone, "--keep-data")
				if !strings.Contains(out, "nothing changed") || !strings.Contains(out, "DROP") {
					t.Fatalf("drop answered %q: no plan or no refusal:\n%s", stdin, out)
				}
			}
			if _, err := os.Stat(filepath.Join(creds, gone+".env")); err != nil {
				t.Fatalf("a refused drop touched the credentials file: %v", err)
			}
			if out := run("", 0, "db", "plan"); !strings.Contains(out, "role "+gone) && !strings.Contains(out, "user "+gone) {
				t.Fatalf("a refused drop removed the user:\n%s", out)
			}

			out := run(gone+"\n", 0, "db", "drop", gone, "--keep-data")
			if !strings.Contains(out, gone+": dropped") || !strings.Contains(out, "keeps the data") {
				t.Fatalf("drop --keep-data:\n%s", out)
			}
			if _, err := os.Stat(filepath.Join(creds, gone+".env")); !os.IsNotExist(err) {
				t.Errorf("credentials file after drop: %v", err)
			}
			if out := run("", 0, "db", "drop", gone, "--drop-data", "--yes"); !strings.Contains(out, "all its data") {
				t.Fatalf("drop --drop-data:\n%s", out)
			}
			if out := run("", 1, "db", "drop", gone, "--drop-data", "--yes"); !strings.Contains(out, "nothing skjold created") {
				t.Fatalf("second drop:\n%s", out)
			}
			if out := run("", 0, "db", "plan"); strings.Contains(out, gone) {
				t.Errorf("plan still mentions the dropped service:\n%s", out)
			}
		})
	}
}
