/* SPDX-License-Identifier: MIT */
/*
 * stress-fd: done fds and fd sources racing cancellation.
 *
 * ctx_fd creates the eventfd lazily, so its first call races other first
 * calls (both must get the same descriptor) and the cancel that must make it
 * readable (an fd born after the cancel is born readable, one born before is
 * written by it). ctx_with_fd sources fire in the library's thread while
 * application threads cancel or free the same contexts; the duplicate the
 * library keeps must be closed once the context is done or freed.
 */
#include "stress.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/stat.h>

#define PARENT_CAUSE 1000
#define CHILD_CAUSE 2000
#define SOURCE_CAUSE 3000

/* ---- 1: ctx_fd racing cancel */

#define NCHILD 32
#define NNODE (1 + 2 * NCHILD)	/* parent, children, a value child of each */
#define NFDTHREAD 2

struct fd_round {
	ctx_t *node[NNODE];	/* 0: parent; 1..NCHILD: children; then values */
	int fd[NFDTHREAD + 1][NNODE];	/* per thread; last row: the canceller */
	bool cancel_parent;
	pthread_barrier_t start;
};

static bool is_value(int n)
{
	return n > NCHILD;
}

/* The node whose done state (and fd) a value node shares. */
static int owner(int n)
{
	return is_value(n) ? n - NCHILD : n;
}

struct fd_thread {
	struct fd_round *fr;
	pthread_t thread;
	int id;
};

static void *fd_getter(void *arg)
{
	struct fd_thread *t = arg;
	struct fd_round *fr = t->fr;

	pthread_barrier_wait(&fr->start);
	for (int k = 0; k < NNODE; k++) {
		int n = t->id ? NNODE - 1 - k : k;
		int fd = ctx_fd(fr->node[n]);
		int readable;

		fr->fd[t->id][n] = fd;
		if (!CHECK(fd >= 0, "ctx_fd: %d", fd))
			continue;
		readable = fd_readable(fd, 0);
		/* Readable implies done: cancel sets the error first. */
		if (readable == 1)
			CHECK(ctx_err(fr->node[n]) != 0, "node %d: fd readable, context live", n);
		/* Done implies readable, at the latest once the cancel completes. */
		else if (ctx_err(fr->node[n]) != 0)
			CHECK(fd_readable(fd, 5000) == 1, "node %d: done, fd never readable", n);
	}
	return NULL;
}

static void *fd_canceller(void *arg)
{
	struct fd_round *fr = arg;
	int r;

	pthread_barrier_wait(&fr->start);
	if (fr->cancel_parent) {
		r = ctx_cancel_cause(fr->node[0], PARENT_CAUSE);
		CHECK(r == 0, "parent cancel: %s", errname(r));
	} else {
		for (int n = 1; n <= NCHILD; n++) {
			r = ctx_cancel_cause(fr->node[n], CHILD_CAUSE);
			CHECK(r == 0 || (r == -EALREADY && ctx_err(fr->node[n]) == -ETIMEDOUT),
			      "child %d cancel: %s, err %s", n, errname(r),
			      errname(ctx_err(fr->node[n])));
		}
	}
	/* Every fd is readable the moment cancel has returned. */
	for (int n = fr->cancel_parent ? 0 : 1; n < NNODE; n++) {
		int fd = ctx_fd(fr->node[n]);

		fr->fd[NFDTHREAD][n] = fd;
		if (CHECK(fd >= 0, "ctx_fd: %d", fd))
			CHECK(fd_readable(fd, 0) == 1, "node %d: cancel returned, fd not readable",
			      n);
	}
	return NULL;
}

static void check_fd_flags(int fd)
{
	int fdfl = fcntl(fd, F_GETFD), fl = fcntl(fd, F_GETFL);

	CHECK(fdfl >= 0 && (fdfl & FD_CLOEXEC), "done fd without FD_CLOEXEC");
	CHECK(fl >= 0 && (fl & O_NONBLOCK), "done fd without O_NONBLOCK");
}

