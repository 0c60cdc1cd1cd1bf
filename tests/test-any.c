/* SPDX-License-Identifier: MIT */
/*
 * ctx_with_any and ctx_any_index (1.1, "Merging"): a context done as soon
 * as any of its parents is done. Written from the contract alone.
 *
 * A merged context is a link under each of its parents, so cancelling a
 * parent cancels it as it cancels any descendant: its error, cause, done
 * fd and after-functions are settled by the time ctx_cancel returns.
 */
#include <inttypes.h>

#include "common.h"
#include "forking.h"

TestSuite(any, .init = test_setup);
/* No warm-up: these tests watch the library's thread and descriptors appear. */
TestSuite(any_fresh);

#define HOUR (3600 * NSEC_PER_SEC)

static ctx_t *const sentinel = (ctx_t *)0x1;
static const char key, key_a, key_b, key_c;

static ctx_t *new_cancel(ctx_t *parent)
{
	ctx_t *c = NULL;

	cr_assert_eq(ctx_with_cancel(parent, &c), 0);
	return c;
}

static ctx_t *new_any(ctx_t *const *parents, size_t n)
{
	ctx_t *m = NULL;
	int r = ctx_with_any(parents, n, &m);

	cr_assert_eq(r, 0, "ctx_with_any(n=%zu): %d", n, r);
	cr_assert_not_null(m);
	return m;
}

