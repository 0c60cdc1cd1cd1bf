/* SPDX-License-Identifier: MIT */
/*
 * The library thread: for each clock in use, one timerfd driving a
 * min-heap of every deadline on that clock in the process; and one epoll
 * set watching those timerfds, the descriptors of ctx_with_fd contexts and
 * the signal pipe. Its state is global (fork.c lists it).
 *
 * The thread holds a context (ctx__hold, under the global lock) before
 * cancelling it, and a context whose last reference is dropped leaves the
 * heap and the watch table under the same lock, so the thread never touches
 * a freed context. Epoll events name a watch by slot and sequence number,
 * never by pointer: an event already read for a watch that is gone is
 * recognised as stale.
 *
 * The descriptors and the thread are made by the first add that needs them,
 * under the lock, and unmade if that add fails: a call that fails leaves
 * nothing behind.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "internal.h"

#define SIGNAL_EVENT UINT64_MAX
#define TIMER_EVENT(clock) (UINT64_MAX - 1 - (clock))
#define EVENTS_PER_WAKE 64

struct heap_entry {
	int64_t deadline_ns;
	struct ctx *ctx;
};

struct watch_slot {
	struct ctx *ctx;    /* NULL when free */
	uint32_t seq;       /* bumped on every reuse */
	uint32_t next_free; /* free list, by index + 1 */
};

/* The deadlines on one clock. */
struct timer {
	int fd;           /* its timerfd, or -1 until a deadline needs it */
	int64_t armed_ns; /* what the timerfd is set to; NS_NEVER: disarmed */
	struct heap_entry *heap;
	size_t len, cap;
};

#define TIMER_INIT { .fd = -1, .armed_ns = NS_NEVER }

static struct {
	struct ctx_lock lock;
	bool running;
	int epfd;
	struct timer timers[CTX_CLOCKS];
	struct watch_slot *slots;
	uint32_t slots_len, slots_cap, free_slot;
} lib = {
	.epfd = -1,
	.timers = { TIMER_INIT, TIMER_INIT, TIMER_INIT },
};

static const clockid_t timer_clocks[CTX_CLOCKS] = {
	[CTX_CLOCK_MONOTONIC] = CLOCK_MONOTONIC,
	[CTX_CLOCK_BOOTTIME] = CLOCK_BOOTTIME,
	[CTX_CLOCK_REALTIME] = CLOCK_REALTIME,
};

static _Thread_local bool in_library_thread;
/* Set in a child of fork() whose only thread was the library's in the parent. */
static bool forked_from_library_thread;

bool ctx__in_library_thread(void)
{
	return in_library_thread;
}

bool ctx__forked_from_library_thread(void)
{
	return forked_from_library_thread;
}

/*
 * --- the heaps, under lib.lock ---
 * A 4-ary min-heap of (deadline, context) pairs: comparisons never leave
 * the array, and sifting moves a hole, writing each moved context's index
 * once. A million deadlines are 20 levels of binary heap, 10 of this one.
 */
#define HEAP_ARITY 4

static void heap_put(struct timer *t, size_t i, struct heap_entry e)
{
	t->heap[i] = e;
	as_deadline(e.ctx)->heap_index = (int)i;
}

/* Moves the hole at i up past every later deadline; returns where it stops. */
static size_t sift_up(struct timer *t, size_t i, int64_t deadline)
{
	while (i > 0) {
		size_t parent = (i - 1) / HEAP_ARITY;

		if (t->heap[parent].deadline_ns <= deadline)
			break;
		heap_put(t, i, t->heap[parent]);
		i = parent;
	}
	return i;
}

static size_t sift_down(struct timer *t, size_t i, int64_t deadline)
{
	for (;;) {
		size_t first = HEAP_ARITY * i + 1, best = i;
		int64_t earliest = deadline;

		for (size_t k = first; k < first + HEAP_ARITY && k < t->len; k++) {
			if (t->heap[k].deadline_ns < earliest) {
				earliest = t->heap[k].deadline_ns;
				best = k;
			}
		}
		if (best == i)
			return i;
		heap_put(t, i, t->heap[best]);
		i = best;
	}
}

