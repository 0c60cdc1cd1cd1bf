/* SPDX-License-Identifier: MIT */
/*
 * ctx_with_signals: the caller's last ctx_unref of a context the library
 * thread cancelled restores the previous disposition before it returns,
 * even while that thread still holds a reference of its own.
 *
 * Three tests: two hold the library thread inside the cancel (an
 * after-function waiting on a semaphore, on the context or on a child of
 * it) while the check is made, so they do not depend on timing; the third
 * repeats signal, wait, unref and an
 * immediate check many times, as programs do. Standalone TAP, so it runs in
 * the TSan build, where the library thread is slower and the window wider.
 */
#include <semaphore.h>
#include <signal.h>

#include "blocker.h"
#include "stress.h"

static volatile sig_atomic_t handled;

static void count_signal(int signo)
{
	(void)signo;
	handled++;
}

static void set_handler(int signo, void (*fn)(int))
{
	struct sigaction sa = { .sa_handler = fn };

	sigemptyset(&sa.sa_mask);
	sigaction(signo, &sa, NULL);
}

static void (*current_handler(int signo))(int)
{
	struct sigaction old;

	sigaction(signo, NULL, &old);
	return old.sa_handler;
}

static ctx_t *watch_usr1(void)
{
	sigset_t set;
	ctx_t *c = NULL;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	return ctx_with_signals(ctx_background(), &set, &c) == 0 ? c : NULL;
}

struct held {
	sem_t fired, release;
};

static void hold_fn(void *arg)
{
	struct held *h = arg;

	sem_post(&h->fired);
	blocker_sem_wait(&h->release, 3);
}

/*
 * With `child`, the library thread is held in the cancel of a child of the
 * context (a request's deadline, say): once the caller has released the
 * child and then the context, no caller's reference is left either.
 */
static void restored_while_thread_holds(bool child)
{
	static struct held h;
	void (*after)(int);
	ctx_t *c, *sub = NULL;

	sem_init(&h.fired, 0, 0);
	sem_init(&h.release, 0, 0);
	set_handler(SIGUSR1, count_signal);
	c = watch_usr1();
	if (!CHECK(c, "ctx_with_signals failed"))
		return;
	if (child)
		CHECK(ctx_with_timeout(c, 60000000000ULL, &sub) == 0, "ctx_with_timeout");
	CHECK(ctx_after_func(child ? sub : c, hold_fn, &h, NULL) == 0, "ctx_after_func");
	kill(getpid(), SIGUSR1);
	CHECK(blocker_sem_wait(&h.fired, 5), "the signal did not cancel the context");
	ctx_unref(sub);
	ctx_unref(c);
	after = current_handler(SIGUSR1);
	sem_post(&h.release);
	CHECK(after == count_signal, "the disposition was not restored when ctx_unref returned");
	/* Let a late restoration land before the next test. */
	for (int i = 0; i < 5000 && current_handler(SIGUSR1) != count_signal; i++)
		sleep_ns(1000000);
}

static void restored_rounds(void)
{
	long rounds = scaled(2000, 1000), late = 0;

	for (long i = 0; i < rounds && !stress_failing(); i++) {
		void (*before)(int) = i % 2 ? SIG_IGN : count_signal;
		ctx_t *c;

		set_handler(SIGUSR1, before);
		c = watch_usr1();
		if (!CHECK(c, "round %ld: ctx_with_signals failed", i))
			break;
		kill(getpid(), SIGUSR1);
		if (!CHECK(wait_done(c, 5000) == -ECANCELED, "round %ld: not cancelled", i)) {
			ctx_unref(c);
			break;
		}
		ctx_unref(c);
		if (current_handler(SIGUSR1) == before)
			continue;
		late++;
		for (int j = 0; j < 5000 && current_handler(SIGUSR1) != before; j++)
			sleep_ns(1000000);
	}
	CHECK(late == 0, "%ld of %ld rounds: disposition not restored when ctx_unref returned",
	      late, rounds);
}

int main(void)
{
	stress_plan(3);
	restored_while_thread_holds(false);
	stress_result("disposition restored by the last unref while the thread holds a ref");
	restored_while_thread_holds(true);
	stress_result("disposition restored by the last unref while the thread holds a child");
	restored_rounds();
	stress_result("disposition restored by the last unref, rounds");
	return stress_exit();
}
