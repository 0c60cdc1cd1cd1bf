/* SPDX-License-Identifier: MIT */
/*
 * io_uring helpers of <ctx_uring.h>, on a real ring: operations bound to
 * contexts must end with -ECANCELED when the context is cancelled (from
 * another thread, before submission, through an ancestor or through a
 * parent of a merged context) or its deadline passes, and a disarmed
 * operation must leave nothing behind in the kernel.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <ctx.h>
#include <ctx_uring.h>

#define MS	UINT64_C(1000000)

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own descriptor */
}

/* The library's own descriptors live until exit: create them first. */
static int fd_baseline(void)
{
	ctx_t *c;

	cr_assert_eq(ctx_with_timeout(ctx_background(), 3600 * UINT64_C(1000000000), &c), 0);
	cr_assert_geq(ctx_fd(c), 0);
	cr_assert_geq(ctx_fd(ctx_background()), 0);
	ctx_unref(c);
	return count_fds();
}

static int scale(void)
{
	const char *s = getenv("CTX_TEST_SCALE");
	int n = s ? atoi(s) : 1;

	return n > 0 ? n : 1;
}

/* A ring, or a visible skip when the kernel cannot give one. */
static void ring_init(struct io_uring *ring, unsigned int entries)
{
	int r = io_uring_queue_init(entries, ring, 0);

	if (r == -ENOSYS || r == -EPERM)
		cr_skip_test("io_uring_queue_init: %s", strerror(-r));
	cr_assert_eq(r, 0, "io_uring_queue_init: %s", strerror(-r));
	r = ctx_uring_probe();
	if (r == -EOPNOTSUPP) {
		io_uring_queue_exit(ring);
		cr_skip_test("kernel lacks POLL_ADD/ASYNC_CANCEL_ALL|FD/LINK_TIMEOUT/FAST_POLL");
	}
	cr_assert_eq(r, 0, "ctx_uring_probe: %s", strerror(-r));
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Next CQE within ms, or NULL. */
static struct io_uring_cqe *next_cqe(struct io_uring *ring, int ms)
{
	struct __kernel_timespec ts = { ms / 1000, (ms % 1000) * 1000000LL };
	struct io_uring_cqe *cqe;

	if (io_uring_wait_cqe_timeout(ring, &cqe, &ts) < 0)
		return NULL;
	return cqe;
}

/*
 * Result of the application CQE with user_data ud (waiting at most 5 s),
 * counting the internal ones met on the way.
 */
static int result_of(struct io_uring *ring, uint64_t ud, int *internal)
{
	struct io_uring_cqe *cqe;
	int res;

	for (;;) {
		cqe = next_cqe(ring, 5000);
		cr_assert_not_null(cqe, "no completion for %#llx", (unsigned long long)ud);
		if (ctx_uring_is_internal(cqe)) {
			if (internal)
				(*internal)++;
			io_uring_cqe_seen(ring, cqe);
			continue;
		}
		cr_assert_eq(cqe->user_data, ud, "unexpected completion %#llx",
			     (unsigned long long)cqe->user_data);
		res = cqe->res;
		io_uring_cqe_seen(ring, cqe);
		return res;
	}
}

/* Consume internal CQEs until none arrives for ms; application ones fail. */
static int drain_internal(struct io_uring *ring, int ms)
{
	struct io_uring_cqe *cqe;
	int n = 0;

	while ((cqe = next_cqe(ring, ms))) {
		cr_assert(ctx_uring_is_internal(cqe), "stray completion %#llx res %d",
			  (unsigned long long)cqe->user_data, cqe->res);
		io_uring_cqe_seen(ring, cqe);
		n++;
	}
	return n;
}

/* Nothing left in flight: a cancel of any request finds none. */
static void assert_nothing_pending(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;

	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data64(sqe, 0xdead);
	cr_assert_eq(io_uring_submit(ring), 1);
	cqe = next_cqe(ring, 5000);
	cr_assert_not_null(cqe);
	cr_assert_eq(cqe->user_data, 0xdead);
	cr_assert_eq(cqe->res, 0, "%d request(s) still in flight", cqe->res);
	io_uring_cqe_seen(ring, cqe);
}

struct delayed {
	ctx_t *ctx;
	uint64_t ns;
};

static void *cancel_later(void *arg)
{
	struct delayed *d = arg;
	struct timespec ts = { 0, (long)d->ns };

	nanosleep(&ts, NULL);
	cr_assert_eq(ctx_cancel(d->ctx), 0);
	return NULL;
}

static struct io_uring_sqe *prep_read(struct io_uring *ring, int fd, char *buf, uint64_t ud)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	cr_assert_not_null(sqe);
	io_uring_prep_read(sqe, fd, buf, 1, 0);
	io_uring_sqe_set_data64(sqe, ud);
	return sqe;
}

