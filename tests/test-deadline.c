/* SPDX-License-Identifier: MIT */
/* Deadlines and timeouts: the timer thread, clamping, ctx_timeout_ms. */
#include "common.h"

TestSuite(deadline, .init = test_setup);

#define HOUR (3600 * NSEC_PER_SEC)

static bool ts_eq(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

Test(deadline, with_deadline_reports_its_deadline, .timeout = 10)
{
	struct timespec d = ts_in(10 * NSEC_PER_SEC), got = { 0, 0 };
	ctx_t *c = NULL;
	int ms;

	cr_assert_eq(ctx_with_deadline(ctx_background(), &d, &c), 0);
	cr_assert_not_null(c);
	cr_assert_eq(ctx_err(c), 0);
	cr_assert_eq(ctx_cause(c), 0);
	cr_assert(ctx_deadline(c, &got));
	cr_assert(ts_eq(&got, &d), "deadline %ld.%09ld, asked %ld.%09ld",
		  (long)got.tv_sec, got.tv_nsec, (long)d.tv_sec, d.tv_nsec);
	cr_assert(ctx_deadline(c, NULL), "NULL only asks whether there is one");
	ms = ctx_timeout_ms(c);
	cr_assert(ms > 9000 && ms <= 10000, "timeout_ms %d", ms);
	assert_not_readable(ctx_fd(c));
	ctx_unref(c);
	check_fds();
}

Test(deadline, with_timeout_is_relative_to_now, .timeout = 10)
{
	uint64_t before = now_ns(), after;
	struct timespec got;
	ctx_t *c = NULL;

	cr_assert_eq(ctx_with_timeout(ctx_background(), HOUR, &c), 0);
	after = now_ns();
	cr_assert(ctx_deadline(c, &got));
	cr_assert(ns_from_ts(&got) >= before + HOUR && ns_from_ts(&got) <= after + HOUR,
		  "deadline is now + timeout");
	ctx_unref(c);
	check_fds();
}

Test(deadline, fires_with_etimedout_and_cause, .timeout = 10)
{
	ctx_t *a = NULL, *b = NULL, *child = NULL;

	cr_assert_eq(ctx_with_timeout(ctx_background(), 30 * NSEC_PER_MSEC, &a), 0);
	cr_assert_eq(ctx_with_timeout_cause(ctx_background(), 30 * NSEC_PER_MSEC, 555, &b), 0);
	cr_assert_eq(ctx_with_cancel(b, &child), 0);
	cr_assert_eq(wait_done(a, 5000), -ETIMEDOUT);
	cr_assert_eq(ctx_cause(a), -ETIMEDOUT, "cause 0 means -ETIMEDOUT");
	cr_assert_eq(wait_done(b, 5000), -ETIMEDOUT);
	cr_assert_eq(ctx_cause(b), 555);
	/* b's fd may be readable before propagation reaches the child: wait. */
	cr_assert_eq(wait_done(child, 5000), -ETIMEDOUT, "descendants inherit the timeout");
	cr_assert_eq(ctx_cause(child), 555);
	cr_assert_eq(ctx_timeout_ms(a), 0);
	cr_assert_eq(ctx_cancel(a), -EALREADY);
	ctx_unref(child);
	ctx_unref(b);
	ctx_unref(a);
	check_fds();
}

Test(deadline, with_deadline_cause_fires_with_cause, .timeout = 10)
{
	struct timespec d = ts_in(20 * NSEC_PER_MSEC);
	ctx_t *c = NULL;

	cr_assert_eq(ctx_with_deadline_cause(ctx_background(), &d, -EPIPE, &c), 0);
	cr_assert_eq(wait_done(c, 5000), -ETIMEDOUT);
	cr_assert_eq(ctx_cause(c), -EPIPE);
	ctx_unref(c);
	check_fds();
}

Test(deadline, parent_earlier_makes_ordinary_child, .timeout = 10)
{
	struct timespec pd = ts_in(50 * NSEC_PER_MSEC), cd, got;
	ctx_t *p = NULL, *c = NULL, *t = NULL;

	cd = ts_from_ns(ns_from_ts(&pd) + 10 * NSEC_PER_SEC);
	cr_assert_eq(ctx_with_deadline_cause(ctx_background(), &pd, 11, &p), 0);
	cr_assert_eq(ctx_with_deadline_cause(p, &cd, 22, &c), 0);
	cr_assert_eq(ctx_with_timeout_cause(p, HOUR, 33, &t), 0);
	cr_assert(ctx_deadline(c, &got));
	cr_assert(ts_eq(&got, &pd), "the child's deadline is the parent's");
	cr_assert(ctx_deadline(t, &got));
	cr_assert(ts_eq(&got, &pd), "the child's deadline is the parent's");
	cr_assert_eq(wait_done(c, 5000), -ETIMEDOUT);
	cr_assert_eq(ctx_cause(c), 11, "the parent's cause, its own is unused");
	cr_assert_eq(wait_done(t, 5000), -ETIMEDOUT);
	cr_assert_eq(ctx_cause(t), 11);
	ctx_unref(t);
	ctx_unref(c);
	ctx_unref(p);
	check_fds();
}

Test(deadline, parent_later_child_fires_alone, .timeout = 10)
{
	ctx_t *p = NULL, *c = NULL;

	cr_assert_eq(ctx_with_timeout_cause(ctx_background(), HOUR, 11, &p), 0);
	cr_assert_eq(ctx_with_timeout_cause(p, 20 * NSEC_PER_MSEC, 22, &c), 0);
	cr_assert_eq(wait_done(c, 5000), -ETIMEDOUT);
	cr_assert_eq(ctx_cause(c), 22);
	cr_assert_eq(ctx_err(p), 0);
	ctx_unref(c);
	ctx_unref(p);
	check_fds();
}

Test(deadline, equal_deadline_gets_own_timer, .timeout = 10)
{
	struct timespec d = ts_in(50 * NSEC_PER_MSEC), got;
	ctx_t *p = NULL, *c = NULL;
	char buf[256];
	int cause;

	cr_assert_eq(ctx_with_deadline_cause(ctx_background(), &d, 11, &p), 0);
	cr_assert_eq(ctx_with_deadline_cause(p, &d, 22, &c), 0);
	cr_assert(ctx_deadline(c, &got));
	cr_assert(ts_eq(&got, &d));
	/* Its own timer shows as a deadline link, not a plain cancel child. */
	cr_assert_gt(ctx_describe(c, buf, sizeof(buf)), 0);
	cr_assert(strstr(buf, ".with_deadline(") &&
		  strstr(strstr(buf, ".with_deadline(") + 1, ".with_deadline("),
		  "describe: %s", buf);
	cr_assert_eq(wait_done(c, 5000), -ETIMEDOUT);
	/* Both timers expire together: either may be noticed first. */
	cause = ctx_cause(c);
	cr_assert(cause == 22 || cause == 11, "cause %d", cause);
	ctx_unref(c);
	ctx_unref(p);
	check_fds();
}

Test(deadline, passed_deadline_is_born_done, .timeout = 10)
{
	struct timespec zero = { 0, 0 }, past = ts_from_ns(now_ns() - 1), got;
	ctx_t *a = NULL, *b = NULL, *t = NULL, *tc = NULL;

	cr_assert_eq(ctx_with_deadline(ctx_background(), &zero, &a), 0);
	cr_assert_eq(ctx_err(a), -ETIMEDOUT);
	cr_assert_eq(ctx_cause(a), -ETIMEDOUT);
	assert_readable(ctx_fd(a));
	cr_assert_eq(ctx_timeout_ms(a), 0);
	cr_assert(ctx_deadline(a, &got), "a passed deadline is still a deadline");
	cr_assert(ts_eq(&got, &zero));
	cr_assert_eq(ctx_cancel(a), -EALREADY);

	cr_assert_eq(ctx_with_deadline_cause(ctx_background(), &past, 44, &b), 0);
	cr_assert_eq(ctx_err(b), -ETIMEDOUT);
	cr_assert_eq(ctx_cause(b), 44);

	cr_assert_eq(ctx_with_timeout(ctx_background(), 0, &t), 0);
	cr_assert_eq(ctx_err(t), -ETIMEDOUT);
	cr_assert_eq(ctx_cause(t), -ETIMEDOUT);
	cr_assert_eq(ctx_with_timeout_cause(ctx_background(), 0, 45, &tc), 0);
	cr_assert_eq(ctx_err(tc), -ETIMEDOUT);
	cr_assert_eq(ctx_cause(tc), 45);
	ctx_unref(a);
	ctx_unref(b);
	ctx_unref(t);
	ctx_unref(tc);
	check_fds();
}

Test(deadline, never_early_and_promptly_late, .timeout = 30)
{
	enum { N = 40 };
	ctx_t *c[N];
	uint64_t deadline[N], seen[N];
	int remaining = N, ep = epoll_create1(EPOLL_CLOEXEC);

	cr_assert_geq(ep, 0);
	for (int i = 0; i < N; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		struct timespec d;

		/* Spread 10..400 ms in a scrambled order. */
		cr_assert_eq(ctx_with_timeout(ctx_background(),
					      (10 + (i * 37) % 391) * NSEC_PER_MSEC, &c[i]), 0);
		cr_assert(ctx_deadline(c[i], &d));
		deadline[i] = ns_from_ts(&d);
		seen[i] = 0;
		cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, ctx_fd(c[i]), &ev), 0);
	}
	while (remaining) {
		struct epoll_event evs[N];
		int n = epoll_wait(ep, evs, N, 5000);

		cr_assert_gt(n, 0, "a deadline did not fire within 5 s");
		for (int k = 0; k < n; k++) {
			int i = (int)evs[k].data.u32;
			uint64_t t = now_ns();

			cr_assert_neq(ctx_err(c[i]), 0, "fd readable before ctx_err");
			cr_assert_eq(ctx_err(c[i]), -ETIMEDOUT);
			cr_assert_geq(t, deadline[i], "fired %llu ns early",
				      (unsigned long long)(deadline[i] - t));
			seen[i] = t;
			epoll_ctl(ep, EPOLL_CTL_DEL, ctx_fd(c[i]), NULL);
			remaining--;
		}
	}
	for (int i = 0; i < N; i++) {
		cr_assert_lt(seen[i] - deadline[i], 2 * NSEC_PER_SEC, "fired %llu ms late",
			     (unsigned long long)((seen[i] - deadline[i]) / NSEC_PER_MSEC));
		ctx_unref(c[i]);
	}
	close(ep);
	check_fds();
}

