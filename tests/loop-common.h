/* SPDX-License-Identifier: MIT */
/*
 * What the four event-loop tests share: the timing bounds, the clock and fd
 * helpers, and the three cases every loop must pass. A test file defines
 * `struct fixture` (with ctx, err, fired_ns and baseline), setup(),
 * watch_once() and teardown() for its loop, then says LOOP_TESTS(suite).
 */
#ifndef LOOP_COMMON_H
#define LOOP_COMMON_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include <ctx.h>

#define DEADLINE_NS	(20 * 1000000ULL)
#define BOUND_NS	(2 * 1000000000ULL)	/* "promptly", generously */
#define BOUND_MS	(BOUND_NS / 1000000)
#define QUIET_MS	50
/* A blocking loop needs a handful of iterations; a spinning one, thousands. */
#define MAX_ITERATIONS	10

static inline uint64_t ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ULL + (uint64_t)ts->tv_nsec;
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts_ns(&ts);
}

static inline int count_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	cr_assert_not_null(dir, "opendir /proc/self/fd: %d", errno);
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

/*
 * The library keeps its own descriptors (timer thread, never-ready fd) until
 * exit: create them before a test takes its descriptor baseline.
 */
static inline void warm_up_library(void)
{
	ctx_t *warm;

	cr_assert_eq(ctx_with_timeout(ctx_background(), 1000000000ULL, &warm), 0);
	cr_assert_geq(ctx_fd(warm), 0);
	ctx_unref(warm);
	cr_assert_geq(ctx_fd(ctx_background()), 0);
}

struct canceller {
	ctx_t *ctx;
	uint64_t at_ns;		/* just before ctx_cancel() */
	int ret;
};

static inline void *cancel_later(void *arg)
{
	struct canceller *c = arg;
	struct timespec pause = { 0, DEADLINE_NS };

	nanosleep(&pause, NULL);
	c->at_ns = now_ns();
	c->ret = ctx_cancel(c->ctx);
	return NULL;
}

/*
 * A deadline, a cancel from another thread, and a context done before it
 * is watched (its fd is born readable).
 */
#define LOOP_TESTS(suite) \
	Test(suite, deadline, .timeout = 10) \
	{ \
		struct fixture f = { 0 }; \
		struct timespec deadline; \
 \
		setup(&f); \
		cr_assert_eq(ctx_with_timeout(ctx_background(), DEADLINE_NS, &f.ctx), 0); \
		cr_assert(ctx_deadline(f.ctx, &deadline)); \
		watch_once(&f); \
		cr_assert_eq(f.err, -ETIMEDOUT); \
		cr_assert_geq(f.fired_ns, ts_ns(&deadline), "fired before the deadline"); \
		cr_assert_lt(f.fired_ns - ts_ns(&deadline), BOUND_NS, "fired %llu ns late", \
			     (unsigned long long)(f.fired_ns - ts_ns(&deadline))); \
		teardown(&f); \
	} \
 \
	Test(suite, cancelled_from_thread, .timeout = 10) \
	{ \
		struct fixture f = { 0 }; \
		struct canceller c; \
		pthread_t thread; \
 \
		setup(&f); \
		cr_assert_eq(ctx_with_cancel(ctx_background(), &f.ctx), 0); \
		c.ctx = f.ctx; \
		cr_assert_eq(pthread_create(&thread, NULL, cancel_later, &c), 0); \
		watch_once(&f); \
		cr_assert_eq(pthread_join(thread, NULL), 0); \
		cr_assert_eq(c.ret, 0); \
		cr_assert_eq(f.err, -ECANCELED); \
		cr_assert_eq(ctx_cause(f.ctx), -ECANCELED); \
		cr_assert_geq(f.fired_ns, c.at_ns, "fired before ctx_cancel()"); \
		cr_assert_lt(f.fired_ns - c.at_ns, BOUND_NS); \
		teardown(&f); \
	} \
 \
	Test(suite, already_done, .timeout = 10) \
	{ \
		struct fixture f = { 0 }; \
 \
		setup(&f); \
		cr_assert_eq(ctx_with_cancel(ctx_background(), &f.ctx), 0); \
		cr_assert_eq(ctx_cancel_cause(f.ctx, -EPIPE), 0); \
		watch_once(&f); \
		cr_assert_eq(f.err, -ECANCELED); \
		cr_assert_eq(ctx_cause(f.ctx), -EPIPE); \
		teardown(&f); \
	}

#endif
