/* SPDX-License-Identifier: MIT */
/*
 * Differential fuzzer: each input is decoded into a sequence of operations
 * on a small forest of contexts, run both on libctx and on a tiny model of
 * Go's context semantics as the contract (ctx-api.md) translates them. Any
 * difference in error, cause, deadline, value, done-fd readability, after-
 * function runs, or a leak (value destructors, descriptors; memory through
 * LeakSanitizer) aborts.
 *
 * Real deadlines are either far away (never fire during an input), already
 * passed, clamped, or short (at most 2 ms). A short deadline opens a "block":
 * until it is waited for, only operations whose outcome cannot depend on
 * whether the library's thread has fired it yet are run on the nodes that
 * deadline bounds (deriving, registering after-functions, lookups), so the
 * model stays deterministic. Only one block is open at a time.
 *
 * Build: fuzz/run.sh (clang -fsanitize=fuzzer,address,undefined, with the
 * library's sources compiled in).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "ctx.h"

#define MAX_NODES 160
#define MAX_SLOTS 24
#define MAX_REGS 192
#define MAX_OPS 256
#define NS_PER_SEC 1000000000LL
#define NS_INF INT64_MAX /* a clamped deadline: never fires */
#define SETTLE_NS (3 * NS_PER_SEC)

#define fail(...)                                                              \
	do {                                                                   \
		fprintf(stderr, "fuzz-ctx: MISMATCH at op %d: ", op_no);      \
		fprintf(stderr, __VA_ARGS__);                                  \
		fputc('\n', stderr);                                           \
		abort();                                                       \
	} while (0)

enum kind { K_ROOT, K_CANCEL, K_DEADLINE, K_SOURCE, K_WOC, K_VALUE };

struct node {
	enum kind kind;
	bool alive;
	bool in_block;   /* made during the open block: its done state is pending */
	bool desc_any;   /* describe may name it with_cancel or with_deadline */
	int parent;      /* -1 for the roots */
	int user_refs;   /* held by slots */
	int child_refs;  /* held by live children */
	int err, cause;  /* owner nodes only */
	bool has_dl;
	int64_t dl;      /* effective deadline, NS_INF if clamped */
	int key;         /* value nodes: index in keys[] */
	bool destroy;    /* value nodes: has a destructor */
	int fd;          /* owner nodes: the done fd seen, -1 if not asked */
	int pipe_w;      /* sources: our write end, -1 once closed */
	uint32_t events; /* sources: what they watch */
	int sentinel;    /* sources: the after-function telling they fired */
	ctx_t *real;
};

/* A value's token: the destructor counts its runs. */
struct vrec {
	unsigned int gen;
	atomic_int destroyed;
	int expected;
};

enum reg_state { R_PENDING, R_RAN, R_STOPPED, R_DETACHED, R_NEVER };

struct reg {
	unsigned int gen;
	int target;
	enum reg_state state;
	bool handle_open;
	bool internal; /* a block's sentinel */
	ctx_after_t *h;
	atomic_int runs;
};

static struct node nodes[MAX_NODES];
static struct vrec vrecs[MAX_NODES];
static struct reg regs[MAX_REGS];
static int n_nodes, n_regs;
static int slots[MAX_SLOTS]; /* node index, -1 empty */
static atomic_uint cur_gen;
static int op_no;
static int64_t base_ns;
static char keys[4];
static int never_fd = -1;
static int devnull = -1; /* epoll refuses it: -EPERM */
static int fd_baseline;
static int ready_pipe[2];
static bool trace; /* FUZZ_CTX_TRACE: print each operation */

/* The open block: its short-deadline context and its sentinel. */
static int block_node = -1, block_reg = -1, block_ops_left, block_cause;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static void pause_us(long us)
{
	struct timespec ts = { 0, us * 1000 };

	nanosleep(&ts, NULL);
}

/*
 * Descriptors of the kinds the library makes (eventfd, timerfd, epoll) or
 * duplicates (our pipes). libFuzzer's own come and go between inputs (the
 * symbolizer's pipes), so the baseline is taken at the start of each input.
 */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char path[64], target[64];
	int n = 0;

	if (!d)
		abort();
	while ((e = readdir(d))) {
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		if (len > 0 && (!strncmp(target, "anon_inode:", 11) || !strncmp(target, "pipe:", 5)))
			n++;
	}
	closedir(d);
	return n;
}

/* --- the input --- */

struct input {
	const uint8_t *p;
	size_t n;
};

