# Criterion suites of the core contract, one program per area, and the
# exported-symbol check. Criterion 2.4.1 crashes at start-up under
# ThreadSanitizer, so TSan builds leave the Criterion programs out (the
# standalone stress programs cover the races there).
core_tests = \
	tests/test-roots \
	tests/test-cancel \
	tests/test-deadline \
	tests/test-value \
	tests/test-fd \
	tests/test-source \
	tests/test-wait \
	tests/test-after \
	tests/test-describe \
	tests/test-race \
	tests/test-args

EXTRA_DIST += tests/common.h tests/check-symbols.sh

if HAVE_CRITERION
if !SANITIZE_THREAD
check_PROGRAMS += $(core_tests)
TESTS += $(core_tests)
endif
endif

TESTS += tests/check-symbols.sh

core_test_cflags = $(AM_CFLAGS) $(CRITERION_CFLAGS) -pthread
core_test_ldadd = libctx.la $(CRITERION_LIBS) -lpthread

tests_test_roots_SOURCES = tests/test-roots.c tests/common.h
tests_test_roots_CFLAGS = $(core_test_cflags)
tests_test_roots_LDADD = $(core_test_ldadd)
tests_test_cancel_SOURCES = tests/test-cancel.c tests/common.h
tests_test_cancel_CFLAGS = $(core_test_cflags)
tests_test_cancel_LDADD = $(core_test_ldadd)
tests_test_deadline_SOURCES = tests/test-deadline.c tests/common.h
tests_test_deadline_CFLAGS = $(core_test_cflags)
tests_test_deadline_LDADD = $(core_test_ldadd)
tests_test_value_SOURCES = tests/test-value.c tests/common.h
tests_test_value_CFLAGS = $(core_test_cflags)
tests_test_value_LDADD = $(core_test_ldadd)
tests_test_fd_SOURCES = tests/test-fd.c tests/common.h
tests_test_fd_CFLAGS = $(core_test_cflags)
tests_test_fd_LDADD = $(core_test_ldadd)
tests_test_source_SOURCES = tests/test-source.c tests/common.h
tests_test_source_CFLAGS = $(core_test_cflags)
tests_test_source_LDADD = $(core_test_ldadd)
tests_test_wait_SOURCES = tests/test-wait.c tests/common.h
tests_test_wait_CFLAGS = $(core_test_cflags)
tests_test_wait_LDADD = $(core_test_ldadd)
tests_test_after_SOURCES = tests/test-after.c tests/common.h
tests_test_after_CFLAGS = $(core_test_cflags)
tests_test_after_LDADD = $(core_test_ldadd)
tests_test_describe_SOURCES = tests/test-describe.c tests/common.h
tests_test_describe_CFLAGS = $(core_test_cflags)
tests_test_describe_LDADD = $(core_test_ldadd)
tests_test_race_SOURCES = tests/test-race.c tests/common.h
tests_test_race_CFLAGS = $(core_test_cflags)
tests_test_race_LDADD = $(core_test_ldadd)
tests_test_args_SOURCES = tests/test-args.c tests/common.h
tests_test_args_CFLAGS = $(core_test_cflags)
tests_test_args_LDADD = $(core_test_ldadd)
