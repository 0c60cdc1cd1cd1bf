/* SPDX-License-Identifier: MIT */
/*
 * A four-byte futex lock for contexts: a pthread mutex would more than
 * double the size of a cancel context. Built on C11 atomics with acquire
 * and release ordering, so ThreadSanitizer sees the synchronisation.
 */
#ifndef CTX_LOCK_H
#define CTX_LOCK_H

#include <stdatomic.h>

/* 0: unlocked, 1: locked, 2: locked with (possible) waiters. */
struct ctx_lock {
	atomic_int state;
};

void ctx__lock_wait(struct ctx_lock *l);
void ctx__lock_wake(struct ctx_lock *l);

static inline void lock_acquire(struct ctx_lock *l)
{
	int unlocked = 0;

	if (!atomic_compare_exchange_strong_explicit(&l->state, &unlocked, 1,
						     memory_order_acquire,
						     memory_order_relaxed))
		ctx__lock_wait(l);
}

static inline void lock_release(struct ctx_lock *l)
{
	if (atomic_exchange_explicit(&l->state, 0, memory_order_release) == 2)
		ctx__lock_wake(l);
}

#endif
