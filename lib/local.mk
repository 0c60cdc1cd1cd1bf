# The library. Versioning follows libtool's rules for -version-info C:R:A:
#  - source changed, interface unchanged: R++;
#  - interfaces added: C++, R=0, A++;
#  - interfaces removed or changed: C++, R=0, A=0 (and a new LIBCTX_x.y node).
# 1:0:1 is 1.1, which added the LIBCTX_1.1 node.
include_HEADERS += include/ctx.h
lib_LTLIBRARIES += libctx.la
libctx_la_SOURCES = \
	lib/internal.h \
	lib/lock.h \
	lib/tree.c \
	lib/cancel.c \
	lib/timer.c \
	lib/fd.c \
	lib/value.c \
	lib/wait.c \
	lib/after.c \
	lib/deadline.c \
	lib/lock.c \
	lib/signals.c \
	lib/describe.c \
	lib/fork.c \
	lib/any.c \
	lib/kinds.c \
	lib/timeout_header.h \
	lib/timeout_header.c
# Calls between exported functions stay direct calls, not through the PLT.
libctx_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden -fno-semantic-interposition -pthread
# -z nodelete: dlclose() never unmaps the library, whose thread and signal
# handler would otherwise return into unmapped code (tests/test-dlclose.c).
libctx_la_LDFLAGS = -version-info 1:0:1 \
	-Wl,--version-script=$(srcdir)/lib/libctx.map $(ZDEFS_LDFLAGS) -pthread \
	-Wl,-z,nodelete
EXTRA_libctx_la_DEPENDENCIES = lib/libctx.map
EXTRA_DIST += lib/libctx.map