static uint8_t byte(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

/* --- callbacks run by the library, possibly in its thread --- */

static void after_fn(void *arg)
{
	struct reg *r = arg;

	if (r->gen != atomic_load(&cur_gen)) {
		fprintf(stderr, "fuzz-ctx: after-function of an earlier input ran late\n");
		abort();
	}
	atomic_fetch_add(&r->runs, 1);
}

static void value_destroy(void *value)
{
	struct vrec *v = value;

	if (v->gen != atomic_load(&cur_gen)) {
		fprintf(stderr, "fuzz-ctx: value of an earlier input destroyed late\n");
		abort();
	}
	atomic_fetch_add(&v->destroyed, 1);
}

/* --- the model --- */

static bool is_node_kind(enum kind k)
{
	return k != K_VALUE;
}

static int owner(int i)
{
	while (!is_node_kind(nodes[i].kind))
		i = nodes[i].parent;
	return i;
}

static bool cancellable(int i)
{
	return nodes[i].kind == K_CANCEL || nodes[i].kind == K_DEADLINE ||
	       nodes[i].kind == K_SOURCE;
}

/* The node a cancellable node registers with, or -1. */
static int registrar(int i)
{
	int o;

	if (!cancellable(i))
		return -1;
	o = owner(nodes[i].parent);
	return cancellable(o) ? o : -1;
}

static int m_err(int i)
{
	return nodes[owner(i)].err;
}

static int m_cause(int i)
{
	return nodes[owner(i)].err ? nodes[owner(i)].cause : 0;
}

static void mark_done(int o, int err, int cause)
{
	nodes[o].err = err;
	nodes[o].cause = cause;
	for (int r = 0; r < n_regs; r++)
		if (regs[r].state == R_PENDING && owner(regs[r].target) == o)
			regs[r].state = R_RAN;
}

/* Cancels node n and every live cancellable descendant registered below it. */
static void m_cancel(int n, int err, int cause)
{
	int queue[MAX_NODES], head = 0, tail = 0;

	mark_done(n, err, cause);
	queue[tail++] = n;
	while (head < tail) {
		int q = queue[head++];

		for (int m = 0; m < n_nodes; m++)
			if (nodes[m].alive && !nodes[m].err && registrar(m) == q) {
				mark_done(m, err, cause);
				queue[tail++] = m;
			}
	}
}

static void m_maybe_free(int i)
{
	while (i >= 0 && nodes[i].kind != K_ROOT && nodes[i].alive && !nodes[i].user_refs &&
	       !nodes[i].child_refs) {
		nodes[i].alive = false;
		for (int r = 0; r < n_regs; r++)
			if (regs[r].target == i && regs[r].state == R_PENDING)
				regs[r].state = R_DETACHED;
		if (nodes[i].kind == K_VALUE && nodes[i].destroy)
			vrecs[i].expected = 1;
		if (nodes[i].kind == K_SOURCE && nodes[i].pipe_w >= 0) {
			/* Our end only: the library's duplicate went with the context. */
			close(nodes[i].pipe_w);
			nodes[i].pipe_w = -1;
		}
		i = nodes[i].parent;
		if (nodes[i].kind != K_ROOT)
			nodes[i].child_refs--;
	}
}

static int m_new(enum kind k, int parent, ctx_t *real)
{
	int i = n_nodes++;

	memset(&nodes[i], 0, sizeof(nodes[i]));
	nodes[i].kind = k;
	nodes[i].alive = true;
	nodes[i].parent = parent;
	nodes[i].user_refs = 1;
	nodes[i].fd = -1;
	nodes[i].pipe_w = -1;
	nodes[i].real = real;
	nodes[i].in_block = block_node >= 0;
	if (parent >= 0 && nodes[parent].kind != K_ROOT)
		nodes[parent].child_refs++;
	if (parent >= 0 && k != K_WOC) {
		nodes[i].has_dl = nodes[parent].has_dl;
		nodes[i].dl = nodes[parent].dl;
	}
	/* A new cancellable child of a done node is born done. */
	if (cancellable(i) && registrar(i) >= 0 && nodes[registrar(i)].err) {
		nodes[i].err = nodes[registrar(i)].err;
		nodes[i].cause = nodes[registrar(i)].cause;
	}
	return i;
}

/* --- slots --- */

static int slot_free(void)
{
	for (int s = 0; s < MAX_SLOTS; s++)
		if (slots[s] < 0)
			return s;
	return -1;
}

/* Picks an occupied slot; in a block, only one holding a block node. */
static int slot_pick(struct input *in, bool block_only)
{
	int cand[MAX_SLOTS], n = 0;

	for (int s = 0; s < MAX_SLOTS; s++)
		if (slots[s] >= 0 && (!block_only || nodes[slots[s]].in_block))
			cand[n++] = s;
	if (!n)
		return -1;
	return cand[byte(in) % n];
}

/* --- checks against the real library --- */

/* Waits (bounded) for counters the library thread may still be bumping. */
static void check_counters(bool include_block)
{
	int64_t give_up = now_ns() + SETTLE_NS;

	for (int r = 0; r < n_regs; r++) {
		int want = regs[r].state == R_RAN ? 1 : 0;

		if (!include_block && nodes[regs[r].target].in_block)
			continue;
		while (atomic_load(&regs[r].runs) < want && now_ns() < give_up)
			pause_us(50);
		if (atomic_load(&regs[r].runs) != want)
			fail("after-function %d on node %d ran %d times, model says %d", r,
			     regs[r].target, atomic_load(&regs[r].runs), want);
	}
	for (int i = 0; i < n_nodes; i++) {
		if (nodes[i].kind != K_VALUE)
			continue;
		while (atomic_load(&vrecs[i].destroyed) < vrecs[i].expected && now_ns() < give_up)
			pause_us(50);
		if (atomic_load(&vrecs[i].destroyed) != vrecs[i].expected)
			fail("value %d destroyed %d times, model says %d", i,
			     atomic_load(&vrecs[i].destroyed), vrecs[i].expected);
	}
}

static void check_state(int i)
{
	int err = ctx_err(nodes[i].real), cause = ctx_cause(nodes[i].real);

	if (err != m_err(i) || cause != m_cause(i))
		fail("node %d (kind %d): err %d cause %d, model err %d cause %d", i,
		     nodes[i].kind, err, cause, m_err(i), m_cause(i));
}

static void check_all(void)
{
	for (int s = 0; s < MAX_SLOTS; s++)
		if (slots[s] >= 0 && !nodes[slots[s]].in_block)
			check_state(slots[s]);
	check_counters(false);
}

static void check_deadline(int i)
{
	struct timespec ts = { -1, -1 };
	bool has = ctx_deadline(nodes[i].real, &ts);
	int64_t t0, t1, got;
	int ms;

	if (has != nodes[i].has_dl || ctx_deadline(nodes[i].real, NULL) != has)
		fail("node %d: ctx_deadline says %d, model %d", i, has, nodes[i].has_dl);
	if (!has)
		goto timeout;
	if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= NS_PER_SEC)
		fail("node %d: bad deadline %lld.%ld", i, (long long)ts.tv_sec, ts.tv_nsec);
	got = ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
	if (nodes[i].dl == NS_INF) {
		/* Clamped: far beyond any clock this process will see. */
		if (ts.tv_sec < 1000000000LL)
			fail("node %d: clamped deadline reported as %lld s", i,
			     (long long)ts.tv_sec);
	} else if (got != nodes[i].dl) {
		fail("node %d: deadline %" PRId64 ", model %" PRId64, i, got, nodes[i].dl);
	}
timeout:
	if (nodes[i].in_block)
		return;
	t0 = now_ns();
	ms = ctx_timeout_ms(nodes[i].real);
	t1 = now_ns();
	if (m_err(i)) {
		if (ms != 0)
			fail("node %d: done but ctx_timeout_ms %d", i, ms);
	} else if (!nodes[i].has_dl) {
		if (ms != -1)
			fail("node %d: no deadline but ctx_timeout_ms %d", i, ms);
	} else if (nodes[i].dl == NS_INF) {
		if (ms != INT_MAX)
			fail("node %d: clamped deadline but ctx_timeout_ms %d", i, ms);
	} else {
		int64_t hi = (nodes[i].dl - t0 + 999999) / 1000000;
		int64_t lo = (nodes[i].dl - t1 + 999999) / 1000000;

		if (hi > INT_MAX)
			hi = INT_MAX;
		if (lo > INT_MAX)
			lo = INT_MAX;
		if (ms < lo || ms > hi || ms <= 0)
			fail("node %d: ctx_timeout_ms %d outside [%" PRId64 ", %" PRId64 "]", i,
			     ms, lo, hi);
	}
}

