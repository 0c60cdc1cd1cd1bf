/* SPDX-License-Identifier: MIT */
/* ctx_describe: the chain from the root, as Go's String() prints it. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static int link_name(const struct ctx *c, int64_t now, char *buf, size_t len)
{
	return ctx__ops(c)->describe(c, now, buf, len);
}

/*
 * Two walks up the chain, no recursion: the first measures, the second
 * writes each link at its place counted from the end, clipped to len.
 */
CTX_EXPORT int ctx_describe(const ctx_t *ctx, char *buf, size_t len)
{
	const struct ctx *c;
	size_t total = 0, end;
	int64_t now;
	char name[64];

	ctx_assert_return(ctx, -EINVAL);
	if (!buf)
		len = 0;
	now = ctx__now_ns();
	for (c = ctx; c; c = c->parent)
		total += (size_t)link_name(c, now, name, sizeof(name)) + (c->parent ? 1 : 0);
	if (total > INT_MAX)
		return -EOVERFLOW;

	end = total;
	for (c = ctx; c; c = c->parent) {
		size_t n = (size_t)link_name(c, now, name, sizeof(name));
		size_t start = end - n;

		for (size_t i = start; i < end && i + 1 < len; i++)
			buf[i] = name[i - start];
		if (c->parent && --start + 1 < len)
			buf[start] = '.';
		end = start;
	}
	if (len)
		buf[total < len ? total : len - 1] = '\0';
	return (int)total;
}
