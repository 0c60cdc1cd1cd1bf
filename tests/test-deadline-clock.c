/* SPDX-License-Identifier: MIT */
/*
 * ctx_with_deadline_clock (1.1, "Deadlines on another clock"): absolute
 * deadlines on CLOCK_MONOTONIC, CLOCK_BOOTTIME or CLOCK_REALTIME. Written
 * from the contract alone.
 *
 * "Never early" is checked on the deadline's own clock: once the context is
 * done, that clock reads at least the deadline. The wall clock is not set
 * here (that needs privileges and would disturb the machine); the lead
 * tests the clock-set path through an internal seam.
 */
#include <inttypes.h>

#include "common.h"
#include "forking.h"

#define HOUR (3600 * NSEC_PER_SEC)

static ctx_t *const sentinel = (ctx_t *)0x1;
static const clockid_t clocks[] = { CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME };
#define NCLOCKS (sizeof(clocks) / sizeof(clocks[0]))

static const char *clock_name(clockid_t clk)
{
	return clk == CLOCK_MONOTONIC ? "CLOCK_MONOTONIC" :
	       clk == CLOCK_REALTIME  ? "CLOCK_REALTIME" :
	       clk == CLOCK_BOOTTIME  ? "CLOCK_BOOTTIME" : "another clock";
}

static int64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	cr_assert_eq(clock_gettime(clk, &ts), 0);
	return (int64_t)ts.tv_sec * (int64_t)NSEC_PER_SEC + ts.tv_nsec;
}

static struct timespec ts_of(int64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / (int64_t)NSEC_PER_SEC),
			       .tv_nsec = (long)(ns % (int64_t)NSEC_PER_SEC) };

	return ts;
}

static int64_t ns_of(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * (int64_t)NSEC_PER_SEC + ts->tv_nsec;
}

/* An absolute deadline offset_ns from now on clk (offset may be negative). */
static struct timespec on_clock(clockid_t clk, int64_t offset_ns)
{
	return ts_of(clock_ns(clk) + offset_ns);
}

static ctx_t *new_clock(ctx_t *parent, clockid_t clk, const struct timespec *dl, int cause)
{
	ctx_t *c = NULL;
	int r = ctx_with_deadline_clock(parent, clk, dl, cause, &c);

	cr_assert_eq(r, 0, "ctx_with_deadline_clock(%s): %d", clock_name(clk), r);
	cr_assert_not_null(c);
	return c;
}

/* Descriptors of this process that are timerfds. */
static int timerfd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d))) {
		char path[300], target[64];
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		if (len < 0)
			continue;
		target[len] = '\0';
		n += strcmp(target, "anon_inode:[timerfd]") == 0;
	}
	closedir(d);
	return n;
}

/*
 * The baseline includes whatever the library keeps for each clock once it
 * has been used. Errors are ignored here so that, against an implementation
 * that lacks the function, every test fails on its own assertions.
 */
static void clock_setup(void)
{
	warm_up();
	for (size_t i = 0; i < NCLOCKS; i++) {
		struct timespec dl;
		ctx_t *c = NULL;

		if (clock_gettime(clocks[i], &dl) < 0)
			continue;
		dl.tv_sec += 3600;
		if (ctx_with_deadline_clock(ctx_background(), clocks[i], &dl, 0, &c) == 0)
			ctx_unref(c);
	}
	fd_baseline = fd_count();
}

TestSuite(clock, .init = clock_setup);
/* No warm-up: these tests watch the library's thread and descriptors appear. */
TestSuite(clock_fresh);

/* ---- CLOCK_MONOTONIC is ctx_with_deadline_cause ------------------------- */

