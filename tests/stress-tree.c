/* SPDX-License-Identifier: MIT */
/*
 * stress-tree: concurrent derive, cancel and unref on shared parents.
 *
 * Drives the tree paths that take more than one lock: linking a child under
 * a parent that is being cancelled, a child removing itself from a parent
 * whose cancellation is walking the children, the last reference dropped in
 * one thread while another cancels, and a parent's cancel racing its
 * child's. Under ThreadSanitizer this finds data races; in every build it
 * checks what the contract promises once the threads are done.
 */
#include "stress.h"

#define PARENT_CAUSE 1000
#define TIMER_CAUSE 2000
#define CHILD_CAUSE 3000
#define GRAND_CAUSE 4000

#define LONG_NS 10000000000u	/* a deadline that never fires in a test */
#define SHORT_NS 1000000u	/* one that fires while the round runs */

enum kind { K_CANCEL, K_TIMEOUT_LONG, K_TIMEOUT_SHORT, K_WITHOUT, K_MAX };

/* ---- 1: workers derive from a shared parent that another thread cancels */

struct derive_round {
	ctx_t *parent;
	atomic_bool cancelled;	/* set once ctx_cancel(parent) has returned */
	atomic_long progress;
	long trigger;
	long iters;
};

struct derive_worker {
	struct derive_round *rd;
	pthread_t thread;
	int id;
};

static void derive_one(struct derive_round *rd, int id, long i, uint32_t *seed)
{
	enum kind kind = (enum kind)(rnd(seed) % K_MAX);
	int cause = (int)(CHILD_CAUSE + id * 1000000 + (i % 1000000) + 1);
	bool before = atomic_load(&rd->cancelled);
	ctx_t *v = NULL, *c = NULL, *g = NULL;
	void *tag = (void *)(uintptr_t)(i + 1);
	bool after;
	int r = -1;

	if (!CHECK(stress_with_value(rd->parent, tag, &v) == 0, "with_value"))
		return;
	CHECK(ctx_cancel(v) == -EINVAL, "value contexts are not cancellable");
	switch (kind) {
	case K_CANCEL:
		r = ctx_with_cancel(v, &c);
		break;
	case K_TIMEOUT_LONG:
		r = ctx_with_timeout_cause(v, LONG_NS, TIMER_CAUSE, &c);
		break;
	case K_TIMEOUT_SHORT:
		r = ctx_with_timeout_cause(v, SHORT_NS, TIMER_CAUSE, &c);
		break;
	case K_WITHOUT:
		r = ctx_without_cancel(v, &c);
		break;
	case K_MAX:
		break;
	}
	if (!CHECK(r == 0, "derive kind %d: %d", kind, r))
		goto out;
	if (!CHECK(ctx_with_cancel(c, &g) == 0, "grandchild"))
		goto out;
	CHECK(ctx_value(g, &stress_key) == tag, "grandchild sees the value");
	{
		char desc[256];
		int n = ctx_describe(g, desc, sizeof(desc));

		CHECK(n > 0 && strncmp(desc, "background.with_value(", 22) == 0,
		      "describe: %d %s", n, desc);
	}
	after = atomic_load(&rd->cancelled);

	if (kind == K_WITHOUT) {
		CHECK(ctx_cancel(c) == -EINVAL, "without_cancel is not cancellable");
		CHECK(ctx_err(c) == 0, "without_cancel is never done: %s",
		      errname(ctx_err(c)));
		r = ctx_cancel_cause(g, cause);
		CHECK(r == 0, "only we cancel a child of without_cancel: %s", errname(r));
		CHECK(ctx_err(g) == -ECANCELED && ctx_cause(g) == cause,
		      "own cancel: err %s cause %d", errname(ctx_err(g)), ctx_cause(g));
		CHECK(ctx_err(c) == 0, "cancelling a child leaves its parent live");
		goto out;
	}

	if (before) {
		/* Born done: the parent was done before we derived. */
		CHECK(ctx_err(c) == -ECANCELED && ctx_cause(c) == PARENT_CAUSE,
		      "born done: err %s cause %d", errname(ctx_err(c)), ctx_cause(c));
		CHECK(ctx_err(g) == -ECANCELED && ctx_cause(g) == PARENT_CAUSE,
		      "grandchild born done: err %s cause %d",
		      errname(ctx_err(g)), ctx_cause(g));
	} else if (after) {
		/*
		 * Both our derivation and the parent's cancel have returned:
		 * whichever came first, the whole subtree is done now.
		 */
		CHECK(ctx_err(c) != 0 && ctx_err(g) != 0,
		      "after parent cancel returned: child %s grandchild %s",
		      errname(ctx_err(c)), errname(ctx_err(g)));
	}

	r = ctx_cancel_cause(c, cause);
	if (r == 0) {
		CHECK(!before, "cancel of a born-done child returned 0");
		CHECK(ctx_err(c) == -ECANCELED && ctx_cause(c) == cause,
		      "own cancel: err %s cause %d", errname(ctx_err(c)), ctx_cause(c));
		CHECK(ctx_err(g) == -ECANCELED && ctx_cause(g) == cause,
		      "grandchild after our cancel returned: err %s cause %d (want %d)",
		      errname(ctx_err(g)), ctx_cause(g), cause);
	} else if (CHECK(r == -EALREADY, "cancel: %d", r)) {
		int e = ctx_err(c);

		if (e == -ECANCELED)
			CHECK(ctx_cause(c) == PARENT_CAUSE,
			      "only the parent cancels it: cause %d", ctx_cause(c));
		else
			CHECK(e == -ETIMEDOUT && kind == K_TIMEOUT_SHORT &&
			      ctx_cause(c) == TIMER_CAUSE,
			      "kind %d err %s cause %d", kind, errname(e), ctx_cause(c));
		/* Someone else cancelled: they may still be propagating. */
		CHECK(wait_done(g, 5000) == e && ctx_cause(g) == ctx_cause(c),
		      "grandchild inherits: err %s cause %d, parent %s %d",
		      errname(ctx_err(g)), ctx_cause(g), errname(e), ctx_cause(c));
	}
out:
	/* Release in a varying order: children hold their parents anyway. */
	if (rnd(seed) & 1) {
		ctx_unref(v);
		ctx_unref(g);
		ctx_unref(c);
	} else {
		ctx_unref(g);
		ctx_unref(c);
		ctx_unref(v);
	}
}

