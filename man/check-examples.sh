#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Compile every program in the EXAMPLES section of every page against the
# library just built, run it, and fail if one does not build, exits non-zero
# or prints nothing: the manual cannot drift from the code. Only EXAMPLES
# holds whole programs: .EX blocks elsewhere (the snippets of libctx(7)'s
# IDIOMS and EVENT LOOPS, which use libuv, GLib and others) are fragments
# and are neither extracted nor compiled. Pages whose
# SYNOPSIS says to link with -luring are skipped, visibly, when liburing
# is not available or the kernel refuses to set up a ring; so are pages
# linking -lpq or -lcurl without the library. The examples of the -lpq
# pages talk to a PostgreSQL server: the script runs itself under
# tests/with-pg.sh (one server for all of them) when libpq is there, and
# skips those pages, visibly, when no server can run.
#
# Run by "make check" (top_srcdir and top_builddir come from the test
# environment); by hand: top_srcdir=.. top_builddir=. ../man/check-examples.sh
# from a configured and built tree. Exit 0 pass, 1 fail, 99 hard error.

set -u
top_srcdir=$(cd "${top_srcdir:-.}" && pwd) || exit 99
top_builddir=$(cd "${top_builddir:-.}" && pwd) || exit 99
la=$top_builddir/libctx.la
libtool=$top_builddir/libtool

if [ ! -f "$la" ] || [ ! -x "$libtool" ]; then
	echo "check-examples: $la or $libtool missing: build the library first" >&2
	exit 99
fi

# The compiler and flags the tree was configured with (written by make).
CC=${CC:-cc}
CFLAGS=${CFLAGS:-}
LDFLAGS=${LDFLAGS:-}
HAVE_LIBURING=no
LIBURING_CFLAGS=
LIBURING_LIBS=
HAVE_LIBPQ=no
LIBPQ_CFLAGS=
LIBPQ_LIBS=
HAVE_LIBCURL=no
LIBCURL_CFLAGS=
LIBCURL_LIBS=
if [ -f "$top_builddir/man/examples.env" ]; then
	. "$top_builddir/man/examples.env"
fi