Test(deadline, wait_returns_not_before_deadline, .timeout = 10)
{
	struct timespec d;
	ctx_t *c = NULL;

	cr_assert_eq(ctx_with_timeout(ctx_background(), 60 * NSEC_PER_MSEC, &c), 0);
	cr_assert(ctx_deadline(c, &d));
	cr_assert_eq(ctx_wait(c), -ETIMEDOUT);
	cr_assert_geq(now_ns(), ns_from_ts(&d), "ctx_wait returned before the deadline");
	cr_assert_lt(now_ns() - ns_from_ts(&d), 2 * NSEC_PER_SEC);
	ctx_unref(c);
	check_fds();
}

Test(deadline, invalid_timespecs_are_einval, .timeout = 10)
{
	const struct timespec bad[] = {
		{ 1, -1 }, { 1, 1000000000 }, { -1, 0 }, { -1, 5 }, { 0, LONG_MAX }, { 0, LONG_MIN },
	};
	ctx_t *sentinel = (ctx_t *)0x1, *r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = sentinel;
		cr_assert_eq(ctx_with_deadline(ctx_background(), &bad[i], &r), -EINVAL, "case %zu", i);
		cr_assert_eq(r, sentinel, "*ret untouched on failure");
		cr_assert_eq(ctx_with_deadline_cause(ctx_background(), &bad[i], 1, &r), -EINVAL);
		cr_assert_eq(r, sentinel);
	}
	{
		/* The edges of the valid range are accepted. */
		struct timespec edge = { 0, 999999999 };

		cr_assert_eq(ctx_with_deadline(ctx_background(), &edge, &r), 0);
		cr_assert_eq(ctx_err(r), -ETIMEDOUT);
		ctx_unref(r);
	}
	check_fds();
}