static void check_value(int i, int key)
{
	void *want = NULL, *got = ctx_value(nodes[i].real, &keys[key]);

	for (int j = i; j >= 0; j = nodes[j].parent)
		if (nodes[j].kind == K_VALUE && nodes[j].key == key) {
			want = &vrecs[j];
			break;
		}
	if (got != want)
		fail("node %d: ctx_value(key %d) %p, model %p", i, key, got, want);
}

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r = poll(&p, 1, 0);

	if (r < 0 || (p.revents & POLLNVAL))
		fail("poll on done fd %d: r %d revents %#x", fd, r, p.revents);
	return r == 1 && (p.revents & POLLIN);
}

static void check_fd(int i, bool check_ready)
{
	int o = owner(i), fd = ctx_fd(nodes[i].real);

	if (fd < 0)
		fail("node %d: ctx_fd %d", i, fd);
	if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC) || !(fcntl(fd, F_GETFL) & O_NONBLOCK))
		fail("node %d: done fd %d not CLOEXEC|NONBLOCK", i, fd);
	if (!cancellable(o)) {
		if (fd != never_fd)
			fail("node %d: never-done context has fd %d, not the shared %d", i, fd,
			     never_fd);
	} else if (nodes[o].fd >= 0) {
		if (fd != nodes[o].fd)
			fail("node %d: fd %d, earlier %d for its owner %d", i, fd, nodes[o].fd, o);
	} else {
		if (fd == never_fd)
			fail("node %d: cancellable context got the never fd", i);
		for (int j = 0; j < n_nodes; j++)
			if (nodes[j].alive && j != o && nodes[j].fd == fd)
				fail("node %d: fd %d already belongs to node %d", i, fd, j);
		nodes[o].fd = fd;
	}
	if (check_ready && readable(fd) != (m_err(i) != 0))
		fail("node %d: fd readable %d, model done %d", i, readable(fd), m_err(i) != 0);
}

/* Model of ctx_describe's chain; deadline links match any remaining time. */
static void check_describe(int i)
{
	static char buf[MAX_NODES * 40];
	int chain[MAX_NODES], n = 0, len, len0, len1, pos = 0;
	bool timed = false;
	char small[7];

	for (int j = i; j >= 0; j = nodes[j].parent) {
		chain[n++] = j;
		timed |= nodes[j].kind == K_DEADLINE || nodes[j].desc_any;
	}
	len0 = ctx_describe(nodes[i].real, NULL, 0);
	len = ctx_describe(nodes[i].real, buf, sizeof(buf));
	len1 = ctx_describe(nodes[i].real, small, sizeof(small));
	if (len < 0 || (size_t)len >= sizeof(buf) || strlen(buf) != (size_t)len)
		fail("node %d: describe length %d for \"%s\"", i, len, buf);
	if (strncmp(small, buf, sizeof(small) - 1) || small[sizeof(small) - 1])
		fail("node %d: truncated describe \"%s\" is no prefix of \"%s\"", i, small,
		     buf);
	/* The time left is printed to the millisecond: its length may change. */
	if (!timed && (len0 != len || len1 != len))
		fail("node %d: describe lengths %d %d %d", i, len0, len, len1);
	while (n--) {
		const struct node *c = &nodes[chain[n]];
		char want[64];
		const char *got = buf + pos;
		size_t tok = strcspn(got, ".");

		/* Deadline links hold a '.' in "+1.5s": take up to "s)". */
		if (!strncmp(got, "with_deadline(", 14))
			tok = strstr(got, "s)") ? (size_t)(strstr(got, "s)") - got) + 2 : tok;
		switch (c->kind) {
		case K_ROOT:
			snprintf(want, sizeof(want), "%s",
				 c->real == ctx_background() ? "background" : "todo");
			break;
		case K_SOURCE:
			snprintf(want, sizeof(want), "with_fd(%d)", c->key);
			break;
		case K_CANCEL:
		case K_DEADLINE:
			if (!strncmp(got, "with_deadline(", 14) &&
			    (c->kind == K_DEADLINE || c->desc_any))
				snprintf(want, sizeof(want), "%.*s", (int)tok, got);
			else
				snprintf(want, sizeof(want), "with_cancel");
			break;
		case K_WOC:
			snprintf(want, sizeof(want), "without_cancel");
			break;
		case K_VALUE:
			snprintf(want, sizeof(want), "with_value(%p)", (void *)&keys[c->key]);
			break;
		}
		if (strlen(want) != tok || strncmp(got, want, tok))
			fail("node %d: describe \"%s\": expected link \"%s\" at %d", i, buf, want,
			     pos);
		pos += (int)tok;
		if (n && buf[pos++] != '.')
			fail("node %d: describe \"%s\": no '.' at %d", i, buf, pos - 1);
	}
	if (pos != len)
		fail("node %d: describe \"%s\" longer than model", i, buf);
}

/* --- operations --- */

static void put_slot(int i)
{
	int s = slot_free();

	if (s < 0) /* no room: drop the reference again */
		abort();
	slots[s] = i;
}

static bool room(void)
{
	return n_nodes < MAX_NODES && slot_free() >= 0;
}

static int parent_pick(struct input *in)
{
	return slot_pick(in, block_node >= 0);
}

/* A derivation that takes only its parent: with_cancel or without_cancel. */
static void derive_plain(struct input *in, int (*derive)(ctx_t *, ctx_t **), enum kind kind,
			 const char *name)
{
	int s = parent_pick(in), p;
	ctx_t *c = NULL;
	int r;

	if (s < 0 || !room())
		return;
	p = slots[s];
	r = derive(nodes[p].real, &c);
	if (r)
		fail("%s: %d", name, r);
	put_slot(m_new(kind, p, c));
}

static void op_with_cancel(struct input *in)
{
	derive_plain(in, ctx_with_cancel, K_CANCEL, "ctx_with_cancel");
}

static void op_without_cancel(struct input *in)
{
	derive_plain(in, ctx_without_cancel, K_WOC, "ctx_without_cancel");
}

