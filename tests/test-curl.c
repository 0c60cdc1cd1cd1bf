/* SPDX-License-Identifier: MIT */
/*
 * test-curl: <ctx_curl.h> against a real HTTP server, the slow server of
 * tests/http-slow.h on 127.0.0.1 (a thread of this program), which sends a
 * body one byte every 10 s and notices when the client goes away.
 *
 * Each case checks what the user of the helper relies on: the transfer
 * ends with the context's error soon after the context is done (a
 * deadline, a cancel from another thread, a parent cancelled because the
 * client of a server went away), the server sees the connection closed
 * (the transfer was aborted, not left running), and the easy handle (and
 * a caller's multi handle) work for the next transfer. Times are bounded
 * generously: the 1000 s body proves the abort, not the bound.
 *
 * Standalone TAP (tests/stress.h), so it runs under TSan too.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "stress.h"
#include "http-slow.h"

#include <ctx_curl.h>

#include <sys/epoll.h>
#include <sys/socket.h>

#define MS 1000000ull

/*
 * One byte at once, then one every 10 s: after the first byte the transfer
 * waits in curl_multi_poll() with nothing coming, so only the done fd can
 * end that wait within the 5 s bounds below.
 */
static struct http_slow srv = { .slow_ms = 10000, .slow_len = 100 };

struct sink {
	char buf[64];
	atomic_size_t len;
};

static size_t sink_write(char *data, size_t size, size_t n, void *arg)
{
	struct sink *s = (struct sink *)arg;
	size_t len = atomic_load(&s->len), k = size * n;

	if (len < sizeof(s->buf) - 1)
		memcpy(s->buf + len, data, k < sizeof(s->buf) - 1 - len ? k : sizeof(s->buf) - 1 - len);
	atomic_store(&s->len, len + k);
	return k;
}

static CURL *easy_for(const char *path, struct sink *s)
{
	char url[64];
	CURL *e = curl_easy_init();

	memset(s, 0, sizeof(*s));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", srv.port, path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	return e;
}

/* The server saw the client close the connection in mid-body. */
static void check_aborted(int before)
{
	int n = http_slow_wait(&srv.aborted, before + 1, 5000);

	CHECK(n == before + 1, "the server saw %d aborts, want %d", n - before, 1);
}

static void test_deadline(void)
{
	int aborted = atomic_load(&srv.aborted), r;
	CURLcode code = CURLE_OK;
	ctx_t *ctx = NULL;
	struct sink s;
	uint64_t t0, ms;
	CURL *e = easy_for("/slow", &s);

	/* From before the context: its deadline runs from its creation. */
	t0 = now_ns();
	CHECK(ctx_with_timeout(ctx_background(), 200 * MS, &ctx) == 0, "ctx");
	r = ctx_curl_perform(ctx, NULL, e, &code);
	ms = (now_ns() - t0) / MS;
	CHECK(r == -ETIMEDOUT, "ctx_curl_perform: %d (%s)", r, errname(r));
	CHECK(ms >= 200 && ms < 5000, "ended after %llu ms", (unsigned long long)ms);
	check_aborted(aborted);
	curl_easy_cleanup(e);
	ctx_unref(ctx);
	stress_result("a slow body under a 200 ms deadline: -ETIMEDOUT, aborted");
}

struct canceller {
	ctx_t *target;	/* cancelled, or */
	int close_fd;	/* closed (the client going away) */
	struct sink *sink;
	uint64_t at;
};

/* Once the body flows, cancel the context (or close the client's end). */
static void *cancel_when_flowing(void *arg)
{
	struct canceller *c = (struct canceller *)arg;
	uint64_t end = now_ns() + 30000 * MS;

	while (atomic_load(&c->sink->len) == 0 && now_ns() < end)
		sleep_ns(1 * MS);
	/*
	 * Let the transfer go back to waiting in curl_multi_poll(), with
	 * nothing to come for 10 s, past libcurl's own one-shot timer 200 ms
	 * after connecting (its happy-eyeballs timeout): then the done fd
	 * alone can end that wait.
	 */
	sleep_ns(400 * MS);
	c->at = now_ns();
	if (c->target)
		ctx_cancel(c->target);
	else
		close(c->close_fd);
	return NULL;
}

