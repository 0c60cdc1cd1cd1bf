/* SPDX-License-Identifier: MIT */
/* ctx_after_func and ctx_after_stop (Go's AfterFunc). */
#include <semaphore.h>
#include <signal.h>
#include <sys/syscall.h>
#include "common.h"

TestSuite(after, .init = test_setup);

struct rec {
	atomic_int calls;
	pid_t tid;
	int err_inside;
	int cause_inside;
	ctx_t *ctx;
	sem_t ran;
	sigset_t mask;
	char name[32];
};

static pid_t my_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void rec_init(struct rec *r, ctx_t *c)
{
	memset(r, 0, sizeof(*r));
	r->ctx = c;
	sem_init(&r->ran, 0, 0);
}

static void record_fn(void *arg)
{
	struct rec *r = arg;

	r->tid = my_tid();
	if (r->ctx) {
		r->err_inside = ctx_err(r->ctx);
		r->cause_inside = ctx_cause(r->ctx);
	}
	pthread_sigmask(SIG_BLOCK, NULL, &r->mask);
	pthread_getname_np(pthread_self(), r->name, sizeof(r->name));
	atomic_fetch_add(&r->calls, 1);
	sem_post(&r->ran);
}

/* Waits, bounded, for fn to have run. */
static bool ran_within(struct rec *r, unsigned int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (sem_timedwait(&r->ran, &ts) < 0)
		if (errno != EINTR)
			return false;
	return true;
}

struct cancel_job {
	ctx_t *ctx;
	pid_t tid;
};

static void *cancel_thread(void *arg)
{
	struct cancel_job *j = arg;

	j->tid = my_tid();
	ctx_cancel_cause(j->ctx, 70);
	return NULL;
}

Test(after, runs_once_in_cancelling_thread, .timeout = 10)
{
	struct cancel_job j;
	ctx_t *p = NULL, *c = NULL;
	ctx_after_t *h = NULL;
	struct rec r;
	pthread_t t;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &p), 0);
	cr_assert_eq(ctx_with_cancel(p, &c), 0);
	rec_init(&r, c);
	cr_assert_eq(ctx_after_func(c, record_fn, &r, &h), 0);
	cr_assert_not_null(h);
	sleep_ms(20);
	cr_assert_eq(atomic_load(&r.calls), 0, "ran before the context was done");
	/* Cancel the parent from another thread: fn runs there, before cancel returns. */
	j.ctx = p;
	cr_assert_eq(pthread_create(&t, NULL, cancel_thread, &j), 0);
	pthread_join(t, NULL);
	cr_assert_eq(atomic_load(&r.calls), 1, "fn must have run when ctx_cancel returned");
	cr_assert_eq(r.tid, j.tid, "fn runs in the cancelling thread");
	cr_assert_eq(r.err_inside, -ECANCELED, "the context is done when fn runs");
	cr_assert_eq(r.cause_inside, 70);
	cr_assert_eq(ctx_cancel(c), -EALREADY);
	cr_assert_eq(ctx_cancel(p), -EALREADY);
	sleep_ms(20);
	cr_assert_eq(atomic_load(&r.calls), 1, "exactly once");
	cr_assert_not(ctx_after_stop(h), "fn has run: stop returns false");
	ctx_unref(c);
	ctx_unref(p);
	check_fds();
}

