package doctor

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Thresholds of the MySQL checks; docs/doctor.md explains them.
const (
	poolLow    = 0.70 // the field guide's 70-80 % of RAM
	poolTarget = 0.75
	poolHigh   = 0.80
	poolFail   = 0.90
	// poolChunk is the buffer pool's default chunk size; MySQL rounds the
	// pool to a multiple of it (times the instances).
	poolChunk = 128 << 20
	// longQueryMax is the slowest a query may be without being logged.
	longQueryMax = 1.0
)

// MySQLServer is what the MySQL doctor reads from a MariaDB or MySQL
// server.
type MySQLServer struct {
	// Variables are SHOW GLOBAL VARIABLES.
	Variables map[string]string
	// Status is SHOW GLOBAL STATUS.
	Status map[string]string
	// InnoDBData is the size of all InnoDB tables and indexes in bytes, or
	// -1 when it could not be read.
	InnoDBData int64
}

// OpenMySQL opens a go-sql-driver/mysql DSN ("user:pw@tcp(host:3306)/")
// with connect and read timeouts, and says whether the server is on this
// host (a unix socket or a loopback address), so its RAM is this host's.
func OpenMySQL(dsn string) (db *sql.DB, where string, local bool, err error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, "", false, fmt.Errorf("the MySQL DSN is not valid (want user:password@tcp(host:3306)/): %w", err)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 30 * time.Second
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, "", false, fmt.Errorf("the MySQL DSN is not valid: %w", err)
	}
	where = cfg.User + "@" + cfg.Addr
	return sql.OpenDB(conn), where, isLocalAddr(cfg.Net, cfg.Addr), nil
}

// isLocalAddr reports whether a server address is on this host.
func isLocalAddr(network, addr string) bool {
	if network == "unix" {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ReadMySQL reads a server's global variables and status and the size of
// its InnoDB data.
func ReadMySQL(ctx context.Context, db *sql.DB) (MySQLServer, error) {
	s := MySQLServer{InnoDBData: -1}
	var err error
	if s.Variables, err = readPairs(ctx, db, "SHOW GLOBAL VARIABLES"); err != nil {
		return s, err
	}
	if s.Status, err = readPairs(ctx, db, "SHOW GLOBAL STATUS"); err != nil {
		return s, err
	}
	var n sql.NullInt64
	err = db.QueryRowContext(ctx, "SELECT SUM(data_length + index_length) FROM information_schema.TABLES WHERE engine = 'InnoDB'").Scan(&n)
	if err == nil {
		s.InnoDBData = n.Int64
	}
	return s, nil
}

func readPairs(ctx context.Context, db *sql.DB, query string) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", query, err)
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var k string
		var v sql.NullString
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("%s: %w", query, err)
		}
		m[strings.ToLower(k)] = v.String
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", query, err)
	}
	return m, nil
}

// mysqlFlavor is which server and version answered.
type mysqlFlavor struct {
	mariadb      bool
	major, minor int
	version      string
}

func (f mysqlFlavor) String() string {
	if f.mariadb {
		return "MariaDB " + f.version
	}
	return "MySQL " + f.version
}

func (f mysqlFlavor) atLeast(major, minor int) bool {
	return f.major > major || f.major == major && f.minor >= minor
}

func parseMySQLFlavor(version, comment string) mysqlFlavor {
	f := mysqlFlavor{mariadb: strings.Contains(strings.ToLower(version+" "+comment), "mariadb")}
	num, _, _ := strings.Cut(version, "-")
	f.version = num
	parts := strings.Split(num, ".")
	if len(parts) >= 2 {
		f.major, _ = strconv.Atoi(parts[0])
		f.minor, _ = strconv.Atoi(parts[1])
	}
	return f
}

// vars reads typed values out of SHOW GLOBAL VARIABLES or STATUS.
type vars map[string]string

func (v vars) int(name string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(v[name]), 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(strings.TrimSpace(v[name]), 64)
		if ferr != nil {
			return 0
		}
		return int64(f)
	}
	return n
}

func (v vars) has(name string) bool { _, ok := v[name]; return ok }

func (v vars) on(name string) bool {
	switch strings.ToUpper(strings.TrimSpace(v[name])) {
	case "ON", "1", "TRUE", "YES":
		return true
	}
	return false
}

// mysqlMemory is the peak memory estimate: buffers the server allocates
// once, plus per-connection buffers a busy query allocates, times
// max_connections.
type mysqlMemory struct {
	global, perConn int64
}

func mysqlMemoryOf(v vars) mysqlMemory {
	tmp := min(v.int("tmp_table_size"), v.int("max_heap_table_size"))
	return mysqlMemory{
		global: v.int("innodb_buffer_pool_size") + v.int("innodb_log_buffer_size") + v.int("key_buffer_size") +
			v.int("query_cache_size") + v.int("aria_pagecache_buffer_size") + v.int("innodb_additional_mem_pool_size") + tmp,
		perConn: v.int("sort_buffer_size") + v.int("join_buffer_size") + v.int("read_buffer_size") +
			v.int("read_rnd_buffer_size") + v.int("thread_stack") + v.int("net_buffer_length") + v.int("binlog_cache_size"),
	}
}

