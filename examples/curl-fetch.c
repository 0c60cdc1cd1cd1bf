/* SPDX-License-Identifier: MIT */
/*
 * curl-fetch: fetch a URL to standard output with libcurl, bounded by a
 * context: a deadline (-t) and SIGINT (^C) both abort the transfer.
 *
 *	curl-fetch [-t SECONDS] URL
 *
 * ctx_curl_perform() waits on the transfer's sockets and the context's
 * done descriptor in one curl_multi_poll(), in this one thread. Exit
 * status: 0; 1 on an error; 124 on timeout, like timeout(1); 130 on SIGINT.
 *
 *	$ nc -l 127.0.0.1 8080 &	# accepts, never answers
 *	$ ./curl-fetch -t 0.5 http://127.0.0.1:8080/; echo $?
 *	curl-fetch: http://127.0.0.1:8080/: Connection timed out after 0.50 s
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
#include <ctx_curl.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	__attribute__((cleanup(ctx_unrefp))) ctx_t *sig = NULL, *ctx = NULL;
	CURLcode code = CURLE_OK;
	double timeout = 0, t0;
	sigset_t set;
	CURL *easy;
	int opt, r;

	while ((opt = getopt(argc, argv, "t:")) != -1) {
		if (opt != 't') {
			fprintf(stderr, "usage: curl-fetch [-t SECONDS] URL\n");
			return 1;
		}
		timeout = strtod(optarg, NULL);
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: curl-fetch [-t SECONDS] URL\n");
		return 1;
	}

	/* ^C cancels the context (cause -EINTR); -t adds a deadline. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	r = ctx_with_signals(ctx_background(), &set, &sig);
	if (r == 0)
		r = timeout > 0 ? ctx_with_timeout(sig, (uint64_t)(timeout * 1e9), &ctx)
				: ctx_with_cancel(sig, &ctx);
	if (r < 0) {
		fprintf(stderr, "curl-fetch: %s\n", strerror(-r));
		return 1;
	}

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(easy = curl_easy_init())) {
		fprintf(stderr, "curl-fetch: cannot initialise libcurl\n");
		return 1;
	}
	curl_easy_setopt(easy, CURLOPT_URL, argv[optind]);
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);

	t0 = now();
	r = ctx_curl_perform(ctx, NULL, easy, &code);
	if (r == -EIO)
		fprintf(stderr, "curl-fetch: %s: %s\n", argv[optind], curl_easy_strerror(code));
	else if (r < 0)
		fprintf(stderr, "curl-fetch: %s: %s after %.2f s\n", argv[optind], strerror(-r),
			now() - t0);
	curl_easy_cleanup(easy);
	curl_global_cleanup();

	if (r == 0)
		return 0;
	if (ctx_cause(ctx) == -EINTR)
		return 130;
	return r == -ETIMEDOUT ? 124 : 1;
}
