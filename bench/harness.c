/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* One batch aims at this long: long enough to dwarf clock overhead. */
#define BATCH_NS 10000000ull
#define BATCHES 9

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double quantile(double *v, size_t n, double q)
{
	size_t i;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	/* Nearest rank: the smallest sample with at least q of them at or below. */
	i = (size_t)(q * (double)n + 0.999999);
	if (i > 0)
		i--;
	if (i >= n)
		i = n - 1;
	return v[i];
}

double median(double *v, size_t n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	if (n % 2)
		return v[n / 2];
	return (v[n / 2 - 1] + v[n / 2]) / 2;
}

void result(const char *row, double value)
{
	printf("RESULT\t%s\t%.6g\n", row, value);
	fflush(stdout);
}

void save_samples(const char *impl, const char *name, const double *v, size_t n)
{
	const char *dir = getenv("BENCH_SAMPLES");
	char path[4096];
	FILE *f;

	if (!dir || !*dir)
		return;
	snprintf(path, sizeof(path), "%s/%s.%s.txt", dir, impl, name);
	f = fopen(path, "w");
	if (!f)
		return;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%.3f\n", v[i]);
	fclose(f);
}

/* The number of operations that makes one batch last about BATCH_NS. */
static uint64_t calibrate(uint64_t (*timed)(void *, uint64_t), void *ctx)
{
	uint64_t n = 1, t;

	for (;;) {
		t = timed(ctx, n);
		if (t >= BATCH_NS / 5 || n >= (1ull << 40))
			break;
		n *= t < BATCH_NS / 100 ? 10 : 2;
	}
	if (t == 0)
		t = 1;
	n = (uint64_t)((double)n * BATCH_NS / (double)t);
	return n ? n : 1;
}

struct serial {
	bench_fn fn;
	void *arg;
};

static uint64_t timed_serial(void *p, uint64_t n)
{
	struct serial *s = p;
	uint64_t t0 = now_ns();

	s->fn(s->arg, n);
	return now_ns() - t0;
}

double bench_ns_per_op(bench_fn fn, void *arg)
{
	struct serial s = { fn, arg };
	double v[BATCHES];
	uint64_t n;

	fn(arg, 16); /* warm caches, lazy initialisation and allocator pools */
	n = calibrate(timed_serial, &s);
	for (int i = 0; i < BATCHES; i++)
		v[i] = (double)timed_serial(&s, n) / (double)n;
	return median(v, BATCHES);
}

struct par {
	bench_fn fn;
	void *arg;
	int nthreads;
	uint64_t n;
	pthread_barrier_t start;
	uint64_t t0[64], t1[64];
	atomic_int next;
};

static void *par_thread(void *p)
{
	struct par *s = p;
	int me = atomic_fetch_add(&s->next, 1);

	/* A blocking barrier, not a spin: with 2 cores a spinning thread
	 * would keep its sibling off the CPU for a whole time slice. */
	pthread_barrier_wait(&s->start);
	s->t0[me] = now_ns();
	s->fn(s->arg, s->n);
	s->t1[me] = now_ns();
	return NULL;
}

/* Wall time from the first thread starting to the last one finishing. */
static uint64_t timed_parallel(void *p, uint64_t n)
{
	struct par *s = p;
	pthread_t th[64];
	uint64_t first = UINT64_MAX, last = 0;

	s->n = n;
	atomic_store(&s->next, 0);
	pthread_barrier_init(&s->start, NULL, (unsigned)s->nthreads);
	for (int i = 0; i < s->nthreads; i++)
		pthread_create(&th[i], NULL, par_thread, s);
	for (int i = 0; i < s->nthreads; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&s->start);
	for (int i = 0; i < s->nthreads; i++) {
		if (s->t0[i] < first)
			first = s->t0[i];
		if (s->t1[i] > last)
			last = s->t1[i];
	}
	return last - first;
}

