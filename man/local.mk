# man: the manual. Section 3 has one page per function of <ctx.h>, or one
# per small family with one-line .so aliases for the other names;
# automake installs each page into man3 or man7 by its suffix.
dist_man_MANS += \
	man/libctx.7 \
	man/ctx_after_func.3 \
	man/ctx_after_stop.3 \
	man/ctx_any_index.3 \
	man/ctx_background.3 \
	man/ctx_cancel.3 \
	man/ctx_cancel_cause.3 \
	man/ctx_cause.3 \
	man/ctx_deadline.3 \
	man/ctx_describe.3 \
	man/ctx_err.3 \
	man/ctx_fd.3 \
	man/ctx_poll.3 \
	man/ctx_ref.3 \
	man/ctx_sleep.3 \
	man/ctx_timeout_header.3 \
	man/ctx_timeout_ms.3 \
	man/ctx_todo.3 \
	man/ctx_unref.3 \
	man/ctx_unrefp.3 \
	man/ctx_value.3 \
	man/ctx_wait.3 \
	man/ctx_with_any.3 \
	man/ctx_with_cancel.3 \
	man/ctx_with_deadline.3 \
	man/ctx_with_deadline_cause.3 \
	man/ctx_with_deadline_clock.3 \
	man/ctx_with_fd.3 \
	man/ctx_with_signals.3 \
	man/ctx_with_timeout.3 \
	man/ctx_with_timeout_cause.3 \
	man/ctx_with_timeout_header.3 \
	man/ctx_with_value.3 \
	man/ctx_without_cancel.3

# The pages lint clean and cover every exported or declared function; the
# program in each page's EXAMPLES compiles against libctx.la and runs.
TESTS += man/check-manpages.sh man/check-examples.sh
EXTRA_DIST += man/check-manpages.sh man/check-examples.sh

# check-examples.sh builds with the compiler and flags of this tree, and
# builds the examples of pages that link -luring only when it can.
if HAVE_LIBURING
man_have_liburing = yes
else
man_have_liburing = no
endif
if HAVE_LIBPQ
man_have_libpq = yes
else
man_have_libpq = no
endif
if HAVE_LIBCURL
man_have_libcurl = yes
else
man_have_libcurl = no
endif
man/examples.env: Makefile
	$(AM_V_GEN)$(MKDIR_P) man && { \
	  echo "CC='$(CC)'"; \
	  echo "CFLAGS='$(CFLAGS) $(SAN_CFLAGS)'"; \
	  echo "LDFLAGS='$(LDFLAGS) $(SAN_CFLAGS)'"; \
	  echo "HAVE_LIBURING='$(man_have_liburing)'"; \
	  echo "LIBURING_CFLAGS='$(LIBURING_CFLAGS)'"; \
	  echo "LIBURING_LIBS='$(LIBURING_LIBS)'"; \
	  echo "HAVE_LIBPQ='$(man_have_libpq)'"; \
	  echo "LIBPQ_CFLAGS='$(LIBPQ_CFLAGS)'"; \
	  echo "LIBPQ_LIBS='$(LIBPQ_LIBS)'"; \
	  echo "HAVE_LIBCURL='$(man_have_libcurl)'"; \
	  echo "LIBCURL_CFLAGS='$(LIBCURL_CFLAGS)'"; \
	  echo "LIBCURL_LIBS='$(LIBCURL_LIBS)'"; \
	} >$@
check_SCRIPTS += man/examples.env
CLEANFILES += man/examples.env
