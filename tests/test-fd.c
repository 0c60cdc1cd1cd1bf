/* SPDX-License-Identifier: MIT */
/* ctx_fd: lazy eventfds, readiness, flags, -EMFILE, ordering. */
#include <semaphore.h>
#include "common.h"

TestSuite(fd, .init = test_setup);

static void assert_lib_fd_flags(int fd)
{
	char path[64], target[128];
	ssize_t n;
	int fl;

	fl = fcntl(fd, F_GETFD);
	cr_assert_geq(fl, 0);
	cr_assert(fl & FD_CLOEXEC, "fd %d lacks FD_CLOEXEC", fd);
	fl = fcntl(fd, F_GETFL);
	cr_assert_geq(fl, 0);
	cr_assert(fl & O_NONBLOCK, "fd %d lacks O_NONBLOCK", fd);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	cr_assert_gt(n, 0);
	target[n] = '\0';
	cr_assert_str_eq(target, "anon_inode:[eventfd]", "fd %d is %s", fd, target);
}

Test(fd, created_lazily_one_per_context, .timeout = 10)
{
	enum { N = 100 };
	ctx_t *c[N];
	int base = fd_count();

	for (int i = 0; i < N; i++)
		cr_assert_eq(ctx_with_cancel(ctx_background(), &c[i]), 0);
	cr_assert_eq(fd_count(), base, "contexts whose fd is never asked for cost no descriptor");
	for (int i = 0; i < N; i++) {
		int fd = ctx_fd(c[i]);

		cr_assert_geq(fd, 0);
		cr_assert_eq(ctx_fd(c[i]), fd, "the same fd on every call");
		cr_assert_eq(fd_count(), base + i + 1);
	}
	for (int i = 0; i < N; i++)
		ctx_unref(c[i]);
	cr_assert_eq(fd_count(), base, "dropping the last reference closes the fd");
	check_fds();
}

Test(fd, flags_cloexec_nonblock_eventfd, .timeout = 10)
{
	ctx_t *c = NULL, *d = NULL, *done = NULL;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_eq(ctx_with_timeout(ctx_background(), 3600 * NSEC_PER_SEC, &d), 0);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &done), 0);
	cr_assert_eq(ctx_cancel(done), 0);
	assert_lib_fd_flags(ctx_fd(c));
	assert_lib_fd_flags(ctx_fd(d));
	assert_lib_fd_flags(ctx_fd(done));
	assert_lib_fd_flags(ctx_fd(ctx_background()));
	ctx_unref(c);
	ctx_unref(d);
	ctx_unref(done);
	check_fds();
}

Test(fd, library_descriptors_are_cloexec, .timeout = 10)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int seen = 0;

	/* Every anonymous-inode fd here is the library's (timerfd, epoll, eventfd). */
	cr_assert_not_null(d);
	while ((e = readdir(d))) {
		char path[64], target[128];
		int fd = atoi(e->d_name);
		ssize_t n;

		if (e->d_name[0] == '.' || fd == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, "anon_inode:", 11))
			continue;
		if (strcmp(target, "anon_inode:[eventfd]") && strcmp(target, "anon_inode:[timerfd]") &&
		    strcmp(target, "anon_inode:[eventpoll]"))
			continue;
		seen++;
		cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC, "%s (fd %d) lacks FD_CLOEXEC", target, fd);
		/* epoll_wait ignores O_NONBLOCK, and epoll_create1 cannot set it. */
		if (strcmp(target, "anon_inode:[eventpoll]"))
			cr_assert(fcntl(fd, F_GETFL) & O_NONBLOCK, "%s (fd %d) lacks O_NONBLOCK",
				  target, fd);
	}
	closedir(d);
	cr_assert_geq(seen, 3, "expected the timerfd, epoll set and never-ready eventfd");
	check_fds();
}

Test(fd, born_readable_when_done, .timeout = 10)
{
	ctx_t *c = NULL, *k = NULL;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_eq(ctx_with_cancel(c, &k), 0);
	cr_assert_eq(ctx_cancel(c), 0);
	/* Neither fd existed at cancel time. */
	assert_readable(ctx_fd(c));
	assert_readable(ctx_fd(k));
	ctx_unref(k);
	ctx_unref(c);
	check_fds();
}

