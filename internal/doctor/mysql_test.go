package doctor

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// testService returns the DSN in env, skipping the test when it is unset
// unless the test command promised the services (SKJOLD_REQUIRE_SERVICES).
func testService(t *testing.T, env string) string {
	t.Helper()
	dsn := os.Getenv(env)
	if dsn == "" {
		if os.Getenv("SKJOLD_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%s is not set, but SKJOLD_REQUIRE_SERVICES=1: scripts/test should have started the server", env)
		}
		t.Skipf("%s is not set; scripts/test starts a server and sets it", env)
	}
	return dsn
}

func openTestMySQL(t *testing.T) *sql.DB {
	t.Helper()
	db, _, local, err := OpenMySQL(testService(t, "SKJOLD_TEST_MYSQL_DSN"))
	if err != nil {
		t.Fatal(err)
	}
	if !local {
		t.Fatal("the test server is expected on loopback")
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// setGlobal changes a server variable for the rest of the test and puts
// the old value back after it. Only variables whose change cannot disturb
// other tests sharing the server are changed: durability, logging and
// buffer sizes, and max_connections only upwards.
func setGlobal(t *testing.T, db *sql.DB, name, value string) {
	t.Helper()
	ctx := context.Background()
	var old string
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL."+name).Scan(&old); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf("SET GLOBAL %s = %s", name, value)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		v := old
		if _, err := strconv.ParseFloat(old, 64); err != nil {
			v = "'" + strings.ReplaceAll(old, "'", "''") + "'"
		}
		if _, err := db.ExecContext(context.Background(), fmt.Sprintf("SET GLOBAL %s = %s", name, v)); err != nil {
			t.Errorf("restoring %s = %s: %v", name, old, err)
		}
	})
}

