# loops: libctx inside other event loops (libuv, libevent, GLib, sd-event).
# No loop is a dependency of libctx itself. The tests are built whether or
# not a loop's package is installed: without it they report a visible skip.

LOOP_TESTS = \
	tests/test-loop-uv \
	tests/test-loop-event \
	tests/test-loop-glib \
	tests/test-loop-sd-event

if HAVE_CRITERION
# Criterion crashes at start-up under ThreadSanitizer.
if !SANITIZE_THREAD
check_PROGRAMS += $(LOOP_TESTS)
TESTS += $(LOOP_TESTS)
endif
endif

EXTRA_DIST += tests/loop-common.h

tests_test_loop_uv_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS) $(LIBUV_CFLAGS)
tests_test_loop_uv_LDADD = libctx.la $(CRITERION_LIBS) $(LIBUV_LIBS) -lpthread
tests_test_loop_event_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS) $(LIBEVENT_CFLAGS)
tests_test_loop_event_LDADD = libctx.la $(CRITERION_LIBS) $(LIBEVENT_LIBS) -lpthread
tests_test_loop_glib_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS) $(GLIB_CFLAGS)
tests_test_loop_glib_LDADD = libctx.la $(CRITERION_LIBS) $(GLIB_LIBS) -lpthread
tests_test_loop_sd_event_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS) $(LIBSYSTEMD_CFLAGS)
tests_test_loop_sd_event_LDADD = libctx.la $(CRITERION_LIBS) $(LIBSYSTEMD_LIBS) -lpthread

# Each test compiles to a skip when its loop is missing.
if HAVE_LIBUV
tests_test_loop_uv_CPPFLAGS = $(AM_CPPFLAGS) -DHAVE_LIBUV
noinst_PROGRAMS += examples/loop-uv
else
tests_test_loop_uv_CPPFLAGS = $(AM_CPPFLAGS)
endif
if HAVE_LIBEVENT
tests_test_loop_event_CPPFLAGS = $(AM_CPPFLAGS) -DHAVE_LIBEVENT
noinst_PROGRAMS += examples/loop-event
else
tests_test_loop_event_CPPFLAGS = $(AM_CPPFLAGS)
endif
if HAVE_GLIB
tests_test_loop_glib_CPPFLAGS = $(AM_CPPFLAGS) -DHAVE_GLIB
noinst_PROGRAMS += examples/loop-glib
else
tests_test_loop_glib_CPPFLAGS = $(AM_CPPFLAGS)
endif
if HAVE_LIBSYSTEMD
tests_test_loop_sd_event_CPPFLAGS = $(AM_CPPFLAGS) -DHAVE_LIBSYSTEMD
noinst_PROGRAMS += examples/loop-sd-event
else
tests_test_loop_sd_event_CPPFLAGS = $(AM_CPPFLAGS)
endif

examples_loop_uv_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS)
examples_loop_uv_LDADD = libctx.la $(LIBUV_LIBS)
examples_loop_event_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
examples_loop_event_LDADD = libctx.la $(LIBEVENT_LIBS)
examples_loop_glib_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS)
examples_loop_glib_LDADD = libctx.la $(GLIB_LIBS)
examples_loop_sd_event_CFLAGS = $(AM_CFLAGS) $(LIBSYSTEMD_CFLAGS)
examples_loop_sd_event_LDADD = libctx.la $(LIBSYSTEMD_LIBS)
