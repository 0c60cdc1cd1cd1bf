/* SPDX-License-Identifier: MIT */
/*
 * fork() while another thread holds the lock of the never-ready eventfd
 * (the descriptor ctx_fd(ctx_background()) makes on first call): the child
 * must not inherit the lock held, or its first ctx_fd(ctx_background())
 * blocks forever. The library's fork prepare handler takes that lock, so
 * fork waits until the other thread is done.
 *
 * Made deterministic by linking the library's sources with
 * -Wl,--wrap=eventfd: the wrapper, armed once, says it is inside (the
 * lock is held there) and sleeps 200 ms before the real call; the main
 * thread forks while it sleeps. The child checks under alarm(5), so a
 * hang is a SIGALRM death, reported as a failure.
 *
 * Standalone TAP (stress.h), so it runs in the TSan build too.
 */
#include <semaphore.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/wait.h>

#include "stress.h"

#if defined(__SANITIZE_THREAD__)
/*
 * Forking a threaded process is what this tests; no sleep at every exit.
 * The child inherits TSan's record of the parent's thread that made the
 * never-ready fd, which it never joins: not a leak of the child's.
 */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "die_after_fork=0:atexit_sleep_ms=0:report_thread_leaks=0";
}
#endif

int __real_eventfd(unsigned int initval, int flags);
int __wrap_eventfd(unsigned int initval, int flags);

static atomic_bool armed;
static sem_t inside;

int __wrap_eventfd(unsigned int initval, int flags)
{
	if (atomic_exchange(&armed, false)) {
		sem_post(&inside);
		sleep_ns(200000000);
	}
	return __real_eventfd(initval, flags);
}

static void *first_ctx_fd(void *arg)
{
	*(int *)arg = ctx_fd(ctx_background());
	return NULL;
}

static bool sem_wait_s(sem_t *sem, int s)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += s;
	while (sem_timedwait(sem, &ts) < 0)
		if (errno != EINTR)
			return false;
	return true;
}

static void fork_while_never_fd_locked(void)
{
	pthread_t a;
	int a_fd = -1, status;
	pid_t pid;

	sem_init(&inside, 0, 0);
	atomic_store(&armed, true);
	if (!CHECK(pthread_create(&a, NULL, first_ctx_fd, &a_fd) == 0, "pthread_create"))
		return;
	if (!CHECK(sem_wait_s(&inside, 5), "the thread never reached eventfd"))
		return;
	pid = fork();
	if (pid == 0) {
		alarm(5);
		_exit(ctx_fd(ctx_background()) >= 0 ? 0 : 1);
	}
	CHECK(pid > 0, "fork: %s", strerror(errno));
	if (pid > 0 && CHECK(waitpid(pid, &status, 0) == pid, "waitpid")) {
		CHECK(!WIFSIGNALED(status),
		      "the child's ctx_fd(ctx_background()) hung: killed by signal %d%s",
		      WTERMSIG(status), WTERMSIG(status) == SIGALRM ? " (its alarm)" : "");
		CHECK(!WIFEXITED(status) || WEXITSTATUS(status) == 0,
		      "the child's ctx_fd(ctx_background()) failed");
	}
	pthread_join(a, NULL);
	CHECK(a_fd >= 0, "the first ctx_fd(ctx_background()) returned %d", a_fd);
}

int main(void)
{
	stress_plan(1);
	fork_while_never_fd_locked();
	stress_result("fork while the never-ready fd's lock is held");
	return stress_exit();
}