static void heap_insert(struct timer *t, struct ctx *c)
{
	struct heap_entry e = { as_deadline(c)->deadline_ns, c };

	heap_put(t, sift_up(t, t->len++, e.deadline_ns), e);
}

static void heap_delete(struct timer *t, size_t i)
{
	struct heap_entry last;
	size_t hole;

	as_deadline(t->heap[i].ctx)->heap_index = -1;
	last = t->heap[--t->len];
	if (i == t->len)
		return;
	hole = sift_up(t, i, last.deadline_ns);
	if (hole == i)
		hole = sift_down(t, i, last.deadline_ns);
	heap_put(t, hole, last);
}

/*
 * The wall clock's timer is cancelled when the clock is set, so that its
 * deadlines are looked at again (expire).
 */
static void arm(enum ctx_clock clock, int64_t ns)
{
	struct timer *t = &lib.timers[clock];
	struct itimerspec its = { 0 };
	int flags = TFD_TIMER_ABSTIME;

	if (ns == t->armed_ns)
		return;
	if (ns != NS_NEVER) {
		/* An all-zero it_value would disarm instead. */
		int64_t at = ns > 0 ? ns : 1;

		its.it_value.tv_sec = at / NS_PER_SEC;
		its.it_value.tv_nsec = at % NS_PER_SEC;
	}
	if (clock == CTX_CLOCK_REALTIME)
		flags |= TFD_TIMER_CANCEL_ON_SET;
	if (timerfd_settime(t->fd, flags, &its, NULL) == 0)
		t->armed_ns = ns;
}

/* --- the thread --- */

/*
 * A clock's timer fired, or (ECANCELED) the wall clock was set: either
 * way, every deadline passed on that clock fires and the timer is set
 * again, to the earliest left.
 */
static void expire(enum ctx_clock clock)
{
	struct timer *t = &lib.timers[clock];
	uint64_t ticks;
	int64_t now;

	/* The count does not matter; EAGAIN means a re-arm raced the expiry. */
	(void)!read(t->fd, &ticks, sizeof(ticks));
	lock_acquire(&lib.lock);
	t->armed_ns = NS_NEVER; /* it fired or was cancelled: set it again */
	now = ctx__clock_now_ns(clock);
	while (t->len && t->heap[0].deadline_ns <= now) {
		struct ctx *c = t->heap[0].ctx;

		heap_delete(t, 0);
		if (!ctx__hold(c))
			continue; /* being freed */
		lock_release(&lib.lock);
		ctx__cancel(c, -ETIMEDOUT, as_deadline(c)->cause);
		ctx__release(c);
		lock_acquire(&lib.lock);
		now = ctx__clock_now_ns(clock);
	}
	arm(clock, t->len ? t->heap[0].deadline_ns : NS_NEVER);
	lock_release(&lib.lock);
}

static void fire_watch(uint64_t data)
{
	uint32_t index = (uint32_t)data, seq = (uint32_t)(data >> 32);
	struct ctx *c = NULL;

	lock_acquire(&lib.lock);
	if (index < lib.slots_len && lib.slots[index].seq == seq && lib.slots[index].ctx &&
	    ctx__hold(lib.slots[index].ctx))
		c = lib.slots[index].ctx;
	lock_release(&lib.lock);
	if (c) {
		ctx__cancel(c, -ECANCELED, as_source(c)->cause);
		ctx__release(c);
	}
}

static void *library_thread(void *arg)
{
	struct epoll_event events[EVENTS_PER_WAKE];
	int epfd = (int)(intptr_t)arg;

	in_library_thread = true;
	for (;;) {
		int n = epoll_wait(epfd, events, EVENTS_PER_WAKE, -1);

		for (int i = 0; i < n; i++) {
			uint64_t data = events[i].data.u64;

			if (data == SIGNAL_EVENT)
				ctx__signals_dispatch();
			else if (data >= TIMER_EVENT(CTX_CLOCKS - 1))
				expire((enum ctx_clock)(TIMER_EVENT(0) - data));
			else
				fire_watch(data);
		}
	}
	return NULL;
}

