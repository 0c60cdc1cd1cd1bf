#!/bin/sh
# SPDX-License-Identifier: MIT
# valgrind memcheck over the standalone test programs (no Criterion: its
# runner forks every test and leaks its own bookkeeping), at small scale. Any
# memcheck error or definite leak fails. Skips (77) without valgrind and in
# sanitizer builds, whose runtimes cannot run under valgrind.
#
# Under memcheck a program's time depends on the machine far more than on
# the program: one guest thread runs at a time, tens of times slower, beside
# the rest of `make -j2 check` and whatever else loads the machine. So the
# stress programs' own watchdog (240 s, sized for native runs) is off here
# and this script bounds each program instead, generously: a hang still fails,
# after VALGRIND_TIMEOUT seconds (default 1200), with its forked children.
#
#   VALGRIND_PROGRAMS="tests/soak-contexts ..."  to choose the programs.
#   VALGRIND_TIMEOUT=seconds                     the limit per program.
set -u

top_builddir=${top_builddir:-.}
command -v valgrind >/dev/null 2>&1 || { echo "valgrind not installed"; exit 77; }
libtool="$top_builddir/libtool"

programs=${VALGRIND_PROGRAMS:-"tests/soak-contexts tests/soak-limits tests/fault-inject
	tests/stress-tree tests/stress-deadline tests/stress-after tests/stress-fd"}

for p in $programs; do
	prog="$top_builddir/$p"
	[ -x "$prog" ] || { echo "$p: not built, skipped"; continue; }
	if "$libtool" --mode=execute ldd "$prog" 2>/dev/null | grep -q 'lib[at]san'; then
		echo "sanitizer build: valgrind cannot run it"
		exit 77
	fi
done

CTX_TEST_SCALE=${CTX_TEST_SCALE:-100}
CTX_SOAK_SECONDS=${CTX_SOAK_SECONDS:-1}
CTX_TEST_WATCHDOG_S=0
export CTX_TEST_SCALE CTX_SOAK_SECONDS CTX_TEST_WATCHDOG_S
limit=${VALGRIND_TIMEOUT:-1200}
# timeout(1) signals its whole process group: fault-inject's forked
# scenarios too. Without it, the programs' own watchdog gets the limit.
if command -v timeout >/dev/null 2>&1; then
	bound="timeout -k 10 $limit"
else
	bound=
	CTX_TEST_WATCHDOG_S=$limit
fi

status=0
ran=0
for p in $programs; do
	prog="$top_builddir/$p"
	[ -x "$prog" ] || continue
	log="$top_builddir/$p.valgrind.log"
	start=$(date +%s)
	# Forked children (fault-inject's scenarios) stay under memcheck too.
	# --fair-sched: memcheck runs one thread at a time, and with its default
	# lock a thread spinning on ctx_err() (stress-deadline's observer) can
	# keep the lock while the threads it waits for sit woken but starved.
	$bound "$libtool" --mode=execute valgrind -q --fair-sched=yes --error-exitcode=1 \
		--leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
		--child-silent-after-fork=no --log-file="$log" "$prog" >"$log.out" &
	# timeout(1) leads its own process group, out of reach of the terminal's
	# ^C and of make's kill: pass them on.
	pid=$!
	trap 'kill -TERM $pid 2>/dev/null; exit 130' INT TERM HUP
	wait $pid
	r=$?
	trap - INT TERM HUP
	secs=$(($(date +%s) - start))
	ran=$((ran + 1))
	if [ $r -eq 124 ] || [ $r -eq 137 ]; then
		echo "FAIL: $p under memcheck: no result after ${secs} s" \
			"(VALGRIND_TIMEOUT=$limit): a hang?"
		grep -E '^(not ok|#)' "$log.out"
		tail -n 3 "$log.out"
		status=1
	elif [ $r -ne 0 ] || [ -s "$log" ]; then
		echo "FAIL: $p under memcheck (exit $r, ${secs} s):"
		cat "$log"
		# The program's own verdict, when it failed rather than memcheck.
		grep -E '^(not ok|#)' "$log.out"
		status=1
	else
		echo "ok: $p (${secs} s)"
		rm -f "$log" "$log.out"
	fi
done
[ $ran -gt 0 ] || { echo "no program to check"; exit 77; }
exit $status
