/* SPDX-License-Identifier: MIT */
/*
 * Fault injection: the library's sources are linked into this program with
 * -Wl,--wrap for every allocation and descriptor-creating call it makes
 * (malloc, calloc, realloc, eventfd, timerfd_create, epoll_create1,
 * epoll_ctl, fcntl(F_DUPFD_CLOEXEC), pipe2, pthread_create). A scenario
 * exercising every constructor, ctx_fd, the waits, after-functions and
 * fd/signal sources runs once per failure point in a fresh forked process,
 * with the N-th wrapped call failing. Each failure must surface as the
 * matching negative errno from the API call that made it (or be one the
 * library may ignore: removing a watch), leave every context usable, let a
 * retry succeed, and leak nothing: live allocations and open descriptors
 * at the end equal those of a run without faults.
 *
 * --wrap rather than LD_PRELOAD: a preloaded malloc conflicts with the
 * sanitizers' own interposition, and --wrap sees only the calls made by
 * objects linked into this program, not libc's or the sanitizer runtime's.
 *
 * A final case exhausts RLIMIT_NOFILE for real.
 *
 * Output is TAP; `fault-inject -v` also prints each failure point.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctx.h"

#if defined(__SANITIZE_THREAD__)
/* TSan sleeps a second at every exit by default: one per forked scenario. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "atexit_sleep_ms=0";
}
#endif

/* --- the wrappers --- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
int __real_eventfd(unsigned int initval, int flags);
int __real_timerfd_create(int clockid, int flags);
int __real_epoll_create1(int flags);
int __real_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int __real_fcntl(int fd, int cmd, ...);
int __real_pipe2(int fds[2], int flags);
int __real_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
			  void *arg);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
int __wrap_eventfd(unsigned int initval, int flags);
int __wrap_timerfd_create(int clockid, int flags);
int __wrap_epoll_create1(int flags);
int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int __wrap_fcntl(int fd, int cmd, ...);
int __wrap_pipe2(int fds[2], int flags);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
			  void *arg);

static atomic_long calls;     /* failure points passed so far */
static long fail_at;          /* the call to fail, 0: none */
static atomic_long live_allocs;
static atomic_int fired;      /* the fault happened */
static _Thread_local bool fired_here; /* ... in this thread */
static int fired_errno;
static const char *fired_what = "";

/* Counts a failure point; true if this one must fail with `err`. */
static bool fault(const char *what, int err)
{
	if (atomic_fetch_add(&calls, 1) + 1 != fail_at)
		return false;
	fired_what = what;
	fired_errno = err;
	fired_here = true;
	atomic_store(&fired, 1);
	return true;
}

void *__wrap_malloc(size_t n)
{
	void *p;

	if (fault("malloc", ENOMEM)) {
		errno = ENOMEM;
		return NULL;
	}
	p = __real_malloc(n);
	if (p)
		atomic_fetch_add(&live_allocs, 1);
	return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
	void *p;

	if (fault("calloc", ENOMEM)) {
		errno = ENOMEM;
		return NULL;
	}
	p = __real_calloc(n, size);
	if (p)
		atomic_fetch_add(&live_allocs, 1);
	return p;
}

void *__wrap_realloc(void *p, size_t n)
{
	void *q;

	if (fault("realloc", ENOMEM)) {
		errno = ENOMEM;
		return NULL;
	}
	q = __real_realloc(p, n);
	if (q && !p)
		atomic_fetch_add(&live_allocs, 1);
	return q;
}

void __wrap_free(void *p)
{
	if (p)
		atomic_fetch_sub(&live_allocs, 1);
	__real_free(p);
}

int __wrap_eventfd(unsigned int initval, int flags)
{
	if (fault("eventfd", EMFILE)) {
		errno = EMFILE;
		return -1;
	}
	return __real_eventfd(initval, flags);
}

int __wrap_timerfd_create(int clockid, int flags)
{
	if (fault("timerfd_create", EMFILE)) {
		errno = EMFILE;
		return -1;
	}
	return __real_timerfd_create(clockid, flags);
}

int __wrap_epoll_create1(int flags)
{
	if (fault("epoll_create1", EMFILE)) {
		errno = EMFILE;
		return -1;
	}
	return __real_epoll_create1(flags);
}

int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	/* ENOMEM: the kernel's answer when it cannot allocate a watch. */
	if (fault(op == EPOLL_CTL_ADD ? "epoll_ctl(ADD)" :
		  op == EPOLL_CTL_DEL ? "epoll_ctl(DEL)" : "epoll_ctl(MOD)", ENOMEM)) {
		errno = ENOMEM;
		return -1;
	}
	return __real_epoll_ctl(epfd, op, fd, ev);
}