/* Threads of this process, the library's own included. */
static int task_count(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static const char *describe(const ctx_t *c)
{
	static char buf[1024];
	int n = ctx_describe(c, NULL, 0);

	cr_assert_geq(n, 0);
	cr_assert_lt(n, (int)sizeof(buf));
	cr_assert_eq(ctx_describe(c, buf, sizeof(buf)), n);
	cr_assert_eq(strlen(buf), (size_t)n);
	return buf;
}

static bool ts_eq(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* ---- arguments ---------------------------------------------------------- */

/*
 * Every refused call leaves *ret alone, takes no reference (the value
 * parent's destructor runs at its owner's unref), and in a process without
 * the library's thread starts none and opens nothing.
 */
Test(any_fresh, bad_arguments_are_einval_and_create_nothing, .timeout = 10)
{
	atomic_int destroyed = 0;
	ctx_t *a = new_cancel(ctx_background()), *v = NULL, *r = sentinel;
	ctx_t *ps[128];
	int fds, tasks;

	cr_assert_eq(library_threads(), 0, "precondition: no library thread yet");
	cr_assert_eq(ctx_with_value(a, &key, &destroyed, count_fn, &v), 0);
	for (size_t i = 0; i < 128; i++)
		ps[i] = i % 2 ? a : v;
	fds = fd_count();
	tasks = task_count();

	cr_assert_eq(ctx_with_any(NULL, 1, &r), -EINVAL, "NULL parents");
	cr_assert_eq(ctx_with_any(NULL, 0, &r), -EINVAL);
	cr_assert_eq(ctx_with_any(ps, 0, &r), -EINVAL, "n = 0");
	cr_assert_eq(ctx_with_any(ps, 65, &r), -EINVAL, "n = 65");
	cr_assert_eq(ctx_with_any(ps, 128, &r), -EINVAL, "n = 128");
	cr_assert_eq(ctx_with_any(ps, SIZE_MAX, &r), -EINVAL, "n = SIZE_MAX");
	cr_assert_eq(ctx_with_any(ps, 2, NULL), -EINVAL, "ret NULL");
	cr_assert_eq(r, sentinel, "*ret untouched on failure");
	{
		const size_t at[][2] = { { 1, 0 }, { 2, 0 }, { 2, 1 }, { 3, 2 }, { 64, 0 }, { 64, 63 } };

		for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
			ctx_t *saved = ps[at[i][1]];

			ps[at[i][1]] = NULL;
			cr_assert_eq(ctx_with_any(ps, at[i][0], &r), -EINVAL,
				     "n = %zu with parents[%zu] NULL", at[i][0], at[i][1]);
			ps[at[i][1]] = saved;
			cr_assert_eq(r, sentinel, "*ret untouched on failure");
		}
	}
	cr_assert_eq(ctx_any_index(NULL), -EINVAL);

	cr_expect_eq(library_threads(), 0, "a refused ctx_with_any started the library thread");
	cr_expect_eq(task_count(), tasks, "a refused ctx_with_any started a thread");
	cr_expect_eq(fd_count(), fds, "a refused ctx_with_any left %d descriptors open",
		     fd_count() - fds);
	ctx_unref(v);
	cr_assert_eq(atomic_load(&destroyed), 1,
		     "a refused ctx_with_any kept a reference on a parent");
	ctx_unref(a);
}

Test(any_fresh, creating_opens_no_descriptor_and_starts_no_thread, .timeout = 10)
{
	ctx_t *ps[64], *a, *b, *w, *v, *m, *m64, *mr, *k;
	char buf[256];
	int fds, tasks;

	cr_assert_eq(library_threads(), 0, "precondition: no library thread yet");
	a = new_cancel(ctx_background());
	b = new_cancel(ctx_todo());
	cr_assert_eq(ctx_without_cancel(a, &w), 0);
	cr_assert_eq(ctx_with_value(b, &key, NULL, NULL, &v), 0);
	for (int i = 0; i < 64; i++)
		ps[i] = new_cancel(i % 2 ? a : b);
	fds = fd_count();
	tasks = task_count();

	m = new_any((ctx_t *const[]){ a, b }, 2);
	m64 = new_any(ps, 64);
	mr = new_any((ctx_t *const[]){ ctx_background(), ctx_todo(), w, v }, 4);
	k = new_cancel(m);
	/* What a caller does with them, short of asking for a done fd. */
	cr_assert_eq(ctx_err(m), 0);
	cr_assert_eq(ctx_any_index(m64), -1);
	cr_assert_gt(ctx_describe(mr, buf, sizeof(buf)), 0);
	cr_assert_not(ctx_deadline(m, NULL));
	cr_assert_null(ctx_value(mr, &key));
	cr_assert_eq(ctx_cancel_cause(ps[5], 5), 0);
	cr_assert_eq(ctx_any_index(m64), 5);
	cr_assert_eq(ctx_cancel(mr), 0);
	cr_assert_eq(ctx_cancel(a), 0);
	cr_assert_eq(ctx_err(k), -ECANCELED);

	cr_expect_eq(fd_count(), fds, "merging opened %d descriptors", fd_count() - fds);
	cr_expect_eq(task_count(), tasks, "merging started a thread");
	cr_expect_eq(library_threads(), 0, "merging started the library thread");
	ctx_unref(k);
	ctx_unref(mr);
	ctx_unref(m64);
	ctx_unref(m);
	for (int i = 0; i < 64; i++)
		ctx_unref(ps[i]);
	ctx_unref(v);
	ctx_unref(w);
	ctx_unref(b);
	ctx_unref(a);
	cr_expect_eq(fd_count(), fds);
	cr_expect_eq(library_threads(), 0);
}

/* Parents with a deadline, an fd source and a done fd of their own: still no new fd. */
Test(any, creating_under_deadline_and_fd_parents_opens_no_descriptor, .timeout = 10)
{
	ctx_t *a = new_cancel(ctx_background()), *d = NULL, *f = NULL, *m;
	int p[2], fds;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(ctx_with_timeout(ctx_background(), HOUR, &d), 0);
	cr_assert_eq(ctx_with_fd(ctx_background(), p[0], EPOLLIN, 0, &f), 0);
	cr_assert_geq(ctx_fd(a), 0);
	cr_assert_geq(ctx_fd(d), 0);
	fds = fd_count();
	m = new_any((ctx_t *const[]){ d, f, a }, 3);
	cr_assert_eq(fd_count(), fds, "ctx_with_any opened a descriptor");
	cr_assert_eq(ctx_cancel(m), 0);
	cr_assert_eq(fd_count(), fds, "cancelling a merged context without its fd opened one");
	ctx_unref(m);
	ctx_unref(f);
	ctx_unref(d);
	ctx_unref(a);
	close(p[0]);
	close(p[1]);
	check_fds();
}

/* ---- done when any parent is done --------------------------------------- */

Test(any, one_parent, .timeout = 10)
{
	ctx_t *a = new_cancel(ctx_background()), *m = new_any(&a, 1);
	int fd = ctx_fd(m);

	cr_assert_geq(fd, 0);
	cr_assert_eq(ctx_err(m), 0);
	cr_assert_eq(ctx_cause(m), 0);
	cr_assert_eq(ctx_any_index(m), -1);
	assert_not_readable(fd);
	cr_assert_eq(ctx_cancel_cause(a, 5), 0);
	cr_assert_eq(ctx_err(m), -ECANCELED);
	cr_assert_eq(ctx_cause(m), 5);
	cr_assert_eq(ctx_any_index(m), 0);
	assert_readable(fd);
	ctx_unref(m);
	ctx_unref(a);
	check_fds();
}

Test(any, sixty_four_parents, .timeout = 10)
{
	const int which[] = { 0, 41, 63 };

	for (size_t w = 0; w < sizeof(which) / sizeof(which[0]); w++) {
		ctx_t *ps[64], *m;
		int fd, win = which[w];

		for (int i = 0; i < 64; i++)
			ps[i] = new_cancel(ctx_background());
		m = new_any(ps, 64);
		fd = ctx_fd(m);
		cr_assert_geq(fd, 0);
		assert_not_readable(fd);
		cr_assert_eq(ctx_cancel_cause(ps[win], 1000 + win), 0);
		cr_assert_eq(ctx_err(m), -ECANCELED);
		cr_assert_eq(ctx_cause(m), 1000 + win);
		cr_assert_eq(ctx_any_index(m), win);
		assert_readable(fd);
		/* The others follow; the first one done stays the winner. */
		for (int i = 0; i < 64; i++)
			if (i != win)
				cr_assert_eq(ctx_cancel_cause(ps[i], 2000 + i), 0);
		cr_assert_eq(ctx_cause(m), 1000 + win);
		cr_assert_eq(ctx_any_index(m), win);
		ctx_unref(m);
		for (int i = 0; i < 64; i++)
			ctx_unref(ps[i]);
	}
	check_fds();
}

Test(any, done_with_that_parents_error_and_cause, .timeout = 10)
{
	ctx_t *a = new_cancel(ctx_background()), *b = new_cancel(ctx_background());
	ctx_t *c = new_cancel(ctx_background()), *m = new_any((ctx_t *const[]){ a, b, c }, 3);

	cr_assert_eq(ctx_cancel_cause(b, 22), 0);
	cr_assert_eq(ctx_err(m), -ECANCELED);
	cr_assert_eq(ctx_cause(m), 22);
	cr_assert_eq(ctx_any_index(m), 1);
	cr_assert_eq(ctx_err(a), 0, "a merged context never cancels its parents");
	cr_assert_eq(ctx_err(c), 0);
	/* The first parent done wins: later ones change nothing. */
	cr_assert_eq(ctx_cancel_cause(a, 11), 0);
	cr_assert_eq(ctx_cancel(c), 0);
	cr_assert_eq(ctx_cause(m), 22);
	cr_assert_eq(ctx_any_index(m), 1);
	cr_assert_eq(ctx_cancel(m), -EALREADY);
	cr_assert_eq(ctx_cancel_cause(m, 3), -EALREADY);
	cr_assert_eq(ctx_cause(m), 22);
	cr_assert_eq(ctx_any_index(m), 1);
	ctx_unref(m);
	ctx_unref(c);
	ctx_unref(b);
	ctx_unref(a);
	check_fds();
}

Test(any, deadline_parent_times_out, .timeout = 10)
{
	ctx_t *a = new_cancel(ctx_background()), *d = NULL, *d2 = NULL, *m, *m2;
	struct timespec dl;
	uint64_t at;

	cr_assert_eq(ctx_with_timeout(ctx_background(), 30 * NSEC_PER_MSEC, &d), 0);
	cr_assert(ctx_deadline(d, &dl));
	m = new_any((ctx_t *const[]){ a, d }, 2);
	cr_assert_eq(wait_done(m, 5000), -ETIMEDOUT);
	at = now_ns();
	cr_assert_geq(at, ns_from_ts(&dl), "done %" PRIu64 " ns before the parent's deadline",
		      ns_from_ts(&dl) - at);
	cr_assert_eq(ctx_cause(m), -ETIMEDOUT, "cause 0 of the deadline means -ETIMEDOUT");
	cr_assert_eq(ctx_any_index(m), 1);
	cr_assert_eq(ctx_err(a), 0);

	/* A deadline's own cause, at index 0. */
	cr_assert_eq(ctx_with_timeout_cause(ctx_background(), 20 * NSEC_PER_MSEC, 33, &d2), 0);
	m2 = new_any((ctx_t *const[]){ d2, a }, 2);
	cr_assert_eq(wait_done(m2, 5000), -ETIMEDOUT);
	cr_assert_eq(ctx_cause(m2), 33);
	cr_assert_eq(ctx_any_index(m2), 0);
	ctx_unref(m2);
	ctx_unref(d2);
	ctx_unref(m);
	ctx_unref(d);
	ctx_unref(a);
	check_fds();
}

Test(any, fd_source_parent, .timeout = 10)
{
	ctx_t *a = new_cancel(ctx_background()), *f = NULL, *m;
	int p[2];

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(ctx_with_fd(ctx_background(), p[0], EPOLLIN, -EPIPE, &f), 0);
	m = new_any((ctx_t *const[]){ a, f }, 2);
	sleep_ms(20);
	cr_assert_eq(ctx_err(m), 0, "an idle fd source must not fire");
	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert_eq(wait_done(m, 5000), -ECANCELED);
	cr_assert_eq(ctx_cause(m), -EPIPE);
	cr_assert_eq(ctx_any_index(m), 1);
	cr_assert_eq(ctx_err(a), 0);
	ctx_unref(m);
	ctx_unref(f);
	ctx_unref(a);
	close(p[0]);
	close(p[1]);
	check_fds();
}

/* ---- born done ---------------------------------------------------------- */

Test(any, born_done_with_the_lowest_index_done, .timeout = 10)
{
	atomic_int ran = 0;
	ctx_t *a = new_cancel(ctx_background()), *b = new_cancel(ctx_background());
	ctx_t *c = new_cancel(ctx_background()), *t = NULL, *m, *k;
	int fd;

	cr_assert_eq(ctx_cancel_cause(b, 5), 0);
	cr_assert_eq(ctx_cancel_cause(c, 6), 0);
	m = new_any((ctx_t *const[]){ a, c, b }, 3);
	cr_assert_eq(ctx_err(m), -ECANCELED, "born done");
	cr_assert_eq(ctx_cause(m), 6);
	cr_assert_eq(ctx_any_index(m), 1, "the lowest index of the parents done");
	fd = ctx_fd(m);
	cr_assert_geq(fd, 0);
	assert_readable(fd);
	cr_assert_eq(ctx_cancel(m), -EALREADY);
	cr_assert_eq(ctx_after_func(m, count_fn, &ran, NULL), 0);
	cr_assert_eq(atomic_load(&ran), 1, "an after-function of a done context runs at once");
	k = new_cancel(m);
	cr_assert_eq(ctx_err(k), -ECANCELED);
	cr_assert_eq(ctx_cause(k), 6);
	ctx_unref(k);
	ctx_unref(m);

	/* A passed deadline counts as done, with its error. */
	cr_assert_eq(ctx_with_timeout_cause(ctx_background(), 0, 7, &t), 0);
	m = new_any((ctx_t *const[]){ a, t, b }, 3);
	cr_assert_eq(ctx_err(m), -ETIMEDOUT);
	cr_assert_eq(ctx_cause(m), 7);
	cr_assert_eq(ctx_any_index(m), 1);
	ctx_unref(m);
	m = new_any((ctx_t *const[]){ b, t }, 2);
	cr_assert_eq(ctx_err(m), -ECANCELED);
	cr_assert_eq(ctx_cause(m), 5);
	cr_assert_eq(ctx_any_index(m), 0);
	ctx_unref(m);

	ctx_unref(t);
	ctx_unref(c);
	ctx_unref(b);
	ctx_unref(a);
	check_fds();
}

/* Done is the parent's done state: a value child shares it, a without_cancel has none. */
Test(any, born_done_through_value_but_not_without_cancel, .timeout = 10)
{
	ctx_t *a = new_cancel(ctx_background()), *b = new_cancel(ctx_background());
	ctx_t *v = NULL, *w = NULL, *m;

	cr_assert_eq(ctx_cancel_cause(b, 8), 0);
	cr_assert_eq(ctx_with_value(b, &key, NULL, NULL, &v), 0);
	cr_assert_eq(ctx_without_cancel(b, &w), 0);

	m = new_any((ctx_t *const[]){ a, v }, 2);
	cr_assert_eq(ctx_err(m), -ECANCELED);
	cr_assert_eq(ctx_cause(m), 8);
	cr_assert_eq(ctx_any_index(m), 1);
	ctx_unref(m);

	m = new_any((ctx_t *const[]){ w, a }, 2);
	cr_assert_eq(ctx_err(m), 0, "without_cancel of a done context is never done");
	cr_assert_eq(ctx_any_index(m), -1);
	cr_assert_eq(ctx_cancel_cause(a, 9), 0);
	cr_assert_eq(ctx_cause(m), 9);
	cr_assert_eq(ctx_any_index(m), 1);
	ctx_unref(m);

	ctx_unref(w);
	ctx_unref(v);
	ctx_unref(b);
	ctx_unref(a);
	check_fds();
}

/* ---- cancelling it directly --------------------------------------------- */

Test(any, cancel_the_merged_context, .timeout = 10)
{
	ctx_t *a = new_cancel(ctx_background()), *b = new_cancel(ctx_background()), *m, *k;
	int fd, fa = ctx_fd(a), fb = ctx_fd(b);

	m = new_any((ctx_t *const[]){ a, b }, 2);
	k = new_cancel(m);
	fd = ctx_fd(m);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ctx_cancel(m), 0);
	cr_assert_eq(ctx_err(m), -ECANCELED);
	cr_assert_eq(ctx_cause(m), -ECANCELED);
	cr_assert_eq(ctx_any_index(m), -1, "cancelled directly: -1");
	assert_readable(fd);
	cr_assert_eq(ctx_err(k), -ECANCELED);
	cr_assert_eq(ctx_err(a), 0, "cancelling a merged context leaves its parents alone");
	cr_assert_eq(ctx_err(b), 0);
	assert_not_readable(fa);
	assert_not_readable(fb);
	cr_assert_eq(ctx_cancel_cause(a, 4), 0);
	cr_assert_eq(ctx_cause(m), -ECANCELED);
	cr_assert_eq(ctx_any_index(m), -1);
	cr_assert_eq(ctx_cancel(m), -EALREADY);
	ctx_unref(k);
	ctx_unref(m);

	m = new_any((ctx_t *const[]){ b, a }, 2); /* born done through a */
	cr_assert_eq(ctx_any_index(m), 1);
	ctx_unref(m);
	m = new_any(&b, 1);
	cr_assert_eq(ctx_cancel_cause(m, 9), 0);
	cr_assert_eq(ctx_cause(m), 9);
	cr_assert_eq(ctx_any_index(m), -1);
	cr_assert_eq(ctx_err(b), 0);
	ctx_unref(m);
	ctx_unref(b);
	ctx_unref(a);
	check_fds();
}

