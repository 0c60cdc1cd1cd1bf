# stress: standalone pthread stress programs (TSan builds run these).
#
# Plain pthread programs printing TAP themselves, no Criterion (which crashes
# at start-up under ThreadSanitizer): they run in every build, including
# --enable-sanitizer=thread, where CTX_TEST_SCALE divides their iterations.
stress_programs = \
	tests/stress-tree \
	tests/stress-deadline \
	tests/stress-after \
	tests/stress-fd \
	tests/stress-signals
check_PROGRAMS += $(stress_programs)
TESTS += $(stress_programs)

tests_stress_tree_SOURCES = tests/stress-tree.c tests/stress.h
tests_stress_tree_CFLAGS = $(AM_CFLAGS) -pthread
tests_stress_tree_LDADD = libctx.la
tests_stress_tree_LDFLAGS = $(AM_LDFLAGS) -pthread

tests_stress_deadline_SOURCES = tests/stress-deadline.c tests/stress.h
tests_stress_deadline_CFLAGS = $(AM_CFLAGS) -pthread
tests_stress_deadline_LDADD = libctx.la
tests_stress_deadline_LDFLAGS = $(AM_LDFLAGS) -pthread

tests_stress_after_SOURCES = tests/stress-after.c tests/stress.h
tests_stress_after_CFLAGS = $(AM_CFLAGS) -pthread
tests_stress_after_LDADD = libctx.la
tests_stress_after_LDFLAGS = $(AM_LDFLAGS) -pthread

tests_stress_fd_SOURCES = tests/stress-fd.c tests/stress.h
tests_stress_fd_CFLAGS = $(AM_CFLAGS) -pthread
tests_stress_fd_LDADD = libctx.la
tests_stress_fd_LDFLAGS = $(AM_LDFLAGS) -pthread

tests_stress_signals_SOURCES = tests/stress-signals.c tests/stress.h tests/blocker.h
tests_stress_signals_CFLAGS = $(AM_CFLAGS) -pthread
tests_stress_signals_LDADD = libctx.la
tests_stress_signals_LDFLAGS = $(AM_LDFLAGS) -pthread