Test(uring, cancel_from_other_thread, .timeout = 30)
{
	int base = fd_baseline(), rounds = 20 / scale() + 1;
	struct io_uring ring;

	ring_init(&ring, 8);
	for (int i = 0; i < rounds; i++) {
		struct delayed d = { NULL, 2 * MS };
		int p[2], internal = 0;
		pthread_t t;
		char buf;

		cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
		cr_assert_eq(ctx_with_cancel(ctx_background(), &d.ctx), 0);
		prep_read(&ring, p[0], &buf, 7);
		cr_assert_eq(ctx_uring_arm(&ring, d.ctx, 7, -1), 2);
		cr_assert_eq(io_uring_submit(&ring), 3);
		cr_assert_eq(pthread_create(&t, NULL, cancel_later, &d), 0);
		cr_assert_eq(result_of(&ring, 7, &internal), -ECANCELED);
		cr_assert_eq(ctx_err(d.ctx), -ECANCELED);
		pthread_join(t, NULL);
		/* The poll and its cancel, which cancelled one request. */
		cr_assert_eq(internal + drain_internal(&ring, 50), 2);
		assert_nothing_pending(&ring);
		ctx_unref(d.ctx);
		close(p[0]);
		close(p[1]);
	}
	io_uring_queue_exit(&ring);
	cr_assert_eq(count_fds(), base);
}

Test(uring, cancel_by_fd, .timeout = 30)
{
	struct delayed d = { NULL, 20 * MS };
	struct io_uring ring;
	char buf[2];
	pthread_t t;
	int p[2];

	ring_init(&ring, 8);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &d.ctx), 0);
	/* Two reads on one fd, with user_data the arm's key does not match. */
	prep_read(&ring, p[0], &buf[0], 1);
	prep_read(&ring, p[0], &buf[1], 2);
	cr_assert_eq(ctx_uring_arm(&ring, d.ctx, 99, p[0]), 3);
	cr_assert_eq(io_uring_submit(&ring), 5);
	cr_assert_eq(pthread_create(&t, NULL, cancel_later, &d), 0);
	cr_assert_eq(result_of(&ring, 1, NULL), -ECANCELED);
	cr_assert_eq(result_of(&ring, 2, NULL), -ECANCELED);
	pthread_join(t, NULL);
	drain_internal(&ring, 50);
	assert_nothing_pending(&ring);
	ctx_unref(d.ctx);
	close(p[0]);
	close(p[1]);
	io_uring_queue_exit(&ring);
}

Test(uring, cancelled_before_submission, .timeout = 30)
{
	struct __kernel_timespec ts;
	struct io_uring ring;
	ctx_t *c;
	char buf;
	int p[2];

	ring_init(&ring, 8);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_eq(ctx_cancel(c), 0);

	/* The arm fires at once and finds the read submitted with it. */
	prep_read(&ring, p[0], &buf, 5);
	cr_assert_eq(ctx_uring_arm(&ring, c, 5, -1), 2);
	cr_assert_eq(io_uring_submit(&ring), 3);
	cr_assert_eq(result_of(&ring, 5, NULL), -ECANCELED);
	drain_internal(&ring, 50);

	/*
	 * Deadline helper on a done context: the read fails even though data
	 * is there and it could complete inline.
	 */
	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert_eq(ctx_uring_deadline(&ring, prep_read(&ring, p[0], &buf, 6), c, &ts), 1);
	cr_assert_eq(io_uring_submit(&ring), 2);
	cr_assert_eq(result_of(&ring, 6, NULL), -ECANCELED);
	drain_internal(&ring, 50);
	cr_assert_eq(read(p[0], &buf, 1), 1, "the doomed read consumed the data");

	assert_nothing_pending(&ring);
	ctx_unref(c);
	close(p[0]);
	close(p[1]);
	io_uring_queue_exit(&ring);
}

