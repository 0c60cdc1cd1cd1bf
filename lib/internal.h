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

/* The clocks a deadline may be on; the library thread has a timer for each. */
enum ctx_clock { CTX_CLOCK_MONOTONIC, CTX_CLOCK_BOOTTIME, CTX_CLOCK_REALTIME, CTX_CLOCKS };

/*
 * The kinds of context. The cancellable ones, nodes whose done state can
 * change, come last. What a kind does beyond a plain node is in its own
 * file, reached through its entry in ctx__kinds (kinds.c). A deadline's
 * clock is part of its kind, CTX_DEADLINE + enum ctx_clock, which costs
 * the struct no byte.
 */
enum ctx_kind {
	CTX_ROOT,
	CTX_WITHOUT_CANCEL,
	CTX_VALUE,
	CTX_CANCEL, /* the first cancellable kind */
	CTX_DEADLINE,
	CTX_DEADLINE_LAST = CTX_DEADLINE + CTX_CLOCKS - 1,
	CTX_FD_SOURCE,
	CTX_SIGNALS,
	CTX_ANY,
	CTX_KINDS
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
 * A registrar's children are a list of links: a node's own (node.link), or
 * one of a merged context's (struct ctx_any_link), which has one under each
 * parent. The list holds each link's address with bit 0 set for a merged
 * context's (LINK_ANY), so a cancel walk knows which it is holding.
 */
#define LINK_ANY ((uintptr_t)1)

struct ctx_link {
	uintptr_t next;   /* the next entry, tagged */
	uintptr_t *pprev; /* what holds our entry; NULL when not linked */
};

/*
 * 72 bytes for a cancel context, so that it costs 80 bytes of heap, one of
 * glibc's 80-byte chunks (Go's size class for its cancelCtx is 80 too):
 * what only some contexts need (a deadline, a watched descriptor, a list
 * of after-functions) lives elsewhere. Every node points at the deadline
 * node bounding it, so finding a context's deadline never walks up the
 * tree.
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
			uintptr_t children; /* the first entry, tagged */
			/*
			 * In the registrar's list. Once unlinked by a cancel
			 * walk, link.next chains what that walk holds.
			 */
			struct ctx_link link;
			struct ctx_afters *afters; /* NULL until the first */
			struct ctx *bound; /* the deadline node bounding us, or NULL */
		} node;
	};
};

_Static_assert(sizeof(struct ctx) <= 72, "a cancel context fits an 80-byte malloc chunk");

/* A node's after-functions, allocated with the first (after.c). */
struct ctx_afters {
	struct ctx_after *first;
	unsigned int count;    /* in the list, stopped ones included */
	unsigned int sweep_at; /* sweep the stopped ones out at this count */
};

/*
 * What a kind does beyond a plain node; each member may be NULL.
 *  arm        gives a new node its source (a timer, a watch), while it is
 *             published under its registrar's lock; 0 or a negative errno.
 *  disarm     gives back what arm took and leaves any other parent: once
 *             the node is done, or when it is freed first. No lock held.
 *  unwatch    the caller's last reference is going (tree.c, drop).
 *  destroy    frees what the node owns, in any process, just before it.
 *  pop_parent a parent beyond ->parent that the node holds a reference on,
 *             one per call once it is dead, then NULL.
 *  describe   its link in ctx_describe, like snprintf.
 */
struct ctx_kind_ops {
	int (*arm)(struct ctx *c);
	void (*disarm)(struct ctx *c);
	void (*unwatch)(struct ctx *c);
	void (*destroy)(struct ctx *c);
	struct ctx *(*pop_parent)(struct ctx *c);
	int (*describe)(const struct ctx *c, int64_t now, char *buf, size_t len);
};

extern const struct ctx_kind_ops ctx__kinds[CTX_KINDS];

static inline const struct ctx_kind_ops *ctx__ops(const struct ctx *c)
{
	return &ctx__kinds[c->kind];
}

/* A deadline context: a node with a place in the library thread's heap. */
struct ctx_deadline {
	struct ctx ctx;
	int64_t deadline_ns; /* on its clock */
	int heap_index;      /* -1: not in the heap */
	int cause;
};

static inline enum ctx_clock ctx__deadline_clock(const struct ctx *deadline_node)
{
	return (enum ctx_clock)(deadline_node->kind - CTX_DEADLINE);
}

/* An fd-source context: a node whose descriptor the library thread watches. */
struct ctx_source {
	struct ctx ctx;
	int fd;          /* our duplicate, -1 once closed */
	int user_fd;     /* the caller's number, for describe */
	uint32_t events; /* what to watch for */
	uint32_t key;    /* slot in the watch table + 1; 0: not watched */
	int cause;
};

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
int ctx__publish(struct ctx *c, struct ctx **ret);
void ctx__link(uintptr_t *head, uintptr_t entry);
void ctx__unlink(struct ctx_link *l);
bool ctx__hold(struct ctx *c);
void ctx__release(struct ctx *c);
bool ctx__from_this_process(const struct ctx *c);