static void test_fd_cancel(void)
{
	long rounds = scaled(1000, 300);

	for (long round = 0; round < rounds && !stress_failing(); round++) {
		struct fd_round fr = { .cancel_parent = round & 1 };
		struct fd_thread t[NFDTHREAD];
		ctx_t *root = NULL;
		pthread_t c;
		bool ok;

		ok = CHECK(stress_with_value(ctx_background(), NULL, &root) == 0, "root") &&
		     CHECK(ctx_with_cancel(root, &fr.node[0]) == 0, "parent");
		ctx_unref(root);
		for (int n = 1; n <= NCHILD && ok; n++) {
			/* A quarter of the children race their own deadline too. */
			if (n % 4 == 0)
				ok = CHECK(ctx_with_timeout(fr.node[0], (uint64_t)(round % 3) * 500000u,
							    &fr.node[n]) == 0, "timeout child");
			else
				ok = CHECK(ctx_with_cancel(fr.node[0], &fr.node[n]) == 0, "child");
			ok = ok && CHECK(stress_with_value(fr.node[n], NULL,
							   &fr.node[n + NCHILD]) == 0, "value");
		}
		if (!ok)
			return;
		memset(fr.fd, -1, sizeof(fr.fd));
		pthread_barrier_init(&fr.start, NULL, NFDTHREAD + 2);
		for (int i = 0; i < NFDTHREAD; i++) {
			t[i] = (struct fd_thread){ .fr = &fr, .id = i };
			pthread_create(&t[i].thread, NULL, fd_getter, &t[i]);
		}
		pthread_create(&c, NULL, fd_canceller, &fr);
		pthread_barrier_wait(&fr.start);
		for (int i = 0; i < NFDTHREAD; i++)
			pthread_join(t[i].thread, NULL);
		pthread_join(c, NULL);
		pthread_barrier_destroy(&fr.start);

		for (int n = 0; n < NNODE; n++) {
			int fd = ctx_fd(fr.node[n]);

			/* One descriptor per context, whoever created it. */
			for (int i = 0; i <= NFDTHREAD; i++)
				if (fr.fd[i][n] >= 0)
					CHECK(fr.fd[i][n] == fd, "node %d: fds %d and %d",
					      n, fr.fd[i][n], fd);
			CHECK(fd == ctx_fd(fr.node[owner(n)]), "value shares its parent's fd");
			if (n == 0 && !fr.cancel_parent)
				continue;
			CHECK(ctx_err(fr.node[n]) != 0 && fd_readable(fd, 0) == 1,
			      "node %d: err %s", n, errname(ctx_err(fr.node[n])));
		}
		check_fd_flags(ctx_fd(fr.node[1]));
		if (!fr.cancel_parent) {
			CHECK(ctx_err(fr.node[0]) == 0 && fd_readable(ctx_fd(fr.node[0]), 0) == 0,
			      "children's cancels leave the parent live");
			ctx_cancel(fr.node[0]);
		}
		for (int n = NNODE - 1; n >= 0; n--)
			ctx_unref(fr.node[n]);
	}
}

/* ---- 2: a blocked poller wakes when another thread cancels */

#define NPOLLER 3

struct wake {
	ctx_t *ctx;
	pthread_barrier_t start;
};

static void *wake_poller(void *arg)
{
	struct wake *w = arg;
	int fd = ctx_fd(w->ctx);

	pthread_barrier_wait(&w->start);
	if (CHECK(fd >= 0, "ctx_fd: %d", fd)) {
		CHECK(fd_readable(fd, 5000) == 1, "poller not woken by the cancel");
		CHECK(ctx_err(w->ctx) == -ECANCELED, "woken but err %s", errname(ctx_err(w->ctx)));
	}
	return NULL;
}

