/* SPDX-License-Identifier: MIT */
/*
 * Deadlines over the wire: ctx_timeout_header and ctx_with_timeout_header,
 * gRPC's grpc-timeout value. The program is linked with the library's
 * sources (tests/hardening.mk's fault-inject does the same), so the pure
 * codec of lib/timeout_header.h is checked exactly, without a clock, and
 * the public functions against the real clock, by brackets of readings
 * taken around each call (never by how fast the machine is).
 *
 * Vectors: gRPC's PROTOCOL-HTTP2 (TimeoutValue is at most 8 digits; units
 * n u m S M H) and grpc-go's encoder (the first unit whose value, rounded
 * up, fits) and decoder (hours clamped to an int64_t of ns).
 */
#include "common.h"

#include "timeout_header.h"

#define MSEC NSEC_PER_MSEC
#define SEC NSEC_PER_SEC
#define HOUR (3600 * SEC)

TestSuite(header, .init = test_setup);

/* --- the codec --- */

static const struct {
	uint64_t ns;
	const char *value;
} ladder[] = {
	{ 0, "0n" },
	{ 1, "1n" },
	{ 999, "999n" },
	{ 99999999, "99999999n" },
	{ 100000000, "100000u" },            /* 9 digits of ns: microseconds */
	{ 100000001, "100001u" },            /* rounded up */
	{ 100000500, "100001u" },
	{ 1000000000, "1000000u" },          /* 1 s */
	{ 99999999000ULL, "99999999u" },
	{ 99999999001ULL, "100000m" },
	{ 99999999 * MSEC, "99999999m" },    /* about 27.8 hours */
	{ 99999999 * MSEC + 1, "100000S" },
	{ 99999999 * SEC, "99999999S" },     /* about 3.2 years */
	{ 99999999 * SEC + 1, "1666667M" },
	{ 99999999ULL * 60 * SEC, "99999999M" },
	{ 99999999ULL * 60 * SEC + 1, "1666667H" },
	{ INT64_MAX, "2562048H" },
	{ UINT64_MAX, "5124096H" },
};

Test(header, format_ladder_and_rounding, .timeout = 10)
{
	char out[CTX__GRPC_TIMEOUT_MAX];

	for (size_t i = 0; i < sizeof(ladder) / sizeof(ladder[0]); i++) {
		size_t n;

		memset(out, 'X', sizeof(out));
		n = ctx__grpc_timeout_format(ladder[i].ns, out);
		cr_expect_str_eq(out, ladder[i].value, "%llu ns: \"%s\", want \"%s\"",
				 (unsigned long long)ladder[i].ns, out, ladder[i].value);
		cr_expect_eq(n, strlen(ladder[i].value));
	}
}

static const struct {
	const char *value;
	uint64_t ns;
} parsed[] = {
	{ "0n", 0 },
	{ "1n", 1 },
	{ "99999999n", 99999999 },
	{ "100000u", 100000000 },
	{ "1m", MSEC },
	{ "1S", SEC },
	{ "1M", 60 * SEC },
	{ "1H", HOUR },
	{ "00000001H", HOUR },                 /* leading zeros: still 8 digits */
	{ "00000000S", 0 },
	{ "99999999M", 99999999ULL * 60 * SEC },
	{ "2562047H", 2562047 * HOUR },        /* the largest whole hour count that fits */
	{ "2562048H", INT64_MAX },             /* clamped */
	{ "99999999H", INT64_MAX },            /* clamped, never a wrap */
};

Test(header, parse_values_and_clamping, .timeout = 10)
{
	for (size_t i = 0; i < sizeof(parsed) / sizeof(parsed[0]); i++) {
		uint64_t ns = 12345;
		int r = ctx__grpc_timeout_parse(parsed[i].value, strlen(parsed[i].value), &ns);

		cr_expect_eq(r, 0, "\"%s\": %d", parsed[i].value, r);
		cr_expect_eq(ns, parsed[i].ns, "\"%s\": %llu ns, want %llu", parsed[i].value,
			     (unsigned long long)ns, (unsigned long long)parsed[i].ns);
	}
}

