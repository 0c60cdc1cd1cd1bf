/* SPDX-License-Identifier: MIT */
/*
 * libctx side of the three-way benchmark. Each case is one function; the
 * rows it prints are described in bench/rows.md. Errors abort the case with
 * a message and exit status 1, so bench/run marks the row as failed rather
 * than reporting a number for work that did not happen.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <ctx.h>
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *bench_impl = "libctx";

static void die(const char *what, int r)
{
	fprintf(stderr, "libctx bench: %s: %s\n", what, strerror(-r));
	exit(1);
}

#define CHECK(call)                          \
	do {                                 \
		int r_ = (call);             \
		if (r_ < 0)                  \
			die(#call, r_);      \
	} while (0)

/* Hides a value from the optimiser so arithmetic on it is really done. */
#define OPAQUE(x) __asm__ volatile("" : "+r"(x))

static struct timespec ts_of(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };

	return ts;
}

/* Makes sure the library's thread and shared fds exist before measuring. */
static void warm_up(void)
{
	ctx_t *c;

	CHECK(ctx_with_timeout(ctx_background(), 1000000000u, &c));
	CHECK(ctx_fd(c));
	ctx_cancel(c);
	ctx_unref(c);
	CHECK(ctx_fd(ctx_background()));
}

/* --- create + cancel + release ------------------------------------------ */

struct cc_arg {
	ctx_t *parent;
	int fd;
};

static void op_create_cancel(void *p, uint64_t n)
{
	struct cc_arg *a = p;
	ctx_t *c;

	for (uint64_t i = 0; i < n; i++) {
		CHECK(ctx_with_cancel(a->parent, &c));
		if (a->fd)
			CHECK(ctx_fd(c));
		ctx_cancel(c);
		ctx_unref(c);
	}
}

static void case_create_cancel(void)
{
	struct cc_arg a = { .parent = ctx_background() };
	ctx_t *live;

	result("create_cancel.root", bench_ns_per_op(op_create_cancel, &a));
	CHECK(ctx_with_cancel(ctx_background(), &live));
	a.parent = live;
	result("create_cancel.live", bench_ns_per_op(op_create_cancel, &a));
	a.fd = 1;
	a.parent = ctx_background();
	result("create_cancel.fd_root", bench_ns_per_op(op_create_cancel, &a));
	a.parent = live;
	result("create_cancel.fd_live", bench_ns_per_op(op_create_cancel, &a));
	ctx_unref(live);
}

/* --- merge: ctx_with_any of two live parents ----------------------------- */

static void op_merge_create_cancel(void *p, uint64_t n)
{
	ctx_t *const *parents = p, *m;

	for (uint64_t i = 0; i < n; i++) {
		CHECK(ctx_with_any(parents, 2, &m));
		ctx_cancel(m);
		ctx_unref(m);
	}
}

static void case_merge(void)
{
	ctx_t *parents[2];

	CHECK(ctx_with_cancel(ctx_background(), &parents[0]));
	CHECK(ctx_with_cancel(ctx_background(), &parents[1]));
	result("merge.create_cancel", bench_ns_per_op(op_merge_create_cancel, parents));
	ctx_unref(parents[1]);
	ctx_unref(parents[0]);
}

/* --- derive a timeout at the bottom of a deep chain ---------------------- */

static char chain_key;

/*
 * depth contexts alternating timeout and value, each timeout later than the
 * one above it (so, by the parent-earlier rule, only the top one has a
 * timer of its own and every level is bounded by it). Returns the bottom;
 * it holds the rest.
 */
static ctx_t *deadline_chain(int depth)
{
	ctx_t *c = ctx_background(), *n;

	for (int i = 0; i < depth; i++) {
		if (i % 2 == 0)
			CHECK(ctx_with_timeout(c, 3600000000000u + (uint64_t)i * 1000u, &n));
		else
			CHECK(ctx_with_value(c, &chain_key, NULL, NULL, &n));
		if (c != ctx_background())
			ctx_unref(c);
		c = n;
	}
	return c;
}

static void op_derive(void *p, uint64_t n)
{
	ctx_t *bottom = p, *c;

	for (uint64_t i = 0; i < n; i++) {
		/* Earlier than the chain's: a timer of its own. */
		CHECK(ctx_with_timeout(bottom, 1800000000000u, &c));
		ctx_unref(c);
	}
}

