/* SPDX-License-Identifier: MIT */
/* Every NULL or invalid argument of every function (the spec's "Precise points"). */
#include "common.h"

TestSuite(args, .init = test_setup);

static const char key;
static atomic_int destroyed;

static void destroy(void *v)
{
	(void)v;
	atomic_fetch_add(&destroyed, 1);
}

static void never(void *arg)
{
	(void)arg;
	cr_assert_fail("must not run");
}

#define SENTINEL ((ctx_t *)0x1)

Test(args, derive_null_parent_or_ret, .timeout = 10)
{
	struct timespec ts = ts_in(NSEC_PER_SEC);
	ctx_t *r = SENTINEL;
	int p[2];

	cr_assert_eq(pipe(p), 0);
	atomic_store(&destroyed, 0);

	cr_assert_eq(ctx_with_cancel(NULL, &r), -EINVAL);
	cr_assert_eq(ctx_with_cancel(ctx_background(), NULL), -EINVAL);
	cr_assert_eq(ctx_with_deadline(NULL, &ts, &r), -EINVAL);
	cr_assert_eq(ctx_with_deadline(ctx_background(), NULL, &r), -EINVAL);
	cr_assert_eq(ctx_with_deadline(ctx_background(), &ts, NULL), -EINVAL);
	cr_assert_eq(ctx_with_deadline_cause(NULL, &ts, 1, &r), -EINVAL);
	cr_assert_eq(ctx_with_deadline_cause(ctx_background(), NULL, 1, &r), -EINVAL);
	cr_assert_eq(ctx_with_deadline_cause(ctx_background(), &ts, 1, NULL), -EINVAL);
	cr_assert_eq(ctx_with_timeout(NULL, 1, &r), -EINVAL);
	cr_assert_eq(ctx_with_timeout(ctx_background(), 1, NULL), -EINVAL);
	cr_assert_eq(ctx_with_timeout_cause(NULL, 1, 1, &r), -EINVAL);
	cr_assert_eq(ctx_with_timeout_cause(ctx_background(), 1, 1, NULL), -EINVAL);
	cr_assert_eq(ctx_with_value(NULL, &key, &r, destroy, &r), -EINVAL);
	cr_assert_eq(ctx_with_value(ctx_background(), NULL, &r, destroy, &r), -EINVAL);
	cr_assert_eq(ctx_with_value(ctx_background(), &key, &r, destroy, NULL), -EINVAL);
	cr_assert_eq(ctx_without_cancel(NULL, &r), -EINVAL);
	cr_assert_eq(ctx_without_cancel(ctx_background(), NULL), -EINVAL);
	cr_assert_eq(ctx_with_fd(NULL, p[0], EPOLLIN, 0, &r), -EINVAL);
	cr_assert_eq(ctx_with_fd(ctx_background(), p[0], EPOLLIN, 0, NULL), -EINVAL);
	cr_assert_eq(r, SENTINEL, "*ret untouched by every failure");
	cr_assert_eq(atomic_load(&destroyed), 0, "destroy not called on failure");
	close(p[0]);
	close(p[1]);
	check_fds();
}

Test(args, with_fd_specific_errors, .timeout = 10)
{
	ctx_t *r = SENTINEL;
	int p[2];

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(ctx_with_fd(ctx_background(), -1, EPOLLIN, 0, &r), -EBADF);
	cr_assert_eq(ctx_with_fd(ctx_background(), -100, EPOLLIN, 0, &r), -EBADF);
	cr_assert_eq(ctx_with_fd(ctx_background(), p[0], 0, 0, &r), -EINVAL);
	cr_assert_eq(ctx_with_fd(ctx_background(), p[0], EPOLLET | EPOLLIN, 0, &r), -EINVAL);
	cr_assert_eq(r, SENTINEL);
	close(p[0]);
	close(p[1]);
	check_fds();
}

Test(args, optional_pointers_may_be_null, .timeout = 10)
{
	ctx_t *v = NULL, *c = NULL;
	char buf[8];

	/* value, destroy, arg, ctx_after_func's ret, ctx_deadline's deadline, describe's buf. */
	cr_assert_eq(ctx_with_value(ctx_background(), &key, NULL, NULL, &v), 0);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_eq(ctx_after_func(c, count_fn, &(atomic_int){ 0 }, NULL), 0);
	cr_assert_eq(ctx_after_func(ctx_background(), never, NULL, NULL), 0);
	cr_assert_not(ctx_deadline(c, NULL));
	cr_assert_gt(ctx_describe(c, NULL, 0), 0);
	cr_assert_gt(ctx_describe(c, buf, 0), 0);
	ctx_unref(v);
	ctx_unref(c);
	check_fds();
}

