/* SPDX-License-Identifier: MIT */
/* ctx_with_value, ctx_value, ctx_without_cancel. */
#include "common.h"

TestSuite(value, .init = test_setup);

static const char key1, key2;

struct dtor_rec {
	atomic_int calls;
	void *last;
	pthread_t thread;
};

static struct dtor_rec rec;

static void dtor(void *v)
{
	rec.last = v;
	rec.thread = pthread_self();
	atomic_fetch_add(&rec.calls, 1);
}

Test(value, nearest_match_up_the_chain, .timeout = 10)
{
	int a = 1, b = 2, c = 3;
	ctx_t *v1 = NULL, *k = NULL, *v2 = NULL, *v3 = NULL, *d = NULL;

	cr_assert_eq(ctx_with_value(ctx_background(), &key1, &a, NULL, &v1), 0);
	cr_assert_not_null(v1);
	cr_assert_eq(ctx_with_cancel(v1, &k), 0);
	cr_assert_eq(ctx_with_value(k, &key2, &b, NULL, &v2), 0);
	cr_assert_eq(ctx_with_value(v2, &key1, &c, NULL, &v3), 0);
	cr_assert_eq(ctx_with_timeout(v3, 3600 * NSEC_PER_SEC, &d), 0);

	cr_assert_eq(ctx_value(v1, &key1), &a);
	cr_assert_null(ctx_value(v1, &key2));
	cr_assert_eq(ctx_value(k, &key1), &a, "through a cancel context");
	cr_assert_eq(ctx_value(v2, &key1), &a);
	cr_assert_eq(ctx_value(v2, &key2), &b);
	cr_assert_eq(ctx_value(v3, &key1), &c, "the nearest match wins");
	cr_assert_eq(ctx_value(v3, &key2), &b);
	cr_assert_eq(ctx_value(d, &key1), &c, "through a deadline context");
	cr_assert_null(ctx_value(ctx_background(), &key1));
	/* Values are still visible once the context is done. */
	cr_assert_eq(ctx_cancel(k), 0);
	cr_assert_eq(ctx_value(d, &key2), &b);
	ctx_unref(d);
	ctx_unref(v3);
	ctx_unref(v2);
	ctx_unref(k);
	ctx_unref(v1);
	check_fds();
}

Test(value, key_is_compared_by_identity, .timeout = 10)
{
	static const char ka[] = "key", kb[] = "key";
	int x = 5;
	ctx_t *v = NULL;

	cr_assert_neq((const void *)ka, (const void *)kb);
	cr_assert_eq(ctx_with_value(ctx_background(), ka, &x, NULL, &v), 0);
	cr_assert_eq(ctx_value(v, ka), &x);
	cr_assert_null(ctx_value(v, kb), "equal contents, different key");
	cr_assert_null(ctx_value(v, &key1));
	ctx_unref(v);
	check_fds();
}

Test(value, null_value_is_allowed, .timeout = 10)
{
	ctx_t *outer = NULL, *inner = NULL;
	int x;

	cr_assert_eq(ctx_with_value(ctx_background(), &key1, &x, NULL, &outer), 0);
	cr_assert_eq(ctx_with_value(outer, &key1, NULL, NULL, &inner), 0);
	cr_assert_null(ctx_value(inner, &key1), "a NULL value shadows the outer one");
	ctx_unref(inner);
	ctx_unref(outer);
	check_fds();
}

Test(value, null_key_is_einval_and_keeps_value, .timeout = 10)
{
	ctx_t *sentinel = (ctx_t *)0x1, *r = sentinel;
	int x;

	memset(&rec, 0, sizeof(rec));
	cr_assert_eq(ctx_with_value(ctx_background(), NULL, &x, dtor, &r), -EINVAL);
	cr_assert_eq(r, sentinel, "*ret untouched");
	cr_assert_eq(ctx_with_value(NULL, &key1, &x, dtor, &r), -EINVAL);
	cr_assert_eq(r, sentinel);
	cr_assert_eq(ctx_with_value(ctx_background(), &key1, &x, dtor, NULL), -EINVAL);
	cr_assert_eq(atomic_load(&rec.calls), 0, "destroy is not called when ctx_with_value fails");
	check_fds();
}