double bench_parallel_ns_per_op(int nthreads, bench_fn fn, void *arg, int per_thread)
{
	struct par s = { .fn = fn, .arg = arg, .nthreads = nthreads };
	double v[BATCHES];
	uint64_t n;

	timed_parallel(&s, 16);
	n = calibrate(timed_parallel, &s);
	for (int i = 0; i < BATCHES; i++) {
		v[i] = (double)timed_parallel(&s, n) / (double)n;
		if (!per_thread)
			v[i] /= nthreads;
	}
	return median(v, BATCHES);
}

size_t heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

size_t rss_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return resident * (size_t)sysconf(_SC_PAGESIZE);
}

int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int set_nofile(unsigned long soft)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	rl.rlim_cur = soft;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	return 0;
}

/*
 * The waiter thread of bench_wake. The hand-shake uses semaphores and is
 * not timed; only fire() -> the waiter's return from epoll_wait/poll is.
 */
struct wake_state {
	enum wake_mode mode;
	int fd;
	int stop;
	uint64_t t_wake;
	sem_t go, armed, woke;
};

static void *wake_waiter(void *p)
{
	struct wake_state *st = p;
	struct epoll_event ev = { .events = EPOLLIN };
	int ep = epoll_create1(EPOLL_CLOEXEC);

	for (;;) {
		sem_wait(&st->go);
		if (st->stop)
			break;
		if (st->mode == WAKE_EPOLL) {
			epoll_ctl(ep, EPOLL_CTL_ADD, st->fd, &ev);
			sem_post(&st->armed);
			while (epoll_wait(ep, &ev, 1, -1) != 1)
				;
			st->t_wake = now_ns();
			epoll_ctl(ep, EPOLL_CTL_DEL, st->fd, NULL);
		} else {
			struct pollfd pfd = { .fd = st->fd, .events = POLLIN };

			sem_post(&st->armed);
			while (poll(&pfd, 1, -1) != 1)
				;
			st->t_wake = now_ns();
		}
		sem_post(&st->woke);
	}
	close(ep);
	return NULL;
}

void bench_wake(const char *impl, const char *row, const struct wake_ops *ops,
		enum wake_mode mode, int iters)
{
	struct wake_state st = { .mode = mode };
	struct timespec settle = { 0, 100000 };
	double *v = calloc((size_t)iters, sizeof(*v));
	char name[256];
	pthread_t th;

	sem_init(&st.go, 0, 0);
	sem_init(&st.armed, 0, 0);
	sem_init(&st.woke, 0, 0);
	pthread_create(&th, NULL, wake_waiter, &st);
	for (int i = -iters / 10; i < iters; i++) {
		void *obj = ops->make(ops->arg, &st.fd);
		uint64_t t0;

		sem_post(&st.go);
		sem_wait(&st.armed);
		/* Let the waiter reach the kernel and sleep there. */
		nanosleep(&settle, NULL);
		t0 = now_ns();
		ops->fire(obj);
		sem_wait(&st.woke);
		if (i >= 0) /* the first tenth is warm-up */
			v[i] = (double)(st.t_wake - t0) / 1000.0;
		ops->release(obj);
	}
	st.stop = 1;
	sem_post(&st.go);
	pthread_join(th, NULL);
	save_samples(impl, row, v, (size_t)iters);
	snprintf(name, sizeof(name), "%s.p50", row);
	result(name, quantile(v, (size_t)iters, 0.50));
	snprintf(name, sizeof(name), "%s.p99", row);
	result(name, quantile(v, (size_t)iters, 0.99));
	free(v);
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "-l") == 0) {
		for (const struct bench_case *c = bench_cases; c->name; c++)
			printf("%s\n", c->name);
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: %s -l | CASE\n", argv[0]);
		return 2;
	}
	for (const struct bench_case *c = bench_cases; c->name; c++) {
		if (strcmp(c->name, argv[1]) == 0) {
			c->run();
			return 0;
		}
	}
	fprintf(stderr, "%s: no case '%s'\n", argv[0], argv[1]);
	return 2;
}
