/* SPDX-License-Identifier: MIT */
/*
 * server: a loopback TCP server whose every request is bound to a context.
 *
 * What it shows:
 *  - the root context is cancelled by SIGINT or SIGTERM (ctx_with_signals,
 *    Go's signal.NotifyContext): error -ECANCELED, cause -EINTR;
 *  - each connection's context is a child of the root, cancelled when the
 *    client hangs up (ctx_with_fd on the socket with EPOLLRDHUP) or when the
 *    connection stays idle too long (ctx_cancel_cause);
 *  - each request's context is a child of its connection's, with a deadline;
 *  - a small pool of worker threads "works" with ctx_sleep, which returns
 *    early when the request's context ends; the reason the context ended
 *    picks the reply: OK, DEADLINE, GONE or SHUTDOWN;
 *  - one epoll loop watches done fds (ctx_fd) next to ordinary sockets;
 *  - on shutdown every connection drains (every request read gets a reply)
 *    and the process exits 0 with no descriptor left open.
 *
 * Protocol: one request per line, "WORK <ms> [<deadline ms>]", one reply
 * line each.
 *
 * Usage: server [-i idle_ms] [-w workers] [port]   (port 0 or none: ephemeral)
 */
#include <arpa/inet.h>
#include <ctx.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define NS_PER_MS 1000000LL
#define DEFAULT_DEADLINE_MS 1000
#define MAX_MS 120000
#define MAX_WORKERS 64

/* Causes we give our cancellations, so the reason can be told apart later. */
#define CAUSE_GONE (-ECONNRESET)
#define CAUSE_IDLE (-ETIME)

enum outcome { OUT_OK, OUT_DEADLINE, OUT_GONE, OUT_SHUTDOWN, OUT_BAD, OUT_N };

static const char *const reply_of[OUT_N] = { "OK\n", "DEADLINE\n", "GONE\n", "SHUTDOWN\n",
					      "ERR\n" };
static const char *const key_of[OUT_N] = { "ok", "deadline", "gone", "shutdown", "bad" };
static const char *const name_of[OUT_N] = { "completed", "deadline exceeded", "client gone",
					    "shut down", "bad request" };

enum end_reason { END_HANGUP, END_IDLE, END_SHUTDOWN, END_N };

static const char *const end_key[END_N] = { "hangup", "idle", "shutdown" };

/* What an epoll event points at. */
enum src_kind { SRC_LISTEN, SRC_ROOT, SRC_WAKE, SRC_SOCK, SRC_DONE };

struct source {
	enum src_kind kind;
	struct conn *conn;
};

struct conn {
	int fd;
	ctx_t *ctx;          /* ends on hang-up, idle timeout or shutdown */
	struct source sock_src, done_src;
	bool reading;        /* the socket is in the epoll set */
	bool closing;        /* ended: close once every reply is written */
	unsigned int inflight; /* requests queued or running, under srv.lock */
	int64_t idle_since;  /* under srv.lock, meaningful when inflight == 0 */
	size_t len;
	char buf[64];
	struct conn *next;
};

struct job {
	struct conn *conn;
	ctx_t *ctx;
	unsigned int work_ms;
	int64_t received;
	struct job *next;
};

struct samples {
	int64_t *ns;
	size_t len, cap;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head, **tail;
	bool stop;
	int wake_fd;
	struct samples lat[OUT_N];
	unsigned long ends[END_N];
	unsigned long accepted;
} srv = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.tail = &srv.head,
	.wake_fd = -1,
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Under srv.lock. A sample that cannot be stored is still counted by len. */
static void samples_add(struct samples *s, int64_t ns)
{
	if (s->len == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		int64_t *p = realloc(s->ns, cap * sizeof(*p));

		if (!p)
			return;
		s->ns = p;
		s->cap = cap;
	}
	s->ns[s->len++] = ns;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile in milliseconds; s must be sorted and non-empty. */
static double percentile_ms(const struct samples *s, unsigned int pct)
{
	size_t rank = (s->len * pct + 99) / 100;

	return (double)s->ns[rank ? rank - 1 : 0] / NS_PER_MS;
}

/* Why a request's context ended, as the client should hear it. */
static enum outcome outcome_of(ctx_t *req, int r)
{
	if (r == 0)
		return OUT_OK;
	if (r == -ETIMEDOUT)
		return OUT_DEADLINE;
	if (ctx_cause(req) == -EINTR)
		return OUT_SHUTDOWN;
	return OUT_GONE; /* the connection ended: hang-up */
}

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		struct job *job;
		enum outcome out;
		bool wake = false;
		int64_t end;
		int r;

		pthread_mutex_lock(&srv.lock);
		while (!srv.head && !srv.stop)
			pthread_cond_wait(&srv.cond, &srv.lock);
		job = srv.head;
		if (job) {
			srv.head = job->next;
			if (!srv.head)
				srv.tail = &srv.head;
		}
		pthread_mutex_unlock(&srv.lock);
		if (!job)
			return NULL;

		/* The work: it stops as soon as the request's context ends. */
		r = ctx_sleep(job->ctx, (uint64_t)job->work_ms * NS_PER_MS);
		out = outcome_of(job->ctx, r);
		/* A client that is gone makes this fail: nobody is left to tell. */
		send(job->conn->fd, reply_of[out], strlen(reply_of[out]),
		     MSG_NOSIGNAL | MSG_DONTWAIT);
		end = now_ns();

		pthread_mutex_lock(&srv.lock);
		samples_add(&srv.lat[out], end - job->received);
		if (--job->conn->inflight == 0) {
			job->conn->idle_since = end;
			wake = true;
		}
		pthread_mutex_unlock(&srv.lock);
		/* The main loop may now close the connection or time it out. */
		if (wake)
			eventfd_write(srv.wake_fd, 1);
		ctx_unref(job->ctx);
		free(job);
	}
}