Test(clock, monotonic_is_with_deadline_cause, .timeout = 10)
{
	struct timespec dl = ts_in(40 * NSEC_PER_MSEC), got, ref_dl;
	ctx_t *c, *ref = NULL;
	char desc[128];
	uint64_t at;

	c = new_clock(ctx_background(), CLOCK_MONOTONIC, &dl, 7);
	cr_assert_eq(ctx_with_deadline_cause(ctx_background(), &dl, 7, &ref), 0);
	cr_assert(ctx_deadline(c, &got));
	cr_assert(ctx_deadline(ref, &ref_dl));
	cr_assert(got.tv_sec == dl.tv_sec && got.tv_nsec == dl.tv_nsec,
		  "a monotonic deadline is reported exactly: %ld.%09ld, want %ld.%09ld",
		  (long)got.tv_sec, got.tv_nsec, (long)dl.tv_sec, dl.tv_nsec);
	cr_assert(ref_dl.tv_sec == got.tv_sec && ref_dl.tv_nsec == got.tv_nsec);
	cr_assert_gt(ctx_describe(c, desc, sizeof(desc)), 0);
	cr_assert(!strncmp(desc, "background.with_deadline(+", 26), "describe: %s", desc);
	cr_assert_eq(ctx_err(c), 0);

	cr_assert_eq(wait_done(c, 5000), -ETIMEDOUT);
	at = now_ns();
	cr_assert_geq(at, ns_from_ts(&dl), "fired early");
	cr_assert_eq(ctx_cause(c), 7);
	cr_assert_eq(wait_done(ref, 5000), -ETIMEDOUT);
	cr_assert_eq(ctx_cause(ref), 7);
	ctx_unref(ref);
	ctx_unref(c);
	check_fds();
}

/* ---- the other two clocks fire on their own time ------------------------ */

struct fired {
	clockid_t clk;
	atomic_llong at; /* the deadline's clock when the after-function ran */
};

static void record_fire(void *arg)
{
	struct fired *f = arg;
	struct timespec ts;

	clock_gettime(f->clk, &ts);
	atomic_store(&f->at, (long long)ns_of(&ts));
}

static void fires_on_its_clock(clockid_t clk)
{
	struct timespec dl = on_clock(clk, 100 * NSEC_PER_MSEC);
	struct fired f = { .clk = clk };
	int64_t done_at;
	ctx_t *c;
	int ms;

	c = new_clock(ctx_background(), clk, &dl, 0);
	ms = ctx_timeout_ms(c);
	cr_assert(ms >= 0 && ms <= 100, "%s: timeout_ms %d", clock_name(clk), ms);
	cr_assert_eq(ctx_after_func(c, record_fire, &f, NULL), 0);
	cr_assert_eq(wait_done(c, 5000), -ETIMEDOUT, "%s: not fired within 5 s", clock_name(clk));
	done_at = clock_ns(clk);
	cr_assert_geq(done_at, ns_of(&dl), "%s: done %" PRId64 " ns before its deadline",
		      clock_name(clk), ns_of(&dl) - done_at);
	cr_assert_eq(ctx_cause(c), -ETIMEDOUT);
	for (int i = 0; i < 500 && atomic_load(&f.at) == 0; i++)
		sleep_ms(10);
	cr_assert_geq(atomic_load(&f.at), ns_of(&dl),
		      "%s: the after-function ran %" PRId64 " ns before the deadline",
		      clock_name(clk), ns_of(&dl) - (int64_t)atomic_load(&f.at));
	ctx_unref(c);
	check_fds();
}

Test(clock, realtime_fires_at_its_wall_clock_time, .timeout = 10)
{
	fires_on_its_clock(CLOCK_REALTIME);
}

Test(clock, boottime_fires_never_early, .timeout = 10)
{
	fires_on_its_clock(CLOCK_BOOTTIME);
}

