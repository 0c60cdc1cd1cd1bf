/* SPDX-License-Identifier: MIT */
/* ctx_wait, ctx_sleep, ctx_poll. */
#include <semaphore.h>
#include <signal.h>
#include "common.h"
#include "blocker.h"

TestSuite(wait, .init = test_setup);

struct delayed {
	ctx_t *ctx;
	int fd;
	unsigned int ms;
	int cause;
};

static void *cancel_later(void *arg)
{
	struct delayed *d = arg;

	sleep_ms(d->ms);
	if (d->ctx)
		ctx_cancel_cause(d->ctx, d->cause);
	if (d->fd >= 0 && write(d->fd, "x", 1) != 1)
		abort();
	return NULL;
}

static pthread_t later(struct delayed *d)
{
	pthread_t t;

	cr_assert_eq(pthread_create(&t, NULL, cancel_later, d), 0);
	return t;
}

Test(wait, wait_returns_err, .timeout = 10)
{
	ctx_t *c = NULL, *v = NULL;
	static const char key;
	struct delayed d = { .fd = -1, .ms = 50, .cause = 6 };
	uint64_t t0 = now_ns();
	pthread_t t;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_eq(ctx_with_value(c, &key, NULL, NULL, &v), 0);
	d.ctx = c;
	t = later(&d);
	cr_assert_eq(ctx_wait(v), -ECANCELED, "a value context waits on its ancestor");
	cr_assert_geq(now_ns() - t0, 50 * NSEC_PER_MSEC, "returned before the cancel");
	cr_assert_eq(ctx_cause(v), 6);
	pthread_join(t, NULL);
	cr_assert_eq(ctx_wait(c), -ECANCELED, "already done: at once");
	ctx_unref(v);
	ctx_unref(c);
	check_fds();
}

Test(wait, wait_deadline, .timeout = 10)
{
	ctx_t *c = NULL;
	struct timespec d;

	cr_assert_eq(ctx_with_timeout_cause(ctx_background(), 40 * NSEC_PER_MSEC, 3, &c), 0);
	cr_assert(ctx_deadline(c, &d));
	cr_assert_eq(ctx_wait(c), -ETIMEDOUT);
	cr_assert_geq(now_ns(), ns_from_ts(&d));
	cr_assert_eq(ctx_err(c), -ETIMEDOUT);
	cr_assert_eq(ctx_cause(c), 3);
	ctx_unref(c);
	check_fds();
}

static atomic_bool returned;

static void *wait_forever(void *arg)
{
	ctx_wait(arg);
	atomic_store(&returned, true);
	return NULL;
}

Test(wait, wait_never_done_blocks, .timeout = 10)
{
	ctx_t *w = NULL, *c = NULL;
	pthread_t t1, t2;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_eq(ctx_without_cancel(c, &w), 0);
	cr_assert_eq(ctx_cancel(c), 0);
	atomic_store(&returned, false);
	cr_assert_eq(pthread_create(&t1, NULL, wait_forever, ctx_background()), 0);
	cr_assert_eq(pthread_create(&t2, NULL, wait_forever, w), 0);
	sleep_ms(300);
	cr_assert_not(atomic_load(&returned), "ctx_wait on a never-done context returned");
	ctx_unref(c);
	check_fds();
	/* The waiters stay blocked; the test process ends with them. */
	pthread_detach(t1);
	pthread_detach(t2);
}