Test(deadline, huge_timeouts_and_deadlines_are_clamped_and_never_fire, .timeout = 10)
{
	struct timespec far = { .tv_sec = (time_t)INT64_MAX, .tv_nsec = 999999999 }, got;
	const uint64_t timeouts[] = { UINT64_MAX, UINT64_MAX - 1, (uint64_t)INT64_MAX,
				      (uint64_t)INT64_MAX + 1 };
	ctx_t *c[6] = { 0 }, *near = NULL;
	uint64_t now = now_ns();
	int n = 0;

	for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++)
		cr_assert_eq(ctx_with_timeout(ctx_background(), timeouts[i], &c[n++]), 0);
	cr_assert_eq(ctx_with_deadline(ctx_background(), &far, &c[n++]), 0);
	cr_assert_eq(ctx_with_timeout_cause(c[0], UINT64_MAX, 5, &c[n++]), 0);
	/* A near deadline among the clamped ones still fires. */
	cr_assert_eq(ctx_with_timeout(ctx_background(), 30 * NSEC_PER_MSEC, &near), 0);
	cr_assert_eq(wait_done(near, 5000), -ETIMEDOUT);
	sleep_ms(50);
	for (int i = 0; i < n; i++) {
		cr_assert_eq(ctx_err(c[i]), 0, "clamped context %d fired", i);
		cr_assert(ctx_deadline(c[i], &got));
		cr_assert_gt((uint64_t)got.tv_sec, now / NSEC_PER_SEC + 100 * 365 * 86400ULL,
			     "clamped deadline of %d is still far away", i);
		cr_assert_eq(ctx_timeout_ms(c[i]), INT_MAX);
		assert_not_readable(ctx_fd(c[i]));
	}
	for (int i = n - 1; i >= 0; i--)
		ctx_unref(c[i]);
	ctx_unref(near);
	check_fds();
}

