/* SPDX-License-Identifier: MIT */
/*
 * ctx_with_signals: contexts cancelled when the process receives a signal
 * (error -ECANCELED, cause -EINTR), the dispositions they install and
 * restore (at once, by the caller's last ctx_unref), descriptors, fork
 * (also a signal reaching a child before the atfork handler ran) and exec,
 * real-time signals, no signal lost behind a full self-pipe, and a refused
 * call that creates nothing.
 */
#include <criterion/criterion.h>
#include <ctx.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blocker.h"
#include "forking.h"

#define NS_PER_MS 1000000ULL

extern char **environ;

static sigset_t set_of(int a, int b)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, a);
	if (b)
		sigaddset(&set, b);
	return set;
}

static ctx_t *watch(int a, int b)
{
	sigset_t set = set_of(a, b);
	ctx_t *c = NULL;

	cr_assert_eq(ctx_with_signals(ctx_background(), &set, &c), 0);
	cr_assert_not_null(c);
	return c;
}

/* Waits at most ms for c to be done (the library thread acts on its own time). */
static int wait_done(ctx_t *c, unsigned int ms)
{
	ctx_t *w;

	cr_assert_eq(ctx_with_timeout(c, ms * NS_PER_MS, &w), 0);
	ctx_wait(w);
	ctx_unref(w);
	return ctx_err(c);
}

static int count_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *d;
	int n = 0;

	cr_assert_not_null(dir);
	while ((d = readdir(dir)))
		if (d->d_name[0] != '.')
			n++;
	closedir(dir);
	return n - 1;
}

static volatile sig_atomic_t handled;

static void count_signal(int signo)
{
	(void)signo;
	handled++;
}

static void set_handler(int signo, void (*fn)(int))
{
	struct sigaction sa = { .sa_handler = fn };

	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(signo, &sa, NULL), 0);
}

static void (*current_handler(int signo))(int)
{
	struct sigaction old;

	cr_assert_eq(sigaction(signo, NULL, &old), 0);
	return old.sa_handler;
}

/*
 * The library thread's done eventfd of a context it cancelled may be closed
 * a moment after the caller's ctx_unref: wait a bounded while for it. The
 * disposition is another matter: the caller's last ctx_unref restores it
 * before it returns (signals/restored_when_unref_returns_*).
 */
static bool fds_become(int want)
{
	for (int i = 0; i < 5000 && count_fds() != want; i++)
		usleep(1000);
	return count_fds() == want;
}

Test(signals, cancelled_by_signal, .timeout = 10)
{
	ctx_t *c = watch(SIGUSR1, 0);
	struct pollfd pfd = { .fd = ctx_fd(c), .events = POLLIN };

	cr_assert_geq(pfd.fd, 0);
	cr_assert_eq(ctx_err(c), 0);
	cr_assert_eq(kill(getpid(), SIGUSR1), 0);
	cr_assert_eq(wait_done(c, 5000), -ECANCELED);
	cr_assert_eq(ctx_cause(c), -EINTR);
	cr_assert_eq(poll(&pfd, 1, 0), 1, "the done fd polls readable");
	cr_assert_eq(ctx_cancel(c), -EALREADY);
	ctx_unref(c);
}

Test(signals, only_the_watched_signals, .timeout = 10)
{
	ctx_t *usr1 = watch(SIGUSR1, 0), *usr2 = watch(SIGUSR2, 0);

	kill(getpid(), SIGUSR2);
	cr_assert_eq(wait_done(usr2, 5000), -ECANCELED);
	/* usr2 fired through the same pipe and thread: usr1 would have too. */
	cr_assert_eq(wait_done(usr1, 100), 0);
	ctx_unref(usr1);
	ctx_unref(usr2);
}

Test(signals, several_contexts_one_signal, .timeout = 10)
{
	ctx_t *a = watch(SIGUSR1, 0), *b = watch(SIGUSR1, 0), *both = watch(SIGUSR1, SIGUSR2);

	kill(getpid(), SIGUSR1);
	cr_assert_eq(wait_done(a, 5000), -ECANCELED);
	cr_assert_eq(wait_done(b, 5000), -ECANCELED);
	cr_assert_eq(wait_done(both, 5000), -ECANCELED);
	cr_assert_eq(ctx_cause(a), -EINTR);
	cr_assert_eq(ctx_cause(b), -EINTR);
	cr_assert_eq(ctx_cause(both), -EINTR);
	ctx_unref(a);
	ctx_unref(b);
	ctx_unref(both);
}

