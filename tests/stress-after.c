/* SPDX-License-Identifier: MIT */
/*
 * stress-after: after-functions racing cancellation.
 *
 * ctx_after_stop racing the cancel that would run the function, and
 * ctx_after_func racing the cancel (or the deadline) of its context: each
 * registration must end exactly one way, ran once or stopped, never both and
 * never twice. Then after-functions that cancel and free other contexts and
 * their own, in the cancelling thread and in the library's timer thread,
 * which must run them with no lock held.
 */
#include "stress.h"

#define PARENT_CAUSE 1000
#define CHILD_CAUSE 2000
#define CHAIN_CAUSE 3000
#define FAR_CAUSE 4000

#define NCTX 64

/* ---- 1: ctx_after_stop racing the cancel that runs the function */

struct stop_round;

struct stop_slot {
	struct stop_round *sr;
	ctx_t *ctx;
	atomic_int ran;
	atomic_int ran_nohandle;
	ctx_after_t *h;
	bool stopped;
};

struct stop_round {
	ctx_t *parent;
	bool cancel_parent;	/* else each child is cancelled on its own */
	struct stop_slot s[NCTX];
	pthread_barrier_t start;
};

static void stop_fn(void *arg)
{
	struct stop_slot *s = arg;
	struct stop_round *sr = s->sr;

	atomic_fetch_add(&s->ran, 1);
	CHECK(ctx_err(s->ctx) != 0, "after-function of a live context");
	/* The whole cancelled subtree is done before any after-function runs. */
	if (sr->cancel_parent)
		for (int i = 0; i < NCTX; i++)
			CHECK(ctx_err(sr->s[i].ctx) != 0,
			      "sibling %d still live in an after-function", i);
}

static void stop_fn_nohandle(void *arg)
{
	struct stop_slot *s = arg;

	atomic_fetch_add(&s->ran_nohandle, 1);
	CHECK(ctx_err(s->ctx) != 0, "after-function of a live context");
}

static void *stop_canceller(void *arg)
{
	struct stop_round *sr = arg;
	int r;

	pthread_barrier_wait(&sr->start);
	if (sr->cancel_parent) {
		r = ctx_cancel_cause(sr->parent, PARENT_CAUSE);
		CHECK(r == 0, "parent cancel: %s", errname(r));
		/* Run in this thread before ctx_cancel returned. */
		for (int i = 0; i < NCTX; i++)
			CHECK(atomic_load(&sr->s[i].ran_nohandle) == 1,
			      "after-function %d not run when cancel returned", i);
		return NULL;
	}
	for (int i = 0; i < NCTX; i++) {
		r = ctx_cancel_cause(sr->s[i].ctx, CHILD_CAUSE);
		CHECK(r == 0, "child cancel: %s", errname(r));
		CHECK(atomic_load(&sr->s[i].ran_nohandle) == 1,
		      "after-function %d not run when cancel returned", i);
	}
	return NULL;
}

static void *stop_stopper(void *arg)
{
	struct stop_round *sr = arg;

	pthread_barrier_wait(&sr->start);
	for (int i = NCTX - 1; i >= 0; i--)
		sr->s[i].stopped = ctx_after_stop(sr->s[i].h);
	return NULL;
}