Test(after, runs_in_timer_thread_on_deadline, .timeout = 10)
{
	ctx_t *c = NULL;
	ctx_after_t *h = NULL;
	struct rec r;
	char main_name[32];

	cr_assert_eq(ctx_with_timeout_cause(ctx_background(), 20 * NSEC_PER_MSEC, 21, &c), 0);
	rec_init(&r, c);
	cr_assert_eq(ctx_after_func(c, record_fn, &r, &h), 0);
	cr_assert(ran_within(&r, 5000), "fn did not run on the deadline");
	cr_assert_neq(r.tid, my_tid(), "fn runs in the library's thread");
	cr_assert_eq(r.err_inside, -ETIMEDOUT);
	cr_assert_eq(r.cause_inside, 21);
	/* The library's thread blocks every signal it can. */
	{
		const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE,
				     SIGCHLD, SIGALRM, SIGQUIT, SIGWINCH };

		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			cr_assert(sigismember(&r.mask, sigs[i]), "signal %d not blocked", sigs[i]);
		cr_assert(sigismember(&r.mask, SIGRTMIN + 1), "real-time signals not blocked");
	}
	/* And it is named, so it can be told apart in ps/gdb. */
	pthread_getname_np(pthread_self(), main_name, sizeof(main_name));
	cr_assert(r.name[0] && strcmp(r.name, main_name), "thread name '%s'", r.name);
	cr_assert_not(ctx_after_stop(h));
	cr_assert_eq(atomic_load(&r.calls), 1);
	ctx_unref(c);
	check_fds();
}

Test(after, runs_in_library_thread_on_fd_source, .timeout = 10)
{
	ctx_t *c = NULL;
	struct rec r;
	int p[2];

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(ctx_with_fd(ctx_background(), p[0], EPOLLIN, 88, &c), 0);
	rec_init(&r, c);
	cr_assert_eq(ctx_after_func(c, record_fn, &r, NULL), 0);
	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert(ran_within(&r, 5000));
	cr_assert_neq(r.tid, my_tid());
	cr_assert_eq(r.err_inside, -ECANCELED);
	cr_assert_eq(r.cause_inside, 88);
	ctx_unref(c);
	close(p[0]);
	close(p[1]);
	check_fds();
}

Test(after, already_done_runs_before_return, .timeout = 10)
{
	ctx_t *c = NULL;
	ctx_after_t *h = NULL;
	struct rec r;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_eq(ctx_cancel(c), 0);
	rec_init(&r, c);
	cr_assert_eq(ctx_after_func(c, record_fn, &r, &h), 0);
	cr_assert_eq(atomic_load(&r.calls), 1, "ran before ctx_after_func returned");
	cr_assert_eq(r.tid, my_tid());
	cr_assert_not(ctx_after_stop(h));
	ctx_unref(c);
	check_fds();
}

Test(after, stop_true_prevents_fn, .timeout = 10)
{
	ctx_t *c = NULL, *d = NULL;
	ctx_after_t *h = NULL, *hd = NULL;
	struct rec r, rd;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	rec_init(&r, c);
	cr_assert_eq(ctx_after_func(c, record_fn, &r, &h), 0);
	cr_assert(ctx_after_stop(h), "stopped before the context was done");
	cr_assert_eq(ctx_cancel(c), 0);

	cr_assert_eq(ctx_with_timeout(ctx_background(), 20 * NSEC_PER_MSEC, &d), 0);
	rec_init(&rd, d);
	cr_assert_eq(ctx_after_func(d, record_fn, &rd, &hd), 0);
	cr_assert(ctx_after_stop(hd));
	cr_assert_eq(wait_done(d, 5000), -ETIMEDOUT);
	sleep_ms(30);
	cr_assert_eq(atomic_load(&r.calls), 0);
	cr_assert_eq(atomic_load(&rd.calls), 0);
	ctx_unref(c);
	ctx_unref(d);
	check_fds();
}

Test(after, several_functions_each_once, .timeout = 10)
{
	enum { N = 50 };
	ctx_t *c = NULL;
	ctx_after_t *h[N];
	atomic_int calls[N];

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	for (int i = 0; i < N; i++) {
		atomic_init(&calls[i], 0);
		cr_assert_eq(ctx_after_func(c, count_fn, &calls[i], &h[i]), 0);
	}
	for (int i = 0; i < N; i += 2)
		cr_assert(ctx_after_stop(h[i]));
	cr_assert_eq(ctx_cancel(c), 0);
	for (int i = 0; i < N; i++)
		cr_assert_eq(atomic_load(&calls[i]), i % 2, "fn %d ran %d times", i,
			     atomic_load(&calls[i]));
	for (int i = 1; i < N; i += 2)
		cr_assert_not(ctx_after_stop(h[i]));
	ctx_unref(c);
	check_fds();
}

