/* SPDX-License-Identifier: MIT */
/*
 * workers: four worker threads, each blocked in its own epoll set on the
 * done fd of its context, under one parent with a 1.5 s deadline.
 *
 *   worker 0 has its own 300 ms timeout;
 *   worker 1 is cancelled by a supervisor thread at 600 ms (cause -ESHUTDOWN);
 *   worker 2 is bound to a pipe that its "client" closes at 900 ms (ctx_with_fd);
 *   worker 3 runs until the parent's deadline.
 *
 * Each prints when and why it stopped: ctx_err() and ctx_cause().
 */
#include <ctx.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

struct worker {
	int id;
	ctx_t *ctx;
	int ticks;
	double stopped_ms;
};

static struct timespec start;

static double ms_since_start(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start.tv_sec) * 1e3 + (now.tv_nsec - start.tv_nsec) / 1e6;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct epoll_event ev = { .events = EPOLLIN };
	int ep = epoll_create1(EPOLL_CLOEXEC);

	/* The context's done fd goes into the worker's epoll set like any fd. */
	epoll_ctl(ep, EPOLL_CTL_ADD, ctx_fd(w->ctx), &ev);
	for (;;) {
		/* Wake every 100 ms to "work"; the done fd ends the loop. */
		if (epoll_wait(ep, &ev, 1, 100) == 1)
			break;
		w->ticks++;
	}
	w->stopped_ms = ms_since_start();
	close(ep);
	return NULL;
}

static void *supervisor(void *arg)
{
	usleep(600 * 1000);
	ctx_cancel_cause(arg, -ESHUTDOWN);
	return NULL;
}

int main(void)
{
	struct worker workers[4];
	pthread_t threads[4], sup;
	ctx_t *job;
	int client[2];

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (ctx_with_timeout(ctx_background(), 1500 * 1000000ULL, &job) < 0 || pipe(client) < 0)
		return 1;

	ctx_with_timeout(job, 300 * 1000000ULL, &workers[0].ctx);
	ctx_with_cancel(job, &workers[1].ctx);
	ctx_with_fd(job, client[0], EPOLLIN | EPOLLHUP, -ECONNRESET, &workers[2].ctx);
	close(client[0]); /* the library keeps its own duplicate */
	ctx_with_cancel(job, &workers[3].ctx);

	for (int i = 0; i < 4; i++) {
		workers[i].id = i;
		workers[i].ticks = 0;
		pthread_create(&threads[i], NULL, work, &workers[i]);
	}
	pthread_create(&sup, NULL, supervisor, workers[1].ctx);
	usleep(900 * 1000);
	close(client[1]); /* the client hangs up */

	for (int i = 0; i < 4; i++)
		pthread_join(threads[i], NULL);
	pthread_join(sup, NULL);

	printf("%-7s %9s %6s  %-28s %s\n", "worker", "stopped", "ticks", "error", "cause");
	for (int i = 0; i < 4; i++) {
		struct worker *w = &workers[i];
		char path[128];

		ctx_describe(w->ctx, path, sizeof(path));
		printf("%-7d %7.0fms %6d  %-28s %s\n", w->id, w->stopped_ms, w->ticks,
		       strerror(-ctx_err(w->ctx)), strerror(-ctx_cause(w->ctx)));
		printf("        %s\n", path);
		ctx_unref(w->ctx);
	}
	ctx_unref(job);
	return 0;
}
