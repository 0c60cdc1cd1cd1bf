/* SPDX-License-Identifier: MIT */
/*
 * GLib side of the three-way benchmark, written the way a GLib program does
 * each job (bench/rows.md says how for every row):
 *  - a cancellation tree is a GCancellable per node, each connected to its
 *    parent's "cancelled" signal with g_cancellable_connect() and a handler
 *    that cancels the child (and disconnected again when released);
 *  - a deadline is a GSource timeout (g_timeout_source_new, millisecond
 *    resolution) attached to a GMainContext that a loop thread runs, whose
 *    callback cancels the GCancellable;
 *  - the done fd is g_cancellable_get_fd(); the done-check is
 *    g_cancellable_is_cancelled(), an atomic load;
 *  - GLib has no request-scoped values: a chain of GObjects, each holding
 *    its value and its parent as qdata, walked with g_object_get_qdata().
 */
#define _GNU_SOURCE
#include "harness.h"

#include <gio/gio.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *bench_impl = "glib";

static void die(const char *what)
{
	fprintf(stderr, "glib bench: %s\n", what);
	exit(1);
}

#define OPAQUE(x) __asm__ volatile("" : "+r"(x))

/* --- the loop thread that serves timeouts -------------------------------- */

static GMainContext *loop_ctx;
static GMainLoop *loop;
static GThread *loop_thread;

static gpointer loop_run(gpointer p)
{
	g_main_loop_run(p);
	return NULL;
}

static void loop_create(void)
{
	loop_ctx = g_main_context_new();
	loop = g_main_loop_new(loop_ctx, FALSE);
}

static void loop_start(void)
{
	if (!loop_ctx)
		loop_create();
	loop_thread = g_thread_new("timeouts", loop_run, loop);
	while (!g_main_loop_is_running(loop))
		g_usleep(100);
}

static void loop_stop(void)
{
	g_main_loop_quit(loop);
	g_thread_join(loop_thread);
	loop_thread = NULL;
}

/* --- a tree node: a GCancellable following its parent ------------------- */

struct node {
	GCancellable *c;
	GCancellable *parent;
	gulong id;
};

static void on_parent_cancelled(GCancellable *parent, gpointer child)
{
	g_cancellable_cancel(child);
}

static void node_new(struct node *n, GCancellable *parent)
{
	n->c = g_cancellable_new();
	n->parent = parent;
	n->id = parent ? g_cancellable_connect(parent, G_CALLBACK(on_parent_cancelled), n->c,
					       NULL)
		       : 0;
}

static void node_free(struct node *n)
{
	if (n->id)
		g_cancellable_disconnect(n->parent, n->id);
	g_object_unref(n->c);
}

/* --- a deadline: GCancellable + timeout GSource -------------------------- */

struct timed {
	GCancellable *c;
	GSource *s;
	guint64 *fired; /* lateness case: when the callback ran */
};

static gboolean on_timeout(gpointer p)
{
	struct timed *t = p;

	g_cancellable_cancel(t->c);
	if (t->fired)
		__atomic_store_n(t->fired, now_ns(), __ATOMIC_RELEASE);
	return G_SOURCE_REMOVE;
}

static void timed_new(struct timed *t, guint ms)
{
	t->c = g_cancellable_new();
	t->s = g_timeout_source_new(ms);
	g_source_set_callback(t->s, on_timeout, t, NULL);
	g_source_attach(t->s, loop_ctx);
}

static void timed_free(struct timed *t)
{
	g_cancellable_cancel(t->c);
	g_source_destroy(t->s);
	g_source_unref(t->s);
	g_object_unref(t->c);
}

/* --- create + cancel + release ------------------------------------------ */

struct cc_arg {
	GCancellable *parent;
	int fd;
};

static void op_create_cancel(void *p, uint64_t n)
{
	struct cc_arg *a = p;
	struct node nd;

	for (uint64_t i = 0; i < n; i++) {
		node_new(&nd, a->parent);
		if (a->fd && g_cancellable_get_fd(nd.c) < 0)
			die("g_cancellable_get_fd");
		g_cancellable_cancel(nd.c);
		node_free(&nd);
	}
}

static void case_create_cancel(void)
{
	struct cc_arg a = { NULL, 0 };
	GCancellable *live = g_cancellable_new();

	result("create_cancel.root", bench_ns_per_op(op_create_cancel, &a));
	a.parent = live;
	result("create_cancel.live", bench_ns_per_op(op_create_cancel, &a));
	a.fd = 1;
	a.parent = NULL;
	result("create_cancel.fd_root", bench_ns_per_op(op_create_cancel, &a));
	a.parent = live;
	result("create_cancel.fd_live", bench_ns_per_op(op_create_cancel, &a));
	g_object_unref(live);
}

/* --- merge: one GCancellable following two live parents ----------------- */

