/* SPDX-License-Identifier: MIT */
/*
 * stress-any: merged contexts (ctx_with_any) under concurrent cancels,
 * unrefs and frees.
 *
 * 1. Parents of one merged context cancelled from several threads at once
 *    (and a deadline parent firing, and sometimes the merged context itself
 *    cancelled): exactly one winner, and the merged context's error, cause
 *    and index all come from it.
 * 2. Owners drop their parents while other threads cancel them and free
 *    the merged context: nothing leaks, nothing is touched after free, an
 *    after-function ends exactly one way.
 * 3. Merged contexts created while their parents are being cancelled: born
 *    done exactly when a parent was done before, with the lowest index.
 *
 * Standalone TAP (no Criterion) so that it runs under ThreadSanitizer.
 */
#include "stress.h"

#define PARENT_CAUSE 1000
#define MERGED_CAUSE 2000
#define TIMER_CAUSE 3000
#define ROOT_CAUSE 4000
#define SHARED_CAUSE 5000

static void spin(uint32_t n)
{
	for (volatile uint32_t i = 0; i < n; i++)
		;
}

static void count_after(void *arg)
{
	atomic_fetch_add((atomic_int *)arg, 1);
}

/* A parent under a counted value context, so that its freeing is checked. */
static ctx_t *counted_cancel(void)
{
	ctx_t *v = NULL, *c = NULL;

	if (!CHECK(stress_with_value(ctx_background(), NULL, &v) == 0, "value root"))
		return NULL;
	CHECK(ctx_with_cancel(v, &c) == 0, "cancel parent");
	ctx_unref(v);
	return c;
}

/* ---- 1: parents cancelled from several threads: one winner -------------- */

#define RACE_CANCELLERS 3
#define RACE_PARENTS (RACE_CANCELLERS + 1) /* and a short deadline */

struct race {
	ctx_t *cp[RACE_CANCELLERS];	/* thread i cancels cp[i] */
	ctx_t *d;			/* fires on its own */
	ctx_t *order[RACE_PARENTS];	/* the parents as given to ctx_with_any */
	ctx_t *m, *kid;
	int fd;				/* the merged context's fd, or -1 */
	bool cancel_m;			/* this round the last thread cancels m itself */
	int m_cancel_result;
	atomic_int after_ran;
	uint32_t spin[RACE_PARENTS];
	bool quit;			/* set by main before the start barrier */
	pthread_barrier_t start, end;
};

struct race_thread {
	struct race *rc;
	int id;
	pthread_t thread;
};

static void *race_thread(void *arg)
{
	struct race_thread *t = arg;
	struct race *rc = t->rc;

	for (;;) {
		pthread_barrier_wait(&rc->start);
		if (rc->quit)
			return NULL;
		spin(rc->spin[t->id]);
		if (t->id < RACE_CANCELLERS) {
			int r = ctx_cancel_cause(rc->cp[t->id], PARENT_CAUSE + t->id);

			CHECK(r == 0, "cancel parent %d: %s", t->id, errname(r));
			/* The merged context is a child: done once the cancel returns. */
			CHECK(ctx_err(rc->m) != 0, "merged context live after parent %d's cancel",
			      t->id);
			CHECK(ctx_err(rc->kid) != 0,
			      "merged context's child live after parent %d's cancel", t->id);
			if (rc->fd >= 0)
				CHECK(fd_readable(rc->fd, 0) == 1,
				      "merged fd not readable after parent %d's cancel", t->id);
		} else if (rc->cancel_m) {
			rc->m_cancel_result = ctx_cancel_cause(rc->m, MERGED_CAUSE);
		}
		pthread_barrier_wait(&rc->end);
	}
}