/* Closes whichever of the timerfds and the epoll set are open. */
static void close_locked(void)
{
	if (lib.epfd >= 0)
		close(lib.epfd);
	lib.epfd = -1;
	for (int i = 0; i < CTX_CLOCKS; i++) {
		if (lib.timers[i].fd >= 0)
			close(lib.timers[i].fd);
		lib.timers[i].fd = -1;
		lib.timers[i].armed_ns = NS_NEVER;
	}
}

/* fork.c: the lock is held across fork(); the child forgets everything. */
void ctx__timer_fork_prepare(void)
{
	lock_acquire(&lib.lock);
}

void ctx__timer_fork_parent(void)
{
	lock_release(&lib.lock);
}

void ctx__timer_fork_child(void)
{
	/* The parent's timerfd and epoll set: close only our copies. */
	close_locked();
	lib.running = false;
	for (int i = 0; i < CTX_CLOCKS; i++)
		lib.timers[i].len = 0;
	lib.slots_len = 0;
	lib.free_slot = 0;
	forked_from_library_thread = in_library_thread;
	in_library_thread = false;
	lock_release(&lib.lock);
}

/* Makes a clock's timerfd, if not yet made, in the epoll set. */
static int open_timer_locked(enum ctx_clock clock)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TIMER_EVENT(clock) };
	struct timer *t = &lib.timers[clock];
	int r = 0;

	if (t->fd >= 0)
		return 0;
	t->fd = timerfd_create(timer_clocks[clock], TFD_CLOEXEC | TFD_NONBLOCK);
	if (t->fd < 0)
		return -errno;
	if (epoll_ctl(lib.epfd, EPOLL_CTL_ADD, t->fd, &ev) < 0) {
		r = -errno;
		close(t->fd);
		t->fd = -1;
	}
	return r;
}

/*
 * Makes the epoll set and the monotonic clock's timer, if not yet made;
 * the other clocks' timers wait for a deadline on them.
 */
static int open_locked(void)
{
	int r;

	if (lib.epfd >= 0)
		return 0;
	lib.epfd = epoll_create1(EPOLL_CLOEXEC);
	/* Like every descriptor of ours, non-blocking (epoll_create1 has no flag). */
	if (lib.epfd < 0 || fcntl(lib.epfd, F_SETFL, O_NONBLOCK) < 0) {
		r = -errno;
		close_locked();
		return r;
	}
	r = open_timer_locked(CTX_CLOCK_MONOTONIC);
	if (r < 0)
		close_locked();
	return r;
}

/*
 * An add failed: if the thread never started, its descriptors go too; else
 * the timer of another clock than the monotonic one, if it has no deadline.
 */
static void close_unstarted_locked(void)
{
	if (!lib.running) {
		close_locked();
		return;
	}
	for (int i = 0; i < CTX_CLOCKS; i++) {
		struct timer *t = &lib.timers[i];

		if (i != CTX_CLOCK_MONOTONIC && t->fd >= 0 && !t->len) {
			epoll_ctl(lib.epfd, EPOLL_CTL_DEL, t->fd, NULL);
			close(t->fd);
			t->fd = -1;
		}
	}
}

