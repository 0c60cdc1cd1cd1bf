/* SPDX-License-Identifier: MIT */
/*
 * loop-sd-event: a libctx context inside a systemd sd-event loop.
 *
 * A request has 100 ms (or argv[1] ms) to finish, but its work (a timer standing in for a
 * slow backend) would take a second. sd-event watches the context's done
 * fd with an I/O source; when the deadline passes, the callback abandons
 * the work and disables and drops the source. Dropping it matters: a done
 * fd stays readable (level triggered), so an enabled source would call
 * back on every loop iteration.
 *
 * The lines a program adds to watch a context are between the
 * "libctx >>>" and "<<< libctx" markers; the rest is an ordinary sd-event
 * program. Build: cc loop-sd-event.c $(pkg-config --cflags --libs libsystemd) -lctx
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <systemd/sd-event.h>

#include <ctx.h>

struct request {
	ctx_t *ctx;
	sd_event_source *done;	/* watches ctx_fd(ctx) */
	sd_event_source *work;
};

static int on_work(sd_event_source *work, uint64_t usec, void *userdata)
{
	struct request *req = userdata;

	printf("work finished in time\n");
	ctx_cancel(req->ctx);	/* libctx: release the request (Go's defer cancel()) */
	return 0;
}

/* libctx >>> runs once, when the request's context is done */
static int on_done(sd_event_source *done, int fd, uint32_t revents, void *userdata)
{
	struct request *req = userdata;
	sd_event *event = sd_event_source_get_event(done);	/* gone once dropped */

	req->done = sd_event_source_disable_unref(req->done);	/* the fd stays readable */
	printf("request done: %s\n", strerror(-ctx_err(req->ctx)));
	req->work = sd_event_source_disable_unref(req->work);
	return sd_event_exit(event, 0);
}
/* <<< libctx */

int main(int argc, char **argv)
{
	struct request req = { 0 };
	sd_event *event = NULL;
	uint64_t ms = argc > 1 ? strtoull(argv[1], NULL, 10) : 100;
	int fd, r;

	r = ctx_with_timeout(ctx_background(), ms * 1000000, &req.ctx);
	if (r < 0) {
		fprintf(stderr, "ctx_with_timeout: %s\n", strerror(-r));
		return 1;
	}
	r = sd_event_default(&event);
	if (r >= 0)
		r = sd_event_add_time_relative(event, &req.work, CLOCK_MONOTONIC,
					       1000 * 1000, 0, on_work, &req);
	if (r < 0) {
		fprintf(stderr, "sd-event: %s\n", strerror(-r));
		return 1;
	}

	/* libctx >>> watch the context from the loop */
	fd = ctx_fd(req.ctx);
	r = fd < 0 ? fd : sd_event_add_io(event, &req.done, fd, EPOLLIN, on_done, &req);
	if (r < 0) {
		fprintf(stderr, "cannot watch the context: %s\n", strerror(-r));
		return 1;
	}
	/* <<< libctx */

	r = sd_event_loop(event);

	sd_event_source_disable_unref(req.work);
	event = sd_event_unref(event);
	/* libctx >>> only once the source is dropped: this closes the fd */
	sd_event_source_disable_unref(req.done);
	ctx_unref(req.ctx);
	/* <<< libctx */
	return r < 0;
}
