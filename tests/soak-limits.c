/* SPDX-License-Identifier: MIT */
/*
 * Resource bounds (see tests/README.md): a million children under one
 * parent, cancelled through the parent and freed; a million live deadlines
 * under the default RLIMIT_NOFILE of 1024, costing no descriptor, with the
 * timer still firing on time among them. Sizes are divided by
 * CTX_TEST_SCALE (sanitizer and valgrind runs). Standalone, prints TAP.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ctx.h"

#define MILLION 1000000UL
#define HOUR_NS 3600000000000ULL

static int failures;

static unsigned long scaled(unsigned long n)
{
	const char *env = getenv("CTX_TEST_SCALE");
	long s = env ? atol(env) : 1;

	return s > 1 ? n / (unsigned long)s : n;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		abort();
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void tap(int n, bool ok, const char *what, const char *detail)
{
	printf("%s %d - %s%s%s\n", ok ? "ok" : "not ok", n, what, *detail ? ": " : "", detail);
	failures += !ok;
}

static void million_children(void)
{
	unsigned long n = scaled(MILLION), bad = 0;
	ctx_t *p, *v, **kids = malloc(n * sizeof(*kids));
	int fd_p, fd_k, fd_v;
	char detail[128] = "";
	double t0, t1;

	if (!kids || ctx_with_cancel(ctx_background(), &p))
		abort();
	for (unsigned long i = 0; i < n; i++)
		if (ctx_with_cancel(p, &kids[i])) {
			snprintf(detail, sizeof(detail), "child %lu not made", i);
			tap(1, false, "a million children under one parent", detail);
			exit(1);
		}
	/* A grandchild through a value, and done fds on a few. */
	if (ctx_with_value(kids[n / 2], &n, &n, NULL, &v))
		abort();
	fd_p = ctx_fd(p);
	fd_k = ctx_fd(kids[n - 1]);
	fd_v = ctx_fd(v);
	t0 = now_s();
	if (ctx_cancel_cause(p, -EPIPE) != 0)
		bad++;
	t1 = now_s();
	for (unsigned long i = 0; i < n; i++)
		bad += ctx_err(kids[i]) != -ECANCELED || ctx_cause(kids[i]) != -EPIPE;
	bad += ctx_err(v) != -ECANCELED;
	for (int fd = 0; fd < 3; fd++) {
		struct pollfd pfd = { .fd = fd == 0 ? fd_p : fd == 1 ? fd_k : fd_v,
				      .events = POLLIN };

		bad += poll(&pfd, 1, 0) != 1;
	}
	ctx_unref(v);
	for (unsigned long i = 0; i < n; i++)
		ctx_unref(kids[i]);
	ctx_unref(p);
	free(kids);
	snprintf(detail, sizeof(detail), "%lu children cancelled in %.3f s, %lu wrong", n,
		 t1 - t0, bad);
	tap(1, bad == 0, "a million children under one parent", detail);
}

static void million_deadlines(void)
{
	unsigned long n = scaled(MILLION), bad = 0;
	struct rlimit rl;
	ctx_t **c = malloc(n * sizeof(*c)), *probe;
	char detail[160];
	int before, after;
	double t0, waited;

	if (!c || getrlimit(RLIMIT_NOFILE, &rl))
		abort();
	/* The default soft limit: they must all fit under it. */
	if (rl.rlim_cur > 1024) {
		rl.rlim_cur = 1024;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			abort();
	}
	before = count_fds();
	for (unsigned long i = 0; i < n; i++)
		if (ctx_with_timeout(ctx_background(), HOUR_NS + (i * 7919 % n) * 1000, &c[i])) {
			snprintf(detail, sizeof(detail), "deadline %lu not made", i);
			tap(2, false, "a million live deadlines under RLIMIT_NOFILE 1024", detail);
			exit(1);
		}
	after = count_fds();
	/* The one timer still fires on time behind all of them. */
	t0 = now_s();
	if (ctx_with_timeout(ctx_background(), 20000000, &probe) || ctx_fd(probe) < 0)
		abort();
	{
		struct pollfd pfd = { .fd = ctx_fd(probe), .events = POLLIN };

		bad += poll(&pfd, 1, 10000) != 1;
	}
	waited = now_s() - t0;
	bad += ctx_err(probe) != -ETIMEDOUT;
	ctx_unref(probe);
	for (unsigned long i = 0; i < n; i++) {
		bad += ctx_err(c[i]) != 0;
		ctx_unref(c[i]);
	}
	free(c);
	snprintf(detail, sizeof(detail),
		 "%lu deadlines, descriptors %d -> %d, a 20 ms timer among them fired after "
		 "%.0f ms, %lu wrong",
		 n, before, after, waited * 1000, bad);
	tap(2, bad == 0 && after == before,
	    "a million live deadlines under RLIMIT_NOFILE 1024", detail);
}

int main(void)
{
	ctx_t *warm;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* The library's own descriptors first: they live until exit. */
	if (ctx_with_timeout(ctx_background(), HOUR_NS, &warm) || ctx_fd(warm) < 0 ||
	    ctx_fd(ctx_background()) < 0)
		abort();
	ctx_unref(warm);
	printf("1..2\n");
	million_children();
	million_deadlines();
	return failures ? 1 : 0;
}
