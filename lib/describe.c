/* SPDX-License-Identifier: MIT */
/* ctx_describe: the chain from the root, as Go's String() prints it. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* "+1.5s": the time left, in seconds, to the millisecond. */
static int format_remaining(char *buf, size_t len, int64_t left)
{
	uint64_t abs = left < 0 ? -(uint64_t)left : (uint64_t)left;
	char frac[8];
	int n;

	n = snprintf(frac, sizeof(frac), "%03llu",
		     (unsigned long long)(abs % NS_PER_SEC / 1000000));
	while (n > 0 && frac[n - 1] == '0')
		frac[--n] = '\0';
	return snprintf(buf, len, "with_deadline(%c%llu%s%ss)", left < 0 ? '-' : '+',
			(unsigned long long)(abs / NS_PER_SEC), n ? "." : "", frac);
}

static int link_name(const struct ctx *c, int64_t now, char *buf, size_t len)
{
	switch (c->kind) {
	case CTX_ROOT:
		return snprintf(buf, len, "%s", c == ctx_background() ? "background" : "todo");
	case CTX_CANCEL:
		return snprintf(buf, len, "with_cancel");
	case CTX_DEADLINE:
		return format_remaining(buf, len, as_deadline(c)->deadline_ns - now);
	case CTX_FD_SOURCE:
		return snprintf(buf, len, "with_fd(%d)", as_source(c)->user_fd);
	case CTX_SIGNALS:
		return snprintf(buf, len, "with_signals");
	case CTX_WITHOUT_CANCEL:
		return snprintf(buf, len, "without_cancel");
	case CTX_VALUE:
		return snprintf(buf, len, "with_value(%p)", c->val.key);
	}
	return 0;
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