Test(signals, children_inherit, .timeout = 10)
{
	ctx_t *c = watch(SIGHUP, 0), *child, *grandchild;

	cr_assert_eq(ctx_with_cancel(c, &child), 0);
	cr_assert_eq(ctx_with_timeout(child, 60000 * NS_PER_MS, &grandchild), 0);
	kill(getpid(), SIGHUP);
	cr_assert_eq(wait_done(grandchild, 5000), -ECANCELED);
	cr_assert_eq(ctx_cause(grandchild), -EINTR);
	cr_assert_eq(ctx_err(child), -ECANCELED);
	cr_assert_eq(ctx_cause(child), -EINTR);
	ctx_unref(grandchild);
	ctx_unref(child);
	ctx_unref(c);
}

Test(signals, child_of_done_parent_is_born_done)
{
	ctx_t *parent, *c;
	sigset_t set = set_of(SIGUSR1, 0);

	cr_assert_eq(ctx_with_cancel(ctx_background(), &parent), 0);
	cr_assert_eq(ctx_cancel_cause(parent, -EPIPE), 0);
	cr_assert_eq(ctx_with_signals(parent, &set, &c), 0);
	cr_assert_eq(ctx_err(c), -ECANCELED);
	cr_assert_eq(ctx_cause(c), -EPIPE);
	ctx_unref(c);
	ctx_unref(parent);
}

Test(signals, parent_cancel_reaches_it, .timeout = 10)
{
	ctx_t *parent, *c;
	sigset_t set = set_of(SIGUSR1, 0);

	cr_assert_eq(ctx_with_cancel(ctx_background(), &parent), 0);
	cr_assert_eq(ctx_with_signals(parent, &set, &c), 0);
	cr_assert_eq(ctx_cancel_cause(parent, -EPIPE), 0);
	cr_assert_eq(ctx_err(c), -ECANCELED);
	cr_assert_eq(ctx_cause(c), -EPIPE);
	ctx_unref(c);
	ctx_unref(parent);
}

Test(signals, ctx_cancel_works, .timeout = 10)
{
	ctx_t *c = watch(SIGUSR1, 0);

	cr_assert_eq(ctx_cancel(c), 0);
	cr_assert_eq(ctx_err(c), -ECANCELED);
	cr_assert_eq(ctx_cause(c), -ECANCELED);
	cr_assert_eq(ctx_cancel(c), -EALREADY);
	/* A later signal neither kills us nor overwrites the first cause. */
	kill(getpid(), SIGUSR1);
	ctx_sleep(ctx_background(), 100 * NS_PER_MS);
	cr_assert_eq(ctx_cause(c), -ECANCELED);
	ctx_unref(c);
}

Test(signals, handler_restored_when_last_freed, .timeout = 10)
{
	ctx_t *a, *b;

	set_handler(SIGUSR1, count_signal);
	a = watch(SIGUSR1, 0);
	b = watch(SIGUSR1, SIGUSR2);
	cr_assert_neq(current_handler(SIGUSR1), count_signal);
	a = ctx_unref(a);
	cr_assert_neq(current_handler(SIGUSR1), count_signal, "b still watches");
	b = ctx_unref(b);
	cr_assert_eq(current_handler(SIGUSR1), count_signal);
	cr_assert_eq(current_handler(SIGUSR2), SIG_DFL);

	handled = 0;
	raise(SIGUSR1);
	cr_assert_eq(handled, 1, "our own handler runs again");
}