/*
 * GLib has no merge; a program connects one GCancellable to the
 * "cancelled" signal of each parent (g_cancellable_connect, as for a tree
 * node) and disconnects both when it releases it.
 */
static void op_merge_create_cancel(void *p, uint64_t n)
{
	GCancellable **parents = p;

	for (uint64_t i = 0; i < n; i++) {
		GCancellable *m = g_cancellable_new();
		gulong id0 = g_cancellable_connect(parents[0], G_CALLBACK(on_parent_cancelled), m,
						   NULL);
		gulong id1 = g_cancellable_connect(parents[1], G_CALLBACK(on_parent_cancelled), m,
						   NULL);

		g_cancellable_cancel(m);
		g_cancellable_disconnect(parents[0], id0);
		g_cancellable_disconnect(parents[1], id1);
		g_object_unref(m);
	}
}

static void case_merge(void)
{
	GCancellable *parents[2] = { g_cancellable_new(), g_cancellable_new() };

	result("merge.create_cancel", bench_ns_per_op(op_merge_create_cancel, parents));
	g_object_unref(parents[1]);
	g_object_unref(parents[0]);
}

/* --- timeout create + cancel --------------------------------------------- */

static void op_timeout_cancel(void *p, uint64_t n)
{
	struct timed t = { 0 };

	for (uint64_t i = 0; i < n; i++) {
		timed_new(&t, 1000);
		timed_free(&t);
	}
}

static void case_timeout_cancel(void)
{
	loop_start();
	result("timeout_cancel", bench_ns_per_op(op_timeout_cancel, NULL));
	loop_stop();
}

/* --- hot done-check ------------------------------------------------------ */

static void op_done_check(void *p, uint64_t n)
{
	int s = 0;

	for (uint64_t i = 0; i < n; i++)
		s |= g_cancellable_is_cancelled(p);
	KEEP(s);
}

static void case_done_check(void)
{
	GCancellable *c = g_cancellable_new();

	result("done_check.t1", bench_ns_per_op(op_done_check, c));
	result("done_check.t2", bench_parallel_ns_per_op(2, op_done_check, c, 1));
	g_object_unref(c);
}

/* --- cancel -> waiter wake ----------------------------------------------- */

static void *wake_make(void *arg, int *fd)
{
	GCancellable *c = g_cancellable_new();

	*fd = g_cancellable_get_fd(c);
	if (*fd < 0)
		die("g_cancellable_get_fd");
	return c;
}

static void wake_fire(void *obj)
{
	g_cancellable_cancel(obj);
}

static void wake_release(void *obj)
{
	g_object_unref(obj);
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
	static struct node kids[FANOUT];
	double v[TRIALS];

	for (int t = 0; t < TRIALS; t++) {
		GCancellable *parent = g_cancellable_new();
		uint64_t t0;

		for (int i = 0; i < FANOUT; i++) {
			node_new(&kids[i], parent);
			if (with_fd && g_cancellable_get_fd(kids[i].c) < 0)
				die("g_cancellable_get_fd");
		}
		t0 = now_ns();
		g_cancellable_cancel(parent);
		v[t] = (double)(now_ns() - t0) / 1000.0;
		for (int i = 0; i < FANOUT; i++) {
			if (!g_cancellable_is_cancelled(kids[i].c))
				die("child not cancelled");
			node_free(&kids[i]);
		}
		g_object_unref(parent);
	}
	return median(v, TRIALS);
}

static void case_fanout(void)
{
	raise_nofile();
	result("fanout.nofd", fanout(0));
	result("fanout.fd", fanout(1));
}

/* --- values: a qdata chain ----------------------------------------------- */

static GQuark parent_q, keys_q[1000], missing_q;

static void quarks(void)
{
	char name[32];

	parent_q = g_quark_from_static_string("bench-parent");
	missing_q = g_quark_from_static_string("bench-missing");
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "bench-key-%d", i);
		keys_q[i] = g_quark_from_string(name);
	}
}

/* Each link owns its parent, as a context does; the leaf owns the chain. */
static GObject *value_chain(int depth)
{
	GObject *parent = NULL;

	for (int i = 0; i < depth; i++) {
		GObject *o = g_object_new(G_TYPE_OBJECT, NULL);

		g_object_set_qdata(o, keys_q[i], &keys_q[i]);
		if (parent)
			g_object_set_qdata_full(o, parent_q, parent, g_object_unref);
		parent = o;
	}
	return parent;
}

static gpointer chain_lookup(GObject *o, GQuark key)
{
	for (; o; o = g_object_get_qdata(o, parent_q)) {
		gpointer v = g_object_get_qdata(o, key);

		if (v)
			return v;
	}
	return NULL;
}