Test(args, cancel_null, .timeout = 10)
{
	cr_assert_eq(ctx_cancel(NULL), -EINVAL);
	cr_assert_eq(ctx_cancel_cause(NULL, 1), -EINVAL);
	cr_assert_eq(ctx_cancel_cause(NULL, 0), -EINVAL);
	check_fds();
}

Test(args, observers_null, .timeout = 10)
{
	struct timespec ts = { 77, 77 };

	cr_assert_eq(ctx_err(NULL), -EINVAL);
	cr_assert_eq(ctx_cause(NULL), -EINVAL);
	cr_assert_not(ctx_deadline(NULL, &ts));
	cr_assert_not(ctx_deadline(NULL, NULL));
	cr_assert_eq(ctx_timeout_ms(NULL), -EINVAL);
	cr_assert_null(ctx_value(NULL, &key));
	cr_assert_null(ctx_value(ctx_background(), NULL));
	cr_assert_eq(ctx_fd(NULL), -EINVAL);
	check_fds();
}

Test(args, waiting_null_and_bad_fd, .timeout = 10)
{
	cr_assert_eq(ctx_wait(NULL), -EINVAL);
	cr_assert_eq(ctx_sleep(NULL, 0), -EINVAL);
	cr_assert_eq(ctx_sleep(NULL, NSEC_PER_SEC), -EINVAL);
	cr_assert_eq(ctx_poll(NULL, 0, POLLIN), -EINVAL);
	cr_assert_eq(ctx_poll(ctx_background(), -1, POLLIN), -EBADF);
	check_fds();
}

Test(args, after_null, .timeout = 10)
{
	ctx_after_t *h = (ctx_after_t *)0x1;
	ctx_t *c = NULL;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_eq(ctx_after_func(NULL, never, NULL, &h), -EINVAL);
	cr_assert_eq(ctx_after_func(c, NULL, NULL, &h), -EINVAL);
	cr_assert_eq(h, (ctx_after_t *)0x1, "*ret untouched");
	cr_assert_not(ctx_after_stop(NULL));
	cr_assert_eq(ctx_cancel(c), 0);
	ctx_unref(c);
	check_fds();
}

Test(args, lifetime_null, .timeout = 10)
{
	char buf[16] = "untouched";

	cr_assert_null(ctx_ref(NULL));
	cr_assert_null(ctx_unref(NULL));
	cr_assert_eq(ctx_describe(NULL, buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(ctx_describe(NULL, NULL, 0), -EINVAL);
	cr_assert_str_eq(buf, "untouched");
	check_fds();
}

Test(args, unrefp_cleanup_helper, .timeout = 10)
{
	ctx_t *seen;
	atomic_int freed = 0;

	{
		__attribute__((cleanup(ctx_unrefp))) ctx_t *v = NULL;

		cr_assert_eq(ctx_with_value(ctx_background(), &key, &freed, count_fn, &v), 0);
		seen = v;
	}
	cr_assert_not_null(seen);
	cr_assert_eq(atomic_load(&freed), 1, "ctx_unrefp dropped the reference");
	{
		__attribute__((cleanup(ctx_unrefp))) ctx_t *none = NULL;

		(void)none;
	}
	ctx_unrefp(NULL);
	check_fds();
}

Test(args, bad_timespecs, .timeout = 10)
{
	const struct timespec bad[] = { { 0, -1 }, { 0, 1000000000 }, { -1, 0 } };
	ctx_t *r = SENTINEL;

	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(ctx_with_deadline(ctx_background(), &bad[i], &r), -EINVAL);
		cr_assert_eq(ctx_with_deadline_cause(ctx_background(), &bad[i], 1, &r), -EINVAL);
	}
	cr_assert_eq(r, SENTINEL);
	check_fds();
}

Test(args, causes_any_nonzero_int, .timeout = 10)
{
	const int causes[] = { INT_MIN, INT_MAX, 1, -1, -EPIPE, 12345 };

	for (size_t i = 0; i < sizeof(causes) / sizeof(causes[0]); i++) {
		ctx_t *c = NULL, *d = NULL;

		cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
		cr_assert_eq(ctx_cancel_cause(c, causes[i]), 0);
		cr_assert_eq(ctx_cause(c), causes[i]);
		cr_assert_eq(ctx_with_timeout_cause(ctx_background(), 0, causes[i], &d), 0);
		cr_assert_eq(ctx_cause(d), causes[i]);
		ctx_unref(c);
		ctx_unref(d);
	}
	check_fds();
}