static void test_cancel_thread(void)
{
	int aborted = atomic_load(&srv.aborted), r;
	struct canceller cn = { 0 };
	ctx_t *ctx = NULL;
	struct sink s;
	pthread_t t;
	uint64_t ms, end;
	CURL *e = easy_for("/slow", &s);

	CHECK(ctx_with_cancel(ctx_background(), &ctx) == 0, "ctx");
	cn.target = ctx;
	cn.sink = &s;
	CHECK(pthread_create(&t, NULL, cancel_when_flowing, &cn) == 0, "thread");
	r = ctx_curl_perform(ctx, NULL, e, NULL);
	end = now_ns();
	pthread_join(t, NULL);
	ms = (end - cn.at) / MS;
	CHECK(r == -ECANCELED, "ctx_curl_perform: %d (%s)", r, errname(r));
	CHECK(atomic_load(&s.len) > 0 && atomic_load(&s.len) < srv.slow_len,
	      "%zu bytes received", atomic_load(&s.len));
	CHECK(ms < 5000, "ended %llu ms after the cancel", (unsigned long long)ms);
	check_aborted(aborted);
	curl_easy_cleanup(e);
	ctx_unref(ctx);
	stress_result("cancelled from another thread in mid-body: -ECANCELED, aborted");
}

/*
 * A server's request context is a child of one that is cancelled when its
 * client hangs up (ctx_with_fd on the client's socket, EPOLLRDHUP): the
 * upstream transfer made for that request ends when the client goes.
 */
static void test_client_gone(void)
{
	int aborted = atomic_load(&srv.aborted), r, sv[2];
	ctx_t *client = NULL, *req = NULL;
	struct canceller cn = { 0 };
	struct sink s;
	pthread_t t;
	uint64_t ms, end;
	CURL *e = easy_for("/slow", &s);

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	CHECK(ctx_with_fd(ctx_background(), sv[0], EPOLLRDHUP, -ECONNRESET, &client) == 0,
	      "ctx_with_fd");
	CHECK(ctx_with_timeout(client, 30000 * MS, &req) == 0, "ctx");
	cn.close_fd = sv[1];
	cn.sink = &s;
	CHECK(pthread_create(&t, NULL, cancel_when_flowing, &cn) == 0, "thread");
	r = ctx_curl_perform(req, NULL, e, NULL);
	end = now_ns();
	pthread_join(t, NULL);
	ms = (end - cn.at) / MS;
	CHECK(r == -ECANCELED, "ctx_curl_perform: %d (%s)", r, errname(r));
	CHECK(ctx_cause(req) == -ECONNRESET, "cause %d", ctx_cause(req));
	CHECK(ms < 5000, "ended %llu ms after the client went", (unsigned long long)ms);
	check_aborted(aborted);
	close(sv[0]);
	curl_easy_cleanup(e);
	ctx_unref(req);
	ctx_unref(client);
	stress_result("the client of a server goes away: the upstream transfer is aborted");
}

static void test_finishes_first(void)
{
	int finished = atomic_load(&srv.finished), r;
	CURLcode code = CURLE_COULDNT_CONNECT;
	ctx_t *ctx = NULL;
	struct sink s;
	CURL *e = easy_for("/fast", &s);

	CHECK(ctx_with_timeout(ctx_background(), 30000 * MS, &ctx) == 0, "ctx");
	r = ctx_curl_perform(ctx, NULL, e, &code);
	CHECK(r == 0 && code == CURLE_OK, "ctx_curl_perform: %d, %s", r, curl_easy_strerror(code));
	CHECK(atomic_load(&s.len) == 13 && !memcmp(s.buf, "hello, world\n", 13), "body '%s'",
	      s.buf);
	CHECK(ctx_err(ctx) == 0, "context done: %d", ctx_err(ctx));
	CHECK(http_slow_wait(&srv.finished, finished + 1, 5000) == finished + 1, "not served");
	curl_easy_cleanup(e);
	ctx_unref(ctx);
	stress_result("a transfer that finishes first: 0, its body, the context untouched");
}

