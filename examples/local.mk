# Examples: built by `make`, not installed.
noinst_PROGRAMS += examples/workers
examples_workers_LDADD = libctx.la
examples_workers_CFLAGS = $(AM_CFLAGS) -pthread