static void test_wake(void)
{
	long rounds = scaled(500, 150);

	for (long round = 0; round < rounds && !stress_failing(); round++) {
		struct wake w = { 0 };
		pthread_t t[NPOLLER];
		ctx_t *root = NULL;

		if (!CHECK(stress_with_value(ctx_background(), NULL, &root) == 0, "root") ||
		    !CHECK(ctx_with_cancel(root, &w.ctx) == 0, "ctx")) {
			ctx_unref(root);
			return;
		}
		ctx_unref(root);
		pthread_barrier_init(&w.start, NULL, NPOLLER + 1);
		for (int i = 0; i < NPOLLER; i++)
			pthread_create(&t[i], NULL, wake_poller, &w);
		pthread_barrier_wait(&w.start);
		CHECK(ctx_cancel(w.ctx) == 0, "cancel");
		for (int i = 0; i < NPOLLER; i++)
			pthread_join(t[i], NULL);
		pthread_barrier_destroy(&w.start);
		w.ctx = ctx_unref(w.ctx);
	}
}

/* ---- 3: ctx_with_fd sources written while cancelled or freed */

#define NSRC 16

enum src_mode {
	SRC_WRITE_CANCEL,	/* written while another thread cancels it */
	SRC_WRITE_UNREF,	/* written while its owner drops the last reference */
	SRC_HANGUP_CANCEL,	/* write end closed while another thread cancels it */
	SRC_CANCEL,		/* only cancelled */
	SRC_MAX
};

struct src {
	ctx_t *ctx, *child;
	int rd, wr;		/* ours; -1 once closed */
	ino_t ino;		/* the pipe, to find every descriptor on it */
	enum src_mode mode;
	int cancel_r;
};

struct src_round {
	struct src s[NSRC];
	pthread_barrier_t start;
};

/* How many descriptors of this process refer to the pipe. */
static int fds_on_pipe(ino_t ino)
{
	char want[64], link[64];
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	snprintf(want, sizeof(want), "pipe:[%lu]", (unsigned long)ino);
	while ((e = readdir(d))) {
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		len = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);
		if (len < 0)
			continue;
		link[len] = '\0';
		n += strcmp(link, want) == 0;
	}
	closedir(d);
	return n;
}

static int fds_on_pipe_settle(ino_t ino, int want)
{
	uint64_t end = now_ns() + 2000000000u;
	int n;

	while ((n = fds_on_pipe(ino)) != want && now_ns() < end)
		sleep_ns(1000000);
	return n;
}

static void *src_writer(void *arg)
{
	struct src_round *sr = arg;

	pthread_barrier_wait(&sr->start);
	for (int i = 0; i < NSRC; i++) {
		struct src *s = &sr->s[i];

		switch (s->mode) {
		case SRC_WRITE_CANCEL:
		case SRC_WRITE_UNREF:
			/* EPIPE once every reader is gone: SIGPIPE is ignored. */
			if (write(s->wr, "x", 1) < 0)
				CHECK(errno == EPIPE, "write: %s", strerror(errno));
			break;
		case SRC_HANGUP_CANCEL:
			close(s->wr);
			s->wr = -1;
			break;
		default:
			break;
		}
	}
	return NULL;
}

static void *src_canceller(void *arg)
{
	struct src_round *sr = arg;

	pthread_barrier_wait(&sr->start);
	for (int i = NSRC - 1; i >= 0; i--) {
		struct src *s = &sr->s[i];

		if (s->mode == SRC_WRITE_UNREF) {
			s->child = ctx_unref(s->child);
			s->ctx = ctx_unref(s->ctx);
			continue;
		}
		s->cancel_r = ctx_cancel_cause(s->ctx, CHILD_CAUSE + i);
		if (s->cancel_r == 0)
			CHECK(ctx_err(s->child) == -ECANCELED &&
			      ctx_cause(s->child) == CHILD_CAUSE + i,
			      "child when our cancel returned: %s %d",
			      errname(ctx_err(s->child)), ctx_cause(s->child));
	}
	return NULL;
}