/* Many deadlines on one clock, in a shuffled order: each fires, none early. */
Test(clock, many_deadlines_on_each_clock_fire_in_time, .timeout = 30)
{
	enum { N = 60 };

	for (size_t k = 0; k < NCLOCKS; k++) {
		clockid_t clk = clocks[k];
		struct fired f[N];
		struct timespec dl[N];
		ctx_t *c[N];
		int64_t base = clock_ns(clk) + 20 * (int64_t)NSEC_PER_MSEC;

		for (int i = 0; i < N; i++) {
			int j = (i * 37) % N; /* a shuffle: 37 is prime to 60 */

			f[j].clk = clk;
			atomic_init(&f[j].at, 0);
			dl[j] = ts_of(base + (int64_t)(j % 20) * 3 * (int64_t)NSEC_PER_MSEC);
			c[j] = new_clock(ctx_background(), clk, &dl[j], 100 + j);
			cr_assert_eq(ctx_after_func(c[j], record_fire, &f[j], NULL), 0);
		}
		for (int i = 0; i < N; i++) {
			cr_assert_eq(wait_done(c[i], 5000), -ETIMEDOUT, "%s: %d did not fire",
				     clock_name(clk), i);
			cr_assert_eq(ctx_cause(c[i]), 100 + i);
		}
		for (int i = 0; i < N; i++) {
			for (int t = 0; t < 500 && atomic_load(&f[i].at) == 0; t++)
				sleep_ms(10);
			cr_assert_geq(atomic_load(&f[i].at), ns_of(&dl[i]), "%s: %d fired early",
				      clock_name(clk), i);
			ctx_unref(c[i]);
		}
	}
	check_fds();
}

/* ---- arguments ---------------------------------------------------------- */

Test(clock_fresh, other_clocks_are_einval_and_create_nothing, .timeout = 10)
{
	clockid_t bad[] = {
		CLOCK_MONOTONIC_RAW, CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID,
		CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM, CLOCK_REALTIME_COARSE,
		CLOCK_MONOTONIC_COARSE, CLOCK_TAI, -1, 1000, INT_MIN, INT_MAX,
		-2, -2, /* this process's and this thread's CPU clocks, below */
	};
	const struct timespec far = { .tv_sec = 4000000000, .tv_nsec = 0 }, past = { 0, 0 };
	atomic_int destroyed = 0;
	ctx_t *v = NULL, *r = sentinel;
	int fds;

	cr_assert_eq(clock_getcpuclockid(getpid(), &bad[12]), 0);
	cr_assert_eq(pthread_getcpuclockid(pthread_self(), &bad[13]), 0);
	cr_assert_eq(library_threads(), 0, "precondition: no library thread yet");
	cr_assert_eq(ctx_with_value(ctx_background(), &destroyed, &destroyed, count_fn, &v), 0);
	fds = fd_count();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(ctx_with_deadline_clock(v, bad[i], &far, 0, &r), -EINVAL,
			     "clock %d is not one of the three", (int)bad[i]);
		cr_assert_eq(ctx_with_deadline_clock(v, bad[i], &past, 5, &r), -EINVAL,
			     "clock %d, a passed deadline", (int)bad[i]);
		cr_assert_eq(r, sentinel, "*ret untouched on failure");
	}
	cr_expect_eq(library_threads(), 0, "a refused call started the library thread");
	cr_expect_eq(fd_count(), fds, "a refused call left %d descriptors", fd_count() - fds);
	ctx_unref(v);
	cr_assert_eq(atomic_load(&destroyed), 1, "a refused call kept a reference on the parent");
}

Test(clock_fresh, bad_timespecs_and_nulls_are_einval, .timeout = 10)
{
	const struct timespec bad[] = {
		{ 1, -1 }, { 1, 1000000000 }, { -1, 0 }, { -1, 5 }, { 0, LONG_MAX }, { 0, LONG_MIN },
		{ (time_t)INT64_MIN, 0 },
	};
	const struct timespec ok = { .tv_sec = 4000000000, .tv_nsec = 0 };
	ctx_t *r = sentinel;
	int fds;

	cr_assert_eq(library_threads(), 0, "precondition: no library thread yet");
	fds = fd_count();
	for (size_t k = 0; k < NCLOCKS; k++) {
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			cr_assert_eq(ctx_with_deadline_clock(ctx_background(), clocks[k], &bad[i], 0,
							     &r), -EINVAL,
				     "%s: bad timespec %zu", clock_name(clocks[k]), i);
			cr_assert_eq(r, sentinel);
		}
		cr_assert_eq(ctx_with_deadline_clock(NULL, clocks[k], &ok, 0, &r), -EINVAL);
		cr_assert_eq(ctx_with_deadline_clock(ctx_background(), clocks[k], NULL, 0, &r),
			     -EINVAL);
		cr_assert_eq(ctx_with_deadline_clock(ctx_background(), clocks[k], &ok, 0, NULL),
			     -EINVAL);
		cr_assert_eq(r, sentinel, "*ret untouched on failure");
	}
	cr_expect_eq(library_threads(), 0, "a refused call started the library thread");
	cr_expect_eq(fd_count(), fds, "a refused call left %d descriptors", fd_count() - fds);
}