Test(wait, sleep_full_and_interrupted, .timeout = 10)
{
	ctx_t *c = NULL, *d = NULL, *done = NULL, *far = NULL;
	struct delayed dl = { .fd = -1, .ms = 50, .cause = 0 };
	uint64_t t0;
	pthread_t t;

	t0 = now_ns();
	cr_assert_eq(ctx_sleep(ctx_background(), 30 * NSEC_PER_MSEC), 0);
	cr_assert_geq(now_ns() - t0, 30 * NSEC_PER_MSEC, "slept less than asked");
	cr_assert_eq(ctx_sleep(ctx_background(), 0), 0);

	cr_assert_eq(ctx_with_timeout(ctx_background(), 10 * NSEC_PER_SEC, &far), 0);
	t0 = now_ns();
	cr_assert_eq(ctx_sleep(far, 20 * NSEC_PER_MSEC), 0, "sleep ends before the deadline");
	cr_assert_geq(now_ns() - t0, 20 * NSEC_PER_MSEC);
	cr_assert_eq(ctx_err(far), 0);

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	dl.ctx = c;
	t = later(&dl);
	t0 = now_ns();
	cr_assert_eq(ctx_sleep(c, 10 * NSEC_PER_SEC), -ECANCELED);
	cr_assert_lt(now_ns() - t0, 5 * NSEC_PER_SEC, "the cancel did not wake the sleep");
	pthread_join(t, NULL);

	cr_assert_eq(ctx_with_timeout(ctx_background(), 30 * NSEC_PER_MSEC, &d), 0);
	cr_assert_eq(ctx_sleep(d, UINT64_MAX), -ETIMEDOUT, "a huge sleep is clamped");

	cr_assert_eq(ctx_with_cancel(ctx_background(), &done), 0);
	cr_assert_eq(ctx_cancel(done), 0);
	t0 = now_ns();
	cr_assert_eq(ctx_sleep(done, 10 * NSEC_PER_SEC), -ECANCELED);
	cr_assert_lt(now_ns() - t0, NSEC_PER_SEC);
	ctx_unref(c);
	ctx_unref(d);
	ctx_unref(done);
	ctx_unref(far);
	check_fds();
}

Test(wait, poll_fd_ready, .timeout = 10)
{
	int p[2], r;
	ctx_t *c = NULL;
	struct delayed dl = { .ms = 40 };
	pthread_t t;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	r = ctx_poll(c, p[1], POLLOUT);
	cr_assert_gt(r, 0);
	cr_assert(r & POLLOUT, "revents %#x", r);

	dl.fd = p[1];
	t = later(&dl);
	r = ctx_poll(c, p[0], POLLIN);
	cr_assert_gt(r, 0, "ctx_poll: %d", r);
	cr_assert(r & POLLIN, "revents %#x", r);
	pthread_join(t, NULL);
	r = ctx_poll(ctx_background(), p[0], POLLIN);
	cr_assert(r > 0 && (r & POLLIN), "revents %#x", r);
	close(p[1]);
	{
		char b;

		cr_assert_eq(read(p[0], &b, 1), 1);
	}
	r = ctx_poll(c, p[0], POLLIN);
	cr_assert(r > 0 && (r & POLLHUP), "a hang-up is reported: %#x", r);
	close(p[0]);
	ctx_unref(c);
	check_fds();
}

Test(wait, poll_ctx_done_first, .timeout = 10)
{
	int p[2];
	ctx_t *c = NULL, *d = NULL;
	struct delayed dl = { .fd = -1, .ms = 40, .cause = 12 };
	struct timespec ts;
	pthread_t t;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	dl.ctx = c;
	t = later(&dl);
	cr_assert_eq(ctx_poll(c, p[0], POLLIN), -ECANCELED);
	pthread_join(t, NULL);

	cr_assert_eq(ctx_with_timeout(ctx_background(), 40 * NSEC_PER_MSEC, &d), 0);
	cr_assert(ctx_deadline(d, &ts));
	cr_assert_eq(ctx_poll(d, p[0], POLLIN), -ETIMEDOUT, "ctx_poll honours the deadline");
	cr_assert_geq(now_ns(), ns_from_ts(&ts));
	cr_assert_eq(ctx_err(d), -ETIMEDOUT);
	ctx_unref(c);
	ctx_unref(d);
	close(p[0]);
	close(p[1]);
	check_fds();
}

Test(wait, poll_both_ready_returns_ctx_error, .timeout = 10)
{
	int p[2];
	ctx_t *c = NULL, *d = NULL;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_eq(ctx_cancel(c), 0);
	cr_assert_eq(ctx_poll(c, p[0], POLLIN), -ECANCELED);
	cr_assert_eq(ctx_poll(c, p[1], POLLOUT), -ECANCELED);
	cr_assert_eq(ctx_with_timeout(ctx_background(), 0, &d), 0);
	cr_assert_eq(ctx_poll(d, p[0], POLLIN), -ETIMEDOUT);
	ctx_unref(c);
	ctx_unref(d);
	close(p[0]);
	close(p[1]);
	check_fds();
}

