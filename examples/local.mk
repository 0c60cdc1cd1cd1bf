# examples: short programs showing libctx at work (built by make, not
# installed), the scripted demo, its test, ctx_with_signals' tests and page.
EXAMPLE_PROGS = \
	examples/server \
	examples/load \
	examples/supervise \
	examples/cross-process
noinst_PROGRAMS += $(EXAMPLE_PROGS)
EXAMPLE_CFLAGS = $(AM_CFLAGS) -pthread
EXAMPLE_LDADD = libctx.la -lpthread

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
