#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds the differential fuzzer (fuzz/fuzz-ctx.c with the library's sources,
# clang -fsanitize=fuzzer,address,undefined) and runs it for a bounded time.
#
#   fuzz/run.sh [seconds] [libFuzzer options...]    default: 60 seconds
#   fuzz/run.sh 0                                   replay the corpus once
#
# Environment: FUZZ_CC (default clang), FUZZ_OUT (build and working corpus,
# default ${TMPDIR:-/tmp}/libctx-fuzz). New inputs go to $FUZZ_OUT/corpus;
# crashes to $FUZZ_OUT/crash-*. Exit status: 0 clean, 77 when clang or
# libFuzzer is missing, anything else a finding.
set -eu

secs=${1:-60}
[ $# -gt 0 ] && shift
top=$(cd "$(dirname "$0")/.." && pwd)
out=${FUZZ_OUT:-${TMPDIR:-/tmp}/libctx-fuzz}
cc=${FUZZ_CC:-clang}
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"

mkdir -p "$out/corpus"
if ! command -v "$cc" >/dev/null 2>&1; then
	echo "fuzz/run.sh: $cc not found" >&2
	exit 77
fi
# libFuzzer ships separately on Debian (libclang-rt-N-dev): probe a link.
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' \
	>"$out/probe.c"
if ! $cc $flags "$out/probe.c" -o "$out/probe" >/dev/null 2>&1; then
	echo "fuzz/run.sh: $cc cannot link libFuzzer (install libclang-rt-dev)" >&2
	exit 77
fi

$cc $flags -std=gnu11 -D_GNU_SOURCE -pthread -I"$top/include" -I"$top/lib" \
	"$top/fuzz/fuzz-ctx.c" "$top"/lib/*.c -o "$out/fuzz-ctx"

# libFuzzer exits 77 on a finding by default, which make check reads as a
# skip: a finding must fail.
set -- -max_len=512 -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 -error_exitcode=1 \
	-artifact_prefix="$out/" "$@"
if [ "$secs" -eq 0 ]; then
	exec "$out/fuzz-ctx" -runs=0 "$@" "$top/fuzz/corpus"
fi
exec "$out/fuzz-ctx" -max_total_time="$secs" "$@" "$out/corpus" "$top/fuzz/corpus"
