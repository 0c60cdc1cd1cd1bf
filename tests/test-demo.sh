#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Runs the scripted demo (examples/demo.sh) and asserts its outcomes: every
# request accounted for with the outcome its client expects, the server's
# exit status 0 and no descriptor leaked. Then the supervise and
# cross-process examples, whose outcomes are just as deterministic.
# Plain exit-status driver: 0 pass, 77 skip, anything else fail.
set -u

srcdir=${top_srcdir:-${srcdir:-.}}
builddir=${top_builddir:-.}
out=$(mktemp "${TMPDIR:-/tmp}/test-demo.XXXXXX") || exit 99
trap 'rm -f "$out"' EXIT

[ -r /proc/self/fd ] || { echo "SKIP: no /proc/self/fd"; exit 77; }

fail() {
	echo "FAIL: $*"
	echo "---- output:"
	cat "$out"
	exit 1
}

# Field $2 (1-based after the name) of the table row named $1.
row() {
	awk -v name="$1" -v f="$2" 'index($0, name) == 1 { n = split(substr($0, length(name) + 1), v, " "); print v[f]; exit }' "$out"
}

start=$(date +%s)
"$srcdir/examples/demo.sh" "$builddir" >"$out" 2>&1
rc=$?
took=$(($(date +%s) - start))
cat "$out"
[ "$rc" = 0 ] || fail "demo.sh exited $rc"
[ "$took" -lt 30 ] || fail "the demo took $took s (limit 30 s)"
grep -q '^demo: PASS: all [0-9]* requests accounted for' "$out" || fail "no PASS line"
grep -q 'MISMATCH' "$out" && fail "a mismatch was reported"
grep -q '^server: shutdown signal: root context cancelled (cause -EINTR)' "$out" ||
	fail "the server did not report the signal's cancellation"

# The load client's plan (examples/load.c): 8x10 fast + 4x2 slow complete,
# 4x2 time out, 4 hang up, 6 are in flight at SIGTERM; 2 idle connections.
for spec in "completed 88" "deadline exceeded 8" "client gone 4" "shut down 6"; do
	name=${spec% *}
	want=${spec##* }
	[ "$(row "$name" 1)" = "$want" ] || fail "clients counted $(row "$name" 1) '$name', expected $want"
	[ "$(row "$name" 2)" = "$want" ] || fail "server counted $(row "$name" 2) '$name', expected $want"
done
grep -q '^load: 2 idle connections closed by the server' "$out" || fail "idle timeout"
grep -q 'server: open descriptors: \([0-9]*\) at start, \1 at exit (none leaked)' "$out" ||
	fail "descriptor leak"

# supervise: a deadline stops "sleep 5" with SIGTERM.
"$builddir/examples/supervise" -t 200 sleep 5 >"$out" 2>&1 || {
	grep -q pidfd_open "$out" && { echo "SKIP: no pidfd_open"; exit 77; }
	fail "supervise exited non-zero"
}
cat "$out"
grep -q 'stopped: it was killed by .* (deadline exceeded)' "$out" || fail "supervise: deadline"
"$builddir/examples/supervise" -t 5000 true >"$out" 2>&1 || fail "supervise true"
cat "$out"
grep -q 'stopped: it exited with status 0 after .* (on its own)' "$out" || fail "supervise: exit"

# cross-process: the child stops when the parent cancels.
"$builddir/examples/cross-process" >"$out" 2>&1 || fail "cross-process exited non-zero"
cat "$out"
grep -q '^child: the parent cancelled' "$out" || fail "cross-process: the child did not see the cancel"
exit 0
