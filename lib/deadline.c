/* SPDX-License-Identifier: MIT */
/*
 * Deadlines: deriving deadline and timeout contexts, on the monotonic,
 * boot-time or wall clock, and reading them. Times are int64_t nanoseconds
 * on the deadline's clock, saturating at NS_NEVER (a deadline too far away
 * to represent, which never fires). A node points at the deadline node
 * bounding it (node.bound), so reading or deriving never walks the tree.
 */
#include <limits.h>
#include <stdio.h>

#include "internal.h"

static const clockid_t clock_ids[CTX_CLOCKS] = {
	[CTX_CLOCK_MONOTONIC] = CLOCK_MONOTONIC,
	[CTX_CLOCK_BOOTTIME] = CLOCK_BOOTTIME,
	[CTX_CLOCK_REALTIME] = CLOCK_REALTIME,
};

int64_t ctx__clock_now_ns(enum ctx_clock clock)
{
	struct timespec ts;

	clock_gettime(clock_ids[clock], &ts);
	return ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

int64_t ctx__now_ns(void)
{
	return ctx__clock_now_ns(CTX_CLOCK_MONOTONIC);
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

/* A time on `clock` as a monotonic time, as of now; saturating. */
static int64_t to_monotonic(enum ctx_clock clock, int64_t ns)
{
	int64_t left;

	if (clock == CTX_CLOCK_MONOTONIC || ns == NS_NEVER)
		return ns;
	left = ns - ctx__clock_now_ns(clock);
	if (left > 0)
		return ctx__ns_from_now((uint64_t)left);
	left += ctx__now_ns();
	return left > 0 ? left : 0;
}

/* A deadline node's deadline on the monotonic clock, as of now. */
int64_t ctx__deadline_mono_ns(const struct ctx *d)
{
	return to_monotonic(ctx__deadline_clock(d), as_deadline(d)->deadline_ns);
}

static int with_deadline_ns(struct ctx *parent, enum ctx_clock clock, int64_t deadline,
			    int cause, struct ctx **ret)
{
	struct ctx *bound = ctx__bound(parent);
	struct ctx *c;
	bool passed = deadline <= ctx__clock_now_ns(clock);

	/*
	 * Go: a parent deadline strictly earlier makes a plain cancel child.
	 * Deadlines on different clocks compare as they stand now.
	 */
	if (bound && ctx__deadline_mono_ns(bound) < to_monotonic(clock, deadline))
		return ctx_with_cancel(parent, ret);

	c = ctx__node_new(parent, CTX_DEADLINE + clock, sizeof(struct ctx_deadline));
	if (!c)
		return -ENOMEM;
	c->node.bound = c;
	as_deadline(c)->deadline_ns = deadline;
	as_deadline(c)->heap_index = -1;
	as_deadline(c)->cause = cause ? cause : -ETIMEDOUT;
	/* Born done (passed, or under a done parent), it needs no timer. */
	if (passed)
		ctx__set_done(c, -ETIMEDOUT, as_deadline(c)->cause);
	return ctx__publish(c, ret);
}

static bool valid_timespec(const struct timespec *ts)
{
	return ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < NS_PER_SEC;
}

CTX_EXPORT int ctx_with_deadline_clock(ctx_t *parent, clockid_t clock,
				       const struct timespec *deadline, int cause, ctx_t **ret)
{
	enum ctx_clock which;

	ctx_assert_return(parent, -EINVAL);
	ctx_assert_return(deadline, -EINVAL);
	ctx_assert_return(ret, -EINVAL);
	ctx_assert_return(valid_timespec(deadline), -EINVAL);
	switch (clock) {
	case CLOCK_MONOTONIC:
		which = CTX_CLOCK_MONOTONIC;
		break;
	case CLOCK_BOOTTIME:
		which = CTX_CLOCK_BOOTTIME;
		break;
	case CLOCK_REALTIME:
		which = CTX_CLOCK_REALTIME;
		break;
	default:
		return -EINVAL;
	}
	return with_deadline_ns(parent, which, timespec_to_ns(deadline), cause, ret);
}

CTX_EXPORT int ctx_with_deadline_cause(ctx_t *parent, const struct timespec *deadline,
				       int cause, ctx_t **ret)
{
	return ctx_with_deadline_clock(parent, CLOCK_MONOTONIC, deadline, cause, ret);
}

CTX_EXPORT int ctx_with_deadline(ctx_t *parent, const struct timespec *deadline, ctx_t **ret)
{
	return ctx_with_deadline_clock(parent, CLOCK_MONOTONIC, deadline, 0, ret);
}

CTX_EXPORT int ctx_with_timeout_cause(ctx_t *parent, uint64_t timeout_ns, int cause,
				      ctx_t **ret)
{
	ctx_assert_return(parent, -EINVAL);
	ctx_assert_return(ret, -EINVAL);

	return with_deadline_ns(parent, CTX_CLOCK_MONOTONIC, ctx__ns_from_now(timeout_ns), cause,
				ret);
}

CTX_EXPORT int ctx_with_timeout(ctx_t *parent, uint64_t timeout_ns, ctx_t **ret)
{
	return ctx_with_timeout_cause(parent, timeout_ns, 0, ret);
}

CTX_EXPORT bool ctx_deadline(const ctx_t *ctx, struct timespec *deadline)
{
	struct ctx *bound;
	int64_t ns;

	if (!ctx || !(bound = ctx__bound(ctx)))
		return false;
	if (deadline) {
		ns = ctx__deadline_mono_ns(bound);
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
	bound = ctx__bound(ctx);
	if (!bound)
		return -1;
	left = ctx__deadline_mono_ns(bound) - ctx__now_ns();
	if (left <= 0)
		return 0;
	left = (left + 999999) / 1000000;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* "with_deadline(+1.5s)": the time left, in seconds, to the millisecond. */
int ctx__deadline_describe(const struct ctx *c, int64_t now, char *buf, size_t len)
{
	int64_t left = ctx__deadline_mono_ns(c) - now;
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
