/* SPDX-License-Identifier: MIT */
/*
 * A small HTTP/1.1 server on 127.0.0.1 for the libcurl tests and bench:
 * one thread, one connection at a time, every response "Connection: close".
 *
 *   GET /fast  "hello, world\n" at once;
 *   GET /slow  a body of slow_len bytes, one byte every slow_ms.
 *
 * While it sends slowly it watches the connection (POLLRDHUP): when the
 * client goes away before the end of the body, it counts the connection
 * as aborted and notes the time, which is how a test knows that a transfer
 * was really stopped and not just abandoned by the client's code.
 */
#ifndef HTTP_SLOW_H
#define HTTP_SLOW_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct http_slow {
	int lfd;
	int port;
	unsigned int slow_ms;	/* set before http_slow_start() */
	unsigned int slow_len;
	pthread_t thread;
	atomic_int accepted;	/* connections accepted */
	atomic_int finished;	/* responses sent in full */
	atomic_int aborted;	/* connections the client closed before the end */
	atomic_ullong aborted_ns; /* CLOCK_MONOTONIC time of the last abort seen */
};

static inline unsigned long long http_slow_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

/* Has the client gone? Waits up to ms for it. */
static inline bool http_slow_gone(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };
	char buf[512];

	if (poll(&p, 1, ms) <= 0)
		return false;
	if (p.revents & (POLLRDHUP | POLLHUP | POLLERR))
		return true;
	/* Anything else the client sends is ignored; EOF means gone. */
	return recv(fd, buf, sizeof(buf), MSG_DONTWAIT) == 0;
}

static inline void http_slow_serve(struct http_slow *s, int fd)
{
	static const char fast[] = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n"
				   "Connection: close\r\n\r\nhello, world\n";
	char req[2048], head[160];
	size_t got = 0;
	ssize_t n;
	unsigned int i;

	/* The request head, within 10 s. */
	while (!memmem(req, got, "\r\n\r\n", 4)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (got == sizeof(req) || poll(&p, 1, 10000) <= 0)
			goto gone;
		n = recv(fd, req + got, sizeof(req) - got, 0);
		if (n <= 0)
			goto gone;
		got += (size_t)n;
	}
	if (got > 9 && !memcmp(req, "GET /fast", 9)) {
		if (send(fd, fast, sizeof(fast) - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof(fast) - 1))
			atomic_fetch_add(&s->finished, 1);
		return;
	}
	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n"
		 "Connection: close\r\n\r\n", s->slow_len);
	if (send(fd, head, strlen(head), MSG_NOSIGNAL) < 0)
		goto gone;
	for (i = 0; i < s->slow_len; i++) {
		if (send(fd, "x", 1, MSG_NOSIGNAL) != 1 || http_slow_gone(fd, (int)s->slow_ms))
			goto gone;
	}
	atomic_fetch_add(&s->finished, 1);
	return;
gone:
	atomic_store(&s->aborted_ns, http_slow_now_ns());
	atomic_fetch_add(&s->aborted, 1);
}

static inline void *http_slow_main(void *arg)
{
	struct http_slow *s = (struct http_slow *)arg;
	int fd;

	/* shutdown() of the listening socket ends accept() with EINVAL. */
	while ((fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0 || errno == EINTR ||
	       errno == ECONNABORTED) {
		if (fd < 0)
			continue;
		atomic_fetch_add(&s->accepted, 1);
		http_slow_serve(s, fd);
		close(fd);
	}
	return NULL;
}

/* Listen on 127.0.0.1, a port the kernel picks, and serve. 0 or -errno. */
static inline int http_slow_start(struct http_slow *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int r;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->lfd < 0)
		return -errno;
	if (bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s->lfd, 16) < 0 ||
	    getsockname(s->lfd, (struct sockaddr *)&a, &len) < 0) {
		r = -errno;
		close(s->lfd);
		return r;
	}
	s->port = ntohs(a.sin_port);
	r = -pthread_create(&s->thread, NULL, http_slow_main, s);
	if (r < 0)
		close(s->lfd);
	return r;
}

static inline void http_slow_stop(struct http_slow *s)
{
	shutdown(s->lfd, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	close(s->lfd);
}

/* Wait (bounded) until *v reaches want; returns the last value seen. */
static inline int http_slow_wait(atomic_int *v, int want, int max_ms)
{
	int n, i;

	for (i = 0; (n = atomic_load(v)) < want && i < max_ms; i++)
		usleep(1000);
	return n;
}

#endif /* HTTP_SLOW_H */
