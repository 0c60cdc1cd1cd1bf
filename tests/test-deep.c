/* SPDX-License-Identifier: MIT */
/*
 * Deadlines at depth (1.1, "Cost rules added in 1.1"): deriving any
 * context, ctx_deadline and the waits find the bounding deadline in O(1)
 * whatever the depth. These tests check only that the answer is right at
 * every depth of chains 100,000 deep (divided by CTX_TEST_SCALE under
 * sanitizers), whatever shortcut the library takes to find it: the nearest
 * deadline above, after the parent-earlier rule, through value,
 * without_cancel and merged links and deadlines on another clock. They
 * never time anything; bench/ measures the cost (derive.N rows).
 */
#include "common.h"

/*
 * One chain has a wall-clock deadline, whose timerfd the library may keep
 * once made: make it before the descriptor baseline (errors ignored, so
 * that without the function only that test fails).
 */
static void deep_setup(void)
{
	struct timespec dl;
	ctx_t *c = NULL;

	warm_up();
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 3600;
	if (ctx_with_deadline_clock(ctx_background(), CLOCK_REALTIME, &dl, 0, &c) == 0)
		ctx_unref(c);
	fd_baseline = fd_count();
}

TestSuite(deep, .init = deep_setup);

#define HOUR (3600 * NSEC_PER_SEC)
#define US 1000LL
#define NONE INT64_MIN

enum kind { K_TIMEOUT, K_VALUE, K_WITHOUT, K_ANY, K_REALTIME };

static const char key_top, key_level;

/*
 * A chain built top-down from a cancel context under background. For each
 * level: the context, and the deadline it must report (NONE: no deadline),
 * exact unless it comes from a wall-clock deadline (converted at each call).
 */
struct chain {
	size_t n;
	ctx_t *top;
	ctx_t **lv;
	int64_t *want;
	bool *approx;
	int64_t base; /* monotonic ns the offsets are relative to */
};

/* What level i is, and the deadline offset from base it asks for. */
typedef enum kind (*kind_fn)(size_t i, size_t n, int64_t *offset);

static int64_t mono_now(void)
{
	return (int64_t)now_ns();
}

static int64_t realtime_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * (int64_t)NSEC_PER_SEC + ts.tv_nsec;
}

static struct timespec ts_of(int64_t ns)
{
	return ts_from_ns((uint64_t)ns);
}

static void build(struct chain *ch, size_t n, kind_fn kind_of)
{
	ctx_t *parent;
	int64_t want = NONE;
	bool approx = false;

	ch->n = n;
	ch->lv = calloc(n, sizeof(*ch->lv));
	ch->want = calloc(n, sizeof(*ch->want));
	ch->approx = calloc(n, sizeof(*ch->approx));
	cr_assert(ch->lv && ch->want && ch->approx);
	ch->base = mono_now() + (int64_t)HOUR;
	cr_assert_eq(ctx_with_cancel(ctx_background(), &ch->top), 0);
	parent = ch->top;
	for (size_t i = 0; i < n; i++) {
		int64_t off = 0, dl;
		enum kind k = kind_of(i, n, &off);
		struct timespec ts;
		ctx_t *c = NULL, *side = NULL;
		int r = -1;

		dl = ch->base + off;
		switch (k) {
		case K_TIMEOUT:
			ts = ts_of(dl);
			r = ctx_with_deadline(parent, &ts, &c);
			if (want == NONE || dl < want) {
				want = dl;
				approx = false;
			}
			break;
		case K_VALUE:
			r = ctx_with_value(parent, i == 1 ? &key_top : &key_level,
					   (void *)(uintptr_t)(i + 1), NULL, &c);
			break;
		case K_WITHOUT:
			r = ctx_without_cancel(parent, &c);
			want = NONE;
			approx = false;
			break;
		case K_ANY:
			/* Merged with a side context whose deadline is base + off. */
			ts = ts_of(dl);
			cr_assert_eq(ctx_with_deadline(ctx_background(), &ts, &side), 0);
			r = ctx_with_any((ctx_t *const[]){ parent, side }, 2, &c);
			ctx_unref(side); /* the merged context holds it */
			if (want == NONE || dl < want) {
				want = dl;
				approx = false;
			}
			break;
		case K_REALTIME:
			/* The same instant as base + off, on the wall clock. */
			ts = ts_of(realtime_now() + (dl - mono_now()));
			r = ctx_with_deadline_clock(parent, CLOCK_REALTIME, &ts, 0, &c);
			if (want == NONE || dl < want) {
				want = dl;
				approx = true;
			}
			break;
		}
		cr_assert_eq(r, 0, "level %zu (kind %d): %d", i, k, r);
		ch->lv[i] = c;
		ch->want[i] = want;
		ch->approx[i] = approx;
		parent = c;
	}
}

