/* SPDX-License-Identifier: MIT */
/*
 * libctx inside a GLib main loop: g_unix_fd_add() on ctx_fd() fires once
 * when the context is done, and returning G_SOURCE_REMOVE leaves nothing
 * behind (a done fd stays readable, so G_SOURCE_CONTINUE would spin).
 */
#include <criterion/criterion.h>

#ifdef HAVE_GLIB

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <glib.h>
#include <glib-unix.h>

#include <ctx.h>

#define DEADLINE_NS	(20 * 1000000ULL)
#define BOUND_NS	(2 * 1000000000ULL)	/* "promptly", generously */
#define BOUND_MS	(BOUND_NS / 1000000)
#define QUIET_MS	50
/* A blocking loop needs a handful of iterations; a spinning one, thousands. */
#define MAX_ITERATIONS	10

static uint64_t ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ULL + (uint64_t)ts->tv_nsec;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts_ns(&ts);
}

static int count_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	cr_assert_not_null(dir, "opendir /proc/self/fd: %d", errno);
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

struct fixture {
	guint timer;		/* safety stop, then the quiet period */
	int timer_fired;
	unsigned long iterations;
	int baseline;

	ctx_t *ctx;
	guint watch;
	int fired;		/* callback runs */
	GIOCondition cond;	/* the callback's condition */
	int err;		/* ctx_err() as the callback saw it */
	uint64_t fired_ns;
};

/* The idiom under test: note the result, then remove the source. */
static gboolean on_done(gint fd, GIOCondition cond, gpointer data)
{
	struct fixture *f = data;

	f->fired++;
	f->fired_ns = now_ns();
	f->cond = cond;
	f->err = ctx_err(f->ctx);
	return G_SOURCE_REMOVE;
}

static gboolean on_timer(gpointer data)
{
	struct fixture *f = data;

	f->timer_fired = 1;
	f->timer = 0;
	return G_SOURCE_REMOVE;
}

static void start_timer(struct fixture *f, guint ms)
{
	f->timer_fired = 0;
	f->timer = g_timeout_add(ms, on_timer, f);
	cr_assert_neq(f->timer, 0);
}

/* One pass of the loop at a time, so that the passes can be counted. */
static void run_until(struct fixture *f, const int *flag)
{
	f->iterations = 0;
	while (!*flag && !f->timer_fired) {
		g_main_context_iteration(NULL, TRUE);
		f->iterations++;
	}
}

/*
 * The library keeps its own descriptors (timer thread, never-ready fd) until
 * exit and so does GLib's default main context (its wake-up fd): create them
 * before taking the descriptor baseline.
 */
static void setup(struct fixture *f)
{
	ctx_t *warm;

	cr_assert_eq(ctx_with_timeout(ctx_background(), 1000000000ULL, &warm), 0);
	cr_assert_geq(ctx_fd(warm), 0);
	ctx_unref(warm);
	cr_assert_geq(ctx_fd(ctx_background()), 0);

	cr_assert_not_null(g_main_context_default());
	f->baseline = count_fds();
}

/*
 * Watches f->ctx and runs the loop until the callback has run, then lets the
 * loop run QUIET_MS more with only a timer: the callback must not run again,
 * the loop must sleep, not spin, and the source must be gone.
 */
static void watch_once(struct fixture *f)
{
	int fd = ctx_fd(f->ctx);

	cr_assert_geq(fd, 0, "ctx_fd: %d", fd);
	cr_assert_eq(count_fds(), f->baseline + 1, "one eventfd per context");
	f->watch = g_unix_fd_add(fd, G_IO_IN, on_done, f);
	cr_assert_neq(f->watch, 0);

	start_timer(f, BOUND_MS + 1000);
	run_until(f, &f->fired);
	cr_assert_eq(f->fired, 1, "no callback before the guard timer");
	cr_assert_eq(f->cond, G_IO_IN);
	cr_assert_leq(f->iterations, MAX_ITERATIONS, "%lu iterations before firing",
		      f->iterations);
	cr_assert_null(g_main_context_find_source_by_id(NULL, f->watch),
		       "source still attached");
	cr_assert(g_source_remove(f->timer));

	start_timer(f, QUIET_MS);
	run_until(f, &f->timer_fired);
	cr_assert_eq(f->fired, 1, "callback ran again: watch not removed");
	cr_assert_leq(f->iterations, MAX_ITERATIONS, "%lu iterations in %d ms: busy loop",
		      f->iterations, QUIET_MS);
	cr_assert_not(g_main_context_pending(NULL), "something still ready");
}

static void teardown(struct fixture *f)
{
	f->ctx = ctx_unref(f->ctx);
	cr_assert_eq(count_fds(), f->baseline, "descriptor leaked");
}

Test(loop_glib, deadline, .timeout = 10)
{
	struct fixture f = { 0 };
	struct timespec deadline;

	setup(&f);
	cr_assert_eq(ctx_with_timeout(ctx_background(), DEADLINE_NS, &f.ctx), 0);
	cr_assert(ctx_deadline(f.ctx, &deadline));
	watch_once(&f);
	cr_assert_eq(f.err, -ETIMEDOUT);
	cr_assert_geq(f.fired_ns, ts_ns(&deadline), "fired before the deadline");
	cr_assert_lt(f.fired_ns - ts_ns(&deadline), BOUND_NS, "fired %llu ns late",
		     (unsigned long long)(f.fired_ns - ts_ns(&deadline)));
	teardown(&f);
}

struct canceller {
	ctx_t *ctx;
	uint64_t at_ns;		/* just before ctx_cancel() */
	int ret;
};

static void *cancel_later(void *arg)
{
	struct canceller *c = arg;
	struct timespec pause = { 0, DEADLINE_NS };

	nanosleep(&pause, NULL);
	c->at_ns = now_ns();
	c->ret = ctx_cancel(c->ctx);
	return NULL;
}

Test(loop_glib, cancelled_from_thread, .timeout = 10)
{
	struct fixture f = { 0 };
	struct canceller c;
	pthread_t thread;

	setup(&f);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &f.ctx), 0);
	c.ctx = f.ctx;
	cr_assert_eq(pthread_create(&thread, NULL, cancel_later, &c), 0);
	watch_once(&f);
	cr_assert_eq(pthread_join(thread, NULL), 0);
	cr_assert_eq(c.ret, 0);
	cr_assert_eq(f.err, -ECANCELED);
	cr_assert_eq(ctx_cause(f.ctx), -ECANCELED);
	cr_assert_geq(f.fired_ns, c.at_ns, "fired before ctx_cancel()");
	cr_assert_lt(f.fired_ns - c.at_ns, BOUND_NS);
	teardown(&f);
}

/* A context done before it is watched: its fd is born readable. */
Test(loop_glib, already_done, .timeout = 10)
{
	struct fixture f = { 0 };

	setup(&f);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &f.ctx), 0);
	cr_assert_eq(ctx_cancel_cause(f.ctx, -EPIPE), 0);
	watch_once(&f);
	cr_assert_eq(f.err, -ECANCELED);
	cr_assert_eq(ctx_cause(f.ctx), -EPIPE);
	teardown(&f);
}

#else /* !HAVE_GLIB */

Test(loop_glib, missing)
{
	cr_skip_test("GLib not found at configure time (install libglib2.0-dev)");
}

#endif
