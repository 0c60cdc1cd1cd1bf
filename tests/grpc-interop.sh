#!/bin/sh
# SPDX-License-Identifier: MIT
#
# gRPC deadlines against a real gRPC implementation (Debian's python3-grpcio),
# both ways, on 127.0.0.1, with examples/grpc-peer (libnghttp2):
#
#  1. Python client, timeout=0.3, to the C server's Sleep: the server's call
#     context has the client's deadline (never earlier, within a bound), its
#     ctx_sleep ends with -ETIMEDOUT no earlier than that deadline, and the
#     client sees DEADLINE_EXCEEDED.
#  2. Python client, timeout=5 with the server's own budget of 100 ms
#     (libctx-budget-ms): the server's shorter deadline is what ends the
#     call, and its grpc-status 4 reaches the client as DEADLINE_EXCEEDED.
#  3. C client, a 2 s context, to the Python server's Remaining: grpcio's
#     context.time_remaining() puts the deadline where the C context has it.
#  4. C client, a 200 ms context, to the Python server's Sleep: the call
#     fails with DEADLINE_EXCEEDED no earlier than the C context's deadline
#     (the client gives up by itself, or grpcio's copy of the deadline, a
#     little later, answers first), and it ends in the Python server too.
#  5. C to C: a malformed grpc-timeout is INTERNAL (13); an Echo with a
#     deadline returns the message, and the server's deadline is the
#     client's, never earlier.
#
# The servers are started here and stopped (TERM, then KILL) on every exit.
# Bounds are generous (a loaded machine delays everything); the measured
# offsets are printed. Exit 0 pass, 1 fail, 77 skip (a dependency missing).
set -u

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
peer=$builddir/examples/grpc-peer
python=${GRPC_PYTHON:-/usr/bin/python3}

if [ ! -x "$peer" ]; then
	echo "SKIP: $peer not built (configure did not find libnghttp2)"
	exit 77
