#!/bin/sh
# SPDX-License-Identifier: MIT
# The differential fuzzer's bounded run for `make check`: builds it with
# clang and libFuzzer (ASan+UBSan of its own), replays fuzz/corpus and
# fuzzes for FUZZ_SMOKE_SECONDS (default 30). Skips (77) without clang or
# libFuzzer, and in sanitizer builds: the fuzzer does not depend on the
# configured build, so the plain build runs it once.
set -u

top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
if "$top_builddir/libtool" --mode=execute ldd "$top_builddir/tests/soak-contexts" \
	2>/dev/null | grep -q 'lib[at]san'; then
	echo "sanitizer build: the fuzzer runs in the plain build"
	exit 77
fi
FUZZ_OUT="$top_builddir/fuzz-out"
export FUZZ_OUT
exec "$top_srcdir/fuzz/run.sh" "${FUZZ_SMOKE_SECONDS:-30}"