static void reply_now(struct conn *c, enum outcome out)
{
	send(c->fd, reply_of[out], strlen(reply_of[out]), MSG_NOSIGNAL | MSG_DONTWAIT);
	pthread_mutex_lock(&srv.lock);
	samples_add(&srv.lat[out], 0);
	pthread_mutex_unlock(&srv.lock);
}

/*
 * Queues one request line. Its context is born done if the connection has
 * already ended: the worker then answers at once with the reason.
 */
static void request(struct conn *c, const char *line)
{
	unsigned int work_ms, deadline_ms = DEFAULT_DEADLINE_MS;
	struct job *job;
	int n;

	n = sscanf(line, "WORK %u %u", &work_ms, &deadline_ms);
	if (n < 1 || work_ms > MAX_MS || deadline_ms > MAX_MS) {
		reply_now(c, OUT_BAD);
		return;
	}
	job = calloc(1, sizeof(*job));
	if (!job || ctx_with_timeout(c->ctx, (uint64_t)deadline_ms * NS_PER_MS, &job->ctx) < 0) {
		free(job);
		reply_now(c, OUT_BAD);
		return;
	}
	job->conn = c;
	job->work_ms = work_ms;
	job->received = now_ns();

	pthread_mutex_lock(&srv.lock);
	c->inflight++;
	*srv.tail = job;
	srv.tail = &job->next;
	pthread_cond_signal(&srv.cond);
	pthread_mutex_unlock(&srv.lock);
}

/* Reads what the client sent and queues every complete line. */
static void conn_read(struct conn *c)
{
	for (;;) {
		ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
		char *start, *nl;

		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
			/* End of input: the library thread may not have seen it yet. */
			ctx_cancel_cause(c->ctx, CAUSE_GONE);
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN)
				return;
			continue;
		}
		c->len += (size_t)n;
		c->buf[c->len] = '\0';
		start = c->buf;
		while ((nl = strchr(start, '\n'))) {
			*nl = '\0';
			request(c, start);
			start = nl + 1;
		}
		c->len -= (size_t)(start - c->buf);
		memmove(c->buf, start, c->len);
		if (c->len == sizeof(c->buf) - 1) {
			/* A line too long to be a request. */
			reply_now(c, OUT_BAD);
			c->len = 0;
		}
	}
}

static int watch(int epfd, int fd, struct source *src)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = src };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static struct conn *conns;
static unsigned int nconns;

static void conn_accept(int epfd, int lfd, ctx_t *root)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return; /* EAGAIN, or out of descriptors: the client waits */
		}
		c = calloc(1, sizeof(*c));
		/* The library watches its own duplicate: EPOLLRDHUP is a hang-up. */
		if (!c || ctx_with_fd(root, fd, EPOLLRDHUP, CAUSE_GONE, &c->ctx) < 0) {
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->sock_src = (struct source){ SRC_SOCK, c };
		c->done_src = (struct source){ SRC_DONE, c };
		c->idle_since = now_ns();
		if (ctx_fd(c->ctx) < 0 || watch(epfd, ctx_fd(c->ctx), &c->done_src) < 0 ||
		    watch(epfd, fd, &c->sock_src) < 0) {
			epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
			if (ctx_fd(c->ctx) >= 0)
				epoll_ctl(epfd, EPOLL_CTL_DEL, ctx_fd(c->ctx), NULL);
			ctx_unref(c->ctx);
			close(fd);
			free(c);
			continue;
		}
		c->reading = true;
		c->next = conns;
		conns = c;
		nconns++;
		srv.accepted++;
	}
}