int __wrap_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	if (cmd == F_DUPFD_CLOEXEC && fault("fcntl(F_DUPFD_CLOEXEC)", EMFILE)) {
		errno = EMFILE;
		return -1;
	}
	return __real_fcntl(fd, cmd, arg);
}

int __wrap_pipe2(int fds[2], int flags)
{
	if (fault("pipe2", EMFILE)) {
		errno = EMFILE;
		return -1;
	}
	return __real_pipe2(fds, flags);
}

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
			  void *arg)
{
	if (fault("pthread_create", EAGAIN))
		return EAGAIN;
	return __real_pthread_create(t, attr, fn, arg);
}

/* --- the scenario --- */

#define N_DEADLINES 70 /* past the timer heap's first growth */
#define N_SOURCES 20   /* past the watch table's first growth */

static int key;
static atomic_int value_destroyed, after_runs;
static bool verbose;
static char result[256]; /* the line the child reports */

static void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(result, sizeof(result), fmt, ap);
	va_end(ap);
}

#define check(cond, ...)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "fault-inject (call %ld, %s): line %d: ", \
				fail_at, fired_what, __LINE__);                 \
			fprintf(stderr, __VA_ARGS__);                           \
			fputc('\n', stderr);                                    \
			exit(1);                                                \
		}                                                               \
	} while (0)

static void on_destroy(void *v)
{
	atomic_fetch_add(&value_destroyed, 1);
}

static void on_after(void *arg)
{
	atomic_fetch_add(&after_runs, 1);
}

static ctx_t *root_a; /* stays live across the scenario: must stay usable */

/* After a reported failure: the tree still works end to end. */
static void check_usable(void)
{
	ctx_t *c = NULL;

	check(ctx_err(root_a) == 0, "A done after a failure");
	check(ctx_with_cancel(root_a, &c) == 0, "cancel child after a failure");
	check(ctx_cancel(c) == 0 && ctx_err(c) == -ECANCELED, "cancel after a failure");
	ctx_unref(c);
}

/*
 * Runs one API call (`expr`, returning int) and checks it against the
 * fault: no fault in it, it succeeds; a fault, it returns -errno of the
 * failed call, then the context tree is usable and a retry succeeds.
 */
#define STEP(name, expr)                                                        \
	do {                                                                    \
		bool before = fired_here;                                       \
		int r_ = (expr);                                                \
		if (!before && fired_here) {                                    \
			note("%s fails -> %s returns %d (%s)", fired_what, name, \
			     r_, strerror(-r_));                                 \
			check(r_ == -fired_errno, "%s returned %d, want %d",     \
			      name, r_, -fired_errno);                           \
			if (root_a)                                             \
				check_usable();                                 \
			r_ = (expr);                                            \
		}                                                               \
		check(r_ >= 0, "%s failed without a fault: %d", name, r_);      \
	} while (0)

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;
}

/* ctx_wait as a step: 0 if it returned `want`, else what it returned. */
static int wait_is(ctx_t *c, int want)
{
	int r = ctx_wait(c);

	return r == want ? 0 : r < 0 ? r : -1000;
}

static int poll_ready(ctx_t *c, int fd)
{
	int r = ctx_poll(c, fd, POLLOUT);

	return r > 0 ? 0 : r < 0 ? r : -1000;
}

/* A 1 ms timer, waited for without ctx_wait (which may cancel it itself). */
static int barrier(ctx_t **x)
{
	struct pollfd p = { .events = POLLIN };
	int r;

	if (!*x) {
		r = ctx_with_timeout(ctx_background(), 1000000, x);
		if (r < 0)
			return r;
	}
	p.fd = ctx_fd(*x);
	if (p.fd < 0)
		return p.fd;
	return poll(&p, 1, 10000) == 1 ? 0 : -1000;
}

struct totals {
	long calls, allocs;
	int fds;
};

