/* SPDX-License-Identifier: MIT */
/* Threads racing on shared contexts; invariants checked afterwards. */
#include <sched.h>
#include "common.h"

TestSuite(race, .init = test_setup);

#define THREADS 4

static void run_threads(void *(*fn)(void *), void *arg, int n)
{
	pthread_t t[16];

	for (int i = 0; i < n; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, fn, arg), 0);
	for (int i = 0; i < n; i++)
		cr_assert_eq(pthread_join(t[i], NULL), 0);
}

/* Derive, cancel and unref children of one parent while it gets cancelled. */
struct shared_parent {
	ctx_t *parent;
	atomic_int started;
	atomic_int bad;
	atomic_int values_made;
	atomic_int values_freed;
	atomic_int kept;
	ctx_t *keep[THREADS][64];
};

static const char vkey;

static void *derive_worker(void *arg)
{
	struct shared_parent *s = arg;
	int me = atomic_fetch_add(&s->started, 1), kept = 0;
	bool saw_done = false;

	for (int i = 0; i < 20000; i++) {
		ctx_t *c = NULL, *v = NULL;
		bool parent_done = ctx_err(s->parent) != 0;

		if (ctx_with_cancel(s->parent, &c)) {
			atomic_fetch_add(&s->bad, 1);
			continue;
		}
		/* A child made after the parent was seen done is born done. */
		if (parent_done && !ctx_err(c))
			atomic_fetch_add(&s->bad, 1);
		if (parent_done)
			saw_done = true;
		if (i % 7 == 0 && ctx_fd(c) < 0)
			atomic_fetch_add(&s->bad, 1);
		if (i % 5 == 0) {
			if (ctx_with_value(c, &vkey, &s->values_freed, count_fn, &v) == 0)
				atomic_fetch_add(&s->values_made, 1);
		}
		if (i % 3 == 0)
			ctx_cancel(c);
		if (i % 997 == 0 && kept < 64) {
			s->keep[me][kept++] = ctx_ref(v ? v : c);
		}
		ctx_unref(v);
		ctx_unref(c);
		if (saw_done && i > 100)
			break;
	}
	atomic_fetch_add(&s->kept, kept);
	return NULL;
}

static void *cancel_parent_later(void *arg)
{
	struct shared_parent *s = arg;

	while (atomic_load(&s->started) < THREADS)
		sched_yield();
	sleep_ms(5);
	ctx_cancel_cause(s->parent, 31337);
	return NULL;
}

Test(race, derive_cancel_unref_on_shared_parent, .timeout = 60)
{
	struct shared_parent *s = calloc(1, sizeof(*s));
	pthread_t t[THREADS], c;

	cr_assert_not_null(s);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &s->parent), 0);
	for (int i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, derive_worker, s), 0);
	cr_assert_eq(pthread_create(&c, NULL, cancel_parent_later, s), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_join(c, NULL);
	cr_assert_eq(atomic_load(&s->bad), 0);
	cr_assert_eq(ctx_err(s->parent), -ECANCELED);
	/* Everything still alive under the parent is done and readable. */
	for (int i = 0; i < THREADS; i++)
		for (int k = 0; k < 64 && s->keep[i][k]; k++) {
			ctx_t *x = s->keep[i][k];
			int cause = ctx_cause(x);

			cr_assert_eq(ctx_err(x), -ECANCELED);
			cr_assert(cause == 31337 || cause == -ECANCELED, "cause %d", cause);
			assert_readable(ctx_fd(x));
			ctx_unref(x);
		}
	ctx_unref(s->parent);
	cr_assert_eq(atomic_load(&s->values_freed), atomic_load(&s->values_made),
		     "every value destroyed exactly once");
	free(s);
	check_fds();
}

/* N threads cancel one context: exactly one wins, fn runs once. */
struct many_cancel {
	ctx_t *c;
	atomic_int go;
	atomic_int winners;
	atomic_int already;
};

static void *cancel_worker(void *arg)
{
	struct many_cancel *m = arg;
	int r;

	atomic_fetch_add(&m->go, 1);
	while (atomic_load(&m->go) < THREADS)
		sched_yield();
	r = ctx_cancel_cause(m->c, 1000 + atomic_load(&m->go));
	if (r == 0)
		atomic_fetch_add(&m->winners, 1);
	else if (r == -EALREADY)
		atomic_fetch_add(&m->already, 1);
	return NULL;
}

Test(race, concurrent_cancels_one_winner, .timeout = 60)
{
	for (int round = 0; round < 500; round++) {
		struct many_cancel m = { 0 };
		atomic_int calls = 0;
		ctx_t *k = NULL;

		cr_assert_eq(ctx_with_cancel(ctx_background(), &m.c), 0);
		cr_assert_eq(ctx_with_cancel(m.c, &k), 0);
		cr_assert_eq(ctx_after_func(k, count_fn, &calls, NULL), 0);
		run_threads(cancel_worker, &m, THREADS);
		cr_assert_eq(atomic_load(&m.winners), 1);
		cr_assert_eq(atomic_load(&m.already), THREADS - 1);
		cr_assert_eq(atomic_load(&calls), 1);
		cr_assert_eq(ctx_cause(k), ctx_cause(m.c));
		ctx_unref(k);
		ctx_unref(m.c);
	}
	check_fds();
}

