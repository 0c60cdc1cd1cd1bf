# v11: tests of the 1.1 additions (merging, deadlines on another clock,
# deadlines found in O(1) at depth), written from the contract.
#
# Criterion suites stay out of TSan builds (Criterion 2.4.1 crashes at
# start-up under ThreadSanitizer, see tests/local.mk); the standalone TAP
# programs run in every build, CTX_TEST_SCALE dividing their sizes.
v11_criterion_tests = \
	tests/test-any \
	tests/test-deadline-clock \
	tests/test-deep

if HAVE_CRITERION
if !SANITIZE_THREAD
check_PROGRAMS += $(v11_criterion_tests)
TESTS += $(v11_criterion_tests)
endif
endif

tests_test_any_SOURCES = tests/test-any.c tests/common.h tests/forking.h
tests_test_any_CFLAGS = $(core_test_cflags)
tests_test_any_LDADD = $(core_test_ldadd)
tests_test_deadline_clock_SOURCES = tests/test-deadline-clock.c tests/common.h tests/forking.h
tests_test_deadline_clock_CFLAGS = $(core_test_cflags)
tests_test_deadline_clock_LDADD = $(core_test_ldadd)
tests_test_deep_SOURCES = tests/test-deep.c tests/common.h
tests_test_deep_CFLAGS = $(core_test_cflags)
tests_test_deep_LDADD = $(core_test_ldadd)

# Merged contexts under concurrent cancels, unrefs and frees; a long-lived
# parent through millions of merge/free cycles (RSS stays flat).
v11_standalone_tests = \
	tests/stress-any \
	tests/soak-any
check_PROGRAMS += $(v11_standalone_tests)
TESTS += $(v11_standalone_tests)

tests_stress_any_SOURCES = tests/stress-any.c tests/stress.h
tests_stress_any_CFLAGS = $(AM_CFLAGS) -pthread
tests_stress_any_LDADD = libctx.la
tests_stress_any_LDFLAGS = $(AM_LDFLAGS) -pthread

tests_soak_any_SOURCES = tests/soak-any.c tests/stress.h
tests_soak_any_CFLAGS = $(AM_CFLAGS) -pthread
tests_soak_any_LDADD = libctx.la
tests_soak_any_LDFLAGS = $(AM_LDFLAGS) -pthread
