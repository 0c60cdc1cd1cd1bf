/* SPDX-License-Identifier: MIT */
/*
 * test-pq: <ctx_pq.h> against a real PostgreSQL server.
 *
 * The server is started by tests/with-pg.sh (initdb into a directory under
 * /tmp, a Unix socket there, stopped and removed at the end even when this
 * program crashes): run without CTX_PG_DIR in the environment, the program
 * re-executes itself under that script, so one server serves every case.
 *
 * Each case checks what the user of the helper relies on: the wait ends
 * with the context's error soon after the context is done, the server
 * reports the cancel (SQLSTATE 57014), the connection runs the next query,
 * and no backend is left running the command (pg_stat_activity, seen from
 * a second connection). Times are bounded generously (a 200 ms deadline
 * ends the wait within 5 s, never before 200 ms): the 10 s command proves
 * the cancel, not the bound.
 *
 * Standalone TAP (tests/stress.h), so it runs under TSan too.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

/*
 * The give-up bound is a variable here: generous (10 s) for every case but
 * the one that checks giving up.
 */
static int test_cancel_ms = 10000;
#define CTX_PQ_CANCEL_MS test_cancel_ms

#include "stress.h"

#include <ctx_pq.h>

#include <limits.h>
#include <signal.h>

#define SLEEP_QUERY "SELECT pg_sleep(10)"
/* The backends running the command, seen from another connection. */
#define ACTIVE_QUERY \
	"SELECT count(*) FROM pg_stat_activity WHERE state = 'active' " \
	"AND query LIKE '%pg_sleep(10)%' AND pid <> pg_backend_pid()"

#define MS 1000000ull

static PGconn *conn;	/* the connection under test */
static PGconn *mon;	/* the monitoring connection */

static void no_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static PGconn *connect_env(void)
{
	PGconn *c = PQconnectdb("");

	if (PQstatus(c) != CONNECTION_OK) {
		printf("Bail out! cannot connect: %s", PQerrorMessage(c));
		exit(1);
	}
	PQsetNoticeProcessor(c, no_notice, NULL);
	return c;
}

/* One value of a query on mon, as a number; -1 on error. */
static long mon_value(const char *query)
{
	PGresult *res = PQexec(mon, query);
	long v = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		v = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	else
		stress_diag("monitor: %s", PQresultErrorMessage(res));
	PQclear(res);
	return v;
}

/* Wait (bounded) until want backends run the sleep; returns the last count. */
static long wait_active(long want, uint64_t max_ns)
{
	uint64_t end = now_ns() + max_ns;
	long n;

	while ((n = mon_value(ACTIVE_QUERY)) != want && now_ns() < end)
		sleep_ns(5 * MS);
	return n;
}

static const char *sqlstate(const PGresult *res)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return s ? s : "(none)";
}

/* The connection is idle and runs the next query. */
static void check_reusable(PGconn *c)
{
	PGresult *res = NULL;
	ctx_t *ctx = NULL;
	int r;

	CHECK(!PQisBusy(c), "connection still busy");
	CHECK(PQtransactionStatus(c) == PQTRANS_IDLE, "transaction status %d",
	      (int)PQtransactionStatus(c));
	if (!CHECK(ctx_with_timeout(ctx_background(), 30000 * MS, &ctx) == 0, "ctx"))
		return;
	r = ctx_pq_exec(ctx, c, "SELECT 42", &res);
	CHECK(r == 0, "next query: %d (%s)", r, PQerrorMessage(c));
	CHECK(PQresultStatus(res) == PGRES_TUPLES_OK && !strcmp(PQgetvalue(res, 0, 0), "42"),
	      "next query: %s", PQresStatus(PQresultStatus(res)));
	PQclear(res);
	ctx_unref(ctx);
}

/* A cancelled command: the server said 57014, nothing runs it any more. */
static void check_cancelled(PGresult *res)
{
	CHECK(PQresultStatus(res) == PGRES_FATAL_ERROR, "result %s",
	      res ? PQresStatus(PQresultStatus(res)) : "NULL");
	CHECK(!strcmp(sqlstate(res), "57014"), "SQLSTATE %s, want 57014", sqlstate(res));
	CHECK(wait_active(0, 0) == 0, "a backend still runs the command");
}

