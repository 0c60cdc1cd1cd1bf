/* SPDX-License-Identifier: MIT */
/*
 * fork(): the child of a process with live deadline contexts, fd sources, a
 * signals context and the library's thread makes and uses contexts of its
 * own (the thread, timerfd and epoll set come back on demand), may release
 * inherited contexts with ctx_unref, and nothing it does reaches the
 * parent's contexts, which share kernel objects (eventfds, the timerfd,
 * epoll set and signal pipe) with it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctx.h"
#include "forking.h"

#define MS 1000000ULL

/*
 * Criterion's runner leaks its own bookkeeping, which LeakSanitizer (ASan
 * builds) reports at exit; the hook is weak in the sanitizer runtime.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libcriterion.so\n";
}

/* In the forked child: report a failed check through the exit status. */
#define child_check(cond)                                                       \
	do {                                                                    \
		if (!(cond))                                                    \
			_exit(__LINE__ % 200 + 1);                              \
	} while (0)

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void expect_child_ok(pid_t pid)
{
	int status;

	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "child died of signal %d", WTERMSIG(status));
	cr_assert_eq(WEXITSTATUS(status), 0, "child check failed at a line ending %d",
		     WEXITSTATUS(status) - 1);
}

/* What a forked child does with contexts of its own: deadlines, fds, signals. */
static void child_uses_new_contexts(void)
{
	ctx_t *t, *c, *f, *s;
	sigset_t set;
	int p[2];
	int64_t start = now_ms();

	/* A short deadline fires: the library thread is back. */
	child_check(ctx_with_timeout(ctx_background(), 20 * MS, &t) == 0);
	child_check(ctx_err(t) == 0);
	child_check(ctx_wait(t) == -ETIMEDOUT);
	child_check(now_ms() - start >= 19);
	/* Fired by the thread, not by the waiter: poll the fd without waiting. */
	child_check(ctx_with_timeout(ctx_background(), 10 * MS, &c) == 0);
	child_check(ctx_fd(c) >= 0);
	for (int i = 0; i < 500 && !readable(ctx_fd(c)); i++)
		usleep(10000);
	child_check(readable(ctx_fd(c)) && ctx_err(c) == -ETIMEDOUT);

	/* An fd source, watched by the child's own epoll set. */
	child_check(pipe(p) == 0);
	child_check(ctx_with_fd(ctx_background(), p[0], EPOLLIN, -EPIPE, &f) == 0);
	child_check(write(p[1], "x", 1) == 1);
	child_check(ctx_wait(f) == -ECANCELED && ctx_cause(f) == -EPIPE);

	/* A signal the parent also watches: the child's own context gets it. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	child_check(ctx_with_signals(ctx_background(), &set, &s) == 0);
	child_check(raise(SIGUSR1) == 0);
	child_check(ctx_wait(s) == -ECANCELED && ctx_cause(s) == -EINTR);

	ctx_unref(s);
	ctx_unref(f);
	ctx_unref(c);
	ctx_unref(t);
	close(p[0]);
	close(p[1]);
}

Test(fork, child_gets_a_working_library, .timeout = 30)
{
	ctx_t *a, *d, *soon, *f, *sig, *val;
	sigset_t set;
	int p[2], fd_a, fd_d, fd_f, fd_sig;
	int64_t start;
	pid_t pid;

	/* The parent: live deadlines, an fd source, a signals context, the thread. */
	cr_assert_eq(ctx_with_cancel(ctx_background(), &a), 0);
	cr_assert_eq(ctx_with_timeout(a, 3600000 * MS, &d), 0);
	cr_assert_eq(ctx_with_value(d, &fd_a, &fd_a, NULL, &val), 0);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(ctx_with_fd(a, p[0], EPOLLIN, 0, &f), 0);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	cr_assert_eq(ctx_with_signals(ctx_background(), &set, &sig), 0);
	fd_a = ctx_fd(a);
	fd_d = ctx_fd(d);
	fd_f = ctx_fd(f);
	fd_sig = ctx_fd(sig);
	cr_assert(fd_a >= 0 && fd_d >= 0 && fd_f >= 0 && fd_sig >= 0);
	start = now_ms();
	cr_assert_eq(ctx_with_timeout(a, 400 * MS, &soon), 0);
	cr_assert(library_thread_idle());

	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		child_uses_new_contexts();
		/* Inherited contexts may be released: that closes our copies only. */
		ctx_unref(val);
		ctx_unref(soon);
		ctx_unref(sig);
		ctx_unref(f);
		ctx_unref(d);
		child_check(fcntl(fd_d, F_GETFD) == -1 && errno == EBADF);
		child_check(fcntl(fd_f, F_GETFD) == -1 && errno == EBADF);
		child_check(fcntl(fd_sig, F_GETFD) == -1 && errno == EBADF);
		ctx_unref(a);
		child_check(fcntl(fd_a, F_GETFD) == -1 && errno == EBADF);
		_exit(0);
	}
	expect_child_ok(pid);

	/* Nothing the child did reached the parent's contexts. */
	cr_assert(!readable(fd_a) && !readable(fd_d) && !readable(fd_f) && !readable(fd_sig));
	cr_assert_eq(ctx_err(a), 0);
	cr_assert_eq(ctx_err(d), 0);
	cr_assert_eq(ctx_err(f), 0);
	cr_assert_eq(ctx_err(sig), 0);
	/* The parent's own thread, timer and watches still work. */
	cr_assert_eq(ctx_wait(soon), -ETIMEDOUT);
	cr_assert_geq(now_ms() - start, 399);
	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert_eq(ctx_wait(f), -ECANCELED);
	cr_assert(readable(fd_f));
	cr_assert_eq(raise(SIGUSR1), 0);
	cr_assert_eq(ctx_wait(sig), -ECANCELED);
	cr_assert_eq(ctx_cause(sig), -EINTR);
	cr_assert(!readable(fd_a) && !readable(fd_d));

	ctx_unref(val);
	ctx_unref(soon);
	ctx_unref(sig);
	ctx_unref(f);
	ctx_unref(d);
	ctx_unref(a);
	close(p[0]);
	close(p[1]);
}