Test(signals, ignored_and_default_restored, .timeout = 10)
{
	ctx_t *c;

	set_handler(SIGUSR2, SIG_IGN);
	set_handler(SIGHUP, SIG_DFL);
	c = watch(SIGUSR2, SIGHUP);
	cr_assert_neq(current_handler(SIGUSR2), SIG_IGN);
	cr_assert_neq(current_handler(SIGHUP), SIG_DFL);
	/* Cancelled is not freed: the context still watches until freed. */
	cr_assert_eq(ctx_cancel(c), 0);
	cr_assert_neq(current_handler(SIGUSR2), SIG_IGN);
	ctx_unref(c);
	cr_assert_eq(current_handler(SIGUSR2), SIG_IGN);
	cr_assert_eq(current_handler(SIGHUP), SIG_DFL);
}

Test(signals, invalid_arguments)
{
	ctx_t *sentinel = (ctx_t *)&sentinel, *c = sentinel;
	sigset_t empty, kill_set = set_of(SIGKILL, 0), stop_set = set_of(SIGUSR1, SIGSTOP);
	sigset_t ok = set_of(SIGUSR1, 0);

	sigemptyset(&empty);
	cr_assert_eq(ctx_with_signals(ctx_background(), NULL, &c), -EINVAL);
	cr_assert_eq(ctx_with_signals(ctx_background(), &empty, &c), -EINVAL);
	cr_assert_eq(ctx_with_signals(ctx_background(), &kill_set, &c), -EINVAL);
	cr_assert_eq(ctx_with_signals(ctx_background(), &stop_set, &c), -EINVAL);
	cr_assert_eq(ctx_with_signals(NULL, &ok, &c), -EINVAL);
	cr_assert_eq(ctx_with_signals(ctx_background(), &ok, NULL), -EINVAL);
	cr_assert_eq(c, sentinel, "*ret untouched on failure");
	/* A failed call installs nothing. */
	cr_assert_eq(current_handler(SIGKILL), SIG_DFL);
	cr_assert_eq(current_handler(SIGUSR1), SIG_DFL);
}

Test(signals, no_descriptor_leak, .timeout = 20)
{
	ctx_t *warm, *c[64];
	int base;

	/* Warm-up: the library's own descriptors live until exit. */
	cr_assert_eq(ctx_with_timeout(ctx_background(), 1000 * NS_PER_MS, &warm), 0);
	ctx_unref(warm);
	cr_assert_geq(ctx_fd(ctx_background()), 0);
	warm = watch(SIGUSR1, 0);
	ctx_unref(warm);
	base = count_fds();

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 64; i++) {
			c[i] = watch(i % 2 ? SIGUSR1 : SIGUSR2, 0);
			cr_assert_geq(ctx_fd(c[i]), 0);
			cr_assert(fcntl(ctx_fd(c[i]), F_GETFD) & FD_CLOEXEC);
		}
		kill(getpid(), SIGUSR1);
		for (int i = 1; i < 64; i += 2)
			cr_assert_eq(wait_done(c[i], 5000), -ECANCELED);
		for (int i = 0; i < 64; i++)
			ctx_unref(c[i]);
	}
	cr_assert_eq(current_handler(SIGUSR1), SIG_DFL, "restored by the last ctx_unref");
	cr_assert(fds_become(base), "%d descriptors, baseline %d", count_fds(), base);
}

Test(signals, forked_child_does_not_fire_parent_contexts, .timeout = 20)
{
	ctx_t *c;
	int status;
	pid_t pid;

	set_handler(SIGUSR1, count_signal);
	c = watch(SIGUSR1, 0);
	handled = 0;
	cr_assert(library_thread_idle());
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		ctx_t *mine, *w;
		sigset_t set = set_of(SIGUSR2, 0);
		int ok = 1;

		/* The child got the disposition from before libctx back. */
		raise(SIGUSR1);
		ok &= handled == 1;
		ctx_sleep(ctx_background(), 200 * NS_PER_MS);
		/* Only a read of our copy: the parent's context did not fire here. */
		ok &= ctx_err(c) == 0;
		/* The child's own signal contexts work. */
		if (ctx_with_signals(ctx_background(), &set, &mine) < 0)
			_exit(3);
		raise(SIGUSR2);
		if (ctx_with_timeout(mine, 5000 * NS_PER_MS, &w) < 0)
			_exit(4);
		ctx_wait(w);
		ok &= ctx_err(mine) == -ECANCELED && ctx_cause(mine) == -EINTR;
		ctx_unref(w);
		ctx_unref(mine);
		ctx_unref(c);
		_exit(ok ? 0 : 1);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "child killed by signal %d", WTERMSIG(status));
	cr_assert_eq(WEXITSTATUS(status), 0);
	cr_assert_eq(handled, 0);
	cr_assert_eq(ctx_err(c), 0, "the child's signal was not ours");

	kill(getpid(), SIGUSR1);
	cr_assert_eq(wait_done(c, 5000), -ECANCELED, "the parent still watches");
	ctx_unref(c);
	cr_assert_eq(current_handler(SIGUSR1), count_signal, "restored by the last ctx_unref");
}

