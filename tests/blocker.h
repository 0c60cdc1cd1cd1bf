/* SPDX-License-Identifier: MIT */
/*
 * Holding the library's thread still, for tests that need it busy at a
 * known point rather than hoping the machine is slow.
 *
 * blocker_start() gives the thread a 1 ms deadline whose after-function
 * (which breaks the "must not block" rule on purpose) records its thread
 * id, says it is inside, and waits on a semaphore. Once blocker_start()
 * returns true, the thread is inside that function and acts on nothing
 * else (no deadline, fd source or signal byte) until blocker_release().
 * The wait is bounded (BLOCKER_MAX_S), so a test that fails before it
 * releases never leaves the thread stuck for good.
 *
 * No Criterion here: the standalone TAP programs use it too.
 */
#ifndef TESTS_BLOCKER_H
#define TESTS_BLOCKER_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <ctx.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#define BLOCKER_MAX_S 10

struct blocker {
	sem_t inside, release;
	atomic_int tid;       /* the thread that ran the after-function */
	atomic_bool returned; /* the after-function has returned */
	ctx_t *ctx;
	unsigned int release_after_ms;
};

/* sem_timedwait on CLOCK_REALTIME, s seconds from now, retrying on EINTR. */
static inline bool blocker_sem_wait(sem_t *sem, int s)
{
	struct timespec ts;
	int r;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += s;
	while ((r = sem_timedwait(sem, &ts)) < 0 && errno == EINTR)
		;
	return r == 0;
}

static inline void blocker_fn(void *arg)
{
	struct blocker *b = arg;

	atomic_store(&b->tid, gettid());
	sem_post(&b->inside);
	blocker_sem_wait(&b->release, BLOCKER_MAX_S);
	atomic_store(&b->returned, true);
}

/* True once the library thread is inside the after-function; false if not in 5 s. */
static inline bool blocker_start(struct blocker *b)
{
	atomic_store(&b->tid, 0);
	atomic_store(&b->returned, false);
	b->ctx = NULL;
	if (sem_init(&b->inside, 0, 0) || sem_init(&b->release, 0, 0))
		return false;
	if (ctx_with_timeout(ctx_background(), 1000000, &b->ctx) < 0)
		return false;
	if (ctx_after_func(b->ctx, blocker_fn, b, NULL) < 0)
		return false;
	return blocker_sem_wait(&b->inside, 5);
}

static inline void blocker_release(struct blocker *b)
{
	sem_post(&b->release);
}

static inline void *blocker_release_later_fn(void *arg)
{
	struct blocker *b = arg;
	struct timespec ts = {
		.tv_sec = b->release_after_ms / 1000,
		.tv_nsec = (long)(b->release_after_ms % 1000) * 1000000,
	};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	blocker_release(b);
	return NULL;
}

/* Releases the thread from a helper thread, ms from now: the caller may block. */
static inline bool blocker_release_later(struct blocker *b, unsigned int ms)
{
	pthread_t t;

	b->release_after_ms = ms;
	if (pthread_create(&t, NULL, blocker_release_later_fn, b))
		return false;
	return pthread_detach(t) == 0;
}

/* After a release: waits (bounded) until the function returned, drops the context. */
static inline bool blocker_end(struct blocker *b)
{
	for (int i = 0; i < 5000 && !atomic_load(&b->returned); i++)
		usleep(1000);
	b->ctx = ctx_unref(b->ctx);
	return atomic_load(&b->returned);
}

#endif /* TESTS_BLOCKER_H */
