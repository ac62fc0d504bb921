package dbprov

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestApplyTwiceChangesNothing(t *testing.T) {
	engines(t, func(t *testing.T, env *testEnv) {
		ctx := env.ctx()
		a, b := env.service("orders", 5), env.service("fx", 10)
		c := env.cluster(a, b)
		p := env.provisioner(c)

		first := mustApply(t, p, ctx)
		if len(first.Issued) != 2 {
			t.Fatalf("first apply issued %d credentials, want 2:\n%s", len(first.Issued), planText(first.Plan))
		}
		for _, is := range first.Issued {
			fi, err := os.Stat(is.Path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %v, want 0600", is.Path, fi.Mode().Perm())
			}
		}
		if fi, err := os.Stat(env.credDir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("credentials directory: %v, mode %v; want 0700", err, fi.Mode().Perm())
		}
		if err := env.login(a, env.password(a.Name)); err != nil {
			t.Fatalf("service cannot log in with its issued password: %v", err)
		}

		plan, err := p.Plan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !plan.Empty() || len(plan.Drift) > 0 || len(plan.Conflicts) > 0 {
			t.Fatalf("plan after apply is not empty:\n%s", planText(plan))
		}
		if want := []string{b.Name, a.Name}; !slices.Equal(plan.UpToDate, want) && !slices.Equal(plan.UpToDate, []string{a.Name, b.Name}) {
			t.Errorf("up to date: %v, want both services", plan.UpToDate)
		}
		before := env.password(a.Name)
		second := mustApply(t, p, ctx)
		if !second.Plan.Empty() || len(second.Issued) != 0 {
			t.Fatalf("second apply did something:\n%s", planText(second.Plan))
		}
		if env.password(a.Name) != before {
			t.Error("second apply replaced a credentials file")
		}

		// A changed limit is one ALTER, and then nothing again.
		c.Services[0].ConnectionLimit = 7
		plan, err = p.Plan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(plan.Changes) != 1 || !strings.Contains(plan.Changes[0].What, "connection limit 5 → 7") {
			t.Fatalf("plan after raising a limit:\n%s", planText(plan))
		}
		mustApply(t, p, ctx)
		if plan, err = p.Plan(ctx); err != nil || !plan.Empty() {
			t.Fatalf("plan after applying the new limit: %v\n%s", err, planText(plan))
		}
	})
}

func TestUnderscoreIsNoWildcard(t *testing.T) {
	engines(t, func(t *testing.T, env *testEnv) {
		ctx := env.ctx()
		// In a MySQL grant "_" matches any character: a grant on
		// <prefix>_my_db.* would also open <prefix>_myxdb.
		myDB, myxDB := env.service("my_db", 5), env.service("myxdb", 5)
		p := env.provisioner(env.cluster(myDB, myxDB))
		mustApply(t, p, ctx)

		r := mustAudit(t, p, ctx)
		if len(r.Leaks()) > 0 || len(r.Incomplete()) > 0 {
			t.Fatalf("audit after a clean apply:\n%s", reportText(r))
		}
		if a := r.Matrix[0][1]; a.Read || a.Write || a.Create {
			t.Fatalf("my_db reaches myxdb: %+v\n%s", a, reportText(r))
		}
		if a := r.Matrix[0][0]; !(a.Login && a.Read && a.Write && a.Create) {
			t.Fatalf("my_db cannot use its own schema: %+v", a)
		}

		if env.engine != MySQL {
			return
		}
		// The same grant without the escape, as one would write it by
		// hand, is the leak the audit must catch.
		env.admin("", fmt.Sprintf("GRANT SELECT ON %s.* TO %s", mysqlIdent(myDB.Schema), mysqlString(myDB.User)+"@'%'"))
		r = mustAudit(t, p, ctx)
		if !r.Matrix[0][1].Read {
			t.Fatalf("an unescaped grant on %s did not open %s:\n%s", myDB.Schema, myxDB.Schema, reportText(r))
		}
		if !hasLeak(r, myDB.Name, myxDB.Name) {
			t.Fatalf("audit does not name the leak from %s to %s:\n%s", myDB.Name, myxDB.Name, reportText(r))
		}
		plan, err := p.Plan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(plan.Drift) != 1 || !slices.Equal(plan.Drift[0].Reaches, []string{myxDB.Name}) || !strings.Contains(plan.Drift[0].What, "wildcards") {
			t.Fatalf("plan does not report the unescaped grant as drift reaching %s:\n%s", myxDB.Name, planText(plan))
		}
		if _, err := p.Apply(ctx, ApplyOptions{RevokeDrift: true}); err != nil {
			t.Fatal(err)
		}
		if r = mustAudit(t, p, ctx); len(r.Leaks()) > 0 {
			t.Fatalf("audit after apply --revoke-drift:\n%s", reportText(r))
		}
	})
}

