/* SPDX-License-Identifier: MIT */
/*
 * test-dlclose: a plugin host dlopen()s libctx, starts the library thread
 * and installs its signal handler, then dlclose()s it.
 *
 * The library thread and the sigaction handler live in libctx's code, so
 * unmapping it under them would crash the host the next time the timerfd
 * fires or the signal arrives. libctx is linked with -z nodelete: dlclose
 * leaves it mapped. This program is not linked with libctx; it loads the
 * library just built, found from top_builddir (which the test harness
 * exports) through libtool's libctx.la, or given as argv[1].
 *
 * Each scenario runs in a child forked before anything is loaded, so a
 * crash (the failure this test looks for) fails that scenario's TAP line.
 * Standalone TAP, like the stress programs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct ctx ctx_t;

static int planned = 3, done, failed;

static void result(int ok, const char *name)
{
	done++;
	if (!ok)
		failed++;
	printf("%sok %d - %s\n", ok ? "" : "not ", done, name);
}

static void bail(const char *why)
{
	printf("Bail out! %s\n", why);
	exit(1);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * The shared object libtool built: "$top_builddir/.libs/" + the dlname that
 * libctx.la records (libctx.so.0 today), so a version bump needs no edit.
 * Returns 0, 1 when only a static library was built, -1 on error.
 */
static int library_path(char *buf, size_t len)
{
	const char *top = getenv("top_builddir");
	char la[4096], line[512], dlname[256] = "";
	FILE *f;

	if (!top || !*top)
		top = ".";
	snprintf(la, sizeof(la), "%s/libctx.la", top);
	f = fopen(la, "r");
	if (!f) {
		printf("# %s: %s\n", la, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "dlname='%255[^']'", dlname) == 1)
			break;
	fclose(f);
	if (!dlname[0]) /* --disable-shared: nothing to dlopen */
		return 1;
	snprintf(buf, len, "%s/.libs/%s", top, dlname);
	return 0;
}

struct api {
	ctx_t *(*background)(void);
	int (*with_timeout)(ctx_t *, uint64_t, ctx_t **);
	int (*with_signals)(ctx_t *, const sigset_t *, ctx_t **);
	ctx_t *(*unref)(ctx_t *);
	int (*err)(const ctx_t *);
};

static char path[4096];

/* In a child: exits 2 when the library cannot even be loaded. */
static void *load(struct api *a)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		printf("# dlopen %s: %s\n", path, dlerror());
		_exit(2);
	}
	*(void **)&a->background = dlsym(h, "ctx_background");
	*(void **)&a->with_timeout = dlsym(h, "ctx_with_timeout");
	*(void **)&a->with_signals = dlsym(h, "ctx_with_signals");
	*(void **)&a->unref = dlsym(h, "ctx_unref");
	*(void **)&a->err = dlsym(h, "ctx_err");
	if (!a->background || !a->with_timeout || !a->with_signals || !a->unref || !a->err) {
		printf("# dlsym: %s\n", dlerror());
		_exit(2);
	}
	return h;
}

/* Kept in a global: a live context, still reachable for LeakSanitizer. */
static ctx_t *volatile signals_ctx;

/* In the child: dlopen, start what runs libctx's code, dlclose, survive. */
static void scenario(int timer, int signals)
{
	struct rlimit no_core = { 0, 0 };
	ctx_t *t = NULL, *s = NULL;
	struct api a;
	sigset_t set;
	void *h;
	int e;

	setrlimit(RLIMIT_CORE, &no_core); /* the expected crash leaves no core */
	h = load(&a);

	if (timer) {
		/* Starts the library thread and arms the timerfd 50 ms ahead. */
		if (a.with_timeout(a.background(), 50000000u, &t) != 0)
			_exit(3);
		a.unref(t); /* released: the timerfd stays armed */
	}
	if (signals) {
		/* Installs the handler (and starts the library thread). */
		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		if (a.with_signals(a.background(), &set, &s) != 0 || a.err(s) != 0)
			_exit(3);
		signals_ctx = s; /* kept alive: the handler stays installed */
	}
	if (dlclose(h) != 0) {
		printf("# dlclose: %s\n", dlerror());
		_exit(4);
	}
	if (timer)
		sleep_ms(300); /* the timerfd fires: the library thread wakes up */
	if (signals) {
		/*
		 * The handler runs, the library thread reads its pipe and cancels
		 * the context (the library is still mapped: ctx_err may be called).
		 */
		raise(SIGUSR1);
		for (int i = 0; i < 5000 && a.err(signals_ctx) == 0; i++)
			sleep_ms(1);
		e = a.err(signals_ctx);
		if (e != -ECANCELED) {
			printf("# ctx_err of the signals context: %d\n", e);
			_exit(5);
		}
	}
	_exit(0);
}

static void run(int timer, int signals, const char *name)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		bail("fork");
	if (pid == 0)
		scenario(timer, signals);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			bail("waitpid");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 2)
		bail("cannot load the library");
	if (WIFSIGNALED(status))
		printf("# killed by signal %d (%s)\n", WTERMSIG(status),
		       strsignal(WTERMSIG(status)));
	else if (WEXITSTATUS(status))
		printf("# exit status %d\n", WEXITSTATUS(status));
	result(WIFEXITED(status) && WEXITSTATUS(status) == 0, name);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* A crash fails one scenario; a hang fails the program, in bounded time. */
	alarm(60);
	if (argc > 1) {
		snprintf(path, sizeof(path), "%s", argv[1]);
	} else {
		int r = library_path(path, sizeof(path));

		if (r < 0)
			bail("cannot find libctx.la (is top_builddir set?)");
		if (r > 0) {
			/* TAP's skip: the driver would take exit status 77 as an error. */
			printf("1..0 # SKIP no shared libctx to dlopen (--disable-shared)\n");
			return 0;
		}
	}
	printf("1..%d\n", planned);
	printf("# %s\n", path);
	run(1, 0, "the timerfd fires after dlclose");
	run(0, 1, "SIGUSR1 arrives after dlclose; its context is cancelled");
	run(1, 1, "both: a released deadline and a live signals context");
	return failed || done != planned;
}
