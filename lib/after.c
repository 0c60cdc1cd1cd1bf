/* SPDX-License-Identifier: MIT */
/* After-functions: Go's context.AfterFunc. */
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

/* Sweeping stopped registrations starts at this many entries in a list. */
#define AFTER_SWEEP_MIN 16

static void after_put(struct ctx_after *a)
{
	if (atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) == 1)
		free(a);
}

/*
 * Takes the list of the node n, whose lock is held or which is being
 * freed, and frees its head.
 */
struct ctx_after *ctx__afters_take(struct ctx *n)
{
	struct ctx_after *list = n->node.afters->first;

	free(n->node.afters);
	n->node.afters = NULL;
	return list;
}

/*
 * Runs the functions of a cancelled subtree; called with no lock held.
 * Returns false if a function called fork() and this is the child, which
 * then leaves the rest to the parent: the child never acts on the parent's
 * contexts. The library thread's copy in such a child has nowhere to go
 * back to, so it ends the child, with _exit: the exit handlers and stdio
 * buffers it would run are the parent's.
 */
bool ctx__afters_run(struct ctx_after *list)
{
	unsigned int gen = atomic_load_explicit(&ctx__fork_gen, memory_order_relaxed);

	while (list) {
		struct ctx_after *next = list->next;
		int pending = AFTER_PENDING;

		if (atomic_compare_exchange_strong_explicit(&list->state, &pending,
							    AFTER_FIRED,
							    memory_order_acq_rel,
							    memory_order_acquire)) {
			list->fn(list->arg);
			if (atomic_load_explicit(&ctx__fork_gen, memory_order_relaxed) != gen) {
				if (ctx__forked_from_library_thread())
					_exit(0);
				return false;
			}
		}
		after_put(list);
		list = next;
	}
	return true;
}

/* The context is freed before it was done: its functions never run. */
void ctx__afters_detach(struct ctx_after *list)
{
	while (list) {
		struct ctx_after *next = list->next;
		int pending = AFTER_PENDING;

		atomic_compare_exchange_strong_explicit(&list->state, &pending,
							AFTER_DETACHED,
							memory_order_acq_rel,
							memory_order_relaxed);
		after_put(list);
		list = next;
	}
}

/*
 * A value context has no list of its own: its registrations wait on its
 * owner's list and leave it when the value context is freed first.
 */
void ctx__afters_detach_value(struct ctx *value_ctx)
{
	struct ctx *n = value_ctx->val.owner;
	struct ctx_after **link, *gone = NULL;

	lock_acquire(&n->lock);
	if (!n->node.afters) {
		lock_release(&n->lock);
		return;
	}
	link = &n->node.afters->first;
	while (*link) {
		struct ctx_after *a = *link;

		if (a->on == value_ctx) {
			*link = a->next;
			a->next = gone;
			gone = a;
			n->node.afters->count--;
		} else {
			link = &a->next;
		}
	}
	lock_release(&n->lock);
	ctx__afters_detach(gone);
}

/*
 * A stopped registration stays in its node's list (the handle cannot reach a
 * node that may be freed concurrently); adding sweeps them out whenever the
 * list has doubled since the last sweep, so a long-lived context used with
 * after_func/after_stop pairs stays bounded at amortised O(1) per call.
 */
static void sweep_stopped(struct ctx_afters *list)
{
	struct ctx_after **link = &list->first;
	unsigned int live = 0;

	while (*link) {
		struct ctx_after *a = *link;

		if (atomic_load_explicit(&a->state, memory_order_acquire) == AFTER_STOPPED) {
			*link = a->next;
			after_put(a);
		} else {
			link = &a->next;
			live++;
		}
	}
	list->count = live;
	list->sweep_at = live * 2 > AFTER_SWEEP_MIN ? live * 2 : AFTER_SWEEP_MIN;
}

CTX_EXPORT int ctx_after_func(ctx_t *ctx, void (*fn)(void *arg), void *arg,
			      ctx_after_t **ret)
{
	struct ctx_after *a;
	struct ctx *n;

	ctx_assert_return(ctx, -EINVAL);
	ctx_assert_return(fn, -EINVAL);

	a = malloc(sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->fn = fn;
	a->arg = arg;
	a->next = NULL;
	a->on = ctx;
	atomic_init(&a->refs, ret ? 2 : 1);
	atomic_init(&a->state, AFTER_PENDING);

	n = ctx__owner(ctx);
	if (!ctx__cancellable(n)) {
		/* Never done: nothing to register, and stop reports success. */
		atomic_init(&a->state, AFTER_DETACHED);
		after_put(a);
		if (ret)
			*ret = a;
		return 0;
	}

	lock_acquire(&n->lock);
	if (ctx__is_done(n)) {
		lock_release(&n->lock);
		atomic_init(&a->state, AFTER_FIRED);
		after_put(a);
		if (ret)
			*ret = a;
		/* After publishing *ret: fn may stop (and free) its own handle. */
		fn(arg);
		return 0;
	}
	if (!n->node.afters) {
		n->node.afters = malloc(sizeof(*n->node.afters));
		if (!n->node.afters) {
			lock_release(&n->lock);
			free(a);
			return -ENOMEM;
		}
		*n->node.afters = (struct ctx_afters){ .sweep_at = AFTER_SWEEP_MIN };
	}
	if (n->node.afters->count >= n->node.afters->sweep_at)
		sweep_stopped(n->node.afters);
	if (ctx->kind == CTX_VALUE)
		ctx->val.has_afters = true;
	a->next = n->node.afters->first;
	n->node.afters->first = a;
	n->node.afters->count++;
	lock_release(&n->lock);
	if (ret)
		*ret = a;
	return 0;
}

CTX_EXPORT bool ctx_after_stop(ctx_after_t *after)
{
	int state = AFTER_PENDING;
	bool stopped;

	if (!after)
		return false;
	if (atomic_compare_exchange_strong_explicit(&after->state, &state, AFTER_STOPPED,
						    memory_order_acq_rel,
						    memory_order_acquire))
		stopped = true;
	else
		stopped = state == AFTER_DETACHED;
	after_put(after);
	return stopped;
}