/* Every way to be malformed; value, length (-1: strlen). */
static const struct {
	const char *value;
	int len;
} malformed[] = {
	{ "", -1 },
	{ "n", -1 },          /* no digits */
	{ "1", -1 },          /* no unit */
	{ "12", -1 },
	{ "123456789n", -1 }, /* 9 digits */
	{ "000000001n", -1 },
	{ "+1n", -1 },
	{ "-1n", -1 },
	{ " 1n", -1 },
	{ "1n ", -1 },
	{ "1 n", -1 },
	{ "\t1S", -1 },
	{ "1x", -1 },
	{ "1h", -1 },         /* units are case-sensitive */
	{ "1s", -1 },
	{ "1N", -1 },
	{ "1U", -1 },
	{ "1nn", -1 },
	{ "n1", -1 },
	{ "1.5S", -1 },
	{ "1e3n", -1 },
	{ "0x1n", -1 },
	{ "1,0S", -1 },
	{ "1\0n", 3 },        /* an embedded NUL */
	{ "1S\0", 3 },
	{ "\xef\xbc\x91S", -1 }, /* a fullwidth digit */
	{ "\xff", -1 },
	{ "1S", 1 },          /* only "1" */
	{ "1S", 0 },
};

Test(header, parse_malformed, .timeout = 10)
{
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		size_t len = malformed[i].len < 0 ? strlen(malformed[i].value)
						  : (size_t)malformed[i].len;
		uint64_t ns = 12345;
		int r = ctx__grpc_timeout_parse(malformed[i].value, len, &ns);

		cr_expect_eq(r, -EINVAL, "case %zu (\"%s\", %zu bytes): %d", i,
			     malformed[i].value, len, r);
		cr_expect_eq(ns, 12345, "case %zu: *ns written on error", i);
	}
}

Test(header, parse_reads_only_len_bytes, .timeout = 10)
{
	/* HTTP/2 libraries hand a pointer and a length, no NUL. */
	static const char wire[] = { '1', '2', 'S', '3', '4', 'm' };
	char page[16];
	uint64_t ns = 0;

	cr_assert_eq(ctx__grpc_timeout_parse(wire, 3, &ns), 0);
	cr_assert_eq(ns, 12 * SEC);
	cr_assert_eq(ctx__grpc_timeout_parse(wire + 3, 3, &ns), 0);
	cr_assert_eq(ns, 34 * MSEC);
	cr_assert_eq(ctx__grpc_timeout_parse(wire, sizeof(wire), &ns), -EINVAL);
	/* No terminator anywhere near: the value ends the buffer. */
	memset(page, '7', sizeof(page));
	page[sizeof(page) - 1] = 'u';
	cr_assert_eq(ctx__grpc_timeout_parse(page + 7, 9, &ns), 0);
	cr_assert_eq(ns, 77777777 * 1000ULL);
}

/* Unit of a formatted value, in ns. */
static uint64_t unit_ns(char u)
{
	switch (u) {
	case 'n': return 1;
	case 'u': return 1000;
	case 'm': return MSEC;
	case 'S': return SEC;
	case 'M': return 60 * SEC;
	case 'H': return HOUR;
	}
	cr_assert_fail("unit '%c'", u);
	return 0;
}

/*
 * Format then parse never shortens, and lengthens by less than one unit of
 * the chosen unit; that unit is the first that fits. Around every rung of
 * the ladder, and a spread of values between.
 */
static void round_trip(uint64_t ns)
{
	char out[CTX__GRPC_TIMEOUT_MAX];
	size_t n = ctx__grpc_timeout_format(ns, out);
	uint64_t back = 0, unit = unit_ns(out[n - 1]);

	cr_assert(n >= 2 && n <= 9, "%llu: \"%s\"", (unsigned long long)ns, out);
	cr_assert_eq(ctx__grpc_timeout_parse(out, n, &back), 0, "\"%s\"", out);
	cr_assert_geq(back, ns, "%llu ns -> \"%s\" -> %llu: shortened", (unsigned long long)ns,
		      out, (unsigned long long)back);
	/* Only a clamp at INT64_MAX may stop short of the exact round-up. */
	cr_assert(back - ns < unit, "%llu ns -> \"%s\" -> %llu: more than a unit longer",
		  (unsigned long long)ns, out, (unsigned long long)back);
	if (unit > 1) {
		uint64_t finer = unit == 1000 ? 1 : unit == MSEC ? 1000 : unit == SEC ? MSEC
			       : unit == 60 * SEC ? SEC : 60 * SEC;

		cr_assert_gt(ns / finer + (ns % finer != 0), 99999999,
			     "%llu ns -> \"%s\": a finer unit fits", (unsigned long long)ns, out);
	}
}