# A server for the -lpq pages' examples, started once for all of them.
# with-pg.sh exits 77 when no server can run here: go on without one.
if [ "$HAVE_LIBPQ" = yes ] && [ -z "${CTX_PG_DIR:-}" ] &&
	[ -z "${CTX_EXAMPLES_PG_TRIED:-}" ] &&
	grep -q '^Link with .*\\-lpq' "$top_srcdir"/man/*.3; then
	CTX_EXAMPLES_PG_TRIED=1 "$top_srcdir/tests/with-pg.sh" sh "$0" "$@"
	rc=$?
	[ $rc -ne 77 ] && exit $rc
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ctx-examples.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT HUP INT TERM

# Each .EX/.EE block of the EXAMPLES section becomes one C file. Only the
# escapes the pages use are undone; any other escape or a roff request
# inside an example is an error, so the extractor never guesses.
extract() {
	awk -v out="$tmp/$2" '
	function unescape(s,	r, i, c, name, j) {
		r = ""
		for (i = 1; i <= length(s); i++) {
			c = substr(s, i, 1)
			if (c != "\\") {
				r = r c
				continue
			}
			c = substr(s, ++i, 1)
			if (c == "e")
				r = r "\\"
			else if (c == "-")
				r = r "-"
			else if (c == "&")
				;
			else if (c == "(" || c == "[") {
				if (c == "(") {
					name = substr(s, i + 1, 2)
					i += 2
				} else {
					j = index(substr(s, i + 1), "]")
					if (j == 0)
						return fail("unterminated \\[")
					name = substr(s, i + 1, j - 1)
					i += j
				}
				if (name == "aq")
					r = r "\047"
				else if (name == "dq")
					r = r "\""
				else if (name == "ga")
					r = r "`"
				else if (name == "ha")
					r = r "^"
				else if (name == "ti")
					r = r "~"
				else if (name == "rs")
					r = r "\\"
				else
					return fail("unknown escape \\(" name)
			} else
				return fail("unknown escape \\" c)
		}
		return r
	}
	function fail(msg) {
		printf "%s:%d: %s\n", FILENAME, FNR, msg > "/dev/stderr"
		bad = 1
		return ""
	}
	/^\.SH/ {
		sect = $0
		sub(/^\.SH[ \t]+/, "", sect)
		gsub(/"/, "", sect)
		sub(/[ \t]+$/, "", sect)
		next
	}
	sect != "EXAMPLES" { next }
	!inblk && /^\.EX/ {
		inblk = 1
		file = sprintf("%s-%d.c", out, ++n)
		printf "" > file
		next
	}
	inblk && /^\.EE/ {
		inblk = 0
		close(file)
		next
	}
	inblk && /^[.\047]/ {
		fail("roff request inside an example")
		next
	}
	inblk { print unescape($0) > file }
	END {
		if (inblk)
			fail("unterminated .EX")
		exit bad ? 1 : 0
	}' "$1"
}

# Empty when io_uring examples can run here, otherwise why they cannot.
uring_skip=unprobed
uring_probe() {
	if [ "$HAVE_LIBURING" != yes ]; then
		uring_skip="liburing not found by configure"
		return
	fi
	cat >"$tmp/probe.c" <<'EOF'
#include <liburing.h>

int main(void)
{
	struct io_uring ring;

	if (io_uring_queue_init(2, &ring, 0) < 0)
		return 1;
	io_uring_queue_exit(&ring);
	return 0;
}
EOF
	# shellcheck disable=SC2086 # flags are word lists
	if ! $CC $CFLAGS $LIBURING_CFLAGS $LDFLAGS -o "$tmp/probe" "$tmp/probe.c" \
		$LIBURING_LIBS >/dev/null 2>&1; then
		uring_skip="cannot build a liburing program"
	elif ! "$tmp/probe"; then
		uring_skip="the kernel refuses io_uring_queue_init"
	else
		uring_skip=
	fi
}

pages=0
failed=0
skipped=0
for page in "$top_srcdir"/man/*.[37]; do
	base=$(basename "$page")
	name=${base%.*}
	# Alias pages (.so) have no example of their own.
	if head -n 1 "$page" | grep -q '^\.so '; then
		continue
	fi
	pages=$((pages + 1))
	if ! extract "$page" "$name"; then
		echo "FAIL $base: bad example markup"
		failed=$((failed + 1))
		continue
	fi
	set -- "$tmp/$name"-*.c
	if [ ! -f "$1" ]; then
		echo "FAIL $base: no .EX block in EXAMPLES"
		failed=$((failed + 1))
		continue
	fi
	extra_cflags=
	extra_libs=
	if grep -q '^Link with .*\\-luring' "$page"; then
		[ "$uring_skip" = unprobed ] && uring_probe
		if [ -n "$uring_skip" ]; then
			echo "SKIP $base: $uring_skip"
			skipped=$((skipped + 1))
			continue
		fi
		extra_cflags=$LIBURING_CFLAGS
		extra_libs=$LIBURING_LIBS
	fi
	why=
	if grep -q '^Link with .*\\-lpq' "$page"; then
		if [ "$HAVE_LIBPQ" != yes ]; then
			why="libpq not found by configure"
		elif [ -z "${CTX_PG_DIR:-}" ]; then
			why="no PostgreSQL server (tests/with-pg.sh could not start one)"
		fi
		extra_cflags="$extra_cflags $LIBPQ_CFLAGS"
		extra_libs="$extra_libs $LIBPQ_LIBS"
	fi
	if grep -q '^Link with .*\\-lcurl' "$page"; then
		[ "$HAVE_LIBCURL" = yes ] || why="libcurl not found by configure"
		extra_cflags="$extra_cflags $LIBCURL_CFLAGS"
		extra_libs="$extra_libs $LIBCURL_LIBS"
	fi
	if [ -n "$why" ]; then
		echo "SKIP $base: $why"
		skipped=$((skipped + 1))
		continue
	fi
	for src do
		prog=${src%.c}
		label=$(basename "$prog")
		# -no-install: a real executable with an rpath to the
		# uninstalled library, no wrapper script.
		# shellcheck disable=SC2086 # flags are word lists
		if ! "$libtool" --quiet --mode=link $CC -std=gnu11 $CFLAGS \
			-Wall -Wextra -Werror -I"$top_srcdir/include" $extra_cflags \
			-pthread $LDFLAGS -no-install -o "$prog" "$src" "$la" \
			$extra_libs >"$prog.log" 2>&1; then
			echo "FAIL $label: does not compile"
			sed 's/^/    /' "$prog.log"
			failed=$((failed + 1))
			continue
		fi
		# Examples that read standard input get one line, then EOF.
		echo "a line on standard input" |
			timeout 20 "$prog" >"$prog.out" 2>&1
		rc=$?
		sed 's/^/    /' "$prog.out"
		if [ "$rc" -ne 0 ]; then
			echo "FAIL $label: exit status $rc"
			failed=$((failed + 1))
		elif [ ! -s "$prog.out" ]; then
			echo "FAIL $label: printed nothing"
			failed=$((failed + 1))
		else
			echo "PASS $label"
		fi
	done
done

if [ "$pages" -eq 0 ]; then
	echo "check-examples: no pages under $top_srcdir/man" >&2
	exit 99
fi
echo "check-examples: $failed failure(s), $skipped skipped, in $pages pages"
[ "$failed" -eq 0 ]