Test(signals, exec_gets_default_disposition, .timeout = 20)
{
	char *argv[] = { "sh", "-c", "kill -TERM $$; exit 0", NULL };
	ctx_t *c = watch(SIGTERM, 0);
	int status;
	pid_t pid;

	/* A handler, not a blocked mask: exec resets it, so SIGTERM still stops. */
	cr_assert_eq(posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ), 0);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM,
		  "the child was not stopped by its own SIGTERM (status %#x)", status);
	cr_assert_eq(ctx_err(c), 0);
	ctx_unref(c);
}

/*
 * Real-time signals: every signal sigaction(2) accepts may be watched,
 * SIGRTMIN..SIGRTMAX included, alone or with standard ones.
 */
static void rt_signal_cancels(int a, int b, int sent)
{
	sigset_t set = set_of(a, b);
	ctx_t *c = NULL;

	set_handler(sent, SIG_DFL);
	cr_assert_eq(ctx_with_signals(ctx_background(), &set, &c), 0,
		     "a set of {%d, %d} is refused", a, b);
	cr_assert_eq(kill(getpid(), sent), 0);
	cr_assert_eq(wait_done(c, 5000), -ECANCELED, "signal %d was swallowed", sent);
	cr_assert_eq(ctx_cause(c), -EINTR);
	ctx_unref(c);
	cr_assert_eq(current_handler(sent), SIG_DFL);
}

Test(signals, realtime_sigrtmin_alone, .timeout = 10)
{
	rt_signal_cancels(SIGRTMIN, 0, SIGRTMIN);
}

Test(signals, realtime_with_a_standard_signal, .timeout = 10)
{
	rt_signal_cancels(SIGUSR2, SIGRTMIN, SIGRTMIN);
}

Test(signals, realtime_sigrtmin_plus_3, .timeout = 10)
{
	rt_signal_cancels(SIGRTMIN + 3, 0, SIGRTMIN + 3);
}

Test(signals, realtime_sigrtmax, .timeout = 10)
{
	rt_signal_cancels(SIGRTMAX, 0, SIGRTMAX);
}

/* sigaddset refuses glibc's reserved signals: set the bit by hand. */
static void raw_sigaddset(sigset_t *set, int signo)
{
	unsigned long *word = (unsigned long *)set;
	unsigned int bit = (unsigned int)signo - 1, per = 8 * sizeof(*word);

	word[bit / per] |= 1UL << (bit % per);
}

/* What sigaction refuses, ctx_with_signals refuses: glibc's 32 and 33 too. */
Test(signals, reserved_signals_refused, .timeout = 10)
{
	static const int bad[] = { 32, 33, SIGKILL, SIGSTOP };
	ctx_t *sentinel = (ctx_t *)&sentinel, *c = sentinel;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sigset_t alone, mixed = set_of(SIGUSR1, SIGRTMIN);

		sigemptyset(&alone);
		raw_sigaddset(&alone, bad[i]);
		raw_sigaddset(&mixed, bad[i]);
		cr_assert_eq(ctx_with_signals(ctx_background(), &alone, &c), -EINVAL,
			     "{%d} accepted", bad[i]);
		cr_assert_eq(ctx_with_signals(ctx_background(), &mixed, &c), -EINVAL,
			     "{SIGUSR1, SIGRTMIN, %d} accepted", bad[i]);
	}
	cr_assert_eq(c, sentinel, "*ret untouched on failure");
	cr_assert_eq(current_handler(SIGUSR1), SIG_DFL, "a refused call installs nothing");
	cr_assert_eq(current_handler(SIGRTMIN), SIG_DFL, "a refused call installs nothing");
}

