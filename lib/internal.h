/* SPDX-License-Identifier: MIT */
/*
 * Private structures and helpers shared by the files of lib/.
 *
 * A context is either a *node*, which owns a done state (cancel, deadline
 * and fd-source contexts, plus the roots and without_cancel contexts, whose
 * done state never changes), or a *value* context, which borrows the done
 * state of its nearest node ancestor (its `owner`).
 *
 * Cancellable nodes keep their live cancellable children in an intrusive
 * doubly linked list, protected by the node's lock.
 *
 * Lock order: node locks, ancestor before descendant; then the signals lock
 * (signals.c), taken with no node lock held; then the library thread's lock
 * (timer.c), also taken under a node lock; the never-ready fd's lock (fd.c)
 * is a leaf. fork.c takes the three global ones in that order.
 */
#ifndef CTX_INTERNAL_H
#define CTX_INTERNAL_H

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ctx.h"
#include "lock.h"

#define CTX_EXPORT __attribute__((visibility("default")))

/* Argument check at the API boundary (after systemd's assert_return). */
#define ctx_assert_return(expr, r)                                                 \
	do {                                                                        \
		if (__builtin_expect(!(expr), 0))                                   \
			return (r);                                                 \
	} while (0)

/* Monotonic nanoseconds; NS_NEVER is a deadline too far away to fire. */
#define NS_NEVER INT64_MAX
#define NS_PER_SEC 1000000000LL

/* The cancellable kinds, nodes whose done state can change, carry this bit. */
#define CTX_CANCELLABLE 0x80

enum ctx_kind {
	CTX_ROOT = 0,
	CTX_WITHOUT_CANCEL = 1,
	CTX_VALUE = 2,
	CTX_CANCEL = CTX_CANCELLABLE,
	CTX_DEADLINE = CTX_CANCELLABLE | 1,
	CTX_FD_SOURCE = CTX_CANCELLABLE | 2,
	CTX_SIGNALS = CTX_CANCELLABLE | 3,
};

/*
 * An after-function registration. It is shared by the node's list and the
 * caller's handle (two references); `state` decides, by one compare and
 * swap, whether it fires, is stopped, or is dropped with its context.
 */
enum after_state { AFTER_PENDING, AFTER_FIRED, AFTER_STOPPED, AFTER_DETACHED };

struct ctx_after {
	atomic_int state;
	atomic_int refs;
	void (*fn)(void *arg);
	void *arg;
	const struct ctx *on;   /* the context it was registered on */
	struct ctx_after *next; /* in the node's list, under its lock */
};

/*
 * References come in two units in one counter. The caller's, and those a
 * child holds on its parent, count in the low 31 bits; the holds the
 * library takes for the span of a cancel (ctx__hold) count in the high 32.
 * So the caller's last ctx_unref is known even while the library still
 * holds the context: a signals context gives back its dispositions then,
 * and a forked child frees what threads that no longer exist were holding.
 * Bit 31 says that the context's reference on its parent has become a hold
 * (tree.c, hand_over_parent_refs).
 */
#define REF_USER UINT64_C(1)
#define REF_PARENT_HELD (UINT64_C(1) << 31)
#define REF_USER_MASK (REF_PARENT_HELD - 1)
#define REF_HELD (UINT64_C(1) << 32)

/*
 * 72 bytes for a cancel context, so a live one costs no more heap than in
 * Go: what only some contexts need (a deadline, a watched descriptor) lives
 * in the larger structs below, and the deadline bounding a context is found
 * by walking up to the nearest deadline node, as Go's Deadline() does.
 */
struct ctx {
	_Atomic uint64_t refs; /* REF_USER and REF_HELD units */
	uint8_t kind;          /* enum ctx_kind */
	atomic_schar err;      /* 0, -ECANCELED or -ETIMEDOUT: both fit; nodes only */
	uint16_t gen;          /* fork generation it was made in, modulo 2^16 */
	struct ctx_lock lock;  /* nodes only */
	struct ctx *parent;    /* holds a reference; NULL for the roots */
	union {
		struct {
			struct ctx *owner; /* the node holding our done state */
			const void *key;
			void *value;
			void (*destroy)(void *value);
			/* after-functions registered on us wait on the owner */
			bool has_afters;
		} val;
		struct {
			int cause;         /* written before err is released */
			atomic_int fd;     /* done eventfd, or -1 until asked for */
			unsigned int after_count;
			unsigned int after_sweep_at;
			struct ctx *children;
			/*
			 * Links in the parent's list; pprev is NULL when not
			 * linked. Once unlinked by a cancellation, `sibling`
			 * chains the nodes that cancellation holds.
			 */
			struct ctx *sibling;
			struct ctx **pprev;
			struct ctx_after *afters;
		} node;
	};
};