/* Parents that can never be done: the merged context is still cancellable. */
Test(any, never_done_parents_still_cancellable, .timeout = 10)
{
	ctx_t *w = NULL, *m;
	int fd;

	cr_assert_eq(ctx_without_cancel(ctx_background(), &w), 0);
	m = new_any((ctx_t *const[]){ ctx_background(), ctx_todo(), w }, 3);
	fd = ctx_fd(m);
	cr_assert_geq(fd, 0);
	cr_assert_neq(fd, ctx_fd(ctx_background()),
		      "a cancellable context has its own fd, not the never-ready one");
	assert_not_readable(fd);
	cr_assert_eq(ctx_cancel_cause(m, 12), 0);
	assert_readable(fd);
	cr_assert_eq(ctx_err(m), -ECANCELED);
	cr_assert_eq(ctx_cause(m), 12);
	cr_assert_eq(ctx_any_index(m), -1);
	ctx_unref(m);
	ctx_unref(w);
	check_fds();
}

/* ---- ctx_any_index ------------------------------------------------------ */

Test(any, any_index_of_other_contexts_is_einval, .timeout = 10)
{
	ctx_t *c = new_cancel(ctx_background()), *d = NULL, *v = NULL, *w = NULL, *f = NULL;
	ctx_t *m, *mk, *mv = NULL, *ma;
	int p[2];

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(ctx_with_timeout(ctx_background(), HOUR, &d), 0);
	cr_assert_eq(ctx_with_value(c, &key, NULL, NULL, &v), 0);
	cr_assert_eq(ctx_without_cancel(c, &w), 0);
	cr_assert_eq(ctx_with_fd(ctx_background(), p[0], EPOLLIN, 0, &f), 0);
	m = new_any((ctx_t *const[]){ c, d }, 2);
	mk = new_cancel(m);
	cr_assert_eq(ctx_with_value(m, &key, NULL, NULL, &mv), 0);
	ma = new_any(&m, 1);

	cr_assert_eq(ctx_any_index(NULL), -EINVAL);
	cr_assert_eq(ctx_any_index(ctx_background()), -EINVAL);
	cr_assert_eq(ctx_any_index(ctx_todo()), -EINVAL);
	cr_assert_eq(ctx_any_index(c), -EINVAL);
	cr_assert_eq(ctx_any_index(d), -EINVAL);
	cr_assert_eq(ctx_any_index(v), -EINVAL);
	cr_assert_eq(ctx_any_index(w), -EINVAL);
	cr_assert_eq(ctx_any_index(f), -EINVAL);
	cr_assert_eq(ctx_any_index(mk), -EINVAL, "a child of a merged context is not one");
	cr_assert_eq(ctx_any_index(mv), -EINVAL, "a value child of a merged context is not one");
	cr_assert_eq(ctx_any_index(m), -1);
	cr_assert_eq(ctx_any_index(ma), -1);

	cr_assert_eq(ctx_cancel_cause(c, 2), 0);
	cr_assert_eq(ctx_any_index(m), 0);
	cr_assert_eq(ctx_any_index(ma), 0, "a merged parent of a merged context");
	cr_assert_eq(ctx_cause(ma), 2);
	cr_assert_eq(ctx_any_index(mk), -EINVAL, "still -EINVAL once done");
	cr_assert_eq(ctx_any_index(mv), -EINVAL);
	cr_assert_eq(ctx_any_index(c), -EINVAL);

	ctx_unref(ma);
	ctx_unref(mv);
	ctx_unref(mk);
	ctx_unref(m);
	ctx_unref(f);
	ctx_unref(w);
	ctx_unref(v);
	ctx_unref(d);
	ctx_unref(c);
	close(p[0]);
	close(p[1]);
	check_fds();
}

