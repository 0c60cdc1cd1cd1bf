/* SPDX-License-Identifier: MIT */
/*
 * libctx PostgreSQL helpers: run a libpq command bound to a context. When
 * the context is done, the command is cancelled on the server, its results
 * are drained and the connection is left ready for the next command.
 *
 * Why header-only, like <ctx_uring.h>: each helper is a poll loop and a
 * cancel over public libpq and <ctx.h> calls. Inline, plain libctx does not
 * depend on libpq: only programs that include this header need it, and
 * they link it themselves (-lctx -lpq -pthread). See ctx_pq_exec(3) and
 * ctx_pq_cancel_start(3).
 *
 * Cancelling. libpq 15 has one way to stop a running command: PQcancel(),
 * which opens a new connection to the server, sends the cancel key and
 * waits for the server to close that connection. It blocks: tens of
 * milliseconds on a local server (the postmaster forks a process for the
 * request), but towards a remote one for as long as connect() takes (up to
 * the kernel's SYN retries, about two minutes, when the host does not
 * answer; tcp_user_timeout and keepalives of the connection apply) and,
 * once connected, until the server answers. So the helpers never call it
 * in the caller's thread: ctx_pq_cancel_start() runs it in a short-lived
 * thread of its own and hands back a descriptor that polls readable when
 * it returned, to go into the caller's poll set or event loop.
 *
 * Two rules of the protocol shape ctx_pq_get_result():
 *  - the server applies a cancel to whatever the backend runs when it
 *    arrives. A cancel still on its way when the caller sends the next
 *    command would cancel that one: the connection is reusable only once
 *    the result is drained *and* every cancel sent has returned.
 *  - a cancel that arrives while the backend is still reading the command
 *    (sent a moment before) is ignored, and so is one caught by an
 *    exception handler in the command: while the command runs on, the
 *    cancel is sent again, every CTX_PQ_RETRY_MS.
 * Both are bounded by CTX_PQ_CANCEL_MS from the moment the context is
 * done: past it, the helper gives up with -EBUSY and the connection must be
 * closed (PQfinish), since its command may still be running.
 */
#ifndef CTX_PQ_H
#define CTX_PQ_H

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Milliseconds from the context being done to giving up on the command. */
#ifndef CTX_PQ_CANCEL_MS
#define CTX_PQ_CANCEL_MS 2000
#endif
/* Milliseconds after a cancel returned before another is sent. */
#ifndef CTX_PQ_RETRY_MS
#define CTX_PQ_RETRY_MS 100
#endif

/*
 * A cancel request in flight. Opaque: use ctx_pq_cancel_start() and
 * ctx_pq_cancel_end(). The state word decides who frees it: the caller
 * (ctx_pq_cancel_end after the thread finished) or the thread (when the
 * caller abandoned it first).
 */
typedef struct ctx_pq_cancel {
	PGcancel *cancel;
	pthread_t thread;
	int fd;			/* eventfd, readable once PQcancel() returned */
	int state;		/* __CTX_PQ_RUNNING, _DONE or _ABANDONED */
	int ok;			/* PQcancel()'s result */
	char err[256];		/* and its message */
} ctx_pq_cancel_t;

#define __CTX_PQ_RUNNING	0
#define __CTX_PQ_DONE		1
#define __CTX_PQ_ABANDONED	2

static inline void __ctx_pq_cancel_free(ctx_pq_cancel_t *c)
{
	PQfreeCancel(c->cancel);
	close(c->fd);
	free(c);
}

static inline void *__ctx_pq_cancel_main(void *arg)
{
	ctx_pq_cancel_t *c = (ctx_pq_cancel_t *)arg;

	c->ok = PQcancel(c->cancel, c->err, (int)sizeof(c->err));
	eventfd_write(c->fd, 1);
	/*
	 * Publishes ok and err. It is the thread's last touch of c: once the
	 * eventfd is readable or the state is DONE, the caller may join and
	 * free, unless it abandoned c first, and then the thread frees it.
	 */
	if (__atomic_exchange_n(&c->state, __CTX_PQ_DONE, __ATOMIC_ACQ_REL) ==
	    __CTX_PQ_ABANDONED)
		__ctx_pq_cancel_free(c);
	return NULL;
}

/*
 * Start a cancel request for the command running on conn, in a thread of
 * its own (PQcancel() blocks). Returns a descriptor that polls readable
 * once the request has been dispatched or has failed (it belongs to *ret:
 * never read or close it), or -EINVAL, -ENOTCONN (conn has no server
 * connection), -ENOMEM, -EMFILE, -ENFILE, -EAGAIN (no thread).
 * Pass *ret to ctx_pq_cancel_end() exactly once.
 */
