/* SPDX-License-Identifier: MIT */
/*
 * grpc-peer: just enough gRPC, over HTTP/2 with prior knowledge (h2c) on
 * libnghttp2, to exchange deadlines with any real gRPC implementation
 * through ctx_timeout_header and ctx_with_timeout_header.
 *
 * Unary calls only: content-type application/grpc, one length-prefixed
 * message each way (never compressed), grpc-status in the trailers; no TLS,
 * no compression, no streaming, loopback only.
 *
 *   grpc-peer server [-s sleep_ms]
 *	Listens on 127.0.0.1, an ephemeral port, and prints
 *	"listening 127.0.0.1:PORT". Serves until SIGINT or SIGTERM
 *	(ctx_with_signals). Each connection's context is cancelled when the
 *	client hangs up (ctx_with_fd, EPOLLRDHUP); each call's context is
 *	derived from its grpc-timeout header (ctx_with_timeout_header), from
 *	the moment the headers arrived, and bounded by a "libctx-budget-ms"
 *	metadata value when the client sends one (the server's own budget).
 *	Methods, by the last part of the path: Echo answers at once; Sleep
 *	works for sleep_ms (default 10000) with ctx_sleep in a thread of its
 *	own and answers DEADLINE_EXCEEDED (4) if the context timed out first,
 *	CANCELLED (1) if it was cancelled. A malformed grpc-timeout is
 *	INTERNAL (13). Prints one line per call:
 *	  call path=P timeout=T deadline_ns=D arrival_ns=A result=R done_ns=E status=S
 *	with CLOCK_MONOTONIC nanoseconds (deadline_ns 0: none).
 *
 *   grpc-peer client [-t raw_grpc_timeout] PORT PATH TIMEOUT_MS [MESSAGE]
 *	One call to 127.0.0.1:PORT under a context with a TIMEOUT_MS deadline
 *	(0: none), whose grpc-timeout header is written by ctx_timeout_header
 *	right before the request is sent (-t sends a value as given instead).
 *	Waits with ctx_poll: if the context is done first, it resets the
 *	stream and reports DEADLINE_EXCEEDED itself, as gRPC clients do.
 *	Prints "sent grpc-timeout=T deadline_ns=D" and then
 *	  status=S source=server|local end_ns=E message=M
 *
 * Not handled, on purpose: a client's RST_STREAM stops the reply but does
 * not cancel the call's context, whose work then ends at the deadline the
 * header gave it. (A full server would cancel it too; then a reset that
 * overtakes the server's own copy of the deadline shows as -ECANCELED.)
 */
#include <arpa/inet.h>
#include <ctx.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_MS 1000000LL
#define MAX_CONNS 32
#define MAX_MESSAGE 65536

/* gRPC status codes used here. */
enum { GRPC_OK = 0, GRPC_CANCELLED = 1, GRPC_DEADLINE_EXCEEDED = 4, GRPC_UNIMPLEMENTED = 12,
       GRPC_INTERNAL = 13, GRPC_UNAVAILABLE = 14 };

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t deadline_ns(const ctx_t *c)
{
	struct timespec ts;

	if (!ctx_deadline(c, &ts))
		return 0;
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE }

static bool header_is(const uint8_t *name, size_t len, const char *want)
{
	return len == strlen(want) && !memcmp(name, want, len);
}

/* A length-prefixed message: flag byte 0 (not compressed), 4-byte length. */
static size_t frame_message(uint8_t *out, const uint8_t *msg, size_t len)
{
	out[0] = 0;
	out[1] = (uint8_t)(len >> 24);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
	memcpy(out + 5, msg, len);
	return len + 5;
}

/* The message of a complete length-prefixed body, or NULL. */
static const uint8_t *unframe_message(const uint8_t *body, size_t len, size_t *msg_len)
{
	size_t n;

	if (len < 5 || body[0] != 0)
		return NULL;
	n = (size_t)body[1] << 24 | (size_t)body[2] << 16 | (size_t)body[3] << 8 | body[4];
	if (n != len - 5)
		return NULL;
	*msg_len = n;
	return body + 5;
}

/* Appends to a bounded buffer; false once it would overflow. */
static bool append(uint8_t *buf, size_t *len, const uint8_t *data, size_t n)
{
	if (n > MAX_MESSAGE + 5 - *len)
		return false;
	memcpy(buf + *len, data, n);
	*len += n;
	return true;
}