/*
 * A signal that reaches a forked child before libctx's atfork child
 * handler ran (it runs none after _Fork, glibc 2.34+) belongs to the child:
 * it gets what the child had before libctx, never a byte in the parent's
 * self-pipe, which the child shares.
 */
static void exit_42(int signo)
{
	(void)signo;
	_exit(42);
}

static void signal_in_child_before_atfork(void (*before)(int))
{
	ctx_t *c;
	int status;
	pid_t pid;

	set_handler(SIGTERM, before);
	c = watch(SIGTERM, 0);
	cr_assert(library_thread_idle());
	pid = _Fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* Only async-signal-safe calls: no atfork handler ran. */
		raise(SIGTERM);
		_exit(99); /* swallowed */
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	if (before == SIG_DFL)
		cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM,
			  "the child was not killed by its SIGTERM (status %#x, exit %d)",
			  status, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	else
		cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 42,
			  "the child did not run its own handler (status %#x, exit %d)",
			  status, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	cr_assert_eq(wait_done(c, 300), 0, "the child's SIGTERM cancelled the parent's context");

	cr_assert_eq(kill(getpid(), SIGTERM), 0);
	cr_assert_eq(wait_done(c, 5000), -ECANCELED, "the parent still watches");
	cr_assert_eq(ctx_cause(c), -EINTR);
	ctx_unref(c);
	cr_assert_eq(current_handler(SIGTERM), before);
}

Test(signals, fork_child_signal_before_atfork_default, .timeout = 20)
{
	signal_in_child_before_atfork(SIG_DFL);
}

Test(signals, fork_child_signal_before_atfork_own_handler, .timeout = 20)
{
	signal_in_child_before_atfork(exit_42);
}

/*
 * No signal is lost when the self-pipe is full: the library thread is held
 * in an after-function while SIGUSR1 is sent 2^17 times, twice what a
 * default pipe holds (each kill to ourselves runs the handler before kill
 * returns, in this thread: the library thread blocks every signal), then
 * SIGUSR2 once.
 */
Test(signals, full_pipe_loses_no_signal, .timeout = 60)
{
	static struct blocker b;
	ctx_t *usr1 = watch(SIGUSR1, 0), *usr2 = watch(SIGUSR2, 0);

	cr_assert(blocker_start(&b), "the library thread never ran the blocker");
	for (int i = 0; i < (1 << 17); i++)
		kill(getpid(), SIGUSR1);
	kill(getpid(), SIGUSR2);
	blocker_release(&b);
	cr_expect_eq(wait_done(usr1, 5000), -ECANCELED);
	cr_assert_eq(wait_done(usr2, 5000), -ECANCELED, "SIGUSR2 was lost behind a full pipe");
	cr_assert_eq(ctx_cause(usr2), -EINTR);
	cr_assert(blocker_end(&b));
	ctx_unref(usr1);
	ctx_unref(usr2);
}

/*
 * The caller's last ctx_unref restoring the disposition before it returns
 * is tested by stress-signals, which also runs under TSan.
 */

/* A refused call creates nothing: no library thread, no descriptor. */
Test(signals, refused_call_creates_nothing, .timeout = 10)
{
	sigset_t set = set_of(SIGUSR1, 0);
	ctx_t *c;
	int base;

	/* A fresh process (Criterion runs each test in its own): nothing yet. */
	cr_assert_eq(library_threads(), 0, "precondition: no library thread yet");
	base = count_fds();
	raw_sigaddset(&set, 32);
	cr_assert_eq(ctx_with_signals(ctx_background(), &set, &c), -EINVAL);
	cr_expect_eq(library_threads(), 0, "a refused ctx_with_signals started the library thread");
	cr_expect_eq(count_fds(), base, "a refused ctx_with_signals left %d descriptors open",
		     count_fds() - base);
	cr_assert_eq(current_handler(SIGUSR1), SIG_DFL);
}
