/* SPDX-License-Identifier: MIT */
/*
 * For the tests that fork: wait until the library's thread is idle first.
 *
 * GCC 12's AddressSanitizer does not lock its allocator across fork(), as
 * glibc's malloc does. A thread allocating at that moment (the library
 * thread still in ASan's own start-up code, say) leaves an allocator lock
 * held in the child, whose next allocation of that size then hangs. So a
 * test that forks first waits until the thread named ctx-timer is blocked
 * in epoll_wait, where it holds nothing. The library sets the name before
 * the call that started the thread returns.
 */
#ifndef TESTS_FORKING_H
#define TESTS_FORKING_H

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>

/* Reads /proc/self/task/<tid>/<name> into buf; false if it cannot. */
static inline bool read_task_file(const char *tid, const char *name, char *buf, size_t size)
{
	char path[320]; /* d_name is at most 255 bytes */
	FILE *f;
	bool ok;

	snprintf(path, sizeof(path), "/proc/self/task/%s/%s", tid, name);
	f = fopen(path, "r");
	if (!f)
		return false;
	ok = fgets(buf, (int)size, f) != NULL;
	fclose(f);
	return ok;
}

/* Whether task tid is the library thread and not blocked in epoll_wait. */
static inline bool library_thread_busy(const char *tid)
{
	char line[128];
	long nr;

	if (!read_task_file(tid, "comm", line, sizeof(line)) || strcmp(line, "ctx-timer\n"))
		return false;
	/* "running", or the number of the system call the task is blocked in. */
	if (!read_task_file(tid, "syscall", line, sizeof(line)))
		return false; /* cannot tell: do not wait */
	if (sscanf(line, "%ld", &nr) != 1)
		return true;
	return nr != SYS_epoll_wait && nr != SYS_epoll_pwait;
}

/* How many threads named ctx-timer this process has (0 before the first need). */
static inline int library_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	char comm[64];
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && read_task_file(e->d_name, "comm", comm, sizeof(comm)) &&
		    !strcmp(comm, "ctx-timer\n"))
			n++;
	closedir(d);
	return n;
}

/* True once no library thread is busy; false if one stays busy for 5 s. */
static inline bool library_thread_idle(void)
{
	const struct timespec ms = { 0, 1000000 };

	for (int i = 0; i < 5000; i++) {
		DIR *d = opendir("/proc/self/task");
		struct dirent *e;
		bool busy = false;

		if (!d)
			return false;
		while ((e = readdir(d)))
			busy |= e->d_name[0] != '.' && library_thread_busy(e->d_name);
		closedir(d);
		if (!busy)
			return true;
		nanosleep(&ms, NULL);
	}
	return false;
}

#endif /* TESTS_FORKING_H */