static bool race_build(struct race *rc, uint32_t *seed)
{
	int r;

	memset(rc->cp, 0, sizeof(rc->cp));
	rc->d = rc->m = rc->kid = NULL;
	for (int i = 0; i < RACE_CANCELLERS; i++)
		if (!(rc->cp[i] = counted_cancel()))
			return false;
	/* A deadline parent firing about when the threads cancel, now and then first. */
	r = ctx_with_timeout_cause(ctx_background(), rnd(seed) % 200000, TIMER_CAUSE, &rc->d);
	if (!CHECK(r == 0, "deadline parent: %s", errname(r)))
		return false;
	/* The parents in a varying order: the index must follow it. */
	memcpy(rc->order, rc->cp, sizeof(rc->cp));
	rc->order[RACE_CANCELLERS] = rc->d;
	for (int i = RACE_PARENTS - 1; i > 0; i--) {
		int j = (int)(rnd(seed) % (uint32_t)(i + 1));
		ctx_t *t = rc->order[i];

		rc->order[i] = rc->order[j];
		rc->order[j] = t;
	}
	r = ctx_with_any(rc->order, RACE_PARENTS, &rc->m);
	if (!CHECK(r == 0, "ctx_with_any: %s", errname(r)))
		return false;
	r = ctx_with_cancel(rc->m, &rc->kid);
	if (!CHECK(r == 0, "child of merged: %s", errname(r)))
		return false;
	rc->fd = (rnd(seed) & 1) ? ctx_fd(rc->m) : -1;
	atomic_store(&rc->after_ran, 0);
	CHECK(ctx_after_func(rc->m, count_after, &rc->after_ran, NULL) == 0, "after_func");
	rc->cancel_m = (rnd(seed) & 3) == 0;
	rc->m_cancel_result = 1;
	for (int i = 0; i < RACE_PARENTS; i++)
		rc->spin[i] = rnd(seed) % 3000;
	return true;
}

static void race_check(struct race *rc)
{
	int err = ctx_err(rc->m), idx = ctx_any_index(rc->m), cause = ctx_cause(rc->m);

	if (!CHECK(err != 0, "merged context live after every canceller returned"))
		return;
	if (idx == -1) {
		CHECK(rc->cancel_m && rc->m_cancel_result == 0,
		      "index -1 but nobody cancelled the merged context (result %d)",
		      rc->m_cancel_result);
		CHECK(err == -ECANCELED && cause == MERGED_CAUSE,
		      "cancelled directly: err %s cause %d", errname(err), cause);
	} else if (CHECK(idx >= 0 && idx < RACE_PARENTS, "index %d out of range", idx)) {
		ctx_t *p = rc->order[idx];

		CHECK(!rc->cancel_m || rc->m_cancel_result == -EALREADY,
		      "a parent won (index %d) but ctx_cancel(m) returned %d", idx,
		      rc->m_cancel_result);
		CHECK(err == ctx_err(p) && cause == ctx_cause(p),
		      "winner %d: merged err %s cause %d, parent err %s cause %d", idx,
		      errname(err), cause, errname(ctx_err(p)), ctx_cause(p));
	}
	CHECK(wait_done(rc->kid, 5000) == err && ctx_cause(rc->kid) == cause,
	      "child of merged: err %s cause %d, merged %s %d", errname(ctx_err(rc->kid)),
	      ctx_cause(rc->kid), errname(err), cause);
	/*
	 * When the deadline parent won, the library's thread cancels the
	 * merged context and may not have run its after-function yet.
	 */
	for (int t = 0; t < 5000 && atomic_load(&rc->after_ran) == 0; t++)
		sleep_ns(1000000);
	CHECK(atomic_load(&rc->after_ran) == 1, "after-function ran %d times",
	      atomic_load(&rc->after_ran));
	if (rc->fd >= 0)
		CHECK(fd_readable(rc->fd, 0) == 1, "merged fd not readable");
	/* Later cancels change nothing: the first one done stays the winner. */
	CHECK(ctx_cancel(rc->m) == -EALREADY, "merged context cancelled twice");
	CHECK(wait_done(rc->d, 5000) == -ETIMEDOUT, "deadline parent: %s",
	      errname(ctx_err(rc->d)));
	CHECK(ctx_any_index(rc->m) == idx && ctx_cause(rc->m) == cause,
	      "the winner changed: index %d cause %d, was %d %d", ctx_any_index(rc->m),
	      ctx_cause(rc->m), idx, cause);
}