static bool src_make(struct src *s, int i)
{
	ctx_t *root = NULL;
	struct stat st;
	int p[2], r;

	if (!CHECK(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0, "pipe: %s", strerror(errno)))
		return false;
	fstat(p[0], &st);
	*s = (struct src){ .rd = p[0], .wr = p[1], .ino = st.st_ino, .mode = i % SRC_MAX };
	if (!CHECK(stress_with_value(ctx_background(), NULL, &root) == 0, "root"))
		return false;
	r = ctx_with_fd(root, s->rd, EPOLLIN, SOURCE_CAUSE + i, &s->ctx);
	ctx_unref(root);
	if (!CHECK(r == 0, "ctx_with_fd: %d", r) ||
	    !CHECK(ctx_with_cancel(s->ctx, &s->child) == 0, "child"))
		return false;
	/* The library's duplicate keeps the pipe open for half of them. */
	if (i & 2) {
		close(s->rd);
		s->rd = -1;
	}
	return true;
}

static void src_check(struct src *s, int i)
{
	int e, fd, want;

	if (s->ctx) {
		/* A write or hang-up fires in the library's thread: give it time. */
		fd = ctx_fd(s->ctx);
		CHECK(fd >= 0 && fd_readable(fd, 5000) == 1, "source %d never done", i);
		e = ctx_err(s->ctx);
		want = s->cancel_r == 0 ? CHILD_CAUSE + i : SOURCE_CAUSE + i;
		CHECK(s->cancel_r == 0 || s->cancel_r == -EALREADY, "cancel: %s",
		      errname(s->cancel_r));
		CHECK(s->cancel_r == 0 || s->mode != SRC_CANCEL,
		      "nothing fired, yet cancel returned %s", errname(s->cancel_r));
		CHECK(e == -ECANCELED && ctx_cause(s->ctx) == want,
		      "source %d (mode %d): err %s cause %d, want %d", i, s->mode,
		      errname(e), ctx_cause(s->ctx), want);
		CHECK(wait_done(s->child, 5000) == e && ctx_cause(s->child) == ctx_cause(s->ctx),
		      "child inherits: %s %d", errname(ctx_err(s->child)), ctx_cause(s->child));
	}
	/* Done or freed: the duplicate is closed, only ours remain. */
	want = (s->rd >= 0) + (s->wr >= 0);
	e = fds_on_pipe_settle(s->ino, want);
	CHECK(e == want, "source %d (mode %d, %s): %d fds on the pipe, want %d", i, s->mode,
	      s->ctx ? "done" : "freed", e, want);
}

static void test_sources(void)
{
	long rounds = scaled(300, 100);

	for (long round = 0; round < rounds && !stress_failing(); round++) {
		struct src_round sr = { 0 };
		pthread_t w, c;
		int made = 0;
		bool ok = true;

		for (; made < NSRC && ok; made++)
			ok = src_make(&sr.s[made], made);
		if (!ok) {
			for (int i = 0; i < made; i++) {
				ctx_unref(sr.s[i].child);
				ctx_unref(sr.s[i].ctx);
			}
			return;
		}
		pthread_barrier_init(&sr.start, NULL, 3);
		pthread_create(&w, NULL, src_writer, &sr);
		pthread_create(&c, NULL, src_canceller, &sr);
		pthread_barrier_wait(&sr.start);
		pthread_join(w, NULL);
		pthread_join(c, NULL);
		pthread_barrier_destroy(&sr.start);
		for (int i = 0; i < NSRC; i++) {
			struct src *s = &sr.s[i];

			src_check(s, i);
			ctx_unref(s->child);
			ctx_unref(s->ctx);
			if (s->rd >= 0)
				close(s->rd);
			if (s->wr >= 0)
				close(s->wr);
		}
	}
}

/* ---- 4: fd sources derived from a parent that another thread cancels */

#define NBORN 32

struct born_round {
	ctx_t *parent;
	ctx_t *src[NBORN];
	int p[NBORN][2];
	ino_t ino[NBORN];
	long trigger;
	atomic_bool cancelled;	/* set once ctx_cancel(parent) has returned */
	atomic_long made;
};