static inline bool ctx__is_root(const struct ctx *c)
{
	return c->kind == CTX_ROOT;
}

static inline bool ctx__cancellable(const struct ctx *c)
{
	return c->kind >= CTX_CANCEL;
}

/* The node whose done state c shows: itself, or a value context's owner. */
static inline struct ctx *ctx__owner(const struct ctx *c)
{
	return c->kind == CTX_VALUE ? c->val.owner : (struct ctx *)c;
}

/* The node a cancellable child of p registers with, if any. */
static inline struct ctx *ctx__registrar_of(const struct ctx *p)
{
	struct ctx *owner = ctx__owner(p);

	return ctx__cancellable(owner) ? owner : NULL;
}

/* Sets a node's done state: under its lock, or before it is published. */
static inline void ctx__set_done(struct ctx *c, int err, int cause)
{
	c->node.cause = cause;
	atomic_store_explicit(&c->err, (signed char)err, memory_order_release);
}

/* Born done like its registrar reg, whose lock is held. */
static inline void ctx__inherit_done(struct ctx *c, const struct ctx *reg)
{
	ctx__set_done(c, atomic_load_explicit(&reg->err, memory_order_relaxed), reg->node.cause);
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

/* The deadline node bounding c, if any: one load, whatever the depth. */
static inline struct ctx *ctx__bound(const struct ctx *c)
{
	return ctx__owner(c)->node.bound;
}

/* A list entry and the link it names. */
static inline struct ctx_link *ctx__link_of(uintptr_t entry)
{
	return (struct ctx_link *)(entry & ~LINK_ANY);
}

static inline uintptr_t ctx__entry_of(struct ctx *c)
{
	return (uintptr_t)&c->node.link;
}

static inline struct ctx *ctx__of_link(struct ctx_link *l)
{
	return (struct ctx *)((char *)l - offsetof(struct ctx, node.link));
}

/*
 * One of a merged context's links, in the list of the registrar of
 * `parent` (any.c).
 */
struct ctx_any_link {
	struct ctx_link link;
	struct ctx *any;
	struct ctx *parent;
};

static inline struct ctx_any_link *ctx__any_link(struct ctx_link *l)
{
	return (struct ctx_any_link *)l;
}

/* The context a list entry stands for. */
static inline struct ctx *ctx__of_entry(uintptr_t entry)
{
	struct ctx_link *l = ctx__link_of(entry);

	return entry & LINK_ANY ? ctx__any_link(l)->any : ctx__of_link(l);
}

/* any.c: a cancel walk made a merged context done through its link l. */
void ctx__any_fired(struct ctx_link *l);

/* cancel.c */
int ctx__cancel(struct ctx *c, int err, int cause);

/* after.c */
struct ctx_after *ctx__afters_take(struct ctx *node);
bool ctx__afters_run(struct ctx_after *list);
void ctx__afters_detach(struct ctx_after *list);
void ctx__afters_detach_value(struct ctx *value_ctx);

/*
 * timer.c: the library thread, its timers (one per clock in use) and its
 * fd watches. The first add starts the thread; an add that fails leaves no
 * thread or descriptor behind that it made.
 */
bool ctx__in_library_thread(void);
bool ctx__forked_from_library_thread(void);
int ctx__timer_add(struct ctx *c);
void ctx__timer_remove(struct ctx *c);
int ctx__watch_add(struct ctx *c);
void ctx__watch_remove(struct ctx *c);
int ctx__watch_signal_pipe(int fd);
/* timer.c's one call into signals.c: the self-pipe is readable. */
void ctx__signals_dispatch(void);

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
int64_t ctx__clock_now_ns(enum ctx_clock clock);
int64_t ctx__ns_from_now(uint64_t ns);
int64_t ctx__deadline_mono_ns(const struct ctx *deadline_node);

/* The kinds' operations, gathered in kinds.c. */
int ctx__tree_describe(const struct ctx *c, int64_t now, char *buf, size_t len);
void ctx__value_destroy(struct ctx *c);
int ctx__value_describe(const struct ctx *c, int64_t now, char *buf, size_t len);
int ctx__deadline_describe(const struct ctx *c, int64_t now, char *buf, size_t len);
int ctx__source_describe(const struct ctx *c, int64_t now, char *buf, size_t len);
void ctx__source_destroy(struct ctx *c);
void ctx__signals_unwatch(struct ctx *c);
int ctx__signals_describe(const struct ctx *c, int64_t now, char *buf, size_t len);
void ctx__any_disarm(struct ctx *c);
struct ctx *ctx__any_pop_parent(struct ctx *c);
int ctx__any_describe(const struct ctx *c, int64_t now, char *buf, size_t len);

#endif