Test(uring, deadline_bounds_read, .timeout = 30)
{
	struct __kernel_timespec ts;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	int64_t t0, dt = 0;
	int p[2], r;
	ctx_t *c;
	char buf;

	ring_init(&ring, 8);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);

	/* No deadline: nothing added, the SQE is left alone. */
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data64(sqe, 3);
	cr_assert_eq(ctx_uring_deadline(&ring, sqe, ctx_background(), &ts), 0);
	cr_assert_eq(sqe->flags, 0);
	cr_assert_eq(io_uring_submit(&ring), 1);
	cr_assert_eq(result_of(&ring, 3, NULL), 0);

	t0 = now_ns();
	cr_assert_eq(ctx_with_timeout(ctx_background(), 100 * MS, &c), 0);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_read(sqe, p[0], &buf, 1, 0);
	io_uring_sqe_set_data64(sqe, 4);
	cr_assert_eq(ctx_uring_deadline(&ring, sqe, c, &ts), 1);
	cr_assert_eq(io_uring_submit(&ring), 2);
	/* The read, cut short, and the link timeout, which fired: any order. */
	for (int n = 0; n < 2; n++) {
		cqe = next_cqe(&ring, 5000);
		cr_assert_not_null(cqe);
		if (ctx_uring_is_internal(cqe)) {
			cr_assert_eq(CTX_URING_KIND(cqe->user_data), CTX_URING_DEADLINE);
			cr_assert_eq(cqe->res, -ETIME);
		} else {
			cr_assert_eq(cqe->user_data, 4);
			cr_assert_eq(cqe->res, -ECANCELED);
			dt = now_ns() - t0;
		}
		io_uring_cqe_seen(&ring, cqe);
	}
	cr_assert_geq(dt, 100 * (int64_t)MS, "read ended after %lld ns", (long long)dt);
	cr_assert_lt(dt, 5000 * (int64_t)MS);

	r = ctx_wait(c);
	cr_assert_eq(r, -ETIMEDOUT);
	assert_nothing_pending(&ring);
	ctx_unref(c);
	close(p[0]);
	close(p[1]);
	io_uring_queue_exit(&ring);
}

Test(uring, parent_cancel_reaches_grandchild, .timeout = 30)
{
	struct delayed d = { NULL, 20 * MS };
	ctx_t *child, *grandchild;
	struct io_uring ring;
	pthread_t t;
	char buf;
	int p[2];

	ring_init(&ring, 8);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &d.ctx), 0);
	cr_assert_eq(ctx_with_cancel(d.ctx, &child), 0);
	cr_assert_eq(ctx_with_timeout(child, 3600 * UINT64_C(1000000000), &grandchild), 0);
	prep_read(&ring, p[0], &buf, 11);
	cr_assert_eq(ctx_uring_arm(&ring, grandchild, 11, -1), 2);
	cr_assert_eq(io_uring_submit(&ring), 3);
	cr_assert_eq(pthread_create(&t, NULL, cancel_later, &d), 0);
	cr_assert_eq(result_of(&ring, 11, NULL), -ECANCELED);
	cr_assert_eq(ctx_err(grandchild), -ECANCELED);
	pthread_join(t, NULL);
	drain_internal(&ring, 50);
	assert_nothing_pending(&ring);
	ctx_unref(grandchild);
	ctx_unref(child);
	ctx_unref(d.ctx);
	close(p[0]);
	close(p[1]);
	io_uring_queue_exit(&ring);
}

/* The end of a merged-context test: nothing left in the ring or open. */
static void merged_done(struct io_uring *ring, ctx_t *m, ctx_t *parents[2], int p[2], int base)
{
	assert_nothing_pending(ring);
	ctx_unref(m);
	ctx_unref(parents[0]);
	ctx_unref(parents[1]);
	close(p[0]);
	close(p[1]);
	io_uring_queue_exit(ring);
	cr_assert_eq(count_fds(), base);
}

/*
 * A merged context (ctx_with_any) is armed like any other: cancelling its
 * second parent from another thread cancels the read in the kernel.
 */
