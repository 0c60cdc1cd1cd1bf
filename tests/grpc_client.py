# SPDX-License-Identifier: MIT
"""A real gRPC client (Debian's python3-grpcio) for examples/grpc-peer's server.

  grpc_client.py [--hold] PORT METHOD TIMEOUT_S [BUDGET_MS] [COUNT]

Calls /libctx.Test/METHOD on 127.0.0.1:PORT COUNT times (default 1), one
after the other, each with timeout=TIMEOUT_S and, when BUDGET_MS is not 0,
the metadata libctx-budget-ms (the server's own, shorter budget). A first
Echo call without a deadline opens the connection, so that no call's
deadline pays for it. Prints one line per call, with CLOCK_MONOTONIC
nanoseconds (time.monotonic_ns()):

  code=NAME t0_ns=T0 end_ns=END

t0_ns is read just before the call, end_ns as soon as it returns or fails.
With --hold, the connection stays open until standard input closes: a
client that hangs up cancels the server's calls (the server watches the
socket), which must not overtake the server's own copy of the deadline
when that is what a test looks at.
Run with /usr/bin/python3 (Debian's python, which has grpcio).
"""
import sys
import time

import grpc


def main():
    args = sys.argv[1:]
    hold = args[:1] == ["--hold"]
    if hold:
        args = args[1:]
    port, method, timeout = args[0], args[1], float(args[2])
    budget = int(args[3]) if len(args) > 3 else 0
    count = int(args[4]) if len(args) > 4 else 1
    metadata = (("libctx-budget-ms", str(budget)),) if budget else None
    # A proxy from the environment must not see loopback calls.
    with grpc.insecure_channel("127.0.0.1:" + port,
                               options=[("grpc.enable_http_proxy", 0)]) as channel:
        channel.unary_unary("/libctx.Test/Echo")(b"warm-up", wait_for_ready=True, timeout=30)
        call = channel.unary_unary("/libctx.Test/" + method)
        for _ in range(count):
            t0 = time.monotonic_ns()
            try:
                call(b"hello", timeout=timeout, metadata=metadata)
                code = grpc.StatusCode.OK
            except grpc.RpcError as e:
                code = e.code()
            end = time.monotonic_ns()
            print("code=%s t0_ns=%d end_ns=%d" % (code.name, t0, end), flush=True)
        if hold:
            sys.stdin.read()


if __name__ == "__main__":
    main()
