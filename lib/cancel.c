/* SPDX-License-Identifier: MIT */
/*
 * Cancellation: marking a node and its whole subtree done, then running
 * their after-functions with no lock held.
 */
#include <sys/eventfd.h>

#include "internal.h"

/*
 * Sets the done state of a locked node, makes its fd readable and moves its
 * after-functions onto *run.
 */
static void mark_done(struct ctx *c, int err, int cause, struct ctx_after **run)
{
	int fd;

	ctx__set_done(c, err, cause);
	fd = atomic_load_explicit(&c->node.fd, memory_order_relaxed);
	if (fd >= 0)
		eventfd_write(fd, 1);
	if (c->node.afters) {
		struct ctx_after **tail = &c->node.afters;

		while (*tail)
			tail = &(*tail)->next;
		*tail = *run;
		*run = c->node.afters;
		c->node.afters = NULL;
		c->node.after_count = 0;
	}
}

/*
 * Cancels the cancellable node c. Returns 0, or -EALREADY if it was done.
 *
 * The subtree is walked depth first without recursion: the path from c to
 * the current node stays locked (ancestor before descendant, the global lock
 * order), so a concurrent cancel of any node inside the subtree waits until
 * that node's own subtree is done, as with Go's per-context mutex. As in Go,
 * a node is marked before its children: whoever sees a child done by
 * inheritance finds its parent done too. Each child
 * is unlinked as it is visited and, if it can still be held (ctx__hold), chained
 * on `held` through its now unused sibling link; they are released only once
 * every lock is released and every after-function has run.
 */
int ctx__cancel(struct ctx *c, int err, int cause)
{
	struct ctx_after *run = NULL;
	struct ctx *held = NULL, *cur, *child, *reg, *next;

	lock_acquire(&c->lock);
	if (ctx__is_done(c)) {
		lock_release(&c->lock);
		return -EALREADY;
	}
	mark_done(c, err, cause, &run);

	cur = c;
	for (;;) {
		child = cur->node.children;
		if (child) {
			ctx__unlink(child);
			if (!ctx__hold(child))
				continue; /* being freed: it finds itself unlinked */
			lock_acquire(&child->lock);
			if (ctx__is_done(child)) {
				/* Cancelled on its own; its subtree is done too. */
				lock_release(&child->lock);
				child->node.sibling = held;
				held = child;
				continue;
			}
			mark_done(child, err, cause, &run);
			cur = child;
			continue;
		}
		if (cur == c)
			break;
		next = ctx__owner(cur->parent);
		lock_release(&cur->lock);
		cur->node.sibling = held;
		held = cur;
		cur = next;
	}
	lock_release(&c->lock);

	/* Leave the parent, so a long-lived parent keeps no finished children. */
	reg = ctx__registrar(c);
	if (reg) {
		lock_acquire(&reg->lock);
		ctx__unlink(c);
		lock_release(&reg->lock);
	}

	ctx__release_sources(c);
	for (cur = held; cur; cur = cur->node.sibling)
		ctx__release_sources(cur);

	/* An after-function forked and we are the child: what we hold is the parent's. */
	if (run && !ctx__afters_run(run))
		return 0;

	while (held) {
		next = held->node.sibling;
		ctx__release(held);
		held = next;
	}
	return 0;
}

CTX_EXPORT int ctx_cancel_cause(ctx_t *ctx, int cause)
{
	ctx_assert_return(ctx, -EINVAL);
	ctx_assert_return(ctx__cancellable(ctx), -EINVAL);

	return ctx__cancel(ctx, -ECANCELED, cause ? cause : -ECANCELED);
}

CTX_EXPORT int ctx_cancel(ctx_t *ctx)
{
	return ctx_cancel_cause(ctx, 0);
}