static void scenario(struct totals *t)
{
	ctx_t *w = NULL, *v = NULL, *d = NULL, *past = NULL, *f = NULL, *s = NULL, *g = NULL;
	ctx_t *c = NULL, *c2 = NULL, *deadlines[N_DEADLINES] = { 0 }, *sources[N_SOURCES] = { 0 };
	ctx_t *x1 = NULL, *x2 = NULL;
	ctx_after_t *h = NULL;
	struct timespec ts = { 0, 1 };
	int fire[2], quiet[2], fd_a = -1, fd_v = -1, never;
	sigset_t set;

	check(pipe(fire) == 0 && pipe(quiet) == 0, "pipe");

	STEP("ctx_fd(background)", never = ctx_fd(ctx_background()));
	STEP("ctx_with_cancel", ctx_with_cancel(ctx_background(), &root_a));
	STEP("ctx_without_cancel", ctx_without_cancel(root_a, &w));
	STEP("ctx_with_value", ctx_with_value(root_a, &key, &key, on_destroy, &v));
	check(atomic_load(&value_destroyed) == 0, "destroy called for a failed ctx_with_value");
	STEP("ctx_fd", fd_a = ctx_fd(root_a));
	STEP("ctx_fd(value)", fd_v = ctx_fd(v));
	check(fd_a == fd_v && fd_a != never, "value fd %d, owner fd %d", fd_v, fd_a);
	check(ctx_fd(w) == never, "without_cancel fd %d, never fd %d", ctx_fd(w), never);

	STEP("ctx_with_timeout", ctx_with_timeout(root_a, 3600ULL * 1000000000, &d));
	for (int i = 0; i < N_DEADLINES; i++)
		/* Under d, earlier than d's: each has a timer of its own. */
		STEP("ctx_with_timeout", ctx_with_timeout(i & 1 ? d : root_a,
							  (3500ULL + (unsigned)i) * 1000000000,
							  &deadlines[i]));
	STEP("ctx_with_deadline (passed)", ctx_with_deadline(root_a, &ts, &past));
	check(ctx_err(past) == -ETIMEDOUT, "passed deadline not done");

	STEP("ctx_after_func", ctx_after_func(root_a, on_after, NULL, &h));
	STEP("ctx_after_func (no handle)", ctx_after_func(d, on_after, NULL, NULL));

	STEP("ctx_with_fd", ctx_with_fd(root_a, fire[0], EPOLLIN, -EPIPE, &f));
	for (int i = 0; i < N_SOURCES; i++)
		STEP("ctx_with_fd", ctx_with_fd(root_a, quiet[0], EPOLLIN, 0, &sources[i]));
	check(write(fire[1], "x", 1) == 1, "write");
	STEP("ctx_wait(fd source)", wait_is(f, -ECANCELED));
	check(ctx_cause(f) == -EPIPE, "fd source cause %d", ctx_cause(f));

	STEP("ctx_with_timeout (1 ms)", ctx_with_timeout(root_a, 1000000, &s));
	STEP("ctx_wait(deadline)", wait_is(s, -ETIMEDOUT));

	STEP("ctx_with_cancel", ctx_with_cancel(root_a, &c));
	STEP("ctx_sleep", ctx_sleep(c, 1000));
	STEP("ctx_with_cancel", ctx_with_cancel(root_a, &c2));
	STEP("ctx_poll", poll_ready(c2, quiet[1]));

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	STEP("ctx_with_signals", ctx_with_signals(root_a, &set, &g));
	check(raise(SIGUSR1) == 0, "raise");
	STEP("ctx_wait(signals)", wait_is(g, -ECANCELED));
	check(ctx_cause(g) == -EINTR, "signal context cause %d", ctx_cause(g));

	check(ctx_cancel(root_a) == 0, "cancel A");
	check(atomic_load(&after_runs) == 2, "after-functions ran %d times",
	      atomic_load(&after_runs));
	check(!ctx_after_stop(h), "stop after the run");
	for (int i = 0; i < N_DEADLINES; i++)
		check(ctx_err(deadlines[i]) == -ECANCELED, "deadline child %d not cancelled", i);
	for (int i = 0; i < N_SOURCES; i++) {
		check(ctx_err(sources[i]) == -ECANCELED, "source %d not cancelled", i);
		ctx_unref(sources[i]);
	}
	for (int i = 0; i < N_DEADLINES; i++)
		ctx_unref(deadlines[i]);
	ctx_unref(g);
	ctx_unref(c2);
	ctx_unref(c);
	ctx_unref(s);
	ctx_unref(f);
	ctx_unref(past);
	ctx_unref(d);
	ctx_unref(v);
	ctx_unref(w);
	root_a = ctx_unref(root_a);
	check(atomic_load(&value_destroyed) == 1, "value destroyed %d times",
	      atomic_load(&value_destroyed));
	close(fire[0]);
	close(fire[1]);
	close(quiet[0]);
	close(quiet[1]);

	/*
	 * The library thread drops its references to what it fired (f, s, g)
	 * after those contexts are visibly done, so their memory and fds may
	 * still be held. Its events are handled one at a time: once it has
	 * fired a later timer x1, it is done with them; once it has fired x2,
	 * done with x1 too. x2 stays held by us, so the counts are exact.
	 */
	STEP("barrier", barrier(&x1));
	x1 = ctx_unref(x1);
	STEP("barrier", barrier(&x2));

	t->calls = atomic_load(&calls);
	t->allocs = atomic_load(&live_allocs);
	t->fds = count_fds();
	ctx_unref(x2);
}