/* ---- deadline and values ------------------------------------------------ */

Test(any, deadline_is_the_earliest_of_the_parents, .timeout = 10)
{
	struct timespec t1 = ts_in(HOUR), t2 = ts_in(HOUR / 2), got, kid;
	ctx_t *a = new_cancel(ctx_background()), *d1 = NULL, *d2 = NULL, *c2, *m, *m0, *k = NULL;
	int ms;

	cr_assert_eq(ctx_with_deadline(ctx_background(), &t1, &d1), 0);
	cr_assert_eq(ctx_with_deadline(ctx_background(), &t2, &d2), 0);
	c2 = new_cancel(d2); /* its deadline is d2's, inherited */

	m0 = new_any((ctx_t *const[]){ a, ctx_background() }, 2);
	cr_assert_not(ctx_deadline(m0, &got), "no parent has a deadline");
	cr_assert_eq(ctx_timeout_ms(m0), -1);
	ctx_unref(m0);

	for (int order = 0; order < 3; order++) {
		ctx_t *const orders[3][3] = { { a, d1, c2 }, { c2, a, d1 }, { d1, c2, a } };

		m = new_any(orders[order], 3);
		cr_assert(ctx_deadline(m, &got), "order %d: no deadline", order);
		cr_assert(ts_eq(&got, &t2), "order %d: deadline %ld.%09ld, want %ld.%09ld", order,
			  (long)got.tv_sec, got.tv_nsec, (long)t2.tv_sec, t2.tv_nsec);
		ms = ctx_timeout_ms(m);
		cr_assert(ms > 1700 * 1000 && ms <= 1800 * 1000, "timeout_ms %d", ms);
		ctx_unref(m);
	}

	/* Deriving under it follows the parent-earlier rule against that deadline. */
	m = new_any((ctx_t *const[]){ a, d1, c2 }, 3);
	cr_assert_eq(ctx_with_timeout(m, 2 * HOUR, &k), 0);
	cr_assert(ctx_deadline(k, &kid));
	cr_assert(ts_eq(&kid, &t2), "a later child deadline yields to the merged one");
	ctx_unref(k);
	cr_assert_eq(ctx_with_timeout(m, 60 * NSEC_PER_SEC, &k), 0);
	cr_assert(ctx_deadline(k, &kid));
	cr_assert_lt(ns_from_ts(&kid), ns_from_ts(&t2), "an earlier child deadline is its own");
	ctx_unref(k);
	ctx_unref(m);

	ctx_unref(c2);
	ctx_unref(d2);
	ctx_unref(d1);
	ctx_unref(a);
	check_fds();
}