/* The edges of the valid timespec range are accepted on every clock. */
Test(clock, timespec_edges_are_accepted, .timeout = 10)
{
	const struct timespec edge = { 0, 999999999 };

	for (size_t k = 0; k < NCLOCKS; k++) {
		ctx_t *c = new_clock(ctx_background(), clocks[k], &edge, 0);

		cr_assert_eq(ctx_err(c), -ETIMEDOUT, "%s: long passed", clock_name(clocks[k]));
		ctx_unref(c);
	}
	check_fds();
}

/* ---- causes, passed deadlines ------------------------------------------- */

Test(clock, passed_deadline_is_born_done_with_its_cause, .timeout = 10)
{
	for (size_t k = 0; k < NCLOCKS; k++) {
		clockid_t clk = clocks[k];
		const struct timespec zero = { 0, 0 };
		struct timespec past = on_clock(clk, -(int64_t)NSEC_PER_SEC);
		ctx_t *c, *z, *kid = NULL;

		c = new_clock(ctx_background(), clk, &past, 0);
		cr_assert_eq(ctx_err(c), -ETIMEDOUT, "%s: born done", clock_name(clk));
		cr_assert_eq(ctx_cause(c), -ETIMEDOUT, "cause 0 means -ETIMEDOUT");
		cr_assert_eq(ctx_timeout_ms(c), 0);
		assert_readable(ctx_fd(c));
		cr_assert_eq(ctx_cancel(c), -EALREADY);
		cr_assert_eq(ctx_with_cancel(c, &kid), 0);
		cr_assert_eq(ctx_err(kid), -ETIMEDOUT);
		ctx_unref(kid);

		z = new_clock(ctx_background(), clk, &zero, 77);
		cr_assert_eq(ctx_err(z), -ETIMEDOUT, "%s: {0, 0} is long passed", clock_name(clk));
		cr_assert_eq(ctx_cause(z), 77);
		ctx_unref(z);
		ctx_unref(c);
	}
	check_fds();
}

Test(clock, custom_cause_when_it_fires, .timeout = 10)
{
	for (size_t k = 0; k < NCLOCKS; k++) {
		struct timespec dl = on_clock(clocks[k], 20 * NSEC_PER_MSEC);
		ctx_t *c = new_clock(ctx_background(), clocks[k], &dl, -ETIME);

		cr_assert_eq(wait_done(c, 5000), -ETIMEDOUT, "%s", clock_name(clocks[k]));
		cr_assert_eq(ctx_cause(c), -ETIME);
		ctx_unref(c);
	}
	check_fds();
}

Test(clock, cancel_before_deadline_stays_cancelled, .timeout = 10)
{
	for (size_t k = 0; k < NCLOCKS; k++) {
		struct timespec dl = on_clock(clocks[k], 100 * NSEC_PER_MSEC);
		ctx_t *c = new_clock(ctx_background(), clocks[k], &dl, 9);

		cr_assert_eq(ctx_cancel_cause(c, 8), 0);
		sleep_ms(130);
		cr_assert_eq(ctx_err(c), -ECANCELED, "%s: the timer overwrote a cancel",
			     clock_name(clocks[k]));
		cr_assert_eq(ctx_cause(c), 8);
		ctx_unref(c);
	}
	check_fds();
}

