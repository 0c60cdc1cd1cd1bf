/* SPDX-License-Identifier: MIT */
/* ctx_with_cancel, ctx_cancel, ctx_cancel_cause and propagation. */
#include "common.h"

TestSuite(cancel, .init = test_setup);

Test(cancel, with_cancel_is_live, .timeout = 10)
{
	ctx_t *c = NULL;
	struct timespec ts;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_not_null(c);
	cr_assert_eq(ctx_err(c), 0);
	cr_assert_eq(ctx_cause(c), 0);
	cr_assert_not(ctx_deadline(c, &ts));
	cr_assert_eq(ctx_timeout_ms(c), -1);
	cr_assert_null(ctx_unref(c));
	check_fds();
}

Test(cancel, cancel_sets_error_and_cause, .timeout = 10)
{
	ctx_t *c = NULL;
	int fd;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	fd = ctx_fd(c);
	cr_assert_geq(fd, 0);
	assert_not_readable(fd);
	cr_assert_eq(ctx_cancel(c), 0);
	cr_assert_eq(ctx_err(c), -ECANCELED);
	cr_assert_eq(ctx_cause(c), -ECANCELED);
	assert_readable(fd);
	cr_assert_eq(ctx_timeout_ms(c), 0, "a done context has 0 ms left");
	ctx_unref(c);
	check_fds();
}

Test(cancel, cancel_cause_records_cause, .timeout = 10)
{
	const int causes[] = { 42, -ENOENT, INT_MIN, INT_MAX, 1, -1 };

	for (size_t i = 0; i < sizeof(causes) / sizeof(causes[0]); i++) {
		ctx_t *c = NULL;

		cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
		cr_assert_eq(ctx_cancel_cause(c, causes[i]), 0);
		cr_assert_eq(ctx_err(c), -ECANCELED, "the error is always -ECANCELED");
		cr_assert_eq(ctx_cause(c), causes[i], "cause reported exactly as given");
		ctx_unref(c);
	}
	check_fds();
}

Test(cancel, cause_zero_means_ecanceled, .timeout = 10)
{
	ctx_t *c = NULL;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_eq(ctx_cancel_cause(c, 0), 0);
	cr_assert_eq(ctx_err(c), -ECANCELED);
	cr_assert_eq(ctx_cause(c), -ECANCELED);
	ctx_unref(c);
	check_fds();
}

Test(cancel, ealready_and_first_cause_wins, .timeout = 10)
{
	ctx_t *c = NULL;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_eq(ctx_cancel_cause(c, 7), 0);
	cr_assert_eq(ctx_cancel_cause(c, 8), -EALREADY);
	cr_assert_eq(ctx_cancel(c), -EALREADY);
	cr_assert_eq(ctx_cancel_cause(c, 0), -EALREADY);
	cr_assert_eq(ctx_err(c), -ECANCELED);
	cr_assert_eq(ctx_cause(c), 7, "later causes never overwrite the first");
	ctx_unref(c);
	check_fds();
}

Test(cancel, children_inherit_error_and_cause, .timeout = 10)
{
	ctx_t *p = NULL, *c = NULL, *g = NULL, *other = NULL;
	int fp, fc, fg;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &p), 0);
	cr_assert_eq(ctx_with_cancel(p, &c), 0);
	cr_assert_eq(ctx_with_cancel(c, &g), 0);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &other), 0);
	fp = ctx_fd(p);
	fc = ctx_fd(c);
	fg = ctx_fd(g);
	cr_assert(fp >= 0 && fc >= 0 && fg >= 0);
	cr_assert(fp != fc && fc != fg && fp != fg, "each cancellable context has its own fd");

	cr_assert_eq(ctx_cancel_cause(p, 99), 0);
	/* By the time ctx_cancel returns, descendants' fds are readable. */
	assert_readable(fp);
	assert_readable(fc);
	assert_readable(fg);
	cr_assert_eq(ctx_err(c), -ECANCELED);
	cr_assert_eq(ctx_cause(c), 99);
	cr_assert_eq(ctx_err(g), -ECANCELED);
	cr_assert_eq(ctx_cause(g), 99);
	cr_assert_eq(ctx_cancel(c), -EALREADY, "a child cancelled through its parent is done");
	cr_assert_eq(ctx_cancel_cause(g, 5), -EALREADY);
	cr_assert_eq(ctx_cause(g), 99);
	cr_assert_eq(ctx_err(other), 0, "unrelated contexts are untouched");
	ctx_unref(g);
	ctx_unref(c);
	ctx_unref(p);
	ctx_unref(other);
	check_fds();
}