/* Unlinks from the leaf down so freeing never recurses 1,000 deep. */
static void chain_free(GObject *o)
{
	while (o) {
		GObject *parent = g_object_steal_qdata(o, parent_q);

		g_object_unref(o);
		o = parent;
	}
}

struct lookup {
	GObject *o;
	GQuark key;
};

static void op_lookup(void *p, uint64_t n)
{
	struct lookup *l = p;

	for (uint64_t i = 0; i < n; i++)
		KEEP(chain_lookup(l->o, l->key));
}

static void case_value_deep(void)
{
	struct lookup l;

	quarks();
	l.o = value_chain(1000);
	l.key = keys_q[0];
	if (chain_lookup(l.o, keys_q[0]) != &keys_q[0])
		die("value lookup");
	result("value_deep", bench_ns_per_op(op_lookup, &l));
	chain_free(l.o);
}

/* --- deadline lateness --------------------------------------------------- */

#define NDEADLINES 1000

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
	static struct timed t[NDEADLINES];
	static guint64 fired[NDEADLINES];
	static int order[NDEADLINES];
	double late[NDEADLINES];
	uint64_t start, give_up;
	int done;

	loop_start();
	creation_order(order, NDEADLINES);
	start = now_ns() + 20000000u;
	for (int k = 0; k < NDEADLINES; k++) {
		int i = order[k];
		uint64_t d = start + (uint64_t)i * 1000000u, now = now_ns();

		/* g_timeout_source_new counts whole milliseconds from now. */
		t[i].fired = &fired[i];
		timed_new(&t[i], (guint)((d - now + 999999u) / 1000000u));
	}
	give_up = start + 4000000000u;
	do {
		g_usleep(10000);
		done = 0;
		for (int i = 0; i < NDEADLINES; i++)
			done += __atomic_load_n(&fired[i], __ATOMIC_ACQUIRE) != 0;
	} while (done < NDEADLINES && now_ns() < give_up);
	loop_stop();
	if (done < NDEADLINES)
		die("deadlines did not fire");
	for (int i = 0; i < NDEADLINES; i++) {
		late[i] = (double)(int64_t)(fired[i] - (start + (uint64_t)i * 1000000u)) / 1000.0;
		timed_free(&t[i]);
	}
	save_samples(bench_impl, "lateness", late, NDEADLINES);
	result("lateness.p50", quantile(late, NDEADLINES, 0.5));
	result("lateness.p99", quantile(late, NDEADLINES, 0.99));
	result("lateness.max", quantile(late, NDEADLINES, 1.0));
}

/* --- memory per live context --------------------------------------------- */

#define NMEM 100000

/*
 * Timeout sources are attached with no loop thread running: with one
 * running, every attach wakes it and each wake-up walks every source, which
 * makes creating 10^5..10^6 of them quadratic (minutes). The memory and fds
 * are the same either way.
 */
static void mem_case(const char *row, int timeout)
{
	struct timed *t = calloc(NMEM, sizeof(*t));
	size_t heap0, rss0, heap1, rss1;
	int fds0, fds1;
	char name[64];

	loop_create();
	{
		struct timed w = { 0 };

		timed_new(&w, 1000); /* warm GLib's type system and slices */
		timed_free(&w);
	}
	heap0 = heap_bytes();
	rss0 = rss_bytes();
	fds0 = open_fds();
	for (int i = 0; i < NMEM; i++) {
		if (timeout)
			timed_new(&t[i], 60000 + (guint)i);
		else
			t[i].c = g_cancellable_new();
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
		if (timeout)
			timed_free(&t[i]);
		else
			g_object_unref(t[i].c);
	}
	free(t);
}

static void case_mem_cancel(void)
{
	mem_case("mem_cancel", 0);
}

static void case_mem_timeout(void)
{
	mem_case("mem_timeout", 1);
}

#define MILLION 1000000

static void case_million(void)
{
	struct timed *t = calloc(MILLION, sizeof(*t));
	uint64_t t0, t1, t2;
	size_t rss0;

	if (set_nofile(1024) < 0)
		die("setrlimit");
	loop_create();
	memset(t, 0, MILLION * sizeof(*t));
	rss0 = rss_bytes();
	t0 = now_ns();
	for (int i = 0; i < MILLION; i++)
		timed_new(&t[i], 60000 + (guint)(i / 1000));
	t1 = now_ns();
	result("million.ok", MILLION);
	result("million.fds", open_fds());
	result("million.create", (double)(t1 - t0) / MILLION);
	result("million.rss", ((double)rss_bytes() - (double)rss0) / MILLION);
	for (int i = 0; i < MILLION; i++)
		timed_free(&t[i]);
	t2 = now_ns();
	result("million.release", (double)(t2 - t1) / MILLION);
	free(t);
}

/* --- ports of Go's context benchmarks ------------------------------------ */