static void test_stop(void)
{
	long rounds = scaled(1000, 300), ran = 0, stopped = 0, regs = 0;

	for (long round = 0; round < rounds && !stress_failing(); round++) {
		struct stop_round *sr = calloc(1, sizeof(*sr));
		ctx_t *root = NULL;
		pthread_t a, b;
		bool ok;

		if (!CHECK(sr, "calloc"))
			return;
		sr->cancel_parent = round & 1;
		ok = CHECK(stress_with_value(ctx_background(), NULL, &root) == 0, "root") &&
		     CHECK(ctx_with_cancel(root, &sr->parent) == 0, "parent");
		ctx_unref(root);
		for (int i = 0; i < NCTX && ok; i++) {
			struct stop_slot *s = &sr->s[i];

			s->sr = sr;
			ok = CHECK(ctx_with_cancel(sr->parent, &s->ctx) == 0, "child") &&
			     CHECK(ctx_after_func(s->ctx, stop_fn, s, &s->h) == 0, "after") &&
			     CHECK(ctx_after_func(s->ctx, stop_fn_nohandle, s, NULL) == 0,
				   "after without handle");
		}
		if (!ok)
			return;
		pthread_barrier_init(&sr->start, NULL, 3);
		pthread_create(&a, NULL, stop_canceller, sr);
		pthread_create(&b, NULL, stop_stopper, sr);
		pthread_barrier_wait(&sr->start);
		pthread_join(a, NULL);
		pthread_join(b, NULL);
		pthread_barrier_destroy(&sr->start);
		/* Both threads joined: every function that runs has run. */
		for (int i = 0; i < NCTX; i++) {
			struct stop_slot *s = &sr->s[i];
			int n = atomic_load(&s->ran);

			CHECK(n == (s->stopped ? 0 : 1), "stopped %d but ran %d times",
			      s->stopped, n);
			CHECK(atomic_load(&s->ran_nohandle) == 1, "ran %d times",
			      atomic_load(&s->ran_nohandle));
			ran += n;
			stopped += s->stopped;
			regs++;
			ctx_unref(s->ctx);
		}
		ctx_unref(sr->parent);
		free(sr);
	}
	CHECK(ran + stopped == regs, "ran %ld + stopped %ld != registered %ld",
	      ran, stopped, regs);
}

/* ---- 2: ctx_after_func racing the cancel or the deadline of its context */

#define NREG 256

struct reg_round {
	ctx_t *ctx;
	bool timer;		/* a 1 ms deadline ends it, not a cancel */
	atomic_int ran[NREG];
	ctx_after_t *h[NREG];	/* kept by the registrar, stopped at the end */
	_Atomic(ctx_after_t *) pass[NREG];	/* handed to the stopper thread */
	bool stopped[NREG];
	pthread_barrier_t start;
	atomic_int registered;
	atomic_bool registrar_done;
};

static void count_fn(void *arg)
{
	atomic_fetch_add((atomic_int *)arg, 1);
}

/*
 * A third of the registrations keep no handle, a third are stopped at the
 * end, a third by another thread as soon as they exist: that stop races the
 * cancel, and the registrar sweeping stopped entries out of the list.
 */
static void *reg_registrar(void *arg)
{
	struct reg_round *rr = arg;

	pthread_barrier_wait(&rr->start);
	for (int i = 0; i < NREG; i++) {
		bool done = ctx_err(rr->ctx) != 0;
		ctx_after_t *h = NULL;
		int r = ctx_after_func(rr->ctx, count_fn, &rr->ran[i], i % 3 == 2 ? NULL : &h);

		if (!CHECK(r == 0, "after_func: %d", r))
			continue;
		atomic_fetch_add(&rr->registered, 1);
		if (done)
			CHECK(atomic_load(&rr->ran[i]) == 1,
			      "registered on a done context but not run on return");
		if (i % 3 == 0)
			rr->h[i] = h;
		else if (i % 3 == 1)
			atomic_store(&rr->pass[i], h);
	}
	atomic_store(&rr->registrar_done, true);
	return NULL;
}

static void *reg_stopper(void *arg)
{
	struct reg_round *rr = arg;

	pthread_barrier_wait(&rr->start);
	for (int i = 1; i < NREG; i += 3) {
		ctx_after_t *h;

		while (!(h = atomic_exchange(&rr->pass[i], NULL)) &&
		       !atomic_load(&rr->registrar_done))
			sched_yield();
		if (!h)
			h = atomic_exchange(&rr->pass[i], NULL);
		if (h)
			rr->stopped[i] = ctx_after_stop(h);
	}
	return NULL;
}

static void *reg_canceller(void *arg)
{
	struct reg_round *rr = arg;
	int r;

	pthread_barrier_wait(&rr->start);
	while (atomic_load(&rr->registered) < NREG / 2)
		sched_yield();
	r = ctx_cancel_cause(rr->ctx, CHILD_CAUSE);
	CHECK(r == 0, "cancel: %s", errname(r));
	return NULL;
}