static inline int ctx_pq_cancel_start(PGconn *conn, ctx_pq_cancel_t **ret)
{
	sigset_t all, old;
	ctx_pq_cancel_t *c;
	int r;

	if (!conn || !ret)
		return -EINVAL;
	c = (ctx_pq_cancel_t *)calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cancel = PQgetCancel(conn);
	if (!c->cancel) {
		free(c);
		return PQstatus(conn) == CONNECTION_OK ? -ENOMEM : -ENOTCONN;
	}
	c->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->fd < 0) {
		r = -errno;
		PQfreeCancel(c->cancel);
		free(c);
		return r;
	}
	/*
	 * The thread blocks every signal, so none meant for the caller's
	 * threads is delivered to it (libctx's own thread does the same).
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&c->thread, NULL, __ctx_pq_cancel_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		__ctx_pq_cancel_free(c);
		return r;
	}
	*ret = c;
	return c->fd;
}

/*
 * Finish with a cancel request: 0 if it was dispatched (the server may
 * still have had nothing to cancel), -EIO if it failed (PQcancel()'s
 * message is copied to errbuf when errbuf is not NULL), -EINPROGRESS if it
 * is still running: its thread then finishes and frees it on its own, and
 * the server may still receive it. -EINVAL if c is NULL.
 */
static inline int ctx_pq_cancel_end(ctx_pq_cancel_t *c, char *errbuf, size_t len)
{
	struct pollfd p;
	int r;

	if (!c)
		return -EINVAL;
	p.fd = c->fd;
	p.events = POLLIN;
	if (poll(&p, 1, 0) != 1 &&
	    __atomic_load_n(&c->state, __ATOMIC_ACQUIRE) == __CTX_PQ_RUNNING) {
		/* Still in PQcancel(): leave c to the thread. */
		pthread_detach(c->thread);
		if (__atomic_exchange_n(&c->state, __CTX_PQ_ABANDONED, __ATOMIC_ACQ_REL) ==
		    __CTX_PQ_RUNNING)
			return -EINPROGRESS;
		/* It finished meanwhile: its exchange was its last touch of c. */
	} else {
		/* PQcancel() returned (the eventfd says so): it is exiting. */
		pthread_join(c->thread, NULL);
	}
	r = c->ok ? 0 : -EIO;
	if (r < 0 && errbuf && len > 0)
		snprintf(errbuf, len, "%s", c->err);
	__ctx_pq_cancel_free(c);
	return r;
}

static inline int64_t __ctx_pq_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Poll conn's socket (for reading, and writing while libpq has output
 * queued: a non-blocking connection) and up to one other descriptor.
 * Returns 0 (ready or timed out), -ECONNRESET when libpq cannot flush, or
 * poll()'s negative errno. EINTR counts as "ready": the caller loops.
 */
static inline int __ctx_pq_poll(PGconn *conn, int fd, int timeout_ms)
{
	struct pollfd p[2];
	int f = PQflush(conn);

	if (f < 0)
		return -ECONNRESET;
	p[0].fd = PQsocket(conn);
	p[0].events = (short)(POLLIN | (f ? POLLOUT : 0));
	p[1].fd = fd;
	p[1].events = POLLIN;
	if (poll(p, fd >= 0 ? 2 : 1, timeout_ms) < 0 && errno != EINTR)
		return -errno;
	return 0;
}

/*
 * The context is done while a command runs: cancel it on the server (again
 * every CTX_PQ_RETRY_MS while it runs on), drain its results into *res
 * (the last one) and wait for every cancel sent to return, all within
 * CTX_PQ_CANCEL_MS. Returns err when the connection is reusable, -EBUSY
 * when it is not, -ECONNRESET when it broke.
 */
static inline int __ctx_pq_interrupt(PGconn *conn, PGresult **res, int err)
{
	int64_t now, give_up = __ctx_pq_now_ms() + CTX_PQ_CANCEL_MS, next = 0;
	ctx_pq_cancel_t *cancel = NULL;
	int fd = -1, r = 0, wait_ms;
	bool drained = false;
	PGresult *one;
	struct pollfd p;

	for (;;) {
		if (!PQconsumeInput(conn)) {
			r = -ECONNRESET;
			break;
		}
		while (!drained && !PQisBusy(conn)) {
			one = PQgetResult(conn);
			if (!one) {
				drained = true;
				break;
			}
			PQclear(*res);
			*res = one;
		}
		if (cancel) {
			p.fd = fd;
			p.events = POLLIN;
			if (poll(&p, 1, 0) == 1) {
				ctx_pq_cancel_end(cancel, NULL, 0);
				cancel = NULL;
				next = __ctx_pq_now_ms() + CTX_PQ_RETRY_MS;
			}
		}
		if (drained && !cancel)
			break;
		now = __ctx_pq_now_ms();
		if (now >= give_up) {
			r = -EBUSY;
			break;
		}
		if (!drained && !cancel && now >= next) {
			fd = ctx_pq_cancel_start(conn, &cancel);
			if (fd < 0) {
				/* Try again at the next round: memory, threads. */
				cancel = NULL;
				next = now + CTX_PQ_RETRY_MS;
			}
		}
		wait_ms = (int)(give_up - now);
		if (!cancel && !drained && next - now < wait_ms)
			wait_ms = (int)(next - now);
		if (drained) {
			/* Only the cancel is left to wait for. */
			p.fd = fd;
			p.events = POLLIN;
			if (poll(&p, 1, wait_ms) < 0 && errno != EINTR) {
				r = -errno;
				break;
			}
			continue;
		}
		r = __ctx_pq_poll(conn, cancel ? fd : -1, wait_ms);
		if (r < 0)
			break;
	}
	if (cancel && ctx_pq_cancel_end(cancel, NULL, 0) == -EINPROGRESS && r == 0)
		r = -EBUSY;
	return r < 0 ? r : err;
}

