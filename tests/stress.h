/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers for the standalone pthread stress programs (stress-*.c).
 *
 * They do not use Criterion because Criterion 2.4.1 crashes at start-up
 * under ThreadSanitizer, and these programs exist mainly for the TSan build.
 * Each program prints TAP itself: one "ok"/"not ok" line per test, with
 * "# " diagnostics for the first violations of each test, and exits
 * non-zero when any test failed.
 *
 * Checks may fail from any thread: a violation only bumps an atomic counter
 * (and prints a diagnostic), the main thread turns the count into the TAP
 * line once the threads of the test have joined.
 */
#ifndef STRESS_H
#define STRESS_H

/* configure passes it too; this keeps a bare gcc -fsyntax-only honest. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <ctx.h>

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Diagnostics printed per test: enough to debug, not enough to drown. */
#define STRESS_MAX_DIAG 8

/*
 * A hang is a failure, not a stuck CI job: every program arms this many
 * seconds of SIGALRM, whose default action kills the process.
 * CTX_TEST_WATCHDOG_S overrides it (0: no watchdog). valgrind-check.sh turns
 * it off: under memcheck the time a program needs depends on the machine's
 * load far more than on the program, so that script bounds each run itself.
 */
#define STRESS_WATCHDOG_S 240

static int stress_planned;
static int stress_done;
static int stress_failed_tests;
static atomic_int stress_violations;

static inline unsigned int stress_watchdog_s(void)
{
	const char *s = getenv("CTX_TEST_WATCHDOG_S");
	char *end;
	long v;

	if (!s || !*s)
		return STRESS_WATCHDOG_S;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0 || v > 86400)
		return STRESS_WATCHDOG_S;
	return (unsigned int)v;
}

static inline void stress_plan(int n)
{
	unsigned int watchdog = stress_watchdog_s();

	stress_planned = n;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("1..%d\n", n);
	if (watchdog)
		alarm(watchdog);
	else
		printf("# no watchdog (CTX_TEST_WATCHDOG_S=0)\n");
}

static inline void stress_diag(const char *fmt, ...)
{
	va_list ap;

	flockfile(stdout);
	fputs("# ", stdout);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	funlockfile(stdout);
}

static inline void stress_violation(const char *file, int line, const char *expr,
				    const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	int n;

	n = atomic_fetch_add(&stress_violations, 1);
	if (n >= STRESS_MAX_DIAG)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	stress_diag("%s:%d: check failed: %s: %s", file, line, expr, msg);
}