/*
 * The connection's context is done. Answer what the client already sent
 * (those requests are born done and get the reason as their reply), stop
 * reading, and close once the last reply is written.
 */
static void conn_end(int epfd, struct conn *c)
{
	int cause = ctx_cause(c->ctx);

	/* A done fd stays readable: leave the level-triggered set. */
	epoll_ctl(epfd, EPOLL_CTL_DEL, ctx_fd(c->ctx), NULL);
	if (c->reading) {
		conn_read(c);
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
		c->reading = false;
	}
	c->closing = true;
	srv.ends[cause == -EINTR ? END_SHUTDOWN : cause == CAUSE_IDLE ? END_IDLE : END_HANGUP]++;
}

/*
 * Closes the ended connections with nothing in flight, times out idle ones
 * and returns the epoll timeout until the next idle deadline.
 */
static int sweep(unsigned int idle_ms)
{
	int64_t now = now_ns(), next = -1;
	struct conn **pp = &conns, *c;

	pthread_mutex_lock(&srv.lock);
	while ((c = *pp)) {
		if (c->closing && c->inflight == 0) {
			*pp = c->next;
			nconns--;
			/* The library closed its duplicate when the context ended. */
			close(c->fd);
			ctx_unref(c->ctx);
			free(c);
			continue;
		}
		if (!c->closing && c->inflight == 0) {
			int64_t at = c->idle_since + (int64_t)idle_ms * NS_PER_MS;

			if (at <= now)
				ctx_cancel_cause(c->ctx, CAUSE_IDLE);
			else if (next < 0 || at < next)
				next = at;
		}
		pp = &c->next;
	}
	pthread_mutex_unlock(&srv.lock);
	return next < 0 ? -1 : (int)((next - now + NS_PER_MS - 1) / NS_PER_MS);
}

static int serve(int lfd, ctx_t *root, unsigned int idle_ms)
{
	struct source listen_src = { SRC_LISTEN, NULL }, root_src = { SRC_ROOT, NULL };
	struct source wake_src = { SRC_WAKE, NULL };
	bool shutting_down = false;
	int epfd, timeout = -1;

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		return -errno;
	if (ctx_fd(root) < 0 || watch(epfd, lfd, &listen_src) < 0 ||
	    watch(epfd, ctx_fd(root), &root_src) < 0 || watch(epfd, srv.wake_fd, &wake_src) < 0) {
		close(epfd);
		return -EIO;
	}

	while (!shutting_down || conns) {
		struct epoll_event evs[32];
		int n = epoll_wait(epfd, evs, 32, timeout);

		if (n < 0 && errno != EINTR) {
			close(epfd);
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			struct source *src = evs[i].data.ptr;
			eventfd_t ignored;

			switch (src->kind) {
			case SRC_LISTEN:
				conn_accept(epfd, lfd, root);
				break;
			case SRC_ROOT:
				/* Every connection's context is done now too. */
				printf("server: shutdown signal: root context cancelled (cause %s); "
				       "draining %u connection%s\n",
				       ctx_cause(root) == -EINTR ? "-EINTR" : "other", nconns,
				       nconns == 1 ? "" : "s");
				fflush(stdout);
				epoll_ctl(epfd, EPOLL_CTL_DEL, ctx_fd(root), NULL);
				epoll_ctl(epfd, EPOLL_CTL_DEL, lfd, NULL);
				shutting_down = true;
				break;
			case SRC_WAKE:
				eventfd_read(srv.wake_fd, &ignored);
				break;
			case SRC_SOCK:
				if (!src->conn->closing)
					conn_read(src->conn);
				break;
			case SRC_DONE:
				if (!src->conn->closing)
					conn_end(epfd, src->conn);
				break;
			}
		}
		/* After the batch: an event later in it may name a connection. */
		timeout = sweep(idle_ms);
	}
	close(epfd);
	return 0;
}

static int count_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *d;
	int n = 0;

	if (!dir)
		return -1;
	while ((d = readdir(dir)))
		if (d->d_name[0] != '.')
			n++;
	closedir(dir);
	return n - 1; /* the directory's own descriptor */
}