Test(after, null_ret_runs_once, .timeout = 10)
{
	ctx_t *c = NULL;
	atomic_int calls = 0;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_eq(ctx_after_func(c, count_fn, &calls, NULL), 0);
	cr_assert_eq(atomic_load(&calls), 0);
	cr_assert_eq(ctx_cancel(c), 0);
	cr_assert_eq(ctx_cancel(c), -EALREADY);
	cr_assert_eq(atomic_load(&calls), 1);
	ctx_unref(c);
	check_fds();
}

Test(after, never_done_registers_nothing, .timeout = 10)
{
	static const char key;
	ctx_t *c = NULL, *w = NULL, *v = NULL;
	ctx_t *targets[4];
	ctx_after_t *h[4];
	atomic_int calls = 0;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_eq(ctx_without_cancel(c, &w), 0);
	cr_assert_eq(ctx_with_value(ctx_todo(), &key, NULL, NULL, &v), 0);
	targets[0] = ctx_background();
	targets[1] = ctx_todo();
	targets[2] = w;
	targets[3] = v;
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(ctx_after_func(targets[i], count_fn, &calls, &h[i]), 0);
		cr_assert_eq(ctx_after_func(targets[i], count_fn, &calls, NULL), 0);
	}
	cr_assert_eq(ctx_cancel(c), 0);
	for (int i = 0; i < 4; i++)
		cr_assert(ctx_after_stop(h[i]), "never-done context %d: stop is true", i);
	cr_assert_eq(atomic_load(&calls), 0);
	ctx_unref(w);
	ctx_unref(v);
	ctx_unref(c);
	check_fds();
}

Test(after, freed_before_done_never_runs, .timeout = 10)
{
	ctx_t *p = NULL, *c = NULL, *d = NULL;
	ctx_after_t *hc = NULL, *hd = NULL, *hn = NULL;
	atomic_int calls = 0;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &p), 0);
	cr_assert_eq(ctx_with_cancel(p, &c), 0);
	cr_assert_eq(ctx_after_func(c, count_fn, &calls, &hc), 0);
	cr_assert_eq(ctx_after_func(c, count_fn, &calls, NULL), 0);
	ctx_unref(c);
	cr_assert_eq(ctx_cancel(p), 0);

	cr_assert_eq(ctx_with_timeout(ctx_background(), 20 * NSEC_PER_MSEC, &d), 0);
	cr_assert_eq(ctx_after_func(d, count_fn, &calls, &hd), 0);
	ctx_unref(d);
	sleep_ms(60);

	cr_assert_eq(atomic_load(&calls), 0, "fn ran for a freed context");
	/* The handles stay valid after their context is gone. */
	cr_assert(ctx_after_stop(hc));
	cr_assert(ctx_after_stop(hd));

	/* Same for the handle of a context freed without any parent involved. */
	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_eq(ctx_after_func(c, count_fn, &calls, &hn), 0);
	ctx_unref(c);
	cr_assert(ctx_after_stop(hn));
	ctx_unref(p);
	check_fds();
}

Test(after, value_context_freed_before_done_never_runs, .timeout = 10)
{
	static const char key;
	ctx_t *c = NULL, *v = NULL;
	ctx_after_t *h = NULL;
	atomic_int calls = 0;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_eq(ctx_with_value(c, &key, NULL, NULL, &v), 0);
	cr_assert_eq(ctx_after_func(v, count_fn, &calls, &h), 0);
	ctx_unref(v);
	cr_assert_eq(ctx_cancel(c), 0);
	cr_assert_eq(atomic_load(&calls), 0, "the registration did not keep v alive");
	cr_assert(ctx_after_stop(h));
	ctx_unref(c);
	check_fds();
}