/* Freed before they fire: the expiries must not touch freed memory (ASan). */
Test(clock, unref_before_deadline_frees_promptly, .timeout = 10)
{
	for (int i = 0; i < 600; i++) {
		clockid_t clk = clocks[i % NCLOCKS];
		struct timespec dl = on_clock(clk, (int64_t)(i % 40) * (int64_t)NSEC_PER_MSEC / 2);
		ctx_t *c = new_clock(ctx_background(), clk, &dl, 0);

		if (i % 2)
			cr_assert_geq(ctx_fd(c), 0);
		ctx_unref(c);
	}
	sleep_ms(100);
	check_fds();
}

/* ---- the parent-earlier rule, compared on the monotonic clock ----------- */

Test(clock, parent_earlier_deadline_wins, .timeout = 10)
{
	for (size_t k = 0; k < NCLOCKS; k++) {
		clockid_t clk = clocks[k];
		struct timespec far = on_clock(clk, HOUR), pd, cd;
		ctx_t *p = NULL, *c;

		cr_assert_eq(ctx_with_timeout_cause(ctx_background(), 50 * NSEC_PER_MSEC, 5, &p), 0);
		c = new_clock(p, clk, &far, 9);
		cr_assert(ctx_deadline(p, &pd));
		cr_assert(ctx_deadline(c, &cd));
		cr_assert(cd.tv_sec == pd.tv_sec && cd.tv_nsec == pd.tv_nsec,
			  "%s: the child's deadline is the earlier parent's", clock_name(clk));
		cr_assert_eq(wait_done(c, 5000), -ETIMEDOUT);
		cr_assert_eq(ctx_cause(c), 5, "%s: the parent's cause, not the child's",
			     clock_name(clk));
		ctx_unref(c);
		ctx_unref(p);
	}
	check_fds();
}

Test(clock, parent_later_deadline_child_fires_alone, .timeout = 10)
{
	for (size_t k = 0; k < NCLOCKS; k++) {
		clockid_t clk = clocks[k];
		struct timespec near = on_clock(clk, 30 * NSEC_PER_MSEC), pd, cd;
		ctx_t *p = NULL, *c;

		cr_assert_eq(ctx_with_timeout_cause(ctx_background(), HOUR, 5, &p), 0);
		c = new_clock(p, clk, &near, 9);
		cr_assert(ctx_deadline(p, &pd));
		cr_assert(ctx_deadline(c, &cd));
		cr_assert_lt(ns_of(&cd), ns_of(&pd), "%s: the child's deadline is its own",
			     clock_name(clk));
		cr_assert_eq(wait_done(c, 5000), -ETIMEDOUT);
		cr_assert_eq(ctx_cause(c), 9);
		cr_assert_eq(ctx_err(p), 0);
		ctx_unref(c);
		ctx_unref(p);
	}
	check_fds();
}

/* A wall-clock parent bounds a monotonic child the same way. */
Test(clock, clock_parent_bounds_its_children, .timeout = 10)
{
	for (size_t k = 0; k < NCLOCKS; k++) {
		clockid_t clk = clocks[k];
		struct timespec near = on_clock(clk, 40 * NSEC_PER_MSEC), pd, cd;
		ctx_t *p = new_clock(ctx_background(), clk, &near, 21), *c = NULL;

		cr_assert_eq(ctx_with_timeout_cause(p, HOUR, 22, &c), 0);
		cr_assert(ctx_deadline(p, &pd));
		cr_assert(ctx_deadline(c, &cd));
		cr_assert_lt(llabs(ns_of(&cd) - ns_of(&pd)), (long long)NSEC_PER_MSEC,
			     "%s: the later child reports the parent's deadline", clock_name(clk));
		cr_assert_eq(wait_done(c, 5000), -ETIMEDOUT);
		cr_assert_eq(ctx_cause(c), 21);
		ctx_unref(c);
		ctx_unref(p);
	}
	check_fds();
}

/* ---- ctx_deadline and ctx_timeout_ms speak CLOCK_MONOTONIC --------------- */