/*
 * Wait for the next result of the command in flight on conn (sent with
 * any PQsend* function) or for ctx to be done, whichever comes first; the
 * context is checked first. See ctx_pq_get_result(3).
 *
 * *res is always set: to the next result (NULL: the command is over), or,
 * when ctx ended the wait, to the last result the server sent for the
 * interrupted command (normally an error with SQLSTATE 57014,
 * query_canceled), or NULL. PQclear() it.
 *
 * Returns 0, or ctx_err(ctx) when the context is done (the command was
 * cancelled and drained: conn is ready for the next one), or -EINVAL,
 * -ENOTCONN (no server connection), -ECONNRESET (the connection broke:
 * PQerrorMessage() says why), -EBUSY (the context is done but the command
 * could not be stopped within CTX_PQ_CANCEL_MS: close conn), -EOPNOTSUPP
 * (pipeline mode), or ctx_fd()'s error (-EMFILE...).
 */
static inline int ctx_pq_get_result(ctx_t *ctx, PGconn *conn, PGresult **res)
{
	int r, fd, timeout;

	if (!res)
		return -EINVAL;
	*res = NULL;
	if (!ctx || !conn)
		return -EINVAL;
	if (PQsocket(conn) < 0)
		return -ENOTCONN;
#ifdef LIBPQ_HAS_PIPELINING
	if (PQpipelineStatus(conn) != PQ_PIPELINE_OFF)
		return -EOPNOTSUPP;
#endif
	fd = ctx_fd(ctx);
	if (fd < 0)
		return fd;
	for (;;) {
		r = ctx_err(ctx);
		if (r == 0 && ctx_timeout_ms(ctx) == 0)
			r = ctx_wait(ctx);	/* the deadline passed: -ETIMEDOUT */
		/*
		 * ACTIVE: the command is not over, even if a result of it
		 * (one statement of several) is already there to read.
		 */
		if (r < 0)
			return PQtransactionStatus(conn) == PQTRANS_ACTIVE ?
				__ctx_pq_interrupt(conn, res, r) : r;
		if (!PQconsumeInput(conn))
			return -ECONNRESET;
		if (!PQisBusy(conn)) {
			*res = PQgetResult(conn);
			return 0;
		}
		timeout = ctx_timeout_ms(ctx);
		r = __ctx_pq_poll(conn, fd, timeout);
		if (r < 0)
			return r;
	}
}

/*
 * PQexec() bound to a context: send query, wait for its results and
 * return the last in *res (as PQexec does), or stop at the first COPY
 * result. Returns 0, or ctx_pq_get_result()'s errors, or -EIO when the query
 * cannot be sent (another command in progress: PQerrorMessage() says).
 * A context already done sends nothing and returns its error.
 */
static inline int ctx_pq_exec(ctx_t *ctx, PGconn *conn, const char *query, PGresult **res)
{
	PGresult *one;
	int r;

	if (!res)
		return -EINVAL;
	*res = NULL;
	if (!ctx || !conn || !query)
		return -EINVAL;
	r = ctx_err(ctx);
	if (r < 0)
		return r;
	if (!PQsendQuery(conn, query))
		return PQstatus(conn) == CONNECTION_OK ? -EIO : -ENOTCONN;
	for (;;) {
		r = ctx_pq_get_result(ctx, conn, &one);
		if (r < 0 || !one) {
			if (one) {
				PQclear(*res);
				*res = one;
			}
			return r;
		}
		PQclear(*res);
		*res = one;
		switch (PQresultStatus(one)) {
		case PGRES_COPY_IN:
		case PGRES_COPY_OUT:
		case PGRES_COPY_BOTH:
			return 0;
		default:
			break;
		}
	}
}

#ifdef __cplusplus
}
#endif

#endif /* CTX_PQ_H */