static void release(struct chain *ch)
{
	/* Every other level first, then the rest: children hold their parents. */
	for (size_t i = 0; i < ch->n; i += 2)
		ctx_unref(ch->lv[i]);
	for (size_t i = 1; i < ch->n; i += 2)
		ctx_unref(ch->lv[i]);
	ctx_unref(ch->top);
	free(ch->lv);
	free(ch->want);
	free(ch->approx);
}

static void check_level(const struct chain *ch, size_t i)
{
	struct timespec got;
	bool has = ctx_deadline(ch->lv[i], &got);
	int64_t want = ch->want[i];

	if (want == NONE) {
		cr_assert_not(has, "level %zu: a deadline (base%+.6fs), want none", i,
			      has ? (double)((int64_t)ns_from_ts(&got) - ch->base) / 1e9 : 0.0);
		cr_assert_eq(ctx_timeout_ms(ch->lv[i]), -1, "level %zu", i);
		return;
	}
	cr_assert(has, "level %zu: no deadline, want base%+.6fs", i,
		  (double)(want - ch->base) / 1e9);
	if (ch->approx[i])
		cr_assert_lt(llabs((long long)((int64_t)ns_from_ts(&got) - want)),
			     (long long)(10 * NSEC_PER_MSEC),
			     "level %zu: base%+.6fs, want base%+.6fs (wall clock)", i,
			     (double)((int64_t)ns_from_ts(&got) - ch->base) / 1e9,
			     (double)(want - ch->base) / 1e9);
	else
		cr_assert_eq((int64_t)ns_from_ts(&got), want,
			     "level %zu: base%+.9fs, want base%+.9fs", i,
			     (double)((int64_t)ns_from_ts(&got) - ch->base) / 1e9,
			     (double)(want - ch->base) / 1e9);
	cr_assert_gt(ctx_timeout_ms(ch->lv[i]), 0, "level %zu", i);
}

/* About 3,000 levels: both ends, and evenly spread between. */
static void check_levels(const struct chain *ch)
{
	size_t step = ch->n / 1000 ? ch->n / 1000 : 1;

	for (size_t i = 0; i < ch->n; i++)
		if (i < 1000 || i >= ch->n - 1000 || i % step == 0 || i % step == 1)
			check_level(ch, i);
	check_level(ch, ch->n - 1);
}

static size_t depth(void)
{
	size_t n = scaled(100000);

	return n < 1000 ? 1000 : n;
}

/* ---- the shapes --------------------------------------------------------- */

/* Each deadline below is later: they are ordinary children, the top one bounds all. */
static enum kind later_below(size_t i, size_t n, int64_t *off)
{
	*off = (int64_t)i * US;
	return i % 2 ? K_VALUE : K_TIMEOUT;
}

/* Each deadline below is earlier: every one has its own, and bounds its subtree. */
static enum kind earlier_below(size_t i, size_t n, int64_t *off)
{
	*off = (int64_t)(n - i) * US;
	return i % 2 ? K_VALUE : K_TIMEOUT;
}

/* Neither: an earlier one now and then among later ones. */
static enum kind mixed(size_t i, size_t n, int64_t *off)
{
	uint32_t x = (uint32_t)i * 2654435761u;

	*off = (int64_t)(x % 100000) * US;
	return i % 2 ? K_VALUE : K_TIMEOUT;
}

/* A without_cancel in the middle; below it values only, then later deadlines again. */
static enum kind cut(size_t i, size_t n, int64_t *off)
{
	if (i == n / 2)
		return K_WITHOUT;
	if (i > n / 2 && i < 3 * n / 4)
		return K_VALUE;
	*off = (int64_t)i * US;
	return i % 2 ? K_VALUE : K_TIMEOUT;
}

/* Merged links: one with an earlier side deadline, one with a later. */
static enum kind merged(size_t i, size_t n, int64_t *off)
{
	if (i == n / 3 + 1) {
		*off = -(int64_t)NSEC_PER_SEC;
		return K_ANY;
	}
	if (i == 2 * n / 3 + 1) {
		*off = (int64_t)NSEC_PER_SEC;
		return K_ANY;
	}
	*off = (int64_t)i * US;
	return i % 2 ? K_VALUE : K_TIMEOUT;
}