// hasLeak reports whether r has a leak finding naming both services.
func hasLeak(r *AuditReport, from, to string) bool {
	return slices.ContainsFunc(r.Leaks(), func(f Finding) bool {
		return strings.Contains(f.Message, from) && strings.Contains(f.Message, to)
	})
}

func TestAuditFailsNamingAGrantMadeByHand(t *testing.T) {
	engines(t, func(t *testing.T, env *testEnv) {
		ctx := env.ctx()
		a, b, c := env.service("shop", 5), env.service("billing", 5), env.service("fx", 5)
		p := env.provisioner(env.cluster(a, b, c))
		mustApply(t, p, ctx)
		if r := mustAudit(t, p, ctx); len(r.Leaks()) > 0 || len(r.Incomplete()) > 0 {
			t.Fatalf("audit after a clean apply:\n%s", reportText(r))
		}

		// Someone lets shop read billing's invoices.
		switch env.engine {
		case MySQL:
			env.admin("",
				fmt.Sprintf("CREATE TABLE %s.invoices (id INT)", mysqlIdent(b.Schema)),
				fmt.Sprintf("GRANT SELECT ON %s.invoices TO %s@'%%'", mysqlIdent(b.Schema), mysqlString(a.User)))
		case Postgres:
			env.admin("", fmt.Sprintf("GRANT CONNECT ON DATABASE %s TO %s", pgIdent(b.Schema), pgIdent(a.User)))
			env.admin(b.Schema,
				fmt.Sprintf("CREATE TABLE %s.invoices (id int)", pgIdent(b.Schema)),
				fmt.Sprintf("GRANT USAGE ON SCHEMA %s TO %s", pgIdent(b.Schema), pgIdent(a.User)),
				fmt.Sprintf("GRANT SELECT ON %s.invoices TO %s", pgIdent(b.Schema), pgIdent(a.User)))
		}
		r := mustAudit(t, p, ctx)
		if !hasLeak(r, a.Name, b.Name) {
			t.Fatalf("audit does not name the leak from %s to %s:\n%s", a.Name, b.Name, reportText(r))
		}
		if !slices.ContainsFunc(r.Leaks(), func(f Finding) bool { return strings.Contains(f.Message, "invoices") }) {
			t.Errorf("no leak names the table:\n%s", reportText(r))
		}
		for _, f := range r.Leaks() {
			if strings.Contains(f.Message, c.Name) {
				t.Errorf("a leak involves %s, which nobody touched: %s", c.Name, f.Message)
			}
		}
		if !strings.Contains(reportText(r), "FAIL") {
			t.Errorf("report does not say FAIL:\n%s", reportText(r))
		}
	})
}

func TestPublicGrantOnAServiceDatabaseIsALeak(t *testing.T) {
	engines(t, func(t *testing.T, env *testEnv) {
		ctx := env.ctx()
		a := env.service("ledger", 5)
		p := env.provisioner(env.cluster(a))
		mustApply(t, p, ctx)
		env.admin("", fmt.Sprintf("GRANT CONNECT ON DATABASE %s TO PUBLIC", pgIdent(a.Schema)))
		r := mustAudit(t, p, ctx)
		if !slices.ContainsFunc(r.Leaks(), func(f Finding) bool {
			return strings.Contains(f.Message, "PUBLIC") && strings.Contains(f.Message, a.Schema)
		}) {
			t.Fatalf("PUBLIC CONNECT on %s is not a leak:\n%s", a.Schema, reportText(r))
		}
		// apply takes it away again: it is part of what apply sets up.
		plan := mustApply(t, p, ctx).Plan
		if len(plan.Changes) != 1 || !strings.Contains(plan.Changes[0].What, "revoke PUBLIC's CONNECT") {
			t.Fatalf("apply did not revoke PUBLIC's CONNECT:\n%s", planText(plan))
		}
		if r := mustAudit(t, p, ctx); len(r.Leaks()) > 0 {
			t.Fatalf("audit after apply:\n%s", reportText(r))
		}
	}, Postgres) // PUBLIC on a database is PostgreSQL's
}

