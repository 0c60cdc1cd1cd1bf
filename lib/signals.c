/* SPDX-License-Identifier: MIT */
/*
 * Signals: contexts cancelled when the process receives a signal (Go's
 * signal.NotifyContext), error -ECANCELED, cause -EINTR.
 *
 * A sigaction handler sets the signal's bit in `pending` and writes a byte
 * to a self-pipe that the library thread watches; the byte is only a
 * wake-up, so a full pipe loses nothing (Go's runtime keeps such a mask
 * too). Not signalfd: it needs the signals blocked in every thread, and
 * exec'd children inherit a blocked mask, so a supervised child would
 * ignore SIGTERM. The first context watching a signal installs the handler;
 * the last caller's reference to the last one restores the previous
 * disposition. Every signal sigaction(2) accepts can be watched, real-time
 * ones included: signals 1 to 64, less SIGKILL, SIGSTOP and the two the C
 * library keeps for itself.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

/* A signals context: a node on the list of the signal dispatcher. */
struct ctx_signals {
	struct ctx ctx;
	uint64_t mask; /* bit signo - 1 */
	struct ctx_signals *next, **pprev; /* under the signals lock */
	struct ctx_signals *firing;        /* the library thread's own list */
};

static inline struct ctx_signals *as_signals(const struct ctx *c)
{
	return (struct ctx_signals *)c;
}

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

/* Read by the handler: lock-free. */
static atomic_int pipe_w = -1;
static atomic_int owner_pid;                /* the process the pipe belongs to */
static _Atomic uint64_t pending;            /* bit signo - 1: caught, not dispatched */

static uint64_t signal_bit(int signo)
{
	return UINT64_C(1) << (signo - 1);
}

static void on_signal(int signo)
{
	int saved_errno = errno;
	int fd;

	/*
	 * A child of fork() before fork.c's child step ran: the pipe is the
	 * parent's. Give the signal the disposition the child would have had
	 * without libctx; it is delivered again when this handler returns.
	 */
	if (getpid() != atomic_load_explicit(&owner_pid, memory_order_relaxed)) {
		sigaction(signo, &sig.saved[signo], NULL);
		raise(signo);
		errno = saved_errno;
		return;
	}
	atomic_fetch_or_explicit(&pending, signal_bit(signo), memory_order_release);
	fd = atomic_load_explicit(&pipe_w, memory_order_relaxed);
	/* If the pipe is full, a wake-up is already on its way. */
	if (fd >= 0)
		(void)!write(fd, "", 1);
	errno = saved_errno;
}

/* The signals of set as a mask, or 0 if one cannot be caught. */
static uint64_t catchable_mask(const sigset_t *set)
{
	struct sigaction current;
	uint64_t mask = 0;

	for (int signo = 1; signo < NSIG && signo <= 64; signo++) {
		if (sigismember(set, signo) != 1)
			continue;
		/* sigaction refuses to even read the C library's own signals. */
		if (signo == SIGKILL || signo == SIGSTOP || sigaction(signo, NULL, &current) < 0)
			return 0;
		mask |= signal_bit(signo);
	}
	return mask;
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
	atomic_store_explicit(&owner_pid, getpid(), memory_order_relaxed);
	atomic_store_explicit(&pipe_w, fds[1], memory_order_relaxed);
	return 0;
}

static void unwatch_locked(uint64_t mask, int below)
{
	for (int signo = 1; signo < below; signo++)
		if ((mask & signal_bit(signo)) && --sig.watchers[signo] == 0)
			sigaction(signo, &sig.saved[signo], NULL);
}

static int watch_locked(uint64_t mask)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };

	sigfillset(&sa.sa_mask);
	for (int signo = 1; signo <= 64; signo++) {
		if (!(mask & signal_bit(signo)) || sig.watchers[signo]++ > 0)
			continue;
		if (sigaction(signo, &sa, &sig.saved[signo]) < 0) {
			int r = -errno;

			sig.watchers[signo]--;
			unwatch_locked(mask, signo);
			return r;
		}
	}
	return 0;
}

CTX_EXPORT int ctx_with_signals(ctx_t *parent, const sigset_t *set, ctx_t **ret)
{
	struct ctx_signals *s;
	struct ctx *c;
	uint64_t mask;
	int r;

	ctx_assert_return(parent, -EINVAL);
	ctx_assert_return(set, -EINVAL);
	ctx_assert_return(ret, -EINVAL);
	mask = catchable_mask(set);
	ctx_assert_return(mask, -EINVAL);

	c = ctx__node_new(parent, CTX_SIGNALS, sizeof(struct ctx_signals));
	if (!c)
		return -ENOMEM;
	s = as_signals(c);
	s->mask = mask;

	/* Born done under a done parent: no handler to install. */
	if (!ctx__err(parent)) {
		pthread_mutex_lock(&sig.lock);
		r = open_pipe_locked();
		if (r == 0)
			r = watch_locked(mask);
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
	return ctx__publish(c, ret);
}

/*
 * Stops watching, restoring the dispositions no other context watches:
 * before the caller's last reference goes (tree.c), and when freed.
 */
void ctx__signals_unwatch(struct ctx *c)
{
	struct ctx_signals *s = as_signals(c);

	pthread_mutex_lock(&sig.lock);
	if (s->pprev) {
		*s->pprev = s->next;
		if (s->next)
			s->next->pprev = s->pprev;
		s->pprev = NULL;
		unwatch_locked(s->mask, NSIG);
	}
	pthread_mutex_unlock(&sig.lock);
}

/*
 * In the library thread: the self-pipe is readable. The wake-ups are
 * drained before the mask is taken, so a signal caught after that writes
 * a wake-up that is still to be read.
 */
void ctx__signals_dispatch(void)
{
	struct ctx_signals *firing = NULL, *s;
	unsigned char buf[64];
	uint64_t caught;

	pthread_mutex_lock(&sig.lock);
	while (read(sig.pipe_r, buf, sizeof(buf)) > 0)
		;
	caught = atomic_exchange_explicit(&pending, 0, memory_order_acquire);
	for (s = sig.list; caught && s; s = s->next) {
		if ((s->mask & caught) && ctx__hold(&s->ctx)) {
			s->firing = firing;
			firing = s;
		}
	}
	pthread_mutex_unlock(&sig.lock);

	while (firing) {
		s = firing;
		firing = s->firing;
		ctx__cancel(&s->ctx, -ECANCELED, -EINTR);
		ctx__release(&s->ctx);
	}
}

/*
 * fork.c: the pipe is shared with the parent, whose contexts these are.
 * The child restores the dispositions it had before libctx and makes a pipe
 * of its own on its first ctx_with_signals.
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
	atomic_store_explicit(&pending, 0, memory_order_relaxed);
	pthread_mutex_unlock(&sig.lock);
}

int ctx__signals_describe(const struct ctx *c, int64_t now, char *buf, size_t len)
{
	return snprintf(buf, len, "with_signals");
}
