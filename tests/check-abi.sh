#!/bin/sh
# SPDX-License-Identifier: MIT
# ABI guard: the built shared library keeps the ABI of the last release,
# abi/libctx.abi (abidw's dump of it; `make abi-baseline` writes it).
#  - abidiff finds no removed symbol and no changed function or type;
#  - every symbol the release did not have is in a version node the release
#    did not have either (1.0's node is closed once 1.0 is out: an addition
#    goes into a new LIBCTX_x.y node, which check-symbols.sh compares with
#    the map);
#  - the SONAME is the release's.
# When a change is meant (a release), README.md, "Releasing", says what to do.
set -eu
export LC_ALL=C

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
base=$srcdir/abi/libctx.abi
so=$builddir/.libs/libctx.so

if [ ! -f "$so" ]; then
	echo "SKIP: $so not built (static-only build?)"
	exit 77
fi
if ! command -v abidiff >/dev/null 2>&1; then
	echo "SKIP: abidiff not found (Debian: abigail-tools, which scripts/deps.sh installs)"
	exit 77
fi
# The baseline is the ABI of the library as shipped. An instrumented build
# is not that library, and the plain build of the same tree checks the ABI.
if nm -D "$so" | grep -qE '__(a|t|ub)san_'; then
	echo "SKIP: sanitizer build; the ABI is checked in the plain build"
	exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
fail() {
	echo "FAIL: $*"
	status=1
}

# The SONAME first: with another one nothing below compares like with like.
soname=$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
base_soname=$(sed -n "s/^<abi-corpus .*soname='\([^']*\)'.*/\1/p" "$base")
if [ "$soname" != "$base_soname" ]; then
	echo "FAIL: the SONAME is $soname, the released one $base_soname: every program"
	echo "      built against $base_soname would need relinking. A SONAME change is a"
	echo "      release decision (README.md, \"Releasing\"): then replace the baseline."
	exit 1
fi

# name@node of the defined symbols, without the nodes themselves (type A).
sed -n "s/^ *<elf-symbol name='\([^']*\)' version='\([^']*\)'.*is-defined='yes'.*/\1@\2/p;
	s/^ *<elf-symbol name='\([^' ]*\)' [^v].*is-defined='yes'.*/\1@/p" "$base" | sort -u >"$tmp/old"
nm -D --defined-only "$so" | awk '$2 != "A" { sub(/@@?/, "@", $3); if ($3 !~ /@/) $3 = $3 "@"; print $3 }' |
	sort -u >"$tmp/new"
sed 's/.*@//' "$tmp/old" | sort -u >"$tmp/old-nodes"

if [ ! -s "$tmp/old" ]; then
	echo "FAIL: no symbols read from $base"
	exit 1
fi
comm -23 "$tmp/old" "$tmp/new" | while read -r s; do
	echo "FAIL: $s was released and is gone (removed, renamed or moved to another node)"
done | tee "$tmp/gone"
[ -s "$tmp/gone" ] && status=1
for s in $(comm -13 "$tmp/old" "$tmp/new"); do
	node=${s#*@}
	if [ -z "$node" ]; then
		fail "${s%@} is exported without a version node (lib/libctx.map)"
	elif grep -qxF "$node" "$tmp/old-nodes"; then
		fail "${s%@*} is new but its node $node was released: add a new node to" \
			"lib/libctx.map for it, e.g. LIBCTX_x.y { global: ${s%@*}; } $node;"
	else
		echo "new: $s"
	fi
done

# Functions and the types they reach. Added symbols are left out here (they
# were judged above); any other report, whether libabigail calls it
# compatible or not, fails: a changed parameter or return type, a changed
# member of a public struct, a removed function. The library's own structs
# are opaque in the baseline (abidw --drop-private-types), so changing them
# is no change here. No --hd2: the baseline has no source locations (so that
# it does not depend on the build directory), and with them missing abidiff
# takes every released type for a private one and hides its changes.
# Without debug information abidiff compares names only, and passes: the
# check fails instead (abidiff's --fail-no-debug-info does not, in 2.2).
if ! readelf -S "$so" | grep -q '\.debug_info'; then
	fail "$so has no debug information, so its types cannot be compared:" \
		"build with -g (the default CFLAGS are -g -O2)"
elif ! abidiff --no-added-syms --no-show-locs --exported-interfaces-only \
	"$base" "$so" >"$tmp/report" 2>&1; then
	echo "FAIL: abidiff $base $so:"
	cat "$tmp/report"
	status=1
fi

if [ $status -eq 0 ]; then
	echo "PASS: the ABI of $(wc -l <"$tmp/old") released symbols ($(paste -sd' ' "$tmp/old-nodes")) is kept;" \
		"$(comm -13 "$tmp/old" "$tmp/new" | wc -l) new in new nodes"
else
	echo "(a change meant for a release: README.md, \"Releasing\")"
fi
exit $status