Test(any, values_come_from_the_first_parent_only, .timeout = 10)
{
	ctx_t *p0a = NULL, *p0 = NULL, *p1a = NULL, *p1 = NULL, *m, *m2, *m3, *mv = NULL;
	static const char *a0 = "a0", *b0 = "b0", *a1 = "a1", *c1 = "c1", *own = "own";

	cr_assert_eq(ctx_with_value(ctx_background(), &key_a, (void *)a0, NULL, &p0a), 0);
	cr_assert_eq(ctx_with_value(p0a, &key_b, (void *)b0, NULL, &p0), 0);
	cr_assert_eq(ctx_with_value(ctx_background(), &key_a, (void *)a1, NULL, &p1a), 0);
	cr_assert_eq(ctx_with_value(p1a, &key_c, (void *)c1, NULL, &p1), 0);

	m = new_any((ctx_t *const[]){ p0, p1 }, 2);
	cr_assert_eq(ctx_value(m, &key_a), a0);
	cr_assert_eq(ctx_value(m, &key_b), b0);
	cr_assert_null(ctx_value(m, &key_c), "a value of parents[1] is not seen");
	cr_assert_eq(ctx_with_value(m, &key, (void *)own, NULL, &mv), 0);
	cr_assert_eq(ctx_value(mv, &key), own);
	cr_assert_eq(ctx_value(mv, &key_a), a0);
	cr_assert_null(ctx_value(mv, &key_c));

	m2 = new_any((ctx_t *const[]){ p1, p0 }, 2);
	cr_assert_eq(ctx_value(m2, &key_a), a1);
	cr_assert_eq(ctx_value(m2, &key_c), c1);
	cr_assert_null(ctx_value(m2, &key_b));

	m3 = new_any((ctx_t *const[]){ ctx_background(), p0, p1 }, 3);
	cr_assert_null(ctx_value(m3, &key_a));
	cr_assert_null(ctx_value(m3, &key_b));

	ctx_unref(m3);
	ctx_unref(m2);
	ctx_unref(mv);
	ctx_unref(m);
	ctx_unref(p1);
	ctx_unref(p1a);
	ctx_unref(p0);
	ctx_unref(p0a);
	check_fds();
}

/* ---- references --------------------------------------------------------- */

Test(any, holds_a_reference_on_every_parent, .timeout = 10)
{
	atomic_int destroyed = 0;
	ctx_t *r0 = new_cancel(ctx_background()), *r1 = new_cancel(ctx_background());
	ctx_t *p0 = NULL, *p1 = NULL, *m;

	cr_assert_eq(ctx_with_value(r0, &key, &destroyed, count_fn, &p0), 0);
	cr_assert_eq(ctx_with_value(r1, &key, &destroyed, count_fn, &p1), 0);
	m = new_any((ctx_t *const[]){ p0, p1 }, 2);
	/* The caller may drop its parents at once. */
	ctx_unref(p0);
	ctx_unref(p1);
	cr_assert_eq(atomic_load(&destroyed), 0, "a parent was freed under its merged child");
	cr_assert_eq(ctx_value(m, &key), &destroyed);
	cr_assert_eq(ctx_err(m), 0);
	cr_assert_eq(ctx_cancel_cause(r1, 8), 0);
	cr_assert_eq(ctx_err(m), -ECANCELED);
	cr_assert_eq(ctx_cause(m), 8);
	cr_assert_eq(ctx_any_index(m), 1);
	cr_assert_eq(atomic_load(&destroyed), 0, "being done does not drop the parents");
	cr_assert_eq(ctx_value(m, &key), &destroyed);
	ctx_unref(m);
	cr_assert_eq(atomic_load(&destroyed), 2, "freeing it releases every parent");
	ctx_unref(r1);
	ctx_unref(r0);
	check_fds();
}

Test(any, parents_dropped_by_their_owners_still_fire, .timeout = 10)
{
	ctx_t *d = NULL, *a = new_cancel(ctx_background()), *f = NULL, *m, *m2;
	int p[2];

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(ctx_with_timeout_cause(ctx_background(), 30 * NSEC_PER_MSEC, 31, &d), 0);
	m = new_any((ctx_t *const[]){ d, a }, 2);
	d = ctx_unref(d);
	cr_assert_eq(wait_done(m, 5000), -ETIMEDOUT, "the deadline of a dropped parent fired");
	cr_assert_eq(ctx_cause(m), 31);
	cr_assert_eq(ctx_any_index(m), 0);

	cr_assert_eq(ctx_with_fd(ctx_background(), p[0], EPOLLIN, 32, &f), 0);
	m2 = new_any((ctx_t *const[]){ a, f }, 2);
	f = ctx_unref(f);
	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert_eq(wait_done(m2, 5000), -ECANCELED, "the fd source of a dropped parent fired");
	cr_assert_eq(ctx_cause(m2), 32);
	cr_assert_eq(ctx_any_index(m2), 1);
	ctx_unref(m2);
	ctx_unref(m);
	ctx_unref(a);
	close(p[0]);
	close(p[1]);
	check_fds();
}

/*
 * A merged context freed (live, or done through one parent) leaves every
 * parent: cancelling the parents afterwards must not touch it. ASan builds
 * turn a stale registration into a use-after-free report.
 */