static void *derive_worker(void *arg)
{
	struct derive_worker *w = arg;
	uint32_t seed = 0x1234567u * (uint32_t)(w->id + 1);

	for (long i = 0; i < w->rd->iters; i++) {
		derive_one(w->rd, w->id, i, &seed);
		atomic_fetch_add(&w->rd->progress, 1);
	}
	return NULL;
}

static void *parent_canceller(void *arg)
{
	struct derive_round *rd = arg;
	ctx_t *late = NULL;
	int r;

	while (atomic_load(&rd->progress) < rd->trigger)
		sched_yield();
	r = ctx_cancel_cause(rd->parent, PARENT_CAUSE);
	CHECK(r == 0, "parent cancel: %s", errname(r));
	atomic_store(&rd->cancelled, true);
	CHECK(ctx_err(rd->parent) == -ECANCELED &&
	      ctx_cause(rd->parent) == PARENT_CAUSE, "parent state");
	r = ctx_cancel_cause(rd->parent, PARENT_CAUSE + 1);
	CHECK(r == -EALREADY, "second cancel: %s", errname(r));
	CHECK(ctx_cause(rd->parent) == PARENT_CAUSE, "first cause wins");
	if (CHECK(ctx_with_cancel(rd->parent, &late) == 0, "late child"))
		CHECK(ctx_err(late) == -ECANCELED && ctx_cause(late) == PARENT_CAUSE,
		      "late child born done");
	ctx_unref(late);
	return NULL;
}

#define DERIVE_WORKERS 3

