#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/grpc-deadline.sh [BUILD_DIR] [N]: how long a libctx deadline takes to
# reach a real gRPC peer (Debian's python3-grpcio) over 127.0.0.1, median of
# N calls (default 20), one after the other. Both sides read CLOCK_MONOTONIC
# (Python's time.monotonic_ns()), so the times compare directly.
#
#  server deadline -> client DEADLINE_EXCEEDED:
#	the Python client calls examples/grpc-peer's Sleep with timeout=5 and
#	the server's own budget of 100 ms (libctx-budget-ms); from the deadline
#	of the server's call context (ctx_sleep wakes, the server sends
#	grpc-status 4) to the client's call raising DEADLINE_EXCEEDED.
#  client deadline -> server sees the call end:
#	examples/grpc-peer's client calls the Python server's Sleep under a
#	100 ms context; from that context's deadline (the client resets the
#	stream) to the Python handler's context callback having run.
#
# Needs a build with examples/grpc-peer (configure found libnghttp2) and
# /usr/bin/python3 with grpc. Not part of make check: it asserts nothing.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/_build}
n=${2:-20}
peer=$build/examples/grpc-peer
python=${GRPC_PYTHON:-/usr/bin/python3}
[ -x "$peer" ] || { echo "no $peer: build with libnghttp2" >&2; exit 1; }
tmp=$(mktemp -d)
pids=
trap 'for p in $pids; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

start() { # start LOG COMMAND...: sets $port
	log=$1
	shift
	"$@" >"$tmp/$log" 2>&1 &
	pids="$pids $!"
	port=
	for _ in $(seq 100); do
		port=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/$log")
		[ -n "$port" ] && return
		sleep 0.1
	done
	echo "$log did not start" >&2
	exit 1
}

# median, min and max (ms) of the nanosecond values on standard input
stats() {
	sort -n | awk '{ v[NR] = $1 } END {
		if (!NR) { print "no samples"; exit 1 }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "median %.3f ms (min %.3f, max %.3f) over %d calls\n", m / 1e6, v[1] / 1e6, v[NR] / 1e6, NR }'
}

start c-server.log "$peer" server
cport=$port
start py-server.log "$python" "$top/tests/grpc_server.py"
pyport=$port

"$python" "$top/tests/grpc_client.py" "$cport" Sleep 5 100 "$n" >"$tmp/py-client.log"
sleep 0.5 # the server logs each call once it has answered
grep '^call path=/libctx.Test/Sleep' "$tmp/c-server.log" | sed 's/.*deadline_ns=\([0-9]*\).*/\1/' \
	>"$tmp/server-deadlines"
sed 's/.*end_ns=\([0-9]*\).*/\1/' "$tmp/py-client.log" >"$tmp/client-ends"
printf 'server deadline -> python client DEADLINE_EXCEEDED: '
paste "$tmp/client-ends" "$tmp/server-deadlines" | awk '{ print $1 - $2 }' | stats

for _ in $(seq "$n"); do
	"$peer" client "$pyport" /libctx.Test/Sleep 100 | sed -n 's/^sent .*deadline_ns=//p'
	sleep 0.05
done >"$tmp/client-deadlines"
sleep 0.5
sed -n 's/^sleep ended .*done_ns=//p' "$tmp/py-server.log" >"$tmp/server-ends"
printf 'C client deadline -> python server sees the call end: '
paste "$tmp/server-ends" "$tmp/client-deadlines" | awk '{ print $1 - $2 }' | stats
