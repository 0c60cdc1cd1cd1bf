/* SPDX-License-Identifier: MIT */
/*
 * uring-cancel: latency from ctx_cancel() to the completion of the read it
 * cancels (a read on an empty pipe), two ways:
 *
 *   kernel  the ctx_uring_arm() chain: POLL_ADD(ctx_fd) linked to an
 *           ASYNC_CANCEL, run by the kernel;
 *   user    a bare POLL_ADD(ctx_fd); on its completion the loop submits
 *           the ASYNC_CANCEL itself.
 *
 * "same": the thread that owns the ring cancels and then waits;
 * "cross": another thread cancels while the owner is blocked in
 * io_uring_wait_cqe(). Prints median and p99 in microseconds.
 *
 *	bench/uring-cancel [-n ITERATIONS]
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ctx.h>
#include <ctx_uring.h>

#define READ_UD		1
#define POLL_UD		(CTX_URING_TAG | 2)	/* the user-space variant's poll */

struct run {
	struct io_uring ring;
	int pipe[2];
	char buf;
	bool kernel, cross;
	/* cross-thread hand-off */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	ctx_t *target;
	int64_t t0;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what, int r)
{
	fprintf(stderr, "uring-cancel: %s: %s\n", what, strerror(-r));
	exit(1);
}

static struct io_uring_cqe *wait_one(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	int r;

	do
		r = io_uring_wait_cqe(ring, &cqe);
	while (r == -EINTR);
	if (r < 0)
		die("io_uring_wait_cqe", r);
	return cqe;
}

/* The canceller thread: wait for a target, give the owner time to block. */
static void *canceller(void *arg)
{
	struct run *run = arg;
	struct timespec pause = { 0, 200000 };
	ctx_t *c;

	for (;;) {
		pthread_mutex_lock(&run->mu);
		while (!run->target)
			pthread_cond_wait(&run->cv, &run->mu);
		c = run->target;
		run->target = NULL;
		pthread_mutex_unlock(&run->mu);
		if (c == ctx_background())
			return NULL;
		nanosleep(&pause, NULL);
		__atomic_store_n(&run->t0, now_ns(), __ATOMIC_RELEASE);
		ctx_cancel(c);
	}
}

/* One measurement: nanoseconds from ctx_cancel to the read's CQE. */
static int64_t once(struct run *run)
{
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	int64_t t0 = 0, t1;
	int r, internal = 0;
	ctx_t *c;

	r = ctx_with_cancel(ctx_background(), &c);
	if (r < 0)
		die("ctx_with_cancel", r);
	sqe = io_uring_get_sqe(&run->ring);
	io_uring_prep_read(sqe, run->pipe[0], &run->buf, 1, 0);
	io_uring_sqe_set_data64(sqe, READ_UD);
	if (run->kernel) {
		r = ctx_uring_arm(&run->ring, c, READ_UD, -1);
	} else {
		r = ctx_fd(c);
		if (r >= 0) {
			sqe = io_uring_get_sqe(&run->ring);
			io_uring_prep_poll_add(sqe, r, POLLIN);
			io_uring_sqe_set_data64(sqe, POLL_UD);
		}
	}
	if (r < 0)
		die("arming", r);
	r = io_uring_submit(&run->ring);
	if (r < 0)
		die("io_uring_submit", r);

	if (run->cross) {
		pthread_mutex_lock(&run->mu);
		run->target = c;
		pthread_cond_signal(&run->cv);
		pthread_mutex_unlock(&run->mu);
	} else {
		t0 = now_ns();
		ctx_cancel(c);
	}
	for (;;) {
		cqe = wait_one(&run->ring);
		if (cqe->user_data == READ_UD)
			break;
		if (cqe->user_data == POLL_UD) {
			sqe = io_uring_get_sqe(&run->ring);
			io_uring_prep_cancel64(sqe, READ_UD, 0);
			io_uring_sqe_set_data64(sqe, CTX_URING_TAG | 3);
			io_uring_submit(&run->ring);
		}
		internal++;
		io_uring_cqe_seen(&run->ring, cqe);
	}
	t1 = now_ns();
	if (cqe->res != -ECANCELED) {
		fprintf(stderr, "uring-cancel: read ended with %d\n", cqe->res);
		exit(1);
	}
	io_uring_cqe_seen(&run->ring, cqe);
	if (run->cross)
		t0 = __atomic_load_n(&run->t0, __ATOMIC_ACQUIRE);
	/* Both ways leave two internal completions: the poll and the cancel. */
	for (; internal < 2; internal++)
		io_uring_cqe_seen(&run->ring, wait_one(&run->ring));
	ctx_unref(c);
	return t1 - t0;
}

static int cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int n = 5000, opt, r, mode;
	struct run run;
	pthread_t t;
	int64_t *lat;

	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt != 'n' || (n = atoi(optarg)) < 1) {
			fprintf(stderr, "usage: uring-cancel [-n ITERATIONS]\n");
			return 1;
		}
	}
	memset(&run, 0, sizeof(run));
	r = io_uring_queue_init(16, &run.ring, 0);
	if (r < 0)
		die("io_uring_queue_init", r);
	if (pipe2(run.pipe, O_CLOEXEC) < 0)
		die("pipe2", -errno);
	pthread_mutex_init(&run.mu, NULL);
	pthread_cond_init(&run.cv, NULL);
	r = pthread_create(&t, NULL, canceller, &run);
	if (r)
		die("pthread_create", -r);
	lat = calloc(n, sizeof(*lat));
	if (!lat)
		die("calloc", -ENOMEM);

	printf("%-8s %-6s %8s %10s %10s\n", "chain", "thread", "n", "median_us", "p99_us");
	for (mode = 0; mode < 4; mode++) {
		run.kernel = !(mode & 1);
		run.cross = mode & 2;
		for (int i = 0; i < n / 10; i++)	/* warm-up */
			once(&run);
		for (int i = 0; i < n; i++)
			lat[i] = once(&run);
		qsort(lat, n, sizeof(*lat), cmp);
		printf("%-8s %-6s %8d %10.2f %10.2f\n", run.kernel ? "kernel" : "user",
		       run.cross ? "cross" : "same", n, lat[n / 2] / 1e3,
		       lat[(int)((n - 1) * 0.99)] / 1e3);
	}

	pthread_mutex_lock(&run.mu);
	run.target = ctx_background();
	pthread_cond_signal(&run.cv);
	pthread_mutex_unlock(&run.mu);
	pthread_join(t, NULL);
	free(lat);
	io_uring_queue_exit(&run.ring);
	return 0;
}
