/* SPDX-License-Identifier: MIT */
/*
 * cross-process: cancellation across a process boundary.
 *
 * What it shows: the parent hands the done fd of one of its contexts to a
 * child process it runs (fork + exec of this program, the descriptor
 * inherited through a dup without FD_CLOEXEC, its number in argv). The
 * child wraps it with ctx_with_fd(ctx_background(), fd, EPOLLIN, 0, &c)
 * and works until the parent cancels: the done fd is an eventfd that the
 * parent's ctx_cancel makes readable in both processes.
 *
 * Only "done" crosses the boundary, not the cause: the child's context ends
 * with -ECANCELED whatever the parent's reason. If the parent dies without
 * cancelling, nothing is written: the child keeps a deadline of its own.
 *
 * Usage: cross-process                 (the parent: cancels after 500 ms)
 *        cross-process --child <fd>    (what the parent runs)
 */
#include <ctx.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#define NS_PER_MS 1000000ULL
#define CHILD_LIMIT_MS 10000

static int child(const char *arg)
{
	ctx_t *parent, *bounded;
	unsigned int steps = 0;
	char *end;
	long fd = strtol(arg, &end, 10);
	int r;

	if (*end || fd < 0 || fd > 1 << 20) {
		fprintf(stderr, "child: bad descriptor number %s\n", arg);
		return 2;
	}
	r = ctx_with_fd(ctx_background(), (int)fd, EPOLLIN, 0, &parent);
	if (r < 0) {
		fprintf(stderr, "child: ctx_with_fd(%ld): %s\n", fd, strerror(-r));
		return 1;
	}
	/* The library keeps its own duplicate. */
	close((int)fd);
	r = ctx_with_timeout(parent, CHILD_LIMIT_MS * NS_PER_MS, &bounded);
	if (r < 0) {
		fprintf(stderr, "child: ctx_with_timeout: %s\n", strerror(-r));
		return 1;
	}
	printf("child: pid %d watching the parent's done fd (our fd %ld)\n", (int)getpid(), fd);
	fflush(stdout);

	/* The work: steps of 100 ms, each cut short when the parent cancels. */
	while ((r = ctx_sleep(bounded, 100 * NS_PER_MS)) == 0) {
		printf("child: working, step %u\n", ++steps);
		fflush(stdout);
	}
	if (r == -ECANCELED)
		printf("child: the parent cancelled (ctx_err -ECANCELED): stopping after %u steps\n",
		       steps);
	else
		printf("child: no word from the parent within %d ms: giving up\n", CHILD_LIMIT_MS);
	ctx_unref(bounded);
	ctx_unref(parent);
	return r == -ECANCELED ? 0 : 1;
}

int main(int argc, char **argv)
{
	char fdarg[16];
	ctx_t *job;
	int fd, inherit, status, r;
	pid_t pid;

	if (argc == 3 && strcmp(argv[1], "--child") == 0)
		return child(argv[2]);
	if (argc != 1) {
		fprintf(stderr, "usage: %s\n", argv[0]);
		return 2;
	}

	r = ctx_with_cancel(ctx_background(), &job);
	if (r < 0) {
		fprintf(stderr, "parent: ctx_with_cancel: %s\n", strerror(-r));
		return 1;
	}
	fd = ctx_fd(job);
	if (fd < 0) {
		fprintf(stderr, "parent: ctx_fd: %s\n", strerror(-fd));
		return 1;
	}
	/* The done fd is CLOEXEC; a dup is not, so exec passes it on. */
	inherit = dup(fd);
	if (inherit < 0) {
		perror("parent: dup");
		return 1;
	}
	snprintf(fdarg, sizeof(fdarg), "%d", inherit);
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("parent: fork");
		return 1;
	}
	if (pid == 0) {
		execl("/proc/self/exe", argv[0], "--child", fdarg, (char *)NULL);
		perror("child: exec");
		_exit(127);
	}
	close(inherit);

	printf("parent: started child %d; cancelling in 500 ms\n", (int)pid);
	fflush(stdout);
	ctx_sleep(ctx_background(), 500 * NS_PER_MS);
	printf("parent: ctx_cancel\n");
	fflush(stdout);
	ctx_cancel(job);

	if (waitpid(pid, &status, 0) < 0) {
		perror("parent: waitpid");
		return 1;
	}
	ctx_unref(job);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		printf("parent: the child did not stop cleanly\n");
		return 1;
	}
	printf("parent: the child stopped when we cancelled, and exited 0\n");
	return 0;
}