Test(deadline, timeout_ms_rules, .timeout = 10)
{
	struct timespec past = { 0, 0 };
	ctx_t *live = NULL, *done = NULL, *passed = NULL, *big = NULL;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &live), 0);
	cr_assert_eq(ctx_timeout_ms(live), -1, "no deadline, live");
	cr_assert_eq(ctx_with_cancel(ctx_background(), &done), 0);
	cr_assert_eq(ctx_cancel(done), 0);
	cr_assert_eq(ctx_timeout_ms(done), 0, "done without a deadline");
	cr_assert_eq(ctx_with_deadline(ctx_background(), &past, &passed), 0);
	cr_assert_eq(ctx_timeout_ms(passed), 0, "deadline passed");
	/* A little more than INT_MAX ms: capped. */
	cr_assert_eq(ctx_with_timeout(ctx_background(),
				      ((uint64_t)INT_MAX + 10) * NSEC_PER_MSEC, &big), 0);
	cr_assert_eq(ctx_timeout_ms(big), INT_MAX);
	ctx_unref(live);
	ctx_unref(done);
	ctx_unref(passed);
	ctx_unref(big);
	check_fds();
}

Test(deadline, timeout_ms_done_by_cancel_before_deadline, .timeout = 10)
{
	ctx_t *c = NULL;

	cr_assert_eq(ctx_with_timeout(ctx_background(), HOUR, &c), 0);
	cr_assert_gt(ctx_timeout_ms(c), 3500 * 1000);
	cr_assert_eq(ctx_cancel(c), 0);
	cr_assert_eq(ctx_timeout_ms(c), 0, "done means 0 even with time left");
	ctx_unref(c);
	check_fds();
}

