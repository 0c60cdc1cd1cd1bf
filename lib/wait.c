/* SPDX-License-Identifier: MIT */
/* Waiting: blocking until a context is done, a time passes or an fd is ready. */
#include <poll.h>

#include "internal.h"

/*
 * Waits until ctx is done (returns its error), `until` passes (returns 0)
 * or `fd` reports `events` (returns the revents). A deadline is the library
 * thread's to fire, whoever waits: its after-functions run there, and the
 * waiter wakes on the done fd, so its result and ctx_err agree.
 */
static int wait_for(struct ctx *ctx, int64_t until, int fd, short events)
{
	struct pollfd pfd[2];
	nfds_t nfds = 0;
	int err;

	err = ctx__err(ctx);
	if (err)
		return err;
	if (until == 0) /* ctx_sleep(ctx, 0): a check, never a wait */
		return 0;
	/* Decided before the clock can run out, so it does not depend on speed. */
	if (ctx__in_library_thread())
		return -EDEADLK;

	if (ctx__cancellable(ctx__owner(ctx))) {
		int done_fd = ctx_fd(ctx);

		if (done_fd < 0)
			return done_fd;
		pfd[nfds++] = (struct pollfd){ .fd = done_fd, .events = POLLIN };
	}
	if (fd >= 0)
		pfd[nfds++] = (struct pollfd){ .fd = fd, .events = events };

	for (;;) {
		int64_t now = ctx__now_ns();
		struct timespec timeout;

		if (until <= now)
			return ctx__err(ctx);
		timeout.tv_sec = (until - now) / NS_PER_SEC;
		timeout.tv_nsec = (until - now) % NS_PER_SEC;
		if (ppoll(nfds ? pfd : NULL, nfds, until == NS_NEVER ? NULL : &timeout, NULL) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		err = ctx__err(ctx);
		if (err)
			return err;
		if (fd >= 0 && pfd[nfds - 1].revents) {
			if (pfd[nfds - 1].revents & POLLNVAL)
				return -EBADF;
			return pfd[nfds - 1].revents;
		}
	}
}

CTX_EXPORT int ctx_wait(ctx_t *ctx)
{
	ctx_assert_return(ctx, -EINVAL);
	return wait_for(ctx, NS_NEVER, -1, 0);
}

CTX_EXPORT int ctx_sleep(ctx_t *ctx, uint64_t ns)
{
	ctx_assert_return(ctx, -EINVAL);
	return wait_for(ctx, ns ? ctx__ns_from_now(ns) : 0, -1, 0);
}

CTX_EXPORT int ctx_poll(ctx_t *ctx, int fd, short events)
{
	ctx_assert_return(ctx, -EINVAL);
	ctx_assert_return(fd >= 0, -EBADF);
	return wait_for(ctx, NS_NEVER, fd, events);
}