static void test_derive(void)
{
	long rounds = 8, iters = scaled(3000, 1000);

	for (long round = 0; round < rounds && !stress_failing(); round++) {
		struct derive_worker w[DERIVE_WORKERS];
		struct derive_round rd = {
			.iters = iters,
			/* Cancel early, mid-way or late in the round. */
			.trigger = iters * DERIVE_WORKERS * (long)(round % 4) / 4,
		};
		ctx_t *root = NULL;
		pthread_t canceller;

		if (!CHECK(stress_with_value(ctx_background(), NULL, &root) == 0, "root") ||
		    !CHECK(ctx_with_cancel(root, &rd.parent) == 0, "parent")) {
			ctx_unref(root);
			return;
		}
		for (int t = 0; t < DERIVE_WORKERS; t++) {
			w[t] = (struct derive_worker){ .rd = &rd, .id = t };
			pthread_create(&w[t].thread, NULL, derive_worker, &w[t]);
		}
		pthread_create(&canceller, NULL, parent_canceller, &rd);
		for (int t = 0; t < DERIVE_WORKERS; t++)
			pthread_join(w[t].thread, NULL);
		pthread_join(canceller, NULL);
		ctx_unref(rd.parent);
		ctx_unref(root);
	}
}

/* ---- 2: a parent's cancel racing its children's and grandchildren's */

/*
 * P - C0 - G00, G01, X (value) - XX
 *   - C1 - G10, G11
 *   - C2 - G20, G21
 *   - C3 (own deadline) - G30, G31
 */
#define NCHILD 4
#define NGRAND 2
#define NNODE (1 + NCHILD + NCHILD * NGRAND + 2)
#define NODE_X (NNODE - 2)
#define NODE_XX (NNODE - 1)

struct race_round {
	ctx_t *node[NNODE];
	int parent[NNODE];	/* index of the node whose err/cause it inherits */
	int fd[NNODE];		/* -1 when ctx_fd was not asked in this round */
	int direct_cause[NNODE];	/* non-zero: our ctx_cancel on it returned 0 */
	int child, grand;	/* the nodes threads B and C cancel */
	uint32_t spin[3];
};

struct race {
	struct race_round rr;
	pthread_barrier_t start, end;
	long rounds;
};

static bool in_subtree(const struct race_round *rr, int n, int top)
{
	for (; n > 0; n = rr->parent[n])
		if (n == top)
			return true;
	return n == top;
}

static void spin(uint32_t n)
{
	for (volatile uint32_t i = 0; i < n; i++)
		;
}

/* After ctx_cancel(top) returned 0: every node below top is done now. */
static void check_subtree_done(struct race_round *rr, int top, const char *who)
{
	for (int n = 0; n < NNODE; n++) {
		if (!in_subtree(rr, n, top))
			continue;
		CHECK(ctx_err(rr->node[n]) != 0,
		      "%s: node %d live after cancel of node %d returned", who, n, top);
		if (rr->fd[n] >= 0)
			CHECK(fd_readable(rr->fd[n], 0) == 1,
			      "%s: fd of node %d not readable after cancel of node %d returned",
			      who, n, top);
	}
}

static void race_cancel(struct race_round *rr, int n, int cause, int slot, const char *who)
{
	int r;

	spin(rr->spin[slot]);
	r = ctx_cancel_cause(rr->node[n], cause);
	if (r == 0) {
		rr->direct_cause[n] = cause;
		check_subtree_done(rr, n, who);
	} else {
		CHECK(r == -EALREADY, "%s: cancel node %d: %s", who, n, errname(r));
	}
}

static void *race_parent(void *arg)
{
	struct race *rc = arg;

	for (long i = 0; i < rc->rounds; i++) {
		pthread_barrier_wait(&rc->start);
		race_cancel(&rc->rr, 0, PARENT_CAUSE, 0, "parent");
		pthread_barrier_wait(&rc->end);
	}
	return NULL;
}