static void test_register(void)
{
	long rounds = scaled(600, 200);

	for (long round = 0; round < rounds && !stress_failing(); round++) {
		struct reg_round *rr = calloc(1, sizeof(*rr));
		pthread_t a, b, c;
		int r;

		if (!CHECK(rr, "calloc"))
			return;
		rr->timer = round & 1;
		if (rr->timer)
			r = ctx_with_timeout(ctx_background(), 1000000u, &rr->ctx);
		else
			r = ctx_with_cancel(ctx_background(), &rr->ctx);
		if (!CHECK(r == 0, "context"))
			return;
		pthread_barrier_init(&rr->start, NULL, rr->timer ? 3 : 4);
		pthread_create(&a, NULL, reg_registrar, rr);
		pthread_create(&b, NULL, reg_stopper, rr);
		if (!rr->timer)
			pthread_create(&c, NULL, reg_canceller, rr);
		pthread_barrier_wait(&rr->start);
		pthread_join(a, NULL);
		pthread_join(b, NULL);
		if (!rr->timer)
			pthread_join(c, NULL);
		pthread_barrier_destroy(&rr->start);
		/* The deadline may not have passed yet: the context ends it. */
		CHECK(wait_done(rr->ctx, 5000) == (rr->timer ? -ETIMEDOUT : -ECANCELED),
		      "err %s", errname(ctx_err(rr->ctx)));
		for (int i = 0; i < NREG; i++) {
			bool stopped = rr->stopped[i];
			uint64_t end = now_ns() + 2000000000u;
			int n;

			/*
			 * A cancel runs the functions before it returns. The
			 * timer thread may not have claimed them yet, so there
			 * (as in Go) a late stop may still win.
			 */
			if (rr->h[i]) {
				stopped = ctx_after_stop(rr->h[i]);
				CHECK(rr->timer || !stopped,
				      "stop after ctx_cancel returned won");
			}
			/* The timer thread may still be running the functions. */
			while ((n = atomic_load(&rr->ran[i])) == 0 && !stopped && now_ns() < end)
				sleep_ns(100000);
			CHECK(n == (stopped ? 0 : 1), "registration %d: stopped %d, ran %d",
			      i, stopped, n);
		}
		ctx_unref(rr->ctx);
		free(rr);
	}
}

/* ---- 3: after-functions that cancel and free other contexts and their own */

struct chain;

struct link {
	struct chain *ch;
	int i;
	ctx_t *self;	/* the last reference to this context: the function drops it */
	ctx_t *next;	/* a reference to the next context, dropped too */
	atomic_int ran;
	atomic_int nested;
};

struct chain {
	struct link l[NCTX];
	ctx_t *live;		/* never done while the round runs */
	ctx_t *first, *far;	/* the threads' own references */
	bool timer;		/* the first context is ended by its deadline */
	pthread_t main;
	atomic_int done;
	pthread_barrier_t start;
};

/* Rounds where the first function ran in the library's thread. */
static atomic_int chain_in_timer;

#define CHAIN_TIMEOUT_NS 2000000u

static void nested_fn(void *arg)
{
	atomic_fetch_add(&((struct link *)arg)->nested, 1);
}

static void chain_fn(void *arg)
{
	struct link *l = arg;
	struct chain *ch = l->ch;
	int cause = ctx_cause(l->self), r;

	atomic_fetch_add(&l->ran, 1);
	CHECK(cause == CHAIN_CAUSE ||
	      (l->i == 0 && cause == (ch->timer ? -ETIMEDOUT : PARENT_CAUSE)) ||
	      (l->i == NCTX / 2 && cause == FAR_CAUSE),
	      "link %d: cause %d", l->i, cause);
	/*
	 * In the library's thread, waiting would stop every deadline. (On a
	 * slow machine the deadline may pass before the function is
	 * registered: then it runs at once, in the main thread.)
	 */
	if (l->i == 0 && ch->timer && !pthread_equal(pthread_self(), ch->main)) {
		CHECK(ctx_wait(ch->live) == -EDEADLK, "ctx_wait in the timer thread");
		CHECK(ctx_sleep(ch->live, 1000000) == -EDEADLK, "ctx_sleep in the timer thread");
		atomic_fetch_add(&chain_in_timer, 1);
	}
	if (l->next) {
		r = ctx_cancel_cause(l->next, CHAIN_CAUSE);
		CHECK(r == 0 || r == -EALREADY, "chain cancel: %s", errname(r));
		/* Registering on a done context runs the function at once. */
		r = ctx_after_func(l->next, nested_fn, l, NULL);
		CHECK(r == 0 && atomic_load(&l->nested) == 1, "nested after_func: %d", r);
		l->next = ctx_unref(l->next);
	}
	/* Freeing the context whose after-function is running. */
	l->self = ctx_unref(l->self);
	atomic_fetch_add(&ch->done, 1);
}