func TestConnectionLimitIsEnforcedByTheServer(t *testing.T) {
	engines(t, func(t *testing.T, env *testEnv) {
		ctx := env.ctx()
		const limit = 3
		s := env.service("limited", limit)
		mustApply(t, env.provisioner(env.cluster(s)), ctx)
		pw := env.password(s.Name)

		var err error
		switch env.engine {
		case MySQL:
			db := env.mysqlAs(t, s.User, pw)
			defer db.Close()
			for i := range limit {
				c, err := db.Conn(ctx) // a new connection: none is idle
				if err != nil {
					t.Fatalf("connection %d of %d refused: %v", i+1, limit, err)
				}
				defer c.Close()
			}
			var c *sql.Conn
			if c, err = db.Conn(ctx); err == nil {
				err = c.PingContext(ctx)
				c.Close()
			}
			var me *mysql.MySQLError
			if !errors.As(err, &me) || me.Number != 1226 {
				t.Fatalf("connection %d: got %v, want error 1226 (max_user_connections)", limit+1, err)
			}
		case Postgres:
			for i := range limit {
				c, err := env.pgAs(s.User, pw, s.Schema)
				if err != nil {
					t.Fatalf("connection %d of %d refused: %v", i+1, limit, err)
				}
				defer c.Close(context.Background())
			}
			var c *pgx.Conn
			if c, err = env.pgAs(s.User, pw, s.Schema); err == nil {
				c.Close(ctx)
			}
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "53300" {
				t.Fatalf("connection %d: got %v, want SQLSTATE 53300 (too many connections for role)", limit+1, err)
			}
		}
	})
}

// reconnecting is a running service that reads its credentials file
// whenever it opens a connection, as docs/databases.md tells services to:
// on MySQL a database/sql pool with the driver's BeforeConnect hook (and no
// idle connections, so every query connects afresh); on PostgreSQL a new
// connection per query from the file's DSN.
type reconnecting struct {
	env  *testEnv
	path string
	pool *sql.DB
}

