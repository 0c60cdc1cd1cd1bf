/* SPDX-License-Identifier: MIT */
/*
 * libctx io_uring helpers: bind io_uring submissions to contexts, so that a
 * context's deadline bounds them and its cancellation cancels them in the
 * kernel, without the completion loop having to notice first.
 *
 * Why header-only inline functions and not a libctx-uring library: every
 * helper is a few SQE preparations around liburing's own inline prep
 * functions, over the public <ctx.h> API only. Inline, they cost no extra
 * shared object, .pc file or symbol versioning, and plain libctx does not
 * depend on liburing: only programs that include this header need it, and
 * they link it themselves (-lctx -luring). The price is that the helpers
 * are compiled against the liburing headers the program sees, which is what
 * liburing's own prep functions already do. See the ctx_uring_*(3) pages.
 *
 * user_data tag scheme. Every SQE a helper prepares carries a user_data
 * with bit 63 set (CTX_URING_TAG), a kind in bits 56-62 and, in bits 0-55,
 * the low 56 bits of the key it serves. The application's own user_data
 * must keep bit 63 clear (user-space pointers and small integers do), so
 * ctx_uring_is_internal() tells helper completions from the application's.
 * Keys passed to ctx_uring_arm()/ctx_uring_disarm() should fit in 56 bits
 * (any user-space pointer does, even with 5-level paging): two keys equal
 * in their low 56 bits share one arm identity.
 *
 * Kernel features: IORING_OP_POLL_ADD/POLL_REMOVE (5.1), IORING_OP_ASYNC_CANCEL,
 * IORING_OP_LINK_TIMEOUT and IORING_TIMEOUT_ABS (5.5), IOSQE_IO_HARDLINK (5.6),
 * cancellation of requests parked on internal poll (FAST_POLL, 5.7) and
 * IORING_ASYNC_CANCEL_ALL/_FD (5.19). ctx_uring_probe() checks a kernel.
 */
#ifndef CTX_URING_H
#define CTX_URING_H

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <liburing.h>

#include <ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CTX_URING_TAG		(UINT64_C(1) << 63)
#define CTX_URING_KEY_MASK	((UINT64_C(1) << 56) - 1)
#define CTX_URING_KIND(ud)	((unsigned)(((ud) >> 56) & 0x7f))

/* Kinds, in bits 56-62 of a helper's user_data. */
#define CTX_URING_DEADLINE	1u	/* link timeout of ctx_uring_deadline() */
#define CTX_URING_DOOMED	2u	/* failing head before an op of a done context */
#define CTX_URING_ARM		3u	/* POLL_ADD on ctx_fd of ctx_uring_arm() */
#define CTX_URING_CANCEL	4u	/* linked ASYNC_CANCEL of ctx_uring_arm() */
#define CTX_URING_DISARM	5u	/* POLL_REMOVE of ctx_uring_disarm() */
#define CTX_URING_WAIT		6u	/* poll (and its removal) of ctx_uring_wait_cqe() */

static inline uint64_t __ctx_uring_ud(unsigned kind, uint64_t key)
{
	return CTX_URING_TAG | ((uint64_t)kind << 56) | (key & CTX_URING_KEY_MASK);
}

static inline bool ctx_uring_is_internal(const struct io_uring_cqe *cqe)
{
	return cqe && (cqe->user_data & CTX_URING_TAG);
}

/*
 * The SQ may be full; submitting what is queued to make room would break
 * the chains built here, so report -EBUSY and let the caller decide.
 */
static inline struct io_uring_sqe *__ctx_uring_sqe(struct io_uring *ring, uint64_t ud)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (sqe)
		io_uring_sqe_set_data64(sqe, ud);
	return sqe;
}

/*
 * Bound the operation already prepared in sqe (user_data and flags set,
 * last SQE of its chain, the SQE most recently got from ring: the link
 * timeout must be the next one) by ctx's deadline, with a linked absolute
 * CLOCK_MONOTONIC IORING_OP_LINK_TIMEOUT. ts is the timeout's storage and
 * must stay valid until the SQEs are submitted.
 *
 * If ctx is done, or its deadline has passed, the operation is doomed
 * deterministically rather than raced against an expired timer: sqe's
 * contents move to a fresh SQE and sqe becomes a head that always fails
 * (an ASYNC_CANCEL of a key nobody uses), linked to the operation, so the
 * operation completes with -ECANCELED without ever being issued. A link
 * timeout would let an operation that can complete inline (data already
 * there) succeed. After the call, sqe must not be touched.
 *
 * Returns the number of SQEs added (0: no deadline, nothing to do; 1), or
 * -EINVAL, or -EBUSY when the SQ has no room (sqe is then left unlinked).
 */