Test(uring, merged_context_cancels_op, .timeout = 30)
{
	int base = fd_baseline(), p[2], internal = 0;
	struct delayed d = { NULL, 20 * MS };
	struct io_uring ring;
	ctx_t *parents[2], *m;
	pthread_t t;
	char buf;

	ring_init(&ring, 8);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &parents[0]), 0);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &parents[1]), 0);
	cr_assert_eq(ctx_with_any(parents, 2, &m), 0);
	d.ctx = parents[1];
	prep_read(&ring, p[0], &buf, 41);
	cr_assert_eq(ctx_uring_arm(&ring, m, 41, -1), 2);
	cr_assert_eq(io_uring_submit(&ring), 3);
	cr_assert_eq(pthread_create(&t, NULL, cancel_later, &d), 0);
	cr_assert_eq(result_of(&ring, 41, &internal), -ECANCELED);
	pthread_join(t, NULL);
	cr_assert_eq(ctx_err(m), -ECANCELED);
	cr_assert_eq(ctx_any_index(m), 1);
	cr_assert_eq(ctx_err(parents[0]), 0, "the other parent was cancelled too");
	/* The poll and its cancel, which cancelled one request. */
	cr_assert_eq(internal + drain_internal(&ring, 50), 2);
	merged_done(&ring, m, parents, p, base);
}

/*
 * A merged context has the earliest deadline of its parents: one read
 * bounded by it with ctx_uring_deadline, another armed on its done fd with
 * ctx_uring_arm, both end with -ECANCELED, never before that deadline.
 */
Test(uring, merged_context_deadline, .timeout = 30)
{
	int base = fd_baseline(), p[2], internal = 0, left;
	int64_t deadline_ns, ended[2] = { 0, 0 };
	struct timespec dl, tdl;
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	ctx_t *parents[2], *m;
	char buf[2];

	ring_init(&ring, 8);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &parents[0]), 0);
	cr_assert_eq(ctx_with_timeout(ctx_background(), 20 * MS, &parents[1]), 0);
	cr_assert_eq(ctx_with_any(parents, 2, &m), 0);
	cr_assert(ctx_deadline(parents[1], &tdl));
	cr_assert(ctx_deadline(m, &dl), "the merged context has no deadline");
	cr_assert(dl.tv_sec == tdl.tv_sec && dl.tv_nsec == tdl.tv_nsec,
		  "deadline not the timeout parent's");
	deadline_ns = (int64_t)dl.tv_sec * 1000000000 + dl.tv_nsec;

	cr_assert_eq(ctx_uring_deadline(&ring, prep_read(&ring, p[0], &buf[0], 42), m, &ts), 1);
	prep_read(&ring, p[0], &buf[1], 43);
	cr_assert_eq(ctx_uring_arm(&ring, m, 43, -1), 2);
	cr_assert_eq(io_uring_submit(&ring), 5);
	/* Both reads, in any order, with the helpers' completions between. */
	for (left = 2; left > 0;) {
		cqe = next_cqe(&ring, 5000);
		cr_assert_not_null(cqe, "%d read(s) never completed", left);
		if (ctx_uring_is_internal(cqe)) {
			internal++;
		} else {
			cr_assert(cqe->user_data == 42 || cqe->user_data == 43,
				  "unexpected completion %#llx",
				  (unsigned long long)cqe->user_data);
			cr_assert_eq(cqe->res, -ECANCELED, "read %llu: %d",
				     (unsigned long long)cqe->user_data, cqe->res);
			cr_assert_eq(ended[cqe->user_data - 42], 0);
			ended[cqe->user_data - 42] = now_ns();
			left--;
		}
		io_uring_cqe_seen(&ring, cqe);
	}
	for (int i = 0; i < 2; i++) {
		cr_assert_geq(ended[i], deadline_ns, "read %d ended %lld ns early", 42 + i,
			      (long long)(deadline_ns - ended[i]));
		cr_assert_lt(ended[i] - deadline_ns, 5000 * (int64_t)MS);
	}
	cr_assert_eq(ctx_wait(m), -ETIMEDOUT);
	cr_assert_eq(ctx_any_index(m), 1);
	cr_assert_eq(ctx_err(parents[0]), 0);
	/* The link timeout (or doomed head), the poll and its cancel. */
	cr_assert_eq(internal + drain_internal(&ring, 50), 3);
	merged_done(&ring, m, parents, p, base);
}