/* Cancel racing deadline expiry: the result says which one won. */
Test(race, cancel_racing_deadline, .timeout = 60)
{
	int timeouts = 0, cancels = 0;

	for (int round = 0; round < 2000; round++) {
		uint64_t delay = (uint64_t)(round % 40) * 25 * 1000; /* 0..1 ms */
		atomic_int calls = 0;
		ctx_t *c = NULL, *k = NULL;
		int r;

		cr_assert_eq(ctx_with_timeout_cause(ctx_background(), 500 * 1000, 1, &c), 0);
		cr_assert_eq(ctx_with_cancel(c, &k), 0);
		cr_assert_eq(ctx_after_func(k, count_fn, &calls, NULL), 0);
		sleep_ns(delay);
		r = ctx_cancel_cause(c, 2);
		if (r == 0) {
			cancels++;
			cr_assert_eq(ctx_err(c), -ECANCELED);
			cr_assert_eq(ctx_cause(c), 2);
			cr_assert_eq(atomic_load(&calls), 1);
		} else {
			cr_assert_eq(r, -EALREADY);
			timeouts++;
			cr_assert_eq(ctx_err(c), -ETIMEDOUT);
			cr_assert_eq(ctx_cause(c), 1);
		}
		cr_assert_eq(ctx_wait(k), ctx_err(c));
		cr_assert_eq(ctx_cause(k), ctx_cause(c));
		/* The timer thread may still be running fn: wait for it. */
		for (int i = 0; i < 500 && atomic_load(&calls) == 0; i++)
			sleep_ms(1);
		sleep_ns(100 * 1000);
		cr_assert_eq(atomic_load(&calls), 1);
		ctx_unref(k);
		ctx_unref(c);
	}
	cr_log_info("cancels %d, timeouts %d", cancels, timeouts);
	check_fds();
}

/* ctx_after_stop racing ctx_cancel: stop true exactly when fn never ran. */
struct stop_race {
	ctx_t *c;
	ctx_after_t *h;
	atomic_int calls;
	atomic_int go;
	bool stopped;
};

static void *stop_side(void *arg)
{
	struct stop_race *s = arg;

	atomic_fetch_add(&s->go, 1);
	while (atomic_load(&s->go) < 2)
		sched_yield();
	s->stopped = ctx_after_stop(s->h);
	return NULL;
}

static void *cancel_side(void *arg)
{
	struct stop_race *s = arg;

	atomic_fetch_add(&s->go, 1);
	while (atomic_load(&s->go) < 2)
		sched_yield();
	ctx_cancel(s->c);
	return NULL;
}

Test(race, after_stop_racing_cancel, .timeout = 60)
{
	int stopped = 0;

	for (int round = 0; round < 3000; round++) {
		struct stop_race s = { 0 };
		pthread_t a, b;

		cr_assert_eq(ctx_with_cancel(ctx_background(), &s.c), 0);
		cr_assert_eq(ctx_after_func(s.c, count_fn, &s.calls, &s.h), 0);
		cr_assert_eq(pthread_create(&a, NULL, stop_side, &s), 0);
		cr_assert_eq(pthread_create(&b, NULL, cancel_side, &s), 0);
		pthread_join(a, NULL);
		pthread_join(b, NULL);
		cr_assert_eq(atomic_load(&s.calls), s.stopped ? 0 : 1,
			     "stop %d but fn ran %d times", s.stopped, atomic_load(&s.calls));
		stopped += s.stopped;
		ctx_unref(s.c);
	}
	cr_log_info("stopped first in %d of 3000", stopped);
	check_fds();
}

/* ctx_fd racing ctx_cancel: the fd ends up readable whoever goes first. */
struct fd_race {
	ctx_t *c;
	atomic_int go;
	int fd;
};

static void *fd_side(void *arg)
{
	struct fd_race *f = arg;

	atomic_fetch_add(&f->go, 1);
	while (atomic_load(&f->go) < 2)
		sched_yield();
	f->fd = ctx_fd(f->c);
	return NULL;
}

static void *fd_cancel_side(void *arg)
{
	struct fd_race *f = arg;

	atomic_fetch_add(&f->go, 1);
	while (atomic_load(&f->go) < 2)
		sched_yield();
	ctx_cancel(f->c);
	return NULL;
}