static void race_free(struct race *rc, bool merged_first)
{
	/* The merged context and the parents' owners let go in either order. */
	if (merged_first) {
		rc->kid = ctx_unref(rc->kid);
		rc->m = ctx_unref(rc->m);
	}
	for (int i = 0; i < RACE_CANCELLERS; i++)
		ctx_unref(rc->cp[i]);
	ctx_unref(rc->d);
	/* Otherwise the merged context held the parents until now. */
	ctx_unref(rc->kid);
	ctx_unref(rc->m);
}

static void test_race(void)
{
	struct race rc = { .quit = false };
	struct race_thread t[RACE_PARENTS];
	long rounds = scaled(10000, 500);
	uint32_t seed = 2024;

	pthread_barrier_init(&rc.start, NULL, RACE_PARENTS + 1);
	pthread_barrier_init(&rc.end, NULL, RACE_PARENTS + 1);
	for (int i = 0; i < RACE_PARENTS; i++) {
		t[i] = (struct race_thread){ .rc = &rc, .id = i };
		pthread_create(&t[i].thread, NULL, race_thread, &t[i]);
	}
	for (long i = 0; i < rounds && !stress_failing(); i++) {
		bool ok = race_build(&rc, &seed);

		if (ok) {
			pthread_barrier_wait(&rc.start);
			pthread_barrier_wait(&rc.end);
			race_check(&rc);
		}
		race_free(&rc, rnd(&seed) & 1);
		if (!ok)
			break;
	}
	rc.quit = true;
	pthread_barrier_wait(&rc.start);
	for (int i = 0; i < RACE_PARENTS; i++)
		pthread_join(t[i].thread, NULL);
	pthread_barrier_destroy(&rc.start);
	pthread_barrier_destroy(&rc.end);
}

/* ---- 2: owners drop parents while others cancel them and free the merge -- */

#define DROP_PARENTS 4

struct drop {
	ctx_t *root[DROP_PARENTS];	/* each parent's parent, kept by main */
	ctx_t *p[DROP_PARENTS];		/* the owners' references */
	ctx_t *m;			/* one reference, dropped by thread C */
	ctx_after_t *h;
	atomic_int after_ran;
	uint32_t spin[4];
	bool quit;
	pthread_barrier_t start, end;
};

struct drop_thread {
	struct drop *dr;
	int id;
	pthread_t thread;
};

static void *drop_thread(void *arg)
{
	struct drop_thread *t = arg;
	struct drop *dr = t->dr;

	for (;;) {
		pthread_barrier_wait(&dr->start);
		if (dr->quit)
			return NULL;
		spin(dr->spin[t->id]);
		switch (t->id) {
		case 0: /* the owner of parents 0 and 1 lets go */
			dr->p[0] = ctx_unref(dr->p[0]);
			dr->p[1] = ctx_unref(dr->p[1]);
			break;
		case 1: /* parent 2 is cancelled through its own parent */
			CHECK(ctx_cancel_cause(dr->root[2], ROOT_CAUSE) == 0, "cancel root 2");
			break;
		case 2: /* the merged context's last reference goes */
			dr->m = ctx_unref(dr->m);
			break;
		default: /* parent 3 is cancelled, and its owner lets go */
			CHECK(ctx_cancel_cause(dr->p[3], PARENT_CAUSE + 3) == 0, "cancel parent 3");
			dr->p[3] = ctx_unref(dr->p[3]);
			break;
		}
		pthread_barrier_wait(&dr->end);
	}
}

