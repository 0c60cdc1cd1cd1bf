/* SPDX-License-Identifier: MIT */
/*
 * soak-any: a long-lived parent merged with ten million short-lived request
 * contexts (divided by CTX_TEST_SCALE under sanitizers), the way a server
 * bounds each request by both its own context and the server's.
 *
 * Each cycle merges the long-lived parent with a fresh request context,
 * then cancels the request (the merged context is done through it), or
 * cancels the merged context itself, or neither, and frees both. The
 * contract says a merged context unregisters from every parent when it is
 * done or freed, so the long-lived parent must not accumulate anything:
 *
 *  - the resident size after the cycles is that after the warm-up, within a
 *    generous bound (a few bytes kept per cycle would be hundreds of MB);
 *  - cancelling the long-lived parent afterwards reaches exactly the merged
 *    contexts alive then, and a merged context created at the end works
 *    (under ASan, a stale entry left behind would be a use-after-free here);
 *  - descriptors are back to their baseline.
 *
 * It cannot tell how long the final cancel takes without timing it, which a
 * test must not assert: it prints the time as a diagnostic only.
 * Standalone TAP, in every build.
 */
#include "stress.h"

#if defined(__SANITIZE_ADDRESS__)
/* ASan's quarantine would otherwise hold up to 256 MB of freed memory. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "quarantine_size_mb=4";
}
#endif

#define CYCLES 10000000L
#define PARENT_CAUSE 1000
#define REQUEST_CAUSE 2000
#define MERGED_CAUSE 3000
/* Growth allowed between warm-up and end: far below what any leak per cycle adds. */
#define RSS_SLACK_KB (16 * 1024L)

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, resident = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int value;

/* One request: merge, end it one of three ways, free. Returns false on a violation. */
static bool cycle(ctx_t *parent, long i)
{
	ctx_t *req = NULL, *m = NULL;
	int r, idx;
	bool ok = true;

	r = ctx_with_cancel(ctx_background(), &req);
	if (!CHECK(r == 0, "cycle %ld: request: %s", i, errname(r)))
		return false;
	r = ctx_with_any((ctx_t *const[]){ parent, req }, 2, &m);
	if (!CHECK(r == 0, "cycle %ld: ctx_with_any: %s", i, errname(r))) {
		ctx_unref(req);
		return false;
	}
	switch (i % 3) {
	case 0: /* the request ends: the merged context is done through it */
		ctx_cancel_cause(req, REQUEST_CAUSE);
		idx = ctx_any_index(m);
		ok = CHECK(idx == 1 && ctx_cause(m) == REQUEST_CAUSE,
			   "cycle %ld: index %d cause %d", i, idx, ctx_cause(m));
		break;
	case 1: /* the merged context itself is cancelled */
		ctx_cancel_cause(m, MERGED_CAUSE);
		ok = CHECK(ctx_any_index(m) == -1 && ctx_cause(m) == MERGED_CAUSE,
			   "cycle %ld: index %d cause %d", i, ctx_any_index(m), ctx_cause(m));
		break;
	default: /* freed live */
		ok = CHECK(ctx_err(m) == 0 && ctx_value(m, &stress_key) == &value,
			   "cycle %ld: err %s", i, errname(ctx_err(m)));
		break;
	}
	/* Either order: the merged context holds the request anyway. */
	if (i & 4) {
		ctx_unref(req);
		ctx_unref(m);
	} else {
		ctx_unref(m);
		ctx_unref(req);
	}
	return ok;
}