static void test_deadline(void)
{
	PGresult *res = NULL;
	ctx_t *ctx = NULL;
	uint64_t t0, ms;
	int r;

	/* From before the context: its deadline runs from its creation. */
	t0 = now_ns();
	CHECK(ctx_with_timeout(ctx_background(), 200 * MS, &ctx) == 0, "ctx");
	r = ctx_pq_exec(ctx, conn, SLEEP_QUERY, &res);
	ms = (now_ns() - t0) / MS;
	CHECK(r == -ETIMEDOUT, "ctx_pq_exec: %d (%s)", r, errname(r));
	CHECK(ms >= 200 && ms < 5000, "ended after %llu ms", (unsigned long long)ms);
	check_cancelled(res);
	PQclear(res);
	check_reusable(conn);
	ctx_unref(ctx);
	stress_result("SELECT pg_sleep(10) under a 200 ms deadline: 57014, reusable");
}

struct canceller {
	ctx_t *target;
	uint64_t at;
	long seen;
};

/* Cancels target once the server runs the command (seen from mon). */
static void *cancel_when_active(void *arg)
{
	struct canceller *c = (struct canceller *)arg;

	c->seen = wait_active(1, 30000 * MS);
	c->at = now_ns();
	ctx_cancel(c->target);
	return NULL;
}

static void test_parent_cancel(void)
{
	struct canceller cn = { 0 };
	ctx_t *parent = NULL, *ctx = NULL;
	PGresult *res = NULL;
	pthread_t t;
	uint64_t ms, end;
	int r;

	CHECK(ctx_with_cancel(ctx_background(), &parent) == 0, "parent");
	CHECK(ctx_with_timeout(parent, 60000 * MS, &ctx) == 0, "ctx");
	cn.target = parent;
	CHECK(pthread_create(&t, NULL, cancel_when_active, &cn) == 0, "thread");
	r = ctx_pq_exec(ctx, conn, SLEEP_QUERY, &res);
	end = now_ns();
	pthread_join(t, NULL);
	ms = (end - cn.at) / MS;
	CHECK(cn.seen == 1, "the server ran %ld commands", cn.seen);
	CHECK(r == -ECANCELED, "ctx_pq_exec: %d (%s)", r, errname(r));
	CHECK(ctx_cause(ctx) == -ECANCELED, "cause %d", ctx_cause(ctx));
	CHECK(ms < 5000, "ended %llu ms after the cancel", (unsigned long long)ms);
	check_cancelled(res);
	PQclear(res);
	check_reusable(conn);
	ctx_unref(ctx);
	ctx_unref(parent);
	stress_result("parent cancelled from another thread: 57014, reusable");
}

/*
 * A command that catches the first cancel (an exception handler for
 * query_canceled) and sleeps again: the helper sends the cancel again.
 * Without the retry the wait would last until the 10 s give-up bound.
 */
static void test_cancel_again(void)
{
	PGresult *res = NULL;
	ctx_t *ctx = NULL;
	uint64_t t0, ms;
	int r;

	/* From before the context: its deadline runs from its creation. */
	t0 = now_ns();
	CHECK(ctx_with_timeout(ctx_background(), 200 * MS, &ctx) == 0, "ctx");
	r = ctx_pq_exec(ctx, conn,
			"DO $$ BEGIN PERFORM pg_sleep(10); "
			"EXCEPTION WHEN query_canceled THEN PERFORM pg_sleep(10); END $$",
			&res);
	ms = (now_ns() - t0) / MS;
	CHECK(r == -ETIMEDOUT, "ctx_pq_exec: %d (%s)", r, errname(r));
	CHECK(ms >= 200 && ms < 5000, "ended after %llu ms", (unsigned long long)ms);
	check_cancelled(res);
	PQclear(res);
	check_reusable(conn);
	ctx_unref(ctx);
	stress_result("a command that survives the first cancel is cancelled again");
}