Test(fork, child_of_a_process_without_the_thread, .timeout = 30)
{
	ctx_t *a;
	pid_t pid;

	/* Only cancel contexts so far: the child is the first to need the thread. */
	cr_assert_eq(ctx_with_cancel(ctx_background(), &a), 0);
	cr_assert_geq(ctx_fd(a), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		child_uses_new_contexts();
		ctx_unref(a);
		_exit(0);
	}
	expect_child_ok(pid);
	cr_assert(!readable(ctx_fd(a)));
	cr_assert_eq(ctx_cancel(a), 0);
	cr_assert(readable(ctx_fd(a)));
	ctx_unref(a);
}

/*
 * fork() while another thread keeps the library busy (timers armed and
 * firing, contexts cancelled): the atfork handlers must leave the child a
 * consistent library, never a lock held by a thread that does not exist.
 */
static atomic_bool stop_churn;

static void *churn(void *arg)
{
	while (!atomic_load(&stop_churn)) {
		ctx_t *c, *t;

		if (ctx_with_cancel(ctx_background(), &c) || ctx_with_timeout(c, 200000, &t))
			abort();
		if (ctx_fd(t) < 0)
			abort();
		if (ctx_wait(t) != -ETIMEDOUT)
			abort();
		ctx_cancel(c);
		ctx_unref(t);
		ctx_unref(c);
	}
	return NULL;
}

Test(fork, fork_during_timer_churn, .timeout = 60)
{
	pthread_t th;

#if defined(__SANITIZE_ADDRESS__)
	/* Here the churning thread allocates at every fork: see forking.h. */
	cr_skip_test("GCC's ASan does not lock its allocator across fork()");
#endif
	cr_assert_eq(pthread_create(&th, NULL, churn, NULL), 0);
	for (int i = 0; i < 20; i++) {
		pid_t pid;

		usleep(2000);
		pid = fork();
		cr_assert_neq(pid, -1);
		if (pid == 0) {
			ctx_t *t;

			/* The child's thread fires it: no waiter does. */
			child_check(ctx_with_timeout(ctx_background(), 5 * MS, &t) == 0);
			child_check(ctx_fd(t) >= 0);
			for (int j = 0; j < 500 && !readable(ctx_fd(t)); j++)
				usleep(10000);
			child_check(ctx_err(t) == -ETIMEDOUT);
			ctx_unref(t);
			_exit(0);
		}
		expect_child_ok(pid);
	}
	atomic_store(&stop_churn, true);
	cr_assert_eq(pthread_join(th, NULL), 0);
}