/*
 * nghttp2's send callback for a non-blocking socket. Both sessions' user
 * data (struct conn, struct client) start with the socket.
 */
static ssize_t send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags,
		       void *user)
{
	int fd = *(int *)user;
	ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? NGHTTP2_ERR_WOULDBLOCK
							       : NGHTTP2_ERR_CALLBACK_FAILURE;
	return n;
}

/* Reads what the socket has into the session; false when the peer is gone. */
static bool pump_in(nghttp2_session *s, int fd)
{
	uint8_t buf[16384];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n == 0)
			return false;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
		if (nghttp2_session_mem_recv(s, buf, (size_t)n) < 0)
			return false;
	}
}

static int nonblocking_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;

	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* ---------------------------------------------------------------- server */

struct conn;

/* One call: owned by the main loop; its worker only touches ctx and result. */
struct call {
	struct conn *conn;
	int32_t stream_id;
	char path[256];
	char timeout[16];  /* the grpc-timeout value as received, "" if none */
	bool bad_timeout;
	long budget_ms;    /* libctx-budget-ms, 0 if none */
	bool grpc_type;    /* content-type application/grpc... */
	uint8_t body[MAX_MESSAGE + 5];
	size_t body_len;
	bool too_big;
	ctx_t *ctx;
	int64_t arrival_ns;
	bool working;      /* a worker thread is running */
	pthread_t worker;
	int result;        /* of ctx_sleep */
	bool closed;       /* the stream is gone: nothing more to send */
	/* the reply */
	uint8_t out[MAX_MESSAGE + 5];
	size_t out_len, out_off;
	char status[8];
	struct call *next;
};

struct conn {
	int fd;            /* first: send_cb reads it */
	nghttp2_session *session;
	ctx_t *ctx;        /* cancelled when the client hangs up */
	bool dead;         /* the socket is finished with */
	struct call *calls;
};

static ctx_t *server_ctx;
static long sleep_ms = 10000;
static int done_pipe[2];  /* workers write the call they finished */
static struct conn *conns[MAX_CONNS];

static struct call *find_call(struct conn *c, int32_t stream_id)
{
	for (struct call *k = c->calls; k; k = k->next)
		if (k->stream_id == stream_id)
			return k;
	return NULL;
}

static void free_call(struct call *k)
{
	struct call **pp = &k->conn->calls;

	while (*pp != k)
		pp = &(*pp)->next;
	*pp = k->next;
	ctx_unref(k->ctx);
	free(k);
}

static void free_conn(int i)
{
	struct conn *c = conns[i];

	while (c->calls) /* none is working: only finished calls are left */
		free_call(c->calls);
	nghttp2_session_del(c->session);
	ctx_unref(c->ctx);
	close(c->fd);
	free(c);
	conns[i] = NULL;
}

static void *worker(void *arg)
{
	struct call *k = arg;

	k->result = ctx_sleep(k->ctx, (uint64_t)sleep_ms * NS_PER_MS);
	if (write(done_pipe[1], &k, sizeof(k)) != sizeof(k))
		abort(); /* a pipe write this small cannot be short */
	return NULL;
}

