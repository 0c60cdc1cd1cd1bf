/* SPDX-License-Identifier: MIT */
/*
 * libctx — Go's context for C on Linux: cancellation trees, deadlines and
 * request-scoped values, with a pollable done file descriptor per context.
 *
 * Every function is safe to call from any thread. Functions returning int
 * return a non-negative value on success and a negative errno on failure.
 * See libctx(7).
 */
#ifndef CTX_H
#define CTX_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Calls into libctx jump through the GOT, not the PLT (GCC's noplt): one
 * jump less on every call, which shows in a hot ctx_err loop. The ABI is
 * the same either way.
 */
#if defined(__has_attribute)
#if __has_attribute(noplt)
#define CTX_NOPLT __attribute__((noplt))
#endif
#endif
#ifndef CTX_NOPLT
#define CTX_NOPLT
#endif

typedef struct ctx ctx_t;
typedef struct ctx_after ctx_after_t;

/* Roots: never done, no deadline, no values. */
CTX_NOPLT ctx_t *ctx_background(void);
CTX_NOPLT ctx_t *ctx_todo(void);

/* Deriving: 0 and a new reference in *ret, or a negative errno. */
CTX_NOPLT int ctx_with_cancel(ctx_t *parent, ctx_t **ret);
CTX_NOPLT int ctx_with_deadline(ctx_t *parent, const struct timespec *deadline, ctx_t **ret);
CTX_NOPLT int ctx_with_deadline_cause(ctx_t *parent, const struct timespec *deadline,
				      int cause, ctx_t **ret);
CTX_NOPLT int ctx_with_timeout(ctx_t *parent, uint64_t timeout_ns, ctx_t **ret);
CTX_NOPLT int ctx_with_timeout_cause(ctx_t *parent, uint64_t timeout_ns, int cause, ctx_t **ret);
CTX_NOPLT int ctx_with_value(ctx_t *parent, const void *key, void *value,
			     void (*destroy)(void *value), ctx_t **ret);
CTX_NOPLT int ctx_without_cancel(ctx_t *parent, ctx_t **ret);
CTX_NOPLT int ctx_with_fd(ctx_t *parent, int fd, uint32_t events, int cause, ctx_t **ret);

/* Cancelling: 0, -EALREADY if already done, -EINVAL if not cancellable. */
CTX_NOPLT int ctx_cancel(ctx_t *ctx);
CTX_NOPLT int ctx_cancel_cause(ctx_t *ctx, int cause);

/* Observing. */
CTX_NOPLT int ctx_err(const ctx_t *ctx);
CTX_NOPLT int ctx_cause(const ctx_t *ctx);
CTX_NOPLT bool ctx_deadline(const ctx_t *ctx, struct timespec *deadline);
CTX_NOPLT int ctx_timeout_ms(const ctx_t *ctx);
CTX_NOPLT void *ctx_value(const ctx_t *ctx, const void *key);
CTX_NOPLT int ctx_fd(ctx_t *ctx);

/* Waiting. */
CTX_NOPLT int ctx_wait(ctx_t *ctx);
CTX_NOPLT int ctx_sleep(ctx_t *ctx, uint64_t ns);
CTX_NOPLT int ctx_poll(ctx_t *ctx, int fd, short events);

/* Signals (Go's signal.NotifyContext): cancelled with cause -EINTR. */
CTX_NOPLT int ctx_with_signals(ctx_t *parent, const sigset_t *set, ctx_t **ret);

/* After-functions (Go's AfterFunc). */
CTX_NOPLT int ctx_after_func(ctx_t *ctx, void (*fn)(void *arg), void *arg, ctx_after_t **ret);
CTX_NOPLT bool ctx_after_stop(ctx_after_t *after);

/* Lifetime and introspection. */
CTX_NOPLT ctx_t *ctx_ref(ctx_t *ctx);
CTX_NOPLT ctx_t *ctx_unref(ctx_t *ctx);
CTX_NOPLT int ctx_describe(const ctx_t *ctx, char *buf, size_t len);

/* 1.1: merging (done when any parent is done) and deadlines on another clock. */
CTX_NOPLT int ctx_with_any(ctx_t *const parents[], size_t n, ctx_t **ret);
CTX_NOPLT int ctx_any_index(const ctx_t *ctx);
CTX_NOPLT int ctx_with_deadline_clock(ctx_t *parent, clockid_t clock,
				      const struct timespec *deadline, int cause, ctx_t **ret);

/*
 * Version 1.1: deadlines over the wire, as gRPC's grpc-timeout value
 * ("1500m", "3S"): the time left, and a timeout child from such a value.
 */
CTX_NOPLT int ctx_timeout_header(const ctx_t *ctx, char *buf, size_t len);
CTX_NOPLT int ctx_with_timeout_header(ctx_t *parent, const char *value, size_t len, ctx_t **ret);

/* For __attribute__((cleanup(ctx_unrefp))): C's defer. */
static inline void ctx_unrefp(ctx_t **ctx)
{
	if (ctx && *ctx)
		*ctx = ctx_unref(*ctx);
}

#ifdef __cplusplus
}
#endif

#endif /* CTX_H */
