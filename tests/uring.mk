# uring: rules added by the uring work.
#
# <ctx_uring.h> is header-only: libctx itself never links liburing; the
# programs below that include the header link it themselves.
include_HEADERS += include/ctx_uring.h
dist_man_MANS += \
	man/ctx_uring_arm.3 \
	man/ctx_uring_disarm.3 \
	man/ctx_uring_deadline.3 \
	man/ctx_uring_wait_cqe.3 \
	man/ctx_uring_is_internal.3 \
	man/ctx_uring_probe.3

if HAVE_LIBURING
noinst_PROGRAMS += examples/uring-cat bench/uring-cancel
examples_uring_cat_CFLAGS = $(AM_CFLAGS) $(LIBURING_CFLAGS)
examples_uring_cat_LDADD = libctx.la $(LIBURING_LIBS)
bench_uring_cancel_CFLAGS = $(AM_CFLAGS) $(LIBURING_CFLAGS) -pthread
bench_uring_cancel_LDADD = libctx.la $(LIBURING_LIBS) -lpthread

if HAVE_CRITERION
check_PROGRAMS += tests/test-uring
tests_test_uring_CFLAGS = $(AM_CFLAGS) $(LIBURING_CFLAGS) $(CRITERION_CFLAGS) -pthread
tests_test_uring_LDADD = libctx.la $(LIBURING_LIBS) $(CRITERION_LIBS) -lpthread
# Criterion crashes at start-up under ThreadSanitizer.
if !SANITIZE_THREAD
TESTS += tests/test-uring
endif
endif
endif