Test(header, round_trip_bounds, .timeout = 30)
{
	static const uint64_t rungs[] = { 1, 99999999, 99999999000ULL, 99999999 * MSEC,
					  99999999 * SEC, 99999999ULL * 60 * SEC };
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	for (size_t i = 0; i < sizeof(rungs) / sizeof(rungs[0]); i++)
		for (uint64_t d = 0; d < 2000; d++) {
			round_trip(rungs[i] + d);
			if (rungs[i] > d)
				round_trip(rungs[i] - d);
		}
	round_trip(INT64_MAX);
	round_trip(INT64_MAX - 1);
	for (int i = 0; i < 200000; i++) {
		/* xorshift, then a random magnitude: every unit gets its share. */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		round_trip(1 + (x >> (x % 63)) % (uint64_t)INT64_MAX);
	}
}

/* --- ctx_timeout_header against the clock --- */

static uint64_t parse_ok(const char *s)
{
	uint64_t ns = 0;

	cr_assert_eq(ctx__grpc_timeout_parse(s, strlen(s), &ns), 0, "\"%s\" is malformed", s);
	return ns;
}

static uint64_t deadline_ns(ctx_t *c)
{
	struct timespec ts;

	cr_assert(ctx_deadline(c, &ts));
	return ns_from_ts(&ts);
}

/*
 * The header of c, with the time left bracketed by clock readings around
 * the call: the value is never less than what was left at the end, and
 * less than one unit more than what was left at the start.
 */
static int try_header(ctx_t *c, char *out)
{
	uint64_t dl = deadline_ns(c), t0, t1, sent, unit;
	int n;

	t0 = now_ns();
	n = ctx_timeout_header(c, out, 16);
	t1 = now_ns();
	if (n == -ETIMEDOUT && t1 >= dl)
		return n;
	cr_assert(n >= 2 && n <= 9, "ctx_timeout_header: %d", n);
	cr_assert_eq(strlen(out), (size_t)n);
	sent = parse_ok(out);
	unit = unit_ns(out[n - 1]);
	cr_assert_geq(sent, dl - t1, "\"%s\" is shorter than the %llu ns left", out,
		      (unsigned long long)(dl - t1));
	cr_assert_lt(sent, dl - t0 + unit, "\"%s\" is more than a unit over the %llu ns left",
		     out, (unsigned long long)(dl - t0));
	return n;
}

static void check_header(ctx_t *c, char *out)
{
	cr_assert_gt(try_header(c, out), 0, "expired");
}

Test(header, one_second_timeout, .timeout = 10)
{
	char out[16];
	ctx_t *c = NULL;
	uint64_t sent;

	cr_assert_eq(ctx_with_timeout(ctx_background(), SEC, &c), 0);
	check_header(c, out);
	/* Under a second left: microseconds, never more than 1000000u. */
	sent = parse_ok(out);
	cr_assert_leq(sent, SEC, "\"%s\"", out);
	cr_assert(out[strlen(out) - 1] == 'u' || out[strlen(out) - 1] == 'n', "\"%s\"", out);
	ctx_unref(c);
	check_fds();
}

Test(header, every_rung_of_the_ladder, .timeout = 10)
{
	/* Time left just under each rung's top picks that rung's unit. */
	static const struct {
		uint64_t timeout;
		char unit;
	} rungs[] = {
		{ 99 * MSEC, 'n' },        { 99 * SEC, 'u' },   { 27 * HOUR, 'm' },
		{ 1000 * 24 * HOUR, 'S' }, { 190ULL * 365 * 24 * HOUR, 'M' },
		{ 250ULL * 365 * 24 * HOUR, 'H' },
	};
	char out[16];

	for (size_t i = 0; i < sizeof(rungs) / sizeof(rungs[0]); i++) {
		int tries = 0, n;

		/* 99 ms may run out on a stalled machine: then try again. */
		do {
			ctx_t *c = NULL;

			cr_assert_eq(ctx_with_timeout(ctx_background(), rungs[i].timeout, &c), 0);
			n = try_header(c, out);
			ctx_unref(c);
		} while (n < 0 && ++tries < 10);
		cr_assert_gt(n, 0, "timeout %llu ns expired ten times",
			     (unsigned long long)rungs[i].timeout);
		cr_assert_eq(out[n - 1], rungs[i].unit, "timeout %llu ns: \"%s\"",
			     (unsigned long long)rungs[i].timeout, out);
	}
	check_fds();
}