static int start_locked(void)
{
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t thread;
	int r;

	if (lib.running)
		return 0;
	/* Every signal blocked: the thread must never run a signal handler. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = -pthread_create(&thread, &attr, library_thread, (void *)(intptr_t)lib.epfd);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		return r;
	pthread_setname_np(thread, "ctx-timer");
	lib.running = true;
	return 0;
}

/* --- deadlines --- */

int ctx__timer_add(struct ctx *c)
{
	enum ctx_clock clock = ctx__deadline_clock(c);
	struct timer *t = &lib.timers[clock];
	int64_t deadline = as_deadline(c)->deadline_ns;
	int r;

	if (deadline == NS_NEVER)
		return 0; /* never fires: no timer */
	lock_acquire(&lib.lock);
	r = open_locked();
	if (r == 0)
		r = open_timer_locked(clock);
	if (r == 0 && t->len == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		struct heap_entry *heap = realloc(t->heap, cap * sizeof(*heap));

		if (heap) {
			t->heap = heap;
			t->cap = cap;
		} else {
			r = -ENOMEM;
		}
	}
	if (r == 0) {
		heap_insert(t, c);
		r = start_locked();
		if (r < 0)
			heap_delete(t, (size_t)as_deadline(c)->heap_index);
		else if (deadline < t->armed_ns) /* re-arm only when the earliest moves */
			arm(clock, deadline);
	}
	if (r < 0)
		close_unstarted_locked();
	lock_release(&lib.lock);
	return r;
}

void ctx__timer_remove(struct ctx *c)
{
	struct timer *t = &lib.timers[ctx__deadline_clock(c)];
	int i;

	lock_acquire(&lib.lock);
	i = as_deadline(c)->heap_index;
	/* The check also keeps a child of fork() off the heap it abandoned. */
	if (i >= 0 && (size_t)i < t->len && t->heap[i].ctx == c)
		heap_delete(t, (size_t)i);
	lock_release(&lib.lock);
}

/* The self-pipe of the signal handler (signals.c), watched by the thread. */
int ctx__watch_signal_pipe(int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = SIGNAL_EVENT };
	int r;

	lock_acquire(&lib.lock);
	r = open_locked();
	if (r == 0)
		r = epoll_ctl(lib.epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
	if (r == 0)
		r = start_locked();
	if (r < 0)
		close_unstarted_locked();
	lock_release(&lib.lock);
	return r;
}

/* --- fd sources --- */

int ctx__watch_add(struct ctx *c)
{
	struct epoll_event ev = { .events = as_source(c)->events | EPOLLONESHOT };
	uint32_t index;

	int r;

	lock_acquire(&lib.lock);
	r = open_locked();
	if (r < 0)
		goto out;
	if (lib.free_slot) {
		index = lib.free_slot - 1;
	} else {
		if (lib.slots_len == lib.slots_cap) {
			uint32_t cap = lib.slots_cap ? 2 * lib.slots_cap : 16;
			struct watch_slot *slots = realloc(lib.slots, cap * sizeof(*slots));

			if (!slots) {
				r = -ENOMEM;
				goto out;
			}
			lib.slots = slots;
			lib.slots_cap = cap;
		}
		index = lib.slots_len;
		lib.slots[index].seq = 0;
		lib.slots[index].next_free = 0;
	}
	ev.data.u64 = (uint64_t)(lib.slots[index].seq + 1) << 32 | index;
	if (epoll_ctl(lib.epfd, EPOLL_CTL_ADD, as_source(c)->fd, &ev) < 0) {
		r = -errno;
		goto out;
	}
	/* Closing the unstarted epoll set below also drops this watch. */
	r = start_locked();
	if (r < 0)
		goto out;
	if (index == lib.slots_len)
		lib.slots_len++;
	else
		lib.free_slot = lib.slots[index].next_free;
	lib.slots[index].seq++;
	lib.slots[index].ctx = c;
	as_source(c)->key = index + 1;
out:
	if (r < 0)
		close_unstarted_locked();
	lock_release(&lib.lock);
	return r;
}

/* Stops watching c's descriptor and closes our duplicate of it. */
void ctx__watch_remove(struct ctx *c)
{
	struct ctx_source *src = as_source(c);
	int fd;

	lock_acquire(&lib.lock);
	fd = src->fd;
	src->fd = -1;
	/* The check also keeps a child of fork() off the table it abandoned. */
	if (src->key && src->key <= lib.slots_len && lib.slots[src->key - 1].ctx == c) {
		struct watch_slot *slot = &lib.slots[src->key - 1];

		epoll_ctl(lib.epfd, EPOLL_CTL_DEL, fd, NULL);
		slot->ctx = NULL;
		slot->next_free = lib.free_slot;
		lib.free_slot = src->key;
		src->key = 0;
	}
	lock_release(&lib.lock);
	if (fd >= 0)
		close(fd);
}