static void op_with_value(struct input *in)
{
	int s = parent_pick(in), p, i, key = byte(in), r;
	bool destroy = key & 4;
	ctx_t *c = NULL;

	if (s < 0 || !room())
		return;
	p = slots[s];
	key &= 3;
	i = n_nodes;
	vrecs[i].gen = atomic_load(&cur_gen);
	atomic_store(&vrecs[i].destroyed, 0);
	vrecs[i].expected = 0;
	r = ctx_with_value(nodes[p].real, &keys[key], &vrecs[i], destroy ? value_destroy : NULL,
			   &c);
	if (r)
		fail("ctx_with_value: %d", r);
	i = m_new(K_VALUE, p, c);
	nodes[i].key = key;
	nodes[i].destroy = destroy;
	put_slot(i);
}

/*
 * The child's deadline against the parent's (Go): a parent deadline strictly
 * earlier gives a plain cancel child; otherwise the child has its own. For a
 * timeout, [lo, hi] brackets the library's reading of the clock.
 */
static void add_deadline_child(int p, ctx_t *c, int64_t lo, int64_t hi, int cause)
{
	struct timespec ts;
	int64_t got = NS_INF;
	int i;

	if (!ctx_deadline(c, &ts))
		fail("deadline child without a deadline");
	if (lo != NS_INF)
		got = ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
	i = m_new(K_DEADLINE, p, c);
	if (nodes[p].has_dl && nodes[p].dl < lo) {
		nodes[i].kind = K_CANCEL; /* dl inherited by m_new */
	} else if (nodes[p].has_dl && nodes[p].dl <= hi &&
		   got == nodes[p].dl) {
		/* The parent's deadline falls inside the bracket: either is right. */
		nodes[i].kind = K_CANCEL;
		nodes[i].desc_any = true;
	} else {
		if (lo != NS_INF && (got < lo || got > hi))
			fail("deadline %" PRId64 " outside [%" PRId64 ", %" PRId64 "]", got, lo, hi);
		if (nodes[p].has_dl && nodes[p].dl < got)
			fail("own deadline %" PRId64 " after the parent's %" PRId64, got,
			     nodes[p].dl);
		nodes[i].has_dl = true;
		nodes[i].dl = got;
		if (!nodes[i].err && got <= now_ns() && got != NS_INF &&
		    (hi < now_ns() || lo == hi)) {
			/* Already passed at birth: done with its own cause. */
			nodes[i].err = -ETIMEDOUT;
			nodes[i].cause = cause ? cause : -ETIMEDOUT;
		}
	}
	put_slot(i);
}

static int pick_cause(struct input *in)
{
	static const int causes[] = { 0, -EPIPE, -ECONNRESET, 7, INT_MIN, INT_MAX, -ETIMEDOUT,
				      -ECANCELED };

	return causes[byte(in) % 8];
}

static void op_with_deadline(struct input *in)
{
	int s = parent_pick(in), p, sel = byte(in), b = byte(in), cause = pick_cause(in), r;
	struct timespec ts;
	int64_t dl;
	ctx_t *c = NULL;

	if (s < 0 || !room())
		return;
	p = slots[s];
	if (block_node >= 0 && sel % 5 == 0)
		sel = 1; /* a passed deadline would race the block's own */
	switch (sel % 5) {
	case 0: /* passed */
		dl = (int64_t)b * 1000;
		break;
	case 1: /* far, ordered by b */
		dl = base_ns + 3600 * NS_PER_SEC + (int64_t)b * 1000000;
		break;
	case 2:
		/*
		 * Just after the open block's deadline, under a parent it
		 * bounds (so a plain cancel child), or else far.
		 */
		if (block_node >= 0 && nodes[p].has_dl && nodes[p].dl == nodes[block_node].dl)
			dl = nodes[block_node].dl + 1 + (int64_t)b * 1000;
		else
			dl = base_ns + 3600 * NS_PER_SEC + (int64_t)b * 1000;
		break;
	case 3: /* clamped */
		ts.tv_sec = b & 1 ? INT64_MAX : (int64_t)1 << 40;
		ts.tv_nsec = 999999999;
		r = ctx_with_deadline_cause(nodes[p].real, &ts, cause, &c);
		if (r)
			fail("ctx_with_deadline (clamped): %d", r);
		add_deadline_child(p, c, NS_INF, NS_INF, cause);
		return;
	default: /* invalid */
		ts.tv_sec = b & 1 ? -1 : 5;
		ts.tv_nsec = b & 2 ? NS_PER_SEC : -1;
		if (b & 4)
			ts.tv_sec = 1;
		r = ctx_with_deadline_cause(nodes[p].real, &ts, cause, &c);
		if (r != -EINVAL || c)
			fail("ctx_with_deadline(invalid): %d", r);
		return;
	}
	ts.tv_sec = dl / NS_PER_SEC;
	ts.tv_nsec = dl % NS_PER_SEC;
	r = cause || (b & 1) ? ctx_with_deadline_cause(nodes[p].real, &ts, cause, &c)
			     : ctx_with_deadline(nodes[p].real, &ts, &c);
	if (r)
		fail("ctx_with_deadline: %d", r);
	add_deadline_child(p, c, dl, dl, cause);
}

static void op_with_timeout(struct input *in)
{
	int s = parent_pick(in), p, sel = byte(in), b = byte(in), cause = pick_cause(in), r;
	uint64_t t;
	int64_t t0, t1;
	ctx_t *c = NULL;

	if (s < 0 || !room())
		return;
	p = slots[s];
	if (block_node >= 0 && sel % 3 == 0)
		sel = 1;
	switch (sel % 3) {
	case 0:
		t = 0;
		break;
	case 1:
		t = (uint64_t)(7200 + b) * NS_PER_SEC;
		break;
	default:
		t = b & 1 ? UINT64_MAX : (uint64_t)INT64_MAX - (uint64_t)b;
		break;
	}
	t0 = now_ns();
	r = cause ? ctx_with_timeout_cause(nodes[p].real, t, cause, &c)
		  : ctx_with_timeout(nodes[p].real, t, &c);
	t1 = now_ns();
	if (r)
		fail("ctx_with_timeout: %d", r);
	if (sel % 3 == 2)
		add_deadline_child(p, c, NS_INF, NS_INF, cause);
	else
		add_deadline_child(p, c, t0 + (int64_t)t, t1 + (int64_t)t, cause);
	if (t == 0 && !nodes[n_nodes - 1].err)
		fail("zero timeout child not born done");
}

