#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The manual is complete and clean:
#  - "mandoc -Tlint" reports nothing on the pages, except the one warning
#    every .so alias page draws (".so is fragile, better use ln(1)"): the
#    aliases are .so files on purpose, since they survive "make dist";
#  - every symbol the library exports, and every ctx_ function the
#    installed headers declare (static inline helpers included), has a page
#    man/<name>.3, and every section 3 page names such a function;
#  - every page follows the layout of the manual, every alias points to a
#    page whose NAME lists it, and libctx(7) lists every page.
#
# Run by "make check"; exit 0 pass, 1 fail, 77 skip (no mandoc), 99 hard error.

set -u
top_srcdir=$(cd "${top_srcdir:-.}" && pwd) || exit 99
top_builddir=$(cd "${top_builddir:-.}" && pwd) || exit 99
man=$top_srcdir/man
mandoc=${MANDOC:-mandoc}

if ! command -v "$mandoc" >/dev/null 2>&1; then
	echo "check-manpages: mandoc not found, skipping"
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ctx-manpages.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT HUP INT TERM
failed=0
fail() {
	echo "FAIL: $*"
	failed=$((failed + 1))
}

is_alias() {
	head -n 1 "$1" | grep -q '^\.so '
}

# Lint from an installed-like tree, so that ".so man3/x.3" resolves and a
# dangling alias is reported as an error.
mkdir -p "$tmp/man3" "$tmp/man7"
cp "$man"/*.3 "$tmp/man3/" && cp "$man"/*.7 "$tmp/man7/" || exit 99
(cd "$tmp" && "$mandoc" -Tlint man3/* man7/*) >"$tmp/lint" 2>&1
grep -v -E '^mandoc: man3/[a-z0-9_]+\.3:1:2: WARNING: \.so is fragile, better use ln\(1\): so man3/[a-z0-9_]+\.3$' \
	"$tmp/lint" >"$tmp/lint.left"
if [ -s "$tmp/lint.left" ]; then
	fail "mandoc -Tlint:"
	sed 's/^/    /' "$tmp/lint.left"
fi

# What must be documented: the library's exports and the headers' functions.
so=$top_builddir/.libs/libctx.so
ar=$top_builddir/.libs/libctx.a
if [ -f "$so" ]; then
	nm -D --defined-only "$so"
elif [ -f "$ar" ]; then
	nm -g --defined-only "$ar"
else
	echo "check-manpages: no built library under $top_builddir/.libs" >&2
	exit 99
fi | awk 'NF >= 3 && $2 != "A" { sub(/@.*/, "", $3); print $3 }' >"$tmp/exported" || exit 99
if [ ! -s "$tmp/exported" ]; then
	echo "check-manpages: no exported symbols found" >&2
	exit 99
fi
# A declaration or inline definition starts in column 0 (comments, bodies
# and continuation lines do not); its name is the one before the first
# parenthesis. ctx__ names are private helpers of inline functions.
sed -nE 's/^([A-Za-z_][^(]*[^A-Za-z0-9_])?(ctx_[a-z0-9][a-z0-9_]*)[[:space:]]*\(.*/\2/p' \
	"$top_srcdir"/include/*.h >"$tmp/declared"
sort -u "$tmp/exported" "$tmp/declared" >"$tmp/api"

while read -r name; do
	[ -f "$man/$name.3" ] || fail "$name has no page man/$name.3"
done <"$tmp/api"

for page in "$man"/*.3; do
	name=$(basename "$page" .3)
	grep -qx "$name" "$tmp/api" ||
		fail "man/$name.3 documents no exported or declared function"
	grep -q "^\.BR $name (3),\{0,1\}\$" "$man/libctx.7" ||
		fail "libctx.7 does not list $name(3) in SEE ALSO"
done

# In code, groff turns a bare - into a hyphen and a bare ' into a closing
# quote, and copied code no longer compiles: examples spell \- and \(aq.
awk '/^\.EX/ { ex = 1; next } /^\.EE/ { ex = 0 }
	ex && (/(^|[^\\])-/ || /\047/) { print FILENAME ":" FNR ": " $0 }' \
	"$man"/*.[37] >"$tmp/bare"
if [ -s "$tmp/bare" ]; then
	fail "a bare - or ' in an .EX block (write \\- or \\(aq):"
	sed 's/^/    /' "$tmp/bare"
fi

# Layout: aliases are one line naming a real page whose NAME lists the
# alias; full pages have the sections of the manual, in order.
sections='NAME SYNOPSIS DESCRIPTION RETURN_VALUE ERRORS NOTES EXAMPLES SEE_ALSO'
for page in "$man"/*.3 "$man"/*.7; do
	base=$(basename "$page")
	name=${base%.*}
	sect=${base##*.}
	if is_alias "$page"; then
		target=$(sed -n '1s/^\.so man3\/\([a-z0-9_]*\.3\)$/\1/p' "$page")
		if [ "$(wc -l <"$page")" -ne 1 ] || [ -z "$target" ]; then
			fail "$base: an alias is the single line .so man3/<page>.3"
		elif [ ! -f "$man/$target" ] || is_alias "$man/$target"; then
			fail "$base: $target is not a full page"
		elif ! sed -n '/^\.SH NAME/,/\\-/p' "$man/$target" |
			grep -qE "(^|[ ,])$name(,|\$| )"; then
			fail "$base: NAME of $target does not list $name"
		fi
		continue
	fi
	upper=$(echo "$name" | tr '[:lower:]' '[:upper:]')
	grep -qE "^\.TH $upper $sect [0-9]{4}-[0-9]{2}-[0-9]{2} \"libctx-[0-9.]+\" \"libctx Manual\"\$" "$page" ||
		fail "$base: .TH is not '.TH $upper $sect DATE \"libctx-X.Y\" \"libctx Manual\"'"
	[ "$sect" = 3 ] || continue
	got=$(sed -n 's/^\.SH //p' "$page" | tr -d '"' | tr ' ' _ | tr '\n' ' ')
	[ "$got" = "$sections " ] ||
		fail "$base: sections are '$got', want '$sections'"
	grep -qE '^\.B #include <ctx(_[a-z]+)?\.h>$' "$page" ||
		fail "$base: SYNOPSIS lacks #include <ctx.h> (or <ctx_*.h>)"
	grep -qE '^Link with \\fI\\-lctx( \\-l[a-z0-9]+)*\\fP\.$' "$page" ||
		fail "$base: SYNOPSIS lacks 'Link with \\fI\\-lctx\\fP.'"
done

echo "check-manpages: $(wc -l <"$tmp/api") functions, $(ls "$man"/*.[37] | wc -l) pages, $failed failure(s)"
[ "$failed" -eq 0 ]
