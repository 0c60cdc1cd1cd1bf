/* SPDX-License-Identifier: MIT */
/*
 * uring-cat: copy files (or standard input) to standard output through
 * io_uring, the whole copy bounded by one context.
 *
 *	uring-cat [-t SECONDS] [FILE...]
 *
 * Each read and write is bound to the context in the kernel: its deadline
 * by a linked timeout (ctx_uring_deadline), its cancellation by an armed
 * poll-and-cancel chain (ctx_uring_arm). SIGINT cancels the context through
 * a signalfd source, so a read blocked on a pipe or a terminal ends at once,
 * without the loop below ever looking at a signal.
 * Exit status: 0; 1 on an error; 124 on timeout, like timeout(1); 130 on
 * SIGINT.
 *
 *	$ sleep 10 | ./uring-cat -t 0.5; echo $?
 *	uring-cat: <stdin>: Connection timed out
 *	124
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <ctx.h>
#include <ctx_uring.h>

#define OP_KEY		1	/* user_data of our one operation in flight */
#define CAUSE_SIGINT	1

/*
 * Run the operation prepared in sqe under ctx and return its result, or
 * ctx_err(ctx) if the context cut it short.
 */
static int run(struct io_uring *ring, struct io_uring_sqe *sqe, ctx_t *ctx)
{
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;
	int r;

	io_uring_sqe_set_data64(sqe, OP_KEY);
	r = ctx_uring_deadline(ring, sqe, ctx, &ts);
	if (r >= 0)
		r = ctx_uring_arm(ring, ctx, OP_KEY, -1);
	if (r < 0)
		return r;
	r = io_uring_submit(ring);
	if (r < 0)
		return r;
	for (;;) {
		r = io_uring_wait_cqe(ring, &cqe);
		if (r == -EINTR)
			continue;
		if (r < 0)
			return r;
		if (!ctx_uring_is_internal(cqe))
			break;
		io_uring_cqe_seen(ring, cqe);
	}
	r = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	/*
	 * OP_KEY is reused by the next operation: remove this arm first. The
	 * removal rides along with the next submission.
	 */
	ctx_uring_disarm(ring, OP_KEY);
	if (r == -ECANCELED && ctx_err(ctx))
		r = ctx_err(ctx);
	return r;
}

static int copy(struct io_uring *ring, ctx_t *ctx, int fd)
{
	static char buf[65536];
	int n, w, off;

	for (;;) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

		/* Offset -1: the file's current position, as read(2) does. */
		io_uring_prep_read(sqe, fd, buf, sizeof(buf), -1);
		n = run(ring, sqe, ctx);
		if (n <= 0)
			return n;
		for (off = 0; off < n; off += w) {
			sqe = io_uring_get_sqe(ring);
			io_uring_prep_write(sqe, STDOUT_FILENO, buf + off, n - off, -1);
			w = run(ring, sqe, ctx);
			if (w < 0)
				return w;
		}
	}
}

int main(int argc, char **argv)
{
	struct io_uring ring;
	ctx_t *sig = NULL, *ctx = NULL;
	double seconds = -1;
	int opt, r = 0, fd, sfd, i;
	sigset_t mask;

	while ((opt = getopt(argc, argv, "t:")) != -1) {
		if (opt != 't') {
			fprintf(stderr, "usage: uring-cat [-t SECONDS] [FILE...]\n");
			return 1;
		}
		seconds = atof(optarg);
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		r = -errno;
	if (r == 0)
		r = ctx_with_fd(ctx_background(), sfd, EPOLLIN, CAUSE_SIGINT, &sig);
	if (r == 0 && seconds >= 0)
		r = ctx_with_timeout(sig, (uint64_t)(seconds * 1e9), &ctx);
	else if (r == 0)
		ctx = ctx_ref(sig);
	if (r == 0)
		r = io_uring_queue_init(8, &ring, 0);
	if (r < 0) {
		fprintf(stderr, "uring-cat: setup: %s\n", strerror(-r));
		return 1;
	}

	for (i = optind; r == 0 && i < (argc > optind ? argc : optind + 1); i++) {
		const char *name = i < argc ? argv[i] : "<stdin>";

		fd = i < argc ? open(argv[i], O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
		r = fd < 0 ? -errno : copy(&ring, ctx, fd);
		if (r < 0)
			fprintf(stderr, "uring-cat: %s: %s\n", name, strerror(-r));
		if (fd > STDIN_FILENO)
			close(fd);
	}

	io_uring_queue_exit(&ring);
	if (ctx_cause(ctx) == CAUSE_SIGINT)
		r = 130;
	else if (ctx_err(ctx) == -ETIMEDOUT)
		r = 124;
	else
		r = r < 0;
	ctx_unref(ctx);
	ctx_unref(sig);
	close(sfd);
	return r;
}