func readMySQL(t *testing.T, db *sql.DB) MySQLServer {
	t.Helper()
	s, err := ReadMySQL(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func resultOf(t *testing.T, rep Report, name string) Result {
	t.Helper()
	for _, r := range rep.Results {
		if r.Check == name {
			return r
		}
	}
	t.Fatalf("no result %s in %+v", name, rep.Results)
	return Result{}
}

// The subtests run one after another: they change the same server's
// globals.
func TestMySQLChecksOnALiveServer(t *testing.T) {
	db := openTestMySQL(t)
	const gib = int64(1) << 30
	bigHost := DBHost{RAM: 64 * gib, RAMFrom: "test"}

	t.Run("server identified", func(t *testing.T) {
		s := readMySQL(t, db)
		f := parseMySQLFlavor(s.Variables["version"], s.Variables["version_comment"])
		if !f.mariadb || !f.atLeast(10, 5) {
			t.Fatalf("the test server is %s; these tests expect MariaDB 10.5 or later", f)
		}
		r := resultOf(t, CheckMySQL(s, bigHost), "mysql.innodb_buffer_pool_instances")
		if r.Status != OK || !strings.Contains(r.Found, "not used: MariaDB") {
			t.Errorf("instances on MariaDB: %s %q", r.Status, r.Found)
		}
	})

	t.Run("flush at commit", func(t *testing.T) {
		for _, tt := range []struct {
			value string
			want  Status
		}{{"0", Fail}, {"2", Warn}, {"1", OK}} {
			setGlobal(t, db, "innodb_flush_log_at_trx_commit", tt.value)
			rep := CheckMySQL(readMySQL(t, db), bigHost)
			r := resultOf(t, rep, "mysql.innodb_flush_log_at_trx_commit")
			if r.Status != tt.want || !strings.HasPrefix(r.Found, tt.value) {
				t.Errorf("innodb_flush_log_at_trx_commit=%s: %s %q, want %s", tt.value, r.Status, r.Found, tt.want)
			}
			if inSnippet := strings.Contains(rep.Snippet, "innodb_flush_log_at_trx_commit = 1"); inSnippet != (tt.want != OK) {
				t.Errorf("innodb_flush_log_at_trx_commit=%s: snippet:\n%s", tt.value, rep.Snippet)
			}
		}
	})

	t.Run("slow query log", func(t *testing.T) {
		setGlobal(t, db, "slow_query_log", "OFF")
		rep := CheckMySQL(readMySQL(t, db), bigHost)
		if r := resultOf(t, rep, "mysql.slow_query_log"); r.Status != Warn || r.Found != "OFF" {
			t.Errorf("off: %s %q", r.Status, r.Found)
		}
		if !strings.Contains(rep.Snippet, "slow_query_log = 1") {
			t.Errorf("snippet:\n%s", rep.Snippet)
		}
		setGlobal(t, db, "slow_query_log", "ON")
		if r := resultOf(t, CheckMySQL(readMySQL(t, db), bigHost), "mysql.slow_query_log"); r.Status != OK || !strings.HasPrefix(r.Found, "ON (") {
			t.Errorf("on: %s %q", r.Status, r.Found)
		}
	})

	t.Run("long query time", func(t *testing.T) {
		for _, tt := range []struct {
			value     string
			want      Status
			wantFound string
		}{{"10", Warn, "10 s"}, {"0.5", OK, "0.5 s"}, {"1", OK, "1 s"}, {"0", Warn, "logs every query"}} {
			setGlobal(t, db, "long_query_time", tt.value)
			rep := CheckMySQL(readMySQL(t, db), bigHost)
			r := resultOf(t, rep, "mysql.long_query_time")
			if r.Status != tt.want || !strings.Contains(r.Found, tt.wantFound) {
				t.Errorf("long_query_time=%s: %s %q, want %s %q", tt.value, r.Status, r.Found, tt.want, tt.wantFound)
			}
			if inSnippet := strings.Contains(rep.Snippet, "long_query_time = 1"); inSnippet != (tt.want != OK) {
				t.Errorf("long_query_time=%s: snippet:\n%s", tt.value, rep.Snippet)
			}
		}
	})

	t.Run("buffer pool against RAM", func(t *testing.T) {
		setGlobal(t, db, "innodb_buffer_pool_size", "256*1024*1024")
		s := readMySQL(t, db)
		if got := vars(s.Variables).int("innodb_buffer_pool_size"); got != 256<<20 {
			t.Fatalf("innodb_buffer_pool_size reads %d after SET GLOBAL", got)
		}
		const pool = 256 << 20
		for _, tt := range []struct {
			name      string
			ram       int64
			data      int64
			want      Status
			wantFound string
			snippet   string
		}{
			{"three quarters of RAM", pool * 4 / 3, 10 * gib, OK, "256 MiB = 75% of", ""},
			{"most of RAM", pool * 100 / 85, 10 * gib, Warn, "= 85%", "innodb_buffer_pool_size = 128M"},
			{"nearly all RAM", pool * 100 / 95, 10 * gib, Fail, "= 95%", "innodb_buffer_pool_size = 128M"},
			{"small, and the data does not fit", 16 * gib, 10 * gib, Warn, "256 MiB = 1.6% of 16 GiB (test); InnoDB data is 10 GiB", "innodb_buffer_pool_size = 12G"},
			{"small, but all data fits", 16 * gib, s.InnoDBData, OK, "of InnoDB data fits", ""},
		} {
			s.InnoDBData = tt.data
			rep := CheckMySQL(s, DBHost{RAM: tt.ram, RAMFrom: "test", Connections: 10, ConnectionsFrom: "test"})
			r := resultOf(t, rep, "mysql.innodb_buffer_pool_size")
			if r.Status != tt.want || !strings.Contains(r.Found, tt.wantFound) {
				t.Errorf("%s: %s %q, want %s %q", tt.name, r.Status, r.Found, tt.want, tt.wantFound)
			}
			// On these tiny hosts the peak estimate may ask for a smaller
			// pool too; a pool that is fine is never raised to 75%.
			if tt.snippet == "" && strings.Contains(rep.Snippet, "# 75% of") || !strings.Contains(rep.Snippet, tt.snippet) {
				t.Errorf("%s: snippet:\n%s", tt.name, rep.Snippet)
			}
			if strings.Contains(rep.Snippet, "instances") {
				t.Errorf("%s: the snippet sets instances on MariaDB:\n%s", tt.name, rep.Snippet)
			}
		}
		if r := resultOf(t, CheckMySQL(s, DBHost{}), "mysql.innodb_buffer_pool_size"); r.Status != Skip || !strings.Contains(r.Found, "host RAM unknown") {
			t.Errorf("unknown RAM: %s %q", r.Status, r.Found)
		}
	})

	t.Run("max connections against the services", func(t *testing.T) {
		setGlobal(t, db, "max_connections", "800")
		s := readMySQL(t, db)
		for _, tt := range []struct {
			services  int
			want      Status
			wantFound string
			snippet   string
		}{
			{900, Fail, "800; at most", "max_connections = 990"},
			{780, Warn, "800", "max_connections = 858"},
			{400, OK, "800", ""},
			{0, Skip, "800", ""},
		} {
			rep := CheckMySQL(s, DBHost{RAM: 64 * gib, Connections: tt.services, ConnectionsFrom: "--connections"})
			r := resultOf(t, rep, "mysql.max_connections")
			if r.Status != tt.want || !strings.HasPrefix(r.Found, tt.wantFound) {
				t.Errorf("services %d: %s %q, want %s", tt.services, r.Status, r.Found, tt.want)
			}
			if tt.snippet == "" && strings.Contains(rep.Snippet, "max_connections") || !strings.Contains(rep.Snippet, tt.snippet) {
				t.Errorf("services %d: snippet:\n%s", tt.services, rep.Snippet)
			}
		}
	})

	t.Run("peak memory", func(t *testing.T) {
		setGlobal(t, db, "max_connections", "2000")
		setGlobal(t, db, "sort_buffer_size", "2*1024*1024")
		s := readMySQL(t, db)
		m := mysqlMemoryOf(vars(s.Variables))
		peak := m.global + 2000*m.perConn
		for _, tt := range []struct {
			ram  int64
			want Status
		}{{peak * 2, OK}, {peak * 100 / 95, Warn}, {peak * 100 / 120, Fail}} {
			r := resultOf(t, CheckMySQL(s, DBHost{RAM: tt.ram}), "mysql.peak_memory")
			if r.Status != tt.want || !strings.Contains(r.Found, "2000 connections x") {
				t.Errorf("RAM %s: %s %q, want %s", bytesString(tt.ram), r.Status, r.Found, tt.want)
			}
		}
		// A bigger per-connection buffer, set live, shows in the estimate.
		setGlobal(t, db, "sort_buffer_size", "64*1024*1024")
		rep := CheckMySQL(readMySQL(t, db), DBHost{RAM: peak * 2})
		if r := resultOf(t, rep, "mysql.peak_memory"); r.Status != Fail {
			t.Errorf("with 64 MiB sort buffers: %s %q", r.Status, r.Found)
		}
	})
}

func TestMySQLReportsOnAGoodServerWithNoSnippet(t *testing.T) {
	db := openTestMySQL(t)
	setGlobal(t, db, "innodb_flush_log_at_trx_commit", "1")
	setGlobal(t, db, "slow_query_log", "ON")
	setGlobal(t, db, "long_query_time", "1")
	rep := CheckMySQL(readMySQL(t, db), DBHost{RAM: 64 << 30, Connections: 20, ConnectionsFrom: "test"})
	for _, r := range rep.Results {
		if r.Status != OK {
			t.Errorf("%s: %s %q", r.Check, r.Status, r.Found)
		}
	}
	if rep.Snippet != "" {
		t.Errorf("snippet for no gaps:\n%s", rep.Snippet)
	}
}

func TestMySQLFlavours(t *testing.T) {
	base := map[string]string{
		"innodb_buffer_pool_size": "12884901888", "innodb_flush_log_at_trx_commit": "1", "max_connections": "1000",
		"slow_query_log": "ON", "long_query_time": "1.000000", "sort_buffer_size": "262144", "join_buffer_size": "262144",
		"read_buffer_size": "131072", "read_rnd_buffer_size": "262144", "thread_stack": "1048576", "net_buffer_length": "16384",
		"binlog_cache_size": "32768", "innodb_log_buffer_size": "16777216", "key_buffer_size": "8388608",
		"tmp_table_size": "16777216", "max_heap_table_size": "16777216", "log_bin": "ON", "sync_binlog": "1",
	}
	server := func(more map[string]string) MySQLServer {
		v := map[string]string{}
		for k, x := range base {
			v[k] = x
		}
		for k, x := range more {
			v[k] = x
		}
		return MySQLServer{Variables: v, Status: map[string]string{"max_used_connections": "40"}, InnoDBData: 50 << 30}
	}
	host := DBHost{RAM: 16 << 30, RAMFrom: "--ram", Connections: 600, ConnectionsFrom: "test"}
	tests := []struct {
		name      string
		server    MySQLServer
		check     string
		want      Status
		wantFound string
		snippet   string
	}{
		{"MySQL with one instance for a 12G pool", server(map[string]string{"version": "8.0.36", "innodb_buffer_pool_instances": "1"}),
			"mysql.innodb_buffer_pool_instances", Warn, "1 for 12 GiB", "innodb_buffer_pool_instances = 12"},
		{"MySQL with eight instances", server(map[string]string{"version": "8.0.36", "innodb_buffer_pool_instances": "8"}),
			"mysql.innodb_buffer_pool_instances", OK, "8 for 12 GiB", ""},
		{"MySQL with too many instances", server(map[string]string{"version": "8.0.36", "innodb_buffer_pool_instances": "64"}),
			"mysql.innodb_buffer_pool_instances", Warn, "64 for 12 GiB", "innodb_buffer_pool_instances = 12"},
		{"MariaDB 10.4 still has instances", server(map[string]string{"version": "10.4.32-MariaDB", "innodb_buffer_pool_instances": "1"}),
			"mysql.innodb_buffer_pool_instances", Warn, "1 for", "innodb_buffer_pool_instances"},
		{"MariaDB 10.5 ignores them", server(map[string]string{"version": "10.5.2-MariaDB-log", "innodb_buffer_pool_instances": "1"}),
			"mysql.innodb_buffer_pool_instances", OK, "not used", ""},
		{"binary log not synced", server(map[string]string{"version": "8.0.36", "innodb_buffer_pool_instances": "8", "sync_binlog": "0"}),
			"mysql.sync_binlog", Warn, "0", "sync_binlog = 1"},
		{"the peak came close to the limit", func() MySQLServer {
			s := server(map[string]string{"version": "8.0.36", "innodb_buffer_pool_instances": "8"})
			s.Status["max_used_connections"] = "900"
			return s
		}(), "mysql.max_connections", Warn, "at most 900 used since start, 90% of the limit", ""},
		// The field guide's own my.cnf on its own 16 GB host: the 12G pool
		// and 1000 connections stay just under the line.
		{"the field guide's my.cnf", server(map[string]string{"version": "8.0.36", "innodb_buffer_pool_instances": "12"}),
			"mysql.peak_memory", OK, "1000 connections x 1.9 MiB (87% of 16 GiB)", ""},
		{"the field guide's my.cnf with 4 MiB sort buffers", server(map[string]string{"version": "8.0.36", "innodb_buffer_pool_instances": "12", "sort_buffer_size": "4194304"}),
			"mysql.peak_memory", Fail, "1000 connections x 5.7 MiB (110% of 16 GiB)", "innodb_buffer_pool_size = 8960M"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := CheckMySQL(tt.server, host)
			r := resultOf(t, rep, tt.check)
			if r.Status != tt.want || !strings.Contains(r.Found, tt.wantFound) {
				t.Errorf("%s %q, want %s %q", r.Status, r.Found, tt.want, tt.wantFound)
			}
			if tt.snippet != "" && !strings.Contains(rep.Snippet, tt.snippet) {
				t.Errorf("snippet lacks %q:\n%s", tt.snippet, rep.Snippet)
			}
		})
	}
}