Test(header, tracks_the_parent_and_values, .timeout = 10)
{
	ctx_t *dl = NULL, *val = NULL, *cancel = NULL;
	char a[16], b[16];
	int key;

	cr_assert_eq(ctx_with_timeout(ctx_background(), 10 * SEC, &dl), 0);
	cr_assert_eq(ctx_with_value(dl, &key, NULL, NULL, &val), 0);
	cr_assert_eq(ctx_with_cancel(val, &cancel), 0);
	check_header(dl, a);
	check_header(val, b);
	check_header(cancel, b);
	cr_assert_eq(b[strlen(b) - 1], 'u');
	ctx_unref(cancel);
	ctx_unref(val);
	ctx_unref(dl);
	check_fds();
}

Test(header, no_deadline_is_empty, .timeout = 10)
{
	ctx_t *c = NULL, *woc = NULL, *dl = NULL;
	char buf[8];

	memset(buf, 'X', sizeof(buf));
	cr_assert_eq(ctx_timeout_header(ctx_background(), buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "");
	cr_assert_eq(buf[1], 'X', "wrote past the terminator");
	cr_assert_eq(ctx_timeout_header(ctx_todo(), NULL, 0), 0);
	cr_assert_eq(ctx_with_cancel(ctx_background(), &c), 0);
	memset(buf, 'X', sizeof(buf));
	cr_assert_eq(ctx_timeout_header(c, buf, 1), 0);
	cr_assert_eq(buf[0], '\0');
	/* without_cancel drops the deadline too. */
	cr_assert_eq(ctx_with_timeout(ctx_background(), HOUR, &dl), 0);
	cr_assert_eq(ctx_without_cancel(dl, &woc), 0);
	memset(buf, 'X', sizeof(buf));
	cr_assert_eq(ctx_timeout_header(woc, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "");
	ctx_unref(woc);
	ctx_unref(dl);
	ctx_unref(c);
	check_fds();
}

Test(header, truncates_like_snprintf, .timeout = 10)
{
	char full[16], buf[16];
	ctx_t *c = NULL;
	int n, m;

	/* 250 years: "2190000H" for the next hour. */
	cr_assert_eq(ctx_with_timeout(ctx_background(), 250ULL * 365 * 24 * HOUR, &c), 0);
	n = ctx_timeout_header(c, full, sizeof(full));
	cr_assert_str_eq(full, "2190000H");
	cr_assert_eq(n, 8);
	cr_assert_eq(ctx_timeout_header(c, NULL, 0), n, "the length, as snprintf");
	memset(buf, 'X', sizeof(buf));
	cr_assert_eq(ctx_timeout_header(c, buf, 0), n);
	cr_assert_eq(buf[0], 'X', "len 0 writes nothing");
	for (size_t len = 1; len <= (size_t)n + 1; len++) {
		memset(buf, 'X', sizeof(buf));
		m = ctx_timeout_header(c, buf, len);
		cr_assert_eq(m, n, "len %zu: %d", len, m);
		cr_assert_eq(strlen(buf), len - 1 < (size_t)n ? len - 1 : (size_t)n);
		cr_assert_eq(strncmp(buf, full, strlen(buf)), 0, "\"%s\" not a prefix of \"%s\"",
			     buf, full);
		cr_assert_eq(buf[len], 'X', "len %zu: wrote past the buffer", len);
	}
	ctx_unref(c);
	check_fds();
}

Test(header, done_gives_its_error_and_writes_nothing, .timeout = 10)
{
	ctx_t *c = NULL, *t = NULL, *v = NULL, *child = NULL;
	char buf[8];
	int key;

	cr_assert_eq(ctx_with_timeout(ctx_background(), HOUR, &c), 0);
	cr_assert_eq(ctx_with_value(c, &key, NULL, NULL, &v), 0);
	cr_assert_eq(ctx_with_cancel(v, &child), 0);
	cr_assert_eq(ctx_cancel(c), 0);
	memset(buf, 'X', sizeof(buf));
	cr_assert_eq(ctx_timeout_header(c, buf, sizeof(buf)), -ECANCELED);
	cr_assert_eq(ctx_timeout_header(v, buf, sizeof(buf)), -ECANCELED);
	cr_assert_eq(ctx_timeout_header(child, NULL, 0), -ECANCELED);
	cr_assert_eq(buf[0], 'X', "buffer written on error");

	cr_assert_eq(ctx_with_timeout(ctx_background(), MSEC, &t), 0);
	cr_assert_eq(ctx_wait(t), -ETIMEDOUT);
	cr_assert_eq(ctx_timeout_header(t, buf, sizeof(buf)), -ETIMEDOUT);
	cr_assert_eq(buf[0], 'X', "buffer written on error");
	ctx_unref(t);
	ctx_unref(child);
	ctx_unref(v);
	ctx_unref(c);
	check_fds();
}

Test(header, counts_down_and_never_sends_zero, .timeout = 10)
{
	ctx_t *c = NULL;
	char buf[16];
	uint64_t last = UINT64_MAX;
	int n;

	/* Ask until it is over: every answer a header no longer than the last. */
	cr_assert_eq(ctx_with_timeout(ctx_background(), 5 * MSEC, &c), 0);
	for (;;) {
		n = ctx_timeout_header(c, buf, sizeof(buf));
		if (n < 0)
			break;
		cr_assert_gt(n, 0, "a live context with a deadline sent nothing");
		cr_assert_neq(parse_ok(buf), 0, "sent \"%s\"", buf);
		cr_assert_leq(parse_ok(buf), last, "\"%s\" after %llu ns", buf,
			      (unsigned long long)last);
		last = parse_ok(buf);
	}
	cr_assert_eq(n, -ETIMEDOUT);
	ctx_unref(c);
	check_fds();
}

/*
 * A deadline that has passed before the library's thread fired it: the
 * thread is held in an after-function (which the contract forbids to
 * block: a test may, for a bounded moment) while the deadline passes.
 */
struct hold {
	int pipe[2];
	pthread_t test_thread;
	atomic_int entered; /* 1: holding the library's thread; -1: ran in ours */
};

static void hold_thread(void *arg)
{
	struct hold *h = arg;
	struct pollfd p = { .fd = h->pipe[0], .events = POLLIN };

	/* Fired before ctx_after_func returned: run inline, hold nothing. */
	if (pthread_equal(pthread_self(), h->test_thread)) {
		atomic_store(&h->entered, -1);
		return;
	}
	atomic_store(&h->entered, 1);
	poll(&p, 1, 10000);
}

Test(header, expired_before_the_thread_fires, .timeout = 20)
{
	struct hold h = { .test_thread = pthread_self() };
	ctx_t *holder = NULL, *c = NULL, *zero = NULL, *one = NULL;
	uint64_t hold_ns = MSEC;
	char buf[16];

	cr_assert_eq(pipe2(h.pipe, O_CLOEXEC), 0);
	for (;;) {
		int spins = 0;

		atomic_store(&h.entered, 0);
		cr_assert_eq(ctx_with_timeout(ctx_background(), hold_ns, &holder), 0);
		cr_assert_eq(ctx_after_func(holder, hold_thread, &h, NULL), 0);
		while (!atomic_load(&h.entered) && spins++ < 5000)
			sleep_ms(1);
		cr_assert(atomic_load(&h.entered), "the library's thread never ran it");
		if (atomic_load(&h.entered) > 0)
			break;
		/* A stalled test thread: give the registration more time. */
		holder = ctx_unref(holder);
		hold_ns *= 10;
		cr_assert_leq(hold_ns, 10 * SEC, "never registered before the deadline");
	}

	cr_assert_eq(ctx_with_timeout(ctx_background(), 2 * MSEC, &c), 0);
	while (now_ns() <= deadline_ns(c))
		sleep_ms(1);
	cr_assert_eq(ctx_err(c), 0, "the held thread cannot have fired it");
	memset(buf, 'X', sizeof(buf));
	cr_assert_eq(ctx_timeout_header(c, buf, sizeof(buf)), -ETIMEDOUT);
	cr_assert_eq(buf[0], 'X', "an expired deadline is never sent");

	/* "0n" under it is still born done; "1S" is bounded by it. */
	cr_assert_eq(ctx_with_timeout_header(c, "0n", 2, &zero), 0);
	cr_assert_eq(ctx_err(zero), -ETIMEDOUT);
	cr_assert_eq(ctx_cause(zero), -ETIMEDOUT);
	cr_assert_eq(ctx_with_timeout_header(c, "1S", 2, &one), 0);
	cr_assert_eq(deadline_ns(one), deadline_ns(c));

	cr_assert_eq(write(h.pipe[1], "x", 1), 1);
	cr_assert_eq(ctx_wait(one), -ETIMEDOUT);
	ctx_unref(one);
	ctx_unref(zero);
	ctx_unref(c);
	ctx_unref(holder);
	close(h.pipe[0]);
	close(h.pipe[1]);
	check_fds();
}

/* --- ctx_with_timeout_header --- */

Test(header, parsed_timeout_fires_never_early, .timeout = 10)
{
	ctx_t *c = NULL;
	uint64_t t0, t1, dl;

	t0 = now_ns();
	cr_assert_eq(ctx_with_timeout_header(ctx_background(), "100m", 4, &c), 0);
	t1 = now_ns();
	dl = deadline_ns(c);
	cr_assert(dl >= t0 + 100 * MSEC && dl <= t1 + 100 * MSEC, "deadline not now + 100 ms");
	cr_assert_eq(ctx_err(c), 0);
	cr_assert_eq(ctx_wait(c), -ETIMEDOUT);
	cr_assert_geq(now_ns(), dl, "fired early");
	cr_assert_eq(ctx_cause(c), -ETIMEDOUT);
	ctx_unref(c);
	check_fds();
}

Test(header, zero_is_born_done, .timeout = 10)
{
	ctx_t *c = NULL, *p = NULL, *under = NULL;

	cr_assert_eq(ctx_with_timeout_header(ctx_background(), "0n", 2, &c), 0);
	cr_assert_eq(ctx_err(c), -ETIMEDOUT);
	cr_assert_eq(ctx_cause(c), -ETIMEDOUT);
	assert_readable(ctx_fd(c));
	ctx_unref(c);
	cr_assert_eq(ctx_with_timeout_header(ctx_background(), "00000000H", 9, &c), 0);
	cr_assert_eq(ctx_err(c), -ETIMEDOUT);
	ctx_unref(c);
	/* Under a done parent: the parent's error and cause (1.0's rule). */
	cr_assert_eq(ctx_with_cancel(ctx_background(), &p), 0);
	cr_assert_eq(ctx_cancel_cause(p, -EPIPE), 0);
	cr_assert_eq(ctx_with_timeout_header(p, "0S", 2, &under), 0);
	cr_assert_eq(ctx_err(under), -ECANCELED);
	cr_assert_eq(ctx_cause(under), -EPIPE);
	ctx_unref(under);
	cr_assert_eq(ctx_with_timeout_header(p, "5S", 2, &under), 0);
	cr_assert_eq(ctx_err(under), -ECANCELED);
	ctx_unref(under);
	ctx_unref(p);
	check_fds();
}

Test(header, clamped_by_the_parent, .timeout = 10)
{
	ctx_t *p = NULL, *longer = NULL, *shorter = NULL;
	uint64_t pdl, t0, t1;

	cr_assert_eq(ctx_with_timeout(ctx_background(), 2000 * MSEC, &p), 0);
	pdl = deadline_ns(p);
	cr_assert_eq(ctx_with_timeout_header(p, "10S", 3, &longer), 0);
	cr_assert_eq(deadline_ns(longer), pdl, "a later deadline is bounded by the parent's");
	t0 = now_ns();
	cr_assert_eq(ctx_with_timeout_header(p, "10000u", 6, &shorter), 0);
	t1 = now_ns();
	cr_assert(deadline_ns(shorter) >= t0 + 10 * MSEC && deadline_ns(shorter) <= t1 + 10 * MSEC,
		  "an earlier deadline is the child's own");
	cr_assert_eq(ctx_wait(shorter), -ETIMEDOUT);
	cr_assert_eq(ctx_err(p), 0, "the child's deadline is not the parent's");
	cr_assert_eq(ctx_wait(longer), -ETIMEDOUT);
	cr_assert_geq(now_ns(), pdl);
	ctx_unref(shorter);
	ctx_unref(longer);
	ctx_unref(p);
	check_fds();
}

Test(header, hours_clamp_far_away, .timeout = 10)
{
	ctx_t *c = NULL;
	struct timespec ts;
	char buf[16];
	int n;

	cr_assert_eq(ctx_with_timeout_header(ctx_background(), "99999999H", 9, &c), 0);
	cr_assert(ctx_deadline(c, &ts));
	cr_assert_geq(ts.tv_sec, (time_t)1000000000, "clamped deadline %lld s",
		      (long long)ts.tv_sec);
	cr_assert_eq(ctx_timeout_ms(c), INT_MAX);
	n = ctx_timeout_header(c, buf, sizeof(buf));
	cr_assert(n > 1 && buf[n - 1] == 'H', "\"%s\"", buf);
	cr_assert_geq(parse_ok(buf), 2000000 * HOUR, "\"%s\"", buf);
	cr_assert_eq(ctx_err(c), 0);
	ctx_unref(c);
	check_fds();
}

Test(header, round_trip_through_the_api, .timeout = 10)
{
	static const uint64_t timeouts[] = { 50 * MSEC, 2 * SEC, 200 * SEC, 30 * HOUR,
					     2000 * 24 * HOUR };
	char buf[16];

	for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++) {
		ctx_t *a = NULL, *b = NULL;
		uint64_t t0, t1, unit;
		int n;

		cr_assert_eq(ctx_with_timeout(ctx_background(), timeouts[i], &a), 0);
		t0 = now_ns();
		n = ctx_timeout_header(a, buf, sizeof(buf));
		cr_assert_gt(n, 0);
		cr_assert_eq(ctx_with_timeout_header(ctx_background(), buf, (size_t)n, &b), 0);
		t1 = now_ns();
		unit = unit_ns(buf[n - 1]);
		/* Never shorter; longer by under a unit plus the time the two calls took. */
		cr_assert_geq(deadline_ns(b), deadline_ns(a), "\"%s\" shortened the deadline", buf);
		cr_assert_lt(deadline_ns(b) - deadline_ns(a), unit + (t1 - t0), "\"%s\"", buf);
		ctx_unref(b);
		ctx_unref(a);
	}
	check_fds();
}

Test(header, malformed_values_through_the_api, .timeout = 10)
{
	ctx_t *sentinel = (ctx_t *)&sentinel, *c = sentinel;

	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		size_t len = malformed[i].len < 0 ? strlen(malformed[i].value)
						  : (size_t)malformed[i].len;

		cr_assert_eq(ctx_with_timeout_header(ctx_background(), malformed[i].value, len, &c),
			     -EINVAL, "case %zu", i);
		cr_assert_eq(c, sentinel, "case %zu: *ret written on error", i);
	}
	check_fds();
}

