/* SPDX-License-Identifier: MIT */
/*
 * loop-glib: a libctx context inside a GLib main loop.
 *
 * A request has 100 ms (or argv[1] ms) to finish, but its work (a timeout standing in for
 * a slow backend) would take a second. GLib watches the context's done fd
 * with g_unix_fd_add(); when the deadline passes, the callback abandons the
 * work and returns G_SOURCE_REMOVE. Removing the source matters: a done fd
 * stays readable (level triggered), so G_SOURCE_CONTINUE would call back on
 * every main loop iteration.
 *
 * The lines a program adds to watch a context are between the
 * "libctx >>>" and "<<< libctx" markers; the rest is an ordinary GLib
 * program. Build: cc loop-glib.c $(pkg-config --cflags --libs glib-2.0) -lctx
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>
#include <glib-unix.h>

#include <ctx.h>

struct request {
	ctx_t *ctx;
	guint work;
	GMainLoop *loop;
};

static gboolean on_work(gpointer data)
{
	struct request *req = data;

	printf("work finished in time\n");
	req->work = 0;
	ctx_cancel(req->ctx);	/* libctx: release the request (Go's defer cancel()) */
	return G_SOURCE_REMOVE;
}

/* libctx >>> runs once, when the request's context is done */
static gboolean on_done(gint fd, GIOCondition condition, gpointer data)
{
	struct request *req = data;

	printf("request done: %s\n", strerror(-ctx_err(req->ctx)));
	if (req->work)
		g_source_remove(req->work);
	g_main_loop_quit(req->loop);
	return G_SOURCE_REMOVE;	/* stop watching: the fd stays readable */
}
/* <<< libctx */

int main(int argc, char **argv)
{
	struct request req;
	uint64_t ms = argc > 1 ? strtoull(argv[1], NULL, 10) : 100;
	int fd, r;

	r = ctx_with_timeout(ctx_background(), ms * 1000000, &req.ctx);
	if (r < 0) {
		fprintf(stderr, "ctx_with_timeout: %s\n", strerror(-r));
		return 1;
	}
	req.loop = g_main_loop_new(NULL, FALSE);
	req.work = g_timeout_add(1000, on_work, &req);

	/* libctx >>> watch the context from the loop */
	fd = ctx_fd(req.ctx);
	if (fd < 0) {
		fprintf(stderr, "ctx_fd: %s\n", strerror(-fd));
		return 1;
	}
	g_unix_fd_add(fd, G_IO_IN, on_done, &req);
	/* <<< libctx */

	g_main_loop_run(req.loop);

	g_main_loop_unref(req.loop);
	/* libctx >>> only once the source is removed: this closes the fd */
	ctx_unref(req.ctx);
	/* <<< libctx */
	return 0;
}