static void *race_child(void *arg)
{
	struct race *rc = arg;

	for (long i = 0; i < rc->rounds; i++) {
		pthread_barrier_wait(&rc->start);
		race_cancel(&rc->rr, rc->rr.child, CHILD_CAUSE, 1, "child");
		pthread_barrier_wait(&rc->end);
	}
	return NULL;
}

static void *race_grand(void *arg)
{
	struct race *rc = arg;

	for (long i = 0; i < rc->rounds; i++) {
		pthread_barrier_wait(&rc->start);
		race_cancel(&rc->rr, rc->rr.grand, GRAND_CAUSE, 2, "grandchild");
		pthread_barrier_wait(&rc->end);
	}
	return NULL;
}

static bool race_build(struct race_round *rr, uint32_t *seed)
{
	ctx_t *root = NULL;
	int n = 1, r = 0;

	memset(rr, 0, sizeof(*rr));
	if (stress_with_value(ctx_background(), NULL, &root) < 0)
		return false;
	r |= ctx_with_cancel(root, &rr->node[0]);
	ctx_unref(root);
	for (int c = 0; c < NCHILD; c++) {
		int ci = n++;

		if (c == NCHILD - 1)
			r |= ctx_with_timeout(rr->node[0], LONG_NS, &rr->node[ci]);
		else
			r |= ctx_with_cancel(rr->node[0], &rr->node[ci]);
		rr->parent[ci] = 0;
		for (int g = 0; g < NGRAND; g++, n++) {
			r |= ctx_with_cancel(rr->node[ci], &rr->node[n]);
			rr->parent[n] = ci;
		}
	}
	r |= stress_with_value(rr->node[1], NULL, &rr->node[NODE_X]);
	rr->parent[NODE_X] = 1;
	r |= ctx_with_cancel(rr->node[NODE_X], &rr->node[NODE_XX]);
	rr->parent[NODE_XX] = NODE_X;
	if (r)
		return false;
	for (int i = 0; i < NNODE; i++)
		rr->fd[i] = (rnd(seed) & 3) == 0 ? ctx_fd(rr->node[i]) : -1;
	/* B cancels a child, C a grandchild or the cancel child under the value. */
	rr->child = 1 + (int)(rnd(seed) % NCHILD) * (NGRAND + 1);
	rr->grand = (rnd(seed) & 3) == 0 ? NODE_XX : rr->child + 1 + (int)(rnd(seed) % NGRAND);
	for (int i = 0; i < 3; i++)
		rr->spin[i] = rnd(seed) % 2000;
	return true;
}

/* Once all cancels returned: each node inherited from its parent unless cancelled itself. */
static void race_check(struct race_round *rr)
{
	CHECK(rr->direct_cause[0] == PARENT_CAUSE, "nobody else cancels the root");
	for (int n = 0; n < NNODE; n++) {
		ctx_t *c = rr->node[n], *p = rr->node[rr->parent[n]];

		if (!CHECK(ctx_err(c) == -ECANCELED, "node %d err %s", n, errname(ctx_err(c))))
			continue;
		if (rr->fd[n] >= 0)
			CHECK(fd_readable(rr->fd[n], 0) == 1, "node %d fd not readable", n);
		if (n == 0 || rr->direct_cause[n])
			CHECK(ctx_cause(c) == (n ? rr->direct_cause[n] : PARENT_CAUSE),
			      "node %d cancelled by us: cause %d", n, ctx_cause(c));
		else
			CHECK(ctx_cause(c) == ctx_cause(p),
			      "node %d cause %d, its parent (node %d) %d",
			      n, ctx_cause(c), rr->parent[n], ctx_cause(p));
	}
	/* The value context shares its parent's state; the fds agree too. */
	CHECK(ctx_fd(rr->node[NODE_X]) == ctx_fd(rr->node[1]), "value shares its parent's fd");
}