static void test_done_before(void)
{
	int accepted = atomic_load(&srv.accepted), r;
	CURLcode code = CURLE_OK;
	ctx_t *ctx = NULL;
	struct sink s;
	CURL *e = easy_for("/fast", &s);

	CHECK(ctx_with_cancel(ctx_background(), &ctx) == 0, "ctx");
	ctx_cancel(ctx);
	r = ctx_curl_perform(ctx, NULL, e, &code);
	CHECK(r == -ECANCELED, "ctx_curl_perform: %d", r);
	CHECK(code == CURLE_OK, "result set: %d", (int)code);
	CHECK(atomic_load(&srv.accepted) == accepted, "a connection was made");
	curl_easy_cleanup(e);
	ctx_unref(ctx);
	stress_result("a context done before: no connection");
}

/*
 * The caller's multi handle and easy handle, used again after an abort:
 * both come back clean (the easy handle is removed on every return).
 */
static void test_reuse(void)
{
	int aborted = atomic_load(&srv.aborted), r;
	CURLM *m = curl_multi_init();
	CURLcode code = CURLE_COULDNT_CONNECT;
	ctx_t *ctx = NULL, *ctx2 = NULL;
	struct sink s;
	char url[64];
	CURL *e = easy_for("/slow", &s);

	CHECK(ctx_with_timeout(ctx_background(), 100 * MS, &ctx) == 0, "ctx");
	r = ctx_curl_perform(ctx, m, e, NULL);
	CHECK(r == -ETIMEDOUT, "first: %d (%s)", r, errname(r));
	check_aborted(aborted);

	memset(&s, 0, sizeof(s));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/fast", srv.port);
	curl_easy_setopt(e, CURLOPT_URL, url);
	CHECK(ctx_with_timeout(ctx_background(), 30000 * MS, &ctx2) == 0, "ctx");
	r = ctx_curl_perform(ctx2, m, e, &code);
	CHECK(r == 0 && code == CURLE_OK, "second: %d, %s", r, curl_easy_strerror(code));
	CHECK(atomic_load(&s.len) == 13, "%zu bytes", atomic_load(&s.len));
	curl_easy_cleanup(e);
	curl_multi_cleanup(m);
	ctx_unref(ctx2);
	ctx_unref(ctx);
	stress_result("a caller's multi and easy handles, again after an abort");
}

/* A transfer that fails by itself: -EIO and its CURLcode. */
static void test_curl_error(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	CURLcode code = CURLE_OK;
	ctx_t *ctx = NULL;
	char url[64];
	int fd, r;
	CURL *e = curl_easy_init();

	/* A port nobody listens on: bound, never listening. */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	      getsockname(fd, (struct sockaddr *)&a, &len) == 0, "bind");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(a.sin_port));
	curl_easy_setopt(e, CURLOPT_URL, url);
	CHECK(ctx_with_timeout(ctx_background(), 30000 * MS, &ctx) == 0, "ctx");
	r = ctx_curl_perform(ctx, NULL, e, &code);
	CHECK(r == -EIO && code == CURLE_COULDNT_CONNECT, "ctx_curl_perform: %d, %s", r,
	      curl_easy_strerror(code));
	CHECK(ctx_curl_perform(ctx, NULL, NULL, NULL) == -EINVAL, "NULL easy");
	CHECK(ctx_curl_perform(NULL, NULL, e, NULL) == -EINVAL, "NULL ctx");
	close(fd);
	curl_easy_cleanup(e);
	ctx_unref(ctx);
	stress_result("a transfer that fails: -EIO and its CURLcode; NULL: -EINVAL");
}

int main(void)
{
	int baseline;

	stress_plan(8);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		printf("Bail out! curl_global_init\n");
		return 1;
	}
	baseline = fd_baseline();
	if (http_slow_start(&srv) < 0) {
		printf("Bail out! cannot start the HTTP server\n");
		return 1;
	}
	stress_diag("%s; server on 127.0.0.1:%d", curl_version(), srv.port);

	test_deadline();
	test_cancel_thread();
	test_client_gone();
	test_finishes_first();
	test_done_before();
	test_reuse();
	test_curl_error();

	http_slow_stop(&srv);
	CHECK(fd_count_settle(baseline, 5000 * MS) == baseline, "%d fds open, baseline %d",
	      fd_count(), baseline);
	stress_result("no descriptor left open");
	curl_global_cleanup();
	return stress_exit();
}
