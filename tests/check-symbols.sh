#!/bin/sh
# SPDX-License-Identifier: MIT
# The shared library exports exactly the globals of the version script, and
# nothing that does not start with ctx_.
set -eu

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
so=$builddir/.libs/libctx.so
map=$srcdir/lib/libctx.map

if [ ! -f "$so" ]; then
	echo "SKIP: $so not built (static-only build?)"
	exit 77
fi
if ! command -v nm >/dev/null 2>&1; then
	echo "SKIP: nm not found"
	exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Globals of every version node: the lines after "global:" up to "local:" or
# the node's closing brace (later nodes, such as LIBCTX_1.1, have no local:).
awk '/global:/ { g = 1; next } /local:/ || /}/ { g = 0 } g && /;/ {
	gsub(/[ \t;]/, ""); if ($0 != "") print }' "$map" | sort -u >"$tmp/map"

# Defined dynamic symbols, minus the version nodes themselves (type A, e.g.
# LIBCTX_1.0), which the linker adds for each node.
nm -D --defined-only "$so" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' |
	sort -u >"$tmp/so"

status=0
if [ ! -s "$tmp/map" ]; then
	echo "FAIL: no globals found in $map"
	status=1
fi
if ! cmp -s "$tmp/map" "$tmp/so"; then
	echo "FAIL: exported symbols differ from $map (< map only, > library only):"
	diff "$tmp/map" "$tmp/so" || true
	status=1
fi
if grep -v '^ctx_' "$tmp/so" >"$tmp/bad"; then
	echo "FAIL: exported symbols without the ctx_ prefix:"
	cat "$tmp/bad"
	status=1
fi
if [ $status -eq 0 ]; then
	echo "PASS: $(wc -l <"$tmp/so") symbols, all in $map"
fi
exit $status
