/* SPDX-License-Identifier: MIT */
/*
 * pq-query: run one SQL command on a PostgreSQL server, bounded by a
 * context: a deadline (-t) and SIGINT (^C) both cancel it on the server.
 *
 *	pq-query [-t SECONDS] COMMAND
 *
 * The server comes from the environment (PGHOST, PGPORT, PGUSER,
 * PGDATABASE...), as for psql; the deadline counts from the start, connection
 * included (the connection itself is not bound to the context). Rows are printed tab-separated. When the
 * context ends the command, ctx_pq_exec() has the server cancel it and
 * waits for the connection to be idle again: the second, quick query below
 * shows it is. Exit status: 0; 1 on an error; 124 on timeout, like
 * timeout(1); 130 on SIGINT.
 *
 *	$ ./pq-query -t 0.5 "SELECT pg_sleep(10)"; echo $?
 *	pq-query: Connection timed out after 0.50 s; the server says
 *	  57014: canceling statement due to user request
 *	pq-query: the connection is ready again: SELECT 1 gave 1
 *	124
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ctx.h>
#include <ctx_pq.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_rows(const PGresult *res)
{
	int i, j;

	for (i = 0; i < PQntuples(res); i++)
		for (j = 0; j < PQnfields(res); j++)
			printf("%s%c", PQgetvalue(res, i, j), j + 1 < PQnfields(res) ? '\t' : '\n');
}

int main(int argc, char **argv)
{
	__attribute__((cleanup(ctx_unrefp))) ctx_t *sig = NULL, *ctx = NULL;
	double timeout = 0, t0;
	PGresult *res = NULL;
	sigset_t set;
	PGconn *conn;
	int opt, r;

	while ((opt = getopt(argc, argv, "t:")) != -1) {
		if (opt != 't') {
			fprintf(stderr, "usage: pq-query [-t SECONDS] COMMAND\n");
			return 1;
		}
		timeout = strtod(optarg, NULL);
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: pq-query [-t SECONDS] COMMAND\n");
		return 1;
	}

	/* ^C cancels the context (cause -EINTR); -t adds a deadline. */
	t0 = now();
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	r = ctx_with_signals(ctx_background(), &set, &sig);
	if (r == 0)
		r = timeout > 0 ? ctx_with_timeout(sig, (uint64_t)(timeout * 1e9), &ctx)
				: ctx_with_cancel(sig, &ctx);
	if (r < 0) {
		fprintf(stderr, "pq-query: %s\n", strerror(-r));
		return 1;
	}

	conn = PQconnectdb("");
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "pq-query: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return 1;
	}

	r = ctx_pq_exec(ctx, conn, argv[optind], &res);
	if (r == 0 && PQresultStatus(res) == PGRES_TUPLES_OK) {
		print_rows(res);
	} else if (r == 0 && PQresultStatus(res) == PGRES_COMMAND_OK) {
		printf("%s\n", PQcmdStatus(res));
	} else if (r == 0) {
		fprintf(stderr, "pq-query: %s", PQresultErrorMessage(res));
		r = -EIO;
	} else if (ctx_err(ctx) < 0) {
		fprintf(stderr, "pq-query: %s after %.2f s", strerror(-r), now() - t0);
		if (res)
			fprintf(stderr, "; the server says\n  %s: %s",
				PQresultErrorField(res, PG_DIAG_SQLSTATE),
				PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
		fputc('\n', stderr);
	} else {
		fprintf(stderr, "pq-query: %s: %s", strerror(-r), PQerrorMessage(conn));
	}
	PQclear(res);

	/* After a cancel the connection is idle: show it with one more query. */
	if (ctx_err(ctx) < 0 && r != -EBUSY) {
		res = NULL;
		if (ctx_pq_exec(ctx_background(), conn, "SELECT 1", &res) == 0 &&
		    PQresultStatus(res) == PGRES_TUPLES_OK)
			fprintf(stderr, "pq-query: the connection is ready again: SELECT 1 gave %s\n",
				PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	PQfinish(conn);

	if (r == 0)
		return 0;
	if (ctx_cause(ctx) == -EINTR)
		return 130;
	return r == -ETIMEDOUT ? 124 : 1;
}
