# ABI guard: the built libctx.so against the committed ABI of the last
# release, abi/libctx.abi (libabigail's abidw output; README.md, "Releasing").
TESTS += tests/check-abi.sh
EXTRA_DIST += tests/check-abi.sh abi/libctx.abi

# `make abi-baseline`, when releasing only: this build's library becomes the
# baseline. Paths are cut down to lib/x.c so that the file does not depend
# on where it was built.
ABIDW_FLAGS = --no-corpus-path --no-comp-dir-path --no-show-locs \
	--drop-private-types --exported-interfaces-only --type-id-style hash
abi-baseline: libctx.la
	@if nm -D .libs/libctx.so | grep -qE '__(a|t|ub)san_'; then \
	  echo "abi-baseline: a sanitizer build; make the baseline in a plain build" >&2; exit 1; fi
	$(AM_V_GEN)abidw $(ABIDW_FLAGS) --headers-dir $(srcdir)/include .libs/libctx.so | \
	  sed "s|path='[^']*/lib/|path='lib/|" >abi-baseline.tmp && \
	  grep -q '<function-decl ' abi-baseline.tmp || { \
	  echo "abi-baseline: no types in the dump: build with -g" >&2; rm -f abi-baseline.tmp; exit 1; } && \
	  mv abi-baseline.tmp $(srcdir)/abi/libctx.abi
.PHONY: abi-baseline
