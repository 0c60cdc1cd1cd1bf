/* SPDX-License-Identifier: MIT */
/*
 * Merged contexts (ctx_with_any): done as soon as any parent is done, with
 * that parent's error and cause. The merge lives in the tree: one link in
 * the children of each parent's registrar (internal.h, struct
 * ctx_any_link), so cancelling a parent reaches the merged context in the
 * same walk as its own children, and making one costs no system call.
 * Once done, or freed first, it takes every link out again, so a
 * long-lived parent never keeps finished merged children.
 *
 * parents[0] is ->parent, as for any context: values and ctx_describe go
 * through it. The others are held through their links, and released one at
 * a time by tree.c (pop_parent) once the context is dead.
 */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

#define ANY_MAX_PARENTS 64

struct ctx_any {
	struct ctx ctx;
	atomic_schar index; /* whose being done made us done; -1: none; before err */
	uint8_t n;
	uint8_t popped;     /* parents released so far, once dead */
	struct ctx_any_link links[];
};

static struct ctx_any *as_any(const struct ctx *c)
{
	return (struct ctx_any *)c;
}

/* Called by the cancel walk, under c's lock, before c is marked done. */
void ctx__any_fired(struct ctx_link *l)
{
	struct ctx_any *a = as_any(ctx__any_link(l)->any);

	atomic_store_explicit(&a->index, (signed char)(ctx__any_link(l) - a->links),
			      memory_order_relaxed);
}

/* Of the parents' deadlines, the earliest as they stand now. */
static struct ctx *earliest_bound(ctx_t *const parents[], size_t n)
{
	struct ctx *best = NULL;
	int64_t best_ns = NS_NEVER;

	for (size_t i = 0; i < n; i++) {
		struct ctx *b = ctx__bound(parents[i]);

		if (b && (!best || ctx__deadline_mono_ns(b) < best_ns)) {
			best = b;
			best_ns = ctx__deadline_mono_ns(b);
		}
	}
	return best;
}

/*
 * Links c under each parent's registrar in turn, each time under that
 * registrar's lock and then c's, until c is done: by a parent found done
 * here, or by a parent linked before whose cancel walk reached c.
 */
static void link_all(struct ctx_any *a)
{
	struct ctx *c = &a->ctx;

	for (unsigned int i = 0; i < a->n; i++) {
		struct ctx *reg = ctx__registrar_of(a->links[i].parent);
		bool done;

		if (!reg)
			continue; /* a parent that is never done */
		lock_acquire(&reg->lock);
		lock_acquire(&c->lock);
		done = ctx__is_done(c);
		if (!done && ctx__is_done(reg)) {
			atomic_store_explicit(&a->index, (signed char)i, memory_order_relaxed);
			ctx__inherit_done(c, reg);
			done = true;
		} else if (!done) {
			ctx__link(&reg->node.children, (uintptr_t)&a->links[i] | LINK_ANY);
		}
		lock_release(&c->lock);
		lock_release(&reg->lock);
		if (done)
			return;
	}
}

CTX_EXPORT int ctx_with_any(ctx_t *const parents[], size_t n, ctx_t **ret)
{
	struct ctx_any *a;
	struct ctx *c;

	ctx_assert_return(parents, -EINVAL);
	ctx_assert_return(n >= 1 && n <= ANY_MAX_PARENTS, -EINVAL);
	ctx_assert_return(ret, -EINVAL);
	for (size_t i = 0; i < n; i++)
		ctx_assert_return(parents[i], -EINVAL);

	c = ctx__node_new(parents[0], CTX_ANY,
			  sizeof(struct ctx_any) + n * sizeof(struct ctx_any_link));
	if (!c)
		return -ENOMEM;
	a = as_any(c);
	atomic_init(&a->index, -1);
	a->n = (uint8_t)n;
	a->popped = 1; /* parents[0] is ->parent */
	c->node.bound = earliest_bound(parents, n);
	for (size_t i = 0; i < n; i++) {
		a->links[i].any = c;
		a->links[i].parent = i ? ctx_ref(parents[i]) : parents[0];
	}

	/* Born done if a parent is: the lowest index of those done. */
	for (size_t i = 0; i < n; i++) {
		int err = ctx__err(parents[i]);

		if (err) {
			atomic_store_explicit(&a->index, (signed char)i, memory_order_relaxed);
			ctx__set_done(c, err, ctx__owner(parents[i])->node.cause);
			*ret = c;
			return 0;
		}
	}
	link_all(a);
	if (ctx__is_done(c))
		ctx__any_disarm(c);
	*ret = c;
	return 0;
}

CTX_EXPORT int ctx_any_index(const ctx_t *ctx)
{
	ctx_assert_return(ctx && ctx->kind == CTX_ANY, -EINVAL);
	if (!ctx__err(ctx))
		return -1;
	return atomic_load_explicit(&as_any(ctx)->index, memory_order_relaxed);
}

/* Done or freed: out of every parent's list. */
void ctx__any_disarm(struct ctx *c)
{
	struct ctx_any *a = as_any(c);

	for (unsigned int i = 0; i < a->n; i++) {
		struct ctx *reg = ctx__registrar_of(a->links[i].parent);

		if (reg) {
			lock_acquire(&reg->lock);
			ctx__unlink(&a->links[i].link);
			lock_release(&reg->lock);
		}
	}
}

struct ctx *ctx__any_pop_parent(struct ctx *c)
{
	struct ctx_any *a = as_any(c);

	return a->popped < a->n ? a->links[a->popped++].parent : NULL;
}

int ctx__any_describe(const struct ctx *c, int64_t now, char *buf, size_t len)
{
	return snprintf(buf, len, "with_any(%u)", as_any(c)->n);
}