static void op_cancel(struct input *in)
{
	int s = slot_pick(in, false), i, cause = pick_cause(in), want, r;

	if (s < 0)
		return;
	i = slots[s];
	if (block_node >= 0 && nodes[i].in_block)
		return;
	/* Cancelling an ancestor of the block's deadline would race its timer. */
	if (block_node >= 0)
		for (int j = block_node; j >= 0; j = nodes[j].parent)
			if (j == i)
				return;
	if (!cancellable(i))
		want = -EINVAL;
	else if (nodes[i].err)
		want = -EALREADY;
	else
		want = 0;
	r = cause ? ctx_cancel_cause(nodes[i].real, cause) : ctx_cancel(nodes[i].real);
	if (r != want)
		fail("cancel node %d: %d, model %d", i, r, want);
	if (!r)
		m_cancel(i, -ECANCELED, cause ? cause : -ECANCELED);
}

static void op_unref(struct input *in)
{
	int s = slot_pick(in, false), i;

	if (s < 0)
		return;
	i = slots[s];
	if (block_node >= 0 && nodes[i].in_block)
		return;
	if (nodes[i].kind == K_ROOT) {
		if (ctx_unref(nodes[i].real))
			fail("ctx_unref(root) not NULL");
		if (s > 1)
			slots[s] = -1;
		return;
	}
	if (ctx_unref(nodes[i].real))
		fail("ctx_unref not NULL");
	slots[s] = -1;
	nodes[i].user_refs--;
	m_maybe_free(i);
}

static void op_ref(struct input *in)
{
	int s = slot_pick(in, block_node >= 0), i;

	if (s < 0 || slot_free() < 0)
		return;
	i = slots[s];
	if (ctx_ref(nodes[i].real) != nodes[i].real)
		fail("ctx_ref returned another pointer");
	if (nodes[i].kind != K_ROOT)
		nodes[i].user_refs++;
	put_slot(i);
}

static int reg_new(int target, bool handle, bool internal)
{
	int r = n_regs++, o = owner(target), ret;
	struct reg *g = &regs[r];

	g->gen = atomic_load(&cur_gen);
	g->target = target;
	g->handle_open = handle;
	g->internal = internal;
	g->h = NULL;
	atomic_store(&g->runs, 0);
	if (!cancellable(o))
		g->state = R_NEVER;
	else if (nodes[o].err)
		g->state = R_RAN;
	else
		g->state = R_PENDING;
	ret = ctx_after_func(nodes[target].real, after_fn, g, handle ? &g->h : NULL);
	if (ret)
		fail("ctx_after_func: %d", ret);
	/* Registered on a done context: fn ran before the call returned. */
	if (g->state == R_RAN && !nodes[target].in_block && atomic_load(&g->runs) != 1)
		fail("after-function on done node %d did not run at once", target);
	return r;
}

static void op_after_func(struct input *in)
{
	int s = slot_pick(in, block_node >= 0), flags = byte(in);

	if (s < 0 || n_regs >= MAX_REGS)
		return;
	reg_new(slots[s], flags & 1, false);
}

static void stop_reg(int r)
{
	struct reg *g = &regs[r];
	bool want = g->state == R_PENDING || g->state == R_DETACHED || g->state == R_NEVER;
	bool got = ctx_after_stop(g->h);

	g->handle_open = false;
	if (got != want)
		fail("ctx_after_stop(reg %d on node %d, state %d): %d", r, g->target, g->state,
		     got);
	if (g->state == R_PENDING)
		g->state = R_STOPPED;
}

static void op_after_stop(struct input *in)
{
	int cand[MAX_REGS], n = 0, r;

	for (r = 0; r < n_regs; r++)
		if (regs[r].handle_open && !regs[r].internal &&
		    !(block_node >= 0 && nodes[regs[r].target].in_block))
			cand[n++] = r;
	if (!n)
		return;
	stop_reg(cand[byte(in) % n]);
}

/*
 * An fd source on a fresh pipe whose read end we close at once (the library
 * keeps its own duplicate). Nothing can fire it until op_fire writes to the
 * pipe or hangs it up, so it stays deterministic until then.
 */
static void op_with_fd(struct input *in)
{
	static const uint32_t watch[] = { EPOLLIN, EPOLLHUP, EPOLLIN | EPOLLRDHUP, EPOLLERR };
	int s = parent_pick(in), p, sel = byte(in), cause = pick_cause(in), r, i, fds[2];
	ctx_t *c = NULL;

	if (s < 0 || !room() || n_regs >= MAX_REGS)
		return;
	p = slots[s];
	if (sel & 4) { /* refused arguments */
		int want = sel & 8 ? -EBADF : sel & 16 ? -EINVAL : -EPERM;

		/* Under a done parent, nothing is watched: epoll never sees it. */
		if (want == -EPERM && (block_node >= 0 || m_err(p)))
			return;

		if (want == -EBADF)
			r = ctx_with_fd(nodes[p].real, sel & 32 ? -1 : 1000, EPOLLIN, cause, &c);
		else if (want == -EINVAL)
			r = ctx_with_fd(nodes[p].real, ready_pipe[0], sel & 32 ? 0 : 1u << 20, cause,
					&c);
		else
			r = ctx_with_fd(nodes[p].real, devnull, EPOLLIN, cause, &c);
		if (r != want || c)
			fail("ctx_with_fd refused case: %d, want %d", r, want);
		return;
	}
	if (pipe2(fds, O_CLOEXEC))
		abort();
	r = ctx_with_fd(nodes[p].real, fds[0], watch[sel % 4], cause, &c);
	if (r)
		fail("ctx_with_fd: %d", r);
	close(fds[0]);
	i = m_new(K_SOURCE, p, c);
	nodes[i].pipe_w = fds[1];
	nodes[i].events = watch[sel % 4];
	nodes[i].key = fds[0]; /* the number describe names */
	nodes[i].cause = cause ? cause : -ECANCELED; /* until done: the cause it fires with */
	if (nodes[i].err)
		nodes[i].cause = nodes[registrar(i)].cause;
	put_slot(i);
	nodes[i].sentinel = reg_new(i, true, true);
}