static bool drop_build(struct drop *dr, uint32_t *seed)
{
	int r;

	memset(dr->root, 0, sizeof(dr->root));
	memset(dr->p, 0, sizeof(dr->p));
	dr->m = NULL;
	dr->h = NULL;
	for (int i = 0; i < DROP_PARENTS; i++) {
		if (!(dr->root[i] = counted_cancel()))
			return false;
		if (!CHECK(ctx_with_cancel(dr->root[i], &dr->p[i]) == 0, "parent %d", i))
			return false;
	}
	r = ctx_with_any(dr->p, DROP_PARENTS, &dr->m);
	if (!CHECK(r == 0, "ctx_with_any: %s", errname(r)))
		return false;
	if (rnd(seed) & 1)
		CHECK(ctx_fd(dr->m) >= 0, "ctx_fd");
	atomic_store(&dr->after_ran, 0);
	CHECK(ctx_after_func(dr->m, count_after, &dr->after_ran, &dr->h) == 0, "after_func");
	for (int i = 0; i < 4; i++)
		dr->spin[i] = rnd(seed) % 3000;
	return true;
}

static void drop_finish(struct drop *dr)
{
	/* The registration ended exactly one way: ran once, or never (freed live). */
	if (dr->h) {
		bool stopped = ctx_after_stop(dr->h);
		int ran = atomic_load(&dr->after_ran);

		CHECK(stopped ? ran == 0 : ran == 1, "after_stop %d, ran %d times", stopped, ran);
	}
	for (int i = 0; i < DROP_PARENTS; i++) {
		ctx_unref(dr->p[i]);
		CHECK(ctx_cancel(dr->root[i]) == (i == 2 ? -EALREADY : 0), "root %d", i);
		ctx_unref(dr->root[i]);
	}
	ctx_unref(dr->m);
}

static void test_drop(void)
{
	struct drop dr = { .quit = false };
	struct drop_thread t[4];
	long rounds = scaled(10000, 500);
	uint32_t seed = 99;

	pthread_barrier_init(&dr.start, NULL, 5);
	pthread_barrier_init(&dr.end, NULL, 5);
	for (int i = 0; i < 4; i++) {
		t[i] = (struct drop_thread){ .dr = &dr, .id = i };
		pthread_create(&t[i].thread, NULL, drop_thread, &t[i]);
	}
	for (long i = 0; i < rounds && !stress_failing(); i++) {
		bool ok = drop_build(&dr, &seed);

		if (ok) {
			pthread_barrier_wait(&dr.start);
			pthread_barrier_wait(&dr.end);
		}
		drop_finish(&dr);
		if (!ok)
			break;
	}
	dr.quit = true;
	pthread_barrier_wait(&dr.start);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i].thread, NULL);
	pthread_barrier_destroy(&dr.start);
	pthread_barrier_destroy(&dr.end);
}

/* ---- 3: merged contexts created while their parents are being cancelled -- */

#define SHARED 4
#define MAKERS 3

struct shared_round {
	ctx_t *s[SHARED];
	atomic_bool done[SHARED];	/* set once ctx_cancel(s[i]) has returned */
	atomic_bool started;
	long iters;
};

struct maker {
	struct shared_round *sr;
	int id;
	pthread_t thread;
};

