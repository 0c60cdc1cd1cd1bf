/* SPDX-License-Identifier: MIT */
/*
 * loop-uv: a libctx context inside a libuv loop.
 *
 * A request has 100 ms (or argv[1] ms) to finish, but its work (a timer standing in for a
 * slow backend) would take a second. libuv watches the context's done fd
 * with a uv_poll_t; when the deadline passes, the callback abandons the
 * work and closes the poll handle. Closing it matters: a done fd stays
 * readable (level triggered), so a handle left running would call back on
 * every loop iteration.
 *
 * The lines a program adds to watch a context are between the
 * "libctx >>>" and "<<< libctx" markers; the rest is an ordinary libuv
 * program. Build: cc loop-uv.c $(pkg-config --cflags --libs libuv) -lctx
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <ctx.h>

struct request {
	ctx_t *ctx;
	uv_poll_t done;		/* watches ctx_fd(ctx) */
	uv_timer_t work;
};

static void on_work(uv_timer_t *work)
{
	struct request *req = work->data;

	printf("work finished in time\n");
	ctx_cancel(req->ctx);	/* libctx: release the request (Go's defer cancel()) */
}

/* libctx >>> runs once, when the request's context is done */
static void on_done(uv_poll_t *done, int status, int events)
{
	struct request *req = done->data;

	uv_close((uv_handle_t *)done, NULL);	/* stop watching: the fd stays readable */
	printf("request done: %s\n", strerror(-ctx_err(req->ctx)));
	uv_timer_stop(&req->work);
}
/* <<< libctx */

int main(int argc, char **argv)
{
	uv_loop_t *loop = uv_default_loop();
	struct request req;
	uint64_t ms = argc > 1 ? strtoull(argv[1], NULL, 10) : 100;
	int fd, r;

	r = ctx_with_timeout(ctx_background(), ms * 1000000, &req.ctx);
	if (r < 0) {
		fprintf(stderr, "ctx_with_timeout: %s\n", strerror(-r));
		return 1;
	}
	uv_timer_init(loop, &req.work);
	req.work.data = &req;
	uv_timer_start(&req.work, on_work, 1000, 0);

	/* libctx >>> watch the context from the loop */
	fd = ctx_fd(req.ctx);
	if (fd < 0 || uv_poll_init(loop, &req.done, fd) < 0) {
		fprintf(stderr, "cannot watch the context\n");
		return 1;
	}
	req.done.data = &req;
	uv_poll_start(&req.done, UV_READABLE, on_done);
	/* <<< libctx */

	uv_run(loop, UV_RUN_DEFAULT);

	uv_close((uv_handle_t *)&req.work, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_loop_close(loop);
	/* libctx >>> only once the watch is closed: this closes the fd */
	ctx_unref(req.ctx);
	/* <<< libctx */
	return 0;
}
