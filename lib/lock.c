/* SPDX-License-Identifier: MIT */
/* Slow paths of the context lock (lock.h): Drepper's three-state futex mutex. */
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lock.h"

#define LOCK_SPINS 100

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

void ctx__lock_wait(struct ctx_lock *l)
{
	int state;

	/* Critical sections are short: spin a little before sleeping. */
	for (int i = 0; i < LOCK_SPINS; i++) {
		state = 0;
		if (atomic_compare_exchange_weak_explicit(&l->state, &state, 1,
							  memory_order_acquire,
							  memory_order_relaxed))
			return;
		cpu_relax();
	}
	while (atomic_exchange_explicit(&l->state, 2, memory_order_acquire) != 0)
		syscall(SYS_futex, &l->state, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
}

void ctx__lock_wake(struct ctx_lock *l)
{
	syscall(SYS_futex, &l->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