/* Writes to (or hangs up) a live source's pipe and waits for what follows. */
static void op_fire(struct input *in)
{
	int cand[MAX_SLOTS], n = 0, i, how = byte(in), r;
	int64_t give_up;
	bool fires;

	for (int s = 0; s < MAX_SLOTS; s++) {
		int j = slots[s];

		if (j < 0 || nodes[j].kind != K_SOURCE || nodes[j].err || nodes[j].pipe_w < 0 ||
		    nodes[j].in_block)
			continue;
		/* An ancestor of the open block's deadline would race its timer. */
		for (int k = block_node; k >= 0; k = nodes[k].parent)
			if (k == j)
				j = -1;
		if (j >= 0)
			cand[n++] = j;
	}
	if (!n)
		return;
	i = cand[how % n];
	if (how & 8) {
		close(nodes[i].pipe_w);
		nodes[i].pipe_w = -1;
		fires = true; /* a hang-up always counts */
	} else {
		if (write(nodes[i].pipe_w, "x", 1) != 1)
			abort();
		fires = nodes[i].events & EPOLLIN;
	}
	if (!fires) {
		r = ctx_sleep(nodes[i].real, 200000);
		if (r || ctx_err(nodes[i].real))
			fail("source %d watching %#x fired on a write: %d", i, nodes[i].events, r);
		return;
	}
	r = ctx_wait(nodes[i].real);
	if (r != -ECANCELED || ctx_cause(nodes[i].real) != nodes[i].cause)
		fail("source %d fired: err %d cause %d, want %d %d", i, r,
		     ctx_cause(nodes[i].real), -ECANCELED, nodes[i].cause);
	/* Its sentinel runs once the whole subtree is done. */
	give_up = now_ns() + SETTLE_NS;
	while (!atomic_load(&regs[nodes[i].sentinel].runs) && now_ns() < give_up)
		pause_us(50);
	if (atomic_load(&regs[nodes[i].sentinel].runs) != 1)
		fail("source %d fired but its after-function did not run", i);
	m_cancel(i, -ECANCELED, nodes[i].cause);
}

static void op_observe(struct input *in)
{
	int s = slot_pick(in, false), what = byte(in), i;

	if (s < 0)
		return;
	i = slots[s];
	switch (what % 5) {
	case 0:
		check_value(i, what / 5 % 4);
		break;
	case 1:
		check_deadline(i);
		break;
	case 2:
		check_fd(i, !nodes[i].in_block);
		break;
	case 3:
		check_describe(i);
		break;
	default:
		for (int k = 0; k < 4; k++)
			check_value(i, k);
		break;
	}
}

/* Blocking calls, only where the model knows they return at once. */
static void op_wait(struct input *in)
{
	int s = slot_pick(in, false), i, r, err;

	if (s < 0)
		return;
	i = slots[s];
	if (nodes[i].in_block)
		return;
	err = m_err(i);
	if (err) {
		r = ctx_wait(nodes[i].real);
		if (r != err)
			fail("ctx_wait node %d: %d, model %d", i, r, err);
	}
	r = ctx_sleep(nodes[i].real, 20000);
	if (r != err)
		fail("ctx_sleep node %d: %d, model %d", i, r, err);
	r = ctx_poll(nodes[i].real, ready_pipe[0], POLLIN);
	if (err ? r != err : !(r > 0 && (r & POLLIN)))
		fail("ctx_poll node %d: %d, model err %d", i, r, err);
}

/*
 * Opens a block: a context with a deadline at most 2 ms away, whose subtree
 * only gets order-independent operations until the block closes.
 */
static void op_short(struct input *in)
{
	int s = slot_pick(in, false), p, b = byte(in), cause = pick_cause(in), r;
	uint64_t t = 100000 + (uint64_t)b * 7450; /* 0.1 .. 2 ms */
	int64_t t0, t1 = 0;
	ctx_t *c = NULL;

	if (s < 0 || !room() || n_regs >= MAX_REGS || block_node >= 0)
		return;
	p = slots[s];
	t0 = now_ns();
	if (b & 1) {
		r = cause ? ctx_with_timeout_cause(nodes[p].real, t, cause, &c)
			  : ctx_with_timeout(nodes[p].real, t, &c);
	} else {
		struct timespec ts = { (t0 + (int64_t)t) / NS_PER_SEC,
				       (t0 + (int64_t)t) % NS_PER_SEC };

		r = ctx_with_deadline_cause(nodes[p].real, &ts, cause, &c);
		t1 = t0;
	}
	if (b & 1)
		t1 = now_ns();
	if (r)
		fail("short deadline: %d", r);
	/* Set before adding, so the new node counts as in the block. */
	block_node = n_nodes;
	add_deadline_child(p, c, t0 + (int64_t)t, t1 + (int64_t)t, cause);
	/* Only a parent with a passed deadline, so done, makes it a cancel child. */
	if (nodes[block_node].kind != K_DEADLINE && !nodes[block_node].err)
		fail("short deadline child became a live cancel child");
	block_cause = cause ? cause : -ETIMEDOUT;
	block_reg = reg_new(block_node, true, true);
	block_ops_left = byte(in) % 8;
}

static void close_block(void)
{
	int i = block_node, want, r;
	int64_t give_up;

	if (i < 0)
		return;
	want = nodes[i].err ? nodes[i].err : -ETIMEDOUT;
	r = ctx_wait(nodes[i].real);
	if (r != want)
		fail("ctx_wait on short deadline node %d: %d, want %d", i, r, want);
	/* The sentinel runs once the whole subtree is done. */
	give_up = now_ns() + SETTLE_NS;
	while (!atomic_load(&regs[block_reg].runs) && now_ns() < give_up)
		pause_us(50);
	if (atomic_load(&regs[block_reg].runs) != 1)
		fail("short deadline fired but its after-function did not run");
	if (!nodes[i].err)
		m_cancel(i, -ETIMEDOUT, block_cause);
	stop_reg(block_reg);
	block_node = block_reg = -1;
	for (int j = 0; j < n_nodes; j++)
		nodes[j].in_block = false;
	check_counters(true);
}

/* --- deadlines over the wire: gRPC's grpc-timeout --- */

static const char wire_units[] = "numSMH";
static const uint64_t wire_unit_ns[] = { 1, 1000, 1000000, NS_PER_SEC, 60 * NS_PER_SEC,
					 3600 * NS_PER_SEC };

/*
 * The model's own reading of PROTOCOL-HTTP2's TimeoutValue TimeoutUnit: 1 to
 * 8 digits and a unit, the product clamped to INT64_MAX as grpc-go does.
 */