func (m mysqlMemory) peak(pool, conns int64, currentPool int64) int64 {
	return m.global - currentPool + pool + conns*m.perConn
}

// roundPool rounds a buffer pool size down to whole chunks, at least one.
func roundPool(n int64) int64 { return max(poolChunk, n/poolChunk*poolChunk) }

// CheckMySQL judges a server's settings against the host and the services
// on it, and writes a my.cnf snippet for the gaps.
func CheckMySQL(srv MySQLServer, d DBHost) Report {
	v := vars(srv.Variables)
	st := vars(srv.Status)
	f := parseMySQLFlavor(v["version"], v["version_comment"])
	var snip snippet
	var res []Result

	pool := v.int("innodb_buffer_pool_size")
	res = append(res, mysqlPoolCheck(pool, srv.InnoDBData, d, &snip))
	res = append(res, mysqlInstancesCheck(f, v, pool, &snip))
	res = append(res, mysqlFlushCheck(v, &snip))
	if v.on("log_bin") {
		res = append(res, mysqlSyncBinlogCheck(v, &snip))
	}
	peak := int64(-1)
	if st.has("max_used_connections") {
		peak = st.int("max_used_connections")
	}
	// MySQL and MariaDB keep one connection beyond max_connections for a
	// user with SUPER or CONNECTION ADMIN, so all of max_connections is
	// usable by the services.
	res = append(res, connectionsCheck("max_connections", v.int("max_connections"), 0, peak, d, "max_connections", &snip))
	res = append(res, mysqlSlowLogCheck(v, &snip), mysqlLongQueryCheck(v, &snip))
	res = append(res, mysqlMemoryCheck(v, d, &snip))

	for i := range res {
		res[i].Check = "mysql." + res[i].Check
	}
	rep := Report{Results: res}
	if body := snip.render("[mysqld]"); body != "" {
		rep.SnippetFile = "my.cnf"
		rep.Snippet = fmt.Sprintf("# skjold doctor: %s on a host with %s\n%s", f, bytesString(d.RAM), body)
		if d.RAM == 0 {
			rep.Snippet = fmt.Sprintf("# skjold doctor: %s\n%s", f, body)
		}
	}
	return rep
}

func mysqlPoolCheck(pool, data int64, d DBHost, snip *snippet) Result {
	r := Result{Check: "innodb_buffer_pool_size",
		Expected: fmt.Sprintf("%.0f-%.0f%% of RAM on a dedicated database host, or room for all InnoDB data", poolLow*100, poolHigh*100),
		Why: "InnoDB reads and writes through this cache; data that does not fit is read from disk, " +
			"while a pool near all of RAM leaves none for connections and the OS"}
	dataNote := ""
	fits := false
	if data >= 0 {
		fits = float64(pool) >= 1.1*float64(data)
		if fits {
			dataNote = fmt.Sprintf("; all %s of InnoDB data fits", bytesString(data))
		} else {
			dataNote = fmt.Sprintf("; InnoDB data is %s", bytesString(data))
		}
	}
	if d.RAM <= 0 {
		r.Status, r.Found = Skip, bytesString(pool)+dataNote+"; host RAM unknown (pass --ram)"
		return r
	}
	share := float64(pool) / float64(d.RAM)
	r.Found = fmt.Sprintf("%s = %s of %s%s", bytesString(pool), percent(share), d.ramOf(), dataNote)
	switch {
	case share >= poolFail:
		r.Status = Fail
	case share > poolHigh:
		r.Status = Warn
	case share >= poolLow || fits:
		r.Status = OK
	default:
		r.Status = Warn
	}
	if r.Status != OK {
		snip.set("innodb_buffer_pool_size", cnfSize(roundPool(int64(poolTarget*float64(d.RAM))), "G", "M"),
			fmt.Sprintf("%.0f%% of %s", poolTarget*100, bytesString(d.RAM)))
	}
	return r
}

func mysqlInstancesCheck(f mysqlFlavor, v vars, pool int64, snip *snippet) Result {
	r := Result{Check: "innodb_buffer_pool_instances",
		Why: "on MySQL each instance has its own mutex; one instance for a large pool makes every query wait on it"}
	if f.mariadb && f.atLeast(10, 5) {
		r.Status = OK
		r.Found = fmt.Sprintf("not used: %s has a single buffer pool (since 10.5)", f)
		r.Expected = "leave it out of my.cnf: MariaDB 10.5+ ignores it, so the field guide's 12 does nothing"
		return r
	}
	n := v.int("innodb_buffer_pool_instances")
	if rec, ok := snip.get("innodb_buffer_pool_size"); ok {
		if b, err := ParseBytes(rec); err == nil {
			pool = b
		}
	}
	want := min(max(pool>>30, 1), 64)
	r.Expected = "one per GiB of buffer pool, 1-64 (MySQL uses 1 below 1 GiB)"
	r.Found = fmt.Sprintf("%d for %s", n, bytesString(v.int("innodb_buffer_pool_size")))
	switch {
	case pool < 1<<30:
		r.Status = OK
	case n == 1 && want > 1:
		r.Status = Warn
	case n > 1 && pool/n < 1<<30:
		r.Status = Warn
	default:
		r.Status = OK
	}
	if r.Status != OK {
		snip.set("innodb_buffer_pool_instances", strconv.FormatInt(want, 10), "one per GiB of pool")
	}
	return r
}

