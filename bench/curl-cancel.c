/* SPDX-License-Identifier: MIT */
/*
 * curl-cancel: time from ctx_cancel() to a libcurl transfer being aborted
 * by <ctx_curl.h>. The server is the slow one of tests/http-slow.h (a
 * thread on 127.0.0.1 sending one byte, then one every 10 s). Each round starts a
 * transfer with ctx_curl_perform() in the main thread; once body bytes
 * flow, another thread calls ctx_cancel(). Two times per round: until the
 * server sees the connection closed (the transfer is stopped for the
 * other side), and until ctx_curl_perform() returns.
 *
 *	bench/curl-cancel [-n ROUNDS]	(make bench-clients)
 *
 * Prints the median, the 10th and 90th percentiles in microseconds.
 */
#include "http-slow.h"

#include <stdlib.h>

#include <ctx.h>
#include <ctx_curl.h>

/* A first byte, then silence: only the done fd can wake the transfer. */
static struct http_slow srv = { .slow_ms = 10000, .slow_len = 100 };

struct round {
	ctx_t *ctx;
	atomic_size_t got;
	unsigned long long t0;
};

static size_t sink(char *data, size_t size, size_t n, void *arg)
{
	struct round *rd = (struct round *)arg;

	(void)data;
	atomic_fetch_add(&rd->got, size * n);
	return size * n;
}

static void *canceller(void *arg)
{
	struct round *rd = (struct round *)arg;

	while (atomic_load(&rd->got) == 0)
		usleep(500);
	/*
	 * The transfer waits in curl_multi_poll() with nothing to come, past
	 * libcurl's one-shot timer 200 ms after connecting: only the done fd
	 * can wake it.
	 */
	usleep(400000);
	rd->t0 = http_slow_now_ns();
	ctx_cancel(rd->ctx);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	printf("%-46s median %7.1f us   p10 %7.1f   p90 %7.1f   (n=%d)\n", what, v[n / 2],
	       v[n / 10], v[(n * 9) / 10], n);
}

int main(int argc, char **argv)
{
	double *closed, *returned;
	int n = 20, i, opt, r, aborted;
	unsigned long long end;
	char url[64];

	while ((opt = getopt(argc, argv, "n:")) != -1)
		if (opt == 'n')
			n = atoi(optarg);
	if (n < 1 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    http_slow_start(&srv) < 0)
		return 1;
	closed = calloc((size_t)n, sizeof(double));
	returned = calloc((size_t)n, sizeof(double));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/slow", srv.port);

	for (i = 0; i < n; i++) {
		struct round rd = { 0 };
		CURL *e = curl_easy_init();
		pthread_t t;

		curl_easy_setopt(e, CURLOPT_URL, url);
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
		curl_easy_setopt(e, CURLOPT_WRITEDATA, &rd);
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		aborted = atomic_load(&srv.aborted);
		if (ctx_with_cancel(ctx_background(), &rd.ctx) < 0 ||
		    pthread_create(&t, NULL, canceller, &rd) != 0)
			return 1;
		r = ctx_curl_perform(rd.ctx, NULL, e, NULL);
		end = http_slow_now_ns();
		pthread_join(t, NULL);
		if (r != -ECANCELED || http_slow_wait(&srv.aborted, aborted + 1, 5000) != aborted + 1) {
			fprintf(stderr, "curl-cancel: round %d: %d\n", i, r);
			return 1;
		}
		closed[i] = (double)(atomic_load(&srv.aborted_ns) - rd.t0) / 1e3;
		returned[i] = (double)(end - rd.t0) / 1e3;
		ctx_unref(rd.ctx);
		curl_easy_cleanup(e);
	}
	printf("%s, HTTP/1.1 on 127.0.0.1, %d rounds\n", curl_version(), n);
	report("ctx_cancel -> the server sees the close", closed, n);
	report("ctx_cancel -> ctx_curl_perform returned", returned, n);
	http_slow_stop(&srv);
	curl_global_cleanup();
	free(closed);
	free(returned);
	return 0;
}
