/* SPDX-License-Identifier: MIT */
/*
 * Soak: worker threads build, cancel and free request-shaped trees as fast
 * as they can for CTX_SOAK_SECONDS (default 5): a cancel context under a
 * shared long-lived parent and under a group that another thread keeps
 * cancelling, a value, a deadline (most far away, some a fraction of a
 * millisecond, some already passed), an fd source on a pipe (sometimes
 * fired), done fds, after-functions (some stopped, racing the library
 * thread that runs them). Then every after-function has run exactly once
 * unless stopped, every value was destroyed once, and the descriptor count
 * and resident size are back near their baseline.
 *
 * Standalone (no Criterion) so it runs under ThreadSanitizer; prints TAP.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "ctx.h"

#if defined(__SANITIZE_ADDRESS__)
/* ASan's quarantine would otherwise hold up to 256 MB of freed memory. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "quarantine_size_mb=16";
}
#endif

#define THREADS 4
#define GROUPS 4
#define MS 1000000ULL

static atomic_long made, registered, ran, stopped, values_made, values_destroyed;
static atomic_bool stop_all;
static ctx_t *shared; /* one parent for every request: concurrent link/unlink */
static pthread_mutex_t group_lock = PTHREAD_MUTEX_INITIALIZER;
static ctx_t *groups[GROUPS];
static int value_key;
static int failures;

#define check(cond, ...)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "soak: line %d: ", __LINE__);           \
			fprintf(stderr, __VA_ARGS__);                           \
			fputc('\n', stderr);                                    \
			abort();                                                \
		}                                                               \
	} while (0)

static void on_after(void *arg)
{
	atomic_fetch_add(&ran, 1);
}