/* CHECK(cond, fmt, ...): record a violation when cond is false; returns cond. */
#define CHECK(cond, ...)                                                      \
	({                                                                    \
		bool check_ok_ = (cond);                                      \
		if (!check_ok_)                                               \
			stress_violation(__FILE__, __LINE__, #cond, __VA_ARGS__); \
		check_ok_;                                                    \
	})

/*
 * Round loops stop at the first failing round: one is enough to report,
 * and every later one would wait out its bounded waits again.
 */
static inline bool stress_failing(void)
{
	return atomic_load(&stress_violations) != 0;
}

/* Close the current test: one TAP line from the violations since the last. */
static inline void stress_result(const char *name)
{
	int v = atomic_exchange(&stress_violations, 0);

	stress_done++;
	if (v) {
		stress_failed_tests++;
		printf("not ok %d - %s (%d violations)\n", stress_done, name, v);
	} else {
		printf("ok %d - %s\n", stress_done, name);
	}
}

static inline int stress_exit(void)
{
	if (stress_done != stress_planned) {
		stress_diag("planned %d tests, ran %d", stress_planned, stress_done);
		return 1;
	}
	return stress_failed_tests ? 1 : 0;
}

/*
 * Iteration counts are divided by CTX_TEST_SCALE (100 under sanitizers,
 * where every access costs tens of times more), never below one.
 */
static inline long stress_scale(void)
{
	const char *s = getenv("CTX_TEST_SCALE");
	long v;

	if (!s || !*s)
		return 1;
	v = strtol(s, NULL, 10);
	return v > 0 ? v : 1;
}

/*
 * The stress programs are cheap under the sanitizers (they mostly sleep and
 * switch threads), and ThreadSanitizer needs each racy pair of accesses to
 * happen at least once: floor keeps enough rounds to reach every path.
 */
static inline long scaled(long n, long floor)
{
	long v = n / stress_scale();

	return v > floor ? v : floor;
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void sleep_ns(uint64_t ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ns / 1000000000u),
		.tv_nsec = (long)(ns % 1000000000u),
	};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Per-thread xorshift: rand() would be a shared lock between the threads. */
static inline uint32_t rnd(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *state = x ? x : 0x9e3779b9u;
}

static inline int fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/*
 * The library creates its own descriptors (timerfd, epoll set, the
 * never-ready eventfd, a wake-up fd) on first need and keeps them until exit:
 * make them exist before taking the baseline.
 */
static inline int fd_baseline(void)
{
	ctx_t *c = NULL;

	if (ctx_with_timeout(ctx_background(), 1000000000u, &c) == 0) {
		ctx_fd(c);
		ctx_cancel(c);
		ctx_unref(c);
	}
	ctx_fd(ctx_background());
	return fd_count();
}

/*
 * Some descriptors (an fd source's duplicate) may be closed by the library's
 * thread a moment after the context is done: give it a bounded while.
 */
static inline int fd_count_settle(int want, uint64_t max_ns)
{
	uint64_t end = now_ns() + max_ns;
	int n;

	while ((n = fd_count()) != want && now_ns() < end)
		sleep_ns(1000000);
	return n;
}

/* Is fd readable right now? 1 yes, 0 no, negative errno on poll failure. */
static inline int fd_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r > 0 && (p.revents & POLLIN);
}

/*
 * ctx_wait, bounded: a context the library forgot to cancel must fail the
 * check, not hang the program. Returns ctx_err after at most timeout_ms.
 */
static inline int wait_done(ctx_t *c, int timeout_ms)
{
	int fd = ctx_fd(c);

	if (fd < 0)
		return fd;
	fd_readable(fd, timeout_ms);
	return ctx_err(c);
}

/* Wait (bounded) until *v reaches want; returns the last value seen. */
static inline long wait_atomic_long(atomic_long *v, long want, uint64_t max_ns)
{
	uint64_t end = now_ns() + max_ns;
	long n;

	while ((n = atomic_load(v)) != want && now_ns() < end)
		sleep_ns(200000);
	return n;
}

static inline const char *errname(int e)
{
	switch (e) {
	case 0:
		return "0";
	case -ECANCELED:
		return "-ECANCELED";
	case -ETIMEDOUT:
		return "-ETIMEDOUT";
	case -EALREADY:
		return "-EALREADY";
	case -EINVAL:
		return "-EINVAL";
	case -EDEADLK:
		return "-EDEADLK";
	default:
		return "other";
	}
}

/*
 * Value destructors count frees: a value context at the root of every
 * subtree a test builds is freed only once every descendant dropped its
 * reference, so created == destroyed proves nothing leaked.
 */
static atomic_long stress_values_created;
static atomic_long stress_values_destroyed;
static int stress_key;

static inline void stress_value_destroy(void *value)
{
	atomic_fetch_add(&stress_values_destroyed, 1);
	(void)value;
}

static inline int stress_with_value(ctx_t *parent, void *value, ctx_t **ret)
{
	int r = ctx_with_value(parent, &stress_key, value, stress_value_destroy, ret);

	if (r == 0)
		atomic_fetch_add(&stress_values_created, 1);
	return r;
}

/* Leak check shared by all programs: call once the threads have joined. */
static inline void check_no_leak(int baseline)
{
	long made = atomic_load(&stress_values_created);
	long freed = wait_atomic_long(&stress_values_destroyed, made, 2000000000u);
	int n = fd_count_settle(baseline, 2000000000u);

	CHECK(freed == made, "%ld value contexts created, %ld freed", made, freed);
	CHECK(n == baseline, "%d fds open, baseline %d", n, baseline);
}

#endif /* STRESS_H */
