# gRPC interop (issue 13): examples/grpc-peer speaks just enough gRPC on
# libnghttp2 to exchange deadlines (ctx_timeout_header and
# ctx_with_timeout_header) with Debian's python3-grpcio, both ways
# (tests/grpc-interop.sh, tests/grpc_*.py). The test skips, visibly, when
# configure found no libnghttp2 or /usr/bin/python3 has no grpc module;
# scripts/deps.sh installs both.
if HAVE_NGHTTP2
noinst_PROGRAMS += examples/grpc-peer
endif
examples_grpc_peer_SOURCES = examples/grpc-peer.c
examples_grpc_peer_CFLAGS = $(AM_CFLAGS) $(LIBNGHTTP2_CFLAGS) -pthread
examples_grpc_peer_LDADD = libctx.la $(LIBNGHTTP2_LIBS) -lpthread

TESTS += tests/grpc-interop.sh
EXTRA_DIST += tests/grpc-interop.sh tests/grpc_server.py tests/grpc_client.py \
	bench/grpc-deadline.sh