static void on_destroy(void *v)
{
	atomic_fetch_add(&values_destroyed, 1);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	check(d, "opendir: %s", strerror(errno));
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, resident = 0;

	check(f, "statm");
	check(fscanf(f, "%ld %ld", &size, &resident) == 2, "statm format");
	fclose(f);
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* One request: the shapes a server makes, cancelled in one of a few ways. */
static void request(unsigned int *seed, int pipe_r, int pipe_w)
{
	ctx_t *req, *grp, *v, *d, *src = NULL, *child;
	ctx_after_t *h1, *h2;
	unsigned int r = (unsigned int)rand_r(seed);
	uint64_t timeout;

	pthread_mutex_lock(&group_lock);
	grp = ctx_ref(groups[r % GROUPS]);
	pthread_mutex_unlock(&group_lock);

	check(ctx_with_cancel(r & 1 ? shared : grp, &req) == 0, "with_cancel");
	check(ctx_with_value(req, &value_key, &value_key, on_destroy, &v) == 0, "with_value");
	atomic_fetch_add(&values_made, 1);
	timeout = r % 5 == 0 ? 200000 : r % 7 == 0 ? 0 : 3600000 * MS;
	check(ctx_with_timeout(v, timeout, &d) == 0, "with_timeout");
	check(ctx_with_cancel(r & 2 ? d : grp, &child) == 0, "with_cancel (child)");
	made += 4;

	check(ctx_after_func(d, on_after, NULL, &h1) == 0, "after_func");
	check(ctx_after_func(child, on_after, NULL, &h2) == 0, "after_func");
	registered += 2;
	if (r % 3 == 0)
		check(ctx_fd(d) >= 0, "ctx_fd");
	if (r % 4 == 0) {
		check(ctx_with_fd(req, pipe_r, EPOLLIN, -EPIPE, &src) == 0, "with_fd");
		made++;
		if (r % 8 == 0) {
			char b;

			check(write(pipe_w, "x", 1) == 1, "write");
			/* Unless the group or the shared parent got it first. */
			check(ctx_wait(src) == -ECANCELED, "fd source did not fire");
			check(read(pipe_r, &b, 1) == 1, "read");
		}
	}
	/* Stop half the after-functions, racing the cancellation below. */
	if (r & 16)
		stopped += ctx_after_stop(h1);
	if (timeout < MS)
		check(ctx_wait(d) != 0, "short deadline");
	if (r & 32)
		ctx_cancel(req);
	else
		ctx_cancel_cause(d, -EPIPE);
	if (r & 64)
		ctx_cancel(child);
	check(ctx_err(d) != 0, "d live after cancel");
	if (r % 3 == 0)
		check(readable(ctx_fd(d)), "done fd not readable");
	if (!(r & 16))
		stopped += ctx_after_stop(h1);
	/* A child left live under its group: dropped unfired, its stop returns true. */
	ctx_unref(src);
	ctx_unref(d);
	ctx_unref(v);
	ctx_unref(req);
	ctx_unref(grp);
	if (r & 128) {
		ctx_unref(child);
		stopped += ctx_after_stop(h2);
	} else {
		stopped += ctx_after_stop(h2);
		ctx_unref(child);
	}
}

static void *worker(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;
	int p[2];

	check(pipe(p) == 0, "pipe");
	while (!atomic_load(&stop_all))
		request(&seed, p[0], p[1]);
	close(p[0]);
	close(p[1]);
	return NULL;
}

/* Replaces and cancels the groups while workers derive from them. */
static void *canceller(void *arg)
{
	unsigned int i = 0;

	while (!atomic_load(&stop_all)) {
		ctx_t *fresh, *old;

		check(ctx_with_cancel(shared, &fresh) == 0, "group");
		pthread_mutex_lock(&group_lock);
		old = groups[i % GROUPS];
		groups[i % GROUPS] = fresh;
		pthread_mutex_unlock(&group_lock);
		ctx_cancel(old);
		ctx_unref(old);
		i++;
		usleep(500);
	}
	return NULL;
}

static void run(double seconds)
{
	pthread_t th[THREADS], c;

	atomic_store(&stop_all, false);
	for (int g = 0; g < GROUPS; g++)
		check(ctx_with_cancel(shared, &groups[g]) == 0, "group");
	for (int t = 0; t < THREADS; t++)
		check(pthread_create(&th[t], NULL, worker, (void *)(uintptr_t)(t + 1)) == 0,
		      "pthread_create");
	check(pthread_create(&c, NULL, canceller, NULL) == 0, "pthread_create");
	usleep((useconds_t)(seconds * 1e6));
	atomic_store(&stop_all, true);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	pthread_join(c, NULL);
	for (int g = 0; g < GROUPS; g++)
		groups[g] = ctx_unref(groups[g]);
}

/* The library thread may still hold the last reference of what it fired. */
static bool settle(bool (*done)(void))
{
	for (int i = 0; i < 2000 && !done(); i++)
		usleep(1000);
	return done();
}

static bool afters_settled(void)
{
	return atomic_load(&ran) + atomic_load(&stopped) == atomic_load(&registered);
}

static bool values_settled(void)
{
	return atomic_load(&values_destroyed) == atomic_load(&values_made);
}

static int fd_base;

/* Makes every descriptor the library keeps for good, then frees what it made. */
static void open_library_fds(void)
{
	ctx_t *d, *src;
	int p[2];

	check(pipe(p) == 0, "pipe");
	check(ctx_fd(ctx_background()) >= 0, "never-ready fd");
	check(ctx_with_timeout(shared, 3600000 * MS, &d) == 0, "with_timeout");
	check(ctx_fd(d) >= 0, "ctx_fd");
	check(ctx_with_fd(d, p[0], EPOLLIN, -EPIPE, &src) == 0, "with_fd");
	ctx_unref(src);
	ctx_unref(d);
	close(p[0]);
	close(p[1]);
}

static bool fds_settled(void)
{
	return count_fds() == fd_base;
}

static void tap(int n, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void tap(int n, bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", ok ? "ok" : "not ok", n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	failures += !ok;
}

int main(void)
{
	const char *env = getenv("CTX_SOAK_SECONDS");
	double seconds = env ? atof(env) : 5;
	long rss0, rss1;
	int64_t start;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("1..5\n");
	check(ctx_with_cancel(ctx_background(), &shared) == 0, "shared");
	/*
	 * The descriptor baseline is taken after a warm-up that frees everything
	 * it made on this thread, so nothing is still in flight: the library's
	 * own descriptors exist and no context is alive. (Taken after the
	 * threaded warm-up, it could count an fd source's duplicate that the
	 * thread which cancelled it was about to close.)
	 */
	open_library_fds();
	fd_base = count_fds();
	/* Warm-up: the heap and malloc's arenas reach steady state. */
	run(seconds / 10 < 0.5 ? seconds / 10 : 0.5);
	check(settle(values_settled) && settle(afters_settled), "warm-up did not settle");
	rss0 = rss_kb();

	start = now_ns();
	run(seconds);
	tap(1, true, "%ld contexts made by %d threads in %.1f s", atomic_load(&made), THREADS,
	    (double)(now_ns() - start) / 1e9);
	tap(2, settle(afters_settled),
	    "after-functions: %ld registered = %ld ran + %ld stopped", atomic_load(&registered),
	    atomic_load(&ran), atomic_load(&stopped));
	tap(3, settle(values_settled), "values: %ld made, %ld destroyed",
	    atomic_load(&values_made), atomic_load(&values_destroyed));
	tap(4, settle(fds_settled), "descriptors back to baseline (%d, now %d)", fd_base,
	    count_fds());
	shared = ctx_unref(shared);
	rss1 = rss_kb();
	/* Freed memory stays in malloc's arenas: allow slack, not growth with the run. */
	tap(5, rss1 <= rss0 + 32768 + rss0 / 2, "RSS %ld kB after warm-up, %ld kB at the end",
	    rss0, rss1);
	return failures ? 1 : 0;
}