Test(after, children_keep_context_alive, .timeout = 10)
{
	ctx_t *p = NULL, *c = NULL, *k = NULL;
	ctx_after_t *h = NULL;
	atomic_int calls = 0;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &p), 0);
	cr_assert_eq(ctx_with_cancel(p, &c), 0);
	cr_assert_eq(ctx_with_cancel(c, &k), 0);
	cr_assert_eq(ctx_after_func(c, count_fn, &calls, &h), 0);
	ctx_unref(c); /* k still holds c */
	cr_assert_eq(ctx_cancel(p), 0);
	cr_assert_eq(atomic_load(&calls), 1);
	cr_assert_not(ctx_after_stop(h));
	ctx_unref(k);
	ctx_unref(p);
	check_fds();
}

/* fn may cancel and free other contexts, and free its own. */
struct busy {
	ctx_t *to_cancel;
	ctx_t *to_free;
	ctx_t *own;
	ctx_t *derived;
	int cancel_r;
	char desc[128];
};

static void busy_fn(void *arg)
{
	struct busy *b = arg;

	b->cancel_r = ctx_cancel_cause(b->to_cancel, 404);
	b->to_free = ctx_unref(b->to_free);
	ctx_describe(b->own, b->desc, sizeof(b->desc));
	ctx_with_cancel(b->own, &b->derived);
	ctx_after_func(b->own, count_fn, &(atomic_int){ 0 }, NULL);
	b->own = ctx_unref(b->own);
}

static void check_busy(bool by_deadline)
{
	static const char key;
	struct busy b = { 0 };
	ctx_t *c = NULL;
	atomic_int freed = 0;

	if (by_deadline)
		cr_assert_eq(ctx_with_timeout(ctx_background(), 20 * NSEC_PER_MSEC, &c), 0);
	else
		cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &b.to_cancel), 0);
	cr_assert_eq(ctx_with_value(ctx_background(), &key, &freed, count_fn, &b.to_free), 0);
	b.own = ctx_ref(c);
	cr_assert_eq(ctx_after_func(c, busy_fn, &b, NULL), 0);
	if (by_deadline)
		cr_assert_eq(wait_done(c, 5000), -ETIMEDOUT);
	else
		cr_assert_eq(ctx_cancel(c), 0);
	for (int i = 0; i < 500 && b.own; i++)
		sleep_ms(10);
	cr_assert_null(b.own, "fn did not finish");
	cr_assert_eq(b.cancel_r, 0);
	cr_assert_eq(ctx_err(b.to_cancel), -ECANCELED);
	cr_assert_eq(ctx_cause(b.to_cancel), 404);
	cr_assert_null(b.to_free);
	cr_assert_eq(atomic_load(&freed), 1, "the value context was freed inside fn");
	cr_assert_not_null(b.derived);
	cr_assert_neq(ctx_err(b.derived), 0, "derived from a done context: born done");
	cr_assert(strstr(b.desc, "background"), "%s", b.desc);
	ctx_unref(b.derived);
	ctx_unref(b.to_cancel);
	ctx_unref(c);
	check_fds();
}

Test(after, fn_may_call_the_library_from_cancel, .timeout = 10)
{
	check_busy(false);
}

Test(after, fn_may_call_the_library_from_timer, .timeout = 10)
{
	check_busy(true);
}

static void free_own(void *arg)
{
	ctx_unref(arg);
}

Test(after, fn_may_free_last_reference_of_its_context, .timeout = 10)
{
	static const char key;
	ctx_t *c = NULL, *v = NULL;
	atomic_int freed = 0;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_eq(ctx_with_value(c, &key, &freed, count_fn, &v), 0);
	cr_assert_eq(ctx_after_func(c, free_own, v, NULL), 0);
	cr_assert_eq(ctx_after_func(v, free_own, c, NULL), 0);
	/* Both last references are dropped by the after-functions. */
	cr_assert_eq(ctx_cancel(c), 0);
	cr_assert_eq(atomic_load(&freed), 1);
	check_fds();
}

