/* SPDX-License-Identifier: MIT */
/* ctx_with_fd: pipes, socket hang-ups, pidfds, cross-process cancellation. */
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "common.h"
#include "forking.h"

TestSuite(source, .init = test_setup);

Test(source, pipe_data_cancels, .timeout = 10)
{
	int p[2];
	ctx_t *c = NULL, *k = NULL;
	char b;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(ctx_with_fd(ctx_background(), p[0], EPOLLIN, 0, &c), 0);
	cr_assert_not_null(c);
	cr_assert_eq(ctx_with_cancel(c, &k), 0);
	sleep_ms(30);
	cr_assert_eq(ctx_err(c), 0, "nothing to read yet");
	assert_not_readable(ctx_fd(c));
	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert_eq(wait_done(c, 5000), -ECANCELED);
	cr_assert_eq(ctx_cause(c), -ECANCELED, "cause 0 means -ECANCELED");
	/* As in Go, the parent is marked before its children: wait for k too. */
	cr_assert_eq(wait_done(k, 5000), -ECANCELED);
	cr_assert_eq(ctx_cause(k), -ECANCELED);
	/* The library watches the pipe; it must not consume the data. */
	cr_assert_eq(read(p[0], &b, 1), 1);
	cr_assert_eq(b, 'x');
	ctx_unref(k);
	ctx_unref(c);
	close(p[0]);
	close(p[1]);
	check_fds();
}

Test(source, cause_is_reported, .timeout = 10)
{
	int p[2];
	ctx_t *c = NULL;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(ctx_with_fd(ctx_background(), p[0], EPOLLIN, -EPIPE, &c), 0);
	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert_eq(wait_done(c, 5000), -ECANCELED);
	cr_assert_eq(ctx_cause(c), -EPIPE);
	ctx_unref(c);
	close(p[0]);
	close(p[1]);
	check_fds();
}

Test(source, socket_hangup_rdhup_only, .timeout = 10)
{
	int s[2];
	ctx_t *c = NULL;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
	cr_assert_eq(ctx_with_fd(ctx_background(), s[0], EPOLLRDHUP, 1001, &c), 0);
	/* Data is EPOLLIN, which was not asked for. */
	cr_assert_eq(write(s[1], "hello", 5), 5);
	sleep_ms(50);
	cr_assert_eq(ctx_err(c), 0, "incoming data must not cancel an EPOLLRDHUP watch");
	cr_assert_eq(shutdown(s[1], SHUT_WR), 0);
	cr_assert_eq(wait_done(c, 5000), -ECANCELED);
	cr_assert_eq(ctx_cause(c), 1001);
	ctx_unref(c);
	close(s[0]);
	close(s[1]);
	check_fds();
}

Test(source, socket_peer_close, .timeout = 10)
{
	int s[2];
	ctx_t *c = NULL;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
	cr_assert_eq(ctx_with_fd(ctx_background(), s[0], EPOLLRDHUP | EPOLLHUP, 0, &c), 0);
	close(s[1]);
	cr_assert_eq(wait_done(c, 5000), -ECANCELED);
	ctx_unref(c);
	close(s[0]);
	check_fds();
}

Test(source, hup_and_err_always_count, .timeout = 10)
{
	int a[2], b[2];
	ctx_t *hup = NULL, *err = NULL;

	/* EPOLLPRI never happens on a pipe: only HUP/ERR can fire these. */
	cr_assert_eq(pipe(a), 0);
	cr_assert_eq(pipe(b), 0);
	cr_assert_eq(ctx_with_fd(ctx_background(), a[0], EPOLLPRI, 1, &hup), 0);
	cr_assert_eq(ctx_with_fd(ctx_background(), b[1], EPOLLPRI, 2, &err), 0);
	sleep_ms(30);
	cr_assert_eq(ctx_err(hup), 0);
	cr_assert_eq(ctx_err(err), 0);
	close(a[1]); /* read end sees EPOLLHUP */
	close(b[0]); /* write end sees EPOLLERR */
	cr_assert_eq(wait_done(hup, 5000), -ECANCELED);
	cr_assert_eq(ctx_cause(hup), 1);
	cr_assert_eq(wait_done(err, 5000), -ECANCELED);
	cr_assert_eq(ctx_cause(err), 2);
	ctx_unref(hup);
	ctx_unref(err);
	close(a[0]);
	close(b[1]);
	check_fds();
}

static int pidfd_open(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	errno = ENOSYS;
	return -1;
#endif
}

