/* SPDX-License-Identifier: MIT */
/*
 * The tree: the two roots, deriving cancel and without_cancel children,
 * reference counting and freeing, and the cheap observers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* Never done, never freed: a node whose state never changes. */
static struct ctx background_ctx = { .kind = CTX_ROOT, .node = { .fd = -1 } };
static struct ctx todo_ctx = { .kind = CTX_ROOT, .node = { .fd = -1 } };

CTX_EXPORT ctx_t *ctx_background(void)
{
	return &background_ctx;
}

CTX_EXPORT ctx_t *ctx_todo(void)
{
	return &todo_ctx;
}

/*
 * Allocates a node child of `parent` holding a reference on it, bounded by
 * the parent's deadline; the constructor fills in its kind's fields and
 * publishes it (ctx__publish).
 */
struct ctx *ctx__node_new(struct ctx *parent, enum ctx_kind kind, size_t size)
{
	struct ctx *c = malloc(size);

	if (!c)
		return NULL;
	/*
	 * Field by field, not malloc and a whole memset: the compiler would
	 * make those a calloc, which glibc serves without its thread cache.
	 */
	*c = (struct ctx){
		.refs = REF_USER,
		.kind = kind,
		.gen = atomic_load_explicit(&ctx__fork_gen, memory_order_relaxed),
		.parent = ctx_ref(parent),
		/* Go: WithoutCancel has no deadline either. */
		.node = { .fd = -1, .bound = kind == CTX_WITHOUT_CANCEL ? NULL : ctx__bound(parent) },
	};
	if (size > sizeof(*c))
		memset(c + 1, 0, size - sizeof(*c));
	return c;
}

/* Adds a link to a list, under the lock of the list's node. */
void ctx__link(uintptr_t *head, uintptr_t entry)
{
	struct ctx_link *l = ctx__link_of(entry);

	l->next = *head;
	if (l->next)
		ctx__link_of(l->next)->pprev = &l->next;
	*head = entry;
	l->pprev = head;
}

/* Takes a link out of its list, if it is in one; under the list's lock. */
void ctx__unlink(struct ctx_link *l)
{
	if (!l->pprev)
		return;
	*l->pprev = l->next;
	if (l->next)
		ctx__link_of(l->next)->pprev = l->pprev;
	l->pprev = NULL;
	l->next = 0;
}

/*
 * Publishes a new node c in *ret. Under its registrar's lock, c is born done
 * if the registrar is done; otherwise, unless its constructor already made
 * it done, its kind's arm (if any) gives it its source in the library
 * thread and c joins the registrar's children, so a parent cancelled
 * meanwhile either finds c or c finds it done. If arm fails, c is freed; if
 * c is born done, it gives back at once what its constructor took.
 */
int ctx__publish(struct ctx *c, struct ctx **ret)
{
	const struct ctx_kind_ops *ops = ctx__ops(c);
	struct ctx *reg = ctx__registrar_of(c->parent);
	int r = 0;

	if (reg)
		lock_acquire(&reg->lock);
	if (reg && ctx__is_done(reg)) {
		ctx__inherit_done(c, reg);
	} else if (!ctx__is_done(c)) {
		if (ops->arm)
			r = ops->arm(c);
		if (r == 0 && reg)
			ctx__link(&reg->node.children, ctx__entry_of(c));
	}
	if (reg)
		lock_release(&reg->lock);
	if (r < 0) {
		ctx__node_free(c);
		return r;
	}
	if (ctx__is_done(c) && ops->disarm)
		ops->disarm(c);
	*ret = c;
	return 0;
}

/*
 * A context made in an earlier fork generation belongs to the parent
 * process: the child only frees it, never touching locks, lists or kernel
 * objects it shares with the parent.
 */
bool ctx__from_this_process(const struct ctx *c)
{
	return c->gen == (uint16_t)atomic_load_explicit(&ctx__fork_gen, memory_order_relaxed);
}

/*
 * A live node being freed leaves its parent and gives back its sources.
 * Once done, it has done so already: whoever made it done did before
 * letting go of it (cancel.c), or it was born done (ctx__publish).
 */
static void leave_tree(struct ctx *c, const struct ctx_kind_ops *ops)
{
	struct ctx *reg = ctx__registrar_of(c->parent);

	if (reg) {
		lock_acquire(&reg->lock);
		ctx__unlink(&c->node.link);
		lock_release(&reg->lock);
	}
	if (ops->disarm)
		ops->disarm(c);
}

