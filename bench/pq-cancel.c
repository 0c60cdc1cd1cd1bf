/* SPDX-License-Identifier: MIT */
/*
 * pq-cancel: time from ctx_cancel() to a PostgreSQL command being stopped
 * by <ctx_pq.h>, against a real server. Each round runs SELECT
 * pg_sleep(10) with ctx_pq_exec() in a thread; once the server shows the
 * command active (pg_stat_activity, from a second connection), the main
 * thread calls ctx_cancel() and the round measures until ctx_pq_exec()
 * returns: the cancel sent from the helper's thread, the server's
 * 57014 error read, the connection idle again. Every round checks that.
 *
 * For comparison, "bare" rounds time libpq alone, in one thread: a
 * blocking PQcancel() (how long it would block an event loop), and from
 * its call to the last result.
 *
 *	tests/with-pg.sh bench/pq-cancel [-n ROUNDS]	(make bench-clients)
 *
 * Prints the median, the 10th and 90th percentiles in milliseconds.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ctx.h>
#include <ctx_pq.h>

#define ACTIVE "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' " \
	"AND query = 'SELECT pg_sleep(10)'"

static PGconn *conn, *mon;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static PGconn *connect_env(void)
{
	PGconn *c = PQconnectdb("");

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pq-cancel: %s", PQerrorMessage(c));
		exit(1);
	}
	return c;
}

/* Until the server runs the command (at most 10 s). */
static void wait_active(void)
{
	double end = now_ms() + 10000;
	PGresult *res;
	int n = 0;

	while (n != 1 && now_ms() < end) {
		res = PQexec(mon, ACTIVE);
		n = PQresultStatus(res) == PGRES_TUPLES_OK ? atoi(PQgetvalue(res, 0, 0)) : 0;
		PQclear(res);
		if (n != 1)
			usleep(1000);
	}
	if (n != 1) {
		fprintf(stderr, "pq-cancel: the command never ran\n");
		exit(1);
	}
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	printf("%-46s median %7.2f ms   p10 %7.2f   p90 %7.2f   (n=%d)\n", what, v[n / 2],
	       v[n / 10], v[(n * 9) / 10], n);
}

struct round {
	ctx_t *ctx;
	int r;
	const char *state;
	double end;
};

static void *exec_thread(void *arg)
{
	struct round *rd = (struct round *)arg;
	PGresult *res = NULL;

	rd->r = ctx_pq_exec(rd->ctx, conn, "SELECT pg_sleep(10)", &res);
	rd->end = now_ms();
	rd->state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	rd->state = rd->state && !strcmp(rd->state, "57014") ? "57014" : "other";
	PQclear(res);
	return NULL;
}

int main(int argc, char **argv)
{
	int n = 20, i, opt;
	double *helper, *bare_cancel, *bare_drain, t0, t1;
	char err[256];
	PGresult *res;

	while ((opt = getopt(argc, argv, "n:")) != -1)
		if (opt == 'n')
			n = atoi(optarg);
	if (n < 1 || !getenv("PGHOST")) {
		fprintf(stderr, "usage: tests/with-pg.sh bench/pq-cancel [-n ROUNDS]\n");
		return 1;
	}
	helper = calloc((size_t)n, sizeof(double));
	bare_cancel = calloc((size_t)n, sizeof(double));
	bare_drain = calloc((size_t)n, sizeof(double));
	conn = connect_env();
	mon = connect_env();

	for (i = 0; i < n; i++) {
		struct round rd = { 0 };
		pthread_t t;

		if (ctx_with_cancel(ctx_background(), &rd.ctx) < 0 ||
		    pthread_create(&t, NULL, exec_thread, &rd) != 0)
			return 1;
		wait_active();
		t0 = now_ms();
		ctx_cancel(rd.ctx);
		pthread_join(t, NULL);
		if (rd.r != -ECANCELED || strcmp(rd.state, "57014") || PQisBusy(conn)) {
			fprintf(stderr, "pq-cancel: round %d: %d, %s\n", i, rd.r, rd.state);
			return 1;
		}
		helper[i] = rd.end - t0;
		ctx_unref(rd.ctx);
	}

	for (i = 0; i < n; i++) {
		PGcancel *c = PQgetCancel(conn);

		PQsendQuery(conn, "SELECT pg_sleep(10)");
		wait_active();
		t0 = now_ms();
		if (!PQcancel(c, err, sizeof(err))) {
			fprintf(stderr, "pq-cancel: %s\n", err);
			return 1;
		}
		t1 = now_ms();
		while ((res = PQgetResult(conn)))
			PQclear(res);
		bare_cancel[i] = t1 - t0;
		bare_drain[i] = now_ms() - t0;
		PQfreeCancel(c);
	}

	printf("PostgreSQL %d over a Unix socket, %d rounds\n", PQserverVersion(conn), n);
	report("ctx_cancel -> ctx_pq_exec returned (57014)", helper, n);
	report("bare: PQcancel() blocks", bare_cancel, n);
	report("bare: PQcancel() -> last result", bare_drain, n);
	PQfinish(conn);
	PQfinish(mon);
	free(helper);
	free(bare_cancel);
	free(bare_drain);
	return 0;
}
