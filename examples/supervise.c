/* SPDX-License-Identifier: MIT */
/*
 * supervise: run a command with a deadline, and kill it when its context
 * ends.
 *
 * What it shows: three reasons to stop, one context tree. The root is
 * cancelled by SIGINT or SIGTERM (ctx_with_signals), its child by a
 * deadline (ctx_with_timeout), and the grandchild when the command exits
 * (a pidfd, which polls readable when the process ends, wrapped with
 * ctx_with_fd). One ctx_wait covers all three; ctx_err and ctx_cause tell
 * which came first. The command starts with the default dispositions of
 * SIGINT and SIGTERM, as the library's handler is reset by exec and no
 * signal is blocked, so SIGTERM stops it.
 *
 * Usage: supervise [-t timeout_ms] [command [args...]]
 *        (default: sleep 5, with a 1000 ms deadline)
 * Prints why the command stopped; exits 0 when supervising worked.
 */
#include <ctx.h>
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define NS_PER_MS 1000000ULL
#define GRACE_MS 2000
#define CAUSE_EXITED (-ECHILD)

extern char **environ;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* A context done when the process behind pidfd ends (or parent is done). */
static int exit_ctx(ctx_t *parent, int pidfd, ctx_t **ret)
{
	return ctx_with_fd(parent, pidfd, EPOLLIN, CAUSE_EXITED, ret);
}

/* SIGTERM, then SIGKILL if the grace period passes. Returns the signal sent last. */
static int stop(int pidfd)
{
	int sigs[] = { SIGTERM, SIGKILL };

	for (int i = 0; i < 2; i++) {
		ctx_t *grace, *gone;
		int r;

		if (syscall(SYS_pidfd_send_signal, pidfd, sigs[i], NULL, 0) < 0)
			return 0; /* already gone */
		if (ctx_with_timeout(ctx_background(), GRACE_MS * NS_PER_MS, &grace) < 0)
			return sigs[i];
		if (exit_ctx(grace, pidfd, &gone) < 0) {
			ctx_unref(grace);
			return sigs[i];
		}
		r = ctx_wait(gone);
		ctx_unref(gone);
		ctx_unref(grace);
		if (r != -ETIMEDOUT)
			return sigs[i];
	}
	return SIGKILL;
}

int main(int argc, char **argv)
{
	static char *const default_cmd[] = { "sleep", "5", NULL };
	char *const *cmd = default_cmd;
	ctx_t *root, *deadline, *exited;
	unsigned long timeout_ms = 1000;
	const char *why;
	int opt, r, pidfd, status, cause, sent;
	int64_t start;
	sigset_t set;
	pid_t pid;

	while ((opt = getopt(argc, argv, "+t:")) != -1) {
		if (opt != 't') {
			fprintf(stderr, "usage: %s [-t timeout_ms] [command [args...]]\n", argv[0]);
			return 2;
		}
		timeout_ms = strtoul(optarg, NULL, 10);
	}
	if (optind < argc)
		cmd = argv + optind;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	r = ctx_with_signals(ctx_background(), &set, &root);
	if (r < 0) {
		fprintf(stderr, "supervise: ctx_with_signals: %s\n", strerror(-r));
		return 1;
	}
	r = ctx_with_timeout(root, timeout_ms * NS_PER_MS, &deadline);
	if (r < 0) {
		fprintf(stderr, "supervise: ctx_with_timeout: %s\n", strerror(-r));
		return 1;
	}

	start = now_ms();
	r = posix_spawnp(&pid, cmd[0], NULL, NULL, cmd, environ);
	if (r) {
		fprintf(stderr, "supervise: cannot run %s: %s\n", cmd[0], strerror(r));
		return 1;
	}
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		fprintf(stderr, "supervise: pidfd_open: %s\n", strerror(errno));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return 1;
	}
	r = exit_ctx(deadline, pidfd, &exited);
	if (r < 0) {
		fprintf(stderr, "supervise: ctx_with_fd: %s\n", strerror(-r));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return 1;
	}
	printf("supervise: started %s (pid %d) with a %lu ms deadline\n", cmd[0], (int)pid,
	       timeout_ms);
	fflush(stdout);

	/* The first of: it exits, the deadline passes, we get SIGINT/SIGTERM. */
	ctx_wait(exited);
	cause = ctx_cause(exited);
	if (ctx_err(exited) == -ETIMEDOUT)
		printf("supervise: the deadline passed after %lld ms: stopping it\n",
		       (long long)(now_ms() - start));
	else if (cause == -EINTR)
		printf("supervise: we were asked to stop (SIGINT or SIGTERM): stopping it\n");
	else if (cause == CAUSE_EXITED)
		printf("supervise: it exited by itself after %lld ms\n",
		       (long long)(now_ms() - start));
	sent = cause == CAUSE_EXITED ? 0 : stop(pidfd);
	if (sent)
		printf("supervise: sent %s\n", sent == SIGKILL ? "SIGKILL" : "SIGTERM");

	if (waitpid(pid, &status, 0) < 0) {
		fprintf(stderr, "supervise: waitpid: %s\n", strerror(errno));
		return 1;
	}
	if (WIFEXITED(status))
		printf("supervise: %s stopped: it exited with status %d", cmd[0],
		       WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		printf("supervise: %s stopped: it was killed by %s", cmd[0],
		       strsignal(WTERMSIG(status)));
	if (cause == CAUSE_EXITED)
		why = "on its own";
	else if (cause == -EINTR)
		why = "we were interrupted";
	else
		why = "deadline exceeded";
	printf(" after %lld ms (%s)\n", (long long)(now_ms() - start), why);

	close(pidfd);
	ctx_unref(exited);
	ctx_unref(deadline);
	ctx_unref(root);
	return 0;
}
