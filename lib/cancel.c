/* SPDX-License-Identifier: MIT */
/*
 * Cancellation: marking a node and its whole subtree done, then running
 * their after-functions with no lock held.
 */
#include <sys/eventfd.h>

#include "internal.h"

/* Gives back what a done node holds: a timer, a watch, its other parents. */
static void disarm(struct ctx *c)
{
	void (*fn)(struct ctx *c) = ctx__ops(c)->disarm;

	if (fn)
		fn(c);
}

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
		struct ctx_after *list = ctx__afters_take(c), **tail = &list;

		while (*tail)
			tail = &(*tail)->next;
		*tail = *run;
		*run = list;
	}
}

/*
 * Marks the subtree below the locked node c done, depth first without
 * recursion, and returns the entries of the children it holds.
 *
 * The path from c to the current node stays locked (ancestor before
 * descendant, the global lock order), so a concurrent cancel of any node
 * inside the subtree waits until that node's own subtree is done, as with
 * Go's per-context mutex. As in Go, a node is marked before its children:
 * whoever sees a child done by inheritance finds its parent done too.
 *
 * Each child is reached through an entry of its parent's list (a merged
 * context has one under each of its parents), which the walk unlinks and,
 * while below that child, keeps in the child's own link.next to climb back
 * by. If the child can still be held (ctx__hold), the entry's link then
 * chains it on the list returned; they are released only once every lock
 * is released and every after-function has run. Not inlined: a cancel
 * with no children then saves no registers for it.
 */
static __attribute__((noinline)) uintptr_t cancel_children(struct ctx *c, int err, int cause,
							   struct ctx_after **run)
{
	struct ctx *cur = c, *child, *reg;
	uintptr_t held = 0, entry;

	for (;;) {
		entry = cur->node.children;
		if (entry) {
			struct ctx_link *l = ctx__link_of(entry);

			ctx__unlink(l);
			child = ctx__of_entry(entry);
			if (!ctx__hold(child))
				continue; /* being freed: it finds itself unlinked */
			lock_acquire(&child->lock);
			if (ctx__is_done(child)) {
				/* Done on its own; its subtree is done too. */
				lock_release(&child->lock);
				l->next = held;
				held = entry;
				continue;
			}
			if (entry & LINK_ANY)
				ctx__any_fired(l);
			mark_done(child, err, cause, run);
			child->node.link.next = entry;
			cur = child;
			continue;
		}
		if (cur == c)
			return held;
		entry = cur->node.link.next;
		reg = ctx__registrar_of(entry & LINK_ANY ? ctx__any_link(ctx__link_of(entry))->parent
							 : cur->parent);
		lock_release(&cur->lock);
		ctx__link_of(entry)->next = held;
		held = entry;
		cur = reg;
	}
}

/*
 * Cancels the cancellable node c and its subtree. Returns 0, or -EALREADY
 * if it was done.
 */
int ctx__cancel(struct ctx *c, int err, int cause)
{
	struct ctx_after *run = NULL;
	struct ctx *reg;
	uintptr_t held = 0, entry;

	lock_acquire(&c->lock);
	if (ctx__is_done(c)) {
		lock_release(&c->lock);
		return -EALREADY;
	}
	mark_done(c, err, cause, &run);
	if (c->node.children)
		held = cancel_children(c, err, cause, &run);
	lock_release(&c->lock);

	/* Leave the parent, so a long-lived parent keeps no finished children. */
	reg = ctx__registrar_of(c->parent);
	if (reg) {
		lock_acquire(&reg->lock);
		ctx__unlink(&c->node.link);
		lock_release(&reg->lock);
	}

	disarm(c);
	for (entry = held; entry; entry = ctx__link_of(entry)->next)
		disarm(ctx__of_entry(entry));

	/* An after-function forked and we are the child: what we hold is the parent's. */
	if (run && !ctx__afters_run(run))
		return 0;

	while (held) {
		entry = held;
		held = ctx__link_of(entry)->next;
		ctx__release(ctx__of_entry(entry));
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