/* Every after-function sees the whole subtree already done. */
struct subtree {
	ctx_t *nodes[5];
	int fds[5];
	atomic_int bad;
	atomic_int calls;
};

static void subtree_fn(void *arg)
{
	struct subtree *s = arg;

	for (int i = 0; i < 5; i++) {
		struct pollfd p = { .fd = s->fds[i], .events = POLLIN };

		if (!ctx_err(s->nodes[i]) || poll(&p, 1, 0) != 1)
			atomic_fetch_add(&s->bad, 1);
	}
	atomic_fetch_add(&s->calls, 1);
}

Test(after, fn_sees_whole_subtree_done, .timeout = 10)
{
	struct subtree s = { 0 };
	static const char key;
	ctx_t *v = NULL;

	/* p -> {a -> (v) -> g, b -> d(deadline)} */
	cr_assert_eq(ctx_with_cancel(ctx_background(), &s.nodes[0]), 0);
	cr_assert_eq(ctx_with_cancel(s.nodes[0], &s.nodes[1]), 0);
	cr_assert_eq(ctx_with_value(s.nodes[1], &key, NULL, NULL, &v), 0);
	cr_assert_eq(ctx_with_cancel(v, &s.nodes[2]), 0);
	cr_assert_eq(ctx_with_cancel(s.nodes[0], &s.nodes[3]), 0);
	cr_assert_eq(ctx_with_timeout(s.nodes[3], 3600 * NSEC_PER_SEC, &s.nodes[4]), 0);
	for (int i = 0; i < 5; i++) {
		s.fds[i] = ctx_fd(s.nodes[i]);
		cr_assert_geq(s.fds[i], 0);
		cr_assert_eq(ctx_after_func(s.nodes[i], subtree_fn, &s, NULL), 0);
	}
	cr_assert_eq(ctx_after_func(v, subtree_fn, &s, NULL), 0);
	cr_assert_eq(ctx_cancel(s.nodes[0]), 0);
	cr_assert_eq(atomic_load(&s.calls), 6);
	cr_assert_eq(atomic_load(&s.bad), 0, "an after-function saw a live node");
	ctx_unref(v);
	for (int i = 4; i >= 0; i--)
		ctx_unref(s.nodes[i]);
	check_fds();
}

/* ctx_after_stop never waits for a running fn. */
struct slow {
	sem_t entered, release;
	atomic_bool finished;
};

static void slow_fn(void *arg)
{
	struct slow *s = arg;

	sem_post(&s->entered);
	sem_wait(&s->release);
	atomic_store(&s->finished, true);
}

static void *cancel_plain(void *arg)
{
	ctx_cancel(arg);
	return NULL;
}

Test(after, stop_does_not_wait_for_running_fn, .timeout = 10)
{
	struct slow s;
	ctx_t *c = NULL;
	ctx_after_t *h = NULL;
	pthread_t t;

	sem_init(&s.entered, 0, 0);
	sem_init(&s.release, 0, 0);
	atomic_store(&s.finished, false);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_eq(ctx_after_func(c, slow_fn, &s, &h), 0);
	cr_assert_eq(pthread_create(&t, NULL, cancel_plain, c), 0);
	sem_wait(&s.entered);
	cr_assert_not(ctx_after_stop(h), "fn is running: false, at once");
	cr_assert_not(atomic_load(&s.finished));
	sem_post(&s.release);
	pthread_join(t, NULL);
	cr_assert(atomic_load(&s.finished));
	ctx_unref(c);
	sem_destroy(&s.entered);
	sem_destroy(&s.release);
	check_fds();
}