Test(uring, disarm_after_completion, .timeout = 30)
{
	int base = fd_baseline(), p[2], kinds[8] = { 0 };
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	ctx_t *c;
	char buf;

	ring_init(&ring, 8);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	prep_read(&ring, p[0], &buf, 21);
	cr_assert_eq(ctx_uring_arm(&ring, c, 21, p[0]), 3);
	cr_assert_eq(io_uring_submit(&ring), 4);
	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert_eq(result_of(&ring, 21, NULL), 1);

	cr_assert_eq(ctx_uring_disarm(&ring, 21), 1);
	cr_assert_eq(io_uring_submit(&ring), 1);
	/* Poll removed, both cancels failed unrun, removal succeeded. */
	while ((cqe = next_cqe(&ring, 100))) {
		cr_assert(ctx_uring_is_internal(cqe));
		switch (CTX_URING_KIND(cqe->user_data)) {
		case CTX_URING_ARM:
		case CTX_URING_CANCEL:
			cr_assert_eq(cqe->res, -ECANCELED);
			break;
		case CTX_URING_DISARM:
			cr_assert_eq(cqe->res, 0);
			break;
		default:
			cr_assert_fail("kind %u", CTX_URING_KIND(cqe->user_data));
		}
		kinds[CTX_URING_KIND(cqe->user_data)]++;
		io_uring_cqe_seen(&ring, cqe);
	}
	cr_assert_eq(kinds[CTX_URING_ARM], 1);
	cr_assert_eq(kinds[CTX_URING_CANCEL], 2);
	cr_assert_eq(kinds[CTX_URING_DISARM], 1);
	assert_nothing_pending(&ring);

	/* The key is free again: a new read with it survives the cancel. */
	prep_read(&ring, p[0], &buf, 21);
	cr_assert_eq(io_uring_submit(&ring), 1);
	cr_assert_eq(ctx_cancel(c), 0);
	cr_assert_null(next_cqe(&ring, 100), "disarmed chain still fired");
	cr_assert_eq(write(p[1], "y", 1), 1);
	cr_assert_eq(result_of(&ring, 21, NULL), 1);

	ctx_unref(c);
	close(p[0]);
	close(p[1]);
	io_uring_queue_exit(&ring);
	cr_assert_eq(count_fds(), base);
}

#define NCTX	32
#define NOPS	6

struct many {
	ctx_t *parent[2];
	int p[NCTX * NOPS][2];
	char buf[NCTX * NOPS];
};

static void *cancel_even(void *arg)
{
	struct many *m = arg;
	struct timespec ts = { 0, 20 * MS };

	nanosleep(&ts, NULL);
	cr_assert_eq(ctx_cancel(m->parent[0]), 0);
	return NULL;
}

/*
 * Contexts 0, 2, 4... are children of parent[0], which another thread
 * cancels; the others complete normally and are disarmed. Every op of a
 * context shares its user_data, so one arm (CANCEL_ALL) reaches them all.
 */
Test(uring, many_ops_many_contexts, .timeout = 60)
{
	int base = fd_baseline(), res[NCTX][2] = { { 0 } };
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	ctx_t *c[NCTX];
	struct many *m;
	pthread_t t;
	int i, left;

	m = calloc(1, sizeof(*m));
	cr_assert_not_null(m);
	ring_init(&ring, 512);
	for (i = 0; i < 2; i++)
		cr_assert_eq(ctx_with_cancel(ctx_background(), &m->parent[i]), 0);
	for (i = 0; i < NCTX; i++) {
		cr_assert_eq(ctx_with_cancel(m->parent[i % 2], &c[i]), 0);
		for (int j = 0; j < NOPS; j++) {
			cr_assert_eq(pipe2(m->p[i * NOPS + j], O_CLOEXEC), 0);
			prep_read(&ring, m->p[i * NOPS + j][0], &m->buf[i * NOPS + j], i);
		}
		cr_assert_eq(ctx_uring_arm(&ring, c[i], i, -1), 2);
	}
	cr_assert_eq(io_uring_submit(&ring), NCTX * (NOPS + 2));
	cr_assert_eq(pthread_create(&t, NULL, cancel_even, m), 0);
	for (i = 1; i < NCTX; i += 2)
		for (int j = 0; j < NOPS; j++)
			cr_assert_eq(write(m->p[i * NOPS + j][1], "x", 1), 1);

	for (left = NCTX * NOPS; left > 0;) {
		cqe = next_cqe(&ring, 5000);
		cr_assert_not_null(cqe, "%d ops never completed", left);
		if (!ctx_uring_is_internal(cqe)) {
			cr_assert_lt(cqe->user_data, (uint64_t)NCTX);
			res[cqe->user_data][cqe->res == 1] +=
				cqe->res == 1 || cqe->res == -ECANCELED;
			left--;
		}
		io_uring_cqe_seen(&ring, cqe);
	}
	pthread_join(t, NULL);
	for (i = 0; i < NCTX; i++) {
		cr_assert_eq(res[i][i % 2], NOPS, "context %d: %d ops as expected", i,
			     res[i][i % 2]);
		if (i % 2)
			cr_assert_eq(ctx_uring_disarm(&ring, i), 1);
	}
	io_uring_submit(&ring);
	drain_internal(&ring, 100);
	assert_nothing_pending(&ring);

	for (i = 0; i < NCTX; i++) {
		ctx_unref(c[i]);
		for (int j = 0; j < NOPS; j++) {
			close(m->p[i * NOPS + j][0]);
			close(m->p[i * NOPS + j][1]);
		}
	}
	ctx_unref(m->parent[0]);
	ctx_unref(m->parent[1]);
	free(m);
	io_uring_queue_exit(&ring);
	cr_assert_eq(count_fds(), base);
}

