/* SPDX-License-Identifier: MIT */
/*
 * Deadlines over the wire: gRPC's grpc-timeout value (PROTOCOL-HTTP2,
 * "TimeoutValue TimeoutUnit": at most 8 ASCII digits, then one of
 * n u m S M H), both ways.
 *
 * Only the public API is used: the time left is the deadline reported by
 * ctx_deadline() minus CLOCK_MONOTONIC now, and a parsed value becomes an
 * ordinary timeout child. So this file needs nothing from how the tree
 * finds or stores deadlines.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "timeout_header.h"

#define GRPC_TIMEOUT_MAX_VALUE 99999999u

static const struct {
	uint64_t ns;
	char unit;
} units[] = {
	{ 1, 'n' },
	{ 1000, 'u' },
	{ 1000000, 'm' },
	{ NS_PER_SEC, 'S' },
	{ 60 * NS_PER_SEC, 'M' },
	{ 3600 * NS_PER_SEC, 'H' },
};

#define N_UNITS (sizeof(units) / sizeof(units[0]))

size_t ctx__grpc_timeout_format(uint64_t ns, char out[CTX__GRPC_TIMEOUT_MAX])
{
	uint64_t v = 0;
	size_t i;

	/*
	 * Rounded up, so a deadline sent is never earlier than ours (grpc-go
	 * does the same). UINT64_MAX ns is 5124096H: the last unit always fits.
	 */
	for (i = 0; i < N_UNITS; i++) {
		v = ns / units[i].ns + (ns % units[i].ns != 0);
		if (v <= GRPC_TIMEOUT_MAX_VALUE)
			break;
	}
	return (size_t)snprintf(out, CTX__GRPC_TIMEOUT_MAX, "%llu%c", (unsigned long long)v,
				units[i].unit);
}

int ctx__grpc_timeout_parse(const char *value, size_t len, uint64_t *ns)
{
	uint64_t v = 0, unit = 0;
	size_t i;

	/* 1 to 8 digits and the unit; HTTP/2 values come with a length. */
	if (len < 2 || len > 9)
		return -EINVAL;
	for (i = 0; i < N_UNITS; i++)
		if (value[len - 1] == units[i].unit)
			unit = units[i].ns;
	if (!unit)
		return -EINVAL;
	for (i = 0; i < len - 1; i++) {
		if (value[i] < '0' || value[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(value[i] - '0');
	}
	/* Only hours can overflow an int64_t of ns: 99999999H. Clamp, as grpc-go. */
	*ns = v > (uint64_t)INT64_MAX / unit ? (uint64_t)INT64_MAX : v * unit;
	return 0;
}

static int64_t timespec_ns(const struct timespec *ts)
{
	if (ts->tv_sec >= INT64_MAX / NS_PER_SEC)
		return INT64_MAX;
	return (int64_t)ts->tv_sec * NS_PER_SEC + ts->tv_nsec;
}

CTX_EXPORT int ctx_timeout_header(const ctx_t *ctx, char *buf, size_t len)
{
	char out[CTX__GRPC_TIMEOUT_MAX] = "";
	struct timespec deadline, now;
	int64_t left;
	size_t n = 0;
	int err;

	ctx_assert_return(ctx, -EINVAL);
	ctx_assert_return(buf || !len, -EINVAL);

	err = ctx_err(ctx);
	if (err)
		return err;
	if (ctx_deadline(ctx, &deadline)) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = timespec_ns(&deadline) - timespec_ns(&now);
		/* The library's thread may not have fired it yet: never send "0n". */
		if (left <= 0)
			return -ETIMEDOUT;
		n = ctx__grpc_timeout_format((uint64_t)left, out);
	}
	if (len) {
		size_t k = n < len ? n : len - 1;

		memcpy(buf, out, k);
		buf[k] = '\0';
	}
	return (int)n;
}

CTX_EXPORT int ctx_with_timeout_header(ctx_t *parent, const char *value, size_t len,
				       ctx_t **ret)
{
	static const struct timespec origin = { 0, 0 };
	uint64_t ns;
	ctx_t *c;
	int r;

	ctx_assert_return(parent, -EINVAL);
	ctx_assert_return(value, -EINVAL);
	ctx_assert_return(ret, -EINVAL);

	r = ctx__grpc_timeout_parse(value, len, &ns);
	if (r)
		return r;
	r = ctx_with_timeout_cause(parent, ns, -ETIMEDOUT, &c);
	/*
	 * A timeout of 0 is born done, but a deadline of now is bounded by a
	 * parent whose own deadline has passed without the library's thread
	 * having fired it yet: that child is a live cancel child until then.
	 * Nothing is earlier than the clock's origin.
	 */
	if (!r && !ns && !ctx_err(c)) {
		ctx_unref(c);
		r = ctx_with_deadline_cause(parent, &origin, -ETIMEDOUT, &c);
	}
	if (!r)
		*ret = c;
	return r;
}