/* A deadline context: a node with a place in the library thread's heap. */
struct ctx_deadline {
	struct ctx ctx;
	int64_t deadline_ns;
	int heap_index; /* -1: not in the heap */
	int cause;
};

/* An fd-source context: a node whose descriptor the library thread watches. */
struct ctx_source {
	struct ctx ctx;
	int fd;       /* our duplicate, -1 once closed */
	int user_fd;  /* the caller's number, for describe */
	uint32_t key; /* slot in the watch table + 1; 0: not watched */
	int cause;
};

/* A signals context: a node on the list of the signal dispatcher. */
struct ctx_signals {
	struct ctx ctx;
	uint64_t mask; /* bit signo - 1 */
	struct ctx_signals *next, **pprev; /* under the signals lock */
	struct ctx_signals *firing;        /* the library thread's own list */
};

static inline struct ctx_signals *as_signals(const struct ctx *c)
{
	return (struct ctx_signals *)c;
}

static inline struct ctx_deadline *as_deadline(const struct ctx *c)
{
	return (struct ctx_deadline *)c;
}

static inline struct ctx_source *as_source(const struct ctx *c)
{
	return (struct ctx_source *)c;
}

/* tree.c */
struct ctx *ctx__node_new(struct ctx *parent, enum ctx_kind kind, size_t size);
void ctx__node_free(struct ctx *c);
struct ctx *ctx__registrar(const struct ctx *c);
int ctx__publish(struct ctx *c, int (*arm)(struct ctx *c, uint32_t arg), uint32_t arg,
		 struct ctx **ret);
void ctx__link(struct ctx *reg, struct ctx *c);
void ctx__unlink(struct ctx *c);
void ctx__set_done(struct ctx *c, int err, int cause);
void ctx__inherit_done(struct ctx *c, const struct ctx *reg);
bool ctx__hold(struct ctx *c);
void ctx__release(struct ctx *c);
bool ctx__from_this_process(const struct ctx *c);
void ctx__release_sources(struct ctx *c);

static inline bool ctx__is_root(const struct ctx *c)
{
	return c->kind == CTX_ROOT;
}

static inline bool ctx__cancellable(const struct ctx *c)
{
	return c->kind & CTX_CANCELLABLE;
}

/* The node whose done state c shows: itself, or a value context's owner. */
static inline struct ctx *ctx__owner(const struct ctx *c)
{
	return c->kind == CTX_VALUE ? c->val.owner : (struct ctx *)c;
}

/* For a node whose lock is held. */
static inline bool ctx__is_done(const struct ctx *n)
{
	return atomic_load_explicit(&n->err, memory_order_relaxed) != 0;
}

static inline int ctx__err(const struct ctx *c)
{
	return atomic_load_explicit(&ctx__owner(c)->err, memory_order_acquire);
}

/* The deadline node bounding c, if any: Go walks up for Deadline() too. */
static inline struct ctx *ctx__deadline_of(const struct ctx *c)
{
	for (;; c = c->parent) {
		if (c->kind == CTX_DEADLINE)
			return (struct ctx *)c;
		if (c->kind == CTX_ROOT || c->kind == CTX_WITHOUT_CANCEL)
			return NULL;
	}
}

/* cancel.c */
int ctx__cancel(struct ctx *c, int err, int cause);

/* after.c */
bool ctx__afters_run(struct ctx_after *list);
void ctx__afters_detach(struct ctx_after *list);
void ctx__afters_detach_value(struct ctx *value_ctx);

/*
 * timer.c: the library thread, its timer heap and its fd watches. The first
 * add starts the thread; an add that fails leaves no thread or descriptor
 * behind that it made.
 */
bool ctx__in_library_thread(void);
bool ctx__forked_from_library_thread(void);
int ctx__timer_add(struct ctx *c, uint32_t unused);
void ctx__timer_remove(struct ctx *c);
int ctx__watch_add(struct ctx *c, uint32_t events);
void ctx__watch_remove(struct ctx *c);
int ctx__watch_signal_pipe(int fd);

/* signals.c */
void ctx__signals_dispatch(void);
void ctx__signals_remove(struct ctx *c);

/* fd.c */
int ctx__never_fd(void);

/* fork.c calls these in its declared order; each file resets its own state. */
extern atomic_uint ctx__fork_gen;
void ctx__signals_fork_prepare(void);
void ctx__signals_fork_parent(void);
void ctx__signals_fork_child(void);
void ctx__timer_fork_prepare(void);
void ctx__timer_fork_parent(void);
void ctx__timer_fork_child(void);
void ctx__fd_fork_prepare(void);
void ctx__fd_fork_parent(void);
void ctx__fd_fork_child(void);

/* deadline.c */
int64_t ctx__now_ns(void);
int64_t ctx__ns_from_now(uint64_t ns);

#endif
