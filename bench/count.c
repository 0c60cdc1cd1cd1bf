/* SPDX-License-Identifier: MIT */
/*
 * bench/count: the hot paths a fixed number of times, for instruction
 * counts under callgrind, which are the same run after run whatever else
 * the machine does (bench/run's timings are not). Compare two libraries by
 * running this one program against each:
 *
 *   cc -O2 -Iinclude -o count bench/count.c -L"$BUILD/.libs" -lctx
 *   LD_LIBRARY_PATH="$BUILD/.libs" valgrind --tool=callgrind \
 *       --callgrind-out-file=/dev/null ./count create_cancel.live
 *
 * and dividing the "Collected" total by ROUNDS (start-up is under 0.1%).
 * Cases: create_cancel.live, create_cancel.root, merge.create_cancel, value,
 * timeout_cancel, done_check, derive.1, derive.1000, derive.100000.
 *
 * The derive.N cases first build a chain N deep, which would weigh in the
 * total: count only the measured loop by adding
 * --collect-atstart=no --toggle-collect=derive_rounds to the valgrind line.
 */
#include <ctx.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUNDS 200000

static int create_cancel(ctx_t *parent)
{
	for (int i = 0; i < ROUNDS; i++) {
		ctx_t *c;

		if (ctx_with_cancel(parent, &c) < 0)
			return 1;
		ctx_cancel(c);
		ctx_unref(c);
	}
	return 0;
}

/* ctx_with_any of two live parents: create + cancel + release. */
static int merge_create_cancel(ctx_t *live)
{
	ctx_t *other, *m;

	if (ctx_with_cancel(ctx_background(), &other) < 0)
		return 1;
	for (int i = 0; i < ROUNDS; i++) {
		ctx_t *const parents[] = { live, other };

		if (ctx_with_any(parents, 2, &m) < 0) {
			ctx_unref(other);
			return 1;
		}
		ctx_cancel(m);
		ctx_unref(m);
	}
	ctx_unref(other);
	return 0;
}

/* As bench/bench-libctx.c: alternating timeout (each later) and value contexts. */
static ctx_t *deadline_chain(int depth)
{
	static const char key;
	ctx_t *c = ctx_background(), *n;

	for (int i = 0; i < depth; i++) {
		int r = i % 2 == 0 ?
			ctx_with_timeout(c, 3600000000000ULL + (uint64_t)i * 1000, &n) :
			ctx_with_value(c, &key, NULL, NULL, &n);

		if (r < 0)
			return NULL;
		ctx_unref(c);
		c = n;
	}
	return c;
}

/* The measured loop of derive.N, by name for callgrind's --toggle-collect. */
__attribute__((noinline)) static int derive_rounds(ctx_t *bottom)
{
	for (int i = 0; i < ROUNDS; i++) {
		ctx_t *c;

		if (ctx_with_timeout(bottom, 1800000000000ULL, &c) < 0)
			return 1;
		ctx_unref(c);
	}
	return 0;
}

static int derive(int depth)
{
	ctx_t *bottom = deadline_chain(depth);
	int r;

	if (!bottom)
		return 1;
	r = derive_rounds(bottom);
	ctx_unref(bottom);
	return r;
}

static int value(ctx_t *parent)
{
	static const char key;

	for (int i = 0; i < ROUNDS; i++) {
		ctx_t *v;

		if (ctx_with_value(parent, &key, NULL, NULL, &v) < 0)
			return 1;
		ctx_unref(v);
	}
	return 0;
}

static int timeout_cancel(ctx_t *parent)
{
	for (int i = 0; i < ROUNDS; i++) {
		ctx_t *c;

		if (ctx_with_timeout(parent, 1000000000000ULL, &c) < 0)
			return 1;
		ctx_cancel(c);
		ctx_unref(c);
	}
	return 0;
}

static int done_check(ctx_t *parent)
{
	int sum = 0;

	for (int i = 0; i < 10 * ROUNDS; i++)
		sum += ctx_err(parent);
	return sum != 0;
}

int main(int argc, char **argv)
{
	ctx_t *live;
	int r;

	if (argc != 2 || ctx_with_cancel(ctx_background(), &live) < 0) {
		fprintf(stderr, "usage: %s CASE (see the source)\n", argv[0]);
		return 2;
	}
	if (strcmp(argv[1], "create_cancel.live") == 0)
		r = create_cancel(live);
	else if (strcmp(argv[1], "create_cancel.root") == 0)
		r = create_cancel(ctx_background());
	else if (strcmp(argv[1], "merge.create_cancel") == 0)
		r = merge_create_cancel(live);
	else if (strncmp(argv[1], "derive.", 7) == 0)
		r = derive(atoi(argv[1] + 7));
	else if (strcmp(argv[1], "value") == 0)
		r = value(live);
	else if (strcmp(argv[1], "timeout_cancel") == 0)
		r = timeout_cancel(live);
	else if (strcmp(argv[1], "done_check") == 0)
		r = done_check(live);
	else
		r = 2;
	ctx_unref(live);
	return r;
}