static void op_common_parent_cancel(void *p, uint64_t n)
{
	GCancellable *shared = p;
	struct node nd;
	unsigned x = 0;

	for (uint64_t i = 0; i < n; i++) {
		node_new(&nd, shared);
		if (g_object_get_data(G_OBJECT(shared), "key") != shared)
			die("value");
		for (int k = 0; k < 100; k++) {
			OPAQUE(x);
			x /= x + 1;
		}
		g_cancellable_cancel(nd.c);
		for (int k = 0; k < 100; k++) {
			OPAQUE(x);
			x /= x + 1;
		}
		node_free(&nd);
	}
	KEEP(x);
}

static void case_go_common_parent_cancel(void)
{
	GCancellable *shared = g_cancellable_new();

	g_object_set_data(G_OBJECT(shared), "key", shared);
	result("go.common_parent_cancel",
	       bench_parallel_ns_per_op(2, op_common_parent_cancel, shared, 0));
	g_object_unref(shared);
}

static void op_with_timeout10(void *p, uint64_t n)
{
	struct timed t[10];

	for (uint64_t i = 0; i < n; i++) {
		for (int k = 0; k < 10; k++)
			timed_new(&t[k], 3600000);
		for (int k = 0; k < 10; k++)
			timed_free(&t[k]);
	}
}

static void case_go_with_timeout(void)
{
	static const int conc[] = { 40, 4000, 400000 };

	loop_create();
	for (int j = 0; j < 3; j++) {
		struct timed *live = calloc((size_t)conc[j], sizeof(*live));
		char name[64];

		/* Attached before the loop runs: see mem_case. */
		for (int i = 0; i < conc[j]; i++)
			timed_new(&live[i], 3600000);
		loop_start();
		snprintf(name, sizeof(name), "go.with_timeout.%d", conc[j]);
		result(name, bench_parallel_ns_per_op(2, op_with_timeout10, NULL, 0));
		loop_stop();
		for (int i = 0; i < conc[j]; i++)
			timed_free(&live[i]);
		free(live);
	}
}

struct tree {
	int depth;
	int root; /* 0 background, 1 open canceler, 2 closed canceler */
	struct node *nodes;
};

static void op_cancel_tree(void *p, uint64_t n)
{
	struct tree *t = p;

	for (uint64_t i = 0; i < n; i++) {
		GCancellable *root = t->root ? g_cancellable_new() : NULL;

		if (t->root == 2)
			g_cancellable_cancel(root);
		for (int d = 0; d < t->depth; d++)
			node_new(&t->nodes[d], d ? t->nodes[d - 1].c : root);
		if (t->root == 1)
			g_cancellable_cancel(root);
		for (int d = t->depth - 1; d >= 0; d--)
			node_free(&t->nodes[d]);
		if (root)
			g_object_unref(root);
	}
}

static void case_go_cancel_tree(void)
{
	static const int depths[] = { 1, 10, 100, 1000 };
	static const char *const roots[] = { "bg", "open", "closed" };
	static struct node nodes[1000];

	for (int d = 0; d < 4; d++) {
		for (int r = 0; r < 3; r++) {
			struct tree t = { depths[d], r, nodes };
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
	GCancellable *c = g_cancellable_new();
	int fd;

	g_cancellable_cancel(c);
	fd = g_cancellable_get_fd(c);
	result("go.check_canceled.err", bench_ns_per_op(op_done_check, c));
	result("go.check_canceled.done", bench_ns_per_op(op_poll_fd, &fd));
	g_object_unref(c);
}

static void case_go_context_cancel_done(void)
{
	GCancellable *c = g_cancellable_new();

	result("go.context_cancel_done", bench_parallel_ns_per_op(2, op_done_check, c, 0));
	g_object_unref(c);
}

static void case_go_deep_value(void)
{
	static const int depths[] = { 10, 20, 30, 50, 100 };

	quarks();
	for (int d = 0; d < 5; d++) {
		struct lookup l = { value_chain(depths[d]), missing_q };
		char name[64];

		snprintf(name, sizeof(name), "go.deep_value.%d", depths[d]);
		result(name, bench_ns_per_op(op_lookup, &l));
		chain_free(l.o);
	}
}

static void op_with_value(void *p, uint64_t n)
{
	GQuark key = *(GQuark *)p;

	for (uint64_t i = 0; i < n; i++) {
		GObject *o = g_object_new(G_TYPE_OBJECT, NULL);

		g_object_set_qdata(o, key, p);
		KEEP(g_object_get_qdata(o, key));
		g_object_unref(o);
	}
}

static void case_go_with_value(void)
{
	GQuark key = g_quark_from_static_string("bench-key");

	result("go.with_value", bench_ns_per_op(op_with_value, &key));
}

const struct bench_case bench_cases[] = {
	{ "create_cancel", case_create_cancel },
	{ "merge", case_merge },
	{ "timeout_cancel", case_timeout_cancel },
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