Test(value, destroy_called_once_at_free, .timeout = 10)
{
	ctx_t *v = NULL;
	int x;

	memset(&rec, 0, sizeof(rec));
	cr_assert_eq(ctx_with_value(ctx_background(), &key1, &x, dtor, &v), 0);
	cr_assert_eq(ctx_ref(v), v);
	ctx_unref(v);
	cr_assert_eq(atomic_load(&rec.calls), 0, "one reference is still held");
	ctx_unref(v);
	cr_assert_eq(atomic_load(&rec.calls), 1);
	cr_assert_eq(rec.last, &x);
	check_fds();
}

Test(value, destroy_waits_for_children_not_for_cancel, .timeout = 10)
{
	ctx_t *p = NULL, *v = NULL, *child = NULL;
	int x;

	memset(&rec, 0, sizeof(rec));
	cr_assert_eq(ctx_with_cancel(ctx_background(), &p), 0);
	cr_assert_eq(ctx_with_value(p, &key1, &x, dtor, &v), 0);
	cr_assert_eq(ctx_with_cancel(v, &child), 0);
	cr_assert_eq(ctx_cancel(p), 0);
	cr_assert_eq(atomic_load(&rec.calls), 0, "cancelling is not freeing");
	ctx_unref(v);
	cr_assert_eq(atomic_load(&rec.calls), 0, "the child holds a reference");
	cr_assert_eq(ctx_value(child, &key1), &x);
	ctx_unref(child);
	cr_assert_eq(atomic_load(&rec.calls), 1);
	ctx_unref(p);
	cr_assert_eq(atomic_load(&rec.calls), 1, "exactly once");
	check_fds();
}

Test(value, destroy_with_null_value, .timeout = 10)
{
	ctx_t *v = NULL;

	memset(&rec, 0, sizeof(rec));
	rec.last = (void *)&rec;
	cr_assert_eq(ctx_with_value(ctx_background(), &key1, NULL, dtor, &v), 0);
	ctx_unref(v);
	cr_assert_eq(atomic_load(&rec.calls), 1);
	cr_assert_null(rec.last);
	check_fds();
}

static void *drop_ref(void *arg)
{
	ctx_unref(arg);
	return NULL;
}

Test(value, destroy_runs_in_thread_dropping_last_ref, .timeout = 10)
{
	ctx_t *v = NULL;
	pthread_t t;
	int x;

	memset(&rec, 0, sizeof(rec));
	cr_assert_eq(ctx_with_value(ctx_background(), &key1, &x, dtor, &v), 0);
	cr_assert_eq(pthread_create(&t, NULL, drop_ref, v), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(atomic_load(&rec.calls), 1);
	cr_assert(pthread_equal(rec.thread, t), "destroy ran in another thread");
	check_fds();
}

Test(value, value_context_done_state_is_ancestors, .timeout = 10)
{
	ctx_t *c = NULL, *v = NULL, *vv = NULL;
	struct timespec ts;
	int fd;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_eq(ctx_with_value(c, &key1, NULL, NULL, &v), 0);
	cr_assert_eq(ctx_with_value(v, &key2, NULL, NULL, &vv), 0);
	/* Asking the value context first must still give the ancestor's fd. */
	fd = ctx_fd(vv);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ctx_fd(v), fd);
	cr_assert_eq(ctx_fd(c), fd, "a value context uses its ancestor's fd");
	cr_assert_neq(fd, ctx_fd(ctx_background()));
	cr_assert_not(ctx_deadline(vv, &ts));
	cr_assert_eq(ctx_err(vv), 0);
	cr_assert_eq(ctx_cancel_cause(c, 66), 0);
	cr_assert_eq(ctx_err(v), -ECANCELED);
	cr_assert_eq(ctx_cause(v), 66);
	cr_assert_eq(ctx_err(vv), -ECANCELED);
	cr_assert_eq(ctx_cause(vv), 66);
	assert_readable(fd);
	ctx_unref(vv);
	ctx_unref(v);
	ctx_unref(c);
	check_fds();
}

Test(value, value_of_root_shares_never_ready_fd, .timeout = 10)
{
	ctx_t *v = NULL;

	cr_assert_eq(ctx_with_value(ctx_todo(), &key1, NULL, NULL, &v), 0);
	cr_assert_eq(ctx_fd(v), ctx_fd(ctx_background()));
	assert_not_readable(ctx_fd(v));
	cr_assert_eq(ctx_timeout_ms(v), -1);
	cr_assert_eq(ctx_cancel(v), -EINVAL);
	ctx_unref(v);
	check_fds();
}