static void make_one(struct shared_round *sr, uint32_t *seed)
{
	int a = (int)(rnd(seed) % SHARED), b = (int)(rnd(seed) % (SHARED - 1)), r, idx, err;
	bool before_a, before_b, after_a, after_b;
	ctx_t *local = NULL, *m = NULL;

	b += b >= a; /* b != a */
	if (!CHECK(ctx_with_cancel(ctx_background(), &local) == 0, "local"))
		return;
	before_a = atomic_load(&sr->done[a]);
	before_b = atomic_load(&sr->done[b]);
	r = ctx_with_any((ctx_t *const[]){ sr->s[a], sr->s[b], local }, 3, &m);
	if (!CHECK(r == 0, "ctx_with_any: %s", errname(r))) {
		ctx_unref(local);
		return;
	}
	/* Done first, then which parent: the index is set by the time err is. */
	err = ctx_err(m);
	idx = ctx_any_index(m);
	after_a = atomic_load(&sr->done[a]);
	after_b = atomic_load(&sr->done[b]);
	if (before_a)
		CHECK(err == -ECANCELED && idx == 0 && ctx_cause(m) == SHARED_CAUSE + a,
		      "parent 0 done before: born done with index 0, got %s index %d cause %d",
		      errname(err), idx, ctx_cause(m));
	else if (before_b)
		CHECK(err == -ECANCELED && (idx == 0 || idx == 1),
		      "parent 1 done before: born done, got %s index %d", errname(err), idx);
	if (after_a || after_b) {
		err = ctx_err(m);
		idx = ctx_any_index(m);
		CHECK(err == -ECANCELED, "a parent's cancel returned, merged still live");
	}
	if (err) {
		int want = SHARED_CAUSE + (idx == 0 ? a : b);

		CHECK((idx == 0 || idx == 1) && ctx_cause(m) == want,
		      "index %d cause %d, want index 0 or 1 and its cause", idx, ctx_cause(m));
	}
	switch (rnd(seed) % 4) {
	case 0:
		r = ctx_cancel_cause(local, 7);
		CHECK(r == 0, "cancel local: %s", errname(r));
		idx = ctx_any_index(m);
		CHECK(ctx_err(m) == -ECANCELED && (idx == 2 ? ctx_cause(m) == 7 : idx == 0 || idx == 1),
		      "after local's cancel: %s index %d cause %d", errname(ctx_err(m)), idx,
		      ctx_cause(m));
		break;
	case 1:
		r = ctx_cancel(m);
		CHECK(r == 0 ? ctx_any_index(m) == -1 : r == -EALREADY && ctx_any_index(m) >= 0,
		      "cancel merged: %s, index %d", errname(r), ctx_any_index(m));
		break;
	default:
		break;
	}
	if (rnd(seed) & 1) {
		ctx_unref(local);
		ctx_unref(m);
	} else {
		ctx_unref(m);
		ctx_unref(local);
	}
}

static void *maker_thread(void *arg)
{
	struct maker *mk = arg;
	uint32_t seed = 31u * (uint32_t)(mk->id + 1);

	while (!atomic_load(&mk->sr->started))
		sched_yield();
	for (long i = 0; i < mk->sr->iters && !stress_failing(); i++)
		make_one(mk->sr, &seed);
	return NULL;
}

static void test_shared(void)
{
	long rounds = 20, iters = scaled(10000, 500);
	uint32_t seed = 4242;

	for (long round = 0; round < rounds && !stress_failing(); round++) {
		struct shared_round sr = { .iters = iters };
		struct maker mk[MAKERS];
		int order[SHARED] = { 0, 1, 2, 3 };

		for (int i = 0; i < SHARED; i++) {
			if (!(sr.s[i] = counted_cancel())) {
				for (int j = 0; j < i; j++)
					ctx_unref(sr.s[j]);
				return;
			}
			atomic_init(&sr.done[i], false);
		}
		for (int i = SHARED - 1; i > 0; i--) {
			int j = (int)(rnd(&seed) % (uint32_t)(i + 1)), x = order[i];

			order[i] = order[j];
			order[j] = x;
		}
		for (int i = 0; i < MAKERS; i++) {
			mk[i] = (struct maker){ .sr = &sr, .id = i };
			pthread_create(&mk[i].thread, NULL, maker_thread, &mk[i]);
		}
		atomic_store(&sr.started, true);
		/* Cancel the shared parents one by one while the makers merge them. */
		for (int i = 0; i < SHARED; i++) {
			int k = order[i];

			sleep_ns((rnd(&seed) % 2000) * 1000u);
			CHECK(ctx_cancel_cause(sr.s[k], SHARED_CAUSE + k) == 0, "cancel shared %d", k);
			atomic_store(&sr.done[k], true);
		}
		for (int i = 0; i < MAKERS; i++)
			pthread_join(mk[i].thread, NULL);
		for (int i = 0; i < SHARED; i++)
			ctx_unref(sr.s[i]);
	}
}

int main(void)
{
	int baseline = fd_baseline();

	stress_plan(4);
	test_race();
	stress_result("parents cancelled from several threads: one winner, its error and cause");
	test_drop();
	stress_result("owners drop parents while others cancel them and free the merged context");
	test_shared();
	stress_result("merged contexts created while their parents are being cancelled");
	check_no_leak(baseline);
	stress_result("every context freed, fds back to baseline");
	return stress_exit();
}