Test(source, pidfd_child_exit, .timeout = 10)
{
	int go[2], pfd, status;
	ctx_t *c = NULL;
	pid_t pid;

	cr_assert_eq(pipe(go), 0);
	cr_assert(library_thread_idle());
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char b;

		close(go[1]);
		_exit(read(go[0], &b, 1) == 0 ? 0 : 1);
	}
	close(go[0]);
	pfd = pidfd_open(pid);
	if (pfd < 0 && (errno == ENOSYS || errno == EPERM)) {
		close(go[1]);
		waitpid(pid, NULL, 0);
		cr_skip_test("pidfd_open unavailable: %s", strerror(errno));
	}
	cr_assert_geq(pfd, 0, "pidfd_open: %s", strerror(errno));
	cr_assert_eq(ctx_with_fd(ctx_background(), pfd, EPOLLIN, 0, &c), 0);
	close(pfd);
	sleep_ms(30);
	cr_assert_eq(ctx_err(c), 0, "the child is still running");
	close(go[1]);
	cr_assert_eq(wait_done(c, 5000), -ECANCELED, "the child exited");
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ctx_unref(c);
	check_fds();
}

Test(source, already_ready_fd, .timeout = 10)
{
	int p[2];
	ctx_t *c = NULL;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert_eq(ctx_with_fd(ctx_background(), p[0], EPOLLIN, 3, &c), 0);
	cr_assert_eq(wait_done(c, 2000), -ECANCELED, "done at birth or very shortly after");
	cr_assert_eq(ctx_cause(c), 3);
	ctx_unref(c);
	close(p[0]);
	close(p[1]);
	check_fds();
}

Test(source, caller_may_close_its_fd, .timeout = 10)
{
	int p[2];
	ctx_t *c = NULL;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(ctx_with_fd(ctx_background(), p[0], EPOLLIN, 0, &c), 0);
	close(p[0]);
	sleep_ms(30);
	/* The library's duplicate keeps the read end open: no EPIPE/EPOLLERR. */
	cr_assert_eq(ctx_err(c), 0);
	cr_assert_eq(write(p[1], "x", 1), 1, "the pipe still has a reader");
	cr_assert_eq(wait_done(c, 5000), -ECANCELED);
	ctx_unref(c);
	close(p[1]);
	check_fds();
}

/* The one descriptor that is open now and was not in `before`. */
static int new_fd(const bool *before, int max)
{
	int found = -1;

	for (int fd = 0; fd < max; fd++)
		if (!before[fd] && fcntl(fd, F_GETFD) != -1) {
			cr_assert_eq(found, -1, "more than one new descriptor");
			found = fd;
		}
	return found;
}

Test(source, duplicate_flags_and_closed_when_done, .timeout = 10)
{
	enum { MAX = 1024 };
	static bool before[MAX];
	int p[2], base, dupfd, fl;
	ctx_t *c = NULL;

	cr_assert_eq(pipe(p), 0);
	fl = fcntl(p[0], F_GETFL);
	base = fd_count();
	for (int fd = 0; fd < MAX; fd++)
		before[fd] = fcntl(fd, F_GETFD) != -1;
	cr_assert_eq(ctx_with_fd(ctx_background(), p[0], EPOLLIN, 0, &c), 0);
	cr_assert_eq(fd_count(), base + 1, "one duplicate");
	dupfd = new_fd(before, MAX);
	cr_assert_geq(dupfd, 0);
	cr_assert(fcntl(dupfd, F_GETFD) & FD_CLOEXEC, "F_DUPFD_CLOEXEC");
	cr_assert_eq(fcntl(p[0], F_GETFL), fl, "the caller's status flags are left alone");
	cr_assert_eq(fcntl(p[0], F_GETFD) & FD_CLOEXEC, 0, "the caller's fd flags too");

	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert_eq(wait_done(c, 5000), -ECANCELED);
	/* Done: the duplicate goes, although c is still referenced. ctx_fd is new. */
	for (int i = 0; i < 200 && fd_count() != base + 1; i++)
		sleep_ms(10);
	cr_assert_eq(fd_count(), base + 1, "the duplicate closed once done (ctx_fd stays)");
	/* Its number may have been reused by the done fd, by nothing else. */
	if (fcntl(dupfd, F_GETFD) != -1)
		cr_assert_eq(dupfd, ctx_fd(c), "duplicate %d still open", dupfd);
	ctx_unref(c);
	cr_assert_eq(fd_count(), base);
	close(p[0]);
	close(p[1]);
	check_fds();
}

