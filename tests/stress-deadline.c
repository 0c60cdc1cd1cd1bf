/* SPDX-License-Identifier: MIT */
/*
 * stress-deadline: cancellation racing deadline expiry.
 *
 * The library's timer thread cancels a context when its deadline passes
 * while application threads cancel it, drop their last reference to it, or
 * wait on it (a waiter that sees the deadline pass first cancels the context
 * itself). Whoever wins, the context must end with one consistent story: the
 * error matches who cancelled (ctx_cancel returned 0 means ours, -ECANCELED;
 * nobody's means the deadline, -ETIMEDOUT), children inherit it, and nothing
 * leaks.
 */
#include "stress.h"

#include <fcntl.h>

#define TIMER_CAUSE 2000
#define CANCEL_CAUSE 3000
#define CHILD_TIMER_CAUSE 4000

/* Deadlines 0, 0.5, 1, 1.5 and 2 ms away: about when the cancels land. */
static uint64_t short_timeout(int i)
{
	return (uint64_t)(i % 5) * 500000u;
}

/* ---- 1: two threads cancel timeout contexts as their deadlines pass */

#define NCTX 64
#define NCANCEL 2

struct expiry_round {
	ctx_t *t[NCTX];		/* timeout contexts */
	ctx_t *d[NCTX];		/* later-deadline child: an ordinary cancel child */
	ctx_t *g[NCTX];		/* cancel child */
	int tcause[NCTX];
	int r[NCANCEL][NCTX];
	pthread_barrier_t start;
	atomic_bool stop_observer;
};

struct expiry_canceller {
	struct expiry_round *er;
	pthread_t thread;
	int id;
};

static int cancel_cause_of(int id, int i)
{
	return CANCEL_CAUSE + id * 1000 + i + 1;
}

static void *expiry_cancel(void *arg)
{
	struct expiry_canceller *c = arg;
	struct expiry_round *er = c->er;

	pthread_barrier_wait(&er->start);
	sleep_ns(700000);
	for (int k = 0; k < NCTX; k++) {
		/* The two cancellers walk in opposite directions. */
		int i = c->id ? NCTX - 1 - k : k;
		int r = ctx_cancel_cause(er->t[i], cancel_cause_of(c->id, i));

		er->r[c->id][i] = r;
		if (r == 0) {
			CHECK(ctx_err(er->t[i]) == -ECANCELED &&
			      ctx_cause(er->t[i]) == cancel_cause_of(c->id, i),
			      "our cancel: %s %d", errname(ctx_err(er->t[i])),
			      ctx_cause(er->t[i]));
			CHECK(ctx_err(er->d[i]) == -ECANCELED && ctx_err(er->g[i]) == -ECANCELED,
			      "children done when our cancel returns: %s %s",
			      errname(ctx_err(er->d[i])), errname(ctx_err(er->g[i])));
		} else {
			CHECK(r == -EALREADY, "cancel: %s", errname(r));
		}
	}
	return NULL;
}

/* Watches the contexts change state: once done, they stay done the same way. */
static void *expiry_observe(void *arg)
{
	struct expiry_round *er = arg;
	int seen[NCTX] = { 0 };

	pthread_barrier_wait(&er->start);
	while (!atomic_load(&er->stop_observer)) {
		for (int i = 0; i < NCTX; i++) {
			int e = ctx_err(er->t[i]);

			if (seen[i])
				CHECK(e == seen[i], "err changed from %s to %s",
				      errname(seen[i]), errname(e));
			if (e) {
				seen[i] = e;
				CHECK(ctx_timeout_ms(er->t[i]) == 0,
				      "done but ctx_timeout_ms %d", ctx_timeout_ms(er->t[i]));
				CHECK(ctx_cause(er->t[i]) != 0, "done without a cause");
			}
		}
	}
	return NULL;
}

static void expiry_check(struct expiry_round *er, int i)
{
	ctx_t *t = er->t[i];
	int e = ctx_err(t), ours = -1, want_cause;
	struct timespec dt, dd;

	for (int id = 0; id < NCANCEL; id++) {
		if (er->r[id][i] != 0)
			continue;
		CHECK(ours < 0, "two cancels of one context returned 0");
		ours = id;
	}
	if (ours >= 0) {
		CHECK(e == -ECANCELED, "our cancel returned 0 but err %s", errname(e));
		want_cause = cancel_cause_of(ours, i);
	} else {
		CHECK(e == -ETIMEDOUT, "no cancel returned 0 but err %s", errname(e));
		want_cause = er->tcause[i] ? er->tcause[i] : -ETIMEDOUT;
	}
	CHECK(ctx_cause(t) == want_cause, "cause %d, want %d", ctx_cause(t), want_cause);
	/* The timer thread may still be propagating an expiry: wait for it. */
	CHECK(wait_done(er->d[i], 5000) == e && ctx_cause(er->d[i]) == ctx_cause(t),
	      "later-deadline child: %s %d, parent %s %d", errname(ctx_err(er->d[i])),
	      ctx_cause(er->d[i]), errname(e), ctx_cause(t));
	CHECK(wait_done(er->g[i], 5000) == e && ctx_cause(er->g[i]) == ctx_cause(t),
	      "cancel child: %s %d, parent %s %d", errname(ctx_err(er->g[i])),
	      ctx_cause(er->g[i]), errname(e), ctx_cause(t));
	CHECK(ctx_deadline(t, &dt) && ctx_deadline(er->d[i], &dd) &&
	      dt.tv_sec == dd.tv_sec && dt.tv_nsec == dd.tv_nsec,
	      "a child keeps its parent's earlier deadline");
	CHECK(ctx_timeout_ms(t) == 0, "done: ctx_timeout_ms %d", ctx_timeout_ms(t));
}