Test(value, value_of_deadline_times_out_with_it, .timeout = 10)
{
	ctx_t *d = NULL, *v = NULL;

	cr_assert_eq(ctx_with_timeout_cause(ctx_background(), 20 * NSEC_PER_MSEC, 31, &d), 0);
	cr_assert_eq(ctx_with_value(d, &key1, NULL, NULL, &v), 0);
	cr_assert_eq(ctx_fd(v), ctx_fd(d));
	cr_assert_eq(wait_done(v, 5000), -ETIMEDOUT);
	cr_assert_eq(ctx_cause(v), 31);
	ctx_unref(v);
	ctx_unref(d);
	check_fds();
}

Test(value, without_cancel_sees_values_and_is_never_done, .timeout = 10)
{
	ctx_t *v = NULL, *d = NULL, *w = NULL, *wv = NULL, *wc = NULL;
	struct timespec ts;
	int x;

	cr_assert_eq(ctx_with_value(ctx_background(), &key1, &x, NULL, &v), 0);
	cr_assert_eq(ctx_with_timeout(v, 30 * NSEC_PER_MSEC, &d), 0);
	cr_assert_eq(ctx_without_cancel(d, &w), 0);
	cr_assert_not_null(w);
	cr_assert_eq(ctx_value(w, &key1), &x, "without_cancel sees the parent's values");
	cr_assert_not(ctx_deadline(w, &ts), "no deadline");
	cr_assert_eq(ctx_timeout_ms(w), -1);
	cr_assert_eq(ctx_fd(w), ctx_fd(ctx_background()), "the shared never-ready fd");
	cr_assert_eq(ctx_with_value(w, &key2, NULL, NULL, &wv), 0);
	cr_assert_eq(ctx_with_cancel(w, &wc), 0);

	cr_assert_eq(wait_done(d, 5000), -ETIMEDOUT);
	cr_assert_eq(ctx_err(w), 0, "never done although the parent is");
	cr_assert_eq(ctx_cause(w), 0);
	cr_assert_eq(ctx_err(wv), 0);
	cr_assert_eq(ctx_err(wc), 0, "children of without_cancel do not see the cancel");
	assert_not_readable(ctx_fd(w));
	cr_assert_eq(ctx_cancel(w), -EINVAL);
	cr_assert_eq(ctx_value(wc, &key1), &x);

	/* Derived from a done parent, it is still live. */
	{
		ctx_t *w2 = NULL;

		cr_assert_eq(ctx_without_cancel(d, &w2), 0);
		cr_assert_eq(ctx_err(w2), 0);
		ctx_unref(w2);
	}
	cr_assert_eq(ctx_cancel(wc), 0);
	ctx_unref(wc);
	ctx_unref(wv);
	ctx_unref(w);
	ctx_unref(d);
	ctx_unref(v);
	check_fds();
}

Test(value, without_cancel_keeps_parent_values_alive, .timeout = 10)
{
	ctx_t *v = NULL, *w = NULL;
	int x;

	memset(&rec, 0, sizeof(rec));
	cr_assert_eq(ctx_with_value(ctx_background(), &key1, &x, dtor, &v), 0);
	cr_assert_eq(ctx_without_cancel(v, &w), 0);
	ctx_unref(v);
	cr_assert_eq(atomic_load(&rec.calls), 0);
	cr_assert_eq(ctx_value(w, &key1), &x);
	ctx_unref(w);
	cr_assert_eq(atomic_load(&rec.calls), 1);
	check_fds();
}

Test(value, many_values_freed_each_once, .timeout = 30)
{
	enum { N = 10000 };
	static int vals[N];
	static atomic_int freed[N];
	ctx_t *cur = ctx_background();

	for (int i = 0; i < N; i++) {
		ctx_t *next = NULL;

		atomic_store(&freed[i], 0);
		cr_assert_eq(ctx_with_value(cur, &vals[i], &freed[i], count_fn, &next), 0);
		if (cur != ctx_background())
			ctx_unref(cur);
		cur = next;
	}
	for (int i = 0; i < N; i += 997)
		cr_assert_eq(ctx_value(cur, &vals[i]), &freed[i]);
	ctx_unref(cur);
	for (int i = 0; i < N; i++)
		cr_assert_eq(atomic_load(&freed[i]), 1, "value %d destroyed %d times", i,
			     atomic_load(&freed[i]));
	check_fds();
}
