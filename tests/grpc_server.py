# SPDX-License-Identifier: MIT
"""A real gRPC server (Debian's python3-grpcio) for examples/grpc-peer's client.

Prints "listening 127.0.0.1:PORT", then serves on the loopback until it
gets SIGTERM (the test's cleanup), or for 300 s at most, so that it never
outlives a test that could not stop it. Generic handlers with bytes in and
out, so no protoc is needed. Methods of service libctx.Test:

  Remaining  answers "NOW_NS REMAINING": time.monotonic_ns() (CLOCK_MONOTONIC,
             the clock of libctx's deadlines) and context.time_remaining(),
             the deadline grpcio took from the grpc-timeout header.
  Sleep      waits until the call is over (its deadline, or the client's
             reset), at most 10 s, prints "sleep ended active=... done_ns=...",
             and answers "slept".

Run with /usr/bin/python3 (Debian's python, which has grpcio).
"""
import threading
import time
from concurrent import futures

import grpc


def remaining(request, context):
    now = time.monotonic_ns()
    left = context.time_remaining()
    return ("%d %r" % (now, left)).encode()


def sleep(request, context):
    over = threading.Event()
    context.add_callback(over.set)
    over.wait(10)
    print("sleep ended active=%s done_ns=%d" % (context.is_active(), time.monotonic_ns()),
          flush=True)
    return b"slept"


def main():
    handler = grpc.method_handlers_generic_handler("libctx.Test", {
        "Remaining": grpc.unary_unary_rpc_method_handler(remaining),
        "Sleep": grpc.unary_unary_rpc_method_handler(sleep),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("listening 127.0.0.1:%d" % port, flush=True)
    server.wait_for_termination(timeout=300)
    server.stop(0).wait()


if __name__ == "__main__":
    main()