static void test_expiry(void)
{
	long rounds = scaled(300, 100);

	for (long round = 0; round < rounds && !stress_failing(); round++) {
		struct expiry_round er = { 0 };
		struct expiry_canceller c[NCANCEL];
		pthread_t observer;
		ctx_t *root = NULL;
		bool ok = true;

		if (!CHECK(stress_with_value(ctx_background(), NULL, &root) == 0, "root"))
			return;
		pthread_barrier_init(&er.start, NULL, NCANCEL + 2);
		for (int i = 0; i < NCTX && ok; i++) {
			er.tcause[i] = (i & 1) ? TIMER_CAUSE + i : 0;
			ok = CHECK(ctx_with_timeout_cause(root, short_timeout(i), er.tcause[i],
							  &er.t[i]) == 0, "timeout") &&
			     CHECK(ctx_with_timeout_cause(er.t[i], 50000000u, CHILD_TIMER_CAUSE,
							  &er.d[i]) == 0, "later child") &&
			     CHECK(ctx_with_cancel(er.t[i], &er.g[i]) == 0, "cancel child");
		}
		ctx_unref(root);
		if (!ok)
			return;
		for (int id = 0; id < NCANCEL; id++) {
			c[id] = (struct expiry_canceller){ .er = &er, .id = id };
			pthread_create(&c[id].thread, NULL, expiry_cancel, &c[id]);
		}
		pthread_create(&observer, NULL, expiry_observe, &er);
		pthread_barrier_wait(&er.start);
		for (int id = 0; id < NCANCEL; id++)
			pthread_join(c[id].thread, NULL);
		atomic_store(&er.stop_observer, true);
		pthread_join(observer, NULL);
		pthread_barrier_destroy(&er.start);
		for (int i = 0; i < NCTX; i++) {
			expiry_check(&er, i);
			ctx_unref(er.g[i]);
			ctx_unref(er.d[i]);
			ctx_unref(er.t[i]);
		}
	}
}

/* ---- 2: the last reference dropped as the deadline passes */

struct unref_round {
	ctx_t *t[NCTX];
	ctx_t *c[NCTX];
	ctx_after_t *h[NCTX];
	atomic_int ran[NCTX];
	pthread_barrier_t start;
};

static void count_run(void *arg)
{
	atomic_fetch_add((atomic_int *)arg, 1);
}

static void *unref_parents(void *arg)
{
	struct unref_round *ur = arg;

	pthread_barrier_wait(&ur->start);
	sleep_ns(800000);
	for (int i = 0; i < NCTX; i++)
		ur->t[i] = ctx_unref(ur->t[i]);
	return NULL;
}

static void *unref_children(void *arg)
{
	struct unref_round *ur = arg;

	pthread_barrier_wait(&ur->start);
	sleep_ns(1000000);
	for (int i = NCTX - 1; i >= 0; i--)
		ur->c[i] = ctx_unref(ur->c[i]);
	return NULL;
}

static void test_unref(void)
{
	long rounds = scaled(300, 100), stopped = 0, ran = 0, regs = 0;

	for (long round = 0; round < rounds && !stress_failing(); round++) {
		struct unref_round *ur = calloc(1, sizeof(*ur));
		pthread_t a, b;
		bool ok = true;

		if (!CHECK(ur, "calloc"))
			return;
		pthread_barrier_init(&ur->start, NULL, 3);
		for (int i = 0; i < NCTX && ok; i++) {
			ctx_t *root = NULL;

			ok = CHECK(stress_with_value(ctx_background(), NULL, &root) == 0, "root") &&
			     CHECK(ctx_with_timeout(root, short_timeout(i), &ur->t[i]) == 0,
				   "timeout") &&
			     CHECK(ctx_with_cancel(ur->t[i], &ur->c[i]) == 0, "child") &&
			     CHECK(ctx_after_func(ur->t[i], count_run, &ur->ran[i], &ur->h[i]) == 0,
				   "after_func");
			ctx_unref(root);
			if (ok && i % 4 == 0)
				CHECK(ctx_fd(ur->t[i]) >= 0, "ctx_fd");
		}
		if (!ok)
			return;
		pthread_create(&a, NULL, unref_parents, ur);
		pthread_create(&b, NULL, unref_children, ur);
		pthread_barrier_wait(&ur->start);
		pthread_join(a, NULL);
		pthread_join(b, NULL);
		pthread_barrier_destroy(&ur->start);
		for (int i = 0; i < NCTX; i++) {
			if (ctx_after_stop(ur->h[i])) {
				stopped++;
				CHECK(atomic_load(&ur->ran[i]) == 0, "stopped but ran");
			} else {
				long n = 0;
				uint64_t end = now_ns() + 2000000000u;

				/* "has run or is running": give a running fn its moment. */
				while ((n = atomic_load(&ur->ran[i])) == 0 && now_ns() < end)
					sleep_ns(100000);
				CHECK(n == 1, "not stopped but ran %ld times", n);
			}
			regs++;
		}
		/* A stopped or freed registration must never run later. */
		sleep_ns(3000000);
		for (int i = 0; i < NCTX; i++) {
			int n = atomic_load(&ur->ran[i]);

			CHECK(n <= 1, "after-function ran %d times", n);
			ran += n;
		}
		free(ur);
	}
	CHECK(ran + stopped == regs, "ran %ld + stopped %ld != registered %ld",
	      ran, stopped, regs);
}

