#!/bin/sh
# SPDX-License-Identifier: MIT
# valgrind memcheck over the standalone test programs (no Criterion: its
# runner forks every test and leaks its own bookkeeping), at small scale. Any
# memcheck error or definite leak fails. Skips (77) without valgrind and in
# sanitizer builds, whose runtimes cannot run under valgrind.
#
#   VALGRIND_PROGRAMS="tests/soak-contexts ..."  to choose the programs.
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
export CTX_TEST_SCALE CTX_SOAK_SECONDS

status=0
ran=0
for p in $programs; do
	prog="$top_builddir/$p"
	[ -x "$prog" ] || continue
	log="$top_builddir/$p.valgrind.log"
	# Forked children (fault-inject's scenarios) stay under memcheck too.
	"$libtool" --mode=execute valgrind -q --error-exitcode=1 --leak-check=full \
		--errors-for-leak-kinds=definite --show-leak-kinds=definite \
		--child-silent-after-fork=no --log-file="$log" "$prog" >"$log.out"
	r=$?
	ran=$((ran + 1))
	if [ $r -ne 0 ] || [ -s "$log" ]; then
		echo "FAIL: $p under memcheck (exit $r):"
		cat "$log"
		# The program's own verdict, when it failed rather than memcheck.
		grep -E '^(not ok|#)' "$log.out"
		status=1
	else
		echo "ok: $p"
		rm -f "$log" "$log.out"
	fi
done
[ $ran -gt 0 ] || { echo "no program to check"; exit 77; }
exit $status