/* A wall-clock deadline earlier than the ones above, in the middle. */
static enum kind wall_clock(size_t i, size_t n, int64_t *off)
{
	if (i == n / 2 + 1) {
		*off = -5 * (int64_t)NSEC_PER_SEC;
		return K_REALTIME;
	}
	*off = (int64_t)i * US;
	return i % 2 ? K_VALUE : K_TIMEOUT;
}

static void run_shape(kind_fn shape)
{
	struct chain ch;

	build(&ch, depth(), shape);
	check_levels(&ch);
	release(&ch);
	check_fds();
}

Test(deep, later_deadlines_below_report_the_top_one, .timeout = 120)
{
	run_shape(later_below);
}

Test(deep, earlier_deadlines_below_report_their_own, .timeout = 120)
{
	run_shape(earlier_below);
}

Test(deep, mixed_deadlines_report_the_earliest_above, .timeout = 120)
{
	run_shape(mixed);
}

Test(deep, without_cancel_cuts_the_deadline, .timeout = 120)
{
	run_shape(cut);
}

Test(deep, merged_links_take_the_earliest_parent, .timeout = 120)
{
	run_shape(merged);
}

Test(deep, wall_clock_deadline_in_the_middle, .timeout = 120)
{
	run_shape(wall_clock);
}

/* ---- using the bottom of a deep chain ------------------------------------ */

Test(deep, deriving_and_waiting_at_the_bottom, .timeout = 120)
{
	struct chain ch;
	struct timespec got, top;
	ctx_t *bottom, *k = NULL, *quick = NULL, *early = NULL;
	uint64_t t0;

	build(&ch, depth(), later_below);
	bottom = ch.lv[ch.n - 1];
	top = ts_of(ch.base);

	/* A later deadline derived at the bottom yields to the chain's. */
	cr_assert_eq(ctx_with_timeout(bottom, 2 * HOUR, &k), 0);
	cr_assert(ctx_deadline(k, &got));
	cr_assert(got.tv_sec == top.tv_sec && got.tv_nsec == top.tv_nsec,
		  "a later child at the bottom reports the top deadline");
	ctx_unref(k);
	cr_assert_eq(ctx_with_cancel(bottom, &k), 0);
	cr_assert(ctx_deadline(k, &got));
	cr_assert(got.tv_sec == top.tv_sec && got.tv_nsec == top.tv_nsec);
	cr_assert_eq(ctx_value(k, &key_top), (void *)(uintptr_t)2, "the top value is seen");

	/* An earlier one is its own, and fires. */
	cr_assert_eq(ctx_with_deadline_cause(bottom, &(struct timespec){ 0 }, 0, &early), 0);
	cr_assert_eq(ctx_err(early), -ETIMEDOUT, "a passed deadline at the bottom is born done");
	cr_assert_eq(ctx_with_timeout_cause(bottom, 30 * NSEC_PER_MSEC, 77, &quick), 0);
	cr_assert(ctx_deadline(quick, &got));
	cr_assert_eq(ctx_wait(quick), -ETIMEDOUT);
	t0 = now_ns();
	cr_assert_geq(t0, ns_from_ts(&got), "returned before the deadline");
	cr_assert_eq(ctx_cause(quick), 77);
	cr_assert_eq(ctx_err(bottom), 0, "a child's deadline leaves the chain alone");
	cr_assert_eq(ctx_sleep(bottom, NSEC_PER_MSEC), 0);
	cr_assert_gt(ctx_timeout_ms(bottom), 3500 * 1000);

	/* Cancelling the top reaches the bottom and everything derived there. */
	cr_assert_eq(ctx_cancel_cause(ch.top, 66), 0);
	cr_assert_eq(ctx_wait(bottom), -ECANCELED);
	cr_assert_eq(ctx_cause(bottom), 66);
	cr_assert_eq(ctx_err(k), -ECANCELED);
	cr_assert_eq(ctx_cause(k), 66);
	cr_assert_eq(ctx_timeout_ms(bottom), 0);
	cr_assert(ctx_deadline(bottom, &got), "a done context keeps reporting its deadline");
	cr_assert(got.tv_sec == top.tv_sec && got.tv_nsec == top.tv_nsec);
	ctx_unref(early);
	ctx_unref(quick);
	ctx_unref(k);
	release(&ch);
	check_fds();
}