static ssize_t reply_read_cb(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t len,
			     uint32_t *flags, nghttp2_data_source *src, void *user)
{
	struct call *k = src->ptr;
	size_t n = k->out_len - k->out_off;

	if (n > len)
		n = len;
	memcpy(buf, k->out + k->out_off, n);
	k->out_off += n;
	if (k->out_off == k->out_len) {
		nghttp2_nv trailers[] = { NV("grpc-status", "0") };

		/* The status goes in trailers, after the message. */
		*flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
		if (nghttp2_submit_trailer(s, stream_id, trailers, 1))
			return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	return (ssize_t)n;
}

/* Answers a call: the message and grpc-status 0, or a Trailers-Only error. */
static void reply(struct call *k, int status, const char *message)
{
	nghttp2_session *s = k->conn->session;
	size_t msg_len = 0;
	const uint8_t *msg;

	printf("call path=%s timeout=%s deadline_ns=%lld arrival_ns=%lld result=%d done_ns=%lld "
	       "status=%d\n", k->path, k->timeout[0] ? k->timeout : "none",
	       (long long)(k->ctx ? deadline_ns(k->ctx) : 0), (long long)k->arrival_ns, k->result,
	       (long long)now_ns(), status);
	if (k->closed)
		return;
	snprintf(k->status, sizeof(k->status), "%d", status);
	if (status == GRPC_OK && (msg = unframe_message(k->body, k->body_len, &msg_len))) {
		nghttp2_nv hdrs[] = { NV(":status", "200"), NV("content-type", "application/grpc") };
		nghttp2_data_provider prd = { .source.ptr = k, .read_callback = reply_read_cb };

		k->out_len = frame_message(k->out, msg, msg_len);
		nghttp2_submit_response(s, k->stream_id, hdrs, 2, &prd);
	} else {
		nghttp2_nv hdrs[] = { NV(":status", "200"), NV("content-type", "application/grpc"),
				      NV("grpc-status", k->status), NV("grpc-message", message) };

		nghttp2_submit_response(s, k->stream_id, hdrs, 4, NULL);
	}
}

static int begin_headers_cb(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
	struct conn *c = user;
	struct call *k;

	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	k = calloc(1, sizeof(*k));
	if (!k)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	k->conn = c;
	k->stream_id = f->hd.stream_id;
	k->next = c->calls;
	c->calls = k;
	return 0;
}

static int header_cb(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
		     void *user)
{
	struct call *k = find_call(user, f->hd.stream_id);

	char num[24];

	if (!k || f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if (header_is(name, namelen, ":path")) {
		snprintf(k->path, sizeof(k->path), "%.*s", (int)valuelen, (const char *)value);
	} else if (header_is(name, namelen, "content-type")) {
		k->grpc_type = valuelen >= 16 && !memcmp(value, "application/grpc", 16);
	} else if (header_is(name, namelen, "libctx-budget-ms")) {
		snprintf(num, sizeof(num), "%.*s", (int)valuelen, (const char *)value);
		k->budget_ms = atol(num);
	} else if (header_is(name, namelen, "grpc-timeout") && !k->ctx && !k->bad_timeout) {
		/* The deadline counts from now: derive the call's context here. */
		k->arrival_ns = now_ns();
		snprintf(k->timeout, sizeof(k->timeout), "%.*s", (int)valuelen, (const char *)value);
		if (ctx_with_timeout_header(k->conn->ctx, (const char *)value, valuelen, &k->ctx) < 0)
			k->bad_timeout = true; /* the value as nghttp2 hands it: no NUL */
	}
	return 0;
}

static int data_chunk_cb(nghttp2_session *s, uint8_t flags, int32_t stream_id,
			 const uint8_t *data, size_t len, void *user)
{
	struct call *k = find_call(user, stream_id);

	if (k && !append(k->body, &k->body_len, data, len))
		k->too_big = true;
	return 0;
}

/* The request is complete: answer it, or hand it to a worker. */
static void start_call(struct call *k)
{
	const char *method = strrchr(k->path, '/');
	size_t msg_len;
	ctx_t *budget;
	int r;

	if (!k->arrival_ns)
		k->arrival_ns = now_ns();
	if (!k->ctx && !k->bad_timeout && ctx_with_cancel(k->conn->ctx, &k->ctx) < 0)
		return reply(k, GRPC_INTERNAL, "out of memory");
	if (k->bad_timeout)
		return reply(k, GRPC_INTERNAL, "malformed grpc-timeout");
	if (!k->grpc_type || k->too_big || !unframe_message(k->body, k->body_len, &msg_len))
		return reply(k, GRPC_INTERNAL, "not one uncompressed gRPC message");
	if (k->budget_ms > 0) {
		/* Our own budget: the earlier of the client's deadline and ours. */
		r = ctx_with_timeout(k->ctx, (uint64_t)k->budget_ms * NS_PER_MS, &budget);
		if (r < 0)
			return reply(k, GRPC_INTERNAL, "out of memory");
		ctx_unref(k->ctx);
		k->ctx = budget;
	}
	if (method && !strcmp(method, "/Echo"))
		return reply(k, GRPC_OK, "");
	if (!method || strcmp(method, "/Sleep"))
		return reply(k, GRPC_UNIMPLEMENTED, "no such method");
	if (pthread_create(&k->worker, NULL, worker, k))
		return reply(k, GRPC_UNAVAILABLE, "no thread");
	k->working = true;
}

static int frame_recv_cb(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
	struct call *k;

	if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
	    !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	k = find_call(user, f->hd.stream_id);
	if (k && !k->working && !k->status[0])
		start_call(k);
	return 0;
}

static int stream_close_cb(nghttp2_session *s, int32_t stream_id, uint32_t error, void *user)
{
	struct call *k = find_call(user, stream_id);

	if (!k)
		return 0;
	k->closed = true;
	if (!k->working)
		free_call(k);
	return 0;
}

static void finish_call(struct call *k)
{
	int status = k->result == 0		 ? GRPC_OK
		     : k->result == -ETIMEDOUT ? GRPC_DEADLINE_EXCEEDED
					       : GRPC_CANCELLED;

	pthread_join(k->worker, NULL);
	k->working = false;
	reply(k, status, k->result == -ETIMEDOUT ? "deadline exceeded" : "cancelled");
	if (k->closed)
		free_call(k);
}

static bool add_conn(int fd)
{
	nghttp2_session_callbacks *cbs;
	nghttp2_settings_entry iv = { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100 };
	struct conn *c;
	int i;

	for (i = 0; i < MAX_CONNS && conns[i]; i++)
		;
	if (i == MAX_CONNS || !(c = calloc(1, sizeof(*c))))
		return false;
	c->fd = fd;
	/* The client hanging up cancels every call on the connection. */
	if (ctx_with_fd(server_ctx, fd, EPOLLRDHUP, -ECONNRESET, &c->ctx) < 0) {
		free(c);
		return false;
	}
	nghttp2_session_callbacks_new(&cbs);
	nghttp2_session_callbacks_set_send_callback(cbs, send_cb);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, begin_headers_cb);
	nghttp2_session_callbacks_set_on_header_callback(cbs, header_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, data_chunk_cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, frame_recv_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, stream_close_cb);
	/* The send callback gets &c->fd through the session's user data. */
	nghttp2_session_server_new(&c->session, cbs, c);
	nghttp2_session_callbacks_del(cbs);
	nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, &iv, 1);
	conns[i] = c;
	return true;
}