Test(source, duplicate_closed_on_cancel_and_on_unref, .timeout = 10)
{
	int p[2], base;
	ctx_t *c = NULL, *d = NULL;

	cr_assert_eq(pipe(p), 0);
	base = fd_count();
	cr_assert_eq(ctx_with_fd(ctx_background(), p[0], EPOLLIN, 0, &c), 0);
	cr_assert_eq(ctx_with_fd(ctx_background(), p[0], EPOLLIN, 0, &d), 0);
	cr_assert_eq(fd_count(), base + 2);
	cr_assert_eq(ctx_cancel(c), 0);
	for (int i = 0; i < 200 && fd_count() != base + 1; i++)
		sleep_ms(10);
	cr_assert_eq(fd_count(), base + 1, "cancel closes the duplicate");
	ctx_unref(d);
	cr_assert_eq(fd_count(), base, "the last reference closes the duplicate at once");
	ctx_unref(c);
	close(p[0]);
	close(p[1]);
	check_fds();
}

Test(source, parent_cancel_closes_duplicate, .timeout = 10)
{
	int p[2], base;
	ctx_t *parent = NULL, *c = NULL;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &parent), 0);
	base = fd_count();
	cr_assert_eq(ctx_with_fd(parent, p[0], EPOLLIN, 0, &c), 0);
	cr_assert_eq(ctx_cancel_cause(parent, 9), 0);
	cr_assert_eq(ctx_err(c), -ECANCELED);
	cr_assert_eq(ctx_cause(c), 9);
	for (int i = 0; i < 200 && fd_count() != base; i++)
		sleep_ms(10);
	cr_assert_eq(fd_count(), base, "done through the parent: duplicate closed");
	/* Data arriving later changes nothing. */
	cr_assert_eq(write(p[1], "x", 1), 1);
	sleep_ms(30);
	cr_assert_eq(ctx_cause(c), 9);
	ctx_unref(c);
	ctx_unref(parent);
	close(p[0]);
	close(p[1]);
	check_fds();
}

Test(source, child_of_done_parent_is_born_done_without_dup, .timeout = 10)
{
	int p[2], base;
	ctx_t *parent = NULL, *c = NULL;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &parent), 0);
	cr_assert_eq(ctx_cancel_cause(parent, 4), 0);
	base = fd_count();
	cr_assert_eq(ctx_with_fd(parent, p[0], EPOLLIN, 0, &c), 0);
	cr_assert_eq(ctx_err(c), -ECANCELED);
	cr_assert_eq(ctx_cause(c), 4);
	for (int i = 0; i < 200 && fd_count() != base; i++)
		sleep_ms(10);
	cr_assert_eq(fd_count(), base);
	ctx_unref(c);
	ctx_unref(parent);
	close(p[0]);
	close(p[1]);
	check_fds();
}

Test(source, bad_descriptors, .timeout = 10)
{
	ctx_t *sentinel = (ctx_t *)0x1, *r = sentinel;
	int p[2], closed;
	FILE *f = tmpfile();

	cr_assert_eq(ctx_with_fd(ctx_background(), -1, EPOLLIN, 0, &r), -EBADF);
	cr_assert_eq(ctx_with_fd(ctx_background(), INT_MIN, EPOLLIN, 0, &r), -EBADF);
	cr_assert_eq(pipe(p), 0);
	closed = p[1];
	close(p[1]);
	cr_assert_eq(ctx_with_fd(ctx_background(), closed, EPOLLIN, 0, &r), -EBADF,
		     "a descriptor that is not open");
	cr_assert_not_null(f);
	cr_assert_eq(ctx_with_fd(ctx_background(), fileno(f), EPOLLIN, 0, &r), -EPERM,
		     "epoll refuses regular files");
	cr_assert_eq(r, sentinel, "*ret untouched");
	fclose(f);
	close(p[0]);
	check_fds();
}

Test(source, events_bits_validated, .timeout = 10)
{
	const uint32_t good[] = { EPOLLIN, EPOLLOUT, EPOLLPRI, EPOLLRDHUP, EPOLLHUP, EPOLLERR,
				  EPOLLHUP | EPOLLERR, EPOLLIN | EPOLLRDHUP | EPOLLPRI };
	const uint32_t bad[] = { 0, EPOLLET, EPOLLONESHOT, EPOLLEXCLUSIVE, EPOLLWAKEUP,
				 EPOLLIN | EPOLLET, EPOLLIN | EPOLLONESHOT, EPOLLRDNORM, EPOLLWRNORM,
				 EPOLLMSG, 1u << 20, 0xffffffffu };
	ctx_t *sentinel = (ctx_t *)0x1, *r;
	int p[2];

	cr_assert_eq(pipe(p), 0);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		r = NULL;
		cr_assert_eq(ctx_with_fd(ctx_background(), p[0], good[i], 0, &r), 0,
			     "events %#x", good[i]);
		ctx_unref(r);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = sentinel;
		cr_assert_eq(ctx_with_fd(ctx_background(), p[0], bad[i], 0, &r), -EINVAL,
			     "events %#x", bad[i]);
		cr_assert_eq(r, sentinel);
	}
	close(p[0]);
	close(p[1]);
	check_fds();
}