static bool m_wire_parse(const char *v, size_t len, uint64_t *ns, uint64_t *unit)
{
	const char *u;
	unsigned __int128 n = 0;

	if (len < 2 || len > 9 || !v[len - 1] || !(u = strchr(wire_units, v[len - 1])))
		return false;
	for (size_t k = 0; k + 1 < len; k++) {
		if (v[k] < '0' || v[k] > '9')
			return false;
		n = n * 10 + (unsigned)(v[k] - '0');
	}
	*unit = wire_unit_ns[u - wire_units];
	n *= *unit;
	*ns = n > INT64_MAX ? (uint64_t)INT64_MAX : (uint64_t)n;
	return true;
}

static int64_t sat_add(int64_t t, uint64_t ns)
{
	return ns >= (uint64_t)(NS_INF - t) ? NS_INF : t + (int64_t)ns;
}

/*
 * ctx_with_timeout_header on a well-formed or a garbled value. Timeouts that
 * could fire during the input are kept out of the model: up to 2 ms they are
 * waited for at once, up to an hour only their deadline is checked and they
 * are dropped again; in a block, only far ones (bounded by the block's).
 */
static void op_with_timeout_header(struct input *in)
{
	static const char garble[] = "0123456789numSMH+- .xhs";
	int s = parent_pick(in), sel = byte(in), p, i, r;
	ctx_t *sentinel = (ctx_t *)&sentinel, *c = sentinel;
	uint64_t ns = 0, unit = 0;
	int64_t t0, t1, lo, hi;
	struct timespec ts;
	size_t len;
	char v[12];
	bool ok;

	if (s < 0 || !room())
		return;
	p = slots[s];
	if (sel & 1) {
		len = 1 + (size_t)(sel / 2 % 9); /* 9 digits: one too many */
		for (size_t k = 0; k < len; k++)
			v[k] = (char)('0' + byte(in) % 10);
		v[len++] = wire_units[byte(in) % 6];
	} else {
		len = (size_t)(sel / 2 % 12);
		for (size_t k = 0; k < len; k++) {
			uint8_t b = byte(in);

			v[k] = b & 0x80 ? (char)b : garble[b % sizeof(garble)]; /* with its NUL */
		}
	}
	ok = m_wire_parse(v, len, &ns, &unit);
	if (ok && block_node >= 0 && ns < 3600 * (uint64_t)NS_PER_SEC)
		return; /* could fire before or after the block's own deadline */
	t0 = now_ns();
	r = ctx_with_timeout_header(nodes[p].real, v, len, &c);
	t1 = now_ns();
	if (trace)
		fprintf(stderr, "  header \"%.*s\" (%zu bytes): %d\n", (int)len, v, len, r);
	if (!ok) {
		if (r != -EINVAL || c != sentinel)
			fail("ctx_with_timeout_header(\"%.*s\"): %d, want -EINVAL", (int)len, v, r);
		return;
	}
	if (r)
		fail("ctx_with_timeout_header(\"%.*s\"): %d", (int)len, v, r);
	lo = sat_add(t0, ns);
	hi = sat_add(t1, ns);
	if (ns > 2000000 && ns < 3600 * (uint64_t)NS_PER_SEC) {
		int64_t got;

		if (!ctx_deadline(c, &ts))
			fail("header child without a deadline");
		got = ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
		if (nodes[p].has_dl && nodes[p].dl <= hi) {
			if (got != nodes[p].dl && (nodes[p].dl < lo || got < lo || got > hi))
				fail("header child deadline %" PRId64 ", parent's %" PRId64, got,
				     nodes[p].dl);
		} else if (got < lo || got > hi) {
			fail("header deadline %" PRId64 " outside [%" PRId64 ", %" PRId64 "]", got,
			     lo, hi);
		}
		if (m_err(p) && ctx_err(c) != m_err(p))
			fail("header child of a done parent: err %d, want %d", ctx_err(c), m_err(p));
		ctx_unref(c);
		return;
	}
	if (hi == NS_INF)
		lo = NS_INF;
	add_deadline_child(p, c, lo, hi, -ETIMEDOUT);
	i = n_nodes - 1;
	if (ns == 0 && !nodes[i].err) {
		/* Born done: ctx_err now, not when the library's thread gets to it. */
		if (ctx_err(c) != -ETIMEDOUT || ctx_cause(c) != -ETIMEDOUT)
			fail("\"%.*s\": not born done (%d, %d)", (int)len, v, ctx_err(c),
			     ctx_cause(c));
		mark_done(i, -ETIMEDOUT, -ETIMEDOUT);
	} else if (ns <= 2000000) {
		int want = nodes[i].err ? nodes[i].err : -ETIMEDOUT;

		r = ctx_wait(c);
		if (r != want)
			fail("ctx_wait on \"%.*s\": %d, want %d", (int)len, v, r, want);
		if (!nodes[i].err)
			mark_done(i, -ETIMEDOUT, -ETIMEDOUT);
	}
}

/*
 * ctx_timeout_header: the error of a done context, "" without a deadline,
 * otherwise a value that never shortens the time left (bracketed by clock
 * readings), overshoots it by less than one of its unit, in the first unit
 * that fits; truncated like snprintf. Then the round trip: parsed again,
 * under background (the deadline never shortens, lengthens by under a unit
 * plus the time taken) or under the same context (bounded by it).
 */