Test(cancel, child_cancel_does_not_touch_parent_or_siblings, .timeout = 10)
{
	ctx_t *p = NULL, *a = NULL, *b = NULL, *ag = NULL;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &p), 0);
	cr_assert_eq(ctx_with_cancel(p, &a), 0);
	cr_assert_eq(ctx_with_cancel(p, &b), 0);
	cr_assert_eq(ctx_with_cancel(a, &ag), 0);
	cr_assert_eq(ctx_cancel_cause(a, 3), 0);
	cr_assert_eq(ctx_err(p), 0);
	cr_assert_eq(ctx_err(b), 0);
	assert_not_readable(ctx_fd(p));
	assert_not_readable(ctx_fd(b));
	cr_assert_eq(ctx_err(ag), -ECANCELED);
	cr_assert_eq(ctx_cause(ag), 3);

	/* The cancelled child was removed from p: cancelling p later keeps its cause. */
	cr_assert_eq(ctx_cancel_cause(p, 4), 0);
	cr_assert_eq(ctx_cause(a), 3);
	cr_assert_eq(ctx_cause(ag), 3);
	cr_assert_eq(ctx_cause(b), 4);
	ctx_unref(ag);
	ctx_unref(a);
	ctx_unref(b);
	ctx_unref(p);
	check_fds();
}

Test(cancel, child_of_done_parent_is_born_done, .timeout = 10)
{
	ctx_t *p = NULL, *c = NULL, *d = NULL, *t = NULL, *v = NULL;
	static const char key;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &p), 0);
	cr_assert_eq(ctx_cancel_cause(p, 17), 0);

	cr_assert_eq(ctx_with_cancel(p, &c), 0);
	cr_assert_eq(ctx_err(c), -ECANCELED);
	cr_assert_eq(ctx_cause(c), 17);
	assert_readable(ctx_fd(c));
	cr_assert_eq(ctx_cancel(c), -EALREADY);

	/* A deadline child takes the parent's error, not -ETIMEDOUT. */
	cr_assert_eq(ctx_with_timeout_cause(p, 3600 * NSEC_PER_SEC, 5, &d), 0);
	cr_assert_eq(ctx_err(d), -ECANCELED);
	cr_assert_eq(ctx_cause(d), 17);
	assert_readable(ctx_fd(d));

	cr_assert_eq(ctx_with_timeout(p, 0, &t), 0);
	cr_assert_eq(ctx_err(t), -ECANCELED, "parent's error wins over a passed deadline");
	cr_assert_eq(ctx_cause(t), 17);

	cr_assert_eq(ctx_with_value(p, &key, NULL, NULL, &v), 0);
	cr_assert_eq(ctx_err(v), -ECANCELED);
	cr_assert_eq(ctx_cause(v), 17);
	assert_readable(ctx_fd(v));

	ctx_unref(v);
	ctx_unref(t);
	ctx_unref(d);
	ctx_unref(c);
	ctx_unref(p);
	check_fds();
}

Test(cancel, child_of_timed_out_parent_is_born_timed_out, .timeout = 10)
{
	ctx_t *p = NULL, *c = NULL;

	cr_assert_eq(ctx_with_timeout_cause(ctx_background(), 0, 23, &p), 0);
	cr_assert_eq(ctx_err(p), -ETIMEDOUT);
	cr_assert_eq(ctx_with_cancel(p, &c), 0);
	cr_assert_eq(ctx_err(c), -ETIMEDOUT);
	cr_assert_eq(ctx_cause(c), 23);
	assert_readable(ctx_fd(c));
	ctx_unref(c);
	ctx_unref(p);
	check_fds();
}

Test(cancel, cancellable_kinds_return_zero, .timeout = 10)
{
	ctx_t *d = NULL, *f = NULL;
	int pfd[2];

	cr_assert_eq(ctx_with_timeout(ctx_background(), 3600 * NSEC_PER_SEC, &d), 0);
	cr_assert_eq(ctx_cancel_cause(d, 12), 0);
	cr_assert_eq(ctx_err(d), -ECANCELED, "an explicit cancel is not a timeout");
	cr_assert_eq(ctx_cause(d), 12);

	cr_assert_eq(pipe(pfd), 0);
	cr_assert_eq(ctx_with_fd(ctx_background(), pfd[0], EPOLLIN, 0, &f), 0);
	cr_assert_eq(ctx_cancel(f), 0);
	cr_assert_eq(ctx_err(f), -ECANCELED);
	cr_assert_eq(ctx_cause(f), -ECANCELED);
	ctx_unref(f);
	ctx_unref(d);
	close(pfd[0]);
	close(pfd[1]);
	check_fds();
}