Test(any, freed_merged_context_leaves_its_parents, .timeout = 20)
{
	atomic_int ran = 0;

	for (int i = 0; i < 1000; i++) {
		ctx_t *a = new_cancel(ctx_background()), *b = new_cancel(ctx_background()), *m;
		ctx_after_t *h = NULL;

		m = new_any((ctx_t *const[]){ a, b }, 2);
		if (i % 3 == 0)
			cr_assert_geq(ctx_fd(m), 0);
		cr_assert_eq(ctx_after_func(m, count_fn, &ran, &h), 0);
		switch (i % 4) {
		case 0: /* freed live */
			ctx_unref(m);
			cr_assert(ctx_after_stop(h), "freed before done: fn never runs");
			cr_assert_eq(ctx_cancel(a), 0);
			cr_assert_eq(ctx_cancel(b), 0);
			break;
		case 1: /* done through a, freed, then b */
			cr_assert_eq(ctx_cancel(a), 0);
			ctx_unref(m);
			cr_assert_not(ctx_after_stop(h));
			atomic_fetch_sub(&ran, 1);
			cr_assert_eq(ctx_cancel(b), 0);
			break;
		case 2: /* cancelled directly, freed, then both parents */
			cr_assert_eq(ctx_cancel(m), 0);
			ctx_unref(m);
			cr_assert_not(ctx_after_stop(h));
			atomic_fetch_sub(&ran, 1);
			cr_assert_eq(ctx_cancel(b), 0);
			cr_assert_eq(ctx_cancel(a), 0);
			break;
		default: /* freed live, parents freed live too */
			ctx_unref(m);
			cr_assert(ctx_after_stop(h));
			break;
		}
		ctx_unref(a);
		ctx_unref(b);
		cr_assert_eq(atomic_load(&ran), 0, "round %d: an after-function ran too often", i);
	}
	check_fds();
}

/* ---- propagation -------------------------------------------------------- */

Test(any, descendants_are_cancelled_with_it, .timeout = 10)
{
	static const char k;
	ctx_t *a = new_cancel(ctx_background()), *b = new_cancel(ctx_background());
	ctx_t *m, *c, *g = NULL, *v = NULL, *cc;
	int fm, fc, fg, fcc;

	m = new_any((ctx_t *const[]){ a, b }, 2);
	c = new_cancel(m);
	cr_assert_eq(ctx_with_timeout(c, HOUR, &g), 0);
	cr_assert_eq(ctx_with_value(g, &k, NULL, NULL, &v), 0);
	cc = new_cancel(v);
	fm = ctx_fd(m);
	fc = ctx_fd(c);
	fg = ctx_fd(g);
	fcc = ctx_fd(cc);
	cr_assert(fm >= 0 && fc >= 0 && fg >= 0 && fcc >= 0);
	cr_assert_eq(ctx_cancel_cause(b, 44), 0);
	/* By the time the parent's cancel returns, the whole subtree is done. */
	assert_readable(fm);
	assert_readable(fc);
	assert_readable(fg);
	assert_readable(fcc);
	cr_assert_eq(ctx_err(c), -ECANCELED);
	cr_assert_eq(ctx_cause(c), 44);
	cr_assert_eq(ctx_err(g), -ECANCELED, "a deadline child takes the merged context's error");
	cr_assert_eq(ctx_cause(g), 44);
	cr_assert_eq(ctx_err(v), -ECANCELED);
	cr_assert_eq(ctx_cause(cc), 44);
	ctx_unref(cc);
	ctx_unref(v);
	ctx_unref(g);
	ctx_unref(c);
	ctx_unref(m);

	/* A child of a merged context cancelled directly inherits its cause. */
	ctx_unref(b);
	b = new_cancel(ctx_background());
	m = new_any((ctx_t *const[]){ a, b }, 2);
	c = new_cancel(m);
	cr_assert_eq(ctx_cancel_cause(m, 45), 0);
	cr_assert_eq(ctx_cause(c), 45);
	cr_assert_eq(ctx_err(a), 0);
	cr_assert_eq(ctx_err(b), 0);
	ctx_unref(c);
	ctx_unref(m);
	ctx_unref(b);
	ctx_unref(a);
	check_fds();
}

Test(any, done_fd_is_its_own_and_flags_are_right, .timeout = 10)
{
	ctx_t *a = new_cancel(ctx_background()), *b = new_cancel(ctx_background()), *m, *m2;
	int fd, fa = ctx_fd(a), fb = ctx_fd(b);

	m = new_any((ctx_t *const[]){ a, b }, 2);
	fd = ctx_fd(m);
	cr_assert_geq(fd, 0);
	cr_assert(fd != fa && fd != fb, "a merged context has its own done fd");
	cr_assert_eq(ctx_fd(m), fd, "the same fd every time");
	cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC, "lacks FD_CLOEXEC");
	cr_assert(fcntl(fd, F_GETFL) & O_NONBLOCK, "lacks O_NONBLOCK");
	assert_not_readable(fd);
	cr_assert_eq(ctx_cancel(a), 0);
	assert_readable(fd);
	assert_readable(fd); /* and stays readable */
	cr_assert_eq(ctx_err(m), -ECANCELED, "the fd is readable only once ctx_err says done");
	/* Born done: born readable. */
	m2 = new_any((ctx_t *const[]){ b, a }, 2);
	assert_readable(ctx_fd(m2));
	assert_not_readable(fb);
	ctx_unref(m2);
	ctx_unref(m);
	ctx_unref(b);
	ctx_unref(a);
	check_fds();
}

Test(any, after_functions_run, .timeout = 10)
{
	atomic_int on_m = 0, on_kid = 0;
	ctx_t *a = new_cancel(ctx_background()), *b = new_cancel(ctx_background()), *m, *k;
	ctx_after_t *hm = NULL, *hk = NULL;

	m = new_any((ctx_t *const[]){ a, b }, 2);
	k = new_cancel(m);
	cr_assert_eq(ctx_after_func(m, count_fn, &on_m, &hm), 0);
	cr_assert_eq(ctx_after_func(k, count_fn, &on_kid, &hk), 0);
	cr_assert_eq(atomic_load(&on_m), 0);
	cr_assert_eq(ctx_cancel(a), 0);
	/* They run in the cancelling thread, before ctx_cancel returns. */
	cr_assert_eq(atomic_load(&on_m), 1);
	cr_assert_eq(atomic_load(&on_kid), 1);
	cr_assert_eq(ctx_cancel(b), 0);
	cr_assert_eq(atomic_load(&on_m), 1, "exactly once");
	cr_assert_not(ctx_after_stop(hm));
	cr_assert_not(ctx_after_stop(hk));
	ctx_unref(k);
	ctx_unref(m);
	ctx_unref(b);
	ctx_unref(a);
	check_fds();
}

