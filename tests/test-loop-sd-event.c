/* SPDX-License-Identifier: MIT */
/*
 * libctx inside an sd-event loop: an I/O source on ctx_fd() fires once when
 * the context is done, and disabling and unreferencing the source in the
 * callback leaves nothing behind (a done fd stays readable, so an enabled
 * source would spin).
 */
#include <criterion/criterion.h>

#ifdef HAVE_LIBSYSTEMD

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <time.h>
#include <systemd/sd-event.h>

#include <ctx.h>

#include "loop-common.h"

struct fixture {
	sd_event *event;
	sd_event_source *timer;	/* safety stop, then the quiet period */
	int timer_fired;
	unsigned long iterations;
	int baseline;

	ctx_t *ctx;
	sd_event_source *source;
	int fired;		/* callback runs */
	uint32_t revents;	/* the callback's events */
	int err;		/* ctx_err() as the callback saw it */
	uint64_t fired_ns;
};

/* The idiom under test: note the result, then drop the source. */
static int on_done(sd_event_source *source, int fd, uint32_t revents, void *userdata)
{
	struct fixture *f = userdata;

	f->fired++;
	f->fired_ns = now_ns();
	f->revents = revents;
	f->err = ctx_err(f->ctx);
	f->source = sd_event_source_disable_unref(f->source);
	return 0;
}

static int on_timer(sd_event_source *source, uint64_t usec, void *userdata)
{
	struct fixture *f = userdata;

	f->timer_fired = 1;
	return 0;
}

/* Time sources are one-shot: re-arm and re-enable. */
static void start_timer(struct fixture *f, uint64_t ms)
{
	f->timer_fired = 0;
	cr_assert_eq(sd_event_source_set_time_relative(f->timer, ms * 1000), 0);
	cr_assert_eq(sd_event_source_set_enabled(f->timer, SD_EVENT_ONESHOT), 0);
}

/* One pass of the loop at a time, so that the passes can be counted. */
static void run_until(struct fixture *f, const int *flag)
{
	f->iterations = 0;
	while (!*flag && !f->timer_fired) {
		int r = sd_event_run(f->event, UINT64_MAX);

		cr_assert_geq(r, 0, "sd_event_run: %d", r);
		f->iterations++;
	}
}

/*
 * The library keeps its own descriptors (timer thread, never-ready fd) until
 * exit and sd-event creates a timerfd per clock with the first time source:
 * create them all before taking the descriptor baseline.
 */
static void setup(struct fixture *f)
{
	warm_up_library();

	cr_assert_eq(sd_event_new(&f->event), 0);
	/* Accuracy 1 us: the default lets sd-event delay a timer by 250 ms. */
	cr_assert_eq(sd_event_add_time_relative(f->event, &f->timer, CLOCK_MONOTONIC,
						(BOUND_MS + 1000) * 1000, 1, on_timer, f), 0);
	cr_assert_eq(sd_event_source_set_enabled(f->timer, SD_EVENT_OFF), 0);
	f->baseline = count_fds();
}

/*
 * Watches f->ctx and runs the loop until the callback has run, then lets the
 * loop run QUIET_MS more with only a timer: the callback must not run again,
 * the loop must sleep, not spin, and nothing may be left ready.
 */
static void watch_once(struct fixture *f)
{
	int fd = ctx_fd(f->ctx);

	cr_assert_geq(fd, 0, "ctx_fd: %d", fd);
	cr_assert_eq(count_fds(), f->baseline + 1, "one eventfd per context");
	cr_assert_eq(sd_event_add_io(f->event, &f->source, fd, EPOLLIN, on_done, f), 0);

	start_timer(f, BOUND_MS + 1000);
	run_until(f, &f->fired);
	cr_assert_eq(f->fired, 1, "no callback before the guard timer");
	cr_assert_null(f->source);
	cr_assert_eq(f->revents, EPOLLIN);
	cr_assert_leq(f->iterations, MAX_ITERATIONS, "%lu iterations before firing",
		      f->iterations);

	start_timer(f, QUIET_MS);
	run_until(f, &f->timer_fired);
	cr_assert_eq(f->fired, 1, "callback ran again: watch not removed");
	cr_assert_leq(f->iterations, MAX_ITERATIONS, "%lu iterations in %d ms: busy loop",
		      f->iterations, QUIET_MS);
	cr_assert_eq(sd_event_run(f->event, 0), 0, "something still ready");
}

static void teardown(struct fixture *f)
{
	f->ctx = ctx_unref(f->ctx);
	cr_assert_eq(count_fds(), f->baseline, "descriptor leaked");
	f->timer = sd_event_source_unref(f->timer);
	f->event = sd_event_unref(f->event);
}

LOOP_TESTS(loop_sd_event)

#else /* !HAVE_LIBSYSTEMD */

Test(loop_sd_event, missing)
{
	cr_skip_test("libsystemd (sd-event) not found at configure time (install libsystemd-dev)");
}

#endif
