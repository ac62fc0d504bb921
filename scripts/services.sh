# Installs nginx for the nginx-import tests and starts the database servers
# the tests need: a private MariaDB and a private PostgreSQL on loopback,
# each with its own data directory under one
# temporary directory, its own free port and socket, and an admin password
# made up for this run. Sourced by scripts/test; stops both servers and
# removes the directory when the sourcing shell exits.
#
# It exports:
#   SKJOLD_TEST_MYSQL_DSN   admin DSN for go-sql-driver/mysql
#   SKJOLD_TEST_PG_DSN      superuser DSN for pgx
#   SKJOLD_REQUIRE_SERVICES=1, so tests that need a server fail instead of
#                           skipping when it is missing
#
# A DSN that is already set is used as it is and no server is started for
# it (point the tests at your own server that way). The packages are
# installed with apt-get when missing, which needs root; the servers
# themselves run as root (MariaDB, --user=root) or as the postgres user.

services_dir=""
services_mysql_pid=""
services_pg_data=""
services_pg_user=""
services_pg_bin=""

services_log() { echo "services: $*" >&2; }

# services_stop is the EXIT trap: stop what this run started, then delete its
# files. Every step tolerates a server that never started.
services_stop() {
	local status=$?
	if [[ -n "$services_mysql_pid" ]] && kill -0 "$services_mysql_pid" 2>/dev/null; then
		kill -TERM "$services_mysql_pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$services_mysql_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$services_mysql_pid" 2>/dev/null || true
	fi
	if [[ -n "$services_pg_data" && -f "$services_pg_data/postmaster.pid" ]]; then
		services_as_pg "$services_pg_bin/pg_ctl" -D "$services_pg_data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	if [[ -n "$services_dir" ]]; then
		rm -rf "$services_dir"
	fi
	return "$status"
}