Test(source, fd_source_has_own_done_fd, .timeout = 10)
{
	int p[2], fd;
	ctx_t *c = NULL;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(ctx_with_fd(ctx_background(), p[0], EPOLLIN, 0, &c), 0);
	fd = ctx_fd(c);
	cr_assert_geq(fd, 0);
	cr_assert_neq(fd, p[0]);
	cr_assert_neq(fd, ctx_fd(ctx_background()));
	assert_not_readable(fd);
	ctx_unref(c);
	close(p[0]);
	close(p[1]);
	check_fds();
}

Test(source, cross_process_cancellation, .timeout = 20)
{
	int ready[2], status, fd;
	ctx_t *c = NULL;
	pid_t pid;
	char b;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	fd = ctx_fd(c);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pipe(ready), 0);
	cr_assert(library_thread_idle());
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		ctx_t *remote = NULL;
		int r;

		alarm(10);
		close(ready[0]);
		/* The inherited done fd is CLOEXEC, not closed by fork. */
		if (ctx_with_fd(ctx_background(), fd, EPOLLIN, 0, &remote))
			_exit(2);
		ctx_unref(c);
		if (write(ready[1], "r", 1) != 1)
			_exit(3);
		r = ctx_wait(remote);
		if (r != -ECANCELED || ctx_err(remote) != -ECANCELED ||
		    ctx_cause(remote) != -ECANCELED)
			_exit(4);
		ctx_unref(remote);
		_exit(0);
	}
	close(ready[1]);
	cr_assert_eq(read(ready[0], &b, 1), 1, "child did not get ready");
	sleep_ms(20);
	cr_assert_eq(ctx_cancel(c), 0);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "child died: status %#x", status);
	cr_assert_eq(WEXITSTATUS(status), 0, "child exit status %d", WEXITSTATUS(status));
	close(ready[0]);
	ctx_unref(c);
	check_fds();
}

Test(source, fork_child_unrefs_inherited_and_uses_own, .timeout = 20)
{
	ctx_t *c = NULL, *d = NULL;
	int status, fd;
	pid_t pid;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_eq(ctx_with_timeout(ctx_background(), 3600 * NSEC_PER_SEC, &d), 0);
	fd = ctx_fd(c);
	cr_assert_geq(ctx_fd(d), 0);
	cr_assert(library_thread_idle());
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		ctx_t *mine = NULL;
		int p[2];

		alarm(10);
		/* Releasing inherited contexts writes to no shared descriptor. */
		ctx_unref(c);
		ctx_unref(d);
		/* The library re-creates its thread and timer in the child. */
		if (ctx_with_timeout(ctx_background(), 20 * NSEC_PER_MSEC, &mine))
			_exit(2);
		if (ctx_wait(mine) != -ETIMEDOUT)
			_exit(3);
		ctx_unref(mine);
		if (pipe(p) || ctx_with_fd(ctx_background(), p[0], EPOLLIN, 0, &mine))
			_exit(4);
		if (write(p[1], "x", 1) != 1 || ctx_wait(mine) != -ECANCELED)
			_exit(5);
		ctx_unref(mine);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "child died: status %#x", status);
	cr_assert_eq(WEXITSTATUS(status), 0, "child exit status %d", WEXITSTATUS(status));
	cr_assert_eq(ctx_err(c), 0);
	cr_assert_eq(ctx_err(d), 0);
	assert_not_readable(fd);
	assert_not_readable(ctx_fd(d));
	/* The parent's timer thread still works after the fork. */
	{
		ctx_t *t = NULL;

		cr_assert_eq(ctx_with_timeout(ctx_background(), 20 * NSEC_PER_MSEC, &t), 0);
		cr_assert_eq(wait_done(t, 5000), -ETIMEDOUT);
		ctx_unref(t);
	}
	ctx_unref(c);
	ctx_unref(d);
	check_fds();
}

/*
 * A refused ctx_with_fd creates nothing: in a process without the library
 * thread yet (this suite has no warm-up), epoll's refusal of a regular file
 * leaves no thread, no timerfd or epoll set, no duplicate behind.
 */
Test(source_fresh, refused_call_creates_nothing, .timeout = 10)
{
	ctx_t *c;
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC), base;

	cr_assert_geq(fd, 0);
	cr_assert_eq(library_threads(), 0, "precondition: no library thread yet");
	base = fd_count();
	cr_assert_eq(ctx_with_fd(ctx_background(), fd, EPOLLIN, 0, &c), -EPERM);
	cr_expect_eq(library_threads(), 0, "a refused ctx_with_fd started the library thread");
	cr_expect_eq(fd_count(), base, "a refused ctx_with_fd left %d descriptors open",
		     fd_count() - base);
	close(fd);
}