Test(fd, stays_readable_level_triggered, .timeout = 10)
{
	ctx_t *c = NULL;
	int fd, ep;
	struct epoll_event ev = { .events = EPOLLIN }, out;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	fd = ctx_fd(c);
	ep = epoll_create1(EPOLL_CLOEXEC);
	cr_assert_geq(ep, 0);
	cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
	cr_assert_eq(epoll_wait(ep, &out, 1, 0), 0);
	cr_assert_eq(ctx_cancel(c), 0);
	for (int i = 0; i < 10; i++) {
		cr_assert_eq(epoll_wait(ep, &out, 1, 0), 1, "level-triggered, round %d", i);
		assert_readable(fd);
	}
	/* Other calls must not consume the readiness either. */
	cr_assert_eq(ctx_wait(c), -ECANCELED);
	cr_assert_eq(ctx_cancel(c), -EALREADY);
	assert_readable(fd);
	cr_assert_eq(ctx_fd(c), fd);
	close(ep);
	ctx_unref(c);
	check_fds();
}

Test(fd, readable_when_cancel_returns, .timeout = 10)
{
	for (int i = 0; i < 1000; i++) {
		ctx_t *c = NULL, *k = NULL;
		int fc, fk;

		cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
		cr_assert_eq(ctx_with_cancel(c, &k), 0);
		fc = ctx_fd(c);
		fk = ctx_fd(k);
		assert_not_readable(fc);
		assert_not_readable(fk);
		cr_assert_eq(ctx_cancel(c), 0);
		assert_readable(fc);
		assert_readable(fk);
		ctx_unref(k);
		ctx_unref(c);
	}
	check_fds();
}

Test(fd, shared_never_ready_fd, .timeout = 10)
{
	static const char key;
	ctx_t *w = NULL, *v = NULL, *c = NULL, *cv = NULL;
	int never = ctx_fd(ctx_background());
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };

	cr_assert_geq(never, 0);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_eq(ctx_without_cancel(c, &w), 0);
	cr_assert_eq(ctx_with_value(ctx_background(), &key, NULL, NULL, &v), 0);
	cr_assert_eq(ctx_fd(ctx_todo()), never);
	cr_assert_eq(ctx_fd(w), never);
	cr_assert_eq(ctx_fd(v), never);
	cr_assert_eq(ctx_cancel(c), 0);
	assert_not_readable(never);

	/* A context and its value child share one fd: epoll refuses the second. */
	cr_assert_eq(ctx_with_value(c, &key, NULL, NULL, &cv), 0);
	cr_assert_geq(ep, 0);
	cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, ctx_fd(c), &ev), 0);
	cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, ctx_fd(cv), &ev), -1);
	cr_assert_eq(errno, EEXIST);
	close(ep);
	ctx_unref(cv);
	ctx_unref(v);
	ctx_unref(w);
	ctx_unref(c);
	check_fds();
}

Test(fd, valid_until_last_reference, .timeout = 10)
{
	ctx_t *c = NULL, *k = NULL;
	int fd;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	fd = ctx_fd(c);
	cr_assert_eq(ctx_with_cancel(c, &k), 0);
	cr_assert_eq(ctx_cancel(c), 0);
	ctx_unref(c);
	/* k keeps c alive, and with it c's fd. */
	cr_assert_neq(fcntl(fd, F_GETFD), -1, "fd closed while a reference remains");
	assert_readable(fd);
	ctx_unref(k);
	check_fds();
}

/* Fill the descriptor table under a low limit; returns how many dups were made. */
static int exhaust_fds(int *dups, int max)
{
	int n = 0;

	while (n < max) {
		int fd = dup(0);

		if (fd < 0) {
			cr_assert_eq(errno, EMFILE);
			break;
		}
		dups[n++] = fd;
	}
	cr_assert_lt(n, max, "could not exhaust the descriptor table");
	return n;
}

