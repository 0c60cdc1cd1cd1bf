/* SPDX-License-Identifier: MIT */
/*
 * A plain clock_gettime harness shared by the three C benchmark programs
 * (libctx, GLib, bare-C floor). Each program runs one case per invocation
 * and prints "RESULT<TAB>row<TAB>value" lines that bench/run collects; the
 * Go program (bench/go) prints the same lines, measured the same way.
 */
#ifndef BENCH_HARNESS_H
#define BENCH_HARNESS_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic nanoseconds. */
uint64_t now_ns(void);

/* Runs fn(arg, n) for n operations; returns nothing, the harness times it. */
typedef void (*bench_fn)(void *arg, uint64_t n);

/*
 * Calibrates n so that one batch takes ~10 ms, runs several batches and
 * returns the median nanoseconds per operation.
 */
double bench_ns_per_op(bench_fn fn, void *arg);

/*
 * The same with nthreads threads each running fn(arg, n) at once. per_thread
 * selects the unit: wall time / n (the cost each thread sees) or wall time /
 * (n * nthreads) (Go's b.RunParallel convention: throughput).
 */
double bench_parallel_ns_per_op(int nthreads, bench_fn fn, void *arg, int per_thread);

/* Sorts samples in place; returns the q-quantile (0 <= q <= 1), nearest rank. */
double quantile(double *v, size_t n, double q);

/* Median of n doubles (sorts in place). */
double median(double *v, size_t n);

/* Prints one result line. */
void result(const char *row, double value);

/*
 * Writes samples (one per line) to $BENCH_SAMPLES/<impl>.<name>.txt when
 * BENCH_SAMPLES is set: the plots draw latency distributions from them.
 */
void save_samples(const char *impl, const char *name, const double *v, size_t n);

/* Process counters: heap bytes in use (malloc), resident bytes, open fds. */
size_t heap_bytes(void);
size_t rss_bytes(void);
int open_fds(void);

/* Raises RLIMIT_NOFILE's soft limit to the hard limit (fan-out with fds). */
void raise_nofile(void);

/* Sets RLIMIT_NOFILE's soft limit; returns 0 or -errno. */
int set_nofile(unsigned long soft);

/*
 * Cancel -> waiter wake latency. For each of iters rounds: make() builds a
 * fresh object and returns the fd a waiter thread blocks on (epoll_wait or
 * poll); once the waiter is blocked, fire() is called and the time until the
 * waiter returns is one sample; release() frees the object.
 */
struct wake_ops {
	void *(*make)(void *arg, int *fd);
	void (*fire)(void *obj);
	void (*release)(void *obj);
	void *arg;
};
enum wake_mode { WAKE_EPOLL, WAKE_POLL };
void bench_wake(const char *impl, const char *row, const struct wake_ops *ops,
		enum wake_mode mode, int iters);

/*
 * The case table each program defines: name and function. main() in
 * harness.c runs the one named on the command line, or lists them with -l.
 */
struct bench_case {
	const char *name;
	void (*run)(void);
};
extern const struct bench_case bench_cases[];
extern const char *bench_impl;

/* Keeps a value alive so the compiler cannot drop the work producing it. */
#define KEEP(x) __asm__ volatile("" : : "g"(x) : "memory")

#endif /* BENCH_HARNESS_H */