Test(race, ctx_fd_racing_cancel, .timeout = 60)
{
	for (int round = 0; round < 3000; round++) {
		struct fd_race f = { 0 };
		pthread_t a, b;
		ctx_t *k = NULL;

		cr_assert_eq(ctx_with_cancel(ctx_background(), &k), 0);
		/* Alternate: cancel the context itself, or through its parent. */
		if (round % 2)
			cr_assert_eq(ctx_with_cancel(k, &f.c), 0);
		else
			f.c = ctx_ref(k);
		cr_assert_eq(pthread_create(&a, NULL, fd_side, &f), 0);
		cr_assert_eq(pthread_create(&b, NULL, fd_cancel_side, &f), 0);
		pthread_join(a, NULL);
		pthread_join(b, NULL);
		if (round % 2)
			cr_assert_eq(ctx_cancel(k), 0);
		cr_assert_geq(f.fd, 0);
		cr_assert_eq(ctx_fd(f.c), f.fd, "one fd per context");
		assert_readable(f.fd);
		ctx_unref(f.c);
		ctx_unref(k);
	}
	check_fds();
}

/* Child cancel racing parent cancel: one after-function call, a coherent cause. */
struct pc_race {
	ctx_t *p, *c;
	atomic_int go;
};

static void *cancel_p(void *arg)
{
	struct pc_race *r = arg;

	atomic_fetch_add(&r->go, 1);
	while (atomic_load(&r->go) < 3)
		sched_yield();
	ctx_cancel_cause(r->p, 1);
	return NULL;
}

static void *cancel_c(void *arg)
{
	struct pc_race *r = arg;

	atomic_fetch_add(&r->go, 1);
	while (atomic_load(&r->go) < 3)
		sched_yield();
	ctx_cancel_cause(r->c, 2);
	return NULL;
}

static void *unref_c(void *arg)
{
	struct pc_race *r = arg;
	ctx_t *extra = NULL;

	atomic_fetch_add(&r->go, 1);
	while (atomic_load(&r->go) < 3)
		sched_yield();
	/* Derive and drop grandchildren while the tree is being cancelled. */
	for (int i = 0; i < 10; i++) {
		if (ctx_with_cancel(r->c, &extra) == 0)
			ctx_unref(extra);
	}
	return NULL;
}

Test(race, child_and_parent_cancel, .timeout = 60)
{
	for (int round = 0; round < 2000; round++) {
		struct pc_race r = { 0 };
		atomic_int calls = 0;
		pthread_t a, b, d;
		int cause;

		cr_assert_eq(ctx_with_cancel(ctx_background(), &r.p), 0);
		cr_assert_eq(ctx_with_cancel(r.p, &r.c), 0);
		cr_assert_eq(ctx_after_func(r.c, count_fn, &calls, NULL), 0);
		cr_assert_eq(pthread_create(&a, NULL, cancel_p, &r), 0);
		cr_assert_eq(pthread_create(&b, NULL, cancel_c, &r), 0);
		cr_assert_eq(pthread_create(&d, NULL, unref_c, &r), 0);
		pthread_join(a, NULL);
		pthread_join(b, NULL);
		pthread_join(d, NULL);
		cause = ctx_cause(r.c);
		cr_assert(cause == 1 || cause == 2, "cause %d", cause);
		cr_assert_eq(ctx_cause(r.p), 1);
		cr_assert_eq(atomic_load(&calls), 1);
		ctx_unref(r.c);
		ctx_unref(r.p);
	}
	check_fds();
}

/* References taken and dropped from many threads; the last one frees. */
static void *ref_churn(void *arg)
{
	ctx_t *c = arg;

	for (int i = 0; i < 100000; i++)
		ctx_unref(ctx_ref(c));
	ctx_unref(c);
	return NULL;
}

Test(race, ref_unref_across_threads, .timeout = 60)
{
	static const char key;
	atomic_int freed = 0;
	ctx_t *v = NULL;
	pthread_t t[THREADS];

	cr_assert_eq(ctx_with_value(ctx_background(), &key, &freed, count_fn, &v), 0);
	for (int i = 0; i < THREADS; i++)
		ctx_ref(v);
	for (int i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, ref_churn, v), 0);
	ctx_unref(v);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(atomic_load(&freed), 1);
	check_fds();
}

/* Unref of a deadline context racing its expiry. */
Test(race, unref_racing_deadline, .timeout = 60)
{
	enum { ROUNDS = 3000 };
	static atomic_int calls[ROUNDS];

	for (int round = 0; round < ROUNDS; round++) {
		ctx_t *c = NULL;
		uint64_t timeout = (uint64_t)(round % 20) * 50 * 1000;

		cr_assert_eq(ctx_with_timeout(ctx_background(), timeout, &c), 0);
		cr_assert_eq(ctx_after_func(c, count_fn, &calls[round], NULL), 0);
		sleep_ns((uint64_t)(round % 17) * 50 * 1000);
		ctx_unref(c);
		/* Born done (timeout 0): fn ran inside ctx_after_func. */
		if (!timeout)
			cr_assert_eq(atomic_load(&calls[round]), 1);
	}
	sleep_ms(50);
	for (int round = 0; round < ROUNDS; round++)
		cr_assert_leq(atomic_load(&calls[round]), 1, "round %d ran %d times", round,
			      atomic_load(&calls[round]));
	check_fds();
}