static void *born_creator(void *arg)
{
	struct born_round *br = arg;

	bool scanned = false;

	for (int i = 0; i < NBORN; i++) {
		bool before = atomic_load(&br->cancelled);
		int r = ctx_with_fd(br->parent, br->p[i][0], EPOLLIN, SOURCE_CAUSE + i,
				    &br->src[i]);

		atomic_fetch_add(&br->made, 1);
		if (!CHECK(r == 0, "ctx_with_fd: %d", r) || !before)
			continue;
		CHECK(ctx_err(br->src[i]) == -ECANCELED && ctx_cause(br->src[i]) == PARENT_CAUSE,
		      "born done: %s %d", errname(ctx_err(br->src[i])), ctx_cause(br->src[i]));
		/* Done at birth: no duplicate outlives the call (one scan a round). */
		if (!scanned) {
			int n = fds_on_pipe(br->ino[i]);

			CHECK(n == 2, "born done, yet the pipe has %d fds", n);
			scanned = true;
		}
	}
	return NULL;
}

static void *born_canceller(void *arg)
{
	struct born_round *br = arg;

	while (atomic_load(&br->made) < br->trigger)
		sched_yield();
	CHECK(ctx_cancel_cause(br->parent, PARENT_CAUSE) == 0, "parent cancel");
	atomic_store(&br->cancelled, true);
	return NULL;
}

static void test_born(void)
{
	long rounds = scaled(150, 50);

	for (long round = 0; round < rounds && !stress_failing(); round++) {
		struct born_round br = { .trigger = NBORN * (round % 4) / 4 };
		ctx_t *root = NULL;
		pthread_t a, b;
		struct stat st;
		int made = 0;

		for (; made < NBORN; made++) {
			if (!CHECK(pipe2(br.p[made], O_CLOEXEC) == 0, "pipe"))
				break;
			fstat(br.p[made][0], &st);
			br.ino[made] = st.st_ino;
		}
		if (made == NBORN &&
		    CHECK(stress_with_value(ctx_background(), NULL, &root) == 0, "root") &&
		    CHECK(ctx_with_cancel(root, &br.parent) == 0, "parent")) {
			int before = fd_count(), after;

			pthread_create(&a, NULL, born_creator, &br);
			pthread_create(&b, NULL, born_canceller, &br);
			pthread_join(a, NULL);
			pthread_join(b, NULL);
			for (int i = 0; i < NBORN; i++) {
				ctx_t *c = br.src[i];

				/* Nothing is written: only the parent ended them. */
				CHECK(c && ctx_err(c) == -ECANCELED &&
				      ctx_cause(c) == PARENT_CAUSE, "source %d: %s %d", i,
				      errname(ctx_err(c)), ctx_cause(c));
			}
			/* Every source is done: no duplicate is left open. */
			after = fd_count_settle(before, 2000000000u);
			CHECK(after == before, "%d fds open once all are done, %d before",
			      after, before);
			for (int i = 0; i < NBORN; i++)
				ctx_unref(br.src[i]);
		}
		ctx_unref(br.parent);
		ctx_unref(root);
		for (int i = 0; i < made; i++) {
			close(br.p[i][0]);
			close(br.p[i][1]);
		}
	}
}

int main(void)
{
	int baseline;

	/* Writers may outlive every reader of a pipe. */
	signal(SIGPIPE, SIG_IGN);
	baseline = fd_baseline();
	stress_plan(5);
	test_fd_cancel();
	stress_result("ctx_fd racing cancel: one fd per context, readable once done");
	test_wake();
	stress_result("pollers blocked on a done fd wake on cancel from another thread");
	test_sources();
	stress_result("fd sources fired while cancelled or freed; duplicates closed");
	test_born();
	stress_result("fd sources derived from a parent being cancelled");
	check_no_leak(baseline);
	stress_result("every context freed, fds back to baseline");
	return stress_exit();
}