Test(cancel, uncancellable_kinds_are_einval_whatever_the_ancestors, .timeout = 10)
{
	static const char key;
	ctx_t *p = NULL, *v = NULL, *w = NULL;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &p), 0);
	cr_assert_eq(ctx_with_value(p, &key, NULL, NULL, &v), 0);
	cr_assert_eq(ctx_without_cancel(p, &w), 0);
	cr_assert_eq(ctx_cancel(v), -EINVAL);
	cr_assert_eq(ctx_cancel_cause(v, 1), -EINVAL);
	cr_assert_eq(ctx_cancel(w), -EINVAL);
	cr_assert_eq(ctx_err(p), 0, "cancelling a value context must not cancel its parent");
	cr_assert_eq(ctx_cancel(p), 0);
	cr_assert_eq(ctx_cancel(v), -EINVAL, "still -EINVAL once the ancestor is done");
	cr_assert_eq(ctx_cancel_cause(v, 1), -EINVAL);
	cr_assert_eq(ctx_cancel(w), -EINVAL);
	cr_assert_eq(ctx_err(w), 0);
	ctx_unref(w);
	ctx_unref(v);
	ctx_unref(p);
	check_fds();
}

Test(cancel, ref_keeps_alive_and_unref_returns_null, .timeout = 10)
{
	ctx_t *c = NULL, *child = NULL;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_eq(ctx_ref(c), c);
	cr_assert_null(ctx_unref(c));
	cr_assert_eq(ctx_err(c), 0, "still alive after ref + unref");
	cr_assert_geq(ctx_fd(c), 0);

	/* A child holds a reference on its parent. */
	cr_assert_eq(ctx_with_cancel(c, &child), 0);
	cr_assert_null(ctx_unref(c));
	cr_assert_eq(ctx_err(child), 0);
	cr_assert_eq(ctx_cancel(child), 0);
	cr_assert_null(ctx_unref(child));
	check_fds();
}

Test(cancel, unref_before_cancel_then_cancel_parent, .timeout = 10)
{
	ctx_t *p = NULL;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &p), 0);
	for (int i = 0; i < 1000; i++) {
		ctx_t *c = NULL;

		cr_assert_eq(ctx_with_cancel(p, &c), 0);
		if (i % 3 == 0)
			cr_assert_geq(ctx_fd(c), 0);
		ctx_unref(c);
	}
	/* Freed children must no longer be reachable from p. */
	cr_assert_eq(ctx_cancel(p), 0);
	ctx_unref(p);
	check_fds();
}

Test(cancel, parent_with_many_children, .timeout = 60)
{
	unsigned long n = scaled(200000);
	ctx_t *p = NULL, **kids = calloc(n, sizeof(*kids));
	int *fds = calloc(n, sizeof(*fds));

	cr_assert(kids && fds);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &p), 0);
	for (unsigned long i = 0; i < n; i++) {
		cr_assert_eq(ctx_with_cancel(p, &kids[i]), 0);
		fds[i] = (i % 1000 == 0) ? ctx_fd(kids[i]) : -1;
	}
	cr_assert_eq(ctx_cancel_cause(p, 1234), 0);
	for (unsigned long i = 0; i < n; i++) {
		cr_assert_eq(ctx_err(kids[i]), -ECANCELED);
		cr_assert_eq(ctx_cause(kids[i]), 1234);
		if (fds[i] >= 0)
			assert_readable(fds[i]);
	}
	for (unsigned long i = 0; i < n; i++)
		ctx_unref(kids[i]);
	ctx_unref(p);
	free(kids);
	free(fds);
	check_fds();
}

Test(cancel, cancel_one_child_of_many, .timeout = 60)
{
	/* Even, so that the sweep below visits exactly the even indexes. */
	unsigned long n = (scaled(100000) + 1) & ~1UL;
	ctx_t *p = NULL, **kids = calloc(n, sizeof(*kids));

	cr_assert_not_null(kids);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &p), 0);
	for (unsigned long i = 0; i < n; i++)
		cr_assert_eq(ctx_with_cancel(p, &kids[i]), 0);
	/* Cancel and free every other child, one at a time, in a scattered order. */
	for (unsigned long i = 0; i < 2 * n; i += 2) {
		/* Scattered first, then a sweep for the ones the scatter missed. */
		unsigned long j = i < n ? ((i * 7919) % n) & ~1UL : i - n;

		if (!kids[j])
			continue;
		cr_assert_eq(ctx_cancel_cause(kids[j], 2), 0);
		cr_assert_eq(ctx_err(p), 0);
		kids[j] = ctx_unref(kids[j]);
	}
	for (unsigned long i = 1; i < n; i += 2)
		cr_assert_eq(ctx_err(kids[i]), 0, "sibling %lu was cancelled", i);
	cr_assert_eq(ctx_cancel_cause(p, 3), 0);
	for (unsigned long i = 0; i < n; i++) {
		if (!kids[i])
			continue;
		cr_assert(i % 2, "child %lu was not cancelled", i);
		cr_assert_eq(ctx_cause(kids[i]), 3);
		ctx_unref(kids[i]);
	}
	ctx_unref(p);
	free(kids);
	check_fds();
}

