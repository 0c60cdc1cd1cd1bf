#!/bin/sh
# SPDX-License-Identifier: MIT
#
# with-pg.sh [--tap] COMMAND [ARG...]
#
# Runs COMMAND beside a PostgreSQL server of its own: initdb into a new
# directory under /tmp, the server listening only on a Unix socket in that
# directory (listen_addresses='', fsync off), and COMMAND run with PGHOST,
# PGPORT, PGUSER and PGDATABASE pointing at it (and CTX_PG_DIR, the
# directory). The server is stopped (immediate shutdown) and the directory
# removed when COMMAND ends, whatever its status, and when this script is
# interrupted (INT, TERM, HUP).
#
# COMMAND runs as a child of this script, so its crash or its watchdog
# (SIGALRM) leaves the clean-up to this script. The server runs as a child
# too, not through "pg_ctl start", which puts it in a session of its own:
# here it stays in the process group that make's ^C or timeout(1) signal,
# and it gets SIGQUIT (immediate shutdown) if this script is killed with
# SIGKILL (setpriv --pdeathsig). Only the directory cannot be removed then.
#
# As root the server runs as the "postgres" user (the postgresql package
# creates it; PostgreSQL refuses to run as root), otherwise as the caller.
# Binaries: $PG_BINDIR, else pg_config --bindir, else the newest
# /usr/lib/postgresql/*/bin.
#
# Exit: COMMAND's status; 77 when no server can run here (with --tap, a TAP
# "1..0 # SKIP" line and 0, for the TAP driver); 99 when the server fails.
set -u

tap=no
if [ "${1:-}" = --tap ]; then
	tap=yes
	shift
fi
[ $# -ge 1 ] || { echo "usage: with-pg.sh [--tap] COMMAND [ARG...]" >&2; exit 99; }

skip() {
	if [ $tap = yes ]; then
		echo "1..0 # SKIP $*"
		exit 0
	fi
	echo "SKIP: $*"
	exit 77
}

hard() {
	[ $tap = yes ] && echo "Bail out! $*"
	echo "with-pg: $*" >&2
	exit 99
}

bindir=${PG_BINDIR:-}
if [ -z "$bindir" ] && command -v pg_config >/dev/null 2>&1; then
	bindir=$(pg_config --bindir 2>/dev/null)
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
	bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
fi
for p in initdb postgres pg_isready; do
	[ -n "$bindir" ] && [ -x "$bindir/$p" ] ||
		skip "no PostgreSQL server ($p; scripts/deps.sh installs postgresql-15)"
done

as_server=
if [ "$(id -u)" = 0 ]; then
	id postgres >/dev/null 2>&1 ||
		skip "as root, the server runs as user postgres: there is none (postgresql-15 creates it)"
	command -v setpriv >/dev/null 2>&1 || skip "as root, setpriv is needed to run the server as postgres"
	as_server="setpriv --reuid=postgres --regid=postgres --init-groups --"
fi

# A short path: a Unix socket path must fit in 108 bytes.
dir=$(mktemp -d /tmp/ctx-pg.XXXXXX) || hard "mktemp failed"
pid=
child=
stop() {
	# The command first: it must not see its server go away under it.
	if [ -n "$child" ]; then
		kill -TERM "$child" 2>/dev/null
		wait "$child" 2>/dev/null
	fi
	if [ -n "$pid" ]; then
		# A test may have stopped it (SIGSTOP): it must run to shut down.
		kill -CONT "$pid" 2>/dev/null
		kill -QUIT "$pid" 2>/dev/null
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		pid=
	fi
	rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

[ -n "$as_server" ] && chown postgres: "$dir"

# shellcheck disable=SC2086 # as_server is a word list
# From inside the directory: the caller's may be closed to the postgres user.
if ! (cd "$dir" && $as_server "$bindir/initdb" -D "$dir/data" -A trust -U postgres \
	--no-sync --no-locale -E UTF8) >"$dir/initdb.log" 2>&1; then
	sed 's/^/# /' "$dir/initdb.log"
	hard "initdb failed"
fi

# A fresh server per run: a port of its own is not needed (the socket is in
# the directory), and the settings trade durability for speed and memory.
port=5432
run_server() {
	# exec: $! is then the server's pid, and this shell its parent.
	(cd "$dir" && exec "$@" "$bindir/postgres" -D "$dir/data" -k "$dir" -p $port \
		-c listen_addresses= -c fsync=off -c synchronous_commit=off \
		-c full_page_writes=off -c max_connections=20 -c shared_buffers=16MB) \
		>"$dir/server.log" 2>&1 &
}
if [ -n "$as_server" ]; then
	run_server setpriv --reuid=postgres --regid=postgres --init-groups --pdeathsig=QUIT --
elif command -v setpriv >/dev/null 2>&1; then
	run_server setpriv --pdeathsig=QUIT --
else
	run_server env
fi
pid=$!

# Ready within 60 s, or the run fails (loaded machines are slow, not broken).
i=0
until "$bindir/pg_isready" -q -h "$dir" -p $port -U postgres -d postgres; do
	if ! kill -0 "$pid" 2>/dev/null || [ $i -ge 1200 ]; then
		sed 's/^/# /' "$dir/server.log"
		hard "the server did not start"
	fi
	sleep 0.05
	i=$((i + 1))
done

PGHOST=$dir PGPORT=$port PGUSER=postgres PGDATABASE=postgres CTX_PG_DIR=$dir
export PGHOST PGPORT PGUSER PGDATABASE CTX_PG_DIR
unset PGHOSTADDR PGSERVICE PGSERVICEFILE PGOPTIONS PGPASSWORD PGPASSFILE PGSSLMODE \
	PGCONNECT_TIMEOUT PGTARGETSESSIONATTRS

# In the background, so that a signal to this script is handled at once.
"$@" &
child=$!
wait "$child"
status=$?
child=
if [ $status -ne 0 ]; then
	echo "# with-pg: $1 exited with status $status; the server's log ends with:"
	tail -n 20 "$dir/server.log" | sed 's/^/#   /'
fi
exit $status
