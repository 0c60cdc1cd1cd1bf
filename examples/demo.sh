#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The libctx demo: a server whose every request is bound to a context, a
# load client, and a final SIGTERM. It tells what happened and why, and
# exits 0 only if every request is accounted for, the server exited 0 and
# no descriptor leaked.
#
# Usage: examples/demo.sh [build-dir]   (default: $top_builddir, else .)
set -u

builddir=${1:-${top_builddir:-.}}
server=$builddir/examples/server
load=$builddir/examples/load
if [ ! -x "$server" ] || [ ! -x "$load" ]; then
	echo "demo: $server or $load is missing: run make in the build directory first" >&2
	exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/libctx-demo.XXXXXX") || exit 2
spid=
lpid=
cleanup() {
	# Only our own children, by process id.
	[ -n "$lpid" ] && kill -KILL "$lpid" 2>/dev/null
	[ -n "$spid" ] && kill -KILL "$spid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Waits up to $2 tenths of a second for the command in $1 to succeed.
wait_for() {
	n=0
	while ! eval "$1"; do
		n=$((n + 1))
		[ "$n" -ge "$2" ] && return 1
		sleep 0.1
	done
}

alive() {
	kill -0 "$1" 2>/dev/null
}

echo "== libctx demo: server + load client + SIGTERM"
"$server" -i 1000 0 >"$tmp/server.out" 2>&1 &
spid=$!
if ! wait_for 'grep -q "listening on" "$tmp/server.out"' 100; then
	echo "demo: the server did not start:" >&2
	cat "$tmp/server.out" >&2
	exit 1
fi
port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/server.out")
sed -n 1p "$tmp/server.out"

"$load" -r "$tmp/ready" "$port" >"$tmp/load.out" 2>&1 &
lpid=$!
if ! wait_for '[ -e "$tmp/ready" ] || ! alive "$lpid"' 250; then
	echo "demo: the load client did not get its long requests in flight" >&2
	exit 1
fi
grep '^load: phase' "$tmp/load.out"

echo "demo: sending SIGTERM to the server (pid $spid)"
kill -TERM "$spid"
if ! wait_for '! alive "$spid"' 100; then
	echo "demo: the server did not exit within 10 s of SIGTERM" >&2
	exit 1
fi
wait "$spid"
src=$?
spid=
if ! wait_for '! alive "$lpid"' 100; then
	echo "demo: the load client did not finish" >&2
	exit 1
fi
wait "$lpid"
lrc=$?
lpid=

grep '^server: shutdown' "$tmp/server.out"
grep -v '^= ' "$tmp/load.out" | grep -v '^load: phase'
grep -v '^= ' "$tmp/server.out" | grep -v '^server: \(listening\|shutdown\)'

# "= key value..." lines: value $2 of key $1 in file $3 (field $4, default 1).
get() {
	awk -v k="$1" -v f="${3:-1}" '$1 == "=" && $2 == k { print $(2 + f) }' "$2"
}
L=$tmp/load.out
S=$tmp/server.out

ok=0
check() {
	if [ "$1" != "$2" ]; then
		echo "demo: MISMATCH: $3: $1 vs $2"
		ok=1
	fi
}

echo
echo "== the outcomes, as the clients saw them and as the server counted them"
printf '%-18s %8s %8s %14s %14s\n' outcome clients server "client p50/p99" "server p50/p99"
for k in ok deadline gone shutdown; do
	case $k in
	ok) name="completed" ;;
	deadline) name="deadline exceeded" ;;
	gone) name="client gone" ;;
	shutdown) name="shut down" ;;
	esac
	printf '%-18s %8s %8s %14s %14s\n' "$name" "$(get $k "$L")" "$(get $k "$S")" \
		"$(get $k "$L" 2)/$(get $k "$L" 3)" "$(get $k "$S" 2)/$(get $k "$S" 3)"
	check "$(get $k "$L")" "$(get $k "$S")" "$name: clients and server disagree"
done
printf '%-18s %8s %8s\n' total "$(get total "$L")" \
	"$(($(get ok "$S") + $(get deadline "$S") + $(get gone "$S") + $(get shutdown "$S") + $(get bad "$S")))"

planned=$(get planned "$L")
echo
echo "== what happened, and why"
echo "- $(get conn-accepted "$S") connections, $planned requests planned, $(get sent "$L") sent."
echo "- $(get ok "$L") requests completed: their work ended before their deadline (their"
echo "  latencies include time queued behind slower requests: 4 workers serve 22 clients)."
echo "- $(get deadline "$L") requests asked for 5 s of work with a 200 ms deadline: the request"
echo "  context's deadline fired and ctx_sleep returned -ETIMEDOUT, so the worker"
echo "  answered DEADLINE after about $(get deadline "$S" 2) ms instead of working 5 s."
echo "- $(get gone "$L") clients asked for 5 s of work and hung up after 100 ms: ctx_with_fd"
echo "  (EPOLLRDHUP) cancelled their connection's context, and with it the request's:"
echo "  queued or running, each request ended about $(get gone "$S" 2) ms after it arrived"
echo "  (reply GONE, to nobody) instead of holding a worker for 5 s."
echo "- $(get conn-idle "$S") connections sent nothing: the server cancelled their context after"
echo "  its 1 s idle timeout and closed them ($(get idle-closed "$L") seen closed by the clients)."
echo "- SIGTERM: ctx_with_signals cancelled the root context (cause -EINTR); every"
echo "  connection's and request's context is its descendant, so the $(get shutdown "$S") long requests"
echo "  (running or still queued) ended at once with SHUTDOWN; $(get conn-shutdown "$S") connections drained"
echo "  and closed, and the server exited with status $src."
echo "- The server had $(get fds-start "$S") descriptors open at start (standard streams, any it"
echo "  inherited, and libctx's own timerfd, epoll set and signal pipe, which live until"
echo "  exit) and $(get fds-end "$S") at exit: every socket, done fd and duplicate was closed."

check "$lrc" 0 "load client exit status"
check "$src" 0 "server exit status"
check "$(get total "$L")" "$planned" "requests accounted for by the clients"
check "$(get lost "$L")" 0 "requests without an answer"
check "$(get unexpected "$L")" 0 "requests with an unexpected outcome"
check "$(get fds-end "$S")" "$(get fds-start "$S")" "descriptors open at exit vs at start"
check "$(get bad "$S")" 0 "requests the server rejected"
echo
if [ "$ok" = 0 ]; then
	echo "demo: PASS: all $planned requests accounted for, server exited 0, no descriptor leaked"
else
	echo "demo: FAIL (the outputs are above)"
fi
exit "$ok"