/* The deep chain runs on a small stack: recursion over it would overflow. */
struct chain_job {
	unsigned long depth;
	bool cancel;
	int err_root;
	int err_leaf;
	int cause_leaf;
	bool leaf_readable;
	int failed_at;
	const void *value_seen;
};

static const char chain_key;
static int chain_value;

static void *chain_thread(void *arg)
{
	struct chain_job *j = arg;
	ctx_t *root = NULL, *leaf = NULL, *v = NULL;

	j->failed_at = -1;
	if (ctx_with_value(ctx_background(), &chain_key, &chain_value, NULL, &v) ||
	    ctx_with_cancel(v, &root)) {
		j->failed_at = 0;
		return NULL;
	}
	ctx_unref(v);
	leaf = ctx_ref(root);
	for (unsigned long i = 1; i < j->depth; i++) {
		ctx_t *next = NULL;

		if (ctx_with_cancel(leaf, &next)) {
			j->failed_at = (int)i;
			break;
		}
		/* Only the child's reference keeps each link alive. */
		ctx_unref(leaf);
		leaf = next;
	}
	j->value_seen = ctx_value(leaf, &chain_key);
	if (j->cancel) {
		int fd = ctx_fd(leaf);

		ctx_cancel_cause(root, 77);
		j->leaf_readable = fd >= 0 && fd_wait_readable(fd, 0);
	}
	j->err_root = ctx_err(root);
	j->err_leaf = ctx_err(leaf);
	j->cause_leaf = ctx_cause(leaf);
	/* Dropping the leaf frees the whole chain but the root. */
	ctx_unref(leaf);
	ctx_unref(root);
	return NULL;
}

static void run_chain(struct chain_job *j)
{
	size_t stack = 64 * 1024;
	pthread_attr_t attr;
	pthread_t t;

	if (stack < (size_t)PTHREAD_STACK_MIN)
		stack = PTHREAD_STACK_MIN;
	cr_assert_eq(pthread_attr_init(&attr), 0);
	cr_assert_eq(pthread_attr_setstacksize(&attr, stack), 0);
	cr_assert_eq(pthread_create(&t, &attr, chain_thread, j), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	pthread_attr_destroy(&attr);
	cr_assert_eq(j->failed_at, -1, "derivation failed at depth %d", j->failed_at);
	cr_assert_eq(j->value_seen, &chain_value, "value lookup through the chain");
}

Test(cancel, million_deep_chain_cancelled_and_freed_on_small_stack, .timeout = 120)
{
	struct chain_job j = { .depth = scaled(1000000), .cancel = true };

	run_chain(&j);
	cr_assert_eq(j.err_root, -ECANCELED);
	cr_assert_eq(j.err_leaf, -ECANCELED);
	cr_assert_eq(j.cause_leaf, 77);
	cr_assert(j.leaf_readable, "the leaf fd is readable when ctx_cancel returns");
	check_fds();
}

Test(cancel, million_deep_chain_freed_live_on_small_stack, .timeout = 120)
{
	struct chain_job j = { .depth = scaled(1000000), .cancel = false };

	run_chain(&j);
	cr_assert_eq(j.err_root, 0);
	cr_assert_eq(j.err_leaf, 0);
	check_fds();
}

/*
 * A live cancel context costs one of glibc's 80-byte chunks, as Go's
 * cancelCtx costs its 80-byte size class (bench/ row mem_cancel.heap): the
 * pointer that makes deadline lookup O(1) must not cost a bigger one.
 */
Test(cancel, a_live_cancel_context_costs_80_bytes_of_heap, .timeout = 30)
{
#if defined(__SANITIZE_ADDRESS__)
	cr_skip_test("AddressSanitizer's allocator has sizes of its own");
#else
	enum { N = 10000 };
	ctx_t *parent, **c = malloc(N * sizeof(*c));
	size_t before;
	double per;

	cr_assert_not_null(c);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &parent), 0);
	before = heap_bytes();
	for (int i = 0; i < N; i++)
		cr_assert_eq(ctx_with_cancel(parent, &c[i]), 0);
	per = (double)(heap_bytes() - before) / N;
	cr_expect_leq(per, 80.0, "%.1f bytes of heap per live cancel context", per);
	cr_expect_gt(per, 0.0, "mallinfo2() counts nothing here");
	for (int i = 0; i < N; i++)
		ctx_unref(c[i]);
	ctx_unref(parent);
	free(c);
	check_fds();
#endif
}
