# hardening: fault injection, fork safety, soak, valgrind and the fuzzer's smoke run.

# Fault injection: the library's sources linked in with --wrap on every
# allocation and descriptor-creating call (see tests/fault-inject.c).
FAULT_WRAP = -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free \
	-Wl,--wrap=eventfd,--wrap=timerfd_create,--wrap=epoll_create1 \
	-Wl,--wrap=epoll_ctl,--wrap=fcntl,--wrap=pipe2,--wrap=pthread_create
check_PROGRAMS += tests/fault-inject
tests_fault_inject_SOURCES = tests/fault-inject.c $(libctx_la_SOURCES)
tests_fault_inject_CFLAGS = $(AM_CFLAGS) -pthread
tests_fault_inject_LDFLAGS = $(AM_LDFLAGS) -pthread $(FAULT_WRAP)
TESTS += tests/fault-inject

# fork while the never-ready fd's lock is held (eventfd wrapped to hold it).
check_PROGRAMS += tests/fork-never-fd
tests_fork_never_fd_SOURCES = tests/fork-never-fd.c tests/stress.h $(libctx_la_SOURCES)
tests_fork_never_fd_CFLAGS = $(AM_CFLAGS) -pthread
tests_fork_never_fd_LDFLAGS = $(AM_LDFLAGS) -pthread -Wl,--wrap=eventfd
TESTS += tests/fork-never-fd

# fork safety (Criterion crashes at start-up under TSan).
if HAVE_CRITERION
if !SANITIZE_THREAD
check_PROGRAMS += tests/test-fork
tests_test_fork_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS) -pthread
tests_test_fork_LDADD = libctx.la $(CRITERION_LIBS) -lpthread
TESTS += tests/test-fork
endif
endif
EXTRA_DIST += tests/forking.h tests/blocker.h

# Soak: threads x contexts for CTX_SOAK_SECONDS (default 5), in every build.
check_PROGRAMS += tests/soak-contexts
tests_soak_contexts_CFLAGS = $(AM_CFLAGS) -pthread
tests_soak_contexts_LDADD = libctx.la -lpthread
TESTS += tests/soak-contexts

# Resource bounds: a million children under one parent, a million live
# deadlines under RLIMIT_NOFILE 1024 (divided by CTX_TEST_SCALE).
check_PROGRAMS += tests/soak-limits
tests_soak_limits_LDADD = libctx.la
TESTS += tests/soak-limits

# dlclose: a plugin host that dlopen()s libctx (not linked with it), starts
# the library thread and the signal handler, dlclose()s it and lives on
# (libctx is linked with -z nodelete). Standalone TAP, in every build.
check_PROGRAMS += tests/test-dlclose
tests_test_dlclose_LDADD = -ldl
EXTRA_tests_test_dlclose_DEPENDENCIES = libctx.la
TESTS += tests/test-dlclose

# valgrind memcheck over the standalone programs, and the fuzzer's smoke run
# (both skip where they cannot run).
TESTS += tests/valgrind-check.sh tests/fuzz-smoke.sh
EXTRA_DIST += tests/valgrind-check.sh tests/fuzz-smoke.sh tests/README.md \
	fuzz/run.sh fuzz/fuzz-ctx.c fuzz/README.md fuzz/corpus
CLEANFILES += tests/*.valgrind.log tests/*.valgrind.log.out
clean-local: clean-fuzz
clean-fuzz:
	-rm -rf fuzz-out
.PHONY: clean-fuzz

# `make fuzz [FUZZ_SECONDS=n]`: the fuzzer on its own (clang + libFuzzer).
FUZZ_SECONDS = 60
fuzz:
	FUZZ_OUT=$(abs_top_builddir)/fuzz-out $(top_srcdir)/fuzz/run.sh $(FUZZ_SECONDS)
.PHONY: fuzz

# The wall clock set (TFD_TIMER_CANCEL_ON_SET's ECANCELED), through --wrap.
check_PROGRAMS += tests/clock-set
tests_clock_set_SOURCES = tests/clock-set.c tests/stress.h $(libctx_la_SOURCES)
tests_clock_set_CFLAGS = $(AM_CFLAGS) -pthread
tests_clock_set_LDFLAGS = $(AM_LDFLAGS) -pthread \
	-Wl,--wrap=timerfd_create,--wrap=read,--wrap=clock_gettime
TESTS += tests/clock-set
