package doctor

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Thresholds of the PostgreSQL checks; docs/doctor.md explains them.
const (
	sharedBuffersLow    = 0.15
	sharedBuffersTarget = 0.25 // PostgreSQL's own advice
	sharedBuffersHigh   = 0.40
	sharedBuffersFail   = 0.75
	// logMinDurationMax is the slowest a statement may be without being
	// logged, in milliseconds.
	logMinDurationMax = 1000
)

// PostgresServer is what the PostgreSQL doctor reads from a server.
type PostgresServer struct {
	// Settings are pg_settings as the doctor's session sees them, values
	// in their base unit (bytes for memory, milliseconds for time).
	Settings map[string]string
	// Version is server_version.
	Version string
	// Connections is how many connections the server has now; -1 when
	// unknown.
	Connections int64
	// DataSize is the size of all databases in bytes; -1 when unknown.
	DataSize int64
}

// postgresSettings are the settings the doctor reads.
func postgresSettings() []string {
	return []string{
		"shared_buffers", "max_connections", "superuser_reserved_connections", "reserved_connections",
		"log_min_duration_statement", "synchronous_commit", "fsync", "work_mem", "maintenance_work_mem",
		"autovacuum_max_workers", "server_version",
	}
}

// ParsePostgresDSN checks a PostgreSQL URL or keyword/value DSN and says
// where it points and whether the server is on this host.
func ParsePostgresDSN(dsn string) (cfg *pgx.ConnConfig, where string, local bool, err error) {
	cfg, err = pgx.ParseConfig(dsn)
	if err != nil {
		return nil, "", false, fmt.Errorf("the PostgreSQL DSN is not valid (want postgres://user:password@host:5432/db): %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	host := cfg.Host
	where = fmt.Sprintf("%s@%s:%d", cfg.User, host, cfg.Port)
	local = strings.HasPrefix(host, "/") || isLocalAddr("tcp", host)
	return cfg, where, local, nil
}

// ReadPostgres reads a server's settings, connection count and data size.
func ReadPostgres(ctx context.Context, conn *pgx.Conn) (PostgresServer, error) {
	s := PostgresServer{Settings: map[string]string{}, Connections: -1, DataSize: -1}
	rows, err := conn.Query(ctx, "SELECT name, setting, COALESCE(unit, '') FROM pg_settings WHERE name = ANY($1)", postgresSettings())
	if err != nil {
		return s, fmt.Errorf("reading pg_settings: %w", err)
	}
	for rows.Next() {
		var name, setting, unit string
		if err := rows.Scan(&name, &setting, &unit); err != nil {
			rows.Close()
			return s, fmt.Errorf("reading pg_settings: %w", err)
		}
		s.Settings[name] = pgBaseUnit(setting, unit)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return s, fmt.Errorf("reading pg_settings: %w", err)
	}
	s.Version = s.Settings["server_version"]
	_ = conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'").Scan(&s.Connections)
	var size *int64
	if err := conn.QueryRow(ctx, "SELECT sum(pg_database_size(datname))::bigint FROM pg_database WHERE datallowconn").Scan(&size); err == nil && size != nil {
		s.DataSize = *size
	}
	return s, nil
}

// pgBaseUnit turns a pg_settings value into bytes ("8kB" units become
// bytes) or milliseconds ("s" and "min" become ms); others stay as they
// are.
func pgBaseUnit(setting, unit string) string {
	n, err := strconv.ParseInt(setting, 10, 64)
	if err != nil || n < 0 {
		return setting
	}
	mult := int64(1)
	switch unit {
	case "B", "ms":
	case "kB":
		mult = 1 << 10
	case "8kB":
		mult = 8 << 10
	case "16kB":
		mult = 16 << 10
	case "MB":
		mult = 1 << 20
	case "s":
		mult = 1000
	case "min":
		mult = 60 * 1000
	default:
		return setting
	}
	return strconv.FormatInt(n*mult, 10)
}

// CheckPostgres judges a PostgreSQL server's settings against the host and
// the services on it, and writes a postgresql.conf snippet for the gaps.
func CheckPostgres(srv PostgresServer, d DBHost) Report {
	v := vars(srv.Settings)
	var snip snippet
	res := []Result{
		pgSharedBuffersCheck(v, srv.DataSize, d, &snip),
		connectionsCheck("max_connections", v.int("max_connections"),
			v.int("superuser_reserved_connections")+v.int("reserved_connections"), -1, d, "max_connections", &snip),
		pgFsyncCheck(v, &snip),
		pgSyncCommitCheck(v, &snip),
		pgSlowLogCheck(v, &snip),
		pgMemoryCheck(v, d),
	}
	if srv.Connections >= 0 {
		res[1].Found += fmt.Sprintf("; %d connected now", srv.Connections)
	}
	for i := range res {
		res[i].Check = "postgres." + res[i].Check
	}
	rep := Report{Results: res}
	if body := snip.render(""); body != "" {
		rep.SnippetFile = "postgresql.conf"
		head := "# skjold doctor: PostgreSQL " + srv.Version
		if d.RAM > 0 {
			head += " on a host with " + bytesString(d.RAM)
		}
		rep.Snippet = head + "\n" + body
		if _, ok := snip.get("shared_buffers"); ok {
			rep.Snippet += "# shared_buffers and max_connections take effect after a restart\n"
		} else if _, ok := snip.get("max_connections"); ok {
			rep.Snippet += "# max_connections takes effect after a restart\n"
		}
	}
	return rep
}

func pgSharedBuffersCheck(v vars, data int64, d DBHost, snip *snippet) Result {
	r := Result{Check: "shared_buffers",
		Expected: fmt.Sprintf("%.0f-%.0f%% of RAM, or room for all data", sharedBuffersLow*100, sharedBuffersHigh*100),
		Why: "PostgreSQL's own cache; it also relies on the OS page cache, so most RAM should stay outside it, " +
			"but too little makes every query go through the kernel"}
	sb := v.int("shared_buffers")
	fits := data >= 0 && float64(sb) >= 1.1*float64(data)
	note := ""
	if data >= 0 {
		if fits {
			note = fmt.Sprintf("; all %s of data fits", bytesString(data))
		} else {
			note = fmt.Sprintf("; data is %s", bytesString(data))
		}
	}
	if d.RAM <= 0 {
		r.Status, r.Found = Skip, bytesString(sb)+note+"; host RAM unknown (pass --ram)"
		return r
	}
	share := float64(sb) / float64(d.RAM)
	r.Found = fmt.Sprintf("%s = %s of %s%s", bytesString(sb), percent(share), d.ramOf(), note)
	switch {
	case share > sharedBuffersFail:
		r.Status = Fail
	case share > sharedBuffersHigh:
		r.Status = Warn
	case share >= sharedBuffersLow || fits:
		r.Status = OK
	default:
		r.Status = Warn
	}
	if r.Status != OK {
		snip.set("shared_buffers", cnfSize(int64(sharedBuffersTarget*float64(d.RAM)), "GB", "MB"),
			fmt.Sprintf("%.0f%% of %s", sharedBuffersTarget*100, bytesString(d.RAM)))
	}
	return r
}

func pgFsyncCheck(v vars, snip *snippet) Result {
	r := Result{Check: "fsync", Expected: "on",
		Why: "with fsync off a power loss or OS crash can corrupt the whole cluster, not just lose recent commits"}
	if v.on("fsync") {
		r.Status, r.Found = OK, "on"
		return r
	}
	r.Status, r.Found = Fail, "off"
	snip.set("fsync", "on", "off risks corrupting the cluster on a crash")
	return r
}

func pgSyncCommitCheck(v vars, snip *snippet) Result {
	r := Result{Check: "synchronous_commit", Expected: "on (or local, remote_write, remote_apply)",
		Why: "off acknowledges commits before they are on disk: a crash loses the last few hundred milliseconds of them"}
	val := v["synchronous_commit"]
	r.Found = val
	switch val {
	case "on", "local", "remote_write", "remote_apply":
		r.Status = OK
	default:
		r.Status = Warn
		snip.set("synchronous_commit", "on", "durable commits")
	}
	return r
}

func pgSlowLogCheck(v vars, snip *snippet) Result {
	r := Result{Check: "log_min_duration_statement", Expected: fmt.Sprintf("1-%d ms", logMinDurationMax),
		Why: "logs statements slower than this: without it nobody can tell which service's queries hog the shared server"}
	ms := v.int("log_min_duration_statement")
	switch {
	case ms < 0:
		r.Status, r.Found = Warn, "-1 (off)"
	case ms == 0:
		r.Status, r.Found = Warn, "0 (logs every statement)"
	case ms > logMinDurationMax:
		r.Status, r.Found = Warn, fmt.Sprintf("%d ms", ms)
	default:
		r.Status, r.Found = OK, fmt.Sprintf("%d ms", ms)
	}
	if r.Status != OK {
		snip.set("log_min_duration_statement", "1000", "ms: log statements slower than a second")
	}
	return r
}

// pgMemoryCheck estimates peak memory: shared_buffers, one work_mem per
// connection, and maintenance_work_mem per autovacuum worker.
func pgMemoryCheck(v vars, d DBHost) Result {
	r := Result{Check: "peak_memory",
		Expected: fmt.Sprintf("<= %.0f%% of RAM with every connection sorting", memWarn*100),
		Why: "each connection may use work_mem per sort or hash (often several); past RAM a burst " +
			"of connections gets the server killed by the OOM killer"}
	sb, conns, wm := v.int("shared_buffers"), v.int("max_connections"), v.int("work_mem")
	maint := v.int("maintenance_work_mem") * v.int("autovacuum_max_workers")
	peak := sb + conns*wm + maint
	r.Found = fmt.Sprintf("%s = shared_buffers %s + %d connections x work_mem %s + autovacuum %s",
		bytesString(peak), bytesString(sb), conns, bytesString(wm), bytesString(maint))
	if !judgePeak(&r, peak, d.RAM) {
		return r
	}
	return r
}
