/* SPDX-License-Identifier: MIT */
/* ctx_describe: link names and snprintf semantics. */
#include "common.h"

TestSuite(describe, .init = test_setup);

static const char key;

/* The whole description, checked against the length ctx_describe reports. */
static char *describe(ctx_t *c)
{
	static char buf[1024];
	int n = ctx_describe(c, NULL, 0);

	cr_assert_geq(n, 0);
	cr_assert_lt(n, (int)sizeof(buf));
	cr_assert_eq(ctx_describe(c, buf, sizeof(buf)), n);
	cr_assert_eq(strlen(buf), (size_t)n);
	return buf;
}

/* Parses "with_deadline(+S[.fff]s)" at s; returns the seconds. */
static double deadline_link(const char *s)
{
	const char *p = "with_deadline(+";
	char *end;
	double v;

	cr_assert(!strncmp(s, p, strlen(p)), "not a deadline link: %s", s);
	s += strlen(p);
	cr_assert(*s >= '0' && *s <= '9', "no number: %s", s);
	v = strtod(s, &end);
	cr_assert_str_eq(end, "s)", "unit/suffix: %s", end);
	return v;
}

Test(describe, roots, .timeout = 10)
{
	cr_assert_str_eq(describe(ctx_background()), "background");
	cr_assert_str_eq(describe(ctx_todo()), "todo");
	check_fds();
}

Test(describe, cancel_value_without_cancel, .timeout = 10)
{
	ctx_t *c = NULL, *v = NULL, *w = NULL, *t = NULL;
	char want[256];

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_str_eq(describe(c), "background.with_cancel");
	cr_assert_eq(ctx_with_value(c, &key, NULL, NULL, &v), 0);
	snprintf(want, sizeof(want), "background.with_cancel.with_value(%p)", (const void *)&key);
	cr_assert_str_eq(describe(v), want);
	cr_assert_eq(ctx_without_cancel(v, &w), 0);
	strcat(want, ".without_cancel");
	cr_assert_str_eq(describe(w), want);
	cr_assert_eq(ctx_with_cancel(ctx_todo(), &t), 0);
	cr_assert_str_eq(describe(t), "todo.with_cancel");
	/* Being done does not change the description. */
	cr_assert_eq(ctx_cancel(c), 0);
	cr_assert_str_eq(describe(c), "background.with_cancel");
	ctx_unref(t);
	ctx_unref(w);
	ctx_unref(v);
	ctx_unref(c);
	check_fds();
}

Test(describe, deadlines_show_remaining, .timeout = 10)
{
	ctx_t *d = NULL, *t = NULL, *k = NULL;
	struct timespec ts = ts_in(90 * NSEC_PER_SEC);
	const char *s;
	double v;

	cr_assert_eq(ctx_with_deadline(ctx_background(), &ts, &d), 0);
	s = describe(d);
	cr_assert(!strncmp(s, "background.", 11), "%s", s);
	v = deadline_link(s + 11);
	cr_assert(v > 85 && v <= 90, "remaining %f", v);

	cr_assert_eq(ctx_with_timeout(ctx_background(), 1500 * NSEC_PER_MSEC, &t), 0);
	s = describe(t);
	cr_assert(!strncmp(s, "background.", 11), "%s", s);
	v = deadline_link(s + 11);
	cr_assert(v > 1.0 && v <= 1.5, "timeouts print as deadlines: %f", v);

	cr_assert_eq(ctx_with_cancel(t, &k), 0);
	s = describe(k);
	cr_assert(strlen(s) > 12 && !strcmp(s + strlen(s) - 12, ".with_cancel"), "%s", s);
	ctx_unref(k);
	ctx_unref(t);
	ctx_unref(d);
	check_fds();
}

Test(describe, parent_earlier_child_is_a_cancel_child, .timeout = 10)
{
	ctx_t *p = NULL, *c = NULL;
	const char *s;

	/* Go's WithDeadline returns WithCancel(parent) in that case. */
	cr_assert_eq(ctx_with_timeout(ctx_background(), 10 * NSEC_PER_SEC, &p), 0);
	cr_assert_eq(ctx_with_timeout(p, 100 * NSEC_PER_SEC, &c), 0);
	s = describe(c);
	cr_assert(strlen(s) > 12 && !strcmp(s + strlen(s) - 12, ".with_cancel"), "%s", s);
	ctx_unref(c);
	ctx_unref(p);
	check_fds();
}

Test(describe, fd_source, .timeout = 10)
{
	int p[2];
	ctx_t *c = NULL;
	char want[64];

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(ctx_with_fd(ctx_background(), p[0], EPOLLIN, 0, &c), 0);
	snprintf(want, sizeof(want), "background.with_fd(%d)", p[0]);
	cr_assert_str_eq(describe(c), want);
	ctx_unref(c);
	close(p[0]);
	close(p[1]);
	check_fds();
}

Test(describe, snprintf_semantics, .timeout = 10)
{
	ctx_t *c = NULL, *v = NULL;
	char full[256], buf[256];
	int n;

	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	cr_assert_eq(ctx_with_value(c, &key, NULL, NULL, &v), 0);
	n = ctx_describe(v, NULL, 0);
	cr_assert_gt(n, 0, "NULL, 0 returns the length");
	cr_assert_eq(ctx_describe(v, full, sizeof(full)), n);
	cr_assert_eq(strlen(full), (size_t)n);

	/* Exactly enough room. */
	memset(buf, 'X', sizeof(buf));
	cr_assert_eq(ctx_describe(v, buf, (size_t)n + 1), n);
	cr_assert_str_eq(buf, full);

	/* One short: truncated, still terminated, same return value. */
	memset(buf, 'X', sizeof(buf));
	cr_assert_eq(ctx_describe(v, buf, (size_t)n), n);
	cr_assert_eq(strlen(buf), (size_t)n - 1);
	cr_assert(!strncmp(buf, full, (size_t)n - 1));

	for (size_t len = 1; len < (size_t)n; len += 3) {
		memset(buf, 'X', sizeof(buf));
		cr_assert_eq(ctx_describe(v, buf, len), n);
		cr_assert_eq(strlen(buf), len - 1, "len %zu", len);
		cr_assert(!strncmp(buf, full, len - 1), "len %zu: %s", len, buf);
		cr_assert_eq(buf[len], 'X', "wrote past len %zu", len);
	}

	/* len 0 with a buffer: nothing written. */
	memset(buf, 'X', sizeof(buf));
	cr_assert_eq(ctx_describe(v, buf, 0), n);
	cr_assert_eq(buf[0], 'X');
	ctx_unref(v);
	ctx_unref(c);
	check_fds();
}

Test(describe, long_chain, .timeout = 10)
{
	enum { N = 1000 };
	ctx_t *cur = ctx_ref(ctx_background());
	char *buf;
	int n;

	for (int i = 0; i < N; i++) {
		ctx_t *next = NULL;

		cr_assert_eq(ctx_with_cancel(cur, &next), 0);
		ctx_unref(cur);
		cur = next;
	}
	n = ctx_describe(cur, NULL, 0);
	cr_assert_eq(n, (int)(strlen("background") + N * strlen(".with_cancel")));
	buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(ctx_describe(cur, buf, (size_t)n + 1), n);
	cr_assert(!strncmp(buf, "background.with_cancel.with_cancel", 34));
	free(buf);
	ctx_unref(cur);
	check_fds();
}
