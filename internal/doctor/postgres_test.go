package doctor

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// testPostgresDB creates a database of its own on the test server, so that
// settings changed with ALTER DATABASE reach only the doctor's sessions,
// and returns a function that connects to it.
func testPostgresDB(t *testing.T) (admin *pgx.Conn, connect func() *pgx.Conn) {
	t.Helper()
	cfg, _, local, err := ParsePostgresDSN(testService(t, "SKJOLD_TEST_PG_DSN"))
	if err != nil {
		t.Fatal(err)
	}
	if !local {
		t.Fatal("the test server is expected on loopback")
	}
	ctx := context.Background()
	admin, err = pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("skjold_doctor_%d", os.Getpid())
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
		admin.Close(context.Background())
	})
	dbCfg := cfg.Copy()
	dbCfg.Database = name
	return admin, func() *pgx.Conn {
		c, err := pgx.ConnectConfig(ctx, dbCfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
}

func TestPostgresChecksOnALiveServer(t *testing.T) {
	admin, connect := testPostgresDB(t)
	ctx := context.Background()
	db := connect().Config().Database
	alter := func(setting, value string) {
		t.Helper()
		if _, err := admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s SET %s = %s", db, setting, value)); err != nil {
			t.Fatal(err)
		}
	}
	read := func() PostgresServer {
		t.Helper()
		s, err := ReadPostgres(ctx, connect())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	const gib = int64(1) << 30
	host := DBHost{RAM: 16 * gib, RAMFrom: "test"}

	t.Run("synchronous commit", func(t *testing.T) {
		for _, tt := range []struct {
			value string
			want  Status
		}{{"off", Warn}, {"local", OK}, {"on", OK}} {
			alter("synchronous_commit", tt.value)
			rep := CheckPostgres(read(), host)
			r := resultOf(t, rep, "postgres.synchronous_commit")
			if r.Status != tt.want || r.Found != tt.value {
				t.Errorf("%s: %s %q, want %s", tt.value, r.Status, r.Found, tt.want)
			}
			if inSnippet := strings.Contains(rep.Snippet, "synchronous_commit = on"); inSnippet != (tt.want != OK) {
				t.Errorf("%s: snippet:\n%s", tt.value, rep.Snippet)
			}
		}
	})

	t.Run("slow statement log", func(t *testing.T) {
		for _, tt := range []struct {
			value     string
			want      Status
			wantFound string
		}{{"-1", Warn, "-1 (off)"}, {"0", Warn, "0 (logs every statement)"}, {"'5s'", Warn, "5000 ms"}, {"'250ms'", OK, "250 ms"}, {"1000", OK, "1000 ms"}} {
			alter("log_min_duration_statement", tt.value)
			rep := CheckPostgres(read(), host)
			r := resultOf(t, rep, "postgres.log_min_duration_statement")
			if r.Status != tt.want || r.Found != tt.wantFound {
				t.Errorf("%s: %s %q, want %s %q", tt.value, r.Status, r.Found, tt.want, tt.wantFound)
			}
			if inSnippet := strings.Contains(rep.Snippet, "log_min_duration_statement = 1000"); inSnippet != (tt.want != OK) {
				t.Errorf("%s: snippet:\n%s", tt.value, rep.Snippet)
			}
		}
	})

	t.Run("shared buffers against RAM", func(t *testing.T) {
		s := read()
		sb := vars(s.Settings).int("shared_buffers")
		if sb <= 0 {
			t.Fatalf("shared_buffers reads %q", s.Settings["shared_buffers"])
		}
		var want string
		if err := admin.QueryRow(ctx, "SELECT pg_size_bytes(current_setting('shared_buffers'))::text").Scan(&want); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(sb) != want {
			t.Errorf("shared_buffers read as %d bytes, the server says %s", sb, want)
		}
		for _, tt := range []struct {
			name    string
			ram     int64
			data    int64
			want    Status
			snippet string
		}{
			{"a quarter", sb * 4, 100 * gib, OK, ""},
			{"half", sb * 2, 100 * gib, Warn, "shared_buffers = "},
			{"nearly all", sb * 100 / 90, 100 * gib, Fail, "shared_buffers = "},
			{"small, data larger", sb * 20, 100 * gib, Warn, "shared_buffers = "},
			{"small, all data fits", sb * 20, sb / 2, OK, ""},
		} {
			s.DataSize = tt.data
			rep := CheckPostgres(s, DBHost{RAM: tt.ram})
			r := resultOf(t, rep, "postgres.shared_buffers")
			if r.Status != tt.want {
				t.Errorf("%s: %s %q, want %s", tt.name, r.Status, r.Found, tt.want)
			}
			if tt.snippet == "" && strings.Contains(rep.Snippet, "shared_buffers") || !strings.Contains(rep.Snippet, tt.snippet) {
				t.Errorf("%s: snippet:\n%s", tt.name, rep.Snippet)
			}
		}
	})

	t.Run("max connections against the services", func(t *testing.T) {
		s := read()
		v := vars(s.Settings)
		limit, reserved := v.int("max_connections"), v.int("superuser_reserved_connections")+v.int("reserved_connections")
		for _, tt := range []struct {
			services int
			want     Status
		}{{int(limit - reserved + 1), Fail}, {int(limit - reserved - 1), Warn}, {int(limit / 4), OK}, {0, Skip}} {
			r := resultOf(t, CheckPostgres(s, DBHost{RAM: 16 * gib, Connections: tt.services, ConnectionsFrom: "test"}), "postgres.max_connections")
			if r.Status != tt.want || !strings.HasPrefix(r.Found, fmt.Sprint(limit)) || !strings.Contains(r.Found, "connected now") {
				t.Errorf("services %d against %d: %s %q, want %s", tt.services, limit, r.Status, r.Found, tt.want)
			}
		}
	})

	t.Run("fsync as the server has it", func(t *testing.T) {
		var fsync string
		if err := admin.QueryRow(ctx, "SHOW fsync").Scan(&fsync); err != nil {
			t.Fatal(err)
		}
		rep := CheckPostgres(read(), host)
		r := resultOf(t, rep, "postgres.fsync")
		want := map[string]Status{"on": OK, "off": Fail}[fsync]
		if r.Status != want || r.Found != fsync {
			t.Errorf("fsync %s: %s %q", fsync, r.Status, r.Found)
		}
		if (fsync == "off") != strings.Contains(rep.Snippet, "fsync = on") {
			t.Errorf("fsync %s: snippet:\n%s", fsync, rep.Snippet)
		}
	})

	t.Run("peak memory", func(t *testing.T) {
		alter("work_mem", "'64MB'")
		s := read()
		v := vars(s.Settings)
		peak := v.int("shared_buffers") + v.int("max_connections")*(64<<20) + v.int("maintenance_work_mem")*v.int("autovacuum_max_workers")
		for _, tt := range []struct {
			ram  int64
			want Status
		}{{peak * 2, OK}, {peak * 100 / 95, Warn}, {peak / 2, Fail}} {
			r := resultOf(t, CheckPostgres(s, DBHost{RAM: tt.ram}), "postgres.peak_memory")
			if r.Status != tt.want || !strings.Contains(r.Found, "work_mem 64 MiB") {
				t.Errorf("RAM %s: %s %q, want %s", bytesString(tt.ram), r.Status, r.Found, tt.want)
			}
		}
	})
}

func TestPgBaseUnit(t *testing.T) {
	tests := []struct{ setting, unit, want string }{
		{"4096", "8kB", "33554432"},
		{"4096", "kB", "4194304"},
		{"-1", "ms", "-1"},
		{"5", "s", "5000"},
		{"1", "min", "60000"},
		{"on", "", "on"},
		{"100", "", "100"},
	}
	for _, tt := range tests {
		if got := pgBaseUnit(tt.setting, tt.unit); got != tt.want {
			t.Errorf("pgBaseUnit(%s, %s) = %s, want %s", tt.setting, tt.unit, got, tt.want)
		}
	}
}
