/* SPDX-License-Identifier: MIT */
/*
 * loop-event: a libctx context inside a libevent loop.
 *
 * A request has 100 ms (or argv[1] ms) to finish, but its work (a timer standing in for a
 * slow backend) would take a second. libevent watches the context's done
 * fd with a one-shot EV_READ event; when the deadline passes, the callback
 * abandons the work. The event is one-shot on purpose (no EV_PERSIST): a
 * done fd stays readable (level triggered), so a persistent event would
 * call back on every loop iteration until someone called event_del().
 *
 * The lines a program adds to watch a context are between the
 * "libctx >>>" and "<<< libctx" markers; the rest is an ordinary libevent
 * program. Build: cc loop-event.c $(pkg-config --cflags --libs libevent) -lctx
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>

#include <ctx.h>

struct request {
	ctx_t *ctx;
	struct event *done;	/* watches ctx_fd(ctx) */
	struct event *work;
};

static void on_work(evutil_socket_t fd, short what, void *arg)
{
	struct request *req = arg;

	printf("work finished in time\n");
	ctx_cancel(req->ctx);	/* libctx: release the request (Go's defer cancel()) */
}

/* libctx >>> runs once, when the request's context is done */
static void on_done(evutil_socket_t fd, short what, void *arg)
{
	struct request *req = arg;

	event_free(req->done);	/* one-shot: already removed from the loop */
	req->done = NULL;
	printf("request done: %s\n", strerror(-ctx_err(req->ctx)));
	event_del(req->work);
}
/* <<< libctx */

int main(int argc, char **argv)
{
	struct event_base *base = event_base_new();
	struct timeval second = { 1, 0 };
	struct request req;
	uint64_t ms = argc > 1 ? strtoull(argv[1], NULL, 10) : 100;
	int fd, r;

	if (!base)
		return 1;
	r = ctx_with_timeout(ctx_background(), ms * 1000000, &req.ctx);
	if (r < 0) {
		fprintf(stderr, "ctx_with_timeout: %s\n", strerror(-r));
		return 1;
	}
	req.work = evtimer_new(base, on_work, &req);
	evtimer_add(req.work, &second);

	/* libctx >>> watch the context from the loop: EV_READ, no EV_PERSIST */
	fd = ctx_fd(req.ctx);
	req.done = fd < 0 ? NULL : event_new(base, fd, EV_READ, on_done, &req);
	if (!req.done || event_add(req.done, NULL) < 0) {
		fprintf(stderr, "cannot watch the context\n");
		return 1;
	}
	/* <<< libctx */

	event_base_dispatch(base);

	event_free(req.work);
	event_base_free(base);
	/* libctx >>> only once the event is freed: this closes the fd */
	ctx_unref(req.ctx);
	/* <<< libctx */
	return 0;
}