struct self_free {
	ctx_t *m;
	atomic_int ran;
};

static void free_merged(void *arg)
{
	struct self_free *s = arg;

	s->m = ctx_unref(s->m);
	atomic_fetch_add(&s->ran, 1);
}

/* An after-function may free its own context: the last reference, mid-cancel. */
Test(any, after_function_may_free_the_merged_context, .timeout = 10)
{
	ctx_t *a = new_cancel(ctx_background()), *b = new_cancel(ctx_background());
	struct self_free s = { .m = NULL };
	ctx_t *d = NULL;

	s.m = new_any((ctx_t *const[]){ a, b }, 2);
	cr_assert_eq(ctx_after_func(s.m, free_merged, &s, NULL), 0);
	cr_assert_eq(ctx_cancel_cause(b, 3), 0);
	cr_assert_eq(atomic_load(&s.ran), 1);
	cr_assert_null(s.m);
	cr_assert_eq(ctx_cancel(a), 0, "the other parent cancels cleanly afterwards");

	/* Same from the library's thread: a deadline parent. */
	cr_assert_eq(ctx_with_timeout(ctx_background(), 10 * NSEC_PER_MSEC, &d), 0);
	ctx_unref(b);
	b = new_cancel(ctx_background());
	s.m = new_any((ctx_t *const[]){ b, d }, 2);
	atomic_store(&s.ran, 0);
	cr_assert_eq(ctx_after_func(s.m, free_merged, &s, NULL), 0);
	for (int i = 0; i < 500 && atomic_load(&s.ran) == 0; i++)
		sleep_ms(10);
	cr_assert_eq(atomic_load(&s.ran), 1, "the deadline parent did not fire in 5 s");
	cr_assert_eq(ctx_cancel(b), 0);
	ctx_unref(d);
	ctx_unref(b);
	ctx_unref(a);
	check_fds();
}

/* ---- waiting ------------------------------------------------------------ */

struct later_cancel {
	ctx_t *ctx;
	unsigned int ms;
	int cause;
};

static void *cancel_later(void *arg)
{
	struct later_cancel *l = arg;

	sleep_ms(l->ms);
	ctx_cancel_cause(l->ctx, l->cause);
	return NULL;
}

Test(any, waits_return_its_error, .timeout = 20)
{
	ctx_t *a = new_cancel(ctx_background()), *b = new_cancel(ctx_background()), *m;
	struct later_cancel l = { .ctx = b, .ms = 20, .cause = 3 };
	pthread_t t;
	int p[2];

	cr_assert_eq(pipe(p), 0);
	m = new_any((ctx_t *const[]){ a, b }, 2);
	cr_assert_eq(ctx_sleep(m, 5 * NSEC_PER_MSEC), 0, "a live merged context sleeps");
	cr_assert_eq(pthread_create(&t, NULL, cancel_later, &l), 0);
	cr_assert_eq(ctx_wait(m), -ECANCELED);
	cr_assert_eq(ctx_cause(m), 3);
	pthread_join(t, NULL);
	ctx_unref(m);
	ctx_unref(b);

	b = new_cancel(ctx_background());
	m = new_any((ctx_t *const[]){ a, b }, 2);
	l = (struct later_cancel){ .ctx = a, .ms = 20, .cause = 4 };
	cr_assert_eq(pthread_create(&t, NULL, cancel_later, &l), 0);
	cr_assert_eq(ctx_sleep(m, 10 * NSEC_PER_SEC), -ECANCELED);
	cr_assert_eq(ctx_cause(m), 4);
	pthread_join(t, NULL);
	ctx_unref(m);
	ctx_unref(a);

	a = new_cancel(ctx_background());
	m = new_any((ctx_t *const[]){ a, b }, 2);
	l = (struct later_cancel){ .ctx = b, .ms = 20, .cause = 5 };
	cr_assert_eq(pthread_create(&t, NULL, cancel_later, &l), 0);
	cr_assert_eq(ctx_poll(m, p[0], POLLIN), -ECANCELED, "ctx_poll on a pipe never ready");
	cr_assert_eq(ctx_cause(m), 5);
	pthread_join(t, NULL);
	ctx_unref(m);
	ctx_unref(b);
	ctx_unref(a);
	close(p[0]);
	close(p[1]);
	check_fds();
}

/* The waits honour the earliest parent deadline, and never return early. */
Test(any, waits_honour_the_parents_deadline, .timeout = 20)
{
	ctx_t *a = new_cancel(ctx_background()), *d = NULL, *m;
	struct timespec dl;
	uint64_t at;
	int r;

	for (int how = 0; how < 3; how++) {
		cr_assert_eq(ctx_with_timeout_cause(ctx_background(), 40 * NSEC_PER_MSEC, 50 + how,
						    &d), 0);
		cr_assert(ctx_deadline(d, &dl));
		m = new_any((ctx_t *const[]){ a, d }, 2);
		if (how == 0)
			r = ctx_wait(m);
		else if (how == 1)
			r = ctx_sleep(m, 10 * NSEC_PER_SEC);
		else
			r = ctx_poll(m, ctx_fd(ctx_background()), POLLIN);
		at = now_ns();
		cr_assert_eq(r, -ETIMEDOUT, "wait %d: %d", how, r);
		cr_assert_eq(ctx_err(m), -ETIMEDOUT, "the result and ctx_err agree");
		cr_assert_eq(ctx_cause(m), 50 + how);
		cr_assert_geq(at, ns_from_ts(&dl), "wait %d returned before the deadline", how);
		ctx_unref(m);
		d = ctx_unref(d);
	}
	cr_assert_eq(ctx_err(a), 0);
	ctx_unref(a);
	check_fds();
}

/* ---- describe ----------------------------------------------------------- */

