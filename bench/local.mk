# bench: the three-way benchmark (libctx, Go's context, GLib's GCancellable).
# Not part of `make check`: `make bench` builds and runs it all through
# bench/run, which prints the table and writes bench/results/.
EXTRA_DIST += bench/run bench/report.sh bench/plot.gp bench/rows.md \
	bench/harness.h bench/harness.c bench/bench-libctx.c bench/bench-glib.c \
	bench/bench-floor.c bench/go/go.mod bench/go/harness.go bench/go/main.go \
	bench/count.c

.PHONY: bench
bench: libctx.la
	CTX_BUILD='$(abs_top_builddir)' $(SHELL) $(top_srcdir)/bench/run