static void report(void)
{
	unsigned long total = 0;

	printf("server: %-18s %6s %9s %9s\n", "outcome", "count", "p50 ms", "p99 ms");
	for (int i = 0; i < OUT_N; i++) {
		struct samples *s = &srv.lat[i];

		total += s->len;
		if (i == OUT_BAD && !s->len)
			continue;
		if (!s->len) {
			printf("server: %-18s %6zu %9s %9s\n", name_of[i], s->len, "-", "-");
			continue;
		}
		qsort(s->ns, s->len, sizeof(*s->ns), cmp_i64);
		printf("server: %-18s %6zu %9.1f %9.1f\n", name_of[i], s->len,
		       percentile_ms(s, 50), percentile_ms(s, 99));
	}
	printf("server: %-18s %6lu\n", "total", total);
	printf("server: connections: %lu accepted; ended by hang-up %lu, idle timeout %lu, "
	       "shutdown %lu\n",
	       srv.accepted, srv.ends[END_HANGUP], srv.ends[END_IDLE], srv.ends[END_SHUTDOWN]);
	/* For scripts: one line per outcome, "= key count p50 p99". */
	for (int i = 0; i < OUT_N; i++) {
		struct samples *s = &srv.lat[i];

		if (s->len)
			printf("= %s %zu %.1f %.1f\n", key_of[i], s->len, percentile_ms(s, 50),
			       percentile_ms(s, 99));
		else
			printf("= %s 0 - -\n", key_of[i]);
	}
	for (int i = 0; i < END_N; i++)
		printf("= conn-%s %lu\n", end_key[i], srv.ends[i]);
	printf("= conn-accepted %lu\n", srv.accepted);
}

static int fail(const char *what, int r)
{
	fprintf(stderr, "server: %s: %s\n", what, strerror(-r));
	return 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	unsigned int idle_ms = 5000, nworkers = 4;
	pthread_t workers[MAX_WORKERS];
	int lfd, opt, r, fds_start, fds_end, one = 1;
	socklen_t len = sizeof(addr);
	unsigned long port = 0;
	sigset_t set;
	ctx_t *root;

	while ((opt = getopt(argc, argv, "i:w:")) != -1) {
		if (opt == 'i')
			idle_ms = (unsigned int)strtoul(optarg, NULL, 10);
		else if (opt == 'w')
			nworkers = (unsigned int)strtoul(optarg, NULL, 10);
		else
			goto usage;
	}
	if (optind < argc)
		port = strtoul(argv[optind], NULL, 10);
	if (port > 65535 || nworkers < 1 || nworkers > MAX_WORKERS || idle_ms < 1 ||
	    idle_ms > MAX_MS)
		goto usage;

	/* Go's signal.NotifyContext: SIGINT or SIGTERM cancels everything. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	r = ctx_with_signals(ctx_background(), &set, &root);
	if (r < 0)
		return fail("ctx_with_signals", r);
	/* The library's own descriptors exist now and live until exit. */
	fds_start = count_fds();

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return fail("socket", -errno);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons((uint16_t)port);
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lfd, 128) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&addr, &len) < 0)
		return fail("listen", -errno);
	srv.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (srv.wake_fd < 0)
		return fail("eventfd", -errno);
	for (unsigned int i = 0; i < nworkers; i++) {
		r = -pthread_create(&workers[i], NULL, worker, NULL);
		if (r < 0)
			return fail("pthread_create", r);
	}
	printf("server: listening on 127.0.0.1:%u (%u workers, idle timeout %u ms, "
	       "default deadline %u ms)\n",
	       ntohs(addr.sin_port), nworkers, idle_ms, DEFAULT_DEADLINE_MS);
	fflush(stdout);

	r = serve(lfd, root, idle_ms);

	pthread_mutex_lock(&srv.lock);
	srv.stop = true;
	pthread_cond_broadcast(&srv.cond);
	pthread_mutex_unlock(&srv.lock);
	for (unsigned int i = 0; i < nworkers; i++)
		pthread_join(workers[i], NULL);
	close(srv.wake_fd);
	close(lfd);
	root = ctx_unref(root);
	if (r < 0)
		return fail("serve", r);

	report();
	for (int i = 0; i < OUT_N; i++)
		free(srv.lat[i].ns);
	/*
	 * The library's thread may still hold a passing reference on a
	 * connection whose hang-up it was cancelling; the last release (and the
	 * close of its descriptors) is then its own. Give it a moment.
	 */
	for (int i = 0; i < 200 && (fds_end = count_fds()) != fds_start; i++)
		usleep(10 * 1000);
	printf("server: open descriptors: %d at start, %d at exit (%s)\n", fds_start, fds_end,
	       fds_end == fds_start ? "none leaked" : "LEAK");
	printf("= fds-start %d\n= fds-end %d\n", fds_start, fds_end);
	return fds_end == fds_start ? 0 : 1;
usage:
	fprintf(stderr, "usage: %s [-i idle_ms] [-w workers] [port]\n", argv[0]);
	return 2;
}
