# clients: <ctx_pq.h> (libpq) and <ctx_curl.h> (libcurl), header-only
# helpers that bind a PostgreSQL command or an HTTP transfer to a context.
#
# libctx itself never links libpq or libcurl: the programs below that
# include the headers link them themselves. Their tests are standalone TAP
# programs (tests/stress.h), so they can run under ThreadSanitizer too.
include_HEADERS += include/ctx_pq.h include/ctx_curl.h
EXTRA_DIST += tests/with-pg.sh

if HAVE_LIBPQ
# test-pq runs itself under tests/with-pg.sh: one PostgreSQL server
# (initdb + start, about 2 s) for all its cases, stopped and removed at the
# end even when the program crashes.
check_PROGRAMS += tests/test-pq
TESTS += tests/test-pq
tests_test_pq_SOURCES = tests/test-pq.c tests/stress.h
tests_test_pq_CPPFLAGS = $(AM_CPPFLAGS) -DCTX_TOP_SRCDIR='"$(abs_top_srcdir)"'
tests_test_pq_CFLAGS = $(AM_CFLAGS) $(LIBPQ_CFLAGS) -pthread
tests_test_pq_LDADD = libctx.la $(LIBPQ_LIBS) -lpthread
endif

if HAVE_LIBCURL
# test-curl serves HTTP itself (tests/http-slow.h, a thread on 127.0.0.1).
check_PROGRAMS += tests/test-curl
TESTS += tests/test-curl
tests_test_curl_SOURCES = tests/test-curl.c tests/http-slow.h tests/stress.h
tests_test_curl_CFLAGS = $(AM_CFLAGS) $(LIBCURL_CFLAGS) -pthread
tests_test_curl_LDADD = libctx.la $(LIBCURL_LIBS) -lpthread
endif

dist_man_MANS += \
	man/ctx_pq_exec.3 \
	man/ctx_pq_get_result.3 \
	man/ctx_pq_cancel_start.3 \
	man/ctx_pq_cancel_end.3 \
	man/ctx_curl_perform.3

# The examples: a query and a transfer that a deadline or ^C ends.
if HAVE_LIBPQ
noinst_PROGRAMS += examples/pq-query
examples_pq_query_CFLAGS = $(AM_CFLAGS) $(LIBPQ_CFLAGS) -pthread
examples_pq_query_LDADD = libctx.la $(LIBPQ_LIBS) -lpthread
endif
if HAVE_LIBCURL
noinst_PROGRAMS += examples/curl-fetch
examples_curl_fetch_CFLAGS = $(AM_CFLAGS) $(LIBCURL_CFLAGS)
examples_curl_fetch_LDADD = libctx.la $(LIBCURL_LIBS)
endif

# Time from ctx_cancel() to the work stopped, median of 20 rounds:
# `make bench-clients` (not part of `make check`).
if HAVE_LIBPQ
noinst_PROGRAMS += bench/pq-cancel
bench_pq_cancel_CFLAGS = $(AM_CFLAGS) $(LIBPQ_CFLAGS) -pthread
bench_pq_cancel_LDADD = libctx.la $(LIBPQ_LIBS) -lpthread
endif
if HAVE_LIBCURL
noinst_PROGRAMS += bench/curl-cancel
bench_curl_cancel_SOURCES = bench/curl-cancel.c tests/http-slow.h
bench_curl_cancel_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
bench_curl_cancel_CFLAGS = $(AM_CFLAGS) $(LIBCURL_CFLAGS) -pthread
bench_curl_cancel_LDADD = libctx.la $(LIBCURL_LIBS) -lpthread
endif
.PHONY: bench-clients
bench-clients: $(noinst_PROGRAMS)
if HAVE_LIBPQ
	$(SHELL) $(top_srcdir)/tests/with-pg.sh bench/pq-cancel
endif
if HAVE_LIBCURL
	bench/curl-cancel
endif