func newReconnecting(t *testing.T, env *testEnv, path string) *reconnecting {
	r := &reconnecting{env: env, path: path}
	if env.engine != MySQL {
		return r
	}
	c, err := ReadCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := mysql.ParseDSN(c.DSN())
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Apply(mysql.BeforeConnect(func(ctx context.Context, cfg *mysql.Config) error {
		fresh, err := ReadCredentials(path)
		if err != nil {
			return err
		}
		cfg.Passwd = fresh.Secret()
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.pool = sql.OpenDB(conn)
	r.pool.SetMaxIdleConns(0)
	t.Cleanup(func() { r.pool.Close() })
	return r
}

// query runs a statement in the service's schema on a new connection.
func (r *reconnecting) query(ctx context.Context) error {
	if r.pool != nil {
		_, err := r.pool.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS alive (id INT)")
		return err
	}
	c, err := ReadCredentials(r.path)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, c.DSN())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS alive (id int)")
	return err
}

func TestRotateKeepsARunningServiceWorking(t *testing.T) {
	engines(t, func(t *testing.T, env *testEnv) {
		ctx := env.ctx()
		s := env.service("rotating", 5)
		p := env.provisioner(env.cluster(s))
		mustApply(t, p, ctx)
		old := env.password(s.Name)
		path := filepath.Join(env.credDir, s.Name+".env")
		svc := newReconnecting(t, env, path)
		if err := svc.query(ctx); err != nil {
			t.Fatalf("service before rotation: %v", err)
		}

		// A connection the service holds across the rotation.
		var held func() error
		switch env.engine {
		case MySQL:
			db := env.mysqlAs(t, s.User, old)
			defer db.Close()
			c, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			held = func() error { return c.PingContext(ctx) }
		case Postgres:
			c, err := env.pgAs(s.User, old, s.Schema)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(context.Background())
			held = func() error { _, err := c.Exec(ctx, "SELECT 1"); return err }
		}

		is, err := p.Rotate(ctx, s.Name, RotateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if is.Path != path || is.Credentials != nil {
			t.Errorf("Rotate returned %+v, want the file path and no credentials", is)
		}
		fresh := env.password(s.Name)
		if fresh == old {
			t.Fatal("rotate left the password as it was")
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("credentials file after rotate: %v, mode %v", err, fi.Mode().Perm())
		}
		if err := env.login(s, old); err == nil {
			t.Error("the old password still logs in")
		}
		if err := env.login(s, fresh); err != nil {
			t.Errorf("the new password does not log in: %v", err)
		}
		if err := held(); err != nil {
			t.Errorf("a connection opened before the rotation broke: %v", err)
		}
		if err := svc.query(ctx); err != nil {
			t.Errorf("the service, reconnecting with its credentials file, fails: %v", err)
		}
		entries, _ := os.ReadDir(env.credDir)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".tmp") {
				t.Errorf("rotate left %s behind", e.Name())
			}
		}
	})
}

func TestRotateRefusesUnknownAndUnprovisionedServices(t *testing.T) {
	engines(t, func(t *testing.T, env *testEnv) {
		ctx := env.ctx()
		s := env.service("notyet", 5)
		p := env.provisioner(env.cluster(s))
		if _, err := p.Rotate(ctx, "nope", RotateOptions{}); !errors.Is(err, ErrUnknownService) {
			t.Errorf("rotate of an unknown service: %v, want ErrUnknownService", err)
		}
		if _, err := p.Rotate(ctx, s.Name, RotateOptions{}); !errors.Is(err, ErrNotProvisioned) {
			t.Errorf("rotate before apply: %v, want ErrNotProvisioned", err)
		}
	})
}

func TestObjectsSkjoldDidNotCreateAreLeftAlone(t *testing.T) {
	engines(t, func(t *testing.T, env *testEnv) {
		ctx := env.ctx()
		mine, theirs := env.service("mine", 5), env.service("legacy", 5)
		switch env.engine {
		case MySQL:
			env.admin("", "CREATE DATABASE "+mysqlIdent(theirs.Schema), fmt.Sprintf("CREATE TABLE %s.keep (id INT)", mysqlIdent(theirs.Schema)))
		case Postgres:
			env.admin("", "CREATE DATABASE "+pgIdent(theirs.Schema))
			env.admin(theirs.Schema, "CREATE TABLE keep (id int)")
		}
		p := env.provisioner(env.cluster(mine, theirs))
		plan, err := p.Plan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(plan.Conflicts) != 1 || plan.Conflicts[0].Service != theirs.Name || !strings.Contains(plan.Conflicts[0].What, "not created by skjold") {
			t.Fatalf("plan does not report the existing schema as a conflict:\n%s", planText(plan))
		}
		res, err := p.Apply(ctx, ApplyOptions{})
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("apply with a conflict: %v, want ErrConflict", err)
		}
		if len(res.Issued) != 0 {
			t.Errorf("apply with a conflict issued credentials")
		}
		if err := env.login(mine, "x"); err == nil || env.engine == MySQL && !strings.Contains(err.Error(), "1045") {
			t.Errorf("apply with a conflict created %s anyway (login: %v)", mine.User, err)
		}
		// Their table is still there.
		switch env.engine {
		case MySQL:
			env.admin("", fmt.Sprintf("SELECT * FROM %s.keep", mysqlIdent(theirs.Schema)))
		case Postgres:
			env.admin(theirs.Schema, "SELECT * FROM keep")
		}
	})
}