static void op_timeout_header(struct input *in)
{
	int s = slot_pick(in, false), how = byte(in), i, r, want;
	char buf[24];
	size_t len, k;
	uint64_t ns, unit;
	int64_t t0, t1, t2, t3, dl;
	struct timespec ts;
	ctx_t *c = NULL;

	if (s < 0)
		return;
	i = slots[s];
	if (nodes[i].in_block)
		return;
	if ((how & 0x40) && ctx_timeout_header(nodes[i].real, NULL, 1 + (size_t)how % 7) != -EINVAL)
		fail("ctx_timeout_header(NULL buffer, len > 0) is not -EINVAL");
	len = how % 4 == 0 ? 16 : (size_t)(how / 4 % 12);
	memset(buf, 'Z', sizeof(buf));
	t0 = now_ns();
	r = ctx_timeout_header(nodes[i].real, len ? buf : NULL, len);
	t1 = now_ns();
	if (trace)
		fprintf(stderr, "  timeout header of node %d (len %zu): %d \"%.*s\"\n", i, len, r,
			(int)len, len ? buf : "");
	if (m_err(i) || !nodes[i].has_dl) {
		want = m_err(i);
		if (r != want)
			fail("ctx_timeout_header node %d: %d, want %d", i, r, want);
		if (buf[!want && len ? 1 : 0] != 'Z' || (!want && len && buf[0]))
			fail("ctx_timeout_header node %d wrote \"%.4s\"", i, buf);
		return;
	}
	if (r < 2 || r > 9)
		fail("ctx_timeout_header node %d: %d", i, r);
	k = (size_t)r < len ? (size_t)r : len ? len - 1 : 0;
	if ((len && (strnlen(buf, sizeof(buf)) != k)) || buf[len] != 'Z')
		fail("ctx_timeout_header node %d: %d, len %zu, wrote \"%.16s\"", i, r, len, buf);
	for (size_t j = 0; j < k && j + 1 < (size_t)r; j++)
		if (buf[j] < '0' || buf[j] > '9')
			fail("ctx_timeout_header node %d: \"%s\"", i, buf);
	if ((size_t)r >= len)
		return;
	if (!ctx_deadline(nodes[i].real, &ts))
		fail("node %d: no deadline", i);
	dl = ts.tv_sec >= NS_INF / NS_PER_SEC ? NS_INF : ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
	if (!m_wire_parse(buf, (size_t)r, &ns, &unit))
		fail("ctx_timeout_header node %d: malformed \"%s\"", i, buf);
	if (ns < (uint64_t)(dl - t1))
		fail("node %d: \"%s\" is shorter than the %" PRId64 " ns left", i, buf, dl - t1);
	if (ns - (uint64_t)(dl - t0) >= unit && ns > (uint64_t)(dl - t0))
		fail("node %d: \"%s\" is a unit longer than the %" PRId64 " ns left", i, buf,
		     dl - t0);
	if (unit > 1) {
		uint64_t finer = wire_unit_ns[strchr(wire_units, buf[r - 1]) - wire_units - 1];
		uint64_t left = (uint64_t)(dl - t0);

		if (left / finer + (left % finer != 0) <= 99999999)
			fail("node %d: \"%s\" where a finer unit fits %" PRIu64 " ns", i, buf, left);
	}
	if ((how & 0x80) && room()) {
		t2 = now_ns();
		if (ctx_with_timeout_header(nodes[i].real, buf, (size_t)r, &c))
			fail("parsing our own \"%s\" failed", buf);
		t3 = now_ns();
		add_deadline_child(i, c, nodes[i].dl == NS_INF ? NS_INF : sat_add(t2, ns),
				   nodes[i].dl == NS_INF ? NS_INF : sat_add(t3, ns), -ETIMEDOUT);
		return;
	}
	if (nodes[i].dl == NS_INF)
		return;
	if (ctx_with_timeout_header(ctx_background(), buf, (size_t)r, &c))
		fail("parsing our own \"%s\" failed", buf);
	t3 = now_ns();
	if (!ctx_deadline(c, &ts))
		fail("\"%s\" gave no deadline", buf);
	t2 = ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
	ctx_unref(c);
	if (t2 < dl || (uint64_t)(t2 - dl) >= unit + (uint64_t)(t3 - t0))
		fail("round trip of \"%s\": deadline %" PRId64 " from %" PRId64, buf, t2, dl);
}

#define OP(fn) { fn, #fn }

static const struct {
	void (*fn)(struct input *in);
	const char *name;
} ops[] = {
	OP(op_with_cancel), OP(op_with_cancel), OP(op_with_deadline), OP(op_with_timeout),
	OP(op_with_value), OP(op_without_cancel), OP(op_cancel), OP(op_cancel),
	OP(op_unref), OP(op_unref), OP(op_ref), OP(op_after_func),
	OP(op_after_func), OP(op_after_stop), OP(op_observe), OP(op_observe),
	OP(op_wait), OP(op_short), OP(op_with_fd), OP(op_fire),
	/* Appended: the seeds' codes below 20 keep their operations. */
	OP(op_with_timeout_header), OP(op_timeout_header),
};

static void reset(void)
{
	atomic_fetch_add(&cur_gen, 1);
	n_nodes = n_regs = 0;
	for (int s = 0; s < MAX_SLOTS; s++)
		slots[s] = -1;
	m_new(K_ROOT, -1, ctx_background());
	m_new(K_ROOT, -1, ctx_todo());
	slots[0] = 0;
	slots[1] = 1;
	block_node = block_reg = -1;
	base_ns = now_ns();
	fd_baseline = count_fds();
}

/* Drops every reference and checks that everything is released. */
static void finish(void)
{
	int64_t give_up;
	int fds;

	close_block();
	for (int r = 0; r < n_regs; r++)
		if (regs[r].handle_open)
			stop_reg(r);
	for (int s = 0; s < MAX_SLOTS; s++) {
		int i = slots[s];

		if (i < 0)
			continue;
		ctx_unref(nodes[i].real);
		slots[s] = -1;
		if (nodes[i].kind != K_ROOT) {
			nodes[i].user_refs--;
			m_maybe_free(i);
		}
	}
	for (int i = 2; i < n_nodes; i++)
		if (nodes[i].alive)
			fail("model bug: node %d alive at the end", i);
	check_counters(true);
	give_up = now_ns() + SETTLE_NS;
	while ((fds = count_fds()) != fd_baseline && now_ns() < give_up)
		pause_us(100);
	if (fds != fd_baseline)
		fail("descriptor leak: %d open, baseline %d", fds, fd_baseline);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	ctx_t *c;

	/* Warm up: the library's own descriptors and thread live until exit. */
	if (ctx_with_timeout(ctx_background(), 3600 * NS_PER_SEC, &c) || ctx_fd(c) < 0)
		abort();
	ctx_unref(c);
	never_fd = ctx_fd(ctx_background());
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	trace = getenv("FUZZ_CTX_TRACE") != NULL;
	if (never_fd < 0 || devnull < 0 || pipe2(ready_pipe, O_CLOEXEC) || write(ready_pipe[1], "x", 1) != 1)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };

	reset();
	for (op_no = 0; in.n && op_no < MAX_OPS; op_no++) {
		uint8_t code = byte(&in);

		int nn = n_nodes;

		code %= sizeof(ops) / sizeof(ops[0]);
		ops[code].fn(&in);
		if (trace)
			fprintf(stderr, "op %d: %s%s -> nodes %d..%d\n", op_no, ops[code].name,
				block_node >= 0 ? " (in block)" : "", nn, n_nodes - 1);
		if (block_node >= 0 && block_ops_left-- <= 0)
			close_block();
		check_all();
	}
	finish();
	return 0;
}