Test(fd, emfile_leaves_tree_usable, .timeout = 10)
{
	int dups[512], n, fd, pfd[2];
	ctx_t *p = NULL, *c = NULL, *k = NULL, *d = NULL, *sentinel = (ctx_t *)0x1, *r = sentinel;

	cr_assert_eq(pipe(pfd), 0);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &p), 0);
	cr_assert_eq(ctx_with_cancel(p, &c), 0);
	set_nofile((rlim_t)fd_count() + 64);
	n = exhaust_fds(dups, 512);

	cr_assert_eq(ctx_fd(c), -EMFILE);
	cr_assert_eq(ctx_fd(p), -EMFILE);
	cr_assert_eq(ctx_poll(c, pfd[0], POLLIN), -EMFILE,
		     "ctx_poll returns the errno of the done fd it could not create");
	cr_assert_eq(ctx_with_fd(ctx_background(), pfd[0], EPOLLIN, 0, &r), -EMFILE);
	cr_assert_eq(r, sentinel);
	/* Deriving needs no descriptor, deadlines included. */
	cr_assert_eq(ctx_with_cancel(c, &k), 0);
	cr_assert_eq(ctx_with_timeout(k, 20 * NSEC_PER_MSEC, &d), 0);
	for (int i = 0; i < 500 && !ctx_err(d); i++)
		sleep_ms(10);
	cr_assert_eq(ctx_err(d), -ETIMEDOUT, "the timer works with no descriptor to spare");
	cr_assert_eq(ctx_err(c), 0);
	cr_assert_eq(ctx_cancel_cause(p, 5), 0);
	cr_assert_eq(ctx_err(c), -ECANCELED);
	cr_assert_eq(ctx_cause(k), 5);
	cr_assert_eq(ctx_fd(k), -EMFILE);

	close(dups[--n]);
	fd = ctx_fd(c);
	cr_assert_geq(fd, 0, "ctx_fd succeeds once a descriptor is free: %d", fd);
	assert_readable(fd);
	while (n)
		close(dups[--n]);
	assert_readable(ctx_fd(k));
	ctx_unref(d);
	ctx_unref(k);
	ctx_unref(c);
	ctx_unref(p);
	close(pfd[0]);
	close(pfd[1]);
	check_fds();
}

Test(fd, emfile_then_live_fd_works, .timeout = 10)
{
	int dups[512], n, fd;
	ctx_t *c = NULL;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	set_nofile((rlim_t)fd_count() + 64);
	n = exhaust_fds(dups, 512);
	cr_assert_eq(ctx_fd(c), -EMFILE);
	cr_assert_eq(ctx_err(c), 0);
	while (n)
		close(dups[--n]);
	fd = ctx_fd(c);
	cr_assert_geq(fd, 0);
	assert_not_readable(fd);
	cr_assert_eq(ctx_cancel(c), 0);
	assert_readable(fd);
	ctx_unref(c);
	check_fds();
}

/* A poller that sees the fd readable must already see ctx_err non-zero. */
struct order {
	sem_t go, done;
	ctx_t *_Atomic cur;
	atomic_bool stop;
};

static void *canceller(void *arg)
{
	struct order *o = arg;

	for (;;) {
		sem_wait(&o->go);
		if (atomic_load(&o->stop))
			return NULL;
		ctx_cancel(atomic_load(&o->cur));
		sem_post(&o->done);
	}
}

Test(fd, readable_implies_err, .timeout = 60)
{
	struct order o;
	pthread_t t;

	sem_init(&o.go, 0, 0);
	sem_init(&o.done, 0, 0);
	atomic_store(&o.stop, false);
	cr_assert_eq(pthread_create(&t, NULL, canceller, &o), 0);
	for (int i = 0; i < 2000; i++) {
		ctx_t *c = NULL;
		int fd;

		cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
		fd = ctx_fd(c);
		cr_assert_geq(fd, 0);
		atomic_store(&o.cur, c);
		sem_post(&o.go);
		while (!fd_readable(fd))
			;
		cr_assert_neq(ctx_err(c), 0, "fd readable but ctx_err is 0 (round %d)", i);
		sem_wait(&o.done);
		ctx_unref(c);
	}
	atomic_store(&o.stop, true);
	sem_post(&o.go);
	pthread_join(t, NULL);
	sem_destroy(&o.go);
	sem_destroy(&o.done);
	check_fds();
}