Test(wait, poll_errors, .timeout = 10)
{
	cr_assert_eq(ctx_poll(ctx_background(), -1, POLLIN), -EBADF);
	cr_assert_eq(ctx_poll(ctx_background(), INT_MIN, POLLIN), -EBADF);
	cr_assert_eq(ctx_poll(NULL, 0, POLLIN), -EINVAL);
	cr_assert_eq(ctx_wait(NULL), -EINVAL);
	cr_assert_eq(ctx_sleep(NULL, 1), -EINVAL);
	check_fds();
}

/* EINTR: signals without SA_RESTART hammer the waiting thread. */
static atomic_int signals_seen;

static void on_signal(int sig)
{
	(void)sig;
	atomic_fetch_add(&signals_seen, 1);
}

struct hammer {
	pthread_t target;
	atomic_bool stop;
};

static void *hammer_thread(void *arg)
{
	struct hammer *h = arg;

	while (!atomic_load(&h->stop)) {
		pthread_kill(h->target, SIGUSR1);
		sleep_ns(200 * 1000);
	}
	return NULL;
}

static void start_hammer(struct hammer *h, pthread_t *t)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = 0; /* no SA_RESTART: blocking calls fail with EINTR */
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	atomic_store(&signals_seen, 0);
	h->target = pthread_self();
	atomic_store(&h->stop, false);
	cr_assert_eq(pthread_create(t, NULL, hammer_thread, h), 0);
}

static void stop_hammer(struct hammer *h, pthread_t t)
{
	atomic_store(&h->stop, true);
	pthread_join(t, NULL);
	signal(SIGUSR1, SIG_IGN);
	cr_assert_gt(atomic_load(&signals_seen), 10, "the signals did not arrive");
}

Test(wait, eintr_is_retried, .timeout = 20)
{
	struct hammer h;
	pthread_t t, canc;
	ctx_t *d = NULL, *c = NULL;
	int p[2], r;
	uint64_t t0;
	struct delayed dl = { .fd = -1, .ms = 100, .cause = 0 };

	cr_assert_eq(pipe(p), 0);
	start_hammer(&h, &t);

	t0 = now_ns();
	cr_assert_eq(ctx_sleep(ctx_background(), 150 * NSEC_PER_MSEC), 0);
	cr_assert_geq(now_ns() - t0, 150 * NSEC_PER_MSEC, "sleep cut short by a signal");

	cr_assert_eq(ctx_with_timeout(ctx_background(), 100 * NSEC_PER_MSEC, &d), 0);
	cr_assert_eq(ctx_wait(d), -ETIMEDOUT);
	ctx_unref(d);

	cr_assert_eq(ctx_with_timeout(ctx_background(), 100 * NSEC_PER_MSEC, &d), 0);
	cr_assert_eq(ctx_poll(d, p[0], POLLIN), -ETIMEDOUT);
	ctx_unref(d);

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	dl.ctx = c;
	canc = later(&dl);
	cr_assert_eq(ctx_wait(c), -ECANCELED);
	pthread_join(canc, NULL);
	ctx_unref(c);

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	dl.ctx = NULL;
	dl.fd = p[1];
	canc = later(&dl);
	r = ctx_poll(c, p[0], POLLIN);
	cr_assert(r > 0 && (r & POLLIN), "ctx_poll: %d", r);
	pthread_join(canc, NULL);
	ctx_unref(c);

	stop_hammer(&h, t);
	close(p[0]);
	close(p[1]);
	check_fds();
}

/*
 * A waiter never runs someone else's after-functions: while the library's
 * thread is held (blocker.h) past a deadline, ctx_wait/ctx_sleep/ctx_poll
 * on that deadline's context block until the thread is released and fires
 * it, so its after-function runs in the library's thread; the result still
 * agrees with ctx_err. The hold is released by a helper thread 300 ms
 * later, long after the 10 ms deadline.
 */
static atomic_int after_tid;

static void record_tid(void *arg)
{
	(void)arg;
	atomic_store(&after_tid, gettid());
}

enum wait_kind { KIND_WAIT, KIND_SLEEP, KIND_POLL };