/*
 * Frees c, whose last reference is gone, and returns its parent to release.
 * A kind holding more parents (a merged context) is kept on *dead instead,
 * chained through its unused link, until put() has released them.
 */
static struct ctx *destroy(struct ctx *c, struct ctx **dead)
{
	const struct ctx_kind_ops *ops = ctx__ops(c);
	struct ctx *parent = c->parent;

	if (ctx__cancellable(c)) {
		int fd = atomic_load_explicit(&c->node.fd, memory_order_relaxed);

		if (ctx__from_this_process(c)) {
			if (!ctx__is_done(c))
				leave_tree(c, ops);
			if (ops->unwatch)
				ops->unwatch(c);
		}
		if (c->node.afters)
			ctx__afters_detach(ctx__afters_take(c));
		if (fd >= 0)
			close(fd);
	}
	if (ops->destroy)
		ops->destroy(c);
	if (ops->pop_parent) {
		c->node.link.next = (uintptr_t)*dead;
		*dead = c;
	} else {
		free(c);
	}
	return parent;
}

CTX_EXPORT ctx_t *ctx_ref(ctx_t *ctx)
{
	if (ctx && !ctx__is_root(ctx))
		atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
	return ctx;
}

/*
 * Takes a hold on c for the span of a cancel, unless it is already being
 * freed.
 */
bool ctx__hold(struct ctx *c)
{
	uint64_t refs = atomic_load_explicit(&c->refs, memory_order_relaxed);

	do {
		if (!(refs & ~REF_PARENT_HELD))
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&c->refs, &refs, refs + REF_HELD,
							memory_order_acquire,
							memory_order_relaxed));
	return true;
}

/*
 * The caller is dropping the last caller's reference of c while others hold
 * it: c's reference on its parent becomes a hold, so the parent too shows
 * at once that no caller needs it (a signals context stops watching), and
 * so on up while that was the parent's last caller's reference. The chain
 * stays alive meanwhile: the caller still has c, and each node holds the
 * next.
 */
static void hand_over_parent_refs(struct ctx *c)
{
	struct ctx *p;

	while ((p = c->parent) && !ctx__is_root(p)) {
		uint64_t old = atomic_fetch_add_explicit(&p->refs, REF_HELD - REF_USER,
							 memory_order_acq_rel);

		if ((old & REF_USER_MASK) != REF_USER || !ctx__from_this_process(p))
			return;
		if (ctx__ops(p)->unwatch)
			ctx__ops(p)->unwatch(p);
		atomic_fetch_or_explicit(&p->refs, REF_PARENT_HELD, memory_order_relaxed);
		c = p;
	}
}

/*
 * Drops a reference of c, a hold or a caller's, and tells whether c is to be
 * freed; *left is what remains. Before the last caller's reference goes, a
 * signals context stops watching, so the dispositions are back when
 * ctx_unref returns, even if the library still holds it: as the last
 * caller, we are the only one who could take another caller's reference.
 * In a forked child, a context of the parent's is freed on its last
 * caller's reference: what the parent's threads held, no thread of ours
 * will give back.
 */
static bool drop(struct ctx *c, bool hold, uint64_t *left)
{
	/* Read first: once our reference is gone, a holder may free c. */
	bool ours = ctx__from_this_process(c);
	uint64_t refs, next;

	if (hold) {
		next = atomic_fetch_sub_explicit(&c->refs, REF_HELD, memory_order_acq_rel) -
		       REF_HELD;
	} else {
		bool handed = false;

		refs = atomic_load_explicit(&c->refs, memory_order_relaxed);
		do {
			next = refs - REF_USER;
			if (!(next & REF_USER_MASK) && ours) {
				if (ctx__ops(c)->unwatch)
					ctx__ops(c)->unwatch(c);
				if (next >= REF_HELD && !handed) {
					hand_over_parent_refs(c);
					handed = true;
				}
			}
			if (handed)
				next |= REF_PARENT_HELD;
		} while (!atomic_compare_exchange_weak_explicit(&c->refs, &refs, next,
								memory_order_acq_rel,
								memory_order_relaxed));
	}
	*left = next;
	return !(next & ~REF_PARENT_HELD) || (!ours && !(next & REF_USER_MASK));
}