static void test_finishes_first(void)
{
	PGresult *res = NULL;
	ctx_t *ctx = NULL;
	int r;

	CHECK(ctx_with_timeout(ctx_background(), 30000 * MS, &ctx) == 0, "ctx");
	r = ctx_pq_exec(ctx, conn, "SELECT 1; SELECT pg_sleep(0.05), 2", &res);
	CHECK(r == 0, "ctx_pq_exec: %d (%s)", r, PQerrorMessage(conn));
	CHECK(PQresultStatus(res) == PGRES_TUPLES_OK && PQnfields(res) == 2 &&
	      !strcmp(PQgetvalue(res, 0, 1), "2"), "not the last result");
	CHECK(ctx_err(ctx) == 0, "context done: %d", ctx_err(ctx));
	PQclear(res);

	/* An error of the query itself is a result, not a failure of the wait. */
	r = ctx_pq_exec(ctx, conn, "SELECT 1/0", &res);
	CHECK(r == 0, "ctx_pq_exec: %d", r);
	CHECK(!strcmp(sqlstate(res), "22012"), "SQLSTATE %s, want 22012", sqlstate(res));
	PQclear(res);
	check_reusable(conn);
	ctx_unref(ctx);
	stress_result("commands that finish first: their results, the context untouched");
}

static void test_done_before(void)
{
	PGresult *res = (PGresult *)&res;
	ctx_t *ctx = NULL;
	int r;

	CHECK(ctx_with_cancel(ctx_background(), &ctx) == 0, "ctx");
	ctx_cancel(ctx);
	r = ctx_pq_exec(ctx, conn, SLEEP_QUERY, &res);
	CHECK(r == -ECANCELED, "ctx_pq_exec: %d", r);
	CHECK(res == NULL, "a result");
	CHECK(!PQisBusy(conn), "a command was sent");
	check_reusable(conn);
	ctx_unref(ctx);
	stress_result("a context done before: nothing sent");
}

/*
 * ctx_pq_get_result() after PQsendQueryParams(), in a transaction: the
 * cancel fails the transaction, which the caller rolls back.
 */
static void test_get_result(void)
{
	const char *param = "10";
	PGresult *res = NULL;
	ctx_t *ctx = NULL;
	int r, n = 0;

	res = PQexec(conn, "BEGIN");
	PQclear(res);
	CHECK(ctx_with_timeout(ctx_background(), 200 * MS, &ctx) == 0, "ctx");
	CHECK(PQsendQueryParams(conn, "SELECT pg_sleep($1)", 1, NULL, &param, NULL, NULL, 0),
	      "send: %s", PQerrorMessage(conn));
	while ((r = ctx_pq_get_result(ctx, conn, &res)) == 0 && res) {
		n++;
		PQclear(res);
	}
	CHECK(r == -ETIMEDOUT, "ctx_pq_get_result: %d (%s)", r, errname(r));
	CHECK(n == 0, "%d results before the cancel", n);
	check_cancelled(res);
	PQclear(res);
	CHECK(PQtransactionStatus(conn) == PQTRANS_INERROR, "transaction status %d",
	      (int)PQtransactionStatus(conn));
	res = PQexec(conn, "ROLLBACK");
	PQclear(res);
	check_reusable(conn);
	ctx_unref(ctx);
	stress_result("ctx_pq_get_result after PQsendQueryParams in a transaction");
}

/*
 * The context is done while a first result is already read and parsed
 * (the first of two statements) and the second statement runs: the
 * command is still in flight, so it is cancelled and drained too. (The
 * server holds a statement's results until the end of the command, unless
 * something flushes them: the NOTICE does.)
 */
static void test_result_pending(void)
{
	PGresult *res = NULL;
	ctx_t *ctx = NULL;
	uint64_t end;
	int r;

	CHECK(ctx_with_cancel(ctx_background(), &ctx) == 0, "ctx");
	CHECK(PQsendQuery(conn, "SELECT 1; DO $$ BEGIN RAISE NOTICE 'sleeping'; "
			  "PERFORM pg_sleep(10); END $$"), "send");
	end = now_ns() + 30000 * MS;
	while (PQconsumeInput(conn) && PQisBusy(conn) && now_ns() < end)
		sleep_ns(1 * MS);
	CHECK(!PQisBusy(conn), "no first result");
	ctx_cancel(ctx);
	r = ctx_pq_get_result(ctx, conn, &res);
	CHECK(r == -ECANCELED, "ctx_pq_get_result: %d (%s)", r, errname(r));
	check_cancelled(res);
	PQclear(res);
	check_reusable(conn);
	ctx_unref(ctx);
	stress_result("done with a result already read: the rest is cancelled too");
}

