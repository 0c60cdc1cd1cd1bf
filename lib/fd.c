/* SPDX-License-Identifier: MIT */
/*
 * Descriptors: the lazily made done eventfd of a context, the one
 * never-ready eventfd shared by every context that can never be done, and
 * fd-source contexts (ctx_with_fd), whose duplicate the library thread
 * watches.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

#define SOURCE_EVENTS (EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR)

static atomic_int never_fd = -1;
static pthread_mutex_t never_fd_lock = PTHREAD_MUTEX_INITIALIZER;

/* Never written, so it is safe to share with a forked child. */
int ctx__never_fd(void)
{
	int fd = atomic_load_explicit(&never_fd, memory_order_acquire);

	if (fd >= 0)
		return fd;
	pthread_mutex_lock(&never_fd_lock);
	fd = atomic_load_explicit(&never_fd, memory_order_relaxed);
	if (fd < 0) {
		fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fd < 0)
			fd = -errno;
		else
			atomic_store_explicit(&never_fd, fd, memory_order_release);
	}
	pthread_mutex_unlock(&never_fd_lock);
	return fd;
}

/* fork.c: the child must not inherit the lock held by a thread it lacks. */
void ctx__fd_fork_prepare(void)
{
	pthread_mutex_lock(&never_fd_lock);
}

void ctx__fd_fork_parent(void)
{
	pthread_mutex_unlock(&never_fd_lock);
}

void ctx__fd_fork_child(void)
{
	pthread_mutex_unlock(&never_fd_lock);
}

CTX_EXPORT int ctx_fd(ctx_t *ctx)
{
	struct ctx *n;
	int fd;

	ctx_assert_return(ctx, -EINVAL);
	n = ctx__owner(ctx);
	if (!ctx__cancellable(n))
		return ctx__never_fd();

	fd = atomic_load_explicit(&n->node.fd, memory_order_acquire);
	if (fd >= 0)
		return fd;

	/* Under the lock, so a cancel either sees the fd or we see the error. */
	lock_acquire(&n->lock);
	fd = atomic_load_explicit(&n->node.fd, memory_order_relaxed);
	if (fd < 0) {
		fd = eventfd(ctx__is_done(n), EFD_CLOEXEC | EFD_NONBLOCK);
		if (fd < 0)
			fd = -errno;
		else
			atomic_store_explicit(&n->node.fd, fd, memory_order_release);
	}
	lock_release(&n->lock);
	return fd;
}

CTX_EXPORT int ctx_with_fd(ctx_t *parent, int fd, uint32_t events, int cause, ctx_t **ret)
{
	struct ctx *c;
	int dup;

	ctx_assert_return(parent, -EINVAL);
	ctx_assert_return(ret, -EINVAL);
	ctx_assert_return(fd >= 0, -EBADF);
	ctx_assert_return(events && !(events & ~(uint32_t)SOURCE_EVENTS), -EINVAL);

	/* Our own duplicate: the caller may close theirs. Status flags untouched. */
	dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dup < 0)
		return -errno;
	c = ctx__node_new(parent, CTX_FD_SOURCE, sizeof(struct ctx_source));
	if (!c) {
		close(dup);
		return -ENOMEM;
	}
	as_source(c)->fd = dup;
	as_source(c)->user_fd = fd;
	as_source(c)->events = events;
	as_source(c)->cause = cause ? cause : -ECANCELED;
	/* Born done under a done parent, it closes our duplicate at once. */
	return ctx__publish(c, ret);
}

/* In a child of fork(), the watch was the parent's: only our copy is left. */
void ctx__source_destroy(struct ctx *c)
{
	if (as_source(c)->fd >= 0)
		close(as_source(c)->fd);
}

int ctx__source_describe(const struct ctx *c, int64_t now, char *buf, size_t len)
{
	return snprintf(buf, len, "with_fd(%d)", as_source(c)->user_fd);
}