func TestShowSecretsWritesNoFile(t *testing.T) {
	engines(t, func(t *testing.T, env *testEnv) {
		ctx := env.ctx()
		s := env.service("shown", 5)
		p := env.provisioner(env.cluster(s))
		res, err := p.Apply(ctx, ApplyOptions{ShowSecrets: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Issued) != 1 || res.Issued[0].Credentials == nil || res.Issued[0].Path != "" {
			t.Fatalf("issued %+v, want one set of credentials and no path", res.Issued)
		}
		if _, err := os.Stat(filepath.Join(env.credDir, s.Name+".env")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a credentials file exists: %v", err)
		}
		if err := env.login(s, res.Issued[0].Credentials.Secret()); err != nil {
			t.Errorf("the shown password does not log in: %v", err)
		}
		// Without a file the audit cannot log in as the service, and says
		// so rather than passing.
		r := mustAudit(t, p, ctx)
		if len(r.Incomplete()) == 0 {
			t.Errorf("audit without credentials is not incomplete:\n%s", reportText(r))
		}
	})
}

func TestPasswordsNeverReachOutputOrLogs(t *testing.T) {
	engines(t, func(t *testing.T, env *testEnv) {
		ctx := env.ctx()
		a, b := env.service("secretive", 5), env.service("other", 5)
		p := env.provisioner(env.cluster(a, b))
		var out strings.Builder
		res := mustApply(t, p, ctx)
		_ = res.Plan.WriteText(&out)
		plan, err := p.Plan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_ = plan.WriteText(&out)
		secrets := []string{env.password(a.Name), env.password(b.Name)}
		is, err := p.Rotate(ctx, a.Name, RotateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "%v %+v\n", is, is)
		secrets = append(secrets, env.password(a.Name))
		c, err := ReadCredentials(is.Path)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "%v %+v %#v %s\n", c, c, c, c)
		r := mustAudit(t, p, ctx)
		_ = r.WriteText(&out)
		// A failing statement that carried a secret: its error must not
		// quote it.
		st := Statement{SQL: "CREATE USER nonsense " + secretMarker + " syntax error"}
		e, err := p.open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		execErr := e.exec(ctx, st, "Pw1234567890abcdefghijklmnopqrstu")
		e.close()
		if execErr == nil {
			t.Fatal("the nonsense statement succeeded")
		}
		fmt.Fprintln(&out, execErr)
		secrets = append(secrets, "Pw1234567890abcdefghijklmnopqrstu", nativeHash("Pw1234567890abcdefghijklmnopqrstu"))

		all := out.String() + env.log.String()
		if !strings.Contains(env.log.String(), "CREATE") {
			t.Fatalf("the log has no statements, so this test proves nothing:\n%s", env.log)
		}
		for _, s := range secrets {
			if strings.Contains(all, s) {
				t.Errorf("a password appears in output or logs:\n%s", strings.ReplaceAll(all, s, ">>>HERE<<<"))
			}
			for _, h := range []string{nativeHash(s), strings.ToLower(nativeHash(s)[1:])} {
				if strings.Contains(all, h) {
					t.Errorf("a password hash appears in output or logs")
				}
			}
		}
		if !strings.Contains(all, "<redacted>") {
			t.Error("output shows no redacted statement; the statements that set passwords are missing")
		}
	})
}

func TestRenamedSchemaIsLeftInPlaceWithANote(t *testing.T) {
	engines(t, func(t *testing.T, env *testEnv) {
		ctx := env.ctx()
		s := env.service("before", 5)
		c := env.cluster(s)
		p := env.provisioner(c)
		mustApply(t, p, ctx)
		c.Services[0].Schema = env.name("after")
		plan, err := p.Plan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(plan.Notes, func(n string) bool {
			return strings.Contains(n, s.Schema+" was created by skjold for service "+s.Name+", which now uses another")
		}) {
			t.Errorf("plan has no note about the old schema %s:\n%s", s.Schema, planText(plan))
		}
		if !slices.ContainsFunc(plan.Changes, func(ch Change) bool {
			return strings.Contains(ch.What, "create") && strings.Contains(ch.What, env.name("after"))
		}) {
			t.Errorf("plan does not create the new schema:\n%s", planText(plan))
		}
	})
}

// A service whose name is an SQL keyword gets quoted identifiers, and the
// plan after apply is empty: PostgreSQL stores the role's search_path
// quoted ("select"), and comparing it unquoted re-set it on every apply.
func TestServiceNamedAfterAKeywordConverges(t *testing.T) {
	engines(t, func(t *testing.T, env *testEnv) {
		ctx := env.ctx()
		s := env.unprefixed("select", 5)
		p := env.provisioner(env.cluster(s))
		mustApply(t, p, ctx)
		plan, err := p.Plan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !plan.Empty() || !slices.Equal(plan.UpToDate, []string{"select"}) {
			t.Fatalf("plan after apply is not empty:\n%s", planText(plan))
		}
		if err := env.login(s, env.password(s.Name)); err != nil {
			t.Fatalf("service %q cannot log in: %v", s.Name, err)
		}
	})
}