int main(void)
{
	long cycles = scaled(CYCLES, 10000), warm = cycles / 10, i;
	ctx_t *root = NULL, *parent = NULL, *live[3] = { 0 }, *req[3] = { 0 };
	long rss_warm, rss_end;
	int baseline = fd_baseline(), r;
	uint64_t t0, t1, t2;

	stress_plan(3);
	/* The long-lived parent: cancellable, under a value as a server's would be. */
	if (!CHECK(stress_with_value(ctx_background(), &value, &root) == 0, "root") ||
	    !CHECK(ctx_with_cancel(root, &parent) == 0, "parent"))
		return 1;
	root = ctx_unref(root);
	t0 = now_ns();
	for (i = 0; i < warm && cycle(parent, i); i++)
		;
	rss_warm = rss_kb();
	for (; i < cycles && !stress_failing() && cycle(parent, i); i++)
		;
	t1 = now_ns();
	rss_end = rss_kb();
	stress_diag("%ld cycles in %.2f s (%.0f ns each); RSS %ld kB after %ld, %ld kB at the end",
		    i, (double)(t1 - t0) / 1e9, (double)(t1 - t0) / (double)(i ? i : 1), rss_warm,
		    warm, rss_end);
	CHECK(i == cycles, "stopped at cycle %ld of %ld", i, cycles);
	CHECK(rss_warm > 0 && rss_end > 0, "cannot read /proc/self/statm");
	CHECK(rss_end - rss_warm <= RSS_SLACK_KB,
	      "RSS grew by %ld kB over %ld cycles (%.1f bytes per cycle)", rss_end - rss_warm,
	      cycles - warm, (double)(rss_end - rss_warm) * 1024 / (double)(cycles - warm));
	stress_result("a long-lived parent through merge/free cycles: resident size flat");

	/*
	 * After the cycles, merged contexts made now work, and cancelling the
	 * parent reaches exactly them (a stale entry would be a use-after-free
	 * under ASan, and would have to be visited here).
	 */
	for (int k = 0; k < 3; k++) {
		if (!CHECK(ctx_with_cancel(ctx_background(), &req[k]) == 0, "request") ||
		    !CHECK(ctx_with_any((ctx_t *const[]){ req[k], parent }, 2, &live[k]) == 0,
			   "merge"))
			break;
		CHECK(ctx_value(live[k], &stress_key) == NULL, "values come from parents[0] only");
	}
	if (live[2]) {
		CHECK(ctx_cancel_cause(req[2], REQUEST_CAUSE) == 0, "cancel a request");
		CHECK(ctx_any_index(live[2]) == 0 && ctx_cause(live[2]) == REQUEST_CAUSE,
		      "merged through its request: index %d cause %d", ctx_any_index(live[2]),
		      ctx_cause(live[2]));
	}
	t1 = now_ns();
	r = ctx_cancel_cause(parent, PARENT_CAUSE);
	t2 = now_ns();
	stress_diag("cancelling the parent after %ld cycles: %.1f us (not checked)", i,
		    (double)(t2 - t1) / 1e3);
	CHECK(r == 0, "cancel the parent: %s", errname(r));
	for (int k = 0; k < 2; k++)
		CHECK(live[k] && ctx_err(live[k]) == -ECANCELED &&
		      ctx_cause(live[k]) == PARENT_CAUSE && ctx_any_index(live[k]) == 1 &&
		      fd_readable(ctx_fd(live[k]), 0) == 1,
		      "merged %d made after the cycles: %s cause %d index %d", k,
		      live[k] ? errname(ctx_err(live[k])) : "none",
		      live[k] ? ctx_cause(live[k]) : 0, live[k] ? ctx_any_index(live[k]) : 0);
	if (live[2])
		CHECK(ctx_cause(live[2]) == REQUEST_CAUSE && ctx_any_index(live[2]) == 0,
		      "the first parent done stays the winner");
	for (int k = 0; k < 2; k++)
		CHECK(req[k] && ctx_err(req[k]) == 0, "a request was cancelled by its merge");
	stress_result("after the cycles, merged contexts work and the parent cancels them");

	for (int k = 0; k < 3; k++) {
		ctx_unref(live[k]);
		ctx_unref(req[k]);
	}
	parent = ctx_unref(parent);
	check_no_leak(baseline);
	stress_result("every context freed, fds back to baseline");
	return stress_exit();
}