/*
 * Iterative, so freeing a million-deep chain needs no stack, nor does a
 * chain of merged contexts each holding the next as a later parent: those
 * wait on `dead` while put() releases their parents one at a time.
 */
static void put(struct ctx *c, bool hold)
{
	struct ctx *dead = NULL;
	uint64_t left;

	for (;;) {
		while (c && !ctx__is_root(c) && drop(c, hold, &left)) {
			hold = left & REF_PARENT_HELD;
			c = destroy(c, &dead);
		}
		for (c = NULL; dead && !c;) {
			c = ctx__ops(dead)->pop_parent(dead);
			if (!c) {
				struct ctx *next = (struct ctx *)dead->node.link.next;

				free(dead);
				dead = next;
			}
		}
		if (!c)
			return;
		hold = false;
	}
}

/* Frees a node that was never published (an error path of a constructor). */
void ctx__node_free(struct ctx *c)
{
	put(c, false);
}

void ctx__release(struct ctx *c)
{
	put(c, true);
}

static __attribute__((noinline)) void unref_slow(struct ctx *c)
{
	put(c, false);
}

/*
 * Whether no registrar lists c and the library thread has let go of it, so
 * that with the caller's last reference no one can take a hold meanwhile.
 * True of a context that is not cancellable, and of a done node: whoever
 * made it done took it out of its lists and gave back its sources before
 * letting go of it (cancel.c, ctx__publish). Read before the count: a hold
 * taken before c became done (a cancel walk's) then shows in it.
 */
static bool unlisted(const struct ctx *c)
{
	return !ctx__cancellable(c) || ctx__err(c);
}

/*
 * The common case inline: no hold on ctx, no signals to give back and one
 * parent. The last reference to an unlisted context needs no atomic write;
 * otherwise a hold taken meanwhile fails the compare and swap.
 */
CTX_EXPORT ctx_t *ctx_unref(ctx_t *ctx)
{
	while (ctx && !ctx__is_root(ctx)) {
		const struct ctx_kind_ops *ops = ctx__ops(ctx);
		bool alone = unlisted(ctx);
		uint64_t refs = atomic_load_explicit(&ctx->refs, memory_order_acquire);

		if (refs >= REF_HELD || ops->unwatch || ops->pop_parent ||
		    (!(alone && refs == REF_USER) &&
		     !atomic_compare_exchange_weak_explicit(&ctx->refs, &refs, refs - REF_USER,
							    memory_order_acq_rel,
							    memory_order_relaxed))) {
			unref_slow(ctx);
			break;
		}
		if (refs != REF_USER)
			break;
		ctx = destroy(ctx, NULL);
	}
	return NULL;
}

CTX_EXPORT int ctx_with_cancel(ctx_t *parent, ctx_t **ret)
{
	struct ctx *c;

	ctx_assert_return(parent, -EINVAL);
	ctx_assert_return(ret, -EINVAL);

	c = ctx__node_new(parent, CTX_CANCEL, sizeof(struct ctx));
	if (!c)
		return -ENOMEM;
	return ctx__publish(c, ret);
}

CTX_EXPORT int ctx_without_cancel(ctx_t *parent, ctx_t **ret)
{
	struct ctx *c;

	ctx_assert_return(parent, -EINVAL);
	ctx_assert_return(ret, -EINVAL);

	c = ctx__node_new(parent, CTX_WITHOUT_CANCEL, sizeof(struct ctx));
	if (!c)
		return -ENOMEM;
	*ret = c;
	return 0;
}

CTX_EXPORT int ctx_err(const ctx_t *ctx)
{
	ctx_assert_return(ctx, -EINVAL);
	return ctx__err(ctx);
}

CTX_EXPORT int ctx_cause(const ctx_t *ctx)
{
	ctx_assert_return(ctx, -EINVAL);
	if (!ctx__err(ctx))
		return 0;
	return ctx__owner(ctx)->node.cause;
}

int ctx__tree_describe(const struct ctx *c, int64_t now, char *buf, size_t len)
{
	switch (c->kind) {
	case CTX_ROOT:
		return snprintf(buf, len, "%s", c == &background_ctx ? "background" : "todo");
	case CTX_WITHOUT_CANCEL:
		return snprintf(buf, len, "without_cancel");
	default:
		return snprintf(buf, len, "with_cancel");
	}
}