/*
 * The event-loop way: ctx_pq_cancel_start() when the done fd fires, its
 * descriptor beside the connection's socket, ctx_pq_cancel_end() once both
 * the results and the cancel are over. The connection is non-blocking.
 */
static void test_event_loop(void)
{
	ctx_pq_cancel_t *cancel = NULL;
	PGresult *res, *last = NULL;
	struct pollfd p[3];
	bool drained = false, sent = false;
	int cfd = -1, end = 1;
	ctx_t *ctx = NULL;
	uint64_t stop;

	CHECK(ctx_with_timeout(ctx_background(), 200 * MS, &ctx) == 0, "ctx");
	PQsetnonblocking(conn, 1);
	CHECK(PQsendQuery(conn, SLEEP_QUERY), "send");
	stop = now_ns() + 30000 * MS;
	while ((!drained || cancel) && now_ns() < stop) {
		p[0] = (struct pollfd){ .fd = PQsocket(conn), .events = POLLIN };
		p[1] = (struct pollfd){ .fd = cancel ? -1 : ctx_fd(ctx), .events = POLLIN };
		p[2] = (struct pollfd){ .fd = cancel ? cfd : -1, .events = POLLIN };
		if (PQflush(conn) == 1)
			p[0].events |= POLLOUT;
		if (poll(p, 3, 1000) < 0 && errno != EINTR)
			break;
		if (p[1].revents && !sent) {
			sent = true;
			cfd = ctx_pq_cancel_start(conn, &cancel);
			CHECK(cfd >= 0, "ctx_pq_cancel_start: %d", cfd);
			if (cfd < 0)
				break;
		}
		if (p[2].revents) {
			end = ctx_pq_cancel_end(cancel, NULL, 0);
			cancel = NULL;
		}
		if (!PQconsumeInput(conn))
			break;
		while (!drained && !PQisBusy(conn)) {
			res = PQgetResult(conn);
			if (!res) {
				drained = true;
			} else {
				PQclear(last);
				last = res;
			}
		}
	}
	CHECK(drained && !cancel, "not over after 30 s");
	CHECK(end == 0, "ctx_pq_cancel_end: %d", end);
	check_cancelled(last);
	PQclear(last);
	if (cancel)
		ctx_pq_cancel_end(cancel, NULL, 0);
	PQsetnonblocking(conn, 0);
	check_reusable(conn);
	ctx_unref(ctx);
	stress_result("event loop: ctx_pq_cancel_start beside PQsocket");
}

/* The postmaster's pid: the first line of postmaster.pid. */
static pid_t postmaster_pid(void)
{
	const char *dir = getenv("CTX_PG_DIR");
	char path[PATH_MAX];
	long pid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/data/postmaster.pid", dir ? dir : ".");
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = -1;
	fclose(f);
	return (pid_t)pid;
}

/*
 * A server that does not answer the cancel (its postmaster is stopped with
 * SIGSTOP, so the cancel's connection is queued but never served): the
 * helper gives up after CTX_PQ_CANCEL_MS with -EBUSY, the caller closes the
 * connection, and the cancel, left running, lands once the postmaster
 * resumes: the command stops then.
 */