Test(uring, wait_cqe, .timeout = 30)
{
	struct delayed d = { NULL, 20 * MS };
	struct io_uring_cqe *cqe = NULL;
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	pthread_t t;
	ctx_t *tc;
	int p[2];
	char buf;

	ring_init(&ring, 8);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &d.ctx), 0);

	/* A completion wins: it is returned, internal ones are skipped. */
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data64(sqe, CTX_URING_TAG | 1);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data64(sqe, 31);
	cr_assert_eq(ctx_uring_wait_cqe(&ring, d.ctx, &cqe), 0);
	cr_assert_eq(cqe->user_data, 31);
	io_uring_cqe_seen(&ring, cqe);

	/* Blocked on an empty pipe: the context wins. */
	prep_read(&ring, p[0], &buf, 32);
	cr_assert_eq(pthread_create(&t, NULL, cancel_later, &d), 0);
	cr_assert_eq(ctx_uring_wait_cqe(&ring, d.ctx, &cqe), -ECANCELED);
	pthread_join(t, NULL);
	/* Done already: returns at once even with a completion ready. */
	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert_eq(ctx_uring_wait_cqe(&ring, d.ctx, &cqe), -ECANCELED);
	cr_assert_eq(result_of(&ring, 32, NULL), 1);

	/* A deadline wins with -ETIMEDOUT. */
	cr_assert_eq(ctx_with_timeout(ctx_background(), 30 * MS, &tc), 0);
	prep_read(&ring, p[0], &buf, 33);
	cr_assert_eq(ctx_uring_wait_cqe(&ring, tc, &cqe), -ETIMEDOUT);
	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert_eq(result_of(&ring, 33, NULL), 1);
	drain_internal(&ring, 50);
	assert_nothing_pending(&ring);

	ctx_unref(tc);
	ctx_unref(d.ctx);
	close(p[0]);
	close(p[1]);
	io_uring_queue_exit(&ring);
}

Test(uring, invalid_arguments)
{
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	ctx_t *c;

	ring_init(&ring, 4);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_eq(ctx_uring_arm(NULL, c, 1, -1), -EINVAL);
	cr_assert_eq(ctx_uring_arm(&ring, NULL, 1, -1), -EINVAL);
	cr_assert_eq(ctx_uring_arm(&ring, c, CTX_URING_TAG | 1, -1), -EINVAL);
	cr_assert_eq(ctx_uring_disarm(NULL, 1), -EINVAL);
	cr_assert_eq(ctx_uring_disarm(&ring, CTX_URING_TAG), -EINVAL);
	cr_assert_eq(ctx_uring_deadline(&ring, NULL, c, &ts), -EINVAL);
	cr_assert_eq(ctx_uring_wait_cqe(&ring, c, NULL), -EINVAL);
	cr_assert_eq(ctx_uring_wait_cqe(NULL, c, &cqe), -EINVAL);
	cr_assert_not(ctx_uring_is_internal(NULL));
	/* A full SQ: -EBUSY, and nothing half-prepared. */
	for (int i = 0; i < 3; i++)
		io_uring_prep_nop(io_uring_get_sqe(&ring));
	cr_assert_eq(ctx_uring_arm(&ring, c, 1, -1), -EBUSY);
	cr_assert_eq(io_uring_sq_ready(&ring), 3);
	ctx_unref(c);
	io_uring_queue_exit(&ring);
}
