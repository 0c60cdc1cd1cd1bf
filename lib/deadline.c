/* SPDX-License-Identifier: MIT */
/*
 * Deadlines: deriving deadline and timeout contexts, and reading them.
 * Times are int64_t CLOCK_MONOTONIC nanoseconds, saturating at NS_NEVER (a
 * deadline too far away to represent, which never fires).
 */
#include <limits.h>

#include "internal.h"

int64_t ctx__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static int64_t timespec_to_ns(const struct timespec *ts)
{
	if (ts->tv_sec >= NS_NEVER / NS_PER_SEC)
		return NS_NEVER;
	return ts->tv_sec * NS_PER_SEC + ts->tv_nsec;
}

/* now + ns, saturating at NS_NEVER. */
int64_t ctx__ns_from_now(uint64_t ns)
{
	int64_t now = ctx__now_ns();

	if (ns >= (uint64_t)(NS_NEVER - now))
		return NS_NEVER;
	return now + (int64_t)ns;
}

static int with_deadline_ns(struct ctx *parent, int64_t deadline, int cause, struct ctx **ret)
{
	struct ctx *bound = ctx__deadline_of(parent);
	struct ctx *c;
	int64_t now = ctx__now_ns();
	bool passed = deadline <= now;

	/* Go: a parent deadline strictly earlier makes a plain cancel child. */
	if (bound && as_deadline(bound)->deadline_ns < deadline)
		return ctx_with_cancel(parent, ret);

	c = ctx__node_new(parent, CTX_DEADLINE, sizeof(struct ctx_deadline));
	if (!c)
		return -ENOMEM;
	as_deadline(c)->deadline_ns = deadline;
	as_deadline(c)->heap_index = -1;
	as_deadline(c)->cause = cause ? cause : -ETIMEDOUT;
	/* Born done (passed, or under a done parent), it needs no timer. */
	if (passed)
		ctx__set_done(c, -ETIMEDOUT, as_deadline(c)->cause);
	return ctx__publish(c, deadline == NS_NEVER ? NULL : ctx__timer_add, 0, ret);
}

CTX_EXPORT int ctx_with_deadline_cause(ctx_t *parent, const struct timespec *deadline,
				       int cause, ctx_t **ret)
{
	ctx_assert_return(parent, -EINVAL);
	ctx_assert_return(deadline, -EINVAL);
	ctx_assert_return(ret, -EINVAL);
	ctx_assert_return(deadline->tv_sec >= 0, -EINVAL);
	ctx_assert_return(deadline->tv_nsec >= 0 && deadline->tv_nsec < NS_PER_SEC, -EINVAL);

	return with_deadline_ns(parent, timespec_to_ns(deadline), cause, ret);
}

CTX_EXPORT int ctx_with_deadline(ctx_t *parent, const struct timespec *deadline, ctx_t **ret)
{
	return ctx_with_deadline_cause(parent, deadline, 0, ret);
}

CTX_EXPORT int ctx_with_timeout_cause(ctx_t *parent, uint64_t timeout_ns, int cause,
				      ctx_t **ret)
{
	ctx_assert_return(parent, -EINVAL);
	ctx_assert_return(ret, -EINVAL);

	return with_deadline_ns(parent, ctx__ns_from_now(timeout_ns), cause, ret);
}

CTX_EXPORT int ctx_with_timeout(ctx_t *parent, uint64_t timeout_ns, ctx_t **ret)
{
	return ctx_with_timeout_cause(parent, timeout_ns, 0, ret);
}

CTX_EXPORT bool ctx_deadline(const ctx_t *ctx, struct timespec *deadline)
{
	struct ctx *bound;
	int64_t ns;

	if (!ctx || !(bound = ctx__deadline_of(ctx)))
		return false;
	if (deadline) {
		ns = as_deadline(bound)->deadline_ns;
		deadline->tv_sec = ns / NS_PER_SEC;
		deadline->tv_nsec = ns % NS_PER_SEC;
	}
	return true;
}

CTX_EXPORT int ctx_timeout_ms(const ctx_t *ctx)
{
	struct ctx *bound;
	int64_t left;

	ctx_assert_return(ctx, -EINVAL);
	if (ctx__err(ctx))
		return 0;
	bound = ctx__deadline_of(ctx);
	if (!bound)
		return -1;
	left = as_deadline(bound)->deadline_ns - ctx__now_ns();
	if (left <= 0)
		return 0;
	left = (left + 999999) / 1000000;
	return left > INT_MAX ? INT_MAX : (int)left;
}

CTX_EXPORT int ctx_with_deadline_clock(ctx_t *parent, clockid_t clock,
				       const struct timespec *deadline, int cause, ctx_t **ret)
{
	return -ENOSYS;
}
