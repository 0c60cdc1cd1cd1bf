/* SPDX-License-Identifier: MIT */
/*
 * libctx inside a libuv loop: a uv_poll_t on ctx_fd() fires once when the
 * context is done, and closing the handle in the callback leaves nothing
 * behind (a done fd stays readable, so a forgotten watch would spin).
 */
#include <criterion/criterion.h>

#ifdef HAVE_LIBUV

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include <ctx.h>

#include "loop-common.h"

struct fixture {
	uv_loop_t loop;
	uv_prepare_t prepare;	/* counts loop iterations */
	uv_timer_t timer;	/* safety stop, then the quiet period */
	unsigned long iterations;
	int baseline;

	ctx_t *ctx;
	uv_poll_t poll;
	int fired;		/* callback runs */
	int status;		/* the callback's status argument */
	int err;		/* ctx_err() as the callback saw it */
	uint64_t fired_ns;
	int closed;
};

static void on_prepare(uv_prepare_t *prepare)
{
	struct fixture *f = prepare->data;

	f->iterations++;
}

static void on_poll_closed(uv_handle_t *handle)
{
	struct fixture *f = handle->data;

	f->closed++;
}

/* The idiom under test: note the result, then close the handle. */
static void on_done(uv_poll_t *poll, int status, int events)
{
	struct fixture *f = poll->data;

	f->fired++;
	f->fired_ns = now_ns();
	f->status = status;
	f->err = ctx_err(f->ctx);
	uv_close((uv_handle_t *)poll, on_poll_closed);
}

static void on_timer_stop(uv_timer_t *timer)
{
	uv_stop(timer->loop);
}

static void on_timer_quiet(uv_timer_t *timer)
{
}

/*
 * The library keeps its own descriptors (timer thread, never-ready fd) until
 * exit and libuv keeps a process-wide signal pipe: create them all before
 * taking the descriptor baseline.
 */
static void setup(struct fixture *f)
{
	warm_up_library();

	cr_assert_eq(uv_loop_init(&f->loop), 0);
	cr_assert_eq(uv_prepare_init(&f->loop, &f->prepare), 0);
	f->prepare.data = f;
	cr_assert_eq(uv_prepare_start(&f->prepare, on_prepare), 0);
	/* Counting iterations must not keep the loop alive. */
	uv_unref((uv_handle_t *)&f->prepare);
	cr_assert_eq(uv_timer_init(&f->loop, &f->timer), 0);
	f->baseline = count_fds();
}

/*
 * Watches f->ctx and runs the loop until the watch is closed, then lets the
 * loop run QUIET_MS more with only a timer: the callback must not run again
 * and the loop must sleep, not spin.
 */
static void watch_once(struct fixture *f)
{
	int fd = ctx_fd(f->ctx);

	cr_assert_geq(fd, 0, "ctx_fd: %d", fd);
	cr_assert_eq(count_fds(), f->baseline + 1, "one eventfd per context");
	cr_assert_eq(uv_poll_init(&f->loop, &f->poll, fd), 0);
	f->poll.data = f;
	cr_assert_eq(uv_poll_start(&f->poll, UV_READABLE, on_done), 0);

	/* The poll handle alone keeps the loop running; the timer is a guard. */
	cr_assert_eq(uv_timer_start(&f->timer, on_timer_stop, BOUND_MS + 1000, 0), 0);
	uv_unref((uv_handle_t *)&f->timer);
	f->iterations = 0;
	cr_assert_eq(uv_run(&f->loop, UV_RUN_DEFAULT), 0, "loop stopped by the guard");
	cr_assert_eq(f->fired, 1);
	cr_assert_eq(f->closed, 1);
	cr_assert_eq(f->status, 0);
	cr_assert_leq(f->iterations, MAX_ITERATIONS, "%lu iterations before firing",
		      f->iterations);

	uv_ref((uv_handle_t *)&f->timer);
	cr_assert_eq(uv_timer_start(&f->timer, on_timer_quiet, QUIET_MS, 0), 0);
	f->iterations = 0;
	cr_assert_eq(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	cr_assert_eq(f->fired, 1, "callback ran again: watch not removed");
	cr_assert_leq(f->iterations, MAX_ITERATIONS, "%lu iterations in %d ms: busy loop",
		      f->iterations, QUIET_MS);
}

static void teardown(struct fixture *f)
{
	f->ctx = ctx_unref(f->ctx);
	cr_assert_eq(count_fds(), f->baseline, "descriptor leaked");

	uv_close((uv_handle_t *)&f->prepare, NULL);
	uv_close((uv_handle_t *)&f->timer, NULL);
	cr_assert_eq(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	cr_assert_eq(uv_loop_close(&f->loop), 0);
}

LOOP_TESTS(loop_uv)

#else /* !HAVE_LIBUV */

Test(loop_uv, missing)
{
	cr_skip_test("libuv not found at configure time (install libuv1-dev)");
}

#endif
