/* SPDX-License-Identifier: MIT */
/*
 * libctx inside a libevent loop: a one-shot EV_READ event (no EV_PERSIST)
 * on ctx_fd() fires once when the context is done and leaves the base
 * empty (a done fd stays readable, so a persistent event would spin).
 */
#include <criterion/criterion.h>

#ifdef HAVE_LIBEVENT

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <event2/event.h>

#include <ctx.h>

#include "loop-common.h"

struct fixture {
	struct event_base *base;
	struct event *timer;	/* safety stop, then the quiet period */
	int timer_fired;
	unsigned long iterations;
	int baseline;

	ctx_t *ctx;
	struct event *ev;
	int fired;		/* callback runs */
	short what;		/* the callback's event flags */
	int err;		/* ctx_err() as the callback saw it */
	uint64_t fired_ns;
};

/*
 * The idiom under test: a one-shot event is already removed when its
 * callback runs, so the callback only notes the result and frees it.
 */
static void on_done(evutil_socket_t fd, short what, void *arg)
{
	struct fixture *f = arg;

	f->fired++;
	f->fired_ns = now_ns();
	f->what = what;
	f->err = ctx_err(f->ctx);
	event_free(f->ev);
	f->ev = NULL;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct fixture *f = arg;

	f->timer_fired = 1;
}

static void start_timer(struct fixture *f, unsigned long ms)
{
	struct timeval tv = { ms / 1000, ms % 1000 * 1000 };

	f->timer_fired = 0;
	cr_assert_eq(evtimer_add(f->timer, &tv), 0);
}

/* One pass of the loop at a time, so that the passes can be counted. */
static void run_until(struct fixture *f, const int *flag)
{
	f->iterations = 0;
	while (!*flag && !f->timer_fired) {
		cr_assert_eq(event_base_loop(f->base, EVLOOP_ONCE), 0);
		f->iterations++;
	}
}

/*
 * The library keeps its own descriptors (timer thread, never-ready fd) until
 * exit: create them before taking the descriptor baseline.
 */
static void setup(struct fixture *f)
{
	warm_up_library();

	f->base = event_base_new();
	cr_assert_not_null(f->base);
	f->timer = evtimer_new(f->base, on_timer, f);
	cr_assert_not_null(f->timer);
	f->baseline = count_fds();
}

/*
 * Watches f->ctx and runs the loop until the callback has run, then lets the
 * loop run QUIET_MS more with only a timer: the callback must not run again,
 * the loop must sleep, not spin, and nothing may be left in the base.
 */
static void watch_once(struct fixture *f)
{
	int fd = ctx_fd(f->ctx);

	cr_assert_geq(fd, 0, "ctx_fd: %d", fd);
	cr_assert_eq(count_fds(), f->baseline + 1, "one eventfd per context");
	f->ev = event_new(f->base, fd, EV_READ, on_done, f);
	cr_assert_not_null(f->ev);
	cr_assert_eq(event_add(f->ev, NULL), 0);

	start_timer(f, BOUND_MS + 1000);
	run_until(f, &f->fired);
	cr_assert_eq(f->fired, 1, "no callback before the guard timer");
	cr_assert_eq(f->what, EV_READ);
	cr_assert_leq(f->iterations, MAX_ITERATIONS, "%lu iterations before firing",
		      f->iterations);
	cr_assert_eq(event_del(f->timer), 0);

	start_timer(f, QUIET_MS);
	run_until(f, &f->timer_fired);
	cr_assert_eq(f->fired, 1, "callback ran again: watch not removed");
	cr_assert_leq(f->iterations, MAX_ITERATIONS, "%lu iterations in %d ms: busy loop",
		      f->iterations, QUIET_MS);
	cr_assert_eq(event_base_get_num_events(f->base, EVENT_BASE_COUNT_ADDED), 0,
		     "events left in the base");
}

static void teardown(struct fixture *f)
{
	f->ctx = ctx_unref(f->ctx);
	cr_assert_eq(count_fds(), f->baseline, "descriptor leaked");
	event_free(f->timer);
	event_base_free(f->base);
}

LOOP_TESTS(loop_event)

/*
 * A merged context (ctx_with_any) is watched like any other: cancelling its
 * second parent from another thread fires the event once. The merge opens
 * no descriptor of its own: watch_once() still sees one eventfd, the
 * merged context's.
 */
Test(loop_event, merged_cancelled_through_parent, .timeout = 10)
{
	struct fixture f = { 0 };
	ctx_t *parents[2];
	struct canceller c;
	pthread_t thread;

	setup(&f);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &parents[0]), 0);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &parents[1]), 0);
	cr_assert_eq(ctx_with_any(parents, 2, &f.ctx), 0);
	c.ctx = parents[1];
	cr_assert_eq(pthread_create(&thread, NULL, cancel_later, &c), 0);
	watch_once(&f);
	cr_assert_eq(pthread_join(thread, NULL), 0);
	cr_assert_eq(c.ret, 0);
	cr_assert_eq(f.err, -ECANCELED);
	cr_assert_eq(ctx_any_index(f.ctx), 1);
	cr_assert_eq(ctx_err(parents[0]), 0, "the other parent was cancelled too");
	cr_assert_geq(f.fired_ns, c.at_ns, "fired before ctx_cancel()");
	cr_assert_lt(f.fired_ns - c.at_ns, BOUND_NS);
	teardown(&f);
	ctx_unref(parents[0]);
	ctx_unref(parents[1]);
}

#else /* !HAVE_LIBEVENT */

Test(loop_event, missing)
{
	cr_skip_test("libevent not found at configure time (install libevent-dev)");
}

#endif
