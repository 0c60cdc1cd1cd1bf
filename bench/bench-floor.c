/* SPDX-License-Identifier: MIT */
/*
 * The bare-C floor: what the operations libctx cannot avoid cost by
 * themselves on this machine. A cancel context is at least one allocation;
 * a context with its fd materialised is at least eventfd() + write() +
 * close(); a wake-up is at least an eventfd write seen by epoll_wait/poll;
 * a done-check is at least one atomic load behind a function call.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

const char *bench_impl = "floor";

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* A guess at a small context's size; the row measures malloc, not the size. */
#define OBJ_SIZE 128

static void op_malloc_free(void *p, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		void *m = malloc(OBJ_SIZE);

		KEEP(m);
		free(m);
	}
}

static void op_eventfd_close(void *p, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

		if (fd < 0)
			die("eventfd");
		close(fd);
	}
}

static void op_eventfd_write_close(void *p, uint64_t n)
{
	uint64_t one = 1;

	for (uint64_t i = 0; i < n; i++) {
		int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

		if (fd < 0)
			die("eventfd");
		if (write(fd, &one, sizeof(one)) != sizeof(one))
			die("write");
		close(fd);
	}
}

static void case_syscalls(void)
{
	result("floor.malloc_free", bench_ns_per_op(op_malloc_free, NULL));
	result("floor.eventfd_close", bench_ns_per_op(op_eventfd_close, NULL));
	result("floor.eventfd_write_close", bench_ns_per_op(op_eventfd_write_close, NULL));
}

static void *wake_make(void *arg, int *fd)
{
	*fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (*fd < 0)
		die("eventfd");
	return (void *)(intptr_t)*fd;
}

static void wake_fire(void *obj)
{
	uint64_t one = 1;

	if (write((int)(intptr_t)obj, &one, sizeof(one)) != sizeof(one))
		die("write");
}

static void wake_release(void *obj)
{
	close((int)(intptr_t)obj);
}

static const struct wake_ops wake = { wake_make, wake_fire, wake_release, NULL };

static void case_wake_epoll(void)
{
	bench_wake(bench_impl, "wake_epoll", &wake, WAKE_EPOLL, 1000);
}

static void case_wake_poll(void)
{
	bench_wake(bench_impl, "wake_poll", &wake, WAKE_POLL, 1000);
}

/* An atomic acquire load behind a call, as a library's done-check is. */
static __attribute__((noinline)) int load_flag(const atomic_int *f)
{
	return atomic_load_explicit(f, memory_order_acquire);
}

static void op_done_check(void *p, uint64_t n)
{
	int s = 0;

	for (uint64_t i = 0; i < n; i++)
		s |= load_flag(p);
	KEEP(s);
}

static void case_done_check(void)
{
	static atomic_int flag;

	result("done_check.t1", bench_ns_per_op(op_done_check, &flag));
	result("done_check.t2", bench_parallel_ns_per_op(2, op_done_check, &flag, 1));
}

const struct bench_case bench_cases[] = {
	{ "syscalls", case_syscalls },
	{ "wake_epoll", case_wake_epoll },
	{ "wake_poll", case_wake_poll },
	{ "done_check", case_done_check },
	{ NULL, NULL },
};