static void *chain_first(void *arg)
{
	struct chain *ch = arg;

	pthread_barrier_wait(&ch->start);
	if (!ch->timer)
		CHECK(ctx_cancel_cause(ch->first, PARENT_CAUSE) == 0, "first cancel");
	ch->first = ctx_unref(ch->first);
	return NULL;
}

static void *chain_far(void *arg)
{
	struct chain *ch = arg;
	int r;

	pthread_barrier_wait(&ch->start);
	sleep_ns(ch->timer ? CHAIN_TIMEOUT_NS : 0);
	r = ctx_cancel_cause(ch->far, FAR_CAUSE);
	CHECK(r == 0 || r == -EALREADY, "far cancel: %s", errname(r));
	ch->far = ctx_unref(ch->far);
	return NULL;
}

static void test_chain(void)
{
	long rounds = scaled(600, 200);

	for (long round = 0; round < rounds && !stress_failing(); round++) {
		struct chain *ch = calloc(1, sizeof(*ch));
		pthread_t a, b;
		bool ok = true;
		int n;

		if (!CHECK(ch, "calloc"))
			return;
		ch->timer = round & 1;
		ch->main = pthread_self();
		if (!CHECK(ctx_with_cancel(ctx_background(), &ch->live) == 0, "live"))
			return;
		/*
		 * Built from the end, each function registered at once: the
		 * first link, whose deadline starts the chain, is made last.
		 */
		for (int i = NCTX - 1; i >= 0 && ok; i--) {
			struct link *l = &ch->l[i];
			ctx_t *root = NULL;
			int r;

			l->ch = ch;
			l->i = i;
			ok = CHECK(stress_with_value(ctx_background(), NULL, &root) == 0, "root");
			if (!ok)
				break;
			/* Some contexts sit in the timer heap when a function frees them. */
			if (i == 0 && ch->timer)
				r = ctx_with_timeout(root, CHAIN_TIMEOUT_NS, &l->self);
			else if (i % 4 == 3)
				r = ctx_with_timeout(root, 10000000000u, &l->self);
			else
				r = ctx_with_cancel(root, &l->self);
			ctx_unref(root);
			ok = CHECK(r == 0, "link context");
			if (!ok)
				break;
			/* Everything the function reads is set before it can run. */
			if (i < NCTX - 1)
				l->next = ctx_ref(ch->l[i + 1].self);
			if (i == NCTX / 2)
				ch->far = ctx_ref(l->self);
			if (i == 0)
				ch->first = ctx_ref(l->self);
			ok = CHECK(ctx_after_func(l->self, chain_fn, l, NULL) == 0, "after_func");
		}
		if (!ok)
			return;
		pthread_barrier_init(&ch->start, NULL, 3);
		pthread_create(&a, NULL, chain_first, ch);
		pthread_create(&b, NULL, chain_far, ch);
		pthread_barrier_wait(&ch->start);
		pthread_join(a, NULL);
		pthread_join(b, NULL);
		pthread_barrier_destroy(&ch->start);
		/* With a deadline, the timer thread may still be walking the chain. */
		for (uint64_t end = now_ns() + 2000000000u;
		     (n = atomic_load(&ch->done)) < NCTX && now_ns() < end;)
			sleep_ns(100000);
		CHECK(n == NCTX, "%d of %d links ran", n, NCTX);
		for (int i = 0; i < NCTX; i++)
			CHECK(atomic_load(&ch->l[i].ran) == 1, "link %d ran %d times", i,
			      atomic_load(&ch->l[i].ran));
		CHECK(ctx_err(ch->live) == 0, "bystander untouched");
		ctx_unref(ch->live);
		free(ch);
	}
	CHECK(atomic_load(&chain_in_timer) > 0, "no chain ever started in the timer thread");
}

int main(void)
{
	int baseline = fd_baseline();

	stress_plan(4);
	test_stop();
	stress_result("ctx_after_stop racing cancel: each function ran once or was stopped");
	test_register();
	stress_result("ctx_after_func racing cancel and expiry");
	test_chain();
	stress_result("after-functions cancelling and freeing other contexts and their own");
	check_no_leak(baseline);
	stress_result("every context freed, fds back to baseline");
	return stress_exit();
}