func mysqlFlushCheck(v vars, snip *snippet) Result {
	r := Result{Check: "innodb_flush_log_at_trx_commit", Expected: "1 (flush the log at every commit)",
		Why: "with 2 a power loss or kernel crash loses up to a second of committed transactions; with 0 even a mysqld crash does"}
	switch val := strings.TrimSpace(v["innodb_flush_log_at_trx_commit"]); val {
	case "1":
		r.Status, r.Found = OK, "1"
	case "2":
		r.Status, r.Found = Warn, "2 (written at commit, flushed once a second)"
	case "0":
		r.Status, r.Found = Fail, "0 (written and flushed once a second)"
	case "3":
		// MariaDB 10.8+: like 1, but without waiting for the flush before
		// the next commit.
		r.Status, r.Found = OK, "3 (MariaDB: durable, commits grouped)"
	default:
		r.Status, r.Found = Warn, fmt.Sprintf("%q", val)
	}
	if r.Status != OK {
		snip.set("innodb_flush_log_at_trx_commit", "1", "durable commits")
	}
	return r
}

func mysqlSyncBinlogCheck(v vars, snip *snippet) Result {
	r := Result{Check: "sync_binlog", Expected: "1 while the binary log is on",
		Why: "a binary log not flushed at commit loses transactions on a crash that replicas or point-in-time recovery then miss"}
	n := v.int("sync_binlog")
	r.Found = strconv.FormatInt(n, 10)
	if n == 1 {
		r.Status = OK
		return r
	}
	r.Status = Warn
	snip.set("sync_binlog", "1", "binary log durable too")
	return r
}

func mysqlSlowLogCheck(v vars, snip *snippet) Result {
	r := Result{Check: "slow_query_log", Expected: "ON",
		Why: "without it nobody can tell which service's queries are hogging the shared server"}
	if v.on("slow_query_log") {
		r.Status, r.Found = OK, "ON ("+v["slow_query_log_file"]+")"
		return r
	}
	r.Status, r.Found = Warn, "OFF"
	snip.set("slow_query_log", "1", "find the service hogging the server")
	return r
}

func mysqlLongQueryCheck(v vars, snip *snippet) Result {
	r := Result{Check: "long_query_time", Expected: fmt.Sprintf("<= %g s, above 0", longQueryMax),
		Why: "a query slower than a second is already a timeout at the gateway; the default of 10s logs almost nothing"}
	t, err := strconv.ParseFloat(strings.TrimSpace(v["long_query_time"]), 64)
	if err != nil {
		r.Status, r.Found = Skip, fmt.Sprintf("unknown: %q", v["long_query_time"])
		return r
	}
	r.Found = strconv.FormatFloat(t, 'f', -1, 64) + " s"
	switch {
	case t == 0:
		r.Status = Warn
		r.Found += " (logs every query)"
	case t > longQueryMax:
		r.Status = Warn
	default:
		r.Status = OK
	}
	if r.Status != OK {
		snip.set("long_query_time", "1", "seconds")
	}
	return r
}

func mysqlMemoryCheck(v vars, d DBHost, snip *snippet) Result {
	r := Result{Check: "peak_memory",
		Expected: fmt.Sprintf("<= %.0f%% of RAM with every connection busy", memWarn*100),
		Why: "global buffers plus per-connection sort, join and read buffers at max_connections; past RAM, " +
			"a burst of connections gets mysqld killed by the OOM killer"}
	m := mysqlMemoryOf(v)
	pool := v.int("innodb_buffer_pool_size")
	conns := v.int("max_connections")
	peak := m.peak(pool, conns, pool)
	r.Found = fmt.Sprintf("%s = %s global + %d connections x %s", bytesString(peak), bytesString(m.global), conns, bytesString(m.perConn))
	if !judgePeak(&r, peak, d.RAM) {
		return r
	}
	// Whatever the snippet recommends must itself fit: shrink its pool
	// until the peak stays under memWarn.
	recPool, recConns := pool, conns
	if s, ok := snip.get("innodb_buffer_pool_size"); ok {
		if b, err := ParseBytes(s); err == nil {
			recPool = b
		}
	}
	if s, ok := snip.get("max_connections"); ok {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			recConns = n
		}
	}
	budget := int64(memWarn * float64(d.RAM))
	if m.peak(recPool, recConns, pool) > budget {
		fit := roundPool(budget - (m.global - pool) - recConns*m.perConn)
		if fit < recPool {
			snip.set("innodb_buffer_pool_size", cnfSize(fit, "G", "M"),
				fmt.Sprintf("keeps the peak estimate under %.0f%% of %s", memWarn*100, bytesString(d.RAM)))
		}
	}
	return r
}