static void test_race(void)
{
	struct race rc = { .rounds = scaled(3000, 1000) };
	pthread_t t[3];
	uint32_t seed = 42;

	pthread_barrier_init(&rc.start, NULL, 4);
	pthread_barrier_init(&rc.end, NULL, 4);
	pthread_create(&t[0], NULL, race_parent, &rc);
	pthread_create(&t[1], NULL, race_child, &rc);
	pthread_create(&t[2], NULL, race_grand, &rc);
	for (long i = 0; i < rc.rounds; i++) {
		bool ok = race_build(&rc.rr, &seed);

		CHECK(ok, "building the tree");
		pthread_barrier_wait(&rc.start);
		pthread_barrier_wait(&rc.end);
		if (ok)
			race_check(&rc.rr);
		for (int n = NNODE - 1; n >= 0; n--)
			ctx_unref(rc.rr.node[n]);
		if (!ok)
			break;
	}
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&rc.start);
	pthread_barrier_destroy(&rc.end);
}

/* ---- 3: shared references dropped from many threads while cancelled */

#define SHARE_THREADS 4

struct share {
	ctx_t *ctx;
	atomic_bool cancelled;	/* set once ctx_cancel(ctx) has returned */
	long iters;
};

struct share_worker {
	struct share *sh;
	pthread_t thread;
	int id;
};

static void *share_worker(void *arg)
{
	struct share_worker *w = arg;
	struct share *sh = w->sh;
	ctx_t *c = NULL, *x = sh->ctx;
	uint32_t seed = 77u + (uint32_t)w->id;

	for (long i = 0; i < sh->iters; i++) {
		bool before;

		ctx_ref(x);
		before = atomic_load(&sh->cancelled);
		if (CHECK(ctx_with_cancel(x, &c) == 0, "derive")) {
			if (rnd(&seed) % 8 == 0)
				ctx_fd(c);
			if (before || atomic_load(&sh->cancelled))
				CHECK(ctx_err(c) == -ECANCELED && ctx_cause(c) == PARENT_CAUSE,
				      "child of a cancelled context: %s %d",
				      errname(ctx_err(c)), ctx_cause(c));
			c = ctx_unref(c);
		}
		ctx_unref(x);
		if (w->id == 0 && i == sh->iters / 2) {
			CHECK(ctx_cancel_cause(x, PARENT_CAUSE) == 0, "shared cancel");
			atomic_store(&sh->cancelled, true);
		}
	}
	/* Drop the reference main gave this thread: the last one frees x. */
	ctx_unref(x);
	return NULL;
}

static void test_share(void)
{
	long rounds = 10, iters = scaled(4000, 1000);

	for (long round = 0; round < rounds && !stress_failing(); round++) {
		struct share_worker w[SHARE_THREADS];
		struct share sh = { .iters = iters };
		ctx_t *root = NULL;
		long freed = atomic_load(&stress_values_destroyed);

		if (!CHECK(stress_with_value(ctx_background(), NULL, &root) == 0, "root") ||
		    !CHECK(ctx_with_cancel(root, &sh.ctx) == 0, "shared")) {
			ctx_unref(root);
			return;
		}
		/* The shared context now holds root: root's destructor proves it freed. */
		ctx_unref(root);
		for (int i = 0; i < SHARE_THREADS; i++) {
			w[i] = (struct share_worker){ .sh = &sh, .id = i };
			ctx_ref(sh.ctx);
			pthread_create(&w[i].thread, NULL, share_worker, &w[i]);
		}
		ctx_unref(sh.ctx);
		for (int i = 0; i < SHARE_THREADS; i++)
			pthread_join(w[i].thread, NULL);
		CHECK(atomic_load(&stress_values_destroyed) == freed + 1,
		      "the last unref, in a worker, freed the shared context once");
	}
}

int main(void)
{
	int baseline = fd_baseline();

	stress_plan(4);
	test_derive();
	stress_result("derive, cancel and unref children of a parent being cancelled");
	test_race();
	stress_result("parent cancel racing child and grandchild cancel");
	test_share();
	stress_result("shared context ref/unref from many threads while cancelled");
	check_no_leak(baseline);
	stress_result("every context freed, fds back to baseline");
	return stress_exit();
}