static void case_derive(void)
{
	static const int depths[] = { 1, 1000, 100000 };

	warm_up();
	for (int d = 0; d < 3; d++) {
		ctx_t *bottom = deadline_chain(depths[d]);
		char name[64];

		snprintf(name, sizeof(name), "derive.%d", depths[d]);
		result(name, bench_ns_per_op(op_derive, bottom));
		ctx_unref(bottom);
	}
}

/* --- timeout create + cancel --------------------------------------------- */

static void op_timeout_cancel(void *p, uint64_t n)
{
	ctx_t *c;

	for (uint64_t i = 0; i < n; i++) {
		CHECK(ctx_with_timeout(ctx_background(), 1000000000u, &c));
		ctx_cancel(c);
		ctx_unref(c);
	}
}

static void case_timeout_cancel(void)
{
	warm_up();
	result("timeout_cancel", bench_ns_per_op(op_timeout_cancel, NULL));
}

/* --- hot done-check ------------------------------------------------------ */

static void op_done_check(void *p, uint64_t n)
{
	ctx_t *c = p;
	int s = 0;

	for (uint64_t i = 0; i < n; i++)
		s |= ctx_err(c);
	KEEP(s);
}

static void case_done_check(void)
{
	ctx_t *c;

	CHECK(ctx_with_cancel(ctx_background(), &c));
	result("done_check.t1", bench_ns_per_op(op_done_check, c));
	result("done_check.t2", bench_parallel_ns_per_op(2, op_done_check, c, 1));
	ctx_unref(c);
}

/* --- cancel -> waiter wake ----------------------------------------------- */

static void *wake_make(void *arg, int *fd)
{
	ctx_t *c;

	CHECK(ctx_with_cancel(ctx_background(), &c));
	*fd = ctx_fd(c);
	CHECK(*fd);
	return c;
}

static void wake_fire(void *obj)
{
	CHECK(ctx_cancel(obj));
}

static void wake_release(void *obj)
{
	ctx_unref(obj);
}

static const struct wake_ops wake = { wake_make, wake_fire, wake_release, NULL };

static void case_wake_epoll(void)
{
	bench_wake(bench_impl, "wake_epoll", &wake, WAKE_EPOLL, 1000);
}

static void case_wake_poll(void)
{
	bench_wake(bench_impl, "wake_poll", &wake, WAKE_POLL, 1000);
}

/* --- fan-out cancel ------------------------------------------------------ */

#define FANOUT 10000
#define TRIALS 7

static double fanout(int with_fd)
{
	static ctx_t *kids[FANOUT];
	double v[TRIALS];

	for (int t = 0; t < TRIALS; t++) {
		ctx_t *parent;
		uint64_t t0;

		CHECK(ctx_with_cancel(ctx_background(), &parent));
		for (int i = 0; i < FANOUT; i++) {
			CHECK(ctx_with_cancel(parent, &kids[i]));
			if (with_fd)
				CHECK(ctx_fd(kids[i]));
		}
		t0 = now_ns();
		CHECK(ctx_cancel(parent));
		v[t] = (double)(now_ns() - t0) / 1000.0;
		for (int i = 0; i < FANOUT; i++) {
			if (ctx_err(kids[i]) != -ECANCELED)
				die("child not cancelled", -EPROTO);
			ctx_unref(kids[i]);
		}
		ctx_unref(parent);
	}
	return median(v, TRIALS);
}

static void case_fanout(void)
{
	raise_nofile();
	result("fanout.nofd", fanout(0));
	result("fanout.fd", fanout(1));
}

/* --- value lookup -------------------------------------------------------- */

static char keys[1000];
static char missing_key;

/* A chain of depth value contexts on background; key i maps to &keys[i]. */
static ctx_t *value_chain(int depth)
{
	ctx_t *c = ctx_background(), *n;

	for (int i = 0; i < depth; i++) {
		CHECK(ctx_with_value(c, &keys[i], &keys[i], NULL, &n));
		ctx_unref(c); /* the child holds its parent */
		c = n;
	}
	return c;
}

struct lookup {
	ctx_t *c;
	const void *key;
};

