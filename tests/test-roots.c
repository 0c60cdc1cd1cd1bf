/* SPDX-License-Identifier: MIT */
/* The two roots: background and todo. */
#include "common.h"

TestSuite(roots, .init = test_setup);

static const int some_key;

Test(roots, identity, .timeout = 10)
{
	ctx_t *bg = ctx_background(), *todo = ctx_todo();

	cr_assert_not_null(bg);
	cr_assert_not_null(todo);
	cr_assert_neq(bg, todo, "background and todo must be distinct");
	cr_assert_eq(ctx_background(), bg, "background is one object");
	cr_assert_eq(ctx_todo(), todo, "todo is one object");
	check_fds();
}

Test(roots, never_done_no_deadline_no_values, .timeout = 10)
{
	ctx_t *roots[] = { ctx_background(), ctx_todo() };

	for (int i = 0; i < 2; i++) {
		struct timespec ts = { 12345, 678 };

		cr_assert_eq(ctx_err(roots[i]), 0);
		cr_assert_eq(ctx_cause(roots[i]), 0);
		cr_assert_not(ctx_deadline(roots[i], &ts));
		cr_assert_not(ctx_deadline(roots[i], NULL));
		cr_assert_eq(ctx_timeout_ms(roots[i]), -1);
		cr_assert_null(ctx_value(roots[i], &some_key));
	}
	check_fds();
}

Test(roots, ref_unref_are_noops, .timeout = 10)
{
	ctx_t *roots[] = { ctx_background(), ctx_todo() };

	for (int i = 0; i < 2; i++) {
		/* More unrefs than refs: a counting root would be freed. */
		for (int j = 0; j < 1000; j++)
			cr_assert_null(ctx_unref(roots[i]));
		cr_assert_eq(ctx_ref(roots[i]), roots[i]);
		cr_assert_null(ctx_unref(roots[i]));
		cr_assert_null(ctx_unref(roots[i]));
		cr_assert_eq(ctx_err(roots[i]), 0);
	}
	/* Still usable as parents after all that. */
	for (int i = 0; i < 2; i++) {
		ctx_t *c = NULL;

		cr_assert_eq(ctx_with_cancel(roots[i], &c), 0);
		cr_assert_eq(ctx_cancel(c), 0);
		cr_assert_eq(ctx_err(roots[i]), 0);
		ctx_unref(c);
	}
	check_fds();
}

Test(roots, cancel_is_einval, .timeout = 10)
{
	ctx_t *roots[] = { ctx_background(), ctx_todo() };

	for (int i = 0; i < 2; i++) {
		cr_assert_eq(ctx_cancel(roots[i]), -EINVAL);
		cr_assert_eq(ctx_cancel_cause(roots[i], 42), -EINVAL);
		cr_assert_eq(ctx_cancel_cause(roots[i], 0), -EINVAL);
		cr_assert_eq(ctx_err(roots[i]), 0);
		cr_assert_eq(ctx_cause(roots[i]), 0);
	}
	check_fds();
}

Test(roots, fd_never_readable, .timeout = 10)
{
	int fb = ctx_fd(ctx_background());
	int ft = ctx_fd(ctx_todo());

	cr_assert_geq(fb, 0);
	cr_assert_geq(ft, 0);
	cr_assert_eq(ctx_fd(ctx_background()), fb, "ctx_fd is stable");
	cr_assert_eq(fb, ft, "never-done contexts share one never-ready fd");
	assert_not_readable(fb);
	cr_assert_not(fd_wait_readable(fb, 100));
	/* Cancelling someone else's context does not touch it. */
	{
		ctx_t *c = NULL;

		cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
		cr_assert_geq(ctx_fd(c), 0);
		cr_assert_eq(ctx_cancel(c), 0);
		assert_not_readable(fb);
		ctx_unref(c);
	}
	check_fds();
}

Test(roots, children_of_roots_inherit_nothing_done, .timeout = 10)
{
	ctx_t *roots[] = { ctx_background(), ctx_todo() };

	for (int i = 0; i < 2; i++) {
		ctx_t *c = NULL;

		cr_assert_eq(ctx_with_cancel(roots[i], &c), 0);
		cr_assert_not_null(c);
		cr_assert_eq(ctx_err(c), 0);
		cr_assert_eq(ctx_cause(c), 0);
		cr_assert_eq(ctx_timeout_ms(c), -1);
		cr_assert_neq(ctx_fd(c), ctx_fd(roots[i]), "a cancellable context has its own fd");
		assert_not_readable(ctx_fd(c));
		ctx_unref(c);
	}
	check_fds();
}