/*
 * fork() from an after-function the library thread runs: the child is a
 * copy of the library thread, inside a cancel, with none of the library's
 * threads. It must get a working library (its waits may block: it is not
 * the library's thread any more) and an inherited context it releases
 * must be freed, its done fd closed, whatever references the parent's
 * library thread held. The child reports a bitmask of failed checks in its
 * exit status and never returns into the library.
 */
enum {
	BAD_SLEEP = 1,    /* ctx_sleep(background, 1 ms) did not return 0 */
	BAD_DEADLINE = 2, /* a new 20 ms timeout did not end ctx_wait with -ETIMEDOUT */
	BAD_FD = 4,       /* the released context's done fd is still open */
	BAD_CHILD_FD = 8, /* ... and its cancelled child's */
};

struct forker {
	ctx_t *ctx, *child; /* inherited: the child drops our references */
	int fd, child_fd;
	pid_t pid;
	sem_t forked, release;
	bool hold; /* the parent keeps the library thread here until released */
};

static int child_checks(struct forker *f)
{
	int bad = 0;
	ctx_t *t = NULL;

	if (ctx_sleep(ctx_background(), 1 * MS) != 0)
		bad |= BAD_SLEEP;
	if (ctx_with_timeout(ctx_background(), 20 * MS, &t) != 0 || ctx_wait(t) != -ETIMEDOUT)
		bad |= BAD_DEADLINE;
	ctx_unref(t);
	f->child = ctx_unref(f->child);
	f->ctx = ctx_unref(f->ctx);
	if (!(fcntl(f->fd, F_GETFD) == -1 && errno == EBADF))
		bad |= BAD_FD;
	if (f->child_fd >= 0 && !(fcntl(f->child_fd, F_GETFD) == -1 && errno == EBADF))
		bad |= BAD_CHILD_FD;
	return bad;
}

static void fork_in_after_fn(void *arg)
{
	struct forker *f = arg;
	pid_t pid = fork();

	if (pid == 0)
		_exit(child_checks(f));
	f->pid = pid;
	sem_post(&f->forked);
	if (f->hold)
		sem_wait(&f->release);
}

static void expect_child_bits(pid_t pid)
{
	int status;

	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "child died of signal %d", WTERMSIG(status));
	cr_assert_eq(WEXITSTATUS(status), 0,
		     "child checks failed: %#x (1 sleep, 2 new deadline, 4 fd, 8 child's fd)",
		     WEXITSTATUS(status));
}

Test(fork, fork_from_library_thread_after_func, .timeout = 30)
{
	static struct forker f = { .child_fd = -1 };
	struct pollfd pfd;

	sem_init(&f.forked, 0, 0);
	cr_assert_eq(ctx_with_timeout(ctx_background(), 10 * MS, &f.ctx), 0);
	f.fd = ctx_fd(f.ctx);
	cr_assert_geq(f.fd, 0);
	cr_assert_eq(ctx_after_func(f.ctx, fork_in_after_fn, &f, NULL), 0);
	/* Not ctx_wait: the library thread, not this one, must fire it. */
	pfd = (struct pollfd){ .fd = f.fd, .events = POLLIN };
	cr_assert_eq(poll(&pfd, 1, 10000), 1);
	cr_assert_eq(sem_wait(&f.forked), 0);
	cr_assert_gt(f.pid, 0);
	expect_child_bits(f.pid);
	cr_assert_eq(ctx_err(f.ctx), -ETIMEDOUT);
	ctx_unref(f.ctx);
}

/*
 * The same from a user thread, while the library thread is held inside the
 * cancel of a deadline (its after-function waits on a semaphore): the
 * child's main code releases the inherited context and its child.
 */
static void hold_in_after_fn(void *arg)
{
	struct forker *f = arg;

	sem_post(&f->forked);
	sem_wait(&f->release);
}