Test(clock, deadline_is_reported_on_the_monotonic_clock, .timeout = 10)
{
	for (size_t k = 0; k < NCLOCKS; k++) {
		clockid_t clk = clocks[k];
		int64_t before = (int64_t)now_ns(), after;
		struct timespec dl = on_clock(clk, 2 * (int64_t)NSEC_PER_SEC), got, again;
		ctx_t *c = new_clock(ctx_background(), clk, &dl, 0);
		int ms;

		after = (int64_t)now_ns();
		cr_assert(ctx_deadline(c, &got));
		/* The two clocks tick together: only their offset differs. */
		cr_assert(ns_of(&got) >= before + 2 * (int64_t)NSEC_PER_SEC - 100 * (int64_t)NSEC_PER_MSEC &&
			  ns_of(&got) <= after + 2 * (int64_t)NSEC_PER_SEC + 100 * (int64_t)NSEC_PER_MSEC,
			  "%s: deadline now+2s reported as monotonic now%+.3fs", clock_name(clk),
			  (double)(ns_of(&got) - before) / 1e9);
		ms = ctx_timeout_ms(c);
		cr_assert(ms > 1000 && ms <= 2000, "%s: timeout_ms %d", clock_name(clk), ms);
		cr_assert(ctx_deadline(c, &again));
		cr_assert_lt(llabs(ns_of(&again) - ns_of(&got)), (long long)NSEC_PER_MSEC,
			     "%s: two reports of one deadline disagree", clock_name(clk));
		cr_assert(ctx_deadline(c, NULL));
		ctx_unref(c);
	}
	check_fds();
}

Test(clock, huge_deadlines_are_clamped_and_never_fire, .timeout = 10)
{
	const struct timespec far[] = {
		{ .tv_sec = (time_t)INT64_MAX, .tv_nsec = 999999999 },
		{ .tv_sec = (time_t)(INT64_MAX / 1000000000), .tv_nsec = 0 },
		{ .tv_sec = (time_t)(INT64_MAX / 1000000000) - 1, .tv_nsec = 999999999 },
	};
	ctx_t *c[NCLOCKS * 3], *near = NULL;
	uint64_t now = now_ns();
	int n = 0;

	for (size_t k = 0; k < NCLOCKS; k++)
		for (size_t i = 0; i < 3; i++)
			c[n++] = new_clock(ctx_background(), clocks[k], &far[i], 0);
	cr_assert_eq(ctx_with_timeout(ctx_background(), 30 * NSEC_PER_MSEC, &near), 0);
	cr_assert_eq(wait_done(near, 5000), -ETIMEDOUT);
	sleep_ms(30);
	for (int i = 0; i < n; i++) {
		struct timespec got;

		cr_assert_eq(ctx_err(c[i]), 0, "clamped %s deadline %d fired",
			     clock_name(clocks[i / 3]), i % 3);
		cr_assert(ctx_deadline(c[i], &got));
		cr_assert_gt((uint64_t)got.tv_sec, now / NSEC_PER_SEC + 100 * 365 * 86400ULL,
			     "%s deadline %d: reported %ld s, not far away",
			     clock_name(clocks[i / 3]), i % 3, (long)got.tv_sec);
		cr_assert_eq(ctx_timeout_ms(c[i]), INT_MAX);
		assert_not_readable(ctx_fd(c[i]));
	}
	for (int i = 0; i < n; i++)
		ctx_unref(c[i]);
	ctx_unref(near);
	check_fds();
}

/* ---- waiting ------------------------------------------------------------ */

Test(clock, waits_end_at_the_deadline_of_its_clock, .timeout = 20)
{
	int p[2];

	cr_assert_eq(pipe(p), 0);
	for (size_t k = 0; k < NCLOCKS; k++) {
		for (int how = 0; how < 3; how++) {
			clockid_t clk = clocks[k];
			struct timespec dl = on_clock(clk, 40 * NSEC_PER_MSEC);
			ctx_t *c = new_clock(ctx_background(), clk, &dl, 60 + how);
			int64_t at;
			int r;

			if (how == 0)
				r = ctx_wait(c);
			else if (how == 1)
				r = ctx_sleep(c, 10 * NSEC_PER_SEC);
			else
				r = ctx_poll(c, p[0], POLLIN);
			at = clock_ns(clk);
			cr_assert_eq(r, -ETIMEDOUT, "%s wait %d: %d", clock_name(clk), how, r);
			cr_assert_eq(ctx_err(c), -ETIMEDOUT, "the result and ctx_err agree");
			cr_assert_eq(ctx_cause(c), 60 + how);
			cr_assert_geq(at, ns_of(&dl), "%s wait %d returned %" PRId64 " ns early",
				      clock_name(clk), how, ns_of(&dl) - at);
			ctx_unref(c);
		}
	}
	close(p[0]);
	close(p[1]);
	check_fds();
}

