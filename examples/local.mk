# examples: short programs showing libctx at work (built by make, not
# installed), the scripted demo, its test, ctx_with_signals' tests and page.
EXAMPLE_PROGS = \
	examples/workers \
	examples/server \
	examples/load \
	examples/supervise \
	examples/cross-process
noinst_PROGRAMS += $(EXAMPLE_PROGS)
EXAMPLE_CFLAGS = $(AM_CFLAGS) -pthread
EXAMPLE_LDADD = libctx.la -lpthread

examples_workers_SOURCES = examples/workers.c
examples_workers_CFLAGS = $(EXAMPLE_CFLAGS)
examples_workers_LDADD = $(EXAMPLE_LDADD)
examples_server_SOURCES = examples/server.c
examples_server_CFLAGS = $(EXAMPLE_CFLAGS)
examples_server_LDADD = $(EXAMPLE_LDADD)
examples_load_SOURCES = examples/load.c
examples_load_CFLAGS = $(EXAMPLE_CFLAGS)
examples_load_LDADD = $(EXAMPLE_LDADD)
examples_supervise_SOURCES = examples/supervise.c
examples_supervise_CFLAGS = $(EXAMPLE_CFLAGS)
examples_supervise_LDADD = $(EXAMPLE_LDADD)
examples_cross_process_SOURCES = examples/cross-process.c
examples_cross_process_CFLAGS = $(EXAMPLE_CFLAGS)
examples_cross_process_LDADD = $(EXAMPLE_LDADD)

# The scripted demo, and the test that runs it (with supervise and cross-process).
EXTRA_DIST += examples/demo.sh tests/test-demo.sh
TESTS += tests/test-demo.sh

# ctx_with_signals: its tests (Criterion crashes under ThreadSanitizer) and page.
if HAVE_CRITERION
if !SANITIZE_THREAD
check_PROGRAMS += tests/test-signals
TESTS += tests/test-signals
endif
endif
tests_test_signals_SOURCES = tests/test-signals.c
tests_test_signals_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
tests_test_signals_LDADD = libctx.la $(CRITERION_LIBS)