static void op_lookup(void *p, uint64_t n)
{
	struct lookup *l = p;

	for (uint64_t i = 0; i < n; i++)
		KEEP(ctx_value(l->c, l->key));
}

static void case_value_deep(void)
{
	struct lookup l = { value_chain(1000), &keys[0] };

	if (ctx_value(l.c, &keys[0]) != &keys[0])
		die("value lookup", -EPROTO);
	result("value_deep", bench_ns_per_op(op_lookup, &l));
	ctx_unref(l.c);
}

/* --- deadline lateness --------------------------------------------------- */

#define NDEADLINES 1000

static _Atomic uint64_t fired_at[NDEADLINES];
static atomic_int nfired;

static void on_deadline(void *arg)
{
	atomic_store((_Atomic uint64_t *)arg, now_ns());
	atomic_fetch_add(&nfired, 1);
}

/* The same shuffled creation order in every implementation (an LCG). */
static void creation_order(int *order, int n)
{
	uint32_t s = 12345;

	for (int i = 0; i < n; i++)
		order[i] = i;
	for (int i = n - 1; i > 0; i--) {
		int j, t;

		s = s * 1103515245u + 12345u;
		j = (int)((s >> 8) % (uint32_t)(i + 1));
		t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
}

static void case_lateness(void)
{
	static ctx_t *c[NDEADLINES];
	static int order[NDEADLINES];
	double late[NDEADLINES];
	uint64_t start, give_up;

	warm_up();
	creation_order(order, NDEADLINES);
	start = now_ns() + 20000000u;
	for (int k = 0; k < NDEADLINES; k++) {
		int i = order[k];
		struct timespec d = ts_of(start + (uint64_t)i * 1000000u);

		CHECK(ctx_with_deadline(ctx_background(), &d, &c[i]));
		CHECK(ctx_after_func(c[i], on_deadline, &fired_at[i], NULL));
	}
	give_up = start + 4000000000u;
	while (atomic_load(&nfired) < NDEADLINES && now_ns() < give_up) {
		struct timespec ts = { 0, 10000000 };

		nanosleep(&ts, NULL);
	}
	if (atomic_load(&nfired) < NDEADLINES)
		die("deadlines did not fire", -ETIME);
	for (int i = 0; i < NDEADLINES; i++) {
		late[i] = (double)(int64_t)(atomic_load(&fired_at[i]) -
					    (start + (uint64_t)i * 1000000u)) / 1000.0;
		ctx_unref(c[i]);
	}
	save_samples(bench_impl, "lateness", late, NDEADLINES);
	result("lateness.p50", quantile(late, NDEADLINES, 0.5));
	result("lateness.p99", quantile(late, NDEADLINES, 0.99));
	result("lateness.max", quantile(late, NDEADLINES, 1.0));
}

/* --- memory per live context --------------------------------------------- */

#define NMEM 100000

static void mem_case(const char *row, int timeout)
{
	ctx_t **c = calloc(NMEM, sizeof(*c));
	size_t heap0, rss0, heap1, rss1;
	int fds0, fds1;
	char name[64];

	warm_up();
	memset(c, 0, NMEM * sizeof(*c)); /* touch the array before the baseline */
	heap0 = heap_bytes();
	rss0 = rss_bytes();
	fds0 = open_fds();
	for (int i = 0; i < NMEM; i++) {
		if (timeout)
			CHECK(ctx_with_timeout(ctx_background(), 60000000000u + (uint64_t)i * 1000u,
					       &c[i]));
		else
			CHECK(ctx_with_cancel(ctx_background(), &c[i]));
	}
	heap1 = heap_bytes();
	rss1 = rss_bytes();
	fds1 = open_fds();
	snprintf(name, sizeof(name), "%s.heap", row);
	result(name, ((double)heap1 - (double)heap0) / NMEM);
	snprintf(name, sizeof(name), "%s.rss", row);
	result(name, ((double)rss1 - (double)rss0) / NMEM);
	snprintf(name, sizeof(name), "%s.fds", row);
	result(name, (double)(fds1 - fds0) / NMEM);
	for (int i = 0; i < NMEM; i++) {
		ctx_cancel(c[i]);
		ctx_unref(c[i]);
	}
	free(c);
}

static void case_mem_cancel(void)
{
	mem_case("mem_cancel", 0);
}

static void case_mem_timeout(void)
{
	mem_case("mem_timeout", 1);
}

/* --- one million live deadlines under RLIMIT_NOFILE 1024 ----------------- */

#define MILLION 1000000

static void case_million(void)
{
	ctx_t **c = calloc(MILLION, sizeof(*c));
	uint64_t t0, t1, t2;
	size_t rss0;
	int ok = 0, r = 0;

	r = set_nofile(1024);
	if (r < 0)
		die("setrlimit", r);
	warm_up();
	memset(c, 0, MILLION * sizeof(*c));
	rss0 = rss_bytes();
	t0 = now_ns();
	for (; ok < MILLION; ok++) {
		r = ctx_with_timeout(ctx_background(), 60000000000u + (uint64_t)ok * 1000u, &c[ok]);
		if (r < 0)
			break;
	}
	t1 = now_ns();
	if (r < 0)
		fprintf(stderr, "libctx million: stopped at %d: %s\n", ok, strerror(-r));
	result("million.ok", ok);
	result("million.fds", open_fds());
	result("million.create", (double)(t1 - t0) / (ok ? ok : 1));
	result("million.rss", ((double)rss_bytes() - (double)rss0) / (ok ? ok : 1));
	for (int i = 0; i < ok; i++) {
		ctx_cancel(c[i]);
		ctx_unref(c[i]);
	}
	t2 = now_ns();
	result("million.release", (double)(t2 - t1) / (ok ? ok : 1));
	free(c);
}

/* --- ports of Go's context benchmarks (src/context/benchmark_test.go) ---- */

static char common_key;

static void op_common_parent_cancel(void *p, uint64_t n)
{
	ctx_t *shared = p, *c;
	unsigned x = 0;

	for (uint64_t i = 0; i < n; i++) {
		CHECK(ctx_with_cancel(shared, &c));
		if (ctx_value(c, &common_key) != &common_key)
			die("value", -EPROTO);
		for (int k = 0; k < 100; k++) {
			OPAQUE(x);
			x /= x + 1;
		}
		ctx_cancel(c);
		for (int k = 0; k < 100; k++) {
			OPAQUE(x);
			x /= x + 1;
		}
		ctx_unref(c);
	}
	KEEP(x);
}

static void case_go_common_parent_cancel(void)
{
	ctx_t *root, *shared;

	CHECK(ctx_with_value(ctx_background(), &common_key, &common_key, NULL, &root));
	CHECK(ctx_with_cancel(root, &shared));
	result("go.common_parent_cancel",
	       bench_parallel_ns_per_op(2, op_common_parent_cancel, shared, 0));
	ctx_cancel(shared);
	ctx_unref(shared);
	ctx_unref(root);
}

static void op_with_timeout10(void *p, uint64_t n)
{
	ctx_t *c[10];

	for (uint64_t i = 0; i < n; i++) {
		for (int k = 0; k < 10; k++)
			CHECK(ctx_with_timeout(ctx_background(), 3600000000000u, &c[k]));
		for (int k = 0; k < 10; k++) {
			ctx_cancel(c[k]);
			ctx_unref(c[k]);
		}
	}
}

static void case_go_with_timeout(void)
{
	static const int conc[] = { 40, 4000, 400000 };

	warm_up();
	for (int j = 0; j < 3; j++) {
		ctx_t **live = calloc((size_t)conc[j], sizeof(*live));
		char name[64];

		for (int i = 0; i < conc[j]; i++)
			CHECK(ctx_with_timeout(ctx_background(), 3600000000000u, &live[i]));
		snprintf(name, sizeof(name), "go.with_timeout.%d", conc[j]);
		result(name, bench_parallel_ns_per_op(2, op_with_timeout10, NULL, 0));
		for (int i = 0; i < conc[j]; i++) {
			ctx_cancel(live[i]);
			ctx_unref(live[i]);
		}
		free(live);
	}
}

struct tree {
	int depth;
	int root; /* 0 background, 1 open canceler, 2 closed canceler */
};

/* Go's buildContextTree; only the leaf's reference is kept (it holds the rest). */
static ctx_t *build_tree(ctx_t *root, int depth)
{
	ctx_t *c = root, *n;

	for (int d = 0; d < depth; d++) {
		CHECK(ctx_with_cancel(c, &n));
		if (c != root)
			ctx_unref(c);
		c = n;
	}
	return c;
}

static void op_cancel_tree(void *p, uint64_t n)
{
	struct tree *t = p;

	for (uint64_t i = 0; i < n; i++) {
		ctx_t *root, *leaf;

		if (t->root == 0) {
			ctx_unref(build_tree(ctx_background(), t->depth));
			continue;
		}
		CHECK(ctx_with_cancel(ctx_background(), &root));
		if (t->root == 2)
			ctx_cancel(root);
		leaf = build_tree(root, t->depth);
		if (t->root == 1)
			ctx_cancel(root);
		ctx_unref(leaf);
		ctx_unref(root);
	}
}

static void case_go_cancel_tree(void)
{
	static const int depths[] = { 1, 10, 100, 1000 };
	static const char *const roots[] = { "bg", "open", "closed" };

	for (int d = 0; d < 4; d++) {
		for (int r = 0; r < 3; r++) {
			struct tree t = { depths[d], r };
			char name[64];

			snprintf(name, sizeof(name), "go.cancel_tree.%d.%s", depths[d], roots[r]);
			result(name, bench_ns_per_op(op_cancel_tree, &t));
		}
	}
}

static void op_poll_fd(void *p, uint64_t n)
{
	struct pollfd pfd = { .fd = *(int *)p, .events = POLLIN };
	int s = 0;

	for (uint64_t i = 0; i < n; i++)
		s += poll(&pfd, 1, 0);
	KEEP(s);
}

static void case_go_check_canceled(void)
{
	ctx_t *c;
	int fd;

	CHECK(ctx_with_cancel(ctx_background(), &c));
	ctx_cancel(c);
	fd = ctx_fd(c);
	CHECK(fd);
	result("go.check_canceled.err", bench_ns_per_op(op_done_check, c));
	result("go.check_canceled.done", bench_ns_per_op(op_poll_fd, &fd));
	ctx_unref(c);
}

static void case_go_context_cancel_done(void)
{
	ctx_t *c;

	CHECK(ctx_with_cancel(ctx_background(), &c));
	result("go.context_cancel_done", bench_parallel_ns_per_op(2, op_done_check, c, 0));
	ctx_cancel(c);
	ctx_unref(c);
}

static void case_go_deep_value(void)
{
	static const int depths[] = { 10, 20, 30, 50, 100 };

	for (int d = 0; d < 5; d++) {
		struct lookup l = { value_chain(depths[d]), &missing_key };
		char name[64];

		snprintf(name, sizeof(name), "go.deep_value.%d", depths[d]);
		result(name, bench_ns_per_op(op_lookup, &l));
		ctx_unref(l.c);
	}
}

static void op_with_value(void *p, uint64_t n)
{
	ctx_t *c;

	for (uint64_t i = 0; i < n; i++) {
		CHECK(ctx_with_value(ctx_background(), &common_key, p, NULL, &c));
		KEEP(ctx_value(c, &common_key));
		ctx_unref(c);
	}
}

static void case_go_with_value(void)
{
	result("go.with_value", bench_ns_per_op(op_with_value, &common_key));
}

const struct bench_case bench_cases[] = {
	{ "create_cancel", case_create_cancel },
	{ "merge", case_merge },
	{ "timeout_cancel", case_timeout_cancel },
	{ "derive", case_derive },
	{ "done_check", case_done_check },
	{ "wake_epoll", case_wake_epoll },
	{ "wake_poll", case_wake_poll },
	{ "fanout", case_fanout },
	{ "value_deep", case_value_deep },
	{ "lateness", case_lateness },
	{ "mem_cancel", case_mem_cancel },
	{ "mem_timeout", case_mem_timeout },
	{ "million", case_million },
	{ "go_common_parent_cancel", case_go_common_parent_cancel },
	{ "go_with_timeout", case_go_with_timeout },
	{ "go_cancel_tree", case_go_cancel_tree },
	{ "go_check_canceled", case_go_check_canceled },
	{ "go_context_cancel_done", case_go_context_cancel_done },
	{ "go_deep_value", case_go_deep_value },
	{ "go_with_value", case_go_with_value },
	{ NULL, NULL },
};