/* A merged context of clock deadlines: the earliest fires it. */
Test(clock, merged_with_clock_parents, .timeout = 10)
{
	struct timespec rt = on_clock(CLOCK_REALTIME, 30 * NSEC_PER_MSEC);
	struct timespec bt = on_clock(CLOCK_BOOTTIME, HOUR), got;
	ctx_t *r = new_clock(ctx_background(), CLOCK_REALTIME, &rt, 61);
	ctx_t *b = new_clock(ctx_background(), CLOCK_BOOTTIME, &bt, 62), *m = NULL;
	int64_t before = (int64_t)now_ns();

	cr_assert_eq(ctx_with_any((ctx_t *const[]){ b, r }, 2, &m), 0);
	cr_assert(ctx_deadline(m, &got));
	cr_assert_lt(ns_of(&got), before + 1000 * (int64_t)NSEC_PER_MSEC,
		     "the earliest parent deadline, the wall-clock one");
	cr_assert_eq(wait_done(m, 5000), -ETIMEDOUT);
	cr_assert_eq(ctx_cause(m), 61);
	cr_assert_eq(ctx_any_index(m), 1);
	cr_assert_geq(clock_ns(CLOCK_REALTIME), ns_of(&rt));
	cr_assert_eq(ctx_err(b), 0);
	ctx_unref(m);
	ctx_unref(b);
	ctx_unref(r);
	check_fds();
}

/* ---- descriptors: at most one timerfd per clock in use ------------------- */

Test(clock_fresh, one_timerfd_per_clock_in_use, .timeout = 20)
{
	enum { N = 100 };
	ctx_t *c[NCLOCKS][N];
	int before, first = 0;

	cr_assert_eq(library_threads(), 0, "precondition: no library thread yet");
	cr_assert_eq(timerfd_count(), 0, "precondition: no timerfd yet");
	before = fd_count();
	for (size_t k = 0; k < NCLOCKS; k++) {
		/*
		 * MONOTONIC first: the library's thread may open its monotonic
		 * timerfd whatever the first deadline's clock, which is still
		 * within "three in all".
		 */
		clockid_t clk = clocks[k];

		for (int i = 0; i < N; i++) {
			struct timespec dl = on_clock(clk, HOUR + (int64_t)((i * 7919) % N) * 1000);

			c[k][i] = new_clock(ctx_background(), clk, &dl, 0);
			if (i == 0)
				first = fd_count();
		}
		cr_assert_eq(fd_count(), first, "%s: %d deadlines cost %d descriptors",
			     clock_name(clk), N - 1, fd_count() - first);
		cr_assert_leq(timerfd_count(), (int)k + 1,
			      "%zu clocks in use, %d timerfds open", k + 1, timerfd_count());
	}
	/* Relative timeouts and more of each clock add nothing. */
	for (int i = 0; i < N; i++) {
		ctx_t *t = NULL;

		cr_assert_eq(ctx_with_timeout(ctx_background(), HOUR + (uint64_t)i, &t), 0);
		ctx_unref(t);
	}
	cr_assert_leq(timerfd_count(), 3, "three clocks in use, %d timerfds open", timerfd_count());
	cr_assert_eq(library_threads(), 1, "still the library's one thread");
	for (size_t k = 0; k < NCLOCKS; k++)
		for (int i = 0; i < N; i++)
			ctx_unref(c[k][i]);
	cr_assert_leq(timerfd_count(), 3);
	cr_assert_geq(fd_count(), before);
}