# services_pg_find sets services_pg_bin to the newest installed
# PostgreSQL's bin directory (/usr/lib/postgresql/15/bin on Debian 12).
services_pg_find() {
	local d
	services_pg_bin=""
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
		[[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && services_pg_bin=$d
	done
	[[ -n "$services_pg_bin" ]]
}

# services_install installs the Debian packages (one apt-get run for all)
# for the servers this run starts, when any of their commands is missing.
services_install() {
	local pkgs="" missing=0 c
	if [[ -z "${SKJOLD_TEST_MYSQL_DSN:-}" ]]; then
		pkgs+=" mariadb-server mariadb-client"
		for c in /usr/sbin/mariadbd mariadb-install-db mariadb; do
			[[ -x "$c" ]] || command -v "$c" >/dev/null 2>&1 || missing=1
		done
	fi
	if [[ -z "${SKJOLD_TEST_PG_DSN:-}" ]]; then
		pkgs+=" postgresql"
		services_pg_find || missing=1
	fi
	# nginx itself, for the importer's test that nginx -t and the importer
	# accept the same files (run in a network namespace; no service starts).
	pkgs+=" nginx-light"
	[[ -x /usr/sbin/nginx ]] || command -v nginx >/dev/null 2>&1 || missing=1
	((missing)) || return 0
	pkgs=${pkgs# }
	if [[ $(id -u) -ne 0 ]]; then
		services_log "the tests need $pkgs; install it (apt-get install $pkgs) or run as root"
		return 1
	fi
	services_log "installing $pkgs"
	# Keep the packages' own servers from starting on the default ports:
	# policy-rc.d answering 101 tells invoke-rc.d not to start services.
	local policy=/usr/sbin/policy-rc.d made_policy=0
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		made_policy=1
	fi
	local rc=0
	{
		DEBIAN_FRONTEND=noninteractive apt-get update -q &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $pkgs
	} >"$services_dir/apt.log" 2>&1 || rc=$?
	((made_policy)) && rm -f "$policy"
	if ((rc != 0)); then
		services_log "apt-get install $pkgs failed:"
		tail -20 "$services_dir/apt.log" >&2
		return 1
	fi
}

# services_port prints a loopback port nothing listens on. A server that
# still loses the race for it fails to start and the caller retries.
services_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 30000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
}

services_secret() {
	# 24 random letters and digits: safe in a DSN, a URL and SQL alike.
	LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 24
}

services_as_pg() {
	if [[ -n "$services_pg_user" ]]; then
		runuser -u "$services_pg_user" -- "$@"
	else
		"$@"
	fi
}

services_start_mysql() {
	local dir=$services_dir/mysql
	mkdir -p "$dir"
	local as_root=()
	[[ $(id -u) -eq 0 ]] && as_root=(--user=root)
	if ! mariadb-install-db --no-defaults "${as_root[@]}" --datadir="$dir/data" \
		--auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1; then
		services_log "mariadb-install-db failed:"
		tail -20 "$dir/install.log" >&2
		return 1
	fi
	local port try
	for try in 1 2 3 4 5; do
		port=$(services_port)
		/usr/sbin/mariadbd --no-defaults "${as_root[@]}" --datadir="$dir/data" \
			--socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" --log-error="$dir/error.log" \
			--bind-address=127.0.0.1 --port="$port" --skip-name-resolve --skip-log-bin \
			--innodb-buffer-pool-size=64M --innodb-log-file-size=16M --innodb-flush-log-at-trx-commit=2 \
			--max-connections=500 >/dev/null 2>&1 &
		services_mysql_pid=$!
		for _ in $(seq 1 300); do
			if mariadb --no-defaults --socket="$dir/mysqld.sock" -uroot -e 'SELECT 1' >/dev/null 2>&1; then
				break 2
			fi
			kill -0 "$services_mysql_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$services_mysql_pid" 2>/dev/null || true
		wait "$services_mysql_pid" 2>/dev/null || true
		services_mysql_pid=""
		services_log "mariadbd did not start on port $port (try $try):"
		tail -5 "$dir/error.log" >&2
	done
	[[ -n "$services_mysql_pid" ]] || return 1
	# The tests connect over TCP as an admin with a password, as production
	# does; root@localhost stays on the socket only.
	local pw
	pw=$(services_secret)
	# mariadb-install-db also makes root accounts without a password for
	# 127.0.0.1, ::1 and the host name; only the socket one is kept.
	mariadb --no-defaults --socket="$dir/mysqld.sock" -uroot -e "
		DELETE FROM mysql.global_priv WHERE User = 'root' AND Host <> 'localhost';
		DELETE FROM mysql.global_priv WHERE User = '';
		FLUSH PRIVILEGES;
		CREATE USER 'skjold_admin'@'127.0.0.1' IDENTIFIED BY '$pw';
		GRANT ALL PRIVILEGES ON *.* TO 'skjold_admin'@'127.0.0.1' WITH GRANT OPTION;" || return 1
	export SKJOLD_TEST_MYSQL_DSN="skjold_admin:$pw@tcp(127.0.0.1:$port)/"
	services_log "MariaDB $(mariadb --no-defaults --socket="$dir/mysqld.sock" -uroot -N -e 'SELECT VERSION()') on 127.0.0.1:$port"
}

services_start_pg() {
	if ! services_pg_find; then
		services_log "no PostgreSQL server found under /usr/lib/postgresql"
		return 1
	fi
	local dir=$services_dir/pg
	mkdir -p "$dir"
	if [[ $(id -u) -eq 0 ]]; then
		# PostgreSQL refuses to run as root.
		services_pg_user=postgres
		chown postgres: "$dir"
	fi
	chmod 700 "$dir"
	local pw
	pw=$(services_secret)
	printf '%s\n' "$pw" >"$dir/pwfile"
	[[ -n "$services_pg_user" ]] && chown "$services_pg_user": "$dir/pwfile"
	# scram-sha-256 everywhere: a wrong password must fail, which "trust"
	# would hide.
	if ! services_as_pg "$services_pg_bin/initdb" -D "$dir/data" -U postgres --auth=scram-sha-256 \
		--pwfile="$dir/pwfile" -E UTF8 --no-sync >"$dir/initdb.log" 2>&1; then
		services_log "initdb failed:"
		tail -20 "$dir/initdb.log" >&2
		return 1
	fi
	rm -f "$dir/pwfile"
	services_pg_data=$dir/data
	local port try
	for try in 1 2 3 4 5; do
		port=$(services_port)
		if services_as_pg "$services_pg_bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
			-o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c fsync=off -c max_connections=300 -c shared_buffers=32MB" \
			start >/dev/null 2>&1; then
			export SKJOLD_TEST_PG_DSN="postgres://postgres:$pw@127.0.0.1:$port/postgres?sslmode=disable"
			services_log "PostgreSQL $("$services_pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
			return 0
		fi
		services_log "postgres did not start on port $port (try $try):"
		tail -5 "$dir/server.log" >&2
	done
	return 1
}

# services_start starts whatever is not already given and installs the trap.
services_start() {
	trap services_stop EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	services_dir=$(mktemp -d "${TMPDIR:-/tmp}/skjold-services.XXXXXX")
	chmod 755 "$services_dir"
	services_install || return 1
	if [[ -z "${SKJOLD_TEST_MYSQL_DSN:-}" ]]; then
		services_start_mysql || return 1
	fi
	if [[ -z "${SKJOLD_TEST_PG_DSN:-}" ]]; then
		services_start_pg || return 1
	fi
	export SKJOLD_REQUIRE_SERVICES=1
}
