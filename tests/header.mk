# Deadlines over the wire (ctx_timeout_header, ctx_with_timeout_header): a
# Criterion suite linked with the library's sources, like fault-inject, so it
# checks the pure grpc-timeout codec of lib/timeout_header.h exactly as well
# as the public functions. Criterion crashes under TSan: not in TSan builds
# (the two functions hold no state of their own to race on).
if HAVE_CRITERION
if !SANITIZE_THREAD
check_PROGRAMS += tests/test-timeout-header
TESTS += tests/test-timeout-header
endif
endif
tests_test_timeout_header_SOURCES = tests/test-timeout-header.c tests/common.h \
	$(libctx_la_SOURCES)
tests_test_timeout_header_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS) -I$(top_srcdir)/lib -pthread
tests_test_timeout_header_LDADD = $(CRITERION_LIBS) -lpthread