static inline int ctx_uring_deadline(struct io_uring *ring, struct io_uring_sqe *sqe,
				     ctx_t *ctx, struct __kernel_timespec *ts)
{
	struct io_uring_sqe *next;
	struct timespec dl;

	if (!ring || !sqe || !ctx || !ts)
		return -EINVAL;
	if (ctx_timeout_ms(ctx) == 0) {
		next = io_uring_get_sqe(ring);
		if (!next)
			return -EBUSY;
		memcpy(next, sqe, (ring->flags & IORING_SETUP_SQE128) ? 2 * sizeof(*sqe)
								 : sizeof(*sqe));
		/*
		 * Kind 0 is never given to an SQE, so this cancel finds
		 * nothing and fails with -ENOENT; its soft link then fails
		 * the operation (and the rest of the caller's chain).
		 */
		io_uring_prep_cancel64(sqe, CTX_URING_TAG, 0);
		io_uring_sqe_set_data64(sqe, __ctx_uring_ud(CTX_URING_DOOMED,
							   next->user_data));
		sqe->flags |= IOSQE_IO_LINK;
		return 1;
	}
	if (!ctx_deadline(ctx, &dl))
		return 0;
	next = __ctx_uring_sqe(ring, 0);
	if (!next)
		return -EBUSY;
	ts->tv_sec = dl.tv_sec;
	ts->tv_nsec = dl.tv_nsec;
	io_uring_prep_link_timeout(next, ts, IORING_TIMEOUT_ABS);
	io_uring_sqe_set_data64(next, __ctx_uring_ud(CTX_URING_DEADLINE, sqe->user_data));
	sqe->flags |= IOSQE_IO_LINK;
	return 1;
}

/*
 * Arm, in the kernel, the cancellation of every request with user_data
 * key (and, if fd >= 0, every request on fd) when ctx is done: a POLL_ADD
 * on ctx_fd(ctx) linked to ASYNC_CANCELs. The kernel runs the cancels
 * itself; the completion loop only sees the targets end with -ECANCELED.
 *
 * Order rule: the cancels look for their targets when the poll fires, which
 * is at once if ctx is already done. Prepare the arm after its targets and
 * submit it in the same io_uring_submit() or a later one, never an earlier.
 *
 * The arm stays in the kernel after its targets complete: disarm it with
 * ctx_uring_disarm(ring, key) before reusing key. One arm per key.
 *
 * Returns the number of SQEs added (2 or 3), or -EINVAL, -EBUSY (SQ full:
 * nothing was prepared), -EOPNOTSUPP (fd >= 0 with liburing headers too old
 * for IORING_ASYNC_CANCEL_FD), or ctx_fd()'s error (such as -EMFILE).
 */