Test(fork, fork_while_library_thread_cancels, .timeout = 30)
{
	static struct forker f;
	pid_t pid;

	sem_init(&f.forked, 0, 0);
	sem_init(&f.release, 0, 0);
	cr_assert_eq(ctx_with_timeout(ctx_background(), 10 * MS, &f.ctx), 0);
	cr_assert_eq(ctx_with_cancel(f.ctx, &f.child), 0);
	f.fd = ctx_fd(f.ctx);
	f.child_fd = ctx_fd(f.child);
	cr_assert(f.fd >= 0 && f.child_fd >= 0);
	cr_assert_eq(ctx_after_func(f.ctx, hold_in_after_fn, &f, NULL), 0);
	cr_assert_eq(sem_wait(&f.forked), 0);
	/* Held in the after-function: it allocates nothing now (forking.h). */
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0)
		_exit(child_checks(&f));
	sem_post(&f.release);
	expect_child_bits(pid);
	cr_assert_eq(ctx_err(f.ctx), -ETIMEDOUT);
	cr_assert_eq(ctx_err(f.child), -ETIMEDOUT);
	ctx_unref(f.child);
	ctx_unref(f.ctx);
}

/*
 * A child forked by an after-function the library thread runs, which
 * returns from that function: there is no library thread to go back to in
 * the child, so it ends with status 0 (_exit), instead of running on as a
 * copy of the library thread.
 */
static void fork_and_return(void *arg)
{
	pid_t *pid = arg;

	*pid = fork();
}

static int wait_child_bounded(pid_t pid, int *status)
{
	for (int i = 0; i < 10000; i++) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r != 0)
			return r;
		usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return 0;
}

Test(fork, child_returning_from_library_after_fn_exits, .timeout = 30)
{
	static pid_t pid = -1;
	ctx_t *c = NULL;
	struct pollfd pfd;
	int status;

	cr_assert_eq(ctx_with_timeout(ctx_background(), 10 * MS, &c), 0);
	cr_assert_eq(ctx_after_func(c, fork_and_return, &pid, NULL), 0);
	pfd = (struct pollfd){ .fd = ctx_fd(c), .events = POLLIN };
	cr_assert_eq(poll(&pfd, 1, 10000), 1);
	for (int i = 0; i < 10000 && pid < 0; i++)
		usleep(1000);
	cr_assert_gt(pid, 0, "the after-function did not fork");
	cr_assert_eq(wait_child_bounded(pid, &status), pid,
		     "the child ran on as a copy of the library thread (killed after 10 s)");
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
	ctx_unref(c);
}

/*
 * A child forked by an after-function that ctx_cancel runs in a user thread
 * goes on from ctx_cancel, but never with the parent's cancel: the
 * after-functions still to run after the one that forked run in the
 * parent only. Functions run in the reverse order of registration, so
 * `report` (registered first) runs after `fork_and_return`.
 */
static int report_pipe[2];

static void report(void *arg)
{
	pid_t me = getpid();

	(void)arg;
	cr_assert_eq(write(report_pipe[1], &me, sizeof(me)), (ssize_t)sizeof(me));
}

Test(fork, child_of_user_after_fn_leaves_the_rest_to_the_parent, .timeout = 30)
{
	static pid_t pid = -1;
	ctx_t *c = NULL;
	pid_t ran[4];
	ssize_t n;
	int status;

	cr_assert_eq(pipe2(report_pipe, O_NONBLOCK), 0);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_eq(ctx_after_func(c, report, NULL, NULL), 0);
	cr_assert_eq(ctx_after_func(c, fork_and_return, &pid, NULL), 0);
	cr_assert(library_thread_idle());
	cr_assert_eq(ctx_cancel(c), 0);
	if (pid == 0) {
		/* The child: back from ctx_cancel, it may release what it holds. */
		ctx_unref(c);
		_exit(0);
	}
	cr_assert_gt(pid, 0);
	cr_assert_eq(wait_child_bounded(pid, &status), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
	n = read(report_pipe[0], ran, sizeof(ran));
	cr_assert_eq(n, (ssize_t)sizeof(pid_t), "the rest of the cancel ran %zd times",
		     n / (ssize_t)sizeof(pid_t));
	cr_assert_eq(ran[0], getpid(), "the rest of the cancel ran in the child");
	ctx_unref(c);
	close(report_pipe[0]);
	close(report_pipe[1]);
}