static void test_give_up(void)
{
	pid_t pm = postmaster_pid();
	PGresult *res = NULL;
	ctx_t *ctx = NULL;
	uint64_t t0, ms;
	int r;

	if (!CHECK(pm > 0, "no postmaster.pid")) {
		stress_result("a cancel that gets no answer: -EBUSY after the bound");
		return;
	}
	test_cancel_ms = 500;
	CHECK(kill(pm, SIGSTOP) == 0, "SIGSTOP: %s", strerror(errno));
	t0 = now_ns();
	CHECK(ctx_with_timeout(ctx_background(), 100 * MS, &ctx) == 0, "ctx");
	r = ctx_pq_exec(ctx, conn, SLEEP_QUERY, &res);
	ms = (now_ns() - t0) / MS;
	kill(pm, SIGCONT);
	test_cancel_ms = 10000;
	CHECK(r == -EBUSY, "ctx_pq_exec: %d (%s)", r, errname(r));
	CHECK(ms >= 590 && ms < 10000, "gave up after %llu ms", (unsigned long long)ms);
	CHECK(res == NULL, "a result: %s", sqlstate(res));
	PQclear(res);
	PQfinish(conn);
	conn = connect_env();
	/* Well before the 10 s sleep would end by itself. */
	CHECK(wait_active(0, 5000 * MS) == 0, "the abandoned cancel never landed");
	check_reusable(conn);
	ctx_unref(ctx);
	stress_result("a cancel that gets no answer: -EBUSY after the bound");
}

/*
 * The command ends by itself while the cancel is stuck (postmaster
 * stopped): the results are drained, but the cancel may still land and
 * cancel the caller's next command, so the connection is not reusable:
 * -EBUSY once the bound passes, with the command's own result.
 */
static void test_late_cancel(void)
{
	pid_t pm = postmaster_pid();
	PGresult *res = NULL;
	ctx_t *ctx = NULL;
	int r;

	if (!CHECK(pm > 0, "no postmaster.pid")) {
		stress_result("a cancel still on its way when the command ended: -EBUSY");
		return;
	}
	CHECK(ctx_with_timeout(ctx_background(), 100 * MS, &ctx) == 0, "ctx");
	test_cancel_ms = 1000;
	CHECK(kill(pm, SIGSTOP) == 0, "SIGSTOP: %s", strerror(errno));
	r = ctx_pq_exec(ctx, conn, "SELECT pg_sleep(0.3)", &res);
	kill(pm, SIGCONT);
	test_cancel_ms = 10000;
	CHECK(r == -EBUSY, "ctx_pq_exec: %d (%s)", r, errname(r));
	CHECK(PQresultStatus(res) == PGRES_TUPLES_OK, "result %s, SQLSTATE %s",
	      res ? PQresStatus(PQresultStatus(res)) : "NULL", sqlstate(res));
	PQclear(res);
	PQfinish(conn);
	conn = connect_env();
	check_reusable(conn);
	ctx_unref(ctx);
	stress_result("a cancel still on its way when the command ended: -EBUSY");
}

/* Under with-pg.sh, which starts the server and cleans up after us. */
static void reexec_with_server(char **argv)
{
	const char *top = getenv("top_srcdir");
	char script[PATH_MAX], self[PATH_MAX];
	ssize_t n;

	snprintf(script, sizeof(script), "%s/tests/with-pg.sh",
		 top && *top ? top : CTX_TOP_SRCDIR);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0) {
		printf("Bail out! /proc/self/exe: %s\n", strerror(errno));
		exit(1);
	}
	self[n] = '\0';
	execl("/bin/sh", "sh", script, "--tap", self, (char *)NULL);
	printf("Bail out! %s: %s\n", script, strerror(errno));
	exit(1);
	(void)argv;
}

int main(int argc, char **argv)
{
	int baseline;

	(void)argc;
	if (!getenv("CTX_PG_DIR"))
		reexec_with_server(argv);
	stress_plan(11);
	baseline = fd_baseline();
	conn = connect_env();
	mon = connect_env();
	stress_diag("server %d, libpq %d", PQserverVersion(conn), PQlibVersion());

	test_deadline();
	test_parent_cancel();
	test_cancel_again();
	test_finishes_first();
	test_done_before();
	test_get_result();
	test_result_pending();
	test_event_loop();
	test_give_up();
	test_late_cancel();

	PQfinish(conn);
	PQfinish(mon);
	/* The abandoned cancel's thread closes its eventfd when it returns. */
	CHECK(fd_count_settle(baseline, 5000 * MS) == baseline, "%d fds open, baseline %d",
	      fd_count(), baseline);
	stress_result("no descriptor left open");
	return stress_exit();
}