static bool conn_working(const struct conn *c)
{
	for (struct call *k = c->calls; k; k = k->next)
		if (k->working)
			return true;
	return false;
}

static bool any_working(void)
{
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i] && conn_working(conns[i]))
			return true;
	return false;
}

static int serve(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct pollfd p[MAX_CONNS + 3];
	int lfd, map[MAX_CONNS + 3];
	bool stopping = false;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (ctx_with_signals(ctx_background(), &set, &server_ctx) < 0)
		return 1;
	lfd = nonblocking_socket();
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 16) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) < 0 ||
	    pipe2(done_pipe, O_CLOEXEC) < 0) {
		perror("grpc-peer server");
		return 1;
	}
	printf("listening 127.0.0.1:%d\n", ntohs(a.sin_port));

	/* After a signal: no new connections, every working call cancelled and answered. */
	for (;;) {
		int n = 0;

		stopping = ctx_err(server_ctx) != 0;
		if (stopping && !any_working())
			break;
		if (!stopping) {
			p[n] = (struct pollfd){ .fd = lfd, .events = POLLIN };
			map[n++] = -1;
			p[n] = (struct pollfd){ .fd = ctx_fd(server_ctx), .events = POLLIN };
			map[n++] = -2;
		}
		p[n] = (struct pollfd){ .fd = done_pipe[0], .events = POLLIN };
		map[n++] = -3;
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = conns[i];

			if (!c || c->dead)
				continue;
			p[n] = (struct pollfd){ .fd = c->fd, .events = POLLIN };
			if (nghttp2_session_want_write(c->session))
				p[n].events |= POLLOUT;
			map[n++] = i;
		}
		if (poll(p, (nfds_t)n, -1) < 0 && errno != EINTR)
			break;
		for (int j = 0; j < n; j++) {
			if (!p[j].revents)
				continue;
			if (map[j] == -1) {
				int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK), one = 1;

				if (fd >= 0) {
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					if (!add_conn(fd))
						close(fd);
				}
			} else if (map[j] == -3) {
				struct call *k;

				if (read(done_pipe[0], &k, sizeof(k)) == sizeof(k))
					finish_call(k);
			} else if (map[j] >= 0) {
				struct conn *c = conns[map[j]];

				if (!pump_in(c->session, c->fd))
					c->dead = true;
			}
		}
		/* Send what the calls produced; drop connections that are over. */
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = conns[i];

			if (!c)
				continue;
			if (!c->dead && nghttp2_session_send(c->session) < 0)
				c->dead = true;
			if (!c->dead && !nghttp2_session_want_read(c->session) &&
			    !nghttp2_session_want_write(c->session))
				c->dead = true;
			if (c->dead && !conn_working(c))
				free_conn(i);
		}
	}
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i])
			free_conn(i);
	close(lfd);
	close(done_pipe[0]);
	close(done_pipe[1]);
	printf("stopped: %s\n", ctx_cause(server_ctx) == -EINTR ? "signal" : "error");
	ctx_unref(server_ctx);
	return 0;
}