/* ---- 3: waiters, the timer thread and a canceller at once */

#define NWAIT 3

struct wait_round {
	ctx_t *t;
	int pipe_r;
	bool cancel;
	int wr[NWAIT];
	int cr;
	pthread_barrier_t start;
};

struct waiter {
	struct wait_round *wr;
	pthread_t thread;
	int id;
};

static void *wait_one(void *arg)
{
	struct waiter *w = arg;
	struct wait_round *wr = w->wr;
	int r = 0;

	pthread_barrier_wait(&wr->start);
	switch (w->id) {
	case 0:
		r = ctx_wait(wr->t);
		break;
	case 1:
		r = ctx_sleep(wr->t, 5000000000u);
		break;
	case 2:
		/* The pipe never becomes readable: only the context ends this. */
		r = ctx_poll(wr->t, wr->pipe_r, POLLIN);
		break;
	}
	wr->wr[w->id] = r;
	/* Whoever cancelled, the result is the context's error. */
	CHECK(r == ctx_err(wr->t) && r != 0, "waiter %d returned %s, err %s",
	      w->id, errname(r), errname(ctx_err(wr->t)));
	return NULL;
}

static void *wait_cancel(void *arg)
{
	struct wait_round *wr = arg;

	pthread_barrier_wait(&wr->start);
	sleep_ns(1000000);
	wr->cr = ctx_cancel_cause(wr->t, CANCEL_CAUSE);
	return NULL;
}

static void test_waiters(void)
{
	long rounds = scaled(400, 100);
	int p[2];

	if (!CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe"))
		return;
	for (long round = 0; round < rounds && !stress_failing(); round++) {
		struct wait_round wr = { .pipe_r = p[0], .cancel = round & 1 };
		struct waiter w[NWAIT];
		pthread_t c;
		int e, want;

		if (!CHECK(ctx_with_timeout_cause(ctx_background(), short_timeout((int)round),
						  TIMER_CAUSE, &wr.t) == 0, "timeout"))
			break;
		pthread_barrier_init(&wr.start, NULL, NWAIT + 1 + wr.cancel);
		for (int i = 0; i < NWAIT; i++) {
			w[i] = (struct waiter){ .wr = &wr, .id = i };
			pthread_create(&w[i].thread, NULL, wait_one, &w[i]);
		}
		if (wr.cancel)
			pthread_create(&c, NULL, wait_cancel, &wr);
		pthread_barrier_wait(&wr.start);
		for (int i = 0; i < NWAIT; i++)
			pthread_join(w[i].thread, NULL);
		if (wr.cancel)
			pthread_join(c, NULL);
		pthread_barrier_destroy(&wr.start);

		e = ctx_err(wr.t);
		if (wr.cancel && wr.cr == 0) {
			want = -ECANCELED;
			CHECK(ctx_cause(wr.t) == CANCEL_CAUSE, "cause %d", ctx_cause(wr.t));
		} else {
			CHECK(!wr.cancel || wr.cr == -EALREADY, "cancel: %s", errname(wr.cr));
			want = -ETIMEDOUT;
			CHECK(ctx_cause(wr.t) == TIMER_CAUSE, "cause %d", ctx_cause(wr.t));
		}
		CHECK(e == want, "err %s, want %s", errname(e), errname(want));
		for (int i = 0; i < NWAIT; i++)
			CHECK(wr.wr[i] == e, "waiter %d: %s, err %s", i, errname(wr.wr[i]),
			      errname(e));
		ctx_unref(wr.t);
	}
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	int baseline = fd_baseline();

	stress_plan(4);
	test_expiry();
	stress_result("cancel racing deadline expiry: error and cause agree with ctx_cancel");
	test_unref();
	stress_result("last unref racing expiry: after-functions run once or are stopped");
	test_waiters();
	stress_result("ctx_wait, ctx_sleep and ctx_poll racing expiry and cancel");
	check_no_leak(baseline);
	stress_result("every context freed, fds back to baseline");
	return stress_exit();
}