static void deadline_left_to_library_thread(enum wait_kind kind)
{
	static struct blocker b;
	ctx_t *c = NULL;
	int p[2], r;

	cr_assert_eq(pipe(p), 0);
	atomic_store(&after_tid, 0);
	cr_assert(blocker_start(&b), "the library thread never ran the blocker");
	cr_assert_eq(ctx_with_timeout_cause(ctx_background(), 10 * NSEC_PER_MSEC, 808, &c), 0);
	cr_assert_eq(ctx_after_func(c, record_tid, NULL, NULL), 0);
	cr_assert(blocker_release_later(&b, 300));
	switch (kind) {
	case KIND_WAIT:
		r = ctx_wait(c);
		break;
	case KIND_SLEEP:
		r = ctx_sleep(c, 10 * NSEC_PER_SEC);
		break;
	default:
		r = ctx_poll(c, p[0], POLLIN);
		break;
	}
	cr_assert_eq(r, -ETIMEDOUT);
	cr_assert_eq(ctx_err(c), r, "result and ctx_err agree");
	cr_assert_eq(ctx_cause(c), 808, "with the deadline's cause");
	assert_readable(ctx_fd(c));
	cr_assert(blocker_end(&b));
	/* The library's thread makes c done before it runs c's functions. */
	for (int i = 0; i < 5000 && !atomic_load(&after_tid); i++)
		sleep_ms(1);
	cr_assert_neq(atomic_load(&after_tid), gettid(),
		      "the waiter ran the deadline's after-function itself");
	cr_assert_eq(atomic_load(&after_tid), atomic_load(&b.tid),
		     "the after-function ran in thread %d, not the library's %d",
		     atomic_load(&after_tid), atomic_load(&b.tid));
	ctx_unref(c);
	close(p[0]);
	close(p[1]);
	check_fds();
}

Test(wait, deadline_left_to_library_thread_wait, .timeout = 20)
{
	deadline_left_to_library_thread(KIND_WAIT);
}

Test(wait, deadline_left_to_library_thread_sleep, .timeout = 20)
{
	deadline_left_to_library_thread(KIND_SLEEP);
}

Test(wait, deadline_left_to_library_thread_poll, .timeout = 20)
{
	deadline_left_to_library_thread(KIND_POLL);
}

/* From the library's thread the waiting functions refuse to block. */
struct edeadlk {
	ctx_t *live;
	int pipe_rd;
	int wait_r, sleep_r, poll_r;
	sem_t done;
};

static void edeadlk_fn(void *arg)
{
	struct edeadlk *e = arg;

	e->wait_r = ctx_wait(e->live);
	e->sleep_r = ctx_sleep(e->live, 10 * NSEC_PER_SEC);
	e->poll_r = ctx_poll(e->live, e->pipe_rd, POLLIN);
	sem_post(&e->done);
}

static void check_edeadlk(bool from_fd_source)
{
	struct edeadlk e = { 0 };
	ctx_t *trigger = NULL;
	int p[2], q[2];

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(pipe(q), 0);
	sem_init(&e.done, 0, 0);
	e.pipe_rd = p[0];
	cr_assert_eq(ctx_with_cancel(ctx_background(), &e.live), 0);
	if (from_fd_source)
		cr_assert_eq(ctx_with_fd(ctx_background(), q[0], EPOLLIN, 0, &trigger), 0);
	else
		cr_assert_eq(ctx_with_timeout(ctx_background(), 20 * NSEC_PER_MSEC, &trigger), 0);
	cr_assert_eq(ctx_after_func(trigger, edeadlk_fn, &e, NULL), 0);
	if (from_fd_source)
		cr_assert_eq(write(q[1], "x", 1), 1);
	sem_wait(&e.done);
	cr_assert_eq(e.wait_r, -EDEADLK);
	cr_assert_eq(e.sleep_r, -EDEADLK);
	cr_assert_eq(e.poll_r, -EDEADLK);
	cr_assert_eq(ctx_err(e.live), 0);
	ctx_unref(trigger);
	ctx_unref(e.live);
	sem_destroy(&e.done);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
	check_fds();
}

Test(wait, edeadlk_from_deadline_after_func, .timeout = 10)
{
	check_edeadlk(false);
}

Test(wait, edeadlk_from_fd_source_after_func, .timeout = 10)
{
	check_edeadlk(true);
}