Test(any, describe_names_the_link, .timeout = 10)
{
	ctx_t *a = new_cancel(ctx_background()), *b = new_cancel(ctx_todo()), *v = NULL;
	ctx_t *ps[64], *m, *k;
	char want[256], small[8];
	int n;

	m = new_any((ctx_t *const[]){ a, b }, 2);
	cr_assert_str_eq(describe(m), "background.with_cancel.with_any(2)");
	k = new_cancel(m);
	cr_assert_str_eq(describe(k), "background.with_cancel.with_any(2).with_cancel");
	ctx_unref(k);
	n = ctx_describe(m, small, sizeof(small));
	cr_assert_eq(n, (int)strlen("background.with_cancel.with_any(2)"), "snprintf-like length");
	cr_assert_str_eq(small, "backgro");
	/* Being done changes nothing. */
	cr_assert_eq(ctx_cancel(b), 0);
	cr_assert_str_eq(describe(m), "background.with_cancel.with_any(2)");
	ctx_unref(m);

	m = new_any((ctx_t *const[]){ b, a }, 2);
	cr_assert_str_eq(describe(m), "todo.with_cancel.with_any(2)", "the chain of parents[0]");
	k = new_any((ctx_t *const[]){ m, a }, 2);
	cr_assert_str_eq(describe(k), "todo.with_cancel.with_any(2).with_any(2)");
	ctx_unref(k);
	ctx_unref(m);

	m = new_any(&a, 1);
	cr_assert_str_eq(describe(m), "background.with_cancel.with_any(1)");
	ctx_unref(m);

	cr_assert_eq(ctx_with_value(a, &key, NULL, NULL, &v), 0);
	m = new_any((ctx_t *const[]){ v, b, a }, 3);
	snprintf(want, sizeof(want), "background.with_cancel.with_value(%p).with_any(3)",
		 (const void *)&key);
	cr_assert_str_eq(describe(m), want);
	ctx_unref(m);

	m = new_any((ctx_t *const[]){ ctx_background(), a }, 2);
	cr_assert_str_eq(describe(m), "background.with_any(2)");
	ctx_unref(m);

	for (int i = 0; i < 64; i++)
		ps[i] = a;
	m = new_any(ps, 64);
	cr_assert_str_eq(describe(m), "background.with_cancel.with_any(64)");
	ctx_unref(m);

	ctx_unref(v);
	ctx_unref(b);
	ctx_unref(a);
	check_fds();
}

/* ---- duplicates --------------------------------------------------------- */

Test(any, same_parent_twice, .timeout = 10)
{
	ctx_t *a = new_cancel(ctx_background()), *m;
	int idx;

	m = new_any((ctx_t *const[]){ a, a }, 2);
	cr_assert_str_eq(describe(m), "background.with_cancel.with_any(2)");
	cr_assert_eq(ctx_cancel_cause(a, 5), 0);
	cr_assert_eq(ctx_err(m), -ECANCELED);
	cr_assert_eq(ctx_cause(m), 5);
	idx = ctx_any_index(m);
	cr_assert(idx == 0 || idx == 1, "index %d", idx);
	ctx_unref(m);
	/* Born done through both entries: the lowest index. */
	m = new_any((ctx_t *const[]){ a, a, a }, 3);
	cr_assert_eq(ctx_any_index(m), 0);
	ctx_unref(m);
	ctx_unref(a);

	/* Freed live, then the parent is cancelled; cancelled directly, then freed. */
	a = new_cancel(ctx_background());
	m = new_any((ctx_t *const[]){ a, a }, 2);
	ctx_unref(m);
	cr_assert_eq(ctx_cancel(a), 0);
	ctx_unref(a);
	a = new_cancel(ctx_background());
	m = new_any((ctx_t *const[]){ a, a }, 2);
	cr_assert_eq(ctx_cancel(m), 0);
	cr_assert_eq(ctx_any_index(m), -1);
	cr_assert_eq(ctx_err(a), 0);
	ctx_unref(a); /* the merged context holds both references now */
	ctx_unref(m);
	check_fds();
}

Test(any, a_parent_and_its_own_child, .timeout = 10)
{
	ctx_t *p = new_cancel(ctx_background()), *k = new_cancel(p), *m, *m2;
	int idx;

	m = new_any((ctx_t *const[]){ p, k }, 2);
	cr_assert_eq(ctx_cancel_cause(k, 6), 0);
	cr_assert_eq(ctx_cause(m), 6);
	cr_assert_eq(ctx_any_index(m), 1);
	cr_assert_eq(ctx_err(p), 0);
	ctx_unref(m);
	ctx_unref(k);

	k = new_cancel(p);
	m = new_any((ctx_t *const[]){ k, p }, 2);
	m2 = new_any((ctx_t *const[]){ p, k }, 2);
	cr_assert_eq(ctx_cancel_cause(p, 7), 0);
	/* Both entries are done by the same cancel: either may be the winner. */
	cr_assert_eq(ctx_err(m), -ECANCELED);
	cr_assert_eq(ctx_cause(m), 7);
	idx = ctx_any_index(m);
	cr_assert(idx == 0 || idx == 1, "index %d", idx);
	cr_assert_eq(ctx_cause(m2), 7);
	idx = ctx_any_index(m2);
	cr_assert(idx == 0 || idx == 1, "index %d", idx);
	ctx_unref(m2);
	ctx_unref(m);
	ctx_unref(k);
	ctx_unref(p);
	check_fds();
}

Test(any, nested_merges, .timeout = 10)
{
	ctx_t *a = new_cancel(ctx_background()), *b = new_cancel(ctx_background());
	ctx_t *c = new_cancel(ctx_background()), *m1, *m2;

	m1 = new_any((ctx_t *const[]){ a, b }, 2);
	m2 = new_any((ctx_t *const[]){ c, m1 }, 2);
	cr_assert_eq(ctx_cancel_cause(b, 9), 0);
	cr_assert_eq(ctx_any_index(m1), 1);
	cr_assert_eq(ctx_err(m2), -ECANCELED);
	cr_assert_eq(ctx_cause(m2), 9);
	cr_assert_eq(ctx_any_index(m2), 1);
	cr_assert_eq(ctx_err(c), 0);
	ctx_unref(m1); /* m2 holds it */
	ctx_unref(m2);
	ctx_unref(c);
	ctx_unref(b);
	ctx_unref(a);
	check_fds();
}
