/* SPDX-License-Identifier: MIT */
/*
 * Signals: contexts cancelled when the process receives a signal (Go's
 * signal.NotifyContext), error -ECANCELED, cause -EINTR.
 *
 * A sigaction handler only writes the signal number to a self-pipe that the
 * library thread watches. Not signalfd: it needs the signals blocked in
 * every thread, and exec'd children inherit a blocked mask, so a supervised
 * child would ignore SIGTERM. The first context watching a signal installs
 * the handler; freeing the last one restores the previous disposition.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

static struct {
	pthread_mutex_t lock;
	struct ctx_signals *list;
	int pipe_r;
	unsigned int watchers[NSIG];
	struct sigaction saved[NSIG];
} sig = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.pipe_r = -1,
};

static atomic_int pipe_w = -1; /* read by the handler: lock-free */

static void on_signal(int signo)
{
	int saved_errno = errno;
	unsigned char byte = (unsigned char)signo;
	int fd = atomic_load_explicit(&pipe_w, memory_order_relaxed);

	/* A full pipe already holds a wake-up: dropping this byte is fine. */
	if (fd >= 0 && write(fd, &byte, 1) < 0)
		errno = saved_errno;
	errno = saved_errno;
}

static int open_pipe_locked(void)
{
	int fds[2], r;

	if (sig.pipe_r >= 0)
		return 0;
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	r = ctx__watch_signal_pipe(fds[0]);
	if (r < 0) {
		close(fds[0]);
		close(fds[1]);
		return r;
	}
	sig.pipe_r = fds[0];
	atomic_store_explicit(&pipe_w, fds[1], memory_order_relaxed);
	return 0;
}

static void unwatch_locked(const sigset_t *set, int below)
{
	for (int signo = 1; signo < below; signo++)
		if (sigismember(set, signo) == 1 && --sig.watchers[signo] == 0)
			sigaction(signo, &sig.saved[signo], NULL);
}

static int watch_locked(const sigset_t *set)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };

	sigfillset(&sa.sa_mask);
	for (int signo = 1; signo < NSIG; signo++) {
		if (sigismember(set, signo) != 1 || sig.watchers[signo]++ > 0)
			continue;
		if (sigaction(signo, &sa, &sig.saved[signo]) < 0) {
			int r = -errno;

			sig.watchers[signo]--;
			unwatch_locked(set, signo);
			return r;
		}
	}
	return 0;
}

CTX_EXPORT int ctx_with_signals(ctx_t *parent, const sigset_t *set, ctx_t **ret)
{
	struct ctx_signals *s;
	struct ctx *c;
	int r;

	ctx_assert_return(parent, -EINVAL);
	ctx_assert_return(set, -EINVAL);
	ctx_assert_return(ret, -EINVAL);
	ctx_assert_return(!sigisemptyset(set), -EINVAL);
	ctx_assert_return(sigismember(set, SIGKILL) != 1 && sigismember(set, SIGSTOP) != 1,
			  -EINVAL);

	c = ctx__node_new(parent, CTX_SIGNALS, sizeof(struct ctx_signals));
	if (!c)
		return -ENOMEM;
	s = as_signals(c);
	s->set = *set;

	/* Born done under a done parent: no handler to install. */
	if (!ctx__err(parent)) {
		pthread_mutex_lock(&sig.lock);
		r = open_pipe_locked();
		if (r == 0)
			r = watch_locked(set);
		if (r == 0) {
			s->next = sig.list;
			if (s->next)
				s->next->pprev = &s->next;
			sig.list = s;
			s->pprev = &sig.list;
		}
		pthread_mutex_unlock(&sig.lock);
		if (r < 0) {
			ctx__node_free(c);
			return r;
		}
	}

	/* A signal may already have cancelled it: then it is not linked. */
	return ctx__publish(c, NULL, 0, ret);
}

/* Called when c is freed: it stops watching, possibly restoring dispositions. */
void ctx__signals_remove(struct ctx *c)
{
	struct ctx_signals *s = as_signals(c);

	pthread_mutex_lock(&sig.lock);
	if (s->pprev) {
		*s->pprev = s->next;
		if (s->next)
			s->next->pprev = s->pprev;
		unwatch_locked(&s->set, NSIG);
	}
	pthread_mutex_unlock(&sig.lock);
}

/* In the library thread: the self-pipe is readable. */
void ctx__signals_dispatch(void)
{
	struct ctx_signals *firing = NULL, *s;
	unsigned char buf[64];
	sigset_t got, both;
	ssize_t n;

	sigemptyset(&got);
	pthread_mutex_lock(&sig.lock);
	while ((n = read(sig.pipe_r, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			sigaddset(&got, buf[i]);
	for (s = sig.list; s; s = s->next) {
		sigandset(&both, &s->set, &got);
		if (!sigisemptyset(&both) && ctx__tryref(&s->ctx)) {
			s->firing = firing;
			firing = s;
		}
	}
	pthread_mutex_unlock(&sig.lock);

	while (firing) {
		s = firing;
		firing = s->firing;
		ctx__cancel(&s->ctx, -ECANCELED, -EINTR);
		ctx_unref(&s->ctx);
	}
}

/*
 * fork(): the pipe is shared with the parent, whose contexts these are.
 * The child restores the dispositions it inherited from before libctx and
 * makes a pipe of its own on its first ctx_with_signals. Called by timer.c's
 * fork handlers, which order this lock before the timer lock.
 */
void ctx__signals_fork_prepare(void)
{
	pthread_mutex_lock(&sig.lock);
}

void ctx__signals_fork_parent(void)
{
	pthread_mutex_unlock(&sig.lock);
}

void ctx__signals_fork_child(void)
{
	for (int signo = 1; signo < NSIG; signo++) {
		if (sig.watchers[signo])
			sigaction(signo, &sig.saved[signo], NULL);
		sig.watchers[signo] = 0;
	}
	sig.list = NULL;
	if (sig.pipe_r >= 0) {
		close(sig.pipe_r);
		close(atomic_load_explicit(&pipe_w, memory_order_relaxed));
	}
	sig.pipe_r = -1;
	atomic_store_explicit(&pipe_w, -1, memory_order_relaxed);
	pthread_mutex_unlock(&sig.lock);
}