static uint64_t ceil_ms(int64_t ns)
{
	return ns <= 0 ? 0 : ((uint64_t)ns + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC;
}

Test(deadline, timeout_ms_rounds_up, .timeout = 10)
{
	bool checked_tiny = false;

	for (int attempt = 0; attempt < 20; attempt++) {
		uint64_t t0 = now_ns(), t1;
		/* Half a millisecond past a whole number: floor and ceil differ. */
		struct timespec d = ts_from_ns(t0 + 5 * NSEC_PER_MSEC + NSEC_PER_MSEC / 2);
		ctx_t *c = NULL;
		int ms;

		cr_assert_eq(ctx_with_deadline(ctx_background(), &d, &c), 0);
		ms = ctx_timeout_ms(c);
		t1 = now_ns();
		cr_assert_geq((uint64_t)ms, ceil_ms((int64_t)(ns_from_ts(&d) - t1)), "ms %d", ms);
		cr_assert_leq((uint64_t)ms, ceil_ms((int64_t)(ns_from_ts(&d) - t0)), "ms %d", ms);
		ctx_unref(c);

		/* Under a millisecond left but not passed: 1, never 0. */
		t0 = now_ns();
		d = ts_from_ns(t0 + 300 * 1000);
		cr_assert_eq(ctx_with_deadline(ctx_background(), &d, &c), 0);
		ms = ctx_timeout_ms(c);
		t1 = now_ns();
		if (t1 < ns_from_ts(&d)) {
			cr_assert_eq(ms, 1, "%llu ns left gave %d ms",
				     (unsigned long long)(ns_from_ts(&d) - t1), ms);
			checked_tiny = true;
		}
		ctx_unref(c);
	}
	cr_assert(checked_tiny, "never managed to observe a sub-millisecond remainder");
	check_fds();
}

Test(deadline, timeout_ms_of_derived_contexts, .timeout = 10)
{
	static const char key;
	ctx_t *d = NULL, *v = NULL, *w = NULL, *c = NULL;
	struct timespec pd, got;
	int ms;

	cr_assert_eq(ctx_with_timeout(ctx_background(), 10 * NSEC_PER_SEC, &d), 0);
	cr_assert(ctx_deadline(d, &pd));
	cr_assert_eq(ctx_with_value(d, &key, NULL, NULL, &v), 0);
	cr_assert_eq(ctx_with_cancel(v, &c), 0);
	cr_assert_eq(ctx_without_cancel(v, &w), 0);
	cr_assert(ctx_deadline(v, &got) && ts_eq(&got, &pd), "value context sees the deadline");
	cr_assert(ctx_deadline(c, &got) && ts_eq(&got, &pd), "cancel child sees the deadline");
	cr_assert_not(ctx_deadline(w, &got), "without_cancel has no deadline");
	ms = ctx_timeout_ms(v);
	cr_assert(ms > 9000 && ms <= 10000, "%d", ms);
	ms = ctx_timeout_ms(c);
	cr_assert(ms > 9000 && ms <= 10000, "%d", ms);
	cr_assert_eq(ctx_timeout_ms(w), -1);
	ctx_unref(w);
	ctx_unref(c);
	ctx_unref(v);
	ctx_unref(d);
	check_fds();
}

Test(deadline, deadline_null_output, .timeout = 10)
{
	ctx_t *c = NULL;

	cr_assert_eq(ctx_with_timeout(ctx_background(), HOUR, &c), 0);
	cr_assert(ctx_deadline(c, NULL));
	cr_assert_not(ctx_deadline(ctx_background(), NULL));
	cr_assert_not(ctx_deadline(NULL, NULL));
	ctx_unref(c);
	check_fds();
}

Test(deadline, cancel_before_deadline_stays_cancelled, .timeout = 10)
{
	ctx_t *c = NULL, *k = NULL;

	cr_assert_eq(ctx_with_timeout_cause(ctx_background(), 30 * NSEC_PER_MSEC, 9, &c), 0);
	cr_assert_eq(ctx_with_cancel(c, &k), 0);
	cr_assert_eq(ctx_cancel_cause(c, 8), 0);
	sleep_ms(100);
	cr_assert_eq(ctx_err(c), -ECANCELED, "the timer must not overwrite a cancel");
	cr_assert_eq(ctx_cause(c), 8);
	cr_assert_eq(ctx_err(k), -ECANCELED);
	cr_assert_eq(ctx_cause(k), 8);
	ctx_unref(k);
	ctx_unref(c);
	check_fds();
}

Test(deadline, unref_before_deadline_frees_promptly, .timeout = 10)
{
	for (int i = 0; i < 1000; i++) {
		ctx_t *c = NULL;

		cr_assert_eq(ctx_with_timeout(ctx_background(), (uint64_t)(i % 50) * NSEC_PER_MSEC / 2, &c), 0);
		if (i % 2)
			cr_assert_geq(ctx_fd(c), 0);
		ctx_unref(c);
	}
	/* The expiries of freed contexts must not touch freed memory. */
	sleep_ms(100);
	check_fds();
}

Test(deadline, many_live_deadlines_under_low_nofile, .timeout = 120)
{
	unsigned long n = scaled(100000);
	ctx_t **c = calloc(n, sizeof(*c));
	ctx_t *probe = NULL;
	int before;

	cr_assert_not_null(c);
	cr_assert_lt(fd_baseline, 200, "too many fds open to test with a limit of 256");
	set_nofile(256);
	before = fd_count();
	for (unsigned long i = 0; i < n; i++)
		cr_assert_eq(ctx_with_timeout(ctx_background(), HOUR + i * 1000, &c[i]), 0,
			     "deadline context %lu", i);
	cr_assert_eq(fd_count(), before, "deadline contexts must not cost descriptors");
	/* The timer still works with all of them queued. */
	cr_assert_eq(ctx_with_timeout(ctx_background(), 20 * NSEC_PER_MSEC, &probe), 0);
	cr_assert_eq(wait_done(probe, 5000), -ETIMEDOUT);
	ctx_unref(probe);
	for (unsigned long i = 0; i < n; i++) {
		cr_assert_eq(ctx_err(c[i]), 0);
		ctx_unref(c[i]);
	}
	free(c);
	check_fds();
}

Test(deadline, many_deadlines_all_fire, .timeout = 60)
{
	unsigned long n = scaled(20000);
	ctx_t **c = calloc(n, sizeof(*c));
	ctx_t *last = NULL;

	cr_assert_not_null(c);
	for (unsigned long i = 0; i < n; i++)
		cr_assert_eq(ctx_with_timeout_cause(ctx_background(),
						    (20 + i % 100) * NSEC_PER_MSEC, (int)i + 1, &c[i]), 0);
	cr_assert_eq(ctx_with_timeout(ctx_background(), 200 * NSEC_PER_MSEC, &last), 0);
	cr_assert_eq(wait_done(last, 10000), -ETIMEDOUT);
	for (unsigned long i = 0; i < n; i++) {
		for (int k = 0; k < 500 && !ctx_err(c[i]); k++)
			sleep_ms(10);
		cr_assert_eq(ctx_err(c[i]), -ETIMEDOUT, "context %lu", i);
		cr_assert_eq(ctx_cause(c[i]), (int)i + 1);
		ctx_unref(c[i]);
	}
	ctx_unref(last);
	free(c);
	check_fds();
}

/*
 * A live timeout context costs one 96-byte chunk plus its place in the
 * timer heap (16 bytes, the array at most doubled: 10,000 entries in
 * 16,384), on every clock: bench/ row mem_timeout.heap.
 */
Test(deadline, a_live_timeout_context_costs_under_128_bytes_of_heap, .timeout = 30)
{
#if defined(__SANITIZE_ADDRESS__)
	cr_skip_test("AddressSanitizer's allocator has sizes of its own");
#else
	static const clockid_t clocks[] = { CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_REALTIME };
	enum { N = 10000 };
	ctx_t **c = malloc(N * sizeof(*c));

	cr_assert_not_null(c);
	for (size_t k = 0; k < sizeof(clocks) / sizeof(clocks[0]); k++) {
		struct timespec now;
		size_t before;
		double per;

		cr_assert_eq(clock_gettime(clocks[k], &now), 0);
		now.tv_sec += 3600;
		before = heap_bytes();
		for (int i = 0; i < N; i++)
			cr_assert_eq(ctx_with_deadline_clock(ctx_background(), clocks[k], &now, 0,
							     &c[i]), 0);
		per = (double)(heap_bytes() - before) / N;
		cr_expect_leq(per, 128.0, "clock %d: %.1f bytes of heap per live timeout context",
			      (int)clocks[k], per);
		cr_expect_gt(per, 0.0, "mallinfo2() counts nothing here");
		for (int i = 0; i < N; i++)
			ctx_unref(c[i]);
	}
	free(c);
	/* No check_fds(): the boot-time and wall-clock timerfds stay until exit. */
#endif
}