// A credentials directory that others may write to is refused, as ssh
// refuses a key file others may read: whoever can write there can swap a
// service's credentials. Apply changes nothing on the server, and rotate
// does not change the password.
func TestLooseCredentialsDirectoryIsRefused(t *testing.T) {
	engines(t, func(t *testing.T, env *testEnv) {
		ctx := env.ctx()
		s := env.service("loose", 5)
		p := env.provisioner(env.cluster(s))
		if err := os.MkdirAll(env.credDir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(env.credDir, 0o777); err != nil {
			t.Fatal(err)
		}
		res, err := p.Apply(ctx, ApplyOptions{})
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("apply into a 0777 credentials directory: %v, want ErrConflict", err)
		}
		if text := planText(res.Plan); !strings.Contains(text, "writable by others") || !strings.Contains(text, "chmod 700 "+env.credDir) {
			t.Errorf("the plan does not say what is wrong and how to fix it:\n%s", text)
		}
		if err := env.login(s, "x"); err == nil || env.userExists(s) {
			t.Fatalf("apply created user %s despite refusing", s.User)
		}

		// Fixed, apply works; loosened again, rotate refuses.
		if err := os.Chmod(env.credDir, 0o700); err != nil {
			t.Fatal(err)
		}
		mustApply(t, p, ctx)
		before := env.password(s.Name)
		if err := os.Chmod(env.credDir, 0o757); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Rotate(ctx, s.Name, RotateOptions{}); err == nil || !strings.Contains(err.Error(), "writable by others") {
			t.Fatalf("rotate into a 0757 credentials directory: %v", err)
		}
		if err := env.login(s, before); err != nil {
			t.Errorf("a refused rotate changed the password: %v", err)
		}
	})
}

// A service removed from the config is dropped in two steps: first its
// user (and on PostgreSQL the objects and privileges that would make DROP
// ROLE fail with "objects depend on it"), keeping the data; then the data.
// A service still configured is refused, and a second drop finds nothing.
func TestDropRemovesAServiceKeepingThenDroppingItsData(t *testing.T) {
	engines(t, func(t *testing.T, env *testEnv) {
		ctx := env.ctx()
		gone, stays := env.service("gone", 5), env.service("stays", 5)
		c := env.cluster(gone, stays)
		p := env.provisioner(c)
		mustApply(t, p, ctx)
		env.asService(gone, "CREATE TABLE keep (x int)", "INSERT INTO keep VALUES (7)")

		if _, err := p.PlanDrop(ctx, gone.Name, DropOptions{KeepData: true}); !errors.Is(err, ErrStillConfigured) {
			t.Fatalf("drop of a configured service: %v, want ErrStillConfigured", err)
		}
		c.Services = []Service{stays}
		plan, err := p.PlanDrop(ctx, gone.Name, DropOptions{KeepData: true})
		if err != nil {
			t.Fatal(err)
		}
		if !env.userExists(gone) {
			t.Fatal("PlanDrop changed the server")
		}
		if err := p.Drop(ctx, gone.Name, plan); err != nil {
			t.Fatalf("drop --keep-data: %v\n%s", err, planText(plan))
		}
		if env.userExists(gone) {
			t.Fatalf("user %s still exists after drop:\n%s", gone.User, planText(plan))
		}
		if _, err := os.Stat(filepath.Join(env.credDir, gone.Name+".env")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("credentials file of the dropped service: %v, want it removed", err)
		}
		if got := env.adminCount(gone.Schema, "keep"); got != 1 {
			t.Fatalf("kept data: %d rows, want 1", got)
		}
		if err := env.login(stays, env.password(stays.Name)); err != nil {
			t.Fatalf("the other service cannot log in after the drop: %v", err)
		}
		if plan, err := p.Plan(ctx); err != nil || !plan.Empty() {
			t.Fatalf("plan after the drop: %v\n%s", err, planText(plan))
		}

		plan, err = p.PlanDrop(ctx, gone.Name, DropOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Drop(ctx, gone.Name, plan); err != nil {
			t.Fatalf("drop --drop-data: %v\n%s", err, planText(plan))
		}
		if env.schemaExists(gone.Schema) {
			t.Fatalf("schema %s still exists after drop --drop-data", gone.Schema)
		}
		if _, err := p.PlanDrop(ctx, gone.Name, DropOptions{}); !errors.Is(err, ErrNothingToDrop) {
			t.Fatalf("second drop: %v, want ErrNothingToDrop", err)
		}
	})
}
