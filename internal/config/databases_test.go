package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const dbCluster = "databases:\n  clusters:\n    main:\n      engine: mysql\n      admin_dsn_env: MAIN_DSN\n"

func TestDatabaseDefaultsAreApplied(t *testing.T) {
	c, err := Parse("t.yaml", []byte(doc(dbCluster+"  services:\n    fx-rates: {}\n    payments:\n      schema: pay\n      connection_limit: 25\n      data_class: payment\n")))
	if err != nil {
		t.Fatal(err)
	}
	d := c.Databases
	if d.CredentialsDir != DefaultCredentialsDir {
		t.Errorf("credentials_dir = %q, want %q", d.CredentialsDir, DefaultCredentialsDir)
	}
	if got := d.Clusters["main"].UserHost; got != "%" {
		t.Errorf("user_host = %q, want %%", got)
	}
	fx := d.Services["fx-rates"]
	if fx.Cluster != "main" || fx.Schema != "fx_rates" || fx.User != "fx_rates" || fx.ConnectionLimit != DefaultConnectionLimit {
		t.Errorf("fx-rates = %+v, want cluster main, schema and user fx_rates, limit %d", *fx, DefaultConnectionLimit)
	}
	pay := d.Services["payments"]
	if pay.Schema != "pay" || pay.User != "pay" || pay.ConnectionLimit != 25 || pay.DataClass != "payment" {
		t.Errorf("payments = %+v", *pay)
	}
}

func TestPostgresClusterHasNoUserHost(t *testing.T) {
	c, err := Parse("t.yaml", []byte(doc("databases:\n  clusters:\n    pg:\n      engine: postgres\n      admin_dsn_file: /etc/skjold/pg.dsn\n  services:\n    fx: {}\n")))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Databases.Clusters["pg"].UserHost; got != "" {
		t.Errorf("user_host = %q for postgres, want empty", got)
	}
}

func TestDatabaseProblems(t *testing.T) {
	two := "databases:\n  clusters:\n    a: {engine: mysql, admin_dsn_env: A}\n    b: {engine: postgres, admin_dsn_env: B}\n"
	checkProblemCases(t, []problemCase{
		{"inline admin dsn", doc("databases:\n  clusters:\n    main:\n      engine: mysql\n      admin_dsn: 'root:pw@tcp(db:3306)/' #<\n"),
			"databases.clusters.main.admin_dsn", "never written in the config"},
		{"no dsn source", doc("databases:\n  clusters:\n    main: #<\n      engine: mysql\n"),
			"databases.clusters.main", "needs admin_dsn_env or admin_dsn_file"},
		{"both dsn sources", doc("databases:\n  clusters:\n    main:\n      engine: mysql\n      admin_dsn_env: X\n      admin_dsn_file: /x #<\n"),
			"databases.clusters.main.admin_dsn_file", "only one of"},
		{"unknown engine", doc("databases:\n  clusters:\n    main:\n      engine: oracle #<\n      admin_dsn_env: X\n"),
			"databases.clusters.main.engine", `got "oracle"`},
		{"user_host on postgres", doc("databases:\n  clusters:\n    main:\n      engine: postgres\n      admin_dsn_env: X\n      user_host: '%' #<\n"),
			"databases.clusters.main.user_host", "no host part"},
		{"quote in user_host", doc(dbCluster + "      user_host: \"10.0.%'\" #<\n"),
			"databases.clusters.main.user_host", "expected a host"},
		{"cluster required with two", doc(two + "  services:\n    fx: {schema: fx} #<\n"),
			"databases.services.fx.cluster", "is required when more than one cluster"},
		{"unknown cluster", doc(dbCluster + "  services:\n    fx:\n      cluster: maim #<\n"),
			"databases.services.fx.cluster", `did you mean "main"?`},
		{"schema with a dot", doc(dbCluster + "  services:\n    fx:\n      schema: fx.rates #<\n"),
			"databases.services.fx.schema", "lower-case letters, digits"},
		{"upper-case derived schema", doc(dbCluster + "  services:\n    FX: {} #<\n"),
			"databases.services.FX.schema", "must start with a lower-case letter"},
		{"reserved schema", doc(dbCluster + "  services:\n    fx:\n      schema: mysql #<\n"),
			"databases.services.fx.schema", "belongs to the database server"},
		{"long mysql user", doc(dbCluster + "  services:\n    fx:\n      user: " + strings.Repeat("u", 33) + " #<\n"),
			"databases.services.fx.user", "the most is 32"},
		{"long derived mysql user", doc(dbCluster + "  services:\n    fx: #<\n      schema: " + strings.Repeat("s", 40) + "\n"),
			"databases.services.fx.user", "(the schema name) is 40 characters long; the most is 32"},
		{"shared schema", doc(dbCluster + "  services:\n    fx:\n      schema: shared #^\n    pay:\n      schema: shared #<\n      user: pay\n"),
			"databases.services.pay.schema", `already service fx's`},
		{"zero connection limit", doc(dbCluster + "  services:\n    fx:\n      connection_limit: 0 #<\n"),
			"databases.services.fx.connection_limit", "0 is not allowed"},
		{"negative connection limit", doc(dbCluster + "  services:\n    fx:\n      connection_limit: -1 #<\n"),
			"databases.services.fx.connection_limit", "between 1 and 100000"},
	})
}

func TestSameSchemaOnTwoClustersIsFine(t *testing.T) {
	d := doc("databases:\n  clusters:\n    a: {engine: mysql, admin_dsn_env: A}\n    b: {engine: postgres, admin_dsn_env: B}\n" +
		"  services:\n    fx: {cluster: a, schema: rates}\n    fx2: {cluster: b, schema: rates}\n")
	if _, err := Parse("t.yaml", []byte(d)); err != nil {
		t.Fatal(err)
	}
}

func TestResolvedAdminDSN(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "dsn")
	if err := os.WriteFile(file, []byte("  root:pw@tcp(db:3306)/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SKJOLD_TEST_DSN_SET", "postgres://a:b@h/db")
	t.Setenv("SKJOLD_TEST_DSN_EMPTY", "")
	for _, tc := range []struct {
		name    string
		c       DBCluster
		want    string
		wantErr string
	}{
		{"env", DBCluster{AdminDSNEnv: "SKJOLD_TEST_DSN_SET"}, "postgres://a:b@h/db", ""},
		{"file trimmed", DBCluster{AdminDSNFile: file}, "root:pw@tcp(db:3306)/", ""},
		{"empty env", DBCluster{AdminDSNEnv: "SKJOLD_TEST_DSN_EMPTY"}, "", "SKJOLD_TEST_DSN_EMPTY is not set or empty"},
		{"empty file", DBCluster{AdminDSNFile: empty}, "", "is empty"},
		{"missing file", DBCluster{AdminDSNFile: filepath.Join(dir, "nope")}, "", "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.c.ResolvedAdminDSN()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