static inline int ctx_uring_arm(struct io_uring *ring, ctx_t *ctx, uint64_t key, int fd)
{
	struct io_uring_sqe *poll, *cancel;
	unsigned int need = fd >= 0 ? 3 : 2;
	int done_fd;

	if (!ring || !ctx || (key & CTX_URING_TAG))
		return -EINVAL;
#ifndef IORING_ASYNC_CANCEL_FD
	if (fd >= 0)
		return -EOPNOTSUPP;
#endif
	done_fd = ctx_fd(ctx);
	if (done_fd < 0)
		return done_fd;
	if (io_uring_sq_space_left(ring) < need)
		return -EBUSY;

	poll = __ctx_uring_sqe(ring, 0);
	io_uring_prep_poll_add(poll, done_fd, POLLIN);
	io_uring_sqe_set_data64(poll, __ctx_uring_ud(CTX_URING_ARM, key));
	/*
	 * A soft link: when the poll is removed (disarmed) it fails, and the
	 * kernel then fails the rest of the chain instead of running it.
	 */
	poll->flags |= IOSQE_IO_LINK;

	cancel = __ctx_uring_sqe(ring, __ctx_uring_ud(CTX_URING_CANCEL, key));
#ifdef IORING_ASYNC_CANCEL_ALL
	io_uring_prep_cancel64(cancel, key, IORING_ASYNC_CANCEL_ALL);
#else
	io_uring_prep_cancel64(cancel, key, 0);
#endif
	io_uring_sqe_set_data64(cancel, __ctx_uring_ud(CTX_URING_CANCEL, key));
#ifdef IORING_ASYNC_CANCEL_FD
	if (fd >= 0) {
		/* A hard link: "no request had that user_data" must not stop it. */
		cancel->flags |= IOSQE_IO_HARDLINK;
		cancel = __ctx_uring_sqe(ring, 0);
		io_uring_prep_cancel_fd(cancel, fd, IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(cancel, __ctx_uring_ud(CTX_URING_CANCEL, key));
	}
#endif
	return (int)need;
}

/*
 * Prepare the removal of the arm of key (a POLL_REMOVE), after its targets
 * completed. The removed poll and the cancels linked to it complete with
 * -ECANCELED, the removal with 0 (or -ENOENT if the arm had already fired).
 * Returns 1, or -EINVAL, or -EBUSY.
 */
static inline int ctx_uring_disarm(struct io_uring *ring, uint64_t key)
{
	struct io_uring_sqe *sqe;

	if (!ring || (key & CTX_URING_TAG))
		return -EINVAL;
	sqe = __ctx_uring_sqe(ring, 0);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_remove(sqe, __ctx_uring_ud(CTX_URING_ARM, key));
	io_uring_sqe_set_data64(sqe, __ctx_uring_ud(CTX_URING_DISARM, key));
	return 1;
}

/*
 * Wait for the next application completion or for ctx to be done,
 * whichever comes first; the context is checked first. Submits whatever
 * the caller has prepared. Helper completions (ctx_uring_is_internal())
 * met on the way are consumed and never returned.
 *
 * To block, a POLL_ADD on ctx_fd(ctx) goes into the ring; if a completion
 * wins, its POLL_REMOVE is prepared and goes in with the next submission.
 *
 * Returns 0 with *cqe_ptr set (mark it seen with io_uring_cqe_seen()), or
 * ctx_err(ctx) when the context is done, or -EINVAL, -EBUSY (SQ full), or
 * another negative errno from io_uring_enter(2). Never -EINTR.
 */
static inline int ctx_uring_wait_cqe(struct io_uring *ring, ctx_t *ctx,
				     struct io_uring_cqe **cqe_ptr)
{
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	bool armed = false;
	uint64_t ud;
	int r, fd;

	if (!ring || !ctx || !cqe_ptr)
		return -EINVAL;
	ud = __ctx_uring_ud(CTX_URING_WAIT, (uint64_t)(uintptr_t)ctx);
	for (;;) {
		r = ctx_err(ctx);
		if (r < 0)
			return r;
		while (io_uring_peek_cqe(ring, &cqe) == 0 && ctx_uring_is_internal(cqe))
			io_uring_cqe_seen(ring, cqe);
		if (cqe) {
			*cqe_ptr = cqe;
			break;
		}
		if (!armed) {
			fd = ctx_fd(ctx);
			if (fd < 0)
				return fd;
			sqe = __ctx_uring_sqe(ring, ud);
			if (!sqe)
				return -EBUSY;
			io_uring_prep_poll_add(sqe, fd, POLLIN);
			io_uring_sqe_set_data64(sqe, ud);
			armed = true;
		}
		r = io_uring_submit_and_wait(ring, 1);
		if (r < 0 && r != -EINTR)
			return r;
	}
	if (armed) {
		sqe = __ctx_uring_sqe(ring, ud);
		/*
		 * With no room left, the poll stays armed: harmless, its
		 * completion is internal and arrives once ctx is done.
		 */
		if (sqe) {
			io_uring_prep_poll_remove(sqe, ud);
			io_uring_sqe_set_data64(sqe, ud);
		}
	}
	return 0;
}

/*
 * Check, on a scratch ring, that this kernel has what the helpers use:
 * the opcodes, FAST_POLL (so blocked reads sit on an internal poll where a
 * cancel reaches them) and the IORING_ASYNC_CANCEL_ALL/_FD flags, which
 * kernels before 5.19 reject with -EINVAL. Returns 0 if all is there,
 * -EOPNOTSUPP if something is missing, or io_uring_queue_init()'s error
 * (-ENOSYS: no io_uring; -EPERM: disabled, e.g. by kernel.io_uring_disabled
 * or seccomp; -ENOMEM).
 */
static inline int ctx_uring_probe(void)
{
	static const int ops[] = {
		IORING_OP_POLL_ADD, IORING_OP_POLL_REMOVE,
		IORING_OP_ASYNC_CANCEL, IORING_OP_LINK_TIMEOUT,
	};
	struct io_uring_probe *probe;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	unsigned int i;
	int r;

	r = io_uring_queue_init(2, &ring, 0);
	if (r < 0)
		return r;
	r = 0;
	probe = io_uring_get_probe_ring(&ring);
	if (!probe || !(ring.features & IORING_FEAT_FAST_POLL))
		r = -EOPNOTSUPP;
	for (i = 0; r == 0 && i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!io_uring_opcode_supported(probe, ops[i]))
			r = -EOPNOTSUPP;
	if (probe)
		io_uring_free_probe(probe);
#ifdef IORING_ASYNC_CANCEL_FD
	if (r == 0) {
		/* No request is on the ring's own fd: a count of 0 is success. */
		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_cancel_fd(sqe, ring.ring_fd, IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(sqe, CTX_URING_TAG);
		r = io_uring_submit_and_wait(&ring, 1);
		if (r >= 0)
			r = io_uring_peek_cqe(&ring, &cqe);
		if (r == 0)
			r = cqe->res == 0 ? 0 : -EOPNOTSUPP;
	}
#else
	(void)cqe;
	(void)sqe;
#endif
	io_uring_queue_exit(&ring);
	return r;
}

#ifdef __cplusplus
}
#endif

#endif /* CTX_URING_H */
