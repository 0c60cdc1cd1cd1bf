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
 * Cases: create_cancel.live, create_cancel.root, value, timeout_cancel,
 * done_check.
 */
#include <ctx.h>
#include <stdio.h>
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
