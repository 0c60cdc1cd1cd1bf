/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers for the Criterion suites of the core contract.
 *
 * Criterion runs every test in its own process, so the library's lifelong
 * descriptors (timerfd, epoll set, never-ready eventfd, wake-up fd) are
 * created anew in each test. test_setup() makes them exist before the
 * descriptor baseline is taken; check_fds() at the end of a test then
 * proves the test leaked nothing.
 */
#ifndef TESTS_COMMON_H
#define TESTS_COMMON_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <ctx.h>

#define NSEC_PER_MSEC 1000000ULL
#define NSEC_PER_SEC 1000000000ULL

static int fd_baseline = -1;

/*
 * Criterion 2.4.1's runner process leaks its own bookkeeping, which makes
 * LeakSanitizer (ASan builds) fail every program at exit. Only the runner is
 * leak-checked (the test workers end with _exit), so silencing libcriterion
 * hides nothing of libctx's. The hook is weak in the sanitizer runtime and
 * unused otherwise; each test program includes this header from one file.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libcriterion.so\n";
}

/* Open descriptors of this process, not counting the directory stream. */
static inline int fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d, "opendir(/proc/self/fd): %s", strerror(errno));
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/* The listing printed when a test leaks, so the leaked fd can be named. */
static inline void fd_list(char *buf, size_t len)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	size_t off = 0;

	buf[0] = '\0';
	if (!d)
		return;
	while ((e = readdir(d)) && off + 1 < len) {
		char path[300], target[128];
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		target[n < 0 ? 0 : n] = '\0';
		off += snprintf(buf + off, len - off, " %s->%s", e->d_name, target);
	}
	closedir(d);
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static inline struct timespec ts_from_ns(uint64_t ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ns / NSEC_PER_SEC),
		.tv_nsec = (long)(ns % NSEC_PER_SEC),
	};
	return ts;
}

static inline uint64_t ns_from_ts(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * NSEC_PER_SEC + (uint64_t)ts->tv_nsec;
}

/* An absolute CLOCK_MONOTONIC deadline ns from now. */
static inline struct timespec ts_in(uint64_t ns)
{
	return ts_from_ns(now_ns() + ns);
}

static inline void sleep_ns(uint64_t ns)
{
	struct timespec ts = ts_from_ns(ns);

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static inline void sleep_ms(unsigned int ms)
{
	sleep_ns(ms * NSEC_PER_MSEC);
}

/*
 * Sanitizer builds are slower by orders of magnitude, so the harness sets
 * CTX_TEST_SCALE to divide the sizes of the million-element cases.
 */
static inline unsigned long test_scale(void)
{
	const char *s = getenv("CTX_TEST_SCALE");
	unsigned long v;

	if (!s || !*s)
		return 1;
	v = strtoul(s, NULL, 10);
	return v ? v : 1;
}

static inline unsigned long scaled(unsigned long n)
{
	unsigned long v = n / test_scale();

	return v ? v : 1;
}

static inline bool fd_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r = poll(&p, 1, 0);

	cr_assert_geq(r, 0, "poll(%d): %s", fd, strerror(errno));
	cr_assert_eq(p.revents & POLLNVAL, 0, "fd %d is not open", fd);
	return r == 1 && (p.revents & POLLIN);
}

#define assert_readable(fd) \
	cr_assert(fd_readable(fd), "fd %d should be readable", (fd))
#define assert_not_readable(fd) \
	cr_assert(!fd_readable(fd), "fd %d should not be readable", (fd))

/* Waits (bounded) for fd to become readable; true if it did. */
static inline bool fd_wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	return r == 1 && (p.revents & POLLIN);
}

/* Waits (bounded) for a context to be done, by its fd; returns ctx_err. */
static inline int wait_done(ctx_t *c, int timeout_ms)
{
	int fd = ctx_fd(c);

	cr_assert_geq(fd, 0, "ctx_fd: %d", fd);
	fd_wait_readable(fd, timeout_ms);
	return ctx_err(c);
}

/*
 * Create the library's lifelong descriptors (a deadline context starts
 * the library's thread with its timerfd and epoll set; ctx_fd on the
 * background context makes the never-ready eventfd), then take the
 * baseline.
 */
static inline void warm_up(void)
{
	ctx_t *c = NULL;

	cr_assert_eq(ctx_with_timeout(ctx_background(), 3600 * NSEC_PER_SEC, &c), 0);
	cr_assert_geq(ctx_fd(c), 0);
	cr_assert_geq(ctx_fd(ctx_background()), 0);
	ctx_unref(c);
}

static inline void test_setup(void)
{
	warm_up();
	fd_baseline = fd_count();
}

/*
 * The descriptor count must come back to the baseline. Closing may be
 * done by the library's thread (an fd source that fired), so allow it a
 * generous moment before declaring a leak.
 */
static inline void check_fds(void)
{
	char list[2048];
	int n = fd_count();

	cr_assert_geq(fd_baseline, 0, "test_setup() was not run");
	for (int i = 0; i < 200 && n != fd_baseline; i++) {
		sleep_ms(10);
		n = fd_count();
	}
	if (n != fd_baseline)
		fd_list(list, sizeof(list));
	cr_assert_eq(n, fd_baseline, "fd count %d, baseline %d; open:%s", n,
		     fd_baseline, n != fd_baseline ? list : "");
}

/* Lowers the soft RLIMIT_NOFILE (the hard one stays, so it can be raised). */
/* Bytes malloc has handed out: in its arenas, and mapped on their own (large arrays). */
static inline size_t heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static inline void set_nofile(rlim_t soft)
{
	struct rlimit rl;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = soft;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0, "setrlimit: %s", strerror(errno));
}

/* Counter helpers for after-functions and destructors. */
static inline void count_fn(void *arg)
{
	atomic_fetch_add((atomic_int *)arg, 1);
}

#endif /* TESTS_COMMON_H */
