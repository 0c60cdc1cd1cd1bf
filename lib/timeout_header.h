/* SPDX-License-Identifier: MIT */
/*
 * The pure codec of gRPC's grpc-timeout value (timeout_header.c), apart from
 * internal.h so that tests and the fuzzer, linked with the library's
 * sources, can check the unit ladder exactly, without a clock.
 */
#ifndef CTX_TIMEOUT_HEADER_H
#define CTX_TIMEOUT_HEADER_H

#include <stddef.h>
#include <stdint.h>

/* 8 digits, the unit and the NUL. */
#define CTX__GRPC_TIMEOUT_MAX 10

/*
 * Writes ns as TimeoutValue TimeoutUnit, NUL terminated, in the first unit
 * of n u m S M H whose value rounded up fits in 8 digits; returns its
 * length. Any uint64_t fits in hours; 0 is "0n".
 */
size_t ctx__grpc_timeout_format(uint64_t ns, char out[CTX__GRPC_TIMEOUT_MAX]);

/*
 * Parses exactly len bytes (no NUL needed) of 1 to 8 ASCII digits and a
 * unit into *ns, clamped to INT64_MAX (99999999H is about 11,400 years);
 * anything else is -EINVAL and leaves *ns alone.
 */
int ctx__grpc_timeout_parse(const char *value, size_t len, uint64_t *ns);

#endif