Test(header, null_arguments, .timeout = 10)
{
	ctx_t *sentinel = (ctx_t *)&sentinel, *c = sentinel;
	char buf[4] = "XXX";

	cr_assert_eq(ctx_timeout_header(NULL, buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(ctx_timeout_header(NULL, NULL, 0), -EINVAL);
	cr_assert_eq(ctx_timeout_header(ctx_background(), NULL, 4), -EINVAL);
	cr_assert_str_eq(buf, "XXX");
	cr_assert_eq(ctx_with_timeout_header(NULL, "1S", 2, &c), -EINVAL);
	cr_assert_eq(ctx_with_timeout_header(ctx_background(), NULL, 2, &c), -EINVAL);
	cr_assert_eq(ctx_with_timeout_header(ctx_background(), NULL, 0, &c), -EINVAL);
	cr_assert_eq(ctx_with_timeout_header(ctx_background(), "1S", 2, NULL), -EINVAL);
	cr_assert_eq(c, sentinel);
	check_fds();
}

/* --- a failing call creates nothing (no warm-up: the thread must not exist) --- */

static int thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

Test(header_cold, failing_calls_create_nothing, .timeout = 10)
{
	ctx_t *c = NULL;
	int threads = thread_count(), fds = fd_count();

	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		size_t len = malformed[i].len < 0 ? strlen(malformed[i].value)
						  : (size_t)malformed[i].len;

		cr_assert_eq(ctx_with_timeout_header(ctx_background(), malformed[i].value, len, &c),
			     -EINVAL);
	}
	cr_assert_eq(ctx_timeout_header(ctx_background(), NULL, 0), 0);
	cr_assert_eq(thread_count(), threads, "a failing call started a thread");
	cr_assert_eq(fd_count(), fds, "a failing call opened a descriptor");
	/* The first good one does start the library's thread. */
	cr_assert_eq(ctx_with_timeout_header(ctx_background(), "1H", 2, &c), 0);
	cr_assert_eq(thread_count(), threads + 1);
	ctx_unref(c);
}