fi
if ! "$python" -c 'import grpc' 2>/dev/null; then
	echo "SKIP: $python cannot import grpc (install python3-grpcio)"
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/grpc-interop.XXXXXX") || exit 99
pids=
cleanup() {
	for p in $pids; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in $pids; do
		i=0
		while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	pids=
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

failed=0
ok() { echo "ok - $*"; }
bad() {
	echo "not ok - $*"
	failed=$((failed + 1))
}
check() { # check DESCRIPTION COMMAND...
	d=$1
	shift
	if "$@"; then ok "$d"; else bad "$d"; fi
}
between() { # between VALUE LOW HIGH
	[ "${1:-x}" -ge "$2" ] 2>/dev/null && [ "$1" -le "$3" ]
}
dump() {
	for f in "$tmp"/*.log; do
		echo "---- $(basename "$f")"
		cat "$f"
	done
}

# Starts a server writing to $tmp/$1.log and sets $port from its first line.
start() {
	name=$1
	shift
	"$@" >"$tmp/$name.log" 2>&1 &
	pids="$pids $!"
	i=0
	port=
	while [ -z "$port" ] && [ $i -lt 300 ]; do
		port=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$tmp/$name.log")
		[ -n "$port" ] || sleep 0.1
		i=$((i + 1))
	done
	if [ -z "$port" ]; then
		echo "not ok - $name did not start"
		dump
		exit 1
	fi
}

# field NAME LINE: the value of NAME=value in LINE.
field() {
	echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

ms() { # nanoseconds as milliseconds with 3 decimals
	awk -v n="$1" 'BEGIN { printf "%.3f", n / 1e6 }'
}

run() { # run LOGNAME COMMAND...: bounded, output appended to $tmp/LOGNAME.log
	name=$1
	shift
	timeout 60 "$@" >>"$tmp/$name.log" 2>&1
	rc=$?
	# A sanitizer's report makes the exit status non-zero.
	check "$name exits 0" [ "$rc" = 0 ]
}

start c-server "$peer" server
cport=$port
start py-server "$python" "$srcdir/tests/grpc_server.py"
pyport=$port

# 1. Python client, timeout=0.3, to the C server's Sleep. The client keeps
# its connection until the server has answered: its hanging up would cancel
# the call (ctx_with_fd on the socket) and could overtake the server's copy
# of the deadline, a few ms after the client's own.
mkfifo "$tmp/hold" || exit 99
timeout 60 "$python" "$srcdir/tests/grpc_client.py" --hold "$cport" Sleep 0.3 \
	<"$tmp/hold" >"$tmp/py-client.log" 2>&1 &
client=$!
pids="$pids $client"
exec 3>"$tmp/hold"
i=0
while ! grep -q '^call path=/libctx.Test/Sleep' "$tmp/c-server.log" && [ $i -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
exec 3>&-
wait "$client"
check "py-client exits 0" [ $? = 0 ]
line=$(grep '^code=' "$tmp/py-client.log" | tail -1)
check "python client: DEADLINE_EXCEEDED" [ "$(field code "$line")" = DEADLINE_EXCEEDED ]
t0=$(field t0_ns "$line")
srv=$(grep '^call path=/libctx.Test/Sleep' "$tmp/c-server.log" | tail -1)
dl=$(field deadline_ns "$srv")
echo "# python sent grpc-timeout=$(field timeout "$srv");" \
	"C server deadline - (client t0 + 300 ms) = $(ms $((${dl:-0} - ${t0:-0} - 300000000))) ms"
check "C server: the call has a deadline" [ "${dl:-0}" -gt 0 ]
# grpc-core keeps time in milliseconds: allow it 2 ms of rounding down.
check "C server: deadline no earlier than the client's (t0 + 300 ms - 2 ms)" \
	[ "${dl:-0}" -ge $((${t0:-0} + 298000000)) ]
check "C server: deadline within t0 + 300 ms + 250 ms" \
	[ "${dl:-0}" -le $((${t0:-0} + 550000000)) ]
check "C server: ctx_sleep ended with -ETIMEDOUT" [ "$(field result "$srv")" = -110 ]
check "C server: not before the deadline" [ "$(field done_ns "$srv")" -ge "${dl:-1}" ]
check "C server: answered DEADLINE_EXCEEDED (4)" [ "$(field status "$srv")" = 4 ]

# 2. The server's own, shorter budget ends the call through the wire.
: >"$tmp/py-budget.log"
run py-budget "$python" "$srcdir/tests/grpc_client.py" "$cport" Sleep 5 100
line=$(grep '^code=' "$tmp/py-budget.log" | tail -1)
check "python client, server budget 100 ms: DEADLINE_EXCEEDED" \
	[ "$(field code "$line")" = DEADLINE_EXCEEDED ]
end=$(field end_ns "$line")
t0=$(field t0_ns "$line")
srv=$(grep '^call path=/libctx.Test/Sleep' "$tmp/c-server.log" | tail -1)
dl=$(field deadline_ns "$srv")
echo "# server deadline $(ms $((${dl:-0} - ${t0:-0}))) ms after the call began;" \
	"client saw DEADLINE_EXCEEDED $(ms $((${end:-0} - ${dl:-0}))) ms after it"
check "C server: budget deadline within 100..350 ms of the call" \
	between $((${dl:-0} - ${t0:-0})) 100000000 350000000
check "python client: failed no earlier than the server's deadline" [ "${end:-0}" -ge "${dl:-1}" ]
check "python client: failed well before its own 5 s" \
	between $((${end:-0} - ${t0:-0})) 0 4000000000
check "C server: answered DEADLINE_EXCEEDED (4)" [ "$(field status "$srv")" = 4 ]

# 3. C client, 2 s, to the Python server's Remaining.
run c-client "$peer" client "$pyport" /libctx.Test/Remaining 2000
sent=$(grep '^sent ' "$tmp/c-client.log" | tail -1)
res=$(grep '^status=' "$tmp/c-client.log" | tail -1)
cdl=$(field deadline_ns "$sent")
msg=${res#*message=}
set -- $msg
pydl=$(awk -v now="${1:-0}" -v left="${2:-0}" 'BEGIN { printf "%.0f", now + left * 1e9 }')
echo "# C client sent $(field grpc-timeout "$sent");" \
	"grpcio deadline - C context deadline = $(ms $((${pydl:-0} - ${cdl:-0}))) ms"
check "python server: status OK" [ "$(field status "$res")" = 0 ]
check "python server: time_remaining() is a number" [ "${2:-None}" != None ]
check "python server: deadline no earlier than the C context's (- 2 ms)" \
	[ "${pydl:-0}" -ge $((${cdl:-0} - 2000000)) ]
check "python server: deadline within the C context's + 250 ms" \
	[ "${pydl:-0}" -le $((${cdl:-0} + 250000000)) ]

# 4. C client, 200 ms, to the Python server's Sleep: the client gives up at
# its deadline, or grpcio's copy of it (a little later) answers first.
: >"$tmp/c-client.log"
run c-client "$peer" client "$pyport" /libctx.Test/Sleep 200
sent=$(grep '^sent ' "$tmp/c-client.log" | tail -1)
res=$(grep '^status=' "$tmp/c-client.log" | tail -1)
check "C client: DEADLINE_EXCEEDED (4)" [ "$(field status "$res")" = 4 ]
echo "# C client: DEADLINE_EXCEEDED from the $(field source "$res") side"
check "C client: not before its deadline" \
	[ "$(field end_ns "$res")" -ge "$(field deadline_ns "$sent")" ]
i=0
while ! grep -q '^sleep ended' "$tmp/py-server.log" && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
check "python server: the call ended (reset or deadline)" \
	grep -q '^sleep ended active=False' "$tmp/py-server.log"

# 5. C to C.
: >"$tmp/c-client.log"
run c-client "$peer" client -t 1.5S "$cport" /libctx.Test/Echo 1000
res=$(grep '^status=' "$tmp/c-client.log" | tail -1)
check "C server: a malformed grpc-timeout is INTERNAL (13)" [ "$(field status "$res")" = 13 ]
: >"$tmp/c-client.log"
run c-client "$peer" client "$cport" /libctx.Test/Echo 5000 ping
sent=$(grep '^sent ' "$tmp/c-client.log" | tail -1)
res=$(grep '^status=' "$tmp/c-client.log" | tail -1)
srv=$(grep '^call path=/libctx.Test/Echo timeout=[0-9]' "$tmp/c-server.log" | tail -1)
check "C to C: Echo status OK" [ "$(field status "$res")" = 0 ]
check "C to C: Echo answered with the message" [ "${res#*message=}" = ping ]
cdl=$(field deadline_ns "$sent")
check "C to C: the server's deadline is the client's, never earlier (+ 250 ms at most)" \
	between "$(field deadline_ns "$srv")" "${cdl:-0}" $((${cdl:-0} + 250000000))

# The C server stops cleanly on SIGTERM (a ctx_with_signals root).
set -- $pids
kill -TERM "$1"
i=0
while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
wait "$1"
rc=$?
check "C server: exits 0 on SIGTERM" [ "$rc" = 0 ]
check "C server: says it stopped on the signal" grep -q '^stopped: signal' "$tmp/c-server.log"

if [ "$failed" -ne 0 ]; then
	dump
	exit 1
fi
exit 0
