/* SPDX-License-Identifier: MIT */
/*
 * The wall clock being set, seen through a seam: the machine's clock is
 * not ours to set (time namespaces do not cover CLOCK_REALTIME).
 *
 * Linked with the library's sources and --wrap: timerfd_create tells which
 * descriptor is the CLOCK_REALTIME timer; when armed, read() of that timer
 * consumes the expiry and fails with ECANCELED, as the kernel's does for a
 * timer made with TFD_TIMER_CANCEL_ON_SET when the clock is set, and moves
 * the library's wall clock (clock_gettime) by the given offset at that
 * moment. The library must look at its wall-clock deadlines again then:
 * fire those the new time has passed, and set the timer again for the rest.
 *
 * Standalone TAP (stress.h), so it runs in the TSan build too.
 */
#include <sys/timerfd.h>

#include "stress.h"

int __real_timerfd_create(int clockid, int flags);
int __wrap_timerfd_create(int clockid, int flags);
ssize_t __real_read(int fd, void *buf, size_t n);
ssize_t __wrap_read(int fd, void *buf, size_t n);
int __real_clock_gettime(clockid_t clock, struct timespec *ts);
int __wrap_clock_gettime(clockid_t clock, struct timespec *ts);

static atomic_int realtime_fd = -1;
static atomic_bool set_armed;           /* the next read of the timer is cancelled */
static _Atomic int64_t set_by_ns;       /* by how much the clock is then set */
static _Atomic int64_t offset_ns;       /* added to CLOCK_REALTIME */
static atomic_int cancelled_reads;

int __wrap_timerfd_create(int clockid, int flags)
{
	int fd = __real_timerfd_create(clockid, flags);

	if (clockid == CLOCK_REALTIME && fd >= 0)
		atomic_store(&realtime_fd, fd);
	return fd;
}

ssize_t __wrap_read(int fd, void *buf, size_t n)
{
	ssize_t r = __real_read(fd, buf, n);

	if (fd == atomic_load(&realtime_fd) && r > 0 && atomic_exchange(&set_armed, false)) {
		atomic_fetch_add(&offset_ns, atomic_load(&set_by_ns));
		atomic_fetch_add(&cancelled_reads, 1);
		errno = ECANCELED;
		return -1;
	}
	return r;
}

int __wrap_clock_gettime(clockid_t clock, struct timespec *ts)
{
	int r = __real_clock_gettime(clock, ts);
	int64_t ns;

	if (r == 0 && clock == CLOCK_REALTIME && (ns = atomic_load(&offset_ns))) {
		ns += ts->tv_sec * 1000000000LL + ts->tv_nsec;
		ts->tv_sec = ns / 1000000000LL;
		ts->tv_nsec = ns % 1000000000LL;
	}
	return r;
}

static int64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int wall_deadline(int64_t at, ctx_t **ret)
{
	struct timespec ts = { at / 1000000000LL, at % 1000000000LL };

	return ctx_with_deadline_clock(ctx_background(), CLOCK_REALTIME, &ts, 0, ret);
}

/* Waits up to 10 s for ctx to be done; its error, or 0. */
static int wait_up_to_10s(ctx_t *ctx)
{
	ctx_t *bounded;
	int err;

	CHECK(ctx_with_timeout(ctx, 10000000000ULL, &bounded) == 0, "no bounding timeout");
	ctx_wait(bounded);
	ctx_unref(bounded);
	err = ctx_err(ctx);
	return err;
}

/* Set forward past a deadline an hour away: it fires at once. */
static void set_forward(void)
{
	int64_t now = wall_ns();
	ctx_t *soon, *far;

	CHECK(wall_deadline(now + 50000000, &soon) == 0, "no wall-clock deadline");
	CHECK(wall_deadline(now + 3600 * 1000000000LL, &far) == 0, "no wall-clock deadline");
	atomic_store(&set_by_ns, 2 * 3600 * 1000000000LL);
	atomic_store(&set_armed, true);

	CHECK(wait_up_to_10s(soon) == -ETIMEDOUT, "the first deadline did not fire");
	CHECK(wait_up_to_10s(far) == -ETIMEDOUT,
	      "a deadline the clock was set past did not fire");
	CHECK(wall_ns() >= now + 3600 * 1000000000LL, "fired before its wall-clock time");
	CHECK(atomic_load(&cancelled_reads) == 1, "the seam was not used: %d",
	      atomic_load(&cancelled_reads));
	ctx_unref(soon);
	ctx_unref(far);
	stress_result("set forward: a passed deadline fires");
}

/* Set by nothing: the deadline not yet due still fires, at its time. */
static void set_in_place(void)
{
	int64_t now = wall_ns();
	ctx_t *soon, *later;

	atomic_store(&cancelled_reads, 0);
	atomic_store(&offset_ns, 0); /* the kernel's clock again */
	now = wall_ns();
	CHECK(wall_deadline(now + 50000000, &soon) == 0, "no wall-clock deadline");
	CHECK(wall_deadline(now + 300000000, &later) == 0, "no wall-clock deadline");
	atomic_store(&set_by_ns, 0);
	atomic_store(&set_armed, true);

	CHECK(wait_up_to_10s(soon) == -ETIMEDOUT, "the deadline whose expiry was cancelled was lost");
	CHECK(wait_up_to_10s(later) == -ETIMEDOUT,
	      "the timer was not set again after ECANCELED");
	CHECK(wall_ns() >= now + 300000000, "fired before its wall-clock time");
	CHECK(atomic_load(&cancelled_reads) == 1, "the seam was not used: %d",
	      atomic_load(&cancelled_reads));
	ctx_unref(soon);
	ctx_unref(later);
	stress_result("set in place: the rest still fire, never early");
}

int main(void)
{
	stress_plan(2);
	set_forward();
	set_in_place();
	return stress_exit();
}