/* Runs the scenario in a child failing call `n`; returns its totals. */
static bool run_child(long n, const struct totals *want, struct totals *got, bool *ok)
{
	int p[2], status;
	pid_t pid;
	char line[sizeof(result) + 64] = "";
	struct totals t = { 0 };
	ssize_t len;

	if (pipe(p))
		abort();
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		fail_at = n;
		scenario(&t);
		if (want && (t.allocs != want->allocs || t.fds != want->fds)) {
			fprintf(stderr, "fault-inject (call %ld, %s): leak: %ld allocations, "
					"%d fds left; without faults %ld, %d\n",
				n, fired_what, t.allocs, t.fds, want->allocs, want->fds);
			exit(1);
		}
		if (atomic_load(&fired) && !result[0])
			note("%s fails%s -> ignored (no API call can report it)", fired_what,
			     fired_here ? "" : " in the library thread");
		if (write(p[1], &t, sizeof(t)) != sizeof(t) ||
		    write(p[1], result, strlen(result)) < 0)
			exit(1);
		exit(atomic_load(&fired) ? 0 : 3);
	}
	close(p[1]);
	if (read(p[0], got, sizeof(*got)) != sizeof(*got))
		memset(got, 0, sizeof(*got));
	len = read(p[0], line, sizeof(line) - 1);
	line[len > 0 ? len : 0] = '\0';
	close(p[0]);
	waitpid(pid, &status, 0);
	*ok = WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 3);
	if (n)
		printf("%s %ld - call %ld: %s\n", *ok ? "ok" : "not ok", n + 1, n,
		       *line ? line : WIFSIGNALED(status) ? "crashed" :
		       WIFEXITED(status) && WEXITSTATUS(status) == 3 ? "past the last failure point" :
		       "check failed");
	if (verbose && n)
		fprintf(stderr, "%ld\t%s\n", n, line);
	return WIFEXITED(status) && WEXITSTATUS(status) == 3;
}

/*
 * RLIMIT_NOFILE exhausted for real: -EMFILE where a descriptor is needed.
 * Returns 0 (pass), 77 (cannot lower the limit) or a failure.
 */
static int nofile_case(void)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		struct rlimit rl = { 64, 64 };
		ctx_t *a, *b, *c, *t;
		int first = -1, last = -1, fd;

		fail_at = 0;
		/* Warm up: the library's own descriptors exist before the limit bites. */
		check(ctx_with_timeout(ctx_background(), 1000000000000ULL, &t) == 0, "warm-up");
		check(ctx_fd(ctx_background()) >= 0, "warm-up fd");
		if (setrlimit(RLIMIT_NOFILE, &rl))
			exit(77); /* valgrind keeps the limit for itself */
		while ((fd = dup(0)) >= 0) {
			if (first < 0)
				first = fd;
			last = fd;
		}
		check(errno == EMFILE, "dup: %s", strerror(errno));
		check(ctx_with_cancel(t, &a) == 0, "cancel ctx needs no descriptor");
		check(ctx_with_timeout(a, 1000000000000ULL, &b) == 0, "deadline needs no descriptor");
		check(ctx_fd(a) == -EMFILE, "ctx_fd: %d", ctx_fd(a));
		check(ctx_wait(b) == -EMFILE, "ctx_wait without a done fd: %d", ctx_wait(b));
		check(ctx_with_fd(a, 0, EPOLLIN, 0, &c) == -EMFILE, "ctx_with_fd with no fd left");
		check(ctx_fd(ctx_background()) >= 0, "the never fd exists already");
		check(ctx_cancel(a) == 0 && ctx_err(b) == -ECANCELED, "cancel without fds");
		close(last);
		check(ctx_fd(b) == last, "ctx_fd once a descriptor is free");
		ctx_unref(b);
		ctx_unref(a);
		ctx_unref(t);
		for (fd = first; fd < last; fd++)
			close(fd);
		exit(0);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv)
{
	struct totals clean, got;
	bool ok, all = true;
	long n;
	int r;

	verbose = argc > 1 && !strcmp(argv[1], "-v");
	setvbuf(stdout, NULL, _IONBF, 0);

	/* The reference run: no fault. This process never touches libctx. */
	run_child(0, NULL, &clean, &ok);
	printf("%s 1 - scenario without faults (%ld failure points, %ld allocations and %d "
	       "descriptors left)\n",
	       ok ? "ok" : "not ok", clean.calls, clean.allocs, clean.fds);
	if (!ok || clean.calls < 1) {
		printf("1..1\n");
		return 1;
	}
	for (n = 1; n <= clean.calls + 8; n++) {
		bool done = run_child(n, &clean, &got, &ok);

		all &= ok;
		if (done) /* nothing left to fail: the scenario ran past the last point */
			break;
	}
	r = nofile_case();
	all &= r == 0 || r == 77;
	printf("%s %ld - RLIMIT_NOFILE exhausted: -EMFILE only where a descriptor is needed%s\n",
	       r == 0 || r == 77 ? "ok" : "not ok", n + 2,
	       r == 77 ? " # SKIP setrlimit refused" : "");
	printf("1..%ld\n", n + 2);
	return all ? 0 : 1;
}