/* ---------------------------------------------------------------- client */

struct client {
	int fd;            /* first: send_cb reads it */
	int32_t stream_id;
	uint8_t body[MAX_MESSAGE + 5];
	size_t body_len, body_off;
	uint8_t reply[MAX_MESSAGE + 5];
	size_t reply_len;
	int status;        /* -1 until grpc-status arrives */
	char message[128];
	bool closed;
};

static ssize_t request_read_cb(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t len,
			       uint32_t *flags, nghttp2_data_source *src, void *user)
{
	struct client *cl = src->ptr;
	size_t n = cl->body_len - cl->body_off;

	if (n > len)
		n = len;
	memcpy(buf, cl->body + cl->body_off, n);
	cl->body_off += n;
	if (cl->body_off == cl->body_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static int client_header_cb(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
			    size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
			    void *user)
{
	struct client *cl = user;

	char num[24];

	if (header_is(name, namelen, "grpc-status")) {
		snprintf(num, sizeof(num), "%.*s", (int)valuelen, (const char *)value);
		cl->status = atoi(num);
	} else if (header_is(name, namelen, "grpc-message"))
		snprintf(cl->message, sizeof(cl->message), "%.*s", (int)valuelen,
			 (const char *)value);
	return 0;
}

static int client_data_cb(nghttp2_session *s, uint8_t flags, int32_t stream_id,
			  const uint8_t *data, size_t len, void *user)
{
	struct client *cl = user;

	return append(cl->reply, &cl->reply_len, data, len) ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int client_close_cb(nghttp2_session *s, int32_t stream_id, uint32_t error, void *user)
{
	((struct client *)user)->closed = true;
	return 0;
}

/* The call failed on our side: our deadline passed, or the context was cancelled. */
static void fail_locally(const ctx_t *ctx)
{
	/* ctx_timeout_header says -ETIMEDOUT before the library's thread may have acted. */
	bool timed_out = ctx_err(ctx) != -ECANCELED;

	printf("status=%d source=local end_ns=%lld message=%s\n",
	       timed_out ? GRPC_DEADLINE_EXCEEDED : GRPC_CANCELLED, (long long)now_ns(),
	       timed_out ? "deadline exceeded" : "cancelled");
}

static int run_client(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static struct client cl = { .status = -1 };
	const char *raw = NULL, *path, *text = "hello";
	nghttp2_session_callbacks *cbs;
	nghttp2_session *s;
	char authority[32], timeout[16] = "";
	long timeout_ms;
	ctx_t *ctx;
	int opt, r, rc = 1;

	while ((opt = getopt(argc, argv, "t:")) != -1) {
		if (opt != 't')
			return 2;
		raw = optarg;
	}
	if (argc - optind < 3)
		return 2;
	a.sin_port = htons((uint16_t)atoi(argv[optind]));
	path = argv[optind + 1];
	timeout_ms = atol(argv[optind + 2]);
	if (argc - optind > 3)
		text = argv[optind + 3];
	if (strlen(text) > MAX_MESSAGE)
		return 2;
	snprintf(authority, sizeof(authority), "127.0.0.1:%d", ntohs(a.sin_port));

	r = timeout_ms > 0 ? ctx_with_timeout(ctx_background(), (uint64_t)timeout_ms * NS_PER_MS, &ctx)
			   : ctx_with_cancel(ctx_background(), &ctx);
	if (r < 0)
		return 1;
	cl.fd = nonblocking_socket();
	if (cl.fd < 0 || (connect(cl.fd, (struct sockaddr *)&a, sizeof(a)) < 0 &&
			  errno != EINPROGRESS)) {
		perror("grpc-peer client: connect");
		goto out;
	}
	nghttp2_session_callbacks_new(&cbs);
	nghttp2_session_callbacks_set_send_callback(cbs, send_cb);
	nghttp2_session_callbacks_set_on_header_callback(cbs, client_header_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, client_data_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, client_close_cb);
	nghttp2_session_client_new(&s, cbs, &cl);
	nghttp2_session_callbacks_del(cbs);
	nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0);

	/* The time left, right before the request goes out. */
	if (raw)
		snprintf(timeout, sizeof(timeout), "%s", raw);
	else if (ctx_timeout_header(ctx, timeout, sizeof(timeout)) < 0) {
		/* Expired or done already: an expired deadline is never sent. */
		fail_locally(ctx);
		rc = 0;
		goto done;
	}
	{
		nghttp2_nv hdrs[] = {
			NV(":method", "POST"), NV(":scheme", "http"), NV(":path", path),
			NV(":authority", authority), NV("te", "trailers"),
			NV("content-type", "application/grpc"), NV("user-agent", "grpc-c-libctx/1.1"),
			NV("grpc-timeout", timeout),
		};
		nghttp2_data_provider prd = { .source.ptr = &cl, .read_callback = request_read_cb };

		cl.body_len = frame_message(cl.body, (const uint8_t *)text, strlen(text));
		/* No deadline, no header: the server assumes none. */
		cl.stream_id = nghttp2_submit_request(s, NULL, hdrs, timeout[0] ? 8 : 7, &prd, &cl);
		if (cl.stream_id < 0)
			goto done;
	}
	printf("sent grpc-timeout=%s deadline_ns=%lld\n", timeout[0] ? timeout : "none",
	       (long long)deadline_ns(ctx));

	while (!cl.closed) {
		short events = POLLIN;

		if (nghttp2_session_send(s) < 0)
			break;
		if (nghttp2_session_want_write(s))
			events |= POLLOUT;
		/* The socket or the call's context, whichever is first. */
		r = ctx_poll(ctx, cl.fd, events);
		if (r < 0)
			break;
		if ((r & (POLLIN | POLLHUP | POLLERR)) && !pump_in(s, cl.fd))
			break;
	}
	if (cl.closed && cl.status >= 0) {
		size_t n = 0;
		const uint8_t *m = unframe_message(cl.reply, cl.reply_len, &n);

		printf("status=%d source=server end_ns=%lld message=%.*s\n", cl.status,
		       (long long)now_ns(), m ? (int)n : (int)strlen(cl.message),
		       m ? (const char *)m : cl.message);
		rc = 0;
	} else if (ctx_err(ctx)) {
		/* Our deadline: reset the stream and fail the call here. */
		nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, cl.stream_id, NGHTTP2_CANCEL);
		nghttp2_session_send(s);
		fail_locally(ctx);
		rc = 0;
	} else {
		fprintf(stderr, "grpc-peer client: connection lost\n");
	}
done:
	nghttp2_session_del(s);
out:
	if (cl.fd >= 0)
		close(cl.fd);
	ctx_unref(ctx);
	return rc;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && !strcmp(argv[1], "server")) {
		int opt;

		while ((opt = getopt(argc - 1, argv + 1, "s:")) != -1) {
			if (opt != 's')
				goto usage;
			sleep_ms = atol(optarg);
		}
		return serve();
	}
	if (argc >= 2 && !strcmp(argv[1], "client")) {
		int rc = run_client(argc - 1, argv + 1);

		if (rc != 2)
			return rc;
	}
usage:
	fprintf(stderr, "usage: grpc-peer server [-s sleep_ms]\n"
			"       grpc-peer client [-t raw_grpc_timeout] PORT PATH TIMEOUT_MS [MESSAGE]\n");
	return 2;
}
