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

#include "loop-common.h"

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
	warm_up_library();

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

LOOP_TESTS(loop_glib)

#else /* !HAVE_GLIB */

Test(loop_glib, missing)
{
	cr_skip_test("GLib not found at configure time (install libglib2.0-dev)");
}

#endif
